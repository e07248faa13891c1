"""``cp --follow``: upload a file while it is being written (a recording), as it grows.

The library's :meth:`~s3stream.S3StreamUploader.follow_file` does the work: parts go out as
the file grows, it completes after ``--idle`` without growth, and parts the writer changed
after they were sent are sent again before completion. Here: the first Ctrl-C asks it to
complete with what the file holds now, the second aborts.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from s3stream.cli.common import EXIT_OK, S3Url, format_duration
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.progress import Mode, make_reporter, start_info
from s3stream.uploader import S3StreamUploader


def follow_upload(
    uploader: S3StreamUploader,
    path: Path,
    dst: S3Url,
    options: dict[str, Any],
    mode: Mode,
    *,
    idle: float,
) -> int:
    options = dict(options)
    if options.get("content_type") is None:
        options["content_type"] = mimetypes.guess_type(path.name)[0]
    reporter = make_reporter(mode)
    reporter.start(start_info(str(path), dst.bucket, dst.key, None, options))
    stop_requested = False

    def request_stop(signum: int) -> None:  # a signal handler: only sets a flag
        nonlocal stop_requested
        stop_requested = True

    reporter.note(
        f"following {path}: completing after {format_duration(idle)} without growth; "
        "Ctrl-C to complete now, twice to abort"
    )
    # the handlers stay installed during the abort: one more Ctrl-C then exits at once
    with Interrupts(on_first=request_stop, upload_id=lambda: reporter.upload_id):
        try:
            result = uploader.follow_file(
                path,
                dst.bucket,
                dst.key,
                on_progress=reporter,
                idle=idle,
                stop=lambda: stop_requested,
                on_note=reporter.note,
                **options,
            )
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and not exc.args:
                exc.args = ("the upload was stopped and aborted",)
            reporter.failed(exc)
            raise
    reporter.completed(result)
    return EXIT_OK
