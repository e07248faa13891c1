"""Part 1 of the benchmark: s3stream against its peers, on the embedded SeaweedFS, over TLS and
over plain HTTP.

A file and a stream of unknown length (a pipe from ``cat FILE``), uploaded by s3stream (the
library and the CLI), obstore, boto3's classic and CRT transfer managers, smart_open, s5cmd,
rclone, the AWS CLI, and one raw ``curl -T`` PUT of the file to a presigned URL (one
request, no checksum: the ceiling). Every upload is a fresh process, measured as a whole from
outside (start-up included) and, for the Python libraries, also around the upload call;
tools alternate (the job list is rotated every run), so do the protocols; a fresh store per
run and protocol; figures are medians. Over TLS the store's certificate comes from a local CA
that every tool is told to trust (``peer_tools.TRUST``).

    .venv/bin/python bench/bench_peers.py [--size 1GiB] [--runs 3] [--only s3stream,obstore]
                                          [--protocols https,http]

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_report
from benchlib import (
    BUCKET,
    WORKER,
    GiB,
    Measured,
    MiB,
    bench_python,
    log,
    make_test_file,
    median,
    parse_size,
    process_cpu_s,
    rotated,
    run_measured,
    summarize_group,
    verify_object,
    warm_up,
    worker_env,
)
from peer_tools import (
    CALLS,
    KNOWN_LIMITS,
    LABELS,
    MEMORY_SLACK_MIB,
    OURS,
    PROTOCOLS,
    TOOLS,
    WORKER_TOOLS,
    command_for,
    jobs_for,
    s3stream_cli,
    within_bound,
    write_aws_config,
)
from s3stream.engine.files import WINDOW as FILE_WINDOW


class Store:
    """What a sub-benchmark needs of a store: an endpoint, keys (and CA), a client."""

    def __init__(
        self, endpoint_url: str, env: Mapping[str, str], client: Any, pid: int | None = None
    ) -> None:
        self.endpoint_url = endpoint_url
        self.env = dict(env)
        self.client = client
        self.pid = pid  # the store's process, for its CPU seconds

    @property
    def protocol(self) -> str:
        return "https" if self.endpoint_url.startswith("https://") else "http"

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid) if self.pid is not None else 0.0


@dataclass
class Upload:
    """One upload by one tool: the whole process, and (worker tools) the upload call."""

    process: Measured
    upload: Measured | None = None


def upload_timeout(size: int) -> float:
    """Long enough for a slow tool on a loaded machine, short enough to end a hung one."""
    return 300.0 + size / (2 * MiB)


def run_upload(
    tool: str,
    case: str,
    key: str,
    path: Path,
    store: Store,
    *,
    part_size: int,
    concurrency: int,
    aws_config: Path,
    preset: str | None = None,
) -> Upload:
    """One upload by one tool in a fresh process, fed by ``cat FILE`` for streams."""
    env = worker_env(store.env)
    feeder = ["cat", str(path)] if case == "stream" else None
    timeout = upload_timeout(path.stat().st_size)
    if tool in WORKER_TOOLS:
        python = sys.executable if tool == "s3stream" else bench_python()
        command = [python, str(WORKER), tool, case, "--file", str(path)]
        command += ["--bucket", BUCKET, "--key", key]
        if case == "stream":
            command.append("--stdin")
        if preset:
            command += ["--preset", preset]
        else:
            command += ["--part-size", str(part_size), "--concurrency", str(concurrency)]
        process, out = run_measured(command, env, feeder, timeout)
        lines = out.strip().splitlines()
        if not lines:
            raise RuntimeError(f"the {tool} worker printed nothing")
        record: dict[str, Any] = json.loads(lines[-1])
        upload = Measured(
            wall_s=float(record["wall_s"]),
            user_s=float(record["user_s"]),
            sys_s=float(record["sys_s"]),
            peak_rss_kib=int(record["peak_rss_kib"]),
            rss_before_upload_kib=int(record["rss_before_upload_kib"]),
            extra={k: record[k] for k in ("sent", "result") if k in record},
        )
        return Upload(process, upload)
    presigned = None
    if tool == "curl":
        # SigV4 query signing by the store's botocore client (what S3StreamUploader.presign
        # does too), for the endpoint the client talks to.
        presigned = store.client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
        )
    command, extra = command_for(
        tool,
        case,
        path,
        key,
        endpoint_url=store.endpoint_url,
        store_env=store.env,
        presigned_url=presigned,
        part_size=part_size,
        concurrency=concurrency,
        aws_config=aws_config,
    )
    env.update(extra)
    process, _ = run_measured(command, env, feeder, timeout)
    return Upload(process)


@contextlib.contextmanager
def embedded_store(directory: Path, *, tls: bool) -> Iterator[Store]:
    """A fresh embedded SeaweedFS in ``directory`` (HTTPS with a local CA when ``tls``),
    warmed up; removed afterwards."""
    from s3stream.embedded import EmbeddedS3

    state = directory.parent / "state"  # the s3stream journals, out of the user's home
    try:
        with EmbeddedS3(data_dir=directory, buckets=[BUCKET], tls=tls) as s3:
            env = s3.env() | {"S3STREAM_STATE_DIR": str(state)}
            store = Store(s3.endpoint_url, env, s3.client(), s3.pid)
            warm_up(store.client)
            yield store
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def failure_reason(exc: BaseException) -> str:
    """The last line a failed tool printed (or the exception), short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text[:240]


