"""Scale-out: three gateway processes behind HAProxy (round-robin, no stickiness) on a
SeaweedFS cluster of separate processes (a master, two volume servers, a filer and two S3
servers; each gateway talks to one of the two S3 servers). tus-js-client, with its default
retries, uploads in 1 MiB chunks while the gateway holding the upload's lease is SIGKILLed:
the upload finishes byte-identical, held up for about the lease's TTL (10 s), not the 30 s
it used to be. See docs/deploy.md."""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from s3stream.limits import MiB
from tests.support.cluster import HAPROXY, SeaweedCluster
from tests.support.cluster import HAProxy as LoadBalancer
from tests.support.gateway import GatewayProcess, upload_id
from tests.support.paths import ROOT

TOKEN = "scale-token-0123456789abcdef"
BUCKET = "scale"
PREFIX = "scale/"
SIZE = 24 * MiB + 123
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy: run scripts/setup.sh"),
    pytest.mark.skipif(
        NODE is None or not (ROOT / "node_modules" / "tus-js-client").is_dir(),
        reason="node or node_modules/tus-js-client missing: run scripts/setup.sh",
    ),
]


class ClusterS3:
    """One of the cluster's S3 servers, as a gateway process's store."""

    def __init__(self, cluster: SeaweedCluster, index: int) -> None:
        self.cluster = cluster
        self.index = index

    @property
    def endpoint_url(self) -> str:
        return self.cluster.s3_urls[self.index]

    def env(self) -> dict[str, str]:
        return self.cluster.env(self.index)


def leases_held(gateway: GatewayProcess) -> float:
    text = httpx.get(gateway.url + "/metrics", timeout=2).text
    for family in text_string_to_metric_families(text):
        if family.name == "s3stream_leases_held":
            return float(family.samples[0].value)
    raise AssertionError("no s3stream_leases_held metric")


def read_lines(
    proc: subprocess.Popen[str], into: queue.Queue[tuple[float, dict[str, Any]]]
) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            into.put((time.monotonic(), json.loads(line)))


def test_a_gateway_killed_mid_upload_behind_haproxy(tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    with ExitStack() as stack:
        cluster = stack.enter_context(SeaweedCluster(tmp_path / "weed", [BUCKET]))
        flags = ("--token", TOKEN, "--prefix", PREFIX, "--part-size", "5MiB")
        gateways = [
            stack.enter_context(GatewayProcess(ClusterS3(cluster, i % 2), BUCKET, *flags))
            for i in range(3)
        ]
        balancer = stack.enter_context(LoadBalancer(tmp_path, [g.url for g in gateways]))
        options = {
            "endpoint": balancer.url + "/files/",
            "file": str(source),
            "chunkSize": MiB,
            "retryDelays": "default",
            "token": TOKEN,
        }
        assert NODE is not None
        client = subprocess.Popen(
            [NODE, str(ROOT / "tests" / "js" / "tus_resilient.mjs"), json.dumps(options)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stack.callback(client.kill)
        events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=read_lines, args=(client, events), daemon=True).start()
        progress: list[tuple[float, int]] = []
        url = None
        killed_at = None
        deadline = time.monotonic() + 60
        while killed_at is None and time.monotonic() < deadline:
            while not events.empty():
                at, event = events.get()
                url = event.get("url", url)
                if "progress" in event:
                    progress.append((at, int(event["progress"])))
            if progress and progress[-1][1] >= 4 * MiB:
                # the gateway writing the upload right now: it holds the upload's lease
                for gateway in gateways:
                    if leases_held(gateway) >= 1:
                        assert gateway.proc is not None
                        gateway.proc.kill()
                        killed_at = time.monotonic()
                        break
            time.sleep(0.01)
        assert killed_at is not None, "no gateway was ever seen holding the lease"
        killed_offset = progress[-1][1]
        assert client.wait(90) == 0, client.stderr.read() if client.stderr else ""
        done_at = None
        while not events.empty():
            at, event = events.get()
            if "progress" in event:
                progress.append((at, int(event["progress"])))
            if "done" in event:
                done_at, url = at, event["done"]
        assert done_at is not None and url is not None
        stalled = max(b[0] - a[0] for a, b in itertools.pairwise(progress))
        # the object, read through the other S3 server
        s3 = cluster.client(1)
        info_key = f"{PREFIX}_uploads/{upload_id(url)}.info"
        info = json.loads(s3.get_object(Bucket=BUCKET, Key=info_key)["Body"].read())
        assert info["finished"]
        assert s3.get_object(Bucket=BUCKET, Key=info["key"])["Body"].read() == data
        print(
            f"gateway killed with {killed_offset / MiB:.1f} MiB sent; upload done "
            f"{done_at - killed_at:.1f} s later; longest stall {stalled:.1f} s"
        )
        # a dead gateway holds its upload for the lease's TTL (10 s), not 30 s
        assert done_at - killed_at < 25
        assert stalled < 20
