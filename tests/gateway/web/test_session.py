"""The session cookie (for clients that cannot send Authorization, as Uppy 6) and the page's
mode choice, in process over the memory stores."""

from __future__ import annotations

import asyncio

from s3stream.gateway import GatewayOptions, MemoryUploadStore, TusSettings, build_app
from s3stream.gateway.auth import SESSION_COOKIE, BearerAuth, session_value
from s3stream.gateway.presign import PresignSettings
from s3stream.gateway.web import DirectUploads, PageMode, WebApp, with_web
from s3stream.store.cors import with_upload_origins
from s3stream.store.memory import MemoryStore
from tests.support.gateway import TUS, TestClient

TOKEN = "session-token-0123456789ab"
OTHER = "session-other-0123456789ab"


def client() -> TestClient:
    store = MemoryUploadStore()
    tokens = (TOKEN, OTHER)
    gateway = build_app(store, TusSettings(), GatewayOptions(tokens=tokens, sweep_interval=None))
    return TestClient(with_web(gateway, WebApp.for_store(store, tokens=tokens)))


def create(http: TestClient, **headers: str) -> int:
    response = http.post("/files/", headers={**TUS, "Upload-Length": "3", **headers})
    return int(response.status_code)


def test_a_session_cookie_stands_for_the_token_and_is_hard_to_misuse() -> None:
    http = client()
    assert create(http) == 401
    login = http.post("/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert login.status_code == 204
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert create(http) == 201  # the cookie alone authenticates
    created = http.post("/files/", headers={**TUS, "Upload-Length": "3"})
    url = created.headers["Location"]
    # the cookie is the token's owner: another token cannot see the upload, the cookie can
    assert http.head(url, headers=TUS).status_code == 200
    other = TestClient(http.app)
    assert other.head(url, headers={**TUS, "Authorization": f"Bearer {OTHER}"}).status_code == 404
    # refused from another site's page (no CSRF through the cookie)
    assert create(http, Origin="https://evil.example") == 401
    assert create(http, Origin="http://testserver") == 201
    # logged out: gone
    assert http.delete("/api/session").status_code == 204
    assert create(http) == 401


def test_forged_and_expired_sessions_are_refused() -> None:
    http = client()
    value = session_value(TOKEN)
    owner, expiry, mac = value.split(".")
    forged = [
        f"{owner}.{int(expiry) + 3600}.{mac}",  # a longer life
        f"{owner}.{expiry}.{'0' * len(mac)}",
        f"{'f' * len(owner)}.{expiry}.{mac}",  # another owner
        session_value("not-a-token-of-this-server"),
        session_value(TOKEN, now=0),  # expired long ago
        "garbage",
    ]
    for bad in forged:
        http.cookies.set(SESSION_COOKIE, bad)
        assert create(http) == 401, bad
    http.cookies.set(SESSION_COOKIE, value)
    assert create(http) == 201


def test_session_checks_need_no_state_shared_between_processes() -> None:
    async def inner(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not reached")

    one, two = BearerAuth(inner, [TOKEN]), BearerAuth(inner, [TOKEN])
    value = session_value(TOKEN)
    assert one.session_owner(value) == two.session_owner(value) is not None


def test_page_mode_auto_follows_the_bucket_cors_rule() -> None:
    store = MemoryStore()
    now = [0.0]
    direct = DirectUploads.for_settings(PresignSettings())
    mode = PageMode("auto", direct, store, "b", clock=lambda: now[0])
    origin = "http://127.0.0.1:8080"
    assert asyncio.run(mode.for_origin(origin)) == "tus"  # no rule: the browser would fail
    store.put_cors("b", with_upload_origins((), [origin]))
    assert asyncio.run(mode.for_origin(origin)) == "tus"  # rules are kept for a minute
    now[0] += 61
    assert asyncio.run(mode.for_origin(origin)) == "direct"
    assert asyncio.run(mode.for_origin("http://elsewhere:8080")) == "tus"
    assert asyncio.run(PageMode("tus", direct).for_origin(origin)) == "tus"
    assert asyncio.run(PageMode("direct", direct).for_origin(origin)) == "direct"
    assert asyncio.run(PageMode("auto", None).for_origin(origin)) == "tus"  # no presign API
