"""``s3stream presign``: the URLs work with a plain HTTP client."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from s3stream.embedded import EmbeddedS3
from tests.support.cli import cli_env, fetch, run_cli


def test_presigned_get_downloads_the_uploaded_object(
    s3server: EmbeddedS3, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = os.urandom(100_000)
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    env = cli_env(tmp_path, s3server)
    quiet = run_cli(["cp", "-q", str(path), f"s3://{bucket}/{unique_key}"], env)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    done = run_cli(["presign", f"s3://{bucket}/{unique_key}", "--expires", "15m"], env)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["900"]
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data


def test_presigned_put_uploads(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, s3server)
    done = run_cli(["presign", "--method", "put", f"s3://{bucket}/{unique_key}"], env)
    assert done.returncode == 0, done.stderr
    request = urllib.request.Request(done.stdout.strip(), data=b"put by url", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert fetch(s3client, bucket, unique_key) == b"put by url"
