"""Helpers for tests/test_reliability_faults.py (no tests here): seeded random faults for the
fault proxy, a watcher that catches any object with wrong bytes, a gateway process that can be
SIGKILLed and started again on the same port, and a tus-js-client runner that reports progress.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from tests.support.faultproxy import Fault, RequestInfo
from tests.support.gateway import free_port, gateway_command, stop_gateway, wait_healthy
from tests.support.paths import ROOT

NODE = shutil.which("node")
JS_RESILIENT = ROOT / "tests" / "js" / "tus_resilient.mjs"
HAS_TUS_JS = NODE is not None and (ROOT / "node_modules" / "tus-js-client").is_dir()
TUS = {"Tus-Resumable": "1.0.0"}

SLOWDOWN = ("SlowDown", "Please reduce your request rate.")


# ------------------------------------------------------------------ request classification


def is_create(request: RequestInfo) -> bool:
    """CreateMultipartUpload: ``POST /bucket/key?uploads``."""
    query = request.path.partition("?")[2]
    return request.method == "POST" and "uploads" in query.split("&")


def is_complete(request: RequestInfo) -> bool:
    return request.method == "POST" and "uploadId=" in request.path


def is_part(request: RequestInfo) -> bool:
    return request.method == "PUT" and "partNumber=" in request.path


def body_length(request: RequestInfo) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


# ------------------------------------------------------------------ seeded random faults

KINDS = ("reset_before", "reset_mid_body", "slowdown", "stall", "truncate")


@dataclass
class RandomFaults:
    """A fault-proxy policy: each eligible request meets a fault with probability ``rate``.

    The kind is drawn from ``kinds`` by a generator seeded with ``seed``: a reset before the
    request is forwarded, a reset after a random share of its body, a burst of 2 to 4
    consecutive ``503 SlowDown`` answers, a stall of ``stall_range`` seconds before forwarding
    (at most ``max_stalls`` of them), or a response cut after a random number of bytes.

    A reply-losing fault (stall, truncate, reset after the whole head of a bodiless request)
    is never given to CreateMultipartUpload: the store would create an upload whose id the
    client never learns, which no client can clean up (see the dedicated test). ``eligible``
    picks the requests that may be faulted at all; ``enabled`` switches the policy off.
    """

    seed: int
    rate: float
    kinds: Sequence[str] = KINDS
    eligible: Callable[[RequestInfo], bool] = lambda request: True
    stall_range: tuple[float, float] = (2.0, 10.0)
    max_stalls: int = 2
    enabled: bool = True
    cover_all: bool = False
    """Give every kind once first (in a seeded order, as requests allow, at a rate of at least
    one half so that all occur even in a short upload), then draw kinds at random."""
    injected: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, method, path) of every fault given, in order."""
    _rng: random.Random = field(init=False)
    _uncovered: list[str] = field(default_factory=list, init=False)
    _burst: int = field(default=0, init=False)
    _stalls: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if self.cover_all:
            self._uncovered = self._rng.sample(list(self.kinds), len(self.kinds))

    def __call__(self, request: RequestInfo) -> Fault | None:
        if not self.enabled or not self.eligible(request):
            return None
        with self._lock:
            if self._burst > 0:
                self._burst -= 1
                return self._record("slowdown", request, Fault.reply(503, *SLOWDOWN))
            rate = max(self.rate, 0.5) if self._uncovered else self.rate
            if self._rng.random() >= rate:
                return None
            kinds = [k for k in self.kinds if self._allowed(k, request)]
            if not kinds:
                return None
            uncovered = [k for k in self._uncovered if k in kinds]
            kind = uncovered[0] if uncovered else self._rng.choice(kinds)
            if uncovered:
                self._uncovered.remove(kind)
            return self._record(kind, request, self._make(kind, request))

    def _allowed(self, kind: str, request: RequestInfo) -> bool:
        if kind == "stall" and self._stalls >= self.max_stalls:
            return False
        if is_create(request):
            return kind in ("reset_before", "slowdown")
        return True

    def _make(self, kind: str, request: RequestInfo) -> Fault:
        rng = self._rng
        if kind == "reset_before":
            return Fault.reset_before()
        if kind == "reset_mid_body":
            length = body_length(request)
            return Fault.reset_mid_body(rng.randrange(length) if length else 0)
        if kind == "slowdown":
            self._burst = rng.randint(1, 3)
            return Fault.reply(503, *SLOWDOWN)
        if kind == "stall":
            self._stalls += 1
            return Fault.stall(round(rng.uniform(*self.stall_range), 2))
        if kind == "truncate":
            return Fault.truncate_response(rng.randrange(0, 400))
        raise ValueError(kind)

    def _record(self, kind: str, request: RequestInfo, fault: Fault) -> Fault:
        self.injected.append((kind, request.method, request.path))
        return fault

    def kinds_injected(self) -> set[str]:
        return {kind for kind, _, _ in self.injected}


# ------------------------------------------------------------------ object watcher


def crc64nvme(data: bytes) -> str:
    part = digest(ChecksumAlgorithm.CRC64NVME, data)
    assert part is not None
    return encode(ChecksumAlgorithm.CRC64NVME, part)


