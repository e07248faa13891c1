"""The store on botocore: client construction, the calls, and error translation."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Literal, TypeVar

import botocore.handlers
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from s3stream.checksums import ChecksumAlgorithm, encode
from s3stream.errors import ConfigError, NoSuchUpload, StoreError
from s3stream.limits import MiB
from s3stream.store.chunked import StreamedPartBody, trailer_name
from s3stream.store.protocol import (
    ObjectInfo,
    ObjectOptions,
    OnSent,
    PartReceipt,
    PartSource,
    UploadInfo,
)

T = TypeVar("T")

SEND_BLOCK = 1 * MiB
"""Bodies go to the socket in blocks of this size: large enough that Python's per-call cost
vanishes (8 KiB sends halve throughput), small enough for smooth progress."""

_RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "OperationAborted",
    }
)


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    payload_signing: bool = False,
    max_pool_connections: int = 64,
    connect_timeout: float = 10.0,
    read_timeout: float = 120.0,
) -> Any:
    """A botocore S3 client from the standard AWS configuration chain plus overrides.

    botocore's own retries are off (the engine retries with the part buffer it keeps),
    checksums are only computed by botocore when an operation requires them (the engine
    supplies its own), and payload signing is off unless asked for: over plain HTTP botocore
    would otherwise SHA-256 every byte.
    """
    try:
        session = botocore.session.Session(profile=profile)
        config = Config(
            retries={"total_max_attempts": 1},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"payload_signing_enabled": payload_signing},
            signature_version="s3v4",  # also for presigned URLs (botocore's default is SigV2)
        )
        client = session.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        # `Expect: 100-continue` costs a round trip per part (11% on a 20 ms link with 10 MiB
        # parts); all it saves is one part's bytes when a request is refused.
        client.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
        return client
    except ProfileNotFound as exc:
        raise ConfigError(f"{exc}: check AWS_PROFILE or the --profile name") from None
    except NoRegionError:
        raise ConfigError("no AWS region configured: set AWS_REGION or pass region=") from None
    except ValueError as exc:  # e.g. a malformed endpoint URL
        raise ConfigError(f"invalid S3 client setting: {exc}") from None


class _PartBody:
    """A request body over a memoryview (no copy) or a :class:`PartSource` (read as it is
    sent), in large sends. ``on_sent`` follows the position (a rewind, e.g. after the signer
    read the body to hash it, counts back)."""

    def __init__(self, data: memoryview | PartSource, on_sent: OnSent | None) -> None:
        self._data = data
        self._size = len(data) if isinstance(data, memoryview) else data.size
        self._pos = 0
        self._on_sent = on_sent
        self.source_error: Exception | None = None
        """What reading the source raised (the HTTP stack wraps it into a connection error)."""

    def __len__(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._move(max(0, min(self._size, base + offset)))
        return self._pos

    def read(self, size: int | None = -1) -> memoryview:
        # urllib3 asks for 16 KiB blocks; give it at least SEND_BLOCK per call instead.
        want = self._size if size is None or size < 0 else max(size, SEND_BLOCK)
        chunk = self._piece(want)
        self._move(self._pos + len(chunk))
        return chunk

    def readinto(self, buffer: memoryview) -> int:
        """Exactly as much as fits (awscrt's signer hashes the body this way)."""
        chunk = self._piece(len(buffer))
        buffer[: len(chunk)] = chunk
        self._move(self._pos + len(chunk))
        return len(chunk)

    def _piece(self, limit: int) -> memoryview:
        if isinstance(self._data, memoryview):
            return self._data[self._pos : self._pos + limit]
        if self._pos >= self._size or limit <= 0:
            return memoryview(b"")
        try:
            return self._data.wait_view(self._pos, limit)
        except Exception as exc:
            self.source_error = exc
            raise

    def _move(self, pos: int) -> None:
        if self._on_sent is not None and pos != self._pos:
            self._on_sent(pos - self._pos)
        self._pos = pos


def _translate(exc: Exception, operation: str) -> Exception:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{operation}: {code}: {err.get('Message') or exc}"
        if code == "NoSuchUpload":
            return NoSuchUpload(message, code=code, status=status, operation=operation)
        retryable = code in _RETRYABLE_CODES or (
            status is not None and (status >= 500 or status == 429)
        )
        return StoreError(
            message, code=code, status=status, retryable=retryable, operation=operation
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
            " or run `s3stream dev` for a local store"
        )
    if isinstance(exc, ParamValidationError):
        return ConfigError(f"{operation}: {exc}")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        name = type(exc).__name__
        return StoreError(
            f"{operation}: {name}: {exc}", code=name, retryable=True, operation=operation
        )
    if isinstance(exc, BotoCoreError):
        return StoreError(f"{operation}: {exc}", code=type(exc).__name__, operation=operation)
    return exc


@contextmanager
def translated(operation: str) -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise _translate(exc, operation) from exc


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


def _object_args(options: ObjectOptions) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if options.content_type:
        args["ContentType"] = options.content_type
    if options.metadata:
        args["Metadata"] = dict(options.metadata)
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

    def __init__(self, client: Any) -> None:
        self.client = client
        self.endpoint_url: str | None = client.meta.endpoint_url
        client.meta.events.register(
            "before-sign.s3.UploadPart", _frame_streamed_part, unique_id="s3stream-trailer"
        )

    def _call(self, operation: str, method: Callable[..., T], **kwargs: Any) -> T:
        with translated(operation):
            return method(**kwargs)

    def create_multipart_upload(
        self, bucket: str, key: str, *, checksum: ChecksumAlgorithm, options: ObjectOptions
    ) -> str:
        args = _object_args(options)
        if checksum is not ChecksumAlgorithm.NONE:
            args["ChecksumAlgorithm"] = checksum.s3_name
            if checksum.full_object:
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
    ) -> PartReceipt:
        return self._upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            _PartBody(body, on_sent),
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
        body: _PartBody | StreamedPartBody,
        checksum: ChecksumAlgorithm,
        sent_value: Callable[[], str | None],
        **args: Any,
    ) -> PartReceipt:
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
        return PartReceipt(part_number, response["ETag"], len(body), value or returned)

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
        parts: Sequence[PartReceipt],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        listed = []
        for part in parts:
            entry: dict[str, Any] = {"PartNumber": part.part_number, "ETag": part.etag}
            entry.update(_checksum_args(checksum, part.checksum))
            listed.append(entry)
        args: dict[str, Any] = {}
        if checksum.full_object and checksum_value is not None:
            args = {**_checksum_args(checksum, checksum_value), "ChecksumType": "FULL_OBJECT"}
        if if_none_match:
            args["IfNoneMatch"] = "*"
        response = self._call(
            "CompleteMultipartUpload",
            self.client.complete_multipart_upload,
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

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartReceipt]:
        parts: list[PartReceipt] = []
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
                parts.append(PartReceipt(p["PartNumber"], p["ETag"], p["Size"], checksum))
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
        if_none_match: bool = False,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo:
        args = {**_object_args(options), **_checksum_args(checksum, checksum_value)}
        if if_none_match:
            args["IfNoneMatch"] = "*"
        response = self._call(
            "PutObject",
            self.client.put_object,
            Bucket=bucket,
            Key=key,
            Body=_PartBody(body, on_sent),
            ContentLength=len(body),
            **args,
        )
        info = _object_info(response, checksum)
        return ObjectInfo(
            info.etag, info.version_id, info.checksum or checksum_value, "FULL_OBJECT"
        )

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self._call(
                "HeadObject",
                self.client.head_object,
                Bucket=bucket,
                Key=key,
                ChecksumMode="ENABLED",
            )
        except StoreError as exc:
            if exc.status == 404:
                return None
            raise
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
