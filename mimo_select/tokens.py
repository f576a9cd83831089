"""MiMo token counts: exact where the tokenizer and template are known, honest bounds elsewhere.

The tokenizer is MiMo's Qwen2-family byte-level BPE, built with tiktoken from a rank table
shipped in the package (pinned by sha256, checked on load). Nothing is downloaded, ever. The
table is loaded once per process, lazily and under a lock, on the first exact count.

Every count is a `TokenCount`: the number, whether it is exact, an upper bound, and where the
tokens come from. A UTF-8 byte count bounds byte-level BPE tokens from above, so `bound_chat`
gives an interval without loading the tokenizer; the selector tokenizes only when a limit or a
rule threshold falls inside that interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from . import _bpe
from ._bpe import spec, utf8_size
from ._chat import Chat, bound_no_tokenizer, suffix_bounds, suffix_tokens
from ._memo import count_segments
from .errors import RequestError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .media import MediaSizes

__all__ = [
    "TokenCount", "bound_chat", "bound_text", "chat_bound", "chat_count", "count_chat",
    "count_text", "count_tokens",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count with its accuracy.

    `tokens` is the count (exact when `exact`); the true count lies in
    [`lower_bound`, `upper_bound`]; `upper_bound` is None where no bound is known (media of
    unknown size with no documented maximum). `parts` says where the tokens come from.
    """

    tokens: int
    exact: bool
    upper_bound: int | None
    tokenizer: str
    parts: tuple[tuple[str, int], ...] = ()
    lower_bound: int = -1
    notes: tuple[str, ...] = ()
    refine: Callable[[], TokenCount] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.lower_bound < 0:
            object.__setattr__(self, "lower_bound", self.tokens)

    @property
    def interval(self) -> tuple[int, int | None]:
        return (self.lower_bound, self.upper_bound)

    def to_json(self) -> dict[str, Any]:
        """The `tokens` object of a decision: `{input, exact, upper_bound, tokenizer}`."""
        out: dict[str, Any] = {
            "input": self.tokens,
            "exact": self.exact,
            "upper_bound": self.upper_bound,
            "tokenizer": self.tokenizer,
        }
        if not self.exact:
            out["lower_bound"] = self.lower_bound
        out["parts"] = dict(self.parts)
        if self.notes:
            out["notes"] = list(self.notes)
        return out


# --- text ----------------------------------------------------------------------------------


def count_tokens(text: str) -> int:
    """MiMo tokens in `text`, as the model sees it inside a message (special tokens count as
    one). Exact, except for runs of 50,000+ letters or symbols, which are estimated: see
    `count_text` for the bounds."""
    return count_text(text).tokens


def count_text(text: str) -> TokenCount:
    """`text` counted exactly where possible; runs too long for exact BPE are estimated and
    bounded by their UTF-8 length, and the result says so."""
    if not isinstance(text, str):
        raise RequestError(f"expected text, got {type(text).__name__}", where="text")
    tokens, low, high = _bpe.count_text_parts(text)
    name = spec()["name"]
    if low == high:
        return TokenCount(tokens, True, tokens, name, (("text", tokens),))
    return TokenCount(
        tokens, False, high, name, (("text", tokens),),
        lower_bound=low,
        notes=("a run of 50,000+ letters or symbols was estimated, not counted",),
    )  # fmt: skip


