"""Tokenizer load time, counting throughput next to raw tiktoken, and the fast path.

    .venv/bin/python benchmarks/bench_tokens.py

1. Load: a fresh process imports mimo_select and counts one word (median of 5 runs).
2. Throughput: `count_tokens` against `encoding().encode_ordinary` on the same text, for
   English, Chinese, code and JSON from 1 KB to 4 MB; the ratio is ours / raw (target >= 0.9).
3. Fast path: deciding for a 10 KB chat from its byte bound, against counting it exactly and
   deciding (target >= 100x).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

from _timing import median_time

from mimo_select import Selector, Traits
from mimo_select._bpe import encoding
from mimo_select.tokens import bound_chat, bound_text, count_chat, count_text, count_tokens

SIZES = [1 << 10, 1 << 14, 1 << 18, 1 << 22]  # 1 KB .. 4 MB


def samples(size: int, seed: int = 1) -> dict[str, str]:
    rng = random.Random(seed)
    words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "it",
        "as",
        "with",
        "was",
        "on",
        "be",
        "by",
        "this",
        "are",
        "or",
        "from",
        "at",
        "an",
        "model",
        "request",
        "limit",
        "token",
        "window",
        "context",
        "route",
        "choose",
        "output",
        "speech",
    ]
    english = " ".join(rng.choice(words) for _ in range(size // 4))
    chinese = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(size // 3))
    code = "".join(
        p.read_text() for p in sorted(Path(__file__).parent.parent.glob("mimo_select/*.py"))
    )
    rows = [
        {"id": i, "name": rng.choice(words), "score": rng.random(), "tags": words[:5]}
        for i in range(size // 60)
    ]
    data = json.dumps(rows)
    out = {"english": english, "chinese": chinese, "code": code, "json": data}
    return {k: _cut(v * (size // max(1, len(v.encode())) + 1), size) for k, v in out.items()}


def _cut(text: str, size: int) -> str:
    return text.encode()[:size].decode("utf-8", "ignore")


def load_time() -> tuple[float, float]:
    code = (
        "import time; t = time.perf_counter()\n"
        "import tiktoken; from mimo_select.tokens import count_tokens\n"
        "t1 = time.perf_counter(); count_tokens('hello')\n"
        "t2 = time.perf_counter(); print(t1 - t, t2 - t1)\n"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        runs.append(tuple(map(float, out.stdout.split())))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    imp, load = load_time()
    print(
        f"tokenizer load (read, verify sha256, build): {load * 1e3:.0f} ms median of 5 fresh "
        f"processes, after importing tiktoken and mimo_select.tokens ({imp * 1e3:.0f} ms; "
        "target <= 150 ms)"
    )
    enc = encoding()
    print(f"\n{'text':8} {'size':>7} {'ours MB/s':>10} {'raw MB/s':>9} {'ratio':>6}")
    ratios = []
    for size in SIZES:
        for kind, text in samples(size).items():
            budget = 0.2 if size < (1 << 20) else 1.0
            ours = median_time(lambda text=text: count_tokens(text), budget)
            raw = median_time(lambda text=text: enc.encode_ordinary(text), budget)
            assert count_tokens(text) == len(enc.encode(text, allowed_special="all")), kind
            mb = len(text.encode()) / 1e6
            ratios.append(raw / ours)
            rates = f"{mb / ours:>10.2f} {mb / raw:>9.2f} {raw / ours:>6.2f}"
            print(f"{kind:8} {size // 1024:>5}KB {rates}")
    print(
        f"throughput ours/raw: min {min(ratios):.2f}, median {statistics.median(ratios):.2f} "
        "(target >= 0.9)"
    )

    selector = Selector.default()
    prompt = samples(10 * 1024)["english"]
    bound = median_time(lambda: bound_text(prompt), 0.3)
    exact = median_time(lambda: count_text(prompt), 0.3)
    print(
        f"\n10 KB prompt: byte bound {bound * 1e6:.2f} us; exact count {exact * 1e6:.1f} us; "
        f"ratio {exact / bound:.0f}x (target >= 100x)"
    )
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": prompt},
    ]
    chat_bound = median_time(lambda: bound_chat(messages), 0.3)
    chat_exact = median_time(lambda: count_chat(messages), 0.3)
    print(
        f"10 KB chat:   byte bound {chat_bound * 1e6:.2f} us; "
        f"exact count {chat_exact * 1e6:.1f} us; ratio {chat_exact / chat_bound:.0f}x"
    )
    fast = median_time(lambda: selector.select(Traits(messages=messages)), 0.5)
    assert not selector.select(Traits(messages=messages)).traits.tokens.exact  # type: ignore[union-attr]
    full = median_time(lambda: selector.select(Traits(tokens=count_chat(messages))), 0.5)
    print(
        f"10 KB chat, whole decision: from the byte bound {fast * 1e6:.1f} us; counted exactly "
        f"{full * 1e6:.1f} us; ratio {full / fast:.0f}x"
    )


if __name__ == "__main__":
    main()
