"""Progress events, throttled, with a guaranteed final event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report.

    ``bytes_sent`` counts bytes acknowledged by the store plus bytes of in-flight parts
    already written to the socket (a retried part's bytes are counted again from zero).
    """

    bytes_sent: int
    total: int | None
    parts_done: int
    parts_total: int | None
    elapsed: float
    done: bool = False
    upload_id: str | None = None
    """The multipart upload id, once there is one (small objects never get one)."""

    @property
    def percent(self) -> float | None:
        if self.total is None:
            return None
        return 100.0 if self.total == 0 else min(100.0, 100.0 * self.bytes_sent / self.total)

    @property
    def rate(self) -> float:
        """Average bytes per second since the upload started."""
        return self.bytes_sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the average rate; ``None`` when the total is unknown."""
        if self.total is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.bytes_sent) / self.rate)


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Counts bytes and parts from many threads and reports at most every ``interval``."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        *,
        total: int | None,
        parts_total: int | None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self.total = total
        self.parts_total = parts_total
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last_report = float("-inf")
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.parts_done = 0
        self.upload_id: str | None = None
        self._finished = False

    def _snapshot(self, done: bool) -> Progress:
        return Progress(
            self.bytes_sent,
            self.total,
            self.parts_done,
            self.parts_total,
            self._clock() - self._start,
            done,
            self.upload_id,
        )

    def _maybe_report(self, force: bool = False) -> None:
        if self._callback is None:
            return
        with self._lock:
            now = self._clock()
            if self._finished or (not force and now - self._last_report < self._interval):
                return
            self._last_report = now
            event = self._snapshot(False)
        self._callback(event)

    def sent(self, n: int) -> None:
        """``n`` more bytes went out (negative to take back bytes of a failed attempt)."""
        with self._lock:
            self.bytes_sent += n
        self._maybe_report()

    def part_done(self) -> None:
        """A part was acknowledged: always reported (at most 10,000 times an upload)."""
        with self._lock:
            self.parts_done += 1
        self._maybe_report(force=True)

    def finish(self) -> Progress:
        """Send the final event (exactly once) and return it."""
        with self._lock:
            self._finished = True
            event = self._snapshot(True)
        if self._callback is not None:
            self._callback(event)
        return event
