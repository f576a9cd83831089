"""Shared fixtures: the in-process CLI runner, paths, and the fuzzing JSON strategy."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import strategies as st

from mimo_select.cli import run

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"

RunCli = Callable[..., tuple[int, str, str]]


def run_cli(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run `mimo-select argv...` in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        import sys

        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8", "surrogatepass")))
        try:
            code = run(list(argv), out, err)
        finally:
            sys.stdin = saved
    else:
        code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def without_notes(text: str) -> list[str]:
    """The lines of an answer after its leading notes (news of retired models, wrapped)."""
    lines = text.splitlines()
    while lines and lines[0].startswith("note: "):
        lines.pop(0)
        while lines and lines[0].startswith("  "):
            lines.pop(0)
    return lines


@pytest.fixture
def cli() -> RunCli:
    return run_cli


# keys that matter somewhere in a request body, for fuzzing readers with near-miss JSON
BODY_KEYS = (
    "model", "messages", "role", "content", "type", "text", "image_url", "url", "tools",
    "function", "arguments", "max_tokens", "max_completion_tokens", "stream", "thinking",
    "audio", "voice", "system", "source", "data", "input_audio", "response_format",
    "tool_calls", "name", "input", "video_url", "fps", "reasoning_content", "parameters",
    "properties",
)  # fmt: skip
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**7)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(BODY_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)
