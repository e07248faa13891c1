"""What operators see: /metrics (Prometheus text), the access log and /ready, on the real
SeaweedFS through the wiring `s3stream serve` builds (in process)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from s3stream.embedded import EmbeddedS3
from s3stream.errors import StoreError
from s3stream.gateway.ready import reason
from s3stream.limits import MiB
from tests.support.gateway import Tus, serve_app, upload_id

TOKEN = "observe-token-0123456789"


def metrics(http: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics")  # open, like /health
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_uploads_bytes_parts_and_store_errors(s3server: EmbeddedS3) -> None:
    prefix = f"observe-{os.urandom(3).hex()}/"
    with serve_app(s3server, prefix, "--token", TOKEN, "--part-size", "5MiB") as http:
        before = metrics(http)
        assert before[("s3stream_buffer_bytes_limit", ())] == 32 * 5 * MiB
        data = os.urandom(11 * MiB + 3)
        tus = Tus(http, token=TOKEN)
        url = tus.upload(data, 6 * MiB, meta=None)
        assert tus.head(url).headers["Upload-Offset"] == str(len(data))
        up = http.post(
            "/s3/multipart", json={"filename": "p"}, headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        after = metrics(http)
        assert after[("s3stream_uploads_started_total", (("door", "tus"),))] == 1
        assert after[("s3stream_uploads_finished_total", (("door", "tus"),))] == 1
        assert after[("s3stream_uploads_started_total", (("door", "presign"),))] == 1
        assert after[("s3stream_received_bytes_total", ())] >= len(data)
        assert after[("s3stream_store_sent_bytes_total", ())] == len(data)
        assert after[("s3stream_part_upload_seconds_count", ())] == 3  # 5 + 5 + 1 MiB
        assert after[("s3stream_buffer_bytes_in_use", ())] == 0
        assert after[("s3stream_leases_held", ())] == 0
        assert after[("s3stream_requests_total", (("method", "PATCH"), ("status", "204")))] == 2
        http.delete(
            f"/s3/multipart/{up['uploadId']}",
            params={"key": up["key"]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert upload_id(url)
    with serve_app(s3server, prefix, bucket="no-such-bucket-here") as http:
        assert http.get("/ready").status_code == 503
        errors = metrics(http)
        labels = (("code", "NoSuchBucket"), ("kind", "StoreError"))
        assert errors[("s3stream_store_errors_total", labels)] >= 1


def test_access_log_has_one_json_line_per_request_and_no_token(
    s3server: EmbeddedS3, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"observe-{os.urandom(3).hex()}/"
    with serve_app(s3server, prefix, "--token", TOKEN) as http:
        caplog.set_level(logging.INFO, logger="s3stream.access")
        tus = Tus(http, token=TOKEN)
        url = tus.new(5)
        assert tus.patch(url, 0, b"hello").status_code == 204
        assert http.get("/s3/params", params={"filename": "x", "key": TOKEN}).status_code == 401
        session = http.post("/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
        assert session.status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "s3stream.access"]
    assert len(lines) == 4
    entries = [json.loads(line) for line in lines]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("POST", 201),
        ("PATCH", 204),
        ("GET", 401),
        ("POST", 204),  # the page's API is logged too
    ]
    assert entries[1]["in"] == 5 and entries[1]["path"] == "/files/" + upload_id(url)
    assert entries[0]["owner"] and entries[2]["owner"] is None
    assert all(TOKEN not in line for line in lines)


def test_ready_checks_the_store_and_says_why_not(s3server: EmbeddedS3) -> None:
    prefix = f"observe-{os.urandom(3).hex()}/"
    with serve_app(s3server, prefix, "--token", TOKEN) as http:
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert http.get("/health").json() == {"status": "ok"}
    cases = [
        ({"bucket": "no-such-bucket-here"}, "bucket 'no-such-bucket-here' does not exist"),
        ({"endpoint_url": "http://127.0.0.1:9"}, "is unreachable"),
        ({"secret_key": "wrong" * 8}, "rejected the credentials"),
    ]
    for kwargs, expected in cases:
        with serve_app(s3server, prefix, **kwargs) as http:
            answer = http.get("/ready")
            assert answer.status_code == 503, kwargs
            assert answer.json()["status"] == "unavailable"
            assert expected in answer.json()["reason"], answer.json()
            assert http.get("/health").status_code == 200  # alive all the same


def test_ready_reasons_for_refusals_the_embedded_store_cannot_play() -> None:
    denied = StoreError("PutObject: AccessDenied", code="AccessDenied", status=403)
    assert (
        reason(denied, "b", "https://s3") == "no permission to write to bucket 'b' (AccessDenied)"
    )
    assert "did not answer in time" in reason(TimeoutError(), "b", "https://s3")
    slow = StoreError("PutObject: SlowDown", code="SlowDown", status=503, retryable=True)
    assert reason(slow, "b", "https://s3") == "the store at https://s3 failed: SlowDown (HTTP 503)"
