"""The ``s3stream`` command line.

One module per command, each with ``add_parser(subparsers)`` and ``run(args) -> int``;
:mod:`.main` builds the parser, dispatches and maps errors to exit codes. Everything that
reads the environment or configuration files lives here, never in the library.
"""
