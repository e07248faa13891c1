"""What ``cp --recursive`` and ``cp SRC... s3://BUCKET/PREFIX/`` upload: the files, their
keys, and the reasons to refuse before anything is sent.

A directory's files go under the prefix by their path relative to it (``dir/a/b.txt`` ->
``PREFIX/a/b.txt``); a file named on the command line goes under it by its name.
``--include``/``--exclude`` patterns are matched, in the order given, against that relative
path (``*`` crosses ``/``, as in the aws CLI): the last one that matches decides, and a file
no pattern matches is included. Symbolic links inside a directory are skipped unless
``--follow-symlinks`` (links named on the command line are followed); so are sockets, FIFOs
and devices. Every file is opened once before the copy starts: an unreadable file or
directory, or two sources for one key, refuse the whole copy with nothing sent.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from s3stream.cli.common import S3Url, UsageError, parse_s3_url

Filter = tuple[Literal["include", "exclude"], str]


@dataclass(frozen=True, slots=True)
class FileJob:
    """One file to upload."""

    path: Path
    display: str
    """The path as the user would write it (the source given, joined with the relative path)."""
    key: str
    size: int


@dataclass
class Selection:
    files: list[FileJob] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)
    skipped_special: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)


def included(relative: str, filters: list[Filter]) -> bool:
    """Whether the last matching filter (if any) includes ``relative``."""
    verdict = True
    for kind, pattern in filters:
        if fnmatch.fnmatchcase(relative, pattern):
            verdict = kind == "include"
    return verdict


def select(
    sources: list[str],
    dst: S3Url,
    *,
    recursive: bool,
    filters: list[Filter],
    follow_symlinks: bool,
) -> Selection:
    """The files of ``sources`` and their keys under ``dst`` (a prefix); a usage error for
    anything that cannot be uploaded as asked."""
    prefix = dst.key if dst.is_prefix else dst.key + "/"
    found = Selection()
    problems: list[str] = []
    for source in sources:
        if source == "-":
            raise UsageError("- (stdin) is uploaded alone: give it as the only SRC")
        if source.startswith("s3://"):
            raise UsageError(f"{source}: s3stream cp uploads: every SRC must be a local path")
        try:
            info = os.stat(source)
        except FileNotFoundError:
            raise UsageError(f"{source}: no such file or directory: check the path") from None
        except OSError as exc:
            raise UsageError(f"{source}: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            if not recursive:
                raise UsageError(f"{source} is a directory: add --recursive to upload its files")
            _walk(Path(source), source, prefix, filters, follow_symlinks, found, problems)
        elif recursive:
            raise UsageError(
                f"{source} is a file: --recursive uploads directories; "
                "drop --recursive to upload files"
            )
        elif not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{source} is not a regular file: upload a pipe alone, as SRC")
        elif included(os.path.basename(source), filters):
            _add(Path(source), source, prefix + os.path.basename(source), found, problems)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(
            f"{problems[0]}{more}: nothing was uploaded; fix the permissions, or leave them "
            "out with --exclude PATTERN"
        )
    _check_keys(found, dst.bucket)
    return found


def _walk(
    top: Path,
    shown: str,
    prefix: str,
    filters: list[Filter],
    follow: bool,
    found: Selection,
    problems: list[str],
) -> None:
    for directory, names in _directories(top, follow, problems, found):
        for name in sorted(names):
            path = directory / name
            relative = path.relative_to(top).as_posix()
            if not included(relative, filters):
                continue
            display = os.path.join(shown, relative)
            if path.is_symlink() and not follow:
                found.skipped_links.append(display)
                continue
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                problems.append(f"{display}: {exc.strerror}")
                continue
            if not stat.S_ISREG(mode):
                found.skipped_special.append(display)
                continue
            _add(path, display, prefix + relative, found, problems)


def _directories(
    top: Path, follow: bool, problems: list[str], found: Selection
) -> Iterator[tuple[Path, list[str]]]:
    """Each directory under ``top`` with the names of its non-directory entries; links to
    directories are followed only with ``follow``, and never into a directory of their own
    ancestry (a loop)."""

    def unreadable(exc: OSError) -> None:
        problems.append(f"{exc.filename}: {exc.strerror}")

    ancestry: dict[str, frozenset[tuple[int, int]]] = {}
    for directory, dirs, files in os.walk(top, onerror=unreadable, followlinks=follow):
        here = Path(directory)
        st = here.stat()
        above = ancestry.get(os.path.dirname(directory), frozenset())
        if (st.st_dev, st.st_ino) in above:
            dirs[:] = []
            continue
        ancestry[directory] = above | {(st.st_dev, st.st_ino)}
        kept = []
        for name in sorted(dirs):
            if (here / name).is_symlink() and not follow:
                found.skipped_links.append(str(here / name))
            else:
                kept.append(name)
        dirs[:] = kept
        yield here, files


def _add(path: Path, display: str, key: str, found: Selection, problems: list[str]) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        problems.append(f"{display}: {exc.strerror}")
        return
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    found.files.append(FileJob(path, display, key, size))


def _check_keys(found: Selection, bucket: str) -> None:
    keys: dict[str, str] = {}
    for job in found.files:
        if job.key in keys:
            raise UsageError(
                f"{keys[job.key]} and {job.display} would both be s3://{bucket}/{job.key}: "
                "copy them in separate commands or rename one"
            )
        keys[job.key] = job.display
        parse_s3_url(f"s3://{bucket}/{job.key}")  # a key S3 takes (at most 1024 bytes)
