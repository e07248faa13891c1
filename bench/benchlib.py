"""Shared pieces of the benchmarks: sizes, test data, the store environment, and measuring
one upload in a fresh process.

Two ways of measuring, one figure set (wall seconds, user + system CPU seconds, peak RSS):

- Python tools run in a fresh worker process (``bench_worker.py``) that measures itself around
  the upload call: ``getrusage(RUSAGE_SELF)`` (all threads) and ``VmHWM`` from
  ``/proc/self/status``. Interpreter start-up, imports and client creation are outside the
  clock; they are inside the peak RSS.
- Every upload, the worker included, also runs as a whole process under GNU
  ``/usr/bin/time``, which reports the child's user and system CPU seconds and its peak RSS
  (``ru_maxrss`` of the exec'd tool: GNU time itself is about 2 MiB and the tool replaces
  it). The clock runs from the spawn to the exit, so start-up is inside these figures; for
  external binaries (s5cmd, rclone, the AWS CLI, curl, the s3stream CLI) they are the only
  ones.

Stream cases feed the tool from a real pipe (``cat FILE`` or ``gen_stream.py N``) whose
writer is never counted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MB = 1000**2

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORKER = BENCH_DIR / "bench_worker.py"
GENERATOR = BENCH_DIR / "gen_stream.py"
BUCKET = "bench"
WRITE_BLOCK = 64 * MiB
WORKER_TIMEOUT = 3600.0
GNU_TIME = "/usr/bin/time"

_UNITS = {
    "": 1,
    "b": 1,
    "kib": KiB,
    "mib": MiB,
    "gib": GiB,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
}


def parse_size(text: str) -> int:
    """``1GiB``, ``16MiB``, ``500MB`` or a byte count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use e.g. 1GiB, 16MiB, 500MB")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return value


def format_size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------- self-measurement


def peak_rss_kib() -> int | None:
    """This process' own peak RSS (``VmHWM``), or None without /proc.

    ``ru_maxrss`` is not used for the figure: Linux carries the parent's peak over fork and
    exec into the child's ``ru_maxrss``, so every worker would report at least the driver's.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def self_usage() -> tuple[float, float, int, int]:
    """User and system CPU seconds of this process (all threads, no children), peak RSS KiB
    (``VmHWM``) and ``ru_maxrss`` KiB."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    maxrss = ru.ru_maxrss  # KiB on Linux
    peak = peak_rss_kib()
    return ru.ru_utime, ru.ru_stime, maxrss if peak is None else peak, maxrss


# --------------------------------------------------------------------------- test data, env


def make_test_file(directory: Path, size: int, name: str = "bench.bin") -> tuple[Path, str]:
    """Write ``size`` random bytes; return the path and its sha256."""
    path = directory / name
    sha = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(WRITE_BLOCK, left))
            sha.update(block)
            f.write(block)
            left -= len(block)
    return path, sha.hexdigest()


def worker_env(store_env: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without any AWS settings, pointed at the given store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RCLONE_", "S3STREAM_", "SSL_CERT_"))
    }
    env.update(store_env)
    # No shared config or credentials files, no instance metadata: defaults only.
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def bench_python() -> str:
    """The interpreter of the peers' virtualenv (``.venv-bench``, see setup_peers.sh)."""
    path = REPO / ".venv-bench" / "bin" / "python"
    if not path.exists():
        raise SystemExit("the peers are not installed: run bench/setup_peers.sh first")
    return str(path)


def bench_binary(name: str) -> str:
    """A peer's binary from ``.venv-bench/bin`` (or /usr/bin for curl)."""
    path = REPO / ".venv-bench" / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: run bench/setup_peers.sh (or apt-get install)")
    return found


# --------------------------------------------------------------------------- one measurement


@dataclass
class Measured:
    """One upload by one tool: what the client process spent on it."""

    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_kib: int
    rss_before_upload_kib: int | None = None
    extra: dict[str, Any] | None = None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def run_python_worker(
    python: str, worker_args: Sequence[str], env: Mapping[str, str]
) -> dict[str, Any]:
    """Run ``bench_worker.py`` in a fresh interpreter; return its JSON record."""
    command = [python, str(WORKER), *worker_args]
    proc = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=WORKER_TIMEOUT
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"worker {' '.join(worker_args[:2])} failed (status {proc.returncode}):\n"
            f"{proc.stderr[-4000:]}"
        )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"worker printed nothing:\n{proc.stderr[-4000:]}")
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def measured_from_worker(record: Mapping[str, Any]) -> Measured:
    return Measured(
        wall_s=float(record["wall_s"]),
        user_s=float(record["user_s"]),
        sys_s=float(record["sys_s"]),
        peak_rss_kib=int(record["peak_rss_kib"]),
        rss_before_upload_kib=int(record["rss_before_upload_kib"]),
        extra={k: record[k] for k in ("sent", "result") if k in record},
    )


def run_external(
    command: Sequence[str],
    env: Mapping[str, str],
    stdin_command: Sequence[str] | None = None,
    timeout: float = WORKER_TIMEOUT,
) -> Measured:
    """Run an external tool under GNU time, optionally fed by a pipe from ``stdin_command``;
    what the whole process spent (see :func:`run_measured`)."""
    return run_measured(command, env, stdin_command, timeout)[0]


