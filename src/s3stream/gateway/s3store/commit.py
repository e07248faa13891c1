"""Recording what a chunk sent in the upload's state: the ``.info`` write is the commit.

Parts the store acknowledged count once they follow the recorded ones without a gap (after
a failure a later part may be done while an earlier one is not). When the body ends, a tail
of 5 MiB or more becomes a part and a smaller one a staged object (on a store that needs
equal parts, every tail is staged, so every part but the last has the plan's size); reaching
the length completes the object instead. A state write that fails leaves no staged object
behind that nothing refers to.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from s3stream.gateway.model import Upload
from s3stream.gateway.s3store.chunks import ChunkWriter
from s3stream.gateway.s3store.finish import Finisher
from s3stream.gateway.s3store.state import StateObjects, UploadState
from s3stream.limits import MIN_PART_SIZE


class Commits:
    def __init__(self, states: StateObjects, finisher: Finisher, *, equal_parts: bool) -> None:
        self.states = states
        self.finisher = finisher
        self.equal_parts = equal_parts

    @staticmethod
    def new_parts(state: UploadState, writer: ChunkWriter) -> bool:
        """Whether the chunk has acknowledged parts to record."""
        return bool(writer.ledger.run_after(len(state.parts)))

    @staticmethod
    def parts_reach_length(state: UploadState, writer: ChunkWriter) -> bool:
        """The acknowledged parts make the whole upload (only completing records them)."""
        size = state.upload.size
        new = writer.ledger.run_after(len(state.parts))
        return size is not None and state.parts_bytes + sum(p.size for p in new) >= size

    @staticmethod
    def apply(state: UploadState, writer: ChunkWriter, expires: float | None) -> str | None:
        """Record the new parts in the state; return the staged key they consumed, if any."""
        consumed = None
        new_parts = writer.ledger.run_after(len(state.parts))
        if new_parts:
            state.parts.extend(new_parts)
            if state.staged_key is not None and not writer.staged_in_buffer:
                consumed = state.staged_key
                state.staged_key, state.staged_size = None, 0
        state.upload = replace(
            state.upload,
            offset=state.parts_bytes + state.staged_size,
            expires=expires or state.upload.expires,
        )
        return consumed

    async def parts(self, state: UploadState, writer: ChunkWriter, expires: float | None) -> None:
        """Record what the store acknowledged (after a failure, or as a long PATCH goes);
        parts that reach the length complete the object."""
        consumed = self.apply(state, writer, expires)
        upload = state.upload
        if upload.size is not None and upload.offset == upload.size and not upload.finished:
            await self.finisher.finish_recorded(state)
        else:
            await self.states.save(state)
        if consumed is not None:
            await self.states.delete(consumed)

    async def chunk(self, state: UploadState, writer: ChunkWriter, expires: float | None) -> Upload:
        """The body ended whole: send or stage its tail, record everything, complete the
        object when the length is reached."""
        await writer.stop_streaming()
        await writer.drain()
        writer.log_done()
        upload = state.upload
        if upload.size is not None and writer.upload.offset + writer.received == upload.size:
            consumed = self.apply(state, writer, expires)
            # the buffer holds the tail: staged bytes not yet sent plus the body's last bytes
            await self.finisher.finish(state, writer.buf, writer.fill)
            if consumed is not None:
                await self.states.delete(consumed)
            return state.upload
        if writer.received == 0 and not self.new_parts(state, writer):
            return upload
        if writer.fill >= MIN_PART_SIZE and not self.equal_parts:
            await writer.hand_off()
            await writer.drain()
        old_staged = state.staged_key
        consumed = self.apply(state, writer, expires)
        fill = writer.fill
        if fill and not (writer.staged_in_buffer and fill == state.staged_size):
            assert writer.buf is not None
            with memoryview(writer.buf)[:fill] as view:
                state.staged_key = await self.states.stage(upload.id, view)
            state.staged_size = fill
        elif not fill:
            state.staged_key, state.staged_size = None, 0
        state.upload = replace(state.upload, offset=state.parts_bytes + state.staged_size)
        try:
            await self.states.save(state)
        except BaseException:
            if state.staged_key not in (None, old_staged):  # referenced by nothing now
                with contextlib.suppress(Exception):
                    await self.states.delete(state.staged_key)
            raise
        for stale in {old_staged, consumed} - {None, state.staged_key}:
            assert stale is not None
            await self.states.delete(stale)
        return state.upload
