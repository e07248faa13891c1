"""Fuzzing the gateway's request parsing with hypothesis, in-process.

Each example is a sequence of requests sent straight to the ASGI app (no HTTP client in
between, so the handler sees exactly the bytes drawn: header values with any byte h11 lets
through, odd methods, percent-escapes, chunked and sized bodies). Requests start from an
intent (create, PATCH at the right offset, HEAD, DELETE, concatenate, or plain junk) and
every header is then kept valid, replaced by fuzz, or left out, so sequences reach deep
states and still hit every parser. After every request:

- no 5xx (a deliberate 503 from the store aside), and the app never raises;
- every answer under the tus path carries ``Tus-Resumable: 1.0.0``;
- only a 201 creates an upload (exactly one, owned by the caller, at its ``Location``), only
  a 204 DELETE removes one (the target, the caller's), only a 204 PATCH changes one (the
  target, by exactly its body); everything else, unauthenticated requests above all, leaves
  every upload as it was;
- offsets never exceed lengths, a finished upload's object holds exactly the accepted bytes.

The memory store runs most examples (fast); the S3 upload store on SeaweedFS runs a few.
The profile is fixed (derandomized, no deadline, no example database), so CI is
deterministic; the whole module takes about 30 s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

import pytest
from awscrt import checksums as crt
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import (
    GatewayOptions,
    MemoryUploadStore,
    S3UploadStore,
    TusSettings,
    Upload,
    build_app,
)
from s3stream.gateway.auth import owner_id
from s3stream.limits import MiB
from s3stream.store.boto import BotoObjects, BotoStore, make_client
from tests.support.gateway import Clock, leases

TOKEN_A = "fuzz-token-aaaaaaaaaaaaaaaa"
TOKEN_B = "fuzz-token-bbbbbbbbbbbbbbbb"
OWNERS = {TOKEN_A: owner_id(TOKEN_A), TOKEN_B: owner_id(TOKEN_B)}
OCTET = b"application/offset+octet-stream"
BASE = "/files/"
MAX_SIZE = 64
SETTINGS = TusSettings(max_size=MAX_SIZE, max_metadata_bytes=256, expiration=3600.0)
ID_RE = re.compile(r"[A-Za-z0-9_-]{32}")

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # explain: slow traces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ------------------------------------------------------------------ a minimal ASGI client


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def asgi_call(
    app: Any,
    method: str,
    raw_path: str,
    headers: Sequence[tuple[bytes, bytes]],
    chunks: Sequence[bytes],
) -> Answer:
    """One request as uvicorn would pass it: ``path`` percent-decoded from ``raw_path``,
    header names lowercased, the body in ``chunks``; then a disconnect."""
    pending = list(chunks) or [b""]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower(), v) for k, v in headers)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    started: dict[str, Any] = {}
    body = bytearray()
    complete = False

    async def send(message: dict[str, Any]) -> None:
        nonlocal complete
        assert not complete, f"message after the response completed: {message['type']}"
        if message["type"] == "http.response.start":
            assert not started, "two response starts"
            started.update(message)
            return
        assert message["type"] == "http.response.body" and started, message["type"]
        body.extend(message.get("body", b""))
        complete = not message.get("more_body", False)

    await app(scope, receive, send)
    assert started and complete, "the app returned without a complete response"
    answer_headers: dict[str, str] = {}
    for name, value in started.get("headers", []):
        assert b"\r" not in value and b"\n" not in value, (name, value)
        answer_headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    return Answer(int(started["status"]), answer_headers, bytes(body))


# ------------------------------------------------------------------ what the tests track


@dataclass
class Known:
    """An upload the fuzzer created (a 201 with its Location)."""

    id: str
    owner: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Sent:
    """One request as drawn, with what the checks need to know about it."""

    method: str
    raw_path: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunked: bool
    owner: str | None
    """The caller's owner id; ``None`` for a missing or invalid token."""
    target: str | None


def _state(upload: Upload) -> tuple[Any, ...]:
    return (
        upload.size,
        upload.offset,
        upload.finished,
        dict(upload.metadata),
        upload.owner,
        upload.key,
        upload.partial,
        upload.final,
        upload.partials,
    )


