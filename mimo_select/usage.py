"""Usage stores: who may send the next request, so that no model goes over its RPM or TPM.

The platform counts requests and tokens per account and per model, over every API key and
every replica of a gateway, and answers 429 beyond the limit. A routing layer asks a store to
`admit` the first of its ranked candidates that fits, sends the request on the model it got,
then settles the `Lease` with the API's usage object (or releases it, or reports a 429).

- `MemoryUsage`: one process, every thread.
- `RedisUsage`: every process and host of an account, one Lua round trip per call, Redis's own
  clock; falls back to a local count (`on_error="open"`) or raises (`"closed"`) when Redis is
  away, and goes back to Redis by itself.
- `AsyncRedisUsage`: the same for asyncio; its admissions hold `AsyncLease`s whose methods are
  coroutines (`await lease.settle(usage)`).

The window slides and is exact: in no interval of `window` seconds do the admitted requests or
the reserved (then settled) tokens of a model exceed its limit, as long as a lease reserves at
least what the request will use (input plus the output budget). Tokens count at the time the
request was admitted; settling corrects the amount, not the time (a lease settled after its
window has passed changes nothing). A lease nobody settles counts with its reservation until
it leaves the window: nothing leaks.

Exact at the store is not exact at the platform: a request leaves some milliseconds after it
was admitted, more on a busy host. A `window` a little longer than the platform's minute
(61 s, say) keeps the platform's own count under the limit too. Every replica of an account
must admit with the same `window` and limits; `usage()` only reads, so a dashboard with
another window does not disturb them.

While Redis is away, `on_error="open"` counts in each process alone: N replicas may then
admit up to N times a limit. What a replica admitted locally is added to Redis when it
answers again. Redis 5 or newer; give the usage keys `maxmemory-policy noeviction` (a lost
token sum is recounted, lost entries are not).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import random
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit

from ._usage_lua import SCRIPT
from .errors import (
    UnknownModelError,
    UsageStoreError,
    UsageStoreWarning,
    UsageValueError,
    did_you_mean,
)

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from .catalog import Catalog

__all__ = [
    "Admission",
    "AsyncLease",
    "AsyncRedisUsage",
    "Lease",
    "MemoryUsage",
    "ModelUsage",
    "RedisUsage",
    "Refusal",
    "UsageStoreWarning",
    "UsageValueError",
    "awaited",
    "usage_report",
    "usage_tokens",
]

log = logging.getLogger(__name__)

LIMIT_KEYS = ("rpm", "tpm")  # the limits a model has, as `limits=` and the catalog name them
_KINDS = {1: "rpm", 2: "tpm", 3: "cooldown"}  # the Lua script's refusal codes
_US = 1_000_000


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one candidate was not admitted, and when it could admit this request.

    `limit` is the binding one: "rpm", "tpm" or "cooldown" (after a 429; `used`, `allowed`
    and `needed` then give the request counts). `frees_in` is exact for the window as it
    stands; `inf` when the request needs more tokens than the limit and can never fit.
    """

    model: str
    limit: str
    used: int
    allowed: int
    needed: int
    frees_in: float

    @property
    def message(self) -> str:
        if self.frees_in == math.inf:
            return (
                f"{self.model}: needs {self.needed:,} tokens, more than its TPM limit of "
                f"{self.allowed:,}: it can never fit"
            )
        if self.limit == "cooldown":
            return f"{self.model}: cooling down after a 429 for {self.frees_in:.3f} s"
        unit = "requests" if self.limit == "rpm" else "tokens"
        return (
            f"{self.model}: {self.used:,} of {self.allowed:,} {unit} used in the window, "
            f"needs {self.needed:,}; frees in {self.frees_in:.3f} s"
        )


LeaseT = TypeVar("LeaseT", "Lease", "AsyncLease")


@dataclass(frozen=True, slots=True)
class Admission(Generic[LeaseT]):
    """The outcome of one atomic admit.

    `model` and `lease` are None when no candidate fits; `refusals` holds one entry per
    candidate tried before the admitted one (all of them when none fits), in candidate order;
    `retry_after` is then the smallest `frees_in` (None when there were no candidates).
    """

    model: str | None
    lease: LeaseT | None
    refusals: tuple[Refusal, ...]
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's window as a store sees it now; times are seconds from now.

    `frees_in`: when the oldest request (and its tokens) leaves the window, `empty_in`: when
    the last one does (None when the window is empty). `source` is "memory", "redis", or
    "local" when a `RedisUsage` answers from its fallback count because Redis is away.
    """

    model: str
    requests: int
    tokens: int
    rpm: int
    tpm: int
    cooling_for: float
    frees_in: float | None
    empty_in: float | None
    source: str

    @property
    def active(self) -> bool:
        """Whether the window holds a request or the model is cooling down."""
        return bool(self.requests or self.cooling_for > 0)

    def to_json(self) -> dict[str, Any]:
        """One model's row, as `mimo-select usage --json` and `GET /v1/usage` give it."""

        def seconds(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "model": self.model, "requests": self.requests, "rpm": self.rpm,
            "tokens": self.tokens, "tpm": self.tpm, "cooling_for": seconds(self.cooling_for),
            "frees_in": seconds(self.frees_in), "empty_in": seconds(self.empty_in),
        }  # fmt: skip


async def awaited(result: Any) -> Any:
    """`result`, awaited where it is awaitable: what a sync or an async store or lease
    answers, for code that serves both."""
    return await result if inspect.isawaitable(result) else result


