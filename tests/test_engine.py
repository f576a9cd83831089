"""The selector: guide scenarios, every hard rule, reasons, fallbacks and thread safety."""

from __future__ import annotations

import json
import random
import shutil
import threading
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mimo_select import Selector, Traits, TraitsError, UnknownModelError, load_catalog
from mimo_select._schemas import decision_schema
from mimo_select.tokens import count_tokens


@pytest.fixture(scope="module")
def selector() -> Selector:
    return Selector.default()


@pytest.mark.parametrize("entry", load_catalog().guide, ids=lambda g: g.scenario)
def test_each_guide_scenario_alone_picks_the_guides_first_model(selector: Selector, entry) -> None:  # type: ignore[no-untyped-def]
    """Named alone, a scenario brings the traits it implies: no voice or input to add."""
    decision = selector.select(Traits(scenario=entry.scenario))
    assert decision.model == entry.models[0]
    assert decision.ranked[0].reasons[0].rule == "guide"
    assert decision.ranked[0].reasons[0].message == (
        f"guide: {entry.requirement} → {' or '.join(entry.models)} (scenario {entry.scenario})"
    )
    assert list(decision.fallbacks[: len(entry.models) - 1]) == list(entry.models[1:])


def _violation(selector: Selector, traits: Traits, model: str, rule: str):  # type: ignore[no-untyped-def]
    decision = selector.select(traits)
    (rejection,) = [r for r in decision.rejected if r.model == model]
    (violation,) = [v for v in rejection.violations if v.rule == rule]
    return violation


@pytest.mark.parametrize(
    ("traits", "model", "rule", "limit", "required", "allowed", "message"),
    [
        (Traits(input_modalities=["text", "video"]), "mimo-v2-flash", "input-modalities",
         "input_modalities", frozenset({"text", "video"}), frozenset({"text"}),
         "needs text, video input; accepts text"),
        (Traits(output_modality="speech"), "mimo-v2.5-pro", "output-modality",
         "output_modalities", "speech", frozenset({"text"}), "needs speech output; produces text"),
        (Traits(features=["web_search"], output_modality="speech"), "mimo-v2-tts", "features",
         "capabilities", frozenset({"web_search"}), frozenset({"speech_synthesis"}),
         "needs web_search; supports speech_synthesis"),
        (Traits(voice="clone"), "mimo-v2.5-tts", "voice-clone", "capabilities", "voice_clone",
         frozenset({"speech_synthesis"}),
         "voice cloning needs voice_clone; supports speech_synthesis"),
        (Traits(voice="design"), "mimo-v2.5-tts-voiceclone", "voice-design", "capabilities",
         "voice_design", frozenset({"speech_synthesis", "voice_clone"}),
         "voice design needs voice_design; supports speech_synthesis, voice_clone"),
        (Traits(voice="preset"), "mimo-v2.5-tts-voicedesign", "voice-preset", "capabilities",
         frozenset({"speech_synthesis", "voice_design"}), ("voice_clone", "voice_design"),
         "a preset voice needs a plain speech model; this one does voice_design"),
        (Traits(input_tokens=300_000), "mimo-v2-flash", "context-window", "context_window",
         300_000, 262_144, "needs 300,000 input tokens; at most 262,144 fit the context window"),
        (Traits(max_output_tokens=100_000), "mimo-v2-flash", "max-output", "max_output",
         100_000, 65_536, "needs 100,000 output tokens; maximum output is 65,536"),
        (Traits(input_tokens=200_000, max_output_tokens=65_536), "mimo-v2-omni", "context-total",
         "context_window", 265_536, 262_144,
         "needs 265,536 tokens of input and output; at most 262,144 fit the context window"),
        (Traits(expected_rpm=150), "mimo-v2-flash", "rpm", "rpm", 150, 100,
         "plans 150 requests per minute; the limit is 100 (per account, per model)"),
        (Traits(expected_tpm=20_000_000), "mimo-v2-pro", "tpm", "tpm", 20_000_000, 10_000_000,
         "plans 20,000,000 tokens per minute; the limit is 10,000,000 (per account, per model)"),
        (Traits(allow=["mimo-v2-pro"]), "mimo-v2-flash", "allow-list", "policy", "mimo-v2-flash",
         frozenset({"mimo-v2-pro"}), "not on the allow list (mimo-v2-pro)"),
        (Traits(deny=["mimo-v2-flash"]), "mimo-v2-flash", "deny-list", "policy", "mimo-v2-flash",
         frozenset({"mimo-v2-flash"}), "on the deny list"),
    ],
)  # fmt: skip
def test_each_hard_rule_rejects_with_its_numbers(  # type: ignore[no-untyped-def]
    selector, traits, model, rule, limit, required, allowed, message
) -> None:
    v = _violation(selector, traits, model, rule)
    assert (v.limit, v.required, v.allowed, v.message, v.certain) == (
        limit,
        required,
        allowed,
        message,
        True,
    )


