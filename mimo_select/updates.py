"""The catalog over time: dated update files, applied to the base catalog, and diffs.

The catalog file is the platform's model page on its snapshot day; it never changes. Each
later change is one file, `YYYY-MM-DD-slug.yaml`, in an `updates/` directory beside it: its
date, title, sources, whether it is official (a third party's reading is not, and says
whose), and a list of changes, each one action:

    add_model, add_series, change_series     new models (full entries) and series
    deprecate, retire                        lifecycle; a retired model keeps its row
    announce                                 a reported event, not applied: a notice only
    set_limits                               context window, max output, rpm, tpm
    add_guide, change_guide                  quick-selection guide rows and wording
    set_price, unset_price                   prices per model and currency, flat or tiered

Update dates are the platform's (UTC+8); `as_of="today"` is the local date. Files are
checked like the catalog (YAML with lines, `data/updates.schema.json`, then a replay in date
order that checks every reference against the catalog of that day) and every problem is
reported with file:line:column. The bundled files are checked by the test suite and only
parsed at run time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import _yaml
from ._resources import bundled, bundled_file
from ._schemas import enum_of, schema
from .catalog import (
    Catalog,
    GuideEntry,
    Length,
    Lifecycle,
    Model,
    Series,
    Source,
    inline_refs,
    model_from_data,
    model_problems,
    resolve_literal,
    trusted_yaml,
)
from .errors import CatalogError, DataError, Problem, TraitsError, UsageError, did_you_mean

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from .catalog import Dated

__all__ = [
    "CatalogDiff",
    "Change",
    "DiffEntry",
    "Notice",
    "Price",
    "PriceTier",
    "Timeline",
    "Update",
    "catalog_diff",
    "currencies",
    "estimate_cost",
    "load_timeline",
    "resolve_as_of",
    "today",
]

JsonPath = tuple[str | int, ...]
_FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-[a-z0-9][a-z0-9.-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceTier:
    """One band of a price, per 1M tokens: requests with at most `input_up_to` input tokens
    (None: no upper bound). `cached_input` is the cache-hit rate, None where unpublished."""

    input: float
    cached_input: float | None
    output: float
    input_up_to: int | None = None
    input_up_to_literal: str | None = None  # as the pricing page prints it, e.g. "256K"


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price in one currency from `date` on, per 1M tokens, with its source.

    Flat prices have one unbounded tier; tiered ones (before 2026-05-27) one per input-length
    band. `official` is False for a third party's reading (`reported_by` says whose).
    Reasoning tokens are billed as output.
    """

    model: str
    currency: str
    tiers: tuple[PriceTier, ...]
    date: str
    source: Source
    update: str
    official: bool = True
    reported_by: str | None = None
    note: str | None = None
    web_search_per_1k_calls: float | None = None

    @property
    def input(self) -> float:
        return self.tiers[0].input

    @property
    def cached_input(self) -> float | None:
        return self.tiers[0].cached_input

    @property
    def output(self) -> float:
        return self.tiers[0].output

    @property
    def tiered(self) -> bool:
        return len(self.tiers) > 1

    def band(self, input_tokens: int) -> PriceTier | None:
        """The band a request with `input_tokens` input tokens (cached ones included) is
        billed in; None past the last band."""
        return next((t for t in self.tiers
                     if t.input_up_to is None or input_tokens <= t.input_up_to), None)  # fmt: skip

    def tier_for(self, input_tokens: int) -> PriceTier:
        """`band`, or `TraitsError` past the last band."""
        tier = self.band(input_tokens)
        if tier is not None:
            return tier
        last = self.tiers[-1]
        raise TraitsError(
            f"{input_tokens:,} input tokens is past the last price band of {self.model}"
            f" (up to {last.input_up_to_literal or last.input_up_to})",
            where="input_tokens",
        )

    def __str__(self) -> str:
        def band(t: PriceTier) -> str:
            cached = "" if t.cached_input is None else f" / {t.cached_input:g} cached"
            head = f"up to {t.input_up_to_literal}: " if t.input_up_to is not None else ""
            return f"{head}{t.input:g} input{cached} / {t.output:g} output"

        origin = "official" if self.official else f"reported by {self.reported_by}"
        bands = "; ".join(band(t) for t in self.tiers)
        return f"{self.currency} {bands} per 1M tokens (price of {self.date}, {origin})"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "currency": self.currency,
            "per": "1M tokens",
            "tiers": [
                {
                    "input_up_to": t.input_up_to,
                    "input": t.input,
                    "cached_input": t.cached_input,
                    "output": t.output,
                }
                for t in self.tiers
            ],
            "web_search_per_1k_calls": self.web_search_per_1k_calls,
            "date": self.date,
            "official": self.official,
            "reported_by": self.reported_by,
            "note": self.note,
            "source": {"title": self.source.title, "url": self.source.url},
        }


