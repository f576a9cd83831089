"""Usage stores: exact sliding windows, spill-over, leases, 429 cooldowns and Redis failures.

Every behaviour test runs on `MemoryUsage`, `RedisUsage` and `AsyncRedisUsage` (through a
small synchronous driver) against a real redis-server, with short windows. Model ids and
limits come from the catalog or are overrides set here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import multiprocessing
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimo_select.catalog import load_catalog
from mimo_select.errors import MimoSelectError, UnknownModelError, UsageStoreError
from mimo_select.usage import (
    Admission,
    AsyncRedisUsage,
    Lease,
    MemoryUsage,
    RedisUsage,
    UsageStoreWarning,
    UsageValueError,
    usage_tokens,
)
from tests import redis_server as redis_fixtures
from tests.redis_server import RedisServer, redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # the fixtures this module uses

CATALOG = load_catalog()
A, B, C = CATALOG.ids[:3]
TOL = 0.05  # seconds: how close a real-time `frees_in` must be


# --- drivers --------------------------------------------------------------------------------


class SyncLease:
    """An `AsyncLease` driven to completion on the test's loop, so one test covers all."""

    def __init__(self, lease: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._lease, self._loop = lease, loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lease, name)

    def settle(self, usage: Any) -> None:
        self._loop.run_until_complete(self._lease.settle(usage))

    def release(self) -> None:
        self._loop.run_until_complete(self._lease.release())

    def throttled(self, retry_after: float | None = None) -> None:
        self._loop.run_until_complete(self._lease.throttled(retry_after))


class SyncStore:
    """An `AsyncRedisUsage` behind the synchronous store interface."""

    def __init__(self, store: AsyncRedisUsage, loop: asyncio.AbstractEventLoop) -> None:
        self._store, self._loop = store, loop

    def admit(self, candidates: Any) -> Admission[Any]:
        a = self._loop.run_until_complete(self._store.admit(candidates))
        lease = SyncLease(a.lease, self._loop) if a.lease else None
        return dataclasses.replace(a, lease=lease)

    def usage(self, models: Any = None) -> Any:
        return self._loop.run_until_complete(self._store.usage(models))

    def close(self) -> None:
        self._loop.run_until_complete(self._store.aclose())


Make = Callable[..., Any]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _factory(kind: str, url: str | None, loop: asyncio.AbstractEventLoop) -> tuple[Make, list[Any]]:
    made: list[Any] = []
    account = f"test-{uuid.uuid4().hex[:8]}"

    def make(**kw: Any) -> Any:
        if kind == "memory":
            kw.pop("account", None)
            store: Any = MemoryUsage(**kw)
        else:
            kw.setdefault("account", account)
            if kind == "redis":
                store = RedisUsage(url, **kw)
            else:
                store = SyncStore(AsyncRedisUsage(url, **kw), loop)
        made.append(store)
        return store

    return make, made


