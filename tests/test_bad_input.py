"""The bad-input catalogue (issue #7): what every door does with input it must refuse.

Tables of cases, one row each, with the error a user should see and a check that the
refusal left nothing behind:

- ``CLI_CASES``: the real ``s3stream`` in a subprocess against the embedded store. Exit 2 for
  usage errors, 1 for runtime failures, 130 for Ctrl-C; exactly one ``s3stream: error:``
  line on stderr (never a traceback) naming the fix; no object at the key (or the one that
  was there, unchanged), no multipart upload for it, no open entry in the resume journal.
- ``LIBRARY_CASES``: ``S3StreamUploader``, ``UploadConfig`` and upload sessions. The
  documented exception (``ConfigError``, ``SourceError``, ...) with a clear message; no
  object, no multipart upload, no open journal entry (or, after a successful upload, the
  object unchanged and its journal entry still ``completed``).
- ``TUS_CASES``: requests to the tus gateway, in-process against the in-memory and the S3
  upload store. The status the spec (or ``docs/gateway.md``) gives, ``Tus-Resumable`` on the
  answer, and no change at all: the reference upload's offset unmoved, and the store's
  objects, ETags and multipart uploads exactly as before. ``FILENAME_CASES`` sends hostile
  ``filename`` metadata, which is sanitised into a key under the prefix; ``RAW_CASES`` go
  to a real uvicorn gateway process (oversized headers, unnormalised ``..`` paths).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import io
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

import s3stream
from s3stream import (
    ConfigError,
    Journal,
    S3StreamError,
    S3StreamUploader,
    SourceError,
    UploadAborted,
    UploadConfig,
    UploadFailed,
)
from s3stream.embedded import EmbeddedS3
from s3stream.gateway import MemoryUploadStore, TusSettings, UploadStore
from s3stream.limits import GiB, MiB
from s3stream.store.boto import BotoStore, make_client
from tests.conftest import TEST_BUCKET
from tests.support.cli import (
    CLI,
    Running,
    cli_env,
    error_line,
    fetch,
    key_absent,
    run_cli,
    uploads_for,
)
from tests.support.gateway import (
    OCTET,
    TUS,
    Clock,
    GatewayProcess,
    TestClient,
    Tus,
    app_factory,
    make_s3_store,
    metadata,
    run,
    upload_id,
)

PART = 5 * MiB


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ============================================================================ CLI


@dataclass
class CliRun:
    """What a CLI case runs in: its files, its environment, its target."""

    tmp: Path
    env: dict[str, str]
    client: Any
    bucket: str
    key: str
    upload: str = ""
    """The multipart upload id a ``prepare`` step made (``{upload}`` in the arguments)."""

    @property
    def journal_path(self) -> Path:
        return self.tmp / "xdg-state" / "s3stream" / "journal.sqlite3"

    def expand(self, arg: str) -> str:
        return arg.format(
            src=self.tmp / "data.bin",
            dir=self.tmp,
            fifo=self.tmp / "pipe",
            config=self.tmp / "bad.toml",
            bucket=self.bucket,
            key=self.key,
            dst=f"s3://{self.bucket}/{self.key}",
            upload=self.upload,
        )


Runner = Callable[[list[str], dict[str, str], bytes | None], subprocess.CompletedProcess[str]]


def _plain(
    argv: list[str], env: dict[str, str], stdin: bytes | None
) -> subprocess.CompletedProcess[str]:
    return run_cli(argv, env, input=stdin, timeout=90)


def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions apply, even to root (tests run as root
    here): setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so
    the CLI it starts cannot override a mode of 000."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: root reads any file")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE: {probe.stderr!r}")
    return prefix


def _unprivileged(
    argv: list[str], env: dict[str, str], stdin: bytes | None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*_without_root_powers(), *CLI, *argv],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


def _fifo_then_ctrl_c(
    argv: list[str], env: dict[str, str], stdin: bytes | None
) -> subprocess.CompletedProcess[str]:
    """A FIFO is a stream: ``cp`` waits for its writer like ``cat`` (no error, nothing sent),
    and Ctrl-C ends the wait cleanly."""
    running = Running(argv, env)
    try:
        wchan = Path(f"/proc/{running.proc.pid}/wchan")
        deadline = time.monotonic() + 10  # in case the kernel hides wchan
        while time.monotonic() < deadline:
            assert running.proc.poll() is None, (running.stdout, running.stderr)
            with contextlib.suppress(OSError):
                if wchan.read_text() == "wait_for_partner":  # blocked opening the FIFO
                    break
            time.sleep(0.05)
        time.sleep(0.3)
        assert running.proc.poll() is None  # still waiting: a FIFO without writer is no error
        running.proc.send_signal(signal.SIGINT)
        code = running.finish(30)
    finally:
        running.kill()
    return subprocess.CompletedProcess(
        argv, code, "\n".join(running.stdout), "\n".join(running.stderr)
    )


def _follow_then(act: Callable[[Path], object]) -> Runner:
    """``cp --follow FILE s3://BUCKET/KEY ...``: once the multipart upload exists, ``act``
    on FILE (delete it, replace it), then let the command end."""

    def runner(
        argv: list[str], env: dict[str, str], stdin: bytes | None
    ) -> subprocess.CompletedProcess[str]:
        path = Path(argv[argv.index("--follow") + 1])
        bucket, _, key = next(a for a in argv if a.startswith("s3://"))[5:].partition("/")
        client = make_client(
            endpoint_url=env["AWS_ENDPOINT_URL_S3"],
            region=env["AWS_REGION"],
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        running = Running(argv, env)
        try:
            deadline = time.monotonic() + 30
            while not uploads_for(client, bucket, key):
                assert time.monotonic() < deadline and running.proc.poll() is None, running.stderr
                time.sleep(0.05)
            act(path)
            code = running.finish(30)
        finally:
            running.kill()
        return subprocess.CompletedProcess(
            argv, code, "\n".join(running.stdout), "\n".join(running.stderr)
        )

    return runner


def _replace(path: Path) -> None:
    """Another file renamed over ``path`` (as a recorder restarting into the same name)."""
    other = path.with_name("other.bin")
    other.write_bytes(b"another recording")
    other.replace(path)


@dataclass(frozen=True)
class CliCase:
    id: str
    args: tuple[str, ...]
    code: int
    expect: str
    """A part of the one error line (usually the part that names the fix)."""
    stdin: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    prepare: Callable[[CliRun], None] | None = None
    runner: Runner = _plain
    keeps: bytes | None = None
    """The object already at the key, which must be left as it was (None: no object)."""
    slow: bool = False
    """Started first, so that the quick cases overlap it."""


COMPLETED = b"c" * (PART + 1)


def _completed_upload(ctx: CliRun) -> None:
    """A multipart upload of ``COMPLETED`` that the CLI's journal records as completed."""
    client = make_client(
        endpoint_url=ctx.env["AWS_ENDPOINT_URL_S3"],
        region=ctx.env["AWS_REGION"],
        access_key=ctx.env["AWS_ACCESS_KEY_ID"],
        secret_key=ctx.env["AWS_SECRET_ACCESS_KEY"],
    )
    journal = Journal(ctx.journal_path)
    try:
        uploader = S3StreamUploader(store=BotoStore(client), journal=journal)
        result = uploader.upload_stream([COMPLETED], ctx.bucket, ctx.key, part_size=PART)
    finally:
        journal.close()
    assert result.upload_id is not None
    ctx.upload = result.upload_id


