"""`mimo-select serve` under load: `/v1/route` next to a bare JSON echo on the same server.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 5] [--rounds 3] [--workers 1]
        [--distinct | --unique]

Starts the real server (`python -m mimo_select.serve --echo`, the same code and settings as
`mimo-select serve`: host check, body limit, problem details) on a free 127.0.0.1 port, then
drives it from a separate client process over HTTP/1.1 keep-alive connections with a 2 KB
chat body (the `small chat` of bench_route.py), at 1, 16 and 128 concurrent connections. At
each level `POST /v1/echo` (the body read by the same strict JSON reader and written back)
and `POST /v1/route` run in turn for the same time: the full decision (about 6 KB), then
`?fields=model,fallbacks` (what a gateway reads) and `?apply=true` (the body to send);
requests/s and p50/p99 latency for each, and its throughput as a share of echo's (the
target is 70 % or more). The endpoints take turns for `--rounds` rounds and the medians are
reported, so that a slow spell of a shared machine falls on all of them alike.

`--distinct` sends a different body every request (20,000 of them, each cut and numbered
differently, all within 10 % of 2 KB): no body is seen twice, though bodies of one length
read alike (their counts are bounded by their length), as real traffic of one size does.
`--unique` also gives each body its own `max_tokens`, so that no two requests read alike and
no decision is ever remembered: the worst case.
The client is a minimal asyncio protocol, so that it is not what limits the numbers; on a
2-core machine client and server share the cores, and both endpoints are measured alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from statistics import median_high
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("Summarise the quarterly report and list the three largest risks. " * 30)[:2000]


def body(n: int = 0, *, unique: bool = False) -> dict[str, Any]:
    """The 2 KB chat; the n-th distinct one (n > 0) is cut shorter by n % 200 characters and
    numbered, so that no two are alike and all stay within 10 % of 2 KB; `unique` gives it
    its own output budget too."""
    text = TEXT if n == 0 else f"{TEXT[: len(TEXT) - n % 200]} (request {n})"
    return {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a careful analyst."},
            {"role": "user", "content": text},
        ],
        "max_tokens": 1024 + n if unique else 1024,
    }


def request_bytes(path: str, payload: bytes, port: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


class _Conn(asyncio.Protocol):
    """One keep-alive connection: sends a request, reads the whole response, sends the next.

    Its first request only opens the way (not measured): the run starts when every connection
    has had one answer, so it measures the steady state, not the server accepting them.
    """

    def __init__(self, run: _Run, ready: asyncio.Future[None], done: asyncio.Future[None]) -> None:
        self.run = run
        self.ready = ready
        self.done = done
        self.buf = bytearray()
        self.sent = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.send()

    def send(self) -> None:
        run = self.run
        self.sent = time.perf_counter()
        self.transport.write(run.requests[run.i % len(run.requests)])
        run.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        now = time.perf_counter()
        del self.buf[: end + 4 + length]
        run = self.run
        if not self.ready.done():
            self.ready.set_result(None)  # warmed up: wait for the others
            return
        status = int(head[9:12])
        run.statuses[status] = run.statuses.get(status, 0) + 1
        run.latencies.append(now - self.sent)
        if now < run.stop:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Run:
    def __init__(self, requests: list[bytes]) -> None:
        self.requests = requests
        self.i = 0
        self.stop = math.inf
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}


async def _drive(
    port: int, bodies: list[bytes], connections: int, seconds: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(bodies)
    conns, readies, dones = [], [], []
    for _ in range(connections):
        ready: asyncio.Future[None] = loop.create_future()
        done: asyncio.Future[None] = loop.create_future()
        _, conn = await loop.create_connection(
            lambda r=ready, d=done: _Conn(run, r, d), "127.0.0.1", port
        )
        conns.append(conn)
        readies.append(ready)
        dones.append(done)
    await asyncio.gather(*readies)
    start = time.perf_counter()
    run.stop = start + seconds
    for conn in conns:
        conn.send()
    await asyncio.gather(*dones)
    elapsed = time.perf_counter() - start
    latencies = sorted(run.latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1e3,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        "n": len(latencies),
        "statuses": run.statuses,
    }


def _client(port: int, bodies: list[bytes], connections: int, seconds: float, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(_drive(port, bodies, connections, seconds)))


def measure(port: int, bodies: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    """Run the load from a separate process (the server has its own)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_client, args=(port, bodies, connections, seconds, queue))
    proc.start()
    result = queue.get(timeout=seconds + 60)
    proc.join()
    return dict(result)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mimo_select.serve", "--port", str(port), "--echo",
         "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not become ready in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint and level")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--levels", default="1,16,128")
    parser.add_argument("--distinct", action="store_true", help="a new body every request")
    parser.add_argument("--unique", action="store_true", help="and a new budget: none alike")
    parser.add_argument("--rounds", type=int, default=3, help="runs per endpoint, in turn")
    args = parser.parse_args()
    port = free_port()
    count = 20_000 if args.distinct or args.unique else 1
    payloads = [json.dumps(body(i, unique=args.unique)).encode() for i in range(count)]
    kind = "the same body"
    if args.distinct or args.unique:
        kind = "unique requests" if args.unique else "distinct bodies"
    route = [request_bytes("/v1/route", p, port) for p in payloads]
    applied = [request_bytes("/v1/route?apply=true", p, port) for p in payloads]
    lean = [request_bytes("/v1/route?fields=model,fallbacks", p, port) for p in payloads]
    echo = [request_bytes("/v1/echo", p, port) for p in payloads]
    size = len(payloads[0])
    server = start_server(port, args.workers)
    try:
        print(f"mimo-select serve: {args.workers} worker(s), {os.cpu_count()} cores; body "
              f"{size:,} bytes ({kind}); "
              f"{args.rounds} rounds of {args.seconds:g} s per endpoint, medians")  # fmt: skip
        measure(port, echo[:1] + route[:1], 4, 1.0)  # warm up: tokenizer, caches, JIT-free paths
        print(f"{'conns':>5}  {'endpoint':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  "
              f"{'route/echo':>10}  statuses")  # fmt: skip
        runs = (("echo", echo), ("/v1/route", route), ("?fields", lean), ("?apply", applied))
        for level in map(int, args.levels.split(",")):
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in runs}
            for _ in range(args.rounds):  # in turn, so that a slow spell hits them all alike
                for name, reqs in runs:
                    rounds[name].append(measure(port, reqs, level, args.seconds))
            echo_rps = median_high(r["rps"] for r in rounds["echo"])
            for name, _ in runs:
                rps = median_high(r["rps"] for r in rounds[name])
                p50 = median_high(r["p50"] for r in rounds[name])
                p99 = median_high(r["p99"] for r in rounds[name])
                statuses = dict(sum((Counter(r["statuses"]) for r in rounds[name]), Counter()))
                share = "" if name == "echo" else f"{rps / echo_rps:.0%}"
                print(f"{level:>5}  {name:<10} {rps:>8,.0f} {p50:>8.2f} "
                      f"{p99:>8.2f}  {share:>10}  {statuses}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
