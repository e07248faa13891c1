"""Write N bytes to stdout, fast and cheaply: one 4 MiB block of random data, repeated.

    python bench/gen_stream.py 16GiB | consumer

The producer of the growth benchmark's unknown-length streams; it costs about 0.05
CPU-seconds per GiB, so the consumer is what gets measured.
"""

from __future__ import annotations

import os
import sys

BLOCK = 4 * 1024 * 1024


def main() -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from benchlib import parse_size

    left = parse_size(sys.argv[1])
    block = memoryview(os.urandom(BLOCK))
    fd = sys.stdout.fileno()
    try:
        while left:
            n = os.write(fd, block[: min(BLOCK, left)])
            left -= n
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