@pytest.fixture(params=["memory", "redis", "async"])
def make(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Iterator[Make]:
    """A store factory; every store of one test shares one account (replicas)."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    factory, made = _factory(request.param, url, loop)
    yield factory
    for store in made:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture(params=["memory", "redis"])
def make_threaded(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop
) -> Iterator[Make]:
    """The stores one instance of which many threads share (an event loop is one thread)."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    factory, made = _factory(request.param, url, loop)
    yield factory
    for store in made:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture(params=["redis", "async"])
def make_shared(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Iterator[Make]:
    """A factory of stores that share one account: replicas (Redis only)."""
    factory, made = _factory(request.param, request.getfixturevalue("redis_url"), loop)
    yield factory
    for store in made:
        store.close()


def worst_window(times: list[float], window: float) -> int:
    """The most entries in any interval (t - window, t]: what the platform would count."""
    times = sorted(times)
    best, i = 0, 0
    for j, t in enumerate(times):
        while times[i] <= t - window:
            i += 1
        best = max(best, j - i + 1)
    return best


def us(t: float) -> int:
    return round(t * 1_000_000)


# --- admission --------------------------------------------------------------------------------


def test_spill_over_follows_candidate_order(make: Make) -> None:
    store = make(limits={A: {"rpm": 1}, B: {"rpm": 2}}, window=5)
    picks = [store.admit([(A, 10), (B, 10), (C, 10)]) for _ in range(4)]
    assert [p.model for p in picks] == [A, B, B, C]
    assert [[r.model for r in p.refusals] for p in picks] == [[], [A], [A], [A, B]]
    refusal = picks[3].refusals[1]
    assert (refusal.limit, refusal.used, refusal.allowed, refusal.needed) == ("rpm", 2, 2, 1)
    assert 4 < refusal.frees_in <= 5
    assert picks[3].retry_after is None


def test_none_fits_reports_every_candidate_and_the_soonest(make: Make) -> None:
    store = make(limits={A: {"rpm": 1}, B: {"tpm": 100}}, window=5)
    assert store.admit([(A, 1)]).model == A
    assert store.admit([(B, 90)]).model == B
    time.sleep(0.1)
    none = store.admit([(A, 1), (B, 50)])
    assert none.model is None
    assert none.lease is None
    assert [(r.model, r.limit, r.used, r.allowed, r.needed) for r in none.refusals] == [
        (A, "rpm", 1, 1, 1),
        (B, "tpm", 90, 100, 50),
    ]
    assert none.retry_after == min(r.frees_in for r in none.refusals)
    assert "90 of 100 tokens" in none.refusals[1].message


def test_more_tokens_than_the_limit_never_fit(make: Make) -> None:
    store = make(limits={A: {"tpm": 1_000}}, window=5)
    a = store.admit([(A, 1_001), (B, 1_001)])
    assert a.model == B
    (refusal,) = a.refusals
    assert refusal.limit == "tpm"
    assert refusal.frees_in == math.inf
    assert "can never fit" in refusal.message
    assert store.admit([(A, 1_001)]).retry_after == math.inf


def test_no_candidates_admits_nothing(make: Make) -> None:
    assert make().admit([]) == Admission(None, None, (), None)


def test_frees_in_is_exact_with_the_store_clock(make: Make) -> None:
    window = 0.6
    store = make(limits={A: {"rpm": 1, "tpm": 100}}, window=window)
    store.admit([(A, 60)])
    time.sleep(0.15)
    (rpm,) = store.admit([(A, 10)]).refusals
    assert rpm.limit == "rpm"
    assert window - 0.15 - TOL < rpm.frees_in < window - 0.15 + 0.01
    time.sleep(rpm.frees_in - TOL)
    assert store.admit([(A, 10)]).model is None
    time.sleep(TOL + 0.005)
    assert store.admit([(A, 10)]).model == A


def test_tpm_frees_in_waits_for_enough_tokens(make: Make) -> None:
    window = 0.6
    store = make(limits={A: {"tpm": 100}}, window=window)
    first = store.admit([(A, 60)]).lease
    time.sleep(0.2)
    second = store.admit([(A, 30)]).lease
    # 50 more need the first entry gone; 80 more need both
    (one,) = store.admit([(A, 50)]).refusals
    (both,) = store.admit([(A, 80)]).refusals
    gap = second.admitted_at - first.admitted_at
    assert one.limit == both.limit == "tpm"
    assert one.used == 90
    assert both.frees_in - one.frees_in == pytest.approx(gap, abs=TOL)
    assert window - 0.2 - TOL < one.frees_in < window - 0.2 + 0.01
    time.sleep(one.frees_in + 0.005)
    assert store.admit([(A, 50)]).model == A


# --- leases -----------------------------------------------------------------------------------


def test_settle_gives_back_over_reserved_tokens(make: Make) -> None:
    store = make(limits={A: {"tpm": 100}}, window=5)
    lease = store.admit([(A, 90)]).lease
    assert store.admit([(A, 50)]).model is None
    lease.settle({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20})
    assert store.usage([A])[0].tokens == 20
    assert store.admit([(A, 80)]).model == A


def test_settle_takes_under_reserved_tokens(make: Make) -> None:
    store = make(limits={A: {"tpm": 100}}, window=5)
    lease = store.admit([(A, 10)]).lease
    lease.settle({"input_tokens": 70, "output_tokens": 20})
    assert store.usage([A])[0].tokens == 90
    (refusal,) = store.admit([(A, 20)]).refusals
    assert (refusal.limit, refusal.used) == ("tpm", 90)


def test_settle_twice_counts_once(make: Make) -> None:
    store = make(limits={A: {"tpm": 100}}, window=5)
    lease = store.admit([(A, 50)]).lease
    lease.settle({"total_tokens": 20})
    lease.settle({"total_tokens": 90})
    lease.release()
    assert lease.state == "settled"
    (usage,) = store.usage([A])
    assert (usage.requests, usage.tokens) == (1, 20)


def test_release_returns_the_slot(make: Make) -> None:
    store = make(limits={A: {"rpm": 1, "tpm": 100}}, window=5)
    lease = store.admit([(A, 80)]).lease
    assert store.admit([(A, 80)]).model is None
    lease.release()
    lease.release()
    assert store.usage([A])[0].requests == 0
    assert store.admit([(A, 80)]).model == A
    assert store.usage([A])[0].tokens == 80


def test_an_expired_lease_frees_its_slot_and_settles_to_nothing(make: Make) -> None:
    store = make(limits={A: {"rpm": 1, "tpm": 100}}, window=0.3)
    old = store.admit([(A, 50)]).lease
    time.sleep(0.31)
    new = store.admit([(A, 50)])
    assert new.model == A
    old.settle({"total_tokens": 100})  # its window is gone: nothing to correct
    assert store.usage([A])[0].tokens == 50


def test_usage_reports_the_window(make: Make) -> None:
    store = make(limits={A: {"rpm": 7}}, window=2)
    assert store.usage([A])[0].requests == 0
    store.admit([(A, 5)])
    time.sleep(0.1)
    store.admit([(A, 6)])
    u = store.usage([A])[0]
    assert (u.model, u.requests, u.tokens, u.rpm, u.tpm) == (A, 2, 11, 7, CATALOG.model(A).tpm)
    assert u.cooling_for == 0
    assert 1.8 < u.frees_in < u.empty_in <= 2
    assert {m.model for m in store.usage()} == set(CATALOG.ids)


# --- 429s -------------------------------------------------------------------------------------


def test_throttled_cools_the_model_for_every_replica(make_shared: Make) -> None:
    one, two = make_shared(window=5), make_shared(window=5)
    one.admit([(A, 10)]).lease.throttled(retry_after=0.3)
    a = two.admit([(A, 10), (B, 10)])
    assert a.model == B
    (refusal,) = a.refusals
    assert refusal.limit == "cooldown"
    assert 0.3 - TOL < refusal.frees_in <= 0.3
    assert "cooling down" in refusal.message
    time.sleep(refusal.frees_in + 0.01)
    assert two.admit([(A, 10)]).model == A


def test_backoff_grows_with_jitter_and_resets_on_settle(make: Make) -> None:
    store = make(window=5, backoff=(0.2, 0.3), jitter=lambda: 0.5)
    leases = [store.admit([(A, 1)]).lease for _ in range(5)]
    cooled = []
    for lease in leases[:3]:
        lease.throttled()
        cooled.append(store.usage([A])[0].cooling_for)
    # full jitter: 0.5 x min(cap, base x 2^n) = 0.1, 0.15 (capped), 0.15
    assert cooled == pytest.approx([0.1, 0.15, 0.15], abs=TOL)
    leases[3].settle({"total_tokens": 1})
    time.sleep(0.16)
    leases[4].throttled()
    assert store.usage([A])[0].cooling_for == pytest.approx(0.1, abs=TOL)


def test_backoff_without_retry_after_is_random_up_to_the_bound(make: Make) -> None:
    store = make(window=5, backoff=(0.05, 0.05))
    cooldowns = set()
    for _ in range(5):
        store.admit([(A, 1)]).lease.throttled()
        cooled = store.usage([A])[0].cooling_for
        assert 0 <= cooled <= 0.05
        cooldowns.add(round(cooled, 4))
        time.sleep(cooled + 0.005)
    assert len(cooldowns) > 1


# --- configuration ----------------------------------------------------------------------------


def test_limits_override_per_model_and_key(make: Make) -> None:
    store = make(limits={A: {"rpm": 500}})
    (a, b) = store.usage([A, B])
    assert (a.rpm, a.tpm) == (500, CATALOG.model(A).tpm)
    assert (b.rpm, b.tpm) == (CATALOG.model(B).rpm, CATALOG.model(B).tpm)


def test_unknown_model_in_limits_suggests_the_close_one() -> None:
    with pytest.raises(UnknownModelError) as err:
        MemoryUsage(limits={A + "x": {"rpm": 5}})
    assert err.value.suggestion == A
    assert "did you mean" in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"rpn": 5}, "unknown limit 'rpn' (did you mean 'rpm'?)"),
        ({"qps": 5}, "unknown limit 'qps'; known: rpm, tpm"),
        ({"rpm": 0}, "must be a whole number >= 1, not 0"),
        ({"tpm": 1.5}, "must be a whole number >= 1, not 1.5"),
    ],
)
def test_bad_limits_are_errors(override: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageValueError, match=re.escape(message)) as err:
        MemoryUsage(limits={A: override})
    assert str(err.value).startswith(f"limits[{A!r}]")


