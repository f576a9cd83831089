"""What a request would cost on each model, from the prices in force on the catalog's day.

Rules read it as `$cost.estimate` (the amount, per model) and `$cost.relative` (the cheapest
amount among the models that produce the requested output, divided by this model's: 1 for
the cheapest, smaller for dearer ones). Input comes from the request's count (its estimate
where the count is an interval), output from its budget; where the request gives neither,
the rules' settings `cost_input_tokens` and `cost_output_tokens` are assumed and every
message says so. Reasoning tokens are billed as output and are inside the output budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .catalog import Catalog
    from .traits import Traits
    from .updates import Price

__all__ = ["DEFAULT_CURRENCY", "CostTable", "Estimate"]

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class Estimate:
    """One model's cost for one request, and what it rests on."""

    amount: float
    currency: str
    input_tokens: int
    output_tokens: int
    input_assumed: bool
    output_assumed: bool
    price: Price
    input_basis: str = "exact"  # "estimate" of an inexact count, or "at least" (no bound)

    def __str__(self) -> str:
        about = {"estimate": "about ", "at least": "at least "}.get(self.input_basis, "")
        inp = f"{about}{self.input_tokens:,} input" + (" (assumed)" if self.input_assumed else "")
        out = f"{self.output_tokens:,} output" + (" (assumed)" if self.output_assumed else "")
        origin = "" if self.price.official else f", reported by {self.price.reported_by}"
        return (
            f"{money(self.amount, self.currency)} for {inp} and {out} tokens, price of "
            f"{self.price.date}{origin}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "currency": self.currency,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_assumed": self.input_assumed,
            "input_basis": self.input_basis,
            "output_assumed": self.output_assumed,
            "price_date": self.price.date,
            "official": self.price.official,
        }


def money(amount: float, currency: str) -> str:
    """An amount as a person reads it: "$0.0012", "¥0.36", four significant figures."""
    sign = {"USD": "$", "CNY": "¥"}.get(currency)
    text = f"{amount:.4g}" if amount < 1000 else f"{amount:,.2f}"
    if "e" in text:
        text = f"{amount:.8f}".rstrip("0").rstrip(".")
    return f"{sign}{text}" if sign else f"{text} {currency}"


class CostTable:
    """Every model's price per currency for one catalog day; estimates are remembered per
    (input, output, currency), so a decision reads them as often as it likes."""

    def __init__(self, catalog: Catalog, settings: Mapping[str, float]) -> None:
        self._outputs = tuple(frozenset(m.output_modalities) for m in catalog.models)
        self._prices = catalog.prices
        self._ids = catalog.ids
        currencies = {c for per in self._prices.values() for c in per} | {DEFAULT_CURRENCY}
        self._priced = {
            c: tuple(c in self._prices.get(m, {}) for m in self._ids) for c in currencies
        }
        self._assumed = (
            int(settings.get("cost_input_tokens", 1000)),
            int(settings.get("cost_output_tokens", 1000)),
        )
        self.estimates_for = lru_cache(maxsize=4096)(self._estimates)
        self.relative_for = lru_cache(maxsize=4096)(self._relative)

    def basis(self, traits: Traits) -> tuple[int | None, str, int | None, str]:
        """What a request's estimates rest on (input, how it is known, output, currency):
        equal bases, equal estimates."""
        count = traits.tokens
        tokens = count.tokens if count is not None else traits.input_tokens
        estimated = (
            "exact" if count is None or count.exact
            else "at least" if count.upper_bound is None
            else "estimate"
        )  # fmt: skip
        return tokens, estimated, traits.max_output_tokens, traits.currency or DEFAULT_CURRENCY

    def estimates(self, traits: Traits) -> tuple[Estimate | None, ...]:
        return self.estimates_for(*self.basis(traits))

    def amounts(self, traits: Traits) -> tuple[float | None, ...]:
        return tuple(e.amount if e else None for e in self.estimates(traits))

    def priced(self, traits: Traits) -> tuple[bool, ...]:
        """Per model: whether it has a price in the request's currency (one tuple per
        currency, the same object every time)."""
        found = self._priced.get(traits.currency or DEFAULT_CURRENCY)
        return found if found is not None else (False,) * len(self._ids)

    def relative(self, traits: Traits) -> tuple[float | None, ...]:
        return self.relative_for(*self.basis(traits), traits.output_modality)

    def _estimates(
        self, tokens: int | None, estimated: str, output: int | None, currency: str
    ) -> tuple[Estimate | None, ...]:
        inp = self._assumed[0] if tokens is None else tokens
        out = self._assumed[1] if output is None else output
        found: list[Estimate | None] = []
        for model in self._ids:
            price = self._prices.get(model, {}).get(currency)
            tier = None if price is None else price.band(inp)
            if price is None or tier is None:  # no price, or past its last band
                found.append(None)
                continue
            amount = (inp * tier.input + out * tier.output) / 1_000_000
            found.append(Estimate(amount, currency, inp, out, tokens is None, output is None,
                                  price, estimated))  # fmt: skip
        return tuple(found)

    def _relative(
        self,
        tokens: int | None,
        estimated: str,
        output: int | None,
        currency: str,
        modality: str | None,
    ) -> tuple[float | None, ...]:
        estimates = self.estimates_for(tokens, estimated, output, currency)
        amounts = [
            e.amount if e is not None and (modality is None or modality in kinds) else None
            for e, kinds in zip(estimates, self._outputs, strict=True)
        ]
        known = [a for a in amounts if a is not None]
        if not known:
            return (None,) * len(amounts)
        cheapest = min(known)
        return tuple(None if a is None else 1.0 if a == cheapest else cheapest / a for a in amounts)