def estimate_cost(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    *,
    web_search_calls: int = 0,
) -> float:
    """The cost in `price.currency` of one request.

    `input_tokens` counts all input tokens (the API's `prompt_tokens`), `cached_input_tokens`
    how many of them were cache hits (`prompt_tokens_details.cached_tokens`); the band of a
    tiered price is chosen by `input_tokens`, as the pricing page does. Output includes
    reasoning tokens. Raises `TraitsError` for negative counts, more cached than input
    tokens, an input past the last band, or a rate the price does not publish.
    """
    counts = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "web_search_calls": web_search_calls,
    }
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TraitsError(f"{value!r} is not a count (a whole number >= 0)", where=name)
    if cached_input_tokens > input_tokens:
        raise TraitsError(
            f"{cached_input_tokens:,} cached tokens is more than the {input_tokens:,} input"
            " tokens they are part of",
            where="cached_input_tokens",
        )
    tier = price.tier_for(input_tokens)
    cost = (input_tokens - cached_input_tokens) * tier.input + output_tokens * tier.output
    if cached_input_tokens:
        if tier.cached_input is None:
            raise TraitsError(
                f"the {price.currency} price of {price.model} publishes no cache-hit rate",
                where="cached_input_tokens",
            )
        cost += cached_input_tokens * tier.cached_input
    cost /= 1_000_000
    if web_search_calls:
        if price.web_search_per_1k_calls is None:
            raise TraitsError(
                f"the {price.currency} price of {price.model} publishes no web-search rate",
                where="web_search_calls",
            )
        cost += web_search_calls * price.web_search_per_1k_calls / 1000
    return cost


@dataclass(frozen=True, slots=True)
class Notice:
    """What an update says about one model: added, deprecated, retired, or an event
    reported by a third party (`official` False) that the catalog does not apply."""

    model: str
    kind: str  # added, deprecated, retired, deprecation_reported, retirement_reported
    date: str
    official: bool
    source: Source
    update: str
    title: str
    successor: str | None = None
    retires_on: str | None = None
    reported_by: str | None = None
    note: str | None = None

    def __str__(self) -> str:
        what = {
            "added": "was added",
            "deprecated": "was deprecated",
            "retired": "was retired",
            "deprecation_reported": "is reported to be deprecated",
            "retirement_reported": "is reported to be retired",
        }[self.kind]
        text = f"{self.model} {what} on {self.date}"
        if self.retires_on:
            text += f", to retire on {self.retires_on}"
        origin = "official" if self.official else f"unconfirmed, {self.reported_by}"
        text += f" ({origin}: {self.source.title}, {self.source.url})"
        if self.successor:
            text += f"; successor {self.successor}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "date": self.date,
            "official": self.official,
            "reported_by": self.reported_by,
            "successor": self.successor,
            "retires_on": self.retires_on,
            "note": self.note,
            "update": self.update,
            "title": self.title,
            "source": {"title": self.source.title, "url": self.source.url},
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One action of an update, as written (`fields`), with its officialness resolved."""

    action: str
    fields: Mapping[str, Any]
    index: int
    official: bool
    reported_by: str | None = None
    note: str | None = None

    @property
    def subject(self) -> str:
        """The model, scenario or series the change is about."""
        f = self.fields
        return str(f.get("model") or f.get("id") or f.get("scenario"))


@dataclass(frozen=True, slots=True)
class Update:
    """One dated update file."""

    id: str  # the file name without .yaml
    date: str
    title: str
    official: bool
    sources: Mapping[str, Source]
    changes: tuple[Change, ...]
    file: str
    reported_by: str | None = None
    note: str | None = None

    @property
    def source_key(self) -> str:
        """The key of the main source (the first listed)."""
        return next(iter(self.sources))

    @property
    def source(self) -> Source:
        return self.sources[self.source_key]


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One dated change between two days, with its source and the values either side."""

    kind: str  # see CatalogDiff.to_json for the groups
    subject: str
    date: str
    update: str
    official: bool
    source: Source
    before: Any = None
    after: Any = None
    successor: str | None = None
    reported_by: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "date": self.date,
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
            "successor": self.successor,
            "official": self.official,
            "reported_by": self.reported_by,
            "note": self.note,
            "update": self.update,
            "source": {"title": self.source.title, "url": self.source.url},
        }


