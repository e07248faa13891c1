"""An in-memory upload store: the fake for handler tests, and the reference behaviour.

It implements every capability the S3 store does, with the same outcomes, so one
conformance suite runs against both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace

from s3stream.gateway.errors import HTTPError, not_found, offset_mismatch, too_large
from s3stream.gateway.locks import ProcessLocks
from s3stream.gateway.model import ChunkBody, NewUpload, ProgressFn, Upload


@dataclass
class _Entry:
    upload: Upload
    data: bytearray = field(default_factory=bytearray)


class MemoryUploadStore:
    """Uploads and finished objects in dicts (``objects`` maps key to bytes)."""

    def __init__(self, *, lock_wait: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.uploads: dict[str, _Entry] = {}
        self.objects: dict[str, bytes] = {}
        self.locks = ProcessLocks(lock_wait)
        self.clock = clock

    async def create(self, upload_id: str, key: str, new: NewUpload) -> Upload:
        if upload_id in self.uploads:
            raise HTTPError(500, "Duplicate", "upload id collision")
        upload = Upload(
            id=upload_id,
            size=new.size,
            offset=0,
            metadata=dict(new.metadata),
            owner=new.owner,
            created=self.clock(),
            expires=new.expires,
            key="" if new.partial else key,
            partial=new.partial,
        )
        entry = _Entry(upload)
        self.uploads[upload_id] = entry
        if new.size == 0:
            self._finish(entry)
        return entry.upload

    async def get(self, upload_id: str) -> Upload:
        entry = self.uploads.get(upload_id)
        if entry is None:
            raise not_found()
        return entry.upload

    def lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        return self.locks.hold(upload_id)

    async def write(
        self,
        upload_id: str,
        offset: int,
        body: ChunkBody,
        on_progress: ProgressFn | None = None,
        expires: float | None = None,
    ) -> Upload:
        entry = self.uploads.get(upload_id)
        if entry is None:
            raise not_found()
        upload = entry.upload
        if offset != upload.offset:
            raise offset_mismatch(upload.offset, offset)
        chunk = bytearray()
        async for data in body:
            if upload.size is not None and upload.offset + len(chunk) + len(data) > upload.size:
                raise too_large("the chunk goes past the upload's length")
            chunk += data
            if on_progress is not None:
                on_progress(upload.offset + len(chunk))
        body.verify()
        entry.data += chunk
        entry.upload = replace(upload, offset=len(entry.data), expires=expires or upload.expires)
        if entry.upload.size is not None and entry.upload.offset == entry.upload.size:
            self._finish(entry)
        return entry.upload

    def _finish(self, entry: _Entry) -> None:
        entry.upload = replace(entry.upload, finished=True)
        if not entry.upload.partial:
            self.objects[entry.upload.key] = bytes(entry.data)

    async def terminate(self, upload_id: str) -> None:
        entry = self.uploads.pop(upload_id, None)
        if entry is None:
            raise not_found()
        if entry.upload.finished and not entry.upload.partial:
            self.objects.pop(entry.upload.key, None)

    async def declare_length(self, upload_id: str, size: int) -> Upload:
        entry = self.uploads.get(upload_id)
        if entry is None:
            raise not_found()
        if size < entry.upload.offset:
            raise HTTPError(400, "BadLength", "Upload-Length is below the upload's offset")
        entry.upload = replace(entry.upload, size=size)
        if entry.upload.offset == size:
            self._finish(entry)
        return entry.upload

    async def concatenate(
        self, upload_id: str, key: str, new: NewUpload, partials: Sequence[Upload]
    ) -> Upload:
        data = bytearray()
        for partial in partials:
            data += self.uploads[partial.id].data
        upload = Upload(
            id=upload_id,
            size=len(data),
            offset=len(data),
            metadata=dict(new.metadata),
            owner=new.owner,
            created=self.clock(),
            expires=None,
            key=key,
            final=True,
            partials=tuple(p.id for p in partials),
            finished=True,
        )
        self.uploads[upload_id] = _Entry(upload, data)
        self.objects[key] = bytes(data)
        return upload

    async def sweep(self, now: float) -> int:
        expired = [uid for uid, e in self.uploads.items() if e.upload.expired(now)]
        for uid in expired:
            del self.uploads[uid]
        return len(expired)
