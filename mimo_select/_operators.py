"""Every rule operator, defined once: its operands' types, its evaluation, its bitmask fast path.

`_expr` compiles an operator object (`{$lte: [a, b]}`) by looking its name up here: the entry
says how many operands it takes and of which types, what it returns, how it evaluates (and
whether an operand that does not apply makes the whole result not apply), and, optionally,
how to answer it for every model at once as two bitmasks (`_masks`). A new operator is a new
row, nothing else.

Values are three-valued: None means "does not apply" (a trait the request did not give).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Node kinds: CONST (one value), MODELS (a tuple, one value per model), TRAIT (a function of
# the traits returning one value) and PER_MODEL (a function of the traits returning a tuple,
# or None when nothing applies).
CONST, MODELS, TRAIT, PER_MODEL = "const", "models", "trait", "per_model"

Pair = tuple[int, int]  # (yes, no): bit i set where the expression holds / fails for model i
MaskFn = Callable[[Any], Pair]
# builds a mask function for a node with this operator, or None to fall back to evaluation:
# (operand nodes, their kinds, number of models, compile_mask for operands)
MaskBuilder = Callable[[tuple[Any, ...], list[str], int, Callable[..., Any]], MaskFn | None]


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator of the rule language.

    `arity`: "one" (a single operand, not a list), "ref" (a single reference), 2, or "many".
    `operands`: the types each operand may have (one tuple for all when `arity` is "many").
    `strict`: an operand that does not apply (None) makes the result None.
    `sets`: list operands are compared as sets. `literals`: a literal compared with a reference
    must be a value that reference can take (a known model id, capability, ...).
    """

    name: str
    arity: str | int
    operands: tuple[tuple[str, ...], ...]
    result: str
    evaluate: Callable[..., Any]
    strict: bool = True
    sets: bool = False
    literals: bool = False
    mask: MaskBuilder | None = None


# --- evaluation ----------------------------------------------------------------------------


def _kleene_not(v: Any) -> Any:
    return None if v is None else not v


def _kleene_and(*vs: Any) -> Any:
    if any(v is False for v in vs):
        return False
    return None if any(v is None for v in vs) else True


def _kleene_or(*vs: Any) -> Any:
    if any(v is True for v in vs):
        return True
    return None if any(v is None for v in vs) else False


def _exists(v: Any) -> bool:
    return v is not None


def _contains(x: Any, coll: Any) -> bool:
    return x in coll


def _not_contains(x: Any, coll: Any) -> bool:
    return x not in coll


def _order(x: Any, ranked: Any) -> float:
    """1 for the first of n, (n - i) / n for the i-th, 0 when absent."""
    ranked = list(ranked)
    if x not in ranked:
        return 0.0
    return float(len(ranked) - ranked.index(x)) / len(ranked)


def _add(*xs: Any) -> Any:
    return sum(xs)


def _mul(*xs: Any) -> Any:
    return math.prod(xs)


def _sub(a: Any, b: Any) -> Any:
    return a - b


def _floor(x: Any) -> int:
    floored: int = math.floor(x)
    return floored


# --- bitmask fast paths ----------------------------------------------------------------------


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


def _mask_not(args: tuple[Any, ...], kinds: list[str], n: int, compile_mask: Any) -> MaskFn:
    inner = compile_mask(args[0], n)[0]

    def negate(t: Any) -> Pair:
        yes, no = inner(t)
        return no, yes

    return negate


def _mask_and(args: tuple[Any, ...], kinds: list[str], n: int, compile_mask: Any) -> MaskFn:
    full = (1 << n) - 1
    compiled = [compile_mask(a, n) for a in args]
    parts = [fn for fn, fixed in compiled if fixed is None]
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


def _mask_or(args: tuple[Any, ...], kinds: list[str], n: int, compile_mask: Any) -> MaskFn:
    full = (1 << n) - 1
    parts = [compile_mask(a, n)[0] for a in args]

    def any_of(t: Any) -> Pair:
        yes, no = 0, full
        for part in parts:
            y, f = part(t)
            yes |= y
            no &= f
        return yes, no

    return any_of


def _mask_subset(args: tuple[Any, ...], kinds: list[str], n: int, _: Any) -> MaskFn | None:
    if kinds != [TRAIT, MODELS]:
        return None
    get = args[0].value
    has, known = _by_member(args[1].value)

    def subset(t: Any) -> Pair:
        x = get(t)
        if x is None:
            return (0, 0)
        yes = known
        for e in x:
            yes &= has.get(e, 0)
        return yes, known & ~yes

    return subset


