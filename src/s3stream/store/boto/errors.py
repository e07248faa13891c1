"""The translation layer: botocore's exceptions become s3stream's, here and nowhere else.

Outcomes callers act on are typed: a missing key is :class:`NotFound`, a missing multipart
upload :class:`NoSuchUpload`, a failed ``If-Match`` :class:`PreconditionFailed`, a failed
``If-None-Match: *`` :class:`AlreadyExists` (the write's :class:`PutMode` tells the two
apart: S3 answers both with 412). Everything else is a :class:`StoreError` with the S3 code,
the HTTP status and whether trying again may help.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from s3stream.errors import (
    AlreadyExists,
    ConfigError,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from s3stream.store.types import OVERWRITE, PutMode

RETRYABLE_CODES = frozenset(
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
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
"""A missing key (HeadObject answers a bare 404, which botocore reports as ``404``)."""
PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
ALREADY_OWNED = "BucketAlreadyOwnedByYou"
"""CreateBucket of a bucket the caller has: the create-only outcome, for buckets."""


def translate(exc: Exception, operation: str, mode: PutMode = OVERWRITE) -> Exception:
    """The s3stream exception for a botocore one (anything else is returned as it is)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{operation}: {code}: {err.get('Message') or exc}"
        kind: type[StoreError] = StoreError
        if code == "NoSuchUpload":
            kind = NoSuchUpload
        elif code in NOT_FOUND_CODES:
            kind = NotFound
        elif code in PRECONDITION_CODES or status == 412:
            kind = AlreadyExists if mode.kind == "create" else PreconditionFailed
        elif code == ALREADY_OWNED:
            kind = AlreadyExists
        retryable = kind is StoreError and (
            code in RETRYABLE_CODES
            or (status is not None and (status >= 500 or status == 429) and status != 501)
        )  # 501 Not Implemented: the store will not do it, however often asked
        return kind(message, code=code, status=status, retryable=retryable, operation=operation)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
            " or run `s3stream dev` for a local store"
        )
    if isinstance(exc, ParamValidationError):
        return ConfigError(f"{operation}: {exc}")
    if isinstance(exc, SSLError):
        return StoreError(
            f"{operation}: the store's TLS certificate is not trusted ({_reason(exc)})",
            code="SSLError",
            operation=operation,
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        name = type(exc).__name__
        return StoreError(
            f"{operation}: {name}: {exc}", code=name, retryable=True, operation=operation
        )
    if isinstance(exc, BotoCoreError):
        return StoreError(f"{operation}: {exc}", code=type(exc).__name__, operation=operation)
    return exc


def _reason(exc: Exception) -> str:
    """The innermost reason of a TLS failure (``certificate verify failed: ...``)."""
    text = str(exc)
    found = text.rfind("certificate verify failed")
    return text[found:].split(" (_ssl")[0] if found >= 0 else text


@contextmanager
def translated(operation: str, mode: PutMode = OVERWRITE) -> Iterator[None]:
    """Run a botocore call, raising s3stream's exceptions for botocore's."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise translate(exc, operation, mode) from exc
