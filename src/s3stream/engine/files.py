"""Parts of an open file read by offset: whole into a buffer, or through a small window
(:class:`FileRange`), so a file upload need not hold whole parts in memory."""

from __future__ import annotations

import os

from s3stream.errors import SourceError
from s3stream.limits import MiB

WINDOW = 1 * MiB
"""Bytes of a file part held at a time while it is checksummed or sent."""


def pread_exact(fd: int, view: memoryview, offset: int) -> None:
    """Fill ``view`` from ``fd`` at ``offset``; a file that got shorter is a SourceError."""
    done = 0
    while done < len(view):
        try:
            n = os.preadv(fd, [view[done:]], offset + done)
        except OSError as exc:
            raise SourceError(f"reading the file failed: {exc}") from exc
        if n == 0:
            raise SourceError(
                f"the file ended at {offset + done} bytes while being uploaded: "
                "it was truncated; upload it again once it stops changing"
            )
        done += n


class FileRange:
    """``size`` bytes of the file ``fd`` from ``offset``, as a
    :class:`~s3stream.store.protocol.PartSource` read through ``window`` (a buffer much smaller than
    the part): each piece is read when it is asked for, and again whenever it is asked for
    again (the checksum pass, then the send, then any retry).
    """

    def __init__(self, fd: int, offset: int, size: int, window: bytearray) -> None:
        self._fd = fd
        self._offset = offset
        self._size = size
        self._window = window
        self._held = (0, 0)  # the part's bytes [start, end) in the window

    @property
    def size(self) -> int:
        return self._size

    def wait_view(self, start: int, limit: int) -> memoryview:
        end = min(self._size, start + limit, start + len(self._window))
        held_start, held_end = self._held
        if not held_start <= start <= end <= held_end:
            pread_exact(self._fd, memoryview(self._window)[: end - start], self._offset + start)
            held_start, held_end = self._held = (start, end)
        return memoryview(self._window)[start - held_start : end - held_start]


__all__ = ["WINDOW", "FileRange", "pread_exact"]
