"""Part 3 of the benchmark: time and peak memory of growing unknown-length streams.

s3stream ``upload_stream`` (default options: 16 MiB first parts, 4 in flight, growing part
schedule) reads a pipe from a generator subprocess (``gen_stream.py N``) of 64 MiB, 1 GiB,
4 GiB and 16 GiB into the embedded SeaweedFS (over TLS with ``--tls``). Memory must stay
flat and time grow linearly. Every run gets a fresh store (the disk does not fill with
deleted volumes).

    .venv/bin/python bench/bench_growth.py [--sizes 64MiB,1GiB,4GiB,16GiB] [--runs 3] [--tls]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BUCKET,
    GiB,
    Measured,
    MiB,
    format_size,
    log,
    measured_from_worker,
    parse_size,
    rotated,
    run_python_worker,
    summarize_group,
    verify_object,
    warm_up,
    worker_env,
)

SIZES = (64 * MiB, GiB, 4 * GiB, 16 * GiB)


def run_part(
    sizes: Sequence[int],
    *,
    runs: int,
    pause: float,
    options: Sequence[str] = (),
    tls: bool = False,
) -> dict[str, Any]:
    """Every size ``runs`` times, rotated, a fresh store per run (HTTPS with ``tls``)."""
    from s3stream.embedded import EmbeddedS3

    samples: list[dict[str, Any]] = []
    for run in range(runs):
        with (
            tempfile.TemporaryDirectory(prefix="s3stream-growth-", dir="/var/tmp") as tmp,
            EmbeddedS3(data_dir=Path(tmp), buckets=[BUCKET], tls=tls) as s3,
        ):
            env = worker_env(s3.env())
            client = s3.client()
            warm_up(client)
            for position, size in enumerate(rotated(list(sizes), run)):
                key = f"growth/{size}-run{run}"
                args = ["s3stream", "stream", "--generate", str(size), "--bucket", BUCKET]
                record = run_python_worker(sys.executable, [*args, "--key", key, *options], env)
                m = measured_from_worker(record)
                verify_object(client, key, size)
                client.delete_object(Bucket=BUCKET, Key=key)
                samples.append(
                    {
                        "run": run,
                        "order": position,
                        "size": size,
                        "wall_s": m.wall_s,
                        "user_s": m.user_s,
                        "sys_s": m.sys_s,
                        "peak_rss_kib": m.peak_rss_kib,
                        "rss_before_upload_kib": m.rss_before_upload_kib,
                        "parts": record.get("result", {}).get("parts"),
                    }
                )
                log(
                    f"growth run {run + 1}/{runs} {format_size(size):>8} {m.wall_s:7.1f} s "
                    f"{size / MiB / m.wall_s:6.0f} MiB/s {m.peak_rss_kib / 1024:5.0f} MiB RSS"
                )
                os.sync()
                time.sleep(pause)
    summary = []
    for size in sizes:
        group = [s for s in samples if s["size"] == size]
        measured = [
            Measured(
                wall_s=s["wall_s"],
                user_s=s["user_s"],
                sys_s=s["sys_s"],
                peak_rss_kib=s["peak_rss_kib"],
                rss_before_upload_kib=s["rss_before_upload_kib"],
            )
            for s in group
        ]
        row: dict[str, Any] = {"size": size, "parts": group[0]["parts"]}
        row |= summarize_group(measured, size)
        grown = sorted((s["peak_rss_kib"] - s["rss_before_upload_kib"]) / 1024 for s in group)
        row["upload_rss_mib"] = grown[len(grown) // 2]
        summary.append(row)
    return {
        "runs": runs,
        "tls": tls,
        "options": list(options),
        "summary": summary,
        "samples": samples,
    }


def render(result: Mapping[str, Any]) -> str:
    rows = result["summary"]
    base = rows[0]
    out = [
        "s3stream `upload_stream` from a generator subprocess pipe (unknown length), default "
        f"options, over {'TLS' if result.get('tls') else 'plain HTTP'}; medians of "
        f"{result['runs']} runs. Seconds per GiB should stay constant (linear time), peak RSS "
        "flat.",
        "",
        "| stream | parts | seconds | s/GiB | MiB/s | CPU-s/GiB | peak RSS MiB "
        "| upload RSS MiB | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in rows:
        out.append(
            f"| {format_size(s['size'])} | {s['parts']} | {s['wall_s']:.1f} "
            f"| {s['wall_s'] / (s['size'] / GiB):.2f} | {s['mib_per_s']:.0f} "
            f"| {s['cpu_s_per_gib']:.2f} | {s['peak_rss_mib']:.0f} | {s['upload_rss_mib']:.0f} "
            f"| {s['runs']} |"
        )
    last = rows[-1]
    out += [
        "",
        f"From {format_size(base['size'])} to {format_size(last['size'])} "
        f"(x{last['size'] / base['size']:.0f}): time x{last['wall_s'] / base['wall_s']:.1f}, "
        f"peak RSS x{last['peak_rss_mib'] / base['peak_rss_mib']:.2f}.",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="64MiB,1GiB,4GiB,16GiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--tls", action="store_true", help="the store serves HTTPS (local CA)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    result = run_part(sizes, runs=args.runs, pause=args.pause, tls=args.tls)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
