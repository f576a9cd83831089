"""The data-file YAML loader: line numbers kept, duplicates and bombs refused."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_deep_nesting_is_refused_at_its_line_before_any_validator_recurses(
    tmp_path: Path,
) -> None:
    from mimo_select.errors import RulesError
    from mimo_select.rules import load_rules

    check = "true"
    for _ in range(100):
        check = "{$and: [" + check + "]}"
    path = tmp_path / "team.yaml"
    path.write_text(
        "version: 1\nrules:\n  - id: deep\n    type: constraint\n    limit: policy\n"
        f"    check: {check}\n    message: too deep\n"
    )
    with pytest.raises(RulesError) as info:
        load_rules([path])
    (problem,) = info.value.problems
    assert (problem.location.file, problem.location.line) == (str(path), 6)
    assert problem.message == "nested more than 64 levels deep"
    assert problem.location.path.startswith("$.rules[0].check.$and[0].$and[0]")
    # through aliases too, where the text itself is shallow
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 80)]
    (deep,) = _problems("\n".join(lines) + "\n")
    assert "nested more than 64 levels deep" in deep


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_a_device_as_a_data_file_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)  # reading it would block: the refusal comes before any read
    with pytest.raises(DataError, match=r"not a regular file \(a named pipe\)"):
        _yaml.load(fifo)
    if Path("/dev/urandom").exists():
        with pytest.raises(DataError, match=r"not a regular file \(a character device\)"):
            _yaml.load("/dev/urandom")


def test_the_size_is_measured_while_reading(tmp_path: Path) -> None:
    proc = Path("/proc/self/status")  # stat says 0 bytes
    if not proc.exists() or proc.stat().st_size:
        pytest.skip("no /proc")
    small = _yaml.Limits(max_bytes=16, max_nodes=10, max_depth=4, max_chars=16)
    with pytest.raises(DataError, match="file is over 16 bytes; data files are limited"):
        _yaml.load(proc, limits=small)


def test_an_alias_bomb_of_long_text_is_refused_before_it_is_built() -> None:
    text = f'm: &m "{"x" * 100_000}"\nl: [' + ", ".join(["*m"] * 20_000) + "]\n"
    tracemalloc.start()
    try:
        (problem,) = _problems(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # refused before building: 2 GB of text were never made
    assert problem == (
        "x.yaml:1:1: $: the document expands to 2,000,100,002 characters of text;"
        " the limit is 1,048,576 (repeat long text less often through aliases)"
    )


def test_a_bomb_too_large_to_count_is_still_refused() -> None:
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 60)]
    (problem,) = _problems("\n".join(lines) + "\n")
    assert "the document expands to more than 1,000,000,000,000,000 nodes" in problem


def test_a_recursive_alias_is_refused() -> None:
    assert _problems("a: &x [1, *x]\n") == [
        "x.yaml:1:4: $.a[1]: an alias refers to a node that contains it (remove it)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!binary aGk=\n", "x.yaml:1:4: $.a: the tag '!!binary' is not allowed"),
        ("a: !!set {b}\n", "x.yaml:1:4: $.a: the tag '!!set' is not allowed"),
        ("a: !!omap [b: 1]\n", "x.yaml:1:4: $.a: the tag '!!omap' is not allowed"),
        ("a: .inf\n", "x.yaml:1:4: $.a: '.inf' is not a finite number"),
        ("a: 1.0e+999\n", "x.yaml:1:4: $.a: '1.0e+999' is not a finite number"),
        ('a: !!int "x"\n', "x.yaml:1:4: $.a: 'x' is not a valid int"),
        ("a: !!bool maybe\n", "x.yaml:1:4: $.a: 'maybe' is not a valid bool"),
        ("a: " + "1" * 5000 + "\n", "x.yaml:1:4: $.a: a number of more than 100 characters"),
        ("a: " + "5:" * 400 + "5\n", "x.yaml:1:4: $.a: a number of more than 100 characters"),
        ("1: one\n", "x.yaml:1:1: $: mapping keys must be plain strings"),
        ("on: push\n", "x.yaml:1:1: $: mapping keys must be plain strings"),
        ("a: b\n\x07\n", "x.yaml:2: $: YAML syntax: unacceptable character #x0007"),
    ],
)
def test_values_json_cannot_hold_are_refused_where_they_are(text: str, message: str) -> None:
    (problem,) = _problems(text)
    assert problem.startswith(message)


def test_what_json_can_hold_still_loads() -> None:
    doc = _yaml.load("x.yaml", text='a: 1\nb: 1.5\nc: true\nd: ~\n"1": quoted\ne: !!str 2\n')
    assert doc.data == {"a": 1, "b": 1.5, "c": True, "d": None, "1": "quoted", "e": "2"}
    merged = _yaml.load("x.yaml", text="base: &b {k: 1, j: 2}\nother:\n  <<: *b\n  j: 3\n")
    assert merged.data["other"] == {"k": 1, "j": 3}


def test_a_lone_surrogate_in_text_is_an_error_not_a_crash() -> None:
    (problem,) = _problems("a: '\ud800'\n")
    assert "x.yaml:1" in problem


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(
            [*"abc:-[]{},&*!?|>#'\"\n 01.~", "&a ", "*a", "<<: ", "!!binary ", "!!int ",
             ".inf", "---\n", "  ", "1e999", "on", "\x07", "\ud800", "\\u", "%YAML 1.1\n"]
        ),
        max_size=40,
    ).map("".join)
)  # fmt: skip
def test_any_text_loads_or_raises_a_data_error(text: str) -> None:
    try:
        doc = _yaml.load("fuzz.yaml", text=text)
    except DataError:  # its problems are never empty: DataError refuses that
        return
    json.dumps(doc.data, allow_nan=False)  # only what JSON can hold comes out
