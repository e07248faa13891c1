"""``s3stream resume [ID ... | --all]``: continue interrupted uploads from the journal."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from s3stream.cli.attributes import SSE_C_KEY, customer_key
from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_RESUMABLE,
    HelpFormatter,
    UsageError,
)
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.journaled import find, open_journal
from s3stream.cli.progress import LIBRARY_INTERVAL, Start, choose_mode, make_reporter
from s3stream.cli.settings import BWLIMIT, RETRY_FOR, Settings
from s3stream.config import UploadConfig
from s3stream.errors import S3StreamError, UploadInterrupted
from s3stream.resume.journal import JournalEntry
from s3stream.store.attributes import CustomerKey

DESCRIPTION = """\
Continue uploads that were interrupted (a crash, kill -9, a reboot, Ctrl-C with
--leave-parts-on-error) and complete them. The journal knows every multipart
upload s3stream started; the store's list of parts is the truth, so only the
parts it lacks are sent. A file must be unchanged: the bytes of every part
already sent are checked against their checksums first, and a changed file is
refused with nothing completed. Uploads of stdin cannot be resumed (stdin cannot
be replayed): abort them and upload again. An upload encrypted with a customer
key (SSE-C) needs the key again (--sse-c-key, or typed at the prompt): it is
never stored."""

EPILOG = f"""\
examples:
  s3stream ls                      # the ids of interrupted uploads
  s3stream resume 2f9c41           # one upload (a unique prefix of its id is enough)
  s3stream resume --all --json     # every one, with NDJSON events as `cp --json`

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "resume",
        help="continue interrupted uploads from the journal",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("ids", metavar="ID", nargs="*", help="upload id (or a unique prefix)")
    parser.add_argument("--all", action="store_true", help="every resumable upload")
    parser.add_argument(
        "--retry-for",
        metavar="DURATION",
        help="keep retrying a store that fails or cannot be reached for this long (5m; 0: "
        "8 attempts); then the upload stays resumable (exit 75)",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--sse-c-key",
        metavar="KEY",
        help="the SSE-C key the upload was started with (text or fileb://PATH); "
        "asked for on a terminal when needed",
    )
    parser.add_argument("--bwlimit", metavar="RATE", help="the most bytes per second (10MiB/s)")
    output = parser.add_argument_group("output").add_mutually_exclusive_group()
    output.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    output.add_argument("--json", action="store_true", help="NDJSON events on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise UsageError("give the upload ids to resume, or --all")
    settings = Settings.from_args(args)
    journal = open_journal()
    entries = journal.entries() if args.all else [find(journal, i) for i in args.ids]
    if args.all and not entries:
        print("nothing to resume")
        return EXIT_OK
    failed = interrupted = 0
    for entry in entries:
        try:
            _resume(settings, journal, entry, args)
        except S3StreamError as exc:
            if len(entries) == 1:
                raise
            # already reported; go on with the others
            interrupted += isinstance(exc, UploadInterrupted)
            failed += not isinstance(exc, UploadInterrupted)
    return EXIT_FAILED if failed else EXIT_RESUMABLE if interrupted else EXIT_OK


def _resume(
    settings: Settings, journal: Any, entry: JournalEntry, args: argparse.Namespace
) -> None:
    info = entry.info
    source = info.source
    if source is None or source.kind != "file" or source.path is None:
        raise UsageError(
            f"upload {info.upload_id} of s3://{info.bucket}/{info.key} came from a stream "
            "(stdin or a pipe), which cannot be replayed: abort it with "
            f"`s3stream abort {info.upload_id}` and upload again"
        )
    key = _customer_key(settings, entry)
    bandwidth = UploadConfig(max_bandwidth=settings.get(BWLIMIT))
    uploader = connect(settings, endpoint_url=info.endpoint_url, journal=journal, config=bandwidth)
    reporter = make_reporter(choose_mode(json_events=args.json, quiet=args.quiet))
    reporter.upload_id = info.upload_id
    plan = info.plan
    reporter.start(
        Start(
            source=source.path,
            bucket=info.bucket,
            key=info.key,
            total=info.size,
            part_size=plan.first_part_size,
            concurrency=info.concurrency,
            parts_total=plan.part_count,
            checksum_algorithm=info.checksum_algorithm,
        )
    )
    try:
        with Interrupts(upload_id=lambda: info.upload_id):
            result = uploader.resume(
                info,
                on_progress=reporter,
                progress_interval=LIBRARY_INTERVAL,
                leave_parts_on_error=True,
                sse_customer_key=key,
                retry_for=settings.get(RETRY_FOR) or None,
            )
    except BaseException as exc:
        reporter.failed(exc)
        raise
    reporter.completed(result)


def _customer_key(settings: Settings, entry: JournalEntry) -> CustomerKey | None:
    """The SSE-C key for an upload that needs one: from --sse-c-key (or its environment
    variable or config key), else asked for on the terminal."""
    info = entry.info
    key = settings.get(SSE_C_KEY)
    if info.sse_customer_key_md5 is None or key is not None:
        return key
    if not sys.stdin.isatty():
        raise UsageError(
            f"upload {info.upload_id} of s3://{info.bucket}/{info.key} is encrypted with a "
            "customer key (SSE-C), which is never stored: give it with --sse-c-key"
        )
    typed = getpass.getpass(f"SSE-C key for s3://{info.bucket}/{info.key} (or fileb://PATH): ")
    try:
        return customer_key(typed)
    except ValueError as exc:
        raise UsageError(f"the SSE-C key typed: {exc}") from None
