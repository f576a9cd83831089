"""The built wheel carries its data and works from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("mimo_select-*.whl")
    return built


def test_wheel_ships_data_rules_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "mimo_select/data/models.yaml",
        "mimo_select/data/catalog.schema.json",
        "mimo_select/data/tokenizer/mimo.json",
        "mimo_select/data/tokenizer/qwen-ranks.bin",
        "mimo_select/rules/default.yaml",
        "mimo_select/rules/rules.schema.json",
        "mimo_select/py.typed",
    ):
        assert expected in names
    assert any(n.endswith(".dist-info/licenses/NOTICE") for n in names)
    assert not any(n.endswith("qwen.tiktoken") for n in names)  # the source stays in the repo


def test_installed_wheel_runs_from_root(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the runtime dependencies come from this environment, offline; the package from the wheel
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(venv / "bin" / "mimo-select"), "models", "--json"],
        cwd="/",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert len(json.loads(result.stdout)) == 9
    prompt = tmp_path / "p.txt"
    prompt.write_text("hello world\n")
    counted = subprocess.run(
        [str(venv / "bin" / "mimo-select"), "tokens", str(prompt)],
        cwd="/", env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert counted.stdout == f"{prompt}: 3 tokens (as text)\n"
    where = subprocess.run(
        [str(python), "-c", "import mimo_select; print(mimo_select.__file__)"],
        cwd="/",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv))
