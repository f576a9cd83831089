"""Usage stores under contention and their cost, next to the `limits` library. Run:

    .venv/bin/python benchmarks/bench_limits.py

Starts and stops its own redis-server. Three parts:

1. exactness: 4 processes x 8 threads admit [A, B] through one `RedisUsage` account with a
   1 s window and small limits for 4 windows. Per model: the most requests and tokens in any
   1 s interval against the limit, by Redis's clock (the store's time base) and by the host's
   clock read right after admission (when a gateway would send), and how many spilled to B.
   Threads wake up late by up to tens of milliseconds on a busy host, so an exact store window
   can look wider from the host; a store window a little longer than the platform's absorbs
   that (the run with a window of 1 s + MARGIN).
2. overhead: `MemoryUsage.admit` and `RedisUsage.admit` per call, next to one bare PING to
   the same server in the same run.
3. `limits`: the same contention with its moving-window Redis limiter (1 s is its smallest
   window), one test-and-hit per limit (RPM, then TPM) per candidate: up to 4 round trips per
   decision, atomic per key only. Then two replicas, one with its clock 0.3 s behind, fill the
   same limit in turn: `limits` stamps entries with the client's clock, `RedisUsage` with
   Redis's.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import median_time

from mimo_select.catalog import load_catalog
from mimo_select.usage import MemoryUsage, RedisUsage
from tests.redis_server import RedisServer, find_redis_server

A, B = load_catalog().ids[:2]
WINDOW = 1.0  # the platform's window here; `limits` counts whole seconds
LIMITS = {A: {"rpm": 20, "tpm": 600}, B: {"rpm": 10, "tpm": 300}}
PROCESSES, THREADS, WINDOWS = 4, 8, 4
MARGIN = 0.1  # seconds added to the store's window in the margin run
SKEW = 0.3  # seconds one replica's clock runs behind in the skew demo


@dataclass(frozen=True)
class Run:
    kind: str  # "ours" | "limits"
    url: str
    account: str
    window: float


def _ours(run: Run) -> Any:
    store = RedisUsage(run.url, account=run.account, limits=LIMITS, window=run.window)

    def decide(tokens: int) -> tuple[str | None, float | None, int, int]:
        a = store.admit([(m, tokens) for m in LIMITS])
        return a.model, a.lease.admitted_at if a.lease else None, 1, 0

    return decide


def _limits_items(window: float) -> dict[str, Any]:
    from limits import RateLimitItemPerSecond

    return {
        m: (
            RateLimitItemPerSecond(lim["rpm"], int(window), namespace="rpm"),
            RateLimitItemPerSecond(lim["tpm"], int(window), namespace="tpm"),
        )
        for m, lim in LIMITS.items()
    }


def _limits(run: Run) -> Any:
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(RedisStorage(run.url))
    items = _limits_items(run.window)

    def decide(tokens: int) -> tuple[str | None, float | None, int, int]:
        trips = burnt = 0
        for model, (rpm, tpm) in items.items():
            trips += 1
            if not limiter.hit(rpm, run.account, model):
                continue
            trips += 1
            if limiter.hit(tpm, run.account, model, cost=tokens):
                return model, None, trips, burnt
            burnt += 1  # the RPM slot is spent and cannot be given back; nothing is sent
        return None, None, trips, burnt

    return decide


def _worker(run: Run, go: Any, out: Any) -> None:
    decide = (_ours if run.kind == "ours" else _limits)(run)
    rows: list[tuple[str | None, float | None, float, int, int, int]] = []
    lock = threading.Lock()
    out.put("ready")
    go.wait()
    end = time.monotonic() + WINDOWS * WINDOW

    def hammer() -> None:
        rng = random.Random()
        mine = []
        while time.monotonic() < end:
            tokens = rng.randint(10, 50)
            model, store_at, trips, burnt = decide(tokens)
            mine.append((model, store_at, time.monotonic(), tokens, trips, burnt))
        with lock:
            rows.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(rows)


def worst(points: list[tuple[float, int]], window: float) -> tuple[int, int]:
    """The most requests and the most tokens in any interval (t - window, t]."""
    points.sort()
    best_n = best_tok = 0
    i = tok = 0
    for j, (t, n) in enumerate(points):
        tok += n
        while points[i][0] <= t - window:
            tok -= points[i][1]
            i += 1
        best_n, best_tok = max(best_n, j - i + 1), max(best_tok, tok)
    return best_n, best_tok


def contention(kind: str, url: str, window: float = WINDOW) -> list[list[str]]:
    """One run; every worst window is measured over the platform's WINDOW."""
    ctx = multiprocessing.get_context("fork")
    out, go = ctx.Queue(), ctx.Event()
    run = Run(kind, url, uuid.uuid4().hex[:8], window)
    procs = [ctx.Process(target=_worker, args=(run, go, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for _ in procs:
        out.get()
    go.set()
    rows = [r for _ in procs for r in out.get()]
    for p in procs:
        p.join()
    name = {"ours": "RedisUsage", "limits": "limits moving window"}[kind]
    name += f", window {window:g} s"
    trips = [r[4] for r in rows]
    table = []
    for model, lim in LIMITS.items():
        got = [r for r in rows if r[0] == model]
        by_host = worst([(r[2], r[3]) for r in got], WINDOW)
        by_redis = worst([(r[1], r[3]) for r in got], WINDOW) if kind == "ours" else None
        table.append(
            [
                name if model == A else "", model, f"{lim['rpm']}/{lim['tpm']}", str(len(got)),
                f"{by_redis[0]}/{by_redis[1]}" if by_redis else "-",
                f"{by_host[0]}/{by_host[1]}",
                str(len(got)) if model == B else "",
                f"{sum(trips) / len(trips):.2f} (max {max(trips)})" if model == A else "",
                str(sum(r[5] for r in rows)) if model == A and kind == "limits" else "",
            ]
        )  # fmt: skip
    refused = sum(1 for r in rows if r[0] is None)
    table.append(["", "none fit", "", f"{refused} of {len(rows)}", "", "", "", "", ""])
    return table


def skew_demo(url: str) -> list[list[str]]:
    """Two replicas fill A's RPM in turn; replica 1's clock runs SKEW seconds behind."""
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    rpm = LIMITS[A]["rpm"]
    real = time.time
    rows = []
    for kind in ("ours", "limits"):
        account = uuid.uuid4().hex[:8]
        if kind == "ours":
            stores = [
                RedisUsage(url, account=account, limits=LIMITS, window=WINDOW) for _ in range(2)
            ]

            def admit(replica: int, stores: list[RedisUsage] = stores) -> bool:
                return stores[replica].admit([(A, 1)]).model is not None
        else:
            limiter = MovingWindowRateLimiter(RedisStorage(url))
            item = _limits_items(WINDOW)[A][0]

            def admit(
                replica: int, limiter: Any = limiter, item: Any = item, account: str = account
            ) -> bool:
                return bool(limiter.hit(item, account, A))

        sent: list[float] = []

        def fill(replica: int, admit: Any = admit, sent: list[float] = sent) -> None:
            time.time = (lambda: real() - SKEW) if replica == 1 else real  # type: ignore[assignment]
            try:
                for _ in range(3 * rpm):
                    if admit(replica):
                        sent.append(time.monotonic())
            finally:
                time.time = real  # type: ignore[assignment]

        start = time.monotonic()
        fill(1)
        time.sleep(max(0.0, start + WINDOW - SKEW + 0.05 - time.monotonic()))
        fill(0)
        n, _ = worst([(t, 1) for t in sent], WINDOW)
        name = "RedisUsage" if kind == "ours" else "limits moving window"
        rows.append([name, f"{rpm}", str(len(sent)), f"{n}"])
    return rows


def overhead(url: str) -> list[list[str]]:
    """Median per call, best of 3 interleaved rounds (this host is shared and noisy)."""
    import redis
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    # a short window keeps as few entries in play as a real per-minute limit would
    big = {m: {"rpm": 10**9, "tpm": 10**15} for m in LIMITS}
    memory = MemoryUsage(limits=big, window=0.02)
    store = RedisUsage(url, account=uuid.uuid4().hex[:8], limits=big, window=0.02)
    full = {m: {"rpm": 1, "tpm": 10**9} for m in LIMITS}
    three = RedisUsage(url, account=uuid.uuid4().hex[:8], limits=full, window=3600)
    three.admit([(A, 1)])
    three.admit([(B, 1)])
    limiter = MovingWindowRateLimiter(RedisStorage(url))
    item = RateLimitItemPerSecond(10**6, 1)
    client = redis.Redis.from_url(url)
    calls = {
        "PING round trip": client.ping,
        "MemoryUsage.admit, 1 candidate": lambda: memory.admit([(A, 1)]),
        "RedisUsage.admit, 1 candidate": lambda: store.admit([(A, 1)]),
        "RedisUsage.admit, 2 refused, none fits": lambda: three.admit([(A, 1), (B, 1)]),
        "limits moving-window hit, 1 limit": lambda: limiter.hit(item, "x"),
    }
    best = {name: float("inf") for name in calls}
    for _ in range(3):
        for name, call in calls.items():
            best[name] = min(best[name], median_time(call, 0.5))
    ping = best["PING round trip"]
    return [[name, f"{t * 1e6:,.0f} us", f"{t / ping:.2f}x"] for name, t in best.items()]


def print_table(title: str, head: list[str], rows: list[list[str]]) -> None:
    print(title)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()


def main() -> None:
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server is not installed (set REDIS_SERVER)")
    server = RedisServer(binary).start()
    try:
        rows = contention("ours", server.url) + contention("ours", server.url, WINDOW + MARGIN)
        rows += contention("limits", server.url)
        print_table(
            f"Contention: {PROCESSES} processes x {THREADS} threads, {WINDOWS} windows of "
            f"{WINDOW:g} s, candidates [{A}, {B}], 10-50 tokens each; worst = most in any "
            f"{WINDOW:g} s",
            [
                "store", "model", "rpm/tpm", "admitted", "worst req/tok, redis clock",
                "worst req/tok, host clock", "spilled", "trips/decision", "rpm slots burnt",
            ],
            rows,
        )  # fmt: skip
        print_table(
            f"Clock skew: replica 1 ({SKEW:g} s behind) fills A, replica 2 tries "
            f"{WINDOW - SKEW + 0.05:g} s later",
            ["store", "rpm", "admitted", f"worst in {WINDOW:g} s"],
            skew_demo(server.url),
        )
        print_table("Per call", ["call", "median", "vs PING"], overhead(server.url))
    finally:
        server.close()


if __name__ == "__main__":
    main()
