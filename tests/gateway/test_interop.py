"""The gateway as a real server (uvicorn processes on 127.0.0.1 + SeaweedFS) with clients
nobody here wrote: tus-js-client (node, tests/js) and tuspy. Every object is compared byte
for byte with its source. Also: two gateway processes on one upload, auth, CORS, the
webhook (to a local receiver) and the presign endpoints."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client

from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.gateway import TUS, GatewayProcess, free_port, upload_id
from tests.support.paths import ROOT

JS_UPLOAD = ROOT / "tests" / "js" / "tus_upload.mjs"
TOKEN = "interop-token-0123456789"
OTHER_TOKEN = "interop-other-token-0123456789"
ORIGIN = "http://app.example.test"
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(
    NODE is None or not (ROOT / "node_modules" / "tus-js-client").is_dir(),
    reason="node or node_modules/tus-js-client missing: install node and run scripts/setup.sh",
)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records the JSON it is sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                events.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, event: str, upload: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if e["event"] == event and e["upload_id"] == upload:
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no {event} event for {upload}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"interop-{os.urandom(4).hex()}/"


def _args(prefix: str, receiver: Receiver) -> list[str]:
    return [
        "--prefix",
        prefix,
        "--part-size",
        "5MiB",
        "--token",
        TOKEN,
        "--token",
        OTHER_TOKEN,
        "--cors-origin",
        ORIGIN,
        "--webhook-url",
        receiver.url,
    ]


@pytest.fixture(scope="module")
def gateway(s3server: EmbeddedS3, prefix: str, receiver: Receiver) -> Iterator[GatewayProcess]:
    with GatewayProcess(s3server, "test", *_args(prefix, receiver)) as process:
        yield process


@pytest.fixture(scope="module")
def second_gateway(
    s3server: EmbeddedS3, prefix: str, receiver: Receiver
) -> Iterator[GatewayProcess]:
    with GatewayProcess(s3server, "test", *_args(prefix, receiver)) as process:
        yield process


@pytest.fixture
def source(tmp_path: Path) -> Any:
    def make(size: int) -> tuple[Path, bytes]:
        data = os.urandom(size)
        path = tmp_path / f"source-{size}.bin"
        path.write_bytes(data)
        return path, data

    return make


def stored(s3client: Any, gateway: GatewayProcess, url: str) -> bytes:
    """The object of a finished upload, found through its state in the bucket."""
    head = httpx.head(url, headers={**TUS, "Authorization": f"Bearer {TOKEN}"})
    assert head.status_code == 200, head.text
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"]
    prefix = gateway.args[gateway.args.index("--prefix") + 1]
    info_key = f"{prefix}_uploads/{upload_id(url)}.info"
    info = json.loads(s3client.get_object(Bucket="test", Key=info_key)["Body"].read())
    assert info["finished"]
    data: bytes = s3client.get_object(Bucket="test", Key=info["key"])["Body"].read()
    return data


def node_upload(gateway: GatewayProcess, file: Path, **options: Any) -> dict[str, Any]:
    assert NODE is not None
    opts = {"endpoint": gateway.url + "/files/", "file": str(file), "token": TOKEN, **options}
    done = subprocess.run(
        [NODE, str(JS_UPLOAD), json.dumps(opts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not options.get("killAfter"):
        assert done.returncode == 0, done.stderr
    assert lines, done.stderr
    result: dict[str, Any] = json.loads(lines[0])
    result["returncode"] = done.returncode
    return result


# ------------------------------------------------------------------ tus-js-client


@needs_node
@pytest.mark.parametrize(
    ("size", "chunk"),
    [(3 * MiB + 17, None), (11 * MiB + 5, 1 * MiB), (17 * MiB + 3, 6 * MiB)],
    ids=["whole", "chunks-below-5MiB", "chunks-above-5MiB"],
)
def test_tus_js_client_uploads(
    gateway: GatewayProcess, s3client: Any, source: Any, size: int, chunk: int | None
) -> None:
    path, data = source(size)
    result = node_upload(gateway, path, **({"chunkSize": chunk} if chunk else {}))
    assert stored(s3client, gateway, result["url"]) == data


@needs_node
def test_tus_js_client_parallel_uploads(
    gateway: GatewayProcess, s3client: Any, source: Any, receiver: Receiver
) -> None:
    path, data = source(16 * MiB + 11)
    result = node_upload(gateway, path, parallelUploads=3, metadata={"filename": "parallel.bin"})
    assert stored(s3client, gateway, result["url"]) == data
    finished = receiver.wait_for("finished", upload_id(result["url"]))
    assert finished["final"] and finished["filename"] == "parallel.bin"


@needs_node
def test_tus_js_client_deferred_length(gateway: GatewayProcess, s3client: Any, source: Any) -> None:
    path, data = source(9 * MiB + 1)
    result = node_upload(gateway, path, deferred=True, chunkSize=2 * MiB)
    assert stored(s3client, gateway, result["url"]) == data


@needs_node
@pytest.mark.slow
def test_tus_js_client_killed_then_resumed_by_a_new_client(
    gateway: GatewayProcess, s3client: Any, source: Any
) -> None:
    path, data = source(40 * MiB + 7)
    killed = node_upload(gateway, path, killAfter=13 * MiB)
    assert killed["returncode"] != 0 and killed["url"]
    url = killed["url"]
    headers = {**TUS, "Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + 10
    offset = 0
    while time.monotonic() < deadline:  # the server notices the dead connection
        offset = int(httpx.head(url, headers=headers).headers["Upload-Offset"])
        if offset > 0:
            break
        time.sleep(0.1)
    assert 0 < offset < len(data)
    resumed = node_upload(gateway, path, uploadUrl=url)
    assert resumed["url"] == url
    assert stored(s3client, gateway, url) == data


# ------------------------------------------------------------------ tuspy


def tuspy(gateway: GatewayProcess) -> tus_client.TusClient:
    return tus_client.TusClient(
        gateway.url + "/files/", headers={"Authorization": f"Bearer {TOKEN}"}
    )


@pytest.mark.parametrize("chunk", [1 * MiB, 6 * MiB], ids=["1MiB", "6MiB"])
def test_tuspy_uploads(gateway: GatewayProcess, s3client: Any, source: Any, chunk: int) -> None:
    path, data = source(13 * MiB + 9)
    uploader = tuspy(gateway).uploader(
        str(path), chunk_size=chunk, metadata={"filename": "tuspy.bin"}
    )
    uploader.upload()
    assert uploader.url is not None
    assert stored(s3client, gateway, uploader.url) == data


def test_tuspy_resumes_with_a_new_client(
    gateway: GatewayProcess, s3client: Any, source: Any
) -> None:
    path, data = source(12 * MiB)
    first = tuspy(gateway).uploader(str(path), chunk_size=3 * MiB)
    first.upload_chunk()  # type: ignore[no-untyped-call]
    first.upload_chunk()  # type: ignore[no-untyped-call]
    url = first.url
    assert url is not None
    second = tuspy(gateway).uploader(str(path), chunk_size=4 * MiB, url=url)
    assert second.offset == 6 * MiB
    second.upload()
    assert stored(s3client, gateway, url) == data


# ------------------------------------------------------------------ two processes


def test_two_gateway_processes_share_uploads(
    gateway: GatewayProcess, second_gateway: GatewayProcess, s3client: Any
) -> None:
    data = os.urandom(12 * MiB + 5)
    headers = {**TUS, "Authorization": f"Bearer {TOKEN}"}
    created = httpx.post(
        gateway.url + "/files/", headers={**headers, "Upload-Length": str(len(data))}
    )
    assert created.status_code == 201
    path = "/files/" + upload_id(created.headers["Location"])
    patch = {**headers, "Content-Type": "application/offset+octet-stream"}
    offset = 0
    for i, target in enumerate((gateway, second_gateway, gateway, second_gateway)):
        piece = data[offset : offset + 4 * MiB]
        if not piece:
            break
        response = httpx.patch(
            target.url + path,
            headers={**patch, "Upload-Offset": str(offset)},
            content=piece,
            timeout=60,
        )
        assert response.status_code == 204, (i, response.text)
        offset = int(response.headers["Upload-Offset"])
    assert offset == len(data)
    assert stored(s3client, second_gateway, second_gateway.url + path) == data


# ------------------------------------------------------------------ auth, CORS, hooks


def test_auth_is_enforced(gateway: GatewayProcess) -> None:
    response = httpx.post(gateway.url + "/files/", headers={**TUS, "Upload-Length": "1"})
    assert response.status_code == 401
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}


def test_cors_preflight_and_exposed_headers(gateway: GatewayProcess) -> None:
    preflight = httpx.options(
        gateway.url + "/files/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,upload-offset,tus-resumable",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    headers = {**TUS, "Authorization": f"Bearer {TOKEN}", "Origin": ORIGIN, "Upload-Length": "1"}
    created = httpx.post(gateway.url + "/files/", headers=headers)
    exposed = created.headers["Access-Control-Expose-Headers"].lower()
    assert "location" in exposed and "upload-offset" in exposed
    other = httpx.options(
        gateway.url + "/files/",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_webhook_receives_lifecycle_events(
    gateway: GatewayProcess, receiver: Receiver, source: Any
) -> None:
    path, _ = source(100)
    uploader = tuspy(gateway).uploader(str(path), metadata={"filename": "hook.txt"})
    uploader.upload()
    assert uploader.url is not None
    upload = upload_id(uploader.url)
    created = receiver.wait_for("created", upload)
    finished = receiver.wait_for("finished", upload)
    assert created["size"] == 100 and created["owner"]
    assert finished["filename"] == "hook.txt" and finished["bucket"] == "test"
    assert finished["key"].endswith(".txt")


# ------------------------------------------------------------------ presign


def test_presigned_form_upload(gateway: GatewayProcess, s3client: Any) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    params = httpx.get(
        gateway.url + "/s3/params",
        params={"filename": "direct.txt", "type": "text/plain"},
        headers=auth,
    ).json()
    assert params["method"] == "POST"
    files = {"file": ("direct.txt", b"straight to S3")}
    posted = httpx.post(params["url"], data=params["fields"], files=files)
    assert posted.status_code == 201, posted.text
    body = s3client.get_object(Bucket="test", Key=params["key"])["Body"].read()
    assert body == b"straight to S3"


def test_presigned_multipart(gateway: GatewayProcess, s3client: Any) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    base = gateway.url + "/s3/multipart"
    created = httpx.post(base, json={"filename": "big.bin", "type": "x/y"}, headers=auth).json()
    key, mpu = created["key"], created["uploadId"]
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    batch = httpx.get(
        f"{base}/{mpu}/batch", params={"key": key, "partNumbers": "1,2"}, headers=auth
    ).json()["presignedUrls"]
    etags = []
    for number, piece in enumerate(parts, 1):
        sent = httpx.put(batch[str(number)], content=piece, timeout=60)
        assert sent.status_code == 200, sent.text
        etags.append({"PartNumber": number, "ETag": sent.headers["ETag"]})
    single = httpx.get(f"{base}/{mpu}/2", params={"key": key}, headers=auth).json()
    assert single["url"].startswith("http://127.0.0.1")
    listed = httpx.get(f"{base}/{mpu}", params={"key": key}, headers=auth).json()
    assert [p["PartNumber"] for p in listed] == [1, 2]
    done = httpx.post(
        f"{base}/{mpu}/complete", params={"key": key}, json={"parts": etags}, headers=auth
    )
    assert done.status_code == 200, done.text
    assert s3client.get_object(Bucket="test", Key=key)["Body"].read() == b"".join(parts)
    outside = httpx.get(f"{base}/{mpu}", params={"key": "../etc"}, headers=auth)
    assert outside.status_code == 400
    aborted = httpx.post(base, json={"filename": "gone.bin"}, headers=auth).json()
    response = httpx.delete(
        f"{base}/{aborted['uploadId']}", params={"key": aborted["key"]}, headers=auth
    )
    assert response.status_code == 200


def test_presigned_ownership_holds_across_gateway_processes(
    gateway: GatewayProcess, second_gateway: GatewayProcess, s3client: Any
) -> None:
    """An upload created on one process is its creator's on every process (the record is in
    the bucket), and nobody else's."""
    mine = {"Authorization": f"Bearer {TOKEN}"}
    theirs = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    created = httpx.post(gateway.url + "/s3/multipart", json={"filename": "x.bin"}, headers=mine)
    up = created.json()
    path, q = f"/s3/multipart/{up['uploadId']}", {"key": up["key"]}
    url = httpx.get(f"{second_gateway.url}{path}/1", params=q, headers=mine).json()["url"]
    etag = httpx.put(url, content=b"part one").headers["ETag"]
    listed = httpx.get(gateway.url + path, params=q, headers=mine).json()
    assert [p["ETag"] for p in listed] == [etag]
    for target in (gateway, second_gateway):
        assert httpx.get(target.url + path, params=q, headers=theirs).status_code == 404
        assert httpx.delete(target.url + path, params=q, headers=theirs).status_code == 404
    done = httpx.post(
        f"{second_gateway.url}{path}/complete",
        params=q,
        json={"parts": [{"PartNumber": 1, "ETag": etag}]},
        headers=mine,
    )
    assert done.status_code == 200, done.text
    assert s3client.get_object(Bucket="test", Key=up["key"])["Body"].read() == b"part one"


# ------------------------------------------------------------------ the command


def test_non_loopback_without_tokens_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k != "S3STREAM_TOKENS"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "s3stream.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs bearer tokens" in done.stderr


@pytest.mark.slow
def test_serve_alone_starts_the_embedded_store(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s3stream.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--log-level",
            "warning",
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        uploader = tus_client.TusClient(url + "/files/").uploader(
            file_stream=io.BytesIO(b"hello"), chunk_size=5
        )
        uploader.upload()
        assert uploader.url is not None
        head = httpx.head(uploader.url, headers=TUS)
        assert head.headers["Upload-Offset"] == "5"
        assert httpx.get(url + "/ready").json() == {"status": "ready"}
        # serve set the embedded bucket's CORS rule for its page, so auto mode goes direct
        config = httpx.get(url + "/api/config").json()
        assert config["mode"] == "direct" and config["direct"]["checksum"] == "crc64nvme"
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
