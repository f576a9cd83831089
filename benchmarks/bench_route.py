"""`Selector.route` on real request bodies, next to the equivalent LiteLLM work.

    .venv/bin/python benchmarks/bench_route.py

1. For each body: the median time of `route()`; where LiteLLM is installed (the optional
   `bench` extra), the median time of `litellm.token_counter` alone and of `token_counter` plus
   the model-info lookup and its context-window pre-check (`LITELLM_LOCAL_MODEL_COST_MAP=True`,
   no network), and of a LiteLLM Router choosing among 9 deployments with
   `enable_pre_call_checks`. The bodies include 1,000 messages just above the point where the
   byte bound first held the long-document threshold (a preference: no reason to count).
2. A growing conversation, as a gateway sees it: 1,000 turns of about 150 bytes, English and
   Chinese, the whole history re-routed every turn. Per-turn cost (median of the 11 turns
   around each checkpoint), the total, and the largest jump from one window to the next.
3. Near Flash's window, a body with a tool and a body of unpunctuated Chinese: the decision made
   from the bound or the block estimate, against the one made on the exact count, and the
   width of the interval the decision rested on.
"""

from __future__ import annotations

import base64
import os
import random
import statistics
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

from _timing import median_time

from mimo_select import Selector

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def png(width: int, height: int) -> bytes:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + crc + b"\0" * 200_000


def bodies() -> dict[str, dict[str, Any]]:
    text = ("Summarise the quarterly report and list the three largest risks. " * 30)[:2000]
    long_chat = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}: " + "word " * 20}
        for i in range(1000)
    ]
    image = "data:image/png;base64," + base64.b64encode(png(1920, 1080)).decode()
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}  # fmt: skip
    return {
        "small chat (2 KB)": {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "You are a careful analyst."},
                {"role": "user", "content": text},
            ],
            "max_tokens": 1024,
        },
        "1,000 messages": {"model": "auto", "messages": long_chat},
        "past the old switch": {
            "model": "auto",
            "messages": [{**m, "content": m["content"] + "word " * 8} for m in long_chat],
        },
        "multimodal": {
            "model": "auto",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": image}},
                    ],
                }
            ],
        },
        "tools": {
            "model": "auto",
            "tools": [tool],
            "tool_choice": "auto",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "1", "content": "sunny, 21 C"},
            ],
        },
        "tts": {
            "model": "auto",
            "audio": {"format": "wav", "voice": "mimo_default"},
            "messages": [{"role": "assistant", "content": "Good morning, and welcome aboard."}],
        },
    }


def litellm_work() -> dict[str, Callable[[dict[str, Any]], object]] | None:
    try:
        import litellm
        from litellm import Router
    except ImportError:
        return None
    litellm.suppress_debug_info = True
    model = "gpt-4o"  # a model the local cost map knows; the work is the same for any model

    def counter(body: dict[str, Any]) -> object:
        return litellm.token_counter(model=model, messages=body["messages"])

    def checked(body: dict[str, Any]) -> object:
        tokens = litellm.token_counter(model=model, messages=body["messages"])
        info = litellm.get_model_info(model)
        limit = info.get("max_input_tokens") or info.get("max_tokens") or 0
        return tokens + (body.get("max_tokens") or 0) <= limit

    router = Router(
        model_list=[
            {"model_name": "mimo", "litellm_params": {"model": m, "api_key": "x"}}
            for m in (
                "gpt-4o",
                "gpt-4o-mini",
                "gpt-4.1",
                "gpt-4.1-mini",
                "gpt-4.1-nano",
                "gpt-3.5-turbo",
                "gpt-4-turbo",
                "o3-mini",
                "o1",
            )
        ],
        enable_pre_call_checks=True,
    )

    def routed(body: dict[str, Any]) -> object:
        return router.get_available_deployment(model="mimo", messages=body["messages"])

    return {"token_counter": counter, "counter+check": checked, "Router": routed}