def _existing_object(ctx: CliRun) -> None:
    ctx.client.put_object(Bucket=ctx.bucket, Key=ctx.key, Body=b"original")


def _unreadable_file(ctx: CliRun) -> None:
    path = ctx.tmp / "secret.bin"
    path.write_bytes(b"secret")
    path.chmod(0)


def _tree_with_unreadable_file(ctx: CliRun) -> None:
    tree = ctx.tmp / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "ok.txt").write_bytes(b"fine")
    (tree / "sub" / "secret.bin").write_bytes(b"secret")
    (tree / "sub" / "secret.bin").chmod(0)


def _fifo(ctx: CliRun) -> None:
    os.mkfifo(ctx.tmp / "pipe")


def _recording(ctx: CliRun) -> None:
    """11 MiB of a recording in progress: two parts go out as soon as it is followed."""
    (ctx.tmp / "rec.bin").write_bytes(os.urandom(11 * MiB))


def _bad_config_file(ctx: CliRun) -> None:
    (ctx.tmp / "bad.toml").write_text('concurrency = "lots"\n')


CP = ("cp", "{src}", "{dst}")
FOLLOW_RECORDING = (
    *("cp", "--follow", "{dir}/rec.bin", "{dst}"),
    *("--part-size", "5MiB", "--idle", "60", "--quiet"),
)

