"""The probe's plumbing: requests under a temporary prefix, each retried briefly, the findings
they yield, and the cleanup that removes everything the probe wrote (see :mod:`.checks`)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.errors import NotFound, StoreError
from s3stream.store.attributes import ObjectOptions
from s3stream.store.capabilities import Addressing
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.types import PartRecord, PutMode

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBE_PREFIX = "s3stream-probe-"
STALE_AFTER = 3600.0
"""Seconds after which a probe's leftovers (its process was killed) are swept."""
BODY = b"s3stream probe\n"


class ProbeError(StoreError):
    """The probe could not run (no write permission, no such bucket, unreachable store)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One measured fact of a capability: ``result`` in a word or two, ``detail`` the
    store's answer."""

    capability: str
    """The :class:`~s3stream.store.capabilities.Capabilities` field it decides."""
    fact: str
    result: str
    detail: str = ""


def refusal(exc: StoreError) -> bool:
    """Whether the store refused the request as such (a header or an operation it does not
    support), as opposed to failing it (a 5xx, a lost connection, missing permissions)."""
    if exc.status == 403:  # GCS refuses checksum headers as a bad signature
        return exc.code == "SignatureDoesNotMatch"
    return exc.status is not None and (400 <= exc.status < 500 or exc.status == 501)


def answer(exc: StoreError) -> str:
    return f"{exc.status or '-'} {exc.code}"


def value_of(algorithm: ChecksumAlgorithm, data: bytes) -> str:
    found = digest(algorithm, data)
    assert found is not None
    return encode(algorithm, found)


class ProbeSession:
    """Probe requests against ``bucket`` under ``prefix`` through ``store`` and ``objects``
    (one client), and what they found."""

    def __init__(
        self,
        store: ObjectStore,
        objects: Objects,
        bucket: str,
        prefix: str = "",
        *,
        label: str = "s3stream probe",
        addressing: Addressing = "path",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.objects = objects
        self.bucket = bucket
        self.prefix = prefix
        self.label = label
        self.addressing = addressing
        self.clock = clock
        self.base = f"{prefix}{PROBE_PREFIX}{int(clock())}-{secrets.token_hex(4)}/"
        self.findings: list[Finding] = []
        self._keys: set[str] = set()
        self._uploads: dict[str, str] = {}

    def found(self, capability: str, fact: str, result: str, detail: str = "") -> None:
        log.debug("probe: %s: %s %s", fact, result, detail)
        self.findings.append(Finding(capability, fact, result, detail))

    def key(self, name: str) -> str:
        key = self.base + name
        self._keys.add(key)
        return key

    def call(self, operation: Callable[[], T]) -> T:
        """Run a probe request, trying a transient failure (5xx, reset) twice more."""
        for attempt in range(3):
            try:
                return operation()
            except StoreError as exc:
                if not exc.retryable or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ access

    def check_access(self) -> None:
        """One plain PutObject: the credentials must be able to write under the prefix."""
        where = f"s3://{self.bucket}/{self.prefix}"
        key = self.base + "access"
        try:
            self.call(lambda: self.objects.put(self.bucket, key, BODY))
            self.key("access")  # written: to be removed
        except StoreError as exc:
            if exc.status is not None and exc.status >= 500:
                raise  # a store in trouble: not an answer about this prefix
            hint = ""
            if exc.code in ("AccessDenied", "Forbidden") or exc.status == 403:
                hint = ": use credentials that may write there, or another prefix"
            elif exc.code == "NoSuchBucket":
                hint = ": check the bucket name"
            raise ProbeError(
                f"cannot write to {where}: {exc}{hint}",
                code=exc.code,
                status=exc.status,
                operation="PutObject",
            ) from exc

    # ------------------------------------------------------------------ multipart

    @contextlib.contextmanager
    def upload(
        self, name: str, algorithm: ChecksumAlgorithm = ChecksumAlgorithm.NONE, full: bool = True
    ) -> Iterator[tuple[str, str]]:
        """A multipart upload of ``name`` (aborted at the end unless completed)."""
        key = self.key(name)
        upload_id = self.call(
            lambda: self.store.create_multipart_upload(
                self.bucket, key, checksum=algorithm, options=ObjectOptions(), full_object=full
            )
        )
        self._uploads[upload_id] = key
        yield key, upload_id

    def completed(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    def part(
        self, key: str, upload_id: str, number: int, data: bytes, algorithm: ChecksumAlgorithm
    ) -> PartRecord:
        value = None if algorithm is ChecksumAlgorithm.NONE else value_of(algorithm, data)
        return self.call(
            lambda: self.store.upload_part(
                self.bucket,
                key,
                upload_id,
                number,
                memoryview(data),
                checksum=algorithm,
                checksum_value=value,
            )
        )

    def complete(
        self,
        key: str,
        upload_id: str,
        parts: list[PartRecord],
        algorithm: ChecksumAlgorithm = ChecksumAlgorithm.NONE,
        value: str | None = None,
        mode: PutMode | None = None,
    ) -> str | None:
        """Complete; returns the checksum the store reports."""
        info = self.call(
            lambda: self.store.complete_multipart_upload(
                self.bucket,
                key,
                upload_id,
                parts,
                checksum=algorithm,
                checksum_value=value,
                **({} if mode is None else {"mode": mode}),
            )
        )
        self.completed(upload_id)
        return info.checksum

    def read(self, key: str) -> bytes:
        blob = self.call(lambda: self.objects.get(self.bucket, key))
        return b"" if blob is None else blob.data

    # ------------------------------------------------------------------ cleaning up

    def clean_up(self) -> None:
        """Abort the probe's multipart uploads and delete its objects (errors are logged:
        what is left is swept by a later probe)."""
        for upload_id, key in list(self._uploads.items()):
            try:
                self.store.abort_multipart_upload(self.bucket, key, upload_id)
            except NotFound:
                pass
            except StoreError as exc:
                log.warning("probe: could not abort upload %s of %s: %s", upload_id, key, exc)
        for key in sorted(self._keys):
            try:
                self.objects.delete(self.bucket, key)
            except StoreError as exc:
                log.warning("probe: could not delete %s: %s", key, exc)

    def sweep_stale(self) -> None:
        """Remove what probes killed before they could clean up left under the prefix."""
        start = f"{self.prefix}{PROBE_PREFIX}"
        now = self.clock()
        try:
            for item in self.objects.list(self.bucket, start):
                stamp = item.key[len(start) :].split("-", 1)[0]
                if stamp.isdigit() and now - int(stamp) > STALE_AFTER:
                    self.objects.delete(self.bucket, item.key)
            for upload in self.store.list_multipart_uploads(self.bucket, start):
                if now - upload.initiated.timestamp() > STALE_AFTER:
                    with contextlib.suppress(NotFound):
                        self.store.abort_multipart_upload(self.bucket, upload.key, upload.upload_id)
        except StoreError as exc:
            log.debug("probe: could not sweep earlier probes' leftovers: %s", exc)


class Bytes:
    """A part source over bytes (for the streamed part with a trailer)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def wait_view(self, start: int, limit: int) -> memoryview:
        return memoryview(self.data)[start : start + limit]
