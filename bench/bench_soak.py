"""Gateway load and soak: many concurrent tus uploads through one ``s3stream serve``, and a
long loop of uploads while the gateway's memory, file descriptors and threads are sampled.

    .venv/bin/python bench/bench_soak.py load [--uploads 100] [--min-size 100KiB]
                                              [--max-size 64MiB]
    .venv/bin/python bench/bench_soak.py soak [--minutes 10] [--workers 4] [--interval 5]

``load``: ``--uploads`` tus uploads of log-uniformly mixed sizes start at once (one thread
and one connection each, ten bearer tokens), each sent whole, in 1/5/8 MiB chunks or as a
creation-with-upload, retrying like tus clients do (409/423/429/5xx and dropped connections:
back off, ``HEAD`` for the offset, go on). Every object is then read back and compared with
its source by SHA-256, and its stored CRC64NVME (verified by the store on completion) with
the source's.

``soak``: ``--workers`` clients loop for ``--minutes``: whole uploads (most), uploads whose
connection drops mid-``PATCH`` and resume, deferred-length uploads, and uploads terminated
half-way; each finished object is verified, then terminated (``DELETE``) so the store stays
small. Every ``--interval`` seconds the gateway's RSS, open file descriptors
(``/proc/PID/fd``) and threads (``/proc/PID/task``) are sampled; the report gives start, end
and max, the least-squares slope over the second half, and the idle values before and after
(the connections closed), which is where a leak shows.

Both print a Markdown summary and write JSON to ``bench/results/gateway_{load,soak}.json``
(``--json`` elsewhere). The store is the embedded SeaweedFS in a temporary directory
(``--store-dir``, e.g. /dev/shm); everything listens on 127.0.0.1 only. Not run in CI.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from awscrt import checksums as crt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from s3stream.embedded import EmbeddedS3  # noqa: E402
from s3stream.limits import format_size, parse_size  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
BLOCK = MiB
BUCKET = "soak"
PREFIX = "soak/"
TOKENS = [f"soak-token-{i:02d}-{'s' * 12}" for i in range(10)]
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"
RESULTS = ROOT / "bench" / "results"
RETRY_STATUSES = {409, 423, 429, 500, 502, 503, 504}
KEEP_ALIVE = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- sources


class Source:
    """``size`` pseudo-random bytes of upload ``seed``, regenerated block by block (1 MiB
    blocks from ``random.Random``), so any offset can be resent and nothing is held whole."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size

    def block(self, index: int) -> bytes:
        length = min(BLOCK, self.size - index * BLOCK)
        return random.Random(self.seed * 1_000_003 + index).randbytes(length)

    def read(self, offset: int, length: int) -> Iterator[bytes]:
        end = min(self.size, offset + length)
        while offset < end:
            index, skip = divmod(offset, BLOCK)
            piece = self.block(index)[skip : skip + end - offset]
            yield piece
            offset += len(piece)

    def digests(self) -> tuple[str, str]:
        """SHA-256 (hex) and CRC64NVME (base64, as S3 reports it) of the whole source."""
        sha = hashlib.sha256()
        crc = 0
        for piece in self.read(0, self.size):
            sha.update(piece)
            crc = crt.crc64nvme(piece, crc)
        return sha.hexdigest(), base64.b64encode(crc.to_bytes(8, "big")).decode()


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


# --------------------------------------------------------------------------- the gateway


