"""Which configurations the native transport takes, read as botocore reads them, and why it
leaves the others to botocore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3stream.store.http.environment import Endpoint, HttpSettings, NotNative, resolve


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return tmp_path


def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SKENV")


def settle(
    *, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None
) -> HttpSettings:
    return resolve(endpoint_url=endpoint_url, region=region, profile=profile, verify=None)


def test_environment_keys_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    keys(monkeypatch)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOK")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://store.example:9000/base/")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    found = resolve(endpoint_url=None, region=None, profile=None, verify=None)
    assert (found.credentials.access_key, found.credentials.token) == ("AKENV", "TOK")
    assert found.endpoint == Endpoint("https", "store.example:9000", "store.example", 9000, "/base")
    assert found.region == "eu-central-1" and found.verify and found.ca_bundle is None


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keys(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://env.example")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    found = resolve(
        endpoint_url="http://127.0.0.1:8333", region="us-west-2", profile=None, verify="/ca.pem"
    )
    assert found.endpoint is not None and found.endpoint.url == "http://127.0.0.1:8333"
    assert (found.region, found.ca_bundle) == ("us-west-2", "/ca.pem")
    assert not resolve(endpoint_url=None, region=None, profile=None, verify=False).verify


def test_a_profile_with_static_keys(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    (clean_env / "credentials").write_text(
        "[work]\naws_access_key_id = AKFILE\naws_secret_access_key = SKFILE\n"
    )
    (clean_env / "config").write_text(
        "[profile work]\nregion = ap-southeast-2\nendpoint_url = https://s3.example\n"
        "ca_bundle = /etc/ca.pem\ns3 =\n  addressing_style = virtual\n"
    )
    keys(monkeypatch)  # an explicit profile wins over the environment's keys
    found = resolve(endpoint_url=None, region=None, profile="work", verify=None)
    assert found.credentials.access_key == "AKFILE"
    assert (found.region, found.addressing, found.ca_bundle) == (
        "ap-southeast-2",
        "virtual",
        "/etc/ca.pem",
    )
    assert found.endpoint is not None and found.endpoint.host == "s3.example"
    monkeypatch.setenv("AWS_PROFILE", "work")  # from the environment, its keys lose
    assert settle().credentials.access_key == "AKENV"


def test_the_default_profile_from_the_config_file(clean_env: Path) -> None:
    (clean_env / "config").write_text(
        "[default]\naws_access_key_id = AKC\naws_secret_access_key = SKC\nregion = us-east-2\n"
    )
    found = settle()
    assert found.credentials.access_key == "AKC"
    assert found.endpoint is None and found.region == "us-east-2"


@pytest.mark.parametrize(
    "config",
    [
        "role_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base",
        "sso_session = corp",
        "credential_process = /bin/creds",
        "use_fips_endpoint = true",
        "s3 =\n  use_accelerate_endpoint = true",
    ],
)
def test_what_only_botocore_does_goes_to_botocore(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path, config: str
) -> None:
    keys(monkeypatch)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    (clean_env / "config").write_text(f"[default]\n{config}\n")
    with pytest.raises(NotNative):
        settle()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/token"),
    ],
)
def test_proxies_dual_stack_and_web_identity_go_to_botocore(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    keys(monkeypatch)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv(name, value)
    with pytest.raises(NotNative):
        settle()


def test_no_credentials_an_unknown_profile_or_region_go_to_botocore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(NotNative, match="no static credentials"):
        settle(endpoint_url="http://127.0.0.1:9")
    keys(monkeypatch)
    with pytest.raises(NotNative, match="neither AWS config file"):
        settle(profile="nobody")
    with pytest.raises(NotNative, match="region"):
        settle()  # AWS without a region: botocore's endpoint rules decide
    with pytest.raises(NotNative, match="region"):
        settle(region="cn-north-1")  # outside the standard partition
    assert settle(endpoint_url="http://127.0.0.1:9").region == "us-east-1"


def test_configured_endpoints_can_be_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    keys(monkeypatch)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    endpoint = settle().endpoint
    assert endpoint is not None and endpoint.url == "http://127.0.0.1:1"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert settle().endpoint is None


def test_a_malformed_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        Endpoint.parse("127.0.0.1:8333")
    assert Endpoint.parse("http://[::1]:8333").host == "[::1]:8333"
    assert Endpoint.parse("https://s3.example:443").host == "s3.example"