_GROUPS = {
    "added_models": ("model_added",),
    "deprecated_models": ("model_deprecated",),
    "retired_models": ("model_retired",),
    "limit_changes": ("limits_changed",),
    "price_changes": ("price_set", "price_unset"),
    "guide_changes": ("guide_row_added", "guide_row_changed"),
    "series_changes": ("series_added", "series_changed"),
    "reported": ("deprecation_reported", "retirement_reported"),
}


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    """What changed after `from_date` (None: a catalog without snapshot, from the start) up
    to and including `to_date`, in date order."""

    from_date: str | None
    to_date: str
    entries: tuple[DiffEntry, ...]

    def group(self, name: str) -> tuple[DiffEntry, ...]:
        """The entries of one group of `to_json` (`added_models`, `price_changes`, ...)."""
        kinds = _GROUPS[name]
        return tuple(e for e in self.entries if e.kind in kinds)

    @property
    def added(self) -> tuple[DiffEntry, ...]:
        return self.group("added_models")

    @property
    def deprecated(self) -> tuple[DiffEntry, ...]:
        return self.group("deprecated_models")

    @property
    def retired(self) -> tuple[DiffEntry, ...]:
        return self.group("retired_models")

    @property
    def limits(self) -> tuple[DiffEntry, ...]:
        return self.group("limit_changes")

    @property
    def prices(self) -> tuple[DiffEntry, ...]:
        return self.group("price_changes")

    @property
    def guide(self) -> tuple[DiffEntry, ...]:
        return self.group("guide_changes")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.from_date, "to": self.to_date}
        for name in _GROUPS:
            out[name] = [e.to_json() for e in self.group(name)]
        return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Model):
        return {**value.summary(), "rate_limit_note": value.rate_limit_note}
    if isinstance(value, GuideEntry):
        return {"requirement": value.requirement, "models": list(value.models)}
    if isinstance(value, Series):
        return {"id": value.id, "name": value.name, "id_pattern": value.id_pattern}
    if isinstance(value, Length):
        return value.tokens
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# --- days ------------------------------------------------------------------------------------


def today() -> dt.date:
    """The local date; `MIMO_SELECT_TODAY=YYYY-MM-DD` pins it (tests, reproducible CI).

    Tests may also replace this function (`monkeypatch.setattr(updates, "today", ...)`).
    """
    pinned = os.environ.get("MIMO_SELECT_TODAY")
    if pinned:
        return _parse_day(pinned, "MIMO_SELECT_TODAY")
    return dt.date.today()


