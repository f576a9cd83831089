"""The bundled catalog against its source page, and one failing fixture per validation rule."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mimo_select import CatalogError, UnknownModelError, load_catalog
from mimo_select.errors import TraitsError

from .conftest import CASES, ROOT

# How the page words things, in the catalog's vocabulary (the page's terms -> ours).
PAGE_CAPABILITIES = {
    "Text Generation": "text_generation",
    "Deep Thinking": "deep_thinking",
    "Streaming Output": "streaming",
    "Function Call": "function_call",
    "Structured Output": "structured_output",
    "Web Search": "web_search",
    "Speech Synthesis": "speech_synthesis",
    "Timbre Cloning": "voice_clone",
    "Timbre Design": "voice_design",
}
FULL_MODAL = "Full-modal Understanding"  # image, audio and video input
PAGE_TYPOS = {"out-of-v2-flash": "mimo-v2-flash"}  # corrected in data/models.yaml


class _Tables(HTMLParser):
    """The page's HTML tables as grids of cell lines, with rowspans expanded."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[list[str]]]] = []
        self._spans: dict[int, tuple[int, list[str]]] = {}
        self._row: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._cell_span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
            self._spans = {}
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._fill_spans()
            self._cell = [""]
            self._cell_span = int(dict(attrs).get("rowspan") or 1)
        elif tag == "br" and self._cell is not None:
            self._cell.append("")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            lines = [re.sub(r"[*`]", "", line).strip() for line in self._cell]
            lines = [line for line in lines if line]
            if self._cell_span > 1:
                self._spans[len(self._row)] = (self._cell_span - 1, lines)
            self._row.append(lines)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._fill_spans()
            self.tables[-1].append(self._row)
            self._row = None

    def _fill_spans(self) -> None:
        assert self._row is not None
        while len(self._row) in self._spans:
            left, lines = self._spans[len(self._row)]
            if left == 1:
                del self._spans[len(self._row)]
            else:
                self._spans[len(self._row)] = (left - 1, lines)
            self._row.append(lines)


def _page_tables() -> list[list[list[list[str]]]]:
    parser = _Tables()
    page = ROOT / "data" / "sources" / "models-and-rate-limits.md"  # the snapshot, verbatim
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.tables


def _limits(lines: list[str]) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in lines)


def test_catalog_matches_source_page_cell_by_cell() -> None:
    catalog = load_catalog()
    text, tts, guide = _page_tables()
    seen = []

    for series, (model_id,), caps, lengths, rates in (row for row in text[1:]):
        model = catalog.model(model_id)
        seen.append(model_id)
        assert catalog.series_by_id(model.series).name == series[0]
        expected_caps = [PAGE_CAPABILITIES[c] for c in caps if c != FULL_MODAL]
        assert list(model.capabilities) == expected_caps
        expected_inputs = ["text", "image", "audio", "video"] if FULL_MODAL in caps else ["text"]
        assert list(model.input_modalities) == expected_inputs
        assert model.output_modalities == ("text",)
        _check_limits(model, _limits(lengths), _limits(rates))

    for (model_id,), caps, lengths, rates in (row for row in tts[1:]):
        model = catalog.model(model_id)
        seen.append(model_id)
        assert list(model.capabilities) == [PAGE_CAPABILITIES[c] for c in caps]
        assert model.input_modalities == ("text",)
        assert model.output_modalities == ("speech",)
        _check_limits(model, _limits(lengths), _limits(rates))

    assert seen == list(catalog.ids), "the catalog holds exactly the page's models, in order"

    assert len(guide) - 1 == len(catalog.guide)
    for ((requirement,), models_cell), entry in zip(guide[1:], catalog.guide, strict=True):
        assert entry.requirement == requirement
        page_models = [PAGE_TYPOS.get(m, m) for m in re.split(r"\s+or\s+", models_cell[0])]
        assert list(entry.models) == page_models


