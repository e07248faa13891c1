"""Part 1 of the benchmark: s3stream against its peers, on one embedded SeaweedFS.

A file and a stream of unknown length (a pipe from ``cat FILE``), uploaded by s3stream, boto3's
classic transfer manager, smart_open, s5cmd, rclone, the AWS CLI, and one raw ``curl -T`` PUT
of the file to a presigned URL (one request, no checksum: the ceiling). Every upload is a
fresh process; the tools alternate (the job list is rotated every run); figures are medians.

    .venv/bin/python bench/bench_peers.py [--size 1GiB] [--runs 3] [--only s3stream,boto3]

Needs the peers in ``.venv-bench`` (bench/setup_peers.sh). The store listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BUCKET,
    GiB,
    Measured,
    MiB,
    bench_binary,
    bench_python,
    format_size,
    log,
    make_test_file,
    measured_from_worker,
    median,
    parse_size,
    process_cpu_s,
    rotated,
    run_external,
    run_python_worker,
    summarize_group,
    verify_object,
    warm_up,
    worker_env,
)

PY_TOOLS = ("s3stream", "boto3", "smart_open")
EXT_TOOLS = ("s5cmd", "rclone", "aws", "curl")
TOOLS = PY_TOOLS + EXT_TOOLS
CASES = ("file", "stream")
# What each (tool, case) runs, for the table.
CALLS = {
    ("s3stream", "file"): "upload_file",
    ("s3stream", "stream"): "upload_stream",
    ("boto3", "file"): "upload_file (classic)",
    ("boto3", "stream"): "upload_fileobj (classic)",
    ("smart_open", "file"): "open('s3://…','wb') + copyfileobj",
    ("smart_open", "stream"): "open('s3://…','wb') + copyfileobj",
    ("s5cmd", "file"): "s5cmd cp",
    ("s5cmd", "stream"): "s5cmd pipe",
    ("rclone", "file"): "rclone copyto",
    ("rclone", "stream"): "rclone rcat",
    ("aws", "file"): "aws s3 cp FILE",
    ("aws", "stream"): "aws s3 cp -",
    ("curl", "file"): "curl -T (one presigned PUT)",
}
# Part size and concurrency each tool was given (what it allows).
SETTINGS = {
    "s3stream": "part_size, concurrency",
    "boto3": "TransferConfig(multipart_chunksize, max_concurrency)",
    "smart_open": "min_part_size (parts are sent one at a time)",
    "s5cmd": "--part-size, --concurrency",
    "rclone": "--s3-chunk-size, --s3-upload-concurrency",
    "aws": "s3.multipart_chunksize, s3.max_concurrent_requests (config file)",
    "curl": "one request",
}


class Store:
    """What a sub-benchmark needs of a store: an endpoint, keys, a client."""

    def __init__(
        self, endpoint_url: str, env: Mapping[str, str], client: Any, pid: int | None = None
    ) -> None:
        self.endpoint_url = endpoint_url
        self.env = dict(env)
        self.client = client
        self.pid = pid  # the store's process, for its CPU seconds

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid) if self.pid is not None else 0.0


def jobs_for(tools: Sequence[str]) -> list[tuple[str, str]]:
    return [(t, c) for t in tools for c in CASES if (t, c) in CALLS]


def external_command(
    tool: str,
    case: str,
    path: Path,
    key: str,
    store: Store,
    part_size: int,
    concurrency: int,
    aws_config: Path,
) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment of one external tool's upload."""
    url = f"s3://{BUCKET}/{key}"
    extra: dict[str, str] = {}
    if tool == "s5cmd":
        mib = str(part_size // MiB)
        sub = (
            ["cp", "-p", mib, "-c", str(concurrency), str(path), url]
            if case == "file"
            else ["pipe", "-p", mib, "-c", str(concurrency), url]
        )
        return [bench_binary("s5cmd"), "--endpoint-url", store.endpoint_url, *sub], extra
    if tool == "rclone":
        extra = {
            "RCLONE_CONFIG": os.devnull,
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": store.endpoint_url,
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": store.env["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": store.env["AWS_SECRET_ACCESS_KEY"],
            "RCLONE_CONFIG_S3_REGION": store.env["AWS_REGION"],
            "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        }
        flags = [
            f"--s3-chunk-size={part_size // MiB}Mi",
            f"--s3-upload-concurrency={concurrency}",
            "--s3-upload-cutoff=5Mi",
        ]
        target = f"s3:{BUCKET}/{key}"
        sub = ["copyto", str(path), target] if case == "file" else ["rcat", target]
        return [bench_binary("rclone"), *sub, *flags], extra
    if tool == "aws":
        extra = {"AWS_CONFIG_FILE": str(aws_config)}
        source = str(path) if case == "file" else "-"
        return [
            bench_binary("aws"),
            "--endpoint-url",
            store.endpoint_url,
            "s3",
            "cp",
            "--only-show-errors",
            "--no-progress",
            source,
            url,
        ], extra
    if tool == "curl":
        # SigV4 query signing by the store's botocore client (what S3StreamUploader.presign
        # does too), for the endpoint the client talks to.
        presigned = store.client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
        )
        return [
            bench_binary("curl"),
            "--silent",
            "--show-error",
            "--fail",
            "--output",
            os.devnull,
            "-T",
            str(path),
            presigned,
        ], extra
    raise ValueError(tool)


def write_aws_config(directory: Path, part_size: int, concurrency: int) -> Path:
    path = directory / "aws-config"
    path.write_text(
        "[default]\n"
        "s3 =\n"
        f"  multipart_chunksize = {part_size // MiB}MB\n"
        f"  multipart_threshold = {part_size // MiB}MB\n"
        f"  max_concurrent_requests = {concurrency}\n"
    )
    return path


def run_job(
    tool: str,
    case: str,
    key: str,
    path: Path,
    store: Store,
    part_size: int,
    concurrency: int,
    aws_config: Path,
    preset: str | None = None,
) -> Measured:
    """One upload by one tool in a fresh process."""
    env = worker_env(store.env)
    if tool in PY_TOOLS:
        python = sys.executable if tool == "s3stream" else bench_python()
        worker_args = [tool, case, "--file", str(path), "--bucket", BUCKET, "--key", key]
        if preset:
            worker_args += ["--preset", preset]
        else:
            worker_args += ["--part-size", str(part_size), "--concurrency", str(concurrency)]
        return measured_from_worker(run_python_worker(python, worker_args, env))
    command, extra = external_command(
        tool, case, path, key, store, part_size, concurrency, aws_config
    )
    env.update(extra)
    feeder = ["cat", str(path)] if case == "stream" else None
    return run_external(command, env, stdin_command=feeder)


@contextlib.contextmanager
def embedded_store(directory: Path) -> Iterator[Store]:
    """A fresh embedded SeaweedFS in ``directory``, warmed up; removed afterwards."""
    from s3stream.embedded import EmbeddedS3

    try:
        with EmbeddedS3(data_dir=directory, buckets=[BUCKET]) as s3:
            store = Store(s3.endpoint_url, s3.env(), s3.client(), s3.pid)
            warm_up(store.client)
            yield store
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_part(
    path: Path,
    sha256: str,
    *,
    runs: int,
    part_size: int,
    concurrency: int,
    tools: Sequence[str],
    pause: float,
    workdir: Path,
) -> dict[str, Any]:
    """Every tool and case ``runs`` times, rotated, a fresh store per run; medians."""
    size = path.stat().st_size
    aws_config = write_aws_config(workdir, part_size, concurrency)
    jobs = jobs_for(tools)
    samples: list[dict[str, Any]] = []
    verified: set[tuple[str, str]] = set()
    for run in range(runs):
        with embedded_store(workdir / f"store-run{run}") as store:
            for position, (tool, case) in enumerate(rotated(jobs, run)):
                key = f"peers/{tool}-{case}-run{run}"
                store0 = store.cpu_s()
                m = run_job(tool, case, key, path, store, part_size, concurrency, aws_config)
                store_cpu = store.cpu_s() - store0
                # Every object's size is checked; the first object of every tool and case is
                # downloaded once and compared with the file (sha256).
                full = (tool, case) not in verified
                checks = verify_object(store.client, key, size, sha256 if full else None)
                verified.add((tool, case))
                store.client.delete_object(Bucket=BUCKET, Key=key)
                os.sync()
                samples.append(
                    {
                        "run": run,
                        "order": position,
                        "tool": tool,
                        "case": case,
                        "wall_s": m.wall_s,
                        "user_s": m.user_s,
                        "sys_s": m.sys_s,
                        "peak_rss_kib": m.peak_rss_kib,
                        "rss_before_upload_kib": m.rss_before_upload_kib,
                        "store_cpu_s": store_cpu,
                        "verified": checks,
                        **(m.extra or {}),
                    }
                )
                log(
                    f"peers run {run + 1}/{runs} {tool:10} {case:6} "
                    f"{size / MiB / m.wall_s:7.0f} MiB/s {m.cpu_s / (size / GiB):5.2f} "
                    f"CPU-s/GiB {m.peak_rss_kib / 1024:6.0f} MiB RSS, store "
                    f"{store_cpu / (size / GiB):5.2f} CPU-s/GiB"
                )
                time.sleep(pause)
    summary = []
    for tool, case in jobs:
        group = [
            Measured(
                wall_s=s["wall_s"],
                user_s=s["user_s"],
                sys_s=s["sys_s"],
                peak_rss_kib=s["peak_rss_kib"],
                rss_before_upload_kib=s["rss_before_upload_kib"],
            )
            for s in samples
            if s["tool"] == tool and s["case"] == case
        ]
        store_cpus = [
            s["store_cpu_s"] / (size / GiB)
            for s in samples
            if s["tool"] == tool and s["case"] == case
        ]
        row: dict[str, Any] = {"tool": tool, "case": case, "call": CALLS[(tool, case)]}
        row |= summarize_group(group, size)
        row["store_cpu_s_per_gib"] = median(store_cpus)
        summary.append(row)
    return {
        "size": size,
        "runs": runs,
        "part_size": part_size,
        "concurrency": concurrency,
        "summary": summary,
        "samples": samples,
    }


def render(result: Mapping[str, Any]) -> str:
    """The Markdown table of part 1, with the ratios s3stream / peer."""
    out = [
        f"{format_size(result['size'])} per upload; part size "
        f"{format_size(result['part_size'])}, concurrency {result['concurrency']} where the "
        f"tool allows it; medians of {result['runs']} runs, tools alternating.",
        "",
        "| tool | case | call | MiB/s | CPU-s/GiB | peak RSS MiB | store CPU-s/GiB | runs |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    rows = result["summary"]
    for s in rows:
        out.append(
            f"| {s['tool']} | {s['case']} | {s['call']} | {s['mib_per_s']:.0f} "
            f"| {s['cpu_s_per_gib']:.2f} | {s['peak_rss_mib']:.0f} "
            f"| {s.get('store_cpu_s_per_gib', 0):.2f} | {s['runs']} |"
        )
    by = {(s["tool"], s["case"]): s for s in rows}
    lines = []
    for case in CASES:
        ours = by.get(("s3stream", case))
        if ours is None:
            continue
        for s in rows:
            if s["case"] != case or s["tool"] == "s3stream":
                continue
            lines.append(
                f"| {case} | {s['tool']} | {ours['mib_per_s'] / s['mib_per_s']:.2f} "
                f"| {ours['cpu_s_per_gib'] / s['cpu_s_per_gib']:.2f} "
                f"| {ours['peak_rss_mib'] / s['peak_rss_mib']:.2f} |"
            )
    if lines:
        out += [
            "",
            "s3stream divided by each peer (throughput above 1: s3stream faster; CPU and RSS "
            "below 1: s3stream uses less):",
            "",
            "| case | peer | throughput | CPU per GiB | peak RSS |",
            "|---|---|---:|---:|---:|",
            *lines,
        ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=GiB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--only", help=f"comma-separated tools ({','.join(TOOLS)})")
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    tools = args.only.split(",") if args.only else list(TOOLS)
    with tempfile.TemporaryDirectory(prefix="s3stream-bench-", dir="/var/tmp") as tmp:
        path, sha = make_test_file(Path(tmp), args.size)
        result = run_part(
            path,
            sha,
            runs=args.runs,
            part_size=args.part_size,
            concurrency=args.concurrency,
            tools=tools,
            pause=args.pause,
            workdir=Path(tmp),
        )
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
