"""The gateway against hostile clients: a real ``s3stream serve`` process (uvicorn, h11) on
127.0.0.1 with two bearer tokens and small limits, checked through HTTP and in the bucket.

- auth: no token, a wrong one, a near miss, another scheme, and OPTIONS with
  ``X-HTTP-Method-Override`` are all 401 and change nothing; another owner's upload is 404
  for HEAD, PATCH, DELETE and as a concatenation part;
- ids: 32 URL-safe characters of 192 random bits, guessed or mutated ids are 404;
- object keys: hostile file names (``..``, absolute paths, control characters, 1000-byte and
  unicode names) land sanitised under the prefix, nothing outside it is written;
- limits: ``--max-size`` (413), ``--max-metadata`` (400), ``--max-uploads-per-token`` (429);
- slow clients: a connection that sends nothing, or its request head one byte at a time, or
  an unread body after a 401, is closed after ``--header-timeout``; keep-alive and uploads
  slower than that timeout still work; a body that stalls past ``--body-timeout`` ends with
  what arrived stored (and the offset says so); hundreds of slowloris connections do not
  hold up a normal upload.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import socket
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from s3stream.cli import serve as command
from s3stream.embedded import EmbeddedS3
from s3stream.errors import ConfigError
from s3stream.gateway.protocol import DirectBodyProtocol
from s3stream.gateway.timeouts import (
    TESTED_UVICORN,
    HeadTimeoutProtocol,
    check_uvicorn,
    head_timeout_protocol,
    uvicorn_requirement,
)
from tests.conftest import TEST_BUCKET
from tests.support.gateway import TUS, GatewayProcess, Tus, metadata, upload_id

TOKEN_A = "security-token-aaaaaaaaaaaa"
TOKEN_B = "security-token-bbbbbbbbbbbb"
OCTET = "application/offset+octet-stream"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
MAX_SIZE = 8 * 1024 * 1024
MAX_METADATA = 4096
PER_TOKEN = 2
ID_RE = re.compile(r"[A-Za-z0-9_-]{32}")


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"security-{secrets.token_hex(4)}/"


@pytest.fixture(scope="module")
def gateway(s3server: EmbeddedS3, prefix: str) -> Iterator[GatewayProcess]:
    args = [
        "--prefix",
        prefix,
        "--part-size",
        "5MiB",
        "--token",
        TOKEN_A,
        "--token",
        TOKEN_B,
        "--max-size",
        str(MAX_SIZE),
        "--max-metadata",
        str(MAX_METADATA),
        "--max-uploads-per-token",
        str(PER_TOKEN),
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
        "--keep-alive-timeout",
        "5",
    ]
    with GatewayProcess(s3server, TEST_BUCKET, *args) as process:
        yield process


@pytest.fixture
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


@pytest.fixture
def tus_a(http: httpx.Client) -> Tus:
    return Tus(http, token=TOKEN_A)


@pytest.fixture
def tus_b(http: httpx.Client) -> Tus:
    return Tus(http, token=TOKEN_B)


def listing(s3client: Any, prefix: str = "") -> dict[str, str]:
    """Every key of the bucket (under ``prefix``) and its ETag."""
    found: dict[str, str] = {}
    for page in s3client.get_paginator("list_objects_v2").paginate(
        Bucket=TEST_BUCKET, Prefix=prefix
    ):
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return found


def info(s3client: Any, prefix: str, url: str) -> dict[str, Any]:
    key = f"{prefix}_uploads/{upload_id(url)}.info"
    state: dict[str, Any] = json.loads(
        s3client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read()
    )
    return state


# ------------------------------------------------------------------ raw connections


def connect(gateway: GatewayProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=10)


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (status, lowercased headers, body with Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def wait_closed(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (at most ``limit``) and what it sent."""
    start = time.monotonic()
    received = b""
    while time.monotonic() - start < limit:
        sock.settimeout(max(0.05, limit - (time.monotonic() - start)))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return time.monotonic() - start, received
        if not chunk:
            return time.monotonic() - start, received
        received += chunk
    raise AssertionError(f"still open after {limit} s (received {received!r})")


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def patch_head(url: str, offset: int, length: int, token: str = TOKEN_A) -> bytes:
    path = "/" + url.split("/", 3)[3]
    return request_head(
        "PATCH",
        path,
        {
            **TUS,
            "Authorization": f"Bearer {token}",
            "Upload-Offset": str(offset),
            "Content-Type": OCTET,
            "Content-Length": str(length),
        },
    )


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# ------------------------------------------------------------------ authentication


