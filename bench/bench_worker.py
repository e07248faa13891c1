"""One upload by one Python tool, in a fresh process, measured from inside.

    python bench/bench_worker.py TOOL CASE --bucket B --key K (--file F | --generate N | --stdin)
                                 [--part-size N --concurrency N | --preset NAME]

TOOL is ``s3stream`` (the library), ``boto3`` (the classic transfer manager), ``boto3-crt``
(boto3's CRT transfer client), ``smart_open`` or ``obstore``; CASE is ``file`` (the tool
reads the file itself) or ``stream`` (a real pipe of unknown length: this process' standard
input with ``--stdin``, else a pipe it opens from ``cat FILE`` or from ``gen_stream.py N``
with ``--generate N``). The endpoint, keys and CA bundle come from the environment
(``AWS_ENDPOINT_URL_S3``, ``AWS_CA_BUNDLE`` etc.). Prints one JSON line: wall, user and
system seconds of the upload call, the process' peak RSS (``VmHWM``) after it and before it,
the headers of the first request of each S3 operation (botocore-based tools), and
s3stream's result.

The clock starts before the call (for a pipe it opens, before the writer is spawned) and
stops when it returns; a writer's CPU is never counted (``RUSAGE_SELF``). Interpreter
start-up, imports and client creation are outside the clock: the driver measures the whole
process from outside as well.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import GENERATOR, MiB, parse_size, self_usage

TOOLS = ("s3stream", "boto3", "boto3-crt", "smart_open", "obstore")
CASES = ("file", "stream")
CALLS = {
    ("s3stream", "file"): "upload_file",
    ("s3stream", "stream"): "upload_stream",
    ("boto3", "file"): "upload_file",
    ("boto3", "stream"): "upload_fileobj",
    ("boto3-crt", "file"): "upload_file",
    ("boto3-crt", "stream"): "upload_fileobj",
    ("smart_open", "file"): "open('s3://…', 'wb') + copyfileobj",
    ("smart_open", "stream"): "open('s3://…', 'wb') + copyfileobj",
    ("obstore", "file"): "put(store, key, Path)",
    ("obstore", "stream"): "put(store, key, iterator of chunks)",
}
COPY_BLOCK = 8 * MiB
# Request headers worth reporting: which checksum went where, and how the payload was signed.
_SENT_HEADERS = (
    "x-amz-content-sha256",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "content-encoding",
    "content-md5",
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def describe_request(headers: Any) -> dict[str, str]:
    """The checksum and signing headers of one request (checksum values elided)."""
    found: dict[str, str] = {}
    for name, raw in headers.items():
        lname = str(name).lower()
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        if lname.startswith("x-amz-checksum-"):
            if lname in ("x-amz-checksum-algorithm", "x-amz-checksum-type"):
                found[lname] = value
            else:
                found[lname] = "<value>"
        elif lname in _SENT_HEADERS:
            if lname == "x-amz-content-sha256" and _HEX64.match(value):
                value = "<sha256 of the payload>"
            elif lname == "content-md5":
                value = "<value>"
            found[lname] = value
    return found


def record_requests(client: Any, sent: dict[str, dict[str, str]]) -> None:
    """Remember the headers of the first request of each S3 operation the client sends."""

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation not in sent:
            sent[operation] = describe_request(request.headers)

    client.meta.events.register("before-send.s3", before_send)


def _operation(method: str, target: str) -> str:
    """The S3 operation of a request the native transport sends (the few an upload makes)."""
    query = target.partition("?")[2].split("&")
    if method == "PUT":
        return "UploadPart" if any(q.startswith("partNumber=") for q in query) else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    return method


def record_native_requests(connections: Any, sent: dict[str, dict[str, str]]) -> None:
    """:func:`record_requests` for the native transport's connection pool."""
    original = connections._send

    def send(address: Any, method: str, target: str, headers: Any, body: Any) -> Any:
        operation = _operation(method, target)
        if operation not in sent:
            sent[operation] = describe_request(headers)
        return original(address, method, target, headers, body)

    connections._send = send


