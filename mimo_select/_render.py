"""Decisions and explanations as text for people, readable at 80 columns.

What a person needs first comes first: a pinned model that does not fit, the input count (and
what it does not know), the choice and its reasons. Rejected models are grouped by the first
limit they break; a model that cannot serve the request at all (wrong output, missing input
kind) shows only that, not the numbers it would also break.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._text import Style, wrap
from .decisions import Decision, Explanation, LoadPlan, Reason, Rejection, Violation
from .tokens import TokenCount

if TYPE_CHECKING:
    from .catalog import Catalog
    from .updates import CatalogDiff, DiffEntry, Notice, Price

WIDTH = 80
_WINDOW = "context_window"  # the limit two rules share: the input, and input plus output


def render_count(count: TokenCount) -> str:
    """One line for the input count a decision rests on."""
    if count.exact:
        return f"Input: {count.tokens:,} tokens"
    upper = "no known bound" if count.upper_bound is None else f"{count.upper_bound:,}"
    return (
        f"Input: {count.tokens:,} tokens, not exact: between {count.lower_bound:,} and {upper}"
        f" ({'; '.join(count.notes)})"
    )


def _reason_lines(reasons: Sequence[Reason]) -> list[str]:
    lines = []
    for r in reasons:
        tag = f" [{r.rule} {round(r.points, 2):+g}]" if r.points else ""
        lines += wrap(f"+ {r.message}{tag}", WIDTH, "      ", "  ")
    return lines


def violation_texts(
    violations: Sequence[Violation], *, say_uncertain: bool = True
) -> list[tuple[str, str]]:
    """(message, rule ids) per line: the window and the window-with-output checks of one
    model share a line, with both numbers."""
    window = [v for v in violations if v.limit == _WINDOW and isinstance(v.required, int)]
    merged = None
    if len(window) == 2 and window[0].allowed == window[1].allowed:
        alone, total = sorted(window, key=lambda v: v.required)
        merged = (
            f"needs {alone.required:,} input tokens, {total.required:,} with the output budget;"
            f" at most {total.allowed:,} fit the context window",
            f"{alone.rule}, {total.rule}",
        )
    out: list[tuple[str, str]] = []
    for v in violations:
        if merged is not None and v in window:
            if v is window[0]:
                out.append(merged)
            continue
        maybe = "" if v.certain or not say_uncertain else " (may not fit: the count is not exact)"
        out.append((f"{v.message}{maybe}", v.rule))
    return out


def _violation_lines(violations: Sequence[Violation], indent: str = "      ") -> list[str]:
    lines = []
    for message, rules in violation_texts(violations):
        lines += wrap(f"- {message} [{rules}]", WIDTH, indent, "  ")
    return lines


def _moot(violations: Sequence[Violation]) -> Sequence[Violation]:
    """A model that cannot serve the request at all (its first violation is not a number it
    falls short of) shows only that: its other limits cannot apply."""
    first = violations[0]
    numeric = isinstance(first.required, int | float) and isinstance(first.allowed, int | float)
    return violations if numeric else violations[:1]


def _rejected_lines(rejected: Sequence[Rejection], style: Style) -> list[str]:
    out = ["", style("Not eligible", "bold")]
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for r in rejected:
        shown = _moot(r.violations)
        groups.setdefault(tuple(violation_texts(shown)), []).append(r.model)
    for texts, models in groups.items():
        name = models[0] if len(models) == 1 else f"{len(models)} models: {', '.join(models)}"
        if len(texts) == 1:
            message, rules = texts[0]
            out += wrap(f"x {name}: {message} [{rules}]", WIDTH, "  ", "    ")
            continue
        out += wrap(f"x {name}", WIDTH, "  ", "    ")
        for message, rules in texts:
            out += wrap(f"- {message} [{rules}]", WIDTH, "      ", "  ")
    return out


def _plan_lines(plan: LoadPlan, style: Style) -> list[str]:
    load = " and ".join(
        f"{value:,} {unit} per minute"
        for value, unit in ((plan.rpm, "requests"), (plan.tpm, "tokens"))
        if value
    )
    accounts = f" over {plan.accounts} accounts" if plan.accounts > 1 else ""
    out = ["", style("Load plan", "bold")]
    out += wrap(
        f"No single model takes {load}{accounts}: RPM and TPM are limits per account and per"
        " model, summed over every API key.",
        WIDTH, "  ",
    )  # fmt: skip
    if plan.split:
        head = "A split that fits, in rank order:" if plan.covers else (
            f"A split over every eligible model carries {plan.covered:.0%} of it:"
        )  # fmt: skip
        out += wrap(head, WIDTH, "  ")
        for share in plan.split:
            parts = [f"{n:,} {unit}" for n, unit in ((share.rpm, "RPM"), (share.tpm, "TPM")) if n]
            out.append(f"    {share.model:<28} {', '.join(parts)} ({share.share:.0%})")
    if plan.accounts_needed is not None:
        model, n = plan.accounts_needed
        out += wrap(f"or {n} accounts on {model} (--accounts {n}); or ask the platform for a"
                    " higher limit", WIDTH, "  ")  # fmt: skip
    return out


def render_decision(decision: Decision, style: Style, count: TokenCount | None = None) -> str:
    """The decision for people; `count` (the decision's own by default) heads it."""
    out: list[str] = []
    if decision.requested is not None:
        if decision.requested_fits:
            out.append(f"Requested: {decision.requested} (fits)")
        else:
            out.append(style(f"Requested: {decision.requested} does not fit", "bold", "red"))
            rejection = decision.rejection(decision.requested)
            if rejection is not None:
                out += _violation_lines(_moot(rejection.violations), "  ")
            if decision.model:
                out += wrap(f"the best model that fits is {decision.model}; a gateway switches"
                            " to it only when asked (fallback)", WIDTH, "  ")  # fmt: skip
    count = count or decision.traits.tokens
    if count is not None:
        out += wrap(render_count(count), WIDTH, "", "  ")
    cautions = {r.model: r.violations for r in decision.cautions}
    if decision.model:
        best = decision.ranked[0]
        out.append(
            style(f"Recommended: {best.model}", "bold", "green")
            + f"  (score {round(best.score, 2):g})"
        )
        out += _reason_lines(best.reasons)
        out += _caution_lines(cautions.get(best.model, ()))
        if len(decision.ranked) > 1:
            out += ["", style("Fallbacks, in order", "bold")]
            for k, c in enumerate(decision.ranked[1:], 2):
                out.append(f"  {k}. {c.model}  (score {round(c.score, 2):g})")
                out += _reason_lines(c.reasons)
                out += _caution_lines(cautions.get(c.model, ()))
    elif decision.plan is None or not decision.plan.covers:
        out.append(style("No eligible model.", "bold", "red"))
    if decision.plan is not None:
        out += _plan_lines(decision.plan, style)
    if decision.rejected:
        out += _rejected_lines(decision.rejected, style)
    if decision.suggestions and decision.plan is None:
        out += ["", style("What would make a model eligible", "bold")]
        for model, changes in decision.suggestions[:3]:
            out += wrap(f"{model}: {'; '.join(changes)}", WIDTH, "  ")
    while out and not out[0]:
        out.pop(0)
    return "\n".join(out) + "\n"


def _caution_lines(violations: Sequence[Violation]) -> list[str]:
    lines = []
    for message, rules in violation_texts(violations, say_uncertain=False):
        lines += wrap(f"! may not fit: {message} [{rules}]", WIDTH, "      ", "  ")
    return lines


def render_explanation(explanation: Explanation, style: Style) -> str:
    e = explanation
    out: list[str] = []
    winner = f"{e.winner} (score {round(e.winner_score or 0, 2):g})" if e.winner else None
    if e.eligible:
        total = len(e.decision.ranked)
        verdict = "chosen" if e.rank == 1 else f"eligible, ranked {e.rank} of {total}"
        out.append(style(f"{e.model}: {verdict}", "bold") + f", score {round(e.score or 0, 2):g}")
        if e.rank != 1 and winner:
            out.append(f"  the winner is {winner}")
        out += _reason_lines(e.reasons)
    else:
        out.append(style(f"{e.model}: not eligible", "bold", "red"))
        out.append(f"  the winner is {winner}" if winner else "  no model is eligible")
        out += _violation_lines(e.violations)
        fixes = [v.fix for v in e.violations if v.fix]
        if fixes and len(fixes) == len(e.violations):
            out += wrap(f"to make it eligible: {'; '.join(dict.fromkeys(fixes))}", WIDTH, "  ")
    if e.considered:
        out += ["", style("Rules that apply to this request", "bold")]
        for rule_id, kind, verdict in e.considered:
            shown = style(verdict, "red") if verdict == "violated" else verdict
            out.append(f"  {kind:<10}  {rule_id:<18}  {shown}")
    return "\n".join(out) + "\n"


# --- the catalog over time ---------------------------------------------------------------------


def notice_lines(catalog: Catalog, models: Sequence[str | None]) -> list[str]:
    """What the shipped updates say about the models an answer names, retirements first.
    For the page as captured: official retirements and deprecations since, with the way to
    today's lineup. For a day: also what third parties report, up to that day."""
    base = catalog.as_of is None
    kinds = _NOTICE_ORDER[:2] if base else _NOTICE_ORDER[:4]  # the page: what happened since
    found = [n for n in catalog.news(models) if n.kind in kinds]
    if not found:
        return []
    groups: dict[tuple[str, str, str], list[Notice]] = {}
    for n in sorted(found, key=lambda n: _NOTICE_ORDER.index(n.kind)):
        groups.setdefault((n.kind, n.date, n.update), []).append(n)
    out: list[str] = []
    for (kind, date, _), notices in groups.items():
        n, names = notices[0], [x.model for x in notices]
        who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        verb = _NOTICE_VERBS[kind][len(names) > 1]
        origin = "official" if n.official else f"unconfirmed, {n.reported_by}"
        text = f"note: {who} {verb} on {date} ({origin}: {n.source.title})"
        pairs = [(x.model, x.successor) for x in notices if x.successor]
        if len(pairs) == 1 and len(names) == 1:
            text += f"; successor {pairs[0][1]}"
        elif pairs:
            text += "; successors: " + ", ".join(f"{a} -> {b}" for a, b in pairs)
        if base and kind in ("retired", "deprecated") and date <= _today():
            text += "; for today's lineup use --as-of today"
        out += wrap(text, WIDTH, "", "  ")
    return out


_NOTICE_ORDER = ("retired", "deprecated", "retirement_reported", "deprecation_reported", "added")
_NOTICE_VERBS = {
    "retired": ("was retired", "were retired"),
    "deprecated": ("was deprecated", "were deprecated"),
    "retirement_reported": ("is reported to be retired", "are reported to be retired"),
    "deprecation_reported": ("is reported to be deprecated", "are reported to be deprecated"),
}


def _today() -> str:
    from .updates import today

    return today().isoformat()


def render_diff(diff: CatalogDiff, style: Style) -> str:
    """Every change between two days, by update file: what, to which model, and from whom."""
    since = f"after {diff.from_date}" if diff.from_date else "since the catalog's start"
    out = [style(f"Catalog changes {since}, up to {diff.to_date}", "bold")]
    if not diff.entries:
        out.append("  none")
    update = None
    for e in diff.entries:
        if e.update != update:
            update = e.update
            out += ["", *_columns(e.date, e.source.title, 12)]
        label, text = _change(e)
        text += "" if e.official else f" (unconfirmed: {e.reported_by})"
        out += _columns(label, text, 13, "  ")
    return "\n".join(out) + "\n"


def _columns(head: str, text: str, at: int, indent: str = "") -> list[str]:
    """`head` then `text` wrapped in a column starting at `at`."""
    lines = wrap(text, WIDTH - at, "")
    first = (indent + head).ljust(at)
    return [first + lines[0], *(" " * at + line for line in lines[1:])]


def _change(e: DiffEntry) -> tuple[str, str]:
    after, before = e.after, e.before
    if e.kind == "price_set":
        was = f" (was {_rates(before)})" if before is not None else ""
        return "price", f"{e.subject} {after.currency}: {_rates(after)}{was}"
    if e.kind == "price_unset":
        return "price", f"{e.subject} {before.currency}: no longer priced (was {_rates(before)})"
    if e.kind == "model_added":
        m = after
        return "added", (
            f"{m.id}: {m.series} {m.generation}, {', '.join(m.input_modalities)} in, "
            f"{', '.join(m.output_modalities)} out, {m.context_window.literal} context"
        )
    if e.kind in ("model_deprecated", "model_retired"):
        then = f"; successor {e.successor}" if e.successor else ""
        return e.kind.removeprefix("model_"), f"{e.subject}{then}"
    if e.kind in ("guide_row_added", "guide_row_changed"):
        was = f' (was "{before.requirement}")' if before is not None else ""
        return "guide", f'{e.subject}: "{after.requirement}"{was}'
    if e.kind in ("series_added", "series_changed"):
        return "series", f"{e.subject}: {after.name}, ids {after.id_pattern}"
    if e.kind == "limits_changed":
        return "limits", f"{e.subject}: {before} -> {after}"
    note = f" ({e.note})" if e.note else ""
    return "reported", f"{e.subject}: {e.kind.replace('_', ' ')}{note}"


def _rates(price: Price) -> str:
    """A price's bands in a few words, per 1M tokens."""
    bands = []
    for t in price.tiers:
        head = f"up to {t.input_up_to_literal}: " if price.tiered and t.input_up_to else ""
        cached = "" if t.cached_input is None else f" ({t.cached_input:g} cached)"
        bands.append(f"{head}{t.input:g} in{cached}, {t.output:g} out")
    return "; ".join(bands) + " per 1M"