def measure_one(
    tool: str,
    case: str,
    key: str,
    path: Path,
    sha256: str | None,
    store: Store,
    *,
    part_size: int,
    concurrency: int,
    aws_config: Path,
) -> dict[str, Any]:
    """One upload, its object checked (size; bytes with ``sha256``) and deleted: a sample."""
    size = path.stat().st_size
    store0 = store.cpu_s()
    sample: dict[str, Any] = {"protocol": store.protocol, "tool": tool, "case": case}
    try:
        done = run_upload(
            tool,
            case,
            key,
            path,
            store,
            part_size=part_size,
            concurrency=concurrency,
            aws_config=aws_config,
        )
        sample["store_cpu_s"] = store.cpu_s() - store0
        sample["verified"] = verify_object(store.client, key, size, sha256)
    except Exception as exc:  # a failed tool is a result: the run goes on
        sample["error"] = failure_reason(exc)
        return sample
    finally:
        with contextlib.suppress(Exception):
            store.client.delete_object(Bucket=BUCKET, Key=key)
        os.sync()
    process, upload = done.process, done.upload
    sample |= {
        "wall_s": process.wall_s,
        "user_s": process.user_s,
        "sys_s": process.sys_s,
        "peak_rss_kib": process.peak_rss_kib,
    }
    if upload is not None:
        sample |= {
            "upload_wall_s": upload.wall_s,
            "upload_user_s": upload.user_s,
            "upload_sys_s": upload.sys_s,
            "upload_peak_rss_kib": upload.peak_rss_kib,
            "rss_before_upload_kib": upload.rss_before_upload_kib,
        }
        sample |= upload.extra or {}
    return sample


