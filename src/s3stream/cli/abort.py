"""``s3stream abort ID`` or ``s3stream abort s3://BUCKET/KEY UPLOAD_ID``."""

from __future__ import annotations

import argparse
from typing import Any

from s3stream.cli.common import EXIT_CODES_HELP, EXIT_OK, HelpFormatter, UsageError, parse_s3_url
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.journaled import find, open_journal
from s3stream.cli.settings import Settings
from s3stream.errors import S3StreamError

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
    journaled = not args.target.startswith("s3://")
    if not journaled:
        if not args.upload_id:
            raise UsageError("give the upload id after s3://BUCKET/KEY")
        url = parse_s3_url(args.target)
        if url.is_prefix:
            raise UsageError(f"{args.target} names no object: write s3://BUCKET/KEY UPLOAD_ID")
        bucket, key, upload_id, endpoint = url.bucket, url.key, args.upload_id, None
    else:
        if args.upload_id:
            raise UsageError("give either a journaled id, or s3://BUCKET/KEY UPLOAD_ID")
        entry = find(journal, args.target)
        if entry.state in ("completed", "aborted"):
            raise UsageError(
                f"upload {entry.info.upload_id} of s3://{entry.info.bucket}/{entry.info.key} "
                f"is already {entry.state}: nothing to abort"
            )
        info = entry.info
        bucket, key, upload_id, endpoint = info.bucket, info.key, info.upload_id, info.endpoint_url
    uploader = connect(settings, endpoint_url=endpoint, journal=journal)
    if not uploader.abort_upload(bucket, key, upload_id):
        if journaled:  # the store no longer has it: only the journal needed cleaning up
            print(f"{upload_id} (s3://{bucket}/{key}) was no longer on the store; journal updated")
            return EXIT_OK
        raise S3StreamError(
            f"no multipart upload {upload_id!r} for s3://{bucket}/{key} on the store: it was "
            f"completed or aborted already, or the id is wrong (list them with "
            f"`s3stream ls s3://{bucket}/`)"
        )
    print(f"aborted {upload_id} (s3://{bucket}/{key})")
    return EXIT_OK
