"""s3stream: true streaming uploads into Amazon S3 and S3-compatible stores."""

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
