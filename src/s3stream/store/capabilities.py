"""What a store can do, as data: the facts s3stream's choices depend on.

S3-compatible stores differ exactly where s3stream relies on S3: which checksums they verify
(not merely accept), whether a multipart upload gets a checksum of the whole object, whether
a checksum may trail a streamed body, whether conditional writes are honoured, and how many
parts of which sizes they take. :class:`Capabilities` records these facts; where each one
comes from (a documented profile, a ``doctor`` probe) is in :attr:`Capabilities.sources`.

A fact nobody established is ``None`` (unknown) and counts as missing: s3stream never relies
on what it does not know.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import ConfigError
from s3stream.limits import MAX_PARTS

ALGORITHMS = (
    ChecksumAlgorithm.CRC64NVME,
    ChecksumAlgorithm.CRC32C,
    ChecksumAlgorithm.CRC32,
    ChecksumAlgorithm.SHA256,
)
"""The checksum algorithms a store may take, best first."""


class Support(enum.Enum):
    """What a store does with a checksum header (or trailer) of one algorithm."""

    VERIFIED = "verified"
    """Accepted, and a wrong value is refused: the store checks the bytes."""
    ACCEPTED = "accepted"
    """Accepted, but a wrong value goes through too: sending it proves nothing."""
    REFUSED = "refused"
    """The request is refused (400 or 501): never send it."""
    UNKNOWN = "unknown"
    """Neither documented nor probed: not sent."""


Whole = Literal["full_object", "composite", "none"]
"""What a completed multipart upload's checksum covers: the whole object (a CRC the store
verifies against the one sent with CompleteMultipartUpload), the parts' checksums
(``COMPOSITE``, a checksum of checksums), or nothing."""

Addressing = Literal["path", "virtual"]

FLAGS = (
    "list_parts_checksums",
    "trailers",
    "if_none_match_put",
    "if_none_match_complete",
    "if_match_put",
    "if_match_delete",
    "upload_part_copy",
    "equal_parts",
)
"""The yes/no facts (``None``: unknown)."""

FACTS = ("checksums", "multipart", *FLAGS[:-1], "max_parts", "equal_parts", "addressing")
"""Every fact, in the order tables show them."""

DESCRIPTIONS = {
    "checksums": "checksum headers",
    "multipart": "multipart checksum of the whole object",
    "list_parts_checksums": "ListParts echoes part checksums",
    "trailers": "aws-chunked trailing checksums",
    "if_none_match_put": "If-None-Match on PutObject",
    "if_none_match_complete": "If-None-Match on CompleteMultipartUpload",
    "if_match_put": "If-Match on PutObject",
    "if_match_delete": "If-Match on DeleteObject",
    "upload_part_copy": "UploadPartCopy",
    "max_parts": "maximum part count",
    "equal_parts": "parts must be of equal size",
    "addressing": "addressing style",
}
"""One phrase per fact, for tables and messages."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The facts about one store (or one bucket of it).

    ``checksums`` says what the store does with each algorithm's header on PutObject and
    UploadPart; ``multipart`` what a completed multipart upload carries per algorithm.
    ``sources`` names, per fact, where it comes from: a documentation URL or a probe.
    """

    name: str
    checksums: Mapping[ChecksumAlgorithm, Support] = field(default_factory=dict)
    multipart: Mapping[ChecksumAlgorithm, Whole] = field(default_factory=dict)
    list_parts_checksums: bool | None = None
    trailers: bool | None = None
    if_none_match_put: bool | None = None
    if_none_match_complete: bool | None = None
    if_match_put: bool | None = None
    if_match_delete: bool | None = None
    upload_part_copy: bool | None = None
    max_parts: int | None = None
    equal_parts: bool | None = None
    """``True``: every part but the last must have one size (``None``: unknown, so they do)."""
    addressing: Addressing = "path"
    sources: Mapping[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ questions

    def support(self, algorithm: ChecksumAlgorithm) -> Support:
        return self.checksums.get(algorithm, Support.UNKNOWN)

    def whole(self, algorithm: ChecksumAlgorithm) -> Whole:
        return self.multipart.get(algorithm, "none")

    def has(self, flag: str) -> bool:
        """Whether a yes/no fact is known to hold (unknown counts as no)."""
        if flag not in FLAGS:
            raise KeyError(flag)
        return getattr(self, flag) is True

    @property
    def part_limit(self) -> int:
        """The most parts an upload may have (unknown: S3's 10,000)."""
        return self.max_parts or MAX_PARTS

    @property
    def needs_equal_parts(self) -> bool:
        """Whether uploads must keep their parts equal (also when nobody knows)."""
        return self.equal_parts is not False

    @property
    def conditional_writes(self) -> bool:
        """Whether every conditional write the gateway's locking needs is honoured."""
        return all(
            self.has(flag) for flag in ("if_none_match_put", "if_match_put", "if_match_delete")
        )

    def source(self, fact: str) -> str:
        return self.sources.get(fact, "")

    def with_facts(self, source: str, **facts: Any) -> Capabilities:
        """A copy with ``facts`` replaced, each attributed to ``source``."""
        sources = dict(self.sources)
        for name in facts:
            sources[name] = source
        return replace(self, **facts, sources=sources)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "checksums":
                value = {a.value: s.value for a, s in value.items()}
            elif f.name == "multipart":
                value = {a.value: w for a, w in value.items()}
            elif f.name == "sources":
                value = dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Capabilities:
        """The inverse of :meth:`to_json`; a malformed record is a :class:`ConfigError`."""
        try:
            known = {f.name for f in fields(cls)}
            values = {k: v for k, v in data.items() if k in known}
            values["checksums"] = {
                ChecksumAlgorithm(a): Support(s) for a, s in data.get("checksums", {}).items()
            }
            multipart: dict[ChecksumAlgorithm, Whole] = {}
            for a, w in data.get("multipart", {}).items():
                if w not in ("full_object", "composite", "none"):
                    raise ValueError(f"unknown multipart checksum kind {w!r}")
                multipart[ChecksumAlgorithm(a)] = w
            values["multipart"] = multipart
            values["sources"] = {str(k): str(v) for k, v in data.get("sources", {}).items()}
            caps = cls(**values)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"unreadable store capabilities: {exc}") from None
        if caps.max_parts is not None and not 1 <= caps.max_parts <= MAX_PARTS:
            raise ConfigError(f"unreadable store capabilities: max_parts {caps.max_parts}")
        return caps
