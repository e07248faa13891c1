"""The attributes of the objects the gateway writes: the operator's defaults, and what
clients may set through tus ``Upload-Metadata`` keys the operator allows.

``allowed`` maps a tus metadata key to an attribute: ``content-type``, ``cache-control``,
``content-disposition``, ``content-encoding``, ``content-language``, ``expires``,
``storage-class``, ``acl``, ``tagging`` (``k=v&k2=v2``), or ``metadata.NAME`` (the user
metadata ``x-amz-meta-NAME``). Encryption is the operator's alone (defaults only). A value a
client sends is checked when the upload is created, so a bad one is a 400 then, not a failed
completion later. The content type a client names in ``filetype`` or ``contentType`` is used
as before when it is a valid MIME type, and every object records its tus upload id in the
metadata ``tus-upload-id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s3stream.errors import ConfigError
from s3stream.gateway.model import Upload, metadata_value
from s3stream.store.attributes import ObjectOptions, parse_expires, parse_tagging

MAPPABLE = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "storage-class",
    "acl",
    "tagging",
)
_MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_META_PREFIX = "metadata."


def _value(attribute: str, text: str) -> Any:
    if attribute == "tagging":
        return parse_tagging(text)
    if attribute == "expires":
        return parse_expires(text)
    return text


@dataclass(frozen=True)
class ObjectAttributes:
    defaults: ObjectOptions = field(default_factory=ObjectOptions)
    allowed: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, attribute in self.allowed.items():
            name = attribute.removeprefix(_META_PREFIX)
            if attribute.startswith(_META_PREFIX):
                ObjectOptions(metadata={name: "x"})  # a valid metadata name
            elif attribute not in MAPPABLE:
                raise ConfigError(
                    f"tus metadata {key!r} cannot set {attribute!r}: map it to one of "
                    f"{', '.join(MAPPABLE)}, or metadata.NAME"
                )

    def for_upload(self, upload: Upload) -> ObjectOptions:
        """The object's attributes; :class:`ConfigError` names a bad client value."""
        content_type = metadata_value(upload.metadata, "filetype") or metadata_value(
            upload.metadata, "contentType"
        )
        if content_type is not None and not _MIME_RE.match(content_type):
            content_type = None
        given: dict[str, Any] = {}
        user: dict[str, str] = {}
        for key, attribute in self.allowed.items():
            text = metadata_value(upload.metadata, key)
            if text is None:
                continue
            try:
                if attribute.startswith(_META_PREFIX):
                    user[attribute.removeprefix(_META_PREFIX)] = text
                else:
                    given[attribute.replace("-", "_")] = _value(attribute, text)
            except ConfigError as exc:
                raise ConfigError(f"Upload-Metadata {key!r}: {exc}") from None
        user["tus-upload-id"] = upload.id
        try:
            client = ObjectOptions(content_type=content_type, **given)
            return self.defaults.updated(client).updated(ObjectOptions(metadata=user))
        except ConfigError as exc:
            raise ConfigError(f"Upload-Metadata: {exc}") from None
