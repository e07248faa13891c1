"""Upload benchmark: s3stream against boto3's transfer manager, on the embedded SeaweedFS.

Uploads one file and one stream of unknown length (a pipe from ``cat FILE``) with each tool,
every upload in a fresh worker process (this script with ``--worker``), and prints, per tool
and case, the median throughput, client CPU-seconds per GiB and peak RSS of N runs.

    .venv/bin/python bench/bench_upload.py [--size 1GiB] [--runs 3] [--part-size 16MiB]
                                           [--concurrency 4] [--json out.json]

The store listens on 127.0.0.1 only. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

BUCKET = "bench"
TOOLS = ("s3stream", "boto3")
CASES = ("file", "stream")
CALLS = {
    ("s3stream", "file"): "upload_file",
    ("s3stream", "stream"): "upload_stream",
    ("boto3", "file"): "upload_file",
    ("boto3", "stream"): "upload_fileobj",
}
WRITE_BLOCK = 64 * MiB
WORKER_TIMEOUT = 1800.0
# Request headers worth reporting: which checksum went where, and how the payload was signed.
_SENT_HEADERS = (
    "x-amz-content-sha256",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "content-encoding",
    "content-md5",
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

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
            return f"{n // scale}{unit}"
    return f"{n}B"


# --------------------------------------------------------------------------- worker side


def _describe_request(headers: Any) -> dict[str, str]:
    """The checksum and signing headers of one request (checksum values elided)."""
    found: dict[str, str] = {}
    for name, raw in headers.items():
        lname = str(name).lower()
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        if lname.startswith("x-amz-checksum-"):
            if lname in ("x-amz-checksum-algorithm", "x-amz-checksum-type"):
                found[lname] = value
            else:
                found[lname] = "<value>"
        elif lname in _SENT_HEADERS:
            if lname == "x-amz-content-sha256" and _HEX64.match(value):
                value = "<sha256 of the payload>"
            elif lname == "content-md5":
                value = "<value>"
            found[lname] = value
    return found


def _record_requests(client: Any, sent: dict[str, dict[str, str]]) -> None:
    """Remember the headers of the first request of each S3 operation the client sends."""

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation not in sent:
            sent[operation] = _describe_request(request.headers)

    client.meta.events.register("before-send.s3", before_send)


def _peak_rss_kib() -> int | None:
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


def _usage() -> tuple[float, float, int, int]:
    """User and system CPU seconds of this process (all threads, no children), peak RSS KiB."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    maxrss = ru.ru_maxrss  # KiB on Linux
    peak = _peak_rss_kib()
    return ru.ru_utime, ru.ru_stime, maxrss if peak is None else peak, maxrss


