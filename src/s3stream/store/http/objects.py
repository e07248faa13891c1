"""The gateway's object calls on the native transport: :class:`HttpObjects` implements
:class:`~s3stream.store.protocol.Objects` and :class:`~s3stream.store.protocol.BucketCors`.
Presigned requests with signed headers, POST policies and CORS rules are botocore's (a
client built on first use, with the same settings): none is on an upload's path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from s3stream.errors import NotFound
from s3stream.store.body import read_chunks_into
from s3stream.store.http.client import S3Client
from s3stream.store.http.sigv4 import uri_encode
from s3stream.store.http.wire import (
    children,
    condition_headers,
    decoded,
    error_of,
    parse,
    text,
    truncated,
)
from s3stream.store.types import (
    OVERWRITE,
    Blob,
    CorsRule,
    Listed,
    PartRecord,
    PresignedPost,
    PutMode,
)


class HttpObjects:
    """:class:`~s3stream.store.protocol.Objects` on :class:`S3Client`."""

    def __init__(self, client: S3Client) -> None:
        self.client = client
        self._boto: Any = None

    def get(self, bucket: str, key: str) -> Blob | None:
        try:
            headers, blocks = self.client.open("GetObject", bucket, key)
            data = b"".join(blocks)
        except NotFound:
            return None
        return Blob(data, headers.get("ETag", ""))

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        return read_chunks_into(self.iter_chunks(bucket, key), view, key)

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        _, blocks = self.client.open("GetObject", bucket, key)
        return blocks

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | memoryview,
        *,
        mode: PutMode = OVERWRITE,
        content_type: str | None = None,
    ) -> str:
        headers = condition_headers(mode)
        if content_type:
            headers["Content-Type"] = content_type
        answer = self.client.call(
            "PutObject", "PUT", bucket, key, headers=headers, body=bytes(body), mode=mode
        )
        return answer.headers.get("ETag", "")

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        headers = {"If-Match": if_match} if if_match is not None else {}
        with contextlib.suppress(NotFound):  # S3 answers 204 anyway; some stores 404
            self.client.call("DeleteObject", "DELETE", bucket, key, headers=headers)

    def list(self, bucket: str, prefix: str) -> list[Listed]:
        found: list[Listed] = []
        token: list[tuple[str, str]] = []
        while True:
            query = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url"), *token]
            root = parse(self.client.call("ListObjectsV2", "GET", bucket, query=query).body)
            for item in children(root, "Contents"):
                found.append(Listed(decoded(root, text(item, "Key")), int(text(item, "Size", "0"))))
            following = text(root, "NextContinuationToken")
            if not truncated(root) or not following:
                return found
            token = [("continuation-token", following)]

    def copy_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartRecord:
        headers = {"x-amz-copy-source": f"/{bucket}/{uri_encode(source_key, safe='/')}"}
        if byte_range is not None:
            headers["x-amz-copy-source-range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        query = [("partNumber", str(part_number)), ("uploadId", upload_id)]
        answer = self.client.call(
            "UploadPartCopy", "PUT", bucket, key, query=query, headers=headers
        )
        if error_of(answer.body) is not None:  # a copy can fail after the store answered 200
            raise self.client.refused("UploadPartCopy", 500, answer.headers, answer.body)
        etag = text(parse(answer.body), "ETag")
        if not etag.startswith('"'):
            etag = f'"{etag}"'
        size = 0 if byte_range is None else byte_range[1] - byte_range[0] + 1
        return PartRecord(part_number, size, etag)

    def _botocore(self) -> Any:
        """botocore's objects with this transport's settings (for presigned requests)."""
        if self._boto is None:
            from s3stream.store.boto import BotoObjects, make_client

            settings = self.client.settings
            credentials = settings.credentials
            self._boto = BotoObjects(
                make_client(
                    endpoint_url=self.client.endpoint_url,
                    region=settings.region,
                    access_key=credentials.access_key,
                    secret_key=credentials.secret_key,
                    session_token=credentials.token,
                    verify=(settings.ca_bundle or None) if settings.verify else False,
                )
            )
        return self._boto

    def presign_request(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        return str(self._botocore().presign_request(operation, params, expires_in))

    def presign_post(
        self,
        bucket: str,
        key: str,
        *,
        fields: dict[str, str],
        max_size: int,
        expires_in: int,
    ) -> PresignedPost:
        post: PresignedPost = self._botocore().presign_post(
            bucket, key, fields=fields, max_size=max_size, expires_in=expires_in
        )
        return post

    def get_cors(self, bucket: str) -> tuple[CorsRule, ...]:
        rules: tuple[CorsRule, ...] = self._botocore().get_cors(bucket)
        return rules

    def put_cors(self, bucket: str, rules: Sequence[CorsRule]) -> None:
        self._botocore().put_cors(bucket, rules)
