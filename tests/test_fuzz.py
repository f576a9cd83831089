"""Hostile input: nothing escapes but `MimoSelectError`, the CLI exits 0, 1 or 2 without a
traceback, and every JSON it prints is strict JSON.

The corpus (`tests/hostile.py`) holds every case that once broke; hypothesis varies them and
adds random ones. The normal suite runs a modest budget; `MIMO_SELECT_FUZZ=1` runs thousands.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimo_select import MimoSelectError, Selector, Traits, count_chat, count_tokens
from mimo_select.check import CheckOptions, check_item
from mimo_select.files import Item
from mimo_select.media import estimate_part
from mimo_select.tokens import count_text

from . import hostile
from .conftest import JSON, run_cli

LONG = bool(os.environ.get("MIMO_SELECT_FUZZ"))
BUDGET = settings(
    max_examples=3000 if LONG else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SELECTOR = Selector.default()
CORPUS = hostile.corpus()


def strict(text: str) -> Any:
    """Parse as strict JSON: NaN and Infinity are not JSON."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def through_the_library(body: Any) -> None:
    """Every library entry point a request reaches; only MimoSelectError may escape."""
    calls = (
        lambda: SELECTOR.route(body).to_json(exact_count=True),
        lambda: SELECTOR.route(body, strict=True).to_json(),
        lambda: SELECTOR.read(body, exact=True).tokens.to_json(),  # noqa: PLW0108 - called later
        lambda: [
            f.ok
            for f in check_item(
                Item("b.json", None, body, "json"), SELECTOR, CheckOptions(models=("mimo-v2.5",))
            )
        ],
    )
    for call in calls:
        try:
            result = call()
        except MimoSelectError:
            continue
        strict(json.dumps(result, allow_nan=False))  # what the library reports is strict JSON
    with contextlib.suppress(MimoSelectError):  # what it hands back is the caller's own body
        SELECTOR.route(body).apply(body, fallback=True)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_hostile_corpus_through_the_library(name: str) -> None:
    through_the_library(CORPUS[name])


def write_body(path: Path, body: Any) -> None:
    """As a client would send it: JSON text, lone surrogates as escapes, NaN as Python writes
    it (which strict readers refuse)."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # the corpus nests 5,000 deep on purpose
    try:
        text = json.dumps(body, ensure_ascii=True)
    finally:
        sys.setrecursionlimit(limit)
    path.write_text(text, encoding="utf-8")


def through_the_cli(path: Path) -> None:
    for argv in (("route", str(path), "--json"), ("route", str(path), "--apply", "--fallback"),
                 ("tokens", str(path), "--json"), ("check", str(path), "--output", "json"),
                 ("check", str(path), "--output", "sarif", "--model", "mimo-v2.5"),
                 ("recommend", "--prompt-file", str(path), "--json"),
                 ("route", str(path))):  # fmt: skip
        code, out, err = run_cli(*argv)
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err
        if out and ("--json" in argv or "--output" in argv or "--apply" in argv):
            strict(out)
        if code == 2:
            assert err.startswith("mimo-select") or out, (argv, err)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_hostile_corpus_through_the_cli(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.json"
    write_body(path, CORPUS[name])
    through_the_cli(path)


def test_a_deeply_nested_json_file_and_stdin_bytes(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    through_the_cli(deep)
    code, _, err = run_cli("tokens", "-", stdin="\udcff")
    assert code == 2
    assert "not UTF-8" in err
    code, out, _ = run_cli("tokens", "-", stdin="x")
    assert (code, out) == (0, "<stdin>: 1 tokens (as text)\n")


# --- random variations -----------------------------------------------------------------------

HOSTILE_TEXT = st.lists(
    st.sampled_from(["a", " ", "\n", "_", "<|im_end|>", "<think>", "\ud800", "中", "\x00", "{",
                     "[", "é", "\u2028", "  \n\n"]),
    max_size=40,
).map("".join)  # fmt: skip
LEAVES = st.one_of(
    JSON, HOSTILE_TEXT, st.floats(), st.integers(-(10**20), 10**20), st.just([]), st.just({})
)


SHALLOW = sorted(name for name in CORPUS if "nested" not in name)  # the rest nest 5,000 deep


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A corpus body with one value somewhere inside replaced by a random one."""
    body = json.loads(json.dumps(CORPUS[draw(st.sampled_from(SHALLOW))]))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append((node, key))
                walk(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                paths.append((node, i))
                walk(value)

    walk(body)
    if paths:
        parent, key = draw(st.sampled_from(paths))
        parent[key] = draw(LEAVES)
    return body


@BUDGET
@given(mutated())
def test_mutated_bodies_through_the_library(body: Any) -> None:
    through_the_library(body)


@BUDGET
@given(st.one_of(mutated(), JSON))
def test_mutated_bodies_through_the_cli(tmp_path: Path, body: Any) -> None:
    path = tmp_path / "body.json"
    write_body(path, body)
    through_the_cli(path)


@BUDGET
@given(st.dictionaries(st.sampled_from(
    ["input_modalities", "output_modality", "input_tokens", "max_output_tokens", "features",
     "voice", "latency", "scenario", "expected_rpm", "expected_tpm", "accounts", "allow", "deny",
     "thinking", "prompt", "messages", "nonsense"]), LEAVES, max_size=6),
    st.sampled_from(["mimo-v2.5", "mimo-v2-flash", 5, None, "nope"]))  # fmt: skip
def test_random_traits_through_select_fits_and_explain(data: dict[str, Any], model: Any) -> None:
    try:
        traits = Traits.from_json(data)
    except MimoSelectError:
        return
    for call in (lambda: SELECTOR.select(traits).to_json(),
                 lambda: SELECTOR.select(traits, strict=True).to_json(),
                 lambda: SELECTOR.fits(model, traits),
                 lambda: SELECTOR.explain(model, traits).to_json()):  # fmt: skip
        try:
            result = call()
        except MimoSelectError:
            continue
        strict(json.dumps(result, allow_nan=False))


@BUDGET
@given(HOSTILE_TEXT, st.lists(st.fixed_dictionaries({"role": st.sampled_from(
    ["system", "user", "assistant", "tool", "x"]), "content": HOSTILE_TEXT}), max_size=4))  # fmt: skip
def test_random_text_through_the_counters(text: str, messages: list[dict[str, Any]]) -> None:
    for call in (lambda: count_text(text), lambda: count_tokens(text),
                 lambda: count_chat(messages), lambda: count_chat(messages, thinking=True)):  # fmt: skip
        with contextlib.suppress(MimoSelectError):
            call()


MEDIA_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "audio/wav", "audio/mpeg",
               "audio/flac", "audio/ogg", "audio/mp4", "application/octet-stream"]  # fmt: skip
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"RIFF", b"ID3", b"\xff\xfb", b"fLaC",
         b"OggS", b"\0\0\0\x20ftyp", b""]  # fmt: skip


