"""The expiration sweep: expired unfinished uploads, and finished uploads' state past its
retention, are removed from the bucket; uploads being written are skipped."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from s3stream.gateway.errors import HTTPError
from s3stream.gateway.lease import LeaseHolder
from s3stream.gateway.locks import ProcessLocks
from s3stream.gateway.s3store.state import StateObjects, UploadState, lease_key

log = logging.getLogger(__name__)


class Sweeper:
    """``remove`` deletes an upload and everything stored for it (but a finished upload's
    object, unless it was a partial's)."""

    def __init__(
        self,
        states: StateObjects,
        locks: ProcessLocks,
        leases: LeaseHolder,
        remove: Callable[[UploadState], Awaitable[None]],
    ) -> None:
        self.states = states
        self.locks = locks
        self.leases = leases
        self.remove = remove

    async def sweep(self, now: float) -> int:
        """Remove what expired by ``now``; return how many uploads."""
        states = self.states
        listed = await states.threads.run(states.objects.list, states.bucket, states.prefix)
        removed = 0
        for item in listed:
            if not item.key.endswith(".info"):
                continue
            upload_id = item.key[len(states.prefix) : -len(".info")]
            try:
                state = await states.load(upload_id)
            except HTTPError:
                continue
            expires = state.upload.expires
            if expires is None or expires > now or self.locks.held(upload_id):
                continue
            lease = lease_key(states.prefix, upload_id)
            etag = await self.leases.try_take(lease)
            if etag is None:
                continue
            try:
                await self.remove(state)
                removed += 1
                log.info("removed expired upload %s", upload_id)
            finally:
                await self.leases.release(lease, etag)
        return removed
