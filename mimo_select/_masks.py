"""Boolean rule expressions as bitmasks over the catalog, for the per-request path.

A three-valued result per model becomes two ints: bit i of `yes` is set where the expression
holds for model i, bit i of `no` where it fails; neither where it does not apply. The common
shapes (a trait against a catalog column) become a dict lookup or a loop over the column's
few distinct values instead of a loop over models. Anything else falls back to evaluating the
expression per model, so the two paths always agree (the test suite checks they do).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ._expr import CONST, MODELS, TRAIT, Node

Pair = tuple[int, int]
MaskFn = Callable[[Any], Pair]

_FLIP = {operator.lt: operator.gt, operator.le: operator.ge, operator.gt: operator.lt,
         operator.ge: operator.le}  # fmt: skip
_COMPARE = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}


def bits_table(n: int) -> tuple[tuple[int, ...], ...]:
    """For every mask over n models, the indices of its set bits."""
    return tuple(tuple(i for i in range(n) if mask >> i & 1) for mask in range(1 << n))


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
    return _per_model(node, n, full), None


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


def _by_value(column: tuple[Any, ...]) -> tuple[dict[Any, int], int]:
    """value -> mask of the models holding it, and the mask of models with a value at all."""
    index: dict[Any, int] = {}
    known = 0
    for i, v in enumerate(column):
        if v is not None:
            index[v] = index.get(v, 0) | 1 << i
            known |= 1 << i
    return index, known


def _by_member(column: tuple[Any, ...]) -> tuple[dict[Any, int], int]:
    """element -> mask of the models whose set contains it."""
    index: dict[Any, int] = {}
    known = 0
    for i, members in enumerate(column):
        if members is not None:
            known |= 1 << i
            for e in members:
                index[e] = index.get(e, 0) | 1 << i
    return index, known


def _per_model(node: Node, n: int, full: int) -> MaskFn:
    op, args = node.op, node.args
    kinds = [a.kind for a in args]
    special = _special(op, args, kinds, n, full) if op else None
    if special is not None:
        return special
    evaluate = node.value

    def fallback(t: Any) -> Pair:
        values = evaluate(t)
        if isinstance(values, list | tuple):
            return _column_pair(values)
        return _scalar_pair(values, full)  # the same answer for every model

    return fallback


def _special(op: str, args: tuple[Node, ...], kinds: list[str], n: int, full: int) -> MaskFn | None:
    if op in ("$and", "$or", "$not"):
        compiled = [compile_mask(a, n) for a in args]
        parts = [fn for fn, fixed in compiled if fixed is None]
        if op == "$not":
            (inner,) = [fn for fn, _ in compiled]
            return lambda t: (inner(t)[1], inner(t)[0])
        if op == "$and":
            base_yes, base_no = full, 0  # the parts fixed by the catalog, combined once
            for _, fixed in compiled:
                if fixed is not None:
                    base_yes, base_no = base_yes & fixed[0], base_no | fixed[1]

            def all_of(t: Any) -> Pair:
                yes, no = base_yes, base_no
                for part in parts:
                    y, f = part(t)
                    yes &= y
                    no |= f
                    if no == full:
                        break
                return yes, no

            return all_of
        parts = [fn for fn, _ in compiled]

        def any_of(t: Any) -> Pair:
            yes, no = 0, full
            for part in parts:
                y, f = part(t)
                yes |= y
                no &= f
            return yes, no

        return any_of

    if kinds == [TRAIT, MODELS]:
        get, column = args[0].value, args[1].value
        if op == "$subset":
            has, known = _by_member(column)

            def subset(t: Any) -> Pair:
                x = get(t)
                if x is None:
                    return (0, 0)
                yes = known
                for e in x:
                    yes &= has.get(e, 0)
                return yes, known & ~yes

            return subset
        if op == "$in":
            has, known = _by_member(column)

            def member(t: Any) -> Pair:
                x = get(t)
                if x is None:
                    return (0, 0)
                yes = has.get(x, 0)
                return yes, known & ~yes

            return member
        return _compare(op, get, column, flipped=False)
    if kinds == [MODELS, TRAIT]:
        column, get = args[0].value, args[1].value
        if op in ("$in", "$nin"):
            where, known = _by_value(column)
            negate = op == "$nin"

            def among(t: Any) -> Pair:
                coll = get(t)
                if coll is None:
                    return (0, 0)
                hit = 0
                for e in coll:
                    hit |= where.get(e, 0)
                yes = known & ~hit if negate else hit
                return yes, known & ~yes

            return among
        return _compare(op, get, column, flipped=True)
    return None


def _compare(op: str, get: Callable[[Any], Any], column: Any, flipped: bool) -> MaskFn | None:
    """A trait compared with a catalog column, looping over the column's distinct values."""
    if op in ("$eq", "$ne"):
        where, known = _by_value(column)
        negate = op == "$ne"

        def equal(t: Any) -> Pair:
            x = get(t)
            if x is None:
                return (0, 0)
            yes = where.get(x, 0)
            if negate:
                yes = known & ~yes
            return yes, known & ~yes

        return equal
    if op not in _COMPARE:
        return None
    cmp = _COMPARE[op]
    if flipped:  # column OP trait == trait FLIPPED-OP column
        cmp = _FLIP[cmp]
    where, known = _by_value(column)
    groups = tuple(where.items())

    def ordered(t: Any) -> Pair:
        x = get(t)
        if x is None:
            return (0, 0)
        yes = 0
        for value, mask in groups:
            if cmp(x, value):
                yes |= mask
        return yes, known & ~yes

    return ordered
