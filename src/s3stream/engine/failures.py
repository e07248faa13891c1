"""What an upload's first failure becomes when it is raised to the caller."""

from __future__ import annotations

from s3stream.errors import (
    S3StreamError,
    StoreError,
    UploadAborted,
    UploadFailed,
    UploadInterrupted,
)


def aborted_error(bucket: str, key: str, upload_id: str | None) -> UploadAborted:
    error = UploadAborted(f"the upload to s3://{bucket}/{key} was aborted")
    error.locate(bucket, key, upload_id)
    return error


def upload_failure(
    first: BaseException,
    *,
    bucket: str,
    key: str,
    upload_id: str | None,
    parts_kept: bool,
    aborted: bool,
    interrupted: bool = False,
) -> BaseException:
    """The error to raise for ``first``: ``KeyboardInterrupt`` and friends as they are, an
    s3stream error located at the upload, an abort as :class:`UploadAborted`, an outage that
    outlasted the retries of a resumable upload (``interrupted``) as
    :class:`UploadInterrupted`, anything else (a store error included) as
    :class:`UploadFailed` caused by it."""
    if not isinstance(first, Exception):
        return first
    if isinstance(first, S3StreamError) and not isinstance(first, StoreError):
        return first.locate(bucket, key, upload_id)
    if aborted:
        return aborted_error(bucket, key, upload_id)
    if interrupted and upload_id is not None and isinstance(first, StoreError):
        error = UploadInterrupted(
            f"upload to s3://{bucket}/{key} was interrupted: {first.operation or 'the store'} "
            f"kept failing ({first.code}); its parts were kept under upload id {upload_id}",
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            parts_left=True,
        )
        error.__cause__ = first
        return error
    kept = parts_kept and upload_id is not None
    failure = UploadFailed(
        f"upload to s3://{bucket}/{key} failed: {first}"
        + (f"; its parts were kept under upload id {upload_id}" if kept else ""),
        bucket=bucket,
        key=key,
        upload_id=upload_id,
        parts_left=kept,
    )
    failure.__cause__ = first
    return failure


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` ended an upload because the store stayed unreachable or failing
    (a retryable store error the retries gave up on)."""
    return isinstance(error, StoreError) and error.retryable
