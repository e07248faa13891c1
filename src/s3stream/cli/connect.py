"""The connection options every S3 command takes, and the uploader built from them."""

from __future__ import annotations

import argparse
import logging
import warnings
from typing import TYPE_CHECKING

from s3stream.cli.common import UsageError
from s3stream.cli.settings import (
    CA_BUNDLE,
    CLI_CONNECT_TIMEOUT,
    CLI_READ_TIMEOUT,
    ENDPOINT_URL,
    NO_VERIFY_SSL,
    PROFILE,
    REGION,
    STORE_PROFILE,
    Settings,
)
from s3stream.store.profiles import PROFILES
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT
from s3stream.store.transport import open_store

if TYPE_CHECKING:  # botocore loads only when a command connects, never for --help
    from s3stream.config import UploadConfig
    from s3stream.resume.journal import Journal
    from s3stream.uploader import S3StreamUploader

log = logging.getLogger(__name__)

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (or --profile) or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `s3stream dev` for a local store"
)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (default: the standard AWS configuration)")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3 endpoint, e.g. http://127.0.0.1:8333 (env S3STREAM_ENDPOINT_URL; "
        "AWS_ENDPOINT_URL_S3 is honoured too)",
    )
    group.add_argument("--profile", metavar="NAME", help="profile from ~/.aws/config")
    group.add_argument("--region", metavar="REGION", help="region to sign requests for")
    group.add_argument(
        "--store-profile",
        metavar="NAME",
        help=f"what the store can do: {', '.join(PROFILES)} (default: `s3stream doctor`'s "
        "cached result, the endpoint's host name, or a quick probe)",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="CA certificates to check the store's TLS certificate with (AWS_CA_BUNDLE too)",
    )
    group.add_argument(
        "--no-verify-ssl",
        action="store_true",
        default=None,
        help="do not check the store's TLS certificate (not recommended)",
    )
    group.add_argument(
        "--cli-connect-timeout",
        metavar="DURATION",
        help="give up a connection attempt after this long (10s); it is retried",
    )
    group.add_argument(
        "--cli-read-timeout",
        metavar="DURATION",
        help="give up a request whose store sends nothing for this long (2m); it is retried",
    )


def check_credentials(profile: str | None) -> None:
    """Fail before any data is read when the AWS chain yields no credentials."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except ProfileNotFound as exc:
        raise UsageError(f"{exc}: check --profile or AWS_PROFILE") from None
    except BotoCoreError as exc:
        raise UsageError(f"cannot load AWS credentials: {exc}") from None
    if credentials is None:
        raise UsageError(NO_CREDENTIALS)


def connect(
    settings: Settings,
    *,
    endpoint_url: str | None = None,
    journal: Journal | None = None,
    config: UploadConfig | None = None,
) -> S3StreamUploader:
    """An uploader for the configured endpoint, region and profile (credentials checked).

    ``endpoint_url`` is the fallback when no endpoint is configured (a journaled upload's
    own store); ``journal`` an already open journal; ``config`` the uploader's defaults
    (its ``max_bandwidth`` is shared by all its uploads).
    """
    endpoint = settings.get(ENDPOINT_URL) or endpoint_url
    region = settings.get(REGION)
    profile = settings.get(PROFILE)
    verify_ssl = not settings.get(NO_VERIFY_SSL)
    if not verify_ssl:
        # urllib3 (under botocore) warns on every request; said once, below, instead
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        log.warning("the store's TLS certificate is not checked (--no-verify-ssl)")
    log.debug("endpoint %s, region %s, profile %s", endpoint, region, profile)
    from s3stream.store.http.store import HttpStore
    from s3stream.uploader import S3StreamUploader

    store = open_store(
        endpoint_url=endpoint,
        region=region,
        profile=profile,
        verify=settings.get(CA_BUNDLE) if verify_ssl else False,
        connect_timeout=settings.get(CLI_CONNECT_TIMEOUT) or CONNECT_TIMEOUT,
        read_timeout=settings.get(CLI_READ_TIMEOUT) or READ_TIMEOUT,
    )
    if not isinstance(store, HttpStore):  # the native transport has its credentials already
        check_credentials(profile)
    return S3StreamUploader(
        store=store, journal=journal, store_profile=settings.get(STORE_PROFILE), config=config
    )