def test_a_model_without_a_known_limit_says_how_to_pass_one(make: Make) -> None:
    models = tuple(dataclasses.replace(m, tpm=None) if m.id == B else m for m in CATALOG.models)
    catalog = dataclasses.replace(CATALOG, models=models)
    store = make(catalog=catalog)
    assert store.admit([(A, 1)]).model == A
    with pytest.raises(UsageStoreError, match=f"no tpm limit is known for model '{B}'") as err:
        store.admit([(A, 1), (B, 1)])
    assert f"limits={{'{B}': {{'tpm': N}}}}" in str(err.value)
    assert B not in {u.model for u in store.usage()}
    assert make(catalog=catalog, limits={B: {"tpm": 50}}).admit([(B, 1)]).model == B


def test_bad_candidates_are_errors(make: Make) -> None:
    store = make()
    with pytest.raises(UnknownModelError, match="did you mean"):
        store.admit([(A + "x", 1)])
    with pytest.raises(UsageValueError, match=r"candidates\[0\]: tokens"):
        store.admit([(A, -1)])
    with pytest.raises(UsageValueError, match=r"candidates\[1\] must be a \(model id, tokens\)"):
        store.admit([(A, 1), A])


@pytest.mark.parametrize(
    ("usage", "total"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, 15),
        ({"prompt_tokens": 10, "completion_tokens": 5}, 15),
        ({"input_tokens": 10, "output_tokens": 5}, 15),
        (
            {
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": None,
            },
            18,
        ),
        (SimpleNamespace(prompt_tokens=7, completion_tokens=2, total_tokens=9), 9),
        (SimpleNamespace(input_tokens=7, output_tokens=2), 9),
    ],
)
def test_usage_tokens_reads_both_api_shapes(usage: Any, total: int) -> None:
    assert usage_tokens(usage) == total


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({}, "no token counts"),
        ({"usage": {"total_tokens": 3}}, "pass the response's `usage`"),
        ({"total_tokens": -1}, "total_tokens is -1"),
        ({"prompt_tokens": "12"}, "prompt_tokens is '12'"),
    ],
)
def test_unreadable_usage_is_an_error_and_the_lease_stays_open(usage: Any, message: str) -> None:
    lease = MemoryUsage().admit([(A, 1)]).lease
    assert lease is not None
    with pytest.raises(UsageValueError, match=message):
        lease.settle(usage)
    assert lease.state == "open"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_error": "opne"}, "did you mean 'open'"),
        ({"account": "a{b}"}, "without braces"),
        ({"window": 0}, "window must be seconds > 0"),
        ({"retry_interval": -1}, "retry_interval must be seconds > 0"),
    ],
)
def test_bad_store_arguments_are_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageValueError, match=message):
        RedisUsage("redis://127.0.0.1:1", **kwargs)


