"""Measure what a store honours with a few small requests under a temporary prefix.

A store may *accept* a header and then ignore it, so every fact is tested by its effect: a
checksum counts as verified only when a wrong value is refused, a conditional write as
honoured only when the object it protects is still there afterwards, a trailer as accepted
only when the object reads back byte for byte. Everything the probe writes lives under
``{prefix}s3stream-probe-{time}-{random}/`` and is deleted (and every multipart upload it
started aborted) when it ends, also when it is interrupted; leftovers of a probe killed
outright are swept by the next one after an hour.

The quick probe (:meth:`Probe.run` with ``full=False``, for an upload's first contact with
an unknown store) leaves out the equal-parts test, which needs 10 MiB of parts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from s3stream.checksums import ChecksumAlgorithm, combine, composite, digest, encode
from s3stream.errors import AlreadyExists, NotFound, PreconditionFailed, StoreError
from s3stream.limits import MAX_PARTS, MIN_PART_SIZE
from s3stream.store.capabilities import ALGORITHMS, Addressing, Capabilities, Support, Whole
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.types import CREATE, ObjectOptions, PartRecord, PutMode

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBE_PREFIX = "s3stream-probe-"
STALE_AFTER = 3600.0
"""Seconds after which a probe's leftovers (its process was killed) are swept."""
BODY = b"s3stream probe\n"
SMALL_PART_LIMIT = 1_000
"""The part limit to try when 10,000 parts are refused (some stores allow 1,000)."""


class ProbeError(StoreError):
    """The probe could not run (no write permission, no such bucket, unreachable store)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One measured fact: ``result`` in a word or two, ``detail`` the store's answer."""

    fact: str
    result: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProbeReport:
    capabilities: Capabilities
    findings: tuple[Finding, ...]
    full: bool


def _refusal(exc: StoreError) -> bool:
    """Whether the store refused the request as such (a header or an operation it does not
    support), as opposed to failing it (a 5xx, a lost connection, missing permissions)."""
    if exc.status == 403:  # GCS refuses checksum headers as a bad signature
        return exc.code == "SignatureDoesNotMatch"
    return exc.status is not None and (400 <= exc.status < 500 or exc.status == 501)


def _answer(exc: StoreError) -> str:
    return f"{exc.status or '-'} {exc.code}"


def _value(algorithm: ChecksumAlgorithm, data: bytes) -> str:
    found = digest(algorithm, data)
    assert found is not None
    return encode(algorithm, found)


