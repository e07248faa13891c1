"""The tools of part 1: what each one runs, how it was given the part size and concurrency,
and how it trusts the store's TLS certificate (a local CA).

Tools that run inside ``bench_worker.py`` (Python libraries) are measured twice: around the
upload call by the worker, and as a whole process from outside. The others are commands,
measured as whole processes only.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchlib import BUCKET, MiB, bench_binary

# Python libraries: one upload each in bench_worker.py (s3stream in .venv, the others in
# .venv-bench).
WORKER_TOOLS = ("s3stream", "obstore", "boto3", "boto3-crt", "smart_open")
COMMAND_TOOLS = ("s3stream-cli", "s5cmd", "rclone", "aws", "curl")
OURS = ("s3stream", "s3stream-cli")
# Every tool, in the tables' order.
TOOLS = (
    "s3stream",
    "s3stream-cli",
    "obstore",
    "boto3",
    "boto3-crt",
    "smart_open",
    "s5cmd",
    "rclone",
    "aws",
    "curl",
)
CASES = ("file", "stream")
# s3stream's formula bounds the bytes it buffers; its threads' stacks, connections and TLS
# state are outside it. A peak RSS up to this much above base + formula still counts as
# within the bound (the tables show the margin either way).
MEMORY_SLACK_MIB = 8.0
PROTOCOLS = ("https", "http")
PROTOCOL_NAMES = {"https": "TLS", "http": "plain HTTP"}
LABELS = {
    "s3stream": "s3stream",
    "s3stream-cli": "s3stream CLI",
    "obstore": "obstore",
    "boto3": "boto3 classic",
    "boto3-crt": "boto3 CRT",
    "smart_open": "smart_open",
    "s5cmd": "s5cmd",
    "rclone": "rclone",
    "aws": "aws CLI",
    "curl": "curl",
}
# What each (tool, case) runs, for the table. curl has no stream case: a presigned PUT needs
# the length up front.
CALLS = {
    ("s3stream", "file"): "upload_file",
    ("s3stream", "stream"): "upload_stream",
    ("s3stream-cli", "file"): "s3stream cp FILE",
    ("s3stream-cli", "stream"): "cat FILE | s3stream cp -",
    ("obstore", "file"): "put(store, key, Path)",
    ("obstore", "stream"): "put(store, key, iterator of 8 MiB chunks)",
    ("boto3", "file"): "upload_file (classic)",
    ("boto3", "stream"): "upload_fileobj (classic)",
    ("boto3-crt", "file"): "upload_file (CRT)",
    ("boto3-crt", "stream"): "upload_fileobj (CRT)",
    ("smart_open", "file"): "open('s3://…','wb') + copyfileobj",
    ("smart_open", "stream"): "open('s3://…','wb') + copyfileobj",
    ("s5cmd", "file"): "s5cmd cp",
    ("s5cmd", "stream"): "s5cmd pipe",
    ("rclone", "file"): "rclone copyto",
    ("rclone", "stream"): "rclone rcat",
    ("aws", "file"): "aws s3 cp FILE",
    ("aws", "stream"): "aws s3 cp -",
    ("curl", "file"): "curl -T (one presigned PUT)",
}
# How each tool was given the part size and the concurrency (what it allows).
SETTINGS = {
    "s3stream": "part_size, concurrency",
    "s3stream-cli": "--part-size, --concurrency",
    "obstore": "put(chunk_size, max_concurrency)",
    "boto3": "TransferConfig(multipart_chunksize, max_concurrency)",
    "boto3-crt": "TransferConfig(multipart_chunksize, max_concurrency), which the CRT takes "
    "as its part size and its connection limit",
    "smart_open": "min_part_size (parts are sent one at a time)",
    "s5cmd": "--part-size, --concurrency",
    "rclone": "--s3-chunk-size, --s3-upload-concurrency",
    "aws": "s3.multipart_chunksize, s3.max_concurrent_requests (config file)",
    "curl": "one request",
}
# How each tool was told to trust the local CA over TLS; every one verifies the certificate.
TRUST = {
    "s3stream": "S3StreamUploader(ca_bundle=...)",
    "s3stream-cli": "--ca-bundle",
    "obstore": "client_options root_certificate (the CA's PEM)",
    "boto3": "AWS_CA_BUNDLE",
    "boto3-crt": "SSL_CERT_FILE: boto3 gives its CRT client no CA bundle, and awscrt's "
    "default trust store honours SSL_CERT_FILE; the endpoint comes from AWS_ENDPOINT_URL_S3",
    "smart_open": "AWS_CA_BUNDLE (its boto3 client)",
    "s5cmd": "AWS_CA_BUNDLE",
    "rclone": "--ca-cert",
    "aws": "AWS_CA_BUNDLE",
    "curl": "--cacert",
}
# Uploads a tool cannot do here, with the reason found; they are still attempted every run
# (they fail in about a second), so a fixed tool shows up measured.
KNOWN_LIMITS = {
    ("https", "boto3-crt", "stream"): "boto3's CRT transfer manager needs a seekable body: "
    "botocore sizes the request with tell(), which a pipe refuses (OSError: Illegal seek)",
    ("http", "boto3-crt", "file"): "boto3 creates its CRT client with use_ssl=True whatever "
    "the endpoint's scheme (boto/boto3#4689): TLS to a plain-HTTP port fails "
    "(AWS_IO_SOCKET_CLOSED)",
    ("http", "boto3-crt", "stream"): "needs a seekable body, and TLS is forced (see file)",
}


def jobs_for(tools: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(tool, case) pairs of ``tools``, in the order given."""
    return [(t, c) for t in tools for c in CASES if (t, c) in CALLS]


