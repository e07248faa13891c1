"""What ``s3stream serve`` runs (imported by :mod:`.serve` only when it runs, with the
``server`` extra there): the gateway (tus + presign + health + page) on uvicorn.

With no ``--endpoint-url`` the embedded SeaweedFS store is started (data in ``--data-dir``),
so ``s3stream serve`` alone works on a fresh machine. This module is wiring only: it reads
flags and the environment (``S3STREAM_TOKENS``) and builds the objects of the layers below.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from s3stream.checksums import ChecksumAlgorithm
from s3stream.cli.attributes import object_defaults
from s3stream.cli.settings import Settings
from s3stream.errors import ConfigError
from s3stream.gateway.access import AccessLog
from s3stream.gateway.app import GatewayOptions, build_app
from s3stream.gateway.auth import TOKENS_ENV, load_tokens
from s3stream.gateway.hooks import Hooks
from s3stream.gateway.instance import MARKER_NAME, InstanceMarker
from s3stream.gateway.metrics import GatewayMetrics
from s3stream.gateway.presign import PresignAPI, Presigner, PresignSettings, part_checksum
from s3stream.gateway.ready import Readiness
from s3stream.gateway.s3store import ObjectAttributes, S3UploadStore
from s3stream.gateway.settings import TusSettings
from s3stream.gateway.threads import StoreThreads
from s3stream.gateway.timeouts import head_timeout_protocol
from s3stream.gateway.web import DirectUploads, PageMode, WebApp, require_tus_js, with_web
from s3stream.limits import MAX_OBJECT_SIZE, parse_size
from s3stream.resume.journal import default_journal_path
from s3stream.store.capabilities import Capabilities
from s3stream.store.cors import with_upload_origins
from s3stream.store.known import CapabilityCache
from s3stream.store.probe import Probe
from s3stream.store.profiles import AWS, SEAWEEDFS, profile
from s3stream.store.protocol import BucketCors
from s3stream.store.transport import open_store

if TYPE_CHECKING:
    from s3stream.store.boto import BotoStore
    from s3stream.store.http.store import HttpStore

log = logging.getLogger("s3stream.gateway")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Backend:
    store: BotoStore | HttpStore
    endpoint_url: str
    embedded: bool = False
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
        store = open_store(
            endpoint_url=args.endpoint_url,
            region=args.region,
            profile=args.profile,
            verify=False if args.no_verify_ssl else args.ca_bundle,
        )
        yield _Backend(store, args.endpoint_url)
        return
    from s3stream.embedded import EmbeddedS3

    os.makedirs(args.data_dir, exist_ok=True)
    server = EmbeddedS3(
        data_dir=args.data_dir,
        buckets=[args.bucket],
        access_key=os.environ.get("S3STREAM_EMBEDDED_ACCESS_KEY"),
        secret_key=os.environ.get("S3STREAM_EMBEDDED_SECRET_KEY"),
        tls=args.store_tls,
    )
    with server:
        store = open_store(
            endpoint_url=server.endpoint_url,
            region=server.region,
            keys=(server.access_key, server.secret_key),
            verify=server.ca_bundle,
        )
        log.info(
            "embedded S3 store at %s (data in %s%s)",
            server.endpoint_url,
            server.data_dir,
            "" if server.ca_bundle is None else f"; its CA {server.ca_bundle}",
        )
        yield _Backend(store, server.endpoint_url, embedded=True, capabilities=SEAWEEDFS)


def check_auth(args: argparse.Namespace) -> list[str]:
    """The tokens; refuses to serve a non-loopback address without any (unless --no-auth)."""
    tokens = load_tokens(args.token, token_file=args.token_file)
    if not tokens and not is_loopback(args.host) and not args.no_auth:
        raise ConfigError(
            f"binding {args.host} needs bearer tokens (--token, {TOKENS_ENV} or --token-file), "
            "or --no-auth"
        )
    return tokens


def server_tls(args: argparse.Namespace) -> tuple[str, str] | None:
    """The certificate and key to serve HTTPS with (``--tls-cert``/``--tls-key``, both or
    neither), checked as the server will load them: readable, PEM, the key the certificate's
    and not encrypted; ``None`` for plain HTTP."""
    cert, key = args.tls_cert, args.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        raise ConfigError(f"{given} needs {missing}: pass the certificate and its key, or neither")
    for flag, path, marker, what in (
        ("--tls-cert", cert, "-----BEGIN CERTIFICATE-----", "a PEM certificate"),
        ("--tls-key", key, "PRIVATE KEY-----", "a PEM private key"),
    ):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError as exc:
            raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
        if marker not in text:
            raise ConfigError(f"{flag} {path}: not {what}")
    if "ENCRYPTED PRIVATE KEY-----" in text or "Proc-Type: 4,ENCRYPTED" in text:
        raise ConfigError(
            f"--tls-key {key} is encrypted: give it unencrypted "
            f"(openssl pkey -in {key} -out plain-key.pem)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"--tls-key {key} is not the key of --tls-cert {cert}: pass the key the "
                "certificate was made for"
            ) from None
        raise ConfigError(f"--tls-cert {cert}, --tls-key {key}: cannot load them ({exc})") from None
    return cert, key


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def object_attributes(args: argparse.Namespace) -> ObjectAttributes:
    """The operator's attribute defaults and the tus metadata keys clients may use."""
    allowed: dict[str, str] = {}
    for pair in args.tus_metadata:
        key, sep, attribute = pair.partition("=")
        if not sep or not key.strip() or not attribute.strip():
            raise ConfigError(f"--tus-metadata {pair!r}: write KEY=ATTRIBUTE, e.g. tags=tagging")
        allowed[key.strip()] = attribute.strip()
    return ObjectAttributes(object_defaults(Settings.from_args(args)), allowed)