def measure_cli_base(store: Store, one_byte: Path, key: str) -> dict[str, Any]:
    """``s3stream cp`` of a 1-byte file: the CLI's start-up cost and base memory."""
    command, _ = command_for(
        "s3stream-cli",
        "file",
        one_byte,
        key,
        endpoint_url=store.endpoint_url,
        store_env=store.env,
        presigned_url=None,
        part_size=16 * MiB,
        concurrency=4,
        aws_config=one_byte,
    )
    process, _ = run_measured(command, worker_env(store.env), None, upload_timeout(0))
    verify_object(store.client, key, 1)
    store.client.delete_object(Bucket=BUCKET, Key=key)
    return {
        "protocol": store.protocol,
        "wall_s": process.wall_s,
        "user_s": process.user_s,
        "sys_s": process.sys_s,
        "peak_rss_kib": process.peak_rss_kib,
    }


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
    protocols: Sequence[str] = PROTOCOLS,
) -> dict[str, Any]:
    """Every tool and case ``runs`` times over each protocol, rotated, a fresh store per run
    and protocol; medians."""
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tool(s) {', '.join(sorted(unknown))}: use {','.join(TOOLS)}")
    if "s3stream-cli" in tools:
        s3stream_cli()  # missing: say so now, not after an hour of uploads
    size = path.stat().st_size
    aws_config = write_aws_config(workdir, part_size, concurrency)
    one_byte = workdir / "one-byte.bin"
    one_byte.write_bytes(b"\0")
    jobs = jobs_for(tuple(tools))
    samples: list[dict[str, Any]] = []
    bases: list[dict[str, Any]] = []
    verified: set[tuple[str, str, str]] = set()
    for run in range(runs):
        for protocol in rotated(list(protocols), run):
            tls = protocol == "https"
            with embedded_store(workdir / f"store-{protocol}-run{run}", tls=tls) as store:
                if "s3stream-cli" in tools:
                    try:
                        base = measure_cli_base(store, one_byte, f"peers/cli-base-run{run}")
                        bases.append(base | {"run": run})
                    except Exception as exc:  # the cp rows will show it too
                        log(f"peers: the 1-byte s3stream cp failed: {failure_reason(exc)}")
                for position, (tool, case) in enumerate(rotated(jobs, run)):
                    # Every object's size is checked; the first object of every row is also
                    # downloaded and compared with the file (sha256).
                    full = (protocol, tool, case) not in verified
                    sample = measure_one(
                        tool,
                        case,
                        f"peers/{tool}-{case}-{protocol}-run{run}",
                        path,
                        sha256 if full else None,
                        store,
                        part_size=part_size,
                        concurrency=concurrency,
                        aws_config=aws_config,
                    )
                    sample |= {"run": run, "order": position}
                    if "error" not in sample:
                        verified.add((protocol, tool, case))
                    samples.append(sample)
                    log_sample(sample, size, run, runs)
                    time.sleep(pause)
    return {
        "size": size,
        "runs": runs,
        "part_size": part_size,
        "concurrency": concurrency,
        "protocols": list(protocols),
        "summary": summarize(samples, bases, jobs, protocols, size, part_size, concurrency),
        "cli_base": summarize_bases(bases, protocols),
        "samples": samples,
        "cli_base_samples": bases,
    }


def log_sample(sample: Mapping[str, Any], size: int, run: int, runs: int) -> None:
    head = (
        f"peers run {run + 1}/{runs} {sample['protocol']:5} {LABELS[sample['tool']]:13} "
        f"{sample['case']:6}"
    )
    if "error" in sample:
        log(f"{head} FAILED: {sample['error']}")
        return
    gib = size / GiB
    upload = (
        f" (upload {(sample['upload_user_s'] + sample['upload_sys_s']) / gib:5.2f})"
        if "upload_wall_s" in sample
        else ""
    )
    log(
        f"{head} {size / MiB / sample['wall_s']:7.0f} MiB/s "
        f"{(sample['user_s'] + sample['sys_s']) / gib:5.2f} CPU-s/GiB{upload} "
        f"{sample['peak_rss_kib'] / 1024:6.0f} MiB RSS, store "
        f"{sample['store_cpu_s'] / gib:5.2f} CPU-s/GiB"
    )


def memory_bound(
    tool: str, case: str, part_size: int, concurrency: int, base_mib: float | None
) -> dict[str, Any]:
    """s3stream's memory formula for one row: what the upload may hold on top of the base.

    Streams hold ``read_buffer + (concurrency + 1) x part_size`` (a pipe is read with
    ``readinto`` straight into part buffers: no read buffer); files read each part in flight
    through one window.
    """
    if case == "stream":
        held = (concurrency + 1) * part_size
        formula = f"({concurrency} + 1) x {part_size // MiB} MiB"
    else:
        window = min(part_size, FILE_WINDOW)
        held = concurrency * window
        formula = f"{concurrency} x {window // MiB} MiB window"
    base_of = "RSS before the call" if tool == "s3stream" else "peak of a 1-byte cp"
    out: dict[str, Any] = {"held_mib": held / MiB, "formula": formula, "base_of": base_of}
    if base_mib is not None:
        out |= {"base_mib": base_mib, "bound_mib": base_mib + held / MiB}
    return out


