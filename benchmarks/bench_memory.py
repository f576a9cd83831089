"""Memory of a long-running router: route (and count) many distinct large bodies in one process
and watch the resident set. It must level off after warm-up: every cache on the request path
is bounded in bytes, and nothing of a request is kept once its decision is dropped.

    .venv/bin/python benchmarks/bench_memory.py [N]

Reports RSS (VmRSS) and its peak (VmHWM) after warm-up and at checkpoints, for two loads:
distinct chats with tools counted exactly (the renderer and its caches at work), and a few
hundred bodies with 1 MB tool schemas (what once held 3 GB through an unbounded cache).
"""

from __future__ import annotations

import random
import string
import sys
import time
from typing import Any

from mimo_select import Selector


def rss() -> tuple[float, float]:
    """(current, peak) resident set in MiB, from /proc."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def words(rng: random.Random, n: int) -> str:
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(n)
    )


def chat_body(rng: random.Random, i: int, tool_bytes: int) -> dict[str, Any]:
    turns = [{"role": "user" if k % 2 == 0 else "assistant", "content": f"{i} {words(rng, 60)}"}
             for k in range(rng.randint(4, 12))]  # fmt: skip
    doc = words(rng, tool_bytes // 6)
    tool = {"type": "function", "function": {"name": f"lookup_{i}", "description": doc,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}  # fmt: skip
    return {"model": "auto", "messages": turns, "tools": [tool]}


def run(label: str, n: int, tool_bytes: int, checkpoints: tuple[int, ...]) -> None:
    selector = Selector.default()
    rng = random.Random(7)
    start = time.perf_counter()
    print(f"\n{label}: {n:,} distinct bodies, tools of about {tool_bytes:,} bytes")
    print("  routed   RSS MiB   peak MiB   s")
    for i in range(1, n + 1):
        body = chat_body(rng, i, tool_bytes)
        selector.route(body)
        selector.read(body, exact=True)  # the renderer, as near a limit
        if i in checkpoints:
            now, peak = rss()
            print(f"  {i:6,}   {now:7.1f}   {peak:8.1f}   {time.perf_counter() - start:5.1f}")


def fill_the_count_memory() -> None:
    """Count distinct conversations until the count memory holds its budget, and then some:
    the resident set with the memory full, and that it stays there."""
    from mimo_select import _memo

    selector = Selector.default()
    rng = random.Random(3)
    budget = _memo.MEMORY.budget
    print(f"\ncount memory: budget {budget:,} characters")
    print("  characters held   entries   RSS MiB   peak MiB")
    fed = 0
    for checkpoint in (0.25, 0.5, 1.0, 1.5, 2.0):
        while fed < checkpoint * budget:
            messages = [{"role": "user", "content": words(rng, 400)} for _ in range(20)]
            selector.read({"messages": messages}, exact=True)
            fed += sum(len(m["content"]) for m in messages)
        now, peak = rss()
        memory = _memo.MEMORY
        print(f"  {memory.chars:15,}   {len(memory):7,}   {now:7.1f}   {peak:8.1f}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    now, peak = rss()
    print(f"at start: RSS {now:.1f} MiB, peak {peak:.1f} MiB")
    marks = tuple(sorted({min(n, k) for k in (100, 1_000, 2_500, 5_000, 7_500, 10_000)}))
    run("chats with tools, counted exactly", n, 4_000, marks)
    big = max(1, n // 33)  # 300 for the default run
    run("1 MB tool schemas", big, 1_000_000, tuple(sorted({1, big // 3, 2 * big // 3, big})))
    fill_the_count_memory()


if __name__ == "__main__":
    main()
