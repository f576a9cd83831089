"""The rule expression language, compiled once into closures over traits.

An expression is a literal, a reference (`$traits.F`, `$model.F`, `$scenario.F`,
`$guide.SCENARIO.F`, `$settings.NAME`) or an operator object with one key (`$lte`, `$in`, ...).
Everything that depends only on the catalog is folded at compile time into one value per
model, so a request evaluates only the parts that depend on its traits. Values are
three-valued: an expression over a trait the request did not give is None ("does not apply").

Node kinds: CONST (one value), MODELS (a tuple, one value per model), TRAIT (a function of the
traits returning one value) and PER_MODEL (a function of the traits returning a tuple, or None
when nothing applies).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Any

from ._operators import CONST, MODELS, OPERATORS, PER_MODEL, TRAIT, Operator
from .errors import ExpressionError, did_you_mean

__all__ = [
    "CONST", "MODELS", "PER_MODEL", "TRAIT", "Derived", "Field", "Node", "Scope", "compile_expr",
]  # fmt: skip

Fn = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """What a reference names: its type (number, text, set, list, bool) and value domain."""

    type: str
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class Node:
    kind: str
    value: Any  # the constant, the per-model tuple, or the function of the traits
    type: str
    domain: str | None = None
    literal: bool = False
    op: str | None = None  # the operator that built it, and its operands: for `_masks`
    args: tuple[Node, ...] = ()
    ref: str | None = None  # the reference it is, e.g. "$traits.input_tokens"
    reads: frozenset[str] = frozenset()  # every reference it or its operands read
    # for a value derived from the traits that only changes where the input count crosses one
    # of these numbers (the guide rows in force): the numbers; None when not known
    thresholds: tuple[float, ...] | None = None

    @property
    def varies(self) -> bool:
        return self.kind in (TRAIT, PER_MODEL)

    @property
    def per_model(self) -> bool:
        return self.kind in (MODELS, PER_MODEL)

    def getter(self) -> Fn:
        """A function of the traits giving this node's value (a tuple where per model)."""
        if self.varies:
            fn: Fn = self.value
            return fn
        value = self.value
        return lambda _t: value

    def evaluate(self, traits: Any) -> Any:
        return self.value(traits) if self.varies else self.value


@dataclass(frozen=True, slots=True)
class Derived:
    """A `$scenario.F` value: computed from the traits by the engine's own reading (the guide
    rows in force), one value or one per model."""

    field: Field
    fn: Fn
    per_model: bool = False
    reads: frozenset[str] = frozenset()
    thresholds: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Scope:
    """What references resolve to when compiling against one catalog."""

    n_models: int
    models: Mapping[str, tuple[Field, tuple[Any, ...]]]  # field -> per-model values
    traits: Mapping[str, Field]
    derived: Mapping[str, Mapping[str, Derived]]  # `$scenario`, `$cost`: field -> its value
    guide: Mapping[str, Mapping[str, tuple[Field, Any]]]  # scenario -> field -> value
    settings: Mapping[str, float]
    domains: Mapping[str, frozenset[str]]


def compile_expr(expr: Any, scope: Scope, path: tuple[str | int, ...] = ()) -> Node:
    """Compile one expression; raises `ExpressionError` naming the offending sub-path."""
    if isinstance(expr, str) and expr.startswith("$"):
        return _reference(expr, scope, path)
    if isinstance(expr, bool):
        return Node(CONST, expr, "bool", literal=True)
    if isinstance(expr, (int, float)):
        return Node(CONST, expr, "number", literal=True)
    if isinstance(expr, str):
        return Node(CONST, expr, "text", literal=True)
    if expr is None:
        return Node(CONST, None, "any", literal=True)
    if isinstance(expr, list):
        items = []
        for i, item in enumerate(expr):
            if not isinstance(item, (str, int, float)) or (
                isinstance(item, str) and item.startswith("$")
            ):
                raise ExpressionError((*path, i), "list items must be plain literals")
            items.append(item)
        return Node(CONST, tuple(items), "list", literal=True)
    if isinstance(expr, dict) and len(expr) == 1:
        ((op, args),) = expr.items()
        return _operator(op, args, scope, (*path, op))
    raise ExpressionError(path, f"not an expression: {expr!r}")


