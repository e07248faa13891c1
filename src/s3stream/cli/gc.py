"""``s3stream gc s3://BUCKET[/PREFIX] --older-than 7d``: abort stale multipart uploads."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    HelpFormatter,
    UsageError,
    format_duration,
    parse_duration,
    parse_s3_url,
)
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.journaled import open_journal
from s3stream.cli.settings import Settings

DESCRIPTION = """\
Abort every incomplete multipart upload in the bucket (under the prefix) that
was started longer ago than --older-than, whether this journal knows it or not.
Incomplete uploads are billed storage until aborted; S3 lifecycle rules
(AbortIncompleteMultipartUpload) do the same on the server side."""

EPILOG = f"""\
examples:
  s3stream gc s3://my-bucket --older-than 7d
  s3stream gc s3://my-bucket/tmp/ --older-than 1h --dry-run

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gc",
        help="abort incomplete uploads older than an age",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("url", metavar="s3://BUCKET[/PREFIX]")
    parser.add_argument("--older-than", metavar="DURATION", required=True, help="e.g. 7d, 12h, 30m")
    parser.add_argument("--dry-run", action="store_true", help="list, abort nothing")
    add_connection_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        age = dt.timedelta(seconds=parse_duration(args.older_than))
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    target = parse_s3_url(args.url)
    uploader = connect(Settings.from_args(args), journal=open_journal())
    if args.dry_run:
        found = uploader.list_incomplete(target.bucket, target.key, age)
    else:
        found = uploader.gc(target.bucket, age, target.key)
    verb = "would abort" if args.dry_run else "aborted"
    for upload in found:
        print(f"{verb} {upload.upload_id}  s3://{upload.bucket}/{upload.key}")
    print(f"{verb} {len(found)} upload(s) older than {format_duration(age.total_seconds())}")
    return EXIT_OK
