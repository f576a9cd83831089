"""A YAML loader that keeps line numbers, refuses duplicate keys and refuses bombs.

PyYAML keeps the last of two equal keys without a word, expands aliases without bound, builds
recursive structures, reads a FIFO until someone writes to it and hands back `bytes`, sets and
infinite floats that JSON cannot hold. Each of those would let a bad file pass silently or hang
a CI job, so each is an error here, located by file:line:column and JSON path.

The composed node graph is measured before anything is built: nesting depth, nodes and
characters with every alias expanded (memoised, so a bomb is measured, not built), tags and
numbers. Data files (catalog, rules) use `DATA_LIMITS`; YAML prompt files pass their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import DataError, Location, Problem, UsageError
from .files import format_size, read_limited

MAX_BYTES = 1024 * 1024
MAX_NODES = 200_000  # after alias expansion; the bundled files have a few hundred
MAX_DEPTH = 64  # nested maps and lists; the bundled files nest about 8 deep
MAX_NUMBER_CHARS = 100  # longer numerals are refused before PyYAML converts them
_HUGE = 10**15  # sizes are counted up to here, so that a bomb's size never overflows a message

JsonPath = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where the wheel has it

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_CONVERTED = frozenset({_TAG + "int", _TAG + "float", _TAG + "bool"})
_SCALARS = _CONVERTED | {_STR, _TAG + "null"}  # what JSON can hold; no binary, set, omap, pairs


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may hold.

    `max_bytes` bounds the file; `max_chars` bounds the scalar text once every alias is
    expanded, so that aliases cannot make a document larger than a file could be.
    """

    max_bytes: int
    max_nodes: int
    max_depth: int
    max_chars: int
    what: str = "data files"  # names the files in the size message


DATA_LIMITS = Limits(MAX_BYTES, MAX_NODES, MAX_DEPTH, MAX_BYTES)


class _DataLoader(_Loader):  # type: ignore[misc]  # a base chosen at import time
    """Safe loading, but dates stay strings: the schemas check their format."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _Loader.yaml_implicit_resolvers.items()
    }


def format_path(path: JsonPath) -> str:
    """`("models", 3, "id")` -> `$.models[3].id`."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed YAML document and where each of its nodes came from."""

    data: Any
    file: str
    marks: dict[JsonPath, tuple[int, int]]  # path -> (line, column), 1-based; keys map to the key

    def locate(self, path: JsonPath) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe and probe not in self.marks:
            probe = probe[:-1]
        line, column = self.marks.get(probe, (1, 1))
        return Location(self.file, line, column, format_path(path))

    def problem(self, path: JsonPath, message: str, hint: str | None = None) -> Problem:
        return Problem(self.locate(path), message, hint)