def run_worker(args: argparse.Namespace) -> int:
    """Do one upload and print its measurements as one JSON line on stdout."""
    tool: str = args.worker[0]
    case: str = args.worker[1]
    path = Path(args.file)
    sent: dict[str, dict[str, str]] = {}
    upload: Callable[[Any], Any]

    if tool == "s3stream":
        from s3stream import S3StreamUploader

        uploader = S3StreamUploader(
            endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region=os.environ["AWS_REGION"]
        )
        store_client = getattr(uploader.store, "client", None)
        if store_client is not None:
            _record_requests(store_client, sent)
        options: dict[str, Any] = {
            "part_size": args.part_size,
            "concurrency": args.concurrency,
            "checksum": "crc64nvme",
        }
        if case == "file":

            def upload(_: Any) -> Any:
                return uploader.upload_file(path, args.bucket, args.key, **options)

        else:

            def upload(source: Any) -> Any:
                return uploader.upload_stream(source, args.bucket, args.key, **options)

    elif tool == "boto3":
        import boto3
        from boto3.s3.transfer import TransferConfig

        client = boto3.client("s3")  # default settings, endpoint and keys from the environment
        _record_requests(client, sent)
        config = TransferConfig(
            multipart_chunksize=args.part_size,
            max_concurrency=args.concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        if case == "file":

            def upload(_: Any) -> Any:
                return client.upload_file(str(path), args.bucket, args.key, Config=config)

        else:

            def upload(source: Any) -> Any:
                return client.upload_fileobj(source, args.bucket, args.key, Config=config)

    else:
        raise SystemExit(f"unknown tool {tool!r}")

    writer: subprocess.Popen[bytes] | None = None
    user0, sys0, rss0, _ = _usage()
    t0 = time.perf_counter()
    if case == "stream":
        # A real pipe: the uploader cannot know the length, and reads what `cat` writes.
        writer = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
        assert writer.stdout is not None
        result = upload(writer.stdout)
        writer.stdout.close()
        writer.wait()
    else:
        result = upload(None)
    t1 = time.perf_counter()
    user1, sys1, rss1, maxrss1 = _usage()
    if writer is not None and writer.returncode != 0:
        raise SystemExit(f"the writer process failed with status {writer.returncode}")

    record: dict[str, Any] = {
        "tool": tool,
        "case": case,
        "call": CALLS[(tool, case)],
        "key": args.key,
        "bytes": path.stat().st_size,
        "wall_s": t1 - t0,
        "user_s": user1 - user0,
        "sys_s": sys1 - sys0,
        "peak_rss_kib": rss1,
        "rss_before_upload_kib": rss0,
        "ru_maxrss_kib": maxrss1,
        "sent": sent,
    }
    if tool == "s3stream" and result is not None:
        record["result"] = {
            "size": result.size,
            "parts": result.parts,
            "checksum_algorithm": result.checksum_algorithm,
            "checksum": result.checksum,
            "checksum_type": result.checksum_type,
        }
    print(json.dumps(record))
    return 0


# --------------------------------------------------------------------------- driver side


@dataclass
class Sample:
    run: int
    order: int
    tool: str
    case: str
    call: str
    key: str
    bytes: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_kib: int
    rss_before_upload_kib: int
    ru_maxrss_kib: int
    sent: dict[str, dict[str, str]]
    result: dict[str, Any] | None = None
    verified: list[str] = field(default_factory=list)

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MiB / self.wall_s

    @property
    def cpu_s_per_gib(self) -> float:
        return (self.user_s + self.sys_s) / (self.bytes / GiB)

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024


@dataclass
class Summary:
    tool: str
    case: str
    call: str
    runs: int
    mib_per_s: float
    cpu_s_per_gib: float
    peak_rss_mib: float
    mib_per_s_range: tuple[float, float]
    cpu_s_per_gib_range: tuple[float, float]
    peak_rss_mib_range: tuple[float, float]
    rss_before_upload_mib: float
    user_s: float
    sys_s: float


def make_test_file(directory: Path, size: int) -> tuple[Path, str]:
    """Write ``size`` random bytes; return the path and its sha256."""
    path = directory / "bench.bin"
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
    """The caller's environment without any AWS settings, pointed at the embedded store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(store_env)
    # No shared config or credentials files, no instance metadata: defaults only, 127.0.0.1 only.
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_one(
    tool: str,
    case: str,
    key: str,
    path: Path,
    args: argparse.Namespace,
    env: Mapping[str, str],
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        tool,
        case,
        "--file",
        str(path),
        "--bucket",
        BUCKET,
        "--key",
        key,
        "--part-size",
        str(args.part_size),
        "--concurrency",
        str(args.concurrency),
    ]
    proc = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=WORKER_TIMEOUT
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{tool} {case} worker failed (status {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{tool} {case} worker printed nothing:\n{proc.stderr[-4000:]}")
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def sha256_of_object(client: Any, key: str) -> str:
    sha = hashlib.sha256()
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
    try:
        for chunk in iter(lambda: body.read(8 * MiB), b""):
            sha.update(chunk)
    finally:
        body.close()
    return sha.hexdigest()


def verify(sample: Sample, client: Any, size: int, file_sha256: str, full: bool) -> None:
    """Check the object's size (and with ``full``, its sha256) against the test file."""
    head = client.head_object(Bucket=BUCKET, Key=sample.key)
    if head["ContentLength"] != size:
        raise RuntimeError(
            f"{sample.tool} {sample.case}: object has {head['ContentLength']} bytes, "
            f"expected {size}"
        )
    sample.verified.append("size")
    if full:
        digest = sha256_of_object(client, sample.key)
        if digest != file_sha256:
            raise RuntimeError(f"{sample.tool} {sample.case}: sha256 mismatch ({digest})")
        sample.verified.append("sha256")


def summarize(samples: Sequence[Sample]) -> list[Summary]:
    summaries = []
    for tool in TOOLS:
        for case in CASES:
            group = [s for s in samples if s.tool == tool and s.case == case]
            if not group:
                continue
            rates = [s.mib_per_s for s in group]
            cpus = [s.cpu_s_per_gib for s in group]
            rss = [s.peak_rss_mib for s in group]
            summaries.append(
                Summary(
                    tool=tool,
                    case=case,
                    call=CALLS[(tool, case)],
                    runs=len(group),
                    mib_per_s=statistics.median(rates),
                    cpu_s_per_gib=statistics.median(cpus),
                    peak_rss_mib=statistics.median(rss),
                    mib_per_s_range=(min(rates), max(rates)),
                    cpu_s_per_gib_range=(min(cpus), max(cpus)),
                    peak_rss_mib_range=(min(rss), max(rss)),
                    rss_before_upload_mib=statistics.median(
                        s.rss_before_upload_kib / 1024 for s in group
                    ),
                    user_s=statistics.median(s.user_s for s in group),
                    sys_s=statistics.median(s.sys_s for s in group),
                )
            )
    return summaries


def machine_facts(args: argparse.Namespace, weed_version: str) -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": affinity or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "botocore": version("botocore"),
        "boto3": version("boto3"),
        "s3transfer": version("s3transfer"),
        "awscrt": version("awscrt"),
        "s3stream": version("s3stream"),
        "seaweedfs": weed_version,
        "size": args.size,
        "part_size": args.part_size,
        "concurrency": args.concurrency,
        "runs": args.runs,
    }


