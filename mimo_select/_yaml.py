"""A YAML loader that keeps line numbers, refuses duplicate keys and refuses bombs.

PyYAML keeps the last of two equal keys without a word and expands aliases without bound;
both would let a bad data file pass silently, so both are errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import DataError, Location, Problem

MAX_BYTES = 1024 * 1024
MAX_NODES = 200_000  # after alias expansion; the bundled files have a few hundred

JsonPath = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where the wheel has it


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


def load(source: str | Path, *, text: str | None = None, display: str | None = None) -> Document:
    """Read one YAML document from `source` (or from `text`, naming it `source`).

    Raises `DataError` for unreadable files, syntax errors, duplicate keys, more than one
    document, files over 1 MiB and alias expansion past `MAX_NODES` nodes.
    """
    name = display or str(source)
    where = Location(name, None, None)
    if text is None:
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise DataError(
                    [Problem(where, f"file is {size:,} bytes; data files are limited to 1 MiB")]
                )
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError([Problem(where, f"cannot read file: {exc.strerror}")]) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                [Problem(where, f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})")]
            ) from None
    elif len(text.encode("utf-8")) > MAX_BYTES:
        raise DataError([Problem(where, "text is over 1 MiB; data files are limited to 1 MiB")])

    loader = _DataLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise DataError([Problem(Location(name, 1, 1), "the file is empty")])
        expanded = _expanded_size(node, {})
        if expanded > MAX_NODES:
            raise DataError(
                [
                    Problem(
                        Location(name, 1, 1),
                        f"the document expands to {expanded:,} nodes; the limit is {MAX_NODES:,}",
                        "remove nested aliases",
                    )
                ]
            )
        marks: dict[JsonPath, tuple[int, int]] = {}
        problems: list[Problem] = []
        _index(node, (), marks, problems, name)
        if problems:
            raise DataError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else where
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise DataError([Problem(loc, f"YAML syntax: {message}")]) from None
    except yaml.YAMLError as exc:
        raise DataError([Problem(where, f"YAML: {exc}")]) from None
    except RecursionError:
        raise DataError([Problem(where, "nesting is too deep")]) from None
    finally:
        loader.dispose()
    return Document(data, name, marks)


def _index(
    node: yaml.Node,
    path: JsonPath,
    marks: dict[JsonPath, tuple[int, int]],
    problems: list[Problem],
    name: str,
) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        _mark(name, key_node, path),
                        "mapping keys must be plain strings",
                    )
                )
                continue
            if key in seen:
                first = seen[key].start_mark
                problems.append(
                    Problem(
                        _mark(name, key_node, (*path, key)),
                        f"duplicate key {key!r}; first defined at line {first.line + 1}",
                        "remove one of them: YAML keeps only the last",
                    )
                )
                continue
            seen[key] = key_node
            child = (*path, key)
            _index(value_node, child, marks, problems, name)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), marks, problems, name)


def _mark(name: str, node: yaml.Node, path: JsonPath) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1, format_path(path))


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Node count with every alias expanded, memoised so a bomb is measured, not built."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards recursive anchors
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo) + _expanded_size(v, memo)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo)
    memo[key] = total
    return total