class World:
    """One app over one store, with the uploads the fuzzer knows of."""

    def __init__(self, store: Any, clock: Clock, settings: TusSettings, sweeps: bool) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.sweeps = sweeps
        options = GatewayOptions(tokens=(TOKEN_A, TOKEN_B), sweep_interval=None, clock=clock)
        self.app = build_app(store, settings, options)
        self.known: dict[str, Known] = {}

    async def snapshot(self) -> dict[str, Upload]:
        raise NotImplementedError

    async def stored_bytes(self, upload: Upload) -> bytes | None:
        """The finished object's bytes (``None`` when it does not exist)."""
        raise NotImplementedError

    async def data_of(self, upload_id: str) -> bytes | None:
        """The bytes the store holds for an unfinished upload, where it can tell."""
        return None


class MemoryWorld(World):
    store: MemoryUploadStore

    async def snapshot(self) -> dict[str, Upload]:
        return {uid: entry.upload for uid, entry in self.store.uploads.items()}

    async def stored_bytes(self, upload: Upload) -> bytes | None:
        return self.store.objects.get(upload.key)

    async def data_of(self, upload_id: str) -> bytes | None:
        entry = self.store.uploads.get(upload_id)
        return None if entry is None else bytes(entry.data)


class S3World(World):
    store: S3UploadStore

    async def snapshot(self) -> dict[str, Upload]:
        store = self.store
        listed = await asyncio.to_thread(store.objects.list, store.bucket, store.state_prefix)
        found = {}
        for item in listed:
            if item.key.endswith(".info"):
                uid = item.key[len(store.state_prefix) : -len(".info")]
                found[uid] = await store.get(uid)
        return found

    async def stored_bytes(self, upload: Upload) -> bytes | None:
        blob = await asyncio.to_thread(self.store.objects.get, self.store.bucket, upload.key)
        return None if blob is None else blob.data


# ------------------------------------------------------------------ strategies

HEADER_CHARS = "\t" + "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0x80, 0x100)))
_raw_text = st.text(alphabet=st.sampled_from(HEADER_CHARS), max_size=24)
_near_numbers = st.sampled_from(
    ["", " ", "-1", "+1", "1.0", "0x10", "1e3", " 7 ", "²", "³", "¹", "½", "0" * 30, "00", "9" * 25]
)


def _latin1(text: str) -> bytes:
    # h11 strips optional whitespace around field values
    return text.strip(" \t").encode("latin-1")


