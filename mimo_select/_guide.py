"""The quick-selection guide read both ways, compiled against one catalog.

A row of the guide (the catalog's: scenario, wording, models) gets its reading from the rules
files: the traits its scenario implies, an expression saying which requests it speaks to, and a
short note for reasons. A request that names a scenario takes its implied traits; a request
that names none is matched to every row whose expression holds. The rows in force score their
models in the guide's order (`$scenario.order`), and reasons quote the row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import TraitsError
from .traits import Traits

_SETS = ("input_modalities", "features")


@dataclass(frozen=True)
class GuideRow:
    """One guide row with its reading."""

    scenario: str
    requirement: str
    models: tuple[str, ...]
    implies: Mapping[str, Any]  # Traits field -> value, as the rules file writes it
    matches: Callable[[Traits], Any]  # True where the request has the row's traits
    note: str
    thresholds: tuple[float, ...] | None  # input counts where `matches` can change
    reads: frozenset[str] = frozenset()  # the references `matches` reads


@dataclass(frozen=True)
class Guide:
    """Every row with a reading, and the per-model scores of each combination of rows."""

    rows: tuple[GuideRow, ...]
    ids: tuple[str, ...]  # the catalog's model ids, for per-model scores
    _by_id: Mapping[str, GuideRow] = field(init=False, repr=False)
    _orders: dict[tuple[str, ...], tuple[float, ...]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.scenario: r for r in self.rows})
        reads = frozenset().union(*(r.reads for r in self.rows)) if self.rows else frozenset()
        fields = sorted(r.removeprefix("$traits.") for r in reads if r.startswith("$traits."))
        thresholds = union_thresholds(self.rows)
        object.__setattr__(self, "_fields", tuple(f for f in fields if f != "input_tokens"))
        object.__setattr__(self, "_thresholds", thresholds)
        object.__setattr__(self, "_found", {})  # what the rows make of each kind of request
        object.__setattr__(self, "_last", (None, ()))  # the last traits asked about: a
        # decision asks again for each model it explains

    def in_force(self, traits: Traits) -> tuple[GuideRow, ...]:
        """The row the request names, else every row it matches, in the guide's order.

        The rows read a few traits, and the input count only against a few numbers: requests
        alike in those are matched alike, so the answer is kept per kind of request."""
        if traits.scenario is not None:
            row = self._by_id.get(traits.scenario)
            return (row,) if row is not None else ()
        last: tuple[Any, tuple[GuideRow, ...]] = self._last  # type: ignore[attr-defined]
        if last[0] is traits:
            return last[1]
        key = self._key(traits)
        found: tuple[GuideRow, ...] | None = self._found.get(key)  # type: ignore[attr-defined]
        if found is None:
            found = tuple(row for row in self.rows if row.matches(traits) is True)
            if key is not None and len(self._found) < 4096:  # type: ignore[attr-defined]
                self._found[key] = found  # type: ignore[attr-defined]
        object.__setattr__(self, "_last", (traits, found))  # one pair, replaced whole
        return found

    def _key(self, traits: Traits) -> tuple[Any, ...] | None:
        """The traits the rows read, the count as its place among the rows' thresholds; None
        when the rows use the count in a way that allows no such key."""
        thresholds: tuple[float, ...] | None = self._thresholds  # type: ignore[attr-defined]
        if thresholds is None:
            return None
        count = traits.input_tokens
        if count is None:
            place, same = -1, False
        else:
            place = bisect_left(thresholds, count)
            same = place < len(thresholds) and thresholds[place] == count
        return (place, same, *(getattr(traits, f) for f in self._fields))  # type: ignore[attr-defined]

    def order(self, traits: Traits) -> tuple[float, ...] | None:
        """Per model: 1 for the first of a row's n models, (n - i) / n for the i-th, the best
        over the rows in force; None when no row is."""
        rows = self.in_force(traits)
        if not rows:
            return None
        key = tuple(r.scenario for r in rows)
        found = self._orders.get(key)
        if found is None:
            points = dict.fromkeys(self.ids, 0.0)
            for row in rows:
                n = len(row.models)
                for i, model in enumerate(row.models):
                    if model in points:
                        points[model] = max(points[model], (n - i) / n)
            found = tuple(points[m] for m in self.ids)
            if len(self._orders) < 256:  # combinations of a handful of rows
                self._orders[key] = found
        return found

    def row_of(self, traits: Traits, model: str) -> GuideRow | None:
        """The first row in force that lists `model`."""
        return next((r for r in self.in_force(traits) if model in r.models), None)

    def with_implied(self, traits: Traits) -> Traits:
        """The traits with what a named scenario implies, where the request says nothing
        else: sets grow, unset values are filled in."""
        row = self._by_id.get(traits.scenario) if traits.scenario else None
        if row is None or not row.implies:
            return traits
        changes: dict[str, Any] = {}
        defaults = {f.name: f.default for f in fields(Traits)}
        for name, value in row.implies.items():
            current = getattr(traits, name)
            if name in _SETS:
                merged = current | frozenset(value)
                if merged != current:
                    changes[name] = merged
            elif current is None or current == defaults.get(name):
                changes[name] = value
        if "voice" in changes and traits.output_modality == "text":
            changes["output_modality"] = None  # the voice makes it speech
        try:
            return replace(traits, **changes) if changes else traits
        except TraitsError:  # the request says otherwise (thinking off): it wins, field by field
            for name, value in changes.items():
                try:
                    traits = replace(traits, **{name: value})
                except TraitsError:
                    continue
            return traits


def implied_traits(implies: Mapping[str, Any]) -> Traits:
    """A row's implied traits as a `Traits` (raises `TraitsError` for a bad name or value)."""
    return Traits(**implies)


def union_thresholds(rows: Sequence[GuideRow]) -> tuple[float, ...] | None:
    found: list[float] = []
    for row in rows:
        if row.thresholds is None:
            return None
        found += row.thresholds
    return tuple(sorted(set(found)))