def _reference(ref: str, scope: Scope, path: tuple[str | int, ...]) -> Node:
    node = _resolve(ref, scope, path)
    return replace(node, ref=ref, reads=node.reads | {ref})


def _resolve(ref: str, scope: Scope, path: tuple[str | int, ...]) -> Node:
    parts = ref[1:].split(".")
    head, rest = parts[0], parts[1:]
    namespaces = ("traits", "model", *scope.derived, "guide", "settings")

    def unknown(what: str, name: str, known: Sequence[str]) -> ExpressionError:
        hint = did_you_mean(name, known) or f"known: {', '.join(known)}"
        return ExpressionError(path, f"unknown {what} {name!r} in {ref!r}", hint)

    if head == "model" and len(rest) == 1:
        if rest[0] not in scope.models:
            raise unknown("model field", rest[0], list(scope.models))
        field, values = scope.models[rest[0]]
        return Node(MODELS, values, field.type, field.domain)
    if head == "traits" and len(rest) == 1:
        if rest[0] not in scope.traits:
            raise unknown("trait", rest[0], list(scope.traits))
        field = scope.traits[rest[0]]
        return Node(TRAIT, operator.attrgetter(rest[0]), field.type, field.domain)
    if head in scope.derived and len(rest) == 1:
        if rest[0] not in scope.derived[head]:
            raise unknown(f"{head} field", rest[0], list(scope.derived[head]))
        d = scope.derived[head][rest[0]]
        kind = PER_MODEL if d.per_model else TRAIT
        return Node(kind, d.fn, d.field.type, d.field.domain, reads=d.reads,
                    thresholds=d.thresholds)  # fmt: skip
    if head == "guide" and len(rest) == 2:
        if rest[0] not in scope.guide:
            raise unknown("guide scenario", rest[0], list(scope.guide))
        row = scope.guide[rest[0]]
        if rest[1] not in row:
            raise unknown("guide field", rest[1], list(row))
        field, value = row[rest[1]]
        return Node(CONST, value, field.type, field.domain)
    if head == "settings" and len(rest) == 1:
        if rest[0] not in scope.settings:
            raise unknown("setting", rest[0], list(scope.settings))
        return Node(CONST, scope.settings[rest[0]], "number")
    if head not in namespaces:
        raise unknown("reference", f"${head}", [f"${n}" for n in namespaces])
    shape = {"guide": "$guide.SCENARIO.FIELD"}.get(head, f"${head}.NAME")
    raise ExpressionError(path, f"malformed reference {ref!r}", f"write {shape}")


def _operator(name: str, args: Any, scope: Scope, path: tuple[str | int, ...]) -> Node:
    op = OPERATORS.get(name)
    if op is None:
        raise ExpressionError(path, f"unknown operator {name!r}", did_you_mean(name, OPERATORS))
    operands = _operands(op, args, scope, path)
    for i, node in enumerate(operands):
        types = op.operands[0] if op.arity == "many" else op.operands[i]
        _expect(node, types, (*path, i) if isinstance(args, list) else path)
    if op.literals:
        _check_literal(operands[0], operands[1], scope, path)
    if op.sets:
        operands = [_as_set(node) for node in operands]
    node = _lift(op, operands, scope.n_models)
    reads = frozenset().union(*(nd.reads for nd in operands))
    if node.varies:
        return replace(node, op=name, args=tuple(operands), reads=reads)
    return replace(node, reads=reads)


