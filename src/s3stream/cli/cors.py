"""``s3stream cors s3://BUCKET --origin URL``: let a web page upload into a bucket directly."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from s3stream.cli.common import EXIT_CODES_HELP, EXIT_OK, HelpFormatter, UsageError, parse_s3_url
from s3stream.cli.connect import add_connection_options, check_credentials
from s3stream.cli.settings import ENDPOINT_URL, PROFILE, REGION, Settings
from s3stream.errors import ConfigError
from s3stream.store.cors import RULE_ID, allows_uploads, with_upload_origins

log = logging.getLogger(__name__)

DESCRIPTION = f"""\
Set the bucket's CORS rule that lets a web page on ORIGIN upload straight into
it (the upload page's direct mode, Uppy's @uppy/aws-s3): GET, PUT, POST and
HEAD from the origin, the headers uploads send (content type, part checksums),
and ETag exposed (without it the browser hides each part's ETag and the
upload cannot be completed). The bucket's other rules are kept; s3stream's own
rule ({RULE_ID}) gains the origins. With --show, print the rules
and whether each origin may upload."""

EPILOG = f"""\
examples:
  s3stream cors s3://my-bucket --origin https://upload.example.com
  s3stream cors s3://my-bucket --origin http://127.0.0.1:8080 --origin http://localhost:8080
  s3stream cors s3://my-bucket --show --origin https://upload.example.com

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cors",
        help="let a web page upload into a bucket (its CORS rule, exposing ETag)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("url", metavar="s3://BUCKET")
    parser.add_argument(
        "--origin",
        metavar="URL",
        action="append",
        default=[],
        help="the page's origin, scheme://host[:port] (repeatable)",
    )
    parser.add_argument("--show", action="store_true", help="print the rules, change nothing")
    add_connection_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = parse_s3_url(args.url)
    if target.key:
        raise UsageError(f"{args.url}: CORS rules belong to a bucket: write s3://{target.bucket}")
    if not args.origin and not args.show:
        raise UsageError("give the page's origin: --origin https://app.example.com")
    settings = Settings.from_args(args)
    check_credentials(settings.get(PROFILE))
    from s3stream.store.boto import BotoObjects, make_client

    client = make_client(
        endpoint_url=settings.get(ENDPOINT_URL),
        region=settings.get(REGION),
        profile=settings.get(PROFILE),
    )
    objects = BotoObjects(client)
    if not args.show:
        try:
            wanted = with_upload_origins(objects.get_cors(target.bucket), args.origin)
        except ConfigError as exc:
            raise UsageError(f"--origin: {exc}") from None
        objects.put_cors(target.bucket, wanted)
    rules = objects.get_cors(target.bucket)
    for rule in rules:
        print(
            f"rule {rule.id or '-'}: origins {' '.join(rule.origins)}; methods "
            f"{' '.join(rule.methods)}; expose {' '.join(rule.expose_headers) or '-'}"
        )
    if not rules:
        print(f"s3://{target.bucket} has no CORS rules")
    for origin in args.origin:
        verdict = "can" if allows_uploads(rules, origin.rstrip("/")) else "cannot"
        print(f"a page on {origin} {verdict} upload to s3://{target.bucket}")
    return EXIT_OK
