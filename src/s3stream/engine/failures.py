"""What an upload's first failure becomes when it is raised to the caller."""

from __future__ import annotations

from s3stream.errors import S3StreamError, StoreError, UploadAborted, UploadFailed


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
) -> BaseException:
    """The error to raise for ``first``: ``KeyboardInterrupt`` and friends as they are, an
    s3stream error located at the upload, an abort as :class:`UploadAborted`, anything else
    (a store error included) as :class:`UploadFailed` caused by it."""
    if not isinstance(first, Exception):
        return first
    if isinstance(first, S3StreamError) and not isinstance(first, StoreError):
        return first.locate(bucket, key, upload_id)
    if aborted:
        return aborted_error(bucket, key, upload_id)
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