def load(
    source: str | Path,
    *,
    text: str | None = None,
    display: str | None = None,
    limits: Limits = DATA_LIMITS,
    marks: bool = True,
) -> Document:
    """Read one YAML document from `source` (or from `text`, naming it `source`).

    The file must be a regular file of at most `limits.max_bytes` bytes, measured while
    reading (a FIFO or a device is refused before it is opened). With `marks` False no
    path -> line index is kept (YAML prompt files need only the checks).

    Raises `DataError`, every problem with file:line:column where one is known, for unreadable
    or non-UTF-8 files, syntax errors, more than one document, duplicate or non-string keys,
    tags JSON cannot hold, numbers that are too long or infinite, recursive aliases, nesting
    past `limits.max_depth` and alias expansion past `limits.max_nodes` nodes or
    `limits.max_chars` characters.
    """
    name = display or str(source)
    where = Location(name, None, None)
    if text is None:
        text = _read(source, name, limits)
    elif len(text) > limits.max_bytes or (
        len(text) * 4 > limits.max_bytes
        and len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes
    ):
        size = format_size(limits.max_bytes)
        raise DataError(
            [Problem(where, f"text is over {size}; {limits.what} are limited to {size}")]
        )

    try:
        loader = _DataLoader(text)
    except UnicodeEncodeError as exc:  # libyaml takes UTF-8; a lone surrogate has none
        line = text.count("\n", 0, exc.start) + 1
        raise DataError([Problem(Location(name, line, None), "not valid Unicode text")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise DataError([Problem(Location(name, 1, 1), "the file is empty")])
        problems, sound = _inspect(node, name, limits, loader)
        index: dict[JsonPath, tuple[int, int]] = {}
        if sound:  # no cycle, not too deep, not too big: safe to walk and to build
            _index(node, (), index if marks else None, problems=problems, name=name, seen=set())
        if problems:
            raise DataError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else where
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        if "exceeded maximum nesting depth" in message:  # libyaml's own limit, at 1,000
            deep = f"nested more than {limits.max_depth} levels deep"
            raise DataError([Problem(loc, deep)]) from None
        raise DataError([Problem(loc, f"YAML syntax: {message}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a NUL
        loc = Location(name, _reader_line(text, exc.position), None)
        what = exc.reason
        if isinstance(exc.character, int):
            what = f"unacceptable character #x{exc.character:04x}: {what}"
        raise DataError([Problem(loc, f"YAML syntax: {what}")]) from None
    except yaml.YAMLError as exc:
        raise DataError([Problem(where, f"YAML: {exc}")]) from None
    except RecursionError:  # the pure-Python parser, where libyaml is missing
        deep = f"nested more than {limits.max_depth} levels deep"
        raise DataError([Problem(where, deep)]) from None
    finally:
        loader.dispose()
    return Document(data, name, index)


def _read(source: str | Path, name: str, limits: Limits) -> str:
    """The file as text: a regular file, at most `limits.max_bytes` bytes, UTF-8."""
    try:
        raw = read_limited(source, limits.max_bytes, what=limits.what)
    except UsageError as exc:
        raise DataError([Problem(Location(name, None, None), exc.message)]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})"
        raise DataError([Problem(Location(name, line, None), message)]) from None


def _reader_line(text: str, position: Any) -> int | None:
    """The line of a reader error: libyaml counts bytes of UTF-8, PyYAML characters."""
    if not isinstance(position, int):
        return None
    if _Loader is not yaml.SafeLoader:
        return text.encode("utf-8").count(b"\n", 0, position) + 1
    return text.count("\n", 0, position) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _labelled(node: yaml.Node, path: JsonPath) -> list[tuple[yaml.Node, JsonPath]]:
    """The children of a collection with their JSON paths (a key is placed at its value's)."""
    if isinstance(node, yaml.MappingNode):
        out = []
        for key, value in node.value:
            where = (*path, str(key.value)) if isinstance(key, yaml.ScalarNode) else path
            out += [(key, where), (value, where)]
        return out
    return [(item, (*path, i)) for i, item in enumerate(node.value)]


def _at(name: str, node: yaml.Node, path: JsonPath = ()) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1, format_path(path))


def _inspect(root: yaml.Node, name: str, limits: Limits, loader: Any) -> tuple[list[Problem], bool]:
    """Measure the node graph without building it: every distinct node is visited once, so
    aliases cost nothing to measure however far they would expand.

    Returns the problems and whether the graph is sound (acyclic, within the depth and size
    limits), i.e. safe for recursive walks and for PyYAML to construct.
    """
    problems: list[Problem] = []
    # id -> (nodes, characters, depth) with aliases expanded; sizes saturate at _HUGE
    size: dict[int, tuple[int, int, int]] = {}
    open_nodes: set[int] = set()  # the nodes on the path to the one being visited
    stack: list[tuple[yaml.Node, bool, JsonPath]] = [(root, False, ())]
    while stack:
        node, done, path = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            nodes, chars, depth = 1, 0, 0
            for child in _children(node):
                n, c, d = size[id(child)]
                nodes, chars, depth = nodes + n, chars + c, max(depth, d)
            size[key] = (min(nodes, _HUGE), min(chars, _HUGE), depth + 1)
            continue
        if key in size:
            continue
        if key in open_nodes:
            problems.append(
                Problem(
                    _at(name, node, path), "an alias refers to a node that contains it", "remove it"
                )
            )
            return problems, False
        if isinstance(node, yaml.ScalarNode):
            message = _check_scalar(node, loader)
            if message:
                problems.append(Problem(_at(name, node, path), *message))
            size[key] = (1, len(node.value), 0)
            continue
        if node.tag not in (_MAP, _SEQ):
            problems.append(Problem(_at(name, node, path), _tag_message(node.tag)))
        open_nodes.add(key)
        stack.append((node, True, path))
        stack.extend((child, False, where) for child, where in reversed(_labelled(node, path)))

    nodes, chars, depth = size[id(root)]
    sound = True
    if depth > limits.max_depth:
        problems.append(_too_deep(root, name, limits.max_depth, size))
        sound = False
    if nodes > limits.max_nodes:
        problems.append(
            Problem(
                Location(name, 1, 1),
                f"the document expands to {_count(nodes)} nodes; the limit is {limits.max_nodes:,}",
                "remove nested aliases",
            )
        )
        sound = False
    elif chars > limits.max_chars:
        problems.append(
            Problem(
                Location(name, 1, 1),
                f"the document expands to {_count(chars)} characters of text;"
                f" the limit is {limits.max_chars:,}",
                "repeat long text less often through aliases",
            )
        )
        sound = False
    return problems, sound


def _count(n: int) -> str:
    return f"more than {_HUGE:,}" if n >= _HUGE else f"{n:,}"


def _tag_message(tag: str) -> str:
    shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
    return f"the tag {shown!r} is not allowed: only maps, lists, strings, numbers, booleans, null"


def _check_scalar(node: yaml.ScalarNode, loader: Any) -> tuple[str, str | None] | None:
    """What is wrong with a scalar, as (message, hint), or None: a tag JSON cannot hold, a
    number PyYAML would choke on (or take seconds over), a lone surrogate."""
    tag, value = node.tag, node.value
    if tag == _MERGE:
        return None  # `<<`: only as a key, which `_index` checks
    if tag not in _SCALARS:
        return _tag_message(tag), None
    if tag == _STR:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a "\\ud800" escape, which pure-Python PyYAML lets by
                return "a lone surrogate is not valid Unicode", None
        return None
    if tag not in _CONVERTED:
        return None
    if len(value) > MAX_NUMBER_CHARS:
        return f"a number of more than {MAX_NUMBER_CHARS} characters", "quote it to keep it as text"
    try:
        number = loader.yaml_constructors[tag](loader, node)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, yaml.YAMLError):
        return f"{value!r} is not a valid {tag.removeprefix(_TAG)}", None
    if isinstance(number, float) and not math.isfinite(number):
        message = f"{value!r} is not a finite number (JSON has no NaN or Infinity)"
        return message, "quote it to keep it as text"
    return None


def _too_deep(
    root: yaml.Node, name: str, limit: int, size: dict[int, tuple[int, int, int]]
) -> Problem:
    """Follow the deepest chain down to the first level past `limit`, to name where it is."""
    node: yaml.Node = root
    path: JsonPath = ()
    for _ in range(limit):
        steps: list[tuple[str | int, yaml.Node]]
        if isinstance(node, yaml.MappingNode):
            steps = [(str(k.value), c) for k, v in node.value for c in (k, v)]
        else:
            steps = list(enumerate(node.value))
        label, node = max(steps, key=lambda step: size[id(step[1])][2])
        path = (*path, label)
    return Problem(_at(name, node, path), f"nested more than {limit} levels deep")


def _index(
    node: yaml.Node,
    path: JsonPath,
    marks: dict[JsonPath, tuple[int, int]] | None,
    *,
    problems: list[Problem],
    name: str,
    seen: set[int],
) -> None:
    """Record each path's line and column, and check mapping keys.

    Recursive, but only over a graph `_inspect` found acyclic and at most `MAX_DEPTH` deep.
    Without `marks`, each node is checked once, however many aliases lead to it.
    """
    if marks is None:
        if id(node) in seen:
            return
        seen.add(id(node))
    else:
        marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE:
                _index(value_node, path, None, problems=problems, name=name, seen=seen)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                problems.append(
                    Problem(
                        _at(name, key_node, path),
                        "mapping keys must be plain strings",
                        "quote a key that YAML reads as a number, boolean or null",
                    )
                )
                continue
            key = key_node.value
            if key in first:
                problems.append(
                    Problem(
                        _at(name, key_node, (*path, key)),
                        f"duplicate key {key!r}; first defined at line"
                        f" {first[key].start_mark.line + 1}",
                        "remove one of them: YAML keeps only the last",
                    )
                )
                continue
            first[key] = key_node
            child = (*path, key)
            _index(value_node, child, marks, problems=problems, name=name, seen=seen)
            if marks is not None:
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), marks, problems=problems, name=name, seen=seen)
