"""The transport a store is reached through: native for plain configurations, botocore for
the rest, and what S3STREAM_TRANSPORT forces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3stream.errors import ConfigError
from s3stream.store.boto import BotoStore
from s3stream.store.http.store import HttpStore
from s3stream.store.transport import open_store

ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def plain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3STREAM_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    return tmp_path


def test_a_plain_configuration_is_served_natively() -> None:
    store = open_store(endpoint_url=ENDPOINT, region="us-east-1")
    assert isinstance(store, HttpStore) and store.endpoint_url == ENDPOINT


def test_payload_signing_and_roles_go_through_botocore(plain: Path) -> None:
    assert isinstance(open_store(endpoint_url=ENDPOINT, payload_signing=True), BotoStore)
    (plain / "config").write_text(
        "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
    )
    (plain / "credentials").write_text("[base]\naws_access_key_id = A\naws_secret_access_key = S\n")
    assert isinstance(open_store(endpoint_url=ENDPOINT, profile="r"), BotoStore)


def test_the_environment_forces_a_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3STREAM_TRANSPORT", "botocore")
    assert isinstance(open_store(endpoint_url=ENDPOINT), BotoStore)
    monkeypatch.setenv("S3STREAM_TRANSPORT", "native")
    assert isinstance(open_store(endpoint_url=ENDPOINT), HttpStore)
    with pytest.raises(ConfigError, match="S3STREAM_TRANSPORT=native cannot be used: a proxy"):
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
        open_store(endpoint_url=ENDPOINT)
    monkeypatch.setenv("S3STREAM_TRANSPORT", "fast")
    with pytest.raises(ConfigError, match="use one of auto, native, botocore"):
        open_store(endpoint_url=ENDPOINT)


def test_a_malformed_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid S3 client setting"):
        open_store(endpoint_url="127.0.0.1:8333")
