"""One reading of every request: `route`, `check`, `tokens` and `--prompt-file` agree.

Every entry point reads a body with the same reader and judges it with the same rules, so the
same body gets one count (exactness and bounds included) and one verdict per model.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimo_select import RequestError, Selector

from .conftest import CASES, run_cli, without_notes

SELECTOR = Selector.default()
TEXT_MODELS = [m.id for m in SELECTOR.catalog if "text" in m.output_modalities]
CALIBRATION = sorted((CASES / "calibration").glob("*.json"))


def png_url(width: int, height: int) -> str:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def _key(t: dict[str, Any]) -> tuple[Any, ...]:
    n = t["input"] if "input" in t else t["tokens"]
    return (n, t["exact"], t.get("lower_bound", n), t["upper_bound"])


def counts(path: Path, model: str | None = None) -> dict[str, tuple[Any, ...]]:
    """The count each entry point reports for the body in `path`, as (input, exact, lower,
    upper). With `model`, `check --model` and `tokens --model` count it as sent to that model;
    without, `check` follows the body's own model (or the default one)."""
    found: dict[str, tuple[Any, ...]] = {}
    code, out, err = run_cli("tokens", str(path), "--json")
    assert code == 0, err
    found["tokens"] = _key(json.loads(out)["files"][0])
    code, out, err = run_cli("route", str(path), "--json")
    assert code in (0, 1), err
    found["route"] = _key(json.loads(out)["tokens"])
    code, out, err = run_cli("recommend", "--prompt-file", str(path), "--json")
    assert code in (0, 1), err
    found["--prompt-file"] = _key(json.loads(out)["tokens"])
    targeted = ("--model", model) if model else ()
    code, out, err = run_cli("check", str(path), "--exact", "--output", "json", *targeted)
    assert code in (0, 1), err
    found["check"] = _key(json.loads(out)["files"][0])
    if model:
        code, out, err = run_cli("tokens", str(path), "--json", *targeted)
        assert code == 0, err
        found["tokens --model"] = _key(json.loads(out)["files"][0])
    return found


# --- the table of disagreements, row by row ------------------------------------------------

LONG_SYSTEM = "You answer questions about the shipping contract. " + "Clause text follows. " * 300


def test_an_anthropic_system_prompt_is_counted_by_every_entry_point(tmp_path: Path) -> None:
    body = {"model": "mimo-v2.5-pro", "max_tokens": 512, "system": LONG_SYSTEM,
            "messages": [{"role": "user", "content": "Summarise clause 4."}]}  # fmt: skip
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    found = counts(path)
    assert len(set(found.values())) == 1, found
    tokens, exact, *_ = found["tokens"]
    assert exact
    assert tokens > 1_200  # the system prompt, not the default one


def calibration(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES / "calibration" / f"{name}.json").read_text())
    return data


def test_the_api_reference_anthropic_body_counts_what_was_billed(tmp_path: Path) -> None:
    """The platform's basic example sent in the Anthropic shape: system on top, one user turn,
    thinking off. The API billed 57 prompt tokens for it."""
    openai = calibration("openai-chat-basic")["request"]
    system, user = openai["messages"]
    body = {"model": openai["model"], "max_tokens": 1024, "system": system["content"],
            "messages": [user], "thinking": {"type": "disabled"}}  # fmt: skip
    path = tmp_path / "anthropic.json"
    path.write_text(json.dumps(body))
    assert set(counts(path).values()) == {(57, True, 57, 57)}


@pytest.mark.parametrize("case", CALIBRATION, ids=lambda p: p.stem)
def test_calibration_cases_count_the_same_through_every_entry_point(
    case: Path, tmp_path: Path
) -> None:
    data = json.loads(case.read_text())
    usage = data["usage"]
    billed = usage.get("prompt_tokens", usage.get("input_tokens"))
    path = tmp_path / "body.json"
    path.write_text(json.dumps(data["request"]))
    found = counts(path)
    assert len(set(found.values())) == 1, found
    tokens, exact, low, high = found["tokens"]
    assert abs(tokens - billed) <= 0.02 * billed
    assert (tokens, exact, low, high) == (billed, True, billed, billed)
    decision = SELECTOR.route(data["request"])
    assert (decision.requested, decision.requested_fits) == (data["request"]["model"], True)


def test_a_model_that_thinks_by_default_is_counted_with_its_default(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Explain the rate limits."}]
    unset = SELECTOR.read({"model": "mimo-v2.5-pro", "messages": messages}).count()
    on = SELECTOR.read({"model": "mimo-v2.5-pro", "messages": messages,
                        "thinking": {"type": "enabled"}}).count()  # fmt: skip
    assert unset == on
    assert unset.exact
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"model": "mimo-v2.5-pro", "messages": messages}))
    assert set(counts(path).values()) == {(on.tokens, True, on.tokens, on.tokens)}


TOOL_USE = {
    "model": "mimo-v2.5-pro",
    "max_tokens": 1024,
    "system": "You can look up the weather.",
    "tools": [{"name": "get_weather", "description": "Current weather",
               "input_schema": {"type": "object",
                                "properties": {"city": {"type": "string"}}}}],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking it up."},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "18 C, clear"}]},
    ],
}  # fmt: skip


