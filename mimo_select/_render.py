"""Decisions and explanations as text for people, readable at 80 columns."""

from __future__ import annotations

from ._text import Style, wrap
from .decisions import Decision, Explanation, Reason, Violation
from .tokens import TokenCount

WIDTH = 80


def _points(points: float) -> str:
    return f"{points:+g}"


def _reason_lines(reasons: tuple[Reason, ...]) -> list[str]:
    lines = []
    for r in reasons:
        tag = f" [{r.rule} {_points(r.points)}]" if r.points else ""
        lines += wrap(f"+ {r.message}{tag}", WIDTH, "      ", "  ")
    return lines


def _violation_lines(violations: tuple[Violation, ...]) -> list[str]:
    lines = []
    for v in violations:
        maybe = "" if v.certain else " (may not fit: the token count is not exact)"
        lines += wrap(f"- {v.limit}: {v.message}{maybe} [{v.rule}]", WIDTH, "      ", "  ")
    return lines


def render_count(count: TokenCount) -> str:
    """One line for the input count a decision rests on."""
    if count.exact:
        return f"Input: {count.tokens:,} tokens"
    upper = "no known bound" if count.upper_bound is None else f"{count.upper_bound:,}"
    return (
        f"Input: {count.tokens:,} tokens, not exact: between {count.lower_bound:,} and {upper}"
        f" ({'; '.join(count.notes)})"
    )


def render_decision(decision: Decision, style: Style, count: TokenCount | None = None) -> str:
    """The decision for people; `count` (the decision's own by default) heads it."""
    out: list[str] = []
    count = count or decision.traits.tokens
    if count is not None:
        out += wrap(render_count(count), WIDTH, "", "  ")
    if decision.model:
        best = decision.ranked[0]
        out.append(
            style(f"Recommended: {best.model}", "bold", "green") + f"  (score {best.score:g})"
        )
        out += _reason_lines(best.reasons)
        if len(decision.ranked) > 1:
            out += ["", style("Fallbacks, in order", "bold")]
            for k, c in enumerate(decision.ranked[1:], 2):
                out.append(f"  {k}. {c.model}  (score {c.score:g})")
                out += _reason_lines(c.reasons)
    else:
        out.append(style("No eligible model.", "bold", "red"))
    if decision.rejected:
        out += ["", style("Not eligible", "bold")]
        groups: dict[tuple[Violation, ...], list[str]] = {}  # same violations, one entry
        for r in decision.rejected:
            groups.setdefault(r.violations, []).append(r.model)
        for violations, models in groups.items():
            out += wrap("x  " + ", ".join(models), WIDTH, "  ", "   ")
            out += _violation_lines(violations)
    if decision.suggestions:
        out += ["", style("What would make a model eligible", "bold")]
        for model, changes in decision.suggestions[:3]:
            out += wrap(f"{model}: {'; '.join(changes)}", WIDTH, "  ")
    return "\n".join(out) + "\n"


def render_explanation(explanation: Explanation, style: Style) -> str:
    e = explanation
    winner = f"{e.winner} (score {e.winner_score:g})" if e.winner else "no model is eligible"
    out: list[str] = []
    if e.eligible:
        total = len(e.decision.ranked)
        verdict = "chosen" if e.rank == 1 else f"eligible, ranked {e.rank} of {total}"
        out.append(style(f"{e.model}: {verdict}", "bold") + f", score {e.score:g}")
        if e.rank != 1:
            out.append(f"  the winner is {winner}")
        out += _reason_lines(e.reasons)
    else:
        out.append(style(f"{e.model}: not eligible", "bold", "red"))
        out.append(f"  the winner is {winner}")
        out += _violation_lines(e.violations)
        fixes = [v.fix for v in e.violations if v.fix]
        if fixes and len(fixes) == len(e.violations):
            out += wrap(f"to make it eligible: {'; '.join(dict.fromkeys(fixes))}", WIDTH, "  ")
    out += ["", style("Rules", "bold")]
    for rule_id, kind, applies in e.considered:
        if kind == "constraint":
            state = style("violated", "red") if applies else "passes"
        else:
            state = style("applies", "green") if applies else "does not apply"
        out.append(f"  {kind:<10}  {rule_id:<18}  {state}")
    return "\n".join(out) + "\n"
