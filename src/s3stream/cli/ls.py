"""``s3stream ls [s3://BUCKET[/PREFIX]]``: interrupted uploads, from the journal and the store."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    HelpFormatter,
    format_duration,
    parse_s3_url,
)
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.journaled import open_journal
from s3stream.cli.progress import write_stdout
from s3stream.cli.settings import Settings
from s3stream.limits import format_size
from s3stream.resume.recovery import IncompleteUpload

DESCRIPTION = """\
List incomplete multipart uploads: those in this machine's journal (which
`s3stream resume` can continue), and, for the buckets named (or, with none
named, the buckets of journaled uploads), those the store holds, including
uploads this journal never knew (which only `abort` or `gc` can clean up)."""

EPILOG = f"""\
examples:
  s3stream ls
  s3stream ls s3://my-bucket/videos/
  s3stream ls --json | jq .upload_id

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ls",
        help="list interrupted uploads (journal and store)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("urls", metavar="s3://BUCKET[/PREFIX]", nargs="*")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_options(parser)
    parser.set_defaults(run=run)


def _age(when: dt.datetime) -> str:
    return format_duration((dt.datetime.now(dt.UTC) - when).total_seconds())


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_args(args)
    journal = open_journal()
    entries = journal.entries()
    rows: list[dict[str, Any]] = []
    known = set()
    for entry in entries:
        info = entry.info
        known.add(info.upload_id)
        source = info.source.path if info.source and info.source.path else "(stream)"
        rows.append(
            {
                "upload_id": info.upload_id,
                "url": f"s3://{info.bucket}/{info.key}",
                "state": entry.state,
                "journaled": True,
                "uploaded": info.uploaded_bytes,
                "size": info.size,
                "parts": len(info.parts),
                "source": source,
                "updated": entry.updated,
                "endpoint_url": info.endpoint_url,
                "error": entry.error,
            }
        )
    targets = [parse_s3_url(u) for u in args.urls]
    if not targets:
        targets = [parse_s3_url(f"s3://{b}") for b in sorted({e.info.bucket for e in entries})]
    if targets:
        uploader = connect(settings, journal=journal)
        for target in targets:
            for found in uploader.list_incomplete(target.bucket, target.key):
                if found.upload_id not in known:
                    rows.append(_server_row(found))
    for row in rows:
        if args.json:
            write_stdout(json.dumps(row, sort_keys=True))
        else:
            write_stdout(_line(row))
    if not rows and not args.json:
        write_stdout("no incomplete uploads")
    return EXIT_OK


def _server_row(found: IncompleteUpload) -> dict[str, Any]:
    return {
        "upload_id": found.upload_id,
        "url": f"s3://{found.bucket}/{found.key}",
        "state": "unknown",
        "journaled": False,
        "initiated": found.initiated.isoformat(),
        "age": _age(found.initiated),
    }


def _line(row: dict[str, Any]) -> str:
    if not row["journaled"]:
        return (
            f"{row['upload_id']}  {row['url']}  not in this journal, started {row['age']} ago "
            "(abort it or gc)"
        )
    size = format_size(row["size"]) if row["size"] is not None else "unknown size"
    return (
        f"{row['upload_id']}  {row['url']}  {row['state']}  "
        f"{format_size(row['uploaded'])} of {size} in {row['parts']} parts  from {row['source']}"
    )
