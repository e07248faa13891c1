"""The multipart writer: the one state machine every door (library, CLI, gateway) drives.

A :class:`MultipartWriter` takes bytes in order (``write``, or ``write_from`` a pipe), fills
pooled part buffers, hands full parts to its :class:`~s3stream.engine.scheduler.PartScheduler`
(parallel, checksummed, retried) and completes or aborts. Parts are numbered and sized by a
:class:`~s3stream.engine.ledger.PartLedger`; memory is bounded by its BufferPool to
``read_buffer + (concurrency + 1) x part_size`` (one part filling, ``concurrency`` in flight).
Files go through :class:`~s3stream.engine.filewriter.FileWriter` (each part read by offset,
no part buffers), growing files through :class:`~s3stream.engine.follow.FollowWriter`.

An upload that fits in one part never becomes a multipart upload: the first full buffer is
held until more data arrives, and a stream that ends there goes up as one PutObject. From
CreateMultipartUpload on, any failure or abort calls AbortMultipartUpload (unless
``leave_parts_on_error``, or a file interrupted by an outage), so nothing is orphaned.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import cast

from s3stream.config import UploadConfig
from s3stream.engine.bandwidth import TokenBucket
from s3stream.engine.buffers import BufferPool, PoolClosed
from s3stream.engine.calls import MultipartCalls
from s3stream.engine.choices import ChecksumUse
from s3stream.engine.failures import aborted_error, is_outage, upload_failure
from s3stream.engine.files import FileRange
from s3stream.engine.journaling import JournalWriter, UploadJournal
from s3stream.engine.ledger import PartLedger
from s3stream.engine.pipes import Readable, enlarge_pipe
from s3stream.engine.plan import PartPlan
from s3stream.engine.progress import ProgressCallback, ProgressTracker
from s3stream.engine.result import UploadResult
from s3stream.engine.scheduler import PartScheduler
from s3stream.engine.verify import verify_upload
from s3stream.errors import S3StreamError, SourceError, UploadAborted
from s3stream.resume.info import ResumeInfo, SourceFingerprint
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import ObjectStore
from s3stream.store.types import CREATE, OVERWRITE, ObjectInfo, PartRecord

log = logging.getLogger(__name__)


class MultipartWriter:
    """One upload of ``size`` bytes (``None``: unknown) to ``bucket/key``.

    Thread-safe: ``write`` calls from several threads are serialised (their order is the
    order in which they take the lock); ``abort`` may be called from any thread and wakes a
    writer blocked on back-pressure. ``resumable`` sources (files) keep their parts when an
    outage outlasts ``retry_for``.
    """

    resumable = False

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        config: UploadConfig,
        *,
        checksums: ChecksumUse | None = None,
        size: int | None = None,
        on_progress: ProgressCallback | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        journal: UploadJournal | None = None,
        source: SourceFingerprint | None = None,
        resume: ResumeInfo | None = None,
        throttle: TokenBucket | None = None,
    ) -> None:
        self.store = store.with_request_options(config.request_options())
        self.bucket = bucket
        self.key = key
        self.config = config
        self.size = size
        plan, self.concurrency = config.resolve(size)
        self.use = checksums or ChecksumUse.native(config.checksum_algorithm)
        if resume is not None:  # the plan and checksums of an upload are fixed at its start
            plan, self.use = resume.plan, resume.checksum_use(self.use)
        self.algorithm = self.use.algorithm
        self.ledger = PartLedger(plan, resume.parts if resume is not None else ())
        self.journal = JournalWriter(journal)
        self.source = source
        self._sleep = sleep
        self._clock = clock
        self._started_at = clock()
        self.pool = BufferPool(self.concurrency + 1, plan.first_part_size)
        self.progress = ProgressTracker(
            on_progress,
            total=size,
            parts_total=plan.part_count,
            interval=config.progress_interval,
            clock=clock,
        )
        self.scheduler = PartScheduler(
            MultipartCalls(
                self.store,
                bucket,
                key,
                algorithm=self.use,
                retry=config.retry_policy,
                sleep=sleep,
                rand=rand,
                should_stop=lambda: self.scheduler.stopping(),
                throttle=throttle,
                reached=resume is not None,  # resume's ListParts reached the store
            ),
            self.ledger,
            self.journal,
            self.progress,
            self.concurrency,
            keep_parts=config.leave_parts_on_error,
            release=lambda buf: self.pool.release(buf),
            on_failure=lambda: self.pool.close(),
        )
        self.calls = self.scheduler.calls
        self.upload_id: str | None = None
        self._lock = threading.Lock()  # serialises writers
        self._start_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._closed = False
        # The part being filled (and its number), and the first full part held back until a
        # second exists.
        self._buf: bytearray | None = None
        self._number = 0
        self._fill = 0
        self._target = 0
        self._held: tuple[bytearray, int] | None = None
        self._final: list[PartRecord] = []
        """The parts of the completed object (the one of a single PutObject)."""
        self.bytes_in = 0
        self.result: UploadResult | None = None
        self.reused_bytes = 0
        if resume is not None:
            self._adopt(resume)

    @property
    def plan(self) -> PartPlan:
        return self.ledger.plan

    def _adopt(self, info: ResumeInfo) -> None:
        """Continue ``info``'s upload: its parts count as done; a stream continues after the
        unbroken run of parts 1..k (``info.resume_offset``)."""
        self.upload_id = self.progress.upload_id = info.upload_id
        self.reused_bytes = info.uploaded_bytes
        self.bytes_in = info.resume_offset
        self.progress.sent(self.reused_bytes)
        self.journal.started(info)
        self.scheduler.start(info.upload_id)

    def resume_info(self) -> ResumeInfo:
        """A snapshot of what is needed to continue this upload elsewhere."""
        if self.upload_id is None:
            raise S3StreamError("the upload has no multipart upload yet: nothing to resume")
        started = ResumeInfo.started(
            self.bucket, self.key, self.upload_id, self.ledger.plan, self.use, self.config
        )
        return replace(
            started,
            source=self.source,
            concurrency=self.concurrency,
            endpoint_url=self.store.endpoint_url,
        ).with_parts(tuple(self.ledger.parts))

    def pause(self) -> ResumeInfo:
        """Stop sending new parts, wait for those in flight, and return the resume state.

        Writers keep filling the buffer budget and then block; :meth:`resume` continues. The
        state is also in the journal, so the upload can be continued by another process.
        """
        self.scheduler.set_paused(True)
        self._start_multipart()
        self.scheduler.wait()
        if self.scheduler.error is not None:
            raise self._fail(self.scheduler.error)
        info = self.resume_info()
        self.journal.set_state(info.upload_id, "paused")
        return info

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        self.scheduler.set_paused(False)
        if self.upload_id is not None:
            self.journal.set_state(self.upload_id, "active")

    # ----------------------------------------------------------------- taking bytes in

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; blocks while the buffer budget is used up (back-pressure)."""
        view = memoryview(data).cast("B")
        with self._guarded():
            self._check_open()
            self._check_length(len(view))
            self.bytes_in += len(view)
            while view:
                self._ensure_buffer()
                assert self._buf is not None
                n = min(len(view), self._target - self._fill)
                # through a memoryview: bytearray slice assignment would copy the source first
                with memoryview(self._buf) as dst:
                    dst[self._fill : self._fill + n] = view[:n]
                view = view[n:]
                self._accept(n)

    def would_block(self, n: int) -> bool:
        """False when ``write`` of ``n`` bytes can finish without waiting or any request."""
        return self._buf is None or self._fill + n >= self._target or self._closed

    def write_from(self, reader: Readable) -> None:
        """Read ``reader`` to its end straight into part buffers (``readinto`` when it has one)."""
        readinto = getattr(reader, "readinto", None)
        enlarge_pipe(reader)
        with self._guarded():
            self._check_open()
            while True:
                if self.size is not None and self.bytes_in == self.size:
                    extra = reader.read(1)
                    if extra:
                        self._check_length(len(extra))
                    return
                self._ensure_buffer()
                assert self._buf is not None
                window = memoryview(self._buf)[self._fill : self._target]
                try:
                    if readinto is not None:
                        n = readinto(window)
                    else:
                        chunk = reader.read(len(window))
                        n = None if chunk is None else len(chunk)
                        if chunk:
                            window[: len(chunk)] = chunk
                except OSError as exc:
                    raise SourceError(f"reading the source failed: {exc}") from exc
                finally:
                    window.release()
                if n is None:  # a non-blocking source with nothing to give yet
                    self._sleep(0.01)
                    continue
                if n == 0:
                    return
                self.bytes_in += n
                self._accept(n)

    def consume(self, source: Readable | Iterable[bytes | bytearray | memoryview]) -> UploadResult:
        """Write all of ``source`` (a file object, or an iterable of chunks) and finish.

        Whatever ends the iteration early (the producer's own exception, Ctrl-C) fails the
        upload the same way as a store error: aborted, unless ``leave_parts_on_error``.
        """
        try:
            if hasattr(source, "readinto") or hasattr(source, "read"):
                self.write_from(cast(Readable, source))
            else:
                for chunk in source:
                    self.write(chunk)
        except BaseException as exc:
            raise self._fail(exc)  # noqa: B904 - _fail sets the cause
        return self.finish()

    def _check_open(self) -> None:
        if self.scheduler.aborted:
            raise self._aborted_error()
        if self.scheduler.error is not None:
            raise self._fail(self.scheduler.error)
        if self._closed:
            raise S3StreamError("the upload is already finished")

    def _check_length(self, n: int) -> None:
        if self.size is not None and self.bytes_in + n > self.size:
            raise SourceError(
                f"the source is longer than the declared size of {self.size} bytes: "
                "declare the right size, or none"
            )

    def _ensure_buffer(self) -> None:
        if self._buf is not None:
            return
        self.ledger.check()
        _, nominal = self.ledger.bounds(self.ledger.next_number)
        try:
            buf = self.pool.acquire(nominal)
        except PoolClosed:
            self._check_open()
            raise
        assert buf is not None
        self._number = self.ledger.claim()
        self._buf, self._fill, self._target = buf, 0, nominal

    def _accept(self, n: int) -> None:
        """``n`` bytes landed in the current buffer: promote the held part, ship a full one."""
        if n and self._held is not None:
            held_buf, held_len = self._held
            self._held = None
            self._start_multipart()
            self._submit(1, held_buf, held_len)
        self._fill += n
        if self._fill < self._target:
            return
        buf, length = self._buf, self._fill
        assert buf is not None
        self._buf = None
        if self._number == 1 and self.upload_id is None and not self._known_multipart():
            self._held = (buf, length)
            return
        self._start_multipart()
        self._submit(self._number, buf, length)

    def _known_multipart(self) -> bool:
        return self.size is not None and self.size > self.ledger.plan.first_part_size

    # ----------------------------------------------------------------- parts

    def _options(self) -> ObjectOptions:
        return self.config.object_options()

    def _start_multipart(self) -> None:
        """Create the multipart upload once (a writer and ``pause`` may race to it)."""
        with self._start_lock:
            if self.upload_id is not None:
                return
            upload_id = self.calls.create(self._options())
            self.scheduler.start(upload_id)
            self.upload_id = self.progress.upload_id = upload_id
        self.journal.started(self.resume_info())
        if self.scheduler.aborted:  # abort() ran while the upload was being created
            self._abort_remote()
            self._check_open()

    def _submit(
        self, number: int, buf: bytearray, length: int, source: FileRange | None = None
    ) -> None:
        """Send part ``number`` in a worker thread; ``buf`` goes back to the pool after."""
        self.scheduler.wait_unpaused()
        if self.scheduler.aborted:
            raise self._aborted_error()
        self.scheduler.submit(number, buf, length, source)

    # ----------------------------------------------------------------- finishing

    def finish(self) -> UploadResult:
        """Upload what is left, complete the object and return the result."""
        with self._guarded():
            self._check_open()
            self._closed = True
            try:
                if self.size is not None and self.bytes_in < self.size:
                    raise SourceError(
                        f"the source ended after {self.bytes_in} of {self.size} declared bytes: "
                        "declare the right size, or none"
                    )
                if self.upload_id is None:
                    self._check_source()
                    info = self._put_single()
                else:
                    if self._held is not None:  # paused before a second part existed
                        self._submit(1, *self._held)
                        self._held = None
                    if self._buf is not None and self._fill:
                        self._submit(self._number, self._buf, self._fill)
                        self._buf = None
                    self.scheduler.wait()
                    if self.scheduler.error is not None:
                        raise self.scheduler.error
                    self._check_source()
                    info = self._complete()
                multipart, read = self.upload_id is not None, self.config.verify
                checked = verify_upload(
                    self.use, self.store, self.bucket, self.key, self._final, multipart, read
                )
            finally:
                self.scheduler.shutdown()
        self.result = UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=info.etag,
            version_id=info.version_id,
            size=self.bytes_in,
            checksum_algorithm=self.algorithm.value,
            checksum=info.checksum,
            checksum_type=info.checksum_type,
            parts=len(self._final),
            duration=self._clock() - self._started_at,
            upload_id=self.upload_id,
            reused_bytes=self.reused_bytes,
            verified=checked[0],
            verified_by=checked[1],
        )
        self.progress.finish()
        log.info("uploaded s3://%s/%s (%d bytes)", self.bucket, self.key, self.bytes_in)
        return self.result

    def _check_source(self) -> None:
        """Before completing: make sure the parts are the source's bytes (a source that can
        tell: files and followed files), else raise :class:`SourceError`."""

    def _put_single(self) -> ObjectInfo:
        if self._held is not None:
            buf, length = self._held
        elif self._buf is not None:
            buf, length = self._buf, self._fill
        else:
            buf, length = bytearray(), 0
        mode = CREATE if self.config.no_clobber else OVERWRITE
        with memoryview(buf) as whole, whole[:length] as view:
            info = self.calls.put_object(
                view, self._options(), mode=mode, on_sent=self.progress.sent
            )
        self._final = [PartRecord(1, length, info.etag, info.checksum)]
        self.progress.part_done()
        return info

    def _complete(self) -> ObjectInfo:
        assert self.upload_id is not None
        parts = self.ledger.completion(self.bytes_in)
        info = self.calls.complete(
            self.upload_id,
            parts,
            size=self.bytes_in,
            mode=CREATE if self.config.no_clobber else OVERWRITE,
        )
        self.journal.set_state(self.upload_id, "completed")
        self._final = parts
        return info

    # ----------------------------------------------------------------- failure and abort

    def abort(self) -> None:
        """Stop the upload and abort its multipart upload. Safe from any thread, idempotent."""
        if self.scheduler.aborted:
            return
        self.scheduler.abort()
        self.pool.close()
        self.scheduler.shutdown()
        self._abort_remote()
        self._closed = True

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Serialise a caller and turn anything it raises into the upload's one failure."""
        with self._lock:
            try:
                yield
            except BaseException as exc:
                if (
                    exc is self._failure
                    or (self.scheduler.aborted and isinstance(exc, UploadAborted))
                    or self.result is not None  # misuse after success: the upload stands
                ):
                    raise
                raise self._fail(exc)  # noqa: B904 - the cause is set by _fail

    def _fail(self, exc: BaseException) -> BaseException:
        """Stop everything, abort remotely (unless told not to) and return the error to raise.

        The first failure wins and is converted once; later calls return the same error.
        """
        if self._failure is not None:
            return self._failure
        first = self.scheduler.fail(exc)
        self._failure = self._cleanup_and_convert(first)
        return self._failure

    def _cleanup_and_convert(self, first: BaseException) -> BaseException:
        self._closed = True
        self.pool.close()
        self.scheduler.shutdown()
        interrupted = self.resumable and self.config.retry_for is not None and is_outage(first)
        leave = self.config.leave_parts_on_error or interrupted
        if not leave:
            self._abort_remote()
        elif self.upload_id is not None:
            self.journal.set_state(self.upload_id, "failed", str(first))
        return upload_failure(
            first,
            bucket=self.bucket,
            key=self.key,
            upload_id=self.upload_id,
            parts_kept=leave,
            aborted=self.scheduler.aborted,
            interrupted=interrupted,
        )

    def _aborted_error(self) -> UploadAborted:
        return aborted_error(self.bucket, self.key, self.upload_id)

    def _abort_remote(self) -> None:
        if self.upload_id is not None:
            aborted = self.calls.abort(self.upload_id)  # else `s3stream ls` still lists it
            self.journal.set_state(self.upload_id, "aborted" if aborted else "failed")
