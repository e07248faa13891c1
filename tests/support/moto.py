"""moto's S3 server (``moto_server`` from ``moto[server]``) on 127.0.0.1: a second S3
implementation for the tests, beside SeaweedFS; over HTTPS with ``tls=True`` (a certificate
from the same local CA as the embedded store's, passed with ``-c``/``-k``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import botocore.session
import httpx

from s3stream.embedded.tls import local_certificates
from s3stream.store.boto import make_client
from s3stream.store.capabilities import ALGORITHMS

HOST = "127.0.0.1"
ACCESS_KEY = "moto-test-access"
SECRET_KEY = "moto-test-secret"
REGION = "us-east-1"


MOTO_CAPABILITIES: dict[str, Any] = {
    "checksums": {a.value: "accepted" for a in ALGORITHMS},
    "multipart": {},
    "list_parts_checksums": False,
    "trailers": True,
    "if_none_match_put": True,
    "if_none_match_complete": True,
    "if_match_put": True,
    "if_match_delete": True,
    "upload_part_copy": True,
    "max_parts": 10_000,
    "equal_parts": False,
    "addressing": "path",
}
"""What ``s3stream doctor`` finds on moto (docs/stores.md shows it)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def moto_binary() -> str:
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("moto_server not found: run scripts/setup.sh (moto[server])")
    return found


class MotoS3:
    """A ``moto_server`` process; ``buckets`` are created once it answers."""

    def __init__(
        self,
        buckets: tuple[str, ...] = (),
        log_path: Path | None = None,
        tls_dir: Path | None = None,
    ) -> None:
        self.port = _free_port()
        self.buckets = buckets
        self.log_path = log_path
        self.tls = local_certificates(tls_dir) if tls_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        return None if self.tls is None else str(self.tls.ca)

    def env(self) -> dict[str, str]:
        """The AWS_* variables that point the standard chain at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            **({"AWS_CA_BUNDLE": self.ca_bundle} if self.ca_bundle else {}),
        }

    def client(self) -> Any:
        return make_client(
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            verify=self.ca_bundle,
        )

    def kms_client(self) -> Any:
        """A KMS client on the same server (moto emulates KMS for SSE-KMS)."""
        return botocore.session.Session().create_client(
            "kms",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        tls = [] if self.tls is None else ["-c", str(self.tls.cert), "-k", str(self.tls.key)]
        self._proc = subprocess.Popen(
            [moto_binary(), "-H", HOST, "-p", str(self.port), *tls],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._proc.returncode}")
            try:
                trust = ssl.create_default_context(cafile=self.ca_bundle)
                httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1, verify=trust)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not answer within 30 s") from None
                time.sleep(0.1)
        client = self.client()
        for bucket in self.buckets:
            client.create_bucket(Bucket=bucket)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
