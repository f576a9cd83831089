"""`Selector.route` on real request bodies, next to the equivalent LiteLLM work.

    .venv/bin/python benchmarks/bench_route.py

For each body: the median time of `route()`; where LiteLLM is installed (the optional `bench`
extra), the median time of `litellm.token_counter` alone and of `token_counter` plus the
model-info lookup and its context-window pre-check (`LITELLM_LOCAL_MODEL_COST_MAP=True`, no
network), and of a LiteLLM Router choosing among 9 deployments with `enable_pre_call_checks`.
"""

from __future__ import annotations

import base64
import os
import struct
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


if __name__ == "__main__":
    main()
