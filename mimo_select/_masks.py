"""Boolean rule expressions as bitmasks over the catalog, for the per-request path.

A three-valued result per model becomes two ints: bit i of `yes` is set where the expression
holds for model i, bit i of `no` where it fails; neither where it does not apply. Operators
with a fast path in their `_operators` entry (a trait against a catalog column: a dict lookup
or a loop over the column's few distinct values) use it; anything else evaluates the
expression per model, so the two paths always agree (the test suite checks they do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._expr import Node
from ._operators import CONST, MODELS, OPERATORS, TRAIT, MaskFn, Pair

_TABLE_MODELS = 10  # up to this many models, every mask's indices are tabulated up front
_CACHE_MASKS = 4096


class _Indices(dict[int, tuple[int, ...]]):
    """mask -> indices of its set bits, computed on first use and kept (up to a bound)."""

    def __missing__(self, mask: int) -> tuple[int, ...]:
        found = tuple(i for i in range(mask.bit_length()) if mask >> i & 1)
        if len(self) < _CACHE_MASKS:
            self[mask] = found
        return found


def bit_indices(n: int) -> Sequence[tuple[int, ...]] | Mapping[int, tuple[int, ...]]:
    """A table indexed by mask (`table[mask]`) giving the indices of the mask's set bits, for
    masks over n models.

    Small catalogs get a full table (2^n entries); larger ones compute on demand and keep a
    bounded cache, since requests meet only a handful of distinct masks.
    """
    if n <= _TABLE_MODELS:
        return tuple(tuple(i for i in range(n) if mask >> i & 1) for mask in range(1 << n))
    return _Indices()


def compile_mask(node: Node, n: int) -> tuple[MaskFn, Pair | None]:
    """A function of the traits giving (yes, no) masks, and the pair itself when constant."""
    full = (1 << n) - 1
    if node.kind == CONST:
        pair = _scalar_pair(node.value, full)
        return (lambda _t: pair), pair
    if node.kind == MODELS:
        pair = _column_pair(node.value)
        return (lambda _t: pair), pair
    if node.kind == TRAIT:
        return _scalar(node, full), None
    op = OPERATORS[node.op] if node.op else None
    if op is not None and op.mask is not None:
        fast = op.mask(node.args, [a.kind for a in node.args], n, compile_mask)
        if fast is not None:
            return fast, None
    evaluate = node.value
    guards = [a.value for a in node.args if a.kind == TRAIT] if op is not None and op.strict else []
    # the last tuple seen with its masks, as one pair (replaced whole, so threads never see
    # half of it): a derived column is often the same object request after request
    last: list[tuple[Any, Pair]] = [((), (0, 0))]

    def fallback(t: Any) -> Pair:
        for get in guards:  # a trait the request does not give: the test does not apply
            if get(t) is None:
                return (0, 0)
        values = evaluate(t)
        if isinstance(values, list | tuple):
            seen, pair = last[0]
            if values is seen:
                return pair
            pair = _column_pair(values)
            if isinstance(values, tuple):
                last[0] = (values, pair)
            return pair
        return _scalar_pair(values, full)  # the same answer for every model

    return fallback, None


def _scalar(node: Node, full: int) -> MaskFn:
    """A trait-only test: every model gets the same answer."""
    yes, no, unknown = (full, 0), (0, full), (0, 0)
    args = node.args
    if node.op == "$eq" and len(args) == 2 and args[0].kind == TRAIT and args[1].kind == CONST:
        get, const = args[0].value, args[1].value  # e.g. `voice == clone`, the usual guard

        def equals(t: Any) -> Pair:
            v = get(t)
            if v == const:
                return yes
            return unknown if v is None else no

        return equals
    if node.op == "$exists" and len(args) == 1 and args[0].kind == TRAIT:
        given = args[0].value  # e.g. `max_cost` given: the guard of the rules that read it

        def exists(t: Any) -> Pair:
            return no if given(t) is None else yes

        return exists
    if node.op in ("$or", "$and") and all(a.kind == TRAIT for a in args):
        parts = [_scalar(a, full) for a in args]
        decisive = yes if node.op == "$or" else no  # Kleene: one decides, else unknown wins

        def either(t: Any) -> Pair:
            seen_unknown = False
            for part in parts:
                pair = part(t)
                if pair == decisive:
                    return decisive
                seen_unknown = seen_unknown or pair == unknown
            return unknown if seen_unknown else (no if decisive == yes else yes)

        return either
    get = node.value

    def truth(t: Any) -> Pair:
        v = get(t)
        return yes if v is True else no if v is False else unknown

    return truth


def _scalar_pair(value: Any, full: int) -> Pair:
    if value is True:
        return (full, 0)
    if value is False:
        return (0, full)
    return (0, 0)


def _column_pair(values: Any) -> Pair:
    yes = no = 0
    for i, v in enumerate(values):
        if v is True:
            yes |= 1 << i
        elif v is False:
            no |= 1 << i
    return yes, no
