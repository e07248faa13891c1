"""Sent parts checked against the file they came from, and sent again where it changed.

A file can change under its upload: a recorder's muxer goes back to write its header when it
stops (MP4's ``mdat`` size, Matroska's segment size, seek head and cues), an editor saves in
place. Each sent part's checksum is in the :class:`~s3stream.engine.ledger.PartLedger`;
reading the part again (from the page cache, through a small window) and checksumming it
(CRCs run at tens of GB/s) tells whether the store holds the file's bytes. A changed part
is sent again under its number (the store keeps the last upload of a number), so the
object completed is the file as it is now, never a mix of two versions.
"""

from __future__ import annotations

import logging
import os

from s3stream.checksums import ChecksumAlgorithm, RunningChecksum
from s3stream.engine.buffers import PoolClosed
from s3stream.engine.files import WINDOW, FileRange, pread_exact
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import SourceError
from s3stream.store.types import PartRecord

log = logging.getLogger(__name__)

SETTLE_ROUNDS = 4
"""Comparisons of the sent parts with the file before one that keeps changing is refused."""


def changed_parts(
    fd: int,
    parts: list[PartRecord],
    offsets: dict[int, int],
    algorithm: ChecksumAlgorithm,
    window: bytearray,
) -> list[PartRecord]:
    """The ``parts`` whose bytes in the file (part ``n`` at ``offsets[n]``) no longer match
    their recorded checksum, read through ``window``. A file that ends before a part does is
    a :class:`SourceError` (it was truncated)."""
    changed = []
    for part in parts:
        running = RunningChecksum(algorithm)
        with memoryview(window) as whole:
            while running.size < part.size:
                view = whole[: min(len(window), part.size - running.size)]
                pread_exact(fd, view, offsets[part.number] + running.size)
                running.update(view)
        if running.digest() != part.digest(algorithm):
            changed.append(part)
    return changed


def still_changing(what: str) -> SourceError:
    return SourceError(
        f"{what} kept changing while it was uploaded: nothing was completed; upload it again "
        "once it stops changing"
    )


class RereadingWriter(MultipartWriter):
    """A writer whose source is a file it can read again (a file, a followed file): the
    parts it sent can be compared with the file and sent again where it changed."""

    def _changed_parts(self, fd: int) -> list[PartRecord]:
        parts = self.ledger.parts
        offsets = {p.number: self.ledger.plan.offset(p.number) for p in parts}
        window = bytearray(min(WINDOW, max((p.size for p in parts), default=0)))
        return changed_parts(fd, parts, offsets, self.algorithm, window)

    def _resend(self, fd: int, parts: list[PartRecord]) -> None:
        """Send ``parts`` again from the file (each through a pooled window), and wait."""
        for part in parts:
            log.info(
                "part %d of s3://%s/%s changed after it was sent: sending it again",
                part.number,
                self.bucket,
                self.key,
            )
            try:
                buf = self.pool.acquire(min(WINDOW, part.size))
            except PoolClosed:
                self._check_open()
                raise
            assert buf is not None
            offset = self.ledger.plan.offset(part.number)
            self._submit(part.number, buf, part.size, FileRange(fd, offset, part.size, buf))
        self.scheduler.wait()
        if self.scheduler.error is not None:
            raise self.scheduler.error

    def _settle(self, fd: int, what: str) -> int:
        """Compare every sent part with the file and send the changed ones again, until a
        comparison finds none changed and the file did not change while it ran; returns
        how many parts were sent again. ``what`` names the file in errors."""
        resent = 0
        for _ in range(SETTLE_ROUNDS):
            before = os.fstat(fd).st_mtime_ns
            changed = self._changed_parts(fd)
            if changed:
                self._resend(fd, changed)
                resent += len(changed)
            elif os.fstat(fd).st_mtime_ns == before:
                return resent
        raise still_changing(what)

    def _reread_single(self, fd: int, what: str) -> None:
        """Read the part held for a single PutObject again from the file (the part was
        read before the file stopped changing)."""
        buf, length = self._held if self._held is not None else (self._buf, self._fill)
        if buf is None or not length:
            return
        for _ in range(SETTLE_ROUNDS):
            before = os.fstat(fd).st_mtime_ns
            with memoryview(buf) as whole:
                pread_exact(fd, whole[:length], 0)
            if os.fstat(fd).st_mtime_ns == before:
                return
        raise still_changing(what)
