"""Draw the benchmark's chart from ``run_all.py``'s JSON (needs matplotlib: .venv-bench):
part 1 over TLS and over plain HTTP (a row of two panels each), then parts 2 and 3.

.venv-bench/bin/python bench/chart.py bench/results/latest.json docs/benchmarks.png
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GiB = 1024**3
COLORS = {"file": "#4c72b0", "stream": "#dd8452"}
PROTOCOL_TITLES = {"https": "over TLS", "http": "over plain HTTP"}


def draw(results: dict[str, Any], out: Path) -> None:
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    protocols = results["peers"].get("protocols", []) if "peers" in results else []
    others = [name for name in ("link", "growth") if name in results]
    count = 2 * len(protocols) + len(others)
    cols = 2 if count > 1 else 1
    rows = (count + 1) // 2
    fig, grid = plt.subplots(rows, cols, figsize=(7.0 * cols, 4.8 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for spare in axes[count:]:
        spare.set_visible(False)
    title = results.get("title", "s3stream benchmarks")
    fig.suptitle(title, fontsize=12)

    for protocol in protocols:
        draw_peers(results["peers"], protocol, axes.pop(0), axes.pop(0))

    if "link" in others:
        ax = axes.pop(0)
        link = results["link"]
        labels, values, colors = [], [], []
        for row in link["summary"]:
            name = f"{row['preset']} {row['case']}" if row["preset"] else row["label"]
            labels.append(name)
            values.append(row["mb_per_s"])
            colors.append(COLORS[row["case"]] if row["preset"] else "#8c8c8c")
        bars = ax.bar(range(len(values)), values, color=colors)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.axhline(link["link_mb_s"], color="black", lw=1, ls="--", label="1 Gbit/s = 125 MB/s")
        ax.axhline(0.95 * link["link_mb_s"], color="red", lw=1, ls=":", label="95%")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("MB/s")
        ax.set_title("2. presets, 1 Gbit/s, 20 ms round trip")
        ax.legend(fontsize=8, loc="lower right")

    if "growth" in others:
        ax = axes.pop(0)
        rows = results["growth"]["summary"]
        sizes = [row["size"] / GiB for row in rows]
        ax.plot(sizes, [row["wall_s"] for row in rows], "o-", color="#4c72b0", label="seconds")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        names = [f"{s:g} GiB" if s >= 1 else f"{s * 1024:g} MiB" for s in sizes]
        ax.set_xticks(sizes, names)
        ax.set_xlabel("stream size (unknown length), log scale")
        ax.set_ylabel("seconds (log scale)", color="#4c72b0")
        ideal = [rows[-1]["wall_s"] * s / sizes[-1] for s in sizes]
        ax.plot(sizes, ideal, ":", color="#4c72b0", lw=1, label="linear")
        twin = ax.twinx()
        twin.plot(sizes, [row["peak_rss_mib"] for row in rows], "s-", color="#c44e52", label="RSS")
        twin.set_ylabel("peak RSS MiB", color="#c44e52")
        twin.set_ylim(0, max(row["peak_rss_mib"] for row in rows) * 1.4)
        ax.set_title("3. growth: time and peak memory (targets: linear, flat)")

    fig.tight_layout()
    fig.savefig(out, dpi=110)


def draw_peers(peers: dict[str, Any], protocol: str, speed: Any, cpu: Any) -> None:
    """Part 1 over one protocol: throughput, and CPU per GiB (the whole process; the upload
    call alone as a hatched bar inside it, where the tool runs in the worker)."""
    rows = [r for r in peers["summary"] if r["protocol"] == protocol and "mib_per_s" in r]
    labels: list[str] = []
    for row in rows:
        if row["label"] not in labels:
            labels.append(row["label"])
    size_mib = peers["size"] / 1024**2
    where = PROTOCOL_TITLES[protocol]
    for ax, metric, label, what in (
        (speed, "mib_per_s", "MiB/s, whole process (higher is better)", "throughput"),
        (cpu, "cpu_s_per_gib", "client CPU-s per GiB (lower is better)", "client CPU"),
    ):
        for i, case in enumerate(("file", "stream")):
            xs, ys, inner = [], [], []
            for j, name in enumerate(labels):
                for row in rows:
                    if row["label"] == name and row["case"] == case:
                        xs.append(j + (i - 0.5) * 0.38)
                        ys.append(row[metric])
                        inner.append(row.get("upload_cpu_s_per_gib"))
            bars = ax.bar(xs, ys, width=0.38, color=COLORS[case], label=case)
            ax.bar_label(bars, fmt="%.0f" if metric == "mib_per_s" else "%.1f", fontsize=7)
            if metric == "cpu_s_per_gib":
                upload = [(x, y) for x, y in zip(xs, inner, strict=True) if y is not None]
                ax.bar(
                    [x for x, _ in upload],
                    [y for _, y in upload],
                    width=0.38,
                    fill=False,
                    hatch="///",
                    edgecolor="#222222",
                    linewidth=0,
                    label=f"{case}: upload call only" if upload else None,
                )
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.set_title(f"1. peers {where}, {size_mib:.0f} MiB: {what}")
        ax.legend(fontsize=7)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    draw(json.loads(Path(args[0]).read_text()), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
