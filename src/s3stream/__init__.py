"""s3stream: true streaming uploads into Amazon S3 and S3-compatible stores.

The public names below are imported on first use (``s3stream.S3StreamUploader`` loads the
uploader and botocore then), so ``import s3stream``, and a command that needs none of them,
start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3stream.checksums import ChecksumAlgorithm
    from s3stream.config import PRESETS, UploadConfig
    from s3stream.engine.plan import PartPlan, plan_parts
    from s3stream.engine.progress import Progress
    from s3stream.engine.result import UploadResult
    from s3stream.engine.retry import RetryPolicy
    from s3stream.errors import (
        AlreadyExists,
        ConfigError,
        NoSuchUpload,
        NotFound,
        PreconditionFailed,
        S3StreamError,
        SourceError,
        StoreError,
        UploadAborted,
        UploadFailed,
        UploadInterrupted,
    )
    from s3stream.fileobj import AsyncObjectWriter, ObjectWriter, aopen, open
    from s3stream.resume.info import ResumeInfo, SourceFingerprint
    from s3stream.resume.journal import Journal
    from s3stream.resume.recovery import IncompleteUpload
    from s3stream.session import UploadControl, UploadSession
    from s3stream.store.attributes import CustomerKey
    from s3stream.store.types import PartRecord
    from s3stream.uploader import S3StreamUploader, UploadOptions

_WHERE = {
    "ChecksumAlgorithm": "s3stream.checksums",
    "PRESETS": "s3stream.config",
    "UploadConfig": "s3stream.config",
    "PartPlan": "s3stream.engine.plan",
    "plan_parts": "s3stream.engine.plan",
    "Progress": "s3stream.engine.progress",
    "UploadResult": "s3stream.engine.result",
    "RetryPolicy": "s3stream.engine.retry",
    "AlreadyExists": "s3stream.errors",
    "ConfigError": "s3stream.errors",
    "NoSuchUpload": "s3stream.errors",
    "NotFound": "s3stream.errors",
    "PreconditionFailed": "s3stream.errors",
    "S3StreamError": "s3stream.errors",
    "SourceError": "s3stream.errors",
    "StoreError": "s3stream.errors",
    "UploadAborted": "s3stream.errors",
    "UploadFailed": "s3stream.errors",
    "UploadInterrupted": "s3stream.errors",
    "AsyncObjectWriter": "s3stream.fileobj",
    "ObjectWriter": "s3stream.fileobj",
    "aopen": "s3stream.fileobj",
    "open": "s3stream.fileobj",
    "ResumeInfo": "s3stream.resume.info",
    "SourceFingerprint": "s3stream.resume.info",
    "Journal": "s3stream.resume.journal",
    "IncompleteUpload": "s3stream.resume.recovery",
    "UploadControl": "s3stream.session",
    "UploadSession": "s3stream.session",
    "CustomerKey": "s3stream.store.attributes",
    "PartRecord": "s3stream.store.types",
    "S3StreamUploader": "s3stream.uploader",
    "UploadOptions": "s3stream.uploader",
}
"""Where each public name lives."""

__all__ = [
    "PRESETS",
    "AlreadyExists",
    "AsyncObjectWriter",
    "ChecksumAlgorithm",
    "ConfigError",
    "CustomerKey",
    "IncompleteUpload",
    "Journal",
    "NoSuchUpload",
    "NotFound",
    "ObjectWriter",
    "PartPlan",
    "PartRecord",
    "PreconditionFailed",
    "Progress",
    "ResumeInfo",
    "RetryPolicy",
    "S3StreamError",
    "S3StreamUploader",
    "SourceError",
    "SourceFingerprint",
    "StoreError",
    "UploadAborted",
    "UploadConfig",
    "UploadControl",
    "UploadFailed",
    "UploadInterrupted",
    "UploadOptions",
    "UploadResult",
    "UploadSession",
    "aopen",
    "open",
    "plan_parts",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 's3stream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
