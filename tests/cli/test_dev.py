"""``s3stream dev``: a local store in the foreground, its exports, and clean stops."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.support.cli import Running, cli_env, fetch, run_cli

EXPORTED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
    "S3STREAM_STORE_PROFILE",
)


def read_exports(running: Running) -> dict[str, str]:
    found: dict[str, str] = {}
    while len(found) < len(EXPORTED):
        _, line = running.wait_for(lambda name, line: name == "out", timeout=60)
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        found[name] = value
    assert set(found) == set(EXPORTED)
    return found


def weed_running_in(data_dir: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", f"weed.*{data_dir}"], capture_output=True)
    return found.returncode == 0


def boto_client(exported: dict[str, str]) -> Any:
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=exported["AWS_ENDPOINT_URL_S3"],
        region_name=exported["AWS_REGION"],
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.mark.slow
def test_dev_serves_exports_that_work_and_survives_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    env = cli_env(tmp_path)
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello from s3stream dev")

    first = Running(["dev", "--dir", str(data_dir), "--bucket", "media"], env)
    try:
        exported = read_exports(first)
        assert exported["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
        done = run_cli(["cp", str(source), "s3://media/"], {**env, **exported})
        assert done.returncode == 0, done.stderr
        # serve's page may upload into the bucket directly: its CORS rule, exposing ETag
        rules = boto_client(exported).get_bucket_cors(Bucket="media")["CORSRules"]
        assert rules[0]["AllowedOrigins"] == ["http://127.0.0.1:8080", "http://localhost:8080"]
        assert rules[0]["ExposeHeaders"] == ["ETag"]
        printed = run_cli(["dev", "--print-env", "--dir", str(data_dir)], env)
        assert printed.returncode == 0
        assert printed.stdout == "".join(
            f"export {name}={shlex.quote(exported[name])}\n" for name in EXPORTED
        )
        first.proc.send_signal(signal.SIGTERM)
        assert first.finish(timeout=15) == 0
    finally:
        first.kill()
    assert not weed_running_in(data_dir)
    state = json.loads((data_dir / "s3stream-dev.json").read_text())
    assert state["access_key"] == exported["AWS_ACCESS_KEY_ID"]
    assert (data_dir / "s3stream-dev.json").stat().st_mode & 0o077 == 0

    second = Running(["dev", "--dir", str(data_dir), "--bucket", "media"], env)
    try:
        again = read_exports(second)
        # the same credentials (the port too, unless the last one is still in TIME_WAIT)
        assert again["AWS_ACCESS_KEY_ID"] == exported["AWS_ACCESS_KEY_ID"]
        assert again["AWS_SECRET_ACCESS_KEY"] == exported["AWS_SECRET_ACCESS_KEY"]
        client = boto_client(again)
        assert fetch(client, "media", "hello.txt") == b"hello from s3stream dev"
        second.proc.send_signal(signal.SIGINT)
        assert second.finish(timeout=15) == 0
    finally:
        second.kill()
    assert not weed_running_in(data_dir)
    assert any("stopping the store" in line for line in second.stderr)


def test_dev_default_dir_is_under_xdg_state_home(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    done = run_cli(["dev", "--print-env"], env)
    assert done.returncode == 0, done.stderr
    state = tmp_path / "xdg-state" / "s3stream" / "dev" / "s3stream-dev.json"
    saved = json.loads(state.read_text())
    assert f"export AWS_ACCESS_KEY_ID={saved['access_key']}\n" in done.stdout
    assert f"http://127.0.0.1:{saved['port']}" in done.stdout
    assert run_cli(["dev", "--print-env"], env).stdout == done.stdout  # stable
