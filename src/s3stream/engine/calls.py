"""One multipart upload's store calls with checksums and retries: create, put_part, complete,
abort, and the single PutObject. The engine's writer and the gateway's chunk writer both send
parts through this (and number them with a :class:`~s3stream.engine.ledger.PartLedger`).

Checksums follow the upload's :class:`~s3stream.engine.choices.ChecksumUse`: every part's is
computed here and kept in its record; the store gets them only where it takes them, with a
trailer only where it accepts one (else the whole part is held and the checksum sent in a
header), and the completion carries the whole object's CRC, the composite of the parts' or
nothing. On a store that verifies nothing, the stored object's size is checked afterwards.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from s3stream.checksums import ChecksumAlgorithm, RunningChecksum, composite, digest, encode
from s3stream.engine.bandwidth import TokenBucket
from s3stream.engine.choices import ChecksumUse
from s3stream.engine.ledger import combined_checksum
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.errors import NoSuchUpload, S3StreamError, StoreError
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import ObjectStore, OnSent, PartSource
from s3stream.store.types import OVERWRITE, ObjectInfo, PartRecord, PutMode

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE_REREADS = 3
"""How often a file part whose bytes changed while it was sent is read and sent again."""


class MultipartCalls:
    """The calls for one object (``bucket/key``) with one checksum use (or just an
    algorithm, used as S3 documents it) and retry policy.

    ``on_sent`` callbacks receive byte counts as bodies go out, and a negative count when a
    failed attempt's bytes are taken back before the retry. ``should_stop`` ends retries
    early (an upload being aborted). ``throttle`` limits the bytes sent per second.

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
        algorithm: ChecksumAlgorithm | ChecksumUse,
        retry: RetryPolicy,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] = random.random,
        should_stop: Callable[[], bool] = lambda: False,
        throttle: TokenBucket | None = None,
        reached: bool = False,
    ) -> None:
        self.store = store
        self.throttle = throttle
        self.bucket = bucket
        self.key = key
        self.use = (
            algorithm if isinstance(algorithm, ChecksumUse) else ChecksumUse.native(algorithm)
        )
        self.algorithm = self.use.algorithm
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
                self.bucket,
                self.key,
                checksum=self.use.sent_algorithm,
                options=options,
                full_object=self.use.whole == "full_object",
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
        counted = _Counted(on_sent, self.throttle)

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
                        checksum=self.use.sent_algorithm,
                        checksum_value=value if self.use.sent else None,
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

        return _with_checksum(self.retry(attempt, f"UploadPart {part_number}"), value)

    def put_part_stream(self, upload_id: str, part_number: int, source: PartSource) -> PartRecord:
        """Upload one part while its bytes arrive, the checksum trailing the body; a retry
        starts over from ``source``, which keeps every byte until the part is done.

        Where the store takes no trailer the part is held until complete and goes up with
        its checksum in a header; where it takes no checksum at all the part streams
        without one, and its checksum is computed afterwards from the kept bytes."""
        if self.use.sent and not self.use.trailers:
            return self.put_part(upload_id, part_number, source)
        record = self.retry(
            lambda: self.store.upload_part_stream(
                self.bucket,
                self.key,
                upload_id,
                part_number,
                source,
                checksum=self.use.sent_algorithm,
            ),
            f"UploadPart {part_number}",
        )
        return record if self.use.sent else _with_checksum(record, self._checksum(source))

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
        counted = _Counted(on_sent, self.throttle)

        def attempt() -> ObjectInfo:
            counted.take_back()
            return self.store.put_object(
                self.bucket,
                self.key,
                data,
                checksum=self.use.sent_algorithm,
                checksum_value=value if self.use.sent else None,
                options=options,
                mode=mode,
                on_sent=counted,
            )

        info = self.retry(attempt, "PutObject")
        if self.use.sent:
            verify_checksum(value, info)
        if not self.use.store_verifies:
            self.check_stored(len(data))
        return replace(info, checksum=info.checksum or value)

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
        reported = self._reported(parts, expected)
        sent = expected if self.use.sent and self.use.whole == "full_object" else None
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
                    checksum=self.use.sent_algorithm,
                    checksum_value=sent,
                    mode=mode,
                )
            except NoSuchUpload:
                if tries > 1:
                    done = self.store.head_object(self.bucket, self.key)
                    if (
                        done is not None
                        and done.size == size
                        and (reported is None or done.checksum in (None, reported))
                    ):
                        return done
                raise

        info = self.retry(attempt, "CompleteMultipartUpload")
        verify_checksum(reported, info)
        if not self.use.store_verifies:
            self.check_stored(size)
        return replace(info, checksum=info.checksum or expected)

    def _reported(self, parts: list[PartRecord], expected: str | None) -> str | None:
        """The object checksum the store will report (``None``: none to compare)."""
        if not self.use.sent or self.use.whole == "none":
            return None
        if self.use.whole == "full_object":
            return expected
        digests = [p.digest(self.algorithm) for p in parts]
        if not digests or any(d is None for d in digests):
            return None
        return composite(self.algorithm, [d for d in digests if d is not None])

    def check_stored(self, size: int) -> None:
        """HeadObject: the stored object must have ``size`` bytes (where the store verified
        no checksum, this is what s3stream can check without reading it back)."""
        info = self.retry(lambda: self.store.head_object(self.bucket, self.key), "HeadObject")
        if info is None or info.size != size:
            found = "no object" if info is None else f"{info.size} bytes"
            raise StoreError(
                f"the store holds {found} after the upload of {size} bytes",
                code="SizeMismatch",
                operation="HeadObject",
            )

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


def _with_checksum(record: PartRecord, value: str | None) -> PartRecord:
    """The part's record with the checksum s3stream computed when the store gave none."""
    return (
        record if record.checksum is not None or value is None else replace(record, checksum=value)
    )


class _Counted:
    """Forwards sent-byte counts and can take back those of a failed attempt; with a
    ``throttle``, holds each piece of the body back until the bandwidth limit allows it
    (and asks the body for pieces of the throttle's ``send_block``)."""

    def __init__(self, on_sent: OnSent | None, throttle: TokenBucket | None = None) -> None:
        self._on_sent = on_sent
        self._throttle = throttle
        self._sent = 0
        if throttle is not None:
            self.send_block = throttle.send_block

    def __call__(self, n: int) -> None:
        if self._throttle is not None:
            self._throttle.take(n)
        self._sent += n
        if self._on_sent is not None:
            self._on_sent(n)

    def take_back(self) -> None:
        if self._sent and self._on_sent is not None:
            self._on_sent(-self._sent)
        self._sent = 0
