"""The selector: traits in, a ranked decision out, with reasons and violated limits.

A `Selector` is built once (catalog loaded, rules layered and compiled) and is immutable, so
one instance serves every thread. `select` evaluates only what depends on the traits; the
texts of reasons and violations are built when first read, not on the routing path.
"""

from __future__ import annotations

import inspect
import math
import string
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache, lru_cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._expr import CONST, Node, input_thresholds
from ._masks import bit_indices, compile_mask
from .catalog import AsOf, Catalog, load_catalog
from .costs import DEFAULT_CURRENCY
from .decisions import Decision, Explanation, LoadPlan, Reason, Share, Violation
from .errors import TraitsError, UnknownModelError, UsageValueError
from .media import MediaSizes
from .requests import Request, read_request
from .rules import (
    COST_PLACEHOLDERS,
    GUIDE_PLACEHOLDERS,
    CompiledRules,
    Constraint,
    Preference,
    compile_rules,
    load_rules,
    with_settings,
)
from .traits import CATEGORICAL, UNBOUNDED, Traits

if TYPE_CHECKING:
    from .usage import AsyncRedisUsage, MemoryUsage, RedisUsage

    UsageStore = MemoryUsage | RedisUsage

__all__ = ["Selector"]


class Selector:
    """A catalog and compiled rules. Immutable after construction; safe to share."""

    def __init__(self, catalog: Catalog, rules: CompiledRules) -> None:
        self.catalog = catalog
        self.rules = rules
        self._n = len(catalog.models)
        self._ids = frozenset(catalog.ids)
        self._scenarios = frozenset(g.scenario for g in catalog.guide)
        self._constraints = rules.constraints
        self._full = (1 << self._n) - 1
        self._bits = bit_indices(self._n)
        self._checks = tuple(
            (
                rule,
                compile_mask(rule.when, self._n)[0] if rule.when else None,
                compile_mask(rule.check, self._n)[0],
            )
            for rule in rules.constraints
        )
        # rules that read only traits holding no number: their verdicts are remembered per
        # kind of request (those traits' values); the others are evaluated every time
        kinds = [_kind_fields(rule) for rule in rules.constraints]
        paired = list(zip(self._checks, kinds, strict=True))
        self._kind_checks = tuple(c for c, k in paired if k is not None)
        self._live_checks = tuple(c for c, k in paired if k is None)
        read = sorted(set().union(*(k for k in kinds if k is not None)))
        self._kind_of: Any = attrgetter(*read) if read else (lambda traits: None)
        self._rule_order = {rule.id: i for i, rule in enumerate(rules.constraints)}
        self._kind_hits: dict[Any, list[tuple[Constraint, int]]] = {}
        self._decided: dict[Any, _Decided | None] = {}  # by traits every rule reads alike
        base = [0.0] * self._n
        scorers = []
        dynamic: list[Preference] = []
        masks = [compile_mask(pref.when, self._n) for pref in rules.preferences]
        for position, pref in enumerate(rules.preferences):
            if pref.weight == 0:  # a note for the reasons: it cannot move a score
                continue
            fixed = _catalog_fixed(pref, masks[position])
            if fixed is not None:  # fixed by the catalog: summed once
                for i, points in _points(pref.weight, *fixed, self._bits):
                    base[i] += points
                continue
            score = pref.score or Node(CONST, 1.0, "number")
            scorers.append((pref.weight, masks[position][0], score.getter(), position))
            dynamic.append(pref)
        self._narrator = _Narrator(
            catalog, rules, self._bits, masks, frozenset(s[3] for s in scorers)
        )
        self._base_scores = tuple(base)
        self._scorers = tuple(scorers)
        self._input_range = _input_range(rules)
        token_rules = {p.id for p in rules.preferences if p.uses_tokens}
        token_rules |= {c.id for c in rules.constraints if c.uses_tokens}
        self._token_checks = tuple(c for c in self._checks if c[0].id in token_rules)
        self._token_scorers = tuple(s for s, pref in zip(scorers, dynamic, strict=True)
                                    if pref.id in token_rules)  # fmt: skip
        self._fixed_scorers = tuple(s for s, pref in zip(scorers, dynamic, strict=True)
                                    if pref.id not in token_rules)  # fmt: skip

    @classmethod
    def default(cls, *, as_of: AsOf | None = None) -> Selector:
        """The bundled catalog and rules, built once per process (and per `as_of` day)."""
        return _default_selector(None if as_of is None else _day(as_of))

    @classmethod
    def from_files(
        cls,
        catalog: str | Path | None = None,
        rules: Iterable[str | Path] = (),
        *,
        default_rules: bool = True,
        settings: Mapping[str, float] | None = None,
        as_of: AsOf | None = None,
    ) -> Selector:
        """A selector over `catalog` (the bundled one by default) with `rules` layered on the
        bundled defaults (or alone, with `default_rules=False`), and `settings` overriding
        the rules' settings by name (say `{"context_margin": 0.05}`).

        `as_of` (a date, an ISO date or "today") applies the catalog's dated updates up to
        that day: added and retired models, limits, guide wording, prices. Without it, the
        catalog is its file as it stands (the model page on its snapshot day).
        """
        if catalog is None and not rules and default_rules and not settings:
            return cls.default(as_of=as_of)
        loaded = load_catalog(catalog, as_of=as_of)
        ruleset = load_rules(rules, defaults=default_rules)
        if settings:
            ruleset = with_settings(ruleset, settings)
        return cls(loaded, compile_rules(ruleset, loaded))

    # --- the three levels of answer ------------------------------------------------------

    def read(
        self,
        data: Any,
        *,
        api: str = "auto",
        model: str | None = None,
        exact: bool = False,
        media_sizes: MediaSizes | None = None,
    ) -> Request:
        """Read a request body, a messages list, a prompt or text with this selector's catalog
        (see `read_request`): the one reading every entry point shares."""
        return read_request(
            data, self.catalog, api=api, model=model, exact=exact, media_sizes=media_sizes
        )

    def route(
        self,
        body: Mapping[str, Any],
        *,
        api: str = "auto",
        strict: bool = False,
        media_sizes: MediaSizes | None = None,
        usage: UsageStore | None = None,
    ) -> Decision:
        """Decide for an OpenAI- or Anthropic-compatible request body.

        A concrete `model` in the body is validated: it comes first when it fits, and the
        decision says whether it does (`requested_fits`) and which model would otherwise.
        `auto` or no model means choose. With `usage`, see `select`. Raises only
        `MimoSelectError` subclasses.
        """
        request = read_request(body, self.catalog, api=api, media_sizes=media_sizes)
        return self.select(request.traits, model=request.model, strict=strict, usage=usage)

    async def aroute(
        self,
        body: Mapping[str, Any],
        *,
        api: str = "auto",
        strict: bool = False,
        media_sizes: MediaSizes | None = None,
        usage: UsageStore | AsyncRedisUsage | None = None,
    ) -> Decision:
        """`route` for asyncio: with an `AsyncRedisUsage` the round trip is awaited."""
        request = read_request(body, self.catalog, api=api, media_sizes=media_sizes)
        return await self.aselect(request.traits, model=request.model, strict=strict, usage=usage)

    def select(
        self,
        traits: Traits,
        *,
        model: str | None = None,
        strict: bool = False,
        usage: UsageStore | None = None,
    ) -> Decision:
        """Rank every eligible model for `traits`; never raises for "nothing fits".

        With `usage` (a `MemoryUsage` or `RedisUsage`), the ranked models are offered to the
        store in order and the first whose RPM and TPM have room is chosen and counted in the
        same atomic step: `decision.lease` holds the reservation (the input count plus the
        output budget: `max_output_tokens`, else the model's maximum output), models that are
        full are rejected under `rpm-live`, `tpm-live` or `cooldown-live`, and when all are
        full `decision.retry_after` says in how many seconds the first one frees.

        With an inexact input count (an interval), limits are checked at both ends. A model
        that fails at the low end is rejected. When one fails only at the high end and the
        count can be refined (a byte bound over text), the text is tokenized and the decision
        made again; preferences go by the count's estimate. What stays
        uncertain (media of unknown size) never rejects by itself: such a model stays eligible
        and the decision lists the limit it may break (`cautions`) and what is unknown; with
        `strict` it is rejected, its violation marked `certain=False`.
        """
        decision = self._decide(traits, model, strict)
        if usage is not None and decision._order:
            candidates, unlimited = self._reservations(decision, usage)
            admission = usage.admit(candidates)
            if inspect.isawaitable(admission):
                _close(admission)
                raise UsageValueError(
                    f"{type(usage).__name__} admits in a coroutine: use "
                    "`await selector.aselect(...)` or `aroute(...)`",
                    where="usage",
                )
            decision._admit(admission, usage.window, unlimited)
        return decision

    async def aselect(
        self,
        traits: Traits,
        *,
        model: str | None = None,
        strict: bool = False,
        usage: UsageStore | AsyncRedisUsage | None = None,
    ) -> Decision:
        """`select` for asyncio: with an `AsyncRedisUsage` the round trip is awaited (the
        decision itself never blocks)."""
        decision = self._decide(traits, model, strict)
        if usage is not None and decision._order:
            candidates, unlimited = self._reservations(decision, usage)
            from .usage import awaited  # the store's module, only for a store

            admission = await awaited(usage.admit(candidates))
            decision._admit(admission, usage.window, unlimited)
        return decision

    def _reservations(
        self, decision: Decision, usage: Any
    ) -> tuple[list[tuple[str, int]], list[str]]:
        """(model id, tokens to reserve) for every eligible model in rank order whose limits
        the store knows; and the ones it cannot count (no published limit, none given)."""
        traits = decision.traits
        needed = _reserved_input(traits)
        budget = traits.max_output_tokens
        candidates, unlimited = [], []
        for m in map(self.catalog.models.__getitem__, decision._order):
            if usage.limited(m.id):
                candidates.append((m.id, needed + (m.max_output.tokens if budget is None
                                                   else budget)))  # fmt: skip
            else:
                unlimited.append(m.id)
        return candidates, unlimited

    def _decide(self, traits: Traits, model: str | None, strict: bool) -> Decision:
        self._check(traits)
        if model is not None:
            self._index(model)
        if traits.scenario is not None:
            traits = self.rules.guide.with_implied(traits)
        key, known = self._recall(traits, strict)
        if known is not None:
            return known.decision(self._narrator, traits, model)
        hits = self._all_hits(traits)
        if traits.input_tokens_max is not None and not self._between_thresholds(traits):
            high = traits.at_input(traits.input_tokens_max)  # rules read input_tokens
            high_hits = self._hits(high, self._token_checks)
            if not self._settled(traits, hits, high, high_hits):
                return self._select_interval(
                    traits, model, strict, key, low_hits=hits, high=high, high_only=high_hits
                )
        rejected = 0
        for _, mask in hits:
            rejected |= mask
        seen: list[Any] = []
        scores = self._scores(traits, self._scorers, self._base_scores, seen)
        order = list(self._bits[self._full & ~rejected])
        order.sort(key=lambda i: -scores[i])  # stable: ties keep catalog order
        plan = None if order else self._plan(traits, hits, scores)
        kept = _Decided(order, scores, hits, traits, seen, plan=plan)
        self._remember(key, kept)
        return kept.decision(self._narrator, traits, model, traits)

    def _recall(self, traits: Traits, strict: bool) -> tuple[Any, _Decided | None]:
        """(the key to remember this decision by, or None; what was decided for traits that
        every rule reads alike, or None). A decision is remembered from the second time its
        traits are seen; the first time only the key is noted, so that traits never seen
        again cost little."""
        key, known = _look_up(self._decided, (strict, *traits._decision_key()), _UNSEEN)
        if known is _UNSEEN:  # (or a trait value that cannot be a key: decide every time)
            self._remember(key, None)
            return None, None
        return key, known

    def _remember(self, key: Any, decided: _Decided | None) -> None:
        """Remember what was decided for traits that every rule reads alike (a decision that
        counted exactly is remembered under the exact count instead)."""
        if key is None:
            return
        if decided is not None:  # kept for later requests: without this one's text
            decided.scored = decided.scored._without_text()
        _put(self._decided, key, decided, _DECISIONS)

    def _plan(
        self, traits: Traits, hits: list[tuple[Constraint, int]], scores: list[float]
    ) -> LoadPlan | None:
        """When only load limits (constraints on `rpm` or `tpm`, which are per account and
        per model) keep every model out: split the load over those models, best first, and
        say how many accounts the best one would need alone."""
        rpm, tpm = traits.expected_rpm, traits.expected_tpm
        if not rpm and not tpm:
            return None
        load = other = 0
        for rule, mask in hits:
            if rule.limit in _LOAD_LIMITS:
                load |= mask
            else:
                other |= mask
        capped = sorted(self._bits[load & ~other], key=lambda i: -scores[i])
        accounts, models = traits.accounts, self.catalog.models
        split: list[Share] = []
        covered = 0.0
        for i in capped:
            m = models[i]
            room = [limit * accounts / need for limit, need in ((m.rpm, rpm), (m.tpm, tpm))
                    if need and limit is not None]  # fmt: skip
            if not room or (rpm and m.rpm is None) or (tpm and m.tpm is None):
                continue  # no published limit: no share can be planned on it
            share = min(*room, 1.0 - covered)
            if share <= 0:
                break
            split.append(Share(m.id, share, _part(rpm, share), _part(tpm, share)))
            covered += share
        needed = None
        if capped:
            best = models[capped[0]]
            alone = [need / limit for limit, need in ((best.rpm, rpm), (best.tpm, tpm))
                     if need and limit]  # fmt: skip
            needed = (best.id, math.ceil(max(alone))) if alone else None
        if not split and needed is None:
            return None
        return LoadPlan(rpm, tpm, accounts, tuple(split), min(covered, 1.0), needed)

    def _all_hits(self, traits: Traits) -> list[tuple[Constraint, int]]:
        """`_hits` of every rule, in rule order; the verdicts of the rules that read no
        number come from the last request of the same kind."""
        memo = self._kind_hits
        key = self._kind_of(traits)
        known = memo.get(key)
        if known is None:
            known = _put(memo, key, self._hits(traits, self._kind_checks), _KINDS)
        live = self._hits(traits, self._live_checks)
        if not live:
            return list(known)
        hits = known + live
        if known:
            hits.sort(key=lambda hit: self._rule_order[hit[0].id])
        return hits

    def _hits(self, traits: Traits, checks: Any) -> list[tuple[Constraint, int]]:
        """(rule, mask of the models it rejects) for every rule in `checks` that rejects any."""
        full = self._full
        hits = []
        for rule, guard, check in checks:
            applies = guard(traits)[0] if guard is not None else full
            if applies:
                bad = check(traits)[1] & applies
                if bad:
                    hits.append((rule, bad))
        return hits

    def _scores(
        self, traits: Traits, scorers: Any, base: Any, seen: list[Any] | None = None
    ) -> list[float]:
        """Each model's points; `seen` gets (preference position, mask, score) of each
        preference that applies, for the narrator to reuse."""
        scores = list(base)
        bits = self._bits
        for weight, when, score, position in scorers:
            applies = when(traits)[0]
            if applies:
                value = score(traits)
                if seen is not None:
                    seen.append((position, applies, value))
                for i, points in _points(weight, applies, value, bits):
                    scores[i] += points
        return scores

    def _between_thresholds(self, traits: Traits) -> bool:
        """Whether the count's whole interval lies below every number the rules compare it
        with, or above them all: then no rule can answer differently across it."""
        if self._input_range is None:
            return False
        low, high = self._input_range
        budget = traits.max_output_tokens or 0
        assert traits.input_tokens is not None
        assert traits.input_tokens_max is not None
        return traits.input_tokens_max + budget < low or traits.input_tokens > high

    def _settled(self, traits: Traits, hits: _Hits, high: Traits, high_hits: _Hits) -> bool:
        """Whether the rules over the input count answer the same at both ends of its
        interval (`hits` being every rule's answer at the low end, `high_hits` the token
        rules' at the high end): then the count's inexactness cannot change the decision."""
        low_hits = [(r.id, m) for r, m in hits if r.uses_tokens]
        if low_hits != [(r.id, m) for r, m in high_hits]:
            return False
        zeros = (0.0,) * self._n
        return self._scores(traits, self._token_scorers, zeros) == self._scores(
            high, self._token_scorers, zeros
        )

    def _select_interval(
        self,
        traits: Traits,
        model: str | None,
        strict: bool,
        key: Any,
        *,
        low_hits: _Hits,
        high: Traits,
        high_only: _Hits,
    ) -> Decision:
        """Hard rules over the input count are evaluated at both ends of its interval
        (`low_hits` at `traits`, `high_only` the token rules' at `high`), the others once;
        preferences are scored at the count's estimate. `key`: what it is remembered by."""
        assert traits.input_tokens is not None
        assert traits.input_tokens_max is not None
        low = traits
        low_by_rule = {rule.id: mask for rule, mask in low_hits}
        certain = maybe = 0
        for _, mask in low_hits:
            certain |= mask
        extra = [(r, m & ~low_by_rule.get(r.id, 0)) for r, m in high_only]
        extra = [(r, m) for r, m in extra if m]
        for _, mask in extra:
            maybe |= mask
        maybe &= ~certain
        seen: list[Any] = []  # the fixed ones read no count: the same at low as at guess
        fixed = self._scores(low, self._fixed_scorers, self._base_scores, seen)
        eligible = self._full & ~certain
        count = traits.tokens
        if maybe and count is not None and count.refine is not None:
            # a hard limit inside the interval: count exactly (the count remembers what it has
            # seen, so a conversation that grew by a message costs that message)
            return self._decide(traits.with_count(count.refine()), model, strict)
        # preferences go by the estimate: a threshold inside the interval is no reason to count
        estimate = count.tokens if count is not None else traits.input_tokens
        guess = traits.at_input(
            min(max(estimate, traits.input_tokens), traits.input_tokens_max), estimate=True
        )
        scores = self._scores(guess, self._token_scorers, fixed, seen)
        if strict:  # fail closed: what may break a limit is rejected
            eligible &= ~maybe
        order = list(self._bits[eligible])
        order.sort(key=lambda i: -scores[i])
        cautions = [] if strict else [(r, m & eligible) for r, m in extra if m & eligible]
        plan = None if order else self._plan(traits, low_hits, scores)
        kept = _Decided(order, scores, low_hits, guess, seen, plan=plan,
                        maybe=extra if strict else None, cautions=cautions)  # fmt: skip
        self._remember(key, kept)
        return kept.decision(self._narrator, traits, model, guess)

    def fits(self, model_id: str, traits: Traits, *, strict: bool = False) -> bool:
        """Whether `model_id` breaks no hard rule for `traits` (with an uncertain count: none
        it surely breaks, or with `strict` none it may break)."""
        index = self._index(model_id)
        self._check(traits)
        if traits.input_tokens_max is not None or traits.scenario is not None:
            decision = self.select(traits, strict=strict)
            return model_id == decision.model or model_id in decision.fallbacks
        return not any(index in _violators(rule, traits, self._n) for rule in self._constraints)

    def explain(self, model_id: str, traits: Traits, *, strict: bool = False) -> Explanation:
        """The full story for one model: its rank or its violations, next to the winner, and
        the verdict of every rule that applies to this request (the others are left out)."""
        index = self._index(model_id)
        decision = self.select(traits, strict=strict)
        rejection = decision.rejection(model_id)
        caution = next((r for r in decision.cautions if r.model == model_id), None)
        rank = next((k for k, c in enumerate(decision.ranked, 1) if c.model == model_id), None)
        considered: list[tuple[str, str, str]] = []
        violated = {v.rule: v.certain for v in rejection.violations} if rejection else {}
        maybe = {v.rule for v in caution.violations} if caution else set()
        for rule in self._constraints:
            if rule.id in violated:
                verdict = "violated" if violated[rule.id] else "may break (uncertain count)"
            elif rule.id in maybe:
                verdict = "may break (uncertain count)"
            elif _applies(rule, decision.traits, index):
                verdict = "passes"
            else:
                continue
            considered.append((rule.id, "constraint", verdict))
        reasons = next((c.reasons for c in decision.ranked if c.model == model_id), None)
        if reasons is None:
            reasons = self._narrator.reasons(decision._scored, index)
        for reason in reasons:
            if reason.points:
                considered.append((reason.rule, "preference", f"adds {round(reason.points, 2):+g}"))
        return Explanation(
            model=model_id,
            decision=decision,
            eligible=rejection is None,
            rank=rank,
            score=decision.ranked[rank - 1].score if rank else None,
            reasons=reasons,
            violations=rejection.violations if rejection else (),
            considered=tuple(considered),
        )

    # --- helpers -------------------------------------------------------------------------

    def _index(self, model_id: str) -> int:
        if type(model_id) is not str:
            raise TraitsError(f"a model id is text, not {model_id!r}", where="model")
        try:
            return self.catalog.ids.index(model_id)
        except ValueError:
            raise UnknownModelError(model_id, self.catalog.ids) from None

    def _check(self, traits: Traits) -> None:
        """Names that only the catalog can judge: scenario and model ids."""
        if type(traits) is not Traits and not isinstance(traits, Traits):
            raise TraitsError(f"expected Traits, got {type(traits).__name__}", where="traits")
        if traits.scenario is not None and traits.scenario not in self._scenarios:
            self.catalog.scenario(traits.scenario)  # raises with a suggestion
        allow, deny = traits.allow, traits.deny
        for name, ids in (("allow", allow), ("deny", deny)) if allow or deny else ():
            if ids and not ids <= self._ids:
                bad = sorted(ids - self._ids)[0]
                raise UnknownModelError(bad, self.catalog.ids, where=name)


