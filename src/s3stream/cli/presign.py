"""``s3stream presign s3://BUCKET/KEY``: print a presigned GET or PUT URL."""

from __future__ import annotations

import argparse
from typing import Any, Literal

from s3stream.cli.common import EXIT_CODES_HELP, EXIT_OK, HelpFormatter, UsageError, parse_s3_url
from s3stream.cli.connect import add_connection_options, connect
from s3stream.cli.settings import EXPIRES, Settings

DESCRIPTION = """\
Print a presigned URL for one object: anyone holding it can GET (download) or
PUT (upload) that object until it expires, without credentials. Signing is
local: no request is sent. SigV4 URLs last at most 7 days."""

EPILOG = f"""\
examples:
  s3stream presign s3://my-bucket/report.pdf
  curl -o report.pdf "$(s3stream presign --expires 15m s3://my-bucket/report.pdf)"
  curl -T data.bin "$(s3stream presign --method PUT s3://my-bucket/in/data.bin)"

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "presign",
        help="print a presigned GET or PUT URL for an object",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("url", metavar="s3://BUCKET/KEY", help="the object")
    parser.add_argument(
        "--method",
        type=str.upper,
        choices=("GET", "PUT"),
        default="GET",
        help="GET (download, the default) or PUT (upload)",
    )
    parser.add_argument(
        "--expires",
        metavar="DURATION",
        help="how long the URL is valid: 30s, 15m, 1h (default), 7d at most",
    )
    add_connection_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_args(args)
    target = parse_s3_url(args.url)
    if target.is_prefix:
        raise UsageError(f"{args.url} names no object: write s3://BUCKET/KEY")
    expires = settings.get(EXPIRES)
    assert expires is not None
    method: Literal["GET", "PUT"] = "PUT" if args.method == "PUT" else "GET"
    uploader = connect(settings)
    print(uploader.presign(method, target.bucket, target.key, int(expires)), flush=True)
    return EXIT_OK