def bound_text(text: str) -> TokenCount:
    """The interval for `text` without tokenizing: every token is 1 to 128 bytes of UTF-8."""
    size = utf8_size(text)
    lower = -(-size // spec()["max_token_bytes"])
    return _bound(size, 0, lower, lambda: count_text(text), len(text))


def estimate(size: int, chars: int) -> int:
    """Tokens in text of `size` UTF-8 bytes and `chars` characters, estimated from sizes
    alone (calibrated in `data/tokenizer/mimo.json`): a point for preferences to go by."""
    per_ascii, per_other = _estimate_rates()
    other = max(0, (size - chars) // 2)  # most non-ASCII text is 3-byte CJK
    return round((chars - other) * per_ascii + other * per_other)


@cache
def _estimate_rates() -> tuple[float, float]:
    e = spec()["estimate"]
    return 1 / float(e["ascii_bytes_per_token"]), float(e["tokens_per_other_char"])


def _bound(
    size: int,
    template: int,
    lower: int,
    refine: Callable[[], TokenCount],
    chars: int | None = None,
) -> TokenCount:
    """A count known only as an interval: `size` bytes of text (each at least a byte per
    token) in `chars` characters, `template` tokens around it, at least `lower` tokens in
    all. Its `tokens` is an estimate from the sizes, inside the interval."""
    guess = template + estimate(size, size if chars is None else chars)
    return TokenCount(
        tokens=min(max(guess, lower), template + size),
        exact=False,
        upper_bound=template + size,
        tokenizer=spec()["name"],
        parts=(("text_bytes", size), ("template", template)),
        lower_bound=lower,
        notes=("bounded by UTF-8 length; not tokenized",),
        refine=refine,
    )


def _with_prompt(size: int, specials: int, thinking: bool | None) -> tuple[int, int]:
    """A chat bound's (text bytes, template tokens) once the assistant prefix and the thinking
    suffix are added."""
    suffixes = suffix_bounds()
    suffix = max(suffixes.values()) if thinking is None else suffixes[thinking]
    return size + len("assistant\n"), specials + suffix


# --- chats ---------------------------------------------------------------------------------


def count_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    thinking: bool | None = None,
) -> TokenCount:
    """The prompt tokens MiMo bills for a chat: every message in its template, plus the
    assistant prefix. `messages` and `tools` may be in the OpenAI or Anthropic shape; they
    are read by the same reader as request bodies. `thinking` None means "the model's
    default", which changes the prefix by up to two tokens, so the count is then a tight
    interval rather than exact.
    """
    count: TokenCount = _request(messages, tools, thinking).count()
    return count


def bound_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    thinking: bool | None = None,
) -> TokenCount:
    """The same chat bounded by its UTF-8 size, without loading the tokenizer; its `refine`
    gives `count_chat`'s answer."""
    count: TokenCount = _request(messages, tools, thinking).tokens
    return count


def _request(messages: Any, tools: Any, thinking: bool | None) -> Any:
    from .catalog import load_catalog
    from .requests import read_request

    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise RequestError(f"expected a list of messages, got {type(messages).__name__}",
                           where="$.messages")  # fmt: skip
    body: dict[str, Any] = {"messages": list(messages)}
    if tools is not None:
        body["tools"] = tools
    if thinking is not None:
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    return read_request(body, load_catalog())


def chat_count(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    thinking: bool | None,
    catalog: Catalog | None,
    media_sizes: MediaSizes | None = None,
) -> TokenCount:
    """`count_chat` for messages and tools already in canonical form (the request reader's);
    media are sized with `catalog`'s parameters (the bundled catalog's when None) and what
    `media_sizes` says of linked media."""
    return _counted(Chat(messages, tools, thinking, catalog, media_sizes=media_sizes))


def chat_bound(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    thinking: bool | None,
    catalog: Catalog | None,
    media_sizes: MediaSizes | None = None,
) -> TokenCount:
    """`bound_chat` for messages and tools already in canonical form."""
    quick = quick_bound(messages, thinking) if not tools else None
    if quick is None:
        quick = tool_chat_bound(messages, tools, thinking)
    if quick is not None:
        return quick
    return _bounded(
        Chat(messages, tools, thinking, catalog, sizes_only=True, media_sizes=media_sizes)
    )


