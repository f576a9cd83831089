"""Request bodies in, traits out: OpenAI- and Anthropic-compatible MiMo chat requests.

A routing layer holds a body, not traits. `read_request` derives what the body needs (input
kinds, features, voice, output budget, its token count) without touching large payloads: media
are sized from their headers, never decoded whole, and nothing is copied. Unknown fields are
ignored; a malformed body raises `RequestError` naming the JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .catalog import Catalog
from .errors import RequestError
from .tokens import TokenCount, bound_chat, count_chat, quick_bound, tool_chat_bound
from .traits import Traits

__all__ = ["Request", "read_request"]

AUTO = ("auto", "")
ALIAS_SUFFIXES = ("[1m]",)  # client-side aliases some tools append to a model id

# content part type -> input modality (OpenAI and Anthropic shapes)
PART_MODALITIES = {
    "text": "text",
    "image_url": "image",
    "image": "image",
    "input_audio": "audio",
    "video_url": "video",
    "video": "video",
}


class Request(NamedTuple):
    """What a body asks for: its API shape, the model it names (None: choose) and its traits."""

    api: str
    model: str | None
    traits: Traits
    thinking: bool | None  # as the body sets it; None: the model's default


def read_request(body: Any, catalog: Catalog, *, api: str = "auto", exact: bool = False) -> Request:
    """Read an OpenAI (`/v1/chat/completions`) or Anthropic (`/anthropic/v1/messages`) body.

    The input count starts as a UTF-8 bound that the selector refines only when a limit is
    near; `exact=True` counts at once.
    """
    if not isinstance(body, Mapping):
        raise RequestError(f"a request body is a JSON object, not {_kind(body)}", where="$")
    if api not in ("auto", "openai", "anthropic"):
        raise RequestError(f"unknown API shape {api!r}; use openai or anthropic", where="$")
    model = _model(body, catalog)
    messages = _field(body, "messages", list, required=True)
    thinking = _thinking(body)
    count_thinking = thinking
    if count_thinking is None and model is not None:
        default = catalog.model(model).thinking
        count_thinking = None if default is None else default.default == "enabled"
    # The common case, plain text turns: one pass sizes them and proves them OpenAI-shaped.
    quick = None
    if api != "anthropic" and not exact and "system" not in body:
        tools = body.get("tools")
        if not tools:
            quick = quick_bound(messages, count_thinking)
        elif type(tools) is list and all(
            type(t) is dict and t.get("type") == "function" for t in tools
        ):  # OpenAI function tools; text-only turns are all the bound accepts
            quick = tool_chat_bound(messages, tools, count_thinking)
    if quick is not None:
        shape, tools, inputs, count = "openai", tools or None, {"text"}, quick
    else:
        shape = _detect(body) if api == "auto" else api
        if shape == "anthropic":
            messages, tools = _from_anthropic(body, messages)
        else:
            tools = _field(body, "tools", list) or None
        inputs = _modalities(messages)
        count = _count(messages, tools, count_thinking, exact)
    features = _features(body, shape, thinking)
    voice, speech = _speech(body, messages)
    budget = _budget(body)
    traits = Traits._trusted(
        count,
        input_modalities=frozenset(inputs),
        output_modality="speech" if speech else "text",
        max_output_tokens=budget,
        features=frozenset(features),
        voice=voice,
        thinking=None if thinking is None else ("enabled" if thinking else "disabled"),
    )
    return Request(shape, model, traits, thinking)


def _count(messages: Any, tools: Any, thinking: bool | None, exact: bool) -> TokenCount:
    if exact:
        return count_chat(messages, tools=tools, thinking=thinking)
    return bound_chat(messages, tools=tools, thinking=thinking)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _field(body: Mapping[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(f"`{name}` is required", where=f"$.{name}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {list: "a list", dict: "an object", int: "a whole number", str: "a string"}
        raise RequestError(
            f"`{name}` must be {expected.get(kind, kind.__name__)}, not {_kind(value)}",
            where=f"$.{name}",
        )
    return value


def _detect(body: Mapping[str, Any]) -> str:
    """Anthropic bodies carry a top-level system, tool input schemas, or Anthropic blocks."""
    if "system" in body:
        return "anthropic"
    tools = body.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, Mapping) and "input_schema" in t for t in tools
    ):
        return "anthropic"
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if type(message) is dict else None
        if type(content) is list:
            for block in content:
                if isinstance(block, Mapping) and (
                    block.get("type") in ("tool_use", "tool_result", "thinking")
                    or (block.get("type") == "image" and "source" in block)
                ):
                    return "anthropic"
    return "openai"


def _model(body: Mapping[str, Any], catalog: Catalog) -> str | None:
    model = body.get("model")
    if model is None:
        return None
    if not isinstance(model, str):
        raise RequestError(f"`model` must be a string, not {_kind(model)}", where="$.model")
    for suffix in ALIAS_SUFFIXES:
        if model.endswith(suffix):
            model = model[: -len(suffix)]
    if model.lower() in AUTO:
        return None
    catalog.model(model)  # raises UnknownModelError with a suggestion
    return model


def _thinking(body: Mapping[str, Any]) -> bool | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, Mapping) or thinking.get("type") not in ("enabled", "disabled"):
        raise RequestError(
            'thinking must be {"type": "enabled"} or {"type": "disabled"}', where="$.thinking"
        )
    return bool(thinking["type"] == "enabled")


def _budget(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = _field(body, name, int)
        if value is not None:
            if value < 0:
                raise RequestError(f"`{name}` must not be negative", where=f"$.{name}")
            return int(value)
    return None


def _features(body: Mapping[str, Any], shape: str, thinking: bool | None) -> set[str]:
    features: set[str] = set()
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise RequestError("`tools` must be a list", where="$.tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise RequestError("a tool must be an object", where=f"$.tools[{i}]")
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            features.add("web_search")
        else:
            features.add("function_call")
    if body.get("functions") or body.get("tool_choice") not in (None, "none"):
        features.add("function_call")
    response_format = body.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, Mapping):
            raise RequestError("`response_format` must be an object", where="$.response_format")
        if response_format.get("type") in ("json_object", "json_schema"):
            features.add("structured_output")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("`stream` must be true or false", where="$.stream")
    if stream:
        features.add("streaming")
    if thinking:
        features.add("deep_thinking")
    return features


def _modalities(messages: Sequence[Any]) -> set[str]:
    """The input kinds the messages carry; checks each message has a role on the way."""
    kinds: set[str] = set()
    for i, message in enumerate(messages):
        if type(message) is not dict and not isinstance(message, Mapping):
            raise RequestError("a message must be an object", where=f"$.messages[{i}]")
        if type(message.get("role")) is not str:
            raise RequestError("a message needs a role", where=f"$.messages[{i}].role")
        content = message.get("content")
        if type(content) is str or content is None:
            kinds.add("text")
            continue
        if not isinstance(content, list):
            raise RequestError(
                f"content must be text or a list of parts, not {_kind(content)}",
                where=f"$.messages[{i}].content",
            )
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind not in PART_MODALITIES:
                raise RequestError(
                    f"unknown content part type {kind!r}; expected one of "
                    + ", ".join(sorted(PART_MODALITIES)),
                    where=f"$.messages[{i}].content[{j}].type",
                )
            kinds.add(PART_MODALITIES[kind])
    return kinds or {"text"}


def _speech(
    body: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> tuple[str | None, bool]:
    """(voice, speech output) from the body's `audio` object."""
    audio = body.get("audio")
    if audio is None:
        return None, False
    if not isinstance(audio, Mapping):
        raise RequestError("`audio` must be an object", where="$.audio")
    voice = audio.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise RequestError("`audio.voice` must be a string", where="$.audio.voice")
    if voice and voice.startswith("data:audio/"):
        return "clone", True
    if voice:
        return "preset", True
    style = any(m.get("role") == "user" and m.get("content") for m in messages)
    return ("design" if style else "preset"), True