def test_anthropic_tool_use_and_results_are_counted_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "tool.json"
    path.write_text(json.dumps(TOOL_USE))
    found = counts(path)
    assert len(set(found.values())) == 1, found


def test_anthropic_input_schema_is_read_as_the_function_parameters() -> None:
    """The same tool in both shapes renders the same: `input_schema` is `parameters`."""
    openai = {
        "model": "mimo-v2.5-pro",
        "messages": [{"role": "system", "content": "You can look up the weather."},
                     {"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather",
            "parameters": TOOL_USE["tools"][0]["input_schema"]}}],  # type: ignore[index]
    }  # fmt: skip
    anthropic = {"model": "mimo-v2.5-pro", "system": "You can look up the weather.",
                 "messages": [{"role": "user", "content": "Weather in Paris?"}],
                 "tools": TOOL_USE["tools"]}  # fmt: skip
    assert SELECTOR.read(openai).count() == SELECTOR.read(anthropic).count()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "auto"}},
         "$.thinking"),
        ({"messages": [{"role": "user", "content": [{"text": "untyped"}]}]},
         "$.messages[0].content[0].type"),
    ],
)  # fmt: skip
def test_a_malformed_body_is_the_same_error_everywhere(
    body: dict[str, Any], where: str, tmp_path: Path
) -> None:
    with pytest.raises(RequestError) as info:
        SELECTOR.read(body)
    assert info.value.where == where
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(body))
    for argv in (("tokens", str(path)), ("route", str(path)),
                 ("recommend", "--prompt-file", str(path))):  # fmt: skip
        code, _, err = run_cli(*argv)
        assert code == 2
        assert where in err
    code, out, _ = run_cli("check", str(path), "--output", "json")
    assert code == 2
    assert where in json.loads(out)["errors"][0]["message"]


def test_auto_in_any_case_means_choose_everywhere(tmp_path: Path) -> None:
    body = {"model": "Auto", "messages": [{"role": "user", "content": "hi"}]}
    path = tmp_path / "auto.json"
    path.write_text(json.dumps(body))
    assert run_cli("route", str(path))[0] == 0
    assert run_cli("tokens", str(path))[0] == 0
    code, out, _ = run_cli("check", str(path), "--output", "json")
    assert code == 0
    assert json.loads(out)["files"][0]["why"].startswith("the default for a text request")


def test_check_applies_the_modality_rule_as_route_does(tmp_path: Path) -> None:
    body = {"model": "mimo-v2-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": png_url(64, 64)}}]}]}  # fmt: skip
    path = tmp_path / "image.json"
    path.write_text(json.dumps(body))
    assert SELECTOR.route(body).requested_fits is False
    code, out, _ = run_cli("check", str(path), "--output", "json")
    assert code == 1
    violation = json.loads(out)["files"][0]["violations"][0]
    assert (violation["rule"], violation["limit"]) == ("input-modalities", "input_modalities")
    code, out, _ = run_cli("check", str(path))
    assert without_notes(out)[0] == (
        f"{path}: mimo-v2-flash: needs image, text input; accepts text [input-modalities]"
    )


def test_a_body_saved_as_yaml_is_a_body_for_every_command(tmp_path: Path) -> None:
    as_json, as_yaml = tmp_path / "b.json", tmp_path / "b.yaml"
    as_json.write_text(json.dumps(TOOL_USE))
    as_yaml.write_text(yaml.safe_dump(TOOL_USE))
    assert counts(as_json) == counts(as_yaml)


def test_check_applies_a_users_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "team.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: no-flash\n    type: constraint\n    limit: policy\n"
        "    check: {$ne: [$model.series, flash]}\n    message: team X may not use Flash\n"
    )
    prompt = tmp_path / "p.txt"
    prompt.write_text("hello")
    code, out, _ = run_cli("check", str(prompt), "--model", "mimo-v2-flash",
                           "--rules", str(rules))  # fmt: skip
    assert code == 1
    assert without_notes(out)[0] == f"{prompt}: mimo-v2-flash: team X may not use Flash [no-flash]"


def test_media_sizes_come_from_the_selectors_catalog(tmp_path: Path) -> None:
    """A catalog that documents other image parameters counts images by them."""
    catalog = yaml.safe_load((Path(__file__).parent.parent / "data" / "models.yaml").read_text())
    for model in catalog["models"]:
        if model.get("media_tokens"):
            model["media_tokens"]["image"]["max_tokens"] = 100
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    custom = Selector.from_files(path)
    body = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}]}]}  # fmt: skip
    assert dict(SELECTOR.read(body).count().parts)["image"] == 8192
    assert dict(custom.read(body).count().parts)["image"] == 100


