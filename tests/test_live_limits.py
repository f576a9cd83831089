"""Decisions that see current usage, and sending within the limits.

`route(body, usage=store)` chooses and reserves in one step; `send_with_limits` adds the 429
handling. The fake MiMo server at the end is a real HTTP server on 127.0.0.1 that the example
client (`examples/client.py`, httpx) talks to.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples.client import AsyncMimoClient, MimoClient
from mimo_select import (
    AsyncRedisUsage,
    MemoryUsage,
    NoEligibleModelError,
    RateLimitedError,
    RedisUsage,
    Selector,
    Traits,
    asend_with_limits,
    send_with_limits,
)
from mimo_select._contract import DecisionOut
from mimo_select.errors import UsageValueError
from tests.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # the fixtures this module uses

SELECTOR = Selector.default()
TEXT = Traits(input_modalities=frozenset({"text"}), input_tokens=1_000, max_output_tokens=500)
RANKED = SELECTOR.select(TEXT).ranked
ORDER = [c.model for c in RANKED]
TOL = 0.05  # seconds


def chat(text: str = "Say hello.", **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}],
            "max_tokens": 100, **extra}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def one_each(**kw: Any) -> MemoryUsage:
    """A store where every text model takes one request per window."""
    return MemoryUsage(limits={m: {"rpm": 1} for m in ORDER}, **kw)


# --- decisions with usage ---------------------------------------------------------------------


def test_spill_over_follows_the_ranking_and_every_full_model_says_why() -> None:
    clock = Clock()
    store = one_each(window=10, clock=clock)
    chosen = []
    for k in range(len(ORDER)):
        decision = SELECTOR.select(TEXT, usage=store)
        chosen.append(decision.model)
        assert decision.fallbacks == tuple(ORDER[k + 1 :])
        assert decision.lease is not None
        assert decision.lease.model == decision.model
        assert decision.lease.tokens == 1_500  # input plus the output budget
        assert [r.model for r in decision.refusals] == ORDER[:k]
        clock.sleep(1)
    assert chosen == ORDER
    full = SELECTOR.select(TEXT, usage=store)
    assert full.model is None
    assert full.lease is None
    assert full.fallbacks == ()
    assert full.retry_after == pytest.approx(10 - len(ORDER) + 0.0)  # the oldest frees first
    first = full.rejection(ORDER[0])
    assert first is not None
    live = [v for v in first.violations if v.rule == "rpm-live"]
    assert live[0].message == (
        f"1 of 1 requests in the last 10 s; frees in {full.retry_after:.1f} s"
    )
    assert live[0].fix == f"wait {full.retry_after:.1f} s (retry_after)"
    assert dict(full.suggestions)[ORDER[0]] == (live[0].fix,)
    out = full.to_json()
    DecisionOut.model_validate(out)
    assert out["retry_after"] == pytest.approx(full.retry_after)
    assert "lease" not in out


def test_without_usage_nothing_changes() -> None:
    plain = SELECTOR.select(TEXT)
    assert plain.lease is None
    assert plain.retry_after is None
    assert plain.refusals == ()


def test_the_lease_reserves_the_model_maximum_without_an_output_budget() -> None:
    store = MemoryUsage()
    body = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}
    decision = SELECTOR.route(body, usage=store)
    model = SELECTOR.catalog.model(decision.model or "")
    count = decision.traits.tokens
    assert count is not None
    assert count.refine is not None  # decided on a bound; the lease counts exactly
    assert decision.lease is not None
    assert decision.lease.tokens == count.refine().tokens + model.max_output.tokens


def test_tpm_full_is_reported_with_the_numbers() -> None:
    top = ORDER[0]
    store = MemoryUsage(limits={top: {"tpm": 2_000}}, window=30)
    assert SELECTOR.select(TEXT, usage=store).model == top  # 1,500 of 2,000
    second = SELECTOR.select(TEXT, usage=store)
    assert second.model == ORDER[1]
    rejection = second.rejection(top)
    assert rejection is not None
    (violation,) = rejection.violations
    assert violation.rule == "tpm-live"
    assert violation.limit == "tpm"
    assert violation.required == 1_500
    assert violation.allowed == 500
    assert violation.message.startswith("needs 1,500 tokens; 1,500 of 2,000 used in the last 30 s")


def test_settle_gives_the_tokens_back_through_the_engine() -> None:
    top = ORDER[0]
    store = MemoryUsage(limits={top: {"tpm": 2_000}}, window=30)
    first = SELECTOR.select(TEXT, usage=store)
    assert first.lease is not None
    first.lease.settle({"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320})
    assert SELECTOR.select(TEXT, usage=store).model == top  # 320 + 1,500 fit in 2,000
    over = SELECTOR.select(TEXT, usage=store)
    assert over.model != top
    (usage,) = store.usage([top])
    assert usage.tokens == 1_820


def test_a_request_larger_than_the_limit_can_never_fit() -> None:
    store = MemoryUsage(limits={m: {"tpm": 1_000} for m in ORDER})
    decision = SELECTOR.select(TEXT, usage=store)
    assert decision.model is None
    assert decision.retry_after == float("inf")
    first = decision.rejection(ORDER[0])
    assert first is not None
    assert first.violations[0].message.endswith("it can never fit")
    assert first.violations[0].fix == "lower max_tokens or split the input"


def test_a_pinned_model_that_is_full_is_not_switched_silently() -> None:
    pinned = ORDER[1]
    store = one_each()
    body = chat(model=pinned)
    assert SELECTOR.route(body, usage=store).model == pinned
    decision = SELECTOR.route(body, usage=store)
    assert decision.requested_fits is False
    assert decision.model == ORDER[0]
    with pytest.raises(NoEligibleModelError, match=rf"asks for {pinned}.*1 of 1 requests"):
        decision.apply(body)
    assert decision.apply(body, fallback=True)["model"] == ORDER[0]
    assert decision.to_json()["requested"] == {"model": pinned, "fits": False}


def test_explain_and_route_json_carry_the_lease() -> None:
    store = MemoryUsage()
    decision = SELECTOR.route(chat(), usage=store)
    out = decision.to_json()
    DecisionOut.model_validate(out)
    assert decision.lease is not None
    assert out["lease"] == {
        "id": decision.lease.id, "model": decision.model, "account": "default",
        "tokens": decision.lease.tokens, "source": "memory",
    }  # fmt: skip


def test_an_async_store_in_sync_select_is_an_error(redis_url: str) -> None:
    async def go() -> None:
        store = AsyncRedisUsage(redis_url, account=uuid.uuid4().hex)
        with pytest.raises(UsageValueError, match=r"await selector\.aselect"):
            SELECTOR.select(TEXT, usage=store)  # type: ignore[arg-type]
        await store.aclose()

    asyncio.run(go())


def test_retry_after_is_right_within_50_ms_on_a_short_window(redis_url: str) -> None:
    for store in (
        one_each(window=0.6),
        RedisUsage(redis_url, account=uuid.uuid4().hex, window=0.6,
                   limits={m: {"rpm": 1} for m in ORDER}),
    ):  # fmt: skip
        started = time.monotonic()
        for _ in ORDER:
            assert SELECTOR.select(TEXT, usage=store).model is not None
        full = SELECTOR.select(TEXT, usage=store)
        assert full.model is None
        assert full.retry_after is not None
        expected = 0.6 - (time.monotonic() - started)
        assert abs(full.retry_after - expected) < TOL
        time.sleep(max(0.0, full.retry_after - TOL))
        assert SELECTOR.select(TEXT, usage=store).model is None  # not yet
        time.sleep(2 * TOL)
        assert SELECTOR.select(TEXT, usage=store).model == ORDER[0]  # the first frees first


def test_replicas_through_redis_never_take_the_last_slot_twice(redis_url: str) -> None:
    account = uuid.uuid4().hex
    limits = {m: {"rpm": 3} for m in ORDER}
    replicas = [RedisUsage(redis_url, account=account, limits=limits, window=30) for _ in range(4)]
    got: list[str | None] = []
    lock = threading.Lock()

    def work(store: RedisUsage) -> None:
        for _ in range(10):
            model = SELECTOR.route(chat(), usage=store).model
            with lock:
                got.append(model)

    threads = [threading.Thread(target=work, args=(s,)) for s in replicas for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = [m for m in got if m is not None]
    assert len(admitted) == 3 * len(ORDER)
    assert all(admitted.count(m) == 3 for m in ORDER)
    for store in replicas:
        store.close()


def test_aroute_awaits_the_async_store(redis_url: str) -> None:
    async def go() -> list[str | None]:
        store = AsyncRedisUsage(redis_url, account=uuid.uuid4().hex,
                                limits={m: {"rpm": 1} for m in ORDER})  # fmt: skip
        try:
            decisions = [await SELECTOR.aroute(chat(), usage=store) for _ in range(2)]
            assert decisions[0].lease is not None
            await decisions[0].lease.settle({"input_tokens": 10, "output_tokens": 2})
            assert decisions[0].lease.state == "settled"
            return [d.model for d in decisions]
        finally:
            await store.aclose()

    assert asyncio.run(go()) == ORDER[:2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["route", "settle", "release", "tick"]),
            st.integers(min_value=0, max_value=400),
        ),
        max_size=60,
    )
)
def test_no_sliding_window_of_routed_requests_exceeds_a_limit(ops: list[tuple[str, int]]) -> None:
    """Whatever mix of routing, settling, releasing and waiting: per model, no window of 10 s
    holds more admitted requests than its RPM, nor more counted tokens than its TPM."""
    clock = Clock()
    limits = {m: {"rpm": 2, "tpm": 4_000} for m in ORDER}
    store = MemoryUsage(limits=limits, window=10, clock=clock)
    open_leases: list[Any] = []
    counted: dict[str, tuple[float, str, int]] = {}  # lease id -> (admitted at, model, tokens)
    for op, n in ops:
        if op == "route":
            decision = SELECTOR.select(TEXT.at_input(n * 10), usage=store)
            lease = decision.lease
            if lease is not None:
                open_leases.append(lease)
                counted[lease.id] = (clock.now, lease.model, lease.tokens)
            else:
                assert decision.retry_after is not None
        elif op == "settle" and open_leases:
            lease = open_leases.pop(0)
            total = min(n * 10, lease.tokens)  # a lease reserves at least what is used
            lease.settle({"total_tokens": total})
            counted[lease.id] = (*counted[lease.id][:2], total)
        elif op == "release" and open_leases:
            lease = open_leases.pop()
            lease.release()
            del counted[lease.id]
        else:
            clock.sleep(n / 100)
    entries = list(counted.values())
    for start, _, _ in entries:
        for model in ORDER:
            inside = [k for t, m, k in entries if m == model and start <= t < start + 10]
            assert len(inside) <= 2
            assert sum(inside) <= 4_000


# --- send_with_limits -----------------------------------------------------------------------------


class Reply(SimpleNamespace):
    """What an HTTP client returns: a status, headers, a JSON body."""

    def json(self) -> Any:
        return self.body


def ok(tokens: int = 40) -> Reply:
    usage = {"prompt_tokens": tokens - 5, "completion_tokens": 5, "total_tokens": tokens}
    return Reply(status_code=200, headers={}, body={"usage": usage})


def too_many(retry_after: str | None = None) -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(status_code=429, headers=headers, body={"error": "rate limited"})


def test_a_429_cools_the_model_and_the_next_one_is_tried() -> None:
    clock = Clock()
    store = MemoryUsage(clock=clock)
    sent: list[str] = []

    def send(body: dict[str, Any]) -> Reply:
        sent.append(body["model"])
        return too_many("30") if body["model"] == ORDER[0] else ok()

    result = send_with_limits(chat(), send, usage=store, sleep=clock.sleep, clock=clock)
    assert sent == ORDER[:2]
    assert result.model == ORDER[1]
    assert [(a.model, a.status) for a in result.attempts] == [(ORDER[0], 429)]
    assert result.decision.lease is not None
    assert result.decision.lease.state == "settled"
    top = store.usage([ORDER[0]])[0]
    assert top.cooling_for == pytest.approx(30)
    assert store.usage([ORDER[1]])[0].tokens == 40  # settled to what the API billed
    # while the first cools down, the next request goes straight to the second
    again = send_with_limits(chat(), send, usage=store, sleep=clock.sleep, clock=clock)
    assert again.attempts == ()
    assert again.model == ORDER[1]
    assert again.decision.rejection(ORDER[0]) is not None


def test_an_exception_with_status_429_and_an_http_date_is_read() -> None:
    clock = Clock()
    store = MemoryUsage(clock=clock)

    class RateLimitError(Exception):  # shaped like openai.RateLimitError
        def __init__(self) -> None:
            self.response = Reply(status_code=429,
                                  headers={"retry-after": formatdate(time.time() + 20, usegmt=True)})  # fmt: skip

    calls = iter([RateLimitError(), None])

    def send(body: dict[str, Any]) -> dict[str, Any]:
        exc = next(calls)
        if exc is not None:
            raise exc
        return {"usage": {"input_tokens": 12, "output_tokens": 3}}

    result = send_with_limits(chat(), send, usage=store, sleep=clock.sleep, clock=clock)
    assert result.model == ORDER[1]
    assert 18 < store.usage([ORDER[0]])[0].cooling_for <= 20


def test_a_pinned_model_is_waited_for_without_fallback() -> None:
    clock = Clock()
    store = MemoryUsage(clock=clock)
    pinned = ORDER[2]
    replies = iter([too_many("2.5"), ok()])
    sent: list[tuple[str, float]] = []

    def send(body: dict[str, Any]) -> Reply:
        sent.append((body["model"], clock.now))
        return next(replies)

    result = send_with_limits(chat(model=pinned), send, usage=store, fallback=False,
                              sleep=clock.sleep, clock=clock)  # fmt: skip
    assert [m for m, _ in sent] == [pinned, pinned]
    assert sent[1][1] - sent[0][1] == pytest.approx(2.5)  # Retry-After honoured
    assert result.model == pinned
    assert [a.status for a in result.attempts] == [429, None]
    # nothing stays reserved on the models it did not send to
    assert all(u.requests == 0 for u in store.usage() if u.model != pinned)


def test_past_the_deadline_it_gives_up_with_the_wait() -> None:
    clock = Clock()
    store = one_each(window=60, clock=clock)
    for _ in ORDER:
        SELECTOR.route(chat(), usage=store)
    with pytest.raises(RateLimitedError, match=r"full for another 60\.0 s, past the deadline") as e:
        send_with_limits(chat(), lambda b: ok(), usage=store, deadline=5,
                         sleep=clock.sleep, clock=clock)  # fmt: skip
    assert e.value.retry_after == pytest.approx(60)
    result = send_with_limits(chat(), lambda b: ok(), usage=store, deadline=90,
                              sleep=clock.sleep, clock=clock)  # fmt: skip
    assert result.model == ORDER[0]
    assert result.attempts[0].waited == pytest.approx(60)


def test_nothing_eligible_at_all_is_not_a_wait() -> None:
    body = chat(max_tokens=10_000_000)
    with pytest.raises(NoEligibleModelError, match="maximum output"):
        send_with_limits(body, lambda b: ok(), usage=MemoryUsage())


def test_other_errors_propagate_and_stay_counted() -> None:
    store = MemoryUsage()

    def send(body: dict[str, Any]) -> Reply:
        raise ConnectionError("reset by peer")

    with pytest.raises(ConnectionError):
        send_with_limits(chat(), send, usage=store)
    assert store.usage([ORDER[0]])[0].requests == 1  # it may have reached the platform


def test_a_send_may_raise_rate_limited_itself_and_attempts_are_bounded() -> None:
    clock = Clock()

    def send(body: dict[str, Any]) -> Reply:
        raise RateLimitedError(retry_after=0.0)

    with pytest.raises(RateLimitedError, match="429 to 3 attempts in a row"):
        send_with_limits(chat(), send, usage=MemoryUsage(clock=clock), max_attempts=3,
                         sleep=clock.sleep, clock=clock)  # fmt: skip


def test_async_send_with_an_async_store(redis_url: str) -> None:
    async def go() -> Any:
        store = AsyncRedisUsage(redis_url, account=uuid.uuid4().hex)
        replies = iter([too_many("0.05"), ok()])

        async def send(body: dict[str, Any]) -> Reply:
            return next(replies)

        try:
            return await asend_with_limits(chat(), send, usage=store)
        finally:
            await store.aclose()

    result = asyncio.run(go())
    assert result.model == ORDER[1]
    assert result.decision.lease.state == "settled"


# --- the example client against a fake MiMo server ------------------------------------------------


class FakeMimo:
    """An OpenAI-compatible /chat/completions on 127.0.0.1 that answers 429 when told to."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.seen: list[tuple[str, float, str]] = []  # (model, time, authorization)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model = body["model"]
                fake.seen.append((model, time.monotonic(), self.headers.get("Authorization", "")))
                queue = fake.script.get(model) or []
                status, headers = queue.pop(0) if queue else (200, {})
                text = "hello" if status == 200 else "rate limited"
                reply: dict[str, Any] = {
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                }
                if status == 200:
                    reply["usage"] = {"prompt_tokens": 11, "completion_tokens": 2,
                                      "total_tokens": 13}  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeMimo]:
    server = FakeMimo()
    yield server
    server.close()


