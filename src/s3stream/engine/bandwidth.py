"""A bandwidth limit: a token bucket that every request body of an upload (or of several
uploads sharing it) draws from as its bytes go out.

Tokens (bytes) accrue at ``rate`` per second up to ``burst``. A sender takes what it sends
at once and, when that leaves the bucket in debt, sleeps until the debt is paid; senders in
several threads therefore queue behind each other's debts and together keep to ``rate``.
The clock and the sleeper are injected, so the limit is tested without waiting.

Bodies hand the socket :attr:`TokenBucket.send_block` bytes at a time: small pieces at a low
rate, so that no connection of many sharing the limit pauses long enough for the store to
drop it as idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from s3stream.limits import KiB, MiB


class TokenBucket:
    """Limits the bytes sent through :meth:`take` to ``rate`` per second on average."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a bandwidth limit needs a positive rate")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else self.rate / 4
        """The most bytes that go out unthrottled after a pause (a quarter second's worth)."""
        self.send_block = int(min(MiB, max(16 * KiB, self.rate / 16)))
        """The largest piece a body should hand the socket at a time (~1/16 s of the rate)."""
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def take(self, n: int) -> float:
        """Account for ``n`` bytes about to be sent; wait while the bucket is in debt.
        Returns the seconds waited."""
        if n <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
