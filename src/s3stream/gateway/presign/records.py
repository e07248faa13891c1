"""Who owns a presigned multipart upload, kept in the bucket so every gateway process knows.

One small JSON object per upload, written once (``If-None-Match: *``) right after
CreateMultipartUpload and deleted when the upload is completed, aborted or swept::

    {prefix}_presign/{sha256(upload id)}.json
        {version, uploadId, key, owner, created, expires, size, partSize, checksum}

Upload ids are not secrets, so nothing is served for an id without its record: a made-up id,
another token's upload and a key that is not the upload's all answer 404, as tus does. The
object name is a hash because upload ids may hold characters that do not belong in keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from s3stream.checksums import ChecksumAlgorithm
from s3stream.store.protocol import Objects
from s3stream.store.types import CREATE

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class PresignRecord:
    upload_id: str
    key: str
    owner: str
    created: float
    expires: float | None
    """When the sweeper may abort the upload (``None``: never)."""
    size: int | None = None
    """The size the client declared at creation (``None``: not declared)."""
    part_size: int | None = None
    """With a declared size: every part but the last has exactly this many bytes."""
    checksum: ChecksumAlgorithm = ChecksumAlgorithm.NONE
    """The CRC every part is signed with (``NONE``: parts carry no checksum)."""

    @property
    def part_count(self) -> int | None:
        if self.size is None or self.part_size is None:
            return None
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int | None:
        """The exact byte count of part ``number`` when the size was declared."""
        count = self.part_count
        if count is None or self.part_size is None or self.size is None:
            return None
        if number < count:
            return self.part_size
        return self.size - (count - 1) * self.part_size

    def to_json(self) -> bytes:
        data = asdict(self)
        data["checksum"] = self.checksum.value
        return json.dumps({"version": RECORD_VERSION, **data}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PresignRecord:
        d = json.loads(raw)
        return cls(
            upload_id=str(d["upload_id"]),
            key=str(d["key"]),
            owner=str(d["owner"]),
            created=float(d["created"]),
            expires=None if d.get("expires") is None else float(d["expires"]),
            size=None if d.get("size") is None else int(d["size"]),
            part_size=None if d.get("part_size") is None else int(d["part_size"]),
            checksum=ChecksumAlgorithm.parse(d.get("checksum") or "none"),
        )


class PresignRecords:
    """The records under ``prefix`` in ``bucket`` (blocking calls: run them in a thread)."""

    def __init__(self, objects: Objects, bucket: str, prefix: str) -> None:
        self.objects = objects
        self.bucket = bucket
        self.prefix = prefix

    def key_of(self, upload_id: str) -> str:
        return f"{self.prefix}{hashlib.sha256(upload_id.encode()).hexdigest()[:40]}.json"

    def create(self, record: PresignRecord) -> None:
        self.objects.put(
            self.bucket,
            self.key_of(record.upload_id),
            record.to_json(),
            mode=CREATE,
            content_type="application/json",
        )

    def load(self, upload_id: str) -> PresignRecord | None:
        blob = self.objects.get(self.bucket, self.key_of(upload_id))
        if blob is None:
            return None
        try:
            record = PresignRecord.from_json(blob.data)
        except (ValueError, KeyError, TypeError):
            return None
        return record if record.upload_id == upload_id else None

    def delete(self, upload_id: str) -> None:
        self.objects.delete(self.bucket, self.key_of(upload_id))

    def all(self) -> list[PresignRecord]:
        """Every record that can be read (for the sweeper)."""
        found = []
        for item in self.objects.list(self.bucket, self.prefix):
            blob = self.objects.get(self.bucket, item.key)
            if blob is None:
                continue
            try:
                found.append(PresignRecord.from_json(blob.data))
            except (ValueError, KeyError, TypeError):
                continue
        return found
