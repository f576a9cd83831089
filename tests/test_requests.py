"""Routing request bodies: OpenAI- and Anthropic-compatible shapes."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings

from mimo_select import MimoSelectError, RequestError, Selector, UnknownModelError, load_catalog
from mimo_select.requests import read_request

from .conftest import JSON

SELECTOR = Selector.default()
CATALOG = load_catalog()


def traits(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    return read_request(body, CATALOG).traits


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def png(width: int, height: int) -> bytes:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def test_input_modalities_from_openai_content_parts() -> None:
    t = traits({"messages": [
        {"role": "developer", "content": "be brief"},
        user([{"type": "text", "text": "compare"},
              {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}},
              {"type": "input_audio", "input_audio": {"data": "https://example.invalid/a.wav"}},
              {"type": "video_url", "video_url": {"url": "https://example.invalid/v.mp4"},
               "fps": 1, "media_resolution": "default"}]),
    ]})  # fmt: skip
    assert t.input_modalities == {"text", "image", "audio", "video"}
    assert t.tokens is not None
    assert t.tokens.upper_bound is None  # the audio's length is unknown: no bound


def test_features_from_the_body() -> None:
    body = {
        "messages": [user("hi")],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}},
                  {"type": "web_search", "max_keyword": 3}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "stream": True,
        "thinking": {"type": "enabled"},
    }  # fmt: skip
    t = traits(body)
    assert t.features == {"function_call", "web_search", "structured_output", "streaming",
                          "deep_thinking"}  # fmt: skip
    assert t.thinking == "enabled"
    assert traits({"messages": [user("hi")], "functions": [{"name": "f"}]}).features == {
        "function_call"
    }
    assert traits(
        {"messages": [user("hi")], "response_format": {"type": "json_object"}}
    ).features == {"structured_output"}
    assert traits({"messages": [user("hi")], "response_format": {"type": "text"}}).features == set()


def test_output_budget_prefers_max_completion_tokens() -> None:
    both = {"messages": [user("hi")], "max_completion_tokens": 100, "max_tokens": 9}
    assert traits(both).max_output_tokens == 100
    assert traits({"messages": [user("hi")], "max_tokens": 9}).max_output_tokens == 9


def test_a_small_budget_with_thinking_on_is_noted_in_the_reasons() -> None:
    d = SELECTOR.route({"model": "mimo-v2.5-pro", "messages": [user("hi")], "max_tokens": 500})
    notes = [r.message for r in d.ranked[0].reasons]
    assert any("reasoning tokens count against the output budget" in n for n in notes)
    off = SELECTOR.route({"model": "mimo-v2.5-pro", "messages": [user("hi")], "max_tokens": 500,
                          "thinking": {"type": "disabled"}})  # fmt: skip
    assert not any("reasoning tokens" in r.message for r in off.ranked[0].reasons)


@pytest.mark.parametrize(
    ("audio", "messages", "voice"),
    [
        ({"format": "wav", "voice": "mimo_default"}, [{"role": "assistant", "content": "Hello"}], "preset"),
        ({"format": "wav", "voice": "data:audio/wav;base64,UklGRg=="},
         [{"role": "assistant", "content": "Hello"}], "clone"),
        ({"format": "pcm16"}, [user("a calm, low voice"), {"role": "assistant", "content": "Hello"}],
         "design"),
    ],
)  # fmt: skip
def test_speech_requests_pick_the_voice_model(audio: Any, messages: Any, voice: str) -> None:
    body = {"model": "auto", "messages": messages, "audio": audio}
    t = traits(body)
    assert (t.output_modality, t.voice) == ("speech", voice)
    expected = {"preset": "mimo-v2.5-tts", "clone": "mimo-v2.5-tts-voiceclone",
                "design": "mimo-v2.5-tts-voicedesign"}[voice]  # fmt: skip
    assert SELECTOR.route(body).model == expected


def test_a_concrete_model_is_validated_and_an_alternative_named() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}
    d = SELECTOR.route({"model": "mimo-v2-flash", "messages": [user([image])]})
    assert (d.requested, d.requested_fits, d.model) == ("mimo-v2-flash", False, "mimo-v2.5")
    assert d.to_json()["requested"] == {"model": "mimo-v2-flash", "fits": False}
    fits = SELECTOR.route({"model": "mimo-v2-pro", "messages": [user("hi")]})
    assert (fits.model, fits.requested_fits) == ("mimo-v2-pro", True)
    assert "mimo-v2-pro" not in fits.fallbacks


def test_model_aliases_case_and_auto_resolve_in_one_place() -> None:
    hi = [user("hi")]
    for written in ("mimo-v2.5-pro[1m]", "MiMo-V2.5-Pro", " mimo-v2.5-pro "):
        request = read_request({"model": written, "messages": hi}, CATALOG)
        assert (request.model, request.requested) == ("mimo-v2.5-pro", written)
    for written in ("auto", "Auto", "AUTO", ""):
        assert read_request({"model": written, "messages": hi}, CATALOG).model is None
    assert read_request({"messages": hi}, CATALOG).model is None
    with pytest.raises(UnknownModelError, match="did you mean 'mimo-v2-flash'"):
        read_request({"model": "mimo-v2-flsh", "messages": hi}, CATALOG)


def test_apply_sets_the_model_without_touching_the_original() -> None:
    payload = "data:image/png;base64," + base64.b64encode(png(64, 64)).decode()
    messages = [user([{"type": "image_url", "image_url": {"url": payload}}])]
    body = {"model": "auto", "messages": messages, "temperature": 0.3}
    d = SELECTOR.route(body)
    new = d.apply(body)
    assert (new["model"], body["model"]) == ("mimo-v2.5", "auto")
    assert new["messages"] is messages  # shared, not copied
    assert new["temperature"] == 0.3
    none = SELECTOR.route({"messages": [user("hi")], "max_tokens": 10_000_000})
    with pytest.raises(MimoSelectError, match="no model is eligible"):
        none.apply(body)


def jpeg_with_exif(width: int, height: int, exif: int) -> bytes:
    blocks = b""
    while exif > 0:  # APP1 segments of at most 65,533 bytes each
        size = min(exif, 65_000)
        blocks += b"\xff\xe1" + struct.pack(">H", size + 2) + b"\0" * size
        exif -= size
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + blocks + sof + b"\xff\xd9"


def test_a_20mb_inline_image_is_sized_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = png(1920, 1080) + b"\0" * (15 * 1024 * 1024)
    url = "data:image/png;base64," + base64.b64encode(payload).decode()
    assert len(url) > 20_000_000
    import binascii

    decoded: list[int] = []
    real = binascii.a2b_base64

    def spy(data: Any, *a: Any, **k: Any) -> bytes:
        decoded.append(len(data))
        return real(data, *a, **k)

    monkeypatch.setattr(binascii, "a2b_base64", spy)
    body = {"messages": [user([{"type": "text", "text": "what is it?"},
                               {"type": "image_url", "image_url": {"url": url}}])]}  # fmt: skip
    d = SELECTOR.route(body)
    assert d.model == "mimo-v2.5"
    assert d.traits.tokens is not None
    assert dict(d.traits.tokens.parts)["image"] == 2040
    assert sum(decoded) <= 128  # base64 characters: only the header was decoded
    assert d.apply(body)["messages"] is body["messages"]
    decoded.clear()
    exif = jpeg_with_exif(1920, 1080, 1_000_000)  # the frame header a megabyte in
    body["messages"][0]["content"][1]["image_url"]["url"] = (
        "data:image/jpeg;base64," + base64.b64encode(exif).decode()
    )
    assert dict(SELECTOR.route(body).traits.tokens.parts)["image"] == 2040  # type: ignore[union-attr]
    assert sum(decoded) <= 512  # a few segment heads (16 of them), not the megabyte between


def test_a_1000_message_conversation_is_counted_exactly() -> None:
    messages = [user(f"question {i}") if i % 2 == 0 else {"role": "assistant", "content": f"answer {i}"}
                for i in range(1000)]  # fmt: skip
    body = {"model": "mimo-v2-flash", "messages": messages}
    exact = read_request(body, CATALOG, exact=True).traits.tokens
    assert exact is not None
    assert exact.exact  # a concrete model fixes the thinking default
    d = SELECTOR.route(body)
    assert d.model == "mimo-v2-flash"


def test_anthropic_bodies() -> None:
    body = {
        "model": "mimo-v2.5-pro",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}},
                  {"type": "web_search_20250305", "name": "web_search"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stream": True,
        "messages": [
            user([{"type": "text", "text": "weather?"},
                  {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                               "data": base64.b64encode(png(1024, 1024)).decode()}}]),
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "call it"},
                                              {"type": "tool_use", "id": "t1", "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            user([{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]),
        ],
    }  # fmt: skip
    request = read_request(body, CATALOG)
    assert request.api == "anthropic"
    t = request.traits
    assert t.input_modalities == {"text", "image"}
    assert t.features == {"function_call", "web_search", "deep_thinking", "streaming"}
    assert t.max_output_tokens == 2048
    assert t.tokens is not None
    assert dict(t.tokens.parts)["image"] == 1024
    d = SELECTOR.route(body)
    assert (d.requested, d.requested_fits, d.model) == ("mimo-v2.5-pro", False, "mimo-v2.5")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ([], "$"),
        ({}, "$"),
        ({"messages": []}, "$.messages"),
        ({"messages": "hi"}, "$.messages"),
        ({"messages": [{"content": "hi"}]}, "$.messages[0].role"),
        ({"messages": [user([{"type": "file", "file": {}}])]}, "$.messages[0].content[0].type"),
        ({"messages": [user("hi")], "max_tokens": "9"}, "$.max_tokens"),
        ({"messages": [user("hi")], "max_tokens": -1}, "$.max_tokens"),
        ({"messages": [user("hi")], "thinking": {"type": "auto"}}, "$.thinking"),
        ({"messages": [user("hi")], "stream": "yes"}, "$.stream"),
        ({"messages": [user("hi")], "audio": {"voice": 5}}, "$.audio.voice"),
        ({"messages": [user("hi")], "model": 5}, "$.model"),
        ({"system": "x", "messages": [{"role": "tool", "content": "x"}]}, "$.messages[0].role"),
        (
            {"system": "x", "messages": [user([{"type": "document"}])]},
            "$.messages[0].content[0].type",
        ),
    ],
)
def test_malformed_bodies_name_the_json_path(body: Any, where: str) -> None:
    with pytest.raises(RequestError) as info:
        SELECTOR.route(body)
    assert info.value.where == where


@settings(max_examples=600, deadline=None)
@given(JSON)
def test_routing_raises_only_mimo_select_errors(body: Any) -> None:
    try:
        decision = SELECTOR.route(body)
    except MimoSelectError:
        return
    decision.to_json()


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_trusted_traits_equal_validated_traits(body: Any) -> None:
    """`read_request` skips re-validating what it derived: the result must still be valid."""
    from mimo_select import Traits

    try:
        t = read_request(body, CATALOG).traits
    except MimoSelectError:
        return
    fields = {k: v for k, v in t.to_json().items() if k not in ("input_tokens", "input_tokens_max")}
    assert Traits.from_json(fields).to_json() == fields


def _load_example():  # type: ignore[no-untyped-def]
    import importlib.util

    from .conftest import ROOT

    spec = importlib.util.spec_from_file_location("gateway", ROOT / "examples" / "gateway.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gateway_example_chooses_keeps_the_body_and_logs_every_switch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = _load_example()
    body = {"model": "auto", "messages": [user("hi")]}
    sent, fallbacks = gateway.choose(body)
    assert (sent["model"], body["model"]) == ("mimo-v2-flash", "auto")
    assert fallbacks[0] == "mimo-v2.5"
    assert not caplog.records
    pinned = {"model": "mimo-v2-flash", "messages": [user("word " * 300_000)]}
    with caplog.at_level("WARNING", logger="mimo_select.gateway"):
        sent, _ = gateway.choose(pinned)
    assert sent["model"] == "mimo-v2.5-pro"
    (record,) = caplog.records
    assert record.getMessage().startswith("switched mimo-v2-flash -> mimo-v2.5-pro: needs 300,0")


def test_the_litellm_hook_example_without_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import sys
    import types

    fake = types.ModuleType("litellm.integrations.custom_logger")
    fake.CustomLogger = type("CustomLogger", (), {})  # type: ignore[attr-defined]
    for name in ("litellm", "litellm.integrations"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "litellm.integrations.custom_logger", fake)
    hook = _load_example().make_litellm_hook()
    body = {
        "model": "auto",
        "messages": [user([{"type": "image_url", "image_url": {"url": "https://x/a.png"}}])],
    }
    out = asyncio.run(hook.async_pre_call_hook(None, None, body, "acompletion"))
    assert out["model"] == "mimo-v2.5"
    with pytest.raises(ValueError, match=r"mimo-select: \$.messages: `messages` must be a list"):
        asyncio.run(hook.async_pre_call_hook(None, None, {"messages": 5}, "acompletion"))