def usage_report(store: Any, rows: Sequence[ModelUsage], catalog: Catalog) -> dict[str, Any]:
    """What a store holds now, as `mimo-select usage --json` and `GET /v1/usage` write it:
    its rows, and the models it cannot count (no published limit)."""
    return {
        "account": store.account,
        "redis": store._where if isinstance(store, _RedisBase) else None,
        "window": store.window,
        "source": rows[0].source if rows else store.source,
        "clock": "redis" if isinstance(store, _RedisBase) else "process",
        "models": [u.to_json() for u in rows],
        "no_limits": [m.id for m in catalog.models if m.rpm is None or m.tpm is None],
    }


def usage_tokens(usage: Any) -> int:
    """The total tokens of an API usage object: what `Lease.settle` counts against TPM.

    OpenAI shape: `total_tokens`, else `prompt_tokens + completion_tokens` (reasoning and
    cached tokens are inside those). Anthropic shape: `input_tokens + output_tokens +
    cache_creation_input_tokens + cache_read_input_tokens`: cache reads count, as the safe
    side. Takes a mapping or an SDK object with those attributes.
    Raises `UsageValueError` when it holds no token counts or a count is not a whole number.
    """

    def field(name: str) -> int | None:
        value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageValueError(f"usage {name} is {value!r}, not a token count")
        return value

    total = field("total_tokens")
    if total is not None:
        return total
    parts = [
        field(n)
        for n in (
            "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
            "cache_creation_input_tokens", "cache_read_input_tokens",
        )
    ]  # fmt: skip
    counts = [p for p in parts if p is not None]
    if not counts:
        hint = " (pass the response's `usage`, not the response)" if _has(usage, "usage") else ""
        raise UsageValueError(
            "the usage object has no token counts: expected total_tokens, prompt_tokens/"
            f"completion_tokens or input_tokens/output_tokens{hint}"
        )
    return sum(counts)


def _has(obj: Any, name: str) -> bool:
    return name in obj if isinstance(obj, Mapping) else hasattr(obj, name)


# --- leases -----------------------------------------------------------------------------------


class _Ops(Protocol):
    def _settle(self, lease: Lease, total: int) -> None: ...
    def _release(self, lease: Lease) -> None: ...
    def _throttled(self, lease: Lease, retry_after: float | None) -> None: ...


class _AsyncOps(Protocol):
    async def _asettle(self, lease: AsyncLease, total: int) -> None: ...
    async def _arelease(self, lease: AsyncLease) -> None: ...
    async def _athrottled(self, lease: AsyncLease, retry_after: float | None) -> None: ...


class _LeaseBase:
    """What every lease knows; `admitted_at` is in its store's time base (Redis: epoch)."""

    __slots__ = ("_state", "account", "admitted_at", "id", "model", "source", "tokens")

    def __init__(
        self, *, id: str, model: str, account: str, tokens: int, admitted_at: float, source: str
    ) -> None:
        self.id = id
        self.model = model
        self.account = account
        self.tokens = tokens
        self.admitted_at = admitted_at
        self.source = source  # "memory" | "redis" | "local": where it is counted and settled
        self._state = "open"

    @property
    def state(self) -> str:
        """ "open", then "settled", "released" or "throttled": the first call wins."""
        return self._state

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, model={self.model!r}, "
            f"tokens={self.tokens}, source={self.source!r}, state={self._state!r})"
        )


def _check_retry_after(retry_after: float | None) -> float | None:
    if retry_after is None:
        return None
    if isinstance(retry_after, bool) or not isinstance(retry_after, int | float):
        raise UsageValueError(f"retry_after must be seconds, not {retry_after!r}")
    if not math.isfinite(retry_after) or retry_after < 0:
        raise UsageValueError(f"retry_after must be finite seconds >= 0, not {retry_after!r}")
    return float(retry_after)


class Lease(_LeaseBase):
    """A reservation already counted against `model`. End it with one of its three methods.

    Only the first call counts (`settle` twice counts once); later ones do nothing. Safe to
    call from any thread.
    """

    __slots__ = ("_lock", "_ops")

    def __init__(self, ops: _Ops, **fields: Any) -> None:
        super().__init__(**fields)
        self._ops = ops
        self._lock = threading.Lock()

    def settle(self, usage: Any) -> None:
        """The request was answered: correct the reservation to `usage_tokens(usage)`.

        Both ways: a smaller total gives tokens back, a larger one takes more (within the
        window it was admitted in). Also ends the model's 429 backoff streak.
        """
        total = usage_tokens(usage)
        with self._lock:
            if self._state == "open":
                self._ops._settle(self, total)
                self._state = "settled"

    def release(self) -> None:
        """The request was never sent: give the request and its tokens back."""
        with self._lock:
            if self._state == "open":
                self._ops._release(self)
                self._state = "released"

    def throttled(self, retry_after: float | None = None) -> None:
        """The API answered 429: cool the model down for every replica.

        For `retry_after` seconds (the Retry-After header) or, without one, an exponential
        backoff with full jitter that grows with consecutive 429s on the model. The request
        stays counted: the platform saw it.
        """
        seconds = _check_retry_after(retry_after)
        with self._lock:
            if self._state == "open":
                self._ops._throttled(self, seconds)
                self._state = "throttled"


