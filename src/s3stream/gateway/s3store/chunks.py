"""One tus chunk (a PATCH body) turned into S3 parts as it arrives.

The body's bytes are copied into a pooled part buffer. A part the body's declared length
will complete streams to the store while it fills (a
:class:`~s3stream.gateway.filling.FillingPart` sent by
:meth:`~s3stream.engine.calls.MultipartCalls.put_part_stream` with a trailing checksum); any
other part goes up once full. At most ``pipeline_parts`` finished parts await the store's
reply while the body goes on, in buffers the pool can spare, so an upload holds one part of
memory and at most ``pipeline_parts`` more. Parts are numbered and sized by the upload's
:class:`~s3stream.engine.ledger.PartLedger`; what the store acknowledged is recorded there,
and committing it to the upload's state is the caller's (:mod:`.commit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from s3stream.engine.calls import MultipartCalls
from s3stream.engine.ledger import PartLedger, TooManyParts
from s3stream.errors import S3StreamError
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.filling import FillingPart
from s3stream.gateway.model import Upload
from s3stream.gateway.s3store.buffers import PartBuffers
from s3stream.gateway.threads import StoreThreads
from s3stream.store.types import PartRecord

log = logging.getLogger(__name__)


class ChunkWriter:
    """The parts of one chunk of ``upload``, which has ``start_offset`` bytes in recorded
    parts; ``expected`` is the body's declared length (``None``: unknown, so nothing streams
    early) and ``multipart`` returns the upload's multipart upload id, creating it first
    if need be."""

    def __init__(
        self,
        upload: Upload,
        ledger: PartLedger,
        calls: MultipartCalls,
        buffers: PartBuffers,
        threads: StoreThreads,
        *,
        start_offset: int,
        expected: int | None,
        pipeline_parts: int,
        multipart: Callable[[], Awaitable[str]],
        on_part: Callable[[int, float], None] | None = None,
    ) -> None:
        self.upload = upload
        self.ledger = ledger
        self.calls = calls
        self.buffers = buffers
        self.threads = threads
        self.expected = expected
        self.pipeline_parts = pipeline_parts
        self._multipart = multipart
        self.on_part = on_part
        """Told each sent part's size and seconds (the gateway's metrics)."""
        self.part: FillingPart | None = None
        """The part being filled: after the body, the tail not sent as a part."""
        self.sending: asyncio.Future[PartRecord] | None = None
        """The early send of ``part``, when it streams."""
        self.inflight: dict[int, asyncio.Future[PartRecord]] = {}
        self.store_wait = 0.0
        """Seconds the body was not read because parts or buffers were awaited."""
        self.started = time.perf_counter()
        self.staged_in_buffer = False
        """The current part starts with the staged tail, read back from the store."""
        self.received = 0
        self.part_start = start_offset
        """Upload offset of the current part's first byte."""

    @property
    def buf(self) -> bytearray | None:
        return None if self.part is None else self.part.buf

    @property
    def fill(self) -> int:
        return 0 if self.part is None else self.part.fill

    async def start(self, load_staged: Callable[[bytearray], Awaitable[int]] | None) -> None:
        """Take the first part's buffer, with the staged tail (``load_staged``) in it."""
        await self._begin_part()
        if load_staged is not None:
            assert self.part is not None
            self.part.filled(await load_staged(self.part.buf))
            self.staged_in_buffer = True
        await self._stream_if_covered()

    async def add(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.part is None:
                await self._begin_part()
                await self._stream_if_covered()
            assert self.part is not None
            n = self.part.append(view)
            self.received += n
            view = view[n:]
            if self.part.full:
                await self.hand_off()

    async def _begin_part(self) -> None:
        """Take a buffer for the next part, after waiting for one of ours if the pool is
        short (so uploads with parts in flight never starve a request with no buffer)."""
        target = self.ledger.size_at(self.ledger.next_number, self.part_start)
        waited = time.perf_counter()
        buf = self.buffers.spare(target) if self.inflight else None
        while buf is None and self.inflight:
            await self._wait_any()
            buf = self.buffers.spare(target)
        if buf is None:
            buf = await self.buffers.acquire(target)
        self.store_wait += time.perf_counter() - waited
        self.part = FillingPart(buf, target)

    async def _stream_if_covered(self) -> None:
        """Start sending the current part now if this body will complete it."""
        part, upload = self.part, self.upload
        if part is None or self.sending is not None or self.expected is None:
            return
        if part.fill + (self.expected - self.received) < part.size:
            return
        number = self._number()
        if number == 1 and upload.size is not None and upload.size <= part.size:
            return  # the whole upload: one PutObject at the end
        mpu = await self._multipart()
        self.sending = asyncio.ensure_future(self._put_stream(mpu, number, part))

    def _number(self) -> int:
        try:
            self.ledger.check()
        except TooManyParts as exc:
            raise HTTPError(413, "TooManyParts", str(exc)) from None
        return self.ledger.next_number

    async def hand_off(self) -> None:
        """The current part is complete (or is the chunk's last part): it goes up (or is
        already going) as the next part number, its buffer freed once acknowledged.

        At most ``pipeline_parts`` parts wait for acknowledgement while the body goes on;
        past that a part of this upload is awaited first (back-pressure on the client).
        """
        part = self.part
        assert part is not None
        number = self._number()
        task = self.sending
        if task is None:
            mpu = await self._multipart()
            task = asyncio.ensure_future(self._put(mpu, number, part))
        self.ledger.claim()
        self.part, self.sending = None, None
        self.part_start += part.fill
        self.staged_in_buffer = False
        task.add_done_callback(lambda _: self.buffers.release(part.buf))
        self.inflight[number] = task
        waited = time.perf_counter()
        while len(self.inflight) > self.pipeline_parts:
            await self._wait_any()
        self.store_wait += time.perf_counter() - waited

    async def _put(self, mpu: str, number: int, part: FillingPart) -> PartRecord:
        view = memoryview(part.buf)[: part.fill]
        started = time.perf_counter()
        try:
            record = await self.threads.run(self.calls.put_part, mpu, number, view)
        finally:
            view.release()
        self._log_part(number, part.fill, started)
        return record

    async def _put_stream(self, mpu: str, number: int, part: FillingPart) -> PartRecord:
        started = time.perf_counter()
        record = await self.threads.run(self.calls.put_part_stream, mpu, number, part)
        self._log_part(number, part.size, started)
        return record

    def _log_part(self, number: int, size: int, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.on_part is not None:
            self.on_part(size, seconds)
        log.debug("upload %s part %d: %d bytes in %.3f s", self.upload.id, number, size, seconds)

    async def stop_streaming(self) -> None:
        """The body ended before the current part was full: stop its early send (the
        store never saw the whole part, so nothing of it counts); the bytes stay."""
        task, self.sending = self.sending, None
        if task is None:
            return
        assert self.part is not None
        self.part.abandon()
        try:
            await task
        except Exception as exc:
            log.debug("upload %s: early part send stopped: %s", self.upload.id, exc)
        else:  # cannot happen (the part was not full), but a stored part must not be lost
            raise S3StreamError("a part was stored before its bytes arrived")

    async def _wait_any(self) -> None:
        """Wait until some part in flight is done (a slow part holds up only its own slot);
        a failed part raises."""
        await asyncio.wait(self.inflight.values(), return_when=asyncio.FIRST_COMPLETED)
        for number, task in list(self.inflight.items()):
            if task.done():
                del self.inflight[number]
                self.ledger.record(task.result())

    async def drain(self) -> None:
        """Wait for every part in flight; the first failure is raised."""
        waited = time.perf_counter()
        while self.inflight:
            await self._wait_any()
        self.store_wait += time.perf_counter() - waited

    async def close(self) -> None:
        """Stop an early send, release the buffer and wait for parts still in flight (a
        thread cannot be stopped); after a failure the acknowledged parts are recorded, and
        only those before the first failed one will count."""
        await self.stop_streaming()
        if self.part is not None:
            self.buffers.release(self.part.buf)
            self.part = None
        tasks, self.inflight = self.inflight, {}
        for task in tasks.values():
            with contextlib.suppress(Exception):  # a failure was raised where it happened
                self.ledger.record(await task)

    def log_done(self) -> None:
        log.debug(
            "upload %s: %d bytes in %.2f s, %.2f s of it waiting for the store",
            self.upload.id,
            self.received,
            time.perf_counter() - self.started,
            self.store_wait,
        )
