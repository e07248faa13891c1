"""Upload benchmark: s3stream against boto3's transfer manager, on the embedded SeaweedFS.

Uploads one file and one stream of unknown length (a pipe from ``cat FILE``) with each tool,
every upload in a fresh worker process (``bench_worker.py``, shared with ``bench_peers.py``),
and prints, per tool and case, the median throughput, client CPU-seconds per GiB and peak RSS
of N runs.

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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_worker import CALLS as CALLS_ALL
from benchlib import (
    GiB,
    MiB,
    format_size,
    make_test_file,
    parse_size,
    run_python_worker,
    worker_env,
)

BUCKET = "bench"
TOOLS = ("s3stream", "boto3")
CASES = ("file", "stream")
CALLS = {key: CALLS_ALL[key] for key in ((t, c) for t in TOOLS for c in CASES)}


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


def run_one(
    tool: str,
    case: str,
    key: str,
    path: Path,
    args: argparse.Namespace,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """One upload in a fresh worker process (``bench_worker.py``); its JSON record."""
    return run_python_worker(
        sys.executable,
        [
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
        ],
        env,
    )


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
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be 1 to 64")
    return run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
