"""The botocore S3 client s3stream uses: the standard AWS chain, tuned for large parts."""

from __future__ import annotations

from typing import Any

from s3stream.errors import ConfigError
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    session_token: str | None = None,
    payload_signing: bool = False,
    max_pool_connections: int = 64,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    verify: bool | str | None = None,
) -> Any:
    """A botocore S3 client from the standard AWS configuration chain plus overrides.

    botocore's own retries are off (the engine retries with the part buffer it keeps),
    checksums are only computed by botocore when an operation requires them (the engine
    supplies its own), and payload signing is off unless asked for: over plain HTTP botocore
    would otherwise SHA-256 every byte. ``verify`` is how the store's TLS certificate is
    checked: a CA bundle file, ``False`` (not at all), or ``None`` (the system's trust store,
    or ``AWS_CA_BUNDLE``).
    """
    import botocore.handlers  # here: importing this module does not load botocore
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import NoRegionError, ProfileNotFound

    try:
        session = botocore.session.Session(profile=profile)
        config = Config(
            retries={"total_max_attempts": 1},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"payload_signing_enabled": payload_signing},
            signature_version="s3v4",  # also for presigned URLs (botocore's default is SigV2)
        )
        client = session.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=config,
            verify=verify,
        )
        # `Expect: 100-continue` costs a round trip per part (11% on a 20 ms link with 10 MiB
        # parts); all it saves is one part's bytes when a request is refused.
        client.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
        return client
    except ProfileNotFound as exc:
        raise ConfigError(f"{exc}: check --profile or AWS_PROFILE") from None
    except NoRegionError:
        raise ConfigError("no AWS region configured: set AWS_REGION or pass region=") from None
    except ValueError as exc:  # e.g. a malformed endpoint URL
        raise ConfigError(f"invalid S3 client setting: {exc}") from None
