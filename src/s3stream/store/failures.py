"""What a store's refusal means, the same for every transport.

Outcomes callers act on are typed: a missing key is :class:`NotFound`, a missing multipart
upload :class:`NoSuchUpload`, a failed ``If-Match`` :class:`PreconditionFailed`, a failed
``If-None-Match: *`` :class:`AlreadyExists` (the write's :class:`PutMode` tells the two
apart: S3 answers both with 412). Everything else is a :class:`StoreError` with the S3 code,
the HTTP status and whether trying again may help.
"""

from __future__ import annotations

from s3stream.errors import AlreadyExists, NoSuchUpload, NotFound, PreconditionFailed, StoreError
from s3stream.store.types import OVERWRITE, PutMode

RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "OperationAborted",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
"""A missing key (HeadObject answers a bare 404, reported as ``404``)."""
PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
ALREADY_OWNED = "BucketAlreadyOwnedByYou"
"""CreateBucket of a bucket the caller has: the create-only outcome, for buckets."""


def refusal(
    operation: str,
    code: str,
    status: int | None,
    message: str,
    mode: PutMode = OVERWRITE,
) -> StoreError:
    """The exception for the store's answer ``status`` with S3 error ``code``."""
    kind: type[StoreError] = StoreError
    if code == "NoSuchUpload":
        kind = NoSuchUpload
    elif code in NOT_FOUND_CODES:
        kind = NotFound
    elif code in PRECONDITION_CODES or status == 412:
        kind = AlreadyExists if mode.kind == "create" else PreconditionFailed
    elif code == ALREADY_OWNED:
        kind = AlreadyExists
    retryable = kind is StoreError and (
        code in RETRYABLE_CODES
        or (status is not None and (status >= 500 or status == 429) and status != 501)
    )  # 501 Not Implemented: the store will not do it, however often asked
    return kind(
        f"{operation}: {code}: {message}",
        code=code,
        status=status,
        retryable=retryable,
        operation=operation,
    )
