"""Object attributes, checked as S3 checks them, before any request.

:class:`ObjectOptions` is what an object is created with (content headers, user metadata,
storage class, ACL, tags, server-side encryption), sent on PutObject and
CreateMultipartUpload alike. :class:`RequestOptions` is what every request about the object
carries: the SSE-C key (which S3 needs on every part, on completion and to read the object
back), requester-pays and the expected bucket owner. A :class:`CustomerKey` never shows its
bytes: its ``repr`` and the journal hold only its MD5.

https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode

from s3stream.errors import ConfigError

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
)
CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
CUSTOMER_KEY_BYTES = 32
MAX_TAGS = 10
MAX_METADATA_BYTES = 2048
"""S3's limit on user metadata: names and values together, in UTF-8."""

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_TAG_PUNCTUATION = set(" _.:/=+-@")


class CustomerKey:
    """An SSE-C key: 32 bytes for AES-256. Shown and stored only as its MD5."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | bytearray) -> None:
        if not isinstance(key, bytes | bytearray):
            raise ConfigError(f"an SSE-C key is 32 bytes, not a {type(key).__name__}")
        if len(key) != CUSTOMER_KEY_BYTES:
            raise ConfigError(
                f"the SSE-C key is {len(key)} bytes: AES256 needs exactly {CUSTOMER_KEY_BYTES} "
                "(e.g. `head -c 32 /dev/urandom > key.bin`, then --sse-c-key fileb://key.bin)"
            )
        self._key = bytes(key)

    @property
    def md5(self) -> str:
        """The key's MD5 in base64, as S3 reports it (``...-customer-key-MD5``)."""
        return base64.b64encode(hashlib.md5(self._key).digest()).decode()

    def encoded(self) -> str:
        """The key in base64, as the request header carries it."""
        return base64.b64encode(self._key).decode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CustomerKey) and hmac.compare_digest(
            other.encoded(), self.encoded()
        )

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"CustomerKey(md5={self.md5!r})"


def _header(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"{name} {value!r} is not a header value: use printable ASCII text "
            "(percent-encode other characters)"
        )


def check_metadata(metadata: Mapping[str, str]) -> None:
    """User metadata (``x-amz-meta-*``): token names, printable values, 2 KB in all."""
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"metadata must be a mapping of names to values, not {metadata!r}")
    total = 0
    for name, value in metadata.items():
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not _TOKEN.fullmatch(name)
            or not value.isprintable()
        ):
            raise ConfigError(f"metadata {name!r}: use a token name and a printable value")
        total += len(name.encode()) + len(value.encode())
    if total > MAX_METADATA_BYTES:
        raise ConfigError(
            f"metadata is {total} bytes: S3 takes at most {MAX_METADATA_BYTES} "
            "(names and values together)"
        )


def check_tagging(tags: Mapping[str, str]) -> None:
    """At most 10 tags; keys of 1-128 and values of 0-256 letters, digits, spaces and
    ``_ . : / = + - @``; no key starting with ``aws:``."""
    if not isinstance(tags, Mapping):
        raise ConfigError(f"tagging must be a mapping of tag keys to values, not {tags!r}")
    if len(tags) > MAX_TAGS:
        raise ConfigError(f"{len(tags)} tags: S3 takes at most {MAX_TAGS} per object")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(f"tag {key!r}: keys and values are text")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ConfigError(f"tag {key!r}: keys are 1-128 characters, values at most 256")
        if key.lower().startswith("aws:"):
            raise ConfigError(f"tag {key!r}: the aws: prefix is reserved")
        for text in (key, value):
            bad = sorted({c for c in text if not (c.isalnum() or c in _TAG_PUNCTUATION)})
            if bad:
                raise ConfigError(
                    f"tag {key!r}: {''.join(bad)!r} is not allowed: use letters, digits, "
                    "spaces and _ . : / = + - @"
                )


def parse_tagging(text: str) -> dict[str, str]:
    """``k=v&k2=v2`` (URL-encoded, as the aws CLI's ``--tagging``) into a checked mapping."""
    if not text.strip():
        raise ConfigError("empty tagging: write key=value&key2=value2")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ConfigError(f"tagging {text!r} is not key=value&key2=value2 (URL-encoded)") from None
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise ConfigError(f"tagging {text!r} names tag {key!r} twice")
        tags[key] = value
    check_tagging(tags)
    return tags