CLI_CASES = [
    # sizes and numbers: exit 2 before any request
    CliCase(
        "part-size-3MiB", (*CP, "--part-size", "3MiB"), 2, "use a part size from 5.0 MiB to 5.0 GiB"
    ),
    CliCase(
        "part-size-6GiB",
        (*CP, "--part-size", "6GiB"),
        2,
        "part size 6.0 GiB is outside S3's limits",
    ),
    CliCase(
        "part-size-abc",
        (*CP, "--part-size", "abc"),
        2,
        "invalid size 'abc': use a number with an optional unit",
    ),
    CliCase("part-size-negative", (*CP, "--part-size", "-1"), 2, "invalid size '-1'"),
    CliCase("part-size-0", (*CP, "--part-size", "0"), 2, "--part-size 0: part size 0 B is outside"),
    CliCase(
        "concurrency-65",
        (*CP, "--concurrency", "65"),
        2,
        "--concurrency 65: use a whole number from 1 to 64",
    ),
    CliCase(
        "concurrency-abc", (*CP, "--concurrency", "abc"), 2, "--concurrency abc: use a whole number"
    ),
    CliCase(
        "concurrency-negative", (*CP, "--concurrency=-1"), 2, "--concurrency -1: use a whole number"
    ),
    CliCase(
        "checksum-md5",
        (*CP, "--checksum", "md5"),
        2,
        "choose one of crc64nvme, crc32c, crc32, sha256, none",
    ),
    CliCase(
        "max-parts-10001",
        (*CP, "--max-parts", "10001"),
        2,
        "--max-parts 10001: use a whole number from 1 to 10000",
    ),
    CliCase(
        "config-file-bad-value",
        ("cp", "--config", "{config}", "{src}", "{dst}"),
        2,
        "bad.toml: concurrency = 'lots': use a whole number",
        prepare=_bad_config_file,
    ),
    CliCase(
        "retry-for-not-a-duration",
        (*CP, "--retry-for", "soon"),
        2,
        "--retry-for soon: invalid duration 'soon': use e.g. 30s, 15m, 1h",
    ),
    CliCase(
        "retry-for-negative",
        (*CP, "--retry-for=-1m"),
        2,
        "--retry-for -1m: invalid duration '-1m'",
    ),
    CliCase(
        "retry-for-30d",
        (*CP, "--retry-for", "30d"),
        2,
        "--retry-for 30d: use a duration from 0s to 7d",
    ),
    CliCase(
        "cli-read-timeout-0",
        (*CP, "--cli-read-timeout", "0"),
        2,
        "--cli-read-timeout 0: use a duration from 0.1s to 1d",
    ),
    # URLs, bucket names and keys: exit 2 before any request
    CliCase(
        "url-one-slash",
        ("cp", "{src}", "s3:/x"),
        2,
        "'s3:/x' is not an S3 URL: write s3://BUCKET/KEY",
    ),
    CliCase("url-empty", ("cp", "{src}", "s3://"), 2, "'s3://' names no bucket"),
    CliCase(
        "url-http-target",
        ("cp", "{src}", "http://127.0.0.1:9/b/k"),
        2,
        "is not an S3 URL: write s3://BUCKET/KEY",
    ),
    CliCase(
        "url-no-key-for-stdin",
        ("cp", "-", "s3://{bucket}"),
        2,
        "give the object key for stdin",
        stdin=b"data",
    ),
    CliCase(
        "bucket-uppercase",
        ("cp", "{src}", "s3://Media-Bucket/{key}"),
        2,
        "invalid bucket name 'Media-Bucket': use 3-63 lowercase",
    ),
    CliCase(
        "bucket-ip-address",
        ("cp", "{src}", "s3://192.168.1.1/{key}"),
        2,
        "invalid bucket name '192.168.1.1'",
    ),
    CliCase(
        "bucket-double-dot",
        ("cp", "{src}", "s3://my..bucket/{key}"),
        2,
        "invalid bucket name 'my..bucket'",
    ),
    CliCase(
        "bucket-64-chars", ("cp", "{src}", "s3://" + "b" * 64 + "/{key}"), 2, "invalid bucket name"
    ),
    CliCase(
        "key-1025-bytes",
        ("cp", "{src}", "{dst}/" + "k" * 1025),
        2,
        "S3 keys are at most 1024 bytes",
    ),
    # sources
    CliCase(
        "src-missing",
        ("cp", "{dir}/missing.bin", "{dst}"),
        2,
        "missing.bin: no such file: check the path",
    ),
    CliCase("src-directory", ("cp", "{dir}", "{dst}"), 2, "is a directory: give a file"),
    CliCase(
        "src-unreadable",
        ("cp", "{dir}/secret.bin", "{dst}"),
        2,
        "secret.bin: permission denied: check the file's permissions",
        prepare=_unreadable_file,
        runner=_unprivileged,
    ),
    CliCase(
        "src-read-fails",
        ("cp", "/proc/self/mem", "{dst}"),
        1,
        "/proc/self/mem: cannot read: Input/output error",
    ),
    CliCase(
        "src-fifo-without-writer",
        ("cp", "{fifo}", "{dst}"),
        130,
        "interrupted",
        prepare=_fifo,
        runner=_fifo_then_ctrl_c,
    ),
    CliCase(
        "follow-fifo",
        ("cp", "--follow", "{fifo}", "{dst}"),
        2,
        "is not a regular file: --follow reads a growing file; upload a pipe with",
        prepare=_fifo,
    ),
    CliCase(
        "follow-device",
        ("cp", "--follow", "/dev/zero", "{dst}"),
        2,
        "/dev/zero is not a regular file: --follow reads a growing file",
    ),
    CliCase(
        "follow-checksum-none",
        ("cp", "--follow", "{src}", "{dst}", "--checksum", "none"),
        2,
        "--follow finds the parts a recorder rewrote by their checksums: drop --checksum none",
    ),
    CliCase(
        "follow-file-deleted",
        FOLLOW_RECORDING,
        1,
        "was deleted or moved away while it was followed: nothing was completed",
        prepare=_recording,
        runner=_follow_then(lambda path: path.unlink()),
        slow=True,
    ),
    CliCase(
        "follow-file-replaced",
        FOLLOW_RECORDING,
        1,
        "was replaced by another file while it was followed: nothing was completed",
        prepare=_recording,
        runner=_follow_then(_replace),
        slow=True,
    ),
    CliCase(
        "stdin-shorter-than-expected-size",
        ("cp", "-", "{dst}", "--expected-size", "100"),
        1,
        "the source ended after 50 of 100 declared bytes",
        stdin=b"x" * 50,
    ),
    CliCase(
        "stdin-longer-than-expected-size",
        ("cp", "-", "{dst}", "--expected-size", "100"),
        1,
        "longer than the declared size of 100 bytes",
        stdin=b"x" * 150,
    ),
    # connection and store: exit 2 when nothing could be sent, 1 when the store refused
    CliCase(
        "profile-unknown",
        (*CP, "--profile", "nosuch"),
        2,
        "(nosuch) could not be found: check --profile",
    ),
    CliCase(
        "endpoint-refused",
        CP,
        1,
        "cannot reach the store: check --endpoint-url",
        env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"},  # nothing listens on port 9
        slow=True,  # the engine retries a refused connection 8 times, with backoff (5-20 s)
    ),
    CliCase(
        "credentials-wrong-secret",
        CP,
        1,
        "the store rejected the signature: check the secret key",
        env={"AWS_SECRET_ACCESS_KEY": "not-the-secret-key"},
    ),
    CliCase(
        "credentials-unknown-key",
        CP,
        1,
        "the store does not know this access key",
        env={"AWS_ACCESS_KEY_ID": "AKIDNOBODYHASTHIS00"},
    ),
    CliCase(
        "bucket-missing",
        ("cp", "{src}", "s3://no-such-bucket-here/{key}"),
        1,
        "create the bucket first",
    ),
    CliCase(
        "no-clobber-existing-key",
        (*CP, "--no-clobber"),
        1,
        "already exists and --no-clobber is set: nothing was overwritten",
        prepare=_existing_object,
        keeps=b"original",
    ),
    # object attributes: exit 2 before any request
    CliCase(
        "storage-class-unknown",
        (*CP, "--storage-class", "NEARLINE"),
        2,
        "--storage-class NEARLINE: unknown storage class 'NEARLINE': use STANDARD",
    ),
    CliCase(
        "sse-c-key-31-bytes",
        (*CP, "--sse-c", "--sse-c-key", "k" * 31),
        2,
        "the SSE-C key is 31 bytes: AES256 needs exactly 32",
    ),
    CliCase(
        "sse-kms-key-id-without-kms",
        (*CP, "--sse-kms-key-id", "alias/media"),
        2,
        "--sse-kms-key-id needs --sse aws:kms",
    ),
    CliCase(
        "sse-kms-key-id-with-aes256",
        (*CP, "--sse", "--sse-kms-key-id", "alias/media"),
        2,
        "--sse-kms-key-id needs --sse aws:kms",
    ),
    CliCase(
        "metadata-malformed",
        (*CP, "--metadata", "team=media,oops"),
        2,
        "--metadata: 'oops' is not KEY=VALUE: write KEY=VALUE[,KEY2=VALUE2]",
    ),
    CliCase(
        "tagging-malformed",
        (*CP, "--tagging", "team"),
        2,
        "--tagging team: tagging 'team' is not key=value&key2=value2",
    ),
    CliCase("tagging-aws-prefix", (*CP, "--tagging", "aws:x=1"), 2, "aws: prefix is reserved"),
    CliCase("bwlimit-malformed", (*CP, "--bwlimit", "fast"), 2, "--bwlimit fast: invalid rate"),
    # several files
    CliCase(
        "recursive-on-a-file",
        ("cp", "--recursive", "{src}", "s3://{bucket}/{key}/"),
        2,
        "is a file: --recursive uploads directories; drop --recursive",
    ),
    CliCase(
        "directory-without-recursive",
        ("cp", "{dir}", "{src}", "s3://{bucket}/{key}/"),
        2,
        "is a directory: add --recursive to upload its files",
    ),
    CliCase(
        "several-sources-to-a-key",
        ("cp", "{src}", "{src}", "{dst}"),
        2,
        "several sources go under a prefix: end DST with /",
    ),
    CliCase(
        "recursive-unreadable-file",
        ("cp", "-r", "{dir}/tree", "s3://{bucket}/{key}/"),
        2,
        "secret.bin: Permission denied: nothing was uploaded; fix the permissions, or leave "
        "them out with --exclude",
        prepare=_tree_with_unreadable_file,
        runner=_unprivileged,
    ),
    # the journal commands
    CliCase(
        "resume-unknown-id",
        ("resume", "2f9c41deadbeef"),
        2,
        "no upload '2f9c41deadbeef' in the journal",
    ),
    CliCase("abort-unknown-id", ("abort", "2f9c41deadbeef"), 2, "list them with `s3stream ls`"),
    CliCase(
        "abort-completed-upload",
        ("abort", "{upload}"),
        2,
        "is already completed: nothing to abort",
        prepare=_completed_upload,
        keeps=COMPLETED,
    ),
    CliCase(
        "abort-unknown-upload-id",
        ("abort", "{dst}", "2f9c41deadbeef"),
        1,
        "no multipart upload '2f9c41deadbeef' for s3://",
    ),
]


CliOutcomes = dict[str, tuple[CliRun, "Future[subprocess.CompletedProcess[str]]"]]


