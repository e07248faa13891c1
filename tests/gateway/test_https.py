"""``s3stream serve`` over HTTPS: ``--tls-cert``/``--tls-key`` between clients and the
gateway and ``--store-tls`` between the gateway and its embedded store, with clients nobody
here wrote (tus-js-client in node, tuspy) trusting a local CA; and the one-line refusals of
bad TLS flags, before anything starts."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client

from s3stream.embedded.tls import TlsFiles, local_certificates
from s3stream.limits import MiB
from s3stream.store.boto import make_client
from tests.support.gateway import TUS, free_port, stop_gateway, upload_id
from tests.support.paths import ROOT

JS_UPLOAD = ROOT / "tests" / "js" / "tus_upload.mjs"
NODE = shutil.which("node")
TOKEN = "https-token-0123456789"
ACCESS_KEY, SECRET_KEY = "httpsaccesskey", "httpssecretkey0123456789"
SERVE = [sys.executable, "-m", "s3stream.cli", "serve"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A local CA and a certificate for 127.0.0.1 signed by it."""
    return local_certificates(tmp_path_factory.mktemp("gateway-tls"))


def wait_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    """The first line of the process's stdout that contains ``needle``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"serve printed no line with {needle!r} (exit {proc.poll()})")


def stored_object(client: Any, data_prefix: str, url: str) -> bytes:
    """The object a finished tus upload became, found through its state."""
    info_key = f"{data_prefix}_uploads/{upload_id(url)}.info"
    info = json.loads(client.get_object(Bucket="uploads", Key=info_key)["Body"].read())
    assert info["finished"]
    data: bytes = client.get_object(Bucket="uploads", Key=info["key"])["Body"].read()
    return data


@pytest.mark.slow
@pytest.mark.skipif(
    NODE is None or not (ROOT / "node_modules" / "tus-js-client").is_dir(),
    reason="node or node_modules/tus-js-client missing: install node and run scripts/setup.sh",
)
def test_serve_over_https_to_its_embedded_store_over_https(
    tmp_path: Path, certs: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert NODE is not None
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "S3STREAM_EMBEDDED_ACCESS_KEY": ACCESS_KEY,
        "S3STREAM_EMBEDDED_SECRET_KEY": SECRET_KEY,
    }
    command = [*SERVE, "--store-tls", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key), "--token", TOKEN]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        endpoint = wait_line(proc, "tus endpoint")
        base = f"https://127.0.0.1:{port}"
        assert f"tus endpoint {base}/files/ -> s3://uploads/ (https://127.0.0.1:" in endpoint
        assert f"upload page {base}/" in wait_line(proc, "upload page")
        trusted = ssl.create_default_context(cafile=str(certs.ca))
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/ready", verify=trusted).json() == {"status": "ready"}
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the gateway did not come up"
                time.sleep(0.1)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/health", verify=ssl.create_default_context())

        sources = {}
        for name, size in (("node", 13 * MiB + 5), ("tuspy", 7 * MiB + 3)):
            sources[name] = tmp_path / f"{name}.bin"
            sources[name].write_bytes(os.urandom(size))
        opts = {
            "endpoint": f"{base}/files/",
            "file": str(sources["node"]),
            "token": TOKEN,
            "chunkSize": 6 * MiB,
        }
        done = subprocess.run(
            [NODE, str(JS_UPLOAD), json.dumps(opts)],
            cwd=ROOT,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(certs.ca)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        node_url = json.loads(done.stdout.splitlines()[-1])["url"]
        assert node_url.startswith(f"{base}/files/")

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
        uploader = tus_client.TusClient(
            f"{base}/files/", headers={"Authorization": f"Bearer {TOKEN}"}
        ).uploader(str(sources["tuspy"]), chunk_size=2 * MiB)
        uploader.upload()
        assert uploader.url is not None and uploader.url.startswith(f"{base}/files/")
        head = httpx.head(
            uploader.url, headers={**TUS, "Authorization": f"Bearer {TOKEN}"}, verify=trusted
        )
        assert head.headers["Upload-Offset"] == str(sources["tuspy"].stat().st_size)

        store_url = re.search(r"\((https://127\.0\.0\.1:\d+)\)", endpoint)
        assert store_url is not None
        client = make_client(
            endpoint_url=store_url[1],
            region="us-east-1",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            verify=str(data_dir / "s3stream-tls" / "ca.pem"),
        )
        assert stored_object(client, "", node_url) == sources["node"].read_bytes()
        assert stored_object(client, "", uploader.url) == sources["tuspy"].read_bytes()
    finally:
        stop_gateway(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0


def _refusal(flags: list[str], data_dir: Path) -> str:
    done = subprocess.run(
        [*SERVE, "--data-dir", str(data_dir), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("s3stream serve: ")
    return lines[0]


def test_bad_tls_flags_are_refused_with_one_line_before_anything_starts(
    tmp_path: Path, certs: TlsFiles
) -> None:
    other = local_certificates(tmp_path / "other")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjAp\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    cert, key = str(certs.cert), str(certs.key)
    missing = str(tmp_path / "missing.pem")
    cases = {
        "--tls-cert needs --tls-key: pass the certificate and its key, or neither": [
            "--tls-cert",
            cert,
        ],
        "--tls-key needs --tls-cert": ["--tls-key", key],
        f"--tls-cert {missing}: cannot read it (No such file or directory)": [
            "--tls-cert",
            missing,
            "--tls-key",
            key,
        ],
        f"--tls-cert {key}: not a PEM certificate": ["--tls-cert", key, "--tls-key", key],
        f"--tls-key {cert}: not a PEM private key": ["--tls-cert", cert, "--tls-key", cert],
        f"--tls-key {other.key} is not the key of --tls-cert {cert}: pass the key": [
            "--tls-cert",
            cert,
            "--tls-key",
            str(other.key),
        ],
        f"--tls-key {encrypted} is encrypted: give it unencrypted (openssl pkey": [
            "--tls-cert",
            cert,
            "--tls-key",
            str(encrypted),
        ],
        "--store-tls is for the embedded store: give --endpoint-url as https://": [
            "--store-tls",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
    }
    data_dir = tmp_path / "data"
    for expected, flags in cases.items():
        assert expected in _refusal(flags, data_dir), flags
    assert not data_dir.exists()  # no embedded store was started
