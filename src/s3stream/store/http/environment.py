"""What the native transport needs from the AWS configuration, when it can be read cheaply.

The native transport signs with static credentials and talks to one endpoint. This module
reads the standard places (arguments, ``AWS_*`` variables, the shared config and
credentials files) the way botocore does, and answers ``None`` with the reason whenever the
configuration asks for more than that: a role to assume, SSO, a credential process, instance
metadata, a proxy, FIPS or dual-stack endpoints, a region outside AWS's standard partition.
Those keep going through botocore, which does them well.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from s3stream.store.http.sigv4 import Credentials

Addressing = Literal["path", "virtual", "auto"]

NEEDS_BOTOCORE = frozenset(
    {
        "role_arn",
        "source_profile",
        "credential_source",
        "credential_process",
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "login_session",
        "services",
        "use_fips_endpoint",
        "use_dualstack_endpoint",
    }
)
"""Profile keys whose meaning only botocore implements."""
STANDARD_REGION = re.compile(r"(?:us|eu|ap|sa|ca|me|af|il|mx)-(?!gov|iso)[a-z]+-\d+")
"""Regions of AWS's standard partition, whose S3 endpoint is ``s3.<region>.amazonaws.com``."""
PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    """As it goes in the ``Host`` header (with the port when it is not the scheme's)."""
    hostname: str
    port: int
    path: str = ""
    """A path prefix of the endpoint URL (no trailing slash)."""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint URL {url!r}: use http(s)://host[:port]")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        hostname = parts.hostname
        shown = f"[{hostname}]" if ":" in hostname else hostname
        host = shown if port == default else f"{shown}:{port}"
        return cls(parts.scheme, host, hostname, port, parts.path.rstrip("/"))

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def is_ip(self) -> bool:
        return bool(re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", self.hostname))


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Everything the native transport connects and signs with."""

    endpoint: Endpoint | None
    """The store's endpoint; ``None`` for AWS (regional, per bucket)."""
    region: str
    credentials: Credentials
    addressing: Addressing = "auto"
    verify: bool = True
    ca_bundle: str | None = None
    """CA certificates to trust (``None``: the same bundle botocore uses)."""


class NotNative(Exception):
    """The configuration needs botocore; the message says why."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _read(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(os.path.expanduser(path))
    except configparser.Error as exc:
        raise NotNative(f"{path} is not plain INI ({type(exc).__name__})") from None
    return parser


def _section(parser: configparser.RawConfigParser, name: str) -> dict[str, str] | None:
    return dict(parser.items(name)) if parser.has_section(name) else None


def _nested(value: str) -> dict[str, str]:
    """A nested block (``s3 =`` followed by indented ``key = value`` lines)."""
    found = {}
    for line in value.splitlines():
        key, sep, item = line.partition("=")
        if sep:
            found[key.strip()] = item.strip()
    return found


def resolve(
    *,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    verify: bool | str | None,
    keys: tuple[str, str] | None = None,
) -> HttpSettings:
    """The native transport's settings, or :class:`NotNative` with the reason. ``keys``:
    an access key and secret key to sign with instead of the profile's credentials."""
    env = os.environ
    if any(env.get(name) or env.get(name.upper()) for name in PROXY_VARIABLES):
        raise NotNative("a proxy is configured")
    if _flag(env.get("AWS_USE_FIPS_ENDPOINT")) or _flag(env.get("AWS_USE_DUALSTACK_ENDPOINT")):
        raise NotNative("FIPS or dual-stack endpoints are asked for")
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        raise NotNative("credentials come from a web identity or a container")
    name = profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    config = _read(env.get("AWS_CONFIG_FILE", "~/.aws/config"))
    section = _section(config, name if name == "default" else f"profile {name}")
    if section is None and name == "default":
        section = _section(config, "profile default")
    settings = section or {}
    special = NEEDS_BOTOCORE & settings.keys()
    if special:
        raise NotNative(f"profile {name} sets {', '.join(sorted(special))}")
    s3 = _nested(settings.get("s3", ""))
    addressing = s3.pop("addressing_style", "auto")
    nested_endpoint = s3.pop("endpoint_url", None)
    if s3 or addressing not in ("auto", "path", "virtual"):
        raise NotNative(f"profile {name} sets s3 options the native transport does not know")

    shared = _section(_read(env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")), name)
    if keys is not None:
        credentials = Credentials(*keys)
    else:
        if name != "default" and section is None and shared is None:
            raise NotNative(f"profile {name} is in neither AWS config file")
        credentials = _credentials(name, profile, shared, settings)

    ignore = _flag(env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) or _flag(
        settings.get("ignore_configured_endpoint_urls")
    )
    url = endpoint_url
    if url is None and not ignore:
        url = (
            env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
            or nested_endpoint
            or settings.get("endpoint_url")
        )
    found_region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    found_region = found_region or settings.get("region")
    endpoint = Endpoint.parse(url) if url else None
    if endpoint is None and (found_region is None or not STANDARD_REGION.fullmatch(found_region)):
        raise NotNative(f"AWS region {found_region!r} needs botocore's endpoint rules")
    ca_bundle = env.get("AWS_CA_BUNDLE") or settings.get("ca_bundle")
    if isinstance(verify, str):
        ca_bundle = verify
    return HttpSettings(
        endpoint=endpoint,
        region=found_region or "us-east-1",
        credentials=credentials,
        addressing=addressing,  # type: ignore[arg-type]  # checked above
        verify=verify is not False,
        ca_bundle=ca_bundle or None,
    )


def _credentials(
    name: str, profile: str | None, shared: dict[str, str] | None, settings: dict[str, str]
) -> Credentials:
    """Static credentials, in botocore's order: the environment (unless a profile was passed
    explicitly), the shared credentials file, the config file."""
    env = os.environ
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN")
        return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], token)
    for found in (shared, settings):
        if found and found.get("aws_access_key_id") and found.get("aws_secret_access_key"):
            token = found.get("aws_session_token") or found.get("aws_security_token")
            return Credentials(found["aws_access_key_id"], found["aws_secret_access_key"], token)
    raise NotNative(f"profile {name} has no static credentials")


def default_ca_bundle() -> str:
    """The CA bundle trusted by default: certifi's, which botocore uses too when installed
    (and s3stream depends on it, so both transports trust the same roots)."""
    import certifi

    return str(certifi.where())
