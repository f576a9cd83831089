"""Every accepted input, read once: request bodies, message lists, prompts and plain text.

`read_request` is the one reader behind `route`, `check`, `tokens`, `--prompt-file` and the
Python API. It accepts an OpenAI chat body (`/v1/chat/completions`), an Anthropic messages
body (`/anthropic/v1/messages`), an OpenAI Responses body (`/v1/responses`), a bare list of
messages, an object holding a `prompt`, or plain text, and returns one frozen `Request`:
the model it names (aliases resolved), its messages and tools in one canonical form (the
OpenAI chat shape the template renders), thinking resolved against the model's default, the
output budget, input kinds, features, speech settings, and its token count.

Large payloads are never copied or decoded whole: media are sized from their headers, and a
canonical message shares its parts with the body. Unknown top-level fields are ignored; a
malformed body raises `RequestError` naming the JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._shapes import (
    PART_TYPES,
    flat_tools,
    from_anthropic,
    from_responses,
    is_web_search,
    kind_of,
    openai_messages,
    openai_tools,
)
from .catalog import Catalog
from .errors import NotARequestError, RequestError, did_you_mean
from .media import MediaSizes
from .tokens import (
    TokenCount,
    bound_text,
    chat_bound,
    chat_count,
    count_text,
    quick_bound,
    tool_chat_bound,
)
from .traits import Traits

__all__ = ["API_SHAPES", "PART_TYPES", "Request", "looks_like_request", "read_request"]

API_SHAPES = ("openai", "anthropic", "responses")
AUTO = ("auto", "")
ALIAS_SUFFIXES = ("[1m]",)  # client-side aliases some tools append to a model id

# body keys that say "this is a request" (for readers of arbitrary JSON and YAML files)
_BODY_KEYS = frozenset(("messages", "input", "instructions", "prompt"))


@dataclass(frozen=True, slots=True)
class Request:
    """One request, read: what it asks for, in one canonical form.

    `api` is the shape it came in (openai, anthropic, responses, messages, prompt or text).
    `model` is the catalog id it names (None: choose); `requested` the model as written.
    `messages` and `tools` are canonical (None for plain text, which is `text`).
    `thinking` is as the body sets it; `count_thinking` resolves it against the model's
    default and is what the count follows. `tokens` is the count: a UTF-8 bound that the
    selector refines only when a limit is near, or exact when asked; `count()` refines it.
    """

    api: str
    model: str | None
    requested: str | None
    messages: Sequence[Mapping[str, Any]] | None
    tools: Sequence[Mapping[str, Any]] | None
    text: str | None
    thinking: bool | None
    count_thinking: bool | None
    max_output: int | None
    traits: Traits

    @property
    def tokens(self) -> TokenCount:
        assert self.traits.tokens is not None
        return self.traits.tokens

    def count(self) -> TokenCount:
        """The count with the tokenizer: exact where the text and template are known."""
        count = self.tokens
        return count.refine() if count.refine is not None else count


def looks_like_request(data: Any) -> bool:
    """Whether a parsed JSON or YAML value is meant as a request (a body, a messages list or a
    prompt), as opposed to some other file that happens to be JSON (`package.json`). A list
    with one message in it is meant as messages, even if another item is malformed."""
    if isinstance(data, str):
        return True
    if isinstance(data, list):
        return any(isinstance(m, Mapping) and "role" in m for m in data)
    return isinstance(data, Mapping) and not _BODY_KEYS.isdisjoint(data)


def read_request(
    data: Any,
    catalog: Catalog,
    *,
    api: str = "auto",
    model: str | None = None,
    exact: bool = False,
    media_sizes: MediaSizes | None = None,
) -> Request:
    """Read any accepted input into a `Request`.

    `api` forces a body shape (openai, anthropic or responses) instead of detecting it from
    its keys. `model` reads the request as if sent to that model (the body's own model
    otherwise): its thinking default then decides the count. `exact` counts with the
    tokenizer at once instead of starting from a UTF-8 bound. `media_sizes` says what the
    caller knows of media the body only links to (an audio URL's duration, an image's size):
    a mapping from URL to `MediaSize`, or a function of a `MediaRef`.
    """
    if api not in ("auto", *API_SHAPES):
        raise RequestError(
            f"unknown API shape {api!r}; use auto, {', '.join(API_SHAPES)}", where="$"
        )
    if isinstance(data, str):
        if api != "auto":
            raise RequestError(f"an {api} request body is a JSON object, not text", where="$")
        return _text_request(data, None, catalog, model, exact)
    if isinstance(data, list):
        if api != "auto":
            raise RequestError(f"an {api} request body is a JSON object, not a list", where="$")
        if data and not looks_like_request(data):
            raise NotARequestError("a list that holds no message (no item has a `role`)",
                                   where="$")  # fmt: skip
        return _chat_request("messages", {"messages": data}, catalog, model, exact=exact,
                             media_sizes=media_sizes)  # fmt: skip
    if not isinstance(data, Mapping):
        raise RequestError(
            "expected a request body (a JSON object), a messages list or text, "
            f"not {kind_of(data)}",
            where="$",
        )
    shape = api if api != "auto" else _detect(data)
    if shape == "prompt":
        prompt = data.get("prompt")
        if type(prompt) is not str:
            raise RequestError("`prompt` must be text", where="$.prompt")
        return _text_request(prompt, data, catalog, model, exact)
    return _chat_request(shape, data, catalog, model, exact=exact, media_sizes=media_sizes)


# --- shapes --------------------------------------------------------------------------------


def _detect(body: Mapping[str, Any]) -> str:
    """The body's API shape, from the keys only its shape uses."""
    if "messages" in body:
        return "anthropic" if _anthropic_markers(body) else "openai"
    if "input" in body or "instructions" in body:
        return "responses"
    if "prompt" in body:
        return "prompt"
    raise NotARequestError(
        "not a request: no `messages` (OpenAI chat or Anthropic), `input` or `instructions`"
        " (OpenAI Responses), or `prompt`",
        where="$",
    )


