"""Sending within the limits: decide, reserve, send, settle; on a 429 cool down and retry.

The platform answers 429 beyond a model's RPM or TPM and asks callers to "plan request
frequency and implement request retry and backoff". `send_with_limits` does that around the
caller's own send function, whatever HTTP client it uses:

1. route the body with the usage store: the best model with room is chosen and reserved;
2. send the body with that model; a 429 (a response or an exception with `status_code` 429,
   or a `RateLimitedError`) cools the model down for every replica for its Retry-After (an
   exponential backoff with jitter without one) and goes back to 1, where the next eligible
   model is chosen, or the wait for the first to free is slept;
3. settle the lease with the response's `usage`, so TPM counts what the API billed.

An error from `send` other than a 429 propagates, and its reservation stays counted until it
leaves the window: the request may have reached the platform. A response without a `usage`
(an error status, a stream the caller reads later) leaves the reservation as it was; settle
`sent.decision.lease` when the usage is known.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from .errors import NoEligibleModelError, RateLimitedError, UsageValueError
from .usage import awaited

if TYPE_CHECKING:
    from .decisions import Decision
    from .engine import Selector, UsageStore
    from .media import MediaSizes
    from .requests import Request
    from .usage import AsyncRedisUsage

__all__ = ["Attempt", "Sent", "asend_with_limits", "send_with_limits"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try that did not succeed: the model it went to, or None when it only waited."""

    model: str | None
    status: int | None  # 429 when the platform refused it; None for a wait
    waited: float  # seconds slept after it


@dataclass(frozen=True, slots=True)
class Sent:
    """What `send_with_limits` returns: the response, and the decision that sent it."""

    response: Any
    decision: Decision
    attempts: tuple[Attempt, ...]  # the tries before the one that succeeded

    @property
    def model(self) -> str:
        assert self.decision.model is not None
        return self.decision.model


