"""The engine writes to a journal through the typed protocol; a journal that fails costs
resumability, never the upload."""

from __future__ import annotations

import logging
import os

import pytest

from s3stream import ResumeInfo, UploadConfig
from s3stream.engine.writer import MultipartWriter
from s3stream.limits import MiB
from s3stream.resume.info import UploadState
from s3stream.store.memory import MemoryStore
from s3stream.store.types import PartRecord

PART = 5 * MiB


class Recording:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[str] = []

    def _note(self, event: str) -> None:
        self.events.append(event)
        if self.fail:
            raise OSError("disk full")

    def started(self, info: ResumeInfo) -> None:
        self._note("started")

    def part_done(self, upload_id: str, part: PartRecord) -> None:
        self._note(f"part {part.number}")

    def set_state(self, upload_id: str, state: UploadState, error: str | None = None) -> None:
        self._note(state)


def upload(journal: Recording) -> MultipartWriter:
    config = UploadConfig(part_size=PART, concurrency=1)
    writer = MultipartWriter(MemoryStore(), "b", "k", config, journal=journal)
    writer.write(os.urandom(2 * PART + 1))
    writer.finish()
    return writer


def test_every_acknowledged_part_is_journaled_before_completion() -> None:
    journal = Recording()
    upload(journal)
    assert journal.events == ["started", "part 1", "part 2", "part 3", "completed"]


def test_a_failing_journal_never_fails_the_upload(caplog: pytest.LogCaptureFixture) -> None:
    journal = Recording(fail=True)
    with caplog.at_level(logging.WARNING, logger="s3stream.engine.journaling"):
        writer = upload(journal)
    assert writer.result is not None and writer.result.parts == 3
    assert "the upload journal could not be updated (part_done): disk full" in caplog.text
