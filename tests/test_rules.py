"""Rule files: layering by id, checks at load time with file:line and rule id."""

from __future__ import annotations

import pytest

from mimo_select import RulesError, Selector, Traits, load_catalog, load_rules
from mimo_select.rules import compile_rules

from .conftest import CASES

RULES = CASES / "rules"


def test_default_rules_compile_and_express_every_hard_limit() -> None:
    compiled = compile_rules(load_rules(), load_catalog())
    limits = {c.limit for c in compiled.constraints}
    assert limits == {
        "input_modalities",
        "output_modalities",
        "capabilities",
        "context_window",
        "max_output",
        "rpm",
        "tpm",
        "policy",
        "lifecycle",
        "cost",
    }
    assert {p.id for p in compiled.preferences} >= {"guide", "least-cost", "least-cost-text"}
    assert [r.scenario for r in compiled.guide.rows] == [g.scenario for g in load_catalog().guide]


def test_user_file_changes_a_weight_and_adds_a_constraint() -> None:
    traits = Traits(scenario="complex_reasoning")
    assert Selector.default().select(traits).model == "mimo-v2.5-pro"
    team = Selector.from_files(rules=[RULES / "team_policy.yaml"])
    decision = team.select(traits)
    assert decision.model == "mimo-v2-flash"  # the guide's 4 points lose to cost's 10
    pro = {r.model: r.violations for r in decision.rejected}
    assert [v.rule for v in pro["mimo-v2.5-pro"]] == ["no-pro-series"]
    assert pro["mimo-v2-pro"][0].message == "team X may not use the Pro series (pro)"
    assert "mimo-v2.5" in decision.fallbacks


def test_disable_a_rule_and_override_a_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "version: 1\nsettings: {long_input_tokens: 1000}\n"
        "rules:\n  - {id: least-cost, enabled: false}\n"
    )
    selector = Selector.from_files(rules=[overlay])
    assert selector.select(Traits()).model == "mimo-v2.5-pro"
    long = selector.select(Traits(input_tokens=2000))  # now a "long document"
    assert long.model == "mimo-v2.5-pro"
    assert long.ranked[0].reasons[0].rule == "guide"


def test_later_files_win(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("version: 1\nrules:\n  - {id: least-cost, weight: 1000}\n")
    second.write_text("version: 1\nrules:\n  - {id: least-cost, weight: 0}\n")
    assert Selector.from_files(rules=[first, second]).select(Traits()).model == "mimo-v2.5-pro"
    assert Selector.from_files(rules=[second, first]).select(Traits()).model == "mimo-v2-flash"


@pytest.mark.parametrize(
    "case", sorted(p.stem for p in RULES.glob("*.yaml") if p.with_suffix(".expected").exists())
)
def test_broken_rules_fail_at_load_with_file_line_and_rule(case: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(RULES)
    with pytest.raises(RulesError) as info:
        compile_rules(load_rules([f"{case}.yaml"]), load_catalog())
    assert str(info.value) == (RULES / f"{case}.expected").read_text().strip()
    assert info.value.problems[0].location.line is not None


def test_the_bundled_rules_pass_the_schema_they_skip_at_run_time() -> None:
    assert load_rules(validate=True).rules == load_rules().rules


def test_the_count_shortcut_is_off_for_rules_it_cannot_bound(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Selector.default()._input_range == (8192, 1_048_576)
    odd = tmp_path / "odd.yaml"
    odd.write_text(
        "version: 1\nrules:\n  - id: odd\n    type: preference\n    weight: 1\n"
        "    when: {$gt: [$traits.input_tokens, $traits.max_output_tokens]}\n    message: m\n"
    )
    assert Selector.from_files(rules=[odd])._input_range is None


def test_the_schema_lists_exactly_the_operators_of_the_table() -> None:
    """An operator is defined once, in `_operators.OPERATORS`; the shipped schema (for editors)
    must name the same ones with the same arity."""
    import json

    from mimo_select._operators import OPERATORS
    from mimo_select._resources import bundled_file

    schema = json.loads(bundled_file("rules", "rules.schema.json").read_text())
    listed = schema["$defs"]["expression"]["anyOf"][-1]["properties"]
    assert set(listed) == set(OPERATORS)
    shapes = {"#/$defs/pair": 2, "#/$defs/many": "many", "#/$defs/expression": "one"}
    for name, spec in listed.items():
        arity = shapes[spec["$ref"]] if "$ref" in spec else "ref"
        assert arity == OPERATORS[name].arity, name


def test_a_rule_reads_the_token_count_by_its_compiled_tree() -> None:
    from mimo_select import Selector

    rules = Selector.default().rules
    reading = {r.id for r in (*rules.constraints, *rules.preferences) if r.uses_tokens}
    assert reading == {"context-window", "context-total", "guide"}  # guide: long documents
