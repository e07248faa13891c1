"""A bounded pool of reusable part buffers: the memory bound, enforced.

``acquire`` blocks while ``slots`` buffers are out, which is what gives push sessions their
back-pressure. Buffers are ``bytearray`` s kept for reuse (no allocation per part); when a
growing part plan asks for more room than a pooled buffer has, the small one is dropped and
a larger one allocated, so the bytes held never exceed ``slots x largest size asked``.
"""

from __future__ import annotations

import threading


class PoolClosed(Exception):
    """Raised from a blocked :meth:`BufferPool.acquire` when the pool is closed."""


class BufferPool:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a buffer pool needs at least one slot")
        self.slots = slots
        self._free: list[bytearray] = []
        self._out = 0
        self._closed = False
        self._cond = threading.Condition()
        self.held_bytes = 0
        """Bytes allocated by the pool right now (free and lent out)."""
        self.peak_bytes = 0
        """The most bytes the pool ever held: what the memory formula bounds."""

    def acquire(self, size: int, timeout: float | None = None) -> bytearray | None:
        """A buffer of at least ``size`` bytes, waiting while all slots are lent out.

        Returns ``None`` on timeout; raises :class:`PoolClosed` once the pool is closed.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._out < self.slots, timeout):
                return None
            if self._closed:
                raise PoolClosed
            self._out += 1
            buf = self._free.pop() if self._free else None
            if buf is not None and len(buf) < size:
                self.held_bytes -= len(buf)
                buf = None
            if buf is None:
                buf = bytearray(size)
                self.held_bytes += size
                self.peak_bytes = max(self.peak_bytes, self.held_bytes)
            return buf

    def try_acquire(self, size: int) -> bytearray | None:
        """Like :meth:`acquire` but never waits."""
        return self.acquire(size, timeout=0)

    def release(self, buf: bytearray) -> None:
        with self._cond:
            self._out -= 1
            if self._closed:
                self.held_bytes -= len(buf)
            else:
                self._free.append(buf)
            self._cond.notify()

    def close(self) -> None:
        """Free pooled buffers and wake every waiter with :class:`PoolClosed`."""
        with self._cond:
            self._closed = True
            self.held_bytes -= sum(len(b) for b in self._free)
            self._free.clear()
            self._cond.notify_all()
