"""The translation layer: botocore's errors become typed outcomes, here and only here."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from s3stream.errors import (
    AlreadyExists,
    ConfigError,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from s3stream.store.boto.errors import translate, translated
from s3stream.store.types import CREATE, PutMode


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    ("code", "status", "mode", "kind"),
    [
        ("NoSuchUpload", 404, PutMode(), NoSuchUpload),
        ("NoSuchKey", 404, PutMode(), NotFound),
        ("404", 404, PutMode(), NotFound),
        ("PreconditionFailed", 412, CREATE, AlreadyExists),
        ("ConditionalRequestConflict", 409, CREATE, AlreadyExists),
        ("PreconditionFailed", 412, PutMode.replacing('"e"'), PreconditionFailed),
        ("PreconditionFailed", 412, PutMode(), PreconditionFailed),
        ("NoSuchBucket", 404, PutMode(), StoreError),
        ("AccessDenied", 403, PutMode(), StoreError),
    ],
)
def test_outcomes_are_typed_by_code_status_and_mode(
    code: str, status: int, mode: PutMode, kind: type[StoreError]
) -> None:
    error = translate(client_error(code, status), "PutObject", mode)
    assert type(error) is kind
    assert isinstance(error, StoreError) and error.code == code and not error.retryable


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("Whatever", 500), ("X", 429)])
def test_throttles_and_server_errors_are_retryable(code: str, status: int) -> None:
    error = translate(client_error(code, status), "UploadPart")
    assert type(error) is StoreError and error.retryable


def test_transport_and_credential_errors() -> None:
    down = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "PutObject")
    assert isinstance(down, StoreError) and down.retryable
    assert isinstance(translate(NoCredentialsError(), "PutObject"), ConfigError)
    with pytest.raises(AlreadyExists), translated("PutObject", CREATE):
        raise client_error("PreconditionFailed", 412)