@pytest.fixture(scope="module")
def cli_outcomes(
    request: pytest.FixtureRequest,
    s3server: EmbeddedS3,
    s3client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CliOutcomes]:
    """Every selected CLI case, run four at a time: each is a process start of ~0.4 s CPU,
    and ``endpoint-refused`` spends 5-20 s in backoff, which the others overlap."""
    selected = [
        cast(CliCase, item.callspec.params["case"])
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_cli_refuses_bad_input_cleanly"
        and item.module is request.module
    ]
    pool = ThreadPoolExecutor(4, thread_name_prefix="bad-input-cli")
    outcomes: CliOutcomes = {}
    for case in sorted(selected, key=lambda c: not c.slow):
        tmp = tmp_path_factory.mktemp(f"cli-{case.id}")
        key = f"bad-input/{case.id}-{secrets.token_hex(4)}"
        ctx = CliRun(tmp, cli_env(tmp, s3server, **case.env), s3client, TEST_BUCKET, key)
        (tmp / "data.bin").write_bytes(b"d" * 40)
        if case.prepare is not None:
            case.prepare(ctx)
        argv = [ctx.expand(arg) for arg in case.args]
        outcomes[case.id] = (ctx, pool.submit(case.runner, argv, ctx.env, case.stdin))
    yield outcomes
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_refuses_bad_input_cleanly(
    case: CliCase, cli_outcomes: CliOutcomes, s3client: Any
) -> None:
    ctx, outcome = cli_outcomes[case.id]
    done = outcome.result(timeout=120)

    assert done.returncode == case.code, (done.stdout, done.stderr)
    line = error_line(done.stderr)  # exactly one line, "s3stream: error: ...", no traceback
    assert case.expect in line, line
    assert len(line) < 500, line  # a readable line, even for a 1 KiB key
    assert done.stdout == ""
    if case.keeps is None:
        assert key_absent(s3client, ctx.bucket, ctx.key)
    else:
        assert fetch(s3client, ctx.bucket, ctx.key) == case.keeps
    assert not uploads_for(s3client, ctx.bucket, ctx.key)
    if ctx.journal_path.exists():
        journal = Journal(ctx.journal_path)
        try:
            assert not journal.entries()  # nothing left to resume
            if case.keeps is not None:  # a kept object's upload is not marked aborted
                assert not journal.entries(("aborted",))
        finally:
            journal.close()


# ============================================================================ library


@dataclass
class Lib:
    """What a library case runs with: an uploader on the store, its journal, its target."""

    uploader: S3StreamUploader
    journal: Journal
    bucket: str
    key: str
    tmp: Path


@dataclass(frozen=True)
class LibraryCase:
    id: str
    act: Callable[[Lib], object]
    error: type[BaseException]
    match: str
    completed_first: bool = False
    """The case completes an upload before misusing it: that object and its ``completed``
    journal entry must survive (otherwise: no object, no journal entry left open)."""


def _options(**options: Any) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        return lib.uploader.upload_stream([b"data"], lib.bucket, lib.key, **options)

    return act


def _target(bucket: str | None, key: str | None) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        return lib.uploader.upload_stream([b"x"], bucket or lib.bucket, lib.key + (key or ""))

    return act


def _empty_key(lib: Lib) -> object:
    return lib.uploader.upload_stream([b"x"], lib.bucket, "")


def _source(source: object) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        return lib.uploader.upload_stream(source, lib.bucket, lib.key)

    return act


def _declared(data: bytes | list[bytes], size: int) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        source: Any = io.BytesIO(data) if isinstance(data, bytes) else iter(data)
        return lib.uploader.upload_stream(source, lib.bucket, lib.key, size=size, part_size=PART)

    return act


def _untyped(bucket: object, key: object, size: object = None) -> Callable[[Lib], object]:
    """Arguments of the wrong type, as from untyped code or a JSON request."""

    def act(lib: Lib) -> object:
        uploader: Any = lib.uploader
        return uploader.upload_stream(
            [b"x"], lib.bucket if bucket is None else bucket, key or lib.key, size=size
        )

    return act


def _too_large(lib: Lib) -> object:
    return lib.uploader.open_upload(lib.bucket, lib.key, size=49 * 1024 * GiB)


