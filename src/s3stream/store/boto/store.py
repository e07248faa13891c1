"""The store on botocore: :class:`BotoStore` implements the engine's
:class:`~s3stream.store.protocol.ObjectStore` (see :mod:`.objects` for the gateway's calls)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal, TypeVar

from s3stream.checksums import ChecksumAlgorithm, encode
from s3stream.errors import NotFound, StoreError
from s3stream.store.attributes import (
    NO_REQUEST_OPTIONS,
    ObjectOptions,
    RequestOptions,
    format_tagging,
)
from s3stream.store.body import PartBody
from s3stream.store.boto.errors import translated
from s3stream.store.boto.objects import BotoObjects, condition_args
from s3stream.store.chunked import StreamedPartBody, trailer_name
from s3stream.store.protocol import OnSent, PartSource
from s3stream.store.types import (
    OVERWRITE,
    ObjectInfo,
    PartRecord,
    PutMode,
    UploadInfo,
)

T = TypeVar("T")


def _object_info(response: dict[str, Any], algorithm: ChecksumAlgorithm | None) -> ObjectInfo:
    checksum = None
    if algorithm is not None and algorithm is not ChecksumAlgorithm.NONE:
        checksum = response.get(f"Checksum{algorithm.s3_name}")
    return ObjectInfo(
        etag=response.get("ETag", ""),
        version_id=response.get("VersionId"),
        checksum=checksum,
        checksum_type=response.get("ChecksumType"),
        size=response.get("ContentLength"),
    )


def _checksum_args(algorithm: ChecksumAlgorithm, value: str | None) -> dict[str, str]:
    if algorithm is ChecksumAlgorithm.NONE or value is None:
        return {}
    return {f"Checksum{algorithm.s3_name}": value}


_OBJECT_ARGS = {
    "content_type": "ContentType",
    "cache_control": "CacheControl",
    "content_disposition": "ContentDisposition",
    "content_encoding": "ContentEncoding",
    "content_language": "ContentLanguage",
    "expires": "Expires",
    "storage_class": "StorageClass",
    "acl": "ACL",
    "sse": "ServerSideEncryption",
    "sse_kms_key_id": "SSEKMSKeyId",
}


def _object_args(options: ObjectOptions) -> dict[str, Any]:
    """PutObject's and CreateMultipartUpload's parameters for ``options``."""
    args: dict[str, Any] = {
        param: getattr(options, name)
        for name, param in _OBJECT_ARGS.items()
        if getattr(options, name) is not None
    }
    if options.metadata:
        args["Metadata"] = dict(options.metadata)
    if options.tagging:
        args["Tagging"] = format_tagging(options.tagging)
    return args


def _request_args(request: RequestOptions) -> dict[str, Any]:
    """The parameters every call about the object carries (each call takes those it knows)."""
    args: dict[str, Any] = {}
    key = request.sse_customer_key
    if key is not None:  # encoded here: botocore would only do it for some of the calls
        args["SSECustomerAlgorithm"] = "AES256"
        args["SSECustomerKey"] = key.encoded()
        args["SSECustomerKeyMD5"] = key.md5
    if request.request_payer:
        args["RequestPayer"] = "requester"
    if request.expected_bucket_owner is not None:
        args["ExpectedBucketOwner"] = request.expected_bucket_owner
    return args


def _frame_streamed_part(request: Any, **_: Any) -> None:
    """Before signing an UploadPart whose body is a :class:`StreamedPartBody`: declare the
    aws-chunked encoding and the checksum trailer (the signer then signs
    ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` instead of ``UNSIGNED-PAYLOAD``)."""
    body = request.body
    if not isinstance(body, StreamedPartBody) or not body.trailer:
        return
    name = trailer_name(body.algorithm)
    for header in list(request.headers):  # a client that checksums by itself: the trailer rules
        if header.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum-")):
            del request.headers[header]
    request.headers["Content-Encoding"] = "aws-chunked"
    request.headers["X-Amz-Trailer"] = name
    request.headers["X-Amz-Decoded-Content-Length"] = str(body.source.size)
    request.context["checksum"] = {
        "request_algorithm": {"in": "trailer", "algorithm": body.algorithm.value, "name": name}
    }


class BotoStore:
    """:class:`~s3stream.store.protocol.ObjectStore` on a botocore S3 client."""

    def __init__(self, client: Any, request: RequestOptions = NO_REQUEST_OPTIONS) -> None:
        self.client = client
        self.endpoint_url: str | None = client.meta.endpoint_url
        self.request = request
        self._request_args = _request_args(request)
        self.objects = BotoObjects(client)
        """The same client's :class:`~s3stream.store.protocol.Objects` calls."""
        client.meta.events.register(
            "before-sign.s3.UploadPart", _frame_streamed_part, unique_id="s3stream-trailer"
        )

    def with_request_options(self, request: RequestOptions) -> BotoStore:
        """This store (the same client) with ``request``'s parameters on every call."""
        return self if request == self.request else BotoStore(self.client, request)

    def _call(
        self, operation: str, method: Callable[..., T], mode: PutMode = OVERWRITE, /, **kwargs: Any
    ) -> T:
        if self._request_args:
            accepted = self.client.meta.service_model.operation_model(operation).input_shape
            kwargs = {
                **{k: v for k, v in self._request_args.items() if k in accepted.members},
                **kwargs,
            }
        with translated(operation, mode):
            return method(**kwargs)

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        checksum: ChecksumAlgorithm,
        options: ObjectOptions,
        full_object: bool = True,
    ) -> str:
        args = _object_args(options)
        if checksum is not ChecksumAlgorithm.NONE:
            args["ChecksumAlgorithm"] = checksum.s3_name
            if checksum.full_object and full_object:
                args["ChecksumType"] = "FULL_OBJECT"
        response = self._call(
            "CreateMultipartUpload",
            self.client.create_multipart_upload,
            Bucket=bucket,
            Key=key,
            **args,
        )
        return str(response["UploadId"])

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
            **_checksum_args(checksum, checksum_value),
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
        **args: Any,
    ) -> PartRecord:
        """UploadPart; ``sent_value()`` is the checksum that went with the body, checked
        against the one the store computed. A body whose source failed (a file that shrank,
        a client that went away) raises that failure, not the connection error the HTTP
        stack made of it: it is not the store's, and not worth a retry."""
        try:
            response = self._call(
                "UploadPart",
                self.client.upload_part,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                Body=body,
                ContentLength=len(body),
                **args,
            )
        except Exception as exc:
            if body.source_error is not None:
                raise body.source_error from exc
            raise
        value = sent_value()
        returned = _object_info(response, checksum).checksum
        if value is not None and returned is not None and returned != value:
            raise StoreError(
                f"UploadPart {part_number}: the store computed checksum {returned}, "
                f"s3stream computed {value}",
                code="BadDigest",
                retryable=True,
                operation="UploadPart",
            )
        return PartRecord(part_number, len(body), response["ETag"], value or returned)

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

        receipt = self._upload_part(bucket, key, upload_id, part_number, body, checksum, sent_value)
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
        listed = []
        for part in parts:
            entry: dict[str, Any] = {"PartNumber": part.number, "ETag": part.etag}
            entry.update(_checksum_args(checksum, part.checksum))
            listed.append(entry)
        args: dict[str, Any] = {}
        if checksum.full_object and checksum_value is not None:
            args = {**_checksum_args(checksum, checksum_value), "ChecksumType": "FULL_OBJECT"}
        args.update(condition_args(mode))
        response = self._call(
            "CompleteMultipartUpload",
            self.client.complete_multipart_upload,
            mode,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
            **args,
        )
        return _object_info(response, checksum)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._call(
            "AbortMultipartUpload",
            self.client.abort_multipart_upload,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
        )

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartRecord]:
        parts: list[PartRecord] = []
        marker = 0
        while True:
            response = self._call(
                "ListParts",
                self.client.list_parts,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            for p in response.get("Parts", []):
                checksum = next((v for k, v in p.items() if k.startswith("Checksum")), None)
                parts.append(PartRecord(p["PartNumber"], p["Size"], p["ETag"], checksum))
            if not response.get("IsTruncated"):
                return parts
            marker = int(response["NextPartNumberMarker"])

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        uploads: list[UploadInfo] = []
        markers: dict[str, str] = {}
        while True:
            response = self._call(
                "ListMultipartUploads",
                self.client.list_multipart_uploads,
                Bucket=bucket,
                Prefix=prefix,
                **markers,
            )
            for u in response.get("Uploads", []):
                initiated = u.get("Initiated") or dt.datetime.fromtimestamp(0, dt.UTC)
                uploads.append(UploadInfo(u["Key"], u["UploadId"], initiated))
            if not response.get("IsTruncated"):
                return uploads
            markers = {
                "KeyMarker": response.get("NextKeyMarker", ""),
                "UploadIdMarker": response.get("NextUploadIdMarker", ""),
            }

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
        args = {
            **_object_args(options),
            **_checksum_args(checksum, checksum_value),
            **condition_args(mode),
        }
        response = self._call(
            "PutObject",
            self.client.put_object,
            mode,
            Bucket=bucket,
            Key=key,
            Body=PartBody(body, on_sent),
            ContentLength=len(body),
            **args,
        )
        info = _object_info(response, checksum)
        return ObjectInfo(
            info.etag, info.version_id, info.checksum or checksum_value, "FULL_OBJECT"
        )

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        return self.objects.iter_chunks(bucket, key)

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        self.objects.delete(bucket, key, if_match=if_match)

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self._call(
                "HeadObject",
                self.client.head_object,
                Bucket=bucket,
                Key=key,
                ChecksumMode="ENABLED",
            )
        except NotFound:
            return None
        info = _object_info(response, None)
        found = next(
            (v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"),
            None,
        )
        return ObjectInfo(
            info.etag,
            info.version_id,
            found,
            info.checksum_type,
            info.size,
            response.get("Metadata") or {},
        )

    def presign(self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int) -> str:
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        with translated("Presign"):
            return str(
                self.client.generate_presigned_url(
                    operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
                )
            )
