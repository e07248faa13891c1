"""The multipart engine: the one state machine every door (library, CLI, gateway) drives.

A :class:`MultipartWriter` takes bytes in order (``write``, ``write_from`` a file object, or
``put_part`` for sources that can read any part on their own, such as files read by offset),
fills pooled part buffers, uploads full parts in parallel with per-part checksums and
retries, and completes or aborts. Memory is bounded by its :class:`BufferPool`::

    buffered bytes <= read_buffer + (concurrency + 1) x part_size

where the ``+ 1`` is the buffer being filled while ``concurrency`` parts are in flight.
Multipart files (:meth:`MultipartWriter.send_file`) need no part buffers: each part is read
from the file through a small window, for its checksum and again as it is sent.

An upload that fits in one part never becomes a multipart upload: the first full buffer is
held until more data arrives, and a stream that ends there goes up as one PutObject.
CreateMultipartUpload is sent only once a second part exists, and from then on any failure
or abort calls AbortMultipartUpload (unless ``leave_parts_on_error``), so nothing is orphaned.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, cast

from s3stream.checksums import PartDigest
from s3stream.config import UploadConfig
from s3stream.engine.buffers import BufferPool, PoolClosed
from s3stream.engine.calls import MultipartCalls
from s3stream.engine.files import WINDOW, FileRange, pread_exact
from s3stream.engine.pipes import enlarge_pipe
from s3stream.engine.progress import ProgressCallback, ProgressTracker
from s3stream.engine.result import UploadResult
from s3stream.errors import (
    S3StreamError,
    SourceError,
    StoreError,
    UploadAborted,
    UploadFailed,
)
from s3stream.limits import format_size
from s3stream.resume.info import PartRecord, ResumeInfo, SourceFingerprint
from s3stream.resume.journal import Journal
from s3stream.store.protocol import ObjectInfo, ObjectOptions, ObjectStore, PartReceipt

log = logging.getLogger(__name__)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


class MultipartWriter:
    """One upload of ``size`` bytes (``None``: unknown) to ``bucket/key``.

    Thread-safe: ``write`` calls from several threads are serialised (their order is the
    order in which they take the lock); ``abort`` may be called from any thread and wakes a
    writer blocked on back-pressure.
    """

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        config: UploadConfig,
        *,
        size: int | None = None,
        on_progress: ProgressCallback | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        journal: Journal | None = None,
        source: SourceFingerprint | None = None,
        resume: ResumeInfo | None = None,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.key = key
        self.config = config
        self.size = size
        self.plan, self.concurrency = config.resolve(size)
        self.algorithm = config.checksum_algorithm
        if resume is not None:  # the plan and checksum of an upload are fixed at its start
            self.plan, self.algorithm = resume.plan, resume.algorithm
        self.journal = journal
        self.source = source
        self._sleep = sleep
        self._clock = clock
        self._started_at = clock()
        self.pool = BufferPool(self.concurrency + 1, self.plan.first_part_size)
        self.calls = MultipartCalls(
            store,
            bucket,
            key,
            algorithm=self.algorithm,
            retry=config.retry,
            sleep=sleep,
            rand=rand,
            should_stop=self._stopping,
        )
        self.progress = ProgressTracker(
            on_progress,
            total=size,
            parts_total=self.plan.part_count,
            interval=config.progress_interval,
            clock=clock,
        )
        self.upload_id: str | None = None
        self._receipts: dict[int, PartReceipt] = {}
        self._digests: dict[int, PartDigest] = {}
        self._futures: set[Future[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # serialises writers
        self._start_lock = threading.Lock()
        self._state_lock = threading.Lock()  # guards receipts, futures, error
        self._error: BaseException | None = None
        self._failure: BaseException | None = None
        self._aborted = False
        self._closed = False
        # The part being filled, and the first full part held back until a second exists.
        self._buf: bytearray | None = None
        self._fill = 0
        self._target = 0
        self._held: tuple[bytearray, int] | None = None
        self._next_part = 1
        self.bytes_in = 0
        self.result: UploadResult | None = None
        self.reused_bytes = 0
        self._paused = False
        self._pause_cond = threading.Condition()
        if resume is not None:
            self._adopt(resume)
        self.check_source: Callable[[], None] | None = None
        """Called before the object is created; raises SourceError if the source changed."""

    def _adopt(self, info: ResumeInfo) -> None:
        """Continue ``info``'s upload: its parts count as done; a stream continues after the
        unbroken run of parts 1..k (``info.resume_offset``)."""
        self.upload_id = self.progress.upload_id = info.upload_id
        for part in info.parts:
            self._receipts[part.number] = part.receipt()
            found = part.digest(self.algorithm)
            if found is not None:
                self._digests[part.number] = found
        self.reused_bytes = info.uploaded_bytes
        k = 0
        while k + 1 in self._receipts:
            k += 1
        self._next_part = k + 1
        self.bytes_in = info.resume_offset
        self.progress.sent(self.reused_bytes)
        self._journal("started", info)
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3stream-part")

    def resume_info(self) -> ResumeInfo:
        """A snapshot of what is needed to continue this upload elsewhere."""
        if self.upload_id is None:
            raise S3StreamError("the upload has no multipart upload yet: nothing to resume")
        with self._state_lock:
            parts = tuple(PartRecord.of(r) for r in self._receipts.values())
        return ResumeInfo(
            bucket=self.bucket,
            key=self.key,
            upload_id=self.upload_id,
            part_size=self.plan.first_part_size,
            size=self.plan.size,
            max_parts=self.plan.max_parts,
            growing=self.plan.growing,
            checksum_algorithm=self.algorithm.value,
            source=self.source,
            content_type=self.config.content_type,
            metadata=dict(self.config.metadata),
            no_clobber=self.config.no_clobber,
            concurrency=self.concurrency,
            endpoint_url=getattr(self.store, "endpoint_url", None),
        ).with_parts(parts)

    def pause(self) -> ResumeInfo:
        """Stop sending new parts, wait for those in flight, and return the resume state.

        Writers keep filling the buffer budget and then block; :meth:`resume` continues. The
        state is also in the journal, so the upload can be continued by another process.
        """
        with self._pause_cond:
            self._paused = True
        self._start_multipart()
        self._wait_parts()
        if self._error is not None:
            raise self._fail(self._error)
        info = self.resume_info()
        self._journal("set_state", info.upload_id, "paused")
        return info

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        with self._pause_cond:
            self._paused = False
            self._pause_cond.notify_all()
        if self.upload_id is not None:
            self._journal("set_state", self.upload_id, "active")

    def _journal(self, method: str, *args: Any) -> None:
        """Write to the journal; a journal failure costs resumability, never the upload."""
        if self.journal is None:
            return
        try:
            getattr(self.journal, method)(*args)
        except Exception as exc:
            log.warning("the upload journal could not be updated (%s): %s", method, exc)

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

    def send_file(self, fd: int, skip: frozenset[int] = frozenset()) -> None:
        """Upload ``size`` bytes of the open file ``fd``, each part read by offset in its thread.

        Nothing is held back: a part can always be read again. Each of the ``concurrency``
        parts in flight is read through a window of :data:`WINDOW` bytes, once for its
        checksum and once as it is sent (the second read comes from the page cache), so the
        upload needs a few MiB whatever the part size. A file of one part is read whole.
        """
        assert self.size is not None, "send_file needs the file's size"
        size = self.size
        with self._guarded():
            self._check_open()
            window = min(WINDOW, self.plan.first_part_size)
            self.pool = BufferPool(self.concurrency, window)
            if not self._known_multipart() and self.upload_id is None:
                buf = bytearray(size)
                pread_exact(fd, memoryview(buf), 0)
                self._held, self.bytes_in = (buf, size), size
                return
            self._start_multipart()
            for part in range(1, (self.plan.part_count or 0) + 1):
                if part in skip:
                    continue
                offset = self.plan.offset(part)
                length = min(self.plan.part_size(part), size - offset)
                try:
                    part_buf = self.pool.acquire(min(window, length))
                except PoolClosed:
                    self._check_open()
                    raise
                assert part_buf is not None
                self._submit(part, part_buf, length, FileRange(fd, offset, length, part_buf))
            self.bytes_in = size
            self._next_part = (self.plan.part_count or 0) + 1

    def _check_open(self) -> None:
        if self._aborted:
            raise self._aborted_error()
        if self._error is not None:
            raise self._fail(self._error)
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
        if self._next_part > self.plan.max_parts:
            raise SourceError(
                f"the stream exceeds {format_size(self.plan.capacity)}, the most "
                f"{self.plan.max_parts} parts can carry: declare the size, or use larger parts"
            )
        nominal = self.plan.part_size(self._next_part)
        if self.size is not None:
            nominal = min(nominal, self.size - self.plan.offset(self._next_part))
        try:
            buf = self.pool.acquire(nominal)
        except PoolClosed:
            self._check_open()
            raise
        assert buf is not None
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
        part = self._next_part
        self._next_part += 1
        if part == 1 and self.upload_id is None and not self._known_multipart():
            self._held = (buf, length)
            return
        self._start_multipart()
        self._submit(part, buf, length)

    def _known_multipart(self) -> bool:
        return self.size is not None and self.size > self.plan.first_part_size

    # ----------------------------------------------------------------- parts

    def _start_multipart(self) -> None:
        """Create the multipart upload once (a writer and ``pause`` may race to it)."""
        with self._start_lock:
            if self.upload_id is not None:
                return
            options = ObjectOptions(self.config.content_type, self.config.metadata)
            upload_id = self.calls.create(options)
            self._executor = ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="s3stream-part"
            )
            self.upload_id = upload_id
            self.progress.upload_id = upload_id
        self._journal("started", self.resume_info())
        if self._aborted:  # abort() ran while the upload was being created
            self._abort_remote()
            self._check_open()

    def _submit(
        self,
        part_number: int,
        buf: bytearray,
        length: int,
        source: FileRange | None = None,
    ) -> None:
        """Upload ``buf[:length]`` as a part, or ``source`` (``buf`` its window), in a worker
        thread; ``buf`` goes back to the pool after."""
        with self._pause_cond:
            self._pause_cond.wait_for(lambda: not self._paused or self._aborted)
        if self._aborted:
            raise self._aborted_error()
        assert self._executor is not None
        future = self._executor.submit(self._upload_part, part_number, buf, length, source)
        with self._state_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _stopping(self) -> bool:
        """Whether parts should give up: on abort, or on another part's failure, unless the
        parts are kept for a resume (then a part under way runs to its end, retries and all, so
        that the resume has as much as possible)."""
        if self._aborted:
            return True
        return self._error is not None and not self.config.leave_parts_on_error

    def _forget(self, future: Future[None]) -> None:
        with self._state_lock:
            self._futures.discard(future)

    def _upload_part(
        self,
        part_number: int,
        buf: bytearray,
        length: int,
        source: FileRange | None,
    ) -> None:
        body: memoryview | FileRange = memoryview(buf)[:length] if source is None else source
        try:
            if self._stopping():
                return
            assert self.upload_id is not None
            receipt, part_digest = self.calls.put_part(
                self.upload_id, part_number, body, self.progress.sent
            )
            self._journal("part_done", self.upload_id, PartRecord.of(receipt))
            with self._state_lock:
                self._receipts[part_number] = receipt
                if part_digest is not None:
                    self._digests[part_number] = part_digest
            self.progress.part_done()
            log.debug("part %d done (%d bytes)", part_number, length)
        except BaseException as exc:
            with self._state_lock:
                if self._error is None:
                    self._error = exc
            self.pool.close()  # wake a writer blocked on back-pressure
        finally:
            if isinstance(body, memoryview):
                body.release()
            self.pool.release(buf)

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
                    if self.check_source is not None:
                        self.check_source()
                    info = self._put_single()
                    parts = 1
                else:
                    if self._held is not None:  # paused before a second part existed
                        self._submit(1, *self._held)
                        self._held = None
                    if self._buf is not None and self._fill:
                        self._submit(self._next_part, self._buf, self._fill)
                        self._buf = None
                    self._wait_parts()
                    if self._error is not None:
                        raise self._error
                    if self.check_source is not None:
                        self.check_source()
                    info = self._complete()
                    parts = len(self._receipts)
            finally:
                self._shutdown()
        self.result = UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=info.etag,
            version_id=info.version_id,
            size=self.bytes_in,
            checksum_algorithm=self.algorithm.value,
            checksum=info.checksum,
            checksum_type=info.checksum_type,
            parts=parts,
            duration=self._clock() - self._started_at,
            upload_id=self.upload_id,
            reused_bytes=self.reused_bytes,
        )
        self.progress.finish()
        log.info(
            "uploaded s3://%s/%s (%d bytes, %d parts)", self.bucket, self.key, self.bytes_in, parts
        )
        return self.result

    def _put_single(self) -> ObjectInfo:
        if self._held is not None:
            buf, length = self._held
        elif self._buf is not None:
            buf, length = self._buf, self._fill
        else:
            buf, length = bytearray(), 0
        options = ObjectOptions(self.config.content_type, self.config.metadata)
        with memoryview(buf) as whole, whole[:length] as view:
            info = self.calls.put_object(
                view, options, if_none_match=self.config.no_clobber, on_sent=self.progress.sent
            )
        self.progress.part_done()
        return info

    def _wait_parts(self) -> None:
        while True:
            with self._state_lock:
                pending = list(self._futures)
            if not pending:
                return
            for future in pending:
                future.result()

    def _complete(self) -> ObjectInfo:
        assert self.upload_id is not None
        info = self.calls.complete(
            self.upload_id,
            self._receipts,
            self._digests,
            size=self.bytes_in,
            if_none_match=self.config.no_clobber,
        )
        self._journal("set_state", self.upload_id, "completed")
        return info

    # ----------------------------------------------------------------- failure and abort

    def abort(self) -> None:
        """Stop the upload and abort its multipart upload. Safe from any thread, idempotent."""
        if self._aborted:
            return
        self._aborted = True
        self.pool.close()
        self._shutdown()
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
                    or (self._aborted and isinstance(exc, UploadAborted))
                    or self.result is not None  # misuse after success: the upload stands
                ):
                    raise
                raise self._fail(exc)  # noqa: B904 - the cause is set by _fail

    def _fail(self, exc: BaseException) -> BaseException:
        """Stop everything, abort remotely (unless told not to) and return the error to raise.

        The first failure wins and is converted once; later calls return the same error.
        """
        with self._state_lock:
            if self._failure is not None:
                return self._failure
            if self._error is None:
                self._error = exc
            first = self._error
        self._failure = self._cleanup_and_convert(first)
        return self._failure

    def _cleanup_and_convert(self, first: BaseException) -> BaseException:
        self._closed = True
        self.pool.close()
        self._shutdown()
        leave = self.config.leave_parts_on_error
        if not leave:
            self._abort_remote()
        elif self.upload_id is not None:
            self._journal("set_state", self.upload_id, "failed", str(first))
        if not isinstance(first, Exception):  # KeyboardInterrupt and friends: cleaned up, as is
            return first
        if isinstance(first, S3StreamError) and not isinstance(first, StoreError):
            return first.locate(self.bucket, self.key, self.upload_id)
        if self._aborted:
            return self._aborted_error()
        kept = (
            f"; its parts were kept under upload id {self.upload_id}"
            if (leave and self.upload_id)
            else ""
        )
        failure = UploadFailed(
            f"upload to s3://{self.bucket}/{self.key} failed: {first}{kept}",
            bucket=self.bucket,
            key=self.key,
            upload_id=self.upload_id,
            parts_left=bool(leave and self.upload_id),
        )
        failure.__cause__ = first
        return failure

    def _aborted_error(self) -> UploadAborted:
        error = UploadAborted(f"the upload to s3://{self.bucket}/{self.key} was aborted")
        error.locate(self.bucket, self.key, self.upload_id)
        return error

    def _shutdown(self) -> None:
        executor = self._executor
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _abort_remote(self) -> None:
        if self.upload_id is not None:
            self.calls.abort(self.upload_id)
            self._journal("set_state", self.upload_id, "aborted")
