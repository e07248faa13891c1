"""s3stream: true streaming uploads into Amazon S3 and S3-compatible stores."""

from .checksums import ChecksumAlgorithm
from .config import PRESETS, UploadConfig
from .errors import (
    ConfigError,
    NoSuchUpload,
    S3StreamError,
    SourceError,
    StoreError,
    UploadAborted,
    UploadFailed,
)
from .journal import Journal
from .plan import PartPlan, plan_parts
from .progress import Progress
from .recovery import IncompleteUpload
from .result import UploadResult
from .resume import PartRecord, ResumeInfo, SourceFingerprint
from .retry import RetryPolicy
from .session import UploadControl, UploadSession
from .uploader import S3StreamUploader

__all__ = [
    "PRESETS",
    "ChecksumAlgorithm",
    "ConfigError",
    "IncompleteUpload",
    "Journal",
    "NoSuchUpload",
    "PartPlan",
    "PartRecord",
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
    "UploadResult",
    "UploadSession",
    "plan_parts",
]
