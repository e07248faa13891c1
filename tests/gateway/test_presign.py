"""The presign API on the real SeaweedFS, wired from `s3stream serve`'s own flags (in
process): ownership, size limits, part checksums and lengths signed into the URLs (and
enforced by the store), form-upload policies, no-clobber, the prefix, the sweeper and the
URL lifetime. Every refusal is checked to change nothing; cross-process ownership and the
browser clients are in test_interop.py and web/test_uppy.py."""

from __future__ import annotations

import asyncio
import base64
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from awscrt import checksums as crt

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import MemoryUploadStore, TusSettings
from s3stream.gateway.app import Router
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.handler import Context, TusHandler
from s3stream.gateway.presign import PresignAPI, Presigner, PresignSettings
from s3stream.gateway.threads import StoreThreads
from s3stream.limits import MiB
from s3stream.store.boto import BotoObjects, BotoStore
from s3stream.store.memory import MemoryStore
from tests.support.gateway import Clock, TestClient, serve_app

TOKEN_A = "presign-token-a-0123456789"
TOKEN_B = "presign-token-b-0123456789"
A = {"Authorization": f"Bearer {TOKEN_A}"}
B = {"Authorization": f"Bearer {TOKEN_B}"}
TOKENS = ("--token", TOKEN_A, "--token", TOKEN_B)


def crc64(data: bytes) -> str:
    return base64.b64encode(crt.crc64nvme(data).to_bytes(8, "big")).decode()


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"presign-{os.urandom(4).hex()}/"


@pytest.fixture(scope="module")
def http(s3server: EmbeddedS3, prefix: str) -> Iterator[TestClient]:
    with serve_app(
        s3server, prefix, *TOKENS, "--max-size", "12MiB", "--presign-expires", "123"
    ) as c:
        yield c


def create(http: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = http.post("/s3/multipart", json={"filename": "f.bin", **body}, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def sign(http: TestClient, up: dict[str, Any], n: int, headers: dict[str, str], **q: str) -> Any:
    return http.get(
        f"/s3/multipart/{up['uploadId']}/{n}", params={"key": up["key"], **q}, headers=headers
    )


def put_part(url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.put(url, content=data, headers=headers or {}, timeout=60)


def mpu_exists(s3client: Any, up: dict[str, Any]) -> bool:
    listed = s3client.list_multipart_uploads(Bucket="test", Prefix=up["key"])
    return any(u["UploadId"] == up["uploadId"] for u in listed.get("Uploads", []))


def object_exists(s3client: Any, key: str) -> bool:
    listed = s3client.list_objects_v2(Bucket="test", Prefix=key)
    return any(o["Key"] == key for o in listed.get("Contents", []))


def test_only_the_creating_token_can_touch_an_upload(http: TestClient, s3client: Any) -> None:
    up = create(http, A)
    part = os.urandom(1000)
    url = sign(http, up, 1, A).json()["url"]
    etag = put_part(url, part).headers["ETag"]
    q = {"key": up["key"]}
    base = f"/s3/multipart/{up['uploadId']}"
    # token B: every route answers 404, as for an upload that does not exist
    assert http.get(base, params=q, headers=B).status_code == 404
    assert sign(http, up, 2, B).status_code == 404
    batch = http.get(f"{base}/batch", params={**q, "partNumbers": "2"}, headers=B)
    assert batch.status_code == 404
    done = {"parts": [{"PartNumber": 1, "ETag": etag}]}
    assert http.post(f"{base}/complete", params=q, json=done, headers=B).status_code == 404
    assert http.delete(base, params=q, headers=B).status_code == 404
    # a made-up upload id, even for A's own key, and a key that is not the upload's
    assert http.get("/s3/multipart/made-up-id/1", params=q, headers=A).status_code == 404
    other = {"key": up["key"] + "x"}
    assert http.get(base, params=other, headers=A).status_code == 404
    # no token at all: 401
    assert http.get(base, params=q).status_code == 401
    # nothing changed: A lists its part and completes
    assert mpu_exists(s3client, up)
    listed = http.get(base, params=q, headers=A).json()
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, etag)]
    answer = http.post(f"{base}/complete", params=q, json=done, headers=A)
    assert answer.status_code == 200, answer.text
    assert s3client.get_object(Bucket="test", Key=up["key"])["Body"].read() == part
    # the presigned GET honours --presign-expires
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.json()["location"]).query)
    assert query["X-Amz-Expires"] == ["123"]
    assert httpx.get(answer.json()["location"]).content == part
    # completed: the record is gone, so the upload is unknown now
    assert http.get(base, params=q, headers=A).status_code == 404


