"""The three body shapes and their content parts, made canonical for the chat template.

Canonical means the OpenAI chat shape the template renders: `role`, `content` as text or a
list of parts (text, image_url, image, input_audio, video_url, video), `tool_calls` on
assistant turns, tool results as `tool` turns, `reasoning_content`. Each converter checks
what it reads and raises `RequestError` with the JSON path; canonical values share their
payloads with the body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import RequestError, did_you_mean

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")

# The one table of content parts: type -> (input kind, how to make it canonical). Canonical
# parts are the ones the template renders: text, image_url, image (Anthropic), input_audio,
# video_url, video.
Canonical = Callable[[Mapping[str, Any], str], Mapping[str, Any]]


def _same(part: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    return part


def _as_text(part: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    text = part.get("text", part.get("refusal"))
    if type(text) is not str:
        raise RequestError("a text part needs a string `text`", where=f"{where}.text")
    return part if part.get("type") == "text" else {"type": "text", "text": text}


def _input_image(part: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    url = part.get("image_url")
    if isinstance(url, Mapping):  # tolerate the chat shape inside a Responses part
        url = url.get("url")
    if url is None and "file_id" in part:
        url = ""  # an uploaded file: its size is unknown here
    if type(url) is not str:
        raise RequestError("input_image needs an `image_url` string", where=f"{where}.image_url")
    return {"type": "image_url", "image_url": {"url": url}}


PART_TYPES: Mapping[str, tuple[str, Canonical]] = {
    "text": ("text", _as_text),
    "input_text": ("text", _as_text),
    "output_text": ("text", _as_text),
    "refusal": ("text", _as_text),
    "image_url": ("image", _same),
    "image": ("image", _same),
    "input_image": ("image", _input_image),
    "input_audio": ("audio", _same),
    "video_url": ("video", _same),
    "video": ("video", _same),
}


def kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def is_web_search(tool: Mapping[str, Any]) -> bool:
    kind = tool.get("type")
    return isinstance(kind, str) and kind.startswith("web_search")


# --- OpenAI chat -------------------------------------------------------------------------------


def openai_messages(messages: Sequence[Any]) -> tuple[Sequence[Mapping[str, Any]], set[str]]:
    """The messages in canonical form and the input kinds they carry; checks every message
    and part on the way. Messages already canonical are shared, not copied."""
    kinds: set[str] = set()
    out: list[Mapping[str, Any]] | None = None
    for i, message in enumerate(messages):
        where = f"$.messages[{i}]"
        if not isinstance(message, Mapping):
            raise RequestError(f"a message must be an object, not {kind_of(message)}", where=where)
        role = message.get("role")
        if type(role) is not str:
            raise RequestError("a message needs a role", where=f"{where}.role")
        if role not in OPENAI_ROLES:
            hint = did_you_mean(role, OPENAI_ROLES)
            raise RequestError(
                f"unknown role {role!r}" + (f" ({hint})" if hint else "")
                + f"; expected one of {', '.join(OPENAI_ROLES)}",
                where=f"{where}.role",
            )  # fmt: skip
        content = message.get("content")
        calls = message.get("tool_calls")
        if calls is not None and type(calls) is not list:
            raise RequestError("`tool_calls` must be a list", where=f"{where}.tool_calls")
        canonical = message
        if content is None or type(content) is str:
            kinds.add("text")
        else:
            parts = _parts(content, f"{where}.content", kinds)
            if any(p is not q for p, q in zip(parts, content, strict=True)):
                canonical = {**message, "content": parts}
        if role == "function":  # the legacy function result is a tool turn
            canonical = {**canonical, "role": "tool"}
        if canonical is not message and out is None:
            out = list(messages[:i])
        if out is not None:
            out.append(canonical)
    return (messages if out is None else out), kinds or {"text"}


def _parts(content: Any, where: str, kinds: set[str]) -> list[Any]:
    """Check a list of content parts against the one table and return them in the template's
    shape (a part already in it is returned as it is, not copied)."""
    if not isinstance(content, list):
        raise RequestError(
            f"content must be text or a list of parts, not {kind_of(content)}", where=where
        )
    out = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise RequestError(f"a content part must be an object, not {kind_of(part)}", where=at)
        kind = part.get("type")
        entry = PART_TYPES.get(kind) if type(kind) is str else None
        if entry is None:
            shown = repr(kind) if type(kind) is str else f"of {kind_of(kind)}"
            hint = did_you_mean(kind, PART_TYPES) if type(kind) is str else None
            raise RequestError(
                f"unknown content part type {shown}" + (f" ({hint})" if hint else "")
                + f"; expected one of {', '.join(PART_TYPES)}",
                where=f"{at}.type",
            )  # fmt: skip
        modality, make = entry
        kinds.add(modality)
        out.append(make(part, at))
    return out


def openai_tools(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Function tools to render: OpenAI `tools` (and legacy `functions`)."""
    tools = body.get("tools")
    out: list[Mapping[str, Any]] = []
    if tools is not None:
        if type(tools) is not list:
            raise RequestError(f"`tools` must be a list, not {kind_of(tools)}", where="$.tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, Mapping):
                raise RequestError("a tool must be an object", where=f"$.tools[{i}]")
            if is_web_search(tool):
                continue
            fn = tool.get("function", tool)
            if not isinstance(fn, Mapping):
                raise RequestError("`function` must be an object", where=f"$.tools[{i}].function")
            out.append(tool if "function" in tool else {"type": "function", "function": fn})
    functions = body.get("functions")
    if functions is not None:
        if type(functions) is not list:
            raise RequestError("`functions` must be a list", where="$.functions")
        for i, fn in enumerate(functions):
            if not isinstance(fn, Mapping):
                raise RequestError("a function must be an object", where=f"$.functions[{i}]")
            out.append({"type": "function", "function": fn})
    return out


def _function_tool(name: Any, description: Any, parameters: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": name if isinstance(name, str) else ""}
    if description is not None:
        fn["description"] = description
    fn["parameters"] = parameters if isinstance(parameters, Mapping) else {}
    return {"type": "function", "function": fn}


# --- Anthropic messages ----------------------------------------------------------------------


def from_anthropic(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """The messages in canonical form (sharing payloads), and the input kinds they carry."""
    out: list[dict[str, Any]] = []
    kinds: set[str] = {"text"}
    system = body.get("system")
    if system is not None:
        out.append({"role": "system", "content": _text_blocks(system, "$.system")})
    messages = body.get("messages")
    if type(messages) is not list:
        raise RequestError(
            f"`messages` must be a list, not {kind_of(messages)}", where="$.messages"
        )
    for i, message in enumerate(messages):
        where = f"$.messages[{i}]"
        if not isinstance(message, Mapping):
            raise RequestError(f"a message must be an object, not {kind_of(message)}", where=where)
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise RequestError(
                "role must be user or assistant (the system prompt is the top-level `system`)",
                where=f"{where}.role",
            )
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif isinstance(content, list):
            _anthropic_blocks(role, content, f"{where}.content", kinds, out)
        else:
            raise RequestError(
                f"content must be text or a list of blocks, not {kind_of(content)}",
                where=f"{where}.content",
            )
    return out, kinds


def _anthropic_blocks(
    role: str, content: list[Any], where: str, kinds: set[str], out: list[dict[str, Any]]
) -> None:
    """One message's blocks: tool results become tool turns, the rest one turn of `role`."""
    parts: list[Any] = []
    calls: list[dict[str, Any]] = []
    reasoning = ""
    for j, block in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(block, Mapping):
            raise RequestError(f"a content block must be an object, not {kind_of(block)}", where=at)
        kind = block.get("type")
        if kind in ("text", "image"):
            parts += _parts([block], where, kinds)
        elif kind == "tool_use":
            calls.append({"function": {"name": block.get("name", ""),
                                       "arguments": block.get("input", {})}})  # fmt: skip
        elif kind == "tool_result":
            out.append({"role": "tool", "content": _result(block.get("content", ""),
                                                           f"{at}.content", kinds)})  # fmt: skip
        elif kind in ("thinking", "redacted_thinking"):
            text = block.get("thinking", "")
            reasoning += text if isinstance(text, str) else ""
        else:
            raise RequestError(
                f"unknown content block type {_shown(kind)}; expected text, image, tool_use, "
                "tool_result, thinking or redacted_thinking",
                where=f"{at}.type",
            )
    if parts or calls or reasoning:
        turn: dict[str, Any] = {"role": role, "content": parts}
        if calls:
            turn["tool_calls"] = calls
        if reasoning:
            turn["reasoning_content"] = reasoning
        out.append(turn)


def _result(result: Any, where: str, kinds: set[str]) -> Any:
    """A tool result: text, or parts (which may hold images)."""
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return _parts(result, where, kinds)
    raise RequestError(f"a tool result is text or a list of parts, not {kind_of(result)}",
                       where=where)  # fmt: skip


def _shown(kind: Any) -> str:
    return repr(kind) if type(kind) is str else f"of {kind_of(kind)}"


def flat_tools(body: Mapping[str, Any], schema_key: str) -> list[Mapping[str, Any]] | None:
    """Anthropic (`input_schema`) and Responses (`parameters`) tools, which name their
    function at the top level, as canonical function tools; web search is a feature, not a
    function to render."""
    tools = body.get("tools")
    if tools is None:
        return None
    if type(tools) is not list:
        raise RequestError(f"`tools` must be a list, not {kind_of(tools)}", where="$.tools")
    out: list[Mapping[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise RequestError("a tool must be an object", where=f"$.tools[{i}]")
        if not is_web_search(tool):
            out.append(_function_tool(tool.get("name"), tool.get("description"),
                                      tool.get(schema_key)))  # fmt: skip
    return out


def _text_blocks(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for k, block in enumerate(value):
            text = block.get("text") if isinstance(block, Mapping) else None
            if not isinstance(text, str):
                raise RequestError("expected a text block", where=f"{where}[{k}]")
            texts.append(text)
        return "\n".join(texts)
    raise RequestError(f"expected text or text blocks, not {kind_of(value)}", where=where)


# --- OpenAI Responses --------------------------------------------------------------------------


def from_responses(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """`instructions` and `input` items as canonical chat messages: function calls join the
    assistant turn before them, their outputs are tool turns, and reasoning goes into the
    assistant turn after it."""
    out: list[dict[str, Any]] = []
    kinds: set[str] = {"text"}
    instructions = body.get("instructions")
    if instructions is not None:
        if type(instructions) is not str:
            raise RequestError("`instructions` must be text", where="$.instructions")
        out.append({"role": "system", "content": instructions})
    items = body.get("input")
    if items is None:
        return out, kinds
    if isinstance(items, str):
        out.append({"role": "user", "content": items})
        return out, kinds
    if type(items) is not list:
        raise RequestError(f"`input` must be text or a list of items, not {kind_of(items)}",
                           where="$.input")  # fmt: skip
    reasoning: list[str] = []  # reasoning not yet placed in an assistant turn
    for i, item in enumerate(items):
        where = f"$.input[{i}]"
        if not isinstance(item, Mapping):
            raise RequestError(f"an input item must be an object, not {kind_of(item)}", where=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_responses_message(item, where, kinds, reasoning))
        elif kind == "function_call":
            call = {"function": {"name": item.get("name", ""),
                                 "arguments": item.get("arguments", "")}}  # fmt: skip
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and not reasoning:
                last.setdefault("tool_calls", []).append(call)
            else:
                turn = _assistant("", reasoning)
                turn["tool_calls"] = [call]
                out.append(turn)
        elif kind == "function_call_output":
            out.append({"role": "tool", "content": _result(item.get("output", ""),
                                                           f"{where}.output", kinds)})  # fmt: skip
        elif kind == "reasoning":
            for key in ("summary", "content"):
                for piece in item.get(key) or ():
                    text = piece.get("text") if isinstance(piece, Mapping) else None
                    if isinstance(text, str):
                        reasoning.append(text)
        else:
            raise RequestError(
                f"unknown input item type {_shown(kind)}; expected message, function_call, "
                "function_call_output or reasoning",
                where=f"{where}.type",
            )
    return out, kinds


def _responses_message(
    item: Mapping[str, Any], where: str, kinds: set[str], reasoning: list[str]
) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise RequestError("role must be user, assistant, system or developer",
                           where=f"{where}.role")  # fmt: skip
    content = item.get("content")
    if not isinstance(content, str):
        content = _parts(content, f"{where}.content", kinds)
    if role == "assistant":
        return _assistant(content, reasoning)
    return {"role": role, "content": content}


def _assistant(content: Any, reasoning: list[str]) -> dict[str, Any]:
    """An assistant turn that takes the reasoning gathered before it."""
    turn: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        turn["reasoning_content"] = "".join(reasoning)
        reasoning.clear()
    return turn
