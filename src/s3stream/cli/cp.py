"""``s3stream cp SRC DST``: upload a file, stdin or a pipe; ``--follow`` a growing file;
``--recursive`` directories and several files at once (:mod:`.batch`)."""

from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from s3stream.cli.attributes import add_attribute_options, attribute_options
from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    HelpFormatter,
    S3Url,
    UsageError,
    parse_s3_url,
)
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.progress import LIBRARY_INTERVAL, Reporter, choose_mode, make_reporter, start_info
from s3stream.cli.settings import (
    BWLIMIT,
    CHECKSUM,
    CONCURRENCY,
    CONTENT_TYPE,
    EQUAL_PARTS,
    EXPECTED_SIZE,
    IDLE,
    LEAVE_PARTS_ON_ERROR,
    MAX_PARTS,
    METADATA,
    NO_CLOBBER,
    PART_SIZE,
    PRESET,
    RETRY_FOR,
    TRANSFERS,
    VERIFY,
    Settings,
)
from s3stream.cli.tree import Filter, select
from s3stream.config import UploadConfig

if TYPE_CHECKING:  # loaded when an upload runs, not for --help
    from s3stream.engine.result import UploadResult
    from s3stream.uploader import S3StreamUploader

log = logging.getLogger(__name__)

DESCRIPTION = """\
Upload files, stdin (-) or a pipe to S3, streaming: parts are sent while the
source is read, with bounded memory, a checksum per part and clean aborts.

SRC is a file, a named pipe or device (read as a stream), or - for stdin; with
--recursive, directories. DST is s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ (the
file name is appended). Several SRCs, or --recursive, need a PREFIX/ and upload
their files in parallel. Sizes take units (64MiB, 1GB); rates too (10MiB/s,
80Mbit); durations too (30s, 15m, 1h)."""