def _make_upload(args: argparse.Namespace, sent: dict[str, dict[str, str]]) -> Callable[[Any], Any]:
    """The upload call of ``args.tool`` for ``args.case``: takes the pipe (or None)."""
    tool, case = args.tool, args.case
    path = args.file
    if tool == "s3stream":
        from s3stream import S3StreamUploader

        uploader = S3StreamUploader(
            endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
            region=os.environ["AWS_REGION"],
            ca_bundle=os.environ.get("AWS_CA_BUNDLE"),
        )
        store_client: Any = getattr(uploader.store, "client", None)
        if hasattr(store_client, "connections"):  # the native transport
            record_native_requests(store_client.connections, sent)
        elif store_client is not None:
            record_requests(store_client, sent)
            if args.no_expect_continue:
                # Experiment: no `Expect: 100-continue` (one round trip less per part).
                handlers: Any = importlib.import_module("botocore.handlers")
                store_client.meta.events.unregister("before-call.s3", handlers.add_expect_header)
        options: dict[str, Any] = {"checksum": args.checksum}
        if args.preset:
            options["preset"] = args.preset
        else:
            options["part_size"] = args.part_size
            options["concurrency"] = args.concurrency
        if case == "file":
            return lambda _: uploader.upload_file(path, args.bucket, args.key, **options)
        return lambda src: uploader.upload_stream(src, args.bucket, args.key, **options)

    if tool == "obstore":
        return _obstore_upload(args)
    if tool == "boto3-crt" and os.environ.get("AWS_CA_BUNDLE"):
        # boto3 hands its CRT client no CA bundle (AWS_CA_BUNDLE is not passed on), but
        # awscrt loads its default trust store the OpenSSL way, which honours SSL_CERT_FILE.
        os.environ["SSL_CERT_FILE"] = os.environ["AWS_CA_BUNDLE"]
    boto3: Any = importlib.import_module("boto3")
    client = boto3.client("s3")  # default settings, endpoint and keys from the environment
    record_requests(client, sent)
    if tool in ("boto3", "boto3-crt"):
        transfer: Any = importlib.import_module("boto3.s3.transfer")
        settings: dict[str, Any] = {
            "multipart_chunksize": args.part_size,
            "max_concurrency": args.concurrency,
        }
        if tool == "boto3":
            settings |= {"use_threads": True, "preferred_transfer_client": "classic"}
        else:  # the CRT refuses the options it does not take, use_threads among them
            settings["preferred_transfer_client"] = "crt"
        config = transfer.TransferConfig(**settings)

        def upload(src: Any) -> Any:
            if src is None:
                return client.upload_file(path, args.bucket, args.key, Config=config)
            return client.upload_fileobj(src, args.bucket, args.key, Config=config)

        return upload if tool == "boto3" else _checked_crt(client, upload)

    if tool == "smart_open":
        smart_open: Any = importlib.import_module("smart_open")
        params = {"client": client, "min_part_size": args.part_size}
        uri = f"s3://{args.bucket}/{args.key}"

        def upload(src: Any) -> Any:
            with smart_open.open(uri, "wb", transport_params=params) as out:
                if src is None:
                    with open(path, "rb") as f:
                        shutil.copyfileobj(f, out, COPY_BLOCK)
                else:
                    shutil.copyfileobj(src, out, COPY_BLOCK)

        return upload
    raise SystemExit(f"unknown tool {tool!r}")


