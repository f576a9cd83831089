"""The command line, run in-process: whole outputs and exit codes."""

from __future__ import annotations

import json

from mimo_select import load_catalog

from .conftest import CASES, RunCli


def test_models_json_lists_every_model_with_the_stable_keys(cli: RunCli) -> None:
    code, out, err = cli("models", "--json")
    assert (code, err) == (0, "")
    models = json.loads(out)
    assert [m["id"] for m in models] == list(load_catalog().ids)
    assert set(models[0]) == {
        "id",
        "series",
        "generation",
        "capabilities",
        "input_modalities",
        "output_modalities",
        "context_window",
        "max_output",
        "rpm",
        "tpm",
    }
    flash = next(m for m in models if m["id"] == "mimo-v2-flash")
    assert (flash["context_window"], flash["max_output"], flash["tpm"]) == (262144, 65536, 10**7)


def test_models_table_fits_80_columns_without_colour(cli: RunCli) -> None:
    code, out, _ = cli("models")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "MODEL",
        "SERIES",
        "GEN",
        "CONTEXT",
        "MAX",
        "OUT",
        "RPM",
        "TPM",
        "OUTPUT",
    ]
    assert "mimo-v2-flash              flash   2    256K     64K      100  10M  text" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out


def test_catalog_option_works_before_and_after_the_command(cli: RunCli) -> None:
    base = str(CASES / "catalog" / "_base.yaml")
    for argv in (("--catalog", base, "models", "--json"), ("models", "--json", "--catalog", base)):
        code, out, _ = cli(*argv)
        assert code == 0
        assert [m["id"] for m in json.loads(out)] == ["mimo-v2-flash", "mimo-v2-pro"]


def test_validate_ok_and_every_error_with_exit_2(cli: RunCli) -> None:
    assert cli("validate") == (0, "data/models.yaml: ok (9 models, 6 guide rows)\n", "")
    bad = str(CASES / "catalog" / "several_cross_errors.yaml")
    code, out, err = cli("validate", "--catalog", bad)
    assert (code, out) == (2, "")
    assert err.count("several_cross_errors.yaml:") == 2
    assert "did you mean 'mimo-v2-flash'?" in err


def test_schema_catalog_is_the_shipped_draft_2020_12_schema(cli: RunCli) -> None:
    code, out, _ = cli("schema", "catalog")
    assert code == 0
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_usage_errors_exit_2_with_a_message(cli: RunCli) -> None:
    code, out, err = cli("frobnicate")
    assert (code, out) == (2, "")
    assert "invalid choice: 'frobnicate'" in err
    code, _, err = cli("models", "--catalog", "/nonexistent/models.yaml")
    assert code == 2
    assert err == (
        "error: /nonexistent/models.yaml: $: cannot read file: No such file or directory\n"
    )
    code, _, err = cli()
    assert code == 2
    assert "usage: mimo-select" in err


def test_version(cli: RunCli) -> None:
    code, out, _ = cli("--version")
    assert code == 0
    assert out.startswith("mimo-select ")