def run_measured(
    command: Sequence[str],
    env: Mapping[str, str],
    stdin_command: Sequence[str] | None = None,
    timeout: float = WORKER_TIMEOUT,
) -> tuple[Measured, str]:
    """Run ``command`` under GNU time, optionally fed by a pipe from ``stdin_command``; return
    what the whole process spent and what it printed on stdout.

    The tool's CPU seconds and peak RSS come from GNU time (``%U %S %M``), start-up included;
    the feeder's CPU is not counted (it is not the tool's child). The wall clock runs from
    before the feeder and the tool are spawned until the tool has exited.
    """
    with tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt") as report:
        timed = [GNU_TIME, "-f", "%U %S %M", "-o", report.name, *command]
        feeder: subprocess.Popen[bytes] | None = None
        t0 = time.perf_counter()
        if stdin_command is not None:
            feeder = subprocess.Popen(list(stdin_command), stdout=subprocess.PIPE)
            stdin: Any = feeder.stdout
        else:
            stdin = subprocess.DEVNULL
        # Its own session: a tool that outlives the timeout is killed with GNU time.
        proc = subprocess.Popen(
            timed,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        finally:
            t1 = time.perf_counter()
            if feeder is not None:
                assert feeder.stdout is not None
                feeder.stdout.close()
                if feeder.poll() is None:
                    feeder.kill()
                feeder.wait()
        if proc.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} {' '.join(command[1:3])} failed (status "
                f"{proc.returncode}):\n{out.decode(errors='replace')[-2000:]}"
                f"{err.decode(errors='replace')[-2000:]}"
            )
        fields = Path(report.name).read_text().split()
    user_s, sys_s, maxrss_kib = float(fields[-3]), float(fields[-2]), int(fields[-1])
    measured = Measured(wall_s=t1 - t0, user_s=user_s, sys_s=sys_s, peak_rss_kib=maxrss_kib)
    return measured, out.decode(errors="replace")


# --------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def summarize_group(samples: Sequence[Measured], nbytes: int) -> dict[str, Any]:
    """Medians (and ranges) of throughput, CPU per GiB and peak RSS over runs."""
    rates = [nbytes / MiB / s.wall_s for s in samples]
    mbs = [nbytes / MB / s.wall_s for s in samples]
    cpus = [s.cpu_s / (nbytes / GiB) for s in samples]
    rss = [s.peak_rss_kib / 1024 for s in samples]
    before = [s.rss_before_upload_kib / 1024 for s in samples if s.rss_before_upload_kib]
    return {
        "runs": len(samples),
        "bytes": nbytes,
        "wall_s": median(s.wall_s for s in samples),
        "mib_per_s": median(rates),
        "mb_per_s": median(mbs),
        "cpu_s_per_gib": median(cpus),
        "user_s": median(s.user_s for s in samples),
        "sys_s": median(s.sys_s for s in samples),
        "peak_rss_mib": median(rss),
        "rss_before_upload_mib": median(before) if before else None,
        "mib_per_s_range": [min(rates), max(rates)],
        "cpu_s_per_gib_range": [min(cpus), max(cpus)],
        "peak_rss_mib_range": [min(rss), max(rss)],
    }


def rotated(jobs: Sequence[Any], run: int) -> list[Any]:
    """The job list rotated by ``run``: tools alternate and none is always first."""
    k = run % len(jobs)
    return list(jobs[k:]) + list(jobs[:k])


# --------------------------------------------------------------------------- store helpers


def verify_object(client: Any, key: str, size: int, sha256: str | None = None) -> list[str]:
    """Check an object's size (and with ``sha256``, its bytes); return what was checked."""
    head = client.head_object(Bucket=BUCKET, Key=key)
    if head["ContentLength"] != size:
        raise RuntimeError(f"{key}: object has {head['ContentLength']} bytes, expected {size}")
    checked = ["size"]
    if sha256 is not None:
        sha = hashlib.sha256()
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
        try:
            for chunk in iter(lambda: body.read(8 * MiB), b""):
                sha.update(chunk)
        finally:
            body.close()
        if sha.hexdigest() != sha256:
            raise RuntimeError(f"{key}: sha256 mismatch")
        checked.append("sha256")
    return checked


def weed_version() -> str:
    from s3stream.embedded import find_weed_binary

    out = subprocess.run(
        [find_weed_binary(), "version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return out.splitlines()[0].removeprefix("version ") if out else "?"


def versions(python: str, dists: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``dists`` in the interpreter ``python``."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = metadata.version(d)\n"
        "    except metadata.PackageNotFoundError: out[d] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run(
        [python, "-c", code, *dists], capture_output=True, text=True, timeout=60, check=True
    )
    found: dict[str, str] = json.loads(proc.stdout)
    return found


def tool_version(command: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(command), capture_output=True, text=True, timeout=60)
    except OSError:
        return "?"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine_facts() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
    except OSError:
        load = []

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "nproc": affinity or os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "s3stream": dist("s3stream"),
        "botocore": dist("botocore"),
        "awscrt": dist("awscrt"),
        "loadavg_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def warm_up(client: Any, size: int = 32 * MiB) -> None:
    """One untimed upload, so that the store's first volume allocation is not measured."""
    key = "warm-up"
    client.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size))
    client.delete_object(Bucket=BUCKET, Key=key)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