# --- Anthropic -----------------------------------------------------------------------------


def _from_anthropic(
    body: Mapping[str, Any], messages: list[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The body's messages and tools in the OpenAI shape the counter reads (no payload copies)."""
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        out.append({"role": "system", "content": _text_blocks(system, "$.system")})
    for i, message in enumerate(messages):
        where = f"$.messages[{i}]"
        if not isinstance(message, Mapping):
            raise RequestError("a message must be an object", where=where)
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise RequestError("role must be user or assistant", where=f"{where}.role")
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise RequestError(
                f"content must be text or a list of blocks, not {_kind(content)}",
                where=f"{where}.content",
            )
        parts: list[Any] = []
        calls: list[dict[str, Any]] = []
        reasoning = ""
        for j, block in enumerate(content):
            at = f"{where}.content[{j}]"
            if not isinstance(block, Mapping):
                raise RequestError("a content block must be an object", where=at)
            kind = block.get("type")
            if kind in ("text", "image"):
                parts.append(block)
            elif kind == "tool_use":
                calls.append({"function": {"name": block.get("name", ""),
                                           "arguments": block.get("input", {})}})  # fmt: skip
            elif kind == "tool_result":
                result = block.get("content", "")
                out.append({"role": "tool", "content": _text_blocks(result, f"{at}.content")})
            elif kind in ("thinking", "redacted_thinking"):
                reasoning += str(block.get("thinking", ""))
            else:
                raise RequestError(
                    f"unknown content block type {kind!r}; expected text, image, tool_use, "
                    "tool_result or thinking",
                    where=f"{at}.type",
                )
        if parts or calls or reasoning:
            turn: dict[str, Any] = {"role": role, "content": parts}
            if calls:
                turn["tool_calls"] = calls
            if reasoning:
                turn["reasoning_content"] = reasoning
            out.append(turn)
    tools = body.get("tools")
    converted = None
    if isinstance(tools, list):
        converted = [
            {"type": "function", "function": {"name": t.get("name", ""),
             "description": t.get("description", ""), "parameters": t.get("input_schema", {})}}
            for t in tools
            if isinstance(t, Mapping) and not str(t.get("type", "")).startswith("web_search")
        ]  # fmt: skip
    return out, converted or None


def _text_blocks(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for k, block in enumerate(value):
            if not isinstance(block, Mapping) or not isinstance(block.get("text", ""), str):
                raise RequestError("expected text blocks", where=f"{where}[{k}]")
            texts.append(block.get("text", ""))
        return "\n".join(texts)
    raise RequestError(f"expected text or text blocks, not {_kind(value)}", where=where)