def quick_bound(messages: Any, thinking: bool | None) -> TokenCount | None:
    """`bound_chat` for the common shape (plain string contents; system, developer, user and
    assistant turns) without rendering anything; None for any other shape. Built from
    whole-list operations, since long conversations are where routing time goes."""
    if type(messages) is not list or not messages:
        return None
    try:  # a message that is not a mapping fails these lookups too
        roles = list(map(_ROLE, messages))
        contents = list(map(_CONTENT, messages))
        size = sum(map(_QUICK_ROLES.__getitem__, roles))
    except (KeyError, TypeError):  # not a mapping, a missing or unhashable role, no content
        return None
    if set(map(type, contents)) != {str}:
        return None
    if max(map(len, messages)) > 2 and any(len(m) > 2 + ("name" in m) for m in messages):
        return None  # other fields (tool calls, reasoning): the full renderer handles them
    text = "".join(contents)
    text_bytes = utf8_size(text)
    size += text_bytes
    specials = 2 * len(messages) + 1  # each turn's <|im_start|> and <|im_end|>; the prefix's
    has_system = messages[0]["role"] in ("system", "developer")
    if not has_system:
        size += _default_system_bytes()
        specials += 2
    size, template = _with_prompt(size, specials, thinking)
    chars = size - text_bytes + len(text)  # all but the contents is ASCII
    segments = len(messages) + (not has_system) + 1  # each holds text: a token at least
    lower = specials + max(segments, -(-size // spec()["max_token_bytes"]))
    return _bound(size, template, lower, lambda: plain_count(messages, thinking), chars)


def plain_count(messages: list[dict[str, Any]], thinking: bool | None) -> TokenCount:
    """`count_chat` for the quick bound's shape (plain string contents, no tools), rendering
    nothing: each turn is one segment, `role\\ncontent`, between special tokens, counted from
    memory where it was seen before. The same number the renderer gives (the tests hold it)."""
    chat = spec()["chat"]
    roles = _ROLE_TEXT
    keys: list[tuple[str, str]] = [(roles[m["role"]], m["content"]) for m in messages]
    specials = 2 * len(messages) + 1
    if messages[0]["role"] not in ("system", "developer"):
        keys.insert(0, ("system\n", chat["default_system"]))
        specials += 2
    keys.append(("assistant\n", ""))  # the generation prompt's own segment
    text = 0
    for n, _, _ in count_segments(keys, lambda i: keys[i][0] + keys[i][1]):
        text += n
    low_suffix, high_suffix = suffix_tokens(thinking)
    notes = () if low_suffix == high_suffix else (
        "thinking not set: the prompt suffix depends on the model's default",
    )  # fmt: skip
    return TokenCount(
        tokens=text + specials + high_suffix,
        exact=low_suffix == high_suffix,
        upper_bound=text + specials + high_suffix,
        tokenizer=spec()["name"],
        parts=(("text", text), ("template", specials + high_suffix)),
        lower_bound=text + specials + low_suffix,
        notes=notes,
    )


_ROLE_TEXT = {"system": "system\n", "developer": "system\n", "user": "user\n",
              "assistant": "assistant\n"}  # fmt: skip


@cache
def _default_system_bytes() -> int:
    return len(spec()["chat"]["default_system"]) + len("system\n")


# the turns the quick bound handles, and the bytes each adds besides its content: the role as
# rendered (developer turns render as system) and its newline
_QUICK_ROLES = {role: len(text) for role, text in _ROLE_TEXT.items()}
_ROLE, _CONTENT = itemgetter("role"), itemgetter("content")


def _counted(chat: Chat) -> TokenCount:
    """Tokenize a rendered chat: exact where its text and template are known."""
    if chat.sizes_only:  # the text was not kept: render it again
        chat = Chat(chat.messages, chat.tools, chat.thinking, chat.catalog,
                    media_sizes=chat.media_sizes)  # fmt: skip
    text = text_low = text_high = 0
    for n, low, high in count_segments(chat.segments, chat.segments.__getitem__):
        text, text_low, text_high = text + n, text_low + low, text_high + high
    low_suffix, high_suffix = chat.suffixes()
    media_tokens, media_lower, media_upper, media_parts = chat.media_totals()
    fixed = chat.specials
    tokens = text + fixed + high_suffix + media_tokens
    exact = not (text_low != text_high or chat.inexact or chat.media or low_suffix != high_suffix)
    upper = None if media_upper is None else text_high + fixed + high_suffix + media_upper
    if chat.inexact and upper is not None:  # the rendering may differ: bound by bytes
        upper = max(upper, chat.text_size() + fixed + high_suffix + (media_upper or 0))
    notes = list(chat.inexact)
    if low_suffix != high_suffix:
        notes.append("thinking not set: the prompt suffix depends on the model's default")
    notes += chat.media_notes()
    return TokenCount(
        tokens=tokens,
        exact=exact,
        upper_bound=upper,
        tokenizer=spec()["name"],
        parts=(("text", text), ("template", fixed + high_suffix), *media_parts),
        lower_bound=text_low + fixed + low_suffix + media_lower,
        notes=tuple(notes),
    )


def _bounded(chat: Chat) -> TokenCount:
    """A rendered chat's interval from UTF-8 sizes and media formulas, without the tokenizer."""
    bounds = suffix_bounds()
    suffix_bytes = max(bounds.values()) if chat.thinking is None else bounds[chat.thinking]
    longest = spec()["max_token_bytes"]
    size = chat.text_size()
    nonempty = chat.nonempty if chat.sizes_only else len(chat.segments)
    media_tokens, media_lower, media_upper, media_parts = chat.media_totals()
    lower = chat.specials + max(nonempty, -(-size // longest)) + media_lower
    upper = None if media_upper is None else chat.specials + size + suffix_bytes + media_upper
    notes = ["bounded by UTF-8 length; not tokenized", *chat.media_notes()]
    guess = chat.specials + suffix_bytes + estimate(size, chat.text_length()) + media_tokens
    return TokenCount(
        tokens=max(guess, lower) if upper is None else min(max(guess, lower), upper),
        exact=False,
        upper_bound=upper,
        tokenizer=spec()["name"],
        parts=(
            ("text_bytes", size),
            ("template", chat.specials + suffix_bytes),
            *media_parts,
        ),
        lower_bound=lower,
        notes=tuple(notes),
        refine=lambda: _counted(chat),
    )


# Upper bounds on what the template adds around a tool schema's JSON: the tags of a function,
# of each parameter, and of each key it renders as a tag of its own (`<key>value</key>` holds
# the key twice where JSON holds it once). Values render no longer than their JSON.
_PER_TOOL, _PER_PARAMETER, _PER_EXTRA_KEY = 128, 96, 16
_TOOL_KEYS = frozenset(("type", "name", "description", "parameters"))
_PARAMETER_KEYS = frozenset(("name", "type", "description"))
_TURN_KEYS = frozenset(("role", "content", "name", "tool_calls", "tool_call_id", "id"))


def tool_chat_bound(messages: Any, tools: Any, thinking: bool | None) -> TokenCount | None:
    """A bound for chats with function tools, tool calls and tool results, rendering nothing:
    sizes from the tools' JSON and the turns' text. None for any shape it does not know
    (the full renderer then bounds it). Looser than the renderer's bound, never tighter."""
    if type(messages) is not list or not messages:
        return None
    size = 0
    specials = 1  # the generation prompt's <|im_start|>
    if tools:
        tool_bytes = _tool_bytes(tools)
        if tool_bytes is None:
            return None
        size += tool_bytes + _tools_frame()
    first = messages[0]
    if type(first) is not dict or first.get("role") not in ("system", "developer"):
        size += _default_system_bytes()
        specials += 2
    previous = None
    for m in messages:
        if type(m) is not dict or not _TURN_KEYS.issuperset(m):
            return None
        role, content = m.get("role"), m.get("content")
        if type(role) is not str or (content is not None and type(content) is not str):
            return None
        text = utf8_size(content) if content else 0
        if role == "tool":  # results in a row share one turn: <|im_start|>tool\n .. <|im_end|>
            if previous != "tool":
                specials, size = specials + 2, size + 5
            specials, size = (
                specials + 2,
                size + text + 3,
            )  # <tool_response>\n..\n</tool_response>\n
        elif role in _QUICK_ROLES:
            specials, size = specials + 2, size + _QUICK_ROLES[role] + text
            calls = m.get("tool_calls")
            if calls:
                call_bytes = _call_bytes(calls) if role == "assistant" else None
                if call_bytes is None:
                    return None
                specials, size = specials + 2 * len(calls), size + call_bytes
        else:
            return None
        previous = role
    size, template = _with_prompt(size, specials, thinking)
    return _bound(
        size, template, specials + len(messages) + 1,
        lambda: chat_count(messages, tools, thinking, None),
    )  # fmt: skip


@cache
def _tools_frame() -> int:
    chat = spec()["chat"]
    return bound_no_tokenizer(chat["tools_open"]) + bound_no_tokenizer(chat["tools_close"])


def _tool_bytes(tools: Any) -> int | None:
    """At most how many bytes the tool schemas render to, or None for an unknown shape."""
    if type(tools) is not list:
        return None
    try:
        total = len(json.dumps(tools))
    except (TypeError, ValueError, RecursionError):
        return None  # the renderer says what is wrong
    for tool in tools:
        if type(tool) is not dict:
            return None
        fn = tool.get("function", tool)
        if type(fn) is not dict:
            return None
        total += _PER_TOOL + _extra_keys(fn, _TOOL_KEYS)
        params = fn.get("parameters")
        if type(params) is dict:
            total += _extra_keys(params, ("type", "properties"))
            props = params.get("properties")
            if type(props) is dict:
                for field in props.values():
                    total += _PER_PARAMETER + _extra_keys(field, _PARAMETER_KEYS)
    return total


def _extra_keys(obj: Any, handled: Any) -> int:
    if type(obj) is not dict:
        return 0
    return sum(_PER_EXTRA_KEY + len(key) for key in obj if key not in handled)


def _call_bytes(calls: Any) -> int | None:
    """At most how many bytes the tool calls render to (their specials counted apart)."""
    if type(calls) is not list:
        return None
    total = 0
    for call in calls:
        fn = call.get("function") if type(call) is dict else None
        if type(fn) is not dict:
            return None
        name, args = fn.get("name", ""), fn.get("arguments", {})
        if type(name) is not str:
            return None
        if type(args) is not str:
            try:
                args = json.dumps(args)
            except (TypeError, ValueError, RecursionError):
                return None
        # one <parameter=key>value</parameter> per key, keys and values within the JSON text
        total += 32 + utf8_size(name) + utf8_size(args) + 32 * (args.count(":") + 1)
    return total
