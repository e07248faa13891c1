"""The gateway's part buffers: one bounded pool shared fairly by every upload.

A request takes a buffer for the part it fills, waiting up to ``wait`` seconds for a free
one (then 503). An upload may also borrow spare buffers to keep sending while earlier parts
await the store's reply (pipelining), but only while no request is waiting for a buffer at
all, so uploads with parts in flight never starve one that has none.
"""

from __future__ import annotations

import functools

import anyio.to_thread

from s3stream.engine.buffers import BufferPool
from s3stream.gateway.errors import HTTPError


class PartBuffers:
    def __init__(self, count: int, size: int, wait: float) -> None:
        self.pool = BufferPool(count, size)
        self.wait = wait
        self._waiters = 0

    async def acquire(self, size: int) -> bytearray:
        """A buffer, waiting up to ``wait`` seconds for a free one (then 503)."""
        buf = self.pool.try_acquire(size)
        if buf is None:
            self._waiters += 1
            try:
                # not a store call: waiting must not take a thread parts need to finish
                wait = functools.partial(self.pool.acquire, size, self.wait)
                buf = await anyio.to_thread.run_sync(wait)
            finally:
                self._waiters -= 1
        if buf is None:
            raise HTTPError(503, "Busy", "all upload buffers are in use; retry later")
        return buf

    def spare(self, size: int) -> bytearray | None:
        """A buffer for pipelining, only when nobody is waiting for one."""
        if self._waiters:
            return None
        return self.pool.try_acquire(size)

    def release(self, buf: bytearray) -> None:
        self.pool.release(buf)
