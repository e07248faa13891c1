"""The threads the gateway's blocking store calls run in: one explicit budget.

Every store call of the gateway (botocore blocks) runs in a worker thread through
:class:`StoreThreads`, so the number of threads, and of store requests in flight, has one
bound set where the gateway is built, instead of the default of whatever thread pool the
event loop happens to use. A part streamed while its request body arrives holds a thread
for as long as the body takes, so the budget must exceed the part buffers.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from s3stream.errors import StoreError

T = TypeVar("T")

DEFAULT_THREADS = 64


class StoreThreads:
    def __init__(self, limit: int = DEFAULT_THREADS) -> None:
        if limit < 1:
            raise ValueError("the store thread budget must be at least 1")
        self.limit = limit
        self.on_store_error: Callable[[StoreError], None] | None = None
        """Told of every store call that failed (the gateway's metrics count them)."""
        # a limiter belongs to one event loop (a gateway has one; tests start several)
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, anyio.CapacityLimiter
        ] = weakref.WeakKeyDictionary()

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.limit)
        return limiter

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in a worker thread, within the budget."""
        call = functools.partial(func, *args, **kwargs)
        try:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter())
        except StoreError as exc:
            if self.on_store_error is not None:
                self.on_store_error(exc)
            raise

    @property
    def busy(self) -> int:
        """Threads running a store call now."""
        return sum(int(limiter.borrowed_tokens) for limiter in self._limiters.values())
