"""The store layer: the narrow S3 protocols s3stream needs, their types, and their
implementations (botocore in :mod:`.boto`, in memory in :mod:`.memory`)."""

from s3stream.store.attributes import CustomerKey, ObjectOptions, RequestOptions
from s3stream.store.protocol import Objects, ObjectStore, OnSent, PartSource
from s3stream.store.types import (
    CREATE,
    OVERWRITE,
    Blob,
    Listed,
    ObjectInfo,
    PartRecord,
    PutMode,
    UploadInfo,
)

__all__ = [
    "CREATE",
    "OVERWRITE",
    "Blob",
    "CustomerKey",
    "Listed",
    "ObjectInfo",
    "ObjectOptions",
    "ObjectStore",
    "Objects",
    "OnSent",
    "PartRecord",
    "PartSource",
    "PutMode",
    "RequestOptions",
    "UploadInfo",
]
