"""A TCP relay that delays every byte by a fixed time in each direction.

    python bench/delay_relay.py --listen 127.0.0.1:0 --target 10.203.0.2:8333 --delay-ms 10

The kernel here has no ``netem``, so the link benchmark puts this relay in the path to add
a round trip: every chunk read from one side is written to the other ``delay`` later (10 ms
each way gives a 20 ms round trip to every request and response). Each direction of each
connection has a reader thread and a writer thread joined by a queue of (due time, bytes)
holding at most ``--window`` bytes, so the relay exerts back-pressure instead of buffering
without bound. Prints ``READY <port>`` on stdout once it listens; stops on SIGTERM.

What it does not emulate: TCP's own round trip. The client's and the store's kernels see the
relay's ACKs at once, so congestion windows grow as on a short path; only request/response
latency (HTTP, ``Expect: 100-continue``, part after part on one connection) sees 20 ms.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

CHUNK = 256 * 1024


class DelayPipe:
    """One direction of one connection: src -> (delay) -> dst, with a bounded window."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay: float, window: int):
        self.src, self.dst, self.delay, self.window = src, dst, delay, window
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.held = 0
        self.eof = False
        self.cond = threading.Condition()

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.read_loop, daemon=True),
            threading.Thread(target=self.write_loop, daemon=True),
        ]
        for t in threads:
            t.start()
        return threads

    def read_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while self.held >= self.window:
                        self.cond.wait()
                data = self.src.recv(CHUNK)
                if not data:
                    break
                with self.cond:
                    self.queue.append((time.monotonic() + self.delay, data))
                    self.held += len(data)
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def write_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.eof:
                        self.cond.wait()
                    if not self.queue:
                        break
                    due, data = self.queue.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.dst.sendall(data)
                with self.cond:
                    self.held -= len(data)
                    self.cond.notify_all()
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            # the other side is gone: unblock the reader and close both ends
            for sock in (self.src, self.dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        with self.cond:
            self.held = 0
            self.eof = True
            self.cond.notify_all()


def handle(client: socket.socket, target: tuple[str, int], delay: float, window: int) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threads = DelayPipe(client, upstream, delay, window).start()
    threads += DelayPipe(upstream, client, delay, window).start()
    for t in threads:
        t.join()
    client.close()
    upstream.close()


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (127.0.0.1:0)")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="each way (10)")
    parser.add_argument("--window", type=int, default=8 * 1024 * 1024, help="bytes per way")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    target = parse_address(args.target)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(parse_address(args.listen))
    server.listen(64)
    print(f"READY {server.getsockname()[1]}", flush=True)
    delay = args.delay_ms / 1000
    while True:
        client, _ = server.accept()
        threading.Thread(
            target=handle, args=(client, target, delay, args.window), daemon=True
        ).start()


if __name__ == "__main__":
    sys.exit(main())