class _FailingReader(io.RawIOBase):
    """A file object that gives ``good`` bytes, then fails like a broken disk or socket."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise OSError(5, "Input/output error")
        n = min(len(buffer), self.left, MiB)
        buffer[:n] = b"r" * n
        self.left -= n
        return n


def _failing_reader(lib: Lib) -> object:
    source = _FailingReader(PART + 7)  # the first part goes up, then the read fails
    return lib.uploader.upload_stream(source, lib.bucket, lib.key, part_size=PART)


def _file(make: Callable[[Path], Path | str]) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        return lib.uploader.upload_file(make(lib.tmp), lib.bucket, lib.key)

    return act


def _finished(lib: Lib, size: int) -> Any:
    session = lib.uploader.open_upload(lib.bucket, lib.key, part_size=PART)
    session.write(b"f" * size)
    session.finish()
    return session


def _write_after_finish(size: int) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        _finished(lib, size).write(b"more")
        return None

    return act


def _finish_twice(lib: Lib) -> object:
    return _finished(lib, PART + 1).finish()


def _write_after_abort(lib: Lib) -> object:
    session = lib.uploader.open_upload(lib.bucket, lib.key, part_size=PART)
    session.write(b"a" * (PART + 1))  # a multipart upload exists by now
    session.abort()
    session.write(b"more")
    return None


def _finish_after_abort(lib: Lib) -> object:
    session = lib.uploader.open_upload(lib.bucket, lib.key)
    session.write(b"abc")
    session.abort()
    return session.finish()


def _write_text(lib: Lib) -> object:
    session = lib.uploader.open_upload(lib.bucket, lib.key)
    session.write("text, not bytes")  # type: ignore[arg-type]
    return None


def _resume_unknown(lib: Lib) -> object:
    return lib.uploader.resume("2f9c41deadbeef")


def _open_mode(mode: str) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        return s3stream.open(f"s3://{lib.bucket}/{lib.key}", mode, uploader=lib.uploader)

    return act


def _write_after_close(lib: Lib) -> object:
    writer = s3stream.open(f"s3://{lib.bucket}/{lib.key}", uploader=lib.uploader)
    writer.write(b"f" * 10)
    writer.close()
    return writer.write(b"more")


def _no_retry_policy(lib: Lib) -> object:
    return UploadConfig(retry=None)  # type: ignore[arg-type]


def _follow(**options: Any) -> Callable[[Lib], object]:
    def act(lib: Lib) -> object:
        path = lib.tmp / "rec.mp4"
        path.write_bytes(b"r" * 100)
        return lib.uploader.follow_file(path, lib.bucket, lib.key, **options)

    return act


LIBRARY_CASES = [
    # options: ConfigError, before any request
    LibraryCase(
        "part-size-below-5MiB", _options(part_size=PART - 1), ConfigError, "outside S3's limits"
    ),
    LibraryCase(
        "part-size-above-5GiB", _options(part_size=5 * GiB + 1), ConfigError, "from 5.0 MiB to"
    ),
    LibraryCase(
        "part-size-as-text",
        _options(part_size="64MiB"),
        ConfigError,
        "part_size must be a whole number, not '64MiB' .sizes are byte counts",
    ),
    LibraryCase(
        "part-size-float", _options(part_size=5.5 * MiB), ConfigError, "must be a whole number"
    ),
    LibraryCase("concurrency-0", _options(concurrency=0), ConfigError, "invalid: use 1 to 64"),
    LibraryCase("concurrency-65", _options(concurrency=65), ConfigError, "65 is invalid"),
    LibraryCase(
        "concurrency-float", _options(concurrency=2.5), ConfigError, "must be a whole number"
    ),
    LibraryCase(
        "concurrency-bool", _options(concurrency=True), ConfigError, "must be a whole number"
    ),
    LibraryCase(
        "checksum-md5", _options(checksum="md5"), ConfigError, "unknown checksum 'md5': choose"
    ),
    LibraryCase("checksum-int", _options(checksum=5), ConfigError, "must be a ChecksumAlgorithm"),
    LibraryCase("preset-unknown", _options(preset="turbo"), ConfigError, "unknown preset"),
    LibraryCase("max-parts-0", _options(max_parts=0), ConfigError, "max_parts 0 is invalid"),
    LibraryCase(
        "option-misspelt", _options(partsize=PART), ConfigError, "unknown upload option.*valid"
    ),
    LibraryCase(
        "metadata-not-text", _options(metadata={"n": 1}), ConfigError, "metadata 'n': use a"
    ),
    LibraryCase("retry-not-a-policy", _no_retry_policy, ConfigError, "must be a RetryPolicy"),
    LibraryCase(
        "storage-class-unknown",
        _options(storage_class="COLDLINE"),
        ConfigError,
        "unknown storage class 'COLDLINE'",
    ),
    LibraryCase(
        "sse-c-key-16-bytes",
        _options(sse_customer_key=b"k" * 16),
        ConfigError,
        "SSE-C key is 16 bytes: AES256 needs exactly 32",
    ),
    LibraryCase(
        "sse-kms-key-id-without-kms",
        _options(sse_kms_key_id="alias/k"),
        ConfigError,
        "needs sse='aws:kms'",
    ),
    LibraryCase("tagging-malformed", _options(tagging="a=1&&"), ConfigError, "is not key=value"),
    LibraryCase(
        "max-bandwidth-too-low", _options(max_bandwidth=1000), ConfigError, "at least 65536"
    ),
    # s3stream.open()
    LibraryCase("open-mode-rb", _open_mode("rb"), ConfigError, "mode 'rb' is not supported"),
    LibraryCase("open-mode-w", _open_mode("w"), ConfigError, r"io\.TextIOWrapper"),
    LibraryCase(
        "open-write-after-close",
        _write_after_close,
        ValueError,
        "I/O operation on closed file s3://.*: its upload was already completed",
        completed_first=True,
    ),
    LibraryCase(
        "retry-for-0", _options(retry_for=0), ConfigError, "retry_for must be a positive number"
    ),
    LibraryCase(
        "retry-for-as-text",
        _options(retry_for="2m"),
        ConfigError,
        "retry_for must be a positive number of seconds .or None., not '2m'",
    ),
    LibraryCase(
        "follow-checksum-none",
        _follow(checksum="none"),
        ConfigError,
        "follow mode finds the parts a writer changed by their checksums",
    ),
    LibraryCase("follow-idle-0", _follow(idle=0), ConfigError, "idle must be a positive number"),
    # targets
    LibraryCase("bucket-invalid", _target("Bad_Bucket", None), ConfigError, "invalid bucket name"),
    LibraryCase("key-empty", _empty_key, ConfigError, "empty object key"),
    LibraryCase("bucket-not-text", _untyped(b"bucket", None), ConfigError, "must be a name"),
    LibraryCase("key-not-text", _untyped(None, 42), ConfigError, "key must be a str, not 42"),
    LibraryCase(
        "size-as-text", _untyped(None, None, "10"), ConfigError, "size must be a whole number"
    ),
    LibraryCase(
        "key-1025-bytes", _target(None, "k" * 1025), ConfigError, "keys are at most 1024 bytes"
    ),
    LibraryCase(
        "bucket-missing",
        _target("no-such-bucket-here", None),
        UploadFailed,
        "NoSuchBucket",
    ),
    # sources and declared sizes
    LibraryCase(
        "source-bytes-object", _source(b"abc"), ConfigError, r"e\.g\. \[data\] or io\.BytesIO"
    ),
    LibraryCase("source-int", _source(42), ConfigError, "cannot stream from a int: give a"),
    LibraryCase("size-negative", _declared(b"x", -1), ConfigError, "size -1 is negative"),
    LibraryCase("size-above-49TiB", _too_large, ConfigError, "exceeds the S3 object limit"),
    LibraryCase(
        "stream-shorter-single-part",
        _declared(b"x" * 10, 11),
        SourceError,
        "the source ended after 10 of 11 declared bytes: declare the right size",
    ),
    LibraryCase(
        "stream-longer-single-part",
        _declared(b"x" * 12, 11),
        SourceError,
        "longer than the declared size of 11 bytes",
    ),
    LibraryCase(
        "stream-shorter-multipart",
        _declared(b"x" * (PART + 10), 2 * PART + 1),
        SourceError,
        f"the source ended after {PART + 10} of {2 * PART + 1} declared bytes",
    ),
    LibraryCase(
        "iterable-longer-multipart",
        _declared([b"x" * (3 * MiB)] * 4, 2 * PART + 1),
        SourceError,
        f"longer than the declared size of {2 * PART + 1} bytes",
    ),
    LibraryCase(
        "stream-read-fails-multipart",
        _failing_reader,
        SourceError,
        "reading the source failed: .*Input/output error",
    ),
    LibraryCase(
        "file-missing", _file(lambda tmp: tmp / "nope.bin"), SourceError, "no such file: check"
    ),
    LibraryCase("file-directory", _file(lambda tmp: tmp), SourceError, "is a directory"),
    LibraryCase(
        "file-read-fails",
        _file(lambda tmp: "/proc/self/mem"),
        SourceError,
        "/proc/self/mem: cannot read: Input/output error",
    ),
    # sessions used wrongly
    LibraryCase("session-write-text", _write_text, TypeError, "bytes-like object is required"),
    LibraryCase("session-write-after-abort", _write_after_abort, UploadAborted, "was aborted"),
    LibraryCase("session-finish-after-abort", _finish_after_abort, UploadAborted, "was aborted"),
    LibraryCase(
        "session-write-after-finish-single-put",
        _write_after_finish(10),
        S3StreamError,
        "the upload is already finished",
        completed_first=True,
    ),
    LibraryCase(
        "session-write-after-finish-multipart",
        _write_after_finish(PART + 1),
        S3StreamError,
        "the upload is already finished",
        completed_first=True,
    ),
    LibraryCase(
        "session-finish-twice-multipart",
        _finish_twice,
        S3StreamError,
        "the upload is already finished",
        completed_first=True,
    ),
    # resume
    LibraryCase("resume-unknown-id", _resume_unknown, ConfigError, "no upload '2f9c41deadbeef'"),
]


@pytest.fixture
def lib(
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Lib]:
    """An uploader configured as a user would (AWS_* variables), with a journal of its own."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        yield Lib(S3StreamUploader(journal=journal), journal, bucket, unique_key, tmp_path)
    finally:
        journal.close()


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in LIBRARY_CASES])
def test_library_refuses_bad_input_cleanly(case: LibraryCase, lib: Lib, s3client: Any) -> None:
    with pytest.raises(case.error, match=case.match) as raised:
        case.act(lib)
    assert "\n" not in str(raised.value)  # one line, fit for a log or the CLI
    assert not uploads_for(s3client, lib.bucket, lib.key)
    assert not lib.journal.entries()  # nothing open, nothing to resume
    if case.completed_first:
        assert fetch(s3client, lib.bucket, lib.key).startswith(b"f")
        finished = lib.journal.entries(("active", "paused", "failed", "completed", "aborted"))
        assert all(entry.state == "completed" for entry in finished), finished
    else:
        assert key_absent(s3client, lib.bucket, lib.key)


