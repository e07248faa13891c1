"""The translation layer: botocore's exceptions become s3stream's, here and nowhere else
(what a refusal means is decided in :mod:`s3stream.store.failures`, for every transport)."""

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

from s3stream.errors import ConfigError, StoreError
from s3stream.store.failures import refusal
from s3stream.store.types import OVERWRITE, PutMode


def translate(exc: Exception, operation: str, mode: PutMode = OVERWRITE) -> Exception:
    """The s3stream exception for a botocore one (anything else is returned as it is)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return refusal(operation, code, status, str(err.get("Message") or exc), mode)
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
