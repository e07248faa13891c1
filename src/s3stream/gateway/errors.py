"""Protocol errors as data: one error type with a code, a message and an HTTP status.

Every failure the gateway answers on purpose is a :class:`TusError`; the handler turns it
into a response in one place (:func:`s3stream.gateway.handler.common.error_response`), and
anything else becomes a logged 500 there too. Stores raise these for protocol outcomes
(not found, gone, locked, offset mismatch) and let :class:`s3stream.errors.StoreError`
through for storage failures, which the same place maps to 503 or 500.
"""

from __future__ import annotations

from collections.abc import Mapping


class TusError(Exception):
    """An error answer: ``status`` with ``code`` (machine-readable) and ``message``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"TusError({self.status}, {self.code!r}, {self.message!r})"


def bad_request(message: str) -> TusError:
    return TusError(400, "BadRequest", message)


def not_found() -> TusError:
    return TusError(404, "NotFound", "upload not found")


def gone() -> TusError:
    return TusError(410, "Gone", "upload expired")


def offset_mismatch(expected: int, given: int) -> TusError:
    return TusError(
        409, "OffsetMismatch", f"Upload-Offset {given} does not match the upload's {expected}"
    )


def locked() -> TusError:
    return TusError(423, "Locked", "the upload is being written by another request; retry")


def too_large(message: str) -> TusError:
    return TusError(413, "TooLarge", message)


def checksum_mismatch() -> TusError:
    return TusError(460, "ChecksumMismatch", "the chunk's checksum does not match; discarded")