class _Retry:
    """The loop both helpers share: what to do after each decision and each reply."""

    def __init__(
        self,
        *,
        selector: Selector | None,
        body: Mapping[str, Any],
        api: str,
        media_sizes: MediaSizes | None,
        deadline: float,
        max_attempts: int,
        fallback: bool,
        clock: Callable[[], float],
    ) -> None:
        if selector is None:
            from .engine import Selector

            selector = Selector.default()
        for name, value, low in (("deadline", deadline, 0), ("max_attempts", max_attempts, 1)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                raise UsageValueError(f"{name} must be a number >= {low}, not {value!r}")
        self.selector = selector
        self.body = body
        self.request: Request = selector.read(body, api=api, media_sizes=media_sizes)
        self.fallback = fallback
        self.clock = clock
        self.ends = clock() + deadline
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.attempts: list[Attempt] = []

    def body_for(self, decision: Decision) -> tuple[dict[str, Any] | None, float | None]:
        """The body to send, or (None, seconds to wait) when nothing may be sent now.

        Raises `NoEligibleModelError` when no model fits at all (waiting cannot help) and
        `RateLimitedError` when the wait would pass the deadline.
        """
        pinned = self.request.model
        if decision.model is not None and (
            pinned is None or decision.model == pinned or self.fallback
        ):
            return decision.apply(self.body, fallback=self.fallback), None
        wait = decision.retry_after
        if pinned is not None and not self.fallback:
            full = next((r for r in decision.refusals if r.model == pinned), None)
            if full is None:  # the pinned model does not fit at all: no wait helps
                decision.apply(self.body)  # raises NoEligibleModelError, saying why
            else:
                wait = full.frees_in
        if wait is None:
            raise NoEligibleModelError(
                "no model is eligible for this request: "
                + "; ".join(f"{r.model}: {r.violations[0].message}" for r in decision.rejected),
                where="$",
            )
        return None, self.wait(wait, decision)

    def wait(self, seconds: float, decision: Decision) -> float:
        left = self.ends - self.clock()
        if seconds > left:
            full = "; ".join(r.message for r in decision.refusals)
            when = (
                "can never take this request"
                if seconds == math.inf
                else f"is full for another {seconds:.1f} s, past the deadline of "
                f"{self.deadline:g} s"
            )
            raise RateLimitedError(
                f"every eligible model {when} ({full})",
                retry_after=None if seconds == math.inf else seconds,
            )
        self.attempts.append(Attempt(None, None, seconds))
        return seconds

    def refused(self, model: str) -> None:
        self.attempts.append(Attempt(model, 429, 0.0))
        if sum(a.status is not None for a in self.attempts) >= self.max_attempts:
            raise RateLimitedError(
                f"the platform answered 429 to {self.max_attempts} attempts in a row "
                f"(last on {model})",
            )


def send_with_limits(
    body: Mapping[str, Any],
    send: Callable[[dict[str, Any]], Any],
    *,
    usage: UsageStore,
    selector: Selector | None = None,
    api: str = "auto",
    strict: bool = False,
    media_sizes: MediaSizes | None = None,
    fallback: bool = True,
    deadline: float = 60.0,
    max_attempts: int = 8,
    usage_of: Callable[[Any], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Sent:
    """Send `body` through `send(body_with_model)` on the best model that has room.

    `fallback=False` keeps a model the body names (waiting for it rather than switching).
    Gives up with `RateLimitedError` when the next chance lies past `deadline` seconds or
    after `max_attempts` 429s; `NoEligibleModelError` when no model fits at all. `usage_of`
    finds the API's usage object in a response (by default: `.usage`, `["usage"]`, or the
    JSON of an HTTP response).
    """
    retry = _Retry(
        selector=selector, body=body, api=api, media_sizes=media_sizes, deadline=deadline,
        max_attempts=max_attempts, fallback=fallback, clock=clock,
    )  # fmt: skip
    traits, pinned = retry.request.traits, retry.request.model
    while True:
        decision = retry.selector.select(traits, model=pinned, strict=strict, usage=usage)
        lease, out = decision.lease, None
        try:
            out, wait = retry.body_for(decision)
        finally:
            if out is None and lease is not None:
                lease.release()  # nothing is sent on it: waiting, or an error
        if out is None:
            sleep(wait or 0.0)
            continue
        assert lease is not None
        assert decision.model is not None
        try:
            response = send(out)
        except Exception as exc:
            if not _is_429(exc):
                raise
            response = exc
        if _is_429(response):
            lease.throttled(_retry_after(response))
            retry.refused(decision.model)
            continue
        billed = (usage_of or _usage_of)(response)
        if billed is not None:
            lease.settle(billed)
        return Sent(response, decision, tuple(retry.attempts))


async def asend_with_limits(
    body: Mapping[str, Any],
    send: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    usage: UsageStore | AsyncRedisUsage,
    selector: Selector | None = None,
    api: str = "auto",
    strict: bool = False,
    media_sizes: MediaSizes | None = None,
    fallback: bool = True,
    deadline: float = 60.0,
    max_attempts: int = 8,
    usage_of: Callable[[Any], Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Sent:
    """`send_with_limits` for asyncio: `send` is a coroutine function, and with an
    `AsyncRedisUsage` every round trip is awaited."""
    retry = _Retry(
        selector=selector, body=body, api=api, media_sizes=media_sizes, deadline=deadline,
        max_attempts=max_attempts, fallback=fallback, clock=clock,
    )  # fmt: skip
    traits, pinned = retry.request.traits, retry.request.model
    while True:
        decision = await retry.selector.aselect(traits, model=pinned, strict=strict, usage=usage)
        lease, out = decision.lease, None
        try:
            out, wait = retry.body_for(decision)
        finally:
            if out is None and lease is not None:
                await awaited(lease.release())  # nothing is sent on it
        if out is None:
            await sleep(wait or 0.0)
            continue
        assert lease is not None
        assert decision.model is not None
        try:
            response = await send(out)
        except Exception as exc:
            if not _is_429(exc):
                raise
            response = exc
        if _is_429(response):
            await awaited(lease.throttled(_retry_after(response)))
            retry.refused(decision.model)
            continue
        billed = (usage_of or _usage_of)(response)
        if billed is not None:
            await awaited(lease.settle(billed))
        return Sent(response, decision, tuple(retry.attempts))


# --- reading what an HTTP client gives back -----------------------------------------------------


def _status(obj: Any) -> int | None:
    for source in (obj, getattr(obj, "response", None)):
        for name in ("status_code", "status"):
            value = getattr(source, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _is_429(obj: Any) -> bool:
    return isinstance(obj, RateLimitedError) or _status(obj) == 429


def _retry_after(obj: Any) -> float | None:
    """Seconds from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, else None."""
    if isinstance(obj, RateLimitedError):
        return obj.retry_after
    for source in (obj, getattr(obj, "response", None)):
        headers = getattr(source, "headers", None)
        if headers is None or not hasattr(headers, "get"):
            continue
        ms = headers.get("retry-after-ms")
        if ms is not None:
            seconds = _number(ms)
            if seconds is not None:
                return seconds / 1000
        value = headers.get("retry-after")
        if value is None:
            continue
        seconds = _number(value)
        if seconds is None:
            try:
                when = parsedate_to_datetime(str(value))
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return max(0.0, seconds)
    return None


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _usage_of(response: Any) -> Any:
    """The API's usage object in a response: an SDK object, a dict, or an HTTP response."""
    if isinstance(response, Mapping):
        return response.get("usage")
    found = getattr(response, "usage", None)
    if found is not None:
        return found
    json = getattr(response, "json", None)
    if callable(json) and _status(response) is not None:
        try:
            data = json()
        except ValueError:
            return None
        return data.get("usage") if isinstance(data, Mapping) else None
    return None