def _operands(op: Operator, args: Any, scope: Scope, path: tuple[str | int, ...]) -> list[Node]:
    if op.arity == "one":
        return [compile_expr(args, scope, path)]
    if op.arity == "ref":
        if not (isinstance(args, str) and args.startswith("$")):
            raise ExpressionError(path, f"{op.name} takes a reference")
        return [_reference(args, scope, path)]
    if not isinstance(args, list):
        raise ExpressionError(path, f"{op.name} takes a list of operands")
    if op.arity != "many" and len(args) != op.arity:
        raise ExpressionError(path, f"{op.name} takes exactly {op.arity} operands")
    return [compile_expr(a, scope, (*path, i)) for i, a in enumerate(args)]


def _as_set(node: Node) -> Node:
    if node.type != "list":
        return node
    if node.kind == CONST:
        return replace(node, value=frozenset(node.value), type="set")
    if node.kind == MODELS:
        return replace(node, value=tuple(frozenset(v) for v in node.value), type="set")
    get = node.getter()
    return replace(
        node, value=lambda t: None if (v := get(t)) is None else frozenset(v), type="set"
    )


def _expect(node: Node, types: str | tuple[str, ...], path: tuple[str | int, ...]) -> None:
    wanted = (types,) if isinstance(types, str) else types
    if "any" not in wanted and node.type != "any" and node.type not in wanted:
        raise ExpressionError(path, f"expected {' or '.join(wanted)}, got {node.type}")


def _check_literal(a: Node, b: Node, scope: Scope, path: tuple[str | int, ...]) -> None:
    """A literal compared with a reference must be a value that reference can take."""
    for i, (lit, ref) in enumerate(((a, b), (b, a))):
        if not lit.literal or ref.domain is None or lit.value is None:
            continue
        allowed = scope.domains[ref.domain]
        values = lit.value if isinstance(lit.value, tuple) else (lit.value,)
        for j, value in enumerate(values):
            if str(value) not in allowed:
                where = (*path, i) if not isinstance(lit.value, tuple) else (*path, i, j)
                raise ExpressionError(
                    where,
                    f"unknown {ref.domain.replace('_', ' ')} {value!r}",
                    did_you_mean(str(value), allowed) or f"known: {', '.join(sorted(allowed))}",
                )


