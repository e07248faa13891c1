"""In-process upload locks: one writer per upload id, others wait a little, then get 423."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from s3stream.gateway.errors import locked


class ProcessLocks:
    """A lock per upload id, created on demand and dropped when nobody holds or waits."""

    def __init__(self, wait: float = 5.0) -> None:
        self.wait = wait
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def held(self, key: str) -> bool:
        lock = self._locks.get(key)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.wait)
            except TimeoutError:
                raise locked() from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]
