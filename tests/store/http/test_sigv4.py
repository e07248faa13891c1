"""SigV4 as AWS documents it: the published S3 examples, signed byte for byte."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

from s3stream.store.http.sigv4 import EMPTY_SHA256, Credentials, Signer, canonical_query

# The examples of "Signature Calculations for the Authorization Header" and "Authenticating
# Requests: Using Query Parameters" in the Amazon S3 API reference.
EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)
HOST = "examplebucket.s3.amazonaws.com"


def test_a_get_is_signed_as_the_s3_reference_shows() -> None:
    headers = {"Host": HOST, "Range": "bytes=0-9", "User-Agent": "not signed"}
    Signer(EXAMPLE, "us-east-1").sign("GET", "/test.txt", [], headers, EMPTY_SHA256, WHEN)
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_a_put_with_a_signed_payload_matches_the_reference() -> None:
    payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    headers = {
        "Host": HOST,
        "Date": "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }
    Signer(EXAMPLE, "us-east-1").sign("PUT", "/test%24file.text", [], headers, payload, WHEN)
    assert headers["Authorization"].endswith(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_a_presigned_get_matches_the_reference() -> None:
    query = Signer(EXAMPLE, "us-east-1").presign("GET", HOST, "/test.txt", [], 86400, WHEN)
    params = dict(parse_qsl(query))
    assert params["X-Amz-Signature"] == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    assert params["X-Amz-Credential"] == "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def test_a_session_token_is_sent_and_signed() -> None:
    signer = Signer(Credentials("AK", "SK", "TOKEN"), "eu-west-1")
    headers = {"Host": HOST}
    signer.sign("GET", "/", [], headers, EMPTY_SHA256, WHEN)
    assert headers["x-amz-security-token"] == "TOKEN"
    assert "x-amz-security-token" in headers["Authorization"]
    assert "X-Amz-Security-Token=TOKEN" in signer.presign("GET", HOST, "/", [], 60, WHEN)


def test_query_parameters_are_encoded_and_sorted() -> None:
    query = [("uploadId", "a+b/c="), ("partNumber", "2"), ("uploads", ""), ("prefix", "é ~")]
    assert canonical_query(query) == (
        "partNumber=2&prefix=%C3%A9%20~&uploadId=a%2Bb%2Fc%3D&uploads="
    )


def test_the_secret_never_shows() -> None:
    assert "EXAMPLEKEY" not in repr(EXAMPLE)