class Gateway:
    """``python -m s3stream.gateway`` against the store, with the benchmark's tokens."""

    def __init__(self, s3: EmbeddedS3, workdir: Path, part_size: str, extra: Sequence[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gateway.log"
        command = [
            sys.executable,
            "-m",
            "s3stream.cli",
            "serve",
            "--endpoint-url",
            s3.endpoint_url,
            "--bucket",
            BUCKET,
            "--port",
            str(self.port),
            "--prefix",
            PREFIX,
            "--part-size",
            part_size,
            "--keep-alive-timeout",
            str(KEEP_ALIVE),
            "--log-level",
            "warning",
            *(a for t in TOKENS for a in ("--token", t)),
            *extra,
        ]
        self.command = command
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            command, env={**os.environ, **s3.env()}, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gateway did not come up")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def errors(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if " ERROR " in line or "Traceback" in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------- sampling


@dataclass
class ProcSample:
    t: float
    rss_kib: int
    hwm_kib: int
    fds: int
    threads: int
    cpu_s: float
    store_rss_kib: int


def _status_kib(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(pid: int, store_pid: int | None, t0: float) -> ProcSample:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        cpu = 0.0
    return ProcSample(
        t=round(time.monotonic() - t0, 2),
        rss_kib=_status_kib(pid, "VmRSS"),
        hwm_kib=_status_kib(pid, "VmHWM"),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=len(os.listdir(f"/proc/{pid}/task")),
        cpu_s=round(cpu, 2),
        store_rss_kib=_status_kib(store_pid, "VmRSS") if store_pid else 0,
    )


class Sampler(threading.Thread):
    def __init__(self, pid: int, store_pid: int | None, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.store_pid = store_pid
        self.interval = interval
        self.t0 = time.monotonic()
        self.samples: list[ProcSample] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(sample(self.pid, self.store_pid, self.t0))
            self._halt.wait(self.interval)

    def stop(self) -> list[ProcSample]:
        self._halt.set()
        self.join()
        self.samples.append(sample(self.pid, self.store_pid, self.t0))
        return self.samples


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(p[0] for p in points)
    mean_v = statistics.fmean(p[1] for p in points)
    den = sum((p[0] - mean_t) ** 2 for p in points)
    if den == 0:
        return 0.0
    return 60 * sum((p[0] - mean_t) * (p[1] - mean_v) for p in points) / den


# --------------------------------------------------------------------------- a tus client


class Interrupted(Exception):
    """Raised by a body generator to drop the connection mid-PATCH."""


@dataclass
class Upload:
    name: str
    size: int
    mode: str
    token: str
    seconds: float = 0.0
    url: str = ""
    ok: bool = False
    error: str = ""
    retries: Counter[str] = field(default_factory=Counter)
    verified_sha: bool | None = None
    verified_crc: bool | None = None


class TusClient:
    """The few tus calls a resilient client makes, over one keep-alive connection."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=httpx.Timeout(300, connect=30))
        self.headers = {**TUS, "Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self.http.close()

    def _backoff(self, upload: Upload, reason: str, attempt: int) -> None:
        upload.retries[reason] += 1
        if attempt > 40:
            raise RuntimeError(f"giving up after {attempt} attempts ({reason})")
        time.sleep(min(5.0, 0.2 * 2 ** min(attempt, 5)) * random.uniform(0.5, 1.0))

    def create(
        self, upload: Upload, source: Source, *, deferred: bool = False, body: bool = False
    ) -> int:
        """POST; with ``body`` the whole source goes along (creation-with-upload)."""
        headers = dict(self.headers)
        name = base64.b64encode(upload.name.encode()).decode()
        headers["Upload-Metadata"] = f"filename {name},filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt"
        if deferred:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(source.size)
        content: Iterator[bytes] | None = None
        if body:
            headers["Content-Type"] = OCTET
            headers["Content-Length"] = str(source.size)
            content = source.read(0, source.size)
        for attempt in range(100):
            try:
                response = self.http.post("/files/", headers=headers, content=content)
            except httpx.TransportError:
                self._backoff(upload, "transport", attempt)
                content = source.read(0, source.size) if body else None
                continue
            if response.status_code in RETRY_STATUSES:
                self._backoff(upload, str(response.status_code), attempt)
                content = source.read(0, source.size) if body else None
                continue
            if response.status_code != 201:
                raise RuntimeError(f"POST {response.status_code}: {response.text[:200]}")
            upload.url = response.headers["Location"]
            return int(response.headers.get("Upload-Offset", "0"))
        raise RuntimeError("POST never succeeded")

    def offset(self, upload: Upload) -> int:
        for attempt in range(100):
            try:
                response = self.http.head(upload.url, headers=self.headers)
            except httpx.TransportError:
                self._backoff(upload, "transport", attempt)
                continue
            if response.status_code in RETRY_STATUSES:
                self._backoff(upload, str(response.status_code), attempt)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"HEAD {response.status_code}")
            return int(response.headers["Upload-Offset"])
        raise RuntimeError("HEAD never succeeded")

    def send(
        self,
        upload: Upload,
        source: Source,
        offset: int,
        chunk: int | None,
        *,
        declare_at_end: bool = False,
        interrupt_at: int | None = None,
    ) -> None:
        """PATCH from ``offset`` to the end in chunks, resuming after any failure."""
        attempt = 0
        while offset < source.size:
            length = source.size - offset if chunk is None else min(chunk, source.size - offset)
            headers = {
                **self.headers,
                "Upload-Offset": str(offset),
                "Content-Type": OCTET,
                "Content-Length": str(length),
            }
            if declare_at_end and offset + length == source.size:
                headers["Upload-Length"] = str(source.size)
            body = source.read(offset, length)
            if interrupt_at is not None and offset <= interrupt_at < offset + length:
                body = _interrupting(body, interrupt_at - offset)
                interrupt_at = None
            try:
                response = self.http.patch(upload.url, headers=headers, content=body)
            except (httpx.TransportError, Interrupted) as exc:
                reason = "interrupted" if isinstance(exc, Interrupted) else "transport"
                self._backoff(upload, reason, attempt)
                attempt += 1
                offset = self.offset(upload)
                continue
            if response.status_code == 204:
                offset = int(response.headers["Upload-Offset"])
                attempt = 0
                continue
            if response.status_code in RETRY_STATUSES:
                self._backoff(upload, str(response.status_code), attempt)
                attempt += 1
                offset = self.offset(upload)
                continue
            raise RuntimeError(f"PATCH {response.status_code}: {response.text[:200]}")

    def delete(self, upload: Upload) -> None:
        for attempt in range(100):
            response = self.http.delete(upload.url, headers=self.headers)
            if response.status_code == 204:
                return
            if response.status_code not in RETRY_STATUSES:
                raise RuntimeError(f"DELETE {response.status_code}")
            self._backoff(upload, str(response.status_code), attempt)


def _interrupting(body: Iterator[bytes], after: int) -> Iterator[bytes]:
    sent = 0
    for piece in body:
        if sent + len(piece) >= after:
            yield piece[: after - sent]
            raise Interrupted
        sent += len(piece)
        yield piece


def verify(s3client: Any, upload: Upload, source: Source) -> None:
    """Compare the stored object with its source: SHA-256 of the bytes read back, and the
    store's CRC64NVME with the source's."""
    upload_id = upload.url.rstrip("/").rsplit("/", 1)[-1]
    info_key = f"{PREFIX}_uploads/{upload_id}.info"
    try:
        state = json.loads(s3client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read())
    except Exception as exc:
        upload.verified_sha = upload.verified_crc = False
        upload.error = f"no state {info_key}: {exc}"
        return
    key = state["key"]
    if not state.get("finished"):
        upload.verified_sha = upload.verified_crc = False
        upload.error = f"not finished: offset {state.get('offset')} of {state.get('size')}"
        return
    sha_source, crc_source = source.digests()
    sha = hashlib.sha256()
    try:
        body = s3client.get_object(Bucket=BUCKET, Key=key)["Body"]
    except Exception as exc:
        upload.verified_sha = upload.verified_crc = False
        upload.error = f"no object {key}: {exc}"
        return
    try:
        for piece in iter(lambda: body.read(8 * MiB), b""):
            sha.update(piece)
    finally:
        body.close()
    upload.verified_sha = sha.hexdigest() == sha_source
    head = s3client.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    stored = head.get("ChecksumCRC64NVME")
    upload.verified_crc = None if stored is None else stored == crc_source


# --------------------------------------------------------------------------- load


LOAD_MODES = ["whole", "whole", "chunks-1MiB", "chunks-5MiB", "chunks-8MiB", "with-creation"]


def run_load(args: argparse.Namespace, s3: EmbeddedS3, gateway: Gateway) -> dict[str, Any]:
    rng = random.Random(20240607)
    low, high = parse_size(args.min_size), parse_size(args.max_size)
    sizes = [low, high] + [log_uniform(rng, low, high) for _ in range(args.uploads - 2)]
    rng.shuffle(sizes)
    uploads = [
        Upload(
            name=f"load-{i:03d}.bin",
            size=size,
            mode=rng.choice(LOAD_MODES),
            token=TOKENS[i % len(TOKENS)],
        )
        for i, size in enumerate(sizes)
    ]
    barrier = threading.Barrier(len(uploads))

    def one(index: int) -> None:
        upload = uploads[index]
        source = Source(index, upload.size)
        client = TusClient(gateway.url, upload.token)
        try:
            barrier.wait()
            started = time.monotonic()
            chunk = None
            if upload.mode.startswith("chunks-"):
                chunk = parse_size(upload.mode.removeprefix("chunks-"))
            offset = client.create(upload, source, body=upload.mode == "with-creation")
            client.send(upload, source, offset, chunk)
            upload.seconds = time.monotonic() - started
            upload.ok = True
        except Exception as exc:
            upload.error = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()

    total = sum(sizes)
    log(f"load: {len(uploads)} concurrent uploads, {format_size(total)} in all")
    sampler = Sampler(gateway.pid, s3.pid, 1.0)
    sampler.start()
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(uploads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    samples = sampler.stop()
    log(f"load: uploads done in {wall:.1f} s; verifying every object")
    client = s3.client()
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda i: (
                    verify(client, uploads[i], Source(i, uploads[i].size))
                    if uploads[i].ok
                    else None
                ),
                range(len(uploads)),
            )
        )
    durations = sorted(u.seconds for u in uploads if u.ok)
    retries: Counter[str] = Counter()
    for upload in uploads:
        retries.update(upload.retries)
    return {
        "part": "load",
        "uploads": len(uploads),
        "ok": sum(u.ok for u in uploads),
        "failed": [{"name": u.name, "error": u.error} for u in uploads if not u.ok],
        "bytes": total,
        "wall_s": round(wall, 2),
        "mib_per_s": round(total / MiB / wall, 1),
        "upload_s": {
            "p50": round(statistics.median(durations), 2) if durations else None,
            "p95": round(durations[int(0.95 * (len(durations) - 1))], 2) if durations else None,
            "max": round(durations[-1], 2) if durations else None,
        },
        "sha256_match": sum(u.verified_sha is True for u in uploads),
        "crc64nvme_match": sum(u.verified_crc is True for u in uploads),
        "crc64nvme_missing": sum(u.verified_crc is None and u.ok for u in uploads),
        "mismatched": [
            f"{u.name}: {u.error or 'bytes differ'}"
            for u in uploads
            if u.verified_sha is False or u.verified_crc is False
        ],
        "retries": dict(retries),
        "modes": dict(Counter(u.mode for u in uploads)),
        "sizes": {"min": min(sizes), "max": max(sizes), "median": int(statistics.median(sizes))},
        "gateway": summarize_samples(samples),
        "gateway_errors_logged": len(gateway.errors()),
        "samples": [asdict(s) for s in samples],
        "per_upload": [
            {k: v for k, v in asdict(u).items() if k != "token"} | {"retries": dict(u.retries)}
            for u in uploads
        ],
    }


# --------------------------------------------------------------------------- soak


SOAK_SCENARIOS = ["whole"] * 15 + ["interrupted"] * 2 + ["deferred"] * 2 + ["terminated"]


def run_soak(args: argparse.Namespace, s3: EmbeddedS3, gateway: Gateway) -> dict[str, Any]:
    low, high = parse_size(args.min_size), parse_size(args.max_size)
    deadline = 0.0
    done: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    failures: list[str] = []
    mismatches: list[str] = []
    moved = [0]
    lock = threading.Lock()
    s3client = s3.client()

    def worker(number: int, phase: int) -> None:
        rng = random.Random(number * 1000 + phase)
        client = TusClient(gateway.url, TOKENS[number % len(TOKENS)])
        seq = phase * 1_000_000
        try:
            while time.monotonic() < deadline:
                seq += 1
                scenario = rng.choice(SOAK_SCENARIOS)
                size = log_uniform(rng, low, high)
                seed = number * 10_000_000 + seq
                source = Source(seed, size)
                upload = Upload(f"soak-{number}-{seq}.bin", size, scenario, "")
                chunk = rng.choice([None, None, 256 * KiB, MiB, 5 * MiB])
                try:
                    deferred = scenario == "deferred"
                    offset = client.create(upload, source, deferred=deferred)
                    if scenario == "terminated":
                        half = Source(seed, max(1, size // 2))
                        client.send(upload, half, offset, chunk)
                        client.delete(upload)
                    else:
                        interrupt = rng.randrange(size) if scenario == "interrupted" else None
                        client.send(
                            upload,
                            source,
                            offset,
                            chunk,
                            declare_at_end=deferred,
                            interrupt_at=interrupt,
                        )
                        verify(s3client, upload, source)
                        client.delete(upload)
                    with lock:
                        done[scenario] += 1
                        retries.update(upload.retries)
                        moved[0] += size if scenario != "terminated" else size // 2
                        if upload.verified_sha is False or upload.verified_crc is False:
                            mismatches.append(upload.name)
                except Exception as exc:
                    with lock:
                        failures.append(f"{upload.name} ({scenario}): {type(exc).__name__}: {exc}")
        finally:
            client.close()

    def start(phase: int, seconds: float) -> list[threading.Thread]:
        nonlocal deadline
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=worker, args=(n, phase)) for n in range(args.workers)]
        for thread in threads:
            thread.start()
        return threads

    # warm up (pools, caches, the store's volumes), then settle: the baseline is that idle
    log(f"soak: warming up for {args.warmup} s")
    for thread in start(0, args.warmup):
        thread.join()
    warmup = {"uploads": sum(done.values()), "failures": len(failures)}
    done.clear()
    retries.clear()
    moved[0] = 0
    time.sleep(KEEP_ALIVE + 2)  # the clients' connections closed: the gateway is idle
    idle_before = sample(gateway.pid, s3.pid, time.monotonic())
    log(f"soak: {args.workers} workers for {args.minutes} min, sampling every {args.interval} s")
    sampler = Sampler(gateway.pid, s3.pid, args.interval)
    sampler.start()
    started = time.monotonic()
    threads = start(1, args.minutes * 60)
    last_report = started
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if time.monotonic() - last_report >= 60:
            last_report = time.monotonic()
            s = sampler.samples[-1]
            log(
                f"soak: {(last_report - started) / 60:4.1f} min, {sum(done.values())} uploads, "
                f"RSS {s.rss_kib / 1024:.0f} MiB, fds {s.fds}, threads {s.threads}"
            )
    wall = time.monotonic() - started
    samples = sampler.stop()
    time.sleep(KEEP_ALIVE + 2)  # the clients' connections closed: the gateway is idle again
    idle_after = sample(gateway.pid, s3.pid, time.monotonic())
    return {
        "part": "soak",
        "minutes": args.minutes,
        "workers": args.workers,
        "warmup": warmup,
        "wall_s": round(wall, 1),
        "uploads": dict(done),
        "uploads_total": sum(done.values()),
        "bytes": moved[0],
        "mib_per_s": round(moved[0] / MiB / wall, 1),
        "failures": failures,
        "mismatched": mismatches,
        "retries": dict(retries),
        "idle_before": asdict(idle_before),
        "idle_after": asdict(idle_after),
        "gateway": summarize_samples(samples),
        "gateway_errors_logged": len(gateway.errors()),
        "samples": [asdict(s) for s in samples],
    }


def summarize_samples(samples: Sequence[ProcSample]) -> dict[str, Any]:
    half = [s for s in samples if s.t >= samples[-1].t / 2]
    out: dict[str, Any] = {}
    for name, scale in (("rss_kib", 1024), ("fds", 1), ("threads", 1)):
        values = [getattr(s, name) / scale for s in samples]
        slope = slope_per_minute([(s.t, getattr(s, name) / scale) for s in half])
        out[name.removesuffix("_kib")] = {
            "start": round(values[0], 1),
            "end": round(values[-1], 1),
            "max": round(max(values), 1),
            "min": round(min(values), 1),
            "second_half_slope_per_min": round(slope, 3),
        }
    out["rss"]["unit"] = "MiB"
    out["peak_rss_mib"] = round(max(s.hwm_kib for s in samples) / 1024, 1)
    out["cpu_s"] = round(samples[-1].cpu_s - samples[0].cpu_s, 1)
    out["store_rss_mib_max"] = round(max(s.store_rss_kib for s in samples) / 1024, 1)
    out["samples"] = len(samples)
    return out


# --------------------------------------------------------------------------- reports


def growth_verdict(result: dict[str, Any]) -> str:
    """Growth over the second half beyond noise: RSS more than 1 MiB/min, or fds/threads
    more than 0.5 per minute, or idle fds/threads more than 2 above the warmed-up idle (one
    more pooled store connection or worker thread is noise)."""
    g = result["gateway"]
    notes = []
    if g["rss"]["second_half_slope_per_min"] > 1.0:
        notes.append(f"RSS grows {g['rss']['second_half_slope_per_min']:.2f} MiB/min")
    for name in ("fds", "threads"):
        if g[name]["second_half_slope_per_min"] > 0.5:
            notes.append(f"{name} grow {g[name]['second_half_slope_per_min']:.2f}/min")
    if "idle_after" in result:
        for name in ("fds", "threads"):
            before, after = result["idle_before"][name], result["idle_after"][name]
            if after > before + 2:
                notes.append(f"idle {name} {before} -> {after}")
    return "no growth" if not notes else "; ".join(notes)


def markdown(result: dict[str, Any], command: str) -> str:
    g = result["gateway"]
    lines = [f"### Gateway {result['part']}", "", f"`{command}`", ""]
    if result["part"] == "load":
        lines += [
            f"- {result['ok']}/{result['uploads']} uploads done, "
            f"{format_size(result['bytes'])} ({result['sizes']['min'] // KiB} KiB to "
            f"{result['sizes']['max'] // MiB} MiB, median {result['sizes']['median'] / MiB:.1f} "
            f"MiB), all started at once: {result['wall_s']} s wall, "
            f"{result['mib_per_s']} MiB/s in aggregate",
            f"- per upload: median {result['upload_s']['p50']} s, p95 "
            f"{result['upload_s']['p95']} s, max {result['upload_s']['max']} s; "
            f"modes {result['modes']}",
            f"- verified: SHA-256 {result['sha256_match']}/{result['uploads']}, stored "
            f"CRC64NVME = source's {result['crc64nvme_match']}/{result['uploads']} "
            f"(no stored CRC: {result['crc64nvme_missing']}); mismatches: "
            f"{result['mismatched'] or 'none'}",
            f"- client retries: {result['retries'] or 'none'}; failures: "
            f"{len(result['failed'])}; gateway errors logged: {result['gateway_errors_logged']}",
        ]
    else:
        lines += [
            f"- {result['uploads_total']} uploads in {result['wall_s'] / 60:.1f} min by "
            f"{result['workers']} clients ({result['uploads']}), "
            f"{format_size(result['bytes'])} moved, {result['mib_per_s']} MiB/s; every finished "
            "object verified (SHA-256 and stored CRC64NVME) and then terminated",
            f"- mismatches: {result['mismatched'] or 'none'}; failures: "
            f"{len(result['failures'])}; client retries: {result['retries'] or 'none'}; "
            f"gateway errors logged: {result['gateway_errors_logged']}",
            "- idle after the warm-up / at the end: RSS "
            f"{result['idle_before']['rss_kib'] / 1024:.0f} / "
            f"{result['idle_after']['rss_kib'] / 1024:.0f} MiB, fds "
            f"{result['idle_before']['fds']} / {result['idle_after']['fds']}, threads "
            f"{result['idle_before']['threads']} / {result['idle_after']['threads']}",
        ]
    soak = result["part"] == "soak"
    lines += [
        "",
        "| gateway process | start | end | max |" + (" slope, 2nd half /min |" if soak else ""),
        "| --- | --- | --- | --- |" + (" --- |" if soak else ""),
    ]
    for name, label in (("rss", "RSS (MiB)"), ("fds", "open fds"), ("threads", "threads")):
        m = g[name]
        slope = f" {m['second_half_slope_per_min']:+.3f} |" if soak else ""
        lines.append(f"| {label} | {m['start']} | {m['end']} | {m['max']} |{slope}")
    lines += [
        "",
        f"Peak RSS (VmHWM) {g['peak_rss_mib']} MiB, gateway CPU {g['cpu_s']} s, store RSS max "
        f"{g['store_rss_mib_max']} MiB, {g['samples']} samples."
        + (f" Growth: **{growth_verdict(result)}**." if result["part"] == "soak" else ""),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="part", required=True)
    load = sub.add_parser("load", help="concurrent uploads of mixed sizes, all verified")
    load.add_argument("--uploads", type=int, default=100, help="concurrent uploads (100)")
    load.add_argument("--min-size", default="100KiB", help="smallest upload (100KiB)")
    load.add_argument("--max-size", default="64MiB", help="largest upload (64MiB)")
    report = sub.add_parser("report", help="print the summary of a saved JSON result")
    report.add_argument("file", help="a bench/results/gateway_*.json")
    soak = sub.add_parser("soak", help="uploads in a loop while the gateway is sampled")
    soak.add_argument("--minutes", type=float, default=10.0, help="duration (10)")
    soak.add_argument("--workers", type=int, default=4, help="concurrent clients (4)")
    soak.add_argument("--interval", type=float, default=5.0, help="seconds between samples (5)")
    soak.add_argument(
        "--warmup", type=float, default=30.0, help="seconds of uploads before the baseline (30)"
    )
    soak.add_argument("--min-size", default="16KiB", help="smallest upload (16KiB)")
    soak.add_argument("--max-size", default="8MiB", help="largest upload (8MiB)")
    for p in (load, soak):
        p.add_argument("--part-size", default="16MiB", help="gateway part size (16MiB)")
        p.add_argument(
            "--store-dir", help="parent of the store's temporary directory (system temp dir)"
        )
        p.add_argument("--json", help="write the result here (bench/results/gateway_PART.json)")
        p.add_argument(
            "--gateway-arg",
            action="append",
            default=[],
            help="extra gateway flag, e.g. --gateway-arg=--pipeline-parts=2",
        )
    args = parser.parse_args(argv)
    if args.part == "report":
        saved = json.loads(Path(args.file).read_text())
        print(markdown(saved, saved["command"]))
        return 0
    command = "bench/bench_soak.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with (
        tempfile.TemporaryDirectory(prefix="s3stream-soak-", dir=args.store_dir) as tmp,
        EmbeddedS3(buckets=[BUCKET], data_dir=Path(tmp) / "store") as s3,
    ):
        gateway = Gateway(s3, Path(tmp), args.part_size, args.gateway_arg)
        try:
            result = (
                run_load(args, s3, gateway) if args.part == "load" else run_soak(args, s3, gateway)
            )
            errors = gateway.errors()
            log_tail = gateway.log_path.read_text(errors="replace").splitlines()[-400:]
        finally:
            gateway.stop()
    result["command"] = command
    result["gateway_command"] = " ".join(gateway.command[1:])
    result["gateway_error_lines"] = errors[-20:]
    result["gateway_log_tail"] = log_tail if errors else []
    result["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    result["loadavg_at_end"] = os.getloadavg()
    out = Path(args.json) if args.json else RESULTS / f"gateway_{args.part}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result, command))
    print(f"\n(JSON: {out})")
    failed = result.get("failed") or result.get("failures") or result.get("mismatched")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
