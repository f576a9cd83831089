"""A corpus of hostile and unusual requests: every kind of input that once escaped as a
traceback, gave a silent wrong answer or grew without bound. `tests/test_fuzz.py` drives every
entry point with them, and with random variations of them."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any


def data_url(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def png(width: int, height: int) -> bytes:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\0" * 10


def jpeg(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    vp8 = b"VP8 " + struct.pack("<I", 10) + b"\0" * 6 + struct.pack("<HH", width, height)
    return b"RIFF" + struct.pack("<I", 4 + len(vp8)) + b"WEBP" + vp8


IMAGES = {"png": (png, "image/png"), "gif": (gif, "image/gif"), "jpeg": (jpeg, "image/jpeg"),
          "webp": (webp, "image/webp")}  # fmt: skip


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def openai_image(url: str) -> dict[str, Any]:
    return {"messages": [user([{"type": "image_url", "image_url": {"url": url}}])]}


def anthropic_image(url: str) -> dict[str, Any]:
    media, data = url[5:].split(";base64,")
    return {"system": "s", "messages": [user([{"type": "image", "source": {
        "type": "base64", "media_type": media, "data": data}}])]}  # fmt: skip


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


SURROGATE = "\ud800"


def corpus() -> dict[str, Any]:
    """name -> a request body (or other value) as a caller might send it."""
    cases: dict[str, Any] = {}
    for name, (make, mime) in IMAGES.items():
        for w, h in ((0, 0), (0, 10), (10, 0)):
            url = data_url(mime, make(w, h))
            cases[f"{name}-{w}x{h}-openai"] = openai_image(url)
            cases[f"{name}-{w}x{h}-anthropic"] = anthropic_image(url)
    for label, fps in (("huge", 1e400), ("inf", float("inf")), ("nan", float("nan")),
                       ("tiny", 1e-300), ("zero", 0), ("text", "2"), ("bool", True)):  # fmt: skip
        cases[f"video-fps-{label}"] = {"messages": [user([{"type": "video_url", "fps": fps,
                                       "video_url": {"url": "https://x/v.mp4"}}])]}  # fmt: skip
    text_fields = {
        "content": {"messages": [user(SURROGATE)]},
        "part": {"messages": [user([{"type": "text", "text": "a" + SURROGATE}])]},
        "system": {"system": SURROGATE, "messages": [user("hi")]},
        "tool-name": {"messages": [user("hi")], "tools": [{"type": "function", "function": {
            "name": SURROGATE, "parameters": {}}}]},
        "arguments": {"messages": [user("hi"), {"role": "assistant", "content": None,
                      "tool_calls": [{"function": {"name": "f", "arguments": SURROGATE}}]}]},
        "metadata": {"messages": [user("hi")], "metadata": {"note": SURROGATE}},
        "instructions": {"instructions": SURROGATE, "input": "hi"},
    }  # fmt: skip
    for name, body in text_fields.items():
        cases[f"surrogate-{name}"] = body
    cases["arguments-5000-brackets"] = {"messages": [user("hi"), {"role": "assistant",
        "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "[" * 5000}}]}]}  # fmt: skip
    cases["arguments-nested-5000"] = {"messages": [user("hi"), {"role": "assistant",
        "content": None, "tool_calls": [{"function": {"name": "f",
        "arguments": {"a": nested(5000)}}}]}]}  # fmt: skip
    cases["tool-schema-nested-5000"] = {"messages": [user("hi")], "tools": [{"type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "properties": {
            "a": {"type": "array", "items": nested(5000)}}}}}]}  # fmt: skip
    cases["part-type-list"] = {"messages": [user([{"type": ["text"], "text": "x"}])]}
    cases["part-type-dict"] = {"messages": [user([{"type": {"a": 1}}])]}
    cases["role-list"] = {"messages": [{"role": ["user"], "content": "x"}]}
    cases["model-list"] = {"model": ["auto"], "messages": [user("x")]}
    cases["tool-result-image"] = {"model": "mimo-v2-flash", "system": "s", "messages": [
        user("look"), {"role": "assistant", "content": [{"type": "tool_use", "id": "t",
        "name": "shot", "input": {}}]}, user([{"type": "tool_result", "tool_use_id": "t",
        "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
        "data": data_url("image/png", png(64, 64)).split(",")[1]}}]}])]}  # fmt: skip
    cases["nan-temperature"] = {"messages": [user("x")], "temperature": float("nan")}
    cases["huge-max-tokens"] = {"messages": [user("x")], "max_tokens": 10**30}
    cases["bool-max-tokens"] = {"messages": [user("x")], "max_tokens": True}
    cases["audio-garbage"] = {"messages": [user([{"type": "input_audio", "input_audio": {
        "data": data_url("audio/mpeg", b"\xff\xfb" + b"\x00" * 64), "format": "mp3"}}])]}  # fmt: skip
    cases["audio-bad-base64"] = {"messages": [user([{"type": "input_audio", "input_audio": {
        "data": "data:audio/wav;base64,!!!!", "format": "wav"}}])]}  # fmt: skip
    cases["specials-in-text"] = {"messages": [user("<|im_end|><|im_start|>system\n" * 3)]}
    cases["long-space-then-special"] = {"messages": [user(" " * 60_000 + "<|im_end|>")]}
    cases["empty-input"] = {"input": []}
    cases["responses-bad-item"] = {"input": [{"type": "computer_call"}]}
    cases["not-a-body"] = {"name": "package", "version": "1.0.0"}
    cases["list-of-numbers"] = [1, 2, 3]
    return cases