def _mask_membership(negate: bool) -> MaskBuilder:
    def build(args: tuple[Any, ...], kinds: list[str], n: int, _: Any) -> MaskFn | None:
        if kinds == [TRAIT, MODELS]:  # a trait value in a per-model collection
            get = args[0].value
            has, known = _by_member(args[1].value)

            def member(t: Any) -> Pair:
                x = get(t)
                if x is None:
                    return (0, 0)
                hit = has.get(x, 0)
                yes = known & ~hit if negate else hit
                return yes, known & ~yes

            return member
        if kinds == [MODELS, TRAIT]:  # a model fact in a collection the request gives
            where, known = _by_value(args[0].value)
            get = args[1].value

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
        return None

    return build


_FLIP = {operator.lt: operator.gt, operator.le: operator.ge, operator.gt: operator.lt,
         operator.ge: operator.le, operator.eq: operator.eq, operator.ne: operator.ne}  # fmt: skip


def _mask_compare(cmp: Callable[[Any, Any], bool]) -> MaskBuilder:
    """A trait compared with a catalog column, looping over the column's distinct values."""

    def build(args: tuple[Any, ...], kinds: list[str], n: int, _: Any) -> MaskFn | None:
        if kinds == [TRAIT, MODELS]:
            get, column, fn = args[0].value, args[1].value, cmp
        elif kinds == [MODELS, TRAIT]:  # column OP trait == trait FLIPPED-OP column
            column, get, fn = args[0].value, args[1].value, _FLIP[cmp]
        else:
            return None
        where, known = _by_value(column)
        if cmp in (operator.eq, operator.ne):
            negate = cmp is operator.ne

            def equal(t: Any) -> Pair:
                x = get(t)
                if x is None:
                    return (0, 0)
                yes = where.get(x, 0)
                if negate:
                    yes = known & ~yes
                return yes, known & ~yes

            return equal
        groups = tuple(where.items())

        def ordered(t: Any) -> Pair:
            x = get(t)
            if x is None:
                return (0, 0)
            yes = 0
            for value, mask in groups:
                if fn(x, value):
                    yes |= mask
            return yes, known & ~yes

        return ordered

    return build


# --- the table ---------------------------------------------------------------------------

_ANY = ("any",)
_NUMBER = ("number",)
_BOOL = ("bool",)
_COLLECTION = ("set", "list")


def _comparison(name: str, fn: Callable[[Any, Any], bool], numbers: bool) -> Operator:
    types = _NUMBER if numbers else _ANY
    return Operator(name, 2, (types, types), "bool", fn, literals=True, mask=_mask_compare(fn))


OPERATORS: Mapping[str, Operator] = {
    op.name: op
    for op in (
        _comparison("$eq", operator.eq, numbers=False),
        _comparison("$ne", operator.ne, numbers=False),
        _comparison("$lt", operator.lt, numbers=True),
        _comparison("$lte", operator.le, numbers=True),
        _comparison("$gt", operator.gt, numbers=True),
        _comparison("$gte", operator.ge, numbers=True),
        Operator("$in", 2, (_ANY, _COLLECTION), "bool", _contains, literals=True,
                 mask=_mask_membership(negate=False)),
        Operator("$nin", 2, (_ANY, _COLLECTION), "bool", _not_contains, literals=True,
                 mask=_mask_membership(negate=True)),
        Operator("$subset", 2, (_COLLECTION, _COLLECTION), "bool", operator.le, sets=True,
                 literals=True, mask=_mask_subset),
        Operator("$disjoint", 2, (_COLLECTION, _COLLECTION), "bool", frozenset.isdisjoint,
                 sets=True, literals=True),
        Operator("$order", 2, (_ANY, _COLLECTION), "number", _order, literals=True),
        Operator("$and", "many", (_BOOL,), "bool", _kleene_and, strict=False, mask=_mask_and),
        Operator("$or", "many", (_BOOL,), "bool", _kleene_or, strict=False, mask=_mask_or),
        Operator("$not", "one", (_BOOL,), "bool", _kleene_not, strict=False, mask=_mask_not),
        Operator("$exists", "ref", (_ANY,), "bool", _exists, strict=False),
        Operator("$add", "many", (_NUMBER,), "number", _add),
        Operator("$mul", "many", (_NUMBER,), "number", _mul),
        Operator("$sub", 2, (_NUMBER, _NUMBER), "number", _sub),
        Operator("$floor", "one", (_NUMBER,), "number", _floor),
    )
}  # fmt: skip