def parse_expires(text: str) -> dt.datetime:
    """ISO 8601 (``2030-01-01``, ``2030-01-01T12:00:00Z``; UTC unless a zone is given) or an
    HTTP date (``Tue, 01 Jan 2030 00:00:00 GMT``)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            import email.utils  # here: it loads the calendar module, for this alone

            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{text!r} is not a date: write e.g. 2030-01-01T00:00:00Z "
                "or 'Tue, 01 Jan 2030 00:00:00 GMT'"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def format_tagging(tags: Mapping[str, str]) -> str:
    """The ``x-amz-tagging`` header value."""
    return urlencode(list(tags.items()))


def _choice(name: str, value: object, valid: tuple[str, ...], *, upper: bool) -> str:
    found = value.upper() if upper and isinstance(value, str) else value
    if not isinstance(found, str) or found not in valid:
        raise ConfigError(f"unknown {name} {value!r}: use {', '.join(valid)}")
    return found


@dataclass(frozen=True, slots=True)
class ObjectOptions:
    """Attributes set when an object is created; ``None`` leaves the store's default."""

    content_type: str | None = None
    metadata: Mapping[str, str] | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: dt.datetime | None = None
    storage_class: str | None = None
    acl: str | None = None
    tagging: Mapping[str, str] | None = None
    sse: str | None = None
    """Server-side encryption: ``AES256`` (SSE-S3), ``aws:kms`` or ``aws:kms:dsse``."""
    sse_kms_key_id: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "content_type",
            "cache_control",
            "content_disposition",
            "content_encoding",
            "content_language",
            "sse_kms_key_id",
        ):
            value = getattr(self, name)
            if value is not None:
                _header(name, value)
        if self.metadata is not None:
            check_metadata(self.metadata)
        if self.tagging is not None:
            check_tagging(self.tagging)
        if self.expires is not None and (
            not isinstance(self.expires, dt.datetime) or self.expires.tzinfo is None
        ):
            raise ConfigError(
                f"expires must be a timezone-aware datetime, not {self.expires!r} "
                "(e.g. datetime(2030, 1, 1, tzinfo=datetime.UTC))"
            )
        if self.storage_class is not None:
            found = _choice("storage class", self.storage_class, STORAGE_CLASSES, upper=True)
            object.__setattr__(self, "storage_class", found)
        if self.acl is not None:
            object.__setattr__(self, "acl", _choice("ACL", self.acl, CANNED_ACLS, upper=False))
        if self.sse is not None:
            sse = "AES256" if str(self.sse).upper() == "AES256" else self.sse
            object.__setattr__(self, "sse", _choice("sse", sse, SSE_ALGORITHMS, upper=False))
        if self.sse_kms_key_id is not None and self.sse not in KMS_ALGORITHMS:
            raise ConfigError(
                "a KMS key id (sse_kms_key_id, --sse-kms-key-id) needs sse='aws:kms' "
                "(--sse aws:kms) or 'aws:kms:dsse'"
            )

    def updated(self, other: ObjectOptions) -> ObjectOptions:
        """These options with ``other``'s set fields over them (metadata merged)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(other):
            value = getattr(other, f.name)
            if value is not None:
                values[f.name] = value
        if self.metadata and other.metadata:
            values["metadata"] = {**self.metadata, **other.metadata}
        return ObjectOptions(**values)

    def as_fields(self) -> dict[str, Any]:
        """The fields that are set, by name (as :class:`~s3stream.config.UploadConfig` takes
        them)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def to_json(self) -> dict[str, Any]:
        """The set fields as JSON values (``expires`` in ISO 8601)."""
        found = self.as_fields()
        for name, value in found.items():
            if isinstance(value, dt.datetime):
                found[name] = value.isoformat()
            elif isinstance(value, Mapping):
                found[name] = dict(value)
        return found

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectOptions:
        values = dict(data)
        if isinstance(values.get("expires"), str):
            values["expires"] = dt.datetime.fromisoformat(values["expires"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """What every request about an object carries."""

    sse_customer_key: CustomerKey | None = None
    """The SSE-C key: S3 encrypts with it and needs it again for every part and every read."""
    request_payer: bool = False
    """Requester pays: confirms that the caller pays for the requests (``x-amz-request-payer``)."""
    expected_bucket_owner: str | None = None
    """The account that must own the bucket, else the store refuses (403)."""

    def __post_init__(self) -> None:
        if self.sse_customer_key is not None and not isinstance(self.sse_customer_key, CustomerKey):
            raise ConfigError("sse_customer_key must be a CustomerKey")
        owner = self.expected_bucket_owner
        if owner is not None and (not isinstance(owner, str) or not re.fullmatch(r"\d{12}", owner)):
            raise ConfigError(
                f"expected bucket owner {owner!r} is not an AWS account id: use its 12 digits"
            )

    def to_json(self) -> dict[str, Any]:
        """The options for the journal: the SSE-C key only as its MD5."""
        found: dict[str, Any] = {}
        if self.sse_customer_key is not None:
            found["sse_customer_key_md5"] = self.sse_customer_key.md5
        if self.request_payer:
            found["request_payer"] = True
        if self.expected_bucket_owner is not None:
            found["expected_bucket_owner"] = self.expected_bucket_owner
        return found


NO_REQUEST_OPTIONS = RequestOptions()
