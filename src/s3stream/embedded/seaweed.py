"""Embedded S3-compatible store: a SeaweedFS ``weed mini`` process bound to 127.0.0.1 only.

Used by the test suite and by the CLI when no real S3 endpoint is given. Every listener of
the server is pinned to a free port on 127.0.0.1, requests are checked with real SigV4
credentials, and the server's output goes to ``weed.log`` in the data directory. With
``tls=True`` the S3 API serves HTTPS with a certificate signed by a local CA made in the data
directory (:mod:`s3stream.embedded.tls`); clients trust :attr:`EmbeddedS3.ca_bundle`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import secrets
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from s3stream.config import validate_bucket
from s3stream.embedded.process import (
    HOST,
    EmbeddedStoreError,
    allocate_ports,
    find_weed_binary,
    kill_group,
    scrubbed_environ,
    terminate_group,
)
from s3stream.errors import AlreadyExists, MissingExtra, StoreError
from s3stream.store.boto.errors import translated
from s3stream.store.types import CREATE

if TYPE_CHECKING:
    from s3stream.embedded.tls import TlsFiles

__all__ = ["EmbeddedS3"]

log = logging.getLogger(__name__)

_LOG_NAME = "weed.log"
_IDENTITIES_NAME = "s3stream-identities.json"
# weed mini saves its flags here and re-applies them on the next start; we pass all we need.
_SAVED_OPTIONS_NAME = "mini.options"
_VOLUME_SIZE_LIMIT_MB = 256
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.1
_TLS_DIR = "s3stream-tls"


def _certificates(directory: Path) -> TlsFiles:
    """The local CA's files (the ``embedded`` extra's ``cryptography`` makes them)."""
    try:
        from s3stream.embedded.tls import local_certificates
    except ImportError as exc:
        raise MissingExtra("the embedded store's TLS", ("embedded",), (exc.name or "",)) from exc
    return local_certificates(directory)


class EmbeddedS3:
    """A SeaweedFS S3 store in a child process, listening on 127.0.0.1 only.

    With ``data_dir=None`` the data lives in a temporary directory removed by :meth:`stop`;
    a given directory is kept, so a new instance on the same directory sees the old objects.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        buckets: Sequence[str] = (),
        port: int | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        weed_binary: str | None = None,
        startup_timeout: float = 60.0,
        tls: bool = False,
    ) -> None:
        for bucket in buckets:
            validate_bucket(bucket)
        self._binary = find_weed_binary(weed_binary)
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._temporary = data_dir is None
        if data_dir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="s3stream-weed-")
            data_dir = self._tmpdir.name
        self._data_dir = Path(data_dir).resolve()
        self._buckets = tuple(buckets)
        self._requested_port = port
        self._access_key = access_key if access_key is not None else secrets.token_hex(10)
        self._secret_key = secret_key if secret_key is not None else secrets.token_hex(20)
        self._region = region
        self._startup_timeout = startup_timeout
        self._tls = _certificates(self._data_dir / _TLS_DIR) if tls else None
        self._ports: dict[str, tuple[int, int]] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- properties -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The S3 port (chosen on the first :meth:`start` unless given)."""
        if self._ports is None:
            if self._requested_port is None:
                raise EmbeddedStoreError("the embedded store has not been started yet")
            return self._requested_port
        return self._ports["s3"][0]

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the S3 API (``https://`` with ``tls``)."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        """The CA certificate file clients verify the store's certificate with (``tls``)."""
        return None if self._tls is None else str(self._tls.ca)

    @property
    def access_key(self) -> str:
        """Access key id of the store's only identity."""
        return self._access_key

    @property
    def secret_key(self) -> str:
        """Secret access key of the store's only identity."""
        return self._secret_key

    @property
    def region(self) -> str:
        """Region name clients should sign for."""
        return self._region

    @property
    def data_dir(self) -> Path:
        """Directory holding the store's data, configuration and log."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """File receiving the server's stdout and stderr."""
        return self._data_dir / _LOG_NAME

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it answers signed requests; no-op if running."""
        if self._proc is not None:
            return
        if self._temporary and self._tmpdir is None:
            raise EmbeddedStoreError("stop() removed this store's temporary data; make a new one")
        if self._ports is None:
            self._ports = allocate_ports(self._requested_port)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        (self._data_dir / _SAVED_OPTIONS_NAME).unlink(missing_ok=True)
        self._write_identities()
        with open(self.log_path, "ab") as log_file:
            proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self._data_dir,
                env=scrubbed_environ(),
                start_new_session=True,
            )
        self._proc = proc
        self._finalizer = weakref.finalize(self, terminate_group, proc, 5.0)
        log.info(
            "started weed (pid %d) for %s, data in %s", proc.pid, self.endpoint_url, self._data_dir
        )
        try:
            self._wait_ready()
        except BaseException:
            self._terminate(timeout=5.0)
            raise

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after *timeout*); idempotent.

        A temporary data directory is removed; a given one is kept.
        """
        self._terminate(timeout)
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would; the data directory is kept."""
        proc = self._detach()
        if proc is not None:
            kill_group(proc)
            self._remove_stale_sockets()
            log.info("killed weed (pid %d)", proc.pid)

    def restart(self, timeout: float = 3.0) -> None:
        """Stop the server and start it again on the same ports and data directory."""
        self._terminate(timeout)
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients ----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment variables pointing AWS SDKs and CLIs at this store (and telling
        s3stream which store it is, so that it need not probe it)."""
        env = {
            "AWS_ACCESS_KEY_ID": self._access_key,
            "AWS_SECRET_ACCESS_KEY": self._secret_key,
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "S3STREAM_STORE_PROFILE": "seaweedfs",
        }
        if self.ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env

    def client(self, *, endpoint_url: str | None = None, **config_kwargs: Any) -> Any:
        """A botocore S3 client for this store (SigV4, path-style); kwargs go to ``Config``.

        *endpoint_url* overrides the store's own, e.g. to go through a test proxy.
        """
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        if config_kwargs:
            config = config.merge(Config(**config_kwargs))
        return botocore.session.get_session().create_client(
            "s3",
            region_name=self._region,
            endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=config,
            verify=self.ca_bundle,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket *name* unless it already exists."""
        self._create_bucket(self.client(), name)

    # -- internals --------------------------------------------------------------------------

    def _command(self) -> list[str]:
        assert self._ports is not None
        args = [
            self._binary,
            "-logtostderr",
            "mini",
            f"-dir={self._data_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
        ]
        for service, (http_port, grpc_port) in self._ports.items():
            args += [f"-{service}.port={http_port}", f"-{service}.port.grpc={grpc_port}"]
        args += [
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",
            "-s3.autoCreateBucket=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={_VOLUME_SIZE_LIMIT_MB}",
            "-volume.preStopSeconds=0",
            f"-s3.config={self._data_dir / _IDENTITIES_NAME}",
        ]
        if self._buckets:
            args.append("-bucket=" + ",".join(self._buckets))
        if self._tls is not None:
            args += [f"-s3.cert.file={self._tls.cert}", f"-s3.key.file={self._tls.key}"]
        return args

    def _write_identities(self) -> None:
        """Write the S3 identity file: one admin identity with our key pair."""
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": self._access_key, "secretKey": self._secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self._data_dir / _IDENTITIES_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(identities, f)

    def _wait_ready(self) -> None:
        """Poll with signed requests until the store works and every bucket exists."""
        assert self._proc is not None
        client = self.client(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})
        started = time.monotonic()
        deadline = started + self._startup_timeout
        waiting_for: object = "the master to register the volume server"
        while True:
            if self._proc.poll() is not None:
                raise EmbeddedStoreError(
                    f"weed exited with status {self._proc.returncode} during startup"
                    f"{self._log_tail()}"
                )
            if self._volume_server_registered():
                try:
                    client.list_buckets()
                    for bucket in self._buckets:
                        self._create_bucket(client, bucket)
                except (BotoCoreError, ClientError, StoreError) as exc:
                    waiting_for = exc
                else:
                    log.info(
                        "embedded S3 store ready at %s after %.1fs",
                        self.endpoint_url,
                        time.monotonic() - started,
                    )
                    return
            if time.monotonic() >= deadline:
                raise EmbeddedStoreError(
                    f"weed did not become ready within {self._startup_timeout:.0f}s"
                    f" (still waiting for: {waiting_for}){self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _volume_server_registered(self) -> bool:
        """Whether the master knows the volume server, hence every stored volume.

        Until the first heartbeat (which lists all volumes) reads of existing objects fail.
        """
        assert self._ports is not None
        conn = http.client.HTTPConnection(HOST, self._ports["master"][0], timeout=2)
        try:
            conn.request("GET", "/dir/status")
            response = conn.getresponse()
            status = json.loads(response.read())
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return response.status == 200 and status.get("Topology", {}).get("Max", 0) > 0

    def _create_bucket(self, client: Any, name: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": name}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        with contextlib.suppress(AlreadyExists), translated("CreateBucket", CREATE):
            client.create_bucket(**kwargs)

    def _detach(self) -> subprocess.Popen[bytes] | None:
        """Forget the current process (and its exit-time finalizer); return it."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        return proc

    def _terminate(self, timeout: float) -> None:
        proc = self._detach()
        if proc is not None:
            terminate_group(proc, timeout)
            self._remove_stale_sockets()
            log.info("stopped weed (pid %d, status %s)", proc.pid, proc.returncode)

    def _remove_stale_sockets(self) -> None:
        """Remove the unix sockets weed leaves in /tmp (named after our ports) once it is gone."""
        assert self._ports is not None
        for pair in self._ports.values():
            for port in pair:
                for stale in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    stale.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                lines = f.read().decode(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(lines)