class Probe:
    """Probes ``bucket`` under ``prefix`` through ``store`` and ``objects`` (one client)."""

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

    # ------------------------------------------------------------------ running

    def run(self, *, full: bool = True) -> ProbeReport:
        """Probe every fact (``full=False``: all but equal parts) and clean up."""
        try:
            self._sweep_stale()
            self._check_access()
            facts: dict[str, Any] = {}
            facts["checksums"] = self._checksums()
            best = self._best(facts["checksums"])
            facts["multipart"] = self._multipart(facts["checksums"])
            facts["list_parts_checksums"], facts["max_parts"] = self._parts(best)
            facts["trailers"] = self._trailers(best)
            facts["if_none_match_put"] = self._if_none_match_put()
            facts["if_match_put"] = self._if_match_put()
            facts["if_match_delete"] = self._if_match_delete()
            facts["if_none_match_complete"] = self._if_none_match_complete()
            facts["upload_part_copy"] = self._upload_part_copy()
            if full:
                facts["equal_parts"] = self._equal_parts()
            facts["addressing"] = self.addressing
        finally:
            self._clean_up()
        caps = Capabilities("probed").with_facts(self.label, **facts)
        return ProbeReport(caps, tuple(self.findings), full)

    def _found(self, fact: str, result: str, detail: str = "") -> None:
        log.debug("probe: %s: %s %s", fact, result, detail)
        self.findings.append(Finding(fact, result, detail))

    def _key(self, name: str) -> str:
        key = self.base + name
        self._keys.add(key)
        return key

    def _call(self, operation: Callable[[], T]) -> T:
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

    def _check_access(self) -> None:
        """One plain PutObject: the credentials must be able to write under the prefix."""
        where = f"s3://{self.bucket}/{self.prefix}"
        try:
            self._call(lambda: self.objects.put(self.bucket, self._key("access"), BODY))
        except StoreError as exc:
            if exc.code in ("AccessDenied", "Forbidden") or exc.status == 403:
                hint = "use credentials that may write there, or another prefix"
            elif exc.code == "NoSuchBucket":
                hint = "check the bucket name"
            elif exc.status is None:
                hint = "check --endpoint-url and that the store is running"
            else:
                hint = "check the endpoint and the credentials"
            raise ProbeError(
                f"cannot write to {where}: {exc}: {hint}",
                code=exc.code,
                status=exc.status,
                operation="PutObject",
            ) from exc

    # ------------------------------------------------------------------ checksums

    def _checksums(self) -> dict[ChecksumAlgorithm, Support]:
        found: dict[ChecksumAlgorithm, Support] = {}
        for algorithm in ALGORITHMS:
            found[algorithm] = self._checksum(algorithm)
        return found

    def _checksum(self, algorithm: ChecksumAlgorithm) -> Support:
        fact = f"checksum {algorithm.value}"
        key = self._key(f"checksum-{algorithm.value}")

        def put(value: str) -> None:
            self._call(
                lambda: self.store.put_object(
                    self.bucket,
                    key,
                    memoryview(BODY),
                    checksum=algorithm,
                    checksum_value=value,
                    options=ObjectOptions(),
                )
            )

        try:
            put(_value(algorithm, BODY))
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "refused", _answer(exc))
            return Support.REFUSED
        try:
            put(_value(algorithm, b"not the body"))
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "verified", f"a wrong value: {_answer(exc)}")
            return Support.VERIFIED
        self._found(fact, "accepted, not verified", "a wrong value was accepted")
        return Support.ACCEPTED

    @staticmethod
    def _best(checksums: dict[ChecksumAlgorithm, Support]) -> ChecksumAlgorithm:
        for wanted in (Support.VERIFIED, Support.ACCEPTED):
            for algorithm in ALGORITHMS:
                if checksums[algorithm] is wanted:
                    return algorithm
        return ChecksumAlgorithm.NONE

    # ------------------------------------------------------------------ multipart

    @contextlib.contextmanager
    def _upload(
        self, name: str, algorithm: ChecksumAlgorithm = ChecksumAlgorithm.NONE, full: bool = True
    ) -> Iterator[tuple[str, str]]:
        """A multipart upload of ``name`` (aborted at the end unless completed)."""
        key = self._key(name)
        upload_id = self._call(
            lambda: self.store.create_multipart_upload(
                self.bucket, key, checksum=algorithm, options=ObjectOptions(), full_object=full
            )
        )
        self._uploads[upload_id] = key
        yield key, upload_id

    def _completed(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    def _part(
        self, key: str, upload_id: str, number: int, data: bytes, algorithm: ChecksumAlgorithm
    ) -> PartRecord:
        value = None if algorithm is ChecksumAlgorithm.NONE else _value(algorithm, data)
        return self._call(
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

    def _complete(
        self,
        key: str,
        upload_id: str,
        parts: list[PartRecord],
        algorithm: ChecksumAlgorithm = ChecksumAlgorithm.NONE,
        value: str | None = None,
        mode: PutMode | None = None,
    ) -> str | None:
        """Complete; returns the checksum the store reports."""
        info = self._call(
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
        self._completed(upload_id)
        return info.checksum

    def _multipart(self, checksums: dict[ChecksumAlgorithm, Support]) -> dict[Any, Whole]:
        """Per verified algorithm: does a completed upload carry a verified checksum of the
        whole object, a composite one, or none?"""
        found: dict[ChecksumAlgorithm, Whole] = {}
        for algorithm in ALGORITHMS:
            if checksums[algorithm] is not Support.VERIFIED:
                continue
            whole: Whole = "none"
            if algorithm.full_object and self._full_object(algorithm):
                whole = "full_object"
            elif algorithm is not ChecksumAlgorithm.CRC64NVME and self._composite(algorithm):
                whole = "composite"
            if whole == "none":
                self._found(f"multipart {algorithm.value}", "no whole-object checksum")
            found[algorithm] = whole
        return found

    def _full_object(self, algorithm: ChecksumAlgorithm) -> bool:
        fact = f"multipart {algorithm.value}"
        data = BODY * 3
        try:
            with self._upload(f"full-{algorithm.value}", algorithm) as (key, upload_id):
                part = self._part(key, upload_id, 1, data, algorithm)
                wrong = _value(algorithm, b"not the object")
                try:
                    self._complete(key, upload_id, [part], algorithm, wrong)
                except StoreError as exc:
                    if not _refusal(exc):
                        raise
                    detail = f"a wrong value: {_answer(exc)}"
                else:
                    self._found(fact, "full-object accepted, not verified")
                    return False
                reported = self._complete(
                    key, upload_id, [part], algorithm, _value(algorithm, data)
                )
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "full-object refused", _answer(exc))
            return False
        digests = [d for d in [digest(algorithm, data)] if d is not None]
        if reported not in (None, combine(algorithm, digests)):
            self._found(fact, "full-object reported wrong", f"reported {reported}")
            return False
        self._found(fact, "full-object verified", detail)
        return True

    def _composite(self, algorithm: ChecksumAlgorithm) -> bool:
        fact = f"multipart {algorithm.value}"
        data = BODY * 2
        try:
            with self._upload(f"composite-{algorithm.value}", algorithm, False) as (key, uid):
                part = self._part(key, uid, 1, data, algorithm)
                reported = self._complete(key, uid, [part], algorithm)
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "composite refused", _answer(exc))
            return False
        digests = [d for d in [digest(algorithm, data)] if d is not None]
        if reported != composite(algorithm, digests):
            return False
        self._found(fact, "composite", f"reported {reported}")
        return True

    def _parts(self, algorithm: ChecksumAlgorithm) -> tuple[bool | None, int | None]:
        """Does ListParts echo part checksums, and how many parts may there be?"""
        with self._upload("parts", algorithm) as (key, upload_id):
            self._part(key, upload_id, 1, BODY, algorithm)
            echoes: bool | None = None
            if algorithm is not ChecksumAlgorithm.NONE:
                listed = self._call(lambda: self.store.list_parts(self.bucket, key, upload_id))
                echoes = bool(listed) and listed[0].checksum == _value(algorithm, BODY)
                self._found("ListParts part checksums", "echoed" if echoes else "not echoed")
            else:
                self._found("ListParts part checksums", "not tested", "no checksum accepted")
            limit: int | None = None
            for number in (MAX_PARTS, SMALL_PART_LIMIT):
                try:
                    self._part(key, upload_id, number, b"x", algorithm)
                except StoreError as exc:
                    if not _refusal(exc):
                        raise
                    self._found("part numbers", f"{number} refused", _answer(exc))
                    continue
                limit = number
                break
            self._found("maximum part count", str(limit) if limit else "unknown")
        return echoes, limit

    def _trailers(self, algorithm: ChecksumAlgorithm) -> bool | None:
        fact = "aws-chunked trailers"
        if algorithm is ChecksumAlgorithm.NONE:
            self._found(fact, "not tested", "no checksum accepted")
            return None
        data = os.urandom(64 * 1024)
        try:
            with self._upload("trailer", algorithm) as (key, upload_id):
                part = self._call(
                    lambda: self.store.upload_part_stream(
                        self.bucket, key, upload_id, 1, _Bytes(data), checksum=algorithm
                    )
                )
                self._complete(key, upload_id, [part], algorithm)
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "refused", _answer(exc))
            return False
        if self._read(key) != data:
            self._found(fact, "accepted, object wrong", "the object differs from the bytes sent")
            return False
        self._found(fact, "accepted", "the object reads back byte for byte")
        return True

    def _read(self, key: str) -> bytes:
        blob = self._call(lambda: self.objects.get(self.bucket, key))
        return b"" if blob is None else blob.data

    # ------------------------------------------------------------------ conditional writes

    def _conditional(
        self, fact: str, write: Callable[[], object], intact: Callable[[], bool]
    ) -> bool:
        """``write`` must fail on its condition and leave the object ``intact``."""
        try:
            self._call(write)
        except (AlreadyExists, PreconditionFailed) as exc:
            if intact():
                self._found(fact, "honoured", _answer(exc))
                return True
            self._found(fact, "ignored", f"{_answer(exc)}, but the object changed")
            return False
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "refused", _answer(exc))
            return False
        self._found(fact, "ignored", "accepted, and the object was replaced")
        return False

    def _if_none_match_put(self) -> bool:
        key = self._key("create")
        self._call(lambda: self.objects.put(self.bucket, key, BODY))
        return self._conditional(
            "If-None-Match on PutObject",
            lambda: self.objects.put(self.bucket, key, b"second", mode=CREATE),
            lambda: self._read(key) == BODY,
        )

    def _if_match_put(self) -> bool:
        key = self._key("replace")
        self._call(lambda: self.objects.put(self.bucket, key, BODY))
        other = PutMode.replacing('"00000000000000000000000000000000"')
        return self._conditional(
            "If-Match on PutObject",
            lambda: self.objects.put(self.bucket, key, b"second", mode=other),
            lambda: self._read(key) == BODY,
        )

    def _if_match_delete(self) -> bool:
        key = self._key("delete")
        self._call(lambda: self.objects.put(self.bucket, key, BODY))
        return self._conditional(
            "If-Match on DeleteObject",
            lambda: self.objects.delete(
                self.bucket, key, if_match='"00000000000000000000000000000000"'
            ),
            lambda: self._read(key) == BODY,
        )

    def _if_none_match_complete(self) -> bool:
        key = self._key("complete")
        self._call(lambda: self.objects.put(self.bucket, key, BODY))
        upload_id = self._call(
            lambda: self.store.create_multipart_upload(
                self.bucket, key, checksum=ChecksumAlgorithm.NONE, options=ObjectOptions()
            )
        )
        self._uploads[upload_id] = key
        part = self._part(key, upload_id, 1, b"second", ChecksumAlgorithm.NONE)
        return self._conditional(
            "If-None-Match on CompleteMultipartUpload",
            lambda: self._complete(key, upload_id, [part], mode=CREATE),
            lambda: self._read(key) == BODY,
        )

    # ------------------------------------------------------------------ parts

    def _upload_part_copy(self) -> bool:
        fact = "UploadPartCopy"
        source = self._key("copy-source")
        self._call(lambda: self.objects.put(self.bucket, source, BODY))
        try:
            with self._upload("copy") as (key, upload_id):
                part = self._call(
                    lambda: self.objects.copy_part(self.bucket, key, upload_id, 1, source)
                )
                self._complete(key, upload_id, [part])
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "refused", _answer(exc))
            return False
        if self._read(key) != BODY:
            self._found(fact, "accepted, object wrong")
            return False
        self._found(fact, "supported")
        return True

    def _equal_parts(self) -> bool:
        """Parts of 5 MiB + 1, 5 MiB and 1 byte: refused by stores that need equal parts."""
        fact = "unequal parts"
        sizes = (MIN_PART_SIZE + 1, MIN_PART_SIZE, 1)
        try:
            with self._upload("unequal") as (key, upload_id):
                parts = [
                    self._part(key, upload_id, n, os.urandom(size), ChecksumAlgorithm.NONE)
                    for n, size in enumerate(sizes, 1)
                ]
                self._complete(key, upload_id, parts)
        except StoreError as exc:
            if not _refusal(exc):
                raise
            self._found(fact, "refused: equal parts needed", _answer(exc))
            return True
        self._found(fact, "accepted")
        return False

    # ------------------------------------------------------------------ cleaning up

    def _clean_up(self) -> None:
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

    def _sweep_stale(self) -> None:
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


class _Bytes:
    """A part source over bytes (for the streamed part with a trailer)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def wait_view(self, start: int, limit: int) -> memoryview:
        return memoryview(self.data)[start : start + limit]