def test_the_client_retries_a_429_on_the_next_model(fake: FakeMimo, redis_url: str) -> None:
    fake.script[ORDER[0]] = [(429, {"Retry-After": "20"})]
    store = RedisUsage(redis_url, account=uuid.uuid4().hex)
    client = MimoClient(usage=store, base_url=fake.url, api_key="sk-test")
    try:
        reply = client.chat(chat())
        assert reply["model"] == ORDER[1]
        assert [m for m, _, _ in fake.seen] == ORDER[:2]
        assert {auth for _, _, auth in fake.seen} == {"Bearer sk-test"}
        # every replica now knows: a second client on the same account skips the first model
        other = MimoClient(usage=RedisUsage(redis_url, account=store.account), base_url=fake.url)
        assert other.chat(chat())["model"] == ORDER[1]
        assert len(fake.seen) == 3
        (cooling,) = store.usage([ORDER[0]])
        assert 19 < cooling.cooling_for <= 20
        (used,) = store.usage([ORDER[1]])
        assert used.tokens == 26  # both settled to the billed 13
    finally:
        client.close()


def test_the_client_honours_retry_after_on_a_pinned_model(fake: FakeMimo) -> None:
    pinned = ORDER[0]
    fake.script[pinned] = [(429, {"Retry-After": "0.3"})]
    client = MimoClient(usage=MemoryUsage(), base_url=fake.url)
    body = chat(model=pinned)
    try:
        from mimo_select import send_with_limits as send

        sent = send(body, client._post, usage=client.usage, fallback=False)
        assert sent.response.status_code == 200
        (first, t0, _), (second, t1, _) = fake.seen
        assert first == second == pinned
        assert t1 - t0 >= 0.3 - 0.01
    finally:
        client.close()


def test_the_client_backs_off_without_retry_after(fake: FakeMimo) -> None:
    fake.script[ORDER[0]] = [(429, {})]
    store = MemoryUsage(backoff=(0.2, 0.2), jitter=lambda: 1.0)
    client = MimoClient(usage=store, base_url=fake.url)
    try:
        assert client.chat(chat())["model"] == ORDER[1]
        assert 0.1 < store.usage([ORDER[0]])[0].cooling_for <= 0.2
    finally:
        client.close()


def test_the_async_client(fake: FakeMimo, redis_url: str) -> None:
    fake.script[ORDER[0]] = [(429, {"Retry-After": "5"})]

    async def go() -> dict[str, Any]:
        store = AsyncRedisUsage(redis_url, account=uuid.uuid4().hex)
        client = AsyncMimoClient(usage=store, base_url=fake.url)
        try:
            return await client.chat(chat())
        finally:
            await client.aclose()
            await store.aclose()

    assert asyncio.run(go())["model"] == ORDER[1]
