"""The main job on the embedded store: start SeaweedFS, stream and upload, verify, report.

``python -m s3stream.embedded.demo`` (what the README's first Quickstart command runs):

1. starts the embedded SeaweedFS on 127.0.0.1 with real SigV4 credentials;
2. uploads a generated stream of unknown length, read from a subprocess pipe the way
   ``ffmpeg ... pipe:1 | s3stream cp - s3://...`` would deliver it;
3. uploads a generated file with parallel parts read by offset;
4. downloads both, compares them byte for byte and checks the stored CRC64NVME;
5. prints where the objects are and how to reach the store again.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.embedded.process import find_weed_binary
from s3stream.embedded.seaweed import EmbeddedS3
from s3stream.engine.progress import Progress, ProgressCallback
from s3stream.engine.result import UploadResult
from s3stream.errors import MissingExtra
from s3stream.limits import format_size, parse_size
from s3stream.store.boto import make_client
from s3stream.uploader import S3StreamUploader

BUCKET = "demo"
GENERATOR = """
import hashlib, sys
total, block = int(sys.argv[1]), hashlib.sha512(b"s3stream").digest() * 16384
out = sys.stdout.buffer
counter = 0
while total > 0:
    chunk = block[: min(total, len(block))]
    out.write(counter.to_bytes(8, "big") + chunk[8:])
    total -= len(chunk)
    counter += 1
"""


def progress_printer(label: str, stream: TextIO = sys.stderr) -> ProgressCallback:
    """A one-line progress bar on a terminal; a line every two seconds elsewhere."""
    tty = stream.isatty()
    last_line = [0.0]

    def show(p: Progress) -> None:
        pct = p.percent
        bar = ""
        if pct is not None:
            filled = int(pct / 100 * 30)
            bar = "[" + "#" * filled + "." * (30 - filled) + f"] {pct:5.1f}% "
        eta = f" ETA {p.eta:4.1f}s" if p.eta is not None and not p.done else ""
        line = (
            f"{label:<8} {bar}{format_size(p.bytes_sent):>10} "
            f"{format_size(p.rate)}/s parts {p.parts_done}{eta}"
        )
        if tty:
            stream.write("\r\033[K" + line + ("\n" if p.done else ""))
            stream.flush()
        elif p.done or time.monotonic() - last_line[0] >= 2.0:
            last_line[0] = time.monotonic()
            stream.write(line + "\n")

    return show


def _crc64(path_or_bytes: bytes) -> str:
    found = digest(ChecksumAlgorithm.CRC64NVME, path_or_bytes)
    assert found is not None
    return encode(ChecksumAlgorithm.CRC64NVME, found)


def verify(client: Any, result: UploadResult, expected_sha256: str) -> None:
    """Download the object and compare it with what was sent."""
    body = client.get_object(Bucket=result.bucket, Key=result.key)["Body"].read()
    got = hashlib.sha256(body).hexdigest()
    if got != expected_sha256:
        raise SystemExit(f"verification failed for {result.key}: sha256 {got} differs")
    if _crc64(body) != result.checksum:
        raise SystemExit(f"verification failed for {result.key}: CRC64NVME differs")
    print(
        f"  verified s3://{result.bucket}/{result.key}: {format_size(result.size)}, "
        f"{result.parts} parts, sha256 {got[:16]}..., CRC64NVME {result.checksum} "
        f"({result.size / max(result.duration, 1e-9) / 2**20:.0f} MiB/s)"
    )


def run(data_dir: Path, size: int, keep_running: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded SeaweedFS store (data in {data_dir}) ...")
    with EmbeddedS3(data_dir=data_dir / "store", buckets=[BUCKET]) as store:
        print(f"  S3 endpoint {store.endpoint_url}, bucket '{BUCKET}'")
        uploader = S3StreamUploader(
            client=make_client(
                endpoint_url=store.endpoint_url,
                region=store.region,
                access_key=store.access_key,
                secret_key=store.secret_key,
            )
        )
        client = store.client()

        print(f"\n1. a stream of unknown length ({format_size(size)}) from a subprocess pipe")
        generator = subprocess.Popen(
            [sys.executable, "-c", GENERATOR, str(size)], stdout=subprocess.PIPE
        )
        assert generator.stdout is not None
        stream_result = uploader.upload_stream(
            generator.stdout, BUCKET, "demo/stream.bin", on_progress=progress_printer("stream")
        )
        generator.wait()
        expected = subprocess.run(
            [sys.executable, "-c", GENERATOR, str(size)], stdout=subprocess.PIPE, check=True
        ).stdout
        verify(client, stream_result, hashlib.sha256(expected).hexdigest())
        del expected

        print(f"\n2. a file ({format_size(size)}) with parallel parts read by offset")
        with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
            path = Path(tmp) / "file.bin"
            sha = hashlib.sha256()
            with path.open("wb") as f:
                for _ in range(0, size, 16 * 2**20):
                    block = os.urandom(min(16 * 2**20, size - f.tell()))
                    sha.update(block)
                    f.write(block)
            file_result = uploader.upload_file(
                path, BUCKET, "demo/file.bin", on_progress=progress_printer("file")
            )
            verify(client, file_result, sha.hexdigest())

        print("\nthe objects are in the embedded store:")
        for r in (stream_result, file_result):
            print(f"  s3://{r.bucket}/{r.key}  ({format_size(r.size)}, etag {r.etag})")
        print(f"  store data directory: {store.data_dir}")
        if keep_running:
            print("\nthe store keeps running; in another shell:")
            for name, value in store.env().items():
                print(f"  export {name}={value}")
            print("press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        print("\nstore stopped; run again to upload more (data is kept).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="s3stream-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("s3stream-demo-data"))
    parser.add_argument("--size", type=parse_size, default=parse_size("256MiB"))
    parser.add_argument("--keep-running", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        find_weed_binary()
    except MissingExtra as exc:
        parser.exit(2, f"s3stream-demo: error: {exc}\n")
    run(args.dir.resolve(), args.size, args.keep_running)


if __name__ == "__main__":
    main()
