"""The object-attribute flags, named as the aws CLI names them: ``--sse``,
``--sse-kms-key-id``, ``--sse-c``, ``--sse-c-key``, ``--storage-class``, ``--acl``,
``--cache-control``, ``--content-disposition``, ``--content-encoding``,
``--content-language``, ``--expires``, ``--tagging``, ``--expected-bucket-owner`` and
``--request-payer`` (``--content-type`` and ``--metadata`` are ``cp``'s own).

Each is a setting (flag > ``S3STREAM_*`` > config file): encryption, storage class, ACL,
the bucket owner and requester-pays also from the environment; the per-object headers from
flags and the config file only. The config-file key of ``--expires`` is ``object-expires``
(``expires`` is ``presign``'s URL lifetime). An SSE-C key is never shown: not in errors,
not in logs, not in the journal.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from s3stream.cli.common import UsageError
from s3stream.cli.settings import Setting, Settings, boolean, setting, text
from s3stream.store.attributes import (
    CANNED_ACLS,
    SSE_ALGORITHMS,
    CustomerKey,
    ObjectOptions,
    RequestOptions,
    parse_expires,
    parse_tagging,
)


def _attribute(name: str) -> Any:
    """A converter that checks one :class:`ObjectOptions` field as the library does."""

    def convert(value: object) -> Any:
        given: dict[str, Any] = {name: text(value)}
        return getattr(ObjectOptions(**given), name)

    return convert


def customer_key(value: object) -> CustomerKey:
    """The key as text (its UTF-8 bytes, as the aws CLI takes it) or ``fileb://PATH``."""
    found = text(value)
    if found.startswith("fileb://"):
        path = Path(found[len("fileb://") :]).expanduser()
        try:
            return CustomerKey(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read the key file {path}: {exc.strerror}") from None
    return CustomerKey(found.encode())


def expires(value: object) -> dt.datetime:
    return parse_expires(text(value))


def tagging(value: object) -> dict[str, str]:
    if isinstance(value, dict):  # a TOML table
        return parse_tagging("&".join(f"{k}={v}" for k, v in value.items()))
    return parse_tagging(text(value))


def requester(value: object) -> bool:
    found = text(value).lower()
    return True if found == "requester" else boolean(found)


def owner(value: object) -> str:
    found = text(value)
    RequestOptions(expected_bucket_owner=found)
    return found


SSE = setting("sse", _attribute("sse"))
SSE_KMS_KEY_ID = setting("sse-kms-key-id", text)
SSE_C = setting("sse-c", _attribute("sse"))
SSE_C_KEY = setting("sse-c-key", customer_key, secret=True)
STORAGE_CLASS = setting("storage-class", _attribute("storage_class"))
ACL = setting("acl", _attribute("acl"))
CACHE_CONTROL = setting("cache-control", _attribute("cache_control"), env=False)
CONTENT_DISPOSITION = setting("content-disposition", _attribute("content_disposition"), env=False)
CONTENT_ENCODING = setting("content-encoding", _attribute("content_encoding"), env=False)
CONTENT_LANGUAGE = setting("content-language", _attribute("content_language"), env=False)
OBJECT_EXPIRES = setting("object-expires", expires, env=False)
TAGGING = setting("tagging", tagging, env=False)
EXPECTED_BUCKET_OWNER = setting("expected-bucket-owner", owner)
REQUEST_PAYER = setting("request-payer", requester)

OPTIONS: dict[str, Setting[Any]] = {
    "storage_class": STORAGE_CLASS,
    "acl": ACL,
    "cache_control": CACHE_CONTROL,
    "content_disposition": CONTENT_DISPOSITION,
    "content_encoding": CONTENT_ENCODING,
    "content_language": CONTENT_LANGUAGE,
    "expires": OBJECT_EXPIRES,
    "tagging": TAGGING,
    "expected_bucket_owner": EXPECTED_BUCKET_OWNER,
    "request_payer": REQUEST_PAYER,
}
"""The upload option each plain attribute setting becomes (encryption is checked apart)."""


def add_attribute_options(parser: argparse.ArgumentParser, *, per_request: bool = True) -> None:
    """The attribute flags, in a group of their own; ``per_request`` adds those that go
    with every request (``--sse-c``, ``--sse-c-key``, ``--expected-bucket-owner``,
    ``--request-payer``)."""
    group = parser.add_argument_group("object attributes (as in the aws CLI)")
    group.add_argument(
        "--sse",
        nargs="?",
        const="AES256",
        metavar="ALG",
        help=f"server-side encryption: {', '.join(SSE_ALGORITHMS)} (alone: AES256)",
    )
    group.add_argument("--sse-kms-key-id", metavar="ID", help="the KMS key, with --sse aws:kms")
    if per_request:
        group.add_argument(
            "--sse-c",
            nargs="?",
            const="AES256",
            metavar="AES256",
            help="encrypt with your own key (SSE-C); needs --sse-c-key",
        )
        group.add_argument(
            "--sse-c-key",
            metavar="KEY",
            help="the 32-byte SSE-C key, as text or fileb://PATH (never stored: "
            "`resume` asks for it again)",
        )
    group.add_argument(
        "--storage-class", metavar="CLASS", help="STANDARD, STANDARD_IA, GLACIER_IR, ..."
    )
    group.add_argument("--acl", metavar="ACL", help=f"a canned ACL: {', '.join(CANNED_ACLS)}")
    group.add_argument("--cache-control", metavar="VALUE", help="Cache-Control header")
    group.add_argument(
        "--content-disposition", metavar="VALUE", help="e.g. 'attachment; filename=\"a.pdf\"'"
    )
    group.add_argument("--content-encoding", metavar="VALUE", help="e.g. gzip")
    group.add_argument("--content-language", metavar="VALUE", help="e.g. en-US")
    group.add_argument(
        "--expires",
        dest="object_expires",
        metavar="DATE",
        help="Expires header: ISO 8601 (2030-01-01T00:00:00Z) or an HTTP date",
    )
    group.add_argument("--tagging", metavar="TAGS", help="tags as k=v&k2=v2 (URL-encoded)")
    if per_request:
        group.add_argument(
            "--expected-bucket-owner", metavar="ACCOUNT", help="refuse a bucket of another account"
        )
        group.add_argument(
            "--request-payer",
            nargs="?",
            const="requester",
            metavar="requester",
            help="confirm that you pay for requests to a requester-pays bucket",
        )


def object_defaults(settings: Settings) -> ObjectOptions:
    """The attributes alone (no per-request settings): the gateway's defaults."""
    found = attribute_options(settings, per_request=False)
    return ObjectOptions(**{k: v for k, v in found.items() if k not in _PER_REQUEST})


_PER_REQUEST = ("expected_bucket_owner", "request_payer", "sse_customer_key")


def attribute_options(settings: Settings, *, per_request: bool = True) -> dict[str, Any]:
    """The upload options the attribute settings give (``None`` ones left out)."""
    found = {
        name: settings.get(item)
        for name, item in OPTIONS.items()
        if per_request or name not in _PER_REQUEST
    }
    sse, kms_key = settings.get(SSE), settings.get(SSE_KMS_KEY_ID)
    sse_c = settings.get(SSE_C) if per_request else None
    key = settings.get(SSE_C_KEY) if per_request else None
    if kms_key is not None and sse not in ("aws:kms", "aws:kms:dsse"):
        raise UsageError("--sse-kms-key-id needs --sse aws:kms (or --sse aws:kms:dsse)")
    if sse_c is not None and sse_c != "AES256":
        raise UsageError(f"--sse-c {sse_c}: SSE-C encrypts with AES256 only")
    if sse_c is not None and key is None:
        raise UsageError("--sse-c needs the key: --sse-c-key KEY or --sse-c-key fileb://PATH")
    if key is not None and sse_c is None:
        raise UsageError("--sse-c-key needs --sse-c (as in the aws CLI)")
    if sse is not None and sse_c is not None:
        raise UsageError("--sse and --sse-c exclude each other: choose one encryption")
    found.update(sse=sse, sse_kms_key_id=kms_key, sse_customer_key=key)
    return {name: value for name, value in found.items() if value is not None}