def _anthropic_markers(body: Mapping[str, Any]) -> bool:
    """Anthropic bodies carry a top-level system or tool input schemas; otherwise Anthropic
    content blocks, looked for only once the quick path has failed (plain text turns hold
    none)."""
    if "system" in body:
        return True
    tools = body.get("tools")
    return type(tools) is list and any(
        isinstance(t, Mapping) and "input_schema" in t for t in tools
    )


def _anthropic_blocks(messages: Any) -> bool:
    for message in messages if type(messages) is list else ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if type(content) is list:
            for block in content:
                kind = block.get("type") if isinstance(block, Mapping) else None
                if kind in ("tool_use", "tool_result", "thinking", "redacted_thinking") or (
                    kind == "image" and "source" in block
                ):
                    return True
    return False


def _text_request(
    text: str, body: Mapping[str, Any] | None, catalog: Catalog, model: str | None, exact: bool
) -> Request:
    """Plain text, or a `prompt` object's text, counted as it stands (no chat template). Read
    for a speech model, it is the text to speak."""
    resolved = requested = thinking = budget = None
    if body is not None:
        resolved, requested = _model(body, catalog)
        thinking, budget = _thinking(body), _budget(body, "prompt")
    if model is not None:
        resolved = _resolve(model, catalog, "model")
    output = "text"
    if resolved is not None:  # text says nothing of its output: the model it is for decides
        produces = catalog.model(resolved).output_modalities
        output = produces[0] if len(produces) == 1 else output
    count = count_text(text) if exact else bound_text(text)
    traits = Traits._trusted(
        count,
        input_modalities=frozenset(("text",)),
        output_modality=output,
        max_output_tokens=budget,
        features=frozenset(("deep_thinking",)) if thinking else frozenset(),
        thinking=None if thinking is None else ("enabled" if thinking else "disabled"),
    )
    api = "text" if body is None else "prompt"
    return Request(api, resolved, requested, None, None, text, thinking,
                   _resolved_thinking(thinking, resolved, catalog), budget, traits)  # fmt: skip


