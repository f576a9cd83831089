"""The quick-selection guide read both ways, compiled against one catalog.

A row of the guide (the catalog's: scenario, wording, models) gets its reading from the rules
files: the traits its scenario implies, an expression saying which requests it speaks to, and a
short note for reasons. A request that names a scenario takes its implied traits; a request
that names none is matched to every row whose expression holds. The rows in force score their
models in the guide's order (`$scenario.order`), and reasons quote the row.
"""

from __future__ import annotations

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

    def in_force(self, traits: Traits) -> tuple[GuideRow, ...]:
        """The row the request names, else every row it matches, in the guide's order."""
        if traits.scenario is not None:
            row = self._by_id.get(traits.scenario)
            return (row,) if row is not None else ()
        return tuple(row for row in self.rows if row.matches(traits) is True)

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