def test_context_total_is_exact_at_the_boundary(selector: Selector) -> None:
    fits = Traits(input_tokens=262_144 - 65_536, max_output_tokens=65_536)
    assert selector.fits("mimo-v2-flash", fits)
    over = Traits(input_tokens=262_144 - 65_536 + 1, max_output_tokens=65_536)
    assert not selector.fits("mimo-v2-flash", over)


def test_default_text_choice_is_the_least_costly_and_says_why(selector: Selector) -> None:
    d = selector.select(Traits())
    assert d.model == "mimo-v2-flash"
    assert [r.rule for r in d.ranked[0].reasons] == ["least-cost", "newer-generation"]
    assert d.ranked[0].reasons[0].message == (
        "estimated cost $0.0004 for 1,000 input (assumed) and 1,000 output (assumed) tokens, "
        "price of 2026-05-15"
    )  # 1,000 x $0.10 + 1,000 x $0.30 per 1M
    assert d.fallbacks == ("mimo-v2.5", "mimo-v2.5-pro", "mimo-v2-omni", "mimo-v2-pro")  # by cost
    assert selector.select(Traits(voice="preset")).model == "mimo-v2.5-tts"
    assert selector.select(Traits(output_modality="speech")).model == "mimo-v2.5-tts"


def test_requests_are_matched_to_the_guide_rows_whose_traits_they_have(selector: Selector) -> None:
    low = selector.select(Traits(latency="low"))
    assert low.model == "mimo-v2-flash"
    assert low.ranked[0].reasons[0].message.endswith("(the request has low latency)")
    long = selector.select(Traits(input_tokens=200_000))
    assert long.model == "mimo-v2.5-pro"
    assert long.ranked[0].reasons[0].message == (
        "guide: Complex reasoning, in-depth analysis, long document processing → mimo-v2.5-pro"
        " (the request has deep thinking or a long document)"
    )
    assert selector.select(Traits(input_modalities=["text", "audio"])).model == "mimo-v2.5"
    clone = selector.select(Traits(voice="clone")).ranked[0].reasons[0]
    assert clone.message.startswith("guide: Voice Cloning (Upload Audio Sample)")
    both = selector.select(Traits(latency="low", features=["deep_thinking"]))  # two rows
    assert {both.model, both.fallbacks[0]} == {"mimo-v2.5-pro", "mimo-v2-flash"}
    assert all(c.reasons[0].rule == "guide" for c in both.ranked[:2])
    plain = selector.select(Traits())  # no row: no reason quotes the guide
    assert all(r.rule != "guide" for c in plain.ranked for r in c.reasons)


def test_nothing_eligible_is_a_decision_with_suggestions(selector: Selector) -> None:
    d = selector.select(Traits(input_tokens=3_000_000))
    assert (d.model, d.fallbacks, d.ranked, d.ok) == (None, (), (), False)
    assert len(d.rejected) == 9
    assert d.suggestions[0] == ("mimo-v2.5-pro", ("split the input into at least 3 parts",))
    video_long = selector.select(Traits(input_modalities=["video"], max_output_tokens=200_000))
    assert ("mimo-v2.5", ("lower max output to 131,072",)) in video_long.suggestions
    tts = selector.select(Traits(input_modalities=["video"], voice="preset"))
    assert ("mimo-v2.5-tts", ("drop video input",)) in tts.suggestions
    assert selector.select(Traits(input_tokens=3_000_000)).to_json()["suggestions"][0] == {
        "model": "mimo-v2.5-pro",
        "changes": ["split the input into at least 3 parts"],
    }


def test_decision_json_matches_its_published_schema(selector: Selector) -> None:
    validator = Draft202012Validator(decision_schema())
    chat = [{"role": "user", "content": "hi " * 5000}]
    for traits in (
        Traits(),
        Traits(input_tokens=3_000_000),
        Traits(voice="clone", expected_rpm=7),
        Traits(messages=chat, voice="preset"),
    ):
        doc = json.loads(json.dumps(selector.select(traits).to_json()))
        validator.validate(doc)
        assert set(doc) >= {"model", "ranked", "rejected", "traits"}


