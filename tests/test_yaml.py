"""The data-file YAML loader: line numbers kept, duplicates and bombs refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimo_select import _yaml
from mimo_select.errors import DataError


def _problems(text: str) -> list[str]:
    with pytest.raises(DataError) as info:
        _yaml.load("x.yaml", text=text)
    return [str(p) for p in info.value.problems]


def test_marks_point_at_keys_and_items() -> None:
    doc = _yaml.load("x.yaml", text="a:\n  b: [1, 2]\n  c:\n    - d: 1\n")
    assert doc.data == {"a": {"b": [1, 2], "c": [{"d": 1}]}}
    assert str(doc.locate(("a", "c", 0, "d"))) == "x.yaml:4:7: $.a.c[0].d"
    assert str(doc.locate(("a", "b", 1))) == "x.yaml:2:10: $.a.b[1]"
    # a path below the deepest known node reports its nearest ancestor's line
    assert doc.locate(("a", "b", 7)).line == 2


def test_duplicate_keys_name_both_lines() -> None:
    assert _problems("a: 1\nb: 2\na: 3\n") == [
        "x.yaml:3:1: $.a: duplicate key 'a'; first defined at line 1"
        " (remove one of them: YAML keeps only the last)"
    ]


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    (problem,) = _problems("\n".join(lines) + "\n")
    assert "the document expands to" in problem
    assert "the limit is 200,000" in problem


def test_small_aliases_are_fine() -> None:
    doc = _yaml.load("x.yaml", text="base: &b {k: 1}\nother: *b\n")
    assert doc.data == {"base": {"k": 1}, "other": {"k": 1}}


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(DataError, match="data files are limited to 1 MiB"):
        _yaml.load(big)


def test_empty_multi_document_and_non_utf8(tmp_path: Path) -> None:
    assert _problems("") == ["x.yaml:1:1: $: the file is empty"]
    (multi,) = _problems("a: 1\n---\nb: 2\n")
    assert "expected a single document" in multi
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\n")
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 3 is 0xff\)"):
        _yaml.load(bad)
    with pytest.raises(DataError, match="cannot read file"):
        _yaml.load(tmp_path / "missing.yaml")


def test_unsafe_tags_are_refused() -> None:
    (problem,) = _problems("a: !!python/object/apply:os.system ['true']\n")
    assert "x.yaml:1:4" in problem


def test_dates_stay_strings_for_the_schema_to_check() -> None:
    assert _yaml.load("x.yaml", text="d: 2026-06-01\n").data == {"d": "2026-06-01"}


def test_non_string_keys_are_refused() -> None:
    (problem,) = _problems("? [1, 2]\n: x\n")
    assert "mapping keys must be plain strings" in problem


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    problems = _problems("[" * 5000 + "]" * 5000)
    assert len(problems) == 1