# --- exactness --------------------------------------------------------------------------------


class FakeClock:
    """Dyadic steps, so that `now + frees_in` lands exactly on the boundary."""

    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 600)),  # 1/1024 s steps; the window is 1 s
        st.tuples(st.just("admit"), st.lists(st.tuples(st.sampled_from([A, B]),
                                                        st.integers(0, 60)), min_size=1,
                                              max_size=2)),
        st.tuples(st.just("settle"), st.integers(0, 50), st.floats(0, 1)),
        st.tuples(st.just("release"), st.integers(0, 50)),
    ),
    max_size=80,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_no_sliding_window_ever_exceeds_a_limit(ops: list[Any]) -> None:
    clock = FakeClock()
    limits = {A: {"rpm": 3, "tpm": 100}, B: {"rpm": 2, "tpm": 50}}
    store = MemoryUsage(limits=limits, window=1.0, clock=clock)
    leases: list[Lease] = []
    counted: dict[str, int] = {}  # what each lease counts: its reservation, then its total
    for op in ops:
        if op[0] == "wait":
            clock.now += op[1] / 1024
        elif op[0] == "admit":
            a = store.admit(op[1])
            if a.lease is not None:
                leases.append(a.lease)
                counted[a.lease.id] = a.lease.tokens
            elif len(op[1]) == 1 and a.retry_after != math.inf:
                # frees_in is exact: refused a hair before, admitted on the dot
                assert a.retry_after is not None
                clock.now += a.retry_after - 1 / 1024
                assert store.admit(op[1]).model is None
                clock.now += 1 / 1024
                lease = store.admit(op[1]).lease
                assert lease is not None
                leases.append(lease)
                counted[lease.id] = lease.tokens
        elif leases:
            lease = leases[op[1] % len(leases)]
            if op[0] == "settle":  # never more than reserved: the caller's promise
                total = int(lease.tokens * op[2])
                if lease.state == "open":
                    counted[lease.id] = total
                lease.settle({"total_tokens": total})
            else:
                lease.release()
    for model, lim in limits.items():
        sent = [x for x in leases if x.model == model and x.state != "released"]
        assert worst_window([x.admitted_at for x in sent], 1.0) <= lim["rpm"]
        for x in sent:
            inside = [y for y in sent if x.admitted_at - 1.0 < y.admitted_at <= x.admitted_at]
            assert sum(counted[y.id] for y in inside) <= lim["tpm"]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("admit"), st.lists(st.tuples(st.sampled_from([A, B, C]),
                                                            st.integers(0, 70)), max_size=3)),
            st.tuples(st.just("settle"), st.integers(0, 30), st.integers(0, 90)),
            st.tuples(st.just("release"), st.integers(0, 30)),
            st.tuples(st.just("throttled"), st.integers(0, 30)),
        ),
        max_size=40,
    )
)  # fmt: skip
def test_memory_and_redis_decide_alike(redis_url: str, ops: list[Any]) -> None:
    limits = {A: {"rpm": 3, "tpm": 100}, B: {"rpm": 2, "tpm": 80}, C: {"rpm": 4, "tpm": 60}}
    account = uuid.uuid4().hex
    stores = [MemoryUsage(limits=limits), RedisUsage(redis_url, limits=limits, account=account)]
    leases: list[list[Any]] = [[], []]
    try:
        for op in ops:
            if op[0] == "admit":
                got = [s.admit(op[1]) for s in stores]
                for i, a in enumerate(got):
                    if a.lease:
                        leases[i].append(a.lease)
                mem, red = (
                    (a.model, [(r.model, r.limit, r.used, r.allowed, r.needed) for r in a.refusals])
                    for a in got
                )
                assert mem == red
                for m, r in zip(got[0].refusals, got[1].refusals, strict=True):
                    assert m.frees_in == pytest.approx(r.frees_in, abs=0.5)
            elif leases[0]:
                for ls in leases:
                    lease = ls[op[1] % len(ls)]
                    if op[0] == "settle":
                        lease.settle({"total_tokens": op[2]})
                    elif op[0] == "release":
                        lease.release()
                    else:
                        lease.throttled(retry_after=30)
        mem_u, red_u = (s.usage() for s in stores)
        assert [(u.requests, u.tokens, u.cooling_for > 0) for u in mem_u] == [
            (u.requests, u.tokens, u.cooling_for > 0) for u in red_u
        ]
    finally:
        stores[1].close()


