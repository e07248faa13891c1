"""The store on botocore: the client, the translation of its errors, and both protocols."""

from s3stream.store.boto.client import CONNECT_TIMEOUT, READ_TIMEOUT, make_client
from s3stream.store.boto.errors import translate, translated
from s3stream.store.boto.objects import BotoObjects
from s3stream.store.boto.store import BotoStore

__all__ = [
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "BotoObjects",
    "BotoStore",
    "make_client",
    "translate",
    "translated",
]
