"""The aws-chunked part body and the filling part buffer it streams from."""

from __future__ import annotations

import os
import threading
import time

import pytest

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.gateway.filling import BodyEnded, FillingPart
from s3stream.limits import MiB
from s3stream.store.chunked import CHUNK, StreamedPartBody


def decode_aws_chunked(encoded: bytes) -> tuple[bytes, dict[str, str]]:
    """The payload and trailers of an aws-chunked body (strict: any framing slip fails)."""
    data, pos = bytearray(), 0
    while True:
        end = encoded.index(b"\r\n", pos)
        size = int(encoded[pos:end], 16)
        pos = end + 2
        if size == 0:
            break
        data += encoded[pos : pos + size]
        assert encoded[pos + size : pos + size + 2] == b"\r\n"
        pos += size + 2
    trailers = {}
    while not encoded.startswith(b"\r\n", pos):
        end = encoded.index(b"\r\n", pos)
        name, _, value = encoded[pos:end].decode().partition(":")
        trailers[name] = value
        pos = end + 2
    assert pos + 2 == len(encoded)
    return bytes(data), trailers


def drain(body: StreamedPartBody) -> bytes:
    out = bytearray()
    while piece := body.read(8192):
        out += piece
    return bytes(out)


class Whole:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    @property
    def size(self) -> int:
        return len(self.data)

    def wait_view(self, start: int, limit: int) -> memoryview:
        return self.data[start : start + limit]


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345])
@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32", "crc32c", "sha256"])
def test_the_encoding_carries_the_bytes_and_their_checksum(size: int, algorithm: str) -> None:
    alg = ChecksumAlgorithm.parse(algorithm)
    data = os.urandom(size)
    body = StreamedPartBody(Whole(data), alg)
    encoded = drain(body)
    assert len(encoded) == len(body)  # the Content-Length announced before sending
    payload, trailers = decode_aws_chunked(encoded)
    expected = digest(alg, data)
    assert expected is not None
    assert payload == data
    assert trailers == {f"x-amz-checksum-{algorithm}": encode(alg, expected)}
    assert body.digest == expected
    body.seek(0)  # a retried request starts over and produces the same bytes
    assert drain(body) == encoded


def test_without_a_checksum_the_body_is_the_bytes() -> None:
    data = os.urandom(CHUNK + 7)
    body = StreamedPartBody(Whole(data), ChecksumAlgorithm.NONE)
    assert drain(body) == data and len(body) == len(data) and body.digest is None


def test_a_reader_follows_the_filling_and_sees_every_byte() -> None:
    data = os.urandom(3 * MiB + 5)
    part = FillingPart(bytearray(len(data)), len(data))
    body = StreamedPartBody(part, ChecksumAlgorithm.CRC64NVME)
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(drain(body)))
    reader.start()
    view = memoryview(data)
    while view:
        n = part.append(view[:100_000])
        view = view[n:]
        time.sleep(0.0005)
    reader.join(10)
    payload, _ = decode_aws_chunked(result[0])
    assert payload == data and part.full


def test_an_abandoned_part_stops_its_reader() -> None:
    part = FillingPart(bytearray(MiB), MiB)
    part.append(memoryview(b"x" * 1000))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            drain(StreamedPartBody(part, ChecksumAlgorithm.CRC32))
        except BodyEnded as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.05)
    assert reader.is_alive()  # waiting for bytes that have not come
    part.abandon()
    reader.join(5)
    assert not reader.is_alive() and len(errors) == 1
    assert part.fill == 1000  # what arrived stays for the caller


def test_appending_stops_at_the_part_size() -> None:
    part = FillingPart(bytearray(10), 10)
    assert part.append(memoryview(b"a" * 7)) == 7
    assert part.append(memoryview(b"b" * 7)) == 3
    assert part.full and bytes(part.buf) == b"a" * 7 + b"b" * 3
