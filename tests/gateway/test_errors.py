"""One mapping from anything raised to an HTTP answer, for tus, presign and the web API."""

from __future__ import annotations

import pytest

from s3stream.errors import (
    AlreadyExists,
    ConfigError,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    SourceError,
    StoreError,
)
from s3stream.gateway.errors import HTTPError, http_error, store_error_status


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x", code="NoSuchKey", status=404), 404),
        (NoSuchUpload("x", code="NoSuchUpload", status=404), 404),
        (PreconditionFailed("x", code="PreconditionFailed", status=412), 409),
        (AlreadyExists("x", code="PreconditionFailed", status=412), 409),
        (StoreError("x", code="SlowDown", status=503, retryable=True), 503),
        (StoreError("x", code="AccessDenied", status=403), 502),
    ],
)
def test_store_errors_map_to_one_status_each(error: StoreError, status: int) -> None:
    assert store_error_status(error) == status
    answer = http_error(error, "GET /x")
    assert answer.status == status
    assert "x" not in answer.message or status < 500  # store details stay in the log


def test_everything_else() -> None:
    own = HTTPError(423, "Locked", "busy")
    assert http_error(own, "PATCH /x") is own
    assert http_error(ConfigError("bad key"), "GET /x").status == 400
    assert http_error(SourceError("short"), "PATCH /x").status == 500
    unexpected = http_error(RuntimeError("boom"), "GET /x")
    assert unexpected.status == 500 and unexpected.message == "internal error"
    assert HTTPError(409, "Unfinished", "not yet", offset=3).json() == {
        "error": "not yet",
        "offset": 3,
    }
