"""One conformance suite for every store implementation: the in-memory store, the real
SeaweedFS and moto's server, each through botocore and through the native transport, answer
the same calls with the same outcomes,
where their capabilities agree; where they differ (moto verifies no checksum), the suite asks
the store's capabilities (measured by the probe, once per session) what to expect. A store
added later joins by adding a case to the ``target`` fixture."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from s3stream.checksums import ChecksumAlgorithm, combine, composite, digest, encode
from s3stream.embedded import EmbeddedS3
from s3stream.errors import (
    AlreadyExists,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from s3stream.limits import MiB
from s3stream.store import CREATE, ObjectOptions, Objects, ObjectStore, PartRecord, PutMode
from s3stream.store.boto import BotoObjects, BotoStore
from s3stream.store.capabilities import FACTS, Capabilities, Support
from s3stream.store.cors import RULE_ID, allows_uploads, with_upload_origins
from s3stream.store.memory import MemoryStore
from s3stream.store.probe import Probe
from s3stream.store.profiles import SEAWEEDFS
from s3stream.store.protocol import BucketCors
from s3stream.store.types import PresignedPost
from tests.support.moto import MOTO_CAPABILITIES, MotoS3
from tests.support.native import native_store

CRC = ChecksumAlgorithm.CRC64NVME
BUCKET = "test"


@dataclass
class Target:
    store: ObjectStore
    objects: Objects
    bucket: str
    prefix: str
    real: bool
    name: str
    caps: Capabilities

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


PROBED: dict[str, Capabilities] = {}
"""Each real store's capabilities, probed once per session (the probe runs on every store)."""


def probed(name: str, store: ObjectStore, objects: Objects) -> Capabilities:
    if name not in PROBED:
        report = Probe(store, objects, BUCKET, "conformance-probe/").run(full=True)
        PROBED[name] = report.capabilities
    return PROBED[name]


