"""The main upload paths over HTTPS: the library, the CLI and the gateway against stores
serving TLS (the embedded SeaweedFS and moto, with certificates from a local CA), the ways to
trust that CA (AWS_CA_BUNDLE, --ca-bundle, the config file), the one-line error when it is
not trusted, and ``s3stream dev --tls``."""

from __future__ import annotations

import os
import shlex
import signal
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3stream import S3StreamUploader, UploadFailed
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.cli import Running, cli_env, error_line, events, run_cli
from tests.support.gateway import GatewayProcess, Tus
from tests.support.moto import MotoS3

PART = 5 * MiB


def read(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


STORE_TYPES = {"native": "HttpStore", "botocore": "BotoStore"}


@pytest.mark.parametrize("transport", list(STORE_TYPES))
@pytest.mark.parametrize("server_name", ["s3server_tls", "moto_tls"])
def test_the_library_uploads_over_tls(
    server_name: str,
    transport: str,
    request: pytest.FixtureRequest,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: EmbeddedS3 | MotoS3 = request.getfixturevalue(server_name)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)  # AWS_CA_BUNDLE among them
    monkeypatch.setenv("S3STREAM_TRANSPORT", transport)
    assert server.endpoint_url.startswith("https://")
    uploader = S3StreamUploader(journal=tmp_path / "journal.sqlite3")
    assert type(uploader.store).__name__ == STORE_TYPES[transport]
    data = os.urandom(2 * PART + 3)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    from_file = uploader.upload_file(path, bucket, unique_key, part_size=PART, verify=True)
    streamed = uploader.upload_stream([data], bucket, unique_key + "-s", part_size=PART)
    client = server.client()
    assert read(client, bucket, unique_key) == read(client, bucket, unique_key + "-s") == data
    assert (from_file.parts, from_file.verified) == (3, "read-back")
    store_verifies = server_name == "s3server_tls"  # moto verifies no checksum
    assert streamed.verified == ("full-object" if store_verifies else "none")


@pytest.mark.parametrize("transport", list(STORE_TYPES))
def test_an_untrusted_certificate_fails_the_upload_at_once(
    s3server_tls: EmbeddedS3,
    bucket: str,
    unique_key: str,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    for name, value in s3server_tls.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_CA_BUNDLE")
    monkeypatch.setenv("S3STREAM_TRANSPORT", transport)
    uploader = S3StreamUploader(
        endpoint_url=s3server_tls.endpoint_url,
        region=s3server_tls.region,
        journal=False,
        store_profile="seaweedfs",
    )
    with pytest.raises(UploadFailed, match="TLS certificate is not trusted") as info:
        uploader.upload_stream([b"x"], bucket, unique_key)
    assert info.value.__cause__ is not None and "certificate verify failed" in str(
        info.value.__cause__
    )


def cli_tls_env(tmp_path: Path, server: EmbeddedS3, **extra: str) -> dict[str, str]:
    env = cli_env(tmp_path, server, **extra)
    env.pop("AWS_CA_BUNDLE")
    return env


def test_the_cli_trusts_a_ca_from_env_flag_or_config_and_names_the_flag_when_it_cannot(
    s3server_tls: EmbeddedS3, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = os.urandom(PART + 1)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    ca = s3server_tls.ca_bundle
    assert ca is not None
    untrusted = run_cli(
        ["cp", str(src), f"s3://{bucket}/{unique_key}"], cli_tls_env(tmp_path, s3server_tls)
    )
    assert untrusted.returncode == 1
    line = error_line(untrusted.stderr)
    assert "TLS certificate is not trusted" in line and "pass --ca-bundle FILE" in line
    trusted_by = {
        "env": (["cp", "--json"], cli_env(tmp_path, s3server_tls)),
        "flag": (["cp", "--json", "--ca-bundle", ca], cli_tls_env(tmp_path, s3server_tls)),
        "setting": (["cp", "--json"], cli_tls_env(tmp_path, s3server_tls, S3STREAM_CA_BUNDLE=ca)),
    }
    config = tmp_path / "xdg-config" / "s3stream" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'ca-bundle = "{ca}"\n')
    trusted_by["config"] = (["cp", "--json"], cli_tls_env(tmp_path, s3server_tls))
    for how, (command, env) in trusted_by.items():
        result = run_cli([*command, str(src), f"s3://{bucket}/{unique_key}-{how}"], env)
        assert result.returncode == 0, (how, result.stderr)
        done = events(result.stdout)[-1]
        assert (done["event"], done["verified"], done["verified_by"]) == (
            "completed",
            "full-object",
            "store",
        )
    insecure = run_cli(
        ["cp", "--no-verify-ssl", str(src), f"s3://{bucket}/{unique_key}-insecure"],
        cli_tls_env(tmp_path, s3server_tls),
    )
    assert insecure.returncode == 0, insecure.stderr
    assert insecure.stderr.splitlines() == [
        "s3stream: warning: the store's TLS certificate is not checked (--no-verify-ssl)"
    ]
    missing = run_cli(
        ["cp", "--ca-bundle", str(tmp_path / "nope.pem"), str(src), f"s3://{bucket}/x"],
        cli_tls_env(tmp_path, s3server_tls),
    )
    assert missing.returncode == 2 and "nope.pem: no such file" in error_line(missing.stderr)


def test_the_gateway_streams_into_a_store_over_tls(
    s3server_tls: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    data = os.urandom(PART + 100)
    with (
        GatewayProcess(s3server_tls, bucket, "--prefix", f"{unique_key}/") as gateway,
        httpx.Client(base_url=gateway.url, timeout=30) as http,
    ):
        url = Tus(http).upload(data, 2 * MiB)
        assert Tus(http).head(url).headers["Upload-Offset"] == str(len(data))
    client = s3server_tls.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{unique_key}/")["Contents"]
    objects = [o["Key"] for o in listed if "/_uploads/" not in o["Key"]]
    assert len(objects) == 1 and read(client, bucket, objects[0]) == data


def test_dev_tls_serves_https_and_exports_its_ca(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    dev = Running(["dev", "--tls", "--dir", str(tmp_path / "dev"), "--bucket", "media"], env)
    try:
        exported: dict[str, str] = {}
        while "AWS_CA_BUNDLE" not in exported:
            _, line = dev.wait_for(lambda name, line: name == "out", timeout=60)
            name, _, value = shlex.split(line)[1].partition("=")
            exported[name] = value
        assert exported["AWS_ENDPOINT_URL_S3"].startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=exported["AWS_CA_BUNDLE"])
        assert httpx.get(exported["AWS_ENDPOINT_URL_S3"], verify=context).status_code < 500
        src = tmp_path / "hello.txt"
        src.write_bytes(b"hello over tls")
        done = run_cli(["cp", str(src), "s3://media/hello.txt"], {**env, **exported})
        assert done.returncode == 0, done.stderr
        assert "whole object verified by the store" in done.stdout
        dev.proc.send_signal(signal.SIGTERM)
        assert dev.finish(timeout=15) == 0
    finally:
        dev.kill()