@pytest.mark.parametrize("path", ["/proc/version", "{tmp}/empty.bin"], ids=["proc", "empty"])
def test_a_file_reporting_size_0_is_read_to_its_end(lib: Lib, s3client: Any, path: str) -> None:
    """Not a refusal but its near miss: /proc files are regular files of size 0 that have
    content; they used to become empty objects without a word."""
    (lib.tmp / "empty.bin").write_bytes(b"")
    source = Path(path.format(tmp=lib.tmp))
    expected = source.read_bytes()
    assert lib.uploader.upload_file(source, lib.bucket, lib.key).size == len(expected)
    assert fetch(s3client, lib.bucket, lib.key) == expected
    assert not uploads_for(s3client, lib.bucket, lib.key)


# ============================================================================ tus


@dataclass
class TusWorld:
    """A gateway app over one upload store, shared by the tus cases of this module."""

    store: UploadStore
    http: TestClient
    prefix: str
    """Where the gateway puts objects (``TusSettings.key_prefix``)."""
    snapshot: Callable[[], object]
    """Everything the store holds: a refused request must leave it equal."""
    objects: Callable[[], set[str]]
    """The keys of the finished objects under ``prefix``."""
    read: Callable[[str], bytes]


@pytest.fixture(scope="module")
def memory_world() -> Iterator[TusWorld]:
    store = MemoryUploadStore(lock_wait=0.5)
    prefix = "bad-input/o/"
    app = app_factory(store, Clock())(TusSettings(key_prefix=prefix))

    def snapshot() -> object:
        uploads = {i: (e.upload, bytes(e.data)) for i, e in store.uploads.items()}
        return uploads, dict(store.objects)

    def objects() -> set[str]:
        return {k for k in store.objects if k.startswith(prefix)}

    with TestClient(app) as http:
        yield TusWorld(store, http, prefix, snapshot, objects, store.objects.__getitem__)


@pytest.fixture(scope="module")
def s3_world(s3server: EmbeddedS3, s3client: Any) -> Iterator[TusWorld]:
    root = f"bad-input-tus-{secrets.token_hex(4)}/"
    store = make_s3_store(s3server, TEST_BUCKET, key_prefix=root, lock_wait=0.5)
    prefix = f"{root}o/"
    app = app_factory(store, Clock())(TusSettings(key_prefix=prefix))

    def snapshot() -> object:
        listed = s3client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=root).get("Contents", [])
        uploads = s3client.list_multipart_uploads(Bucket=TEST_BUCKET, Prefix=root)
        return (
            {o["Key"]: o["ETag"] for o in listed},
            sorted(u["UploadId"] for u in uploads.get("Uploads", [])),
        )

    def objects() -> set[str]:
        listed = s3client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=prefix).get("Contents", [])
        return {o["Key"] for o in listed}

    def read(key: str) -> bytes:
        return fetch(s3client, TEST_BUCKET, key)

    with TestClient(app) as http:
        yield TusWorld(store, http, prefix, snapshot, objects, read)


@pytest.fixture(params=["memory", "s3"])
def world(request: pytest.FixtureRequest) -> TusWorld:
    found: TusWorld = request.getfixturevalue(f"{request.param}_world")
    return found


@dataclass(frozen=True)
class Refs:
    """Uploads made afresh for every case: ``partial`` (10 bytes, 3 sent, named ref.bin),
    and when the case needs them ``done`` (4 bytes, finished) and ``deferred`` (length not
    yet declared, 3 sent)."""

    partial: str
    done: str = "/files/not-made-for-this-case"
    deferred: str = "/files/not-made-for-this-case"

    def check_unchanged(self, tus: Tus) -> None:
        head = tus.head(self.partial)
        assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("3", "10")
        if self.done != Refs.done:
            head = tus.head(self.done)
            assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("4", "4")
        if self.deferred != Refs.deferred:
            head = tus.head(self.deferred)
            assert head.headers["Upload-Offset"] == "3"
            assert head.headers["Upload-Defer-Length"] == "1"


def _refs(tus: Tus, needed: str) -> Refs:
    partial = tus.new(10, meta=metadata(filename="ref.bin"))
    assert tus.patch(partial, 0, b"abc").status_code == 204
    if needed == "done":
        done = tus.create(4, body=b"done")
        assert done.status_code == 201 and done.headers["Upload-Offset"] == "4"
        return Refs(partial, done=done.headers["Location"])
    if needed == "deferred":
        deferred = tus.new(None)
        assert tus.patch(deferred, 0, b"abc").status_code == 204
        return Refs(partial, deferred=deferred)
    return Refs(partial)


Send = Callable[[TestClient, Refs], httpx.Response]


def _post(headers: Mapping[str, str], body: bytes | None = None, *, tus: bool = True) -> Send:
    def send(http: TestClient, refs: Refs) -> httpx.Response:
        response: httpx.Response = http.post(
            "/files/", headers={**(TUS if tus else {}), **headers}, content=body
        )
        return response

    return send


def _post_bytes(*headers: tuple[bytes, bytes]) -> Send:
    """Header values as raw bytes (a non-ASCII metadata key arrives as latin-1)."""

    def send(http: TestClient, refs: Refs) -> httpx.Response:
        response: httpx.Response = http.post(
            "/files/", headers=[(b"Tus-Resumable", b"1.0.0"), *headers]
        )
        return response

    return send


