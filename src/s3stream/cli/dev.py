"""``s3stream dev``: a local S3 store (the embedded SeaweedFS) in the foreground.

The data directory keeps the objects, and a small ``s3stream-dev.json`` with the store's
credentials, region and port, created with random credentials on first use: the exported
environment stays valid across restarts. Exports go to stdout (and nothing else does), so
``s3stream dev --print-env`` can be ``eval``'d in another shell.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from s3stream.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    HelpFormatter,
    UsageError,
    eprint,
    parse_s3_url,
)
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.settings import state_home
from s3stream.embedded.process import EmbeddedStoreError, find_weed_binary
from s3stream.errors import ConfigError
from s3stream.store.cors import with_upload_origins

if TYPE_CHECKING:  # botocore loads only when the store runs
    from s3stream.embedded.seaweed import EmbeddedS3

STATE_FILE = "s3stream-dev.json"
DEFAULT_BUCKET = "dev"
PAGE_ORIGINS = ("http://127.0.0.1:8080", "http://localhost:8080")
"""Where `s3stream serve`'s upload page runs by default: allowed to upload into the buckets."""
POLL_INTERVAL = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

DESCRIPTION = """\
Run a local S3-compatible store (SeaweedFS, on 127.0.0.1 only) in the
foreground until Ctrl-C or SIGTERM, with real SigV4 credentials. Prints
`export AWS_...` lines for it on stdout first. Objects, credentials and the port
are kept in the data directory, so the exports stay valid across restarts.
Each bucket gets a CORS rule that lets a web page on the --cors-origin s (by
default `s3stream serve`'s page) upload into it directly."""