# --- properties -----------------------------------------------------------------------------


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """A conversation in neutral form; `as_openai` and `as_anthropic` render it."""
    words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                    min_size=1, max_size=40)  # fmt: skip
    turns = draw(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), words),
                          min_size=1, max_size=4))  # fmt: skip
    return {
        "system": draw(st.none() | words),
        "turns": turns,
        "image": draw(st.none() | st.tuples(st.integers(1, 3000), st.integers(1, 3000))),
        "tool": draw(st.booleans()),
        "call": draw(st.booleans()),
        "thinking": draw(st.sampled_from([None, True, False])),
        "model": draw(st.sampled_from([None, "auto", *TEXT_MODELS, "MIMO-V2.5-PRO[1m]"])),
        "budget": draw(st.none() | st.integers(0, 200_000)),
    }


def as_openai(c: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if c["system"] is not None:
        messages.append({"role": "system", "content": c["system"]})
    for role, text in c["turns"]:
        messages.append({"role": role, "content": text})
    if c["image"]:
        messages.append({"role": "user", "content": [
            {"type": "text", "text": "and this?"},
            {"type": "image_url", "image_url": {"url": png_url(*c["image"])}}]})  # fmt: skip
    if c["call"]:
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
             "function": {"name": "lookup", "arguments": json.dumps({"q": "x"})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "found"},
        ]  # fmt: skip
    body: dict[str, Any] = {"messages": messages}
    if c["tool"]:
        body["tools"] = [{"type": "function", "function": {"name": "lookup",
                          "description": "Look it up", "parameters": {"type": "object",
                          "properties": {"q": {"type": "string"}}}}}]  # fmt: skip
    return _common(c, body, "max_completion_tokens")


def as_anthropic(c: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": r, "content": t} for r, t in c["turns"]]
    if c["image"]:
        data = png_url(*c["image"]).split(",", 1)[1]
        messages.append({"role": "user", "content": [
            {"type": "text", "text": "and this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": data}}]})  # fmt: skip
    if c["call"]:
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "lookup",
                                               "input": {"q": "x"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1",
                                          "content": "found"}]},
        ]  # fmt: skip
    body: dict[str, Any] = {"messages": messages}
    if c["system"] is not None:
        body["system"] = c["system"]
    if c["tool"]:
        body["tools"] = [{"name": "lookup", "description": "Look it up", "input_schema": {
            "type": "object", "properties": {"q": {"type": "string"}}}}]  # fmt: skip
    return _common(c, body, "max_tokens")


def _common(c: dict[str, Any], body: dict[str, Any], budget: str) -> dict[str, Any]:
    if c["thinking"] is not None:
        body["thinking"] = {"type": "enabled" if c["thinking"] else "disabled"}
    if c["model"] is not None:
        body["model"] = c["model"]
    if c["budget"] is not None:
        body[budget] = c["budget"]
    return body


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conversations(), st.sampled_from([as_openai, as_anthropic]))
def test_every_entry_point_reports_one_count_and_one_verdict(
    tmp_path: Path, c: dict[str, Any], shape: Any
) -> None:
    body = shape(c)
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    request = SELECTOR.read(body)
    model = request.model or SELECTOR.select(request.traits).model or TEXT_MODELS[0]
    found = counts(path, model)
    as_read = {found["tokens"], found["route"], found["--prompt-file"]}
    assert len(as_read) == 1, found  # the body as it stands
    assert found["check"] == found["tokens --model"], found  # the body sent to `model`
    if request.model == model or request.thinking is not None:
        assert len(set(found.values())) == 1, found  # the count does not depend on the model
    exact = SELECTOR.read(body, model=model, exact=True)
    count = exact.tokens
    assert found["check"] == (count.tokens, count.exact, count.lower_bound, count.upper_bound)
    eligible = SELECTOR.explain(model, exact.traits).eligible
    _, out, _ = run_cli("check", str(path), "--exact", "--output", "json", "--model", model)
    assert json.loads(out)["files"][0]["ok"] is eligible


@settings(max_examples=150, deadline=None)
@given(conversations(), st.sampled_from([as_openai, as_anthropic]), st.sampled_from(TEXT_MODELS))
def test_check_fails_exactly_when_explain_rejects_the_target(
    c: dict[str, Any], shape: Any, target: str
) -> None:
    from mimo_select.check import CheckOptions, check_item
    from mimo_select.files import Item

    body = shape(c)
    findings = check_item(Item("body.json", None, body, "json"), SELECTOR,
                          CheckOptions(models=(target,)))  # fmt: skip
    (finding,) = findings
    traits = SELECTOR.read(body, model=target).traits
    explanation = SELECTOR.explain(target, traits.with_count(finding.tokens))
    assert finding.ok is explanation.eligible
    assert {v.rule for v in finding.violations} == {v.rule for v in explanation.violations}


def test_the_same_shapes_read_through_the_responses_api() -> None:
    """The platform's Responses page: `instructions` + `input` bill like system + user."""
    chat = calibration("openai-chat-basic")["request"]
    system, user = chat["messages"]
    responses = {"model": chat["model"], "instructions": system["content"],
                 "input": user["content"], "reasoning": {"effort": "none"}}  # fmt: skip
    assert SELECTOR.read(responses).count() == SELECTOR.read(chat).count()
    parts = {**responses, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": user["content"]}]}]}  # fmt: skip
    assert SELECTOR.read(parts).count().tokens == 57
    assert SELECTOR.read(parts, api="responses").api == "responses"