def _patch(
    offset: str | None,
    data: bytes = b"zz",
    extra: Mapping[str, str] | None = None,
    *,
    content_type: str | None = OCTET,
    upload: str = "partial",
    path: str | None = None,
    version: str | None = "1.0.0",
) -> Send:
    def send(http: TestClient, refs: Refs) -> httpx.Response:
        headers = dict(extra or {})
        if version is not None:
            headers["Tus-Resumable"] = version
        if offset is not None:
            headers["Upload-Offset"] = offset
        if content_type is not None:
            headers["Content-Type"] = content_type
        url = path or getattr(refs, upload)
        response: httpx.Response = http.patch(url, headers=headers, content=data)
        return response

    return send


def _to(method: str, path: str | Callable[[Refs], str]) -> Send:
    """``method`` on ``path`` (or a path made from the case's uploads), with Tus-Resumable."""

    def send(http: TestClient, refs: Refs) -> httpx.Response:
        url = path(refs) if callable(path) else path
        response: httpx.Response = http.request(method, url, headers=TUS)
        return response

    return send


@dataclass(frozen=True)
class TusCase:
    id: str
    send: Send
    status: int
    expect: str = ""
    """A part of the answer's body (HEAD answers have none)."""
    uses: str = "partial"
    """The reference upload the request goes to: ``partial``, ``done`` or ``deferred``."""


SHA1_OF_OTHER = b64(hashlib.sha1(b"other").digest())
UNKNOWN_ID = "/files/" + "A" * 32

TUS_CASES = [
    # creation (POST)
    TusCase("length-negative", _post({"Upload-Length": "-1"}), 400, "non-negative integer"),
    TusCase("length-not-a-number", _post({"Upload-Length": "ten"}), 400, "non-negative integer"),
    TusCase("length-30-digits", _post({"Upload-Length": "9" * 30}), 400, "non-negative integer"),
    TusCase("length-above-max-size", _post({"Upload-Length": str(10**15)}), 413, "Tus-Max-Size"),
    TusCase(
        "length-and-defer-length",
        _post({"Upload-Length": "5", "Upload-Defer-Length": "1"}),
        400,
        "only without Upload-Length",
    ),
    TusCase(
        "length-missing", _post({}), 400, "Upload-Length or Upload-Defer-Length: 1 is required"
    ),
    TusCase("defer-length-2", _post({"Upload-Defer-Length": "2"}), 400, "must be 1"),
    TusCase(
        "metadata-bad-base64",
        _post({"Upload-Length": "5", "Upload-Metadata": "filename %%%"}),
        400,
        "Upload-Metadata value of 'filename' is not base64",
    ),
    TusCase(
        "metadata-duplicate-key",
        _post({"Upload-Length": "5", "Upload-Metadata": f"a {b64(b'1')},a {b64(b'2')}"}),
        400,
        "duplicate Upload-Metadata key 'a'",
    ),
    TusCase(
        "metadata-non-ascii-key",
        _post_bytes((b"Upload-Length", b"5"), (b"Upload-Metadata", "n\u00e4me eA==".encode())),
        400,
        "malformed Upload-Metadata pair",
    ),
    TusCase(
        "metadata-three-fields",
        _post({"Upload-Length": "5", "Upload-Metadata": "name eA== extra"}),
        400,
        "malformed Upload-Metadata pair",
    ),
    TusCase(
        "metadata-too-big",
        _post({"Upload-Length": "5", "Upload-Metadata": "filename " + b64(b"x" * 5000)}),
        400,
        "Upload-Metadata exceeds 4096 bytes",
    ),
    TusCase(
        "concat-unknown-kind",
        _post({"Upload-Length": "3", "Upload-Concat": "whole"}),
        400,
        "unsupported Upload-Concat",
    ),
    TusCase(
        "concat-final-of-unknown-upload",
        _post({"Upload-Concat": f"final;{UNKNOWN_ID}"}),
        404,
        "upload not found",
    ),
    TusCase(
        "concat-final-of-foreign-url",
        _post({"Upload-Concat": "final;https://elsewhere.example/x/y"}),
        400,
        "is not an upload URL of this server",
    ),
    TusCase(
        "creation-body-wrong-type",
        _post({"Upload-Length": "3", "Content-Type": "text/plain"}, b"abc"),
        415,
        "octet stream",
    ),
    TusCase(
        "creation-body-past-length",
        _post({"Upload-Length": "3", "Content-Type": OCTET}, b"abcdef"),
        413,
        "past the length 3",
    ),
    TusCase(
        "creation-body-checksum-mismatch",
        _post(
            {
                "Upload-Length": "3",
                "Content-Type": OCTET,
                "Upload-Checksum": "sha1 " + SHA1_OF_OTHER,
            },
            b"abc",
        ),
        460,
        "checksum does not match",
    ),
    # PATCH
    TusCase("offset-negative", _patch("-1"), 400, "Upload-Offset must be a non-negative integer"),
    TusCase("offset-not-a-number", _patch("three"), 400, "Upload-Offset must be a non-negative"),
    TusCase("offset-missing", _patch(None), 400, "missing Upload-Offset header"),
    TusCase("offset-ahead", _patch("5"), 409, "Upload-Offset 5 does not match the upload's 3"),
    TusCase("offset-behind", _patch("0"), 409, "Upload-Offset 0 does not match the upload's 3"),
    TusCase(
        "content-type-wrong",
        _patch("3", content_type="application/octet-stream"),
        415,
        "Content-Type must be application/offset+octet-stream",
    ),
    TusCase("content-type-missing", _patch("3", content_type=None), 415, "Content-Type must be"),
    TusCase(
        "checksum-unknown-algorithm",
        _patch("3", extra={"Upload-Checksum": "whirlpool " + b64(b"x" * 64)}),
        400,
        "unsupported checksum algorithm 'whirlpool': use one of",
    ),
    TusCase(
        "checksum-not-base64",
        _patch("3", extra={"Upload-Checksum": "sha1 not*base64"}),
        400,
        "Upload-Checksum value is not base64",
    ),
    TusCase(
        "checksum-without-digest",
        _patch("3", extra={"Upload-Checksum": "sha1"}),
        400,
        "needs an algorithm and a base64 digest",
    ),
    TusCase(
        "checksum-mismatch",
        _patch("3", extra={"Upload-Checksum": "sha1 " + SHA1_OF_OTHER}),
        460,
        "checksum does not match; discarded",
    ),
    TusCase("chunk-past-length", _patch("3", b"z" * 8), 413, "the chunk ends at 11"),
    TusCase(
        "length-changed",
        _patch("3", extra={"Upload-Length": "11"}),
        400,
        "Upload-Length cannot be changed once set",
    ),
    TusCase(
        "deferred-length-below-offset",
        _patch("3", b"", {"Upload-Length": "2"}, upload="deferred"),
        400,
        "below the upload's offset",
        uses="deferred",
    ),
    TusCase(
        "patch-after-finish",
        _patch("4", b"more", upload="done"),
        413,
        "past the length 4",
        uses="done",
    ),
    # version, routing, ids
    TusCase("tus-resumable-missing", _patch("3", version=None), 412, "is not supported"),
    TusCase("tus-resumable-0.2.2", _patch("3", version="0.2.2"), 412, "'0.2.2' is not supported"),
    TusCase("unknown-id-head", _to("HEAD", UNKNOWN_ID), 404),
    TusCase("unknown-id-patch", _patch("0", path=UNKNOWN_ID), 404, "upload not found"),
    TusCase("unknown-id-delete", _to("DELETE", UNKNOWN_ID), 404, "upload not found"),
    TusCase("id-dotdot", _to("HEAD", "/files/%2E%2E"), 404),
    TusCase("id-traversal", _to("HEAD", "/files/%2E%2E/%2E%2E/etc/passwd"), 404),
    TusCase("id-encoded-slashes", _to("DELETE", "/files/..%2F_uploads%2Fx.info"), 404, "not found"),
    TusCase(
        "id-of-a-state-object", _to("DELETE", lambda refs: refs.partial + ".info"), 404, "not found"
    ),
    TusCase("id-too-short", _to("DELETE", "/files/abc"), 404, "upload not found"),
    TusCase("method-get", _to("GET", lambda refs: refs.partial), 405, "not allowed"),
    TusCase("method-put", _to("PUT", "/files/"), 405, "use POST"),
]


