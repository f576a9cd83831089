"""The model catalog: immutable facts about each MiMo model, loaded and checked once.

Loading validates in layers and reports every problem at once, each with file:line:column:
YAML syntax, the shipped JSON Schema, typed construction, then checks no schema can express.

The catalog file is the base: the platform's model page as of its snapshot day. What changed
since lives in dated update files (`updates.py`); `load_catalog(as_of=...)` applies them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from . import _yaml
from ._resources import bundled_file
from .errors import CatalogError, DataError, Problem, TraitsError, UnknownModelError, did_you_mean

if TYPE_CHECKING:  # updates imports this module; these are only named here
    from .updates import Notice, Price

__all__ = [
    "Catalog",
    "GuideEntry",
    "Length",
    "Model",
    "load_catalog",
]

_FORBID: Any = {"extra": "forbid"}  # read by pydantic when it validates these


@dataclass(frozen=True, slots=True)
class Length:
    """A length limit as the page prints it (`literal`, e.g. "256K") and in tokens."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    literal: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Thinking:
    """The deep-thinking mode a model uses when a request does not say."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    default: str  # "enabled" | "disabled"
    source: str


@dataclass(frozen=True, slots=True)
class Lifecycle:
    __pydantic_config__: ClassVar[Any] = _FORBID
    status: str  # "active" | "deprecated" | "retired"
    announced: str | None = None
    deprecated_on: str | None = None
    retires_on: str | None = None
    successor: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ImageTokens:
    __pydantic_config__: ClassVar[Any] = _FORBID
    patch: int
    min_pixels: int
    max_pixels: int
    min_tokens: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class AudioTokens:
    __pydantic_config__: ClassVar[Any] = _FORBID
    tokens_per_second: float
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class VideoTokens:
    __pydantic_config__: ClassVar[Any] = _FORBID
    default_fps: float
    max_frames: int
    temporal_patch: int
    patch: int
    max_tokens_per_frame: int
    frame_overhead_tokens: int = 0
    item_overhead_tokens: int = 0
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class MediaTokens:
    """How a model turns media inputs into tokens (documented per model, so data, not code)."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    source: str
    image: ImageTokens | None = None
    audio: AudioTokens | None = None
    video: VideoTokens | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """When a model was released (ISO date), and the source key that says so."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    date: str
    source: str


@dataclass(frozen=True, slots=True)
class Model:
    """One model of the catalog. Capabilities and modalities keep the page's order.

    `rpm` and `tpm` are None where the platform publishes no number ("customized services
    available, please contact us"); `rate_limit_note` then carries the platform's words.
    """

    __pydantic_config__: ClassVar[Any] = _FORBID
    id: str
    series: str
    generation: str
    capabilities: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    context_window: Length
    max_output: Length
    rpm: int | None = None
    tpm: int | None = None
    thinking: Thinking | None = None
    lifecycle: Lifecycle | None = None
    media_tokens: MediaTokens | None = None
    rate_limit_note: str | None = None
    released: Release | None = None

    @property
    def status(self) -> str:
        return self.lifecycle.status if self.lifecycle else "active"

    def summary(self) -> dict[str, Any]:
        """The stable JSON shape of `mimo-select models --json`."""
        return {
            "id": self.id,
            "series": self.series,
            "generation": self.generation,
            "capabilities": list(self.capabilities),
            "input_modalities": list(self.input_modalities),
            "output_modalities": list(self.output_modalities),
            "context_window": self.context_window.tokens,
            "max_output": self.max_output.tokens,
            "rpm": self.rpm,
            "tpm": self.tpm,
        }


@dataclass(frozen=True, slots=True)
class GuideEntry:
    """One row of the page's quick-selection guide: a scenario and its models, best first."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    scenario: str
    requirement: str
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Series:
    __pydantic_config__: ClassVar[Any] = _FORBID
    id: str
    name: str
    id_pattern: str


@dataclass(frozen=True, slots=True)
class Source:
    __pydantic_config__: ClassVar[Any] = _FORBID
    title: str
    url: str
    retrieved: str | None = None
    updated: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitScope:
    """Whose requests count towards RPM and TPM: e.g. all keys of an account, per model."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    aggregate: str
    per: str
    description: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The day the catalog file shows the platform as it was, and why that day."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    date: str
    note: str


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The canonical names, read from the catalog schema so that code holds no lists of its own."""

    capabilities: tuple[str, ...]
    features: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    statuses: tuple[str, ...] = ()


_EMPTY: Mapping[str, Any] = MappingProxyType({})
Dated = tuple["Mapping[str, Mapping[str, Price]]", "Mapping[str, tuple[Notice, ...]]"]


@dataclass(frozen=True)
class Catalog:
    """Every model, the guide, and where the facts came from. Immutable; lookups are dicts.

    `as_of` is the day the catalog describes when dated updates were applied (None: the base
    file as it stands). Prices and notices come from the update files (`updates.py`).
    """

    models: tuple[Model, ...]
    guide: tuple[GuideEntry, ...]
    series: tuple[Series, ...]
    sources: Mapping[str, Source]
    source: str
    rate_limit_scope: RateLimitScope
    length_units: Mapping[str, int]
    vocabulary: Vocabulary
    file: str
    _by_id: Mapping[str, Model] = field(init=False, repr=False, compare=False)
    _by_scenario: Mapping[str, GuideEntry] = field(init=False, repr=False, compare=False)
    snapshot: Snapshot | None = None
    as_of: dt.date | None = None
    applied: tuple[str, ...] = ()  # the ids of the update files applied, in date order
    # Prices and notices come from the update files. The base catalog reads those only when
    # first asked (`_dated` supplies them), so that `load_catalog()` parses one file.
    _prices: Mapping[str, Mapping[str, Price]] | None = field(
        default=None, repr=False, compare=False
    )
    _notices: Mapping[str, tuple[Notice, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    _dated: Callable[[], Dated] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", MappingProxyType({m.id: m for m in self.models}))
        object.__setattr__(
            self, "_by_scenario", MappingProxyType({g.scenario: g for g in self.guide})
        )

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    @property
    def generations(self) -> tuple[str, ...]:
        """Every generation the catalog's models carry, oldest first ("2" < "2.5" < "10")."""
        return tuple(sorted({m.generation for m in self.models}, key=generation_key))

    @property
    def statuses(self) -> tuple[str, ...]:
        """The lifecycle statuses a model can have (from the schema: active, deprecated, ...)."""
        return self.vocabulary.statuses

    def _dated_facts(self) -> Dated:
        if self._prices is None or self._notices is None:
            prices, notices = self._dated() if self._dated else (_EMPTY, _EMPTY)
            object.__setattr__(self, "_prices", prices)  # idempotent: safe under threads
            object.__setattr__(self, "_notices", notices)
            return prices, notices
        return self._prices, self._notices

    @property
    def prices(self) -> Mapping[str, Mapping[str, Price]]:
        """Every price in force on the catalog's day: model id -> currency -> `Price`."""
        return self._dated_facts()[0]

    def price(self, model_id: str, currency: str = "USD") -> Price | None:
        """The price of `model_id` in `currency` in force on the catalog's day, or None where
        the sources give none (a model without published prices, or prices left unset).

        Raises `UnknownModelError` for a model not in the catalog and `TraitsError` for an
        unknown currency.
        """
        from .updates import currencies

        self.model(model_id)
        known = currencies()
        if currency not in known:
            upper = currency.upper() if isinstance(currency, str) else ""
            hint = f"did you mean {upper!r}?" if upper in known else did_you_mean(currency, known)
            raise TraitsError(
                f"unknown currency {currency!r}" + (f" ({hint})" if hint else "")
                + f"; known: {', '.join(known)}",
                where="currency",
            )  # fmt: skip
        return self.prices.get(model_id, _EMPTY).get(currency)

    def notices(self, model_id: str | None = None) -> tuple[Notice, ...]:
        """What the shipped updates say about models (added, deprecated, retired, reported),
        oldest first; only `model_id`'s when given. A catalog loaded for a day knows the
        notices up to that day; the base catalog knows them all, so that it can say
        "mimo-v2-flash was retired on 2026-06-30" about its own rows.
        """
        notices = self._dated_facts()[1]
        if model_id is None:
            return tuple(sorted(
                (n for ns in notices.values() for n in ns), key=lambda n: n.date
            ))  # fmt: skip
        return notices.get(model_id, ())

    def notice(self, model_id: str) -> Notice | None:
        """The latest notice about `model_id` (a model of this catalog or of a later day)."""
        found = self._dated_facts()[1].get(model_id)
        return found[-1] if found else None

    def reported(self, model_id: str) -> str | None:
        """The event ("deprecation", "retirement") a third party reports for `model_id`, not
        confirmed by the platform, in force on the catalog's day; None for the base catalog,
        which holds the source page's facts alone."""
        if self.as_of is None:
            return None
        latest = self.notice(model_id)
        if latest is None or not latest.kind.endswith("_reported"):
            return None
        return latest.kind.removesuffix("_reported")

    def news(self, models: Iterable[str | None]) -> list[Notice]:
        """The latest notice of each model an answer names (once each, Nones skipped), where
        it says more than that the model was added."""
        found = (self.notice(m) for m in dict.fromkeys(models) if m)
        return [n for n in found if n is not None and n.kind != "added"]

    def __iter__(self) -> Iterator[Model]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def model(self, model_id: str) -> Model:
        """The model `model_id`; raises `UnknownModelError` (a `KeyError`) with a suggestion."""
        try:
            return self._by_id[model_id]
        except KeyError:
            raise UnknownModelError(model_id, self._by_id) from None

    def describe(self, model_id: str) -> dict[str, Any]:
        """Everything the catalog says of one model, as `mimo-select models ID --json` and
        `GET /v1/models/{id}` give it: the summary, status, thinking default, guide rows and
        the latest notice."""
        m = self.model(model_id)
        notice = self.notice(m.id)
        data = m.summary()
        data.update(
            status=m.status,
            thinking_default=m.thinking.default if m.thinking else None,
            guide=[{"scenario": g.scenario, "requirement": g.requirement,
                    "position": g.models.index(m.id) + 1}
                   for g in self.guide if m.id in g.models],
            notice=str(notice) if notice else None,
        )  # fmt: skip
        return data

    def series_by_id(self, series_id: str) -> Series:
        for s in self.series:
            if s.id == series_id:
                return s
        hint = did_you_mean(series_id, [s.id for s in self.series])
        raise TraitsError(
            f"unknown series {series_id!r}" + (f" ({hint})" if hint else ""), where="series"
        )

    def scenario(self, scenario_id: str) -> GuideEntry:
        try:
            return self._by_scenario[scenario_id]
        except KeyError:
            hint = did_you_mean(scenario_id, self._by_scenario)
            raise TraitsError(
                f"unknown scenario {scenario_id!r}"
                + (f" ({hint})" if hint else "")
                + f"; known: {', '.join(self._by_scenario)}",
                where="scenario",
            ) from None


BUNDLED = "data/models.yaml"

AsOf = dt.date | str  # a date, an ISO date string, or "today" (see `updates.resolve_as_of`)


def load_catalog(
    path: str | Path | None = None,
    *,
    as_of: AsOf | None = None,
    validate: bool = False,
    updates: str | Path | Sequence[str | Path] | None = None,
) -> Catalog:
    """Load and check a catalog file; the bundled one when `path` is None.

    `as_of` (a `datetime.date`, an ISO date or "today", the local date) applies every dated
    update on or before that day to the base file: added models, deprecations and
    retirements (retired models stay, with `status == "retired"`, their dates and
    successor), limits, guide wording and the prices in force. Without it, the catalog is
    the base file as it stands (for the bundled one: the model page on its snapshot day, with
    that day's prices); it still knows every shipped update's notices (`Catalog.notice`).
    A day before the file's snapshot raises `UsageError`: the page cannot say what held then.

    `updates` is a directory of `YYYY-MM-DD-*.yaml` files or a list of such files; by
    default the `updates/` directory beside the catalog file, if there is one (`data/updates/`
    for the bundled catalog).

    A file you give is always checked in full, with its updates. The bundled catalog and its
    updates are checked by the test suite, so by default they are only parsed (a few
    milliseconds instead of the schema and pydantic machinery); `validate=True` checks them
    like any other file. Raises `CatalogError` listing every problem found, each with
    file:line:column.
    """
    if path is None and updates is None and as_of is None:
        return _bundled_checked() if validate else _bundled()  # reads one file
    from . import updates as _updates

    day = None if as_of is None else _updates.resolve_as_of(as_of)
    if path is None and updates is None and day is not None:
        return _bundled_at(day, validate)
    base_path = bundled_file("data", "models.yaml") if path is None else Path(path)
    base = _bundled_base(validate) if path is None else _load(base_path, str(path))
    timeline = _updates.load_timeline(base, _updates.update_files(base_path, updates))
    return timeline.catalog(day)


@cache
def _bundled_base(validate: bool) -> Catalog:
    """The bundled catalog file alone, before any update (not even the snapshot's prices)."""
    if validate:
        return _load(bundled_file("data", "models.yaml"), BUNDLED)
    return _trusted(trusted_yaml(bundled_file("data", "models.yaml")), BUNDLED)


_SCALARS: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": lambda v: v.lower() in ("true", "yes", "on"),
    "tag:yaml.org,2002:null": lambda v: None,
}


def trusted_yaml(path: Path) -> Any:
    """A checked file's data in half the time of `yaml.load`: libyaml composes the nodes and
    a plain walk builds them. Anything unusual falls back to the full constructor; the test
    suite holds the two equal for the bundled files."""
    import yaml

    text = path.read_bytes()

    def build(node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return {k.value: build(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [build(v) for v in node.value]
        return _SCALARS[node.tag](node.value)

    loader = _yaml._DataLoader(text)
    try:
        return build(loader.get_single_node())
    except (KeyError, ValueError):
        return yaml.load(text, Loader=_yaml._DataLoader)
    finally:
        loader.dispose()


@cache
def _bundled() -> Catalog:
    """The base catalog; the update files are parsed only when its prices or notices are
    first read (an update on the snapshot day may only set prices, so rows never differ)."""

    def dated() -> Dated:
        from .updates import bundled_timeline

        return bundled_timeline(validate=False).base_facts()

    return replace(_bundled_base(False), _dated=dated)


@cache
def _bundled_checked() -> Catalog:
    from .updates import bundled_timeline

    return bundled_timeline(validate=True).catalog(None)


@lru_cache(maxsize=32)  # a long-running process asks for a new day now and then
def _bundled_at(day: dt.date, validate: bool) -> Catalog:
    from .updates import bundled_timeline

    return bundled_timeline(validate=validate).catalog(day)


def model_from_data(m: Any) -> Model:
    """A `Model` from a schema-valid mapping (a catalog row or an update's `add_model`)."""

    def length(d: Any) -> Length:
        return Length(literal=str(d["literal"]), tokens=d["tokens"])

    def media(d: Any) -> MediaTokens | None:
        if d is None:
            return None
        return MediaTokens(
            source=d["source"],
            image=ImageTokens(**d["image"]) if d.get("image") else None,
            audio=AudioTokens(**d["audio"]) if d.get("audio") else None,
            video=VideoTokens(**d["video"]) if d.get("video") else None,
        )

    released = m.get("released")
    return Model(
        id=m["id"], series=m["series"], generation=m["generation"],
        capabilities=tuple(m["capabilities"]),
        input_modalities=tuple(m["input_modalities"]),
        output_modalities=tuple(m["output_modalities"]),
        context_window=length(m["context_window"]), max_output=length(m["max_output"]),
        rpm=m.get("rpm"), tpm=m.get("tpm"),
        thinking=Thinking(**m["thinking"]) if m.get("thinking") else None,
        lifecycle=Lifecycle(**m["lifecycle"]) if m.get("lifecycle") else None,
        media_tokens=media(m.get("media_tokens")),
        rate_limit_note=m.get("rate_limit_note"),
        released=Release(str(released["date"]), released["source"]) if released else None,
    )  # fmt: skip


def _vocabulary() -> Vocabulary:
    from ._schemas import enum_of

    return Vocabulary(
        capabilities=enum_of("catalog", "capability"),
        features=enum_of("catalog", "feature"),
        input_modalities=enum_of("catalog", "input_modality"),
        output_modalities=enum_of("catalog", "output_modality"),
        statuses=enum_of("catalog", "status"),
    )


def _trusted(data: Any, file: str) -> Catalog:
    """A catalog from an already-checked document, built without validation."""
    snapshot = data.get("snapshot")
    return Catalog(
        models=tuple(model_from_data(m) for m in data["models"]),
        guide=tuple(
            GuideEntry(g["scenario"], g["requirement"], tuple(g["models"])) for g in data["guide"]
        ),
        series=tuple(Series(**s) for s in data["series"]),
        sources=MappingProxyType({k: Source(**v) for k, v in data["sources"].items()}),
        source=data["source"],
        rate_limit_scope=RateLimitScope(**data["rate_limits"]["scope"]),
        length_units=MappingProxyType(dict(data["length_units"])),
        vocabulary=_vocabulary(),
        file=file,
        snapshot=Snapshot(str(snapshot["date"]), snapshot["note"]) if snapshot else None,
    )


def _load(path: Path, display: str) -> Catalog:
    """Read and check a catalog file in full."""
    try:
        doc = _yaml.load(path, display=display)
    except DataError as exc:
        raise CatalogError(exc.problems) from None
    return catalog_from_document(doc)


@cache
def _adapter(kind: Any) -> Any:
    """One pydantic `TypeAdapter` per type, built once: building one costs milliseconds."""
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def inline_refs(node: Any, defs: Callable[[str], Any]) -> Any:
    """`node` with every `$ref` replaced by what it names (`defs(ref)`), siblings kept.

    jsonschema resolves a `$ref` on every visit; the shipped schemas have no recursion, so a
    validator over the inlined schema reports the same errors in half the time.
    """
    if isinstance(node, dict):
        if "$ref" in node:
            target = inline_refs(defs(node["$ref"]), defs)
            return {**target, **{k: inline_refs(v, defs) for k, v in node.items() if k != "$ref"}}
        return {k: inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(v, defs) for v in node]
    return node


@cache
def _catalog_validator() -> Any:
    from jsonschema import Draft202012Validator

    from ._schemas import schema

    root = schema("catalog")
    flat = inline_refs(root, lambda ref: root["$defs"][ref.rsplit("/", 1)[-1]])
    flat.pop("$defs")
    return Draft202012Validator(flat, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(doc: _yaml.Document) -> list[Problem]:
    """Every catalog-schema violation in `doc`, each pointing at its line."""
    from ._schemas import _explain

    return [p for e in _catalog_validator().iter_errors(doc.data) for p in _explain(doc, e)]


def catalog_from_document(doc: _yaml.Document) -> Catalog:
    """Check a parsed catalog document and build the `Catalog`; raises `CatalogError`."""
    from pydantic import ValidationError

    problems = schema_problems(doc)
    if problems:
        raise CatalogError(problems)
    data = doc.data
    built: dict[str, Any] = {}
    specs: list[tuple[str, Any, tuple[str | int, ...]]] = [
        ("models", tuple[Model, ...], ("models",)),
        ("guide", tuple[GuideEntry, ...], ("guide",)),
        ("series", tuple[Series, ...], ("series",)),
        ("sources", dict[str, Source], ("sources",)),
        ("rate_limit_scope", RateLimitScope, ("rate_limits", "scope")),
    ]
    if "snapshot" in data:
        specs.append(("snapshot", Snapshot, ("snapshot",)))
    for name, kind, where in specs:
        value: Any = data
        for part in where:
            value = value[part]
        try:
            built[name] = _adapter(kind).validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(doc.problem((*where, *err["loc"]), err["msg"]))
    if problems:
        raise CatalogError(problems)

    catalog = Catalog(
        models=built["models"],
        guide=built["guide"],
        series=built["series"],
        sources=MappingProxyType(built["sources"]),
        source=data["source"],
        rate_limit_scope=built["rate_limit_scope"],
        length_units=MappingProxyType(dict(data["length_units"])),
        vocabulary=_vocabulary(),
        file=doc.file,
        snapshot=built.get("snapshot"),
    )
    problems.extend(_cross_checks(doc, catalog, data))
    if problems:
        raise CatalogError(problems)
    return catalog


JsonPath = tuple[str | int, ...]


def _cross_checks(doc: _yaml.Document, catalog: Catalog, data: Any) -> Iterator[Problem]:
    """What the schema cannot say: uniqueness, references, arithmetic, naming."""
    sources = set(catalog.sources)

    def source_ref(key: str, path: JsonPath) -> Iterator[Problem]:
        if key not in sources:
            yield doc.problem(path, f"unknown source {key!r}", did_you_mean(key, sources))

    yield from source_ref(catalog.source, ("source",))
    yield from source_ref(data["rate_limits"]["source"], ("rate_limits", "source"))

    series: dict[str, Series] = {}
    for i, s in enumerate(catalog.series):
        if s.id in series:
            yield doc.problem(("series", i, "id"), f"duplicate series id {s.id!r}")
        series[s.id] = s

    seen: dict[str, int] = {}
    ids = [m.id for m in catalog.models]
    snapshot = catalog.snapshot.date if catalog.snapshot else None
    for i, m in enumerate(catalog.models):
        at = ("models", i)
        if m.id in seen:
            yield doc.problem(
                (*at, "id"), f"duplicate model id {m.id!r}; first at $.models[{seen[m.id]}]"
            )
        seen.setdefault(m.id, i)
        yield from model_problems(
            doc, at, m, units=catalog.length_units, series=series, sources=sources
        )
        if m.released and snapshot and m.released.date > snapshot:
            yield doc.problem(
                (*at, "released", "date"),
                f"released {m.released.date}, after the snapshot {snapshot}",
                "a model released later belongs in an update file",
            )
        if m.lifecycle:
            succ = m.lifecycle.successor
            if succ is not None and succ not in ids:
                yield doc.problem(
                    (*at, "lifecycle", "successor"),
                    f"unknown model {succ!r}",
                    did_you_mean(succ, ids),
                )

    scenarios: set[str] = set()
    for i, g in enumerate(catalog.guide):
        if g.scenario in scenarios:
            yield doc.problem(("guide", i, "scenario"), f"duplicate scenario {g.scenario!r}")
        scenarios.add(g.scenario)
        for j, model_id in enumerate(g.models):
            if model_id not in seen:
                yield doc.problem(
                    ("guide", i, "models", j),
                    f"unknown model {model_id!r} in guide",
                    did_you_mean(model_id, ids),
                )


def model_problems(
    doc: _yaml.Document,
    at: JsonPath,
    m: Model,
    *,
    units: Mapping[str, int],
    series: Mapping[str, Series],
    sources: set[str] | Mapping[str, Any],
) -> Iterator[Problem]:
    """One model's own checks: literals, arithmetic, naming, source references, limits.

    Shared by the catalog file and by updates that add a model (`at` is where it sits).
    """

    def source_ref(key: str, path: JsonPath) -> Iterator[Problem]:
        if key not in sources:
            yield doc.problem(path, f"unknown source {key!r}", did_you_mean(key, sources))

    for name in ("context_window", "max_output"):
        length: Length = getattr(m, name)
        expected = resolve_literal(length.literal, units)
        if expected != length.tokens:
            yield doc.problem(
                (*at, name, "tokens"),
                f"{length.tokens:,} does not match the literal {length.literal!r}"
                f" ({expected:,} tokens)",
                f"set tokens: {expected}",
            )
    if m.max_output.tokens > m.context_window.tokens:
        yield doc.problem(
            (*at, "max_output", "tokens"),
            f"max_output {m.max_output.tokens:,} is larger than context_window "
            f"{m.context_window.tokens:,}",
        )
    if m.series not in series:
        yield doc.problem(
            (*at, "series"), f"unknown series {m.series!r}", did_you_mean(m.series, series)
        )
    elif not re.search(series[m.series].id_pattern, m.id):
        yield doc.problem(
            (*at, "id"),
            f"id {m.id!r} does not follow series {m.series!r}"
            f" (pattern {series[m.series].id_pattern})",
            "fix the series or the id",
        )
    # the generation is the version the id carries: mimo-v2.5-pro, acme-v3
    if not re.search(rf"(^|-)v{re.escape(m.generation)}(-|$)", m.id):
        yield doc.problem(
            (*at, "generation"),
            f"generation {m.generation!r} does not match id {m.id!r}",
        )
    missing = [name for name in ("rpm", "tpm") if getattr(m, name) is None]
    if missing and not m.rate_limit_note:
        yield doc.problem(
            at,
            f"no {' and no '.join(missing)} and no rate_limit_note",
            "give the published limit, or quote why there is none in rate_limit_note",
        )
    if m.thinking:
        yield from source_ref(m.thinking.source, (*at, "thinking", "source"))
    if m.media_tokens:
        yield from source_ref(m.media_tokens.source, (*at, "media_tokens", "source"))
    if m.released:
        yield from source_ref(m.released.source, (*at, "released", "source"))
    if m.lifecycle and m.lifecycle.source:
        yield from source_ref(m.lifecycle.source, (*at, "lifecycle", "source"))


def generation_key(generation: str) -> tuple[int, ...]:
    """Order generations as versions: "2" < "2.5" < "2.10" < "10"."""
    return tuple(int(part) for part in generation.split("."))


def resolve_literal(literal: str, units: Mapping[str, int]) -> int:
    """`"256K"` -> 262,144 with the catalog's units."""
    unit = literal[-1]
    if unit in units:
        return round(float(literal[:-1]) * units[unit])
    return int(literal)