EPILOG = f"""\
examples:
  s3stream cp video.mp4 s3://my-bucket/videos/
  s3stream cp --part-size 64MiB --concurrency 8 backup.tar s3://my-bucket/backup.tar
  pg_dump mydb | s3stream cp - s3://my-bucket/db.sql --expected-size 12GiB
  ffmpeg -i in.mov -f mp4 -movflags frag_keyframe+empty_moov pipe:1 \\
      | s3stream cp - s3://my-bucket/out.mp4
  s3stream cp --follow --idle 10 recording.webm s3://my-bucket/rec/
  s3stream cp --json --no-clobber data.bin s3://my-bucket/data.bin
  s3stream cp --recursive --exclude '*.tmp' photos/ s3://my-bucket/photos/
  s3stream cp a.csv b.csv s3://my-bucket/in/ --bwlimit 10MiB/s
  s3stream cp --sse aws:kms --storage-class STANDARD_IA --tagging 'team=a&env=prod' \\
      report.pdf s3://my-bucket/reports/

recursive mode (--recursive DIR... s3://BUCKET/PREFIX/):
  DIR/a/b.txt becomes PREFIX/a/b.txt. --include/--exclude GLOB (repeatable)
  filter relative paths, the last match deciding; symbolic links are skipped
  unless --follow-symlinks. --transfers files go up at once (4), sharing one
  connection pool, one memory budget and --bwlimit. An unreadable file refuses
  the whole copy before anything is sent; a file that fails is listed and the
  others go on (exit 1 if any failed). Each multipart upload is journaled:
  `s3stream resume --all` continues them after a crash.

output:
  a progress bar on a terminal (plain lines every few seconds otherwise) on
  stderr, and one summary line on stdout; --quiet shows only errors; --json
  prints NDJSON events on stdout instead (started, progress, part_done,
  completed, failed).

follow mode (--follow FILE):
  uploads a file that is still being written, part by part as it grows, and
  completes it once it has not grown for --idle seconds. Ctrl-C completes what
  the file holds now; a second Ctrl-C aborts. Parts the recorder rewrites after
  they were sent (MP4, Matroska headers) are sent again: the object is the
  finished file. A file that shrinks, is deleted or replaced is an error.

outages:
  connection failures, timeouts and 5xx are retried for --retry-for (5m); a
  file whose upload outlasts it keeps its parts: exit 75, `s3stream resume ID`.

configuration:
  flags > S3STREAM_* environment (S3STREAM_PART_SIZE, S3STREAM_CONCURRENCY,
  S3STREAM_PRESET, S3STREAM_CHECKSUM, S3STREAM_ENDPOINT_URL, ...) > config file
  ($XDG_CONFIG_HOME/s3stream/config.toml or --config FILE; keys as the long
  options, e.g. part-size = "64MiB") > defaults. Credentials: the AWS chain.

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cp",
        help="upload a file, stdin or a growing file to S3",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "src", metavar="SRC", nargs="+", help="files, a pipe, - for stdin; with -r directories"
    )
    parser.add_argument("dst", metavar="DST", help="s3://BUCKET/KEY or s3://BUCKET/PREFIX/")
    add_connection_options(parser)

    upload = parser.add_argument_group("upload")
    upload.add_argument(
        "--preset",
        metavar="NAME",
        help="auto (default: by size), conservative (10MiB x 2), balanced (50MiB x 4), "
        "aggressive (100MiB x 8)",
    )
    upload.add_argument("--part-size", metavar="SIZE", help="part size, 5MiB to 5GiB")
    upload.add_argument("--concurrency", metavar="N", help="parts in flight, 1 to 64")
    upload.add_argument(
        "--checksum",
        metavar="ALG",
        help="crc64nvme, crc32c, crc32, sha256 or none (default: the best the store verifies)",
    )
    upload.add_argument(
        "--max-parts", metavar="N", help="the most parts to use (default: the store's limit)"
    )
    upload.add_argument(
        "--equal-parts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep every part the same size (default: where the store needs it, as R2 does)",
    )
    upload.add_argument(
        "--content-type",
        metavar="TYPE",
        help="default: guessed from the file name (stdin: from the key)",
    )
    upload.add_argument(
        "--metadata",
        metavar="KEY=VALUE",
        action="append",
        help="user metadata (x-amz-meta-KEY); repeatable",
    )
    clobber = upload.add_mutually_exclusive_group()
    clobber.add_argument(
        "--no-clobber",
        action="store_true",
        default=None,
        help="fail instead of overwriting an existing object",
    )
    clobber.add_argument(
        "--clobber",
        dest="no_clobber",
        action="store_false",
        default=None,
        help="overwrite (the default; overrides no-clobber from env or config)",
    )
    upload.add_argument(
        "--expected-size",
        metavar="SIZE",
        help="the exact size of a stream (stdin or pipe): better part sizes, an ETA",
    )
    upload.add_argument(
        "--bwlimit",
        metavar="RATE",
        help="the most bytes per second, for all files together: 10MiB/s, 80Mbit, ...",
    )
    upload.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read the object back after the upload and compare its checksum",
    )
    upload.add_argument(
        "--retry-for",
        metavar="DURATION",
        help="keep retrying a store that fails or cannot be reached for this long (5m; 0: "
        "8 attempts); then a file's parts are kept (exit 75, `s3stream resume ID`)",
    )
    upload.add_argument(
        "--leave-parts-on-error",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep uploaded parts when the upload fails (prints the upload id)",
    )

    add_attribute_options(parser)

    many = parser.add_argument_group("several files (--recursive, or several SRCs)")
    many.add_argument(
        "-r", "--recursive", action="store_true", help="upload the files of directories"
    )
    many.add_argument(
        "--include",
        dest="filters",
        action="append",
        type=lambda pattern: ("include", pattern),
        metavar="GLOB",
        help="include matching paths again (after --exclude); repeatable",
    )
    many.add_argument(
        "--exclude",
        dest="filters",
        action="append",
        type=lambda pattern: ("exclude", pattern),
        metavar="GLOB",
        help="leave out matching paths, e.g. '*.tmp' or 'cache/*'; repeatable",
    )
    many.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="upload what symbolic links in directories point to (default: skip them)",
    )
    many.add_argument("--transfers", metavar="N", help="files uploaded at once, 1 to 64 (4)")

    follow = parser.add_argument_group("follow mode")
    follow.add_argument(
        "--follow",
        action="store_true",
        help="upload a file that is still being written, as it grows",
    )
    follow.add_argument(
        "--idle",
        metavar="DURATION",
        help="with --follow: complete after the file has not grown for this long (5s)",
    )

    output = parser.add_argument_group("output")
    shown = output.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    shown.add_argument(
        "--json", action="store_true", help="NDJSON progress events on stdout (see docs/cli.md)"
    )
    parser.set_defaults(run=run)


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    kind: Literal["stdin", "file", "stream"]
    """``file``: a regular file (read by offset); ``stream``: a pipe or device; or stdin."""
    path: Path | None
    display: str
    size: int | None


def classify_source(text: str, *, follow: bool) -> Source:
    """Check SRC before anything is sent; every problem is a usage error."""
    if text == "-":
        if follow:
            raise UsageError("--follow needs a file that is being written, not stdin")
        if sys.stdin is None:
            raise UsageError("there is no stdin (it is closed): pipe data in, or give a file")
        if sys.stdin.isatty():
            raise UsageError(
                "stdin is a terminal: pipe data in, e.g. `producer | s3stream cp - s3://BUCKET/KEY`"
            )
        return Source("stdin", None, "-", None)
    if text.startswith("s3://"):
        raise UsageError(f"{text}: s3stream cp uploads: SRC must be a local file, a pipe or -")
    path = Path(text)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{text}: no such file: check the path") from None
    except PermissionError:
        raise UsageError(f"{text}: permission denied: check the path's permissions") from None
    except OSError as exc:
        raise UsageError(f"{text}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{text} is a directory: give a file (cp uploads one file)")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{text}: permission denied: check the file's permissions")
    if stat.S_ISREG(info.st_mode):
        return Source("file", path, text, info.st_size)
    if follow:
        raise UsageError(
            f"{text} is not a regular file: --follow reads a growing file; "
            f"upload a pipe with `s3stream cp {text} DST`"
        )
    return Source("stream", path, text, None)


# ----------------------------------------------------------------------------- options


def upload_options(settings: Settings) -> dict[str, Any]:
    """The library's keyword options from flags, environment and config file (validated)."""
    found: dict[str, Any] = {
        "preset": settings.get(PRESET),
        "part_size": settings.get(PART_SIZE),
        "concurrency": settings.get(CONCURRENCY),
        "checksum": settings.get(CHECKSUM),
        "max_parts": settings.get(MAX_PARTS),
        "equal_parts": settings.get(EQUAL_PARTS),
        "no_clobber": settings.get(NO_CLOBBER),
        "leave_parts_on_error": settings.get(LEAVE_PARTS_ON_ERROR),
        "verify": settings.get(VERIFY),
        "retry_for": settings.get(RETRY_FOR) or None,
        "content_type": settings.get(CONTENT_TYPE),
        "metadata": settings.get(METADATA),
        **attribute_options(settings),
    }
    options = {name: value for name, value in found.items() if value is not None}
    options["progress_interval"] = LIBRARY_INTERVAL
    UploadConfig(**options)  # ConfigError (exit 2) before any request
    for name in sorted(found):
        if name in options:
            log.debug("option %s = %r (from %s)", name, options[name], settings.sources.get(name))
    return options


