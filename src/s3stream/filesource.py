"""Parts of an open file read by offset: whole into a part buffer, or streamed through a
small window (:class:`FileRange`), so a file upload need not hold whole parts in memory."""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import SourceError


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
    :class:`~s3stream.store.PartSource` read through ``window`` (a buffer much smaller than
    the part): the streamed request asks for its bytes in order, each piece is read when
    asked for, and a retried request reads them again from the file.

    ``on_sent`` is told of bytes the first time they are handed out (a retry does not count
    them again).
    """

    def __init__(
        self,
        fd: int,
        offset: int,
        size: int,
        window: bytearray,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self._fd = fd
        self._offset = offset
        self._size = size
        self._window = window
        self._on_sent = on_sent
        self._held = (0, 0)  # the part's bytes [start, end) in the window
        self._counted = 0

    @property
    def size(self) -> int:
        return self._size

    def wait_view(self, start: int, limit: int) -> memoryview:
        end = min(self._size, start + limit, start + len(self._window))
        held_start, held_end = self._held
        if not held_start <= start <= end <= held_end:
            pread_exact(self._fd, memoryview(self._window)[: end - start], self._offset + start)
            held_start, held_end = self._held = (start, end)
        if self._on_sent is not None and end > self._counted:
            self._on_sent(end - self._counted)
            self._counted = end
        return memoryview(self._window)[start - held_start : end - held_start]


__all__ = ["FileRange", "pread_exact"]