@pytest.fixture(params=["memory", "seaweedfs", "moto", "seaweedfs-native", "moto-native"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    prefix = f"conformance-{secrets.token_hex(4)}/"
    if request.param == "memory":
        memory = MemoryStore()
        yield Target(memory, memory, BUCKET, prefix, False, "memory", memory.capabilities)
        return
    name, _, transport = request.param.partition("-")
    server: EmbeddedS3 | MotoS3 = request.getfixturevalue(
        "s3server" if name == "seaweedfs" else "moto"
    )
    store: ObjectStore
    objects: Objects
    if transport == "native":
        store = native_store(server)
        objects = store.objects
    else:
        client = server.client()
        store, objects = BotoStore(client), BotoObjects(client)
    caps = probed(request.param, store, objects)
    yield Target(store, objects, BUCKET, prefix, True, name, caps)


KNOWN_GAPS = {
    ("moto", "aborted"): "moto answers 500, not NoSuchUpload, for a part of an aborted upload",
    ("moto", "form-size"): "moto does not enforce a POST policy's content-length-range",
}


def known_gap(request: pytest.FixtureRequest, target: Target, what: str) -> None:
    """Expect this case to fail on a store with a documented gap (strict: a store that
    gains the behaviour makes the case pass and the marker must go)."""
    reason = KNOWN_GAPS.get((target.name, what))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def crc(data: bytes) -> str:
    found = digest(CRC, data)
    assert found is not None
    return encode(CRC, found)


def put(target: Target, name: str, data: bytes, mode: PutMode = CREATE) -> str:
    return target.objects.put(target.bucket, target.key(name), data, mode=mode)


# ------------------------------------------------------------------ small objects


def test_an_object_reads_back_and_a_missing_one_is_none(target: Target) -> None:
    etag = put(target, "a", b"hello")
    blob = target.objects.get(target.bucket, target.key("a"))
    assert blob is not None and blob.data == b"hello" and blob.etag == etag
    assert target.objects.get(target.bucket, target.key("missing")) is None
    assert target.store.head_object(target.bucket, target.key("missing")) is None
    info = target.store.head_object(target.bucket, target.key("a"))
    assert info is not None and info.size == 5 and info.etag == etag
    view = memoryview(bytearray(10))
    assert target.objects.read_into(target.bucket, target.key("a"), view) == 5
    assert bytes(view[:5]) == b"hello"
    assert b"".join(target.objects.iter_chunks(target.bucket, target.key("a"))) == b"hello"
    with pytest.raises(NotFound):
        target.objects.read_into(target.bucket, target.key("missing"), view)


def test_create_mode_never_overwrites(target: Target) -> None:
    put(target, "c", b"first")
    with pytest.raises(AlreadyExists):
        put(target, "c", b"second")
    blob = target.objects.get(target.bucket, target.key("c"))
    assert blob is not None and blob.data == b"first"


def test_replace_mode_needs_the_current_version(target: Target) -> None:
    etag = put(target, "r", b"one")
    with pytest.raises(PreconditionFailed):
        put(target, "r", b"two", PutMode.replacing('"0123456789abcdef0123456789abcdef"'))
    newer = put(target, "r", b"two", PutMode.replacing(etag))
    blob = target.objects.get(target.bucket, target.key("r"))
    assert blob is not None and blob.data == b"two" and blob.etag == newer != etag


def test_a_conditional_delete_spares_another_version(target: Target) -> None:
    etag = put(target, "d", b"one")
    with pytest.raises(PreconditionFailed):
        target.objects.delete(target.bucket, target.key("d"), if_match='"not-it"')
    assert target.objects.get(target.bucket, target.key("d")) is not None
    target.objects.delete(target.bucket, target.key("d"), if_match=etag)
    assert target.objects.get(target.bucket, target.key("d")) is None
    target.objects.delete(target.bucket, target.key("d"))  # deleting nothing is fine


def test_listing_by_prefix(target: Target) -> None:
    put(target, "l/1", b"a")
    put(target, "l/2", b"bb")
    put(target, "other", b"c")
    listed = target.objects.list(target.bucket, target.key("l/"))
    assert [(i.key, i.size) for i in listed] == [(target.key("l/1"), 1), (target.key("l/2"), 2)]


def test_a_whole_object_put_verifies_its_checksum(target: Target) -> None:
    """A store that verifies CRC64NVME refuses a wrong value and reports the right one; one
    that only accepts it (moto) takes either (which is why s3stream sends it none)."""
    key = target.key("p")
    info = target.store.put_object(
        target.bucket,
        key,
        memoryview(b"payload"),
        checksum=CRC,
        checksum_value=crc(b"payload"),
        options=ObjectOptions(content_type="text/plain", metadata={"k": "v"}),
    )
    assert info.checksum == crc(b"payload")
    head = target.store.head_object(target.bucket, key)
    assert head is not None and head.metadata == {"k": "v"}

    def put_wrong() -> None:
        target.store.put_object(
            target.bucket,
            key,
            memoryview(b"payload"),
            checksum=CRC,
            checksum_value=crc(b"other"),
            options=ObjectOptions(),
        )

    if target.caps.support(CRC) is Support.VERIFIED:
        assert head.checksum == crc(b"payload")
        with pytest.raises(StoreError) as bad:
            put_wrong()
        assert not isinstance(bad.value, NotFound | PreconditionFailed | AlreadyExists)
    else:
        assert target.caps.support(CRC) is Support.ACCEPTED and head.checksum is None
        put_wrong()
    with pytest.raises(AlreadyExists):
        target.store.put_object(
            target.bucket,
            key,
            memoryview(b"x"),
            checksum=CRC,
            checksum_value=None,
            options=ObjectOptions(),
            mode=CREATE,
        )


# ------------------------------------------------------------------ multipart


def two_parts(target: Target, key: str) -> tuple[str, bytes, list[PartRecord]]:
    data = os.urandom(5 * MiB + 1234)
    upload_id = target.store.create_multipart_upload(
        target.bucket, key, checksum=CRC, options=ObjectOptions()
    )
    parts = []
    for number, chunk in ((1, data[: 5 * MiB]), (2, data[5 * MiB :])):
        record = target.store.upload_part(
            target.bucket,
            key,
            upload_id,
            number,
            memoryview(chunk),
            checksum=CRC,
            checksum_value=crc(chunk),
        )
        assert record.number == number and record.size == len(chunk)
        assert record.checksum == crc(chunk)
        parts.append(record)
    return upload_id, data, parts


def whole_crc(data: bytes, cut: int) -> str:
    pieces = [digest(CRC, data[:cut]), digest(CRC, data[cut:])]
    return combine(CRC, [p for p in pieces if p is not None])


def test_a_multipart_upload_completes_with_its_full_object_checksum(target: Target) -> None:
    """The whole object's CRC, combined from the parts', is what the store verifies and
    reports (a store without full-object checksums takes the completion and reports none)."""
    key = target.key("m")
    upload_id, data, parts = two_parts(target, key)
    listed = target.store.list_parts(target.bucket, key, upload_id)
    assert [(p.number, p.size, p.etag) for p in listed] == [
        (p.number, p.size, p.etag) for p in parts
    ]
    assert upload_id in {
        u.upload_id for u in target.store.list_multipart_uploads(target.bucket, target.prefix)
    }
    expected = whole_crc(data, 5 * MiB)
    assert expected == crc(data)
    info = target.store.complete_multipart_upload(
        target.bucket, key, upload_id, parts, checksum=CRC, checksum_value=expected
    )
    full = target.caps.whole(CRC) == "full_object"
    assert info.checksum == (expected if full else None)
    blob = target.objects.get(target.bucket, key)
    assert blob is not None and blob.data == data
    with pytest.raises(NoSuchUpload):
        target.store.list_parts(target.bucket, key, upload_id)


def test_a_completion_in_create_mode_never_overwrites(target: Target) -> None:
    key = target.key("n")
    put(target, "n", b"there first")
    upload_id, _, parts = two_parts(target, key)
    with pytest.raises(AlreadyExists):
        target.store.complete_multipart_upload(
            target.bucket, key, upload_id, parts, checksum=CRC, checksum_value=None, mode=CREATE
        )
    blob = target.objects.get(target.bucket, key)
    assert blob is not None and blob.data == b"there first"
    target.store.abort_multipart_upload(target.bucket, key, upload_id)


def test_an_aborted_upload_is_gone(target: Target, request: pytest.FixtureRequest) -> None:
    known_gap(request, target, "aborted")
    key = target.key("x")
    upload_id, _, _parts = two_parts(target, key)
    target.store.abort_multipart_upload(target.bucket, key, upload_id)
    with pytest.raises(NoSuchUpload):
        target.store.list_parts(target.bucket, key, upload_id)
    with pytest.raises(NoSuchUpload):
        target.store.upload_part(
            target.bucket,
            key,
            upload_id,
            3,
            memoryview(b"late"),
            checksum=CRC,
            checksum_value=crc(b"late"),
        )
    # a second abort: AWS answers NoSuchUpload, SeaweedFS succeeds; either way it stays gone
    with contextlib.suppress(NoSuchUpload):
        target.store.abort_multipart_upload(target.bucket, key, upload_id)
    assert target.objects.get(target.bucket, key) is None
    assert upload_id not in {
        u.upload_id for u in target.store.list_multipart_uploads(target.bucket, target.prefix)
    }


class Source:
    """A part source over bytes, handing them out in small pieces."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def wait_view(self, start: int, limit: int) -> memoryview:
        return memoryview(self.data)[start : start + min(limit, 300_000)]


def test_a_streamed_part_carries_its_checksum_as_a_trailer(target: Target) -> None:
    key = target.key("s")
    data = os.urandom(5 * MiB + 77)
    upload_id = target.store.create_multipart_upload(
        target.bucket, key, checksum=CRC, options=ObjectOptions()
    )
    record = target.store.upload_part_stream(
        target.bucket, key, upload_id, 1, Source(data), checksum=CRC
    )
    assert record.size == len(data) and record.checksum == crc(data)
    target.store.complete_multipart_upload(
        target.bucket, key, upload_id, [record], checksum=CRC, checksum_value=crc(data)
    )
    blob = target.objects.get(target.bucket, key)
    assert blob is not None and blob.data == data


def test_parts_copied_server_side(target: Target) -> None:
    first, second = os.urandom(5 * MiB), os.urandom(1000)
    put(target, "src1", first)
    put(target, "src2", second)
    key = target.key("copy")
    upload_id = target.store.create_multipart_upload(
        target.bucket, key, checksum=ChecksumAlgorithm.NONE, options=ObjectOptions()
    )
    parts = [
        target.objects.copy_part(target.bucket, key, upload_id, 1, target.key("src1")),
        target.objects.copy_part(
            target.bucket, key, upload_id, 2, target.key("src2"), (0, len(second) - 1)
        ),
    ]
    target.store.complete_multipart_upload(
        target.bucket, key, upload_id, parts, checksum=ChecksumAlgorithm.NONE, checksum_value=None
    )
    blob = target.objects.get(target.bucket, key)
    assert blob is not None and blob.data == first + second


def test_presigned_urls_are_made(target: Target) -> None:
    put(target, "g", b"signed")
    url = target.objects.presign_request(
        "get_object", {"Bucket": target.bucket, "Key": target.key("g")}, 60
    )
    plain = target.store.presign("GET", target.bucket, target.key("g"), 60)
    assert target.key("g") in url and target.key("g") in plain
    if target.real:
        assert httpx.get(url).content == b"signed"
        assert httpx.get(plain).content == b"signed"


def test_bucket_cors_rules_round_trip(target: Target) -> None:
    cors = target.objects
    assert isinstance(cors, BucketCors)
    before = cors.get_cors(target.bucket)
    try:
        cors.put_cors(target.bucket, with_upload_origins(before, ["https://a.example"]))
        got = cors.get_cors(target.bucket)
        assert allows_uploads(got, "https://a.example")
        assert not allows_uploads(got, "https://b.example")
        ours = [rule for rule in got if rule.id == RULE_ID]
        assert len(ours) == 1 and ours[0].expose_headers == ("ETag",)
        assert set(ours[0].methods) == {"GET", "PUT", "POST", "HEAD"}
        cors.put_cors(target.bucket, [])
        assert cors.get_cors(target.bucket) == ()
    finally:
        cors.put_cors(target.bucket, before)


def form_policy(target: Target, name: str) -> PresignedPost:
    key = target.key(name)
    post = target.objects.presign_post(
        target.bucket, key, fields={"success_action_status": "201"}, max_size=10, expires_in=60
    )
    assert post.fields["key"] == key
    return post


def test_form_upload_policies_upload(target: Target) -> None:
    post = form_policy(target, "form")
    if target.real:
        small = httpx.post(post.url, data=dict(post.fields), files={"file": ("f", b"tiny")})
        assert small.status_code == 201, small.text
        blob = target.objects.get(target.bucket, target.key("form"))
        assert blob is not None and blob.data == b"tiny"


def test_form_upload_policies_cap_the_size(request: pytest.FixtureRequest, target: Target) -> None:
    known_gap(request, target, "form-size")
    post = form_policy(target, "form-big")
    if target.real:
        big = httpx.post(post.url, data=dict(post.fields), files={"file": ("f", b"x" * 11)})
        assert big.status_code == 400
        assert target.objects.get(target.bucket, target.key("form-big")) is None


# ------------------------------------------------------------------ capabilities


def test_the_probe_finds_what_the_store_is_documented_to_do(target: Target) -> None:
    """The probe measures each store as its profile (SeaweedFS), its own description (the
    in-memory store) or docs/stores.md (moto) says: the sources of those facts stay true."""
    documented = {
        "memory": MemoryStore.capabilities.to_json(),
        "seaweedfs": SEAWEEDFS.to_json(),
        "moto": MOTO_CAPABILITIES,
    }[target.name]
    measured = (
        target.caps
        if target.real
        else Probe(target.store, target.objects, target.bucket, target.prefix).run().capabilities
    ).to_json()
    assert {f: measured[f] for f in FACTS} == {f: documented[f] for f in FACTS}


def test_a_composite_checksum_is_the_checksum_of_the_part_checksums(target: Target) -> None:
    """SHA-256 does not combine: where the store keeps multipart SHA-256 checksums, the
    object's is the composite of the parts' (what s3stream compares with)."""
    if target.caps.whole(ChecksumAlgorithm.SHA256) != "composite":
        pytest.skip(f"{target.name} keeps no multipart SHA-256 checksum")
    sha = ChecksumAlgorithm.SHA256
    key = target.key("composite")
    data = os.urandom(5 * MiB + 10)
    upload_id = target.store.create_multipart_upload(
        target.bucket, key, checksum=sha, options=ObjectOptions(), full_object=False
    )
    parts = []
    digests = []
    for number, chunk in ((1, data[: 5 * MiB]), (2, data[5 * MiB :])):
        found = digest(sha, chunk)
        assert found is not None
        digests.append(found)
        parts.append(
            target.store.upload_part(
                target.bucket,
                key,
                upload_id,
                number,
                memoryview(chunk),
                checksum=sha,
                checksum_value=encode(sha, found),
            )
        )
    info = target.store.complete_multipart_upload(
        target.bucket, key, upload_id, parts, checksum=sha, checksum_value=None
    )
    assert info.checksum == composite(sha, digests) and info.checksum.endswith("-2")
