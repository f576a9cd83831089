"""The catalog over time, as a decision sees it: lineups by day, retired models never chosen,
the retirement notice, speech recognition, unpublished limits, and costs by the price of the
day (figures computed by hand from data/updates)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimo_select import MemoryUsage, Selector, Traits
from mimo_select._contract import DecisionOut
from mimo_select.updates import bundled_timeline, catalog_diff

from .conftest import RunCli, without_notes

TODAY = "2026-11-30"
DAYS = sorted({u.date for u in bundled_timeline(validate=False).updates})
BASE = Selector.default()


def day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


REQUESTS = [
    Traits(),
    Traits(input_tokens=300_000, max_output_tokens=10_000),
    Traits(input_modalities=["text", "image"], features=["function_call"]),
    Traits(latency="low"),
    Traits(voice="preset"),
    Traits(voice="clone"),
    Traits(input_modalities=["audio"], features=["speech_recognition"]),
    Traits(expected_rpm=50),
]


def named(decision: Any) -> list[str]:
    return [m for m in (decision.model, *decision.fallbacks) if m]


@pytest.mark.parametrize("day", DAYS)
def test_each_update_changes_the_lineup_on_its_day_and_not_before(day: str) -> None:
    if day < "2026-05-16":  # the snapshot day: only its prices, nothing before it
        return
    before, on = Selector.default(as_of=day_before(day)), Selector.default(as_of=day)
    was = {m.id: m.status for m in before.catalog}
    now = {m.id: m.status for m in on.catalog}
    changed = {m for m in now if was.get(m) != now[m]}
    assert changed or any(u.date == day for u in bundled_timeline(validate=False).updates)
    for traits in REQUESTS:
        for selector in (before, on):
            retired = {m.id for m in selector.catalog if m.status == "retired"}
            assert not retired & set(named(selector.select(traits)))


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=dt.date(2026, 5, 15), max_value=dt.date(2027, 6, 1)),
    st.sampled_from(REQUESTS),
)
def test_a_retired_model_is_never_recommended_after_its_retirement(
    day: dt.date, traits: Traits
) -> None:
    selector = Selector.default(as_of=day)
    decision = selector.select(traits)
    for model in named(decision):
        life = selector.catalog.model(model).lifecycle
        assert life is None or life.status != "retired"
    if day >= dt.date(2026, 6, 30):
        for gone in ("mimo-v2-flash", "mimo-v2-pro", "mimo-v2-omni", "mimo-v2-tts"):
            rejection = decision.rejection(gone)
            assert rejection is not None
            assert "retired" in [v.rule for v in rejection.violations]


def test_the_retired_rule_names_the_date_and_the_successor() -> None:
    today = Selector.default(as_of=TODAY)
    rejection = today.select(Traits(latency="low")).rejection("mimo-v2-flash")
    assert rejection is not None
    (v,) = [v for v in rejection.violations if v.rule == "retired"]
    assert (v.message, v.fix) == ("retired on 2026-06-30: requests to it fail",
                                  "use its successor, mimo-v2.5")  # fmt: skip


def test_the_default_answers_for_the_page_and_says_what_became_of_its_choice(
    cli: RunCli,
) -> None:
    code, out, _ = cli("recommend", "--latency", "low")
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [  # the choice first, then the fallbacks the news is about
        "note: mimo-v2-flash, mimo-v2-omni and mimo-v2-pro were retired on 2026-06-30",
        "  (official: Model deprecation notice); successors: mimo-v2-flash -> mimo-v2.5,",
        "  mimo-v2-omni -> mimo-v2.5, mimo-v2-pro -> mimo-v2.5-pro; for today's lineup",
        "  use --as-of today",
        "Recommended: mimo-v2-flash  (score 115)",
    ]
    code, out, _ = cli("explain", "mimo-v2-flash", "--latency", "low")
    assert out.splitlines()[:2] == [
        "note: mimo-v2-flash was retired on 2026-06-30 (official: Model deprecation",
        "  notice); successor mimo-v2.5; for today's lineup use --as-of today",
    ]
    code, out, _ = cli("recommend", "--latency", "low", "--as-of", TODAY)
    assert code == 0
    assert "was retired" not in out
    assert without_notes(out)[0].startswith("Recommended: mimo-v2.6-flash  ")
    code, out, _ = cli("recommend", "--latency", "low", "--json")
    data = json.loads(out)
    DecisionOut.model_validate(data)
    (notice,) = [n for n in data["notices"] if n["model"] == "mimo-v2-flash"]
    assert (notice["kind"], notice["date"], notice["successor"]) == (
        "retired", "2026-06-30", "mimo-v2.5")  # fmt: skip


def test_models_as_of_a_day_shows_status_and_unpublished_limits(cli: RunCli) -> None:
    code, out, _ = cli("models", "--as-of", TODAY)
    assert code == 0
    table = without_notes(out)
    assert table[0].split()[:3] == ["MODEL", "SERIES", "STATUS"]
    rows = {line.split()[0]: line.split() for line in table[1:] if line.startswith("mimo-")}
    assert rows["mimo-v2-flash"][2] == "retired"
    assert rows["mimo-v2.6-pro-ultraspeed"][5:7] == ["-", "-"]  # no number is invented
    assert rows["mimo-v2.5-asr"][2] == "active"
    assert max(map(len, out.splitlines())) <= 80
    assert cli("models", "--as-of", "2026-01-01")[0] == 2  # before the page: not a guess


# --- costs ----------------------------------------------------------------------------------


def cost(selector: Selector, traits: Traits, model: str) -> dict[str, Any]:
    data = selector.select(traits).to_json()
    (entry,) = [c for c in data["ranked"] if c["model"] == model]
    DecisionOut.model_validate(data)
    assert entry["cost"] is not None
    return dict(entry["cost"])


def test_costs_match_hand_computed_figures_for_tiered_and_flat_prices() -> None:
    long = Traits(input_tokens=300_000, max_output_tokens=10_000)
    # the page's day: tiered, 300,000 input is in the band up to 1M: $2 in, $6 out per 1M
    tiered = cost(BASE, long, "mimo-v2.5-pro")
    assert tiered["amount"] == pytest.approx(300_000 * 2 / 1e6 + 10_000 * 6 / 1e6)  # $0.66
    assert tiered["price_date"] == "2026-05-15"
    short = cost(BASE, Traits(input_tokens=200_000, max_output_tokens=10_000), "mimo-v2.5-pro")
    assert short["amount"] == pytest.approx(200_000 * 1 / 1e6 + 10_000 * 3 / 1e6)  # up to 256K
    # after the cut: flat $0.435 in, $0.87 out; CNY ¥3 in, ¥6 out
    today = Selector.default(as_of=TODAY)
    flat = cost(today, long, "mimo-v2.5-pro")
    assert flat["amount"] == pytest.approx(300_000 * 0.435 / 1e6 + 10_000 * 0.87 / 1e6)
    assert flat["price_date"] == "2026-05-27"
    cny = cost(today, Traits(input_tokens=300_000, max_output_tokens=10_000, currency="CNY"),
               "mimo-v2.5-pro")  # fmt: skip
    assert (cny["amount"], cny["currency"]) == (pytest.approx(0.96), "CNY")
    third_party = cost(today, long, "mimo-v2.6-pro")
    assert third_party["official"] is False


def test_the_least_cost_reason_quotes_the_figure_and_what_it_assumed() -> None:
    today = Selector.default(as_of=TODAY)
    decision = today.select(Traits())
    flash, v25 = decision.ranked[:2]
    assert (flash.model, v25.model) == ("mimo-v2.6-flash", "mimo-v2.5")
    reason = next(r for r in v25.reasons if r.rule == "least-cost")
    assert reason.message == (
        "estimated cost $0.00042 for 1,000 input (assumed) and 1,000 output (assumed) tokens, "
        "price of 2026-05-27"
    )  # 1,000 x $0.14 + 1,000 x $0.28 per 1M
    assert reason.points == 10
    reason = next(r for r in flash.reasons if r.rule == "least-cost")
    assert reason.message.endswith(
        "price of 2026-09-22, reported by third-party catalogs (models.dev, Novita)"
    )


def test_a_deprecation_only_reported_breaks_a_tie_and_no_more() -> None:
    """mimo-v2.5 and mimo-v2.6-flash cost the same and are both the newest of their series;
    a third party reports v2.5's deprecation, unconfirmed: the tie goes to v2.6-flash, and
    v2.5 stays eligible, second."""
    today = Selector.default(as_of=TODAY)
    decision = today.select(Traits())
    assert (decision.model, decision.fallbacks[0]) == ("mimo-v2.6-flash", "mimo-v2.5")
    v25 = decision.ranked[1]
    (doubt,) = [r for r in v25.reasons if r.rule == "deprecation-reported"]
    assert doubt.points == -3
    assert doubt.message == (
        "reported to face deprecation, not confirmed by the platform (see the notices)"
    )
    assert [n.model for n in today.catalog.news(["mimo-v2.5"])] == ["mimo-v2.5"]
    # the page's own catalog holds its facts alone: nothing is reported there
    assert not any(r.rule == "deprecation-reported"
                   for c in Selector.default().select(Traits()).ranked for r in c.reasons)  # fmt: skip


def test_max_cost_is_a_hard_limit_and_an_unknown_price_cannot_pass_it(cli: RunCli) -> None:
    today = Selector.default(as_of=TODAY)
    decision = today.select(Traits(input_tokens=2_000, max_output_tokens=1_000, max_cost=0.001))
    assert decision.model == "mimo-v2.6-flash"  # $0.00056, as mimo-v2.5 (reported deprecated)
    pro = decision.rejection("mimo-v2.6-pro")
    assert pro is not None
    assert pro.violations[0].rule == "max-cost"
    assert pro.violations[0].message.startswith("costs about $0.00174 for 2,000 input")
    fast = decision.rejection("mimo-v2.6-pro-ultraspeed")
    assert fast is not None
    assert [v.rule for v in fast.violations] == ["max-cost-price"]
    code, out, _ = cli("recommend", "--as-of", TODAY, "--input-tokens", "2000",
                       "--max-output", "1000", "--max-cost", "0.0001", "--json")  # fmt: skip
    assert (code, json.loads(out)["model"]) == (1, None)
    code, _, err = cli("recommend", "--currency", "usd")
    assert code == 2
    assert "did you mean 'USD'?" in err


# --- today's lineup -----------------------------------------------------------------------------


ASR_BODY = {
    "model": "auto",
    "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA="
    }}]}],
    "asr_options": {"language": "auto"},
}  # fmt: skip


def test_speech_recognition_goes_to_the_asr_model_and_nothing_else_goes_there() -> None:
    today = Selector.default(as_of=TODAY)
    decision = today.route(ASR_BODY)
    assert decision.model == "mimo-v2.5-asr"
    assert decision.ranked[0].reasons[0].rule == "speech-recognition"
    assert BASE.route(ASR_BODY).model is None  # the page has no speech-recognition model
    pinned = {k: v for k, v in ASR_BODY.items() if k != "asr_options"}
    assert today.route({**pinned, "model": "mimo-v2.5-asr"}).requested_fits is True
    question = {**pinned, "messages": [{"role": "user", "content": [
        *pinned["messages"][0]["content"], {"type": "text", "text": "What is said?"}]}]}  # fmt: skip
    understanding = today.route(question)
    assert understanding.model != "mimo-v2.5-asr"
    only_audio = today.route(pinned)
    assert "mimo-v2.5-asr" not in named(only_audio)
    rejection = only_audio.rejection("mimo-v2.5-asr")
    assert rejection is not None
    assert rejection.violations[0].rule == "transcription-only"


def test_a_model_without_published_limits_takes_no_planned_load_and_no_uncounted_lease() -> None:
    today = Selector.default(as_of=TODAY)
    fast = "mimo-v2.6-pro-ultraspeed"
    planned = today.select(Traits(expected_rpm=50)).rejection(fast)
    assert planned is not None
    assert [v.rule for v in planned.violations] == ["rate-limit-published"]
    traits = Traits(input_tokens=100, max_output_tokens=100)
    decision = today.select(traits, usage=MemoryUsage(catalog=today.catalog))
    assert decision.model is not None
    live = decision.rejection(fast)
    assert live is not None
    assert live.violations[0].rule == "limits-live"
    assert "limits={'mimo-v2.6-pro-ultraspeed'" in (live.violations[0].fix or "")
    given = MemoryUsage(catalog=today.catalog, limits={fast: {"rpm": 10, "tpm": 100_000}})
    assert today.select(traits, usage=given).rejection(fast) is None


def test_check_answers_for_a_day_too(cli: RunCli, tmp_path: Any) -> None:
    prompt = tmp_path / "p.txt"
    prompt.write_text("hello")
    code, out, _ = cli("check", str(prompt), "--verbose")
    assert code == 0
    assert out.startswith("note: mimo-v2-flash was retired")  # the page's default model
    code, out, _ = cli("check", str(prompt), "--verbose", "--as-of", TODAY)
    assert code == 0
    assert "fit mimo-v2.6-flash (the default for a text request" in out
    assert "was retired" not in out


# --- catalog diff -----------------------------------------------------------------------------


def test_catalog_diff_prints_every_change_and_the_same_as_json(cli: RunCli) -> None:
    code, out, _ = cli("catalog", "diff", "--to", TODAY, "--json")
    assert code == 0
    assert json.loads(out) == json.loads(json.dumps(catalog_diff(None, TODAY).to_json()))
    code, text, _ = cli("catalog", "diff", "--to", TODAY)
    assert code == 0
    for model in ("mimo-v2-pro", "mimo-v2-omni", "mimo-v2-flash", "mimo-v2-tts"):
        assert f"  retired    {model}; successor" in text
    for model in ("mimo-v2.6-pro", "mimo-v2.6-flash", "mimo-v2.6-pro-ultraspeed",
                  "mimo-v2.5-asr"):  # fmt: skip
        assert f"  added      {model}:" in text
    assert max(map(len, text.splitlines())) <= 80
    code, out, _ = cli("catalog", "diff", "--from", "2026-07-01", "--to", "2026-09-01")
    assert (code, out) == (0, "Catalog changes after 2026-07-01, up to 2026-09-01\n  none\n")
    assert cli("catalog", "diff", "--from", "2026-09-01", "--to", "2026-07-01")[0] == 2
    code, out, _ = cli("schema", "updates")
    assert (code, json.loads(out)["$defs"]["currency"]["enum"]) == (0, ["USD", "CNY"])
