"""A cross-process lock as a lease object in the bucket, made safe by conditional writes.

Taking it is ``PutObject If-None-Match: *`` of ``{id}.lock`` (holder and expiry inside);
a holder renews it with ``If-Match`` on its own ETag while it works and deletes it with
``If-Match`` when done. A lease past its expiry (its holder crashed) is deleted with
``If-Match`` on the ETag that was read, so two processes cannot both take it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread

from ..errors import StoreError
from .errors import locked
from .objects import GatewayObjects, is_precondition_failed

log = logging.getLogger(__name__)


class Leases:
    def __init__(
        self,
        objects: GatewayObjects,
        bucket: str,
        *,
        ttl: float = 30.0,
        wait: float = 5.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.clock = clock
        self.holder = secrets.token_hex(8)

    async def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))

    def _body(self) -> bytes:
        return json.dumps({"holder": self.holder, "expires": self.clock() + self.ttl}).encode()

    async def try_take(self, key: str) -> str | None:
        """Take the lease once: its ETag, or ``None`` when someone else holds it."""
        try:
            etag: str = await self._call(
                self.objects.put, self.bucket, key, self._body(), if_none_match=True
            )
            return etag
        except StoreError as exc:
            if not is_precondition_failed(exc):
                raise
        current = await self._call(self.objects.get, self.bucket, key)
        if current is None:
            return None  # released meanwhile: the caller polls again
        try:
            expires = float(json.loads(current.data)["expires"])
        except (ValueError, KeyError, TypeError):
            expires = 0.0
        if expires > self.clock():
            return None
        log.info("taking over expired lease %s", key)
        try:
            await self._call(self.objects.delete, self.bucket, key, if_match=current.etag)
        except StoreError as exc:
            if not is_precondition_failed(exc):
                raise
        return None

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        deadline = self.clock() + self.wait
        while True:
            etag = await self.try_take(key)
            if etag is not None:
                break
            if self.clock() >= deadline:
                raise locked()
            await asyncio.sleep(self.poll)
        state = {"etag": etag}
        renewer = asyncio.create_task(self._renew(key, state))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self._call(self.objects.delete, self.bucket, key, if_match=state["etag"])
            except StoreError as exc:
                log.warning("could not release lease %s: %s", key, exc)

    async def _renew(self, key: str, state: dict[str, str]) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                state["etag"] = await self._call(
                    self.objects.put, self.bucket, key, self._body(), if_match=state["etag"]
                )
            except StoreError as exc:
                log.warning("could not renew lease %s: %s", key, exc)
