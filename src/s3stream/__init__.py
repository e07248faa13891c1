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
from .plan import PartPlan, plan_parts
from .progress import Progress
from .result import UploadResult
from .retry import RetryPolicy
from .session import UploadSession
from .uploader import S3StreamUploader

__all__ = [
    "PRESETS",
    "ChecksumAlgorithm",
    "ConfigError",
    "NoSuchUpload",
    "PartPlan",
    "Progress",
    "RetryPolicy",
    "S3StreamError",
    "S3StreamUploader",
    "SourceError",
    "StoreError",
    "UploadAborted",
    "UploadConfig",
    "UploadFailed",
    "UploadResult",
    "UploadSession",
    "plan_parts",
]