class AsyncLease(_LeaseBase):
    """`Lease` for `AsyncRedisUsage`: the same three methods, as coroutines."""

    __slots__ = ("_ops",)

    def __init__(self, ops: _AsyncOps, **fields: Any) -> None:
        super().__init__(**fields)
        self._ops = ops

    async def _end(self, state: str, call: Callable[[], Any]) -> None:
        if self._state != "open":
            return
        self._state = "busy"  # a concurrent call sees a lease that is no longer open
        try:
            await call()
        except BaseException:
            self._state = "open"
            raise
        self._state = state

    async def settle(self, usage: Any) -> None:
        """See `Lease.settle`."""
        total = usage_tokens(usage)
        await self._end("settled", lambda: self._ops._asettle(self, total))

    async def release(self) -> None:
        """See `Lease.release`."""
        await self._end("released", lambda: self._ops._arelease(self))

    async def throttled(self, retry_after: float | None = None) -> None:
        """See `Lease.throttled`."""
        seconds = _check_retry_after(retry_after)
        await self._end("throttled", lambda: self._ops._athrottled(self, seconds))


# --- limits -----------------------------------------------------------------------------------


class _Spec(NamedTuple):
    """One candidate, resolved: its limits and what it needs (a tuple: made per decision)."""

    model: str
    rpm: int
    tpm: int
    tokens: int


class _Limits:
    """Per-model RPM and TPM: the catalog's, overridden by `limits=`; checked once."""

    def __init__(
        self, limits: Mapping[str, Mapping[str, int]] | None, catalog: Catalog | None
    ) -> None:
        if catalog is None:
            from .catalog import load_catalog

            catalog = load_catalog()
        self.ids = catalog.ids
        table: dict[str, dict[str, int | None]] = {
            m.id: {k: getattr(m, k, None) for k in LIMIT_KEYS} for m in catalog.models
        }
        for model, override in (limits or {}).items():
            if model not in table:
                raise UnknownModelError(model, self.ids, where="limits")
            if not isinstance(override, Mapping):
                raise UsageValueError(
                    f"limits[{model!r}] must map rpm/tpm to numbers, not {override!r}"
                )
            for key, value in override.items():
                if key not in LIMIT_KEYS:
                    hint = did_you_mean(str(key), LIMIT_KEYS)
                    raise UsageValueError(
                        f"limits[{model!r}]: unknown limit {key!r}"
                        + (f" ({hint})" if hint else f"; known: {', '.join(LIMIT_KEYS)}")
                    )
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise UsageValueError(
                        f"limits[{model!r}][{key!r}] must be a whole number >= 1, not {value!r}"
                    )
                table[model][key] = value
        self._table = table
        self._known = {m: (lim["rpm"], lim["tpm"]) for m, lim in table.items()
                       if lim["rpm"] is not None and lim["tpm"] is not None}  # fmt: skip

    def known(self) -> list[str]:
        """The models whose limits are all known, in catalog order."""
        return list(self._known)

    def get(self, model: str) -> tuple[int, int]:
        lim = self._table.get(model)
        if lim is None:
            raise UnknownModelError(model, self.ids, where="candidates")
        rpm, tpm = lim["rpm"], lim["tpm"]
        if rpm is None or tpm is None:
            missing = " and ".join(k for k in LIMIT_KEYS if lim[k] is None)
            raise UsageStoreError(
                f"no {missing} limit is known for model {model!r} (the catalog gives none); "
                f"pass the account's real limit, e.g. limits={{{model!r}: "
                + "{"
                + ", ".join(f"{k!r}: N" for k in LIMIT_KEYS if lim[k] is None)
                + "}}"
            )
        return rpm, tpm

    def specs(self, candidates: Sequence[tuple[str, int]]) -> list[_Spec]:
        known = self._known
        out = []
        for i, candidate in enumerate(candidates):
            try:
                model, tokens = candidate
            except (TypeError, ValueError):
                raise UsageValueError(
                    f"candidates[{i}] must be a (model id, tokens) pair, not {candidate!r}"
                ) from None
            if type(tokens) is not int or tokens < 0:
                raise UsageValueError(
                    f"candidates[{i}]: tokens to reserve must be a whole number >= 0, "
                    f"not {tokens!r}"
                )
            limits = known.get(model) if type(model) is str else None
            rpm, tpm = limits if limits is not None else self.get(model)
            out.append(_Spec(model, rpm, tpm, tokens))
        return out


def _check_window(window: float) -> float:
    if isinstance(window, bool) or not isinstance(window, int | float) or not window > 0:
        raise UsageValueError(f"window must be seconds > 0, not {window!r}")
    if not math.isfinite(window):
        raise UsageValueError(f"window must be finite, not {window!r}")
    return float(window)


def _retry_after(refusals: Sequence[Refusal]) -> float | None:
    return min((r.frees_in for r in refusals), default=None)


_IDS = random.Random(os.urandom(16))  # our own: `random.seed()` elsewhere must not repeat ids
os.register_at_fork(after_in_child=lambda: _IDS.seed(os.urandom(16)))


def _new_id() -> str:
    """64 random bits: unique enough per window, no system call per id, fresh after a fork."""
    return f"{_IDS.getrandbits(64):016x}"


# --- one process ------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("alive", "at", "id", "settled", "tokens")

    def __init__(self, at: float, id: str, tokens: int) -> None:
        self.at = at
        self.id = id
        self.tokens = tokens
        self.settled = False
        self.alive = True


