"""Part 1's Markdown: for one protocol, every tool's figures, s3stream divided by each peer,
s3stream's memory against its formula and the CLI's start-up; and how each tool was set up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchlib import format_size
from peer_tools import (
    CASES,
    LABELS,
    MEMORY_SLACK_MIB,
    OURS,
    PROTOCOL_NAMES,
    SETTINGS,
    TOOLS,
    TRUST,
    within_bound,
)

DASH = "—"


def _num(value: float | None, digits: int) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return DASH
    return f"{ours / theirs:.2f}"


def render(result: Mapping[str, Any], protocol: str) -> str:
    """The tables of one protocol (``https`` or ``http``)."""
    rows = [r for r in result["summary"] if r["protocol"] == protocol]
    notes: list[str] = []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    out = [
        f"{format_size(result['size'])} per upload over {PROTOCOL_NAMES[protocol]}; part size "
        f"{format_size(result['part_size'])}, concurrency {result['concurrency']} where the "
        f"tool takes them; medians of {result['runs']} runs, tools alternating. MiB/s and "
        "CPU-s/GiB *process*: the whole process from spawn to exit, start-up included; "
        "*upload*: around the upload call inside the worker (Python libraries only).",
        "",
        "| tool | case | call | MiB/s | upload MiB/s | CPU-s/GiB process | CPU-s/GiB upload "
        "| peak RSS MiB | store CPU-s/GiB | runs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        call = r["call"].replace("|", "\\|")  # a pipe in a call would split the cell
        head = f"| {r['label']} | {r['case']} | {call} "
        if "not_measured" in r:
            out.append(head + f"| not measured {note(r['not_measured'])} " + "| " * 6 + "0 |")
            continue
        runs = str(r["runs"])
        if r["failures"]:
            runs += f" ({r['failures']} failed {note('; '.join(r.get('errors', [])))})"
        out.append(
            head + f"| {r['mib_per_s']:.0f} | {_num(r.get('upload_mib_per_s'), 0)} "
            f"| {r['cpu_s_per_gib']:.2f} | {_num(r.get('upload_cpu_s_per_gib'), 2)} "
            f"| {r['peak_rss_mib']:.0f} | {r['store_cpu_s_per_gib']:.2f} | {runs} |"
        )
    out += ["", *_footnotes(notes)]
    out += _ratios(rows)
    out += _memory(rows)
    base = result.get("cli_base", {}).get(protocol)
    if base:
        out += [
            "",
            f"The CLI's start-up: `s3stream cp` of a 1-byte file took {base['cpu_s']:.2f} "
            f"CPU-s, {base['wall_s']:.2f} s and {base['peak_rss_mib']:.0f} MiB peak RSS "
            f"(median of {base['runs']}).",
        ]
    return "\n".join(line for line in _squeeze(out))


def _footnotes(notes: Sequence[str]) -> list[str]:
    return [f"[{i}] {text}  " for i, text in enumerate(notes, 1)]


def _squeeze(lines: Sequence[str]) -> list[str]:
    """No two blank lines in a row, none at the end."""
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


def _ratios(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """s3stream (library and CLI) divided by each measured peer, per case."""
    by = {(r["tool"], r["case"]): r for r in rows if "not_measured" not in r}
    lines = []
    for case in CASES:
        lib, cli = by.get(("s3stream", case)), by.get(("s3stream-cli", case))
        if lib is None and cli is None:
            continue
        for r in rows:
            if r["case"] != case or r["tool"] in OURS or "not_measured" in r:
                continue

            def of(mine: Mapping[str, Any] | None, key: str, peer: Mapping[str, Any] = r) -> str:
                return _ratio(mine.get(key) if mine else None, peer.get(key))

            lines.append(
                f"| {case} | {r['label']} | {of(lib, 'mib_per_s')} | {of(cli, 'mib_per_s')} "
                f"| {of(lib, 'cpu_s_per_gib')} | {of(cli, 'cpu_s_per_gib')} "
                f"| {of(lib, 'upload_cpu_s_per_gib')} "
                f"| {of(lib, 'peak_rss_mib')} | {of(cli, 'peak_rss_mib')} |"
            )
    if not lines:
        return []
    return [
        "",
        "s3stream divided by each peer: the library (lib) and the CLI. Throughput above 1: "
        "s3stream is faster; CPU and RSS below 1: s3stream uses less. CPU *upload* compares "
        "the upload calls of Python libraries.",
        "",
        "| case | peer | MiB/s lib | MiB/s CLI | CPU process lib | CPU process CLI "
        "| CPU upload lib | peak RSS lib | peak RSS CLI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
    ]


def _memory(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """s3stream's peak RSS against its base plus what its formula lets an upload hold."""
    lines = []
    for r in rows:
        memory = r.get("memory")
        if memory is None or "bound_mib" not in memory:
            continue
        margin = memory["bound_mib"] - r["peak_rss_mib"]
        lines.append(
            f"| {r['label']} | {r['case']} | {memory['base_mib']:.0f} ({memory['base_of']}) "
            f"| {memory['held_mib']:.0f} ({memory['formula']}) | {memory['bound_mib']:.0f} "
            f"| {r['peak_rss_mib']:.0f} | {margin:+.0f} "
            f"| {'yes' if within_bound(r) else '**no**'} |"
        )
    if not lines:
        return []
    return [
        "",
        "s3stream's memory: peak RSS (whole process) against the base plus what an upload "
        "may hold, `read_buffer + (concurrency + 1) x part_size` for a stream (a pipe is read "
        "straight into part buffers: no read buffer) and one read window per part in flight "
        f"for a file. Threads, connections and TLS state are outside the formula: a peak up "
        f"to {MEMORY_SLACK_MIB:.0f} MiB above the bound still counts as within.",
        "",
        "| s3stream | case | base MiB | upload may hold MiB | bound MiB | peak RSS MiB "
        "| margin MiB | within |",
        "|---|---|---:|---:|---:|---:|---:|---|",
        *lines,
    ]


def render_setup(tools: Sequence[str] = TOOLS) -> str:
    """How each tool was given the part size and concurrency, and the local CA."""
    out = [
        "| tool | part size and concurrency | trusts the local CA through |",
        "|---|---|---|",
    ]
    out += [f"| {LABELS[t]} | {SETTINGS[t]} | {TRUST[t]} |" for t in tools]
    return "\n".join(out)