def page_origins(args: argparse.Namespace) -> list[str]:
    """The origins the page is served from (and the gateway's ``--cors-origin`` s)."""
    hosts = ["127.0.0.1", "localhost"] if is_loopback(args.host) else [args.host]
    scheme = "https" if args.tls_cert else "http"
    ours = [f"{scheme}://{host}:{args.port}" for host in hosts if ":" not in host]
    return list(dict.fromkeys([*ours, *args.cors_origin]))


def allow_page_uploads(objects: BucketCors, bucket: str, origins: list[str]) -> None:
    """Let the page (on ``origins``) upload into ``bucket`` directly: its CORS rule."""
    objects.put_cors(bucket, with_upload_origins(objects.get_cors(bucket), origins))
    log.info("bucket %s: CORS rule for %s", bucket, ", ".join(origins))


def build_from_args(
    args: argparse.Namespace,
    store: BotoStore | HttpStore,
    *,
    capabilities: Capabilities = AWS,
    embedded: bool = False,
    tus_js: Path | None = None,
) -> tuple[Any, S3UploadStore, list[str]]:
    """The ASGI app for ``args`` over ``store`` with its ``capabilities`` (the page serving
    ``tus_js``, else the bundle :func:`~s3stream.gateway.web.vendor.find_tus_js` finds), its
    upload store, and the tokens it accepts; on the embedded store (``embedded``) the
    bucket's CORS rule is set for the page's origins."""
    tokens = check_auth(args)
    attributes = object_attributes(args)
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
    try:
        checksum = None if args.checksum is None else ChecksumAlgorithm.parse(args.checksum)
    except ValueError as exc:
        raise ConfigError(f"--checksum: {exc}") from None
    objects = store.objects
    threads = StoreThreads(args.store_threads)
    metrics = GatewayMetrics()
    upload_store = S3UploadStore(
        store,
        objects,
        args.bucket,
        key_prefix=args.prefix,
        part_size=part_size,
        max_buffers=args.max_buffers,
        pipeline_parts=args.pipeline_parts,
        checksum=checksum,
        no_clobber=args.no_clobber,
        lease_ttl=args.lease_ttl,
        threads=threads,
        metrics=metrics,
        attributes=attributes,
        capabilities=capabilities,
        max_parts=args.max_parts,
        equal_parts=args.equal_parts,
    )
    presign = None
    direct = None
    if not args.no_presign:
        presign_settings = PresignSettings(
            key_prefix=args.prefix,
            naming=args.naming,
            no_clobber=args.no_clobber,
            max_size=max_size,
            expires_in=args.presign_expires,
            expiration=expiration,
            part_size=part_size,
            checksum=part_checksum(upload_store.algorithm),
        )
        presigner = Presigner(
            store, objects, args.bucket, presign_settings, defaults=attributes.defaults
        )
        presign = PresignAPI(presigner, threads)
        direct = DirectUploads.for_settings(presign_settings)
    elif args.page_mode == "direct":
        raise ConfigError("--page-mode direct needs the presign API: drop --no-presign")
    if embedded:
        allow_page_uploads(objects, args.bucket, page_origins(args))
    options = GatewayOptions(
        tokens=tokens,
        cors_origins=args.cors_origin,
        hooks=Hooks(webhook_url=args.webhook_url, bucket=args.bucket),
        presign=presign,
        readiness=Readiness(
            objects, args.bucket, threads, prefix=args.prefix, endpoint=str(store.endpoint_url)
        ),
        metrics=metrics,
        access_log=False,  # one access log around the gateway and its page, below
    )
    page = WebApp.for_store(
        upload_store,
        tokens=tokens,
        base_path=args.base_path,
        presign_expires=args.presign_expires,
        tus_js=tus_js,
        mode=PageMode(args.page_mode, direct, objects, args.bucket, threads),
    )
    app = with_web(build_app(upload_store, settings, options), page)
    return AccessLog(app, metrics, settings.base_path), upload_store, tokens


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted (0); a configuration error (the page's bundle, the
    tokens, the uvicorn release) is a :class:`ConfigError` before anything starts."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_auth(args)
    object_attributes(args)  # the configuration first: nothing is started for a bad one
    tls = server_tls(args)
    if args.store_tls and args.endpoint_url:
        raise ConfigError(
            "--store-tls is for the embedded store: give --endpoint-url as https://… "
            "(and --ca-bundle FILE for a private CA) instead"
        )
    tus_js = require_tus_js()
    protocol = head_timeout_protocol(args.header_timeout)
    try:
        with _backend(args) as backend, _instance(args, backend) as single:
            app, upload_store, tokens = build_from_args(
                args,
                backend.store,
                capabilities=store_capabilities(args, backend),
                embedded=backend.embedded,
                tus_js=tus_js,
            )
            single(upload_store)
            host = f"[{args.host}]" if ":" in args.host else args.host
            origin = f"{'https' if tls else 'http'}://{host}:{args.port}"
            print(
                f"s3stream gateway: tus endpoint {origin}{args.base_path} "
                f"-> s3://{args.bucket}/{args.prefix} ({backend.endpoint_url}); "
                f"auth {'on, ' + str(len(tokens)) + ' token(s)' if tokens else 'off'}\n"
                f"s3stream gateway: upload page {origin}/ (Ctrl-C stops)",
                flush=True,
            )
            config = uvicorn.Config(
                app,
                host=args.host,
                port=args.port,
                http=protocol,
                lifespan="on",
                timeout_keep_alive=int(args.keep_alive_timeout),
                log_level=args.log_level.lower(),
                access_log=False,
                ssl_certfile=None if tls is None else tls[0],
                ssl_keyfile=None if tls is None else tls[1],
            )
            # uvicorn re-raises a captured SIGTERM once it has shut down: turn it into a normal
            # exit so the embedded store is stopped on the way out
            previous = signal.signal(signal.SIGTERM, _exit_on_signal)
            try:
                uvicorn.Server(config).run()
            finally:
                signal.signal(signal.SIGTERM, previous)
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


__all__ = ["build_from_args", "check_auth", "is_loopback", "serve"]