BAD_AUTH: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer security-token-cccccccccccc"},
    {"Authorization": f"Bearer {TOKEN_A[:-1]}"},
    {"Authorization": f"Bearer {TOKEN_A}x"},
    {"Authorization": f"Basic {base64.b64encode(TOKEN_A.encode()).decode()}"},
    {"Authorization": TOKEN_A},
    {"Authorization": "Bearer"},
]


def test_requests_without_a_valid_token_are_401_and_change_nothing(
    http: httpx.Client, tus_a: Tus, s3client: Any, prefix: str
) -> None:
    url = tus_a.new(10)
    assert tus_a.patch(url, 0, b"12345").status_code == 204
    before = listing(s3client, prefix)
    path = "/" + url.split("/", 3)[3]
    for auth in BAD_AUTH:
        calls = [
            ("POST", "/files/", {"Upload-Length": "5"}, b""),
            ("HEAD", path, {}, b""),
            ("PATCH", path, {"Upload-Offset": "5", "Content-Type": OCTET}, b"abcde"),
            ("DELETE", path, {}, b""),
            ("GET", "/s3/params?filename=x.bin&type=text/plain", {}, b""),
            ("POST", "/s3/multipart", {"Content-Type": "application/json"}, b'{"filename":"x"}'),
        ]
        for method, target, extra, body in calls:
            response = http.request(method, target, headers={**TUS, **auth, **extra}, content=body)
            assert response.status_code == 401, (method, target, auth, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.headers["Tus-Resumable"] == "1.0.0"
    # OPTIONS is open (discovery, CORS preflight) but cannot be turned into a write
    assert http.options("/files/").status_code == 204
    for override, target, extra, body in [
        ("POST", "/files/", {"Upload-Length": "5"}, b""),
        ("PATCH", path, {"Upload-Offset": "5", "Content-Type": OCTET}, b"abcde"),
        ("DELETE", path, {}, b""),
    ]:
        headers = {**TUS, "X-HTTP-Method-Override": override, **extra}
        response = http.request("OPTIONS", target, headers=headers, content=body)
        assert response.status_code == 401, (override, response.text)
    assert http.get("/health").status_code == 200
    assert tus_a.head(url).headers["Upload-Offset"] == "5"
    assert listing(s3client, prefix) == before


def test_another_owners_upload_is_404(
    http: httpx.Client, tus_a: Tus, tus_b: Tus, s3client: Any, prefix: str
) -> None:
    url = tus_a.new(10, meta=metadata(filename="mine.txt"))
    assert tus_a.patch(url, 0, b"12345").status_code == 204
    done = tus_a.upload(b"finished", 8, meta=metadata(filename="done.txt"))
    partial = tus_a.new(3, extra={"Upload-Concat": "partial"}, body=b"abc")
    before = listing(s3client, prefix)
    for target in (url, done, partial):
        assert tus_b.head(target).status_code == 404
        assert tus_b.patch(target, 5, b"evil!").status_code == 404
        assert tus_b.delete(target).status_code == 404
        # with the id in another case, or with a trailing slash: still nobody's
        assert tus_b.head(target + "/").status_code == 404
    final = tus_b.create(None, extra={"Upload-Concat": f"final;{partial}"})
    assert final.status_code == 404, final.text
    assert listing(s3client, prefix) == before
    assert tus_a.head(url).headers["Upload-Offset"] == "5"
    state = info(s3client, prefix, done)
    body = s3client.get_object(Bucket=TEST_BUCKET, Key=state["key"])["Body"].read()
    assert body == b"finished"


def test_upload_ids_carry_192_random_bits_and_guesses_are_404(
    tus_a: Tus, gateway: GatewayProcess
) -> None:
    urls = [tus_a.new(1) for _ in range(24)]
    ids = [upload_id(u) for u in urls]
    assert len(set(ids)) == len(ids)
    assert all(ID_RE.fullmatch(i) for i in ids), ids  # 32 x 6 = 192 bits, >= 128
    raw = b"".join(base64.urlsafe_b64decode(i) for i in ids)
    assert len(raw) == 24 * len(ids)
    ones = sum(bin(byte).count("1") for byte in raw) / (8 * len(raw))
    assert 0.45 < ones < 0.55, ones  # 4608 bits: a fair coin stays within 0.5 +- 0.05
    assert len({c for i in ids for c in i}) > 56  # of 64 URL-safe characters
    # nothing depends on time or a counter: no two ids share their first 4 characters
    assert len({i[:4] for i in ids}) == len(ids)
    first = ids[0]
    guesses = [
        secrets.token_urlsafe(24),
        first[:-1] + ("A" if first[-1] != "A" else "B"),
        first[:31],
        first + "A",
        first.upper() if first.upper() != first else first.lower(),
        "A" * 32,
        "../" + first,
        first + "%00",
    ]
    for guess in guesses:
        response = tus_a.head(f"{gateway.url}/files/{guess}")
        assert response.status_code in (404, 400), (guess, response.status_code)
        assert response.status_code == 404 or "/" in guess


HOSTILE_NAMES = [
    "../../etc/passwd",
    "../../../" + "x.txt",
    "/etc/shadow",
    "//server/share/file.txt",
    "..\\..\\windows\\win.ini",
    "a/../../b.txt",
    "dir/./../../escape.bin",
    "ctrl\x00\x01\x07\x1b[31mred\x7f.txt",
    "new\r\nline\ttab.txt",
    "\u202egnp.exe",
    "zero\u200bwidth\ufeff.txt",
    "x" * 1000 + ".bin",
    "é" * 300 + ".txt",
    "名前 テスト 🎉.txt",
    "..",
    ".",
    "   ",
    "",
    "...hidden..",
    "%2e%2e%2fencoded.txt",
]


def test_hostile_file_names_stay_sanitised_under_the_prefix(
    tus_a: Tus, s3client: Any, prefix: str
) -> None:
    bucket_before = listing(s3client)
    made: dict[str, str] = {}
    for name in HOSTILE_NAMES:
        data = os.urandom(16)
        url = tus_a.upload(data, 16, meta=metadata(filename=name, filetype="text/plain"))
        state = info(s3client, prefix, url)
        key: str = state["key"]
        made[key] = name
        tail = key[len(prefix) :]
        assert key.startswith(prefix), (name, key)
        assert tail and "/" not in tail and "\\" not in tail, (name, key)
        assert tail not in (".", "..") and not tail.startswith(".."), (name, key)
        assert not any(unicodedata.category(c)[0] == "C" for c in tail), (name, key)
        assert len(tail.encode()) <= 200 + 13, (name, len(tail.encode()))  # + "-<12 hex>"
        assert s3client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read() == data
        if name.endswith((".txt", ".bin")) and len(name) > 200:
            assert tail.endswith(name[-4:]), (name, key)  # the extension survives truncation
    assert len(made) == len(HOSTILE_NAMES)  # unique names: nothing overwrote anything
    new = set(listing(s3client)) - set(bucket_before)
    outside = {k for k in new if not k.startswith(prefix)}
    assert not outside, outside


# ------------------------------------------------------------------ limits


def test_size_and_metadata_limits(tus_a: Tus) -> None:
    assert tus_a.create(MAX_SIZE + 1).status_code == 413
    assert tus_a.create(2**63).status_code == 413
    assert tus_a.create(MAX_SIZE).status_code == 201
    deferred = tus_a.new(None)
    response = tus_a.patch(deferred, 0, b"", extra={"Upload-Length": str(MAX_SIZE + 1)})
    assert response.status_code == 413
    assert tus_a.head(deferred).headers.get("Upload-Defer-Length") == "1"
    small = tus_a.new(4)
    assert tus_a.patch(small, 0, b"12345").status_code == 413
    assert tus_a.head(small).headers["Upload-Offset"] == "0"
    big = metadata(filename="f.txt", note="n" * MAX_METADATA)
    assert len(big) > MAX_METADATA
    assert tus_a.create(1, meta=big).status_code == 400
    assert tus_a.create(1, meta=metadata(filename="f.txt", note="n" * 100)).status_code == 201


def test_concurrent_writes_per_token_and_a_stalled_body(
    gateway: GatewayProcess, tus_a: Tus, tus_b: Tus, s3client: Any, prefix: str
) -> None:
    """Two PATCHes of token A hold their slots with bodies that stall; a third write of A is
    429, B is unaffected; after ``--body-timeout`` of silence the stalled bodies end with
    what arrived stored (204, Upload-Offset = bytes received), and the uploads resume."""
    urls = [tus_a.new(100) for _ in range(PER_TOKEN + 1)]
    holders = []
    for url in urls[:PER_TOKEN]:
        sock = connect(gateway)
        sock.sendall(patch_head(url, 0, 100) + b"0123456789")
        holders.append(sock)
    time.sleep(0.5)  # the server is inside both PATCHes now
    started = time.monotonic()
    try:
        assert tus_a.patch(urls[-1], 0, b"x" * 10).status_code == 429
        assert tus_a.create(5, body=b"hello").status_code == 429
        other = tus_b.new(5)
        assert tus_b.patch(other, 0, b"hello").status_code == 204
        time.sleep(BODY_TIMEOUT + 0.5)
        for sock in holders:  # one more byte, after the body was cut: never stored
            sock.sendall(b"!")
        for sock in holders:
            status, headers, _ = read_response(sock, timeout=BODY_TIMEOUT + 5)
            assert status == 204, status
            assert headers["upload-offset"] == "10"
        elapsed = time.monotonic() - started
        assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 4, elapsed
    finally:
        for sock in holders:
            sock.close()
    for url in urls[:PER_TOKEN]:
        assert tus_a.head(url).headers["Upload-Offset"] == "10"
        assert tus_a.patch(url, 10, b"y" * 90).status_code == 204
        body = s3client.get_object(Bucket=TEST_BUCKET, Key=info(s3client, prefix, url)["key"])
        assert body["Body"].read() == b"0123456789" + b"y" * 90
    assert tus_a.patch(urls[-1], 0, b"x" * 10).status_code == 204  # the slots are free again


# ------------------------------------------------------------------ slow clients


def test_a_silent_connection_is_closed_after_the_header_timeout(
    gateway: GatewayProcess,
) -> None:
    sock = connect(gateway)
    with sock:
        elapsed, received = wait_closed(sock, HEADER_TIMEOUT + 5)
    assert HEADER_TIMEOUT - 0.5 <= elapsed <= HEADER_TIMEOUT + 2, elapsed
    assert received == b""


@pytest.mark.parametrize("complete_lines", [False, True])
def test_a_request_head_sent_byte_by_byte_is_cut(
    gateway: GatewayProcess, complete_lines: bool
) -> None:
    """Slowloris: one byte every 0.25 s (or whole header lines, never the blank line)
    never completes a head within the header timeout: 408 and closed."""
    head = patch_head(f"{gateway.url}/files/{'A' * 32}", 0, 5)[:-2]  # no final CRLF
    sock = connect(gateway)
    start = time.monotonic()
    closed_at = None
    received = b""
    with sock:
        sock.settimeout(0.25)
        lines = [line for line in head.split(b"\r\n") if line]
        pieces = lines if complete_lines else [bytes([b]) for b in head]
        for piece in pieces:
            try:
                sock.sendall(piece + (b"\r\n" if complete_lines else b""))
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - start
                break
            received += chunk
            if not chunk:
                closed_at = time.monotonic() - start
                break
            if complete_lines:
                time.sleep(0.5)
        if closed_at is None:
            _, rest = wait_closed(sock, HEADER_TIMEOUT + 5)
            closed_at, received = time.monotonic() - start, received + rest
    assert closed_at <= HEADER_TIMEOUT + 2, closed_at
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_an_unread_body_cannot_trickle_forever(gateway: GatewayProcess) -> None:
    """A request refused before its body is read (401) while the client goes on sending
    the body a byte at a time: closed after the header timeout."""
    head = request_head("POST", "/files/", {**TUS, "Upload-Length": "5", "Content-Length": "1000"})
    sock = connect(gateway)
    with sock:
        sock.sendall(head)
        status, _, _ = read_response(sock)
        assert status == 401
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
                break
        assert closed
        assert time.monotonic() - start <= HEADER_TIMEOUT + 2


@pytest.mark.slow
def test_keep_alive_and_slow_uploads_still_work(
    gateway: GatewayProcess, tus_a: Tus, s3client: Any, prefix: str
) -> None:
    """The header timeout watches heads only: idle gaps on a keep-alive connection (within
    the keep-alive timeout) and an upload taking far longer than the header timeout pass."""
    url = tus_a.new(30)
    sock = connect(gateway)
    with sock:
        for offset in (0, 10, 20):
            if offset:
                time.sleep(HEADER_TIMEOUT + 0.5)  # idle between requests: keep-alive's business
            sock.sendall(patch_head(url, offset, 10) + bytes([65 + offset // 10]) * 10)
            status, headers, _ = read_response(sock)
            assert status == 204 and headers["upload-offset"] == str(offset + 10)
    state = info(s3client, prefix, url)
    body = s3client.get_object(Bucket=TEST_BUCKET, Key=state["key"])["Body"].read()
    assert body == b"A" * 10 + b"B" * 10 + b"C" * 10
    # a body arriving slowly but steadily (never silent for the body timeout) is read whole
    slow = tus_a.new(6)
    sock = connect(gateway)
    with sock:
        sock.sendall(patch_head(slow, 0, 6))
        for byte in b"steady":
            time.sleep(HEADER_TIMEOUT / 4)
            sock.sendall(bytes([byte]))
        status, headers, _ = read_response(sock)
    assert status == 204 and headers["upload-offset"] == "6"


def test_many_slowloris_connections_do_not_block_an_upload(
    gateway: GatewayProcess, tus_a: Tus, s3client: Any, prefix: str
) -> None:
    assert gateway.proc is not None
    pid = gateway.proc.pid
    fds_before = open_fds(pid)
    lorises: list[socket.socket] = []
    try:
        for i in range(300):
            sock = connect(gateway)
            sock.sendall(b"POST /files/ HTTP/1.1\r\nHost: x\r\nX-Slow-" + str(i).encode())
            lorises.append(sock)
        deadline = time.monotonic() + 5
        while open_fds(pid) < fds_before + 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_fds(pid) >= fds_before + 300, (fds_before, open_fds(pid))
        data = os.urandom(6 * 1024 * 1024 + 17)
        started = time.monotonic()
        url = tus_a.upload(data, 1024 * 1024, meta=metadata(filename="busy.bin"))
        assert time.monotonic() - started < 10
        key = info(s3client, prefix, url)["key"]
        assert s3client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read() == data
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while open_fds(pid) > fds_before + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert open_fds(pid) <= fds_before + 5, (fds_before, open_fds(pid))
    finally:
        for sock in lorises:
            sock.close()


def test_header_timeout_flag_and_protocol() -> None:
    parser = argparse.ArgumentParser()
    command.configure_parser(parser)
    assert parser.parse_args([]).header_timeout == 10.0
    assert parser.parse_args(["--header-timeout", "3.5"]).header_timeout == 3.5
    protocol = head_timeout_protocol(3.5)
    assert issubclass(protocol, HeadTimeoutProtocol) and protocol.header_timeout == 3.5
    assert issubclass(protocol, DirectBodyProtocol)
    assert head_timeout_protocol(0) is DirectBodyProtocol


def test_header_timeout_runs_only_on_tested_uvicorn_releases() -> None:
    """The protocol reads uvicorn's private state: the installed uvicorn (the one every test
    here ran on) must be in the tested range, and a release outside it is refused, naming
    the fix, instead of serving without the timeout or with one that misreads it."""
    check_uvicorn(uvicorn.__version__)
    low, high = TESTED_UVICORN
    for outside in (f"{high[0]}.{high[1]}.0", f"{low[0]}.{low[1] - 1}.9", "1.0.0"):
        with pytest.raises(ConfigError) as info:
            head_timeout_protocol(10, version=outside)
        assert str(info.value) == (
            f"uvicorn {outside} is not one the request-head timeout is tested with "
            f"({uvicorn_requirement()}): pip install 'uvicorn{uvicorn_requirement()}', or serve "
            "without the timeout (--header-timeout 0)"
        )
    assert head_timeout_protocol(0, version="1.0.0") is H11Protocol
    assert issubclass(head_timeout_protocol(10, version=f"{low[0]}.{low[1]}.0"), H11Protocol)
