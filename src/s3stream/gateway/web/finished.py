"""Finished uploads as the page lists them: object key, size, checksum and a download link.

:class:`FinishedUploads` answers ``/api/uploads/{id}`` over the gateway's upload store: who
owns the upload, is it finished, which object did it become; a store that can describe its
objects (:class:`~s3stream.gateway.datastore.ObjectDescriber`, as the S3 upload store) adds
the stored size, checksum and a presigned GET. The route only parses and answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3stream.gateway.datastore import ObjectDescriber, UploadStore
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.model import metadata_value


@dataclass(frozen=True, slots=True)
class FinishedUpload:
    id: str
    key: str
    size: int
    filename: str | None
    content_type: str | None
    checksum: str | None
    """The object's stored whole-object checksum (base64), when the store keeps one."""
    checksum_algorithm: str | None
    url: str | None
    """A presigned GET (``None`` when the store cannot presign)."""
    expires_in: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "size": self.size,
            "filename": self.filename,
            "contentType": self.content_type,
            "checksum": self.checksum,
            "checksumAlgorithm": self.checksum_algorithm,
            "url": self.url,
            "expiresIn": self.expires_in,
        }


@dataclass
class FinishedUploads:
    """Turns a finished upload id into :class:`FinishedUpload` for the upload's owner."""

    uploads: UploadStore
    expires_in: int = 3600

    async def lookup(self, upload_id: str, owner: str) -> FinishedUpload:
        try:
            upload = await self.uploads.get(upload_id)
        except HTTPError as exc:
            status = 404 if exc.status in (404, 410) else exc.status
            raise HTTPError(status, "NotFound", "no such upload") from None
        if upload.owner != owner or upload.partial:  # never reveal another token's uploads
            raise HTTPError(404, "NotFound", "no such upload")
        if not upload.finished:
            raise HTTPError(
                409,
                "Unfinished",
                "the upload is not finished",
                offset=upload.offset,
                size=upload.size,
            )
        size, checksum, algorithm, url = upload.size or 0, None, None, None
        if isinstance(self.uploads, ObjectDescriber):
            stored = await self.uploads.describe(upload, self.expires_in)
            if stored is None:
                raise HTTPError(404, "NotFound", "the object is gone")
            size, checksum = stored.size, stored.checksum
            algorithm, url = stored.checksum_algorithm, stored.url
        return FinishedUpload(
            id=upload.id,
            key=upload.key,
            size=size,
            filename=upload.filename,
            content_type=metadata_value(upload.metadata, "filetype"),
            checksum=checksum,
            checksum_algorithm=algorithm,
            url=url,
            expires_in=self.expires_in,
        )
