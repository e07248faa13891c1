"""An in-memory ObjectStore for unit tests of the engine (never the only test of a path)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from s3stream.checksums import ChecksumAlgorithm, combine, digest, encode
from s3stream.errors import NoSuchUpload, StoreError
from s3stream.store.protocol import (
    ObjectInfo,
    ObjectOptions,
    OnSent,
    PartReceipt,
    PartSource,
    UploadInfo,
)

Hook = Callable[[str, dict[str, object]], None]
"""Called before each operation with its name and arguments; may raise to inject a fault."""


def read_source(source: PartSource) -> bytes:
    """All of a part source's bytes, as a store receives them."""
    data = bytearray()
    while len(data) < source.size:
        data += source.wait_view(len(data), source.size - len(data))
    return bytes(data)


@dataclass
class _Upload:
    key: str
    checksum: ChecksumAlgorithm
    options: ObjectOptions
    initiated: dt.datetime
    parts: dict[int, tuple[bytes, PartReceipt]] = field(default_factory=dict)


class MemoryStore:
    """Keeps objects and multipart uploads in dicts; checks checksums as S3 does."""

    def __init__(self, hook: Hook | None = None) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, ObjectInfo, ObjectOptions]] = {}
        self.uploads: dict[str, _Upload] = {}
        self.calls: list[str] = []
        self.hook = hook
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _enter(self, operation: str, **args: object) -> None:
        with self._lock:
            self.calls.append(operation)
        if self.hook is not None:
            self.hook(operation, args)

    def _upload(self, upload_id: str) -> _Upload:
        try:
            return self.uploads[upload_id]
        except KeyError:
            raise NoSuchUpload("no such upload", code="NoSuchUpload", status=404) from None

    @staticmethod
    def _check(algorithm: ChecksumAlgorithm, data: bytes, value: str | None) -> str | None:
        found = digest(algorithm, data)
        actual = encode(algorithm, found) if found else None
        if value is not None and value != actual:
            raise StoreError("checksum mismatch", code="BadDigest", status=400)
        return actual

    def create_multipart_upload(
        self, bucket: str, key: str, *, checksum: ChecksumAlgorithm, options: ObjectOptions
    ) -> str:
        self._enter("CreateMultipartUpload", bucket=bucket, key=key)
        upload_id = f"upload-{next(self._ids)}"
        self.uploads[upload_id] = _Upload(key, checksum, options, dt.datetime.now(dt.UTC))
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: memoryview | PartSource,
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        on_sent: OnSent | None = None,
    ) -> PartReceipt:
        data = bytes(body) if isinstance(body, memoryview) else read_source(body)
        self._enter("UploadPart", part_number=part_number, size=len(data), on_sent=on_sent)
        upload = self._upload(upload_id)
        if on_sent is not None:
            on_sent(len(data))
        actual = self._check(checksum, data, checksum_value)
        receipt = PartReceipt(part_number, hashlib.md5(data).hexdigest(), len(data), actual)
        upload.parts[part_number] = (data, receipt)
        return receipt

    def upload_part_stream(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: PartSource,
        *,
        checksum: ChecksumAlgorithm,
    ) -> PartReceipt:
        data = read_source(source)
        part = digest(checksum, data)
        value = None if part is None else encode(checksum, part)
        return self.upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            memoryview(data),
            checksum=checksum,
            checksum_value=value,
        )

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartReceipt],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        self._enter("CompleteMultipartUpload", parts=len(parts))
        upload = self._upload(upload_id)
        if if_none_match and (bucket, key) in self.objects:
            raise StoreError("exists", code="PreconditionFailed", status=412)
        chunks = [upload.parts[p.part_number][0] for p in parts]
        numbers = [p.part_number for p in parts]
        if numbers != sorted(numbers) or any(len(c) < 5 * 2**20 for c in chunks[:-1]):
            raise StoreError("bad part list", code="InvalidPart", status=400)
        data = b"".join(chunks)
        value: str | None = None
        if checksum is not ChecksumAlgorithm.NONE:
            digests = [d for c in chunks if (d := digest(checksum, c)) is not None]
            value = combine(checksum, digests) if digests else None
            if checksum.full_object and checksum_value is not None and checksum_value != value:
                raise StoreError("object checksum mismatch", code="BadDigest", status=400)
        del self.uploads[upload_id]
        info = ObjectInfo(f"etag-{len(parts)}", None, value, "FULL_OBJECT", len(data))
        self.objects[(bucket, key)] = (data, info, upload.options)
        return info

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._enter("AbortMultipartUpload")
        self._upload(upload_id)
        del self.uploads[upload_id]

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartReceipt]:
        self._enter("ListParts")
        upload = self._upload(upload_id)
        return [receipt for _, (_, receipt) in sorted(upload.parts.items())]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        self._enter("ListMultipartUploads")
        return [
            UploadInfo(u.key, uid, u.initiated)
            for uid, u in self.uploads.items()
            if u.key.startswith(prefix)
        ]

    def put_object(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        options: ObjectOptions,
        if_none_match: bool = False,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo:
        self._enter("PutObject", size=len(body))
        if if_none_match and (bucket, key) in self.objects:
            raise StoreError("exists", code="PreconditionFailed", status=412)
        data = bytes(body)
        if on_sent is not None:
            on_sent(len(data))
        actual = self._check(checksum, data, checksum_value)
        info = ObjectInfo(hashlib.md5(data).hexdigest(), None, actual, "FULL_OBJECT", len(data))
        self.objects[(bucket, key)] = (data, info, options)
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        self._enter("HeadObject")
        found = self.objects.get((bucket, key))
        return None if found is None else found[1]

    def presign(self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int) -> str:
        return f"memory://{bucket}/{key}?method={method}&expires={expires_in}"

    def data(self, bucket: str, key: str) -> bytes:
        return self.objects[(bucket, key)][0]