def s3stream_cli() -> str:
    """The ``s3stream`` command next to the running interpreter (the project's .venv)."""
    beside = Path(sys.executable).parent / "s3stream"
    if beside.exists():
        return str(beside)
    found = shutil.which("s3stream")
    if found is None:
        raise SystemExit("the s3stream command is missing: run scripts/setup.sh")
    return found


def cli_size(n: int) -> str:
    """A byte count as the s3stream CLI writes sizes (``16MiB``)."""
    return f"{n // MiB}MiB" if n % MiB == 0 else str(n)


def command_for(
    tool: str,
    case: str,
    path: Path,
    key: str,
    *,
    endpoint_url: str,
    store_env: Mapping[str, str],
    presigned_url: str | None,
    part_size: int,
    concurrency: int,
    aws_config: Path,
) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment of one command tool's upload."""
    url = f"s3://{BUCKET}/{key}"
    ca_bundle = store_env.get("AWS_CA_BUNDLE")
    if tool == "s3stream-cli":
        source = str(path) if case == "file" else "-"
        trust = ["--ca-bundle", ca_bundle] if ca_bundle else []
        return [
            s3stream_cli(),
            "cp",
            "--quiet",
            "--endpoint-url",
            endpoint_url,
            *trust,
            "--part-size",
            cli_size(part_size),
            "--concurrency",
            str(concurrency),
            source,
            url,
        ], {}
    if tool == "s5cmd":
        mib = str(part_size // MiB)
        sub = (
            ["cp", "-p", mib, "-c", str(concurrency), str(path), url]
            if case == "file"
            else ["pipe", "-p", mib, "-c", str(concurrency), url]
        )
        return [bench_binary("s5cmd"), "--endpoint-url", endpoint_url, *sub], {}
    if tool == "rclone":
        extra = {
            "RCLONE_CONFIG": os.devnull,
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": endpoint_url,
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": store_env["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": store_env["AWS_SECRET_ACCESS_KEY"],
            "RCLONE_CONFIG_S3_REGION": store_env["AWS_REGION"],
            "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        }
        flags = [
            f"--s3-chunk-size={part_size // MiB}Mi",
            f"--s3-upload-concurrency={concurrency}",
            "--s3-upload-cutoff=5Mi",
            *([f"--ca-cert={ca_bundle}"] if ca_bundle else []),
        ]
        target = f"s3:{BUCKET}/{key}"
        sub = ["copyto", str(path), target] if case == "file" else ["rcat", target]
        return [bench_binary("rclone"), *sub, *flags], extra
    if tool == "aws":
        source = str(path) if case == "file" else "-"
        return [
            bench_binary("aws"),
            "--endpoint-url",
            endpoint_url,
            "s3",
            "cp",
            "--only-show-errors",
            "--no-progress",
            source,
            url,
        ], {"AWS_CONFIG_FILE": str(aws_config)}
    if tool == "curl":
        if presigned_url is None:
            raise ValueError("curl needs a presigned URL")
        trust = ["--cacert", ca_bundle] if ca_bundle else []
        return [
            bench_binary("curl"),
            "--silent",
            "--show-error",
            "--fail",
            *trust,
            "--output",
            os.devnull,
            "-T",
            str(path),
            presigned_url,
        ], {}
    raise ValueError(tool)


def write_aws_config(directory: Path, part_size: int, concurrency: int) -> Path:
    """The AWS CLI's config file with the part size and concurrency."""
    path = directory / "aws-config"
    path.write_text(
        "[default]\n"
        "s3 =\n"
        f"  multipart_chunksize = {part_size // MiB}MB\n"
        f"  multipart_threshold = {part_size // MiB}MB\n"
        f"  max_concurrent_requests = {concurrency}\n"
    )
    return path


def within_bound(row: Mapping[str, Any]) -> bool | None:
    """Whether a row's peak RSS is within base + formula + :data:`MEMORY_SLACK_MIB`; None
    when the row has no bound."""
    memory = row.get("memory") or {}
    if "bound_mib" not in memory:
        return None
    return bool(row["peak_rss_mib"] <= memory["bound_mib"] + MEMORY_SLACK_MIB)
