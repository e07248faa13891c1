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

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from s3stream.checksums import ChecksumAlgorithm, combine, composite, digest
from s3stream.errors import AlreadyExists, PreconditionFailed, StoreError
from s3stream.limits import MAX_PARTS, MIN_PART_SIZE
from s3stream.store.attributes import ObjectOptions
from s3stream.store.capabilities import ALGORITHMS, Capabilities, Support, Whole
from s3stream.store.probe.session import (
    BODY,
    Bytes,
    Finding,
    ProbeSession,
    answer,
    refusal,
    value_of,
)
from s3stream.store.types import CREATE, PutMode

SMALL_PART_LIMIT = 1_000
"""The part limit to try when 10,000 parts are refused (some stores allow 1,000)."""


@dataclass(frozen=True, slots=True)
class ProbeReport:
    capabilities: Capabilities
    findings: tuple[Finding, ...]
    full: bool


class Probe(ProbeSession):
    """Measures every fact of :class:`~s3stream.store.capabilities.Capabilities`."""

    # ------------------------------------------------------------------ running

    def run(self, *, full: bool = True) -> ProbeReport:
        """Probe every fact (``full=False``: all but equal parts) and clean up."""
        try:
            self.sweep_stale()
            self.check_access()
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
            self.found("addressing", "addressing", f"{self.addressing}-style", "as sent")
        finally:
            self.clean_up()
        caps = Capabilities("probed").with_facts(self.label, **facts)
        return ProbeReport(caps, tuple(self.findings), full)

    # ------------------------------------------------------------------ checksums

    def _checksums(self) -> dict[ChecksumAlgorithm, Support]:
        found: dict[ChecksumAlgorithm, Support] = {}
        for algorithm in ALGORITHMS:
            found[algorithm] = self._checksum(algorithm)
        return found

    def _checksum(self, algorithm: ChecksumAlgorithm) -> Support:
        fact = f"checksum {algorithm.value}"
        key = self.key(f"checksum-{algorithm.value}")

        def put(value: str) -> None:
            self.call(
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
            put(value_of(algorithm, BODY))
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("checksums", fact, "refused", answer(exc))
            return Support.REFUSED
        try:
            put(value_of(algorithm, b"not the body"))
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("checksums", fact, "verified", f"a wrong value: {answer(exc)}")
            return Support.VERIFIED
        self.found("checksums", fact, "accepted, not verified", "a wrong value was accepted")
        return Support.ACCEPTED

    @staticmethod
    def _best(checksums: dict[ChecksumAlgorithm, Support]) -> ChecksumAlgorithm:
        for wanted in (Support.VERIFIED, Support.ACCEPTED):
            for algorithm in ALGORITHMS:
                if checksums[algorithm] is wanted:
                    return algorithm
        return ChecksumAlgorithm.NONE

    def _multipart(self, checksums: dict[ChecksumAlgorithm, Support]) -> dict[Any, Whole]:
        """Per verified algorithm: does a completed upload carry a verified checksum of the
        whole object, a composite one, or none?"""
        found: dict[ChecksumAlgorithm, Whole] = {}
        if Support.VERIFIED not in checksums.values():
            self.found("multipart", "multipart checksums", "not tested", "no checksum verified")
        for algorithm in ALGORITHMS:
            if checksums[algorithm] is not Support.VERIFIED:
                continue
            whole: Whole = "none"
            if algorithm.full_object and self._full_object(algorithm):
                whole = "full_object"
            elif algorithm is not ChecksumAlgorithm.CRC64NVME and self._composite(algorithm):
                whole = "composite"
            if whole == "none":
                self.found("multipart", f"multipart {algorithm.value}", "no whole-object checksum")
            found[algorithm] = whole
        return found

    def _full_object(self, algorithm: ChecksumAlgorithm) -> bool:
        fact = f"multipart {algorithm.value}"
        data = BODY * 3
        try:
            with self.upload(f"full-{algorithm.value}", algorithm) as (key, upload_id):
                part = self.part(key, upload_id, 1, data, algorithm)
                wrong = value_of(algorithm, b"not the object")
                try:
                    self.complete(key, upload_id, [part], algorithm, wrong)
                except StoreError as exc:
                    if not refusal(exc):
                        raise
                    detail = f"a wrong value: {answer(exc)}"
                else:
                    self.found("multipart", fact, "full-object accepted, not verified")
                    return False
                reported = self.complete(
                    key, upload_id, [part], algorithm, value_of(algorithm, data)
                )
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("multipart", fact, "full-object refused", answer(exc))
            return False
        digests = [d for d in [digest(algorithm, data)] if d is not None]
        if reported not in (None, combine(algorithm, digests)):
            self.found("multipart", fact, "full-object reported wrong", f"reported {reported}")
            return False
        self.found("multipart", fact, "full-object verified", detail)
        return True

    def _composite(self, algorithm: ChecksumAlgorithm) -> bool:
        fact = f"multipart {algorithm.value}"
        data = BODY * 2
        try:
            with self.upload(f"composite-{algorithm.value}", algorithm, False) as (key, uid):
                part = self.part(key, uid, 1, data, algorithm)
                reported = self.complete(key, uid, [part], algorithm)
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("multipart", fact, "composite refused", answer(exc))
            return False
        digests = [d for d in [digest(algorithm, data)] if d is not None]
        if reported != composite(algorithm, digests):
            return False
        self.found("multipart", fact, "composite", f"reported {reported}")
        return True

    def _parts(self, algorithm: ChecksumAlgorithm) -> tuple[bool | None, int | None]:
        """Does ListParts echo part checksums, and how many parts may there be?"""
        with self.upload("parts", algorithm) as (key, upload_id):
            self.part(key, upload_id, 1, BODY, algorithm)
            echoes: bool | None = None
            if algorithm is not ChecksumAlgorithm.NONE:
                listed = self.call(lambda: self.store.list_parts(self.bucket, key, upload_id))
                echoes = bool(listed) and listed[0].checksum == value_of(algorithm, BODY)
                self.found(
                    "list_parts_checksums",
                    "ListParts part checksums",
                    "echoed" if echoes else "not echoed",
                )
            else:
                self.found(
                    "list_parts_checksums",
                    "ListParts part checksums",
                    "not tested",
                    "no checksum accepted",
                )
            limit: int | None = None
            for number in (MAX_PARTS, SMALL_PART_LIMIT):
                try:
                    self.part(key, upload_id, number, b"x", algorithm)
                except StoreError as exc:
                    if not refusal(exc):
                        raise
                    self.found("max_parts", "part numbers", f"{number} refused", answer(exc))
                    continue
                limit = number
                break
            self.found("max_parts", "maximum part count", str(limit) if limit else "unknown")
        return echoes, limit

    def _trailers(self, algorithm: ChecksumAlgorithm) -> bool | None:
        fact = "aws-chunked trailers"
        if algorithm is ChecksumAlgorithm.NONE:
            self.found("trailers", fact, "not tested", "no checksum accepted")
            return None
        data = os.urandom(64 * 1024)
        try:
            with self.upload("trailer", algorithm) as (key, upload_id):
                part = self.call(
                    lambda: self.store.upload_part_stream(
                        self.bucket, key, upload_id, 1, Bytes(data), checksum=algorithm
                    )
                )
                self.complete(key, upload_id, [part], algorithm)
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("trailers", fact, "refused", answer(exc))
            return False
        if self.read(key) != data:
            self.found(
                "trailers", fact, "accepted, object wrong", "the object differs from the bytes sent"
            )
            return False
        self.found("trailers", fact, "accepted", "the object reads back byte for byte")
        return True

    # ------------------------------------------------------------------ conditional writes

    def _conditional(
        self, capability: str, fact: str, write: Callable[[], object], intact: Callable[[], bool]
    ) -> bool:
        """``write`` must fail on its condition and leave the object ``intact``."""
        try:
            self.call(write)
        except (AlreadyExists, PreconditionFailed) as exc:
            if intact():
                self.found(capability, fact, "honoured", answer(exc))
                return True
            self.found(capability, fact, "ignored", f"{answer(exc)}, but the object changed")
            return False
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found(capability, fact, "refused", answer(exc))
            return False
        self.found(capability, fact, "ignored", "accepted, and the object was replaced")
        return False

    def _if_none_match_put(self) -> bool:
        key = self.key("create")
        self.call(lambda: self.objects.put(self.bucket, key, BODY))
        return self._conditional(
            "if_none_match_put",
            "If-None-Match on PutObject",
            lambda: self.objects.put(self.bucket, key, b"second", mode=CREATE),
            lambda: self.read(key) == BODY,
        )

    def _if_match_put(self) -> bool:
        key = self.key("replace")
        self.call(lambda: self.objects.put(self.bucket, key, BODY))
        other = PutMode.replacing('"00000000000000000000000000000000"')
        return self._conditional(
            "if_match_put",
            "If-Match on PutObject",
            lambda: self.objects.put(self.bucket, key, b"second", mode=other),
            lambda: self.read(key) == BODY,
        )

    def _if_match_delete(self) -> bool:
        key = self.key("delete")
        self.call(lambda: self.objects.put(self.bucket, key, BODY))
        return self._conditional(
            "if_match_delete",
            "If-Match on DeleteObject",
            lambda: self.objects.delete(
                self.bucket, key, if_match='"00000000000000000000000000000000"'
            ),
            lambda: self.read(key) == BODY,
        )

    def _if_none_match_complete(self) -> bool:
        key = self.key("complete")
        self.call(lambda: self.objects.put(self.bucket, key, BODY))
        upload_id = self.call(
            lambda: self.store.create_multipart_upload(
                self.bucket, key, checksum=ChecksumAlgorithm.NONE, options=ObjectOptions()
            )
        )
        self._uploads[upload_id] = key
        part = self.part(key, upload_id, 1, b"second", ChecksumAlgorithm.NONE)
        return self._conditional(
            "if_none_match_complete",
            "If-None-Match on CompleteMultipartUpload",
            lambda: self.complete(key, upload_id, [part], mode=CREATE),
            lambda: self.read(key) == BODY,
        )

    # ------------------------------------------------------------------ parts

    def _upload_part_copy(self) -> bool:
        fact = "UploadPartCopy"
        source = self.key("copy-source")
        self.call(lambda: self.objects.put(self.bucket, source, BODY))
        try:
            with self.upload("copy") as (key, upload_id):
                part = self.call(
                    lambda: self.objects.copy_part(self.bucket, key, upload_id, 1, source)
                )
                self.complete(key, upload_id, [part])
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("upload_part_copy", fact, "refused", answer(exc))
            return False
        if self.read(key) != BODY:
            self.found("upload_part_copy", fact, "accepted, object wrong")
            return False
        self.found("upload_part_copy", fact, "supported")
        return True

    def _equal_parts(self) -> bool:
        """Parts of 5 MiB + 1, 5 MiB and 1 byte: refused by stores that need equal parts."""
        fact = "unequal parts"
        sizes = (MIN_PART_SIZE + 1, MIN_PART_SIZE, 1)
        try:
            with self.upload("unequal") as (key, upload_id):
                parts = [
                    self.part(key, upload_id, n, os.urandom(size), ChecksumAlgorithm.NONE)
                    for n, size in enumerate(sizes, 1)
                ]
                self.complete(key, upload_id, parts)
        except StoreError as exc:
            if not refusal(exc):
                raise
            self.found("equal_parts", fact, "refused: equal parts needed", answer(exc))
            return True
        self.found("equal_parts", fact, "accepted")
        return False
