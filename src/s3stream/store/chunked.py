"""A part body in S3's ``aws-chunked`` encoding with the checksum as a trailer.

S3 needs a part's checksum before its body unless the checksum trails it: the body goes as
``<hex size>\\r\\n<bytes>\\r\\n`` chunks, then ``0\\r\\n``, then ``x-amz-checksum-<alg>:<value>``
and a blank line (``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER``). That lets
a part go out while its bytes are still being received, checksummed on the way.

Chunks have a fixed size, so the encoded length is known up front and the request carries a
``Content-Length`` (no transfer chunking underneath).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from s3stream.checksums import (
    ChecksumAlgorithm,
    PartDigest,
    RunningChecksum,
    encode,
    encoded_length,
)
from s3stream.limits import MiB
from s3stream.store.protocol import PartSource

CHUNK = 1 * MiB
"""Bytes per aws-chunked chunk."""


def trailer_name(algorithm: ChecksumAlgorithm) -> str:
    return f"x-amz-checksum-{algorithm.value}"


class StreamedPartBody:
    """The request body of one part read from a :class:`~s3stream.store.protocol.PartSource`.

    ``read`` hands out pieces without copying the data (chunk headers are tiny); the
    checksum runs over the bytes as they go, and :attr:`digest` is set once the trailer has
    been produced. ``seek(0)`` starts over (a retried request).
    """

    def __init__(self, source: PartSource, algorithm: ChecksumAlgorithm) -> None:
        self.source = source
        self.algorithm = algorithm
        self.trailer = algorithm is not ChecksumAlgorithm.NONE
        self.digest: PartDigest | None = None
        self.source_error: Exception | None = None
        """What the source raised (the HTTP stack wraps it into a connection error)."""
        self._reset()

    def _reset(self) -> None:
        self._pos = 0  # data bytes handed out
        self._sent = 0  # encoded bytes handed out
        self._chunk_left = 0  # data bytes left in the current chunk
        self._pending: bytes = b""  # framing not yet handed out
        self._done = False
        self._running = RunningChecksum(self.algorithm) if self.trailer else None
        self.digest = None

    def __len__(self) -> int:
        """The encoded length: the request's ``Content-Length``."""
        size = self.source.size
        if not self.trailer:
            return size
        full, rest = divmod(size, CHUNK)
        length = full * (len(f"{CHUNK:x}") + 4 + CHUNK)
        if rest:
            length += len(f"{rest:x}") + 4 + rest
        name = trailer_name(self.algorithm)
        return length + len("0\r\n") + len(name) + 1 + encoded_length(self.algorithm) + 4

    def tell(self) -> int:
        return self._sent

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a streamed part can only start over")
        self._reset()
        return 0

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The encoded body from the start, piece by piece."""
        self.seek(0)
        while piece := self.read():
            yield piece

    def read(self, size: int | None = -1) -> bytes | memoryview:
        try:
            piece = self._next()
        except Exception as exc:
            self.source_error = exc
            raise
        self._sent += len(piece)
        return piece

    def _next(self) -> bytes | memoryview:
        if self._pending:
            piece, self._pending = self._pending, b""
            return piece
        total = self.source.size
        if not self.trailer:
            if self._pos >= total:
                return b""
            view = self.source.wait_view(self._pos, CHUNK)
            self._pos += len(view)
            return view
        if self._chunk_left:
            view = self.source.wait_view(self._pos, self._chunk_left)
            assert self._running is not None
            self._running.update(view)
            self._pos += len(view)
            self._chunk_left -= len(view)
            if not self._chunk_left:
                self._pending = b"\r\n"
            return view
        if self._pos < total:
            self._chunk_left = min(CHUNK, total - self._pos)
            return f"{self._chunk_left:x}\r\n".encode()
        if self._done:
            return b""
        self._done = True
        assert self._running is not None
        self.digest = self._running.digest()
        value = encode(self.algorithm, self.digest)
        return f"0\r\n{trailer_name(self.algorithm)}:{value}\r\n\r\n".encode()
