"""S3's REST encoding: object options as headers, XML answers read, XML requests written."""

from __future__ import annotations

import datetime as dt
import email.utils
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from email.message import Message
from urllib.parse import unquote

from s3stream.checksums import ChecksumAlgorithm
from s3stream.store.attributes import ObjectOptions, RequestOptions, format_tagging
from s3stream.store.types import ObjectInfo, PartRecord, PutMode

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

_OBJECT_HEADERS = {
    "content_type": "Content-Type",
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "storage_class": "x-amz-storage-class",
    "acl": "x-amz-acl",
    "sse": "x-amz-server-side-encryption",
    "sse_kms_key_id": "x-amz-server-side-encryption-aws-kms-key-id",
}
CUSTOMER_KEY_OPERATIONS = frozenset(
    {
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListParts",
        "PutObject",
        "HeadObject",
        "GetObject",
    }
)
"""The calls that carry the SSE-C key (the others take only requester-pays and the owner)."""


def escape(text: str) -> str:
    """``text`` as XML character data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def object_headers(options: ObjectOptions) -> dict[str, str]:
    """PutObject's and CreateMultipartUpload's headers for ``options``."""
    headers = {
        header: str(getattr(options, name))
        for name, header in _OBJECT_HEADERS.items()
        if getattr(options, name) is not None
    }
    if options.expires is not None:
        headers["Expires"] = email.utils.format_datetime(
            options.expires.astimezone(dt.UTC), usegmt=True
        )
    for name, value in (options.metadata or {}).items():
        headers[f"x-amz-meta-{name}"] = value
    if options.tagging:
        headers["x-amz-tagging"] = format_tagging(options.tagging)
    return headers


def request_headers(request: RequestOptions, operation: str) -> dict[str, str]:
    """The headers every call about the object carries (each call those it takes)."""
    headers = {}
    key = request.sse_customer_key
    if key is not None and operation in CUSTOMER_KEY_OPERATIONS:
        headers["x-amz-server-side-encryption-customer-algorithm"] = "AES256"
        headers["x-amz-server-side-encryption-customer-key"] = key.encoded()
        headers["x-amz-server-side-encryption-customer-key-MD5"] = key.md5
    if request.request_payer:
        headers["x-amz-request-payer"] = "requester"
    if request.expected_bucket_owner is not None:
        headers["x-amz-expected-bucket-owner"] = request.expected_bucket_owner
    return headers


def checksum_headers(algorithm: ChecksumAlgorithm, value: str | None) -> dict[str, str]:
    if algorithm is ChecksumAlgorithm.NONE or value is None:
        return {}
    return {f"x-amz-checksum-{algorithm.value}": value}


def condition_headers(mode: PutMode) -> dict[str, str]:
    if mode.kind == "create":
        return {"If-None-Match": "*"}
    if mode.kind == "replace":
        assert mode.etag is not None
        return {"If-Match": mode.etag}
    return {}


def object_info(
    headers: Message, algorithm: ChecksumAlgorithm | None, size: int | None = None
) -> ObjectInfo:
    """An object's ETag, version and checksum from an answer's headers."""
    checksum = None
    if algorithm is not None and algorithm is not ChecksumAlgorithm.NONE:
        checksum = headers.get(f"x-amz-checksum-{algorithm.value}")
    return ObjectInfo(
        etag=headers.get("ETag", ""),
        version_id=headers.get("x-amz-version-id"),
        checksum=checksum,
        checksum_type=headers.get("x-amz-checksum-type"),
        size=size,
    )


# ----------------------------------------------------------------------------- XML answers


def parse(body: bytes) -> ET.Element:
    """An answer's XML root (S3 may send whitespace ahead of it while it works)."""
    return ET.fromstring(body.lstrip())


def local(tag: str) -> str:
    """A tag without its namespace."""
    return tag.rpartition("}")[2]


def text(element: ET.Element, name: str, default: str = "") -> str:
    found = element.find(f"{{*}}{name}")  # in S3's namespace, or none
    return default if found is None or found.text is None else found.text


def children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    for child in element:
        if local(child.tag) == name:
            yield child


def truncated(root: ET.Element) -> bool:
    return text(root, "IsTruncated").strip().lower() == "true"


def decoded(root: ET.Element, value: str) -> str:
    """A key as listed: percent-decoded when the store honoured ``encoding-type=url``."""
    return unquote(value) if text(root, "EncodingType") == "url" else value


def error_of(body: bytes) -> tuple[str, str, str] | None:
    """``(code, message, region)`` of an ``<Error>`` answer, ``None`` for anything else."""
    try:
        root = parse(body)
    except ET.ParseError:
        return None
    if local(root.tag) != "Error":
        return None
    return text(root, "Code"), text(root, "Message"), text(root, "Region")


def part_records(root: ET.Element) -> list[PartRecord]:
    """The parts of a ListParts answer."""
    parts = []
    for part in children(root, "Part"):
        checksum = next(
            (
                c.text
                for c in part
                if local(c.tag).startswith("Checksum") and local(c.tag) != "ChecksumType"
            ),
            None,
        )
        parts.append(
            PartRecord(
                int(text(part, "PartNumber")),
                int(text(part, "Size", "0")),
                text(part, "ETag"),
                checksum,
            )
        )
    return parts


def timestamp(value: str) -> dt.datetime:
    try:
        found = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- XML requests


def complete_body(parts: Sequence[PartRecord], algorithm: ChecksumAlgorithm) -> bytes:
    """CompleteMultipartUpload's part list."""
    name = f"Checksum{algorithm.s3_name}"
    items = []
    for part in parts:
        checksum = ""
        if algorithm is not ChecksumAlgorithm.NONE and part.checksum is not None:
            checksum = f"<{name}>{escape(part.checksum)}</{name}>"
        items.append(
            f"<Part><PartNumber>{part.number}</PartNumber>"
            f"<ETag>{escape(part.etag)}</ETag>{checksum}</Part>"
        )
    return (
        f'<CompleteMultipartUpload xmlns="{NAMESPACE}">{"".join(items)}</CompleteMultipartUpload>'
    ).encode()