def _chat_request(
    shape: str,
    body: Mapping[str, Any],
    catalog: Catalog,
    model: str | None,
    *,
    exact: bool,
    media_sizes: MediaSizes | None,
) -> Request:
    if shape != "responses":
        listed = body.get("messages")
        where = "$" if shape == "messages" else "$.messages"
        if listed is None and shape != "messages":
            raise RequestError("`messages` is required", where=where)
        if type(listed) is not list:
            raise RequestError(f"`messages` must be a list, not {kind_of(listed)}", where=where)
        if not listed:
            raise RequestError("there are no messages: a request needs at least one", where=where)
    resolved, requested = _model(body, catalog) if shape != "messages" else (None, None)
    if model is not None:
        resolved = _resolve(model, catalog, "model")
    thinking = _thinking(body) if shape != "responses" else _effort(body)
    count_thinking = _resolved_thinking(thinking, resolved, catalog)
    count = None
    if shape in ("openai", "messages") and not exact:
        count = _quick(body, count_thinking)
    if count is not None:  # plain text turns, proven OpenAI-shaped by the quick bound
        messages: Sequence[Mapping[str, Any]] = body["messages"]
        tools: Sequence[Mapping[str, Any]] | None = openai_tools(body) or None
        inputs: set[str] = {"text"}
    else:
        if shape == "anthropic":
            messages, inputs = from_anthropic(body)
            tools = flat_tools(body, "input_schema")
        elif shape == "responses":
            messages, inputs = from_responses(body)
            tools = flat_tools(body, "parameters")
        elif _anthropic_blocks(body["messages"]):  # Anthropic blocks, no other marker
            shape = "anthropic" if shape == "openai" else shape
            messages, inputs = from_anthropic(body)
            tools = flat_tools(body, "input_schema")
        else:
            messages, inputs = openai_messages(body["messages"])
            tools = openai_tools(body) or None
        tools = tools or None
        if exact:
            count = chat_count(messages, tools, count_thinking, catalog, media_sizes)
        else:
            count = chat_bound(messages, tools, count_thinking, catalog, media_sizes)
    features = _features(body, shape, thinking)
    if _transcribes(body, resolved, catalog):
        features.add("speech_recognition")
    voice, speech = _speech(body, messages, resolved, catalog)
    budget = _budget(body, shape)
    traits = Traits._trusted(
        count,
        input_modalities=frozenset(inputs),
        output_modality="speech" if speech else "text",
        max_output_tokens=budget,
        features=frozenset(features),
        voice=voice,
        thinking=None if thinking is None else ("enabled" if thinking else "disabled"),
    )
    api = "messages" if shape == "messages" else shape
    return Request(api, resolved, requested, messages, tools, None, thinking, count_thinking,
                   budget, traits)  # fmt: skip


def _quick(body: Mapping[str, Any], thinking: bool | None) -> TokenCount | None:
    """The common case, plain text turns (with OpenAI function tools at most): one pass
    sizes them and proves them OpenAI-shaped, rendering nothing."""
    messages = body.get("messages")
    tools = body.get("tools")
    if not tools:
        return quick_bound(messages, thinking)
    if type(tools) is list and all(type(t) is dict and t.get("type") == "function" for t in tools):
        return tool_chat_bound(messages, tools, thinking)
    return None


# --- fields shared by the shapes -------------------------------------------------------------


