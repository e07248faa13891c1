"""A cross-process lock as a lease object in the bucket, made safe by conditional writes.

Taking it is ``PutObject If-None-Match: *`` of ``{id}.lock`` (holder and expiry inside);
a holder renews it with ``If-Match`` on its own ETag every third of its TTL while it works,
and deletes it with ``If-Match`` when done. A lease past its expiry (its holder crashed) is
deleted with ``If-Match`` on the ETag that was read, so two processes cannot both take it
over.

Each call is retried on a retryable store error (a throttle, a reset). A write whose reply
was lost may still have been applied: a lease whose body is exactly one this process wrote
(every body carries the holder, the expiry and a nonce) is recognised as its own, so a lost reply
does not lock the upload until the lease expires.
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

from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.errors import AlreadyExists, PreconditionFailed, StoreError
from s3stream.gateway.errors import locked
from s3stream.gateway.threads import StoreThreads
from s3stream.store.protocol import Objects
from s3stream.store.types import CREATE, PutMode

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = 10.0
"""Seconds a lease outlives a crashed holder. Short, because the holder renews it every third
of it while it works: a killed gateway holds its upload for seconds, within a tus client's
default retries (0, 1, 3, 5 s, and each waits up to ``wait`` for the lease)."""

LEASE_RETRY = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=1.0)
"""Lease calls are retried briefly: a client waiting for the upload is better served by a
423 it retries than by a long wait inside the request."""


class Leases:
    def __init__(
        self,
        objects: Objects,
        bucket: str,
        threads: StoreThreads,
        *,
        ttl: float = DEFAULT_LEASE_TTL,
        wait: float = 5.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = LEASE_RETRY,
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.threads = threads
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.clock = clock
        self.retry = retry
        self.holder = secrets.token_hex(8)
        self.held = 0
        """Leases this process holds now."""
        self._unsure: dict[str, bytes] = {}
        """Per lease key, the body of a take that failed without an answer: it may be there."""

    async def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.threads.run(func, *args, **kwargs)

    async def _retried(self, describe: str, func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await self._call(
            call_with_retry, lambda: func(*args, **kw), self.retry, describe=describe
        )

    def _claim_own(self, key: str, found: bytes, written: bytes) -> bool:
        """Whether the lease read (``found``) is one this process wrote: ``written`` by the
        current attempt, or an earlier take whose outcome was unknown (claimed only once, with
        no ``await`` between the check and the claim, so two requests cannot both claim it)."""
        if found == written:
            return True
        if self._unsure.get(key) == found:
            del self._unsure[key]
            return True
        return False

    def _body(self) -> bytes:
        # the nonce makes every body unique, so that a body read back identifies its write
        lease = {"holder": self.holder, "expires": self.clock() + self.ttl}
        return json.dumps({**lease, "nonce": secrets.token_hex(6)}).encode()

    async def try_take(self, key: str) -> str | None:
        """Take the lease once: its ETag, or ``None`` when someone else holds it."""
        body = self._body()
        try:
            etag: str = await self._retried(
                f"take lease {key}", self.objects.put, self.bucket, key, body, mode=CREATE
            )
            self._unsure.pop(key, None)
            return etag
        except AlreadyExists:
            pass
        except StoreError:
            self._unsure[key] = body
            raise
        current = await self._retried(f"read lease {key}", self.objects.get, self.bucket, key)
        if current is None:
            return None  # released meanwhile: the caller polls again
        if self._claim_own(key, current.data, body):
            log.info("lease %s: an earlier take whose reply was lost went through", key)
            own: str = current.etag
            return own
        try:
            expires = float(json.loads(current.data)["expires"])
        except (ValueError, KeyError, TypeError):
            expires = 0.0
        if expires > self.clock():
            return None
        log.info("taking over expired lease %s", key)
        with contextlib.suppress(PreconditionFailed):  # someone else took it over first
            await self._retried(
                f"remove expired lease {key}",
                self.objects.delete,
                self.bucket,
                key,
                if_match=current.etag,
            )
        return None

    async def release(self, key: str, etag: str) -> None:
        """Delete a lease taken with :meth:`try_take` (only that version of it)."""
        await self._call(self.objects.delete, self.bucket, key, if_match=etag)

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
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self._retried(
                    f"release lease {key}",
                    self.objects.delete,
                    self.bucket,
                    key,
                    if_match=state["etag"],
                )
            except StoreError as exc:
                log.warning("could not release lease %s: %s", key, exc)

    async def _renew(self, key: str, state: dict[str, str]) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            body = self._body()
            try:
                state["etag"] = await self._retried(
                    f"renew lease {key}",
                    self.objects.put,
                    self.bucket,
                    key,
                    body,
                    mode=PutMode.replacing(state["etag"]),
                )
            except StoreError as exc:
                if isinstance(exc, PreconditionFailed):  # a renewal whose reply was lost?
                    with contextlib.suppress(StoreError):
                        current = await self._call(self.objects.get, self.bucket, key)
                        if current is not None and current.data == body:
                            state["etag"] = current.etag
                            continue
                log.warning("could not renew lease %s: %s", key, exc)


class LocalLeases:
    """The leases of a gateway that is the only instance: nothing in the bucket (a store that
    does not honour conditional writes cannot make a lease safe); the in-process locks
    serialise an upload's writers."""

    held = 0
    """Leases held in the bucket: none ever."""

    async def try_take(self, key: str) -> str | None:
        return "local"

    async def release(self, key: str, etag: str) -> None:
        pass

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        yield


LeaseHolder = Leases | LocalLeases
