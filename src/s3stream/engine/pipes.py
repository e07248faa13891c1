"""Readable sources, and pipes read with fewer wake-ups: a pipe gets a larger kernel buffer."""

from __future__ import annotations

import logging
import os
import stat
from typing import Protocol

from s3stream.limits import MiB

log = logging.getLogger(__name__)


class Readable(Protocol):
    """A source read with ``read`` (and ``readinto`` where it has one): a pipe, a file."""

    def read(self, size: int = ..., /) -> bytes | None: ...


PIPE_SIZE = 1 * MiB
"""The kernel buffer asked for a pipe being uploaded (Linux's default ceiling for users)."""


def enlarge_pipe(reader: object, size: int = PIPE_SIZE) -> int | None:
    """Ask the kernel for a ``size``-byte buffer on ``reader`` when it is a pipe (Linux).

    With the default 64 KiB a producer such as ``cat`` fills the pipe in a few writes and
    each read returns at most that much, so an upload makes many reads and wake-ups per
    part; a larger buffer lets each read take more at once and the producer run further
    ahead. The pipe is never shrunk. Returns the buffer size the pipe has afterwards, or
    ``None`` when ``reader`` is not a pipe or the platform cannot say.
    """
    try:
        import fcntl  # POSIX; F_SETPIPE_SZ is Linux's

        fd = reader.fileno()  # type: ignore[attr-defined]
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
        current: int = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        if current < size:
            current = fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError, ValueError) as exc:  # not Linux, a limit
        log.debug("the pipe's buffer stays as it is: %s", exc)
        return None
    return current