def test_explain_a_loser_and_a_rejected_model(selector: Selector) -> None:
    e = selector.explain("mimo-v2-pro", Traits())
    assert (e.eligible, e.rank, e.score, e.winner, e.winner_score) == (
        True,
        5,
        1.0,  # the dearest: $0.004 to Flash's $0.0004, so 10 x 0.1 points for cost
        "mimo-v2-flash",
        15,
    )
    r = selector.explain("mimo-v2-flash", Traits(input_tokens=300_000))
    assert not r.eligible
    assert [v.rule for v in r.violations] == ["context-window"]
    assert ("context-window", "constraint", "violated") in r.considered
    assert ("voice-clone", "constraint", "passes") not in r.considered  # no voice: no verdict
    assert r.to_json()["winner"] == "mimo-v2.5-pro"


def test_unknown_ids_in_traits_are_errors_with_suggestions(selector: Selector) -> None:
    with pytest.raises(UnknownModelError) as info:
        selector.select(Traits(deny=["mimo-v2-flsh"]))
    assert info.value.suggestion == "mimo-v2-flash"
    assert info.value.where == "deny"
    with pytest.raises(TraitsError, match="did you mean 'high_concurrency'"):
        selector.select(Traits(scenario="high_concurency"))
    with pytest.raises(UnknownModelError):
        selector.explain("gpt-4", Traits())


def test_one_selector_serves_many_threads(selector: Selector) -> None:
    cases = [Traits(), Traits(voice="clone"), Traits(input_tokens=300_000), Traits(latency="low")]
    expected = [selector.select(t).to_json() for t in cases]
    failures: list[str] = []

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            k = rng.randrange(len(cases))
            if selector.select(cases[k]).to_json() != expected[k]:
                failures.append(f"thread {seed}: case {k}")

    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_equal_traits_from_different_texts_are_each_counted_on_their_own() -> None:
    """Decisions are remembered by traits that rules read alike, and a count's text is not
    one of them: two prompts of one length have equal traits until counted. Where the byte
    bound straddles a limit (mimo-v2-flash: 262,144 - 65,536 input tokens), each is counted
    with its own text, however many times either was decided before."""
    selector = Selector(Selector.default().catalog, Selector.default().rules)
    size = 200_400
    words = ("hello world " * (size // 12 + 1))[:size]
    rng = random.Random(7)
    letters = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz") for _ in range(size))
    a = Traits(prompt=words, max_output_tokens=65_536)
    b = Traits(prompt=letters, max_output_tokens=65_536)
    assert a._decision_key() == b._decision_key()
    for _ in range(2):
        first, second = selector.select(a), selector.select(b)
        assert first.traits.tokens is not None
        assert second.traits.tokens is not None
        assert first.traits.tokens.exact
        assert second.traits.tokens.exact
        assert first.traits.tokens.tokens == count_tokens(words)
        assert second.traits.tokens.tokens == count_tokens(letters)
        assert first.traits.tokens.tokens < second.traits.tokens.tokens
        assert second.to_json() == Selector(selector.catalog, selector.rules).select(b).to_json()
    # what is remembered keeps no request's text alive
    kept = [d.scored.tokens for d in selector._decided.values() if d is not None]
    assert kept
    assert all(c is None or c.refine is None for c in kept)


def test_ranking_does_not_depend_on_catalog_or_rule_order(tmp_path: Path) -> None:
    import yaml

    from mimo_select._resources import bundled_file

    catalog = yaml.safe_load(bundled_file("data", "models.yaml").read_text())
    rules = yaml.safe_load(bundled_file("rules", "default.yaml").read_text())
    rng = random.Random(7)
    rng.shuffle(catalog["models"])
    rng.shuffle(rules["rules"])
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(catalog))
    shutil.copytree(bundled_file("data", "updates"), tmp_path / "updates")  # the prices
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shuffled = Selector.from_files(
        tmp_path / "models.yaml", [tmp_path / "rules.yaml"], default_rules=False
    )
    default = Selector.default()
    for traits in (
        Traits(),
        Traits(scenario="multimodal_understanding", input_modalities=["image"]),
        Traits(input_tokens=200_000),
        Traits(voice="preset"),
        Traits(latency="low"),
    ):
        a, b = default.select(traits), shuffled.select(traits)
        assert a.model == b.model
        assert {(c.model, c.score) for c in a.ranked} == {(c.model, c.score) for c in b.ranked}
        assert {r.model for r in a.rejected} == {r.model for r in b.rejected}
