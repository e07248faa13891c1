"""Part 2 of the benchmark: the seed's preset table on an emulated 1 Gbps, 20 ms link.

The store (SeaweedFS ``weed mini`` with the flags ``s3stream.embedded`` builds) runs in a
network namespace of its own, reached over a veth pair (10.203.0.1/30 on this side, .2 in the
namespace) whose both ends are shaped to 1 Gbit/s with ``tc tbf`` (this kernel has no
``netem``). A delaying TCP relay (``delay_relay.py``, 10 ms each way) on 127.0.0.1 sits in
front of it: client -> relay (+10 ms) -> shaped veth -> store, and back. Nothing else is
routed; the namespace, the veth pair and every process are removed at the end (also on
errors and Ctrl-C).

Rows: ``curl -T`` straight over the link and through the relay (the ceilings: the relay alone
must not be the bottleneck), then s3stream's presets (conservative 10 MiB x 2, balanced
50 MiB x 4, aggressive 100 MiB x 8) on a stream of unknown length (a pipe) and on a file.

    sudo .venv/bin/python bench/bench_link.py [--size 1GiB] [--runs 3]

Needs root (ip netns, tc).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import Store, run_upload
from benchlib import (
    BENCH_DIR,
    BUCKET,
    MB,
    GiB,
    Measured,
    MiB,
    format_size,
    log,
    make_test_file,
    parse_size,
    process_cpu_s,
    rotated,
    summarize_group,
    verify_object,
    warm_up,
)
from peer_tools import write_aws_config
from s3stream.engine.files import WINDOW as FILE_WINDOW

HOST_ADDR = "10.203.0.1"
NS_ADDR = "10.203.0.2"
PREFIX = 30
RATE = "1gbit"
LINK_MB_S = 125.0  # 1 Gbit/s in MB/s (10^6 bytes)
DELAY_MS = 10.0
# weed's ports inside the namespace (it has nothing else): HTTP port and gRPC = HTTP + 10000.
NS_PORTS = {
    "master": (9333, 19333),
    "volume": (8080, 18080),
    "filer": (8888, 18888),
    "s3": (8333, 18333),
    "admin": (23646, 33646),
}
PRESETS = {  # name: (part size, concurrency, the seed's highWaterMark)
    "conservative": (10 * MiB, 2, 16 * MiB),
    "balanced": (50 * MiB, 4, 32 * MiB),
    "aggressive": (100 * MiB, 8, 64 * MiB),
}


def sh(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=check)


class EmulatedLink:
    """A namespace with the store in it, a shaped veth pair and a delaying relay."""

    def __init__(self, workdir: Path, delay_ms: float = DELAY_MS, rate: str = RATE) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = f"s3bench-{tag}"
        self.veth_host = f"s3bh{tag}"
        self.veth_ns = f"s3bn{tag}"
        self.workdir = workdir
        self.delay_ms = delay_ms
        self.rate = rate
        self.weed: subprocess.Popen[bytes] | None = None
        self.relay: subprocess.Popen[str] | None = None
        self.relay_port = 0
        self.access_key = os.urandom(10).hex()
        self.secret_key = os.urandom(20).hex()
        self.region = "us-east-1"

    # -- set-up -----------------------------------------------------------------------------

    def __enter__(self) -> EmulatedLink:
        try:
            self._network()
            self._store()
            self._start_relay()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _network(self) -> None:
        routes = sh("ip", "-4", "route", "show").stdout
        if "10.203.0." in routes:
            raise RuntimeError(f"10.203.0.0/{PREFIX} is already routed here:\n{routes}")
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
        sh("ip", "link", "set", self.veth_ns, "netns", self.ns)
        sh("ip", "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", self.veth_host)
        sh("ip", "link", "set", self.veth_host, "up")
        inside = ("ip", "netns", "exec", self.ns)
        sh(*inside, "ip", "addr", "add", f"{NS_ADDR}/{PREFIX}", "dev", self.veth_ns)
        sh(*inside, "ip", "link", "set", self.veth_ns, "up")
        sh(*inside, "ip", "link", "set", "lo", "up")
        # 1 Gbit/s each way; a 1 MB bucket (GSO packets fit) and 20 ms of queue.
        tbf = ("root", "tbf", "rate", self.rate, "burst", "1mb", "latency", "20ms")
        sh("tc", "qdisc", "add", "dev", self.veth_host, *tbf)
        sh(*inside, "tc", "qdisc", "add", "dev", self.veth_ns, *tbf)

    def _store(self) -> None:
        """weed mini in the namespace, with the flags EmbeddedS3 builds, on NS_ADDR."""
        from s3stream.embedded import EmbeddedS3
        from s3stream.embedded.process import scrubbed_environ

        data = self.workdir / "link-store"
        template = EmbeddedS3(
            data_dir=data,
            buckets=[BUCKET],
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )
        # Reuse EmbeddedS3's own command line and identity file (private helpers), with the
        # namespace's fixed ports and address instead of free ports on 127.0.0.1.
        template._ports = dict(NS_PORTS)
        data.mkdir(parents=True, exist_ok=True)
        template._write_identities()
        command = [
            arg.replace("127.0.0.1", NS_ADDR) if arg.startswith("-ip") else arg
            for arg in template._command()
        ]
        with open(data / "weed.log", "ab") as out:
            self.weed = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=scrubbed_environ(),
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        direct = self.client(direct=True)
        while True:
            if self.weed.poll() is not None:
                raise RuntimeError(f"weed exited with {self.weed.returncode}; see {data}")
            if self._master_ready():
                try:
                    direct.list_buckets()
                    with contextlib.suppress(Exception):
                        direct.create_bucket(Bucket=BUCKET)
                    direct.head_bucket(Bucket=BUCKET)
                    return
                except Exception:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed in {self.ns} did not become ready; see {data}")
            time.sleep(0.2)

    def _master_ready(self) -> bool:
        conn = http.client.HTTPConnection(NS_ADDR, NS_PORTS["master"][0], timeout=2)
        try:
            conn.request("GET", "/dir/status")
            response = conn.getresponse()
            status = json.loads(response.read())
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return response.status == 200 and status.get("Topology", {}).get("Max", 0) > 0

    def _start_relay(self) -> None:
        self.relay = subprocess.Popen(
            [
                sys.executable,
                str(BENCH_DIR / "delay_relay.py"),
                "--listen",
                "127.0.0.1:0",
                "--target",
                f"{NS_ADDR}:{NS_PORTS['s3'][0]}",
                "--delay-ms",
                str(self.delay_ms),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.relay.stdout is not None
        line = self.relay.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"the relay did not start: {line}")
        self.relay_port = int(line[1])

    # -- use --------------------------------------------------------------------------------

    def endpoint(self, direct: bool = False) -> str:
        if direct:
            return f"http://{NS_ADDR}:{NS_PORTS['s3'][0]}"
        return f"http://127.0.0.1:{self.relay_port}"

    def env(self, direct: bool = False) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint(direct),
        }

    def client(self, direct: bool = False) -> Any:
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint(direct),
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def store(self, direct: bool = False) -> Store:
        pid = self.weed.pid if self.weed is not None else None
        return Store(self.endpoint(direct), self.env(direct), self.client(direct), pid)

    def relay_cpu_s(self) -> float:
        """User + system CPU seconds the relay has used so far."""
        return process_cpu_s(self.relay.pid) if self.relay is not None else 0.0

    def store_cpu_s(self) -> float:
        """User + system CPU seconds the store (weed) has used so far."""
        return process_cpu_s(self.weed.pid) if self.weed is not None else 0.0

    # -- tear-down --------------------------------------------------------------------------

    def close(self) -> None:
        if self.relay is not None and self.relay.poll() is None:
            self.relay.terminate()
            try:
                self.relay.wait(5)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
        if self.weed is not None and self.weed.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.weed.pid, signal.SIGTERM)
            try:
                self.weed.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.weed.pid, signal.SIGKILL)
                self.weed.wait()
        # Deleting the namespace deletes its veth end, and with it the pair.
        sh("ip", "link", "delete", self.veth_host, check=False)
        sh("ip", "netns", "delete", self.ns, check=False)


def jobs(presets: Sequence[str]) -> list[tuple[str, str, str]]:
    """(row label, tool, case, preset or path) as (label, case, preset)."""
    out = [("curl direct", "file", ""), ("curl via relay", "file", "")]
    out += [("s3stream", "stream", p) for p in presets]
    out += [("s3stream", "file", p) for p in presets]
    return out


def run_part(
    link: EmulatedLink,
    path: Path,
    sha256: str,
    *,
    runs: int,
    pause: float,
    presets: Sequence[str],
    workdir: Path,
) -> dict[str, Any]:
    size = path.stat().st_size
    warm_up(link.client(direct=True))
    aws_config = write_aws_config(workdir, 16 * MiB, 4)
    job_list = jobs(presets)
    samples: list[dict[str, Any]] = []
    checked: set[tuple[str, str, str]] = set()
    for run in range(runs):
        for position, (label, case, preset) in enumerate(rotated(job_list, run)):
            direct = label == "curl direct"
            tool = "curl" if label.startswith("curl") else "s3stream"
            store = link.store(direct)
            key = f"link/{label.replace(' ', '-')}-{case}-{preset or 'one'}-run{run}"
            part, conc, _ = PRESETS.get(preset, (16 * MiB, 4, 0))
            relay0, store0 = link.relay_cpu_s(), link.store_cpu_s()
            done = run_upload(
                tool,
                case,
                key,
                path,
                store,
                part_size=part,
                concurrency=conc,
                aws_config=aws_config,
                preset=preset or None,
            )
            m = done.upload or done.process  # s3stream: the upload call; curl: its process
            relay_cpu = link.relay_cpu_s() - relay0
            store_cpu = link.store_cpu_s() - store0
            full = (label, case, preset) not in checked
            checks = verify_object(store.client, key, size, sha256 if full else None)
            checked.add((label, case, preset))
            store.client.delete_object(Bucket=BUCKET, Key=key)
            os.sync()
            samples.append(
                {
                    "run": run,
                    "order": position,
                    "label": label,
                    "case": case,
                    "preset": preset,
                    "wall_s": m.wall_s,
                    "user_s": m.user_s,
                    "sys_s": m.sys_s,
                    "peak_rss_kib": m.peak_rss_kib,
                    "rss_before_upload_kib": m.rss_before_upload_kib,
                    "relay_cpu_s": relay_cpu,
                    "store_cpu_s": store_cpu,
                    "verified": checks,
                    **(m.extra or {}),
                }
            )
            log(
                f"link run {run + 1}/{runs} {label:14} {case:6} {preset:12} "
                f"{size / MB / m.wall_s:6.1f} MB/s {m.peak_rss_kib / 1024:6.0f} MiB RSS "
                f"relay {relay_cpu:4.1f} CPU-s store {store_cpu:4.1f} CPU-s"
            )
            time.sleep(pause)
    summary = []
    for label, case, preset in job_list:
        group = [
            s for s in samples if (s["label"], s["case"], s["preset"]) == (label, case, preset)
        ]
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
        row: dict[str, Any] = {"label": label, "case": case, "preset": preset}
        row |= summarize_group(measured, size)
        row["relay_cpu_s"] = sorted(s["relay_cpu_s"] for s in group)[len(group) // 2]
        row["store_cpu_s"] = sorted(s["store_cpu_s"] for s in group)[len(group) // 2]
        grown = sorted(
            (s["peak_rss_kib"] - (s["rss_before_upload_kib"] or 0)) / 1024 for s in group
        )
        row["upload_rss_mib"] = grown[len(grown) // 2]
        if preset:
            part, conc, hwm = PRESETS[preset]
            row["part_size"], row["concurrency"], row["seed_hwm"] = part, conc, hwm
            row["seed_formula_mib"] = (hwm + part * conc) / MiB
            # streams: the part filling plus those in flight; files: a read window per part
            held = part * (conc + 1) if case == "stream" else min(part, FILE_WINDOW) * conc
            row["s3stream_bound_mib"] = held / MiB
        summary.append(row)
    return {
        "size": size,
        "runs": runs,
        "rate": link.rate,
        "delay_ms": link.delay_ms,
        "link_mb_s": LINK_MB_S,
        "summary": summary,
        "samples": samples,
    }


def render(result: Mapping[str, Any]) -> str:
    out = [
        f"{format_size(result['size'])} per upload over a veth pair shaped to "
        f"{result['rate']} each way (tc tbf) with a relay adding {result['delay_ms']:.0f} ms "
        f"each way (20 ms round trip); medians of {result['runs']} runs, rows alternating. "
        f"Link ceiling: {result['link_mb_s']:.0f} MB/s (10^6 bytes). Memory: the upload's "
        "own growth, peak RSS minus RSS before the call.",
        "",
        "| row | case | part size x concurrency | MB/s | % of 125 MB/s | CPU-s/GiB "
        "| peak RSS MiB | upload RSS MiB | seed formula MiB | s3stream bound MiB "
        "| relay CPU-s | store CPU-s/GiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["summary"]:
        if s["preset"]:
            label = f"s3stream {s['preset']}"
            shape = f"{s['part_size'] // MiB} MiB x {s['concurrency']}"
            upload = f"{s['upload_rss_mib']:.0f}"
            formula = (
                f"{s['seed_hwm'] // MiB} + {s['part_size'] // MiB} x {s['concurrency']} = "
                f"{s['seed_formula_mib']:.0f}"
            )
            bound = f"{s['s3stream_bound_mib']:.0f}"
        else:
            label, shape, upload, formula, bound = s["label"], "one PUT", "", "", ""
        out.append(
            f"| {label} | {s['case']} | {shape} | {s['mb_per_s']:.1f} "
            f"| {100 * s['mb_per_s'] / result['link_mb_s']:.1f} | {s['cpu_s_per_gib']:.2f} "
            f"| {s['peak_rss_mib']:.0f} | {upload} | {formula} | {bound} "
            f"| {s['relay_cpu_s']:.1f} | {s['store_cpu_s'] / (result['size'] / GiB):.2f} |"
        )
    return "\n".join(out)


@contextlib.contextmanager
def emulated_link(workdir: Path) -> Iterator[EmulatedLink]:
    link = EmulatedLink(workdir)
    previous = signal.getsignal(signal.SIGTERM)
    # SIGTERM becomes an exception, so the finally below removes the namespace.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with link:
            yield link
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=GiB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root (ip netns, tc)")
    with tempfile.TemporaryDirectory(prefix="s3stream-link-", dir="/var/tmp") as tmp:
        path, sha = make_test_file(Path(tmp), args.size)
        with emulated_link(Path(tmp)) as link:
            result = run_part(
                link,
                path,
                sha,
                runs=args.runs,
                pause=args.pause,
                presets=args.presets.split(","),
                workdir=Path(tmp),
            )
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