class _Window:
    """One model's window: entries oldest first, live counts, and its cooldown."""

    __slots__ = ("by_id", "cool_until", "entries", "requests", "strikes", "tokens")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.by_id: dict[str, _Entry] = {}
        self.requests = 0
        self.tokens = 0
        self.cool_until = -math.inf
        self.strikes = 0

    def expire(self, cutoff: float) -> None:
        entries = self.entries
        while entries and entries[0].at <= cutoff:
            e = entries.popleft()
            if e.alive:
                self.requests -= 1
                self.tokens -= e.tokens
                del self.by_id[e.id]

    def alive(self) -> Iterable[_Entry]:
        return (e for e in self.entries if e.alive)

    def check(self, now: float, window: float, spec: _Spec) -> tuple[str | None, float]:
        """(None, 0) when `spec` fits, else the binding limit and when it frees (as Lua)."""
        kind: str | None = None
        free = 0.0
        if self.cool_until > now:
            kind, free = "cooldown", self.cool_until - now
        if self.requests >= spec.rpm:
            skip = self.requests - spec.rpm
            for e in self.alive():
                if skip == 0:
                    f = e.at + window - now
                    break
                skip -= 1
            if kind is None or f > free:
                kind, free = "rpm", f
        if spec.tokens > spec.tpm:
            return "tpm", math.inf
        if self.tokens + spec.tokens > spec.tpm:
            freed, f = 0, 0.0
            for e in self.alive():
                freed += e.tokens
                f = e.at + window - now
                if self.tokens - freed + spec.tokens <= spec.tpm:
                    break
            if kind is None or f > free:
                kind, free = "tpm", f
        return kind, free

    def add(self, now: float, lease_id: str, tokens: int) -> None:
        e = _Entry(now, lease_id, tokens)
        self.entries.append(e)
        self.by_id[lease_id] = e
        self.requests += 1
        self.tokens += tokens


@dataclass(frozen=True, slots=True)
class _Decision:
    index: int | None
    now: float
    refusals: tuple[Refusal, ...]


