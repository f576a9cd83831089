"""LiteLLM's Router as one replica of a gateway, for bench_limits.py: mock responses, no network.

`Replica` builds a Router over one deployment per model, with `usage-based-routing-v2` and a
shared redis-server, and sends the benchmark's request bodies through `Router.acompletion`
from `tasks` concurrent coroutines. Each deployment answers with a mock response whose `usage`
is the request's own (prompt and completion tokens as the benchmark draws them), so LiteLLM's
TPM counter sees the same totals `RedisUsage` is settled with. `guard_network` refuses every
connection outside the loopback range, so a run that reached the network says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import socket
import time
from collections import Counter
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

GROUP = "mimo"  # the model group every deployment belongs to
WARMUP = "warmup"  # a group without limits: each replica's first calls are slow (lazy setup)


def version() -> str | None:
    """LiteLLM's version, or None when it is not importable here."""
    try:
        import litellm  # noqa: F401  (imported once here, before the replicas fork)
    except ImportError:
        return None
    from importlib.metadata import version

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # refusals are counted, not logged
    return version("litellm")


def guard_network(refused: list[str]) -> None:
    """Refuse every connection and name lookup outside loopback, appending each to `refused`."""

    def loopback(host: Any) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if host in (None, "", "localhost"):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not loopback(host):
            refused.append(f"lookup {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"benchmark: no network ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not loopback(address[0]):
            refused.append(f"connect {address[0]}:{address[1]}")
            raise OSError(f"benchmark: no network ({address[0]})")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def deployments(tag: str, models: list[str], rpm: int, tpm: int) -> list[dict[str, Any]]:
    """One deployment per model, fresh ids per run (LiteLLM's counters are keyed by id)."""
    out = []
    for model in models:
        params = {"model": f"openai/{model}", "api_key": "x", "mock_response": "hi",
                  "rpm": rpm, "tpm": tpm}  # fmt: skip
        out.append({"model_name": GROUP, "litellm_params": params,
                    "model_info": {"id": f"{tag}-{model}"}})  # fmt: skip
    params = {"model": "openai/warmup", "api_key": "x", "mock_response": "hi"}
    out.append({"model_name": WARMUP, "litellm_params": params,
                "model_info": {"id": f"{tag}-warmup"}})  # fmt: skip
    return out


def _mock(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class Replica:
    """One gateway process: a Router on its own event loop, sharing Redis with the others."""

    def __init__(self, port: int, tag: str, models: list[str], rpm: int, tpm: int) -> None:
        import litellm
        from litellm import Router

        litellm.suppress_debug_info = True
        self._litellm = litellm
        self._ids = {f"{tag}-{m}": m for m in models}
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def build() -> Any:  # in the loop: the Router starts its Redis sync task there
            return Router(
                model_list=deployments(tag, models, rpm, tpm),
                routing_strategy="usage-based-routing-v2",
                redis_host="127.0.0.1",
                redis_port=port,
                num_retries=0,
            )

        self.router = self.loop.run_until_complete(build())

        async def warm_up() -> None:
            for _ in range(3):
                await self.router.acompletion(model=WARMUP, messages=[{"role": "user",
                                              "content": "Hello."}], max_tokens=8)  # fmt: skip

        self.loop.run_until_complete(warm_up())

    def run(
        self, jobs: list[tuple[Any, ...]], tasks: int, seconds: float
    ) -> tuple[list[tuple[str | None, float, int]], Counter[str], Counter[str]]:
        """(model or None, host wall-clock time, tokens) per request; the 429s by exception
        type; and the other errors.

        A job is (body, prompt tokens, max_tokens, ...); the completion is drawn per request.
        """
        rows: list[tuple[str | None, float, int]] = []
        refusals: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        end = time.monotonic() + seconds

        async def one() -> None:
            rng = random.Random()
            while time.monotonic() < end:
                body, prompt, budget = rng.choice(jobs)[:3]
                completion = rng.randint(budget // 4, budget)
                try:
                    response = await self.router.acompletion(
                        model=GROUP, messages=body["messages"], max_tokens=budget,
                        mock_response=_mock(prompt, completion),
                    )  # fmt: skip
                except Exception as exc:  # counted and reported, never hidden
                    if getattr(exc, "status_code", None) == 429:  # over a limit, cooling down
                        refusals[type(exc).__name__] += 1
                        rows.append((None, time.time(), 0))
                    else:
                        errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                    continue
                model = self._ids.get(response._hidden_params.get("model_id"))
                rows.append((model, time.time(), response.usage.total_tokens))

        async def all_of_them() -> None:
            await asyncio.gather(*(one() for _ in range(tasks)))
            await asyncio.sleep(0.3)  # success callbacks and the batched Redis writes land

        self.loop.run_until_complete(all_of_them())
        return rows, refusals, errors
