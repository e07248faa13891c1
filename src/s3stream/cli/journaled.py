"""What ``ls``, ``resume``, ``abort`` and ``gc`` share: the journal and its uploads' stores."""

from __future__ import annotations

from ..journal import Journal, JournalEntry, default_journal_path
from ..uploader import S3StreamUploader
from .common import UsageError
from .connect import check_credentials
from .settings import ENDPOINT_URL, PROFILE, REGION, Settings


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


def uploader_for(
    settings: Settings, journal: Journal, endpoint_url: str | None = None
) -> S3StreamUploader:
    """An uploader on ``journal``; the endpoint is the flag's, else the upload's own."""
    profile = settings.get(PROFILE)
    check_credentials(profile)
    return S3StreamUploader(
        endpoint_url=settings.get(ENDPOINT_URL) or endpoint_url,
        region=settings.get(REGION),
        profile=profile,
        journal=journal,
    )