class _Narrator:
    """The texts of a decision (reasons, violations), built when a decision is first read.

    A text depends on its rule, its model and only a few values of the request (the numbers
    on both sides of a limit, the cost basis, the guide row), so texts and their JSON are
    remembered by exactly those: two requests that differ in length share every text that
    does not quote the length.
    """

    def __init__(
        self,
        catalog: Catalog,
        rules: CompiledRules,
        indices: Any,
        masks: list[tuple[Any, Any]],
        scored_by_select: frozenset[int],
    ) -> None:
        """`masks`: each preference's compiled `when`; `scored_by_select`: the positions of
        those `select` evaluates (and hands over through `prime`)."""
        self._catalog = catalog
        self._rules = rules
        self._costs = rules.costs
        self.ids = catalog.ids
        self.indices = indices.__getitem__
        self._last: tuple[Any, Any] = (None, None)
        prefs = rules.preferences
        self._whens = tuple(
            (p, mask[0], _quotes(p.message)) for p, mask in zip(prefs, masks, strict=True)
        )
        # what the catalog alone fixes, and what `select` evaluates: both known without
        # evaluating for a primed decision
        fixed = {i: _catalog_fixed(p, masks[i]) for i, p in enumerate(prefs)}
        # (position, mask, score) of those the catalog alone fixes and that apply
        self._fixed_entries = tuple((i, *f) for i, f in fixed.items() if f is not None and f[0])
        self._varying = tuple(i for i, f in fixed.items() if f is None)
        self._unscored = tuple(i for i in self._varying if i not in scored_by_select)
        self._primed: tuple[Any, list[Any], dict[str, Any]] = (None, [], {})
        self._quoted = {c.id: _quotes(c.message, c.fix) for c in rules.constraints}
        self._memo: dict[Any, Any] = {}

    def _remember(self, key: Any, value: Any) -> Any:
        return _put(self._memo, key, value, _MEMO_ENTRIES)

    def notices(self, models: Iterable[str | None]) -> list[dict[str, Any]]:
        """The latest news of each named model from the catalog's update files, as JSON."""
        key = ("notices", *models)
        found = self._memo.get(key)
        if found is None:
            found = self._remember(key, [n.to_json() for n in self._catalog.news(key[1:])])
        return found  # type: ignore[no-any-return]

    def estimate(self, traits: Traits, index: int) -> dict[str, Any] | None:
        key = ("cost", index, self._costs.basis(traits))
        memo = self._memo
        if key in memo:
            return memo[key]  # type: ignore[no-any-return]
        found = self._costs.estimates(traits)[index]
        return self._remember(key, None if found is None else found.to_json())  # type: ignore[no-any-return]

    def prime(self, traits: Traits, seen: list[Any], kept: dict[str, Any]) -> None:
        """What `select` evaluated for these traits: the plan of their reasons, if read,
        starts from it, and is kept in `kept` for every decision of equal traits (one slot,
        the last decision's; replaced whole)."""
        self._primed = (traits, seen, kept)

    def _preferences(self, traits: Traits) -> _Plan:
        """The preferences that apply to a decision's traits (each with the mask of its
        models, its score and what its text quotes) and a key for all that the reasons of
        one model can depend on: evaluated once, as a decision's reasons are read model
        after model."""
        last = self._last
        if last[0] is traits:
            return last[1]  # type: ignore[no-any-return]
        entries = list(self._fixed_entries)
        primed = self._primed
        kept = None
        if primed[0] is traits:  # what select scored, it handed over
            kept = primed[2]
            plan = kept.get("reasons")
            if plan is not None:
                self._last = (traits, plan)
                return plan  # type: ignore[no-any-return]
            entries += primed[1]
            unknown = self._unscored
        else:
            unknown = self._varying
        whens = self._whens
        for position in unknown:
            pref, when, _ = whens[position]
            applies = when(traits)[0]
            if applies:
                entries.append((position, applies, _score_value(pref, traits)))
        entries.sort(key=_first)
        found = []
        key: list[Any] = ["reasons"]
        quotes_cost = quotes_guide = False
        for position, applies, score in entries:
            pref, _, (cost, guide) = whens[position]
            per_model = isinstance(score, list | tuple)
            found.append((pref, applies, score, per_model, cost, guide))
            key.append((pref.id, applies, tuple(score) if per_model else score))
            quotes_cost |= cost
            quotes_guide |= guide
        basis = self._costs.basis(traits)
        if quotes_cost:
            key.append(basis)
        if quotes_guide:
            rows = self._rules.guide.in_force(traits)
            key.append((traits.scenario, *(r.scenario for r in rows)))
        plan = _Plan(found, _Key.of(tuple(key)), basis)
        self._last = (traits, plan)  # one pair, replaced whole: safe to share
        if kept is not None:
            kept["reasons"] = plan
        return plan

    def _scored(self, traits: Traits, index: int) -> list[tuple[float, str, tuple[str, Any]]]:
        """(points, rule, (message, its JSON)) of every preference that moves the model's
        score, most points first."""
        memo = self._memo
        found = []
        plan = self._preferences(traits)
        basis = plan.basis
        for pref, applies, score, per_model, cost, guide in plan.applied:
            if not applies >> index & 1:
                continue
            factor = score[index] if per_model else score
            if factor is None or factor == 0:
                continue
            key = ("reason", pref.id, index, basis if cost else None,
                   self._row_key(traits, index) if guide else None)  # fmt: skip
            text = memo.get(key)
            if text is None:
                message = self._preference_message(pref, traits, index)
                text = self._remember(key, (message, {"rule": pref.id, "message": message}))
            found.append((pref.weight * factor, pref.id, text))
        if len(found) > 1:
            found.sort(key=_minus_points)
        return found

    def reasons(self, traits: Traits, index: int) -> tuple[Reason, ...]:
        found = self._scored(traits, index)
        if not found:
            return (_ELIGIBLE,)
        return tuple(Reason(rule, text[0], points) for points, rule, text in found)

    def reasons_json(self, traits: Traits, index: int) -> list[dict[str, Any]]:
        """The model's reasons as JSON: shared, remembered pieces; copy before changing."""
        plan_key = self._preferences(traits).key
        key = None if plan_key is None else (index, plan_key)
        found = None if key is None else self._memo.get(key)
        if found is None:
            scored = self._scored(traits, index)
            found = [text[1] for _, _, text in scored] if scored else [_ELIGIBLE_JSON]
            if key is not None:
                self._remember(key, found)
        return found

    def ranked_json(
        self, traits: Traits, order: list[int], scores: list[float]
    ) -> list[dict[str, Any]]:
        """The eligible models in `order` as JSON, each with its score, reasons and cost:
        remembered whole for requests whose preferences weigh alike (their scores follow),
        at the same cost basis. Shared pieces: copy before changing."""
        plan = self._preferences(traits)
        key = None if plan.key is None else ("ranked", plan.key, plan.basis, *order)
        found = None if key is None else self._memo.get(key)
        if found is None:
            ids = self.ids
            found = [
                {
                    "model": ids[i],
                    "score": round(scores[i], 6),
                    "reasons": self.reasons_json(traits, i),
                    "cost": self.estimate(traits, i),
                }
                for i in order
            ]
            if key is not None:
                self._remember(key, found)
        return found

    def _row_key(self, traits: Traits, index: int) -> tuple[str | None, str | None]:
        row = self._rules.guide.row_of(traits, self.ids[index])
        return (row.scenario if row else None, traits.scenario)

    def _model_values(self, traits: Traits, index: int) -> dict[str, Any]:
        """What every message may say about a model: its lifecycle and its cost here (and,
        through `_render`, any setting)."""
        model = self._catalog.models[index]
        life = model.lifecycle
        estimate = self._costs.estimates(traits)[index]
        return {
            "model": model.id,
            "successor": life.successor if life else None,
            "deprecated_on": life.deprecated_on if life else None,
            "retires_on": life.retires_on if life else None,
            "reported": self._catalog.reported(model.id),
            "cost": (lambda: str(estimate)) if estimate else "no published price",  # if asked
            "currency": traits.currency or DEFAULT_CURRENCY,
        }

    def _preference_message(self, pref: Preference, traits: Traits, index: int) -> str:
        values = self._model_values(traits, index)
        if not _quotes(pref.message)[1]:  # no guide row to find
            return _render(pref.message, values, self._rules.settings)
        model_id = self.ids[index]
        row = self._rules.guide.row_of(traits, model_id)
        values["scenario"] = row.scenario if row else traits.scenario or ""
        values["requirement"] = row.requirement if row else ""
        values["row_models"] = " or ".join(row.models) if row else ""
        values["position"] = row.models.index(model_id) + 1 if row else ""
        if traits.scenario is not None:
            values["matched"] = f"scenario {traits.scenario}"
        else:
            values["matched"] = f"the request has {row.note}" if row else ""
        return _render(pref.message, values, self._rules.settings)

    def violation(
        self, rule: Constraint, traits: Traits, index: int, certain: bool = True
    ) -> Violation:
        return self._violation(rule, traits, index, certain)[0]  # type: ignore[no-any-return]

    def rejections_json(
        self,
        sides: Iterable[tuple[list[tuple[Constraint, int]], Traits, bool]],
        refused: Mapping[str, Violation],
    ) -> list[dict[str, Any]]:
        """`rejected` (or `cautions`) as JSON, in catalog order, from `sides` ((rule, mask)
        hits, the traits they were found at, whether they are certain) and `refused` (the
        live limits' refusals): remembered whole by the violations it lists. Shared pieces:
        copy before changing."""
        parts = []
        keys: list[Any] = []
        for hits, traits, certain in sides:
            for rule, mask in hits:
                key, found = self._violations(rule, traits, mask, certain)
                parts.append(found)
                keys.append(key)
        whole = None if refused or None in keys else ("rejections", *keys)
        out = None if whole is None else self._memo.get(whole)
        if out is not None:
            return out  # type: ignore[no-any-return]
        per_model: dict[int, list[dict[str, Any]]] = {}
        for found in parts:
            for i, violation in found:
                per_model.setdefault(i, []).append(violation)
        for model, refusal in refused.items():
            per_model.setdefault(self.ids.index(model), []).append(refusal.to_json())
        ids = self.ids
        out = [{"model": ids[i], "violations": per_model[i]} for i in sorted(per_model)]
        return out if whole is None else self._remember(whole, out)

    def _violations(
        self, rule: Constraint, traits: Traits, mask: int, certain: bool
    ) -> tuple[Any, list[tuple[int, dict[str, Any]]]]:
        """(its memo key or None, [(model index, violation as JSON)]) for each model in
        `mask`."""
        sides = _sides(rule, traits)
        cost = self._costs.basis(traits) if self._quoted[rule.id][0] else None
        key, found = _look_up(self._memo, ("violations", rule.id, mask, certain, sides, cost))
        if found is None:
            found = [(i, self._violation(rule, traits, i, certain, sides)[1])
                     for i in self.indices(mask)]  # fmt: skip
            if key is not None:
                self._remember(key, found)
        return key, found

    def _violation(
        self, rule: Constraint, traits: Traits, index: int, certain: bool, sides: Any = None
    ) -> Any:
        required = allowed = None
        if rule.operands:
            left, right = rule.operands
            needs, limits = sides or _sides(rule, traits)
            required, allowed = _at(needs, index, left), _at(limits, index, right)
        cost = self._costs.basis(traits) if self._quoted[rule.id][0] else None
        key, found = _look_up(self._memo, ("violation", rule.id, index, certain, required,
                                           allowed, cost))  # fmt: skip
        if found is not None:
            return found
        unbounded = isinstance(required, int) and required >= UNBOUNDED
        values = self._model_values(traits, index)
        values.update(
            required=required,
            allowed=allowed,
            missing=_missing(rule.op, required, allowed),
            common=_common(required, allowed),
            excess=None if unbounded else _excess(required, allowed),
            parts=None if unbounded else _parts(required, allowed),
        )
        violation = Violation(
            rule=rule.id,
            limit=rule.limit,
            required=None if unbounded else required,
            allowed=allowed,
            message=_render(rule.message, values, self._rules.settings),
            # no fix derived from a count that has no bound: the fix is to give the sizes
            fix=_render(rule.fix, values, self._rules.settings)
            if rule.fix and not unbounded
            else None,
            certain=certain,
        )
        found = (violation, violation.to_json())
        return found if key is None else self._remember(key, found)