def _describe_sent(sent: Mapping[str, Mapping[str, str]]) -> str:
    """One line: the checksum each UploadPart carried, and how its payload was signed."""
    part = sent.get("UploadPart")
    if part is None:
        return "no UploadPart seen (single PutObject?)"
    create = sent.get("CreateMultipartUpload", {})
    algorithms = sorted(
        name.removeprefix("x-amz-checksum-").upper()
        for name in part
        if name.startswith("x-amz-checksum-")
        and name not in ("x-amz-checksum-algorithm", "x-amz-checksum-type")
    )
    trailer = part.get("x-amz-trailer")
    if algorithms:
        checksum = f"{'+'.join(algorithms)} in a header"
    elif trailer:
        checksum = f"{trailer.removeprefix('x-amz-checksum-').upper()} in a trailer"
    elif "content-md5" in part:
        checksum = "Content-MD5 only"
    else:
        checksum = "no checksum"
    if create:
        declared = create.get("x-amz-checksum-algorithm", "none")
        kind = create.get("x-amz-checksum-type", "default type")
        checksum += f" (CreateMultipartUpload: {declared}, {kind})"
    payload = part.get("x-amz-content-sha256", "?")
    signing = "payload SHA-256 signed" if payload.startswith("<sha256") else f"payload {payload}"
    return f"{checksum}; {signing}"


def render(
    summaries: Sequence[Summary], facts: Mapping[str, Any], samples: Sequence[Sample]
) -> str:
    out: list[str] = []
    out.append(
        f"machine: nproc={facts['nproc']} {facts['machine']} Linux {facts['kernel']}, "
        f"Python {facts['python']}, botocore {facts['botocore']}, boto3 {facts['boto3']}, "
        f"s3transfer {facts['s3transfer']}, awscrt {facts['awscrt']}, "
        f"SeaweedFS {facts['seaweedfs']}"
    )
    out.append(
        f"upload: {format_size(facts['size'])} per upload, part size "
        f"{format_size(facts['part_size'])}, concurrency {facts['concurrency']}, "
        f"{facts['runs']} run(s), medians; store: embedded SeaweedFS on 127.0.0.1 (plain HTTP)"
    )
    out.append("")
    out.append(
        "| tool | case | call | MiB/s | CPU-s/GiB | peak RSS MiB | RSS before upload MiB | runs |"
    )
    out.append("|---|---|---|---:|---:|---:|---:|---:|")
    for s in summaries:
        out.append(
            f"| {s.tool} | {s.case} | {s.call} | {s.mib_per_s:.0f} | {s.cpu_s_per_gib:.2f} "
            f"| {s.peak_rss_mib:.0f} | {s.rss_before_upload_mib:.0f} | {s.runs} |"
        )
    out.append("")
    by_key = {(s.tool, s.case): s for s in summaries}
    for case in CASES:
        ours, theirs = by_key.get(("s3stream", case)), by_key.get(("boto3", case))
        if ours is None or theirs is None:
            continue
        out.append(
            f"s3stream vs boto3, {case}: throughput x{ours.mib_per_s / theirs.mib_per_s:.2f}, "
            f"CPU x{ours.cpu_s_per_gib / theirs.cpu_s_per_gib:.2f}, "
            f"peak RSS x{ours.peak_rss_mib / theirs.peak_rss_mib:.2f}"
        )
    out.append("")
    seen: set[tuple[str, str]] = set()
    for sample in samples:
        if (sample.tool, sample.case) in seen:
            continue
        seen.add((sample.tool, sample.case))
        out.append(
            f"sent by {sample.tool} {sample.case}: {_describe_sent(sample.sent)}"
            f" [verified: {', '.join(sample.verified) or 'no'}]"
        )
    return "\n".join(out)


