"""Rewrite the output of every `$ mimo-select` session in README.md from the real CLI.

    python tools/readme_sessions.py          # rewrite README.md in place
    python tools/readme_sessions.py --check  # exit 1 when a block is out of date

A block whose expected output ends with `...` keeps as many lines as it showed. The tests
(`tests/test_readme.py`) hold the README to the same output; this only saves the typing
after a deliberate change to rules or data.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mimo_select.cli import run  # noqa: E402


def _run(command: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = run(shlex.split(command)[1:], out, err)
    return code, err.getvalue().splitlines() + out.getvalue().splitlines()


def _session(block: str) -> str:
    lines = block.splitlines()
    new: list[str] = []
    code = None
    i = 0
    while i < len(lines):
        command = lines[i][2:]
        j = i + 1
        while j < len(lines) and not lines[j].startswith("$ "):
            j += 1
        expected = lines[i + 1 : j]
        new.append(lines[i])
        if command == "echo $?":
            new.append(str(code))
        else:
            code, shown = _run(command)
            if expected and expected[-1] == "...":
                shown = [*shown[: len(expected) - 1], "..."]
            new.extend(shown)
        i = j
    return "\n".join(new) + "\n"


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    os.environ["NO_COLOR"] = "1"
    os.environ.setdefault("MIMO_SELECT_TODAY", "2026-11-30")  # as tests/test_readme.py pins it
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = re.sub(r"(```text\n)(\$ mimo-select.*?)(```)",
                     lambda m: m[1] + _session(m[2]) + m[3], text, flags=re.S)  # fmt: skip
    if "--check" in argv:
        return int(updated != text)
    readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