def _field(body: Mapping[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(f"`{name}` is required", where=f"$.{name}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {list: "a list", dict: "an object", int: "a whole number", str: "text"}
        raise RequestError(
            f"`{name}` must be {expected.get(kind, kind.__name__)}, not {kind_of(value)}",
            where=f"$.{name}",
        )
    return value


def _model(body: Mapping[str, Any], catalog: Catalog) -> tuple[str | None, str | None]:
    """(catalog id or None for "choose", the model as written)."""
    written = body.get("model")
    if written is None:
        return None, None
    if type(written) is not str:
        raise RequestError(f"`model` must be text, not {kind_of(written)}", where="$.model")
    return _resolve(written, catalog, "$.model"), written


def _resolve(written: str, catalog: Catalog, where: str) -> str | None:
    """A written model id as the catalog knows it: aliases and case resolved in one place."""
    if type(written) is not str:
        raise RequestError(f"a model id is text, not {kind_of(written)}", where=where)
    model = written.strip()
    for suffix in ALIAS_SUFFIXES:
        model = model.removesuffix(suffix)
    if model.lower() in AUTO:
        return None
    if model in catalog:
        return model
    if model.lower() in catalog:
        return model.lower()
    from .errors import UnknownModelError

    raise UnknownModelError(written, catalog.ids, where=where)


def _thinking(body: Mapping[str, Any]) -> bool | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind not in ("enabled", "disabled"):
        raise RequestError(
            'thinking must be {"type": "enabled"} or {"type": "disabled"}'
            + (f", not {kind!r}" if isinstance(kind, str) else ""),
            where="$.thinking",
        )
    return bool(kind == "enabled")


_EFFORTS = ("none", "minimal", "low", "medium", "high")


def _effort(body: Mapping[str, Any]) -> bool | None:
    """Responses bodies: `reasoning.effort` "none" turns thinking off, any other turns it on."""
    reasoning = body.get("reasoning")
    if reasoning is None:
        return None
    if not isinstance(reasoning, Mapping):
        raise RequestError("`reasoning` must be an object", where="$.reasoning")
    effort = reasoning.get("effort")
    if effort is None:
        return None
    if effort not in _EFFORTS:
        hint = did_you_mean(str(effort), _EFFORTS)
        raise RequestError(
            f"unknown reasoning effort {effort!r}" + (f" ({hint})" if hint else "")
            + f"; use {', '.join(_EFFORTS)}",
            where="$.reasoning.effort",
        )  # fmt: skip
    return bool(effort != "none")


def _resolved_thinking(thinking: bool | None, model: str | None, catalog: Catalog) -> bool | None:
    if thinking is not None or model is None:
        return thinking
    default = catalog.model(model).thinking
    return None if default is None else default.default == "enabled"


_BUDGETS = {
    "openai": ("max_completion_tokens", "max_tokens"),
    "messages": ("max_completion_tokens", "max_tokens"),
    "prompt": ("max_completion_tokens", "max_tokens", "max_output_tokens"),
    "anthropic": ("max_tokens",),
    "responses": ("max_output_tokens",),
}


def _budget(body: Mapping[str, Any], shape: str) -> int | None:
    for name in _BUDGETS[shape]:
        value = _field(body, name, int)
        if value is not None:
            if value < 0:
                raise RequestError(f"`{name}` must not be negative", where=f"$.{name}")
            return int(value)
    return None


def _features(body: Mapping[str, Any], shape: str, thinking: bool | None) -> set[str]:
    features: set[str] = set()
    tools = body.get("tools") or []
    if type(tools) is not list:
        raise RequestError(f"`tools` must be a list, not {kind_of(tools)}", where="$.tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise RequestError("a tool must be an object", where=f"$.tools[{i}]")
        features.add("web_search" if is_web_search(tool) else "function_call")
    if body.get("functions") or body.get("tool_choice") not in (None, "none"):
        features.add("function_call")
    if body.get("web_search_options") is not None:
        features.add("web_search")
    if _structured(body, shape):
        features.add("structured_output")
    stream = body.get("stream")
    if stream is not None and type(stream) is not bool:
        raise RequestError("`stream` must be true or false", where="$.stream")
    if stream:
        features.add("streaming")
    if thinking:
        features.add("deep_thinking")
    return features


def _transcribes(body: Mapping[str, Any], resolved: str | None, catalog: Catalog) -> bool:
    """Speech recognition asked for: the platform's `asr_options`, or a body sent to a model
    that only transcribes."""
    options = body.get("asr_options")
    if options is not None and not isinstance(options, Mapping):
        raise RequestError(f"`asr_options` must be an object, not {kind_of(options)}",
                           where="$.asr_options")  # fmt: skip
    if options is not None:
        return True
    return resolved is not None and "speech_recognition" in catalog.model(resolved).capabilities


def _structured(body: Mapping[str, Any], shape: str) -> bool:
    """JSON output asked for: OpenAI `response_format`, Responses `text.format`, Anthropic
    `output_format`."""
    if shape == "responses":
        text = body.get("text")
        if text is None:
            return False
        if not isinstance(text, Mapping):
            raise RequestError("`text` must be an object", where="$.text")
        fmt, where = text.get("format"), "$.text.format"
    elif shape == "anthropic":
        fmt, where = body.get("output_format"), "$.output_format"
    else:
        fmt, where = body.get("response_format"), "$.response_format"
    if fmt is None:
        return False
    if not isinstance(fmt, Mapping):
        raise RequestError("must be an object", where=where)
    return fmt.get("type") in ("json_object", "json_schema")


def _speech(
    body: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    model: str | None,
    catalog: Catalog,
) -> tuple[str | None, bool]:
    """(voice kind, speech output) from the body's `audio` object (or `modalities`).

    A voice that is an audio sample (a `data:audio/...` URL or an http(s) URL) is a clone,
    a name is a preset; no voice with a user turn describing one is a design, unless the
    body names a speech model that cannot design voices.
    """
    audio = body.get("audio")
    modalities = body.get("modalities")
    if audio is None:
        if type(modalities) is list and "audio" in modalities:
            audio = {}
        else:
            return None, False
    if not isinstance(audio, Mapping):
        raise RequestError(f"`audio` must be an object, not {kind_of(audio)}", where="$.audio")
    voice = audio.get("voice")
    if voice is not None and type(voice) is not str:
        raise RequestError(
            f"`audio.voice` must be text, not {kind_of(voice)}", where="$.audio.voice"
        )
    if voice:
        sample = voice.startswith(("data:audio/", "data:application/octet-stream", "http://",
                                   "https://"))  # fmt: skip
        return ("clone" if sample else "preset"), True
    described = any(m.get("role") == "user" and m.get("content") for m in messages)
    if described and model is not None:
        described = "voice_design" in catalog.model(model).capabilities
    return ("design" if described else "preset"), True
