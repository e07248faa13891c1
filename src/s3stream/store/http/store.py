"""The store on the native transport: :class:`HttpStore` implements the engine's
:class:`~s3stream.store.protocol.ObjectStore` (see :mod:`.objects` for the gateway's calls)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Literal

from s3stream.checksums import ChecksumAlgorithm, encode
from s3stream.errors import NotFound, StoreError
from s3stream.store.attributes import NO_REQUEST_OPTIONS, ObjectOptions, RequestOptions
from s3stream.store.body import PartBody
from s3stream.store.chunked import StreamedPartBody, trailer_name
from s3stream.store.http.client import Answer, S3Client
from s3stream.store.http.connections import Body
from s3stream.store.http.objects import HttpObjects
from s3stream.store.http.sigv4 import UNSIGNED_PAYLOAD
from s3stream.store.http.wire import (
    checksum_headers,
    children,
    complete_body,
    condition_headers,
    decoded,
    error_of,
    object_headers,
    object_info,
    parse,
    part_records,
    request_headers,
    text,
    timestamp,
    truncated,
)
from s3stream.store.protocol import OnSent, PartSource
from s3stream.store.types import OVERWRITE, ObjectInfo, PartRecord, PutMode, UploadInfo

STREAMING_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


class HttpStore:
    """:class:`~s3stream.store.protocol.ObjectStore` on :class:`S3Client`."""

    def __init__(self, client: S3Client, request: RequestOptions = NO_REQUEST_OPTIONS) -> None:
        self.client = client
        self.endpoint_url: str | None = client.endpoint_url
        self.request = request
        self.objects = HttpObjects(client)
        """The same client's :class:`~s3stream.store.protocol.Objects` calls."""

    def with_request_options(self, request: RequestOptions) -> HttpStore:
        return self if request == self.request else HttpStore(self.client, request)

    def _call(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str = "",
        *,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | Body | None = None,
        payload: str | None = None,
        mode: PutMode = OVERWRITE,
    ) -> Answer:
        """A call about the object: with the request options' headers it takes."""
        return self.client.call(
            operation,
            method,
            bucket,
            key,
            query=query,
            headers={**request_headers(self.request, operation), **(headers or {})},
            body=body,
            payload=payload,
            mode=mode,
        )

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        checksum: ChecksumAlgorithm,
        options: ObjectOptions,
        full_object: bool = True,
    ) -> str:
        headers = object_headers(options)
        if checksum is not ChecksumAlgorithm.NONE:
            headers["x-amz-checksum-algorithm"] = checksum.s3_name
            if checksum.full_object and full_object:
                headers["x-amz-checksum-type"] = "FULL_OBJECT"
        answer = self._call(
            "CreateMultipartUpload", "POST", bucket, key, query=[("uploads", "")], headers=headers
        )
        upload_id = text(parse(answer.body), "UploadId")
        if not upload_id:
            raise StoreError(
                "CreateMultipartUpload: the store's answer has no UploadId",
                code="MalformedAnswer",
                operation="CreateMultipartUpload",
            )
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
    ) -> PartRecord:
        return self._upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            PartBody(body, on_sent),
            checksum,
            lambda: checksum_value,
            checksum_headers(checksum, checksum_value),
        )

    def _upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: PartBody | StreamedPartBody,
        checksum: ChecksumAlgorithm,
        sent_value: Callable[[], str | None],
        headers: dict[str, str],
    ) -> PartRecord:
        """UploadPart; ``sent_value()`` is the checksum that went with the body, checked
        against the one the store computed. A body whose source failed raises that
        failure, not the connection error it caused."""
        payload = UNSIGNED_PAYLOAD
        if isinstance(body, StreamedPartBody) and body.trailer:
            payload = STREAMING_TRAILER
            headers = {
                **headers,
                "Content-Encoding": "aws-chunked",
                "x-amz-trailer": trailer_name(body.algorithm),
                "x-amz-decoded-content-length": str(body.source.size),
            }
        query = [("partNumber", str(part_number)), ("uploadId", upload_id)]
        try:
            answer = self._call(
                "UploadPart",
                "PUT",
                bucket,
                key,
                query=query,
                headers=headers,
                body=body,
                payload=payload,
            )
        except Exception as exc:
            if body.source_error is not None:
                raise body.source_error from exc
            raise
        value = sent_value()
        returned = object_info(answer.headers, checksum).checksum
        if value is not None and returned is not None and returned != value:
            raise StoreError(
                f"UploadPart {part_number}: the store computed checksum {returned}, "
                f"s3stream computed {value}",
                code="BadDigest",
                retryable=True,
                operation="UploadPart",
            )
        etag = answer.headers.get("ETag", "")
        return PartRecord(part_number, len(body), etag, value or returned)

    def upload_part_stream(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: PartSource,
        *,
        checksum: ChecksumAlgorithm,
    ) -> PartRecord:
        body = StreamedPartBody(source, checksum)

        def sent_value() -> str | None:
            return None if body.digest is None else encode(checksum, body.digest)

        receipt = self._upload_part(
            bucket, key, upload_id, part_number, body, checksum, sent_value, {}
        )
        return replace(receipt, size=source.size)

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartRecord],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        mode: PutMode = OVERWRITE,
    ) -> ObjectInfo:
        headers = condition_headers(mode)
        if checksum.full_object and checksum_value is not None:
            headers.update(checksum_headers(checksum, checksum_value))
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        answer = self._call(
            "CompleteMultipartUpload",
            "POST",
            bucket,
            key,
            query=[("uploadId", upload_id)],
            headers=headers,
            body=complete_body(parts, checksum),
            mode=mode,
        )
        failed = error_of(answer.body)  # S3 can fail a completion after answering 200
        if failed is not None:
            raise self.client.refused("CompleteMultipartUpload", 500, answer.headers, answer.body)
        root = parse(answer.body)
        name = f"Checksum{checksum.s3_name}"
        found = text(root, name) if checksum is not ChecksumAlgorithm.NONE else ""
        return ObjectInfo(
            etag=text(root, "ETag") or answer.headers.get("ETag", ""),
            version_id=answer.headers.get("x-amz-version-id"),
            checksum=found or None,
            checksum_type=text(root, "ChecksumType") or None,
        )

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._call("AbortMultipartUpload", "DELETE", bucket, key, query=[("uploadId", upload_id)])

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartRecord]:
        parts: list[PartRecord] = []
        marker = 0
        while True:
            query = [("uploadId", upload_id), ("part-number-marker", str(marker))]
            root = parse(self._call("ListParts", "GET", bucket, key, query=query).body)
            parts += part_records(root)
            if not truncated(root):
                return parts
            marker = int(text(root, "NextPartNumberMarker"))

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        uploads: list[UploadInfo] = []
        markers: list[tuple[str, str]] = []
        while True:
            query = [("uploads", ""), ("prefix", prefix), ("encoding-type", "url"), *markers]
            root = parse(self._call("ListMultipartUploads", "GET", bucket, query=query).body)
            for upload in children(root, "Upload"):
                uploads.append(
                    UploadInfo(
                        decoded(root, text(upload, "Key")),
                        text(upload, "UploadId"),
                        timestamp(text(upload, "Initiated")),
                    )
                )
            if not truncated(root):
                return uploads
            markers = [
                ("key-marker", decoded(root, text(root, "NextKeyMarker"))),
                ("upload-id-marker", text(root, "NextUploadIdMarker")),
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
        mode: PutMode = OVERWRITE,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo:
        headers = {
            **object_headers(options),
            **checksum_headers(checksum, checksum_value),
            **condition_headers(mode),
        }
        part = PartBody(body, on_sent)
        try:
            answer = self._call(
                "PutObject",
                "PUT",
                bucket,
                key,
                headers=headers,
                body=part,
                payload=UNSIGNED_PAYLOAD,
                mode=mode,
            )
        except Exception as exc:
            if part.source_error is not None:
                raise part.source_error from exc
            raise
        info = object_info(answer.headers, checksum)
        return ObjectInfo(
            info.etag, info.version_id, info.checksum or checksum_value, "FULL_OBJECT"
        )

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        return self.objects.iter_chunks(bucket, key)

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        self.objects.delete(bucket, key, if_match=if_match)

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            answer = self._call(
                "HeadObject", "HEAD", bucket, key, headers={"x-amz-checksum-mode": "ENABLED"}
            )
        except NotFound:
            return None
        headers = answer.headers
        found = next(
            (
                value
                for name, value in headers.items()
                if name.lower().startswith("x-amz-checksum-")
                and name.lower() != "x-amz-checksum-type"
            ),
            None,
        )
        metadata = {
            name.lower()[len("x-amz-meta-") :]: value
            for name, value in headers.items()
            if name.lower().startswith("x-amz-meta-")
        }
        length = headers.get("Content-Length")
        return ObjectInfo(
            headers.get("ETag", ""),
            headers.get("x-amz-version-id"),
            found,
            headers.get("x-amz-checksum-type"),
            int(length) if length is not None else None,
            metadata,
        )

    def presign(self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int) -> str:
        return self.client.presign(method, bucket, key, expires_in)
