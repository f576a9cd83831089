"""Answers a person can trust: the guide both ways, uncertain counts, media sizes, load plans,
pinned models and output worth reading; each from the CLI and from Python."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from mimo_select import NoEligibleModelError, RequestError, Selector, Traits, load_catalog
from mimo_select.media import MediaSize

from .conftest import CASES, ROOT, RunCli
from .test_properties import traits as any_traits

SELECTOR = Selector.default()
CATALOG = load_catalog()
GUIDE = SELECTOR.rules.guide


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def audio_part(data: str, fmt: str = "mp3") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}


# --- the guide, both ways ------------------------------------------------------------------


@pytest.mark.parametrize("row", GUIDE.rows, ids=lambda r: r.scenario)
def test_a_rows_implied_traits_alone_choose_its_first_model(row: Any) -> None:
    assert SELECTOR.select(Traits(**row.implies)).model == row.models[0]  # matched, unnamed
    assert SELECTOR.select(Traits(scenario=row.scenario)).model == row.models[0]  # named


@settings(max_examples=300, deadline=None)
@given(any_traits())
def test_every_reason_that_cites_the_guide_names_a_row_the_request_has(t: Traits) -> None:
    decision = SELECTOR.select(t)
    rows = {r.requirement: r for r in GUIDE.rows}
    for candidate in decision.ranked:
        for reason in candidate.reasons:
            if reason.rule != "guide":
                assert "guide" not in reason.message
                continue
            requirement = reason.message.removeprefix("guide: ").split(" → ")[0]
            row = rows[requirement]
            assert candidate.model in row.models
            named = decision.traits.scenario == row.scenario
            assert named or row.matches(decision.traits) is True


def test_the_tts_scenarios_pick_speech_models_from_the_cli_too(cli: RunCli) -> None:
    for scenario, model in (("tts_voice_clone", "mimo-v2.5-tts-voiceclone"),
                            ("tts_preset_voice", "mimo-v2.5-tts"),
                            ("tts_voice_design", "mimo-v2.5-tts-voicedesign")):  # fmt: skip
        code, out, _ = cli("recommend", "--scenario", scenario, "--json")
        assert (code, json.loads(out)["model"]) == (0, model)
    code, out, _ = cli("explain", "mimo-v2.5-tts-voiceclone", "--scenario", "tts_voice_clone")
    assert (code, out.splitlines()[0]) == (0, "mimo-v2.5-tts-voiceclone: chosen, score 115")
    code, _, err = cli("recommend", "--scenario", "voice_clone")
    assert code == 2
    assert "(did you mean 'tts_voice_clone'?)" in err


def test_requests_that_have_a_rows_traits_quote_the_row(cli: RunCli) -> None:
    _, out, _ = cli("recommend", "--input", "audio", "--json")
    assert json.loads(out)["ranked"][0]["reasons"][0]["message"].startswith(
        "guide: Understanding of image, audio, and video content"
    )
    _, out, _ = cli("recommend", "--needs", "deep_thinking", "--input-tokens", "50000",
                       "--max-output", "2000", "--json")  # fmt: skip
    doc = json.loads(out)
    assert doc["model"] == "mimo-v2.5-pro"
    assert doc["ranked"][0]["reasons"][0]["message"].startswith("guide: Complex reasoning")
    _, out, _ = cli("recommend", "--voice", "clone", "--json")
    assert json.loads(out)["ranked"][0]["reasons"][0]["rule"] == "guide"


def test_a_request_matching_several_rows_or_none_says_so() -> None:
    both = SELECTOR.select(Traits(input_modalities=["text", "image"], features=["deep_thinking"]))
    assert {r.scenario for r in GUIDE.in_force(both.traits)} == {
        "complex_reasoning", "multimodal_understanding",
    }  # fmt: skip
    assert both.model == "mimo-v2.5"  # the Pro model takes no image
    assert both.ranked[0].reasons[0].message.startswith("guide: Understanding of image")
    none = SELECTOR.select(Traits())
    assert GUIDE.in_force(none.traits) == ()
    assert all(r.rule != "guide" for c in none.ranked for r in c.reasons)


# --- uncertain counts, and media sizes ---------------------------------------------------------


def test_audio_of_unknown_length_keeps_its_models_and_says_what_to_do(cli: RunCli) -> None:
    body = {"model": "auto", "messages": [user([audio_part("https://example.com/a.mp3"),
                                                {"type": "text", "text": "summarise"}])]}  # fmt: skip
    d = SELECTOR.route(body)
    assert d.model == "mimo-v2.5"
    assert [c.model for c in d.cautions] == ["mimo-v2.5", "mimo-v2-omni"]
    assert d.cautions[0].violations[0].certain is False
    assert any(u.startswith("audio length unknown: give its duration") for u in d.unknowns)
    assert "4,611,686" not in json.dumps(d.to_json())  # no number derived from no bound
    strict = SELECTOR.route(body, strict=True)
    assert strict.model is None
    assert all("parts" not in c for _, changes in strict.suggestions for c in changes)
    sized = SELECTOR.route(body, media_sizes={"https://example.com/a.mp3": MediaSize(seconds=60)})
    assert sized.cautions == ()
    assert dict(sized.traits.tokens.parts)["audio"] == 375  # 60 s at 6.25 tokens a second
    path = ROOT / "examples" / "bodies" / "talk-summary.json"
    code, out, _ = cli("route", str(path), "--json")
    assert (code, json.loads(out)["model"]) == (0, "mimo-v2.5")
    code, out, _ = cli("route", str(path), "--strict")
    assert code == 1


@pytest.mark.parametrize("name", ["lame-cbr-2s.mp3", "tone-1s.flac", "opus-2s.ogg",
                                  "faststart-2s.m4a", "tone-1s.wav"])  # fmt: skip
def test_audio_durations_are_read_from_common_formats(name: str) -> None:
    meta = json.loads((CASES / "audio" / "expected.json").read_text())[name]
    data = f"data:{meta['mime']};base64," + base64.b64encode((CASES / "audio" / name)
                                                              .read_bytes()).decode()  # fmt: skip
    count = SELECTOR.read({"messages": [user([audio_part(data, meta["format"])])]}).count()
    assert dict(count.parts)["audio"] == round(meta["seconds"] * 6.25 + 0.4999)
    assert count.upper_bound is not None


def test_a_voice_sample_given_by_url_is_a_clone() -> None:
    body = {"model": "auto", "audio": {"voice": "https://example.com/me.wav", "format": "wav"},
            "messages": [{"role": "assistant", "content": "Hello there."}]}  # fmt: skip
    assert SELECTOR.route(body).model == "mimo-v2.5-tts-voiceclone"


def png(width: int, height: int) -> str:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def test_a_malformed_media_header_names_its_json_path(cli: RunCli, tmp_path: Path) -> None:
    body = {"messages": [user([{"type": "image_url", "image_url": {"url": png(0, 0)}}])]}
    with pytest.raises(RequestError) as info:
        SELECTOR.route(body)
    assert info.value.where == "$.messages[0].content[0]"
    assert "0x0 pixels" in info.value.message
    path = tmp_path / "b.json"
    path.write_text(json.dumps(body))
    code, _, err = cli("route", str(path))
    assert code == 2
    assert err.startswith("mimo-select: error: $.messages[0].content[0]: the image header says")


def test_media_sizes_a_person_gives(cli: RunCli) -> None:
    code, out, _ = cli("recommend", "--media", "audio:40m", "--json")
    doc = json.loads(out)
    assert (doc["model"], doc["traits"]["input_tokens"]) == ("mimo-v2.5", 15_000)
    _, out, _ = cli("recommend", "--media", "image:1920x1080", "--media", "video:90s@720p",
                    "--json")  # fmt: skip
    assert json.loads(out)["traits"]["input_modalities"] == ["image", "text", "video"]
    code, _, err = cli("recommend", "--media", "audio:forever")
    assert code == 2
    assert "write image:1920x1080, audio:40m" in err


# --- load beyond one model's limit ------------------------------------------------------------


def test_a_load_over_one_models_limit_gets_a_plan(cli: RunCli) -> None:
    d = SELECTOR.select(Traits(latency="low", expected_rpm=500))
    assert d.plan is not None
    assert d.plan.covers
    assert d.plan.split[0].model == "mimo-v2-flash"
    assert sum(s.rpm or 0 for s in d.plan.split) == 500
    assert d.plan.accounts_needed == ("mimo-v2-flash", 5)
    assert SELECTOR.select(Traits(latency="low", expected_rpm=500, accounts=5)).model == (
        "mimo-v2-flash"
    )
    code, out, _ = cli("recommend", "--latency", "low", "--rpm", "500")
    assert code == 0
    assert "RPM and TPM are limits per" in out
    assert "or 5 accounts on mimo-v2-flash (--accounts 5)" in out
    big = SELECTOR.select(Traits(expected_tpm=10**9))
    assert big.plan is not None
    assert not big.plan.covers
    assert cli("recommend", "--tpm", "1000M")[0] == 1


# --- pinned models -------------------------------------------------------------------------


def test_a_pinned_model_is_never_swapped_silently() -> None:
    body = {"model": "mimo-v2-flash", "max_tokens": 100_000, "messages": [user("write")]}
    d = SELECTOR.route(body)
    assert (d.requested_fits, d.model) == (False, "mimo-v2.5")  # the cheaper of those that fit
    with pytest.raises(NoEligibleModelError, match="asks for mimo-v2-flash, which does not fit"):
        d.apply(body)
    assert d.apply(body, fallback=True)["model"] == "mimo-v2.5"
    fits = SELECTOR.route({**body, "max_tokens": 1000})
    assert fits.apply(body)["model"] == "mimo-v2-flash"


# --- check in real repositories --------------------------------------------------------------


def test_the_hook_only_checks_prompt_folders_by_default() -> None:
    import re

    import yaml

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    files = re.compile(hook["files"])
    for path in ("prompts/a.txt", "app/prompts/review.json", "prompt/x.yaml", "lib/sys.prompt"):
        assert files.search(path), path
    for path in ("package.json", "docker-compose.yml", ".github/workflows/ci.yml", "README.md"):
        assert not files.search(path), path


def test_check_in_a_real_repository(cli: RunCli, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "summary.json").write_text(json.dumps({"prompt": "Summarise."}))
    (tmp_path / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    (tmp_path / "docker-compose.yml").write_text("services: {web: {image: nginx}}\n")
    code, out, _ = cli("check", ".")
    assert code == 0
    assert out.splitlines()[-1] == (
        "3 files: 1 prompt checked (1 fit, 0 failed), 2 files skipped (not prompts)"
    )
    assert cli("check", ".", "--strict")[0] == 2
    code, out, _ = cli("check", ".", "--include", "prompts/**/*.json", "--output", "json")
    assert [f["path"] for f in json.loads(out)["files"]] == ["prompts/summary.json"]
    (tmp_path / "empty").mkdir()
    code, _, err = cli("check", "empty")
    assert code == 2
    assert "no prompt files found in empty" in err


def test_the_readme_uploads_sarif_whatever_the_outcome() -> None:
    readme = (ROOT / "README.md").read_text()
    upload = readme.index("github/codeql-action/upload-sarif")
    assert readme[upload:].splitlines()[1].strip() == "if: always()"


# --- output worth reading ----------------------------------------------------------------------


def test_counts_take_the_catalogs_suffixes(cli: RunCli) -> None:
    _, out, _ = cli("recommend", "--input-tokens", "600k", "--max-output", "128K", "--json")
    assert json.loads(out)["traits"]["input_tokens"] == 600 * 1024
    _, out, _ = cli("recommend", "--tpm", "10M", "--json")
    assert json.loads(out)["traits"]["expected_tpm"] == 10_000_000


def test_help_lists_the_scenarios_and_the_scope_of_rate_limits(cli: RunCli) -> None:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        from mimo_select.cli import build_parser

        build_parser().parse_args(["recommend", "--help"])
    text = " ".join(out.getvalue().split())
    for row in CATALOG.guide:
        assert row.scenario in text
    assert "RPM and TPM are limits per account and per model" in text


def test_one_error_format_for_every_command(cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    for argv in (("models", "nope"), ("route", str(bad)), ("tokens", str(bad)),
                 ("recommend", "--input", "sound"), ("explain", "x"), ("check", "/nope"),
                 ("recomend",), ("validate", "--catalog", "/nope.yaml")):  # fmt: skip
        code, _, err = cli(*argv)
        assert code == 2, argv
        assert err.startswith("mimo-select: error: "), (argv, err)


def test_models_id_shows_one_model_in_full(cli: RunCli) -> None:
    code, out, _ = cli("models", "mimo-v2.5-tts-voiceclone")
    assert code == 0
    assert "  guide:          tts_voice_clone: Voice Cloning (Upload Audio Sample)" in out
    assert "  RPM:            100 (per account, per model)" in out
    _, out, _ = cli("models", "mimo-v2.5", "--json")
    assert json.loads(out)["guide"][0]["scenario"] == "multimodal_understanding"
