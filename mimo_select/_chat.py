"""MiMo's chat template: a conversation rendered as text between special tokens.

The pieces of the template are data (`data/tokenizer/mimo.json`); this module lays them out
the way the model sees a chat, so `tokens` can count the text exactly or bound it by size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from ._bpe import encoding, spec, specials_pattern, utf8_size
from .errors import RequestError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .media import MediaEstimate, MediaSizes

_MEDIA_KIND = {"image_url": "image", "image": "image", "input_audio": "audio",
               "video_url": "video", "video": "video"}  # fmt: skip


class Chat:
    """A chat rendered as segments of plain text between special tokens.

    With `sizes_only` the segments are not kept, only their UTF-8 sizes: all a bound needs.
    """

    def __init__(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        thinking: bool | None,
        catalog: Catalog | None = None,
        *,
        sizes_only: bool = False,
        media_sizes: MediaSizes | None = None,
    ) -> None:
        self.messages, self.tools, self.thinking = messages, tools, thinking
        self.catalog = catalog  # whose media parameters size images, audio and video
        self.media_sizes = media_sizes  # what the caller knows of linked media
        self.template = spec()["chat"]
        self.sizes_only = sizes_only
        self.segments: list[str] = []  # text between special tokens, tokenized one by one
        self._pending: list[str] = []  # text since the last special token
        self._pending_bytes = 0
        self.text_bytes = 0  # with sizes_only: the segments' total UTF-8 size
        self.text_chars = 0  # with sizes_only: and their characters
        self.nonempty = 0  # with sizes_only: how many segments hold text
        self.specials = 0
        self.inexact: list[str] = []
        self.media: list[MediaEstimate] = []
        self._render()

    def _text(self, rendered: str) -> None:
        """Template text: count its special tokens, keep the text between them."""
        first, *rest = _between_specials(rendered)
        self._content_text(first)
        for text in rest:
            self._special()
            self._content_text(text)

    def _special(self, n: int = 1) -> None:
        """A special token ends the current text segment."""
        if self.sizes_only:
            if self._pending_bytes:
                self.nonempty += 1
                self.text_bytes += self._pending_bytes
                self._pending_bytes = 0
        else:
            segment = "".join(self._pending)
            if segment:
                self.segments.append(segment)
            self._pending = []
        self.specials += n

    def _render(self) -> None:
        t = self.template
        if not isinstance(self.messages, Sequence) or isinstance(self.messages, str | bytes):
            raise RequestError("expected a list of messages", where="$.messages")
        msgs = list(self.messages)
        system = None
        if msgs and isinstance(msgs[0], Mapping) and msgs[0].get("role") in ("system", "developer"):
            system = msgs.pop(0)
        self._text(t["turn_open"] + "system\n")
        if system is None:
            self._content_text(t["default_system"])
        else:
            self._content(system.get("content"), "$.messages[0].content")
        if self.tools:
            if not isinstance(self.tools, list):
                raise RequestError("tools must be a list", where="$.tools")
            self._text(_render_tools(self.tools, t))
        self._text(t["turn_close"])
        offset = 1 if system is not None else 0
        roles: list[Any] = []
        for i, message in enumerate(msgs, offset):
            if not isinstance(message, Mapping):
                raise RequestError("a message must be an object", where=f"$.messages[{i}]")
            roles.append(message.get("role"))
            if not isinstance(roles[-1], str):
                raise RequestError("a message needs a role", where=f"$.messages[{i}].role")
        for k, message in enumerate(msgs):
            previous = roles[k - 1] if k else None
            following = roles[k + 1] if k + 1 < len(roles) else None
            self._turn(message, f"$.messages[{k + offset}]", previous, following)
        self._text(t["generation"])
        self._special(0)

    def _turn(self, message: Mapping[str, Any], where: str, previous: Any, following: Any) -> None:
        """One message in the template; consecutive tool results share one turn."""
        t, role = self.template, message["role"]
        if role == "tool":
            if previous != "tool":
                self._text(t["tool_results_open"])
            head, tail = t["tool_result"].split("{content}")
            self._text(head)
            self._content(message.get("content"), f"{where}.content")
            self._text(tail)
            if following != "tool":
                self._text(t["turn_close"])
            return
        self._text(t["turn_open"] + ("system" if role == "developer" else role) + "\n")
        reasoning = message.get("reasoning_content")
        if role == "assistant" and isinstance(reasoning, str) and reasoning:
            head, tail = t["reasoning"].split("{reasoning}")
            self._text(head)
            self._content_text(reasoning)
            self._text(tail)
        self._content(message.get("content"), f"{where}.content")
        calls = message.get("tool_calls") or message.get("function_call")
        if role == "assistant" and calls:
            self._text(_render_calls(calls, t, f"{where}.tool_calls", self.inexact))
        self._text(t["turn_close"])

    def _content_text(self, text: str) -> None:
        # tokenized as it stands, with the template text around it up to the next special
        if self.sizes_only:
            self._pending_bytes += utf8_size(text)
            self.text_chars += len(text)
        else:
            self._pending.append(text)

    def _content(self, content: Any, where: str) -> None:
        if content is None:
            return
        if isinstance(content, str):
            self._content_text(content)
            return
        if not isinstance(content, list):
            raise RequestError(
                f"content must be text or a list of parts, not {type(content).__name__}",
                where=where,
            )
        from . import media

        for j, part in enumerate(content):
            at = f"{where}[{j}]"
            if not isinstance(part, Mapping):
                raise RequestError("a content part must be an object", where=at)
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise RequestError("a text part needs a string `text`", where=f"{at}.text")
                self._content_text(text)
            else:
                params = media.params_of(self.catalog) if self.catalog is not None else None
                kind = _MEDIA_KIND.get(str(part.get("type")), "")
                index = sum(1 for m in self.media if m.kind == kind)
                self.media.append(media.estimate_part(part, at, params, self.media_sizes, index))
                self._special(self.template["media_wrapper_tokens"])

    def suffixes(self) -> tuple[int, int]:
        """(fewest, most) tokens the thinking suffix may add."""
        return suffix_tokens(self.thinking)

    def media_notes(self) -> list[str]:
        """What is not known of the media, and how to settle it; each note once."""
        notes = ["media tokens follow the platform's documented formulas"] if self.media else []
        return notes + list(dict.fromkeys(m.note for m in self.media if m.note))

    def media_totals(self) -> tuple[int, int, int | None, list[tuple[str, int]]]:
        """Media tokens: (estimate, lower, upper or None, per kind)."""
        total = lower = 0
        upper: int | None = 0
        parts: dict[str, int] = {}
        for item in self.media:
            total, lower = total + item.tokens, lower + item.lower
            parts[item.kind] = parts.get(item.kind, 0) + item.tokens
            upper = None if upper is None or item.upper is None else upper + item.upper
        return total, lower, upper, list(parts.items())

    def text_length(self) -> int:
        """Characters in the segments (with sizes_only, counted as they went by)."""
        return self.text_chars if self.sizes_only else sum(map(len, self.segments))

    def text_size(self) -> int:
        if self.sizes_only:
            return self.text_bytes
        return sum(map(utf8_size, self.segments))


def _between_specials(rendered: str) -> list[str]:
    """The texts around the special tokens in template text. Short pieces repeat (a turn's
    opening, a role) and are cached; long ones (a rendered tool block) are not, so the cache
    stays under `_CACHE_CHARS` characters however many distinct requests pass."""
    found = _SPLITS.get(rendered)
    if found is None:
        found = specials_pattern().split(rendered)
        if len(rendered) <= _CACHE_PIECE and len(_SPLITS) < _CACHE_CHARS // _CACHE_PIECE:
            _SPLITS[rendered] = found
    return found


_CACHE_PIECE = 256  # characters: template pieces, not content
_CACHE_CHARS = 1 << 20  # at most about 1 MB of cached template text
_SPLITS: dict[str, list[str]] = {}


@cache
def suffix_tokens(thinking: bool | None) -> tuple[int, int]:
    """(fewest, most) tokens the thinking suffix adds (tokenized: loads the tokenizer)."""
    sizes = {
        mode: len(encoding().encode(text, allowed_special="all")) if text else 0
        for mode, text in spec()["chat"]["thinking_suffix"].items()
    }
    if thinking is None:
        return min(sizes.values()), max(sizes.values())
    size = sizes["enabled" if thinking else "disabled"]
    return size, size


@cache
def suffix_bounds() -> dict[bool, int]:
    """Tokens at most that the thinking suffix adds, thinking on (True) and off (False)."""
    suffixes = spec()["chat"]["thinking_suffix"]
    return {True: bound_no_tokenizer(suffixes["enabled"]),
            False: bound_no_tokenizer(suffixes["disabled"])}  # fmt: skip


def bound_no_tokenizer(text: str) -> int:
    """Tokens at most in template text: one per special token, one per byte of the rest."""
    specials = specials_pattern().findall(text)
    return len(specials) + len(specials_pattern().sub("", text).encode("utf-8"))


def _render_tools(tools: Sequence[Mapping[str, Any]], t: Mapping[str, Any]) -> str:
    out = [t["tools_open"]]
    defaults = {k: v for k, v in t["function_defaults"].items() if not k.startswith("$")}
    for tool in tools:
        fn = tool.get("function", tool) if isinstance(tool, Mapping) else {}
        if not isinstance(fn, Mapping):
            fn = {}
        # as the server hands it to the template: its defaults first (so `strict` is the
        # first extra key), what the request gives overriding them
        fn = {**defaults, **fn}
        params: Any = fn.get("parameters")
        params = params if isinstance(params, Mapping) else {}
        props: Any = params.get("properties")
        props = props if isinstance(props, Mapping) else {}
        rendered_params = "".join(
            t["tool_parameter"].format(
                name=name,
                type=t["tool_parameter_type"].format(type=f["type"])
                if isinstance(f, Mapping) and "type" in f
                else "",
                description=t["tool_description"].format(description=str(f["description"]).strip())
                if isinstance(f, Mapping) and "description" in f
                else "",
                extra=_extra(f, ("name", "type", "description"), t),
            )
            for name, f in props.items()
        )
        out.append(
            t["tool"].format(
                name=fn.get("name", ""),
                description=t["tool_description"].format(
                    description=str(fn.get("description")).strip()  # None renders as "None"
                )
                if "description" in fn
                else "",
                parameters=rendered_params + _extra(params, ("type", "properties"), t),
                extra=_extra(fn, ("type", "name", "description", "parameters"), t),
            )
        )
    out.append(t["tools_close"])
    return "".join(out)


def _extra(obj: Any, handled: Iterable[str], t: Mapping[str, Any]) -> str:
    if not isinstance(obj, Mapping):
        return ""
    return "".join(
        t["extra_key"].format(
            key=key,
            value=_dumps(value) if isinstance(value, Mapping | list) else str(value),
        )
        for key, value in obj.items()
        if key not in handled
    )


def _render_calls(calls: Any, t: Mapping[str, Any], where: str, inexact: list[str]) -> str:
    if isinstance(calls, Mapping):  # legacy `function_call`
        calls = [calls]
    if not isinstance(calls, list):
        raise RequestError("tool_calls must be a list", where=where)
    out = []
    for k, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise RequestError("a tool call must be an object", where=f"{where}[{k}]")
        fn = call.get("function", call)
        fn = fn if isinstance(fn, Mapping) else {}
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except RecursionError:
                raise RequestError(
                    "the arguments are nested too deeply", where=f"{where}[{k}]"
                ) from None
            except ValueError:  # how the server renders unparsable arguments is not known
                inexact.append("tool call arguments that are not valid JSON")
                args = {"arguments": args}
        if not isinstance(args, Mapping):
            args = {"arguments": args}
        out.append(t["tool_call_open"].format(name=fn.get("name", "")))
        for name, value in args.items():
            text = _dumps(value) if isinstance(value, Mapping | list) else str(value)
            out.append(t["tool_call_argument"].format(name=name, value=text))
        out.append(t["tool_call_close"])
    return "".join(out)


def _dumps(value: Any) -> str:
    """JSON as the template renders nested values; nesting too deep for that is a request
    error, not a RecursionError."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
        raise RequestError(f"a tool schema or argument is {reason}") from None
