"""``s3stream serve``: run the gateway (tus + presign + health) with uvicorn.

``add_parser(subparsers)`` registers the command on the CLI's argparse tree and ``run(args)``
executes it. With no ``--endpoint-url``
the embedded SeaweedFS store is started (data in ``--data-dir``), so ``s3stream serve``
alone works on a fresh machine. This module is wiring only: it reads flags and the
environment (``S3STREAM_TOKENS``) and builds the objects of the layers below.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from s3stream.errors import ConfigError
from s3stream.gateway.app import GatewayOptions, build_app
from s3stream.gateway.auth import TOKENS_ENV, load_tokens
from s3stream.gateway.hooks import Hooks
from s3stream.gateway.instance import MARKER_NAME, InstanceMarker
from s3stream.gateway.presign import PresignAPI, Presigner
from s3stream.gateway.s3store import S3UploadStore
from s3stream.gateway.settings import TusSettings
from s3stream.gateway.threads import DEFAULT_THREADS, StoreThreads
from s3stream.gateway.timeouts import DEFAULT_HEADER_TIMEOUT, head_timeout_protocol
from s3stream.gateway.web import WebApp, with_web
from s3stream.limits import MAX_OBJECT_SIZE, parse_size
from s3stream.resume.journal import default_journal_path
from s3stream.store.boto import BotoObjects, BotoStore, make_client
from s3stream.store.capabilities import Capabilities
from s3stream.store.known import CapabilityCache
from s3stream.store.probe import Probe
from s3stream.store.profiles import AWS, SEAWEEDFS, profile

log = logging.getLogger("s3stream.gateway")

DEFAULT_PORT = 8080
DEFAULT_BUCKET = "uploads"

DESCRIPTION = """\
Run the upload gateway: a tus 1.0 resumable-upload server at /files/ that streams
every upload into S3 multipart (checksum, expiration, concatenation, deferred
length, termination), presigned direct-to-S3 URLs under /s3/, and /health.
With no --endpoint-url it starts the embedded SeaweedFS store, so `s3stream
serve` alone works on a fresh machine. Bound to a non-loopback address it
requires bearer tokens (--token, --token-file or S3STREAM_TOKENS)."""

EPILOG = """\
examples:
  s3stream serve                                   # 127.0.0.1:8080, embedded store
  s3stream serve --endpoint-url https://s3.example.com --bucket uploads \\
      --host 0.0.0.0 --token-file /etc/s3stream/tokens
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
        default=DEFAULT_THREADS,
        help="threads for store calls, shared by all requests; a part streamed while its "
        "request arrives holds one, so keep it above --max-buffers (%(default)s)",
    )
    s3.add_argument(
        "--lease-ttl",
        type=float,
        default=30.0,
        help="seconds an upload's lease outlives a crashed process that held it (%(default)s)",
    )

    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    net.add_argument("--base-path", default="/files/", help="tus endpoint (%(default)s)")
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
    net.add_argument("--cors-origin", action="append", default=[], help="allowed CORS origin")
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
        default=DEFAULT_HEADER_TIMEOUT,
        help="seconds a client has to send a request head (and an unread body) before its "
        "connection is closed (slowloris); 0: no limit (%(default)s)",
    )
    net.add_argument("--no-presign", action="store_true", help="disable the /s3/ endpoints")
    net.add_argument("--presign-expires", type=int, default=3600, help="URL lifetime seconds")
    net.add_argument("--trust-forwarded", action="store_true", help="honour X-Forwarded-*")
    net.add_argument("--log-level", default="info", help="logging level (%(default)s)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Backend:
    store: BotoStore
    endpoint_url: str
    capabilities: Capabilities | None = None
    """Known without asking (the embedded store)."""


def store_capabilities(args: argparse.Namespace, backend: _Backend) -> Capabilities:
    """What the store can do: the profile named (flag, then ``S3STREAM_STORE_PROFILE``),
    the embedded store's, a full probe cached by ``s3stream doctor`` (or an earlier start),
    else a full probe now, which checks among the rest that conditional writes hold."""
    named = args.store_profile or os.environ.get("S3STREAM_STORE_PROFILE")
    if named:
        return profile(named)
    if backend.capabilities is not None:
        return backend.capabilities
    store = backend.store
    cache = CapabilityCache(default_journal_path().with_name("stores.json"))
    cached = cache.get(store.endpoint_url, args.bucket)
    if cached is not None and cached[1].get("full"):
        log.info("store capabilities from %s", cache.path)
        return cached[0]
    log.info("probing %s (bucket %s)", store.endpoint_url, args.bucket)
    report = Probe(store, store.objects, args.bucket, args.prefix).run()
    cache.put(store.endpoint_url, args.bucket, report)
    return report.capabilities


@contextlib.contextmanager
def _backend(args: argparse.Namespace) -> Iterator[_Backend]:
    """The S3 client: the given endpoint, or an embedded store started for the server."""
    if args.endpoint_url:
        client = make_client(
            endpoint_url=args.endpoint_url,
            region=args.region,
            profile=args.profile,
            verify=False if args.no_verify_ssl else args.ca_bundle,
        )
        yield _Backend(BotoStore(client), args.endpoint_url)
        return
    from s3stream.embedded import EmbeddedS3

    os.makedirs(args.data_dir, exist_ok=True)
    server = EmbeddedS3(
        data_dir=args.data_dir,
        buckets=[args.bucket],
        access_key=os.environ.get("S3STREAM_EMBEDDED_ACCESS_KEY"),
        secret_key=os.environ.get("S3STREAM_EMBEDDED_SECRET_KEY"),
    )
    with server:
        client = make_client(
            endpoint_url=server.endpoint_url,
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
        log.info("embedded S3 store at %s (data in %s)", server.endpoint_url, server.data_dir)
        yield _Backend(BotoStore(client), server.endpoint_url, SEAWEEDFS)


def check_auth(args: argparse.Namespace) -> list[str]:
    """The tokens; refuses to serve a non-loopback address without any (unless --no-auth)."""
    tokens = load_tokens(args.token, token_file=args.token_file)
    if not tokens and not is_loopback(args.host) and not args.no_auth:
        raise ConfigError(
            f"binding {args.host} needs bearer tokens (--token, {TOKENS_ENV} or --token-file), "
            "or --no-auth"
        )
    return tokens


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_from_args(
    args: argparse.Namespace, store: BotoStore, capabilities: Capabilities = AWS
) -> tuple[Any, S3UploadStore, list[str]]:
    """The ASGI app for ``args`` over ``store``, its upload store, and the tokens it
    accepts."""
    tokens = check_auth(args)
    part_size = _size(args.part_size)
    max_size = MAX_OBJECT_SIZE if args.max_size is None else _size(args.max_size)
    expiration = args.expiration if args.expiration > 0 else None
    settings = TusSettings(
        base_path=args.base_path,
        max_size=max_size,
        max_metadata_bytes=args.max_metadata,
        expiration=expiration,
        body_timeout=args.body_timeout,
        key_prefix=args.prefix,
        naming=args.naming,
        no_clobber=args.no_clobber,
        max_uploads_per_owner=args.max_uploads_per_token,
        trust_forwarded=args.trust_forwarded,
    )
    if args.store_threads <= args.max_buffers:
        raise ConfigError(
            f"--store-threads {args.store_threads} must exceed --max-buffers "
            f"{args.max_buffers}: each streamed part holds a thread"
        )
    objects = BotoObjects(store.client)
    threads = StoreThreads(args.store_threads)
    upload_store = S3UploadStore(
        store,
        objects,
        args.bucket,
        key_prefix=args.prefix,
        part_size=part_size,
        max_buffers=args.max_buffers,
        pipeline_parts=args.pipeline_parts,
        checksum=args.checksum,
        no_clobber=args.no_clobber,
        lease_ttl=args.lease_ttl,
        threads=threads,
        capabilities=capabilities,
        max_parts=args.max_parts,
        equal_parts=args.equal_parts,
    )
    presign = None
    if not args.no_presign:
        presign = PresignAPI(
            Presigner(store, objects, args.bucket, args.prefix, args.presign_expires), threads
        )
    options = GatewayOptions(
        tokens=tokens,
        cors_origins=args.cors_origin,
        hooks=Hooks(webhook_url=args.webhook_url, bucket=args.bucket),
        presign=presign,
    )
    page = WebApp.for_store(
        upload_store,
        tokens=tokens,
        base_path=args.base_path,
        presign_expires=args.presign_expires,
    )
    return with_web(build_app(upload_store, settings, options), page), upload_store, tokens


def run(args: argparse.Namespace) -> int:
    """Run the server until interrupted; 0 on a clean stop, 2 on a configuration error."""
    import uvicorn

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        check_auth(args)
        with _backend(args) as backend, _instance(args, backend) as single:
            caps = store_capabilities(args, backend)
            app, upload_store, tokens = build_from_args(args, backend.store, caps)
            single(upload_store)
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(
                f"s3stream gateway: tus endpoint http://{host}:{args.port}{args.base_path} "
                f"-> s3://{args.bucket}/{args.prefix} ({backend.endpoint_url}); "
                f"auth {'on, ' + str(len(tokens)) + ' token(s)' if tokens else 'off'}\n"
                f"s3stream gateway: upload page http://{host}:{args.port}/ (Ctrl-C stops)",
                flush=True,
            )
            config = uvicorn.Config(
                app,
                host=args.host,
                port=args.port,
                http=head_timeout_protocol(args.header_timeout),
                lifespan="on",
                timeout_keep_alive=int(args.keep_alive_timeout),
                log_level=args.log_level.lower(),
                access_log=False,
            )
            # uvicorn re-raises a captured SIGTERM once it has shut down: turn it into a normal
            # exit so the embedded store is stopped on the way out
            previous = signal.signal(signal.SIGTERM, _exit_on_signal)
            try:
                uvicorn.Server(config).run()
            finally:
                signal.signal(signal.SIGTERM, previous)
    except ConfigError as exc:
        print(f"s3stream serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


@contextlib.contextmanager
def _instance(
    args: argparse.Namespace, backend: _Backend
) -> Iterator[Callable[[S3UploadStore], None]]:
    """Says how this gateway may share its uploads; where the store does not honour
    conditional writes, claims the bucket prefix for this one instance until it stops."""
    markers: list[InstanceMarker] = []

    def claim(upload_store: S3UploadStore) -> None:
        where = f"s3://{args.bucket}/{args.prefix}"
        caps = upload_store.capabilities
        if not upload_store.single_instance:
            print(
                f"s3stream gateway: store {caps.name}: conditional writes honoured: "
                f"several gateways may serve {where}",
                flush=True,
            )
            return
        key = f"{upload_store.state_prefix}{MARKER_NAME}"
        marker = InstanceMarker(backend.store.objects, args.bucket, key, ttl=args.lease_ttl)
        marker.claim()
        markers.append(marker)
        print(
            f"s3stream gateway: store {caps.name} does not honour conditional writes: this "
            f"gateway must be the only one serving {where} (in-process locks; a second one "
            "is refused)",
            flush=True,
        )

    try:
        yield claim
    finally:
        for marker in markers:
            marker.release()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


__all__ = ["DEFAULT_BUCKET", "DEFAULT_PORT", "add_parser", "run"]