def _check_limits(model, lengths: dict[str, str], rates: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    assert model.context_window.literal == lengths["Context Window"]
    assert model.max_output.literal == lengths["Maximum Output"]
    assert model.rpm == int(rates["Maximum RPM"])
    assert rates["Maximum TPM"] == "10M"
    assert model.tpm == 10_000_000


def test_lengths_resolve_with_binary_k_and_m() -> None:
    catalog = load_catalog()
    resolved = {m.context_window.literal: m.context_window.tokens for m in catalog}
    resolved |= {m.max_output.literal: m.max_output.tokens for m in catalog}
    assert resolved == {
        "1M": 1_048_576,
        "256K": 262_144,
        "128K": 131_072,
        "64K": 65_536,
        "8K": 8_192,
    }


def test_guide_scenarios_in_page_order() -> None:
    guide = {g.scenario: list(g.models) for g in load_catalog().guide}
    assert guide == {
        "complex_reasoning": ["mimo-v2.5-pro"],
        "multimodal_understanding": ["mimo-v2.5", "mimo-v2-omni"],
        "high_concurrency": ["mimo-v2-flash"],
        "tts_preset_voice": ["mimo-v2.5-tts"],
        "tts_voice_clone": ["mimo-v2.5-tts-voiceclone"],
        "tts_voice_design": ["mimo-v2.5-tts-voicedesign"],
    }


def test_thinking_defaults_and_rate_limit_scope() -> None:
    catalog = load_catalog()
    defaults = {m.id: m.thinking.default if m.thinking else None for m in catalog}
    assert defaults["mimo-v2-flash"] == "disabled"
    assert {defaults[i] for i in ("mimo-v2.5-pro", "mimo-v2-pro", "mimo-v2.5", "mimo-v2-omni")} == {
        "enabled"
    }
    assert all(defaults[m.id] is None for m in catalog if "speech" in m.output_modalities)
    assert catalog.sources["deep-thinking"].url.endswith("/other/deep-thinking")
    scope = catalog.rate_limit_scope
    assert (scope.aggregate, scope.per) == ("account", "model")


def test_bundled_catalog_is_loaded_once() -> None:
    assert load_catalog() is load_catalog()


def test_unknown_model_lookup_suggests_and_is_a_key_error() -> None:
    catalog = load_catalog()
    with pytest.raises(KeyError) as info:
        catalog.model("mimo-v2-flsh")
    assert isinstance(info.value, UnknownModelError)
    assert info.value.suggestion == "mimo-v2-flash"
    assert str(info.value) == "unknown model 'mimo-v2-flsh' (did you mean 'mimo-v2-flash'?)"
    with pytest.raises(UnknownModelError) as far:
        catalog.model("gpt-4o")
    assert far.value.suggestion is None


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(TraitsError, match="did you mean 'high_concurrency'"):
        load_catalog().scenario("high_concurency")


def test_base_fixture_is_valid() -> None:
    assert load_catalog(CASES / "catalog" / "_base.yaml").ids == ("mimo-v2-flash", "mimo-v2-pro")


@pytest.mark.parametrize(
    "case",
    sorted(p.stem for p in (CASES / "catalog").glob("*.yaml") if not p.stem.startswith("_")),
)
def test_invalid_catalog_reports_file_line_and_fix(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES / "catalog")
    with pytest.raises(CatalogError) as info:
        load_catalog(f"{case}.yaml")
    expected = (CASES / "catalog" / f"{case}.expected").read_text(encoding="utf-8").strip()
    assert str(info.value) == expected
    first = info.value.problems[0].location
    assert first.file == f"{case}.yaml"
    assert first.line is not None


def test_the_bundled_catalog_passes_full_validation_and_the_fast_load_agrees() -> None:
    """The bundled catalog is parsed without validation at run time; this is the check."""
    assert load_catalog(validate=True) == load_catalog()


def test_unknown_series_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(TraitsError, match="did you mean 'flash'"):
        load_catalog().series_by_id("flsh")


def _generated_catalog(n: int) -> str:
    """A catalog of `n` models over generations and series the page never had."""
    series = [("pro", "-pro"), ("flash", "-flash"), ("asr", "-asr"), ("edge", "-edge")]
    generations = ["2", "2.5", "3", "3.1", "10"]
    lines = [
        "schema_version: 1",
        "source: mine",
        "sources: {mine: {title: Our own models, url: https://example.invalid/models}}",
        "length_units: {K: 1024, M: 1048576}",
        "rate_limits:",
        "  source: mine",
        "  scope: {aggregate: account, per: model, description: 'per account, per model'}",
        "series:",
        *(f'  - {{id: {s}, name: {s.title()}, id_pattern: "^acme-v[0-9.]+{suffix}(-[0-9]+)?$"}}'
          for s, suffix in series),
        "models:",
    ]  # fmt: skip
    for i in range(n):
        s, suffix = series[i % len(series)]
        gen = generations[i % len(generations)]
        limits = "rpm: 100\n    tpm: 10000000" if i % 8 else "rate_limit_note: ask us"
        lines.append(
            f'  - id: acme-v{gen}{suffix}-{i}\n    series: {s}\n    generation: "{gen}"\n'
            "    capabilities: [text_generation, streaming]\n    input_modalities: [text]\n"
            "    output_modalities: [text]\n"
            "    context_window: {literal: 128K, tokens: 131072}\n"
            "    max_output: {literal: 8K, tokens: 8192}\n"
            f"    {limits}"
        )
    lines += ["guide:", "  - {scenario: any, requirement: Anything, models: [acme-v2-pro-0]}"]
    return "\n".join(lines) + "\n"


def test_a_catalog_of_64_models_loads_validated_in_well_under_100_ms(tmp_path: Path) -> None:
    """The schema lists no generations, series or model ids: a bigger catalog of your own
    loads like the page's nine, every layer of validation included."""
    warm = tmp_path / "warm.yaml"
    warm.write_text(_generated_catalog(8), encoding="utf-8")
    load_catalog(warm)  # imports jsonschema and pydantic, builds the validators once
    path = tmp_path / "models.yaml"
    path.write_text(_generated_catalog(64), encoding="utf-8")
    catalog = load_catalog(path)  # its speed: benchmarks/bench_select.py, not a test
    assert len(catalog) == 64
    assert catalog.generations == ("2", "2.5", "3", "3.1", "10")
    assert {s.id for s in catalog.series} == {"pro", "flash", "asr", "edge"}
    assert catalog.model("acme-v2-pro-0").rpm is None
    assert catalog.model("acme-v2-pro-0").rate_limit_note == "ask us"


def test_generations_and_statuses_come_from_the_catalog() -> None:
    catalog = load_catalog()
    assert catalog.generations == ("2", "2.5")
    assert catalog.statuses == ("active", "deprecated", "retired")
    assert catalog.vocabulary.statuses == catalog.statuses
    assert {"speech_recognition", "context_caching"} <= set(catalog.vocabulary.capabilities)
    assert "context_caching" not in catalog.vocabulary.features


def test_release_dates_are_metadata_with_a_source() -> None:
    catalog = load_catalog()
    released = {m.id: m.released.date for m in catalog if m.released}
    assert released == {
        "mimo-v2.5-pro": "2026-04-22",
        "mimo-v2-pro": "2026-03-18",
        "mimo-v2.5": "2026-04-22",
        "mimo-v2-omni": "2026-03-18",
        "mimo-v2-flash": "2025-12-16",
        "mimo-v2.5-tts-voiceclone": "2026-05-15",
        "mimo-v2.5-tts-voicedesign": "2026-05-15",
    }
    assert {m.released.source for m in catalog if m.released} == {"models-dev"}
    assert catalog.snapshot is not None
    assert max(released.values()) <= catalog.snapshot.date