_MEMO_ENTRIES = 8192  # texts a narrator remembers; past that it forgets them all and refills
_KINDS = 4096  # kinds of request whose verdicts a selector remembers, likewise
_DECISIONS = 2048  # decisions remembered, likewise (about 2.3 KB each)
_UNSEEN = object()
_COST_TEXTS = frozenset(COST_PLACEHOLDERS)
_GUIDE_TEXTS = frozenset(GUIDE_PLACEHOLDERS)
_ELIGIBLE = Reason("eligible", "meets every constraint; no preference applies")
_ELIGIBLE_JSON = {"rule": _ELIGIBLE.rule, "message": _ELIGIBLE.message}


_Hits = list[tuple[Constraint, int]]  # (rule, mask of the models it rejects)

# a preference in force: (it, mask of its models, score, per model?, quotes cost?, quotes guide?)
_Applied = tuple[Preference, int, Any, bool, bool, bool]


class _Decided:
    """What `select` found for traits that every rule reads alike: enough to decide for
    equal traits again without evaluating a rule. Its lists are never changed; `kept` fills
    with the JSON pieces their decisions share as they are first read."""

    __slots__ = ("cautions", "hits", "kept", "maybe", "order", "plan", "scored", "scores", "seen")

    def __init__(
        self,
        order: list[int],
        scores: list[float],
        hits: _Hits,
        scored: Traits,
        seen: list[Any],
        *,
        maybe: _Hits | None = None,
        cautions: _Hits | None = None,
        plan: LoadPlan | None = None,
    ) -> None:
        self.order, self.scores, self.hits, self.plan = order, scores, hits, plan
        self.maybe, self.cautions, self.seen = maybe, cautions, seen
        self.scored = scored
        self.kept: dict[str, Any] = {}  # what narrating them finds, for all equal traits

    def decision(
        self, narrator: _Narrator, traits: Traits, model: str | None, scored: Traits | None = None
    ) -> Decision:
        """The decision for `traits` (`scored`: the traits the scores were computed for,
        when it is the one being made now)."""
        scored = scored or self.scored
        narrator.prime(scored, self.seen, self.kept)
        return Decision(
            narrator, traits, self.order, self.scores, hits=self.hits, maybe=self.maybe,
            cautions=self.cautions, scored=scored, requested=model, plan=self.plan,
            kept=self.kept,
        )  # fmt: skip


