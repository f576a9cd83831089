"""Hypothesis properties of the selector's decisions."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mimo_select import Decision, MimoSelectError, Selector, Traits, load_catalog
from mimo_select.traits import LATENCIES, VOICES

CATALOG = load_catalog()
SELECTOR = Selector.default()
VOCAB = CATALOG.vocabulary
tokens = st.one_of(st.none(), st.integers(0, 2_000_000))


@st.composite
def traits(draw: Any) -> Traits:
    voice = draw(st.sampled_from((None, *VOICES)))
    thinking = draw(st.sampled_from((None, "enabled", "disabled")))
    features = draw(st.sets(st.sampled_from(VOCAB.features)))
    if thinking == "disabled":
        features -= {"deep_thinking"}
    return Traits(
        input_modalities=draw(st.sets(st.sampled_from(VOCAB.input_modalities), min_size=1)),
        output_modality=None if voice else draw(st.sampled_from((None, *VOCAB.output_modalities))),
        input_tokens=draw(tokens),
        max_output_tokens=draw(tokens),
        features=features,
        voice=voice,
        thinking=thinking,
        latency=draw(st.sampled_from(LATENCIES)),
        scenario=draw(st.sampled_from((None, *(g.scenario for g in CATALOG.guide)))),
        expected_rpm=draw(st.one_of(st.none(), st.integers(0, 300))),
        expected_tpm=draw(st.one_of(st.none(), st.integers(0, 30_000_000))),
        allow=draw(st.one_of(st.none(), st.sets(st.sampled_from(CATALOG.ids)))),
        deny=draw(st.sets(st.sampled_from(CATALOG.ids), max_size=3)),
    )


def eligible(t: Traits) -> set[str]:
    return {c.model for c in SELECTOR.select(t).ranked}


@settings(max_examples=300, deadline=None)
@given(traits())
def test_chosen_model_breaks_no_hard_rule(t: Traits) -> None:
    d = SELECTOR.select(t)
    if d.model is not None:
        assert SELECTOR.fits(d.model, t)
        assert d.model not in {r.model for r in d.rejected}
        assert d.fallbacks == tuple(c.model for c in d.ranked[1:])
    scores = [c.score for c in d.ranked]
    assert scores == sorted(scores, reverse=True)
    for r in d.rejected:
        assert r.violations
        assert not SELECTOR.fits(r.model, t)


@settings(max_examples=300, deadline=None)
@given(traits())
def test_every_model_appears_exactly_once(t: Traits) -> None:
    d = SELECTOR.select(t)
    seen = [c.model for c in d.ranked] + [r.model for r in d.rejected]
    assert sorted(seen) == sorted(CATALOG.ids)


@settings(max_examples=200, deadline=None)
@given(
    traits(),
    st.sampled_from(VOCAB.features),
    st.sampled_from(VOCAB.input_modalities),
    st.sampled_from(CATALOG.ids),
)
def test_adding_a_requirement_never_adds_an_eligible_model(
    t: Traits, feature: str, modality: str, denied: str
) -> None:
    before = eligible(t)
    if t.thinking == "disabled":
        feature = feature if feature != "deep_thinking" else "streaming"
    stricter = [
        replace(t, features=t.features | {feature}),
        replace(t, input_modalities=t.input_modalities | {modality}),
        replace(t, deny=t.deny | {denied}),
        replace(t, expected_rpm=(t.expected_rpm or 0) + 50),
    ]
    if t.allow:
        stricter.append(replace(t, allow=t.allow - {denied}))
    for s in stricter:
        assert eligible(s) <= before


@settings(max_examples=200, deadline=None)
@given(traits(), st.integers(1, 2_000_000), st.integers(1, 200_000))
def test_growing_token_counts_never_makes_a_rejected_model_eligible(
    t: Traits, more_in: int, more_out: int
) -> None:
    before = eligible(t)
    bigger_in = replace(t, input_tokens=(t.input_tokens or 0) + more_in)
    bigger_out = replace(t, max_output_tokens=(t.max_output_tokens or 0) + more_out)
    if t.input_tokens is not None:
        assert eligible(bigger_in) <= before
    if t.max_output_tokens is not None:
        assert eligible(bigger_out) <= before


@settings(max_examples=150, deadline=None)
@given(traits())
def test_same_traits_same_decision(t: Traits) -> None:
    again = Traits.from_json(t.to_json())
    assert SELECTOR.select(t).to_json() == SELECTOR.select(again).to_json()


TODAY = Selector.default(as_of="2026-11-30")  # costs, notices and retired models in force


# the requests most traffic is: text in and out, a count (or a prompt: an interval until
# counted), a budget, sometimes a feature
chats = st.builds(
    Traits,
    input_tokens=st.integers(0, 300_000),
    max_output_tokens=st.one_of(st.none(), st.integers(1, 32_000)),
    features=st.sets(st.sampled_from(VOCAB.features), max_size=1),
)
prompts = st.builds(
    Traits,
    prompt=st.text(min_size=1, max_size=2000).map(lambda t: t * 40),
    max_output_tokens=st.one_of(st.none(), st.integers(1, 32_000)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(chats, prompts, traits()), min_size=1, max_size=6),
    st.sampled_from((None, "USD", "CNY")),
    st.one_of(st.none(), st.none(), st.floats(0.0001, 2.0)),
    st.sampled_from((SELECTOR, TODAY)),
)
def test_remembered_texts_are_what_a_fresh_selector_writes(
    many: list[Traits], currency: str | None, max_cost: float | None, warm: Selector
) -> None:
    """Texts, costs and notices are remembered across decisions by what they depend on: a
    selector that has decided much before writes every decision as a new one does."""
    for drawn in many:
        t = replace(drawn, currency=currency, max_cost=max_cost)
        fresh = Selector(warm.catalog, warm.rules).select(t)
        decision = warm.select(t)
        warm.select(Traits())  # read after another decision: what select saw is gone
        assert decision.to_json() == fresh.to_json()
        # decided again for equal traits (remembered), asking for a model or not
        again = Traits.from_json(t.to_json()) if t.tokens is None else t
        assert warm.select(again).to_json() == fresh.to_json()
        asked = warm.catalog.ids[len(many) % len(warm.catalog.ids)]
        assert warm.select(again, model=asked).to_json() == (
            Selector(warm.catalog, warm.rules).select(t, model=asked).to_json()
        )
        assert decision.shared_json(exact_count=True) == fresh.to_json(exact_count=True)
        assert decision.rejected == fresh.rejected
        assert decision.ranked == fresh.ranked
        some = frozenset(Decision.FIELDS[::3])
        assert decision.shared_json(fields=some) == {
            k: v for k, v in fresh.to_json().items() if k in some
        }


def test_a_decision_json_changed_by_its_reader_changes_no_other() -> None:
    t = Traits(input_tokens=500, max_output_tokens=1024)
    out = SELECTOR.select(t).to_json()
    for part in (*out["ranked"], *out["rejected"]):
        for value in part.values():
            if isinstance(value, list):
                value.clear()
    out["notices"].clear()
    again = SELECTOR.select(t).to_json()
    assert again["ranked"][0]["reasons"]
    assert again["rejected"][0]["violations"]
    assert again["notices"]
    assert again == Selector(SELECTOR.catalog, SELECTOR.rules).select(t).to_json()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=10),
    st.lists(st.text(max_size=10), max_size=3),
), max_size=5))  # fmt: skip
def test_only_mimo_select_errors_escape_for_any_json_traits(data: dict[str, Any]) -> None:
    with contextlib.suppress(MimoSelectError):
        SELECTOR.select(Traits.from_json(data)).to_json()


@settings(max_examples=300, deadline=None)
@given(traits())
def test_bitmask_path_agrees_with_per_model_evaluation(t: Traits) -> None:
    """`select` runs on bitmasks; `fits` and the reasons evaluate per model: same answers."""
    from mimo_select.engine import _violators

    d = SELECTOR.select(t)
    by_mask = {(rule.id, i) for rule, mask in d._hits for i in SELECTOR._bits[mask]}
    by_model = {
        (rule.id, i)
        for rule in SELECTOR.rules.constraints
        for i in _violators(rule, d.traits, len(CATALOG.ids))
    }
    assert by_mask == by_model
    for c in d.ranked:
        assert abs(sum(r.points for r in c.reasons) - c.score) < 1e-6  # scores: 6 places


NO_SHORTCUT = Selector(CATALOG, SELECTOR.rules)
NO_SHORTCUT._input_range = None  # every inexact count checked at both ends


@settings(max_examples=300, deadline=None)
@given(traits(), st.integers(0, 1_200_000), st.integers(0, 1_200_000))
def test_the_threshold_shortcut_never_changes_a_decision(t: Traits, a: int, b: int) -> None:
    """An interval below or above every number the rules compare the count with is settled
    without re-checking; the answer must be the one the full check gives."""
    low, high = sorted((a, b))
    interval = replace(t, input_tokens=low, input_tokens_max=high)
    assert SELECTOR.select(interval).to_json() == NO_SHORTCUT.select(interval).to_json()


def _grown(n: int) -> Selector:
    from dataclasses import replace as grow

    from mimo_select.rules import compile_rules, load_rules

    models = list(CATALOG.models)
    while len(models) < n:
        m = CATALOG.models[len(models) % len(CATALOG.models)]
        models.append(grow(m, id=f"{m.id}-x{len(models)}"))
    catalog = grow(CATALOG, models=tuple(models))
    return Selector(catalog, compile_rules(load_rules(), catalog))


BIG = _grown(64)


@settings(max_examples=100, deadline=None)
@given(traits())
def test_a_64_model_catalog_decides_like_per_model_evaluation(t: Traits) -> None:
    """Past the tabulated sizes the mask indices are computed on demand: same answers."""
    from mimo_select.engine import _violators

    d = BIG.select(t)
    by_mask = {(rule.id, i) for rule, mask in d._hits for i in BIG._bits[mask]}
    by_model = {
        (rule.id, i) for rule in BIG.rules.constraints for i in _violators(rule, d.traits, 64)
    }
    assert by_mask == by_model
    eligible = [m for m in BIG.catalog.ids if BIG.fits(m, t)]
    assert sorted(eligible) == sorted(c.model for c in d.ranked)


@st.composite
def near_limits(draw: Any) -> dict[str, Any]:
    """Bodies whose size straddles hard limits: speech requests around the 8K window of the
    TTS models, text requests with tools, plain and unpunctuated text, grown conversations."""
    words = draw(
        st.sampled_from([["alpha", "beta", "gamma"], ["收入", "增长", "成本"], ["a_b", "x-y"]])
    )
    sep = draw(st.sampled_from([" ", "", "\n"]))
    turns = draw(st.integers(1, 6))
    size = draw(st.integers(500, 9_000))
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant",
         "content": sep.join(draw(st.lists(st.sampled_from(words), min_size=size // turns,
                                            max_size=size // turns)))}
        for i in range(turns)
    ]  # fmt: skip
    body: dict[str, Any] = {"messages": messages}
    if draw(st.booleans()):
        body["audio"] = {"voice": "mimo_default"}  # speech: the 8,192-token window decides
    elif draw(st.booleans()):
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}}}]  # fmt: skip
    if draw(st.booleans()):
        body["max_tokens"] = draw(st.integers(0, 4_000))
    return body


@settings(max_examples=60, deadline=None)
@given(near_limits())
def test_bounds_estimates_and_memory_decide_as_counting_everything_does(body: Any) -> None:
    """Whatever path a decision takes (a bound, an estimate, counts from memory), the models a
    hard limit admits or rejects are the ones counting every token admits or rejects, and the
    interval it states holds the exact count."""
    decision = SELECTOR.route(body)
    exact = SELECTOR.read(body, exact=True)
    on_exact = SELECTOR.select(exact.traits)
    assert {c.model for c in decision.ranked} == {c.model for c in on_exact.ranked}
    assert {r.model for r in decision.rejected} == {r.model for r in on_exact.rejected}
    count, true = decision.traits.tokens, exact.tokens
    assert count is not None
    assert count.lower_bound <= true.lower_bound
    assert count.upper_bound is None or true.upper_bound <= count.upper_bound  # type: ignore[operator]
