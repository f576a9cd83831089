"""An OpenAI-compatible MiMo client that stays within the rate limits, sync and async.

mimo-select picks the model, a shared usage store counts every replica's requests and tokens
against each model's RPM and TPM, and a 429 from the platform cools the model down for every
replica and retries on the next model (or after the wait). Built on httpx, the HTTP client
the official OpenAI SDK uses.

    from mimo_select import RedisUsage
    client = MimoClient(usage=RedisUsage("redis://127.0.0.1:6379/0"))
    reply = client.chat({"model": "auto", "max_tokens": 512,
                         "messages": [{"role": "user", "content": "Hello"}]})

The key comes from MIMO_API_KEY, the address from MIMO_BASE_URL (by default the platform's
OpenAI-compatible endpoint).
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from mimo_select import (
    AsyncRedisUsage,
    MemoryUsage,
    RedisUsage,
    Selector,
    asend_with_limits,
    send_with_limits,
)

BASE_URL = os.environ.get("MIMO_BASE_URL", "https://api.xiaomimimo.com/v1")


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key or os.environ.get("MIMO_API_KEY", "")
    return {"Authorization": f"Bearer {key}"} if key else {}


class MimoClient:
    """`chat(body)` sends an OpenAI-style chat body and returns the reply's JSON."""

    def __init__(
        self,
        *,
        usage: MemoryUsage | RedisUsage,
        base_url: str = BASE_URL,
        api_key: str | None = None,
        selector: Selector | None = None,
        deadline: float = 60.0,
        timeout: float = 600.0,
    ) -> None:
        self.usage = usage
        self.selector = selector or Selector.default()
        self.deadline = deadline
        self._http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        sent = send_with_limits(
            body, self._post, usage=self.usage, selector=self.selector, deadline=self.deadline
        )
        sent.response.raise_for_status()  # a 4xx/5xx other than 429: the caller's to handle
        reply: dict[str, Any] = sent.response.json()
        return reply

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        return self._http.post("/chat/completions", json=body)

    def close(self) -> None:
        self._http.close()


class AsyncMimoClient:
    """`await chat(body)`: the same on asyncio; with `AsyncRedisUsage` nothing blocks."""

    def __init__(
        self,
        *,
        usage: MemoryUsage | AsyncRedisUsage,
        base_url: str = BASE_URL,
        api_key: str | None = None,
        selector: Selector | None = None,
        deadline: float = 60.0,
        timeout: float = 600.0,
    ) -> None:
        self.usage = usage
        self.selector = selector or Selector.default()
        self.deadline = deadline
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout
        )

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        sent = await asend_with_limits(
            body, self._post, usage=self.usage, selector=self.selector, deadline=self.deadline
        )
        sent.response.raise_for_status()
        reply: dict[str, Any] = sent.response.json()
        return reply

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        return await self._http.post("/chat/completions", json=body)

    async def aclose(self) -> None:
        await self._http.aclose()