def resolve_as_of(value: dt.date | str) -> dt.date:
    """A day from a `date` (a `datetime` counts by its date), "YYYY-MM-DD" or "today"."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip().lower() == "today":
        return today()
    return _parse_day(value, "as_of")


def _parse_day(value: object, where: str) -> dt.date:
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise UsageError(f"{value!r} is not a day: give YYYY-MM-DD or 'today'", where=where)


# --- files -----------------------------------------------------------------------------------


def currencies() -> tuple[str, ...]:
    """The currencies prices are given in (from the updates schema)."""
    return enum_of("updates", "currency")


@cache
def _actions() -> tuple[str, ...]:
    props = schema("updates")["$defs"]["change"]["properties"]
    return tuple(k for k in props if k not in ("official", "reported_by", "note"))


@cache
def _validator() -> Draft202012Validator:
    """The updates schema with its `$ref`s (its own and the catalog schema's) inlined."""
    from jsonschema import Draft202012Validator

    from ._schemas import schema

    catalog = schema("catalog")
    catalog_defs = inline_refs(catalog["$defs"], lambda ref: catalog["$defs"][ref[8:]])

    def target(ref: str) -> Any:  # "#/$defs/NAME" or "catalog.schema.json#/$defs/NAME"
        document, _, name = ref.partition("#/$defs/")
        return catalog_defs[name] if document else schema("updates")["$defs"][name]

    flat = inline_refs(schema("updates"), target)
    flat.pop("$defs")
    return Draft202012Validator(flat, format_checker=Draft202012Validator.FORMAT_CHECKER)


def update_files(
    catalog_path: Path, updates: str | Path | Sequence[str | Path] | None
) -> list[tuple[Path, str]]:
    """The update files for a catalog, as (path, display name): a directory's `*.yaml` in
    name order, a list as given, or by default the `updates/` directory beside the catalog."""
    if updates is None:
        folder = catalog_path.parent / "updates"
        return _listing(folder, str(folder)) if folder.is_dir() else []
    if isinstance(updates, (str, Path)):
        folder = Path(updates)
        if folder.is_dir():
            return _listing(folder, str(updates))
        return [(folder, str(updates))]
    return [(Path(p), str(p)) for p in updates]


def _listing(folder: Path, display: str) -> list[tuple[Path, str]]:
    return [(p, f"{display.rstrip('/')}/{p.name}") for p in sorted(folder.glob("*.yaml"))]


@cache
def bundled_timeline(*, validate: bool) -> Timeline:
    """The bundled catalog and its bundled updates (checked in full when `validate`)."""
    from .catalog import _bundled_base

    folder = bundled("data") / "updates"
    files = [(p, f"data/updates/{p.name}") for p in sorted(folder.glob("*.yaml"))]
    return load_timeline(_bundled_base(validate), files, validate=validate)


def load_timeline(
    base: Catalog, files: Sequence[tuple[Path, str]], *, validate: bool = True
) -> Timeline:
    """Read update files (as (path, display name)) over `base`; raises `CatalogError` with
    every problem when `validate` (the default: only the bundled files skip it)."""
    if not validate:
        updates = [_update_from_data(trusted_yaml(p), p.stem, d) for p, d in files]
        return Timeline(base, tuple(updates))

    problems: list[Problem] = []
    docs: dict[str, _yaml.Document] = {}
    updates = []
    for path, display in files:
        try:
            doc = _yaml.load(path, display=display)
        except DataError as exc:
            problems.extend(exc.problems)
            continue
        found = _document_problems(doc, path.stem)
        if found:
            problems.extend(found)
            continue
        update = _update_from_data(doc.data, path.stem, display)
        docs[update.id] = doc
        updates.append(update)
    if not problems:
        problems.extend(_order_problems(base, updates, docs))
    if not problems:
        replay = _Replay(base, updates, docs)
        replay.run(None)
        problems.extend(replay.problems)
    if problems:
        raise CatalogError(problems)
    return Timeline(base, tuple(updates))


def _document_problems(doc: _yaml.Document, stem: str) -> list[Problem]:
    """Schema problems, then what the schema leaves to code: one action per change, the
    date against the file name, officialness."""
    from ._schemas import _explain

    problems = [p for e in _validator().iter_errors(doc.data) for p in _explain(doc, e)]
    if problems:
        return problems
    data = doc.data
    named = _FILE_NAME.match(stem)
    if not named:
        problems.append(doc.problem(
            ("date",), f"file name {stem + '.yaml'!r} does not start with a date",
            f"name it {data['date']}-{_slug(data['title'])}.yaml",
        ))  # fmt: skip
    elif named.group(1) != data["date"]:
        problems.append(doc.problem(
            ("date",), f"date {data['date']} does not match the file name's {named.group(1)}",
            "one of them is wrong: files sort by name, so the name must carry the date",
        ))  # fmt: skip
    actions = _actions()
    for i, change in enumerate(data["changes"]):
        found = [k for k in change if k in actions]
        if len(found) != 1:
            what = "no action" if not found else f"{len(found)} actions ({', '.join(found)})"
            problems.append(doc.problem(
                ("changes", i), f"{what}; a change has exactly one of: {', '.join(actions)}",
                "split it into one change per action" if found else None,
            ))  # fmt: skip
        if change.get("official") is False and data["official"] is False:
            problems.append(doc.problem(
                ("changes", i, "official"), "the whole file is already unofficial",
            ))  # fmt: skip
        elif "reported_by" in change and "official" not in change:
            problems.append(doc.problem(
                ("changes", i, "reported_by"), "reported_by on an official change",
                "a third party's reading is marked official: false",
            ))  # fmt: skip
    if data["official"] and "reported_by" in data:
        problems.append(doc.problem(
            ("reported_by",), "reported_by in an official file",
            "a third party's reading is marked official: false",
        ))  # fmt: skip
    return problems


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", title.lower()).strip("-") or "update"


def _update_from_data(data: Any, stem: str, display: str) -> Update:
    actions = _actions()
    changes = []
    for i, c in enumerate(data["changes"]):
        action = next(k for k in c if k in actions)
        unofficial = c.get("official") is False or not data["official"]
        changes.append(Change(
            action=action, fields=MappingProxyType(dict(c[action])), index=i,
            official=not unofficial,
            reported_by=c.get("reported_by") or (data.get("reported_by") if unofficial else None),
            note=c[action].get("note") or c.get("note"),
        ))  # fmt: skip
    return Update(
        id=stem,
        date=str(data["date"]),
        title=data["title"],
        official=bool(data["official"]),
        sources=MappingProxyType({k: Source(**v) for k, v in data["sources"].items()}),
        changes=tuple(changes),
        file=display,
        reported_by=data.get("reported_by"),
        note=data.get("note"),
    )


def _order_problems(
    base: Catalog, updates: Sequence[Update], docs: Mapping[str, _yaml.Document]
) -> Iterator[Problem]:
    """Dates in order, one file per date, none before the snapshot."""
    seen: dict[str, Update] = {}
    previous: Update | None = None
    snapshot = base.snapshot.date if base.snapshot else None
    for u in updates:
        doc = docs[u.id]
        if u.date in seen:
            first = seen[u.date]
            yield doc.problem(
                ("date",), f"{u.date} is also the date of {first.file}",
                "one file per date: merge them; a single change can be marked official: false",
            )  # fmt: skip
        elif previous is not None and u.date < previous.date:
            yield doc.problem(
                ("date",), f"updates out of date order: {u.date} comes after {previous.date}"
                f" ({previous.file})", "list update files oldest first",
            )  # fmt: skip
        if snapshot and u.date < snapshot:
            yield doc.problem(
                ("date",), f"dated {u.date}, before the catalog's snapshot {snapshot}",
                "the catalog file already shows the platform of that day",
            )  # fmt: skip
        seen.setdefault(u.date, u)
        previous = u


# --- applying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """A base catalog and its update files, in date order: the catalog on any day."""

    base: Catalog
    updates: tuple[Update, ...]

    @cached_property
    def _all_notices(self) -> Mapping[str, tuple[Notice, ...]]:
        replay = _Replay(self.base, self.updates, {})
        replay.run(None)
        return _by_model(replay.notices)

    def base_facts(self) -> Dated:
        """The base catalog's prices (those of its snapshot day) and every notice."""
        snapshot = self.base.snapshot.date if self.base.snapshot else None
        replay = _Replay(self.base, self.updates, {})
        if snapshot is not None:
            replay.run(snapshot)
        return replay.price_table(), self._all_notices

    def catalog(self, day: dt.date | None) -> Catalog:
        """The catalog on `day`: every update dated on or before it applied. None: the base
        file as it stands, with its snapshot day's prices and every update's notices (an
        update dated on the snapshot day may only set prices)."""
        if day is None:
            return replace(self.base, _dated=self.base_facts)
        snapshot = self.base.snapshot.date if self.base.snapshot else None
        if snapshot and day.isoformat() < snapshot:
            raise UsageError(
                f"{day.isoformat()} is before the catalog's snapshot ({snapshot}): the"
                f" catalog cannot say what the platform offered then; give a day on or after"
                f" {snapshot}, or no day for the catalog as its file stands",
                where="as_of",
            )
        replay = _Replay(self.base, self.updates, {})
        replay.run(day.isoformat())
        return replay.catalog(day)

    def diff(self, from_day: dt.date | None, to_day: dt.date) -> CatalogDiff:
        """Every change after `from_day` (None: the base catalog) up to `to_day` included."""
        snapshot = self.base.snapshot.date if self.base.snapshot else None
        for day in (from_day, to_day):
            if day is not None and snapshot and day.isoformat() < snapshot:
                self.catalog(day)  # raises the snapshot error
        if from_day is not None and to_day < from_day:
            raise UsageError(f"{to_day} is before {from_day}", where="to_date")
        replay = _Replay(self.base, self.updates, {})
        replay.run(to_day.isoformat())
        after = from_day.isoformat() if from_day is not None else snapshot
        entries = tuple(e for e in replay.entries if after is None or e.date > after)
        return CatalogDiff(after, to_day.isoformat(), entries)


def _by_model(notices: Sequence[Notice]) -> Mapping[str, tuple[Notice, ...]]:
    grouped: dict[str, list[Notice]] = {}
    for n in notices:
        grouped.setdefault(n.model, []).append(n)
    return MappingProxyType({k: tuple(v) for k, v in grouped.items()})


_ASPECT_WORDS = {
    "model": "add model {}",
    "lifecycle": "change the lifecycle of {}",
    "limits": "change the limits of {}",
    "announce": "report on {}",
    "price": "set the {1} price of {0}",
    "guide": "change guide row {}",
    "series": "change series {}",
}


class _Replay:
    """Applies updates in date order to a copy of the base; with documents, checks them."""

    def __init__(
        self, base: Catalog, updates: Sequence[Update], docs: Mapping[str, _yaml.Document]
    ) -> None:
        self.base = base
        self.updates = updates
        self.docs = docs
        self.check = bool(docs)
        self.models: dict[str, Model] = {m.id: m for m in base.models}
        self.series: dict[str, Series] = {s.id: s for s in base.series}
        self.guide: dict[str, GuideEntry] = {g.scenario: g for g in base.guide}
        self.sources: dict[str, Source] = dict(base.sources)
        self.source_origin: dict[str, str] = dict.fromkeys(base.sources, base.file)
        self.prices: dict[tuple[str, str], Price] = {}
        self.notices: list[Notice] = []
        self.entries: list[DiffEntry] = []
        self.applied: list[str] = []
        self.problems: list[Problem] = []
        self.added: dict[str, Update] = {}
        self.future: dict[str, Update] = {}
        for u in updates:
            for c in u.changes:
                if c.action == "add_model":
                    self.future.setdefault(c.fields["id"], u)

    # -- driving

    def run(self, upto: str | None) -> None:
        for u in self.updates:
            if upto is not None and u.date > upto:
                break
            self.apply(u)

    def apply(self, u: Update) -> None:
        self.u = u
        self.applied.append(u.id)
        if self.check:
            self._check_sources(u)
        for key, source in u.sources.items():
            self.sources.setdefault(key, source)
            self.source_origin.setdefault(key, u.file)
        claimed: dict[tuple[str, ...], Change] = {}
        snapshot_day = self.base.snapshot is not None and u.date == self.base.snapshot.date
        for c in u.changes:
            self.c = c
            if snapshot_day and c.action not in ("set_price", "unset_price"):
                self.problem(
                    (c.action,), f"{c.action} on the snapshot day ({u.date}): the catalog"
                    " file already shows that day", "only prices, which the page lacks, may"
                    " be set on the snapshot day; date the change later or edit the file",
                )  # fmt: skip
            if self.check:
                for aspect in _aspects(c):
                    if aspect in claimed:
                        self._contradiction(claimed[aspect], aspect)
                    claimed.setdefault(aspect, c)
            _APPLY[c.action](self, c.fields)

    def price_table(self) -> Mapping[str, Mapping[str, Price]]:
        prices: dict[str, dict[str, Price]] = {}
        for (model, currency), price in self.prices.items():
            prices.setdefault(model, {})[currency] = price
        return MappingProxyType({k: MappingProxyType(v) for k, v in prices.items()})

    def catalog(self, day: dt.date) -> Catalog:
        return replace(
            self.base,
            models=tuple(self.models.values()),
            guide=tuple(self.guide.values()),
            series=tuple(self.series.values()),
            sources=MappingProxyType(dict(self.sources)),
            as_of=day,
            applied=tuple(self.applied),
            _prices=self.price_table(),
            _notices=_by_model(self.notices),
            _dated=None,
        )

    # -- problems

    def problem(self, path: JsonPath, message: str, hint: str | None = None) -> None:
        if self.check:
            doc = self.docs[self.u.id]
            self.problems.append(doc.problem(("changes", self.c.index, *path), message, hint))

    def _contradiction(self, first: Change, aspect: tuple[str, ...]) -> None:
        doc = self.docs[self.u.id]
        line = doc.locate(("changes", first.index)).line
        words = _ASPECT_WORDS[aspect[0]].format(*[repr(a) for a in aspect[1:]])
        self.problem(
            (), f"contradicts $.changes[{first.index}] (line {line}): both {words}"
            f" on {self.u.date}", "keep one change per model and aspect on a day",
        )  # fmt: skip

    def _check_sources(self, u: Update) -> None:
        doc = self.docs[u.id]
        for key, source in u.sources.items():
            if key in self.sources and self.sources[key] != source:
                self.problems.append(doc.problem(
                    ("sources", key), f"source {key!r} is already defined differently in"
                    f" {self.source_origin[key]}", "give this one another key",
                ))  # fmt: skip

    def known(self, model_id: str, path: JsonPath) -> Model | None:
        """The model on this day (not retired), or None with a problem saying why not."""
        model = self.models.get(model_id)
        if model is not None:
            if model.status == "retired":
                lc = model.lifecycle
                self.problem(path, f"model {model_id!r} was retired on"
                             f" {lc.retires_on if lc else '?'}")  # fmt: skip
                return None
            return model
        later = self.future.get(model_id)
        if later is not None and later.date > self.u.date:
            self.problem(path, f"model {model_id!r} does not exist on {self.u.date}: it is"
                         f" added on {later.date} ({later.file})")  # fmt: skip
        else:
            self.problem(path, f"unknown model {model_id!r} on {self.u.date}",
                         did_you_mean(model_id, self.models))  # fmt: skip
        return None

    def _note(self, kind: str, model: str, **extra: Any) -> None:
        c, u = self.c, self.u
        self.notices.append(Notice(
            model=model, kind=kind, date=u.date, official=c.official, source=u.source,
            update=u.id, title=u.title, reported_by=c.reported_by, note=c.note, **extra,
        ))  # fmt: skip

    def _entry(self, kind: str, subject: str, before: Any, after: Any, **extra: Any) -> None:
        c, u = self.c, self.u
        self.entries.append(DiffEntry(
            kind=kind, subject=subject, date=u.date, update=u.id, official=c.official,
            source=u.source, before=before, after=after, reported_by=c.reported_by,
            note=c.note, **extra,
        ))  # fmt: skip

    # -- actions

    def add_model(self, f: Mapping[str, Any]) -> None:
        model = model_from_data(f)
        if model.id in self.models:
            origin = self.added.get(model.id)
            where = f"added by {origin.file}" if origin else f"in {self.base.file}"
            self.problem(("add_model", "id"), f"model {model.id!r} already exists ({where})")
            return
        if self.check:
            doc = self.docs[self.u.id]
            at = ("changes", self.c.index, "add_model")
            self.problems.extend(model_problems(
                doc, at, model, units=self.base.length_units, series=self.series,
                sources=self.sources,
            ))  # fmt: skip
            if model.lifecycle is not None:
                self.problem(("add_model", "lifecycle"), "a new model has no lifecycle yet",
                             "deprecate or retire it with a change of its own")  # fmt: skip
            if model.released and model.released.date > self.u.date:
                self.problem(
                    ("add_model", "released", "date"),
                    f"released {model.released.date}, after it is added ({self.u.date})",
                )
        self._insert(model)
        self.added[model.id] = self.u
        self._note("added", model.id)
        self._entry("model_added", model.id, None, model)

    def _insert(self, model: Model) -> None:
        """New models go to the head of their series (newest first, as the page lists them),
        in file order; a new series' models go last."""
        ids = list(self.models)
        new_here = {k for k, u in self.added.items() if u is self.u}
        position = None
        for i, mid in enumerate(ids):
            if self.models[mid].series == model.series:
                if mid in new_here:
                    position = i + 1
                elif position is None:
                    position = i
                    break
                else:
                    break
        if position is None:
            self.models[model.id] = model
            return
        ids.insert(position, model.id)
        merged = {**self.models, model.id: model}
        self.models = {k: merged[k] for k in ids}

    def add_series(self, f: Mapping[str, Any]) -> None:
        series = Series(f["id"], f["name"], f["id_pattern"])
        if series.id in self.series:
            self.problem(("add_series", "id"), f"series {series.id!r} already exists")
            return
        self.series[series.id] = series
        self._entry("series_added", series.id, None, series)

    def change_series(self, f: Mapping[str, Any]) -> None:
        old = self.series.get(f["id"])
        if old is None:
            self.problem(("change_series", "id"), f"unknown series {f['id']!r}",
                         did_you_mean(f["id"], self.series))  # fmt: skip
            return
        new = replace(old, **{k: v for k, v in f.items() if k != "id"})
        if self.check:
            for m in self.models.values():
                if m.series == new.id and not re.search(new.id_pattern, m.id):
                    self.problem(
                        ("change_series", "id_pattern"),
                        f"{m.id!r} of series {new.id!r} does not match it",
                    )
        self.series[new.id] = new
        self._entry("series_changed", new.id, old, new)

    def deprecate(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("deprecate", "model"))
        successor = self._successor(f, "deprecate")
        retires_on = f.get("retires_on")
        if retires_on is not None and retires_on <= self.u.date:
            self.problem(
                ("deprecate", "retires_on"),
                f"retires_on {retires_on} is not after the deprecation ({self.u.date})",
            )
        if model is None:
            return
        if model.status == "deprecated":
            self.problem(("deprecate", "model"), f"model {model.id!r} is already deprecated")
        lifecycle = Lifecycle(
            status="deprecated", deprecated_on=self.u.date, retires_on=retires_on,
            successor=successor, source=self.u.source_key,
        )  # fmt: skip
        self.models[model.id] = replace(model, lifecycle=lifecycle)
        self._note("deprecated", model.id, successor=successor, retires_on=retires_on)
        self._entry("model_deprecated", model.id, model.status, "deprecated",
                    successor=successor)  # fmt: skip

    def retire(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("retire", "model"))
        successor = self._successor(f, "retire")
        if model is None:
            return
        before = model.lifecycle
        successor = successor or (before.successor if before else None)
        lifecycle = Lifecycle(
            status="retired", deprecated_on=before.deprecated_on if before else None,
            retires_on=self.u.date, successor=successor, source=self.u.source_key,
        )  # fmt: skip
        self.models[model.id] = replace(model, lifecycle=lifecycle)
        for key in [k for k in self.prices if k[0] == model.id]:
            del self.prices[key]  # a retired model is not billed
        self._note("retired", model.id, successor=successor)
        self._entry("model_retired", model.id, model.status, "retired", successor=successor)

    def _successor(self, f: Mapping[str, Any], action: str) -> str | None:
        successor: str | None = f.get("successor")
        if successor is None:
            return None
        if successor == f["model"]:
            self.problem((action, "successor"), "a model cannot succeed itself")
        else:
            self.known(successor, (action, "successor"))
        return successor

    def announce(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("announce", "model"))
        successor = self._successor(f, "announce")
        if model is None:
            return
        kind = f"{f['event']}_reported"
        self._note(kind, model.id, successor=successor)
        self._entry(kind, model.id, None, f["event"], successor=successor)

    def set_limits(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("set_limits", "model"))
        if model is None:
            return
        changes: dict[str, Any] = {}
        for name, value in f.items():
            if name in ("context_window", "max_output"):
                changes[name] = Length(str(value["literal"]), value["tokens"])
            elif name != "model":
                changes[name] = value
        new = replace(model, **changes)
        if self.check:
            doc = self.docs[self.u.id]
            at = ("changes", self.c.index, "set_limits")
            self.problems.extend(model_problems(
                doc, at, new, units=self.base.length_units, series=self.series,
                sources=self.sources,
            ))  # fmt: skip
        self.models[model.id] = new
        before = {k: getattr(model, k) for k in changes}
        self._entry("limits_changed", model.id, before, changes)

    def add_guide(self, f: Mapping[str, Any]) -> None:
        entry = GuideEntry(f["scenario"], f["requirement"], tuple(f["models"]))
        if entry.scenario in self.guide:
            self.problem(("add_guide", "scenario"), f"guide row {entry.scenario!r} already"
                         " exists", "use change_guide")  # fmt: skip
            return
        for j, m in enumerate(entry.models):
            self.known(m, ("add_guide", "models", j))
        self.guide[entry.scenario] = entry
        self._entry("guide_row_added", entry.scenario, None, entry)

    def change_guide(self, f: Mapping[str, Any]) -> None:
        old = self.guide.get(f["scenario"])
        if old is None:
            self.problem(("change_guide", "scenario"), f"unknown guide row {f['scenario']!r}",
                         did_you_mean(f["scenario"], self.guide))  # fmt: skip
            return
        for j, m in enumerate(f.get("models", ())):
            self.known(m, ("change_guide", "models", j))
        new = GuideEntry(
            old.scenario, f.get("requirement", old.requirement),
            tuple(f.get("models", old.models)),
        )  # fmt: skip
        if new == old:
            self.problem(("change_guide",), "changes nothing: the row already reads so")
        self.guide[new.scenario] = new
        self._entry("guide_row_changed", new.scenario, old, new)

    def set_price(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("set_price", "model"))
        price = self._price(f)
        if model is None or price is None:
            return
        key = (model.id, price.currency)
        self._entry("price_set", model.id, self.prices.get(key), price)
        self.prices[key] = price

    def unset_price(self, f: Mapping[str, Any]) -> None:
        model = self.known(f["model"], ("unset_price", "model"))
        if model is None:
            return
        key = (model.id, f["currency"])
        if key not in self.prices:
            self.problem(("unset_price",), f"{model.id!r} has no {f['currency']} price to unset")
            return
        self._entry("price_unset", model.id, self.prices.pop(key), None)

    def _price(self, f: Mapping[str, Any]) -> Price | None:
        flat = [k for k in ("input", "cached_input", "output") if k in f]
        if "tiers" in f and flat:
            self.problem(("set_price",), f"both tiers and {', '.join(flat)}",
                         "a price is flat or tiered, not both")  # fmt: skip
            return None
        if "tiers" not in f and not {"input", "output"} <= set(flat):
            self.problem(("set_price",), "no rates: give input and output (and cached_input),"
                         " or tiers")  # fmt: skip
            return None
        units = self.base.length_units
        tiers = []
        for j, t in enumerate(f.get("tiers", [f])):
            bound = t.get("input_up_to")
            if bound is not None and self.check:
                expected = resolve_literal(str(bound["literal"]), units)
                if expected != bound["tokens"]:
                    self.problem(("set_price", "tiers", j, "input_up_to", "tokens"),
                                 f"{bound['tokens']:,} does not match the literal"
                                 f" {bound['literal']!r} ({expected:,} tokens)",
                                 f"set tokens: {expected}")  # fmt: skip
            tiers.append(PriceTier(
                input=t["input"], cached_input=t.get("cached_input"), output=t["output"],
                input_up_to=bound["tokens"] if bound else None,
                input_up_to_literal=str(bound["literal"]) if bound else None,
            ))  # fmt: skip
        if self.check:
            path: JsonPath = ("set_price", "tiers") if "tiers" in f else ("set_price",)
            for j, t in enumerate(tiers):
                at = (*path, j) if "tiers" in f else path
                if t.cached_input is not None and t.cached_input > t.input:
                    self.problem((*at, "cached_input"),
                                 f"cache-hit rate {t.cached_input:g} is above the input rate"
                                 f" {t.input:g}", "are the columns swapped?")  # fmt: skip
                if j and (t.input_up_to or 1 << 62) <= (tiers[j - 1].input_up_to or 1 << 62):
                    self.problem(
                        (*at, "input_up_to"),
                        "bands must grow: each input_up_to"
                        " larger than the one before, only the last may be open",
                    )
                elif j < len(tiers) - 1 and t.input_up_to is None:
                    self.problem((*at, "input_up_to"), "only the last band may be open")
        return Price(
            model=f["model"], currency=f["currency"], tiers=tuple(tiers), date=self.u.date,
            source=self.u.source, update=self.u.id, official=self.c.official,
            reported_by=self.c.reported_by, note=self.c.note,
            web_search_per_1k_calls=f.get("web_search_per_1k_calls"),
        )  # fmt: skip


_APPLY: dict[str, Callable[[_Replay, Mapping[str, Any]], None]] = {
    "add_model": _Replay.add_model,
    "add_series": _Replay.add_series,
    "change_series": _Replay.change_series,
    "deprecate": _Replay.deprecate,
    "retire": _Replay.retire,
    "announce": _Replay.announce,
    "set_limits": _Replay.set_limits,
    "add_guide": _Replay.add_guide,
    "change_guide": _Replay.change_guide,
    "set_price": _Replay.set_price,
    "unset_price": _Replay.unset_price,
}


def _aspects(c: Change) -> list[tuple[str, ...]]:
    """What a change claims on its day; two changes of one day may not claim the same."""
    f = c.fields
    if c.action == "add_model":
        return [("model", f["id"]), ("lifecycle", f["id"]), ("limits", f["id"])]
    if c.action in ("deprecate", "retire"):
        return [("lifecycle", f["model"])]
    if c.action in ("set_price", "unset_price"):
        return [("price", f["model"], f["currency"])]
    kind = {
        "announce": "announce", "set_limits": "limits", "add_guide": "guide",
        "change_guide": "guide", "add_series": "series", "change_series": "series",
    }[c.action]  # fmt: skip
    return [(kind, c.subject)]


# --- the diff --------------------------------------------------------------------------------


def catalog_diff(
    from_date: dt.date | str | None,
    to_date: dt.date | str = "today",
    *,
    path: str | Path | None = None,
    updates: str | Path | Sequence[str | Path] | None = None,
    validate: bool = False,
) -> CatalogDiff:
    """What changed after `from_date` (None: the catalog file as it stands, i.e. the page)
    up to and including `to_date`: added, deprecated and retired models, limits, prices,
    guide wording, series and reported events, each with its date and source.

    Days are `datetime.date`s, ISO strings or "today". Raises `UsageError` for a day before
    the catalog's snapshot or a `to_date` before `from_date`, `CatalogError` for bad files.
    """
    begin = None if from_date is None else resolve_as_of(from_date)
    end = resolve_as_of(to_date)
    if path is None and updates is None:
        timeline = bundled_timeline(validate=validate)
    else:
        from .catalog import _bundled_base, _load

        base_path = bundled_file("data", "models.yaml") if path is None else Path(path)
        base = _bundled_base(validate) if path is None else _load(base_path, str(path))
        timeline = load_timeline(base, update_files(base_path, updates))
    return timeline.diff(begin, end)
