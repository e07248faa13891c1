"""Gateway benchmark: the same file through the s3stream gateway (tus), through @tus/server
with @tus/s3-store, and straight to S3 with ``S3StreamUploader.upload_file``, all on one
embedded SeaweedFS, over plain HTTP and with TLS on both legs, side by side.

Both tus servers get the same client: tus-js-client in node (``tests/js/tus_upload.mjs``,
one PATCH with the whole file, as browsers send it by default) and the same part size.
Every upload gets a fresh store (on /dev/shm when there is one: the disk and a filling store
add noise) and, for the tus targets, a fresh server. Per run and target it prints
throughput (file bytes / upload seconds as the client measured them) and CPU-seconds per
GiB of the client, the server and the store (from /proc), and checks every object's size
(and the first run's bytes by SHA-256).

    .venv/bin/python bench/bench_gateway.py [--size 512MiB] [--runs 3] [--part-size 16MiB]
                                            [--setups plain,tls] [--pin] [--server-cpu 0.5]
                                            [--json out.json]

Two set-ups, interleaved run by run: ``plain`` (HTTP everywhere) and ``tls`` (HTTPS between
the client and the tus server, ``serve --tls-cert/--tls-key`` or node's ``https``, and between
every sender and the store, SeaweedFS with a local CA's certificate; the direct upload goes
over HTTPS too). Ratios are taken within a set-up.

With ``--pin`` the store runs on one CPU and the client and the servers on the others, as
if the store were a service on another machine: the store stops competing with the path
under test for the CPU (on two cores, without it, every target is bound by the CPU of the
whole path, store included). With ``--server-cpu N`` each tus server runs in a cgroup
capped at N CPUs (as a container's CPU limit would; needs root and the cgroup cpu
controller): the servers' own CPU cost becomes their throughput limit.

Needs node and ``npm ci`` (scripts/setup.sh). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from s3stream import S3StreamUploader  # noqa: E402
from s3stream.embedded import EmbeddedS3  # noqa: E402
from s3stream.embedded.tls import TlsFiles, local_certificates  # noqa: E402
from s3stream.limits import format_size, parse_size  # noqa: E402
from s3stream.store.boto import make_client  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
BUCKET = "bench"
JS = ROOT / "tests" / "js"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def proc_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process and its reaped children (from /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """Run the block, and every process and thread it starts, on ``cpus`` (``None``: any)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pinned_cpus(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(the store's CPUs, everyone else's): with ``pin``, the last CPU and the rest."""
    if not pin:
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    return {cpus[-1]}, set(cpus[:-1])


class CpuLimit:
    """A cgroup whose processes share at most ``cpus`` CPUs (a CFS quota; cgroup v2
    ``cpu.max`` or v1 ``cpu.cfs_quota_us``). Needs root; :meth:`close` once its processes
    have exited."""

    PERIOD = 100_000

    def __init__(self, cpus: float) -> None:
        quota = str(max(1000, int(cpus * self.PERIOD)))
        name = f"s3stream-bench-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup")
        v1 = v2 / "cpu"
        try:
            if "cpu" in _read(v2 / "cgroup.controllers").split():
                if "cpu" not in _read(v2 / "cgroup.subtree_control").split():
                    (v2 / "cgroup.subtree_control").write_text("+cpu")
                self.path = v2 / name
                self.path.mkdir()
                (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD}")
            elif (v1 / "cpu.cfs_quota_us").exists():
                self.path = v1 / name
                self.path.mkdir()
                (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD))
                (self.path / "cpu.cfs_quota_us").write_text(quota)
            else:
                raise SystemExit("--server-cpu needs the cgroup cpu controller (v1 or v2)")
        except PermissionError as exc:
            raise SystemExit(f"--server-cpu needs root to create a cgroup: {exc}") from exc

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def close(self) -> None:
        self.path.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def wait_http(
    url: str, proc: subprocess.Popen[Any], ca: Path | None = None, timeout: float = 60
) -> None:
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            host = parts.hostname or "127.0.0.1"
            conn: http.client.HTTPConnection
            if parts.scheme == "https":
                context = ssl.create_default_context(cafile=str(ca) if ca else None)
                conn = http.client.HTTPSConnection(host, parts.port, timeout=1, context=context)
            else:
                conn = http.client.HTTPConnection(host, parts.port, timeout=1)
            conn.request("OPTIONS", parts.path or "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Sample:
    setup: str
    target: str
    run: int
    seconds: float
    client_cpu: float
    server_cpu: float
    store_cpu: float
    size: int

    @property
    def mib_s(self) -> float:
        return self.size / MiB / self.seconds

    def per_gib(self, cpu: float) -> float:
        return cpu / (self.size / GiB)


class Bench:
    """One sample's servers and uploads; with ``tls`` (the tus servers' certificate) the
    clients trust ``ca`` (the tus servers' and the store's CAs in one bundle)."""

    def __init__(
        self,
        args: argparse.Namespace,
        s3: EmbeddedS3,
        file: Path,
        digest: str,
        tls: TlsFiles | None = None,
        ca: Path | None = None,
    ):
        self.args = args
        self.s3 = s3
        self.file = file
        self.digest = digest
        self.tls = tls
        self.ca = ca
        self.size = file.stat().st_size
        self.client = s3.client()
        self.node = shutil.which("node")
        if self.node is None or not (ROOT / "node_modules" / "@tus" / "server").is_dir():
            raise SystemExit("needs node and node_modules (run scripts/setup.sh)")
        self.node_env = {**os.environ}
        if ca is not None:
            self.node_env["NODE_EXTRA_CA_CERTS"] = str(ca)

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    @property
    def scheme_name(self) -> str:
        """The set-up's name: ``plain`` or ``tls``."""
        return "plain" if self.tls is None else "tls"

    # ---------------------------------------------------------------- servers

    def start_gateway(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "s3stream.cli",
            "serve",
            "--endpoint-url",
            self.s3.endpoint_url,
            "--bucket",
            BUCKET,
            "--port",
            str(port),
            "--prefix",
            "gateway/",
            "--part-size",
            self.args.part_size,
            "--log-level",
            "warning",
            *self.args.gateway_arg,
        ]
        if self.tls is not None:
            cmd += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        proc = subprocess.Popen(cmd, env={**os.environ, **self.s3.env()})
        url = f"{self.scheme}://127.0.0.1:{port}/files/"
        wait_http(url, proc, self.ca)
        return proc, url

    def start_tus_node(self) -> tuple[subprocess.Popen[bytes], str]:
        assert self.node is not None
        port = free_port()
        opts = {
            "port": port,
            "endpoint": self.s3.endpoint_url,
            "bucket": BUCKET,
            "region": self.s3.region,
            "accessKey": self.s3.access_key,
            "secretKey": self.s3.secret_key,
            "partSize": parse_size(self.args.part_size),
        }
        if self.tls is not None:
            opts.update(tlsCert=str(self.tls.cert), tlsKey=str(self.tls.key))
        proc = subprocess.Popen(
            [self.node, str(JS / "tus_node_server.mjs"), json.dumps(opts)],
            cwd=ROOT,
            env=self.node_env,
        )
        url = f"{self.scheme}://127.0.0.1:{port}/files"
        wait_http(url, proc, self.ca)
        return proc, url

    # ---------------------------------------------------------------- uploads

    def tus_upload(self, target: str, endpoint: str, server_pid: int, run: int) -> Sample:
        assert self.node is not None
        opts = {"endpoint": endpoint, "file": str(self.file), "metadata": {"filename": "b.bin"}}
        cpu = (children_cpu(), proc_cpu(server_pid), proc_cpu(self.s3.pid))
        done = subprocess.run(
            [self.node, str(JS / "tus_upload.mjs"), json.dumps(opts)],
            cwd=ROOT,
            env=self.node_env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{target} upload failed: {done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        sample = Sample(
            self.scheme_name,
            target,
            run,
            float(result["seconds"]),
            children_cpu() - cpu[0],
            proc_cpu(server_pid) - cpu[1],
            proc_cpu(self.s3.pid) - cpu[2],
            self.size,
        )
        self.verify(target, self.object_key(target, result["url"]), run == 1)
        return sample

    def object_key(self, target: str, url: str) -> str:
        upload_id = url.rstrip("/").rsplit("/", 1)[-1]
        if target == "tus-node":
            return upload_id.split("+", 1)[0]  # @tus/s3-store: the key is the id
        info_key = f"gateway/_uploads/{upload_id}.info"
        info = json.loads(self.client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read())
        return str(info["key"])

    def direct(self, run: int) -> Sample:
        client = make_client(
            endpoint_url=self.s3.endpoint_url,
            region=self.s3.region,
            access_key=self.s3.access_key,
            secret_key=self.s3.secret_key,
            verify=self.s3.ca_bundle,
        )
        uploader = S3StreamUploader(client=client, store_profile="seaweedfs")
        key = f"direct/{run}.bin"
        cpu = (self_cpu(), proc_cpu(self.s3.pid))
        started = time.perf_counter()
        uploader.upload_file(self.file, BUCKET, key)
        seconds = time.perf_counter() - started
        sample = Sample(
            self.scheme_name,
            "direct",
            run,
            seconds,
            self_cpu() - cpu[0],
            0.0,
            proc_cpu(self.s3.pid) - cpu[1],
            self.size,
        )
        self.verify("direct", key, run == 1)
        return sample

    def verify(self, target: str, key: str, full: bool) -> None:
        head = self.client.head_object(Bucket=BUCKET, Key=key)
        if head["ContentLength"] != self.size:
            raise RuntimeError(f"{target}: {key} has {head['ContentLength']} bytes")
        if full:
            h = hashlib.sha256()
            body = self.client.get_object(Bucket=BUCKET, Key=key)["Body"]
            for block in iter(lambda: body.read(8 * MiB), b""):
                h.update(block)
            if h.hexdigest() != self.digest:
                raise RuntimeError(f"{target}: {key} differs from the source")


def make_file(directory: Path, size: int) -> tuple[Path, str]:
    path = directory / "source.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 16 * MiB))
            h.update(block)
            f.write(block)
            left -= len(block)
    return path, h.hexdigest()


def one_sample(
    args: argparse.Namespace,
    setup: str,
    target: str,
    run: int,
    file: Path,
    digest: str,
    store_root: str | None,
    limit: CpuLimit | None = None,
) -> Sample:
    """One upload on a fresh store (SeaweedFS slows down as it fills: every sample starts
    equal), with a fresh server for the tus targets; ``setup`` ``tls`` puts HTTPS on every
    leg (the tus servers get a certificate from a local CA made next to the file)."""
    store_cpus, path_cpus = pinned_cpus(args.pin)
    tls = setup == "tls"
    with contextlib.ExitStack() as stack:
        data = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="s3stream-bench-store-", dir=store_root)
        )
        with on_cpus(store_cpus):
            s3 = stack.enter_context(EmbeddedS3(buckets=[BUCKET], data_dir=data, tls=tls))
        stack.enter_context(on_cpus(path_cpus))
        servers, ca = None, None
        if tls:
            assert s3.ca_bundle is not None
            servers = local_certificates(file.parent / "tls")
            ca = Path(data) / "clients-ca.pem"
            ca.write_bytes(servers.ca.read_bytes() + Path(s3.ca_bundle).read_bytes())
        bench = Bench(args, s3, file, digest, servers, ca)
        if target == "direct":
            return bench.direct(run)
        proc, url = bench.start_gateway() if target == "gateway" else bench.start_tus_node()
        if limit is not None:
            limit.add(proc.pid)
        try:
            time.sleep(0.5)
            return bench.tus_upload(target, url, proc.pid, run)
        finally:
            stop(proc)