class ObjectWatcher:
    """Polls HeadObject of some keys while uploads run and records every version it sees
    whose size differs from the expected one (or whose stored CRC64NVME differs, when the
    store has one): an object with wrong bytes must never exist, not even for a moment."""

    def __init__(self, client: Any, bucket: str, interval: float = 0.05) -> None:
        self.client = client
        self.bucket = bucket
        self.interval = interval
        self.expected: dict[str, tuple[int, str]] = {}
        self.wrong: list[tuple[str, int, str | None]] = []
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, key: str, data: bytes) -> None:
        self.expected[key] = (len(data), crc64nvme(data))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Look at every expected key once."""
        for key, (size, crc) in list(self.expected.items()):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            except Exception:
                continue  # absent (404) or the store is briefly unreachable
            self.seen.add(key)
            stored = head.get("ChecksumCRC64NVME")
            if head["ContentLength"] != size or (stored is not None and stored != crc):
                self.wrong.append((key, head["ContentLength"], stored))

    def __enter__(self) -> ObjectWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.poll()  # and once more at the end, when every upload is done


# ------------------------------------------------------------------ store listings


def multipart_uploads(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get(
        "Uploads", []
    )
    return listed


def keys_under(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        keys += [item["Key"] for item in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return sorted(keys)
        token = {"ContinuationToken": page["NextContinuationToken"]}


def fetch(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def gateway_state(client: Any, bucket: str, prefix: str, upload: str) -> dict[str, Any]:
    """The gateway's ``.info`` state of upload ``upload``."""
    raw = fetch(client, bucket, f"{prefix}_uploads/{upload}.info")
    state: dict[str, Any] = json.loads(raw)
    return state


# ------------------------------------------------------------------ the gateway process


class GatewayServer:
    """``s3stream serve`` (``python -m s3stream.gateway``) as a child process on a fixed port.

    :meth:`kill` SIGKILLs it like a crash; :meth:`start` runs a new process on the same port,
    store and bucket. ``lease_ttl`` shortens the lease that a crashed process leaves behind
    (``--lease-ttl``, 30 s by default), so crash trials do not spend most of their time
    waiting for it to expire.
    """

    def __init__(
        self,
        endpoint_url: str,
        env: Mapping[str, str],
        bucket: str,
        *args: str,
        log_path: Path,
        lease_ttl: float | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = gateway_command(endpoint_url, bucket, self.port, *args)
        if lease_ttl is not None:
            self.args += ["--lease-ttl", str(lease_ttl)]
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        try:
            if wait_healthy(self.proc, self.url, timeout):
                return
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {self.log()}") from None
        self.stop()
        raise RuntimeError(f"gateway did not come up within {timeout} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the gateway."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        stop_gateway(self.proc)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tus_metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def head_offset(url: str, token: str | None = None) -> int | None:
    headers = dict(TUS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.head(url, headers=headers, timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return int(response.headers["Upload-Offset"])


# ------------------------------------------------------------------ tus-js-client


class NodeUpload:
    """tus-js-client (tests/js/tus_resilient.mjs) uploading one file in a node process.

    Its NDJSON lines (``url``, ``progress``, ``done``, ``error``) are collected by a thread;
    :meth:`wait_progress` blocks until the client has sent at least some number of bytes.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        assert NODE is not None
        self.proc = subprocess.Popen(
            [NODE, str(JS_RESILIENT), json.dumps(dict(options))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.url: str | None = None
        self.sent = 0
        self.done: dict[str, Any] | None = None
        self.error: str | None = None
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                line = json.loads(raw)
            except ValueError:
                self.stderr.append(raw.decode(errors="replace").rstrip())  # debug output
            else:
                with self._changed:
                    if "url" in line:
                        self.url = line["url"]
                    if "progress" in line:
                        self.sent = max(self.sent, int(line["progress"]))
                    if "done" in line:
                        self.done = line
                    if "error" in line:
                        self.error = line["error"]
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.stderr.append(raw.decode(errors="replace").rstrip())

    def wait_progress(self, at_least: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.sent < at_least:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and self.done is None):
                    if self.sent >= at_least:
                        break
                    raise AssertionError(
                        f"client sent {self.sent} bytes, not {at_least}; error={self.error} "
                        f"stderr={self.stderr[-5:]}"
                    )
                if self.done is not None:
                    break
                self._changed.wait(min(left, 0.5))
            return self.sent

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        for thread in self._threads:
            thread.join(5)
        assert code == 0 and self.done is not None, (code, self.error, self.stderr[-10:])
        return self.done

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------ pipes


@contextlib.contextmanager
def pipe_of(data: bytes, seed: int) -> Iterator[IO[bytes]]:
    """A pipe whose reader yields ``data`` (written in random-sized pieces by a thread);
    like ``Popen(...).stdout``, it has no length and cannot seek."""
    read_fd, write_fd = os.pipe()
    rng = random.Random(seed)
    errors: queue.Queue[BaseException] = queue.Queue()

    def feed() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=0) as out:
                view = memoryview(data)
                while view:
                    n = out.write(view[: rng.randint(1, 3 * 1024 * 1024)]) or 0
                    view = view[n:]
        except BrokenPipeError:
            pass  # the reader gave up (a failed upload)
        except BaseException as exc:
            errors.put(exc)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    reader = os.fdopen(read_fd, "rb", buffering=0)
    try:
        yield reader
    finally:
        reader.close()
        writer.join(10)
    if not errors.empty():
        raise errors.get()


def create_upload(
    endpoint: str, length: int, *, filename: str, token: str | None = None, attempts: int = 20
) -> str:
    """POST a new tus upload, retrying 5xx answers and dropped connections (tuspy's own
    creation does not retry); returns its URL."""
    headers = {
        **TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": tus_metadata(filename=filename),
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = ""
    for _ in range(attempts):
        try:
            response = httpx.post(endpoint, headers=headers, timeout=60)
        except httpx.HTTPError as exc:
            last = repr(exc)
        else:
            if response.status_code == 201:
                return str(httpx.URL(endpoint).join(response.headers["Location"]))
            last = f"{response.status_code} {response.text}"
            if response.status_code < 500:
                break
        time.sleep(0.3)
    raise AssertionError(f"could not create the upload: {last}")