def test_a_key_outside_the_prefix_is_refused(http: TestClient, prefix: str) -> None:
    up = create(http, A)
    assert up["key"].startswith(prefix)
    for key in ("elsewhere/f.bin", f"{prefix}../x", ""):
        response = http.get(f"/s3/multipart/{up['uploadId']}", params={"key": key}, headers=A)
        assert response.status_code == 400, key
        assert "prefix" in response.json()["error"] or "key" in response.json()["error"]
    http.delete(f"/s3/multipart/{up['uploadId']}", params={"key": up["key"]}, headers=A)


def test_declared_size_signs_exact_part_lengths_and_checksums(
    http: TestClient, s3client: Any
) -> None:
    data = os.urandom(7 * MiB + 11)
    up = create(http, A, size=len(data), partSize=5 * MiB, checksum="crc64nvme")
    assert up["partSize"] == 5 * MiB and up["checksum"] == "crc64nvme"
    parts = [data[: 5 * MiB], data[5 * MiB :]]
    # a part URL needs the part's CRC, checked for form
    assert sign(http, up, 1, A).status_code == 400
    assert sign(http, up, 1, A, checksum="nope").status_code == 400
    assert sign(http, up, 3, A, checksum=crc64(b"")).status_code == 400  # beyond 2 parts
    signed = sign(http, up, 1, A, checksum=crc64(parts[0])).json()
    assert signed["headers"] == {"x-amz-checksum-crc64nvme": crc64(parts[0])}
    # the store enforces what was signed: the length and the CRC
    assert put_part(signed["url"], parts[0] + b"x", signed["headers"]).status_code == 403
    corrupt = bytearray(parts[0])
    corrupt[100] ^= 1
    assert put_part(signed["url"], bytes(corrupt), signed["headers"]).status_code == 400
    assert put_part(signed["url"], parts[0]).status_code == 403  # the signed header left out
    etags = []
    for n, piece in enumerate(parts, 1):
        s = sign(http, up, n, A, checksum=crc64(piece)).json()
        sent = put_part(s["url"], piece, s["headers"])
        assert sent.status_code == 200, sent.text
        etags.append({"PartNumber": n, "ETag": sent.headers["ETag"]})
    base, q = f"/s3/multipart/{up['uploadId']}", {"key": up["key"]}
    # parts that do not make the declared size: refused, the upload left as it was
    short = http.post(f"{base}/complete", params=q, json={"parts": etags[:1]}, headers=A)
    assert short.status_code == 400 and "declared" in short.json()["error"]
    wrong = [{"PartNumber": 1, "ETag": '"0000"'}, etags[1]]
    assert (
        http.post(f"{base}/complete", params=q, json={"parts": wrong}, headers=A).status_code == 400
    )
    assert mpu_exists(s3client, up) and not object_exists(s3client, up["key"])
    done = http.post(f"{base}/complete", params=q, json={"parts": etags}, headers=A)
    assert done.status_code == 200, done.text
    assert s3client.get_object(Bucket="test", Key=up["key"])["Body"].read() == data


def test_size_limit_at_creation_signing_and_completion(http: TestClient, s3client: Any) -> None:
    too_big = http.post("/s3/multipart", json={"size": 12 * MiB + 1}, headers=A)
    assert too_big.status_code == 413
    # no declared size: at most the parts 12 MiB allows at 5 MiB each (3), and the sum
    up = create(http, A)
    assert sign(http, up, 4, A).status_code == 400
    etags = []
    for n in (1, 2, 3):
        sent = put_part(sign(http, up, n, A).json()["url"], os.urandom(5 * MiB))
        etags.append({"PartNumber": n, "ETag": sent.headers["ETag"]})
    base, q = f"/s3/multipart/{up['uploadId']}", {"key": up["key"]}
    over = http.post(f"{base}/complete", params=q, json={"parts": etags}, headers=A)
    assert over.status_code == 413 and "limit" in over.json()["error"]
    assert mpu_exists(s3client, up) and not object_exists(s3client, up["key"])
    assert http.delete(base, params=q, headers=A).status_code == 200
    assert not mpu_exists(s3client, up)