def _lift(op: Operator, nodes: list[Node], n: int) -> Node:
    """Apply the operator per model; fold what is constant. A strict operator gives None
    where an operand is None."""
    fn, type_, strict = op.evaluate, op.result, op.strict
    elem = _strict(fn) if strict else fn
    per_model = any(nd.per_model for nd in nodes)
    if not any(nd.varies for nd in nodes):  # constant folding
        if not per_model:
            return Node(CONST, elem(*(nd.value for nd in nodes)), type_)
        cols = [nd.value if nd.per_model else repeat(nd.value, n) for nd in nodes]
        return Node(MODELS, tuple(elem(*row) for row in zip(*cols, strict=True)), type_)
    getters = [nd.getter() for nd in nodes]
    if not per_model:
        if strict and [nd.kind for nd in nodes] == [TRAIT, CONST] and nodes[1].value is not None:
            g, c = getters[0], nodes[1].value
            return Node(TRAIT, lambda t: None if (x := g(t)) is None else fn(x, c), type_)
        if len(getters) == 1:
            (g0,) = getters
            return Node(TRAIT, lambda t: elem(g0(t)), type_)
        if len(getters) == 2:
            g0, g1 = getters
            return Node(TRAIT, lambda t: elem(g0(t), g1(t)), type_)
        return Node(TRAIT, lambda t: elem(*(g(t) for g in getters)), type_)
    kinds = [node.kind for node in nodes]
    # The common cases, a trait against a catalog fact with no gaps: one comprehension.
    if strict and kinds == [TRAIT, MODELS] and None not in nodes[1].value:
        g, column = getters[0], nodes[1].value

        def trait_vs_models(t: Any) -> Any:
            x = g(t)
            return None if x is None else [fn(x, y) for y in column]

        return Node(PER_MODEL, trait_vs_models, type_)
    if strict and kinds == [MODELS, TRAIT] and None not in nodes[0].value:
        column, g = nodes[0].value, getters[1]

        def models_vs_trait(t: Any) -> Any:
            x = g(t)
            return None if x is None else [fn(y, x) for y in column]

        return Node(PER_MODEL, models_vs_trait, type_)
    if op.name == "$and" and TRAIT in kinds:  # a false trait test decides for every model
        traits_only = [g for g, k in zip(getters, kinds, strict=True) if k == TRAIT]
        rest = _lift(op, [nd for nd in nodes if nd.kind != TRAIT], n)
        rest_get = rest.getter()

        def and_traits_first(t: Any) -> Any:
            seen_none = False
            for g in traits_only:
                v = g(t)
                if v is False:
                    return False
                seen_none = seen_none or v is None
            other = rest_get(t)
            if not seen_none:
                return other
            if isinstance(other, list | tuple):
                return [False if v is False else None for v in other]
            return False if other is False else None

        return Node(PER_MODEL, and_traits_first, type_)
    flags = [nd.per_model for nd in nodes]
    # one value per request first: when one is missing, a strict operator need not compute the
    # per-model operands at all (a planned load against the accounts' limits, say)
    first = sorted(range(len(nodes)), key=lambda i: flags[i])

    def general(t: Any) -> Any:
        values: list[Any] = [None] * len(getters)
        for i in first:
            v = getters[i](t)
            if strict and v is None:
                return None
            values[i] = v
        cols: list[Any] = []
        for v, per in zip(values, flags, strict=True):
            if per and isinstance(v, list | tuple):
                cols.append(v)
            elif per and v is None and strict:  # a per-model operand where nothing applies
                return None
            else:  # a constant, or a per-model operand that is the same for every model
                cols.append(repeat(v, n))
        return [elem(*row) for row in zip(*cols, strict=True)]

    return Node(PER_MODEL, general, type_)


def _strict(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*xs: Any) -> Any:
        for x in xs:
            if x is None:
                return None
        return fn(*xs)

    return wrapped


INPUT = "$traits.input_tokens"
_ORDERING = frozenset(("$eq", "$ne", "$lt", "$lte", "$gt", "$gte"))


def input_thresholds(node: Node) -> list[float] | None:
    """The numbers the input count is compared with in `node`, or None when it enters in any
    other way. Comparisons of the count (plus the output budget or constants) with catalog
    columns or constants, and values derived from the traits that change only at known counts
    (the guide rows in force), give the same answer at both ends of an interval that holds
    none of these numbers, which lets the selector skip re-checking such an interval."""
    if not _reads_input(node):
        return []
    if node.thresholds is not None:
        return list(node.thresholds)
    if node.op in _ORDERING:
        for side, other in (node.args, node.args[::-1]):
            offset = _input_sum(side)
            if offset is not None and not _reads_input(other) and other.kind in (CONST, MODELS):
                values = other.value if other.kind == MODELS else (other.value,)
                if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                    return [v - offset for v in values]
    if node.op is None:  # the count itself, used as a number
        return None
    found: list[float] = []
    for arg in node.args:  # an operator over values that change only at known counts
        part = input_thresholds(arg)
        if part is None:
            return None
        found += part
    return found


def _reads_input(node: Node) -> bool:
    return INPUT in node.reads


def _input_sum(node: Node) -> float | None:
    """For the count itself, or a sum of it with the output budget and non-negative
    constants: the constant part (the budget is added per request). None otherwise."""
    if node.ref == INPUT:
        return 0.0
    if node.op != "$add" or sum(a.ref == INPUT for a in node.args) != 1:
        return None
    constant = 0.0
    for arg in node.args:
        if arg.ref in (INPUT, "$traits.max_output_tokens"):
            continue
        if arg.kind != CONST or not isinstance(arg.value, int | float) or arg.value < 0:
            return None
        constant += arg.value
    return constant