def numbers(valid: int | None) -> st.SearchStrategy[bytes]:
    options: list[st.SearchStrategy[str]] = [
        st.integers(0, MAX_SIZE + 8).map(str),
        st.integers(-3, -1).map(str),
        st.just(str(2**64)),
        _near_numbers,
        _raw_text,
    ]
    if valid is not None:
        options = [st.just(str(valid))] * 4 + options
    return st.one_of(*options).map(_latin1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


NAMES = st.sampled_from(
    [
        "report.pdf",
        "../../etc/passwd",
        "/abs/path.txt",
        "a\x00b\x1f.bin",
        "dir\\win.exe",
        "é🎉 unicode.txt",
        "x" * 300 + ".txt",
        ".",
        "..",
        " ",
        "",
        "\u202egnp.exe",
    ]
)


@st.composite
def metadata_header(draw: st.DrawFn) -> bytes:
    """``Upload-Metadata``: well-formed pairs (with hostile file names) or garbage."""
    kind = draw(st.sampled_from(["pairs", "pairs", "pairs", "garbage", "broken"]))
    if kind == "garbage":
        return _latin1(draw(_raw_text))
    pairs = []
    keys = draw(
        st.lists(st.sampled_from(["filename", "filetype", "k", "empty", "x-y"]), max_size=3)
    )
    for key in keys:
        if key == "filename":
            pairs.append(f"filename {b64(draw(NAMES).encode())}")
        elif key == "filetype":
            ctype = draw(st.sampled_from(["text/plain", "image/png", "bad type\x7f", ""]))
            pairs.append(f"filetype {b64(ctype.encode())}")
        elif key == "empty":
            pairs.append("empty")
        else:
            pairs.append(f"{key} {b64(draw(st.binary(max_size=40)))}")
    text = ",".join(pairs)
    if kind == "broken":
        text = draw(
            st.sampled_from(
                [
                    text + ",",
                    text + ",k a b",
                    text + ",k !!!",
                    "k " + "QUJD" * 200,
                    text + "," + text,
                    text.replace(" ", "  "),
                    "filename " + b64(b"\xff\xfe"),
                ]
            )
        )
    return text.encode("latin-1")


def checksum_header(body: bytes) -> st.SearchStrategy[bytes]:
    def digest(algorithm: str) -> bytes:
        if algorithm == "crc32c":
            return crt.crc32c(body).to_bytes(4, "big")  # type: ignore[no-any-return]
        if algorithm == "crc32":
            return zlib.crc32(body).to_bytes(4, "big")
        return hashlib.new(algorithm, body).digest()

    algorithms = st.sampled_from(["sha1", "md5", "crc32c", "crc32", "sha256"])
    right = algorithms.map(lambda a: f"{a} {b64(digest(a))}".encode())
    wrong = algorithms.map(lambda a: f"{a} {b64(digest(a)[::-1] + b'x')}".encode())
    odd = st.sampled_from([b"sha1", b"sha1 ", b"SHA1 AAAA", b"md4 AAAA", b"sha1 !!!", b"crc32 ="])
    return st.one_of(right, right, wrong, odd, _raw_text.map(_latin1))


VALID_AUTH = [("a", TOKEN_A), ("a", TOKEN_A), ("b", TOKEN_B), ("a-lower", TOKEN_A)]
INVALID_AUTH = [("none", None), ("wrong", None), ("basic", None), ("prefix", None), ("junk", None)]


@st.composite
def authorization(draw: st.DrawFn) -> tuple[bytes | None, str | None]:
    """The header and the caller's owner id (``None``: not a valid token), 1 in 6 invalid."""
    valid = draw(st.sampled_from([True] * 5 + [False]))
    kind, token = draw(st.sampled_from(VALID_AUTH if valid else INVALID_AUTH))
    if kind in ("a", "b"):
        assert token is not None
        return f"Bearer {token}".encode(), OWNERS[token]
    if kind == "a-lower":
        return f"bearer   {TOKEN_A} ".encode(), OWNERS[TOKEN_A]
    if kind == "none":
        return None, None
    if kind == "wrong":
        return b"Bearer fuzz-token-cccccccccccccccc", None
    if kind == "basic":
        return f"Basic {TOKEN_A}".encode(), None
    if kind == "prefix":
        return f"Bearer {TOKEN_A[:-1]}".encode(), None
    return _latin1(draw(_raw_text)), None


METHODS = ["POST", "PATCH", "HEAD", "DELETE", "OPTIONS", "GET", "PUT", "TRACE", "FOO"]
HEADER_NAMES = [
    b"upload-offset",
    b"upload-length",
    b"upload-defer-length",
    b"upload-metadata",
    b"upload-checksum",
    b"upload-concat",
    b"tus-resumable",
    b"content-type",
    b"x-http-method-override",
    b"authorization",
]
PATH_JUNK = st.sampled_from(
    ["", "x", "/", "%2F", "%00", "..%2F..%2Fetc", "a" * 80, "%E2%80%AE", "%ff", "A" * 32]
)


class Step:
    """Draws one request from the world's state."""

    def __init__(self, draw: Callable[..., Any], world: World) -> None:
        self.draw = draw
        self.world = world
        self.uploads: dict[str, Upload] = {}
        self.fuzzed = False

    def choice(self, *weighted: tuple[int, str]) -> str:
        pool = [name for weight, name in weighted for _ in range(weight)]
        picked: str = self.draw(st.sampled_from(pool))
        return picked

    def target(self, owner: str | None) -> tuple[str, str | None]:
        """An upload URL: mostly one of the caller's, sometimes another owner's or a guess."""
        mine = [u for u, k in self.world.known.items() if k.owner == owner]
        theirs = [u for u, k in self.world.known.items() if k.owner != owner]
        how = self.choice(
            (8 if mine else 0, "mine"), (1 if theirs else 0, "theirs"), (1, "guess"), (1, "junk")
        )
        if how in ("mine", "theirs"):
            uid: str = self.draw(st.sampled_from(mine if how == "mine" else theirs))
            return BASE + uid, uid
        if how == "guess":
            guess: str = self.draw(st.from_regex(ID_RE, fullmatch=True))
            return BASE + guess, None
        return BASE + self.draw(PATH_JUNK), None

    def collection(self) -> str:
        return self.choice((10, BASE), (2, BASE[:-1]), (1, BASE + "x/"), (1, "/other"))

    def header(self, valid: bytes | None, fuzz: st.SearchStrategy[bytes]) -> bytes | None:
        """``valid`` (``None``: the header belongs absent); in a fuzzed request, often fuzz
        or absent instead."""
        if not self.fuzzed:
            return valid
        how = self.choice((3, "valid"), (2, "fuzz"), (1, "absent"))
        if how == "valid":
            return valid
        if how == "fuzz":
            value: bytes = self.draw(fuzz)
            return value
        return None

    def body(self, room: int | None) -> bytes:
        size = self.draw(
            st.one_of(
                st.just(room if room is not None else 5),
                st.integers(0, (room or 0) + 8),
            )
        )
        return bytes(self.draw(st.binary(min_size=size, max_size=size)))

    def request(self) -> Sent | None:
        intent = self.choice(
            (4, "create"),
            (2, "create_body"),
            (6, "patch"),
            (2, "head"),
            (1, "delete"),
            (1, "options"),
            (1, "concat"),
            (2, "junk"),
            (1, "tick"),
        )
        if intent == "tick":
            return None
        self.fuzzed = self.choice((1, "clean"), (1, "fuzzed")) == "fuzzed"
        auth, owner = self.draw(authorization())
        headers: dict[bytes, bytes | None] = {}
        body = b""
        target: str | None = None
        if intent in ("create", "create_body"):
            method, path = "POST", self.collection()
            defer = self.draw(st.booleans()) and self.draw(st.booleans())
            length = None if defer else self.draw(st.integers(0, MAX_SIZE))
            headers[b"upload-length"] = self.header(
                None if length is None else str(length).encode(), numbers(length)
            )
            headers[b"upload-defer-length"] = self.header(
                b"1" if defer else None, numbers(1 if defer else None)
            )
            headers[b"upload-metadata"] = self.header(b"", metadata_header())
            headers[b"upload-concat"] = self.header(
                b"partial" if self.draw(st.booleans()) else None,
                st.sampled_from([b"partial", b"Partial", b"partial;x", b"final"]),
            )
            if intent == "create_body":
                body = self.body(length)
                headers[b"content-type"] = self.header(OCTET, st.just(b"text/plain"))
                headers[b"upload-checksum"] = self.header(None, checksum_header(body))
        elif intent == "patch":
            method = "PATCH"
            path, target = self.target(owner)
            current = self.world.known.get(target or "")
            offset = len(current.data) if current is not None else 0
            upload = self.upload_of(target)
            room = None if upload is None or upload.size is None else upload.size - offset
            body = self.body(room)
            headers[b"upload-offset"] = self.header(str(offset).encode(), numbers(offset))
            headers[b"content-type"] = self.header(
                OCTET,
                st.sampled_from(
                    [
                        b"application/octet-stream",
                        b"APPLICATION/OFFSET+OCTET-STREAM; charset=x",
                        b"text/plain",
                        b"",
                    ]
                ),
            )
            declare = offset + len(body)
            headers[b"upload-length"] = (
                self.header(str(declare).encode(), numbers(declare))
                if upload is not None and upload.size is None
                else self.header(None, numbers(None))
            )
            headers[b"upload-checksum"] = self.header(None, checksum_header(body))
        elif intent in ("head", "delete"):
            method = intent.upper()
            path, target = self.target(owner)
        elif intent == "options":
            method, path = "OPTIONS", self.draw(st.sampled_from([BASE, BASE + "x", BASE[:-1]]))
        elif intent == "concat":
            method, path = "POST", self.collection()
            known = list(self.world.known)
            parts = self.draw(st.lists(st.sampled_from(known), max_size=3)) if known else []
            urls = " ".join(
                self.draw(st.sampled_from([f"http://testserver{BASE}{p}", f"{BASE}{p}", p]))
                for p in parts
            )
            headers[b"upload-concat"] = self.header(
                f"final;{urls}".encode(),
                st.sampled_from([b"final;", b"final", b"final; /nope/x", b"final;" + b"x" * 60]),
            )
            headers[b"upload-metadata"] = self.header(b"", metadata_header())
        else:
            method = self.draw(st.sampled_from(METHODS))
            path = self.draw(st.one_of(st.just(BASE), st.just(BASE[:-1]), PATH_JUNK))
            if path and not path.startswith("/"):
                path = self.draw(st.sampled_from([BASE, "/"])) + path
            for name in HEADER_NAMES:
                headers[name] = self.header(None, _raw_text.map(_latin1))
            body = self.draw(st.binary(max_size=16))
        headers[b"tus-resumable"] = self.header(
            b"1.0.0", st.sampled_from([b"1.0", b"0.2.2", b"1.0.0 ", b"", b"1.0.0,1.0.0"])
        )
        if auth is not None:
            headers[b"authorization"] = auth
        override = self.choice((12, "none"), (3, "method"), (1, "junk"))
        if override == "method":  # the intent's method in the header, any method on the wire
            headers[b"x-http-method-override"] = self.draw(
                st.sampled_from([method, method.lower()])
            ).encode()
            method = self.draw(st.sampled_from(METHODS))
        elif override == "junk":
            headers[b"x-http-method-override"] = _latin1(self.draw(_raw_text))
        extra = self.draw(
            st.lists(st.tuples(st.sampled_from(HEADER_NAMES), _raw_text.map(_latin1)), max_size=1)
        )
        chunked = bool(body) and self.draw(st.booleans())
        sent = [(k, v) for k, v in headers.items() if v is not None] + extra
        if chunked:
            sent.append((b"transfer-encoding", b"chunked"))
        else:
            sent.append((b"content-length", str(len(body)).encode()))
        return Sent(method, path, sent, body, chunked, owner, target)

    def upload_of(self, target: str | None) -> Upload | None:
        return None if target is None else self.uploads.get(target)


# ------------------------------------------------------------------ the checks


def tus_path(path: str) -> bool:
    return path == BASE[:-1] or path.startswith(BASE)


def effective_method(sent: Sent) -> str:
    """The method the tus handler acts on (the first ``X-HTTP-Method-Override`` wins)."""
    for name, value in sent.headers:
        if name == b"x-http-method-override":
            return value.decode("latin-1").strip().upper() if value else sent.method
    return sent.method


async def run_step(world: World, sent: Sent, before: dict[str, Upload]) -> dict[str, Upload]:
    chunks = [sent.body]
    if sent.chunked and len(sent.body) > 1:
        cut = len(sent.body) // 2
        chunks = [sent.body[:cut], sent.body[cut:]]
    answer = await asgi_call(world.app, sent.method, sent.raw_path, sent.headers, chunks)
    after = await world.snapshot()
    method = effective_method(sent)
    event(
        f"{method if method in METHODS else 'other'} {answer.status}"
    )  # --hypothesis-show-statistics
    where = f"{sent.method} {sent.raw_path} {sent.headers!r} body={len(sent.body)}"

    assert answer.status < 500 or answer.status == 503, (where, answer)
    if tus_path(unquote(sent.raw_path)):
        assert answer.headers.get("tus-resumable") == "1.0.0", (where, answer)

    created = set(after) - set(before)
    removed = set(before) - set(after)
    changed = {u for u in set(before) & set(after) if _state(before[u]) != _state(after[u])}

    if sent.owner is None and sent.method != "OPTIONS":
        assert answer.status == 401, (where, answer)
    if sent.owner is None:
        assert not (created or removed or changed), (where, answer, created, removed, changed)

    if answer.status == 201:
        assert len(created) == 1, (where, answer, created)
    if created:
        assert len(created) == 1 and answer.status == 201, (where, answer, created)
        (uid,) = created
        location = answer.headers["location"]
        assert location == f"http://testserver{BASE}{uid}" and ID_RE.fullmatch(uid), location
        upload = after[uid]
        assert upload.owner == sent.owner, (where, upload)
        known = Known(uid, upload.owner)
        if "upload-offset" in answer.headers:
            assert int(answer.headers["upload-offset"]) == upload.offset
            known.data += sent.body[: upload.offset]
            assert upload.offset in (0, len(sent.body)), (where, upload)
        else:
            assert upload.offset == 0 or upload.final, (where, upload)
        if upload.final:
            for part in upload.partials:
                assert before[part].owner == sent.owner and before[part].finished
                known.data += world.known[part].data
        world.known[uid] = known

    target = sent.target or ""
    if removed:
        assert answer.status == 204 and removed == {target}, (where, answer, removed)
        gone = before[target]
        assert gone.owner == sent.owner
        if gone.finished and not gone.partial:  # termination removes the object too
            assert await world.stored_bytes(gone) is None, (where, gone)
        del world.known[target]

    if changed:
        assert answer.status == 204 and changed == {target}, (where, answer, changed)
        old, new = before[target], after[target]
        assert old.owner == sent.owner, (where, old)
        assert new.offset - old.offset in (0, len(sent.body)), (where, old, new)
        assert int(answer.headers["upload-offset"]) == new.offset, (where, answer, new)
        world.known[target].data += sent.body[: new.offset - old.offset]
    elif answer.status == 204 and target in after and "upload-offset" in answer.headers:
        assert int(answer.headers["upload-offset"]) == after[target].offset

    if answer.status == 200 and target in after:  # HEAD
        upload = after[target]
        assert upload.owner == sent.owner
        assert answer.headers["upload-offset"] == str(upload.offset)
        if upload.size is not None:
            assert answer.headers["upload-length"] == str(upload.size)

    await check_invariants(world, after)
    return after


async def check_invariants(world: World, uploads: dict[str, Upload]) -> None:
    assert set(uploads) == set(world.known), (set(uploads), set(world.known))
    for uid, upload in uploads.items():
        known = world.known[uid]
        assert upload.owner == known.owner
        assert upload.size is None or 0 <= upload.offset <= upload.size, upload
        assert upload.offset == len(known.data), (upload, len(known.data))
        assert upload.finished == (upload.size is not None and upload.offset == upload.size)
        held = await world.data_of(uid)
        if held is not None:
            assert held == known.data, uid
        if upload.finished and not upload.partial and isinstance(world, MemoryWorld):
            assert await world.stored_bytes(upload) == bytes(known.data), uid
    if isinstance(world, MemoryWorld):  # no object without a finished upload
        finished = {u.key for u in uploads.values() if u.finished and not u.partial}
        assert set(world.store.objects) == finished, (set(world.store.objects), finished)


async def tick(world: World, seconds: float, sweep: bool, before: dict[str, Upload]) -> None:
    world.clock.now += seconds
    if not (sweep and world.sweeps):
        return
    expired = {u for u, upload in before.items() if upload.expired(world.clock.now)}
    await world.store.sweep(world.clock.now)
    after = await world.snapshot()
    assert set(before) - set(after) == expired
    for uid in expired:
        del world.known[uid]


async def play(world: World, draw: Callable[..., Any], steps: int, seeded: bool) -> None:
    if seeded:
        await seed(world)
    uploads = await world.snapshot()
    step = Step(draw, world)
    for _ in range(steps):
        step.uploads = uploads
        sent = step.request()
        if sent is None:
            seconds = draw(st.sampled_from([60.0, 1800.0, 3601.0, 7200.0]))
            await tick(world, seconds, draw(st.booleans()), uploads)
            uploads = await world.snapshot()
            continue
        uploads = await run_step(world, sent, uploads)
    for uid, upload in uploads.items():  # every finished object holds the accepted bytes
        if upload.finished and not upload.partial:
            assert await world.stored_bytes(upload) == bytes(world.known[uid].data), uid


def run(coro: Awaitable[None]) -> None:
    async def main() -> None:
        await coro

    asyncio.run(main())


# ------------------------------------------------------------------ the tests


@settings(FUZZ, max_examples=600)
@given(data=st.data(), steps=st.integers(1, 14), seeded=st.booleans())
def test_fuzzed_request_sequences_memory_store(
    data: st.DataObject, steps: int, seeded: bool
) -> None:
    clock = Clock()
    store = MemoryUploadStore(lock_wait=0.2, clock=clock)
    world = MemoryWorld(store, clock, SETTINGS, sweeps=True)
    run(play(world, data.draw, steps, seeded))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzzed_single_requests_memory_store(data: st.DataObject) -> None:
    """One junk-heavy request against a store that already holds uploads in every state."""
    clock = Clock()
    store = MemoryUploadStore(lock_wait=0.2, clock=clock)
    world = MemoryWorld(store, clock, SETTINGS, sweeps=False)

    run(play(world, data.draw, 1, seeded=True))


async def seed(world: World) -> None:
    """Uploads of both owners: empty, half-written, deferred, finished, partial."""
    sizes: list[tuple[str, str | None, bytes]] = [
        (TOKEN_A, "10", b""),
        (TOKEN_A, "10", b"hello"),
        (TOKEN_A, None, b"abc"),
        (TOKEN_A, "4", b"done"),
        (TOKEN_B, "8", b"bb"),
    ]
    before = await world.snapshot()
    for token, length, body in sizes:
        headers = [(b"tus-resumable", b"1.0.0"), (b"authorization", f"Bearer {token}".encode())]
        headers.append(
            (b"upload-length", length.encode()) if length else (b"upload-defer-length", b"1")
        )
        if body:
            headers += [(b"content-type", OCTET), (b"content-length", str(len(body)).encode())]
        sent = Sent("POST", BASE, headers, body, False, OWNERS[token], None)
        before = await run_step(world, sent, before)
    partial = [
        (b"tus-resumable", b"1.0.0"),
        (b"authorization", f"Bearer {TOKEN_A}".encode()),
        (b"upload-length", b"3"),
        (b"upload-concat", b"partial"),
        (b"content-type", OCTET),
        (b"content-length", b"3"),
    ]
    await run_step(world, Sent("POST", BASE, partial, b"xyz", False, OWNERS[TOKEN_A], None), before)


_s3_counter = itertools.count()


@pytest.fixture(scope="module")
def boto_store(s3server: EmbeddedS3) -> BotoStore:
    client = make_client(
        endpoint_url=s3server.endpoint_url,
        region=s3server.region,
        access_key=s3server.access_key,
        secret_key=s3server.secret_key,
    )
    return BotoStore(client)


@settings(FUZZ, max_examples=40)
@given(data=st.data(), steps=st.integers(1, 8), seeded=st.booleans())
def test_fuzzed_request_sequences_s3_store(
    data: st.DataObject,
    steps: int,
    seeded: bool,
    boto_store: BotoStore,
    bucket: str,
    unique_key: str,
) -> None:
    clock = Clock()
    prefix = f"{unique_key}/{next(_s3_counter)}/"
    store = S3UploadStore(
        boto_store,
        BotoObjects(boto_store.client),
        bucket,
        key_prefix=prefix,
        part_size=5 * MiB,
        lock_wait=0.2,
        clock=clock,
    )
    leases(store).clock = clock
    world = S3World(store, clock, replace(SETTINGS, key_prefix=prefix), sweeps=False)
    run(play(world, data.draw, steps, seeded))


# ------------------------------------------------------------------ what the fuzzer found


def _headers(token: str | None = TOKEN_A, **values: str) -> list[tuple[bytes, bytes]]:
    found = [(b"tus-resumable", b"1.0.0")]
    if token is not None:
        found.append((b"authorization", f"Bearer {token}".encode()))
    found += [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in values.items()]
    return found


def _memory_world() -> MemoryWorld:
    clock = Clock()
    return MemoryWorld(MemoryUploadStore(clock=clock), clock, SETTINGS, sweeps=False)


@pytest.mark.parametrize("value", ["²", "¹0", "1_0", "³"])
def test_non_ascii_digits_are_400_not_500(value: str) -> None:
    """``str.isdigit`` accepts "²" and ``int`` refuses it: that was a 500."""
    world = _memory_world()

    async def main() -> None:
        answer = await asgi_call(world.app, "POST", BASE, _headers(upload_length=value), [])
        assert answer.status == 400, answer
        answer = await asgi_call(world.app, "POST", BASE, _headers(upload_length="3"), [])
        path = answer.headers["location"].removeprefix("http://testserver")
        headers = _headers(upload_offset=value, content_type=OCTET.decode(), content_length="0")
        answer = await asgi_call(world.app, "PATCH", path, headers, [])
        assert answer.status == 400, answer

    run(main())


@pytest.mark.parametrize("override", ["POST", "post", " POST "])
def test_method_override_does_not_bypass_auth(override: str) -> None:
    """OPTIONS passes auth (CORS, discovery); with ``X-HTTP-Method-Override: POST`` it used to
    create (and with PATCH, write) uploads without a token, owned by nobody."""
    world = _memory_world()

    async def main() -> None:
        headers = _headers(None, upload_length="5", x_http_method_override=override)
        answer = await asgi_call(world.app, "OPTIONS", BASE, headers, [])
        assert answer.status == 401 and not world.store.uploads
        answer = await asgi_call(world.app, "OPTIONS", BASE, _headers(None), [])
        assert answer.status == 204  # plain OPTIONS stays open
        headers = _headers(TOKEN_A, upload_length="5", x_http_method_override=override)
        answer = await asgi_call(world.app, "OPTIONS", BASE, headers, [])
        assert answer.status == 201
        (upload,) = (e.upload for e in world.store.uploads.values())
        assert upload.owner == OWNERS[TOKEN_A]  # not "" (the owner of unauthenticated calls)

    run(main())


@pytest.mark.parametrize("chunked", [False, True])
def test_refused_patch_leaves_a_deferred_length_undeclared(chunked: bool) -> None:
    """A PATCH declaring ``Upload-Length: 3`` with 5 bytes is 413 and changes nothing (the
    length was declared, and the upload finished, before the body was refused)."""
    world = _memory_world()

    async def main() -> None:
        answer = await asgi_call(world.app, "POST", BASE, _headers(upload_defer_length="1"), [])
        path = answer.headers["location"].removeprefix("http://testserver")
        framing = {"transfer_encoding": "chunked"} if chunked else {"content_length": "5"}
        headers = _headers(
            upload_offset="0",
            upload_length="3",
            content_type=OCTET.decode(),
            **framing,
        )
        answer = await asgi_call(world.app, "PATCH", path, headers, [b"abc", b"de"])
        assert answer.status == 413
        (entry,) = world.store.uploads.values()
        assert entry.upload.size is None and entry.upload.offset == 0 and not entry.data
        headers = _headers(
            upload_offset="0", upload_length="5", content_type=OCTET.decode(), **framing
        )
        answer = await asgi_call(world.app, "PATCH", path, headers, [b"abc", b"de"])
        assert answer.status == 204 and answer.headers["upload-offset"] == "5"
        upload = world.store.uploads[entry.upload.id].upload
        assert upload.finished and world.store.objects[upload.key] == b"abcde"

    run(main())


def test_failed_creation_body_leaves_no_upload() -> None:
    """A creation-with-upload whose body is refused (460, 413) answers the error and keeps
    no upload: its client never got a Location."""
    world = _memory_world()

    async def main() -> None:
        for extra in (
            {"upload_length": "5", "upload_checksum": "sha1 " + b64(b"\0" * 20)},
            {"upload_length": "0"},
        ):
            headers = _headers(content_type=OCTET.decode(), content_length="5", **extra)
            answer = await asgi_call(world.app, "POST", BASE, headers, [b"hello"])
            assert answer.status in (413, 460), answer
            assert not world.store.uploads and not world.store.objects

    run(main())


def test_terminating_a_finished_upload_removes_its_object() -> None:
    world = _memory_world()

    async def main() -> None:
        headers = _headers(upload_length="2", content_type=OCTET.decode(), content_length="2")
        answer = await asgi_call(world.app, "POST", BASE, headers, [b"hi"])
        assert answer.status == 201 and len(world.store.objects) == 1
        path = answer.headers["location"].removeprefix("http://testserver")
        assert (await asgi_call(world.app, "DELETE", path, _headers(), [])).status == 204
        assert not world.store.objects

    run(main())


class _SlowStore(MemoryUploadStore):
    """A store that takes longer over each chunk than the body timeout (back-pressure)."""

    async def write(
        self,
        upload_id: str,
        offset: int,
        body: Any,
        on_progress: Any = None,
        expires: float | None = None,
    ) -> Upload:
        class Slow:
            received = 0
            expected = body.expected
            checked = body.checked

            async def __aiter__(self) -> Any:
                async for data in body:
                    await asyncio.sleep(0.3)
                    Slow.received += len(data)
                    yield data

            def verify(self) -> None:
                body.verify()

        return await super().write(upload_id, offset, Slow(), on_progress, expires)


def test_a_slow_store_is_not_a_stalled_client() -> None:
    """Found by bench/bench_soak.py (load with few buffers): the body's idle timer counted
    the time the store spent on chunks, fired while the store was busy and cancelled the
    request anywhere inside it: a CancelledError escaped (500), half-written state behind."""
    clock = Clock()
    store = _SlowStore(clock=clock)
    settings = replace(SETTINGS, body_timeout=0.1)
    world = MemoryWorld(store, clock, settings, sweeps=False)

    async def main() -> None:
        answer = await asgi_call(world.app, "POST", BASE, _headers(upload_length="12"), [])
        path = answer.headers["location"].removeprefix("http://testserver")
        headers = _headers(upload_offset="0", content_type=OCTET.decode(), content_length="12")
        answer = await asgi_call(world.app, "PATCH", path, headers, [b"abcd", b"efgh", b"ijkl"])
        assert answer.status == 204 and answer.headers["upload-offset"] == "12", answer
        (entry,) = store.uploads.values()
        assert store.objects[entry.upload.key] == b"abcdefghijkl"

    run(main())
