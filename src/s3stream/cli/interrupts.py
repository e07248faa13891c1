"""Ctrl-C and SIGTERM during an upload.

``cp``: the first signal raises ``KeyboardInterrupt`` (``Terminated`` for SIGTERM) in the main
thread; the library then aborts the multipart upload and the command exits 130 (143). In
``--follow`` mode the first signal only asks to finish (complete what the file holds), the
second aborts. One signal more, while the abort is still running, exits at once: the
multipart upload may then be left behind, and its id is printed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType, TracebackType

from s3stream.cli.common import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

Handler = Callable[[int, FrameType | None], object] | int | None


class Interrupts:
    """Installs SIGINT and SIGTERM handlers for a ``with`` block (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(
        self,
        *,
        on_first: Callable[[int], None] | None = None,
        upload_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._on_first = on_first
        self._upload_id = upload_id
        self.count = 0
        self.signum: int | None = None
        self._previous: dict[int, Handler] = {}

    @property
    def terminated(self) -> bool:
        return self.signum == signal.SIGTERM

    def __enter__(self) -> Interrupts:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = signum
        raise_at = 1 if self._on_first is None else 2
        if self.count < raise_at:
            assert self._on_first is not None
            self._on_first(signum)
            return
        if self.count == raise_at:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        upload_id = self._upload_id()
        left = (
            f"; multipart upload {upload_id} may be left behind (it can be aborted later)"
            if upload_id
            else ""
        )
        os.write(2, f"\ns3stream: error: interrupted again: exiting now{left}\n".encode())
        os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)
