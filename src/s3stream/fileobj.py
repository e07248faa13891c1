"""S3 objects as binary files to write: ``s3stream.open("s3://bucket/key", "wb")``.

:func:`open` returns an :class:`ObjectWriter`, a real :class:`io.BufferedIOBase`, so code
that writes to a binary file writes to S3 instead: ``zipfile`` (streamed: the writer is not
seekable, so entries carry data descriptors), ``tarfile`` in ``w|gz`` mode, ``gzip``,
``io.TextIOWrapper`` with ``csv``, pandas' and pyarrow's writers. Bytes go through a push
session of the multipart engine (bounded memory, parallel parts, checksums): ``write``
blocks while the buffer budget is full, ``close`` completes the object, and an exception
inside ``with`` aborts it, leaving nothing behind. A writer dropped unclosed is aborted too,
never completed half-written. :func:`aopen` is the asyncio twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import warnings
from types import TracebackType
from typing import TYPE_CHECKING, Unpack

from s3stream.config import validate_target
from s3stream.engine.progress import ProgressCallback
from s3stream.engine.result import UploadResult
from s3stream.errors import ConfigError
from s3stream.session import UploadSession
from s3stream.uploader import S3StreamUploader, UploadOptions

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` into its bucket and key (checked, no request)."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ConfigError(f"{url!r} is not an S3 URL: write s3://BUCKET/KEY")
    bucket, _, key = url[len("s3://") :].partition("/")
    validate_target(bucket, key)
    return bucket, key


def _session(
    url: str,
    mode: str,
    uploader: S3StreamUploader | None,
    size: int | None,
    on_progress: ProgressCallback | None,
    options: UploadOptions,
) -> UploadSession:
    if mode != "wb":
        hint = (
            "; for text wrap it: io.TextIOWrapper(s3stream.open(url, 'wb'), encoding='utf-8')"
            if mode in ("w", "wt", "a", "at", "x", "xt")
            else ""
        )
        raise ConfigError(
            f"s3stream.open() writes objects: mode {mode!r} is not supported, use 'wb'{hint}"
        )
    bucket, key = split_url(url)
    uploader = uploader or S3StreamUploader()
    return uploader.open_upload(bucket, key, size, on_progress, **options)


def open(
    url: str,
    mode: str = "wb",
    *,
    uploader: S3StreamUploader | None = None,
    size: int | None = None,
    on_progress: ProgressCallback | None = None,
    **options: Unpack[UploadOptions],
) -> ObjectWriter:
    """Open ``s3://bucket/key`` for writing (mode ``"wb"`` only).

    ``uploader`` gives the connection and defaults (else a new ``S3StreamUploader()`` from
    the standard AWS configuration); ``size`` declares the exact length if known; the other
    keywords are the upload options (``content_type``, ``storage_class``, ``sse``, ...).
    """
    return ObjectWriter(_session(url, mode, uploader, size, on_progress, options), url)


def aopen(
    url: str,
    mode: str = "wb",
    *,
    uploader: S3StreamUploader | None = None,
    size: int | None = None,
    on_progress: ProgressCallback | None = None,
    **options: Unpack[UploadOptions],
) -> AsyncObjectWriter:
    """The asyncio form of :func:`open`: ``async with s3stream.aopen(url) as f:
    await f.write(data)``."""
    return AsyncObjectWriter(_session(url, mode, uploader, size, on_progress, options), url)


class ObjectWriter(io.BufferedIOBase):
    """A write-only, non-seekable binary file whose bytes become one S3 object."""

    def __init__(self, session: UploadSession, name: str) -> None:
        super().__init__()
        self._session = session
        self.name = name
        self.mode = "wb"
        self._position = 0
        self._outcome = ""

    @property
    def result(self) -> UploadResult | None:
        """What the completed upload returned (``None`` before ``close``)."""
        return self._session.result

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        """The number of bytes written so far."""
        self._check_open()
        return self._position

    def write(self, data: ReadableBuffer, /) -> int:
        """Append ``data``; blocks while the buffer budget is full. Returns its length."""
        self._check_open()
        with memoryview(data) as view:
            n = view.nbytes
            if n:
                self._session.write(view)
        self._position += n
        return n

    def flush(self) -> None:
        """Nothing to do: bytes become parts as they fill, and the object exists only once
        :meth:`close` completes it."""
        self._check_open()

    def close(self) -> None:
        """Complete the object (once); a failure raises and leaves nothing behind."""
        if self.closed:
            return
        try:
            self._session.finish()
            self._outcome = "completed"
        except BaseException:
            self._outcome = "failed"
            raise
        finally:
            super().close()

    def abort(self) -> None:
        """Give the object up: nothing is created, parts sent so far are aborted."""
        if self.closed:
            return
        try:
            self._session.abort()
            self._outcome = "aborted"
        finally:
            super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            warnings.warn(
                f"{self.name} was never closed: the upload is aborted, not completed",
                ResourceWarning,
                stacklevel=2,
            )
            with contextlib.suppress(Exception):  # the interpreter may be shutting down
                self.abort()

    def _check_open(self) -> None:
        if self.closed:
            done = self._outcome or "closed"
            raise ValueError(
                f"I/O operation on closed file {self.name}: its upload was already {done}; "
                "open it again to write a new object"
            )

    def __repr__(self) -> str:
        return f"<s3stream.ObjectWriter name={self.name!r} mode='wb'>"


class AsyncObjectWriter:
    """The asyncio twin of :class:`ObjectWriter`: ``await write(data)``, ``await close()``;
    writes that fit in the part being filled do not leave the event loop."""

    def __init__(self, session: UploadSession, name: str) -> None:
        self._session = session
        self.name = name
        self.mode = "wb"
        self.closed = False
        self._position = 0
        self._outcome = ""

    @property
    def result(self) -> UploadResult | None:
        return self._session.result

    def tell(self) -> int:
        self._check_open()
        return self._position

    async def write(self, data: ReadableBuffer, /) -> int:
        self._check_open()
        with memoryview(data) as view:
            n = view.nbytes
            if n:
                await self._session.awrite(view)
        self._position += n
        return n

    async def flush(self) -> None:
        self._check_open()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._session.afinish()
            self._outcome = "completed"
        except BaseException:
            self._outcome = "failed"
            raise

    async def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._outcome = "aborted"
        await self._session.aabort()

    async def __aenter__(self) -> AsyncObjectWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            await asyncio.shield(self.abort())
        else:
            await self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(
                f"I/O operation on closed file {self.name}: its upload was already "
                f"{self._outcome or 'closed'}; open it again to write a new object"
            )
