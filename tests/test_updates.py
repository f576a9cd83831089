"""The catalog over time: the shipped update files, the catalog on a day, prices, notices,
diffs, and one failing fixture per validation rule."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mimo_select import CatalogError, UnknownModelError, load_catalog, updates
from mimo_select.errors import TraitsError, UsageError
from mimo_select.updates import Price, PriceTier, catalog_diff, estimate_cost

from .conftest import CASES, ROOT

TODAY = dt.date(2026, 11, 30)
SNAPSHOT = "2026-05-15"
V2 = ("mimo-v2-pro", "mimo-v2-omni", "mimo-v2-flash", "mimo-v2-tts")
SUCCESSORS = {
    "mimo-v2-pro": "mimo-v2.5-pro",
    "mimo-v2-omni": "mimo-v2.5",
    "mimo-v2-flash": "mimo-v2.5",
    "mimo-v2-tts": "mimo-v2.5-tts",
}
# a day inside each stretch between shipped updates, and each update's own day
DAYS = (
    "2026-05-15", "2026-05-26", "2026-05-27", "2026-06-01", "2026-06-02", "2026-06-17",
    "2026-06-18", "2026-06-29", "2026-06-30", "2026-09-21", "2026-09-22", "2026-10-20",
    "2026-10-21", "2027-01-01",
)  # fmt: skip


@pytest.fixture
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """Make "today" 2026-11-30, whatever the clock says."""
    monkeypatch.setattr(updates, "today", lambda: TODAY)
    return TODAY


# --- the shipped files -----------------------------------------------------------------------


def test_shipped_updates_pass_full_validation_and_the_fast_load_agrees() -> None:
    """Update files are parsed without validation at run time; this is the check."""
    checked, fast = load_catalog(validate=True), load_catalog()
    assert checked == fast
    assert checked.prices == fast.prices
    assert checked.notices() == fast.notices()
    for day in DAYS:
        checked, fast = load_catalog(as_of=day, validate=True), load_catalog(as_of=day)
        assert checked == fast, day
        assert checked.prices == fast.prices, day
        assert checked.notices() == fast.notices(), day
    assert catalog_diff(None, "2027-01-01", validate=True) == catalog_diff(None, "2027-01-01")


def test_shipped_update_files_are_named_after_their_dates() -> None:
    files = sorted((ROOT / "data" / "updates").glob("*.yaml"))
    timeline = updates.bundled_timeline(validate=True)
    assert [u.id for u in timeline.updates] == [p.stem for p in files]
    assert [u.date for u in timeline.updates] == [p.name[:10] for p in files]
    assert len({u.date for u in timeline.updates}) == len(files), "one file per date"
    unofficial = {u.id: u.reported_by for u in timeline.updates if not u.official}
    assert unofficial == {
        "2026-10-21-v2.5-deprecation-reported": "a third party's reading of the deprecation page"
    }


def test_base_catalog_is_the_page_whatever_the_updates_say() -> None:
    base = load_catalog()
    assert base.as_of is None
    assert base.snapshot is not None
    assert base.snapshot.date == SNAPSHOT
    assert len(base) == 9
    assert all(m.status == "active" and m.lifecycle is None for m in base)
    assert base.scenario("high_concurrency").requirement == (
        "High concurrency, low cost, and fast response"
    )
    assert load_catalog(as_of=SNAPSHOT).models == base.models
    assert load_catalog(as_of=SNAPSHOT).prices == base.prices


def test_the_base_catalog_reads_no_update_file_until_asked() -> None:
    code = (
        "import sys; from mimo_select.catalog import load_catalog; c = load_catalog(); "
        "assert not any(m.startswith('mimo_select.updates') for m in sys.modules); "
        "c.notice('mimo-v2-flash'); load_catalog(as_of='2026-11-30'); "
        "print(sorted(m for m in ('jsonschema', 'pydantic', 'referencing') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", "no jsonschema or pydantic on the bundled path"


# --- the catalog on a day --------------------------------------------------------------------


def test_before_the_page_snapshot_is_an_error_not_a_guess() -> None:
    with pytest.raises(UsageError) as info:
        load_catalog(as_of="2026-05-14")
    assert str(info.value) == (
        "as_of: 2026-05-14 is before the catalog's snapshot (2026-05-15): the catalog cannot"
        " say what the platform offered then; give a day on or after 2026-05-15, or no day"
        " for the catalog as its file stands"
    )


@pytest.mark.parametrize("bad", ["2026-13-01", "30/11/2026", "yesterday", "", "2026-6-1"])
def test_as_of_must_be_a_day(bad: str) -> None:
    with pytest.raises(UsageError, match=r"is not a day: give YYYY-MM-DD or 'today'"):
        load_catalog(as_of=bad)


def test_as_of_takes_dates_iso_strings_datetimes_and_today(pinned_today: dt.date) -> None:
    by_string = load_catalog(as_of="2026-11-30")
    assert load_catalog(as_of=dt.date(2026, 11, 30)) is by_string
    assert load_catalog(as_of=dt.datetime(2026, 11, 30, 23, 59)) is by_string
    assert load_catalog(as_of="today") is by_string
    assert load_catalog(as_of=" Today ") is by_string
    assert by_string.as_of == pinned_today


def test_today_can_be_pinned_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIMO_SELECT_TODAY", "2026-06-20")
    assert updates.today() == dt.date(2026, 6, 20)
    assert load_catalog(as_of="today").model("mimo-v2-flash").status == "deprecated"
    monkeypatch.setenv("MIMO_SELECT_TODAY", "soon")
    with pytest.raises(UsageError, match="MIMO_SELECT_TODAY"):
        updates.today()


def test_asr_arrives_on_its_day_in_a_series_the_update_defines() -> None:
    assert "mimo-v2.5-asr" not in load_catalog(as_of="2026-06-01")
    catalog = load_catalog(as_of="2026-06-02")
    asr = catalog.model("mimo-v2.5-asr")
    assert catalog.series_by_id("asr").name == "Speech Recognition (ASR)"
    assert (asr.series, asr.generation, asr.capabilities) == ("asr", "2.5", ("speech_recognition",))
    assert (asr.input_modalities, asr.output_modalities) == (("audio",), ("text",))
    assert (asr.context_window.tokens, asr.max_output.tokens, asr.rpm, asr.tpm) == (
        8192, 2048, 100, 10_000,
    )  # fmt: skip
    assert asr.thinking is None
    assert asr.media_tokens is not None
    assert asr.media_tokens.audio is not None
    assert asr.media_tokens.audio.tokens_per_second == 6.25
    assert catalog.ids[-1] == "mimo-v2.5-asr", "a new series goes last"


def test_v2_models_are_deprecated_then_retired_and_keep_their_rows() -> None:
    assert all(load_catalog(as_of="2026-06-17").model(m).status == "active" for m in V2)
    deprecated = load_catalog(as_of="2026-06-29")
    for model_id in V2:
        lc = deprecated.model(model_id).lifecycle
        assert lc is not None
        assert (lc.status, lc.deprecated_on, lc.retires_on) == (
            "deprecated", "2026-06-18", "2026-06-30",
        )  # fmt: skip
        assert lc.successor == SUCCESSORS[model_id]
        assert deprecated.sources[lc.source or ""].url == (
            "https://mimo.mi.com/docs/zh-CN/updates/deprecate"
        )
    retired = load_catalog(as_of="2026-06-30")
    for model_id in V2:
        model = retired.model(model_id)
        assert model.status == "retired"
        lc = model.lifecycle
        assert lc is not None
        assert (lc.deprecated_on, lc.retires_on, lc.successor) == (
            "2026-06-18", "2026-06-30", SUCCESSORS[model_id],
        )  # fmt: skip
        assert retired.price(model_id) is None, "a retired model is not billed"
    assert retired.statuses == ("active", "deprecated", "retired")


def test_v2_6_lineup_limits_and_guide_wording(pinned_today: dt.date) -> None:
    catalog = load_catalog(as_of="today")
    assert catalog.ids == (
        "mimo-v2.6-pro", "mimo-v2.6-pro-ultraspeed", "mimo-v2.5-pro", "mimo-v2-pro",
        "mimo-v2.5", "mimo-v2-omni", "mimo-v2.6-flash", "mimo-v2-flash", "mimo-v2.5-tts",
        "mimo-v2.5-tts-voiceclone", "mimo-v2.5-tts-voicedesign", "mimo-v2-tts",
        "mimo-v2.5-asr",
    )  # fmt: skip
    assert catalog.generations == ("2", "2.5", "2.6")
    for model_id in ("mimo-v2.6-pro", "mimo-v2.6-flash", "mimo-v2.6-pro-ultraspeed"):
        model = catalog.model(model_id)
        assert model.generation == "2.6"
        assert "context_caching" in model.capabilities
        assert model.input_modalities == ("text", "image", "audio", "video")
        assert (model.context_window.tokens, model.max_output.tokens) == (1_048_576, 131_072)
        assert model.thinking is not None
        assert model.thinking.default == "enabled"
    ultra = catalog.model("mimo-v2.6-pro-ultraspeed")
    assert (ultra.series, ultra.rpm, ultra.tpm) == ("pro", None, None)
    assert ultra.rate_limit_note == "customized services available, please contact us"
    assert ultra.summary()["rpm"] is None
    assert catalog.scenario("high_concurrency").requirement == "Low cost, and fast response"
    assert catalog.scenario("high_concurrency").models == ("mimo-v2-flash",)
    assert load_catalog(as_of="2026-09-21").scenario("high_concurrency").requirement == (
        "High concurrency, low cost, and fast response"
    )


def test_a_reported_deprecation_leaves_the_models_in_the_lineup(pinned_today: dt.date) -> None:
    catalog = load_catalog(as_of="today")
    for model_id in ("mimo-v2.5", "mimo-v2.5-pro"):
        assert catalog.model(model_id).status == "active"
        notice = catalog.notice(model_id)
        assert notice is not None
        assert (notice.kind, notice.date, notice.official) == (
            "deprecation_reported", "2026-10-21", False,
        )  # fmt: skip
        assert notice.reported_by == "a third party's reading of the deprecation page"
        assert notice.note == "10:00 (UTC+8); no automatic replacement"
        assert notice.successor is None
    assert load_catalog(as_of="2026-10-20").notice("mimo-v2.5") is None


# --- notices ---------------------------------------------------------------------------------


def test_the_base_catalog_knows_what_became_of_its_models() -> None:
    base = load_catalog()
    notice = base.notice("mimo-v2-flash")
    assert notice is not None
    assert (notice.kind, notice.date, notice.official, notice.successor) == (
        "retired", "2026-06-30", True, "mimo-v2.5",
    )  # fmt: skip
    assert notice.source.title == "Model deprecation notice"
    assert str(notice) == (
        "mimo-v2-flash was retired on 2026-06-30 (official: Model deprecation notice,"
        " https://mimo.mi.com/docs/zh-CN/updates/deprecate); successor mimo-v2.5"
    )
    assert [n.kind for n in base.notices("mimo-v2-flash")] == ["deprecated", "retired"]
    assert str(base.notices("mimo-v2-flash")[0]) == (
        "mimo-v2-flash was deprecated on 2026-06-18, to retire on 2026-06-30 (official: Model"
        " deprecation notice, https://mimo.mi.com/docs/zh-CN/updates/deprecate); successor"
        " mimo-v2.5"
    )
    added = base.notice("mimo-v2.6-pro")
    assert added is not None
    assert str(added) == (
        "mimo-v2.6-pro was added on 2026-09-22 (official: MiMo-V2.6 release (news),"
        " https://mimo.mi.com/docs/zh-CN/news/latest/v2-6)"
    )
    assert str(base.notice("mimo-v2.5")) == (
        "mimo-v2.5 is reported to be deprecated on 2026-10-21 (unconfirmed, a third party's"
        " reading of the deprecation page: Model deprecation page (as quoted by a third"
        " party), https://mimo.mi.com/static/docs/updates/deprecate.md)"
    )
    assert base.notice("mimo-v2.5-tts") is None
    assert base.notice("gpt-4o") is None
    assert json.dumps([n.to_json() for n in base.notices()])


def test_a_catalog_for_a_day_knows_the_notices_up_to_that_day() -> None:
    assert load_catalog(as_of="2026-06-01").notice("mimo-v2-flash") is None
    notice = load_catalog(as_of="2026-06-20").notice("mimo-v2-flash")
    assert notice is not None
    assert (notice.kind, notice.retires_on) == ("deprecated", "2026-06-30")
    assert load_catalog(as_of="2026-06-20").notice("mimo-v2.6-pro") is None


# --- prices ----------------------------------------------------------------------------------


def test_prices_are_tiered_at_the_snapshot_and_flat_after_the_cut() -> None:
    before = load_catalog(as_of="2026-05-26")
    pro = before.price("mimo-v2.5-pro")
    assert pro is not None
    assert pro.tiered
    assert (pro.date, pro.official, pro.currency) == ("2026-05-15", True, "USD")
    assert [(t.input_up_to, t.cached_input, t.input, t.output) for t in pro.tiers] == [
        (262_144, 0.20, 1.00, 3.00),
        (1_048_576, 0.40, 2.00, 6.00),
    ]
    assert pro.source.url == "https://platform.xiaomimimo.com/docs/en-US/pricing"
    cny = before.price("mimo-v2.5", "CNY")
    assert cny is not None
    assert [(t.cached_input, t.input, t.output) for t in cny.tiers] == [
        (0.56, 2.80, 14.00),
        (1.12, 5.60, 28.00),
    ]
    flash = before.price("mimo-v2-flash")
    assert flash is not None
    assert len(flash.tiers) == 1
    assert flash.tiers[0].input_up_to == 262_144

    after = load_catalog(as_of="2026-05-27")
    pro = after.price("mimo-v2.5-pro")
    assert pro is not None
    assert not pro.tiered
    assert (pro.cached_input, pro.input, pro.output, pro.web_search_per_1k_calls) == (
        0.0036, 0.435, 0.87, 5,
    )  # fmt: skip
    cny = after.price("mimo-v2.5-pro", "CNY")
    assert cny is not None
    assert (cny.cached_input, cny.input, cny.output, cny.web_search_per_1k_calls) == (
        0.025, 3, 6, 25,
    )  # fmt: skip
    assert str(pro) == (
        "USD 0.435 input / 0.0036 cached / 0.87 output per 1M tokens (price of 2026-05-27,"
        " official)"
    )
    assert after.price("mimo-v2-pro") is None, "bands removed, no flat price published"


def test_speech_is_free_for_a_time_and_unknown_prices_stay_unknown(
    pinned_today: dt.date,
) -> None:
    catalog = load_catalog(as_of="today")
    tts = catalog.price("mimo-v2.5-tts", "CNY")
    assert tts is not None
    assert (tts.input, tts.output, tts.note) == (0, 0, "free for a limited time")
    assert catalog.price("mimo-v2.6-pro-ultraspeed") is None
    assert catalog.price("mimo-v2.5-asr") is None
    assert catalog.price("mimo-v2.6-flash", "CNY") is None
    flash = catalog.price("mimo-v2.6-flash")
    assert flash is not None
    assert not flash.official
    assert flash.reported_by == "third-party catalogs (models.dev, Novita)"
    assert (flash.input, flash.cached_input, flash.output) == (0.14, 0.0028, 0.28)
    with pytest.raises(TraitsError) as info:
        catalog.price("mimo-v2.5", "usd")
    assert str(info.value) == (
        "currency: unknown currency 'usd' (did you mean 'USD'?); known: USD, CNY"
    )
    with pytest.raises(TraitsError, match=r"unknown currency 'EUR'; known: USD, CNY"):
        catalog.price("mimo-v2.5", "EUR")
    with pytest.raises(UnknownModelError):
        catalog.price("mimo-v2.5-flash")


def _flat(input: float, cached: float | None, output: float, **kw: object) -> Price:
    source = load_catalog().sources["models-and-rate-limits"]
    return Price("m", "USD", (PriceTier(input, cached, output),), "2026-05-27", source, "u", **kw)  # type: ignore[arg-type]


def test_estimate_cost_with_hand_computed_figures() -> None:
    day = load_catalog(as_of="2026-05-27")
    pro, v25 = day.price("mimo-v2.5-pro"), day.price("mimo-v2.5")
    cny = day.price("mimo-v2.5-pro", "CNY")
    assert pro is not None
    assert v25 is not None
    assert cny is not None
    # 2,000 x 0.435 + 1,000 x 0.87 = 870 + 870 = 1,740 per 1M -> $0.00174
    assert estimate_cost(pro, 2_000, 1_000) == pytest.approx(0.00174)
    # 2,000 misses x 0.14 + 8,000 hits x 0.0028 + 500 x 0.28 = 280 + 22.4 + 140 -> $0.0004424
    assert estimate_cost(v25, 10_000, 500, cached_input_tokens=8_000) == pytest.approx(0.0004424)
    # 1,000 x 3 + 1,000 x 6 = 9,000 per 1M -> ¥0.009, plus 3 searches at ¥25 per 1,000
    assert estimate_cost(cny, 1_000, 1_000, web_search_calls=3) == pytest.approx(0.084)

    tiered = load_catalog(as_of="2026-05-26").price("mimo-v2.5-pro")
    assert tiered is not None
    # exactly 256K input is the first band: 262,144 x 1.00 + 1,000 x 3.00
    assert estimate_cost(tiered, 262_144, 1_000) == pytest.approx(0.265144)
    # one token more is the second band: 200,000 misses x 2.00 + 100,000 hits x 0.40 + 10,000
    # x 6.00 = 400,000 + 40,000 + 60,000 -> $0.50
    assert estimate_cost(tiered, 300_000, 10_000, 100_000) == pytest.approx(0.5)
    assert estimate_cost(tiered, 262_145, 0) == pytest.approx(0.52429)

    tts = day.price("mimo-v2.5-tts")
    assert tts is not None
    assert estimate_cost(tts, 5_000, 8_000) == 0


def test_estimate_cost_refuses_what_the_price_cannot_say() -> None:
    flash = load_catalog(as_of="2026-05-26").price("mimo-v2-flash")
    assert flash is not None
    with pytest.raises(TraitsError, match=r"300,000 input tokens is past the last price band"):
        estimate_cost(flash, 300_000, 0)
    with pytest.raises(TraitsError, match="more than the 10 input tokens"):
        estimate_cost(flash, 10, 0, cached_input_tokens=11)
    with pytest.raises(TraitsError, match="-1 is not a count"):
        estimate_cost(flash, -1, 0)
    with pytest.raises(TraitsError, match="no web-search rate"):
        estimate_cost(flash, 10, 0, web_search_calls=1)
    with pytest.raises(TraitsError, match="no cache-hit rate"):
        estimate_cost(_flat(1.0, None, 2.0), 10, 0, cached_input_tokens=5)
    assert estimate_cost(_flat(1.0, None, 2.0), 1_000_000, 500_000) == pytest.approx(2.0)


# --- the diff --------------------------------------------------------------------------------

SHIPPED = [
    ("2026-05-27", "price_set", "mimo-v2.5-pro", True),
    ("2026-05-27", "price_set", "mimo-v2.5-pro", True),
    ("2026-05-27", "price_set", "mimo-v2.5", True),
    ("2026-05-27", "price_set", "mimo-v2.5", True),
    ("2026-05-27", "price_unset", "mimo-v2-pro", True),
    ("2026-05-27", "price_unset", "mimo-v2-pro", True),
    ("2026-05-27", "price_unset", "mimo-v2-omni", True),
    ("2026-05-27", "price_unset", "mimo-v2-omni", True),
    ("2026-05-27", "price_unset", "mimo-v2-flash", True),
    ("2026-05-27", "price_unset", "mimo-v2-flash", True),
    ("2026-06-02", "series_added", "asr", True),
    ("2026-06-02", "model_added", "mimo-v2.5-asr", True),
    *[("2026-06-18", "model_deprecated", m, True) for m in V2],
    *[("2026-06-30", "model_retired", m, True) for m in V2],
    ("2026-09-22", "series_changed", "pro", True),
    ("2026-09-22", "model_added", "mimo-v2.6-pro", True),
    ("2026-09-22", "model_added", "mimo-v2.6-pro-ultraspeed", True),
    ("2026-09-22", "model_added", "mimo-v2.6-flash", True),
    ("2026-09-22", "guide_row_changed", "high_concurrency", True),
    ("2026-09-22", "price_set", "mimo-v2.6-pro", False),
    ("2026-09-22", "price_set", "mimo-v2.6-flash", False),
    ("2026-10-21", "deprecation_reported", "mimo-v2.5-pro", False),
    ("2026-10-21", "deprecation_reported", "mimo-v2.5", False),
]


def test_the_diff_from_the_page_to_today_lists_exactly_the_shipped_changes(
    pinned_today: dt.date,
) -> None:
    diff = catalog_diff(None, "today")
    assert (diff.from_date, diff.to_date) == (SNAPSHOT, "2026-11-30")
    assert [(e.date, e.kind, e.subject, e.official) for e in diff.entries] == SHIPPED
    assert {e.subject: e.successor for e in diff.retired} == SUCCESSORS
    assert {e.subject: e.successor for e in diff.deprecated} == SUCCESSORS
    assert [e.subject for e in diff.added] == [
        "mimo-v2.5-asr", "mimo-v2.6-pro", "mimo-v2.6-pro-ultraspeed", "mimo-v2.6-flash",
    ]  # fmt: skip
    assert diff.limits == ()
    (guide,) = diff.guide
    assert (guide.before.requirement, guide.after.requirement) == (
        "High concurrency, low cost, and fast response", "Low cost, and fast response",
    )  # fmt: skip
    cut = [e for e in diff.prices if e.date == "2026-05-27" and e.kind == "price_set"]
    assert all(e.before.tiered and not e.after.tiered for e in cut)
    assert all(e.source.url == "https://mimo.mi.com/docs/en-US/price/pay-as-you-go" for e in cut)

    out = diff.to_json()
    assert list(out) == [
        "from", "to", "added_models", "deprecated_models", "retired_models", "limit_changes",
        "price_changes", "guide_changes", "series_changes", "reported",
    ]  # fmt: skip
    assert sum(len(v) for k, v in out.items() if k not in ("from", "to")) == len(SHIPPED)
    retired = out["retired_models"][0]
    assert retired == {
        "kind": "model_retired", "subject": "mimo-v2-pro", "date": "2026-06-30",
        "before": "deprecated", "after": "retired", "successor": "mimo-v2.5-pro",
        "official": True, "reported_by": None, "note": None, "update": "2026-06-30-v2-retired",
        "source": {
            "title": "Model deprecation notice",
            "url": "https://mimo.mi.com/docs/zh-CN/updates/deprecate",
        },
    }  # fmt: skip
    assert out["added_models"][2]["after"]["rpm"] is None
    json.dumps(out)


def test_a_diff_between_two_days() -> None:
    diff = catalog_diff("2026-06-18", "2026-09-22")
    assert {e.date for e in diff.entries} == {"2026-06-30", "2026-09-22"}
    assert catalog_diff("2026-06-30", "2026-06-30").entries == ()
    with pytest.raises(UsageError, match="before"):
        catalog_diff("2026-09-22", "2026-06-18")
    with pytest.raises(UsageError, match="before the catalog's snapshot"):
        catalog_diff("2026-01-01", "2026-06-18")


# --- your own catalog and updates ------------------------------------------------------------


def _write_update(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(body, encoding="utf-8")


def test_limits_and_guide_rows_change_on_their_day(tmp_path: Path) -> None:
    """Shipped data changes no limit; a file of your own can, checked in full."""
    base = (CASES / "catalog" / "_base.yaml").read_text(encoding="utf-8")
    catalog_file = tmp_path / "models.yaml"
    catalog_file.write_text(base.replace("schema_version: 1", (
        'schema_version: 1\nsnapshot: {date: "2026-01-01", note: a test page}'
    )), encoding="utf-8")  # fmt: skip
    _write_update(tmp_path / "updates", "2026-02-01-limits.yaml", (
        'schema_version: 1\ndate: "2026-02-01"\ntitle: More room\nofficial: true\n'
        "sources: {limits: {title: Limits, url: https://example.invalid/limits}}\n"
        "changes:\n"
        "  - set_limits: {model: mimo-v2-flash, rpm: 200, tpm: null,"
        " rate_limit_note: ask us}\n"
        "  - add_guide: {scenario: deep, requirement: Deep work, models: [mimo-v2-pro]}\n"
        "  - change_guide: {scenario: fast, models: [mimo-v2-pro, mimo-v2-flash]}\n"
        "  - announce: {model: mimo-v2-pro, event: retirement, successor: mimo-v2-flash}\n"
    ))  # fmt: skip
    assert load_catalog(catalog_file).model("mimo-v2-flash").rpm == 100
    later = load_catalog(catalog_file, as_of="2026-02-01")
    flash = later.model("mimo-v2-flash")
    assert (flash.rpm, flash.tpm, flash.rate_limit_note) == (200, None, "ask us")
    assert later.scenario("deep").models == ("mimo-v2-pro",)
    assert later.scenario("fast").models == ("mimo-v2-pro", "mimo-v2-flash")
    notice = later.notice("mimo-v2-pro")
    assert notice is not None
    assert (notice.kind, notice.successor) == (
        "retirement_reported",
        "mimo-v2-flash",
    )
    assert later.model("mimo-v2-pro").status == "active"
    diff = catalog_diff(None, "2026-03-01", path=catalog_file)
    (limits,) = diff.limits
    assert (limits.before, limits.after) == (
        {"rpm": 100, "tpm": 10_000_000, "rate_limit_note": None},
        {"rpm": 200, "tpm": None, "rate_limit_note": "ask us"},
    )
    assert [e.kind for e in diff.guide] == ["guide_row_added", "guide_row_changed"]


def test_update_files_given_out_of_order_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / "updates")
    files = ["retire_before_exists/2026-09-22-v2.6-flash.yaml", "duplicate_date/2026-06-30-a.yaml"]
    with pytest.raises(CatalogError) as info:
        load_catalog(updates=files)
    assert str(info.value) == (
        "duplicate_date/2026-06-30-a.yaml:3:1: $.date: updates out of date order: 2026-06-30"
        " comes after 2026-09-22 (retire_before_exists/2026-09-22-v2.6-flash.yaml) (list"
        " update files oldest first)"
    )
    assert (
        load_catalog(updates=files[::-1], as_of="2026-10-01").model("mimo-v2-pro").status
        == "retired"
    )


@pytest.mark.parametrize(
    "case", sorted(p.name for p in (CASES / "updates").iterdir() if p.is_dir())
)
def test_invalid_updates_report_file_line_and_fix(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES / "updates")
    with pytest.raises(CatalogError) as info:
        load_catalog(updates=case)
    expected = (CASES / "updates" / f"{case}.expected").read_text(encoding="utf-8").strip()
    assert str(info.value) == expected
    first = info.value.problems[0].location
    assert first.file is not None
    assert first.file.startswith(f"{case}/")
    assert first.line is not None
