"""What ``ls``, ``resume``, ``abort`` and ``gc`` share: the journal and finding its uploads."""

from __future__ import annotations

from s3stream.cli.common import UsageError
from s3stream.resume.journal import Journal, JournalEntry, default_journal_path


def open_journal() -> Journal:
    return Journal(default_journal_path())


def find(journal: Journal, upload_id: str) -> JournalEntry:
    entry = journal.get(upload_id)
    if entry is None:
        raise UsageError(
            f"no upload {upload_id!r} in the journal ({journal.path}): list them with "
            "`s3stream ls`, or give s3://BUCKET/KEY UPLOAD_ID for one the journal does not know"
        )
    return entry
