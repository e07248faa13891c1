"""Completing a tus upload's object: the last bytes, CompleteMultipartUpload, the state.

An upload completes with the part records its state holds (never ListParts: a store may
list a re-sent part twice), checked by the :class:`~s3stream.engine.ledger.PartLedger` to be
1..n without a gap and to add up to the upload's length, and with the whole-object checksum
combined from theirs. An upload that fits in one part becomes one PutObject.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from s3stream.engine.calls import MultipartCalls
from s3stream.engine.ledger import PartLedger
from s3stream.errors import S3StreamError
from s3stream.gateway.model import Upload
from s3stream.gateway.s3store.buffers import PartBuffers
from s3stream.gateway.s3store.state import StateObjects, UploadState, retention
from s3stream.gateway.threads import StoreThreads
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import ObjectStore
from s3stream.store.types import CREATE, OVERWRITE, PutMode

log = logging.getLogger(__name__)

T = TypeVar("T")


class Finisher:
    """Completes uploads whose bytes are all recorded (or all but a last tail in memory).

    ``calls`` gives the store calls for an object key, ``options`` an upload's object
    attributes, ``ledger`` the part ledger of a state.
    """

    def __init__(
        self,
        store: ObjectStore,
        states: StateObjects,
        buffers: PartBuffers,
        threads: StoreThreads,
        *,
        calls: Callable[[str], MultipartCalls],
        options: Callable[[Upload], ObjectOptions],
        ledger: Callable[[UploadState], PartLedger],
        no_clobber: bool,
        clock: Callable[[], float],
        on_sent: Callable[[int, float], None] | None = None,
    ) -> None:
        self.store = store
        self.states = states
        self.buffers = buffers
        self.threads = threads
        self.calls = calls
        self.options = options
        self.ledger = ledger
        self.no_clobber = no_clobber
        self.clock = clock
        self.on_sent = on_sent
        """Told the size and seconds of the last bytes sent (the gateway's metrics)."""

    def _mode(self, upload: Upload) -> PutMode:
        return CREATE if self.no_clobber and not upload.partial else OVERWRITE

    async def finish(self, state: UploadState, buf: bytearray | None, fill: int) -> None:
        """Upload the last bytes (``buf[:fill]``) and complete the object; save the state."""
        upload = state.upload
        if state.parts_bytes + fill != upload.size:
            raise S3StreamError(  # never complete an object that lacks (or repeats) bytes
                f"upload {upload.id}: recorded parts and tail do not make its length"
            )
        calls = self.calls(upload.key)
        view = memoryview(buf)[:fill] if buf is not None else memoryview(b"")
        if not state.parts:
            await self._sent(
                fill, calls.put_object, view, self.options(upload), mode=self._mode(upload)
            )
            if state.mpu is not None:
                await self.threads.run(calls.abort, state.mpu)
        else:
            assert state.mpu is not None
            if fill:
                number = len(state.parts) + 1
                state.parts.append(await self._sent(fill, calls.put_part, state.mpu, number, view))
            parts = self.ledger(state).completion(upload.size)
            await self.threads.run(
                calls.complete,
                state.mpu,
                parts,
                size=state.parts_bytes,
                mode=self._mode(upload),
            )
        await self.mark_finished(state)

    async def _sent(self, size: int, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call sending ``size`` bytes, reported to ``on_sent``."""
        started = time.perf_counter()
        result = await self.threads.run(func, *args, **kwargs)
        if self.on_sent is not None:
            self.on_sent(size, time.perf_counter() - started)
        return result

    async def finish_recorded(self, state: UploadState) -> None:
        """Complete an upload whose recorded parts and staged tail reach its length."""
        if state.staged_key is None:
            await self.finish(state, None, 0)
            return
        buf = await self.buffers.acquire(state.staged_size)
        try:
            await self.finish(state, buf, await self.states.read_staged(state, buf))
        finally:
            self.buffers.release(buf)

    async def mark_finished(self, state: UploadState) -> None:
        """Record the upload as finished (its object complete) and drop staged tails."""
        upload = state.upload
        state.staged_key, state.staged_size = None, 0
        kept_until = None if upload.expires is None else self.clock() + retention(upload)
        state.upload = replace(upload, offset=upload.size or 0, finished=True, expires=kept_until)
        await self.states.save(state)
        await self.states.delete_staged(upload.id)
        log.info("upload %s finished: s3://%s/%s", upload.id, self.states.bucket, upload.key)

    async def adopt_completed(self, state: UploadState) -> bool:
        """The multipart upload is gone: if the store has this upload's object whole (its
        completion went through but recording it did not), record it as finished."""
        upload = state.upload
        if state.mpu is None or upload.size is None:
            return False
        info = await self.threads.run(self.store.head_object, self.states.bucket, upload.key)
        if (
            info is None
            or info.size != upload.size
            or (info.metadata or {}).get("tus-upload-id") != upload.id
        ):
            return False
        log.warning("upload %s: completed earlier, recording it now", upload.id)
        await self.mark_finished(state)
        return True
