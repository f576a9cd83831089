"""The README's examples stay true."""

from __future__ import annotations

import re
import shlex

import pytest

from mimo_select import Selector, Traits

from .conftest import ROOT, RunCli, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
README_TODAY = "2026-11-30"  # the day the README's `--as-of today` examples were written


def test_models_block_is_the_real_output(cli: RunCli) -> None:
    block = re.search(r"<!-- models:begin -->\n```text\n(.*?)```", README, re.S)
    assert block is not None
    _, out, _ = cli("models")
    table = out.split("\n\n")[0] + "\n"
    assert block.group(1) == table, "regenerate the block from `mimo-select models`"


def test_python_example_holds() -> None:
    selector = Selector.default()
    decision = selector.select(
        Traits(input_modalities=["text", "image"], features=["function_call"])
    )
    assert decision.model == "mimo-v2.5"
    assert decision.fallbacks == ("mimo-v2-omni",)
    assert decision.rejected[0].violations[0].message == "needs image, text input; accepts text"
    assert not selector.fits("mimo-v2-flash", Traits(input_tokens=300_000))


def test_ci_runs_the_readmes_test_command() -> None:
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def _sessions() -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Every ```text block of the README that starts with `$ mimo-select`: (block, [(command,
    expected output lines)]). A last expected line of `...` means "the output starts so".
    Standard error and output are compared together, as a terminal shows them."""
    found = []
    for block in re.findall(r"```text\n(\$ .*?)```", README, re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        found.append((block.splitlines()[0], steps))
    return found


@pytest.mark.parametrize(("first", "steps"), _sessions(), ids=lambda v: str(v)[:60])
def test_every_command_in_the_readme_prints_what_it_shows(
    first: str, steps: list[tuple[str, list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("MIMO_SELECT_TODAY", README_TODAY)  # `--as-of today`, whenever CI runs
    code = None
    for command, expected in steps:
        if command == "echo $?":
            assert [str(code)] == expected
            continue
        argv = shlex.split(command)
        assert argv[0] == "mimo-select", command
        code, out, err = run_cli(*argv[1:])
        shown = err.splitlines() + out.splitlines()  # as a terminal shows them: notes first
        if expected and expected[-1] == "...":
            assert shown[: len(expected) - 1] == expected[:-1], command
        else:
            assert shown == expected, command