def _checked_crt(client: Any, upload: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``upload``, then a check that boto3 really used its CRT client.

    boto3 falls back to the classic transfer manager without a word when it cannot use the
    CRT (another CRT client holds the process lock, other credentials or region); a
    benchmark of the CRT must not measure the classic manager under its name.
    """
    crt: Any = importlib.import_module("boto3.crt")

    def checked(src: Any) -> Any:
        result = upload(src)
        used = crt.CRT_S3_CLIENT is not None and crt.is_crt_compatible_request(
            client, crt.CRT_S3_CLIENT
        )
        if not used:
            raise SystemExit("boto3 did not use its CRT transfer client (it fell back)")
        return result

    return checked


def _obstore_upload(args: argparse.Namespace) -> Callable[[Any], Any]:
    """obstore's ``put``: the file by path (Rust reads it), a stream as an iterator of
    chunks (``put`` refuses a file object that cannot seek)."""
    obstore: Any = importlib.import_module("obstore")
    store_module: Any = importlib.import_module("obstore.store")
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    ca_bundle = os.environ.get("AWS_CA_BUNDLE")
    client_options: dict[str, Any] = {}
    if endpoint.startswith("http://"):
        client_options["allow_http"] = True
    elif ca_bundle:
        client_options["root_certificate"] = Path(ca_bundle).read_text()
    store = store_module.S3Store(
        args.bucket,
        endpoint=endpoint,
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ["AWS_REGION"],
        client_options=client_options,
    )
    sizes = {"chunk_size": args.part_size, "max_concurrency": args.concurrency}

    def upload(src: Any) -> Any:
        if src is None:
            return obstore.put(store, args.key, Path(args.file), **sizes)
        chunks = iter(lambda: src.read(COPY_BLOCK), b"")
        return obstore.put(store, args.key, chunks, **sizes)

    return upload


def run(args: argparse.Namespace) -> dict[str, Any]:
    sent: dict[str, dict[str, str]] = {}
    upload = _make_upload(args, sent)
    writer: subprocess.Popen[bytes] | None = None
    if args.generate:
        feeder = [sys.executable, str(GENERATOR), str(args.generate)]
        nbytes = args.generate
    else:
        feeder = ["cat", args.file]
        nbytes = Path(args.file).stat().st_size
    user0, sys0, rss0, _ = self_usage()
    t0 = time.perf_counter()
    if args.case == "stream" and args.stdin:
        result = upload(sys.stdin.buffer)
    elif args.case == "stream":
        # A real pipe: the uploader cannot know the length, and reads what the writer writes.
        writer = subprocess.Popen(feeder, stdout=subprocess.PIPE)
        assert writer.stdout is not None
        result = upload(writer.stdout)
        writer.stdout.close()
        writer.wait()
    else:
        result = upload(None)
    t1 = time.perf_counter()
    user1, sys1, rss1, maxrss1 = self_usage()
    if writer is not None and writer.returncode != 0:
        raise SystemExit(f"the writer process failed with status {writer.returncode}")
    record: dict[str, Any] = {
        "tool": args.tool,
        "case": args.case,
        "call": CALLS[(args.tool, args.case)],
        "key": args.key,
        "bytes": nbytes,
        "wall_s": t1 - t0,
        "user_s": user1 - user0,
        "sys_s": sys1 - sys0,
        "peak_rss_kib": rss1,
        "rss_before_upload_kib": rss0,
        "ru_maxrss_kib": maxrss1,
        "sent": sent,
    }
    if args.tool == "s3stream" and result is not None:
        record["result"] = {
            "size": result.size,
            "parts": result.parts,
            "checksum_algorithm": result.checksum_algorithm,
            "checksum": result.checksum,
            "checksum_type": result.checksum_type,
        }
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--file", help="the file to upload (or to cat into the pipe)")
    parser.add_argument("--generate", type=parse_size, help="stream N generated bytes instead")
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="stream standard input (fed by the caller; --file names its source, for its size)",
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--part-size", type=parse_size, default=16 * MiB)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--preset", help="s3stream only: a preset instead of size x concurrency")
    parser.add_argument("--checksum", default="crc64nvme", help="s3stream only (crc64nvme)")
    parser.add_argument(
        "--no-expect-continue",
        action="store_true",
        help="s3stream only, an experiment: drop botocore's `Expect: 100-continue`",
    )
    args = parser.parse_args(argv)
    if (args.generate or args.stdin) and args.case != "stream":
        parser.error("--generate and --stdin need the stream case")
    if not args.generate and not args.file:
        parser.error("give --file or --generate")
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
