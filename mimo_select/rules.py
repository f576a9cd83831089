"""Rule files: load, layer and compile the declarative selection rules.

Files are checked when loaded (YAML, the shipped schema, then references, operators, literal
values and message placeholders against the catalog), never when a rule is first hit. Later
files patch earlier rules by id (`weight`, `enabled`, texts) or add new ones.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import _yaml
from ._expr import INPUT, Derived, Field, Node, Scope, compile_expr, input_thresholds
from ._guide import Guide, GuideRow, implied_traits, union_thresholds
from ._resources import bundled_file
from ._schemas import enum_of
from .catalog import Catalog, generation_key
from .costs import CostTable
from .errors import (
    DataError,
    ExpressionError,
    Location,
    Problem,
    RulesError,
    TraitsError,
    did_you_mean,
)
from .traits import LATENCIES, VOICES, _currencies

__all__ = ["RuleSet", "load_rules", "with_settings"]

JsonPath = tuple[str | int, ...]

# placeholders every message may use: the model's lifecycle and its cost for the request;
# preferences also quote the guide row that names the model
COST_PLACEHOLDERS = ("cost", "currency")
MODEL_PLACEHOLDERS = (
    "model", "successor", "deprecated_on", "retires_on", "reported", *COST_PLACEHOLDERS,
)  # fmt: skip
CONSTRAINT_PLACEHOLDERS = (
    *MODEL_PLACEHOLDERS, "required", "allowed", "missing", "common", "excess", "parts",
)  # fmt: skip
GUIDE_PLACEHOLDERS = ("scenario", "requirement", "position", "row_models", "matched")
PREFERENCE_PLACEHOLDERS = (*MODEL_PLACEHOLDERS, *GUIDE_PLACEHOLDERS)
PATCHABLE = ("enabled", "weight", "description", "source", "message", "fix")


@dataclass(frozen=True)
class RuleDef:
    """One rule after layering: its fields and where each one was written."""

    id: str
    fields: Mapping[str, Any]
    origins: Mapping[str, tuple[_yaml.Document, JsonPath]]

    @property
    def type(self) -> str:
        return str(self.fields["type"])

    @property
    def enabled(self) -> bool:
        return bool(self.fields.get("enabled", True))

    def problem(self, key: str, message: str, hint: str | None = None,
                sub: JsonPath = ()) -> Problem:  # fmt: skip
        doc, path = self.origins.get(key) or self.origins["id"]
        return doc.problem((*path, *sub), f"rule {self.id!r}: {message}", hint)


@dataclass(frozen=True)
class RuleSet:
    """Layered rule definitions and settings, not yet bound to a catalog."""

    rules: tuple[RuleDef, ...]
    settings: Mapping[str, float]
    files: tuple[str, ...]
    guide: Mapping[str, tuple[Mapping[str, Any], _yaml.Document]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # scenario -> its reading, and the file that gave it (later files replace it whole)


def load_rules(
    paths: Iterable[str | Path] = (), *, defaults: bool = True, validate: bool = False
) -> RuleSet:
    """The bundled default rules (unless `defaults` is False) with `paths` layered on top.

    Files you give are checked against the schema; the bundled file is checked by the test
    suite, so only with `validate=True` (every file is still checked when compiled).
    Raises `RulesError` with every problem found, each with file:line and rule id.
    """
    docs: list[_yaml.Document] = []
    if defaults:
        docs.append(_bundled_document())
    problems: list[Problem] = []
    for path in paths:
        try:
            docs.append(_yaml.load(path))
        except DataError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RulesError(problems)
    return _layer(docs, skip_schema=1 if defaults and not validate else 0)


def with_settings(ruleset: RuleSet, settings: Mapping[str, float]) -> RuleSet:
    """The rule set with some settings given by the caller (a CLI flag, a service option)."""
    merged = dict(ruleset.settings)
    for name, value in settings.items():
        where = Location(None, None, None, f"$.settings.{name}")
        if name not in merged:
            hint = did_you_mean(name, merged)
            raise RulesError([Problem(where, f"unknown setting {name!r}", hint)])
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise RulesError([Problem(where, f"a setting is a finite number, not {value!r}")])
        merged[name] = value
    return replace(ruleset, settings=MappingProxyType(merged))


@cache
def _bundled_document() -> _yaml.Document:
    try:
        return _yaml.load(bundled_file("rules", "default.yaml"), display="rules/default.yaml")
    except DataError as exc:  # pragma: no cover - the test suite loads it
        raise RulesError(exc.problems) from None


def _layer(docs: Sequence[_yaml.Document], skip_schema: int = 0) -> RuleSet:
    problems: list[Problem] = []
    if len(docs) > skip_schema:
        from ._schemas import schema_problems

        for doc in docs[skip_schema:]:
            problems.extend(_with_rule_ids(doc, schema_problems(doc, "rules")))
    if problems:
        raise RulesError(problems)

    settings: dict[str, float] = {}
    guide: dict[str, tuple[Mapping[str, Any], _yaml.Document]] = {}
    merged: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, tuple[_yaml.Document, JsonPath]]] = {}
    for doc in docs:
        settings.update(doc.data.get("settings") or {})
        for scenario, reading in (doc.data.get("guide") or {}).items():
            guide[scenario] = (reading, doc)
        seen_here: set[str] = set()
        for i, entry in enumerate(doc.data.get("rules") or ()):
            rule_id = entry["id"]
            at: JsonPath = ("rules", i)
            if rule_id in seen_here:
                problems.append(doc.problem((*at, "id"), f"rule {rule_id!r} appears twice here"))
                continue
            seen_here.add(rule_id)
            if "type" in entry:  # a full definition, new or replacing an earlier one
                merged[rule_id] = dict(entry)
                origins[rule_id] = {key: (doc, (*at, key)) for key in entry}
                continue
            if rule_id not in merged:
                problems.append(
                    doc.problem(
                        (*at, "id"),
                        f"rule {rule_id!r} is not defined by an earlier file",
                        did_you_mean(rule_id, merged)
                        or "give it a type, a check or when, and a message to define it",
                    )
                )
                continue
            for key, value in entry.items():
                if key not in ("id", *PATCHABLE):
                    problems.append(
                        doc.problem(
                            (*at, key),
                            f"a patch of rule {rule_id!r} can set {', '.join(PATCHABLE)};"
                            f" not {key!r}",
                            "repeat the whole rule with its type to replace it",
                        )
                    )
                    continue
                merged[rule_id][key] = value
                origins[rule_id][key] = (doc, (*at, key))
    if problems:
        raise RulesError(problems)
    rules = tuple(
        RuleDef(rid, MappingProxyType(fields), MappingProxyType(origins[rid]))
        for rid, fields in merged.items()
    )
    return RuleSet(
        rules, MappingProxyType(settings), tuple(d.file for d in docs), MappingProxyType(guide)
    )


def _with_rule_ids(doc: _yaml.Document, problems: list[Problem]) -> list[Problem]:
    """Name the rule in each schema problem found inside one."""
    out = []
    rules = doc.data.get("rules") if isinstance(doc.data, dict) else None
    for problem in problems:
        match = re.match(r"\$\.rules\[(\d+)\]", problem.location.path)
        entry = rules[int(match.group(1))] if match and isinstance(rules, list) else None
        named = isinstance(entry, dict) and isinstance(entry.get("id"), str)
        out.append(
            replace(problem, message=f"rule {entry['id']!r}: {problem.message}")  # type: ignore[index]
            if named
            else problem
        )
    return out


# --- compiling against a catalog -----------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    id: str
    limit: str
    when: Node | None
    check: Node
    operands: tuple[Node, Node] | None  # the check's two sides, for required / allowed
    op: str | None
    message: str
    fix: str | None
    description: str
    uses_tokens: bool = False  # refers to the input count: evaluated at both ends of an interval


@dataclass(frozen=True)
class Preference:
    id: str
    weight: float
    when: Node
    score: Node | None
    message: str
    description: str
    source: str | None
    uses_tokens: bool = False


@dataclass(frozen=True)
class CompiledRules:
    constraints: tuple[Constraint, ...]
    preferences: tuple[Preference, ...]
    settings: Mapping[str, float]
    files: tuple[str, ...]
    guide: Guide
    costs: CostTable


def model_fields(catalog: Catalog) -> dict[str, tuple[Field, tuple[Any, ...]]]:
    """The catalog facts rules can refer to as `$model.F`, one value per model."""
    models = catalog.models
    newest: dict[str, tuple[int, ...]] = {}
    for m in models:
        if m.status != "retired":
            newest[m.series] = max(newest.get(m.series, ()), generation_key(m.generation))
    return {
        "id": (Field("text", "model_id"), tuple(m.id for m in models)),
        "series": (Field("text", "series"), tuple(m.series for m in models)),
        "generation": (Field("text", "generation"), tuple(m.generation for m in models)),
        "capabilities": (
            Field("set", "capability"),
            tuple(frozenset(m.capabilities) for m in models),
        ),
        "input_modalities": (
            Field("set", "input_modality"),
            tuple(frozenset(m.input_modalities) for m in models),
        ),
        "output_modalities": (
            Field("set", "output_modality"),
            tuple(frozenset(m.output_modalities) for m in models),
        ),
        "context_window": (Field("number"), tuple(m.context_window.tokens for m in models)),
        "max_output": (Field("number"), tuple(m.max_output.tokens for m in models)),
        "rpm": (Field("number"), tuple(m.rpm for m in models)),
        "tpm": (Field("number"), tuple(m.tpm for m in models)),
        "thinking_default": (
            Field("text", "thinking"),
            tuple(m.thinking.default if m.thinking else None for m in models),
        ),
        "status": (Field("text", "status"), tuple(m.status for m in models)),
        "reported": (Field("text", "event"), tuple(catalog.reported(m.id) for m in models)),
        "latest_in_series": (
            Field("bool"),
            tuple(generation_key(m.generation) == newest.get(m.series) for m in models),
        ),
    }


TRAIT_FIELDS = {
    "input_modalities": Field("set", "input_modality"),
    "output_modality": Field("text", "output_modality"),
    "input_tokens": Field("number"),
    "max_output_tokens": Field("number"),
    "features": Field("set", "feature"),
    "voice": Field("text", "voice"),
    "latency": Field("text", "latency"),
    "scenario": Field("text", "scenario"),
    "expected_rpm": Field("number"),
    "expected_tpm": Field("number"),
    "allow": Field("set", "model_id"),
    "deny": Field("set", "model_id"),
    "thinking": Field("text", "thinking"),
    "accounts": Field("number"),
    "currency": Field("text", "currency"),
    "max_cost": Field("number"),
}


def _scope(
    catalog: Catalog,
    settings: Mapping[str, float],
    guide: Guide | None,
    costs: CostTable | None = None,
) -> Scope:
    """What references resolve to. Without `guide` and `costs` (compiling the guide's own
    expressions), `$scenario.F` and `$cost.F` are not available."""
    rows = {g.scenario: g for g in catalog.guide}
    vocab = catalog.vocabulary
    scenario: dict[str, Derived] = {}
    if guide is not None:
        reads = frozenset().union(*(r.reads for r in guide.rows)) if guide.rows else frozenset()
        thresholds = union_thresholds(guide.rows)
        in_force = guide.in_force

        def first(name: str) -> Any:
            return lambda t: getattr(rs[0], name) if (rs := in_force(t)) else None

        scenario = {
            "id": Derived(Field("text", "scenario"), first("scenario"), reads=reads,
                          thresholds=thresholds),
            "requirement": Derived(Field("text"), first("requirement"), reads=reads,
                                   thresholds=thresholds),
            "models": Derived(
                Field("list", "model_id"),
                lambda t: tuple(dict.fromkeys(m for r in in_force(t) for m in r.models)) or None,
                reads=reads, thresholds=thresholds,
            ),
            "order": Derived(Field("number"), guide.order, per_model=True, reads=reads,
                             thresholds=thresholds),
        }  # fmt: skip
    derived = {"scenario": scenario}
    if costs is not None:
        # from the count's estimate, not its bounds: a cost is an estimate either way, and
        # the interval machinery then never counts exactly for a price
        reads = frozenset(("$traits.max_output_tokens", "$traits.currency"))
        derived["cost"] = {
            "priced": Derived(Field("bool"), costs.priced, per_model=True,
                              reads=frozenset(("$traits.currency",))),
            "estimate": Derived(Field("number"), costs.amounts, per_model=True, reads=reads),
            "relative": Derived(Field("number"), costs.relative, per_model=True,
                                reads=reads | {"$traits.output_modality"}),
        }  # fmt: skip
    return Scope(
        n_models=len(catalog.models),
        models=model_fields(catalog),
        traits=TRAIT_FIELDS,
        derived=derived,
        guide={
            sid: {
                "models": (Field("list", "model_id"), g.models),
                "requirement": (Field("text"), g.requirement),
            }
            for sid, g in rows.items()
        },
        settings=settings,
        domains={
            "model_id": frozenset(catalog.ids),
            "series": frozenset(s.id for s in catalog.series),
            "scenario": frozenset(rows),
            "capability": frozenset(vocab.capabilities),
            "feature": frozenset(vocab.features),
            "input_modality": frozenset(vocab.input_modalities),
            "output_modality": frozenset(vocab.output_modalities),
            "generation": frozenset(catalog.generations),
            "thinking": frozenset(("enabled", "disabled")),
            "status": frozenset(catalog.statuses),
            "event": frozenset(enum_of("updates", "event")),
            "voice": frozenset(VOICES),
            "latency": frozenset(LATENCIES),
            "currency": _currencies(),
        },
    )


def _guide(ruleset: RuleSet, catalog: Catalog) -> Guide:
    """Each scenario's reading checked against the catalog: a known scenario, implied traits
    that are valid and that its own `matches` accepts."""
    scope = _scope(catalog, ruleset.settings, None)
    problems: list[Problem] = []
    rows: dict[str, GuideRow] = {}
    for scenario, (reading, doc) in ruleset.guide.items():
        at: JsonPath = ("guide", scenario)
        known = [g.scenario for g in catalog.guide]
        if scenario not in known:
            problems.append(doc.problem(at, f"unknown scenario {scenario!r} in the guide",
                                        did_you_mean(scenario, known)))  # fmt: skip
            continue
        try:
            implied = implied_traits(reading["implies"])
        except TraitsError as exc:
            problems.append(doc.problem((*at, "implies", exc.where or ""), exc.message))
            continue
        try:
            node = compile_expr(reading["matches"], scope, ())
        except ExpressionError as exc:
            problems.append(doc.problem((*at, "matches", *exc.path), exc.message, exc.hint))
            continue
        if node.per_model:
            problems.append(doc.problem((*at, "matches"), "`matches` reads the request ($traits,"
                                        " $settings), not the models"))  # fmt: skip
            continue
        if node.type not in ("bool", "any"):
            problems.append(doc.problem((*at, "matches"), f"`matches` must be a bool, not a "
                                        f"{node.type}"))  # fmt: skip
            continue
        matches = node.getter()
        if matches(implied) is not True:
            problems.append(doc.problem((*at, "matches"), "the traits it implies do not match "
                                        "it", "make `implies` satisfy `matches`"))  # fmt: skip
            continue
        entry = catalog.scenario(scenario)
        thresholds = input_thresholds(node)
        rows[scenario] = GuideRow(
            scenario, entry.requirement, entry.models, MappingProxyType(dict(reading["implies"])),
            matches, reading["note"], None if thresholds is None else tuple(thresholds),
            node.reads,
        )  # fmt: skip
    if problems:
        raise RulesError(problems)
    ordered = tuple(rows[g.scenario] for g in catalog.guide if g.scenario in rows)
    return Guide(ordered, catalog.ids)


def compile_rules(ruleset: RuleSet, catalog: Catalog) -> CompiledRules:
    """Bind rules to a catalog: every reference, operator, literal and placeholder checked."""
    guide = _guide(ruleset, catalog)
    costs = CostTable(catalog, ruleset.settings)
    scope = _scope(catalog, ruleset.settings, guide, costs)
    problems: list[Problem] = []
    constraints: list[Constraint] = []
    preferences: list[Preference] = []
    for rule in ruleset.rules:
        if not rule.enabled:
            continue
        try:
            if rule.type == "constraint":
                constraints.append(_constraint(rule, scope))
            else:
                preferences.append(_preference(rule, scope))
        except RulesError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RulesError(problems)
    return CompiledRules(
        tuple(constraints), tuple(preferences), ruleset.settings, ruleset.files, guide, costs
    )


def _compile_field(rule: RuleDef, key: str, scope: Scope, expect: str) -> Node:
    try:
        node = compile_expr(rule.fields[key], scope)
    except ExpressionError as exc:
        raise RulesError([rule.problem(key, exc.message, exc.hint, exc.path)]) from None
    if node.type not in (expect, "any"):
        raise RulesError([rule.problem(key, f"`{key}` must be a {expect}, not a {node.type}")])
    return node


def _templates(rule: RuleDef, allowed: Sequence[str], settings: Mapping[str, float]) -> None:
    names = (*allowed, *settings)
    problems = []
    for key in ("message", "fix"):
        text = rule.fields.get(key)
        if text is None:
            continue
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            problems.append(rule.problem(key, f"bad template: {exc}", "write {{ for a brace"))
            continue
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in names or spec or conversion:
                problems.append(
                    rule.problem(
                        key,
                        f"unknown placeholder {{{name}}}"
                        if name not in names
                        else f"placeholder {{{name}}} takes no format or conversion",
                        did_you_mean(name, names) or f"known: {', '.join(names)}",
                    )
                )
    if problems:
        raise RulesError(problems)


def _constraint(rule: RuleDef, scope: Scope) -> Constraint:
    when = _compile_field(rule, "when", scope, "bool") if "when" in rule.fields else None
    check = _compile_field(rule, "check", scope, "bool")
    _templates(rule, CONSTRAINT_PLACEHOLDERS, scope.settings)
    expr = rule.fields["check"]
    op, operands = None, None
    if isinstance(expr, dict):
        ((op, args),) = expr.items()
        if isinstance(args, list) and len(args) == 2:
            operands = (compile_expr(args[0], scope), compile_expr(args[1], scope))
    return Constraint(
        id=rule.id,
        limit=rule.fields["limit"],
        when=when,
        check=check,
        operands=operands,
        op=op,
        message=rule.fields["message"],
        fix=rule.fields.get("fix"),
        description=rule.fields.get("description", ""),
        uses_tokens=_reads_input(when, check),
    )


def _preference(rule: RuleDef, scope: Scope) -> Preference:
    when = _compile_field(rule, "when", scope, "bool")
    score = _compile_field(rule, "score", scope, "number") if "score" in rule.fields else None
    _templates(rule, PREFERENCE_PLACEHOLDERS, scope.settings)
    return Preference(
        id=rule.id,
        weight=float(rule.fields["weight"]),
        when=when,
        score=score,
        message=rule.fields["message"],
        description=rule.fields.get("description", ""),
        source=rule.fields.get("source"),
        uses_tokens=_reads_input(when, score),
    )


def _reads_input(*nodes: Node | None) -> bool:
    return any(node is not None and INPUT in node.reads for node in nodes)