def summarize(
    samples: Sequence[Mapping[str, Any]],
    bases: Sequence[Mapping[str, Any]],
    jobs: Sequence[tuple[str, str]],
    protocols: Sequence[str],
    size: int,
    part_size: int,
    concurrency: int,
) -> list[dict[str, Any]]:
    """One row per protocol, tool and case: medians, or why the row was not measured."""
    gib = size / GiB
    rows: list[dict[str, Any]] = []
    for protocol in protocols:
        for tool, case in jobs:
            group = [
                s
                for s in samples
                if (s["protocol"], s["tool"], s["case"]) == (protocol, tool, case)
            ]
            ok = [s for s in group if "error" not in s]
            row: dict[str, Any] = {
                "protocol": protocol,
                "tool": tool,
                "label": LABELS[tool],
                "case": case,
                "call": CALLS[(tool, case)],
                "failures": len(group) - len(ok),
            }
            if not ok:
                known = KNOWN_LIMITS.get((protocol, tool, case))
                seen = group[-1]["error"] if group else "not run"
                row["not_measured"] = f"{known} [seen: {seen}]" if known else seen
                rows.append(row)
                continue
            if len(ok) < len(group):
                row["errors"] = sorted({s["error"] for s in group if "error" in s})
            row |= summarize_group([measured(s) for s in ok], size)
            row["store_cpu_s_per_gib"] = median(s["store_cpu_s"] / gib for s in ok)
            inside = [s for s in ok if "upload_wall_s" in s]
            if inside:
                row["upload_mib_per_s"] = median(size / MiB / s["upload_wall_s"] for s in inside)
                row["upload_cpu_s_per_gib"] = median(
                    (s["upload_user_s"] + s["upload_sys_s"]) / gib for s in inside
                )
                row["rss_before_upload_mib"] = median(
                    s["rss_before_upload_kib"] / 1024 for s in inside
                )
            if tool in OURS:
                if tool == "s3stream":
                    base = row.get("rss_before_upload_mib")
                else:
                    peaks = [b["peak_rss_kib"] / 1024 for b in bases if b["protocol"] == protocol]
                    base = median(peaks) if peaks else None
                row["memory"] = memory_bound(tool, case, part_size, concurrency, base)
                if "bound_mib" in row["memory"]:
                    row["memory"]["slack_mib"] = MEMORY_SLACK_MIB
                    row["memory"]["within"] = within_bound(row)
            rows.append(row)
    return rows


def measured(sample: Mapping[str, Any]) -> Measured:
    return Measured(
        wall_s=sample["wall_s"],
        user_s=sample["user_s"],
        sys_s=sample["sys_s"],
        peak_rss_kib=sample["peak_rss_kib"],
    )


def summarize_bases(
    bases: Sequence[Mapping[str, Any]], protocols: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Medians of the 1-byte ``s3stream cp`` per protocol."""
    out: dict[str, dict[str, float]] = {}
    for protocol in protocols:
        group = [b for b in bases if b["protocol"] == protocol]
        if group:
            out[protocol] = {
                "runs": len(group),
                "wall_s": median(b["wall_s"] for b in group),
                "cpu_s": median(b["user_s"] + b["sys_s"] for b in group),
                "peak_rss_mib": median(b["peak_rss_kib"] / 1024 for b in group),
            }
    return out


def failed_rows(result: Mapping[str, Any]) -> list[str]:
    """Rows that failed although no known limit explains it: what the caller must report."""
    out = []
    for row in result["summary"]:
        key = (row["protocol"], row["tool"], row["case"])
        if row["failures"] and key not in KNOWN_LIMITS:
            out.append(f"{row['protocol']} {row['label']} {row['case']}: {row['failures']} failed")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=GiB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--only", help=f"comma-separated tools ({','.join(TOOLS)})")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="https,http")
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    tools = args.only.split(",") if args.only else list(TOOLS)
    protocols = args.protocols.split(",")
    if not set(protocols) <= set(PROTOCOLS) or not protocols:
        parser.error(f"--protocols: use {','.join(PROTOCOLS)}")
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
            protocols=protocols,
        )
    for protocol in protocols:
        print(peers_report.render(result, protocol) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    failed = failed_rows(result)
    if failed:
        log("uploads failed: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
