"""Which transport a store is reached through: the native one when the configuration is
plain, botocore otherwise (see :mod:`s3stream.store.http`).

``S3STREAM_TRANSPORT`` overrides the choice: ``botocore`` always, ``native`` always (an
error names what the native transport cannot do), ``auto`` (the default) picks.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from s3stream.errors import ConfigError
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT

if TYPE_CHECKING:
    from s3stream.store.boto import BotoStore
    from s3stream.store.http.store import HttpStore

log = logging.getLogger(__name__)

TRANSPORT_ENV = "S3STREAM_TRANSPORT"
TRANSPORTS = ("auto", "native", "botocore")


def open_store(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    payload_signing: bool = False,
    verify: bool | str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    keys: tuple[str, str] | None = None,
) -> BotoStore | HttpStore:
    """The store at ``endpoint_url`` (or AWS), reached natively when the configuration
    allows it. ``verify``: a CA bundle file, ``False`` (no check), ``None`` (the default).
    ``keys``: an access key and secret key instead of the credential chain's."""
    choice = (os.environ.get(TRANSPORT_ENV) or "auto").strip().lower()
    if choice not in TRANSPORTS:
        raise ConfigError(f"{TRANSPORT_ENV}={choice!r}: use one of {', '.join(TRANSPORTS)}")
    if choice != "botocore":
        from s3stream.store.http.environment import NotNative, resolve

        try:
            if payload_signing:
                raise NotNative("payload signing is asked for")
            settings = resolve(
                endpoint_url=endpoint_url, region=region, profile=profile, verify=verify, keys=keys
            )
        except NotNative as exc:
            if choice == "native":
                raise ConfigError(
                    f"{TRANSPORT_ENV}=native cannot be used: {exc} (unset {TRANSPORT_ENV})"
                ) from None
            log.debug("reaching the store through botocore: %s", exc)
        except ValueError as exc:
            raise ConfigError(f"invalid S3 client setting: {exc}") from None
        else:
            from s3stream.store.http.client import S3Client
            from s3stream.store.http.store import HttpStore

            log.debug("reaching the store through the native transport")
            client = S3Client(settings, connect_timeout=connect_timeout, read_timeout=read_timeout)
            return HttpStore(client)
    from s3stream.store.boto import BotoStore, make_client

    return BotoStore(
        make_client(
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            payload_signing=payload_signing,
            verify=verify,
            access_key=None if keys is None else keys[0],
            secret_key=None if keys is None else keys[1],
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    )
