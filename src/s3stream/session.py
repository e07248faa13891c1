"""Push sessions: the producer hands over chunks (``write``), then ``finish`` or ``abort``.

A producer that pushes (an IPC channel, a recorder's callback) opens a session, writes
chunks as they come and finishes; the engine does the rest. ``write``
blocks while the buffer budget is full, so a fast producer is slowed to the upload's pace
instead of filling memory. The async twins drive the same engine: ``awrite`` copies inline
when the chunk fits in the part being filled and only hands off to a thread when it would
wait or send a request, so an asyncio program never blocks its loop.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from s3stream.engine.result import UploadResult
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import S3StreamError
from s3stream.resume.info import ResumeInfo


class UploadControl:
    """Pause, resume or abort an upload that runs in another thread.

    Pass it as ``control=`` to ``upload_file``/``upload_stream``; it attaches to the upload
    when the upload starts.
    """

    def __init__(self) -> None:
        self._writer: MultipartWriter | None = None
        self._attached = threading.Event()

    def attach(self, writer: MultipartWriter) -> None:
        if self._writer is not None:
            raise S3StreamError("an UploadControl controls one upload: make one per upload")
        self._writer = writer
        self._attached.set()

    def _wait(self, timeout: float | None) -> MultipartWriter:
        if not self._attached.wait(timeout) or self._writer is None:
            raise S3StreamError("the upload has not started")
        return self._writer

    def pause(self, timeout: float | None = None) -> ResumeInfo:
        """Pause (see :meth:`UploadSession.pause`) and return the state to resume from."""
        return self._wait(timeout).pause()

    def resume(self) -> None:
        self._wait(0).resume()

    def abort(self) -> None:
        self._wait(0).abort()


class UploadSession:
    """A push-style upload; usable as a (async) context manager that finishes on success
    and aborts on an exception."""

    def __init__(self, writer: MultipartWriter) -> None:
        self._writer = writer

    @property
    def bucket(self) -> str:
        return self._writer.bucket

    @property
    def key(self) -> str:
        return self._writer.key

    @property
    def upload_id(self) -> str | None:
        """The multipart upload id, once the upload has more than one part."""
        return self._writer.upload_id

    @property
    def bytes_written(self) -> int:
        return self._writer.bytes_in

    @property
    def result(self) -> UploadResult | None:
        return self._writer.result

    @property
    def peak_buffered_bytes(self) -> int:
        """The most bytes the session's buffer pool ever held."""
        return self._writer.pool.peak_bytes

    def pause(self) -> ResumeInfo:
        """Send no new parts, wait for those in flight, return the state to resume from.

        ``write`` keeps accepting bytes until the buffer budget is full, then blocks until
        :meth:`resume`. The returned info can also resume the upload in another process
        from a producer that replays from ``info.resume_offset``.
        """
        return self._writer.pause()

    def resume(self) -> None:
        self._writer.resume()

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self._writer.write(chunk)

    def finish(self) -> UploadResult:
        return self._writer.finish()

    def abort(self) -> None:
        self._writer.abort()

    async def awrite(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._writer.would_block(len(memoryview(chunk).cast("B"))):
            await asyncio.to_thread(self._writer.write, chunk)
        else:
            self._writer.write(chunk)

    async def afinish(self) -> UploadResult:
        return await asyncio.to_thread(self._writer.finish)

    async def aabort(self) -> None:
        await asyncio.to_thread(self._writer.abort)

    def __enter__(self) -> UploadSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.abort()
        elif self.result is None:
            self.finish()

    async def __aenter__(self) -> UploadSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            await self.aabort()
        elif self.result is None:
            await self.afinish()
