"""The CORS rule a bucket needs before a browser page can upload into it directly.

A page on another origin sends presigned ``PUT`` s (parts) and ``POST`` s (form uploads)
to the bucket and reads each part's ``ETag`` from the answer to complete the upload, so the
bucket must allow the page's origin, those methods, the request headers they carry (the
content type, the signed part checksum) and expose ``ETag``. Without ``ExposeHeaders: ETag``
the browser hides the header and Uppy fails with "Missing ETag". (SeaweedFS allows every
origin until a bucket has a rule, which hides the problem; AWS allows none.)
"""

from __future__ import annotations

from collections.abc import Sequence

from s3stream.errors import ConfigError
from s3stream.store.types import CorsRule

RULE_ID = "s3stream-browser-uploads"
UPLOAD_HEADERS = (
    "content-type",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
)
"""The request headers a browser upload sends: named, not ``*``, which some stores (R2)
do not accept."""


def check_origin(origin: str) -> str:
    """An origin as browsers send it (``scheme://host[:port]``, no path); ``*`` allowed."""
    if origin == "*":
        return origin
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
        raise ConfigError(
            f"origin {origin!r} is not scheme://host[:port] (e.g. https://app.example.com)"
        )
    return origin.rstrip("/")


def with_upload_origins(rules: Sequence[CorsRule], origins: Sequence[str]) -> list[CorsRule]:
    """``rules`` with s3stream's rule allowing ``origins`` too (other rules are kept)."""
    known: list[str] = []
    kept = []
    for rule in rules:
        if rule.id == RULE_ID:
            known += rule.origins
        else:
            kept.append(rule)
    merged = tuple(dict.fromkeys([*known, *(check_origin(o) for o in origins)]))
    return [*kept, CorsRule(origins=merged, allowed_headers=UPLOAD_HEADERS, id=RULE_ID)]


def allows_uploads(rules: Sequence[CorsRule], origin: str) -> bool:
    """Whether a page on ``origin`` can upload parts and read their ETags."""
    return any(rule.allows(origin, "PUT", "ETag") for rule in rules)
