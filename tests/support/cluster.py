"""A SeaweedFS cluster of separate processes on 127.0.0.1 (no tests here): one ``weed master``,
two ``weed volume``, one ``weed filer`` and two ``weed s3`` servers over it, and HAProxy in
front of several gateways. For the scale-out test."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config

from s3stream.embedded.process import find_weed_binary, scrubbed_environ

HOST = "127.0.0.1"
GRPC_OFFSET = 10000
"""SeaweedFS derives a server's gRPC port as its HTTP port + 10000."""
HAPROXY = "/usr/sbin/haproxy"


def free_port_pair() -> int:
    """A port free on 127.0.0.1 whose +10000 is free too (``weed``'s gRPC port)."""
    for _ in range(500):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port + GRPC_OFFSET > 65535:
            continue
        with socket.socket() as other:
            try:
                other.bind((HOST, port + GRPC_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s ({last})")


class SeaweedCluster:
    """``weed master``, two ``weed volume``, ``weed filer`` and two ``weed s3``, each its own
    process; :attr:`s3_urls` are the two S3 endpoints."""

    def __init__(self, directory: Path, buckets: Sequence[str] = ()) -> None:
        self.dir = directory
        self.buckets = tuple(buckets)
        self.weed = find_weed_binary()
        self.access_key = secrets.token_hex(10)
        self.secret_key = secrets.token_hex(20)
        self.region = "us-east-1"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master = free_port_pair()
        self.filer = free_port_pair()
        self.s3_ports = [free_port_pair(), free_port_pair()]

    @property
    def s3_urls(self) -> list[str]:
        return [f"http://{HOST}:{port}" for port in self.s3_ports]

    def env(self, index: int = 0) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.s3_urls[index],
        }

    def client(self, index: int = 0) -> Any:
        return botocore.session.get_session().create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.s3_urls[index],
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def _start(self, name: str, *args: str) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 (the process keeps it)
        with log:
            self.procs.append(
                subprocess.Popen(
                    [self.weed, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=scrubbed_environ(),
                    start_new_session=True,
                )
            )

    def _addr(self, port: int) -> list[str]:
        return [
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-port={port}",
            f"-port.grpc={port + GRPC_OFFSET}",
        ]

    def __enter__(self) -> SeaweedCluster:
        try:
            self._start_all()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_all(self) -> None:
        master = f"{HOST}:{self.master}"
        (self.dir / "master").mkdir(parents=True)
        self._start(
            "master",
            "master",
            *self._addr(self.master),
            f"-mdir={self.dir / 'master'}",
            "-volumeSizeLimitMB=64",
            "-telemetry=false",
        )
        wait_for(lambda: self._json(self.master, "/cluster/status"), "weed master")
        for i in (1, 2):
            (self.dir / f"volume{i}").mkdir()
            self._start(
                f"volume{i}",
                "volume",
                *self._addr(free_port_pair()),
                f"-dir={self.dir / f'volume{i}'}",
                f"-mserver={master}",
                "-max=20",
                "-preStopSeconds=0",
            )
        wait_for(lambda: self._volume_servers() == 2, "two weed volume servers")
        (self.dir / "filer").mkdir()
        self._start(
            "filer",
            "filer",
            *self._addr(self.filer),
            f"-master={master}",
            f"-defaultStoreDir={self.dir / 'filer'}",
        )
        wait_for(
            lambda: self._json(self.filer, "/?pretty=y", accept_json=True) is not None, "weed filer"
        )
        identities = self.dir / "identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "admin",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        for i, port in enumerate(self.s3_ports, 1):
            self._start(
                f"s3-{i}",
                "s3",
                *self._addr(port),
                f"-filer={HOST}:{self.filer}",
                f"-config={identities}",
                "-port.iceberg=0",
                "-port.lance=0",
                "-iam=false",
            )
        for index in range(len(self.s3_ports)):
            client = self.client(index)
            wait_for(lambda c=client: c.list_buckets() is not None, f"weed s3 #{index + 1}")
        for bucket in self.buckets:
            self.client().create_bucket(Bucket=bucket)

    def _json(self, port: int, path: str, accept_json: bool = False) -> Any:
        request = urllib.request.Request(f"http://{HOST}:{port}{path}")
        if accept_json:
            request.add_header("Accept", "application/json")
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read() or b"null")

    def _volume_servers(self) -> int:
        status = self._json(self.master, "/dir/status")
        nodes = 0
        for center in status.get("Topology", {}).get("DataCenters") or []:
            for rack in center.get("Racks") or []:
                nodes += len(rack.get("DataNodes") or [])
        return nodes

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        self.procs.clear()


class HAProxy:
    """HAProxy on 127.0.0.1 balancing ``backends`` round-robin, without stickiness, checking
    each backend's ``/health`` every 500 ms and retrying a refused connection elsewhere."""

    def __init__(self, directory: Path, backends: Sequence[str]) -> None:
        self.port = free_port_pair()
        self.url = f"http://{HOST}:{self.port}"
        servers = "\n".join(
            f"    server g{i} {backend.removeprefix('http://')} check inter 500ms fall 1 rise 2"
            for i, backend in enumerate(backends, 1)
        )
        self.config = directory / "haproxy.cfg"
        self.config.write_text(
            f"""global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend uploads
    bind {HOST}:{self.port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /health
{servers}
"""
        )
        self.log = directory / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HAProxy:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._answers, "haproxy", timeout=15)
        return self

    def _answers(self) -> bool:
        with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
            return bool(response.status == 200)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
