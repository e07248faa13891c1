"""``ResumeInfo``: everything needed to continue a multipart upload later, anywhere.

Versioned and JSON-serialisable; the journal stores it, ``pause()`` returns it, and
``S3StreamUploader.resume`` takes it. The server stays the truth: on resume the recorded
parts are reconciled with ListParts, and a file's bytes are re-checked against the recorded
part checksums before anything is completed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, cast

from s3stream.checksums import ChecksumAlgorithm
from s3stream.config import UploadConfig
from s3stream.engine.choices import ChecksumUse
from s3stream.engine.ledger import PartLedger
from s3stream.engine.plan import PartPlan
from s3stream.errors import ConfigError
from s3stream.store.attributes import ObjectOptions, RequestOptions
from s3stream.store.capabilities import Whole
from s3stream.store.types import PartRecord

FORMAT_VERSION = 1
SAMPLE_BYTES = 64 * 1024

UploadState = Literal["active", "paused", "failed", "completed", "aborted"]
"""Where a journaled upload stands."""
OPEN_STATES: tuple[UploadState, ...] = ("active", "paused", "failed")


@dataclass(frozen=True, slots=True)
class SourceFingerprint:
    """What identifies the source: for files, path, size, mtime and a content sample."""

    kind: Literal["file", "stream"]
    path: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    sample: str | None = None
    """SHA-256 of the first and last 64 KiB of a file."""

    @classmethod
    def of_file(cls, path: str | os.PathLike[str], fd: int) -> SourceFingerprint:
        st = os.fstat(fd)
        return cls(
            "file", os.path.abspath(path), st.st_size, st.st_mtime_ns, _sample(fd, st.st_size)
        )

    def differences(self, fd: int) -> list[str]:
        """What changed in the file open at ``fd`` since this fingerprint was taken."""
        st = os.fstat(fd)
        changed = []
        if st.st_size != self.size:
            changed.append(f"size {self.size} -> {st.st_size}")
        if st.st_mtime_ns != self.mtime_ns:
            changed.append("modification time")
        if self.sample is not None and _sample(fd, st.st_size) != self.sample:
            changed.append("content")
        return changed


def _sample(fd: int, size: int) -> str:
    h = hashlib.sha256(os.pread(fd, SAMPLE_BYTES, 0))
    if size > SAMPLE_BYTES:
        h.update(os.pread(fd, SAMPLE_BYTES, max(SAMPLE_BYTES, size - SAMPLE_BYTES)))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ResumeInfo:
    bucket: str
    key: str
    upload_id: str
    part_size: int
    """The first part size of the plan (later parts of an unknown length grow from it)."""
    size: int | None
    max_parts: int
    growing: bool
    checksum_algorithm: str
    parts: tuple[PartRecord, ...] = ()
    checksum_sent: bool = True
    """Whether the store got the checksums (it takes none of this algorithm: not)."""
    checksum_whole: str | None = None
    """What the completion carries (``full_object``, ``composite``, ``none``; ``None``:
    as S3 documents it)."""
    source: SourceFingerprint | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    """The object's other attributes (:meth:`ObjectOptions.to_json`), for the completion."""
    request: dict[str, Any] = field(default_factory=dict)
    """What every request carries (:meth:`RequestOptions.to_json`: an SSE-C key only as its
    MD5, so a resume needs the key again)."""
    no_clobber: bool = False
    concurrency: int = 4
    endpoint_url: str | None = None
    """The store the upload lives in (``None``: AWS's default endpoint or unknown)."""
    timestamp: str = ""
    version: int = FORMAT_VERSION

    @property
    def plan(self) -> PartPlan:
        return PartPlan(self.part_size, self.size, self.max_parts, self.growing)

    @property
    def algorithm(self) -> ChecksumAlgorithm:
        return ChecksumAlgorithm.parse(self.checksum_algorithm)

    @classmethod
    def started(
        cls,
        bucket: str,
        key: str,
        upload_id: str,
        plan: PartPlan,
        use: ChecksumUse,
        config: UploadConfig,
    ) -> ResumeInfo:
        """The state of an upload just started with ``plan``, ``use`` and ``config``."""
        return cls(
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_size=plan.first_part_size,
            size=plan.size,
            max_parts=plan.max_parts,
            growing=plan.growing,
            checksum_algorithm=use.algorithm.value,
            checksum_sent=use.sent,
            checksum_whole=use.whole,
            **attribute_fields(config.object_options(), config.request_options()),
            no_clobber=config.no_clobber,
        )

    def checksum_use(self, current: ChecksumUse) -> ChecksumUse:
        """How the upload's checksums meet the store: as when it started, with what
        ``current`` (the store's capabilities now) says of the store's checks."""
        whole: Whole = ChecksumUse.native(self.algorithm).whole
        if self.checksum_whole in ("full_object", "composite", "none"):
            whole = cast(Whole, self.checksum_whole)
        return replace(current, algorithm=self.algorithm, sent=self.checksum_sent, whole=whole)

    @property
    def sse_customer_key_md5(self) -> str | None:
        """The MD5 of the SSE-C key the upload is encrypted with (``None``: no SSE-C)."""
        found = self.request.get("sse_customer_key_md5")
        return str(found) if found is not None else None

    def upload_options(self) -> dict[str, Any]:
        """The upload options that recreate the upload's attributes and requests (all but
        the SSE-C key)."""
        found = ObjectOptions.from_json(self.attributes).as_fields()
        found.update(content_type=self.content_type, metadata=self.metadata)
        found.update(
            request_payer=bool(self.request.get("request_payer", False)),
            expected_bucket_owner=self.request.get("expected_bucket_owner"),
        )
        return found

    @property
    def uploaded_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def resume_offset(self) -> int:
        """Where a replaying producer must start: the end of the unbroken run of parts 1..k."""
        return PartLedger(self.plan, self.parts).resume_offset

    def with_parts(self, parts: tuple[PartRecord, ...]) -> ResumeInfo:
        return replace(self, parts=tuple(sorted(parts, key=lambda p: p.number)), timestamp=now())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ResumeInfo:
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise ConfigError(
                    f"resume info version {data.get('version')} is not supported "
                    f"(this s3stream reads version {FORMAT_VERSION}): upgrade s3stream"
                )
            data["parts"] = tuple(PartRecord(**p) for p in data.get("parts", ()))
            if data.get("source") is not None:
                data["source"] = SourceFingerprint(**data["source"])
            return cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"invalid resume info: {exc}") from None


def attribute_fields(options: ObjectOptions, request: RequestOptions) -> dict[str, Any]:
    """The :class:`ResumeInfo` fields that keep an upload's attributes and request options."""
    attributes = options.to_json()
    content_type = attributes.pop("content_type", None)
    metadata = attributes.pop("metadata", {})
    return {
        "content_type": content_type,
        "metadata": metadata,
        "attributes": attributes,
        "request": request.to_json(),
    }


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
