"""Request bodies over memory or a part source, handed to the HTTP stack in large sends; and
answer bodies read into memory (:func:`read_chunks_into`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from s3stream.errors import StoreError
from s3stream.limits import MiB
from s3stream.store.protocol import OnSent, PartSource

SEND_BLOCK = 1 * MiB
"""Bodies go to the socket in blocks of this size: large enough that Python's per-call cost
vanishes (8 KiB sends halve throughput), small enough for smooth progress."""


class PartBody:
    """A request body over a memoryview (no copy) or a :class:`PartSource` (read as it is
    sent), in large sends. ``on_sent`` follows the position (a rewind, e.g. after the signer
    read the body to hash it, counts back)."""

    def __init__(self, data: memoryview | PartSource, on_sent: OnSent | None) -> None:
        self._data = data
        self._size = len(data) if isinstance(data, memoryview) else data.size
        self._pos = 0
        self._on_sent = on_sent
        self._block: int = getattr(on_sent, "send_block", SEND_BLOCK)
        self.source_error: Exception | None = None
        """What reading the source raised (the HTTP stack wraps it into a connection error)."""

    def __len__(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._move(max(0, min(self._size, base + offset)))
        return self._pos

    def read(self, size: int | None = -1) -> memoryview:
        # urllib3 asks for 16 KiB blocks; give it at least a send block per call instead.
        want = self._size if size is None or size < 0 else max(size, self._block)
        chunk = self._piece(want)
        self._move(self._pos + len(chunk))
        return chunk

    def pieces(self) -> Iterator[memoryview]:
        """The body from the start, one send block at a time (the native transport's way)."""
        self.seek(0)
        while chunk := self._piece(self._block):
            self._move(self._pos + len(chunk))
            yield chunk

    def readinto(self, buffer: memoryview) -> int:
        """Exactly as much as fits (awscrt's signer hashes the body this way)."""
        chunk = self._piece(len(buffer))
        buffer[: len(chunk)] = chunk
        self._move(self._pos + len(chunk))
        return len(chunk)

    def _piece(self, limit: int) -> memoryview:
        if isinstance(self._data, memoryview):
            return self._data[self._pos : self._pos + limit]
        if self._pos >= self._size or limit <= 0:
            return memoryview(b"")
        try:
            return self._data.wait_view(self._pos, limit)
        except Exception as exc:
            self.source_error = exc
            raise

    def _move(self, pos: int) -> None:
        if self._on_sent is not None and pos != self._pos:
            self._on_sent(pos - self._pos)
        self._pos = pos


def read_chunks_into(chunks: Iterable[bytes], view: memoryview, key: str) -> int:
    """GetObject's body, as ``chunks``, copied into ``view``; how many bytes it held (a
    ``SizeMismatch`` :class:`StoreError` when the object is larger than ``view``)."""
    done = 0
    for block in chunks:
        if done + len(block) > len(view):
            raise StoreError(
                f"{key} is larger than expected", code="SizeMismatch", operation="GetObject"
            )
        view[done : done + len(block)] = block
        done += len(block)
    return done
