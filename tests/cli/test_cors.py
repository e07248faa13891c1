"""``s3stream cors``: the bucket rule that lets a web page upload directly (real subprocess,
real SeaweedFS): set, merged with other rules, shown, and bad input refused cleanly."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3stream.embedded import EmbeddedS3
from tests.support.cli import cli_env, run_cli


def test_cors_sets_merges_and_shows_the_upload_rule(
    tmp_path: Path, s3server: EmbeddedS3, s3client: Any
) -> None:
    bucket = f"cors-{secrets.token_hex(4)}"
    s3server.create_bucket(bucket)
    other = {"AllowedOrigins": ["https://cdn.example"], "AllowedMethods": ["GET"], "ID": "theirs"}
    s3client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [other]})
    env = cli_env(tmp_path, s3server)
    first = run_cli(["cors", f"s3://{bucket}", "--origin", "https://a.example/"], env)
    assert first.returncode == 0, first.stderr
    assert f"a page on https://a.example/ can upload to s3://{bucket}" in first.stdout
    second = run_cli(["cors", f"s3://{bucket}", "--origin", "http://localhost:8080"], env)
    assert second.returncode == 0, second.stderr
    rules = {r.get("ID"): r for r in s3client.get_bucket_cors(Bucket=bucket)["CORSRules"]}
    assert rules["theirs"]["AllowedOrigins"] == ["https://cdn.example"]  # kept
    ours = rules["s3stream-browser-uploads"]
    assert ours["AllowedOrigins"] == ["https://a.example", "http://localhost:8080"]
    assert ours["ExposeHeaders"] == ["ETag"] and "PUT" in ours["AllowedMethods"]
    shown = run_cli(["cors", f"s3://{bucket}", "--show", "--origin", "https://b.example"], env)
    assert shown.returncode == 0
    assert f"a page on https://b.example cannot upload to s3://{bucket}" in shown.stdout
    assert "rule theirs: origins https://cdn.example" in shown.stdout


def test_cors_refuses_bad_input_and_changes_nothing(
    tmp_path: Path, s3server: EmbeddedS3, s3client: Any
) -> None:
    bucket = f"cors-{secrets.token_hex(4)}"
    s3server.create_bucket(bucket)
    env = cli_env(tmp_path, s3server)
    cases = [
        (["cors", f"s3://{bucket}", "--origin", "app.example.com"], "scheme://host"),
        (["cors", f"s3://{bucket}", "--origin", "https://a.example/path"], "scheme://host"),
        (["cors", f"s3://{bucket}/key", "--origin", "https://a.example"], f"s3://{bucket}"),
        (["cors", f"s3://{bucket}"], "--origin"),
    ]
    for args, hint in cases:
        done = run_cli(args, env)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and hint in lines[0], done.stderr
    missing = run_cli(["cors", "s3://no-such-bucket-xyz", "--origin", "https://a.example"], env)
    assert missing.returncode == 1 and "NoSuchBucket" in missing.stderr
    with pytest.raises(ClientError) as none:  # the refused commands set no rule
        s3client.get_bucket_cors(Bucket=bucket)
    assert none.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
