"""The one exception tree of s3stream.

::

    S3StreamError
    ├── ConfigError        bad arguments or configuration, raised before any request
    │   └── MissingExtra   an optional part whose dependencies are not installed
    ├── SourceError        the data source misbehaved (short, long, unreadable, changed)
    ├── StoreError         a failed store call, translated from botocore at the store boundary
    │   ├── NotFound            no such object (or a conditional delete found none)
    │   │   └── NoSuchUpload    the multipart upload is gone (aborted or completed elsewhere)
    │   ├── PreconditionFailed  a write on condition of one version (If-Match) found another
    │   └── AlreadyExists       a create-only write (If-None-Match: *) found the key taken
    ├── UploadFailed       an upload could not be completed (``__cause__`` says why)
    │   └── UploadInterrupted  the store stayed unreachable; the parts were kept to resume
    └── UploadAborted      the upload was aborted on request

Errors that concern one upload carry ``bucket``, ``key`` and ``upload_id`` (``None`` before
a multipart upload exists) so that a caller who kept the parts can resume or clean up.
"""

from __future__ import annotations

from collections.abc import Sequence


class S3StreamError(Exception):
    """Base class of every error s3stream raises on purpose."""

    bucket: str | None = None
    key: str | None = None
    upload_id: str | None = None

    def locate(self, bucket: str, key: str, upload_id: str | None) -> S3StreamError:
        """Attach the upload's coordinates (first attachment wins) and return self."""
        if self.bucket is None:
            self.bucket, self.key, self.upload_id = bucket, key, upload_id
        return self


class ConfigError(S3StreamError, ValueError):
    """An argument or a configuration value is invalid. Nothing was sent."""


class MissingExtra(ConfigError, ImportError):
    """A part of s3stream needs an extra that is not installed; the message names the
    ``pip install`` command that adds it. Also an :class:`ImportError`, as the missing module
    would have been.

    ``what`` names the part (``"s3stream serve"``), ``extras`` the extras it needs
    (``("server",)``), ``missing`` what was not found (``("starlette",)``).
    """

    def __init__(self, what: str, extras: Sequence[str], missing: Sequence[str]) -> None:
        self.what = what
        self.extras = tuple(extras)
        self.missing = tuple(missing)
        quoted = [repr(extra) for extra in self.extras]
        needs = (
            f"the {quoted[0]} extra"
            if len(quoted) == 1
            else f"the {', '.join(quoted[:-1])} and {quoted[-1]} extras"
        )
        super().__init__(
            f"{what} needs {needs} ({' and '.join(self.missing)} not found): "
            f"pip install 's3stream[{','.join(self.extras)}]'"
        )


class SourceError(S3StreamError):
    """The source could not be read, or delivered fewer or more bytes than declared."""


class StoreError(S3StreamError):
    """A store call failed.

    ``code`` is the S3 error code (``SlowDown``, ``AccessDenied``) or a transport error name,
    ``status`` the HTTP status (``None`` when no response came), ``retryable`` whether trying
    the same call again may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retryable: bool = False,
        operation: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.operation = operation


class NotFound(StoreError):
    """The object does not exist (a 404 for a key)."""


class NoSuchUpload(NotFound):
    """The multipart upload does not exist (any more)."""


class PreconditionFailed(StoreError):
    """A write or delete on condition of one version (``If-Match``) found another."""


class AlreadyExists(StoreError):
    """A create-only write (``If-None-Match: *``) found an object under the key."""


class UploadFailed(S3StreamError):
    """The upload failed; ``__cause__`` holds the error that ended it."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        key: str,
        upload_id: str | None,
        parts_left: bool = False,
    ) -> None:
        super().__init__(message)
        self.bucket, self.key, self.upload_id = bucket, key, upload_id
        self.parts_left = parts_left
        """True when the multipart upload was left in place (``leave_parts_on_error``)."""


class UploadInterrupted(UploadFailed):
    """The store failed or could not be reached for the whole ``retry_for`` budget while a
    file was uploaded: the parts sent were kept and journaled, and
    ``S3StreamUploader.resume(upload_id)`` (``s3stream resume ID``) continues the upload."""


class UploadAborted(S3StreamError):
    """The upload was aborted on request; its multipart upload was aborted too."""
