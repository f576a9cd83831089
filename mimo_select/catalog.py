"""The model catalog: immutable facts about each MiMo model, loaded and checked once.

Loading validates in layers and reports every problem at once, each with file:line:column:
YAML syntax, the shipped JSON Schema, typed construction, then checks no schema can express.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from . import _yaml
from ._resources import bundled_file
from .errors import CatalogError, DataError, Problem, TraitsError, UnknownModelError, did_you_mean

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
class Model:
    """One model of the catalog. Capabilities and modalities keep the page's order."""

    __pydantic_config__: ClassVar[Any] = _FORBID
    id: str
    series: str
    generation: str
    capabilities: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    context_window: Length
    max_output: Length
    rpm: int
    tpm: int
    thinking: Thinking | None = None
    lifecycle: Lifecycle | None = None
    media_tokens: MediaTokens | None = None

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
class Vocabulary:
    """The canonical names, read from the catalog schema so that code holds no lists of its own."""

    capabilities: tuple[str, ...]
    features: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """Every model, the guide, and where the facts came from. Immutable; lookups are dicts."""

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", MappingProxyType({m.id: m for m in self.models}))
        object.__setattr__(
            self, "_by_scenario", MappingProxyType({g.scenario: g for g in self.guide})
        )

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

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


def load_catalog(path: str | Path | None = None, *, validate: bool = False) -> Catalog:
    """Load and check a catalog file; the bundled one when `path` is None.

    A file you give is always checked in full. The bundled catalog is checked by the test
    suite, so by default it is only parsed (a few milliseconds instead of the schema and
    pydantic machinery); `validate=True` checks it like any other file.
    Raises `CatalogError` listing every problem found, each with file:line:column.
    """
    if path is None:
        return _bundled_checked() if validate else _bundled()
    return _load(Path(path), str(path))


@cache
def _bundled() -> Catalog:
    import yaml

    with bundled_file("data", "models.yaml").open("rb") as f:
        data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _trusted(data, BUNDLED)


@cache
def _bundled_checked() -> Catalog:
    return _load(bundled_file("data", "models.yaml"), BUNDLED)


def _trusted(data: Any, file: str) -> Catalog:
    """A catalog from an already-checked document, built without validation."""
    from ._schemas import enum_of

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

    models = tuple(
        Model(
            id=m["id"], series=m["series"], generation=m["generation"],
            capabilities=tuple(m["capabilities"]),
            input_modalities=tuple(m["input_modalities"]),
            output_modalities=tuple(m["output_modalities"]),
            context_window=length(m["context_window"]), max_output=length(m["max_output"]),
            rpm=m["rpm"], tpm=m["tpm"],
            thinking=Thinking(**m["thinking"]) if m.get("thinking") else None,
            lifecycle=Lifecycle(**m["lifecycle"]) if m.get("lifecycle") else None,
            media_tokens=media(m.get("media_tokens")),
        )
        for m in data["models"]
    )  # fmt: skip
    return Catalog(
        models=models,
        guide=tuple(
            GuideEntry(g["scenario"], g["requirement"], tuple(g["models"])) for g in data["guide"]
        ),
        series=tuple(Series(**s) for s in data["series"]),
        sources=MappingProxyType({k: Source(**v) for k, v in data["sources"].items()}),
        source=data["source"],
        rate_limit_scope=RateLimitScope(**data["rate_limits"]["scope"]),
        length_units=MappingProxyType(dict(data["length_units"])),
        vocabulary=Vocabulary(
            capabilities=enum_of("catalog", "capability"),
            features=enum_of("catalog", "feature"),
            input_modalities=enum_of("catalog", "input_modality"),
            output_modalities=enum_of("catalog", "output_modality"),
        ),
        file=file,
    )


def _load(path: Path, display: str) -> Catalog:
    """Read and check a catalog file in full."""
    try:
        doc = _yaml.load(path, display=display)
    except DataError as exc:
        raise CatalogError(exc.problems) from None
    return catalog_from_document(doc)


def catalog_from_document(doc: _yaml.Document) -> Catalog:
    """Check a parsed catalog document and build the `Catalog`; raises `CatalogError`."""
    from pydantic import TypeAdapter, ValidationError

    from ._schemas import enum_of, schema_problems

    problems = schema_problems(doc, "catalog")
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
    for name, kind, where in specs:
        value: Any = data
        for part in where:
            value = value[part]
        try:
            built[name] = TypeAdapter(kind).validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(doc.problem((*where, *err["loc"]), err["msg"]))
    if problems:
        raise CatalogError(problems)

    vocabulary = Vocabulary(
        capabilities=enum_of("catalog", "capability"),
        features=enum_of("catalog", "feature"),
        input_modalities=enum_of("catalog", "input_modality"),
        output_modalities=enum_of("catalog", "output_modality"),
    )
    catalog = Catalog(
        models=built["models"],
        guide=built["guide"],
        series=built["series"],
        sources=MappingProxyType(built["sources"]),
        source=data["source"],
        rate_limit_scope=built["rate_limit_scope"],
        length_units=MappingProxyType(dict(data["length_units"])),
        vocabulary=vocabulary,
        file=doc.file,
    )
    problems.extend(_cross_checks(doc, catalog, data))
    if problems:
        raise CatalogError(problems)
    return catalog


def _cross_checks(doc: _yaml.Document, catalog: Catalog, data: Any) -> Iterator[Problem]:
    """What the schema cannot say: uniqueness, references, arithmetic, naming."""
    sources = set(catalog.sources)

    def source_ref(key: str, path: tuple[str | int, ...]) -> Iterator[Problem]:
        if key not in sources:
            yield doc.problem(path, f"unknown source {key!r}", did_you_mean(key, sources))

    yield from source_ref(catalog.source, ("source",))
    yield from source_ref(data["rate_limits"]["source"], ("rate_limits", "source"))

    series = {}
    for i, s in enumerate(catalog.series):
        if s.id in series:
            yield doc.problem(("series", i, "id"), f"duplicate series id {s.id!r}")
        series[s.id] = s

    seen: dict[str, int] = {}
    ids = [m.id for m in catalog.models]
    for i, m in enumerate(catalog.models):
        at = ("models", i)
        if m.id in seen:
            yield doc.problem(
                (*at, "id"), f"duplicate model id {m.id!r}; first at $.models[{seen[m.id]}]"
            )
        seen.setdefault(m.id, i)
        for name in ("context_window", "max_output"):
            length: Length = getattr(m, name)
            expected = _resolve_literal(length.literal, catalog.length_units)
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
        if not re.match(rf"mimo-v{re.escape(m.generation)}(-|$)", m.id):
            yield doc.problem(
                (*at, "generation"),
                f"generation {m.generation!r} does not match id {m.id!r}",
            )
        if m.thinking:
            yield from source_ref(m.thinking.source, (*at, "thinking", "source"))
        if m.media_tokens:
            yield from source_ref(m.media_tokens.source, (*at, "media_tokens", "source"))
        if m.lifecycle:
            if m.lifecycle.source:
                yield from source_ref(m.lifecycle.source, (*at, "lifecycle", "source"))
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


def _resolve_literal(literal: str, units: Mapping[str, int]) -> int:
    """`"256K"` -> 262,144 with the catalog's units."""
    unit = literal[-1]
    if unit in units:
        return round(float(literal[:-1]) * units[unit])
    return int(literal)
