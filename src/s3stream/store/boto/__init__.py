"""The store on botocore: the client, the translation of its errors, and both protocols.

The names are imported on first use, so that importing a light module of this package (the
timeouts in :mod:`.client` are read by the CLI's settings) does not load botocore."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3stream.store.boto.client import make_client
    from s3stream.store.boto.errors import translate, translated
    from s3stream.store.boto.objects import BotoObjects
    from s3stream.store.boto.store import BotoStore

_WHERE = {
    "BotoObjects": "s3stream.store.boto.objects",
    "BotoStore": "s3stream.store.boto.store",
    "make_client": "s3stream.store.boto.client",
    "translate": "s3stream.store.boto.errors",
    "translated": "s3stream.store.boto.errors",
}
__all__ = ["BotoObjects", "BotoStore", "make_client", "translate", "translated"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 's3stream.store.boto' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