class MemoryUsage:
    """Usage for one process: thread-safe, exact, no I/O.

    `limits` overrides the catalog's per model and key, e.g. `{"<model id>": {"rpm": 500}}`;
    `catalog` defaults to the bundled one; `clock` (seconds, monotonic) is there for tests.
    `backoff` is the base and cap in seconds of the 429 backoff (the cap defaults to `window`);
    `jitter` draws its random fraction; `account` only labels the leases. Raises
    `UnknownModelError` for a model `limits` names that the catalog does not know,
    `UsageValueError` for other bad arguments.
    """

    source = "memory"

    def __init__(
        self,
        *,
        limits: Mapping[str, Mapping[str, int]] | None = None,
        window: float = 60.0,
        catalog: Catalog | None = None,
        account: str = "default",
        clock: Callable[[], float] = time.monotonic,
        backoff: tuple[float, float | None] = (1.0, None),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.window = _check_window(window)
        self.account = account
        self._limits = _Limits(limits, catalog)
        self._clock = clock
        self._backoff = _check_backoff(backoff, self.window)
        self._jitter = jitter
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._last = -math.inf

    def limited(self, model: str) -> bool:
        """Whether the store knows `model`'s RPM and TPM (from the catalog or `limits=`)."""
        return model in self._limits._known

    def admit(self, candidates: Sequence[tuple[str, int]]) -> Admission[Lease]:
        """Admit the first candidate (model id, tokens to reserve) that fits, atomically.

        Candidates are in rank order. The admitted one is counted at once; each one tried
        before it gets a `Refusal`. Raises `UsageStoreError` for a model without a known
        limit, `UnknownModelError` for a model the catalog does not know.
        """
        specs = self._limits.specs(candidates)
        lease_id = _new_id()
        d = self._decide(specs, lease_id)
        lease = None if d.index is None else self._lease(specs[d.index], lease_id, d.now)
        return _admission(d, specs, lease)

    def usage(self, models: Iterable[str] | None = None) -> tuple[ModelUsage, ...]:
        """Each model's window now (all models with known limits when `models` is None)."""
        names = list(models) if models is not None else self._limits.known()
        limits = [self._limits.get(m) for m in names]
        with self._lock:
            now = self._now()
            out = []
            for model, (rpm, tpm) in zip(names, limits, strict=True):
                w = self._windows.get(model) or _Window()
                w.expire(now - self.window)
                live = list(w.alive())
                out.append(
                    ModelUsage(
                        model=model, requests=w.requests, tokens=w.tokens, rpm=rpm, tpm=tpm,
                        cooling_for=max(0.0, w.cool_until - now),
                        frees_in=live[0].at + self.window - now if live else None,
                        empty_in=live[-1].at + self.window - now if live else None,
                        source=self.source,
                    )
                )  # fmt: skip
        return tuple(out)

    # the engine, shared with RedisUsage's local fallback

    def _now(self) -> float:
        now = max(self._clock(), self._last)  # a clock stepping back must not reorder the window
        self._last = now
        return now

    def _window(self, model: str) -> _Window:
        w = self._windows.get(model)
        if w is None:
            w = self._windows[model] = _Window()
        return w

    def _decide(self, specs: Sequence[_Spec], lease_id: str) -> _Decision:
        refusals: list[Refusal] = []
        with self._lock:
            now = self._now()
            for i, spec in enumerate(specs):
                w = self._window(spec.model)
                w.expire(now - self.window)
                kind, free = w.check(now, self.window, spec)
                if kind is None:
                    w.add(now, lease_id, spec.tokens)
                    return _Decision(i, now, tuple(refusals))
                if kind == "tpm":
                    used, allowed, needed = w.tokens, spec.tpm, spec.tokens
                else:
                    used, allowed, needed = w.requests, spec.rpm, 1
                refusals.append(Refusal(spec.model, kind, used, allowed, needed, free))
        return _Decision(None, now, tuple(refusals))

    def _lease(self, spec: _Spec, lease_id: str, now: float) -> Lease:
        return Lease(
            self, id=lease_id, model=spec.model, account=self.account, tokens=spec.tokens,
            admitted_at=now, source=self.source,
        )  # fmt: skip

    def _settle(self, lease: _LeaseBase, total: int) -> None:
        with self._lock:
            w = self._window(lease.model)
            w.strikes = 0
            e = w.by_id.get(lease.id)
            if e is not None and not e.settled:
                w.tokens += total - e.tokens
                e.tokens = total
                e.settled = True

    def _release(self, lease: _LeaseBase) -> None:
        with self._lock:
            w = self._window(lease.model)
            e = w.by_id.pop(lease.id, None)
            if e is not None:
                e.alive = False
                w.requests -= 1
                w.tokens -= e.tokens

    def _throttled(self, lease: _LeaseBase, retry_after: float | None) -> None:
        with self._lock:
            now = self._now()
            w = self._window(lease.model)
            if retry_after is None:
                base, cap = self._backoff
                retry_after = self._jitter() * min(cap, base * 2.0**w.strikes)
            w.cool_until = max(w.cool_until, now + retry_after)
            w.strikes += 1

    def _in_window(self) -> list[tuple[str, float, int, str]]:
        """(model, age in seconds, tokens, lease id) for every live entry: for a replay."""
        with self._lock:
            now = self._now()
            out: list[tuple[str, float, int, str]] = []
            for model, w in self._windows.items():
                w.expire(now - self.window)
                out.extend((model, now - e.at, e.tokens, e.id) for e in w.alive())
        return out


def _check_backoff(backoff: tuple[float, float | None], window: float) -> tuple[float, float]:
    try:
        base, cap = backoff
    except (TypeError, ValueError):
        raise UsageValueError(f"backoff must be (base, cap) seconds, not {backoff!r}") from None
    cap = window if cap is None else cap
    for name, value in (("base", base), ("cap", cap)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise UsageValueError(f"backoff {name} must be seconds > 0, not {value!r}")
    return float(base), float(cap)


def _admission(d: _Decision, specs: Sequence[_Spec], lease: LeaseT | None) -> Admission[LeaseT]:
    if d.index is None:
        return Admission(None, None, d.refusals, _retry_after(d.refusals))
    return Admission(specs[d.index].model, lease, d.refusals, None)


# --- many processes and hosts -----------------------------------------------------------------


class _BadReplyError(UsageStoreError):
    """The script answered something this module did not send it to answer."""


class _Circuit:
    """Whether to try Redis: always while it answers; once per `interval` while it does not."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self._retry_at = 0.0
        self.last_error = ""

    def allow(self) -> tuple[bool, bool]:
        """(try Redis now, this try is the probe after an outage)."""
        if self.down_since is None:  # the common case, without the lock: a stale read costs a try
            return True, False
        with self._lock:
            if self.down_since is None:
                return True, False
            now = time.monotonic()
            if now < self._retry_at:
                return False, False
            self._retry_at = now + self.interval  # one probe per interval, not one per thread
            return True, True

    def failed(self, error: str) -> bool:
        """Mark Redis down; True when this starts an outage."""
        with self._lock:
            now = time.monotonic()
            first = self.down_since is None
            if first:
                self.down_since = now
            self._retry_at = now + self.interval
            self.last_error = error
            return first

    def succeeded(self, started: float) -> bool:
        """Mark Redis up after a call that began at `started`; True when this ends an outage.

        A call already in flight when the outage began proves nothing about now.
        """
        with self._lock:
            if self.down_since is None or started < self.down_since:
                return False
            self.down_since = None
            return True

    def retry_in(self) -> float:
        with self._lock:
            return max(0.0, self._retry_at - time.monotonic())


_FAILED: Any = object()  # a Redis call that failed under on_error="open"


_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _describe(url: str | None, client: Any) -> str:
    """Where Redis is, without credentials."""
    if url is not None:
        expected = "expected redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... or unix:///PATH"
        if not isinstance(url, str):
            raise UsageValueError(f"a Redis url is text, not {url!r}")
        shown = re.sub(r"//[^@/]*@", "//", url.split("?", maxsplit=1)[0])  # no password
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError as exc:
            raise UsageValueError(f"bad Redis url {shown!r} ({exc}); {expected}") from None
        if parts.scheme not in _REDIS_SCHEMES or not parts.netloc + parts.path:
            raise UsageValueError(f"bad Redis url {shown!r}; {expected}")
        return f"{parts.scheme}://{host}{port}{parts.path}"
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


class _RedisBase:
    """What `RedisUsage` and `AsyncRedisUsage` share: keys, arguments, replies, failures."""

    source = "redis"

    def __init__(
        self,
        url: str | None,
        *,
        client: Any,
        account: str,
        limits: Mapping[str, Mapping[str, int]] | None,
        window: float,
        catalog: Catalog | None,
        on_error: str,
        prefix: str,
        timeout: float,
        retry_interval: float,
        backoff: tuple[float, float | None],
        jitter: Callable[[], float],
    ) -> None:
        if on_error not in ("open", "closed"):
            hint = did_you_mean(str(on_error), ("open", "closed"))
            raise UsageValueError(
                f"on_error must be 'open' or 'closed', not {on_error!r}"
                + (f" ({hint})" if hint else "")
            )
        for name, tag in (("account", account), ("prefix", prefix)):
            if not isinstance(tag, str) or not tag or "{" in tag or "}" in tag:
                raise UsageValueError(
                    f"{name} must be a non-empty name without braces (the account is the keys' "
                    f"hash tag), not {tag!r}"
                )
        if (url is None) == (client is None):
            raise UsageValueError("pass exactly one of a Redis url and a client")
        for name, value in (("timeout", timeout), ("retry_interval", retry_interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise UsageValueError(f"{name} must be seconds > 0, not {value!r}")
        # the fallback count checks the window, the limits and the backoff; the store
        # uses its values
        self._local = MemoryUsage(
            limits=limits, window=window, catalog=catalog, account=account, backoff=backoff,
            jitter=jitter,
        )  # fmt: skip
        self._local.source = "local"
        self.window = self._local.window
        self.account = account
        self.on_error = on_error
        self._limits = self._local._limits
        self._backoff = self._local._backoff
        self._jitter = jitter
        self._circuit = _Circuit(float(retry_interval))
        self._prefix = f"{prefix}:{{{account}}}:"
        self._key_cache: dict[str, tuple[str, str]] = {}
        self._window_us = round(self.window * _US)
        self._where = _describe(url, client)

    def limited(self, model: str) -> bool:
        """Whether the store knows `model`'s RPM and TPM (from the catalog or `limits=`)."""
        return model in self._limits._known

    # keys and arguments

    def _keys(self, models: Iterable[str]) -> list[str]:
        keys = self._key_cache
        out: list[str] = []
        for model in models:
            pair = keys.get(model)
            if pair is None:
                pair = keys[model] = (f"{self._prefix}{model}:q", f"{self._prefix}{model}:m")
            out += pair
        return out

    def _admit_call(self, specs: Sequence[_Spec], lease_id: str) -> tuple[list[str], list[Any]]:
        # the candidates' numbers as one argument: fewer to pack, and the same digits
        numbers = " ".join(f"{s.rpm} {s.tpm} {s.tokens}" for s in specs)
        return self._keys(s.model for s in specs), ["admit", self._window_us, lease_id, numbers]

    def _parse_admit(self, reply: Any, specs: Sequence[_Spec]) -> _Decision:
        try:
            index, now = int(reply[0]), int(reply[1])
            rows = [reply[i : i + 5] for i in range(2, len(reply), 5)]
            if len(rows) != (index - 1 if index else len(specs)):
                raise _BadReplyError(f"{len(rows)} refusals for {len(specs)} candidates")
            refusals = tuple(
                Refusal(
                    specs[i].model, _KINDS[int(kind)], int(used), int(allowed), int(needed),
                    math.inf if int(free) < 0 else int(free) / _US,
                )
                for i, (kind, used, allowed, needed, free) in enumerate(rows)
            )  # fmt: skip
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise _BadReplyError(f"unexpected admit reply {reply!r}: {exc}") from None
        return _Decision(index - 1 if index else None, now / _US, refusals)

    def _lease_call(self, op: str, lease: _LeaseBase, *args: Any) -> tuple[list[str], list[Any]]:
        """Settle or release: the member is "<id>:<tokens reserved>"."""
        return self._keys([lease.model]), [op, self._window_us, lease.id, lease.tokens, *args]

    def _throttle_call(self, model: str, retry_after: float | None) -> tuple[list[str], list[Any]]:
        base, cap = self._backoff
        us = -1 if retry_after is None else round(retry_after * _US)
        args = ["throttle", self._window_us, us, round(base * _US), round(cap * _US)]
        return self._keys([model]), [*args, self._jitter()]

    def _usage_call(self, models: Sequence[str]) -> tuple[list[str], list[Any]]:
        return self._keys(models), ["usage", self._window_us]

    def _parse_usage(self, reply: Any, models: Sequence[str]) -> tuple[ModelUsage, ...]:
        def seconds(us: Any) -> float | None:
            return None if int(us) < 0 else int(us) / _US

        try:
            rows = [reply[i : i + 5] for i in range(1, len(reply), 5)]
            if len(rows) != len(models):
                raise _BadReplyError(f"{len(rows)} rows for {len(models)} models")
            out = []
            for model, (requests, tokens, cool, first, last) in zip(models, rows, strict=True):
                rpm, tpm = self._limits.get(model)
                out.append(
                    ModelUsage(
                        model=model, requests=int(requests), tokens=int(tokens), rpm=rpm,
                        tpm=tpm, cooling_for=int(cool) / _US, frees_in=seconds(first),
                        empty_in=seconds(last), source=self.source,
                    )
                )  # fmt: skip
        except (TypeError, ValueError, IndexError) as exc:
            raise _BadReplyError(f"unexpected usage reply {reply!r}: {exc}") from None
        return tuple(out)

    def _replay_call(self) -> tuple[list[str], list[Any]] | None:
        """What the local count admitted while Redis was away, to add it there (or None)."""
        entries = self._local._in_window()
        if not entries:
            return None
        models = list(dict.fromkeys(model for model, *_ in entries))
        index = {m: i + 1 for i, m in enumerate(models)}
        args: list[Any] = ["replay", self._window_us]
        for model, age, tokens, lease_id in entries:
            args.extend((index[model], round(age * _US), tokens, lease_id))
        return self._keys(models), args

    def _attach(
        self,
        client: Any,
        url: str | None,
        *,
        timeout: float,
        from_url: Callable[..., Any],
        retry: Any,
    ) -> None:
        """Use `client`, or build one from `url` that never retries a command (a retried
        admit could count twice) and gives up after `timeout` seconds."""
        from redis import RedisError

        self._errors: tuple[type[Exception], ...] = (RedisError, _BadReplyError)
        self._owned = client is None
        if client is None:
            assert url is not None
            try:
                client = from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                  retry=retry)  # fmt: skip
            except ValueError as exc:
                raise UsageValueError(f"bad Redis url {self._where!r}: {exc}") from None
        self._client = client
        self._script = client.register_script(SCRIPT)

    def _admitted(
        self, reply: Any, specs: Sequence[_Spec], lease_id: str, lease_type: type[LeaseT]
    ) -> Admission[LeaseT]:
        """An admit's answer from Redis's reply, or from the local count while Redis is away."""
        d = self._decision(reply, specs)
        source = "redis"
        if d is None:
            d, source = self._local._decide(specs, lease_id), "local"
        lease = None
        if d.index is not None:
            spec = specs[d.index]
            store: Any = self  # the subclass: its settle, release and throttled
            lease = lease_type(
                store, id=lease_id, model=spec.model, account=self.account, tokens=spec.tokens,
                admitted_at=d.now, source=source,
            )  # fmt: skip
        return _admission(d, specs, lease)

    def _usage_names(self, models: Iterable[str] | None) -> list[str]:
        names = list(models) if models is not None else self._limits.known()
        for m in names:
            self._limits.get(m)  # raises for a model the store does not know
        return names

    def _usage_from(self, reply: Any, names: list[str]) -> tuple[ModelUsage, ...]:
        if reply is not _FAILED:
            try:
                return self._parse_usage(reply, names)
            except _BadReplyError as exc:
                self._failed(exc)
        return self._local.usage(names)

    def _decision(self, reply: Any, specs: Sequence[_Spec]) -> _Decision | None:
        """The admit reply read, or None when the local count must decide."""
        if reply is _FAILED:
            return None
        try:
            return self._parse_admit(reply, specs)
        except _BadReplyError as exc:
            self._failed(exc)
            return None

    # failures

    def _allow(self) -> tuple[bool, bool]:
        go, probe = self._circuit.allow()
        if not go and self.on_error == "closed":
            raise UsageStoreError(
                f"Redis usage store {self._where} is unreachable "
                f"({self._circuit.last_error}); next try in {self._circuit.retry_in():.1f} s",
                where=f"account {self.account!r}",
            )
        return go, probe

    def _failed(self, exc: Exception) -> None:
        """Record a failed call; raises `UsageStoreError` under on_error="closed"."""
        error = f"{type(exc).__name__}: {exc}"
        first = self._circuit.failed(error)
        if self.on_error == "closed":
            raise UsageStoreError(
                f"Redis usage store {self._where} failed ({error})",
                where=f"account {self.account!r}",
            ) from exc
        if first:
            warnings.warn(
                f"Redis usage store {self._where} failed ({error}); admitting on a local "
                f"in-process count with the same limits and trying Redis again every "
                f"{self._circuit.interval:g} s (account {self.account!r})",
                UsageStoreWarning,
                stacklevel=4,
            )
        else:
            log.debug("Redis usage store %s still away: %s", self._where, error)

    def _succeeded(self, started: float) -> None:
        if self._circuit.succeeded(started):
            log.info(
                "Redis usage store %s answers again; account %r is counted there again",
                self._where,
                self.account,
            )


class RedisUsage(_RedisBase):
    """Usage shared by every thread, process and host of an account, through Redis.

    Every call is one round trip: one Lua script (EVALSHA, loaded again after a restart) over
    all candidates, with Redis's clock, so no replica's clock matters. All keys of an account
    share the hash tag `{account}` and run on Redis Cluster. Give a `url` or a ready `client`
    (its own retry policy then applies; the client built from `url` never retries a command,
    which could count it twice, and times out after `timeout` seconds).

    When Redis fails (down at start, stopped, restarting): `on_error="open"` admits on a
    local in-process count with the same limits, warns once per outage (`UsageStoreWarning`),
    tries Redis again at most every `retry_interval` seconds and, when it answers, adds what it
    admitted meanwhile to Redis and counts there again; `on_error="closed"` raises
    `UsageStoreError`, and fails fast between tries. A lease is always settled where it was
    admitted. Only `MimoSelectError`s leave its methods.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        account: str = "default",
        limits: Mapping[str, Mapping[str, int]] | None = None,
        window: float = 60.0,
        catalog: Catalog | None = None,
        on_error: str = "open",
        prefix: str = "mimo",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        backoff: tuple[float, float | None] = (1.0, None),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(
            url, client=client, account=account, limits=limits, window=window, catalog=catalog,
            on_error=on_error, prefix=prefix, timeout=timeout, retry_interval=retry_interval,
            backoff=backoff, jitter=jitter,
        )  # fmt: skip
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise UsageStoreError(
                "RedisUsage needs the redis package: pip install 'mimo-select[redis]'"
            ) from None
        self._attach(client, url, timeout=timeout, from_url=redis.Redis.from_url,
                     retry=Retry(NoBackoff(), 0))  # fmt: skip

    def admit(self, candidates: Sequence[tuple[str, int]]) -> Admission[Lease]:
        """As `MemoryUsage.admit`, for every replica of the account at once."""
        specs = self._limits.specs(candidates)
        if not specs:
            return Admission(None, None, (), None)
        lease_id = _new_id()
        reply = self._call(*self._admit_call(specs, lease_id))
        return self._admitted(reply, specs, lease_id, Lease)

    def usage(self, models: Iterable[str] | None = None) -> tuple[ModelUsage, ...]:
        """Each model's window now; from the local count (source "local") while Redis is away."""
        names = self._usage_names(models)
        return self._usage_from(self._call(*self._usage_call(names)), names)

    def lease(self, lease_id: str, model: str, tokens: int) -> Lease:
        """The lease `lease_id` (admitted for `model` with `tokens` reserved), to end it from
        another process or host: settling it twice still counts once."""
        self._limits.get(model)
        return Lease(self, id=lease_id, model=model, account=self.account, tokens=tokens,
                     admitted_at=math.nan, source="redis")  # fmt: skip

    def close(self) -> None:
        """Close the connections of a client this store built (not one you passed)."""
        if self._owned:
            self._client.close()

    def __enter__(self) -> RedisUsage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # one round trip, with the failure policy

    def _call(self, keys: list[str], args: list[Any]) -> Any:
        go, probe = self._allow()
        if not go:
            return _FAILED
        started = time.monotonic()
        try:
            if probe and (replay := self._replay_call()) is not None:
                self._script(keys=replay[0], args=replay[1])
            reply = self._script(keys=keys, args=args)
        except self._errors as exc:
            self._failed(exc)
            return _FAILED
        self._succeeded(started)
        return reply

    def _settle(self, lease: Lease, total: int) -> None:
        if lease.source == "local" or self._call(*self._lease_call("settle", lease, total)) is (
            _FAILED
        ):
            self._local._settle(lease, total)  # a Redis lease: only ends the local backoff

    def _release(self, lease: Lease) -> None:
        if lease.source == "local":
            self._local._release(lease)
        else:  # when Redis is away the slot stays counted there until the window passes
            self._call(*self._lease_call("release", lease))

    def _throttled(self, lease: Lease, retry_after: float | None) -> None:
        if lease.source == "local" or self._call(
            *self._throttle_call(lease.model, retry_after)
        ) is (_FAILED):
            self._local._throttled(lease, retry_after)


class AsyncRedisUsage(_RedisBase):
    """`RedisUsage` for asyncio: `await admit(...)`, `await usage()`, and `AsyncLease`s.

    Same arguments, keys and script, so async and threaded replicas share one account. Build
    it with a `url` or a `redis.asyncio` client; close it with `await store.aclose()`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.asyncio.Redis | None = None,
        account: str = "default",
        limits: Mapping[str, Mapping[str, int]] | None = None,
        window: float = 60.0,
        catalog: Catalog | None = None,
        on_error: str = "open",
        prefix: str = "mimo",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        backoff: tuple[float, float | None] = (1.0, None),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(
            url, client=client, account=account, limits=limits, window=window, catalog=catalog,
            on_error=on_error, prefix=prefix, timeout=timeout, retry_interval=retry_interval,
            backoff=backoff, jitter=jitter,
        )  # fmt: skip
        try:
            import redis
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise UsageStoreError(
                "AsyncRedisUsage needs the redis package: pip install 'mimo-select[redis]'"
            ) from None
        self._attach(
            client, url, timeout=timeout, from_url=redis.asyncio.Redis.from_url,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip

    async def admit(self, candidates: Sequence[tuple[str, int]]) -> Admission[AsyncLease]:
        """As `RedisUsage.admit`."""
        specs = self._limits.specs(candidates)
        if not specs:
            return Admission(None, None, (), None)
        lease_id = _new_id()
        reply = await self._call(*self._admit_call(specs, lease_id))
        return self._admitted(reply, specs, lease_id, AsyncLease)

    async def usage(self, models: Iterable[str] | None = None) -> tuple[ModelUsage, ...]:
        """As `RedisUsage.usage`."""
        names = self._usage_names(models)
        return self._usage_from(await self._call(*self._usage_call(names)), names)

    def lease(self, lease_id: str, model: str, tokens: int) -> AsyncLease:
        """See `RedisUsage.lease`."""
        self._limits.get(model)
        return AsyncLease(self, id=lease_id, model=model, account=self.account, tokens=tokens,
                          admitted_at=math.nan, source="redis")  # fmt: skip

    async def aclose(self) -> None:
        """Close the connections of a client this store built (not one you passed)."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRedisUsage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, keys: list[str], args: list[Any]) -> Any:
        go, probe = self._allow()
        if not go:
            return _FAILED
        started = time.monotonic()
        try:
            if probe and (replay := self._replay_call()) is not None:
                await self._script(keys=replay[0], args=replay[1])
            reply = await self._script(keys=keys, args=args)
        except self._errors as exc:
            self._failed(exc)
            return _FAILED
        self._succeeded(started)
        return reply

    async def _asettle(self, lease: AsyncLease, total: int) -> None:
        if lease.source == "local" or (
            await self._call(*self._lease_call("settle", lease, total)) is _FAILED
        ):
            self._local._settle(lease, total)

    async def _arelease(self, lease: AsyncLease) -> None:
        if lease.source == "local":
            self._local._release(lease)
        else:
            await self._call(*self._lease_call("release", lease))

    async def _athrottled(self, lease: AsyncLease, retry_after: float | None) -> None:
        if lease.source == "local" or (
            await self._call(*self._throttle_call(lease.model, retry_after)) is _FAILED
        ):
            self._local._throttled(lease, retry_after)
