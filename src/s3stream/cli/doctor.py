"""``s3stream doctor s3://BUCKET[/PREFIX]``: measure what the store honours, and say what
s3stream will do about it.

A few small requests under a temporary prefix (deleted afterwards, also on Ctrl-C) test
every capability by its effect; the result is cached for the endpoint and bucket, so later
uploads use it without probing again.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    HelpFormatter,
    UsageError,
    parse_s3_url,
)
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.progress import write_stdout
from s3stream.cli.settings import Settings
from s3stream.engine.choices import consequences
from s3stream.store.capabilities import DESCRIPTIONS
from s3stream.store.probe import ProbeReport

DESCRIPTION = """\
Probe the store behind s3://BUCKET[/PREFIX] with a few small requests under a
temporary prefix (removed afterwards, also when interrupted), and print what it
accepts and what it honours: checksums it verifies (a wrong value refused),
multipart checksums of the whole object, aws-chunked trailers, conditional
writes (If-None-Match, If-Match: the object must stay intact), UploadPartCopy,
the part limit and whether parts must be equal. The third column says what
s3stream does about each. The result is cached for the endpoint and bucket:
later uploads use it without probing again. It writes about 10 MiB."""

EPILOG = f"""\
examples:
  s3stream doctor s3://my-bucket
  s3stream doctor --endpoint-url https://minio.example.com s3://media/uploads/
  s3stream doctor --json s3://my-bucket > capabilities.json

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="measure what the store honours (checksums, conditional writes, part rules)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("target", metavar="s3://BUCKET[/PREFIX]", help="where to probe")
    add_connection_options(parser)
    parser.add_argument("--json", action="store_true", help="the same as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_args(args)
    target = parse_s3_url(args.target)
    if not target.is_prefix:
        raise UsageError(f"{target} is a key: give a bucket or a prefix ending in /")
    uploader = connect(settings)
    started = time.monotonic()
    with Interrupts():
        report = uploader.probe(target.bucket, target.key)
    elapsed = time.monotonic() - started
    endpoint = uploader.store.endpoint_url
    cache = uploader.stores.cache
    document = _document(report, str(target), endpoint, elapsed)
    if args.json:
        write_stdout(json.dumps(document, indent=2))
        return EXIT_OK
    where = f"; cached in {cache.path}" if cache is not None else ""
    write_stdout(f"s3stream doctor: {target} at {endpoint} (probed in {elapsed:.1f}s{where})")
    write_stdout(_table(document["findings"]))
    return EXIT_OK


def _document(
    report: ProbeReport, target: str, endpoint: str | None, elapsed: float
) -> dict[str, Any]:
    actions = consequences(report.capabilities)
    shown: set[str] = set()
    findings = []
    for finding in report.findings:
        action = "" if finding.capability in shown else actions.get(finding.capability, "")
        shown.add(finding.capability)
        findings.append(
            {
                "capability": finding.capability,
                "description": DESCRIPTIONS.get(finding.capability, finding.capability),
                "fact": finding.fact,
                "result": finding.result,
                "detail": finding.detail,
                "action": action,
            }
        )
    return {
        "target": target,
        "endpoint": endpoint,
        "seconds": round(elapsed, 2),
        "capabilities": report.capabilities.to_json(),
        "actions": actions,
        "findings": findings,
    }


def _table(findings: list[dict[str, Any]]) -> str:
    rows = [("capability", "result", "s3stream will")]
    for f in findings:
        result = f"{f['result']} ({f['detail']})" if f["detail"] else f["result"]
        rows.append((f["fact"], result, f["action"]))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(
        f"{fact:<{widths[0]}}  {result:<{widths[1]}}  {action}".rstrip()
        for fact, result, action in rows
    )