# ----------------------------------------------------------------------------- the command


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_args(args)
    dst = parse_s3_url(args.dst)
    if args.recursive or len(args.src) > 1:
        return _run_many(args, settings, dst)
    if args.filters or args.follow_symlinks or args.transfers is not None:
        raise UsageError(
            "--include, --exclude, --follow-symlinks and --transfers are for --recursive "
            "or several SRCs"
        )
    source = classify_source(args.src[0], follow=args.follow)
    if dst.is_prefix:
        if source.kind == "stdin":
            raise UsageError(
                f"{dst} is a prefix: give the object key for stdin, e.g. {dst.join('NAME')}"
            )
        assert source.path is not None
        dst = dst.join(source.path.name)
        parse_s3_url(str(dst))  # the joined key must be valid too
    if args.idle is not None and not args.follow:
        raise UsageError("--idle only applies with --follow")
    options = upload_options(settings)
    expected = settings.get(EXPECTED_SIZE)
    if expected is not None and source.kind != "stdin" and source.kind != "stream":
        raise UsageError("--expected-size is for streams (stdin or a pipe): a file's size is known")
    if source.kind != "file" and "content_type" not in options:
        options["content_type"] = mimetypes.guess_type(dst.key)[0]
    mode = choose_mode(json_events=args.json, quiet=args.quiet)
    bandwidth = UploadConfig(max_bandwidth=settings.get(BWLIMIT))
    if args.follow:
        if options.get("checksum") == "none":
            raise UsageError(
                "--follow finds the parts a recorder rewrote by their checksums: "
                "drop --checksum none"
            )
        idle = settings.get(IDLE)
        assert source.path is not None and idle is not None
        uploader = connect(settings, config=bandwidth)
        from s3stream.cli.follow import follow_upload

        return follow_upload(uploader, source.path, dst, options, mode, idle=idle)
    uploader = connect(settings, config=bandwidth)
    size = source.size if source.kind == "file" else expected
    reporter = make_reporter(mode)
    try:
        config = uploader.upload_config(dst.bucket, dst.key, **options)
    except BaseException as exc:
        reporter.failed(exc)
        raise
    reporter.start(start_info(source.display, dst.bucket, dst.key, size, options, config))
    try:
        with Interrupts(upload_id=lambda: reporter.upload_id):
            result = _upload(uploader, source, dst, expected, reporter, options)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and not exc.args:
            exc.args = ("the upload was stopped and aborted",)
        reporter.failed(exc)
        raise
    reporter.completed(result)
    return EXIT_OK


