"""Stores on the native transport for tests that build their store by hand."""

from __future__ import annotations

from s3stream.embedded import EmbeddedS3
from s3stream.store.http.client import S3Client
from s3stream.store.http.environment import Endpoint, HttpSettings
from s3stream.store.http.sigv4 import Credentials
from s3stream.store.http.store import HttpStore
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT
from tests.support.moto import MotoS3


def native_store(
    server: EmbeddedS3 | MotoS3,
    *,
    endpoint_url: str | None = None,
    read_timeout: float = READ_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> HttpStore:
    """``server``'s store through the native transport (``endpoint_url``: e.g. a proxy's)."""
    env = server.env()
    settings = HttpSettings(
        endpoint=Endpoint.parse(endpoint_url or server.endpoint_url),
        region=env["AWS_REGION"],
        credentials=Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]),
        ca_bundle=env.get("AWS_CA_BUNDLE"),
    )
    client = S3Client(settings, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return HttpStore(client)
