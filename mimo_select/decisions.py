"""What a selector answers: decisions, explanations, and the values inside them.

A `Decision` is cheap to make: `select` records masks and scores, and the texts of reasons
and violations are built only when first read, through the `Narrator` the selector hands it.
Values are immutable; a decision computes each lazy part once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from .errors import NoEligibleModelError, RequestError

if TYPE_CHECKING:
    from .rules import Constraint
    from .traits import Traits
    from .usage import Admission, AsyncLease, Lease, Refusal

__all__ = [
    "Candidate", "Decision", "Explanation", "LoadPlan", "Reason", "Rejection", "Share",
    "Violation",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a model scores what it does: the rule and its message."""

    rule: str
    message: str
    points: float = 0.0


@dataclass(frozen=True, slots=True)
class Violation:
    """A hard limit a model would break, with the numbers on both sides."""

    rule: str
    limit: str
    required: Any
    allowed: Any
    message: str
    fix: str | None = None
    certain: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "limit": self.limit,
            "required": _jsonable(self.required),
            "allowed": _jsonable(self.allowed),
            "message": self.message,
            "certain": self.certain,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str
    score: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    model: str
    violations: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class Share:
    """One model's part of a planned load: the share of the traffic and what it brings."""

    model: str
    share: float  # 0..1 of the requests
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """A planned load that no single model takes: RPM and TPM are limits per account and per
    model, so the load is split over eligible models in rank order, or over accounts."""

    rpm: int | None
    tpm: int | None
    accounts: int
    split: tuple[Share, ...]  # the models that carry it, best first
    covered: float  # the part of the load the split carries (1.0: all of it)
    accounts_needed: tuple[str, int] | None  # (the best model, accounts it needs alone)

    @property
    def covers(self) -> bool:
        return self.covered >= 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "accounts": self.accounts,
            "covers": self.covers,
            "split": [
                {"model": s.model, "share": round(s.share, 6), "rpm": s.rpm, "tpm": s.tpm}
                for s in self.split
            ],
            "accounts_needed": (
                None
                if self.accounts_needed is None
                else {"model": self.accounts_needed[0], "accounts": self.accounts_needed[1]}
            ),
        }


class Narrator(Protocol):
    """What a decision asks of its selector to tell its story, on demand."""

    ids: tuple[str, ...]

    def indices(self, mask: int) -> tuple[int, ...]: ...

    def reasons(self, traits: Traits, index: int) -> tuple[Reason, ...]: ...

    def ranked_json(
        self, traits: Traits, order: list[int], scores: list[float]
    ) -> list[dict[str, Any]]: ...

    def violation(
        self, rule: Constraint, traits: Traits, index: int, certain: bool
    ) -> Violation: ...

    def rejections_json(
        self,
        sides: Iterable[tuple[list[tuple[Constraint, int]], Traits, bool]],
        refused: Mapping[str, Violation],
    ) -> list[dict[str, Any]]: ...

    def notices(self, models: Iterable[str | None]) -> list[dict[str, Any]]: ...