EPILOG = """\
examples:
  s3stream dev                                   # bucket "dev", data in ~/.local/state
  s3stream dev --dir ./s3data --port 8333 --bucket media --bucket logs
  s3stream dev --cors-origin http://localhost:5173   # your web app uploads directly
  s3stream dev --tls                             # HTTPS; exports AWS_CA_BUNDLE too
  eval "$(s3stream dev --print-env)"             # in another shell: use the store
  s3stream cp video.mp4 s3://dev/

default data directory: $XDG_STATE_HOME/s3stream/dev (~/.local/state/s3stream/dev)

exit codes:
  0    stopped by Ctrl-C or SIGTERM (or --print-env done)
  1    the store could not start, or stopped on its own
  2    usage error"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dev",
        help="run a local S3 store for development and print its environment",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dir", metavar="DIR", help="data directory (kept)")
    parser.add_argument(
        "--port",
        metavar="PORT",
        type=_port,
        help="S3 port on 127.0.0.1 (default: the last run's, else a free one)",
    )
    parser.add_argument(
        "--bucket",
        metavar="NAME",
        action="append",
        help=f"bucket to create if missing; repeatable (default: {DEFAULT_BUCKET})",
    )
    parser.add_argument("--region", metavar="REGION", help="region name (default us-east-1)")
    parser.add_argument(
        "--cors-origin",
        metavar="URL",
        action="append",
        help="a web page origin allowed to upload into the buckets; repeatable "
        f"(default: {' and '.join(PAGE_ORIGINS)})",
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve HTTPS with a certificate from a local CA kept in the data directory "
        "(exported as AWS_CA_BUNDLE; default: as the last run)",
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print the exports for the store of --dir and exit (the store may run elsewhere)",
    )
    parser.set_defaults(run=run)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 1 to 65535")
    return int(text)


@dataclass(slots=True)
class DevState:
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    port: int | None = None
    tls: bool = False

    @classmethod
    def new(cls) -> DevState:
        access_key = "S3S" + secrets.token_hex(8).upper()
        return cls(access_key=access_key, secret_key=secrets.token_hex(20))


def default_dir() -> Path:
    return state_home() / "s3stream" / "dev"


def load_state(data_dir: Path) -> DevState | None:
    path = data_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        port = raw.get("port")
        return DevState(
            access_key=str(raw["access_key"]),
            secret_key=str(raw["secret_key"]),
            region=str(raw.get("region") or "us-east-1"),
            port=int(port) if port else None,
            tls=bool(raw.get("tls", False)),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is unreadable ({exc}): fix or remove it") from None


def save_state(data_dir: Path, state: DevState) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(state), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _port_is_free(port: int) -> bool:
    """Whether the embedded store will accept ``port`` (it binds without SO_REUSEADDR)."""
    for host in ("", "127.0.0.1"):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def exports(env: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.dir).expanduser() if args.dir else default_dir()
    buckets: list[str] = args.bucket or [DEFAULT_BUCKET]
    for bucket in buckets:
        if "/" in bucket:
            raise UsageError(f"invalid bucket name {bucket!r}: give a name, not a path")
        parse_s3_url(f"s3://{bucket}")
    origins: list[str] = args.cors_origin or list(PAGE_ORIGINS)
    try:
        with_upload_origins((), origins)
    except ConfigError as exc:
        raise UsageError(f"--cors-origin: {exc}") from None
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"{data_dir} is not a directory: give another --dir")
    find_weed_binary()  # without the embedded extra: one line naming it, nothing written
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = load_state(data_dir) or DevState.new()
    if args.region:
        state.region = args.region
    if args.tls is not None:
        state.tls = args.tls
    port = args.port or state.port
    if args.print_env:
        state.port = port or _free_port()
        save_state(data_dir, state)
        print(exports(_store(data_dir, buckets, state, state.port).env()), end="", flush=True)
        return EXIT_OK
    if args.port is None and port is not None and not _port_is_free(port):
        # The last run's port is taken: by another store on this directory, or only by
        # TIME_WAIT connections of the last run (which the embedded store's check refuses).
        eprint(
            f"s3stream dev: port {port} of the last run is busy; using a free port "
            "(export the new environment below)"
        )
        port = None
    save_state(data_dir, state)
    store = _store(data_dir, buckets, state, port)
    try:
        with Interrupts():  # a signal during startup stops the half-started store too
            store.start()
    except EmbeddedStoreError as exc:
        hint = (
            " (another store may be using it; one that just stopped frees it within a "
            "minute; or pass another --port)"
            if "not free" in str(exc)
            else f" (log: {store.log_path})"
        )
        raise EmbeddedStoreError(f"{str(exc).splitlines()[0]}{hint}") from exc
    with _stop_signals() as received:
        try:
            from s3stream.store.boto.objects import BotoObjects

            objects = BotoObjects(store.client())
            for bucket in buckets:
                objects.put_cors(bucket, with_upload_origins(objects.get_cors(bucket), origins))
            state.port = store.port
            save_state(data_dir, state)
            print(exports(store.env()), end="", flush=True)
            eprint(
                f"s3stream dev: S3 on {store.endpoint_url} (region {store.region}), "
                f"bucket(s) {', '.join(buckets)}; data in {data_dir}"
            )
            eprint(
                "s3stream dev: Ctrl-C to stop; in another shell: "
                f'eval "$(s3stream dev --print-env --dir {shlex.quote(str(data_dir))})"'
            )
            return _serve(store, received)
        finally:
            store.stop()


def _store(data_dir: Path, buckets: list[str], state: DevState, port: int | None) -> EmbeddedS3:
    from s3stream.embedded.seaweed import EmbeddedS3

    return EmbeddedS3(
        data_dir=data_dir,
        buckets=buckets,
        port=port,
        access_key=state.access_key,
        secret_key=state.secret_key,
        region=state.region,
        tls=state.tls,
    )


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Collect SIGINT, SIGTERM and SIGHUP (instead of dying) while serving and stopping."""
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(store: EmbeddedS3, received: list[int]) -> int:
    """Wait for a stop signal (exit 0) or for the store to die (exit 1)."""
    while not received:
        if not store.running:
            eprint(f"s3stream: error: the store stopped on its own: see {store.log_path}")
            return EXIT_FAILED
        time.sleep(POLL_INTERVAL)
    eprint(f"s3stream dev: {signal.Signals(received[0]).name}: stopping the store")
    return EXIT_OK
