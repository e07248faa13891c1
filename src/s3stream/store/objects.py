"""The object calls the gateway needs beyond :class:`~s3stream.store.protocol.ObjectStore`.

Upload state, staged chunks and leases are small objects written with conditions
(``If-None-Match: *`` to create, ``If-Match: <etag>`` to replace or delete), and
concatenation copies parts server-side. :class:`GatewayObjects` lists exactly those calls
(an extension protocol, as tusd's ``S3API`` lists its own); :class:`BotoGatewayObjects`
implements it on the botocore client of a :class:`~s3stream.store.boto.store.BotoStore`, so SDK
calls stay out of the protocol handler and the upload store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from s3stream.errors import StoreError
from s3stream.store.boto.store import BotoStore, translated
from s3stream.store.protocol import ObjectStore, PartReceipt

READ_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class Listed:
    key: str
    size: int


def is_precondition_failed(exc: StoreError) -> bool:
    return exc.code in ("PreconditionFailed", "ConditionalRequestConflict") or exc.status == 412


class GatewayObjects(Protocol):
    def get(self, bucket: str, key: str) -> Blob | None:
        """The whole (small) object and its ETag, or ``None`` when there is none."""
        ...

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        """Read the object into ``view`` (it must fit); return the byte count."""
        ...

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        """Stream the object in blocks."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | memoryview,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str | None = None,
    ) -> str:
        """Write the object (conditionally) and return its ETag; a failed condition raises
        :class:`StoreError` with ``PreconditionFailed``."""
        ...

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None: ...

    def list(self, bucket: str, prefix: str) -> list[Listed]: ...

    def copy_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartReceipt:
        """UploadPartCopy of ``source_key`` (``byte_range`` inclusive) as one part."""
        ...

    def presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        """A presigned URL for ``put_object``, ``upload_part`` or ``get_object``."""
        ...


class BotoGatewayObjects:
    """:class:`GatewayObjects` on the botocore client of a :class:`BotoStore`."""

    def __init__(self, store: BotoStore) -> None:
        self.client = store.client

    def get(self, bucket: str, key: str) -> Blob | None:
        try:
            with translated("GetObject"):
                response = self.client.get_object(Bucket=bucket, Key=key)
                data = response["Body"].read()
        except StoreError as exc:
            if exc.status == 404 or exc.code in ("NoSuchKey", "404"):
                return None
            raise
        return Blob(data, str(response.get("ETag", "")))

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        done = 0
        with translated("GetObject"):
            response = self.client.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            while True:
                block = body.read(READ_BLOCK)
                if not block:
                    break
                if done + len(block) > len(view):
                    raise StoreError(
                        f"{key} is larger than expected", code="SizeMismatch", operation="GetObject"
                    )
                view[done : done + len(block)] = block
                done += len(block)
        return done

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        with translated("GetObject"):
            response = self.client.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            while True:
                block = body.read(READ_BLOCK)
                if not block:
                    return
                yield block

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | memoryview,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str | None = None,
    ) -> str:
        args: dict[str, Any] = {}
        if if_match is not None:
            args["IfMatch"] = if_match
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if content_type:
            args["ContentType"] = content_type
        with translated("PutObject"):
            response = self.client.put_object(
                Bucket=bucket, Key=key, Body=bytes(body), ContentLength=len(body), **args
            )
        return str(response.get("ETag", ""))

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        args = {"IfMatch": if_match} if if_match is not None else {}
        try:
            with translated("DeleteObject"):
                self.client.delete_object(Bucket=bucket, Key=key, **args)
        except StoreError as exc:
            if exc.status != 404:
                raise

    def list(self, bucket: str, prefix: str) -> list[Listed]:
        found: list[Listed] = []
        token: dict[str, str] = {}
        while True:
            with translated("ListObjectsV2"):
                response = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
            found += [Listed(o["Key"], int(o.get("Size", 0))) for o in response.get("Contents", [])]
            if not response.get("IsTruncated") or not response.get("NextContinuationToken"):
                return found
            token = {"ContinuationToken": response["NextContinuationToken"]}

    def copy_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartReceipt:
        args: dict[str, Any] = {}
        if byte_range is not None:
            args["CopySourceRange"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        with translated("UploadPartCopy"):
            response = self.client.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                CopySource={"Bucket": bucket, "Key": source_key},
                **args,
            )
        result = response.get("CopyPartResult", {})
        size = 0 if byte_range is None else byte_range[1] - byte_range[0] + 1
        etag = str(result["ETag"])
        if not etag.startswith('"'):
            etag = f'"{etag}"'
        return PartReceipt(part_number, etag, size)

    def presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        with translated("Presign"):
            return str(
                self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
            )


def boto_objects(store: ObjectStore) -> BotoGatewayObjects:
    if not isinstance(store, BotoStore):
        raise TypeError("the S3 upload store needs a BotoStore (or GatewayObjects of its own)")
    return BotoGatewayObjects(store)