def _run_many(args: argparse.Namespace, settings: Settings, dst: S3Url) -> int:
    """Several SRCs or ``--recursive``: every file under the prefix ``dst``."""
    if not dst.is_prefix and len(args.src) > 1:
        raise UsageError(f"{dst}: several sources go under a prefix: end DST with /")
    for flag, given in (("--follow", args.follow), ("--expected-size", args.expected_size)):
        if given:
            raise UsageError(f"{flag} uploads one file or stream, not several")
    filters: list[Filter] = args.filters or []
    selection = select(
        args.src,
        dst,
        recursive=args.recursive,
        filters=filters,
        follow_symlinks=args.follow_symlinks,
    )
    options = upload_options(settings)
    transfers = settings.get(TRANSFERS)
    assert transfers is not None
    uploader = connect(settings, config=UploadConfig(max_bandwidth=settings.get(BWLIMIT)))
    prefix = dst.key if dst.is_prefix else dst.key + "/"
    from s3stream.cli.batch import copy_files

    copy_files(
        uploader,
        selection,
        bucket=dst.bucket,
        prefix=prefix,
        options=options,
        mode=choose_mode(json_events=args.json, quiet=args.quiet),
        transfers=transfers,
    )
    return EXIT_OK


def _upload(
    uploader: S3StreamUploader,
    source: Source,
    dst: S3Url,
    expected: int | None,
    reporter: Reporter,
    options: dict[str, Any],
) -> UploadResult:
    if source.kind == "file":
        assert source.path is not None
        return uploader.upload_file(
            source.path, dst.bucket, dst.key, on_progress=reporter, **options
        )
    if source.kind == "stdin":
        return uploader.upload_stream(
            sys.stdin.buffer, dst.bucket, dst.key, size=expected, on_progress=reporter, **options
        )
    assert source.path is not None
    with open(source.path, "rb", buffering=0) as stream:
        return uploader.upload_stream(
            stream, dst.bucket, dst.key, size=expected, on_progress=reporter, **options
        )
