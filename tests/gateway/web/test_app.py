"""The upload page's ASGI side (no browser): routing beside the gateway, the static assets,
tus-js-client (and no page without it), the config and session endpoints, and the finished-upload
lookup (owner checks on the memory store; checksum and presigned GET on SeaweedFS)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3stream.embedded import EmbeddedS3
from s3stream.errors import ConfigError
from s3stream.gateway import GatewayOptions, MemoryUploadStore, TusSettings, UploadStore, build_app
from s3stream.gateway.datastore import ObjectDescriber
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.web import FinishedUploads, WebApp, find_tus_js, require_tus_js, with_web
from s3stream.gateway.web.vendor import BUNDLE, TUS_JS_ENV
from tests.support.gateway import TestClient, Tus, make_s3_store, metadata, upload_id
from tests.support.paths import ROOT

TOKEN = "web-token-0123456789abcdef"
OTHER = "other-token-0123456789abcdef"
HAS_TUS_JS = (ROOT / BUNDLE).is_file()


def compose(
    store: UploadStore, tokens: tuple[str, ...] = (TOKEN,), prefix: str = "", **web: Any
) -> Any:
    settings = TusSettings(key_prefix=prefix)
    gateway = build_app(store, settings, GatewayOptions(tokens=tokens, sweep_interval=None))
    return with_web(gateway, WebApp.for_store(store, tokens=tokens, **web))


@pytest.fixture
def memory() -> MemoryUploadStore:
    return MemoryUploadStore()


@pytest.fixture
def client(memory: MemoryUploadStore) -> TestClient:
    return TestClient(compose(memory))


def test_page_and_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/vendor/tus.min.js"' in page.text
    assert 'for="token"' in page.text
    for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/.hidden.js").status_code == 404
    assert client.get("/static/__init__.py").status_code == 404


def test_gateway_paths_still_reach_the_gateway(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    options = client.options("/files/")
    assert options.status_code == 204 and "Tus-Version" in options.headers
    assert client.post("/files/", headers={"Tus-Resumable": "1.0.0"}).status_code == 401
    assert client.get("/elsewhere").status_code == 401  # the gateway's auth, then its 404


@pytest.mark.skipif(not HAS_TUS_JS, reason="node_modules missing: run scripts/setup.sh")
def test_vendor_serves_tus_js_client_from_node_modules(client: TestClient) -> None:
    response = client.get("/vendor/tus.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == (ROOT / BUNDLE).read_bytes()
    assert client.get("/vendor/other.js").status_code == 404
    assert client.get("/api/config").json() == {
        "endpoint": "/files/",
        "auth": True,
        "tusClient": True,
        "chunkSize": None,
        "mode": "tus",
        "direct": None,
    }


def test_chunk_size_reaches_the_page(memory: MemoryUploadStore) -> None:
    client = TestClient(compose(memory, chunk_size=1 << 20))
    assert client.get("/api/config").json()["chunkSize"] == 1 << 20


def test_no_page_without_tus_js_client(memory: MemoryUploadStore, tmp_path: Path) -> None:
    """A page that cannot upload is never served: no bundle is a ConfigError naming the fix."""
    nowhere = tmp_path / "nowhere.js"
    with pytest.raises(ConfigError, match=r"no tus-js-client bundle at .*nowhere\.js: point"):
        compose(memory, tus_js=nowhere)
    with pytest.raises(ConfigError, match=f"{TUS_JS_ENV}=.*nowhere"):
        require_tus_js(env={TUS_JS_ENV: str(nowhere)})
    with pytest.raises(ConfigError, match=r"has none: in a checkout run `npm ci`") as info:
        require_tus_js(env={}, starts=[tmp_path], packaged=nowhere)
    assert len(str(info.value).splitlines()) == 1
    # the page still explains itself if the script goes missing after the start
    assert (
        "tus-js-client is not installed" in TestClient(compose(memory)).get("/static/app.js").text
    )


def test_find_tus_js(tmp_path: Path) -> None:
    bundle = tmp_path / "project" / BUNDLE
    bundle.parent.mkdir(parents=True)
    bundle.write_text("/* tus */")
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    none = tmp_path / "no-wheel" / "tus.min.js"
    assert find_tus_js(env={}, starts=[deep], packaged=none) == bundle.resolve()
    assert find_tus_js(env={}, starts=[tmp_path], packaged=none) is None
    assert find_tus_js(bundle, env={}) == bundle.resolve()
    assert find_tus_js(tmp_path / "project", env={}) == bundle.resolve()  # a directory
    assert find_tus_js(env={TUS_JS_ENV: str(bundle)}, starts=[]) == bundle.resolve()
    # a configured path that points nowhere is not silently replaced by a search
    assert find_tus_js(tmp_path / "missing.js", env={}, starts=[deep]) is None
    # a wheel's copy comes before any node_modules
    wheel = tmp_path / "site-packages" / "tus.min.js"
    wheel.parent.mkdir()
    wheel.write_text("/* tus from the wheel */")
    assert find_tus_js(env={}, starts=[deep], packaged=wheel) == wheel
    assert require_tus_js(env={}, starts=[], packaged=wheel) == wheel


def test_session_needs_a_valid_token(client: TestClient) -> None:
    assert client.get("/api/session").status_code == 401
    bad = {"Authorization": f"Bearer {OTHER}"}
    assert client.get("/api/session", headers=bad).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/session", headers=good).status_code == 204


def test_finished_upload_lookup_on_memory_store(memory: MemoryUploadStore) -> None:
    client = TestClient(compose(memory, tokens=(TOKEN, OTHER)))
    tus = Tus(client, token=TOKEN)
    url = tus.upload(
        b"hello web" * 1000, 4000, meta=metadata(filename="a b.txt", filetype="text/plain")
    )
    uid = upload_id(url)
    mine = {"Authorization": f"Bearer {TOKEN}"}
    answer = client.get(f"/api/uploads/{uid}", headers=mine)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["id"] == uid and data["size"] == 9000
    assert data["key"].startswith("a b-") and data["key"].endswith(".txt")
    assert data["filename"] == "a b.txt" and data["contentType"] == "text/plain"
    assert data["url"] is None and data["checksum"] is None  # the memory store has neither

    theirs = {"Authorization": f"Bearer {OTHER}"}
    assert client.get(f"/api/uploads/{uid}", headers=theirs).status_code == 404
    assert client.get(f"/api/uploads/{uid}").status_code == 401
    assert client.get("/api/uploads/unknown-id-0123456789", headers=mine).status_code == 404

    unfinished = upload_id(tus.new(100))
    pending = client.get(f"/api/uploads/{unfinished}", headers=mine)
    assert pending.status_code == 409
    assert pending.json() == {"error": "the upload is not finished", "offset": 0, "size": 100}


def test_finished_upload_on_s3_has_checksum_and_presigned_get(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str
) -> None:
    store = make_s3_store(s3server, bucket, key_prefix=f"{unique_key}/")
    client = TestClient(compose(store, prefix=f"{unique_key}/"))
    body = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: a staged chunk, then PutObject
    url = Tus(client, token=TOKEN).upload(body, 300_000, meta=metadata(filename="data.bin"))
    answer = client.get(
        f"/api/uploads/{upload_id(url)}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["key"].startswith(f"{unique_key}/data-") and data["size"] == len(body)
    head = s3client.head_object(Bucket=bucket, Key=data["key"], ChecksumMode="ENABLED")
    assert data["checksumAlgorithm"] == "CRC64NVME"
    assert data["checksum"] == head["ChecksumCRC64NVME"]
    assert data["url"].startswith(s3server.endpoint_url)
    assert httpx.get(data["url"]).content == body  # the presigned GET, on 127.0.0.1


def test_finished_uploads_are_described_where_the_store_can(
    s3server: EmbeddedS3, bucket: str
) -> None:
    """The S3 upload store describes its objects (checksum, link); the memory fake cannot,
    and the page then gets answers without them."""
    store = make_s3_store(s3server, bucket)
    assert isinstance(store, ObjectDescriber)
    assert not isinstance(MemoryUploadStore(), ObjectDescriber)
    finished = FinishedUploads(store, expires_in=60)
    with pytest.raises(HTTPError) as info:
        asyncio.run(finished.lookup("missing-upload-id-000000", ""))
    assert info.value.status == 404
