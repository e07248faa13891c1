"""Helpers for the CLI tests (no tests here): run the real ``s3stream`` in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from s3stream.embedded import EmbeddedS3

CLI = [sys.executable, "-m", "s3stream.cli"]


def cli_env(tmp_path: Path, server: EmbeddedS3 | None = None, /, **extra: str) -> dict[str, str]:
    """A clean environment: the store's AWS_* variables, nothing from the user's setup."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "TERM": "dumb",
    }
    if server is not None:
        env.update(server.env())
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    input: bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``s3stream ARGS`` to its end; output decoded as text."""
    result = subprocess.run(
        [*CLI, *args],
        env=dict(env),
        stdin=None if input is not None else stdin,
        input=input,
        capture_output=True,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode(errors="replace"),
        result.stderr.decode(errors="replace"),
    )


def events(stdout: str) -> list[dict[str, Any]]:
    """The NDJSON events of a ``--json`` run."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def error_line(stderr: str) -> str:
    """The one error line of a failed run (asserting there is exactly one line)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("s3stream: error: "), stderr
    return lines[0]


class Running:
    """A CLI process whose stdout and stderr lines are collected while it runs."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
    ) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args],
            env=dict(env),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], name: str) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            (self.stdout if name == "out" else self.stderr).append(line)
            self._lines.put((name, line))

    def wait_for(
        self, predicate: Callable[[str, str], bool], timeout: float = 30
    ) -> tuple[str, str]:
        """Wait for an output line (``"out"`` or ``"err"``, line) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no such line within {timeout}s; stdout={self.stdout} stderr={self.stderr}"
                )
            try:
                name, line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    raise AssertionError(
                        f"exited {self.proc.returncode}; stdout={self.stdout} stderr={self.stderr}"
                    ) from None
                continue
            if predicate(name, line):
                return name, line

    def wait_event(self, event: str, timeout: float = 30) -> dict[str, Any]:
        _, line = self.wait_for(
            lambda name, line: name == "out" and json.loads(line).get("event") == event, timeout
        )
        found: dict[str, Any] = json.loads(line)
        return found

    def finish(self, timeout: float = 30) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def fetch(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def uploads_for(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get(
        "Uploads", []
    )
    return [u for u in uploads if u["Key"] == key]


def key_absent(client: Any, bucket: str, key: str) -> bool:
    return "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix=key)


def wait_until(condition: Callable[[], bool], timeout: float = 20, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def settled_parts(
    client: Any, bucket: str, key: str, upload_id: str, quiet: float = 1.0
) -> dict[int, dict[str, Any]]:
    """ListParts once it stops changing for ``quiet`` seconds, by part number: after a
    ``kill -9`` a part whose body had reached the store may still land a moment later."""
    last: dict[int, dict[str, Any]] | None = None
    stable_since = time.monotonic()
    while True:
        listed = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
        now = {int(p["PartNumber"]): p for p in listed}
        if last is None or {n: p["ETag"] for n, p in now.items()} != {
            n: p["ETag"] for n, p in last.items()
        }:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            return now
        time.sleep(0.1)