TARGETS = ("gateway", "tus-node", "direct")


def render(samples: Sequence[Sample]) -> str:
    """Per set-up: each target's median MiB/s, best, CPU-s per GiB; then the ratios of the
    medians, each within its set-up."""
    lines = [
        f"{'setup':<6} {'target':<10} {'runs':>4} {'MiB/s':>8} {'best':>8} {'client':>8} "
        f"{'server':>8} {'store':>8}   (median; CPU-s per GiB)"
    ]
    ratios: list[str] = []
    for setup in dict.fromkeys(s.setup for s in samples):
        medians: dict[str, float] = {}
        for target in TARGETS:
            mine = [s for s in samples if s.target == target and s.setup == setup]
            if not mine:
                continue
            rate = statistics.median(s.mib_s for s in mine)
            medians[target] = rate
            lines.append(
                f"{setup:<6} {target:<10} {len(mine):>4} {rate:>8.1f} "
                f"{max(s.mib_s for s in mine):>8.1f} "
                f"{statistics.median(s.per_gib(s.client_cpu) for s in mine):>8.2f} "
                f"{statistics.median(s.per_gib(s.server_cpu) for s in mine):>8.2f} "
                f"{statistics.median(s.per_gib(s.store_cpu) for s in mine):>8.2f}"
            )
        parts = []
        if "gateway" in medians and "tus-node" in medians:
            parts.append(f"gateway / @tus/server {medians['gateway'] / medians['tus-node']:.2f}x")
        if "gateway" in medians and "direct" in medians:
            parts.append(f"gateway / direct {medians['gateway'] / medians['direct']:.0%}")
        if parts:
            ratios.append(f"{setup}: " + ", ".join(parts))
    return "\n".join([*lines, *ratios])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", default="512MiB", help="file size (512MiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per target (3)")
    parser.add_argument("--part-size", default="16MiB", help="part size of both servers")
    parser.add_argument(
        "--targets", default="gateway,tus-node,direct", help="comma-separated subset"
    )
    parser.add_argument(
        "--setups",
        default="plain,tls",
        help="plain (HTTP) and/or tls (HTTPS on every leg), interleaved (plain,tls)",
    )
    parser.add_argument("--json", help="also write the samples to this file")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="store on one CPU, client and servers on the others (a store on another machine)",
    )
    parser.add_argument(
        "--server-cpu",
        type=float,
        help="cap each tus server at this many CPUs (a cgroup, as a container limit; root)",
    )
    parser.add_argument(
        "--store-dir", help="where the stores keep data (default /dev/shm: no disk noise)"
    )
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        help="extra flag for the gateway, e.g. --gateway-arg=--pipeline-parts=1",
    )
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    setups = [t.strip() for t in args.setups.split(",") if t.strip()]
    if not set(setups) <= {"plain", "tls"} or not set(targets) <= set(TARGETS):
        parser.error("--setups takes plain and tls; --targets gateway, tus-node and direct")
    samples: list[Sample] = []
    store_root = args.store_dir or (
        "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    )
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="s3stream-bench-gw-"))
        limit = None
        if args.server_cpu is not None:
            limit = CpuLimit(args.server_cpu)
            stack.callback(limit.close)
        file, digest = make_file(Path(tmp), size)
        print(
            f"{format_size(size)} file, {args.runs} run(s), set-ups {', '.join(setups)}, "
            f"parts {args.part_size}, "
            f"a fresh store per upload in {store_root or tempfile.gettempdir()}"
            + (", store pinned to its own CPU" if args.pin else "")
            + (f", tus servers capped at {args.server_cpu:g} CPU" if limit else ""),
            flush=True,
        )
        cases = [(setup, target) for setup in setups for target in targets]
        for run in range(1, args.runs + 1):
            order = cases[run % len(cases) :] + cases[: run % len(cases)]
            for setup, target in order:
                sample = one_sample(args, setup, target, run, file, digest, store_root, limit)
                samples.append(sample)
                print(
                    f"run {run} {setup:<5} {target:<9} {sample.mib_s:7.1f} MiB/s "
                    f"({sample.seconds:.2f} s; CPU client {sample.client_cpu:.1f} s, "
                    f"server {sample.server_cpu:.1f} s, store {sample.store_cpu:.1f} s)",
                    flush=True,
                )
    print()
    print(render(samples))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(s) for s in samples], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