def run_driver(args: argparse.Namespace) -> int:
    from s3stream.embedded import EmbeddedS3, find_weed_binary

    weed = find_weed_binary()
    weed_version = subprocess.run(
        [weed, "version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    weed_version = weed_version.splitlines()[0].removeprefix("version ") if weed_version else "?"
    facts = machine_facts(args, weed_version)

    jobs = [(tool, case) for tool in TOOLS for case in CASES]
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="s3stream-bench-") as tmp:
        print(f"writing {format_size(args.size)} of random data ...", file=sys.stderr)
        path, file_sha256 = make_test_file(Path(tmp), args.size)
        with EmbeddedS3(buckets=[BUCKET]) as s3:
            env = worker_env(s3.env())
            client = s3.client()
            for run in range(args.runs):
                order = jobs[run % len(jobs) :] + jobs[: run % len(jobs)]
                for position, (tool, case) in enumerate(order):
                    key = f"{tool}-{case}-run{run}"
                    record = run_one(tool, case, key, path, args, env)
                    sample = Sample(run=run, order=position, **record)
                    first = not any(s.tool == tool and s.case == case for s in samples)
                    # Every object's size is checked; the first s3stream object of each case is
                    # downloaded and compared byte for byte (sha256) with the test file.
                    verify(
                        sample, client, args.size, file_sha256, full=first and tool == "s3stream"
                    )
                    client.delete_object(Bucket=BUCKET, Key=key)
                    os.sync()  # the store's writes land before the next upload starts
                    samples.append(sample)
                    print(
                        f"run {run + 1}/{args.runs} {tool:8} {case:6} "
                        f"{sample.mib_per_s:7.0f} MiB/s {sample.cpu_s_per_gib:5.2f} CPU-s/GiB "
                        f"{sample.peak_rss_mib:6.0f} MiB RSS",
                        file=sys.stderr,
                    )
                    time.sleep(args.pause)

    summaries = summarize(samples)
    print(render(summaries, facts, samples))
    if args.json:
        report = {
            "machine": facts,
            "file_sha256": file_sha256,
            "summary": [asdict(s) for s in summaries],
            "samples": [
                {
                    **asdict(s),
                    "mib_per_s": s.mib_per_s,
                    "cpu_s_per_gib": s.cpu_s_per_gib,
                    "peak_rss_mib": s.peak_rss_mib,
                }
                for s in samples
            ],
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nraw results written to {args.json}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=GiB, help="bytes per upload (1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and case (3)")
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB, help="(16MiB)")
    parser.add_argument("--concurrency", type=int, default=4, help="parts in flight (4)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument(
        "--pause", type=float, default=1.0, help="seconds to wait between uploads (1)"
    )
    # Worker mode (internal): one upload, measurements as JSON on stdout.
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", default=BUCKET, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be 1 to 64")
    if args.worker:
        if args.worker[0] not in TOOLS or args.worker[1] not in CASES:
            parser.error(f"--worker takes a tool ({', '.join(TOOLS)}) and a case (file, stream)")
        return run_worker(args)
    return run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
