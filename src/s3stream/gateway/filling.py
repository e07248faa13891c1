"""A part buffer that a request body fills while a worker thread streams it to the store.

The event loop appends a PATCH body's bytes; the thread sending the part (through
:meth:`~s3stream.engine.calls.MultipartCalls.put_part_stream`) reads them as they land, so receiving
from the client and sending to the store overlap within one part's memory. Every byte stays
in the buffer until the part is acknowledged, so a failed attempt starts over from it.
"""

from __future__ import annotations

import threading

from s3stream.errors import SourceError
from s3stream.limits import KiB

READ_AHEAD = 256 * KiB
"""A reader waits for this many new bytes (or the rest of its request) so sends stay large."""


class BodyEnded(SourceError):
    """The request body ended before the part it was filling was complete."""


class FillingPart:
    """``buf[:fill]`` holds the bytes received so far of a part of ``size`` bytes;
    a :class:`~s3stream.store.protocol.PartSource`."""

    def __init__(self, buf: bytearray, size: int) -> None:
        self.buf = buf
        self._size = size
        self.fill = 0
        self._cond = threading.Condition()
        self._wanted = -1  # the fill level a waiting reader needs
        self._abandoned = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def full(self) -> bool:
        return self.fill == self._size

    def append(self, data: memoryview) -> int:
        """Copy as much of ``data`` as fits; return the count."""
        n = min(len(data), self._size - self.fill)
        if n:
            with memoryview(self.buf) as dst:
                dst[self.fill : self.fill + n] = data[:n]
            self.filled(self.fill + n)
        return n

    def filled(self, fill: int) -> None:
        """Bytes up to ``fill`` were written into ``buf`` directly."""
        with self._cond:
            self.fill = fill
            if 0 <= self._wanted <= fill:
                self._cond.notify_all()

    def abandon(self) -> None:
        """No more bytes will come: a waiting reader raises :class:`BodyEnded`."""
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()

    def wait_view(self, start: int, limit: int) -> memoryview:
        end = min(self._size, start + limit)
        with self._cond:
            want = min(end, start + READ_AHEAD)
            while self.fill < want and not self._abandoned:
                self._wanted = want
                self._cond.wait()
            self._wanted = -1
            if self.fill <= start:
                raise BodyEnded("the request body ended before the part was complete")
            return memoryview(self.buf)[start : min(end, self.fill)]