def conversation(language: str, turns: int) -> list[dict[str, str]]:
    rng = random.Random(11)
    if language == "english":
        words = ["the", "report", "shows", "revenue", "growth", "in", "every", "region", "while",
                 "costs", "fell", "team", "expects", "more", "next", "quarter", "demand"]  # fmt: skip
        say = lambda: " ".join(rng.choice(words) for _ in range(26))  # noqa: E731
    else:
        say = lambda: "".join(rng.choice("收入增长成本下降团队预计下季度需求稳定地区报告显示")  # noqa: E731
                              for _ in range(48)) + "。"  # fmt: skip
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": say()}
            for i in range(turns)]  # fmt: skip


def growing(selector: Selector, language: str, turns: int = 1000) -> None:
    """Route the whole history every turn, as a gateway does; time each turn once."""
    history = conversation(language, turns)
    times = []
    for n in range(1, turns + 1):
        body = {"model": "auto", "messages": history[:n]}
        start = time.perf_counter()
        selector.route(body)
        times.append(time.perf_counter() - start)
    windows = {k: statistics.median(times[max(0, k - 6) : k + 5]) for k in range(10, turns + 1, 10)}
    steps = [windows[k + 10] / windows[k] for k in windows if k + 10 in windows]
    marks = "  ".join(f"turn {k}: {windows[k] * 1e6:.0f} us" for k in (100, 500, 800, 900, turns))
    print(f"{language:8} {marks}  total {sum(times) * 1e3:.0f} ms  largest jump {max(steps):.2f}x")


def near_the_window(selector: Selector) -> None:
    """Bodies near Flash's 262,144-token window: bound or estimate against the exact count."""
    rng = random.Random(5)
    tool = {"type": "function", "function": {"name": "search", "description": "Search.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}  # fmt: skip
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    english = " ".join(rng.choice(words) for _ in range(250_000))
    chinese = "".join(
        rng.choice("收入增长成本下降团队预计下季度需求稳定地区报告显示") for _ in range(380_000)
    )
    cases = {
        "tools, 250K tokens": {"model": "auto", "tools": [tool],
                               "messages": [{"role": "user", "content": english}]},
        "Chinese, no spaces": {"model": "auto",
                               "messages": [{"role": "user", "content": chinese}]},
    }  # fmt: skip
    for name, body in cases.items():
        decision = selector.route(body)
        exact = selector.read(body, exact=True)
        on_exact = selector.select(exact.traits, model=exact.model)
        count = decision.traits.tokens
        assert count is not None
        width = (count.upper_bound or 0) - count.lower_bound
        same = decision.model == on_exact.model and decision.fallbacks == on_exact.fallbacks
        print(f"{name:20} decided {decision.model}, on the exact count {on_exact.model}"
              f" ({'same' if same else 'DIFFERENT'}); interval width {width:,} tokens around"
              f" {exact.tokens.tokens:,}; route {median_time(lambda b=body: selector.route(b), 0.5) * 1e3:.1f} ms")  # fmt: skip


def main() -> None:
    selector = Selector.default()
    others = litellm_work()
    header = f"{'body':18} {'route() us':>11}"
    if others:
        header += "".join(f" {name + ' us':>17}" for name in others) + "  ratios (them/us)"
    print(header)
    for name, body in bodies().items():
        ours = median_time(lambda body=body: selector.route(body))
        line = f"{name:18} {ours * 1e6:>11.1f}"
        if others:
            theirs = {k: median_time(lambda fn=fn, body=body: fn(body)) for k, fn in others.items()}
            line += "".join(f" {t * 1e6:>17.1f}" for t in theirs.values())
            line += "  " + ", ".join(f"{k} {t / ours:.0f}x" for k, t in theirs.items())
        print(line)
    if not others:
        print("(LiteLLM is not installed: pip install -e '.[bench]' to compare)")
    print("\ngrowing conversation, whole history re-routed each turn")
    for language in ("english", "chinese"):
        growing(selector, language)
    print("\nnear Flash's window")
    near_the_window(selector)


if __name__ == "__main__":
    main()
