"""One multipart upload's store calls with checksums and retries: create, put_part, complete,
abort, and the single PutObject. The engine's writer and the gateway's chunk writer both send
parts through this (and number them with a :class:`~s3stream.engine.ledger.PartLedger`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from s3stream.checksums import ChecksumAlgorithm, RunningChecksum, digest, encode
from s3stream.engine.ledger import combined_checksum
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.errors import NoSuchUpload, S3StreamError, StoreError
from s3stream.store.protocol import ObjectStore, OnSent, PartSource
from s3stream.store.types import OVERWRITE, ObjectInfo, ObjectOptions, PartRecord, PutMode

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE_REREADS = 3
"""How often a file part whose bytes changed while it was sent is read and sent again."""


class MultipartCalls:
    """The calls for one object (``bucket/key``) with one checksum algorithm and retry policy.

    ``on_sent`` callbacks receive byte counts as bodies go out, and a negative count when a
    failed attempt's bytes are taken back before the retry. ``should_stop`` ends retries
    early (an upload being aborted).

    The policy's ``retry_for`` (riding out an outage) applies once the store has answered
    one of these calls (``reached``): a store that never answered is more likely a wrong
    endpoint than an outage, and fails after the policy's attempts.
    """

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        *,
        algorithm: ChecksumAlgorithm,
        retry: RetryPolicy,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] = random.random,
        should_stop: Callable[[], bool] = lambda: False,
        reached: bool = False,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.key = key
        self.algorithm = algorithm
        self.policy = retry
        self._sleep = sleep
        self._rand = rand
        self._should_stop = should_stop
        self.reached = reached

    def retry(self, operation: Callable[[], T], describe: str) -> T:
        policy = self.policy if self.reached else replace(self.policy, retry_for=None)
        result = call_with_retry(
            operation,
            policy,
            describe=describe,
            sleep=self._sleep,
            rand=self._rand,
            should_stop=self._should_stop,
        )
        self.reached = True
        return result

    def create(self, options: ObjectOptions) -> str:
        upload_id = self.retry(
            lambda: self.store.create_multipart_upload(
                self.bucket, self.key, checksum=self.algorithm, options=options
            ),
            "CreateMultipartUpload",
        )
        log.info("started multipart upload %s of s3://%s/%s", upload_id, self.bucket, self.key)
        return upload_id

    def _checksum(self, data: memoryview | PartSource) -> str | None:
        """The part's checksum header value (``None`` without a checksum)."""
        if isinstance(data, memoryview):
            part_digest = digest(self.algorithm, data)
        elif self.algorithm is ChecksumAlgorithm.NONE:
            part_digest = None
        else:  # a pass of its own over the source (a file part, read again to be sent)
            running = RunningChecksum(self.algorithm)
            while running.size < data.size:
                running.update(data.wait_view(running.size, data.size - running.size))
            part_digest = running.digest()
        return encode(self.algorithm, part_digest) if part_digest else None

    def put_part(
        self,
        upload_id: str,
        part_number: int,
        data: memoryview | PartSource,
        on_sent: OnSent | None = None,
    ) -> PartRecord:
        """Upload one part with its checksum in a header; retried from ``data``, which must
        stay intact (a source is read twice: for the checksum, then to be sent).

        A source (a file part) that changed between the two reads makes the store answer
        ``BadDigest``: it is checksummed and sent again, up to :data:`SOURCE_REREADS` times.
        """
        value = self._checksum(data)
        counted = _Counted(on_sent)

        def attempt() -> PartRecord:
            nonlocal value
            rereads = 0
            while True:
                counted.take_back()
                try:
                    return self.store.upload_part(
                        self.bucket,
                        self.key,
                        upload_id,
                        part_number,
                        data,
                        checksum=self.algorithm,
                        checksum_value=value,
                        on_sent=counted,
                    )
                except StoreError as exc:
                    if exc.code != "BadDigest" or isinstance(data, memoryview):
                        raise
                    if rereads == SOURCE_REREADS:
                        raise
                    rereads += 1
                    log.info("part %d changed while it was sent: reading it again", part_number)
                    value = self._checksum(data)

        return self.retry(attempt, f"UploadPart {part_number}")

    def put_part_stream(self, upload_id: str, part_number: int, source: PartSource) -> PartRecord:
        """Upload one part while its bytes arrive, the checksum trailing the body; a retry
        starts over from ``source``, which keeps every byte until the part is done."""
        return self.retry(
            lambda: self.store.upload_part_stream(
                self.bucket, self.key, upload_id, part_number, source, checksum=self.algorithm
            ),
            f"UploadPart {part_number}",
        )

    def put_object(
        self,
        data: memoryview,
        options: ObjectOptions,
        *,
        mode: PutMode = OVERWRITE,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo:
        """The whole object as one PutObject, checksum verified."""
        value = self._checksum(data)
        counted = _Counted(on_sent)

        def attempt() -> ObjectInfo:
            counted.take_back()
            return self.store.put_object(
                self.bucket,
                self.key,
                data,
                checksum=self.algorithm,
                checksum_value=value,
                options=options,
                mode=mode,
                on_sent=counted,
            )

        info = self.retry(attempt, "PutObject")
        verify_checksum(value, info)
        return info

    def complete(
        self,
        upload_id: str,
        parts: list[PartRecord],
        *,
        size: int,
        mode: PutMode = OVERWRITE,
        expected: str | None = None,
    ) -> ObjectInfo:
        """Complete with ``parts`` (from :meth:`PartLedger.completion`) and the whole-object
        checksum (``expected``, else combined from the parts'), and check what the store
        says.

        A completion whose reply was lost is recognised: when a retry finds the upload gone,
        HeadObject must show the expected size and checksum.
        """
        if expected is None:
            expected = combined_checksum(self.algorithm, parts)
        tries = 0

        def attempt() -> ObjectInfo:
            nonlocal tries
            tries += 1
            try:
                return self.store.complete_multipart_upload(
                    self.bucket,
                    self.key,
                    upload_id,
                    parts,
                    checksum=self.algorithm,
                    checksum_value=expected,
                    mode=mode,
                )
            except NoSuchUpload:
                if tries > 1:
                    done = self.store.head_object(self.bucket, self.key)
                    if (
                        done is not None
                        and done.size == size
                        and (expected is None or done.checksum == expected)
                    ):
                        return done
                raise

        info = self.retry(attempt, "CompleteMultipartUpload")
        verify_checksum(expected, info)
        return info

    def abort(self, upload_id: str) -> bool:
        """Abort the multipart upload; a failure to do so is logged, not raised, and returns
        False (the upload is then still on the store)."""
        try:
            call_with_retry(
                lambda: self.store.abort_multipart_upload(self.bucket, self.key, upload_id),
                self.policy,
                describe="AbortMultipartUpload",
                sleep=self._sleep,
                rand=self._rand,
            )
            log.info("aborted multipart upload %s", upload_id)
        except NoSuchUpload:
            pass
        except S3StreamError as exc:
            log.warning("could not abort multipart upload %s: %s", upload_id, exc)
            return False
        return True


def verify_checksum(expected: str | None, info: ObjectInfo) -> None:
    if expected is not None and info.checksum is not None and info.checksum != expected:
        raise StoreError(
            f"the store reports checksum {info.checksum} for the object, expected {expected}",
            code="BadDigest",
        )


class _Counted:
    """Forwards sent-byte counts and can take back those of a failed attempt."""

    def __init__(self, on_sent: OnSent | None) -> None:
        self._on_sent = on_sent
        self._sent = 0

    def __call__(self, n: int) -> None:
        self._sent += n
        if self._on_sent is not None:
            self._on_sent(n)

    def take_back(self) -> None:
        if self._sent and self._on_sent is not None:
            self._on_sent(-self._sent)
        self._sent = 0