class _Key:
    """A tuple key hashed once: a decision looks it up once per model."""

    __slots__ = ("_hash", "value")

    def __init__(self, value: tuple[Any, ...], hashed: int) -> None:
        self.value = value
        self._hash = hashed

    @classmethod
    def of(cls, value: tuple[Any, ...]) -> _Key | None:
        """None when a part cannot be hashed (a score of a type rules may one day give)."""
        try:
            return cls(value, hash(value))
        except TypeError:
            return None

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self._hash == other._hash and self.value == other.value


class _Plan:
    """What a decision's reasons rest on, evaluated once per traits: the preferences in
    force, the key of all the reasons of a model may depend on, the cost basis."""

    __slots__ = ("applied", "basis", "key")

    def __init__(self, applied: list[_Applied], key: _Key | None, basis: Any) -> None:
        self.applied = applied
        self.key = key
        self.basis = basis


def _put(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> Any:
    """`memo[key] = value` in a memory of at most `limit` entries: when full, it forgets
    everything and refills (a stream of requests never seen again cannot make it grow)."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value


def _look_up(memo: dict[Any, Any], key: Any, missing: Any = None) -> tuple[Any, Any]:
    """(key, what `memo` holds for it, else `missing`); (None, `missing`) when a value in the
    key cannot be hashed: nothing is remembered for it then."""
    try:
        return key, memo.get(key, missing)
    except TypeError:
        return None, missing


def _sides(rule: Constraint, traits: Traits) -> tuple[Any, Any]:
    """A rule's two operands (what the request needs, what the models allow), evaluated
    once for all the models it rejects."""
    if not rule.operands:
        return None, None
    left, right = rule.operands
    return left.evaluate(traits), right.evaluate(traits)


def _kind_fields(rule: Constraint) -> frozenset[str] | None:
    """The traits `rule` reads, when they hold no number and it reads nothing else but the
    models and the settings; else None."""
    reads = frozenset().union(*(n.reads for n in (rule.when, rule.check) if n is not None))
    found = set()
    for ref in reads:
        space, _, name = ref.partition(".")
        if space in ("$model", "$settings"):
            continue
        if space != "$traits" or name not in CATEGORICAL:
            return None
        found.add(name)
    return frozenset(found)


def _catalog_fixed(pref: Preference, mask: tuple[Any, Any]) -> tuple[int, Any] | None:
    """(mask, score) of a preference the catalog alone decides, given its compiled `when`;
    else None."""
    fixed = mask[1]
    score = pref.score or Node(CONST, 1.0, "number")
    if fixed is None or score.varies:
        return None
    return fixed[0], score.value


@cache
def _quotes(*templates: str | None) -> tuple[bool, bool]:
    """Whether the templates quote the cost, and whether they quote the guide row: what a
    text depends on besides its rule, its model and the rules' settings."""
    names = {name for t in templates if t for name in _placeholders(t)}
    return bool(names & _COST_TEXTS), bool(names & _GUIDE_TEXTS)


def _minus_points(found: tuple[float, str, Any]) -> float:
    return -found[0]


def _first(entry: tuple[int, Any, Any]) -> int:
    return entry[0]


_LOAD_LIMITS = frozenset(("rpm", "tpm"))  # constraint limits that are capacities: per account


def _reserved_input(traits: Traits) -> int:
    """The input tokens a lease reserves: the exact count where it can be had, else the
    count's upper bound, else (media of unknown size) its estimate."""
    count = traits.tokens
    if count is not None and not count.exact and count.refine is not None:
        count = count.refine()
    if count is None:
        return traits.input_tokens or 0
    if count.exact or count.upper_bound is None:
        return count.tokens
    return count.upper_bound


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


def _part(load: int | None, share: float) -> int | None:
    return None if load is None else round(load * share)


def _input_range(rules: CompiledRules) -> tuple[float, float] | None:
    """The lowest and highest number any rule compares the input count with; None when some
    rule uses the count in a way that analysis cannot bound."""
    found: list[float] = []
    nodes = [n for c in rules.constraints for n in (c.when, c.check) if n is not None]
    nodes += [n for p in rules.preferences for n in (p.when, p.score) if n is not None]
    for node in nodes:
        part = input_thresholds(node)
        if part is None:
            return None
        found += part
    return (min(found), max(found)) if found else (float("inf"), float("-inf"))


@lru_cache(maxsize=32)  # days asked for by a server's clients: bounded
def _default_selector(day: date | None) -> Selector:
    catalog = load_catalog(as_of=day)
    return Selector(catalog, compile_rules(load_rules(), catalog))


def _day(value: AsOf) -> date:
    """`as_of` as a date ("today" resolved), so equal days share one default selector."""
    from .updates import resolve_as_of

    return resolve_as_of(value)


def _applies(rule: Constraint, traits: Traits, index: int) -> bool:
    """Whether `rule` says anything about model `index` for these traits (pass or fail)."""
    if rule.when is not None and _at(rule.when.evaluate(traits), index) is not True:
        return False
    return _at(rule.check.evaluate(traits), index) is not None


def _violators(rule: Constraint, traits: Traits, n: int) -> list[int]:
    """Indices of the models `rule` rejects, evaluated per model: the reference path that
    `fits` and `explain` use, and the test suite holds the bitmask path of `select` to."""
    applies: Any = True
    if rule.when is not None:
        applies = rule.when.evaluate(traits)
        if applies is None or applies is False:
            return []
    result = rule.check.evaluate(traits)
    if result is None or result is True:
        return []
    bad = range(n) if result is False else [i for i, ok in enumerate(result) if ok is False]
    if applies is True:
        return list(bad)
    return [i for i in bad if applies[i] is True]


def _score_value(pref: Preference, traits: Traits | None) -> Any:
    if pref.score is None:
        return 1.0
    return pref.score.value if traits is None else pref.score.evaluate(traits)


def _points(weight: float, applies: int, factor: Any, bits: Any) -> list[tuple[int, float]]:
    """(model index, points) for every model in the `applies` mask."""
    if factor is None:
        return []
    if isinstance(factor, list | tuple):
        return [(i, weight * factor[i]) for i in bits[applies] if factor[i]]
    return [(i, weight * factor) for i in bits[applies]] if factor else []


def _at(value: Any, index: int, node: Node | None = None) -> Any:
    """One model's value from a node result (a tuple or list where it varies per model)."""
    if node is not None and not node.per_model:
        return value
    if isinstance(value, list | tuple) and (node is None or node.per_model):
        return value[index]
    return value


def _missing(op: str | None, required: Any, allowed: Any) -> Any:
    if op == "$subset" and required is not None and allowed is not None:
        return sorted(frozenset(required) - frozenset(allowed))
    if op in ("$in", "$nin"):
        return required
    return None


def _common(a: Any, b: Any) -> Any:
    if isinstance(a, frozenset | tuple | list) and isinstance(b, frozenset | tuple | list):
        return sorted(frozenset(a) & frozenset(b))
    return None


def _excess(required: Any, allowed: Any) -> Any:
    if isinstance(required, int | float) and isinstance(allowed, int | float):
        return required - allowed
    return None


def _parts(required: Any, allowed: Any) -> Any:
    if isinstance(required, int | float) and isinstance(allowed, int | float) and allowed > 0:
        ratio = required / allowed  # a tiny budget makes it overflow to inf
        return math.ceil(ratio) if math.isfinite(ratio) else None
    return None


def _render(template: str, values: dict[str, Any], settings: Mapping[str, float]) -> str:
    """The template filled in from `values`, else `settings`; only its own placeholders are
    turned into text (a value may be a function, called only when its placeholder is used)."""
    filled = {}
    for name in _placeholders(template):
        value = values[name] if name in values else settings[name]
        filled[name] = _text(value() if callable(value) else value)
    return template.format_map(filled)


@cache
def _placeholders(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return "an unknown number of" if value >= UNBOUNDED else f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{value:,.0f}"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, frozenset | set):
        return ", ".join(sorted(map(str, value))) or "nothing"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "nothing"
    return str(value)