@pytest.mark.parametrize("case", TUS_CASES, ids=[c.id for c in TUS_CASES])
def test_tus_refuses_bad_requests_and_changes_nothing(case: TusCase, world: TusWorld) -> None:
    tus = Tus(world.http)
    refs = _refs(tus, case.uses)
    before = world.snapshot()

    response = case.send(world.http, refs)

    assert response.status_code == case.status, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    if case.status == 412:
        assert response.headers["Tus-Version"] == "1.0.0"
    assert case.expect in response.text
    assert world.snapshot() == before  # no upload, object, staged chunk or lease came or went
    refs.check_unchanged(tus)


@dataclass(frozen=True)
class FilenameCase:
    id: str
    filename: str
    tail: str
    """The key below the prefix, as a regex; ``{hex}`` is the 12-hex suffix, ``{id}`` the
    upload id."""


FILENAME_CASES = [
    FilenameCase("dotdot-path", "../../etc/passwd", "passwd-{hex}"),
    FilenameCase("absolute-path", "/etc/passwd", "passwd-{hex}"),
    FilenameCase("windows-path", "..\\..\\Windows\\win.ini", "win-{hex}\\.ini"),
    FilenameCase("control-characters", "a\x00b\x07c\r\n\x1b.txt", "abc-{hex}\\.txt"),
    FilenameCase("bidi-override", "\u202etxt.exe", "txt-{hex}\\.exe"),
    FilenameCase("only-dotdot", "..", "{id}"),
    FilenameCase("dir-only", "uploads/", "{id}"),
    FilenameCase("300-characters", "x" * 300 + ".txt", "x{{196}}-{hex}\\.txt"),
]


@pytest.mark.parametrize("case", FILENAME_CASES, ids=[c.id for c in FILENAME_CASES])
def test_tus_keeps_hostile_filenames_under_the_prefix(case: FilenameCase, world: TusWorld) -> None:
    before = world.objects()
    data = b"payload"
    response = Tus(world.http).create(len(data), meta=metadata(filename=case.filename), body=data)
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(data))
    uid = upload_id(response.headers["Location"])
    key = run(world.store.get(uid)).key

    assert key.startswith(world.prefix)
    tail = key[len(world.prefix) :]
    pattern = case.tail.format(hex="[0-9a-f]{12}", id=re.escape(uid))
    assert re.fullmatch(pattern, tail), tail
    assert "/" not in tail and tail.isprintable() and len(tail.encode()) <= 220
    assert world.objects() - before == {key}  # that one object, nowhere else
    assert world.read(key) == data


# ============================================================================ raw HTTP


@dataclass(frozen=True)
class RawCase:
    """A request a client library would never send, to a real uvicorn gateway process."""

    id: str
    method: str
    path: str
    headers: Mapping[str, str]
    statuses: tuple[int | None, ...]
    """Acceptable answers; ``None``: the server refused the request by closing the connection."""
    expect: str = ""


RAW_CASES = [
    RawCase(
        "header-200KB",
        "POST",
        "/files/",
        {**TUS, "Upload-Length": "5", "X-Padding": "a" * 200_000},
        (400, 431, None),
    ),
    RawCase(
        "metadata-8KB",
        "POST",
        "/files/",
        {**TUS, "Upload-Length": "5", "Upload-Metadata": "filename " + b64(b"x" * 6000)},
        (400,),
        "Upload-Metadata exceeds 4096 bytes",
    ),
    RawCase("path-dotdot", "HEAD", "/files/../../etc/passwd", TUS, (404,)),
    RawCase(
        "path-dotdot-id",
        "PATCH",
        "/files/..",
        {**TUS, "Upload-Offset": "0", "Content-Type": OCTET},
        (404,),
        "not found",
    ),
    RawCase("path-encoded-slashes", "DELETE", "/files/..%2F..%2Fetc%2Fpasswd", TUS, (404,)),
    RawCase("path-nul", "DELETE", "/files/%00" + "a" * 31, TUS, (404,), "not found"),
]


@pytest.fixture(scope="module")
def gateway_process(s3server: EmbeddedS3) -> Iterator[tuple[GatewayProcess, str]]:
    prefix = f"bad-input-raw-{secrets.token_hex(4)}/"
    with GatewayProcess(s3server, TEST_BUCKET, "--prefix", prefix) as process:
        yield process, prefix


def _raw(port: int, case: RawCase) -> tuple[int | None, str]:
    """Send ``case`` as it is (http.client keeps the path unnormalised)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        for name, value in case.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return None, ""
    finally:
        conn.close()


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.id for c in RAW_CASES])
def test_raw_requests_to_a_real_gateway_change_nothing(
    case: RawCase, gateway_process: tuple[GatewayProcess, str], s3client: Any
) -> None:
    process, prefix = gateway_process

    def stored() -> dict[str, str]:
        listed = s3client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=prefix).get("Contents", [])
        return {o["Key"]: o["ETag"] for o in listed}

    before = stored()
    status, body = _raw(process.port, case)
    assert status in case.statuses, (status, body)
    assert case.expect in body
    assert stored() == before
    assert httpx.get(process.url + "/health", timeout=5).status_code == 200  # still serving
