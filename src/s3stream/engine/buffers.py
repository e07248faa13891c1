"""A bounded pool of reusable part buffers: the memory bound, enforced.

The pool has a byte budget (``slots x part size``). ``acquire`` blocks while lending one
more buffer would exceed it, which is what gives push sessions their back-pressure. Buffers
are ``bytearray`` s kept for reuse (no allocation per part). When a growing part plan asks
for larger buffers, smaller free ones are dropped, and fewer buffers fit in the same budget:
memory stays within the budget while fewer, larger parts are in flight. Once parts outgrow
half the budget, two buffers (one being filled, one in flight) are still allowed: from then
on memory is two parts, above the budget.
"""

from __future__ import annotations

import threading


class PoolClosed(Exception):
    """Raised from a blocked :meth:`BufferPool.acquire` when the pool is closed."""


class BufferPool:
    def __init__(self, slots: int, part_size: int) -> None:
        if slots < 1 or part_size < 0:
            raise ValueError("a buffer pool needs at least one slot")
        self.budget = slots * part_size
        self.part_size = part_size
        self._free: list[bytearray] = []
        self._out_bytes = 0
        self._closed = False
        self._cond = threading.Condition()
        self.held_bytes = 0
        """Bytes allocated by the pool right now (free and lent out)."""
        self.peak_bytes = 0
        """The most bytes the pool ever held: what the memory formula bounds."""

    @property
    def lent_bytes(self) -> int:
        """Bytes of the buffers lent out right now."""
        return self._out_bytes

    def _fits(self, size: int) -> bool:
        # parts that grew past the pool's part size may take two buffers, whatever the budget
        limit = self.budget if size <= self.part_size else max(self.budget, 2 * size)
        return self._out_bytes == 0 or self._out_bytes + size <= limit

    def acquire(self, size: int, timeout: float | None = None) -> bytearray | None:
        """A buffer of at least ``size`` bytes, waiting while the budget is lent out.

        Returns ``None`` on timeout; raises :class:`PoolClosed` once the pool is closed.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._fits(size), timeout):
                return None
            if self._closed:
                raise PoolClosed
            buf = next((b for b in self._free if len(b) >= size), None)
            if buf is not None:
                self._free.remove(buf)
            else:
                # every free buffer is too small for the larger parts that come now
                self.held_bytes -= sum(len(b) for b in self._free)
                self._free.clear()
                buf = bytearray(size)
                self.held_bytes += size
                self.peak_bytes = max(self.peak_bytes, self.held_bytes)
            self._out_bytes += len(buf)
            return buf

    def try_acquire(self, size: int) -> bytearray | None:
        """Like :meth:`acquire` but never waits."""
        return self.acquire(size, timeout=0)

    def release(self, buf: bytearray) -> None:
        with self._cond:
            self._out_bytes -= len(buf)
            if self._closed:
                self.held_bytes -= len(buf)
            else:
                self._free.append(buf)
            self._cond.notify_all()

    def close(self) -> None:
        """Free pooled buffers and wake every waiter with :class:`PoolClosed`."""
        with self._cond:
            self._closed = True
            self.held_bytes -= sum(len(b) for b in self._free)
            self._free.clear()
            self._cond.notify_all()