class Decision:
    """The answer for one set of traits: the choice, the fallbacks, and the full story.

    `model` and `fallbacks` are computed by `select`; `ranked`, `rejected` and `suggestions`
    are built on first access from what `select` recorded.
    """

    def __init__(
        self,
        narrator: Narrator,
        traits: Traits,
        order: list[int],
        scores: list[float],
        *,
        hits: list[tuple[Constraint, int]],
        maybe: list[tuple[Constraint, int]] | None = None,
        cautions: list[tuple[Constraint, int]] | None = None,
        scored: Traits | None = None,
        requested: str | None = None,
        plan: LoadPlan | None = None,
        kept: dict[str, Any] | None = None,
    ) -> None:
        """`kept`: where JSON pieces that equal traits share are kept once built."""
        ids = narrator.ids
        self.plan = plan
        self.requested = requested
        self.requested_fits: bool | None = None
        if requested is not None:  # validate the body's own model: first if it fits
            index = ids.index(requested)
            self.requested_fits = index in order
            if self.requested_fits:
                order = [index, *(i for i in order if i != index)]
        self._narrator = narrator
        self.traits = traits
        self.model: str | None = ids[order[0]] if order else None
        self.fallbacks: tuple[str, ...] = tuple(map(ids.__getitem__, order[1:]))
        self._order = order
        self._scores = scores
        self._hits = hits  # (rule, mask of models it surely rejects), at `traits`
        self._maybe = maybe or []  # (rule, mask) it may reject, at the count's upper bound
        self._cautions = cautions or []  # the same for eligible models (not strict)
        self._scored = scored or traits  # the traits the scores were computed for
        self._kept = {} if kept is None else kept
        self.lease: Lease | AsyncLease | None = None
        self.retry_after: float | None = None
        self.refusals: tuple[Refusal, ...] = ()  # the full models the usage store passed over
        self._refused: dict[str, Violation] = {}  # model -> its live limit, with a usage store

    def _admit(self, admission: Admission[Any], window: float, unlimited: list[str]) -> None:
        """Take a usage store's answer: the admitted model leads; the full ones, and those it
        cannot count (no limit known), are rejected."""
        ids = self._narrator.ids
        self._refused = {r.model: _live_violation(r, window) for r in admission.refusals}
        for model in unlimited:
            self._refused[model] = Violation(
                "limits-live", "rpm", None, None,
                "the usage store knows no RPM or TPM limit for it (none is published, or "
                "the store's catalog lacks the model), so it cannot count it",
                f"give the store the limits, limits={{{model!r}: {{'rpm': N, 'tpm': N}}}}, "
                "or the selector's catalog, catalog=selector.catalog",
            )  # fmt: skip
        counted = [i for i in self._order if ids[i] not in unlimited]
        order = counted[len(admission.refusals) :] if admission.model is not None else []
        self._order = order
        self.model = ids[order[0]] if order else None
        self.fallbacks = tuple(map(ids.__getitem__, order[1:]))
        self.lease = admission.lease
        self.retry_after = admission.retry_after
        self.refusals = admission.refusals
        if self.requested in self._refused:
            self.requested_fits = False
        for name in ("ranked", "rejected", "suggestions"):
            self.__dict__.pop(name, None)

    def __repr__(self) -> str:
        return f"<Decision model={self.model!r} fallbacks={list(self.fallbacks)}>"

    def apply(self, body: Mapping[str, Any], *, fallback: bool = False) -> dict[str, Any]:
        """A new body with `model` set to the choice. The original is not changed and nothing
        in it is copied: the new body shares its messages and payloads.

        A body that names a model keeps it. When that model does not fit, the body is switched
        to the choice only with `fallback=True`; otherwise `NoEligibleModelError` says why.
        """
        if not isinstance(body, Mapping):
            raise RequestError(f"a request body is a JSON object, not {type(body).__name__}",
                               where="$")  # fmt: skip
        if self.requested is not None and not self.requested_fits and not fallback:
            why = self.rejection(self.requested)
            reason = why.violations[0].message if why and why.violations else "it is rejected"
            then = (
                f"; {self.model} fits: apply(body, fallback=True) switches to it"
                if self.model
                else "; no other model fits either"
            )
            raise NoEligibleModelError(
                f"the request asks for {self.requested}, which does not fit ({reason}){then}",
                where="$.model",
            )
        if self.model is None:
            raise NoEligibleModelError(
                "no model is eligible for this request; see the decision's rejections",
                where="$.model",
            )
        return {**body, "model": self.model}

    @property
    def ok(self) -> bool:
        return self.model is not None

    @cached_property
    def ranked(self) -> tuple[Candidate, ...]:
        """Every eligible model, best first; after the first, the fallback order."""
        n = self._narrator
        return tuple(
            Candidate(n.ids[i], round(self._scores[i], 6), n.reasons(self._scored, i))
            for i in self._order
        )

    @cached_property
    def rejected(self) -> tuple[Rejection, ...]:
        """Every ineligible model, in catalog order, with the limits it violates."""
        n = self._narrator
        per_model: dict[int, list[Violation]] = {}
        for hits, traits, certain in ((self._hits, self.traits, True),
                                      (self._maybe, self._high, False)):  # fmt: skip
            for rule, mask in hits:
                for i in n.indices(mask):
                    per_model.setdefault(i, []).append(n.violation(rule, traits, i, certain))
        for model, violation in self._refused.items():
            per_model.setdefault(n.ids.index(model), []).append(violation)
        return tuple(Rejection(n.ids[i], tuple(per_model[i])) for i in sorted(per_model))

    @cached_property
    def cautions(self) -> tuple[Rejection, ...]:
        """Eligible models whose limits the request may break: the count is uncertain (media
        of unknown size) and only its upper bound breaks them. `unknowns` says how to settle."""
        n = self._narrator
        per_model: dict[int, list[Violation]] = {}
        for rule, mask in self._cautions:
            for i in n.indices(mask):
                per_model.setdefault(i, []).append(n.violation(rule, self._high, i, False))
        return tuple(Rejection(n.ids[i], tuple(per_model[i])) for i in sorted(per_model))

    @cached_property
    def _high(self) -> Traits:
        """The traits at the count's upper bound, where an uncertain limit is judged."""
        top = self.traits.input_tokens_max
        return self.traits if top is None else self.traits.at_input(top)

    @property
    def unknowns(self) -> tuple[str, ...]:
        """What the count does not know, and how to settle it."""
        count = self.traits.tokens
        return tuple(count.notes) if count is not None and not count.exact else ()

    def rejection(self, model: str) -> Rejection | None:
        """`model`'s rejection, or None when it is eligible; builds only that model's texts."""
        if "rejected" in self.__dict__:
            return next((r for r in self.rejected if r.model == model), None)
        n = self._narrator
        index = n.ids.index(model)
        sides = ((self._hits, self.traits, True), (self._maybe, self._high, False))
        violations = [
            n.violation(rule, traits, index, certain)
            for hits, traits, certain in sides
            for rule, mask in hits
            if mask >> index & 1
        ]
        if model in self._refused:
            violations.append(self._refused[model])
        return Rejection(model, tuple(violations)) if violations else None

    @cached_property
    def suggestions(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """When nothing is eligible: per model, the changes that would make it eligible.

        Models needing the fewest changes come first.
        """
        if self.model is not None:
            return ()
        complete = [
            (r.model, tuple(dict.fromkeys(v.fix for v in r.violations if v.fix)))
            for r in self.rejected
            if all(v.fix for v in r.violations)
        ]
        return tuple(sorted(complete, key=lambda o: len(o[1])))

    def to_json(self, *, exact_count: bool = False) -> dict[str, Any]:
        """The stable JSON contract (`mimo-select schema decision`).

        `tokens` is the count the decision rests on: a UTF-8 bound when that settled it. With
        `exact_count` it is counted with the tokenizer first (as the CLI reports it), and
        `decided_on` keeps the interval the decision used.
        """
        fresh: dict[str, Any] = _fresh(self.shared_json(exact_count=exact_count))
        return fresh

    # the keys of `to_json`, in its order; those after `traits` appear only when they apply
    FIELDS = ("model", "fallbacks", "ranked", "rejected", "traits", "tokens", "requested",
              "notices", "cautions", "plan", "lease", "retry_after", "suggestions")  # fmt: skip

    def shared_json(
        self, *, exact_count: bool = False, fields: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """`to_json`, built from pieces the selector remembers across decisions (texts,
        costs, notices) and shares: for writing out at once, never for changing. The top
        level and `lease` are this decision's own. `fields` (names from `FIELDS`) keeps only
        those keys, and builds only those: a gateway that needs the model and its fallbacks
        does not pay for the reasons."""
        want = _ALL if fields is None else fields
        n = self._narrator
        out: dict[str, Any] = {}
        if "model" in want:
            out["model"] = self.model
        if "fallbacks" in want:
            out["fallbacks"] = list(self.fallbacks)
        if "ranked" in want:
            out["ranked"] = n.ranked_json(self._scored, self._order, self._scores)
        if "rejected" in want:
            if self._refused:  # the live limits' refusals are this decision's own
                out["rejected"] = self._rejected_json()
            else:
                out["rejected"] = self._shared("rejected", self._rejected_json)
        if "traits" in want:
            out["traits"] = self._shared("traits", self.traits.to_json)
        count = self.traits.tokens
        if count is not None and "tokens" in want:
            if exact_count and count.refine is not None:
                out["tokens"] = {**count.refine().to_json(),
                                 "decided_on": [count.lower_bound, count.upper_bound]}  # fmt: skip
            else:
                out["tokens"] = self._shared("tokens", count.to_json)
        if self.requested is not None and "requested" in want:
            out["requested"] = {"model": self.requested, "fits": self.requested_fits}
        if "notices" in want:
            notices = n.notices((self.requested, self.model, *self.fallbacks))
            if notices:
                out["notices"] = notices
        if self._cautions and "cautions" in want:
            out["cautions"] = n.rejections_json([(self._cautions, self._high, False)], {})
        if self.plan is not None and "plan" in want:
            out["plan"] = self.plan.to_json()
        if self.lease is not None and "lease" in want:
            lease = self.lease
            out["lease"] = {"id": lease.id, "model": lease.model, "account": lease.account,
                            "tokens": lease.tokens, "source": lease.source}  # fmt: skip
        if self.retry_after is not None and "retry_after" in want:
            out["retry_after"] = round(self.retry_after, 3)
        if self.model is None and "suggestions" in want:
            out["suggestions"] = [
                {"model": model, "changes": list(changes)} for model, changes in self.suggestions
            ]
        return out

    def _shared(self, name: str, make: Callable[[], Any]) -> Any:
        """A JSON piece that every decision of equal traits shares, made once."""
        kept = self._kept
        found = kept.get(name)
        if found is None:
            found = kept[name] = make()
        return found

    def _rejected_json(self) -> list[dict[str, Any]]:
        sides = [(self._hits, self.traits, True)]
        if self._maybe:
            sides.append((self._maybe, self._high, False))
        return self._narrator.rejections_json(sides, self._refused)


@dataclass(frozen=True)
class Explanation:
    """Why one model ranks where it does, or is rejected, next to the winner."""

    model: str
    decision: Decision
    eligible: bool
    rank: int | None  # 1-based among eligible models
    score: float | None
    reasons: tuple[Reason, ...]
    violations: tuple[Violation, ...]
    considered: tuple[tuple[str, str, str], ...]  # (rule id, kind, verdict) per rule that applies

    @property
    def winner(self) -> str | None:
        return self.decision.model

    @property
    def winner_score(self) -> float | None:
        ranked = self.decision.ranked
        return ranked[0].score if ranked else None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "eligible": self.eligible,
            "rank": self.rank,
            "score": self.score,
            "winner": self.winner,
            "winner_score": self.winner_score,
            "reasons": [{"rule": r.rule, "message": r.message} for r in self.reasons],
            "violations": [v.to_json() for v in self.violations],
            "rules": [
                {"rule": rid, "type": kind, "verdict": verdict}
                for rid, kind, verdict in self.considered
            ],
            "traits": self.decision.traits.to_json(),
        }


_LIVE_UNITS = {"rpm": "requests", "tpm": "tokens"}


def _live_violation(refusal: Refusal, window: float) -> Violation:
    """A usage store's refusal as a violation: the window's numbers and when it frees."""
    r, unit = refusal, _LIVE_UNITS.get(refusal.limit)
    frees = f"frees in {r.frees_in:.1f} s"
    fix: str | None = f"wait {r.frees_in:.1f} s (retry_after)"
    if r.frees_in == float("inf"):
        message = (f"needs {r.needed:,} tokens, more than its TPM limit of {r.allowed:,}: "
                   "it can never fit")  # fmt: skip
        fix = "lower max_tokens or split the input"
    elif unit is None:
        message = f"cooling down after a 429 from the platform; {frees}"
    elif r.limit == "rpm":
        message = f"{r.used:,} of {r.allowed:,} requests in the last {window:g} s; {frees}"
    else:
        message = (f"needs {r.needed:,} tokens; {r.used:,} of {r.allowed:,} used in the last "
                   f"{window:g} s; {frees}")  # fmt: skip
    return Violation(f"{r.limit}-live", r.limit, r.needed, r.allowed - r.used if unit else 0,
                     message, fix)  # fmt: skip


_ALL = frozenset(Decision.FIELDS)


def _fresh(value: Any) -> Any:
    """A copy of JSON's containers (dicts and lists); texts and numbers are immutable."""
    kind = type(value)
    if kind is dict:
        return {key: _fresh(item) for key, item in value.items()}
    if kind is list:
        return [_fresh(item) for item in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value
