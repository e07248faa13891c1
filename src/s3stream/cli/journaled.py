"""What ``ls``, ``resume``, ``abort`` and ``gc`` share: the journal and finding its uploads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3stream.cli.common import UsageError

if TYPE_CHECKING:  # sqlite3 loads when a journal is opened
    from s3stream.resume.journal import Journal, JournalEntry


def open_journal() -> Journal:
    from s3stream.resume.journal import Journal, default_journal_path

    return Journal(default_journal_path())


def find(journal: Journal, upload_id: str) -> JournalEntry:
    entry = journal.get(upload_id)
    if entry is None:
        raise UsageError(
            f"no upload {upload_id!r} in the journal ({journal.path}): list them with "
            "`s3stream ls`, or give s3://BUCKET/KEY UPLOAD_ID for one the journal does not know"
        )
    return entry
