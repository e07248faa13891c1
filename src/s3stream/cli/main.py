"""The ``s3stream`` command: the parser, the dispatch, logging and errors to exit codes.

A command is one module with ``add_parser(subparsers)`` (which calls
``subparsers.add_parser(NAME, ...)`` and ``set_defaults(run=run)``) and
``run(args) -> int``; adding it to :data:`COMMANDS` is all the wiring it needs. The global
options (``--config``, ``--debug``, ``--verbose``) are added to every command, so they work
before and after its name.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from s3stream.cli import abort, cors, cp, dev, doctor, gc, ls, presign, resume, serve
from s3stream.cli.common import (
    EXIT_CODES_HELP,
    EXIT_USAGE,
    PROG,
    CliParser,
    HelpFormatter,
    describe_error,
)

COMMANDS: tuple[ModuleType, ...] = (cp, ls, resume, abort, gc, presign, doctor, serve, dev, cors)
"""In help order."""

DESCRIPTION = """\
True streaming uploads into Amazon S3 and S3-compatible stores: files, pipes of
unknown length and growing files, with parallel parts, bounded memory,
per-part checksums, retries and clean aborts."""

EPILOG = f"""\
examples:
  s3stream cp video.mp4 s3://my-bucket/videos/
  ffmpeg -i in.mov -f mp4 -movflags frag_keyframe+empty_moov pipe:1 \\
      | s3stream cp - s3://my-bucket/out.mp4
  s3stream cp --follow recording.webm s3://my-bucket/rec/
  s3stream ls                        # interrupted uploads
  s3stream resume --all              # continue them
  s3stream gc s3://my-bucket --older-than 7d
  s3stream presign --expires 1h s3://my-bucket/out.mp4
  s3stream doctor s3://my-bucket     # what the store honours, and what s3stream does
  s3stream serve                     # the tus upload gateway (embedded store if no endpoint)
  s3stream dev --bucket media        # a local store; prints `export AWS_...` lines
  s3stream cors s3://my-bucket --origin https://app.example.com  # direct browser uploads

run `s3stream COMMAND --help` for a command's options and examples.

configuration: flags > S3STREAM_* environment > config file
($XDG_CONFIG_HOME/s3stream/config.toml, or --config FILE) > defaults;
credentials, region and endpoint also come from the standard AWS chain
(AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_S3, ~/.aws/config, ...).

{EXIT_CODES_HELP}"""


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from importlib import metadata

        try:
            version = metadata.version("s3stream")
        except metadata.PackageNotFoundError:
            version = "unknown"
        print(f"{PROG} {version}", flush=True)
        parser.exit()


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--debug``, ``--verbose``; absent unless given (SUPPRESS), so the main
    parser's and a command's copies do not overwrite each other."""
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: $XDG_CONFIG_HOME/s3stream/config.toml; env S3STREAM_CONFIG)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging, and a traceback on errors",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what happens (multipart upload ids, retries)",
    )


def build_parser() -> CliParser:
    parser = CliParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    add_global_options(parser)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    for sub in subparsers.choices.values():
        add_global_options(sub)
    return parser


class _StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` (a live progress bar may have redirected it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _ShortFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def configure_logging(*, debug: bool, verbose: bool) -> None:
    handler = _StderrHandler()
    if debug:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(_ShortFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.getLogger("s3stream").setLevel(level)
    for noisy in ("botocore", "urllib3"):  # their DEBUG logs every header of every request
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    configure_logging(debug=debug, verbose=bool(getattr(args, "verbose", False)))
    run: Callable[[argparse.Namespace], Any] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(run(args))
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        message, code = describe_error(exc)
        if debug:
            traceback.print_exception(exc)
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return code
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # `s3stream ... | head`: no noise at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
