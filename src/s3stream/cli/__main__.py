"""``python -m s3stream.cli``: the same as the ``s3stream`` command."""

from s3stream.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