@BUDGET
@given(st.sampled_from(MEDIA_TYPES), st.sampled_from(MAGIC), st.binary(max_size=300),
       st.sampled_from(["image", "audio", "video"]))  # fmt: skip
def test_random_bytes_behind_every_media_type(
    mime: str, magic: bytes, raw: bytes, kind: str
) -> None:
    url = f"data:{mime};base64," + base64.b64encode(magic + raw).decode()
    part = {
        "image": {"type": "image_url", "image_url": {"url": url}},
        "audio": {"type": "input_audio", "input_audio": {"data": url, "format": mime[6:]}},
        "video": {"type": "video_url", "video_url": {"url": url}},
    }[kind]
    with contextlib.suppress(MimoSelectError):
        estimate_part(part, "$.part")


@BUDGET
@given(st.text(max_size=300))
def test_random_yaml_through_the_rules_and_catalog_loaders(tmp_path: Path, text: str) -> None:
    path = tmp_path / "file.yaml"
    try:
        path.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:
        return
    for argv in (("validate", "--rules", str(path)), ("validate", "--catalog", str(path)),
                 ("recommend", "--rules", str(path))):  # fmt: skip
        code, _, err = run_cli(*argv)
        assert code in (0, 1, 2)
        assert "Traceback" not in err


WORDS = ["models", "recommend", "explain", "route", "check", "tokens", "validate", "schema",
         "--input", "--needs", "--voice", "--scenario", "--input-tokens", "--max-output",
         "--rpm", "--tpm", "--accounts", "--media", "--json", "--strict", "--model", "--margin",
         "--jobs", "--output", "--format-in", "--include", "image", "audio:40m", "vision",
         "1M", "0", "-1", "99999999999999999999", "nan", "mimo-v2.5", "x", "-", "--"]  # fmt: skip


@BUDGET
@given(st.lists(st.sampled_from(WORDS), max_size=6))
def test_random_command_lines_exit_0_1_or_2(argv: list[str]) -> None:
    code, out, err = run_cli(*argv, stdin="")
    assert code in (0, 1, 2), (argv, err)
    assert "Traceback" not in err
    if "--json" in argv and code != 2 and out:
        strict(out)
