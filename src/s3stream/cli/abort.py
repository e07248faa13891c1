"""``s3stream abort ID`` or ``s3stream abort s3://BUCKET/KEY UPLOAD_ID``."""

from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_CODES_HELP, EXIT_OK, HelpFormatter, UsageError, parse_s3_url
from .connect import add_connection_options, connect
from .journaled import find, open_journal
from .settings import Settings

DESCRIPTION = """\
Abort an incomplete multipart upload: the store drops its parts, and the
journal marks it aborted. Give a journaled upload's id (or a unique prefix), or
s3://BUCKET/KEY and the upload id for one the journal does not know."""

EPILOG = f"""\
examples:
  s3stream abort 2f9c41
  s3stream abort s3://my-bucket/big.iso 2f9c41d0e...

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "abort",
        help="abort an incomplete multipart upload",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("target", metavar="ID | s3://BUCKET/KEY")
    parser.add_argument("upload_id", metavar="UPLOAD_ID", nargs="?")
    add_connection_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_args(args)
    journal = open_journal()
    if args.target.startswith("s3://"):
        if not args.upload_id:
            raise UsageError("give the upload id after s3://BUCKET/KEY")
        url = parse_s3_url(args.target)
        if url.is_prefix:
            raise UsageError(f"{args.target} names no object: write s3://BUCKET/KEY UPLOAD_ID")
        bucket, key, upload_id, endpoint = url.bucket, url.key, args.upload_id, None
    else:
        if args.upload_id:
            raise UsageError("give either a journaled id, or s3://BUCKET/KEY UPLOAD_ID")
        info = find(journal, args.target).info
        bucket, key, upload_id, endpoint = info.bucket, info.key, info.upload_id, info.endpoint_url
    connect(settings, endpoint_url=endpoint, journal=journal).abort_upload(bucket, key, upload_id)
    print(f"aborted {upload_id} (s3://{bucket}/{key})")
    return EXIT_OK
