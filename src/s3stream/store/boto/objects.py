"""The gateway's object calls on botocore: :class:`BotoObjects` implements
:class:`~s3stream.store.protocol.Objects` and :class:`~s3stream.store.protocol.BucketCors`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from s3stream.errors import NotFound, StoreError
from s3stream.store.body import read_chunks_into
from s3stream.store.boto.errors import translated
from s3stream.store.types import (
    OVERWRITE,
    Blob,
    CorsRule,
    Listed,
    PartRecord,
    PresignedPost,
    PutMode,
)

READ_BLOCK = 1024 * 1024


def condition_args(mode: PutMode) -> dict[str, str]:
    if mode.kind == "create":
        return {"IfNoneMatch": "*"}
    if mode.kind == "replace":
        assert mode.etag is not None
        return {"IfMatch": mode.etag}
    return {}


class BotoObjects:
    """:class:`~s3stream.store.protocol.Objects` on a botocore S3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, bucket: str, key: str) -> Blob | None:
        try:
            with translated("GetObject"):
                response = self.client.get_object(Bucket=bucket, Key=key)
                data = response["Body"].read()
        except NotFound:
            return None
        return Blob(data, str(response.get("ETag", "")))

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        return read_chunks_into(self.iter_chunks(bucket, key), view, key)

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
        mode: PutMode = OVERWRITE,
        content_type: str | None = None,
    ) -> str:
        args = condition_args(mode)
        if content_type:
            args["ContentType"] = content_type
        with translated("PutObject", mode):
            response = self.client.put_object(
                Bucket=bucket, Key=key, Body=bytes(body), ContentLength=len(body), **args
            )
        return str(response.get("ETag", ""))

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        args = {"IfMatch": if_match} if if_match is not None else {}
        try:
            with translated("DeleteObject"):
                self.client.delete_object(Bucket=bucket, Key=key, **args)
        except NotFound:
            pass

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
    ) -> PartRecord:
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
        return PartRecord(part_number, size, etag)

    def presign_request(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        with translated("Presign"):
            return str(
                self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
            )

    def presign_post(
        self,
        bucket: str,
        key: str,
        *,
        fields: dict[str, str],
        max_size: int,
        expires_in: int,
    ) -> PresignedPost:
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 0, max_size])
        with translated("Presign"):
            post = self.client.generate_presigned_post(
                bucket, key, Fields=dict(fields), Conditions=conditions, ExpiresIn=expires_in
            )
        return PresignedPost(str(post["url"]), {k: str(v) for k, v in post["fields"].items()})

    def get_cors(self, bucket: str) -> tuple[CorsRule, ...]:
        try:
            with translated("GetBucketCors"):
                response = self.client.get_bucket_cors(Bucket=bucket)
        except StoreError as exc:
            if exc.code == "NoSuchCORSConfiguration":
                return ()
            raise
        return tuple(
            CorsRule(
                origins=tuple(r.get("AllowedOrigins", ())),
                methods=tuple(r.get("AllowedMethods", ())),
                allowed_headers=tuple(r.get("AllowedHeaders", ())),
                expose_headers=tuple(r.get("ExposeHeaders", ())),
                max_age=r.get("MaxAgeSeconds"),
                id=r.get("ID"),
            )
            for r in response.get("CORSRules", [])
        )

    def put_cors(self, bucket: str, rules: Sequence[CorsRule]) -> None:
        if not rules:
            with translated("DeleteBucketCors"):
                self.client.delete_bucket_cors(Bucket=bucket)
            return
        listed = []
        for rule in rules:
            entry: dict[str, Any] = {
                "AllowedOrigins": list(rule.origins),
                "AllowedMethods": list(rule.methods),
                "AllowedHeaders": list(rule.allowed_headers),
                "ExposeHeaders": list(rule.expose_headers),
            }
            if rule.max_age is not None:
                entry["MaxAgeSeconds"] = rule.max_age
            if rule.id:
                entry["ID"] = rule.id
            listed.append(entry)
        with translated("PutBucketCors"):
            self.client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": listed})
