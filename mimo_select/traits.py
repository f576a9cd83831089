"""The question a decision answers: what a request needs, as one immutable, hashable value.

Capability and modality names come from the catalog schema; the values below are the
request's own vocabulary (how a voice is chosen, how urgent the answer is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import InitVar, dataclass, fields, replace
from functools import cache
from operator import attrgetter
from typing import Any

from .errors import RequestError, TraitsError, did_you_mean
from .tokens import TokenCount, bound_chat, bound_text

__all__ = ["LATENCIES", "THINKING", "UNBOUNDED", "VOICES", "Traits"]

UNBOUNDED = 1 << 62  # an input with no known upper bound (media of unknown size)

VOICES = ("preset", "clone", "design")
LATENCIES = ("low", "normal")
THINKING = ("enabled", "disabled")


@cache
def _vocabulary() -> dict[str, frozenset[str]]:
    from ._schemas import enum_of

    return {
        "input_modalities": frozenset(enum_of("catalog", "input_modality")),
        "output_modality": frozenset(enum_of("catalog", "output_modality")),
        "features": frozenset(enum_of("catalog", "feature")),
        "voice": frozenset(VOICES),
        "latency": frozenset(LATENCIES),
        "thinking": frozenset(THINKING),
    }


@cache
def _currencies() -> frozenset[str]:
    """The price lists (from the updates schema): read only when a request names one."""
    from .updates import currencies

    return frozenset(currencies())


def _names(field: str, values: Iterable[Any]) -> frozenset[str]:
    if type(values) is frozenset and all(type(v) is str for v in values):
        return values
    if isinstance(values, str):  # "text" would otherwise become {"t", "e", "x"}
        values = values.split(",") if "," in values else [values]
    try:
        out = frozenset(values)
    except TypeError:
        raise TraitsError(f"expected a list of names, got {values!r}", where=field) from None
    for v in out:
        if not isinstance(v, str):
            raise TraitsError(f"expected names, got {v!r}", where=field)
    return out


def _one_of(field: str, value: str, allowed: frozenset[str]) -> None:
    if type(value) is not str:
        raise TraitsError(
            f"expected one of {', '.join(sorted(allowed))}, got {value!r}", where=field
        )
    if value in allowed:
        return
    hint = did_you_mean(value, allowed)
    if hint is None and value.upper() in allowed:  # "usd"
        hint = f"did you mean {value.upper()!r}?"
    raise TraitsError(
        f"unknown value {value!r}"
        + (f" ({hint})" if hint else "")
        + f"; allowed: {', '.join(sorted(allowed))}",
        where=field,
    )


def _count(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TraitsError(f"expected a whole number, got {value!r}", where=field)
    if value < 0:
        raise TraitsError(f"must not be negative, got {value:,}", where=field)
    return value


def _amount(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e300:
        raise TraitsError(f"expected a finite amount >= 0, got {value!r}", where=field)
    return float(value)


@dataclass(frozen=True, slots=True)
class Traits:
    """What a request needs. Every field is optional; names are checked when it is built.

    A voice implies speech output. Lists are stored as frozensets, so equal traits hash
    equally and give equal decisions.
    """

    input_modalities: frozenset[str] = frozenset({"text"})
    output_modality: str | None = None
    input_tokens: int | None = None
    max_output_tokens: int | None = None
    features: frozenset[str] = frozenset()
    voice: str | None = None
    latency: str = "normal"
    scenario: str | None = None
    expected_rpm: int | None = None
    expected_tpm: int | None = None
    allow: frozenset[str] | None = None
    deny: frozenset[str] = frozenset()
    thinking: str | None = None
    accounts: int = 1  # the accounts the planned load spreads over (limits are per account)
    currency: str | None = None  # the price list costs are estimated in (None: USD)
    max_cost: float | None = None  # the most one request may cost, in `currency`
    input_tokens_max: int | None = None
    tokens: TokenCount | None = None
    prompt: InitVar[str | None] = None
    messages: InitVar[Sequence[Mapping[str, Any]] | None] = None

    def __post_init__(
        self, prompt: str | None, messages: Sequence[Mapping[str, Any]] | None
    ) -> None:
        vocab = _vocabulary()
        put = object.__setattr__
        for name in ("input_modalities", "features"):
            values = _names(name, getattr(self, name))
            for v in sorted(values - vocab[name]):
                _one_of(name, v, vocab[name])
            put(self, name, values)
        if not self.input_modalities:
            raise TraitsError("at least one input modality is needed", where="input_modalities")
        if self.voice is not None:
            _one_of("voice", self.voice, vocab["voice"])
            if self.output_modality not in (None, "speech"):
                raise TraitsError(
                    f"a {self.voice} voice needs speech output, not {self.output_modality!r}",
                    where="output_modality",
                )
            put(self, "output_modality", "speech")
        elif self.output_modality is None:
            put(self, "output_modality", "text")
        else:
            _one_of("output_modality", self.output_modality, vocab["output_modality"])
        _one_of("latency", self.latency, vocab["latency"])
        if self.thinking is not None:
            _one_of("thinking", self.thinking, vocab["thinking"])
            if self.thinking == "disabled" and "deep_thinking" in self.features:
                raise TraitsError("deep_thinking needs thinking enabled", where="thinking")
        for name in (
            "input_tokens", "max_output_tokens", "expected_rpm", "expected_tpm", "input_tokens_max"
        ):  # fmt: skip
            put(self, name, _count(name, getattr(self, name)))
        if self.currency is not None:
            _one_of("currency", self.currency, _currencies())
        if self.max_cost is not None:
            put(self, "max_cost", _amount("max_cost", self.max_cost))
        accounts = _count("accounts", self.accounts)
        if accounts is None or accounts < 1:
            raise TraitsError(f"expected 1 or more accounts, got {self.accounts!r}",
                              where="accounts")  # fmt: skip
        if prompt is not None or messages is not None:
            if self.tokens is not None or self.input_tokens is not None:
                raise TraitsError("give prompt/messages or a token count, not both", where="prompt")
            thinking = (
                True
                if self.thinking == "enabled" or "deep_thinking" in self.features
                else False
                if self.thinking == "disabled"
                else None
            )
            put(self, "tokens", _bound(prompt, messages, thinking))
        if self.tokens is not None:
            self._take_count(self.tokens)
        if self.input_tokens_max is not None:
            if self.input_tokens is None:
                raise TraitsError("input_tokens_max needs input_tokens", where="input_tokens_max")
            if self.input_tokens_max < self.input_tokens:
                raise TraitsError(
                    f"{self.input_tokens_max:,} is below input_tokens {self.input_tokens:,}",
                    where="input_tokens_max",
                )
            if self.input_tokens_max == self.input_tokens:
                put(self, "input_tokens_max", None)
        if self.scenario is not None and not isinstance(self.scenario, str):
            raise TraitsError(f"expected a scenario id, got {self.scenario!r}", where="scenario")
        if self.allow is not None:
            put(self, "allow", _names("allow", self.allow))
        put(self, "deny", _names("deny", self.deny))

    def _take_count(self, count: TokenCount) -> None:
        """input_tokens from a count: the exact number, or its interval when inexact."""
        if not isinstance(count, TokenCount):
            raise TraitsError(f"expected a TokenCount, got {type(count).__name__}", where="tokens")
        put = object.__setattr__
        if count.exact:
            put(self, "input_tokens", count.tokens)
            put(self, "input_tokens_max", None)
        else:
            put(self, "input_tokens", count.lower_bound)
            upper = UNBOUNDED if count.upper_bound is None else count.upper_bound
            put(self, "input_tokens_max", None if upper == count.lower_bound else upper)

    def with_count(self, count: TokenCount) -> Traits:
        """The same traits with input tokens from `count` (e.g. an exact count refining a bound)."""
        return replace(self, tokens=count, input_tokens=None, input_tokens_max=None)

    @classmethod
    def _trusted(cls, count: TokenCount | None = None, **values: Any) -> Traits:
        """Traits from values the caller has already checked (a request body's reader):
        the per-request path skips validation it would only repeat."""
        new = object.__new__(cls)
        get = values.get
        for put, name, default in _SLOTS:
            put(new, get(name, default))
        if count is not None:
            object.__setattr__(new, "tokens", count)
            new._take_count(count)
        return new

    def at_input(self, tokens: int, *, estimate: bool = False) -> Traits:
        """A copy with `input_tokens` fixed at one end of its interval, for evaluating rules
        there (or, with `estimate`, at the count's estimate, keeping the count so that what
        is said about it can say "about"). Skips validation: every other field is checked."""
        return self._copy(input_tokens=tokens, input_tokens_max=None,
                          tokens=self.tokens if estimate else None)  # fmt: skip

    def _copy(self, **changes: Any) -> Traits:
        """A copy with `changes`, built without validation (every other field is checked)."""
        copy = object.__new__(Traits)
        for put, name, _ in _SLOTS:
            put(copy, changes[name] if name in changes else getattr(self, name))
        return copy

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Traits:
        """Traits from a JSON object, as `to_json` writes it; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise TraitsError(f"expected an object, got {type(data).__name__}", where="traits")
        known = [*_PLAIN, "prompt", "messages"]
        for key in data:
            if key not in known:
                hint = did_you_mean(str(key), known)
                raise TraitsError(
                    f"unknown trait {key!r}"
                    + (f" ({hint})" if hint else "")
                    + f"; known: {', '.join(known)}",
                    where=str(key),
                )
        return cls(**data)

    def _decision_key(self) -> tuple[Any, ...]:
        """A key equal for traits that every rule reads alike: the fields, the count's
        numbers, and whether the count can be refined (its text itself is left out, so a
        key holds no request)."""
        count = self.tokens
        counted = None if count is None else (*_COUNT_KEY(count), count.refine is not None)
        return (*_KEY_FIELDS(self), counted)

    def _without_text(self) -> Traits:
        """These traits with a count that can no longer be refined: what a decision
        remembered across requests may keep of one, without keeping its text alive."""
        count = self.tokens
        if count is None or count.refine is None:
            return self
        return self._copy(tokens=replace(count, refine=None))

    def to_json(self) -> dict[str, Any]:
        """A JSON object with sorted lists; fields left at None are omitted."""
        out: dict[str, Any] = {}
        for name, get in _JSON_FIELDS:
            value = get(self)
            if value is not None:
                out[name] = sorted(value) if isinstance(value, frozenset) else value
        return out


def _bound(
    prompt: str | None, messages: Sequence[Mapping[str, Any]] | None, thinking: bool | None
) -> TokenCount:
    """An interval from UTF-8 sizes (no tokenizer); the selector refines it only if needed."""
    if prompt is not None and messages is not None:
        raise TraitsError("give prompt or messages, not both", where="prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TraitsError(f"expected text, got {type(prompt).__name__}", where="prompt")
        return bound_text(prompt)
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise TraitsError("expected a list of messages", where="messages")
    try:
        return bound_chat(messages, thinking=thinking)
    except RequestError as exc:
        raise TraitsError(exc.message, where=exc.where or "messages") from None


# (slot setter, name, default) per field: frozen objects built without __init__ are filled
# through their slot descriptors, as dataclasses' own __init__ does
_SLOTS = tuple((getattr(Traits, f.name).__set__, f.name, f.default) for f in fields(Traits))
_PLAIN = tuple(f.name for f in fields(Traits) if f.name != "tokens")  # all but the count
# the fields that hold no number: rules over them give one verdict per value, not per count
CATEGORICAL = frozenset(
    f.name for f in fields(Traits)
    if f.name in _PLAIN and not {"int", "float"} & set(re.split(r"[^a-zA-Z_]+", str(f.type)))
)  # fmt: skip
_JSON_FIELDS = tuple((name, getattr(Traits, name).__get__) for name in _PLAIN)
_KEY_FIELDS = attrgetter(*_PLAIN)
_COUNT_KEY = attrgetter(*(f.name for f in fields(TokenCount) if f.compare))
