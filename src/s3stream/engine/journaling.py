"""How the engine writes to a journal: a typed protocol, and a writer that never fails an
upload because the journal did."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from s3stream.resume.info import ResumeInfo, UploadState
from s3stream.store.types import PartRecord

log = logging.getLogger(__name__)


class UploadJournal(Protocol):
    """Durable resume state (:class:`~s3stream.resume.journal.Journal` implements it)."""

    def started(self, info: ResumeInfo) -> None:
        """Record a new multipart upload (right after CreateMultipartUpload)."""
        ...

    def part_done(self, upload_id: str, part: PartRecord) -> None:
        """Record one acknowledged part, durably, before the part counts as done."""
        ...

    def set_state(self, upload_id: str, state: UploadState, error: str | None = None) -> None:
        """Mark an upload (completed and aborted ones lose their part rows)."""
        ...


class JournalWriter:
    """Writes to ``journal`` (if any); a journal failure costs resumability, never the
    upload, and is logged."""

    def __init__(self, journal: UploadJournal | None) -> None:
        self.journal = journal

    def _write(self, what: str, call: Callable[[UploadJournal], None]) -> None:
        if self.journal is None:
            return
        try:
            call(self.journal)
        except Exception as exc:
            log.warning("the upload journal could not be updated (%s): %s", what, exc)

    def started(self, info: ResumeInfo) -> None:
        self._write("started", lambda j: j.started(info))

    def part_done(self, upload_id: str, part: PartRecord) -> None:
        self._write("part_done", lambda j: j.part_done(upload_id, part))

    def set_state(self, upload_id: str, state: UploadState, error: str | None = None) -> None:
        self._write("set_state", lambda j: j.set_state(upload_id, state, error))
