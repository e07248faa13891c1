"""Finished uploads as the page lists them: object key, size, checksum and a download link.

:class:`FinishedUploads` holds every store call the ``/api/uploads/{id}`` route needs, over
the gateway's own objects: the upload store (who owns the upload, is it finished, which
object did it become), the object store (``HeadObject`` for size and stored checksum) and
the gateway's object calls (a presigned GET). The route only parses and answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import StoreError
from s3stream.gateway.datastore import UploadStore
from s3stream.gateway.errors import TusError
from s3stream.gateway.model import Upload, metadata_value
from s3stream.gateway.s3store.store import S3UploadStore
from s3stream.store.objects import GatewayObjects
from s3stream.store.protocol import ObjectStore


class LookupFailed(Exception):
    """An answer other than the upload: ``status`` and a short ``message`` for the page."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


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
    objects: GatewayObjects | None = None
    store: ObjectStore | None = None
    bucket: str | None = None
    checksum_algorithm: str | None = None
    expires_in: int = 3600

    @classmethod
    def for_store(cls, uploads: UploadStore, expires_in: int = 3600) -> FinishedUploads:
        """Take the object store, object calls, bucket and checksum algorithm from an
        :class:`~s3stream.gateway.s3store.store.S3UploadStore`; other stores (the memory fake) get
        answers without checksum and link."""
        if not isinstance(uploads, S3UploadStore):
            return cls(uploads, expires_in=expires_in)
        algorithm = uploads.algorithm
        return cls(
            uploads,
            objects=uploads.objects,
            store=uploads.store,
            bucket=uploads.bucket,
            checksum_algorithm=None
            if algorithm is ChecksumAlgorithm.NONE
            else algorithm.value.upper(),
            expires_in=expires_in,
        )

    async def lookup(self, upload_id: str, owner: str) -> FinishedUpload:
        try:
            upload = await self.uploads.get(upload_id)
        except TusError as exc:
            status = 404 if exc.status in (404, 410) else exc.status
            raise LookupFailed(status, "no such upload") from None
        if upload.owner != owner or upload.partial:
            raise LookupFailed(404, "no such upload")  # never reveal another token's uploads
        if not upload.finished:
            raise LookupFailed(
                409, "the upload is not finished", offset=upload.offset, size=upload.size
            )
        return await anyio.to_thread.run_sync(self._describe, upload)

    def _describe(self, upload: Upload) -> FinishedUpload:
        size = upload.size or 0
        checksum = None
        if self.store is not None and self.bucket is not None:
            info = self.store.head_object(self.bucket, upload.key)
            if info is None:
                raise LookupFailed(404, "the object is gone")
            size = info.size if info.size is not None else size
            checksum = info.checksum
        url = None
        if self.objects is not None and self.bucket is not None:
            url = self.objects.presign(
                "get_object", {"Bucket": self.bucket, "Key": upload.key}, self.expires_in
            )
        return FinishedUpload(
            id=upload.id,
            key=upload.key,
            size=size,
            filename=upload.filename,
            content_type=metadata_value(upload.metadata, "filetype"),
            checksum=checksum,
            checksum_algorithm=self.checksum_algorithm if checksum else None,
            url=url,
            expires_in=self.expires_in,
        )


def store_error_status(exc: StoreError) -> int:
    return 503 if exc.retryable else 502
