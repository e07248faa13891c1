"""Errors as data for every HTTP answer the gateway makes on purpose (tus, presign, the web
API), and the one mapping from anything raised to a status.

An :class:`HTTPError` carries a status, a machine-readable code, a message, headers and,
for JSON answers, extra fields. :func:`http_error` turns whatever a request raised into one:
typed store outcomes into their statuses (a missing key or upload 404, a failed condition
409, a retryable store failure 503, any other 502), an invalid argument into a 400, other
s3stream errors into a 500, and anything unexpected into a logged 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from s3stream.errors import (
    AlreadyExists,
    ConfigError,
    NotFound,
    PreconditionFailed,
    S3StreamError,
    StoreError,
)

log = logging.getLogger("s3stream.gateway")


class HTTPError(Exception):
    """An error answer: ``status`` with ``code`` (machine-readable) and ``message``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        self.details = details
        """Extra fields of a JSON answer (``offset`` and ``size`` of an unfinished upload)."""

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.code!r}, {self.message!r})"

    def json(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


def store_error_status(exc: StoreError) -> int:
    """The status for a failed store call."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PreconditionFailed | AlreadyExists):
        return 409
    return 503 if exc.retryable else 502


def http_error(exc: BaseException, where: str) -> HTTPError:
    """What to answer for ``exc`` raised while serving ``where`` (``METHOD path``); the
    failures that are the server's are logged here, once."""
    if isinstance(exc, HTTPError):
        if exc.status >= 500:  # a 503 (busy, retry) is load, not a failure
            level = logging.WARNING if exc.status == 503 else logging.ERROR
            log.log(level, "%s: %s", where, exc.message)
        return exc
    if isinstance(exc, StoreError):
        status = store_error_status(exc)
        if status == 404:
            return HTTPError(404, "NotFound", "not found")
        if status == 409:
            return HTTPError(409, "Conflict", "changed by another request; retry")
        log.error("%s: storage failed: %s", where, exc)
        return HTTPError(status, exc.code, "storage failed; retry later")
    if isinstance(exc, ConfigError):  # an argument the request carried: nothing was sent
        return HTTPError(400, "BadRequest", str(exc))
    if isinstance(exc, S3StreamError):
        log.error("%s: %s", where, exc)
        return HTTPError(500, "Failed", "upload failed")
    log.error("%s: unexpected error", where, exc_info=exc)
    return HTTPError(500, "Internal", "internal error")


def bad_request(message: str) -> HTTPError:
    return HTTPError(400, "BadRequest", message)


def not_found() -> HTTPError:
    return HTTPError(404, "NotFound", "upload not found")


def gone() -> HTTPError:
    return HTTPError(410, "Gone", "upload expired")


def offset_mismatch(expected: int, given: int) -> HTTPError:
    return HTTPError(
        409, "OffsetMismatch", f"Upload-Offset {given} does not match the upload's {expected}"
    )


def locked() -> HTTPError:
    return HTTPError(423, "Locked", "the upload is being written by another request; retry")


def too_large(message: str) -> HTTPError:
    return HTTPError(413, "TooLarge", message)


def checksum_mismatch() -> HTTPError:
    return HTTPError(460, "ChecksumMismatch", "the chunk's checksum does not match; discarded")