def test_form_upload_policy_is_what_uppy_posts(http: TestClient, s3client: Any) -> None:
    answer = http.get("/s3/params", params={"filename": "a b.txt", "type": "text/plain"}, headers=A)
    assert answer.status_code == 200
    params = answer.json()
    assert params["method"] == "POST" and params["fields"]["key"] == params["key"]
    assert params["fields"]["Content-Type"] == "text/plain"
    files = {"file": ("a b.txt", b"straight to S3")}
    posted = httpx.post(params["url"], data=params["fields"], files=files)
    assert posted.status_code == 201, posted.text
    stored = s3client.get_object(Bucket="test", Key=params["key"])
    assert stored["Body"].read() == b"straight to S3" and stored["ContentType"] == "text/plain"
    # the policy caps the size at the limit: the store refuses more
    params = http.get("/s3/params", params={"filename": "big.bin"}, headers=A).json()
    big = {"file": ("big.bin", os.urandom(12 * MiB + 1))}
    assert (
        httpx.post(params["url"], data=params["fields"], files=big, timeout=60).status_code == 400
    )
    assert not object_exists(s3client, params["key"])
    assert http.get("/s3/params").status_code == 401


def test_no_clobber_with_exact_names(s3server: EmbeddedS3, s3client: Any, prefix: str) -> None:
    exact = f"{prefix}exact/"
    with serve_app(s3server, exact, *TOKENS, "--naming", "exact", "--no-clobber") as http:
        s3client.put_object(Bucket="test", Key=f"{exact}taken.bin", Body=b"old")
        taken = http.post("/s3/multipart", json={"filename": "taken.bin"}, headers=A)
        assert taken.status_code == 409
        form = http.get("/s3/params", params={"filename": "new.bin"}, headers=A)
        assert form.status_code == 409 and "multipart" in form.json()["error"]
        up = create(http, A, filename="late.bin")
        assert up["key"] == f"{exact}late.bin"
        sent = put_part(sign(http, up, 1, A).json()["url"], b"mine")
        s3client.put_object(Bucket="test", Key=up["key"], Body=b"someone else's")
        base, q = f"/s3/multipart/{up['uploadId']}", {"key": up["key"]}
        parts = {"parts": [{"PartNumber": 1, "ETag": sent.headers["ETag"]}]}
        clash = http.post(f"{base}/complete", params=q, json=parts, headers=A)
        assert clash.status_code == 409
        body = s3client.get_object(Bucket="test", Key=up["key"])["Body"].read()
        assert body == b"someone else's" and mpu_exists(s3client, up)
        assert http.delete(base, params=q, headers=A).status_code == 200


def test_the_sweeper_aborts_abandoned_uploads(s3server: EmbeddedS3, s3client: Any) -> None:
    client = s3server.client()
    clock = Clock()
    settings = PresignSettings(key_prefix=f"swept-{os.urandom(3).hex()}/", expiration=60)
    presigner = Presigner(BotoStore(client), BotoObjects(client), "test", settings, clock=clock)
    old = presigner.create("owner", "old.bin", None)
    put_part(
        presigner.sign_parts("owner", old["key"], old["uploadId"], [(1, None)])[0]["url"], b"x"
    )
    clock.now += 30
    young = presigner.create("owner", "young.bin", None)
    clock.now += 31  # old is 61 s old, young 31 s
    assert presigner.sweep(clock.now) == 1
    assert not mpu_exists(s3client, old) and mpu_exists(s3client, young)
    assert presigner.records.load(old["uploadId"]) is None
    with pytest.raises(HTTPError) as gone:
        presigner.list_parts("owner", old["key"], old["uploadId"])
    assert gone.value.status == 404
    clock.now += 60
    assert presigner.sweep(clock.now) == 1
    assert not mpu_exists(s3client, young)
    assert presigner.sweep(clock.now) == 0


def test_the_gateway_sweep_includes_presigned_uploads() -> None:
    store = MemoryStore()
    clock = Clock()
    presigner = Presigner(store, store, "b", PresignSettings(expiration=10), clock=clock)
    threads = StoreThreads(4)
    api = PresignAPI(presigner, threads)
    router = Router(TusHandler(Context(MemoryUploadStore(), TusSettings(), clock=clock)), api, None)
    up = presigner.create("", "x.bin", None)
    clock.now += 11
    assert asyncio.run(router.sweep()) == 1
    assert store.list_multipart_uploads("b") == []
    assert up["uploadId"] not in {u.upload_id for u in store.list_multipart_uploads("b")}