def test_memory_usage_is_exact_across_threads() -> None:
    window, rpm = 0.3, 20
    store = MemoryUsage(limits={A: {"rpm": rpm}}, window=window)
    admitted: list[float] = []
    end = time.monotonic() + 3 * window

    def hammer() -> None:
        while time.monotonic() < end:
            a = store.admit([(A, 1)])
            if a.lease is not None:
                admitted.append(a.lease.admitted_at)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worst_window(admitted, window) == rpm


def _hammer(url: str, account: str, limits: dict[str, dict[str, int]], window: float,
            seconds: float, go: Any, out: Any) -> None:  # fmt: skip
    """One process of the contention test: 8 threads admitting as fast as they can."""
    store = RedisUsage(url, account=account, limits=limits, window=window)
    got: list[tuple[str, int]] = []
    out.put("ready")
    go.wait()
    end = time.monotonic() + seconds

    def run() -> None:
        while time.monotonic() < end:
            a = store.admit([(m, 1) for m in limits])
            if a.lease is not None:
                got.append((a.lease.model, us(a.lease.admitted_at)))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    out.put(got)


def test_four_processes_of_eight_threads_never_exceed_the_limit(redis_url: str) -> None:
    window = 0.5
    limits = {A: {"rpm": 15}, B: {"rpm": 10}}
    # fork: a spawned child would spend seconds importing pytest and hypothesis again
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    out, go = ctx.Queue(), ctx.Event()
    account = uuid.uuid4().hex
    procs = [
        ctx.Process(target=_hammer, args=(redis_url, account, limits, window, 4 * window, go, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    assert [out.get(timeout=30) for _ in procs] == ["ready"] * 4
    go.set()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
    admitted = [x for r in results for x in r]
    for model, lim in limits.items():
        times = [t for m, t in admitted if m == model]
        assert worst_window(times, us(window)) == lim["rpm"], model
    assert any(m == B for m, _ in admitted)  # spilled over when A was full


# --- failures ---------------------------------------------------------------------------------


def _store(kind: str, url: str, loop: asyncio.AbstractEventLoop, **kw: Any) -> Any:
    if kind == "redis":
        return RedisUsage(url, **kw)
    return SyncStore(AsyncRedisUsage(url, **kw), loop)


@pytest.mark.parametrize("kind", ["redis", "async"])
def test_open_counts_locally_while_redis_is_away_warns_once_and_recovers(
    kind: str, redis_server: RedisServer, loop: asyncio.AbstractEventLoop
) -> None:
    limits = {A: {"rpm": 3}}
    store = _store(kind, redis_server.url, loop, limits=limits, window=5, retry_interval=0.2)
    before = store.admit([(A, 1)]).lease
    assert before.source == "redis"
    redis_server.stop()
    with pytest.warns(UsageStoreWarning, match="admitting on a local in-process count") as w:
        local = [store.admit([(A, 1)]) for _ in range(4)]
    assert len(w) == 1
    assert [a.lease.source if a.lease else None for a in local] == ["local"] * 3 + [None]
    assert local[3].refusals[0].limit == "rpm"  # the same limits, counted locally
    before.settle({"total_tokens": 1})  # a Redis lease while Redis is away: dropped quietly
    before.release()
    local[0].lease.settle({"total_tokens": 0})  # settled where it was admitted
    assert store.usage([A])[0].source == "local"
    redis_server.start()
    time.sleep(0.25)
    again = store.admit([(A, 1)])
    # back on Redis, which restarted empty: the three local admissions were added to it
    assert again.model is None
    assert again.refusals[0].used == 3
    (u,) = store.usage([A])
    assert (u.source, u.requests) == ("redis", 3)
    store.close()


@pytest.mark.parametrize("kind", ["redis", "async"])
def test_closed_raises_while_redis_is_away_and_recovers(
    kind: str, redis_server: RedisServer, loop: asyncio.AbstractEventLoop
) -> None:
    store = _store(kind, redis_server.url, loop, window=5, on_error="closed", retry_interval=0.2)
    lease = store.admit([(A, 10)]).lease
    redis_server.stop()
    with pytest.raises(UsageStoreError, match="failed") as err:
        store.admit([(A, 1)])
    assert isinstance(err.value, MimoSelectError)
    with pytest.raises(UsageStoreError, match="unreachable"):  # fails fast until the next try
        store.usage([A])
    with pytest.raises(UsageStoreError):
        lease.settle({"total_tokens": 3})
    assert lease.state == "open"
    redis_server.start()
    time.sleep(0.25)
    assert store.admit([(A, 1)]).lease.source == "redis"
    lease.settle({"total_tokens": 3})  # a restarted Redis has no entry left: nothing to fix
    assert lease.state == "settled"
    store.close()


@pytest.mark.parametrize("on_error", ["open", "closed"])
def test_redis_down_at_start(on_error: str) -> None:
    with socket_closed_port() as url:
        store = RedisUsage(url, on_error=on_error, timeout=0.2)
        if on_error == "closed":
            with pytest.raises(UsageStoreError):
                store.admit([(A, 1)])
        else:
            with pytest.warns(UsageStoreWarning):
                assert store.admit([(A, 1)]).lease.source == "local"
            store._script = lambda **_: pytest.fail("tried Redis again inside retry_interval")
            assert store.admit([(A, 1)]).lease.source == "local"
        store.close()


class socket_closed_port:  # noqa: N801 - used as a context manager, reads like a function
    """A URL on a port nobody listens on."""

    def __enter__(self) -> str:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        return f"redis://127.0.0.1:{self._s.getsockname()[1]}/0"

    def __exit__(self, *exc: object) -> None:
        self._s.close()


def test_the_redis_fixture_fails_under_ci_without_redis_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_fixtures, "find_redis_server", lambda: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Redis tests"):
        redis_fixtures._binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        redis_fixtures._binary()


def test_stores_serve_many_threads_through_one_instance(make_threaded: Make) -> None:
    store = make_threaded(limits={A: {"rpm": 1000}}, window=5)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(25):
                store.admit([(A, 2)]).lease.settle({"total_tokens": 1})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    (u,) = store.usage([A])
    assert (u.requests, u.tokens) == (200, 200)


def test_async_store_serves_many_tasks_and_its_leases_are_coroutines(redis_url: str) -> None:
    async def main() -> tuple[list[Any], Any]:
        async with AsyncRedisUsage(
            redis_url, account=uuid.uuid4().hex, limits={A: {"rpm": 30}}, window=5
        ) as store:
            admissions = await asyncio.gather(*(store.admit([(A, 2), (B, 2)]) for _ in range(40)))
            await asyncio.gather(
                *(a.lease.settle({"total_tokens": 1}) for a in admissions if a.model == A)
            )
            return admissions, await store.usage([A, B])

    admissions, (a, b) = asyncio.run(main())
    assert sum(x.model == A for x in admissions) == 30
    assert sum(x.model == B for x in admissions) == 10
    assert (a.requests, a.tokens, b.requests, b.tokens) == (30, 30, 10, 20)


# --- the Redis side ---------------------------------------------------------------------------


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def test_every_key_of_an_account_shares_one_cluster_slot_and_expires(
    redis_url: str, raw: Any
) -> None:
    from redis.crc import key_slot

    account = uuid.uuid4().hex
    store = RedisUsage(redis_url, account=account, window=2)
    store.admit([(A, 5)]).lease.throttled(retry_after=3)
    store.admit([(A, 5), (B, 5)]).lease.settle({"total_tokens": 1})
    keys = raw.keys(f"mimo:{{{account}}}:*")
    assert sorted(keys) == sorted(f"mimo:{{{account}}}:{m}:{k}" for m in (A, B) for k in "qm")
    assert len({key_slot(k.encode()) for k in keys}) == 1
    ttls = {k: raw.pttl(k) / 1000 for k in keys}
    # at most two windows (plus a second each): an admit refreshes them only every window
    assert all(2 + 1 <= ttl <= 2 * (2 + 1) for k, ttl in ttls.items() if not k.endswith(f"{A}:m"))
    assert 3 < ttls[f"mimo:{{{account}}}:{A}:m"] <= 3 + 2 * (2 + 1)  # the cooldown, the windows
    store.close()


def test_a_flushed_script_cache_is_loaded_again(redis_url: str, raw: Any) -> None:
    store = RedisUsage(redis_url, account=uuid.uuid4().hex)
    store.admit([(A, 1)])
    raw.script_flush()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NOSCRIPT is handled, not an outage
        assert store.admit([(A, 1)]).lease.source == "redis"
    store.close()


def test_a_lost_token_sum_is_recounted(redis_url: str, raw: Any) -> None:
    account = uuid.uuid4().hex
    store = RedisUsage(redis_url, account=account, limits={A: {"tpm": 100}})
    store.admit([(A, 40)])
    store.admit([(A, 30)]).lease.settle({"total_tokens": 10})
    raw.delete(f"mimo:{{{account}}}:{A}:m")  # evicted under memory pressure, say
    assert store.usage([A])[0].tokens == 50
    (refusal,) = store.admit([(A, 60)]).refusals
    assert refusal.used == 50
    store.close()


def test_reading_usage_with_a_shorter_window_changes_nothing(redis_url: str) -> None:
    """`usage()` only reads: a dashboard with a 1 s window must not drop what a gateway with
    a 60 s window still counts."""
    account = f"test-{uuid.uuid4().hex[:8]}"
    gateway = RedisUsage(redis_url, account=account, limits={A: {"rpm": 3}}, window=60)
    for _ in range(3):
        assert gateway.admit([(A, 10)]).model == A
    time.sleep(1.1)
    reader = RedisUsage(redis_url, account=account, window=1, on_error="closed")
    assert reader.usage([A])[0].requests == 0  # nothing in its own 1 s window
    assert gateway.usage([A])[0].requests == 3
    assert gateway.admit([(A, 10)]).model is None  # still full
    for store in (gateway, reader):
        store.close()


@pytest.mark.parametrize(
    "url",
    ["redis://h:abc", "redis://h:99999", "redis://[::1", "localhost:6379", "http://h:6379",
     "redis://user:secret@h:abc"],
)  # fmt: skip
def test_a_bad_redis_url_is_a_usage_value_error_without_the_password(url: str) -> None:
    with pytest.raises(UsageValueError, match="bad Redis url") as e:
        RedisUsage(url)
    assert "secret" not in str(e.value)
