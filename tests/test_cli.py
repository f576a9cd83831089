"""The command line, run in-process: whole outputs and exit codes."""

from __future__ import annotations

import json

from mimo_select import load_catalog

from .conftest import CASES, RunCli, without_notes


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
    assert without_notes(out)[0].split() == [
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
    assert cli("validate") == (
        0,
        "data/models.yaml: ok (9 models, 6 guide rows)\n"
        "rules/default.yaml: ok (26 rules in force)\n",
        "",
    )
    bad = str(CASES / "catalog" / "several_cross_errors.yaml")
    code, out, err = cli("validate", "--catalog", bad)
    assert (code, out) == (2, "")
    assert err.count("several_cross_errors.yaml:") == 2
    assert err.endswith("2 problems found\n")
    assert "did you mean 'mimo-v2-flash'?" in err


def test_schema_catalog_is_the_shipped_draft_2020_12_schema(cli: RunCli) -> None:
    code, out, _ = cli("schema", "catalog")
    assert code == 0
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_usage_errors_exit_2_with_a_message(cli: RunCli) -> None:
    code, out, err = cli("frobnicate")
    assert (code, out) == (2, "")
    assert err.startswith("mimo-select: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert cli("recomend")[2] == (
        "mimo-select: error: argument COMMAND: unknown choice 'recomend' (did you mean"
        " 'recommend'?)\n"
    )
    code, _, err = cli("models", "--catalog", "/nonexistent/models.yaml")
    assert code == 2
    assert err == (
        "mimo-select: error: /nonexistent/models.yaml: $: cannot read file: No such file or"
        " directory\n"
    )
    code, _, err = cli()
    assert code == 2
    assert "usage: mimo-select" in err


def test_version(cli: RunCli) -> None:
    code, out, _ = cli("--version")
    assert code == 0
    assert out.startswith("mimo-select ")


def test_recommend_prints_choice_reasons_and_rejections(cli: RunCli) -> None:
    code, out, err = cli(
        "recommend", "--input", "text,image", "--scenario", "multimodal_understanding"
    )
    assert (code, err) == (0, "")
    assert out.startswith("note: mimo-v2-omni was retired on 2026-06-30")  # a fallback
    lines = without_notes(out)
    assert lines[:3] == [
        "Recommended: mimo-v2.5  (score 106.67)",
        "      + guide: Understanding of image, audio, and video content → mimo-v2.5 or",
        "        mimo-v2-omni (scenario multimodal_understanding) [guide +100]",
    ]
    assert "  2. mimo-v2-omni  (score 51.67)" in lines
    assert lines[-4:] == [  # one entry per class of model that cannot serve the request
        "Not eligible",
        "  x 7 models: mimo-v2.5-pro, mimo-v2-pro, mimo-v2-flash, mimo-v2.5-tts,",
        "      mimo-v2.5-tts-voiceclone, mimo-v2.5-tts-voicedesign, mimo-v2-tts: needs",
        "      image, text input; accepts text [input-modalities]",
    ]
    assert max(len(line) for line in lines) <= 80


def test_recommend_json_and_exit_1_when_nothing_fits(cli: RunCli) -> None:
    code, out, _ = cli("recommend", "--input-tokens", "3,000,000", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["model"] is None
    assert doc["suggestions"][0]["changes"] == ["split the input into at least 3 parts"]
    code, out, _ = cli("recommend", "--input-tokens", "3000000")
    assert code == 1
    assert out.startswith("No eligible model.")
    assert "mimo-v2.5-pro: split the input into at least 3 parts" in out


def test_recommend_usage_errors_name_the_flag(cli: RunCli) -> None:
    assert cli("recommend", "--input", "imag") == (
        2,
        "",
        "mimo-select: error: --input: unknown value 'imag' (did you mean 'image'?);"
        " allowed: audio, image, text, video\n",
    )
    assert cli("recommend", "--needs", "vision")[2] == (
        "mimo-select: error: --needs: unknown value 'vision'; for that, use --input image\n"
    )
    assert cli("recommend", "--needs", "voice_clone")[2] == (
        "mimo-select: error: --needs: unknown value 'voice_clone'; for that, use --voice clone\n"
    )
    code, _, err = cli("recommend", "--max-output", "lots")
    assert code == 2
    assert err == (
        "mimo-select: error: recommend: argument --max-output: expected a whole number (K and M"
        " suffixes allowed), got 'lots'\n"
    )
    code, _, err = cli("recommend", "--deny", "mimo-v2-flsh")
    assert (code, err) == (
        2,
        "mimo-select: error: deny: unknown model 'mimo-v2-flsh' (did you mean 'mimo-v2-flash'?)\n",
    )


def test_recommend_with_a_user_rules_file(cli: RunCli) -> None:
    code, out, _ = cli(
        "recommend", "--scenario", "complex_reasoning", "--json",
        "--rules", str(CASES / "rules" / "team_policy.yaml"),
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["model"] == "mimo-v2-flash"
    code, _, err = cli("recommend", "--rules", str(CASES / "rules" / "unknown_operator.yaml"))
    assert code == 2
    assert "unknown_operator.yaml:6:13: $.rules[0].check.$lte_: rule 'r': unknown operator" in err


def test_explain_a_rejected_model(cli: RunCli) -> None:
    code, out, _ = cli("explain", "mimo-v2-flash", "--input-tokens", "300000")
    assert code == 1
    assert without_notes(out)[:3] == [
        "mimo-v2-flash: not eligible",
        "  the winner is mimo-v2.5-pro (score 109.03)",
        "      - needs 300,000 input tokens; at most 262,144 fit the context window",
    ]
    assert "  constraint  context-window      violated" in out
    assert "voice-clone" not in out  # only the rules that apply to this request
    code, out, _ = cli("explain", "mimo-v2-pro", "--json")
    assert code == 0
    assert json.loads(out)["rank"] == 5  # the dearest of five
    assert cli("explain", "gpt-4o")[0] == 2


def test_schema_rules_and_decision(cli: RunCli) -> None:
    for name in ("rules", "decision"):
        code, out, _ = cli("schema", name)
        assert code == 0
        assert json.loads(out)["$schema"].endswith("2020-12/schema")


def test_validate_reports_rule_errors_with_the_catalog_ok(cli: RunCli) -> None:
    code, out, err = cli("validate", "--rules", str(CASES / "rules" / "patch_unknown_rule.yaml"))
    assert code == 2
    assert out == "data/models.yaml: ok (9 models, 6 guide rows)\n"
    assert "rule 'guid' is not defined by an earlier file (did you mean 'guide'?)" in err


def test_tokens_counts_text_and_chat_files(cli: RunCli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "p.txt").write_text("hello world\n")
    body = {"messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "disabled"}}
    (tmp_path / "b.json").write_text(json.dumps(body))
    code, out, err = cli("tokens", str(tmp_path / "p.txt"), str(tmp_path / "b.json"), "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [f["exact"] for f in doc["files"]] == [True, True]
    assert doc["total"] == sum(f["input"] for f in doc["files"])
    assert [f["api"] for f in doc["files"]] == ["text", "openai"]
    code, out, _ = cli("tokens", str(tmp_path / "p.txt"))
    assert out == f"{tmp_path / 'p.txt'}: 3 tokens (as text)\n"


def test_tokens_reports_unreadable_files_and_counts_the_rest(cli: RunCli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ok.txt").write_text("hello")
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    code, out, err = cli(
        "tokens", str(tmp_path / "ok.txt"), str(tmp_path / "bad.json"), str(tmp_path / "bin.txt")
    )
    assert code == 2
    assert out.startswith(f"{tmp_path / 'ok.txt'}: 1 tokens")
    assert "bad.json:1: malformed JSON" in err
    assert "bin.txt:1: binary file" in err


def test_recommend_with_a_prompt_file(cli: RunCli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prompt = tmp_path / "long.txt"
    prompt.write_text(
        "lorem ipsum dolor sit amet " * 12_000
    )  # ~ 72K tokens: a straddle for TTS only
    code, out, _ = cli("recommend", "--prompt-file", str(prompt), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == "mimo-v2-flash"
    assert doc["tokens"]["tokenizer"] == "mimo-qwen2-bpe"


def test_route_prints_validates_and_applies(cli: RunCli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "mimo-v2-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}]}]}  # fmt: skip
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    code, out, _ = cli("route", str(path))
    assert code == 1  # the requested model does not fit: that comes first (after the news)
    assert without_notes(out)[:4] == [
        "Requested: mimo-v2-flash does not fit",
        "  - needs image, text input; accepts text [input-modalities]",
        "  the best model that fits is mimo-v2.5; a gateway switches to it only when",
        "  asked (fallback)",
    ]
    code, out, _ = cli("route", str(path), "--json")
    assert json.loads(out)["requested"] == {"model": "mimo-v2-flash", "fits": False}
    code, out, err = cli("route", str(path), "--apply")  # a pinned model is not swapped
    assert (code, out) == (1, "")
    assert err.splitlines()[:2] == [
        "mimo-select: the body asks for mimo-v2-flash, which does not fit (needs image, text"
        " input; accepts text); mimo-v2.5 fits (--fallback switches to it)",
        "note: mimo-v2-flash and mimo-v2-omni were retired on 2026-06-30 (official: Model",
    ]  # the news follows on stderr: stdout is for the body
    code, out, err = cli("route", str(path), "--apply", "--fallback")
    assert (code, json.loads(out)["model"]) == (0, "mimo-v2.5")
    assert err.splitlines()[0] == "mimo-select: switched from mimo-v2-flash to mimo-v2.5"
    body["model"] = "auto"
    code, out, _ = cli("route", "-", "--apply", stdin=json.dumps(body))
    assert code == 0
    assert json.loads(out) == {**body, "model": "mimo-v2.5"}
    code, _, err = cli("route", "-", stdin="{nope")
    assert code == 2
    assert "malformed JSON" in err
    code, _, err = cli("route", "-", stdin=json.dumps({"messages": [{"content": "x"}]}))
    assert code == 2
    assert err.endswith("error: $.messages[0].role: a message needs a role\n")
