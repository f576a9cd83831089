"""The question a decision answers: what a request needs, as one immutable, hashable value.

Capability and modality names come from the catalog schema; the values below are the
request's own vocabulary (how a voice is chosen, how urgent the answer is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from .errors import TraitsError, did_you_mean

__all__ = ["LATENCIES", "VOICES", "Traits"]

VOICES = ("preset", "clone", "design")
LATENCIES = ("low", "normal")


@cache
def _vocabulary() -> dict[str, frozenset[str]]:
    from ._schemas import enum_of

    return {
        "input_modalities": frozenset(enum_of("catalog", "input_modality")),
        "output_modality": frozenset(enum_of("catalog", "output_modality")),
        "features": frozenset(enum_of("catalog", "feature")),
        "voice": frozenset(VOICES),
        "latency": frozenset(LATENCIES),
    }


def _names(field: str, values: Iterable[Any]) -> frozenset[str]:
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


def _one_of(field: str, value: str, allowed: Iterable[str]) -> None:
    allowed = sorted(allowed)
    if value not in allowed:
        hint = did_you_mean(str(value), allowed)
        raise TraitsError(
            f"unknown value {value!r}"
            + (f" ({hint})" if hint else "")
            + f"; allowed: {', '.join(allowed)}",
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

    def __post_init__(self) -> None:
        vocab = _vocabulary()
        put = object.__setattr__
        for name in ("input_modalities", "features"):
            values = _names(name, getattr(self, name))
            for v in values:
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
        for name in ("input_tokens", "max_output_tokens", "expected_rpm", "expected_tpm"):
            put(self, name, _count(name, getattr(self, name)))
        if self.scenario is not None and not isinstance(self.scenario, str):
            raise TraitsError(f"expected a scenario id, got {self.scenario!r}", where="scenario")
        if self.allow is not None:
            put(self, "allow", _names("allow", self.allow))
        put(self, "deny", _names("deny", self.deny))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Traits:
        """Traits from a JSON object, as `to_json` writes it; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise TraitsError(f"expected an object, got {type(data).__name__}", where="traits")
        known = [f.name for f in fields(cls)]
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

    def to_json(self) -> dict[str, Any]:
        """A JSON object with sorted lists; fields left at None are omitted."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = sorted(value) if isinstance(value, frozenset) else value
        return out
