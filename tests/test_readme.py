"""The README's examples stay true."""

from __future__ import annotations

import re

from mimo_select import Selector, Traits

from .conftest import ROOT, RunCli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_models_block_is_the_real_output(cli: RunCli) -> None:
    block = re.search(r"<!-- models:begin -->\n```text\n(.*?)```", README, re.S)
    assert block is not None
    _, out, _ = cli("models")
    table = out.split("\n\n")[0] + "\n"
    assert block.group(1) == table, "regenerate the block from `mimo-select models`"


def test_recommend_example_is_the_real_output(cli: RunCli) -> None:
    block = re.search(r"answers:\n\n```text\n(.*?)  \.\.\.\n```", README, re.S)
    assert block is not None
    _, out, _ = cli("recommend", "--input-tokens", "300000", "--max-output", "100000")
    assert out.startswith(block.group(1))


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
