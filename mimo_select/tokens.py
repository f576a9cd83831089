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

import hashlib
import json
import re
import struct
import threading
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ._resources import bundled_file
from .errors import MimoSelectError, RequestError

if TYPE_CHECKING:
    import tiktoken

    from .media import MediaEstimate

__all__ = ["TokenCount", "bound_chat", "bound_text", "count_chat", "count_text", "count_tokens"]

# Long runs of one kind of character are where BPE turns super-linear and where tiktoken's regex
# engine overflows its stack (about 1,000,000 whitespace characters, a PanicException that
# derives from BaseException). Runs this long are handled piecewise, below the danger zone.
LONG_RUN = 50_000
# Unicode White_Space, as the Rust regex inside tiktoken sees `\s`.
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# what ends a run of each kind: a non-space, a non-letter, a letter, digit or space
_ENDS = {
    "space": re.compile(f"[^{_WS}]"),
    "letter": re.compile(r"[\W\d_]"),
    "symbol": re.compile(f"[\\w{_WS}]"),
}


class TokenizerError(MimoSelectError):
    """The bundled tokenizer files are missing or do not match their pinned hashes."""


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


# --- the tokenizer -------------------------------------------------------------------------


@cache
def spec() -> dict[str, Any]:
    """The tokenizer description shipped in `data/tokenizer/mimo.json`."""
    with bundled_file("data", "tokenizer/mimo.json").open(encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def encoding() -> tiktoken.Encoding:
    """The MiMo `tiktoken.Encoding`, built once per process from the bundled rank table."""
    global _encoding  # noqa: PLW0603 - one encoding per process, built on first use
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = _build_encoding()
    return _encoding


def _build_encoding() -> tiktoken.Encoding:
    import tiktoken

    s = spec()
    path = bundled_file("data", f"tokenizer/{s['ranks_file']}")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise TokenizerError(f"cannot read {path}: {exc.strerror}", where=str(path)) from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != s["ranks_sha256"]:
        raise TokenizerError(
            f"sha256 {digest} is not the pinned {s['ranks_sha256']}; reinstall mimo-select",
            where=str(path),
        )
    ranks = _parse_ranks(blob)
    if len(ranks) != s["n_ranks"]:
        raise TokenizerError(f"{len(ranks)} ranks, expected {s['n_ranks']}", where=str(path))
    return tiktoken.Encoding(
        s["name"], pat_str=s["pattern"], mergeable_ranks=ranks, special_tokens=s["special_tokens"]
    )


def _parse_ranks(blob: bytes) -> dict[bytes, int]:
    """Read the compact table written by tools/build_tokenizer.py."""
    if not blob.startswith(b"MIMORANKS1"):
        raise TokenizerError("not a MiMo rank table")
    (groups,) = struct.unpack_from("<I", blob, 10)
    offset = 14
    ranks: dict[bytes, int] = {}
    for _ in range(groups):
        length, n = struct.unpack_from("<HI", blob, offset)
        offset += 6
        tokens = blob[offset : offset + length * n]
        offset += length * n
        numbers = array("I")
        numbers.frombytes(blob[offset : offset + 4 * n])
        offset += 4 * n
        keys = [tokens[i : i + length] for i in range(0, length * n, length)]
        ranks.update(zip(keys, numbers, strict=True))
    return ranks


@cache
def _specials() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(spec()["special_tokens"], key=len)))


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
    tokens, low, high = _count(text)
    name = spec()["name"]
    if low == high:
        return TokenCount(tokens, True, tokens, name, (("text", tokens),))
    return TokenCount(
        tokens, False, high, name, (("text", tokens),),
        lower_bound=low,
        notes=("a run of 50,000+ letters or symbols was estimated, not counted",),
    )  # fmt: skip


def _count(text: str) -> tuple[int, int, int]:
    """(tokens, lower, upper): all three equal when the count is exact."""
    if len(text) < LONG_RUN:  # too short to hold a long run: the plain, fast path
        n = _encode_len(text)
        return n, n, n
    total = slack_down = slack_up = position = 0
    for start, end in _long_runs(text):
        if text[start] in _WS_SET:
            n, position = _whitespace_run(text, position, start, end)
            total += n
            continue
        total += _encode_len(text[position:start])
        estimate, low, high = _estimate_run(text[start:end])
        total, position = total + estimate, end
        slack_down, slack_up = slack_down + estimate - low, slack_up + high - estimate
    total += _encode_len(text[position:])
    return total, total - slack_down, total + slack_up


def _run_kind(char: str) -> str | None:
    if char in _WS_SET:
        return "space"
    if char.isalpha():
        return "letter"
    if char.isdigit() or char == "_" or char.isalnum():
        return None  # digits are pieces of one character: no long piece to fear
    return "symbol"


def _long_runs(text: str) -> Iterable[tuple[int, int]]:
    """(start, end) of every run of LONG_RUN+ whitespace, letter or symbol characters.

    Such a run covers a whole window of LONG_RUN/2 characters aligned to a multiple of that
    size, so each aligned window is probed once: in ordinary text a character of another kind
    turns up within a few places and the probe costs next to nothing.
    """
    size, n = LONG_RUN // 2, len(text)
    i = done = 0
    while i + size <= n:
        kind = _run_kind(text[i])
        ends = _ENDS[kind] if kind else None
        if ends is None or ends.search(text, i, i + size):
            i += size
            continue
        start = i
        for m in ends.finditer(text, max(done, i - size), i):
            start = m.end()
        stop = ends.search(text, i + size)
        end = stop.start() if stop else n
        if end - start >= LONG_RUN:  # two aligned windows fit: reported once, then skipped
            yield start, end
            done = end
            i = (end // size + 1) * size
        else:  # too short; the next window starts a run of its own if any
            i += size
    return


def _whitespace_run(text: str, position: int, start: int, end: int) -> tuple[int, int]:
    """Tokens of text[position:...] through a long whitespace run, exactly, without running
    tiktoken's regex over the run (which overflows): reproduce the pieces the pattern makes.

    `\\s*[\\r\\n]+` takes the run up to its last newline (a symbol just before the run takes
    the run's leading newlines instead); `\\s+(?!\\S)` takes the rest but its last character,
    which starts the next piece. Each piece is BPE-encoded on its own. Returns the tokens and
    the position the caller continues from.
    """
    piece = encoding()._encode_single_piece
    run = text[start:end]
    last_newline = max(run.rfind("\n"), run.rfind("\r"))
    tokens = 0
    if last_newline >= 0:
        cut = start + last_newline + 1
        k = start
        before = text[start - 1] if start else ""
        if before and before not in _WS_SET and not before.isalnum():
            while k < cut and text[k] in "\r\n":
                k += 1
        tokens += _encode_len(text[position:k])
        if k < cut:
            tokens += len(piece(text[k:cut].encode()))
        position = cut
    else:
        tokens += _encode_len(text[position:start])
        position = start
    horizontal = text[position:end]
    if end == len(text):
        return tokens + (len(piece(horizontal.encode())) if horizontal else 0), end
    if len(horizontal) > 1:
        return tokens + len(piece(horizontal[:-1].encode())), end - 1
    return tokens, position


def _estimate_run(run: str) -> tuple[int, int, int]:
    """A run of 50,000+ letters or symbols is one BPE piece, and exact BPE over it is
    super-linear: estimate it in 4,096-character blocks. Its true count lies between its
    UTF-8 length over the longest token (128 bytes) and its UTF-8 length, give or take the one
    character a piece may take from its neighbours."""
    piece = encoding()._encode_single_piece
    estimate = sum(len(piece(run[i : i + 4096].encode())) for i in range(0, len(run), 4096))
    size = len(run.encode())
    longest: int = spec()["max_token_bytes"]
    return estimate, max(0, -(-size // longest) - 1), size + 1


_WS_SET = frozenset(" \t\n\x0b\x0c\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def _encode_len(text: str) -> int:
    if not text:
        return 0
    enc = encoding()
    if "<" in text and _specials().search(text):
        return len(enc.encode(text, allowed_special="all"))
    return len(enc.encode_ordinary(text))


def bound_text(text: str) -> TokenCount:
    """The interval for `text` without tokenizing: every token is 1 to 128 bytes of UTF-8."""
    size = len(text.encode("utf-8"))
    return _bound(size, 0, spec()["name"], lambda: count_text(text))


def _bound(size: int, fixed: int, name: str, refine: Callable[[], TokenCount]) -> TokenCount:
    longest = spec()["max_token_bytes"]
    return TokenCount(
        tokens=fixed + size,
        exact=False,
        upper_bound=fixed + size,
        tokenizer=name,
        parts=(("text_bytes", size), ("template", fixed)),
        lower_bound=fixed + -(-size // longest),
        notes=("bounded by UTF-8 length; not tokenized",),
        refine=refine,
    )


# --- chats ---------------------------------------------------------------------------------


def count_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    thinking: bool | None = None,
) -> TokenCount:
    """The prompt tokens MiMo bills for a chat: every message in its template, plus the
    assistant prefix. `thinking` None means "the model's default", which changes the prefix by
    up to two tokens, so the count is then a tight interval rather than exact. Tool schemas
    and tool calls follow the template as published but are not calibrated: marked inexact.
    """
    return _Chat(messages, tools, thinking).count()


def bound_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    thinking: bool | None = None,
) -> TokenCount:
    """The same chat bounded by its UTF-8 size, without loading the tokenizer; its `refine`
    gives `count_chat`'s answer."""
    if not tools:
        quick = quick_bound(messages, thinking)
        if quick is not None:
            return quick
    return _Chat(messages, tools, thinking, sizes_only=True).bound()


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
    size += len(text) if text.isascii() else len(text.encode("utf-8"))
    specials = 2 * len(messages) + 1  # each turn's <|im_start|> and <|im_end|>; the prefix's
    has_system = messages[0]["role"] in ("system", "developer")
    if not has_system:
        size += len(spec()["chat"]["default_system"]) + 7  # "system\n"
        specials += 2
    suffixes = _suffix_bounds()
    suffix = max(suffixes.values()) if thinking is None else suffixes[thinking]
    size += len("assistant\n")
    longest = spec()["max_token_bytes"]
    return TokenCount(
        tokens=specials + size + suffix,
        exact=False,
        upper_bound=specials + size + suffix,
        tokenizer=spec()["name"],
        parts=(("text_bytes", size), ("template", specials + suffix)),
        lower_bound=specials + max(len(messages) + (not has_system) + 1, -(-size // longest)),
        notes=("bounded by UTF-8 length; not tokenized",),
        refine=lambda: count_chat(messages, thinking=thinking),
    )


# the turns the quick bound handles, and the bytes each adds besides its content: the role as
# rendered (developer turns render as system) and its newline
_QUICK_ROLES = {"system": 7, "developer": 7, "user": 5, "assistant": 10}
_ROLE, _CONTENT = itemgetter("role"), itemgetter("content")


class _Chat:
    """A chat rendered as segments of plain text between special tokens.

    With `sizes_only` the segments are not kept, only their UTF-8 sizes: all a bound needs.
    """

    def __init__(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        thinking: bool | None,
        *,
        sizes_only: bool = False,
    ) -> None:
        self.messages, self.tools, self.thinking = messages, tools, thinking
        self.template = spec()["chat"]
        self.sizes_only = sizes_only
        self.segments: list[str] = []  # text between special tokens, tokenized one by one
        self._pending: list[str] = []  # text since the last special token
        self._pending_bytes = 0
        self.text_bytes = 0  # with sizes_only: the segments' total UTF-8 size
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
            self.inexact.append("tool definitions (template not calibrated)")
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
            self.inexact.append("tool calls (template not calibrated)")
            self._text(_render_calls(calls, t, f"{where}.tool_calls"))
        self._text(t["turn_close"])

    def _content_text(self, text: str) -> None:
        # tokenized as it stands, with the template text around it up to the next special
        if self.sizes_only:
            self._pending_bytes += len(text) if text.isascii() else len(text.encode("utf-8"))
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
            if kind == "text" or (kind is None and "text" in part):
                text = part.get("text")
                if not isinstance(text, str):
                    raise RequestError("a text part needs a string `text`", where=f"{at}.text")
                self._content_text(text)
            else:
                self.media.append(media.estimate_part(part, at))
                self._special(self.template["media_wrapper_tokens"])

    def _suffixes(self) -> tuple[int, int]:
        """(fewest, most) tokens the thinking suffix may add."""
        sizes = {
            mode: len(encoding().encode(text, allowed_special="all")) if text else 0
            for mode, text in self.template["thinking_suffix"].items()
        }
        if self.thinking is None:
            return min(sizes.values()), max(sizes.values())
        size = sizes["enabled" if self.thinking else "disabled"]
        return size, size

    def _media_totals(self) -> tuple[int, int, int | None, list[tuple[str, int]]]:
        """Media tokens: (estimate, lower, upper or None, per kind)."""
        total = lower = 0
        upper: int | None = 0
        parts: dict[str, int] = {}
        for item in self.media:
            total, lower = total + item.tokens, lower + item.lower
            parts[item.kind] = parts.get(item.kind, 0) + item.tokens
            upper = None if upper is None or item.upper is None else upper + item.upper
        return total, lower, upper, list(parts.items())

    def count(self) -> TokenCount:
        if self.sizes_only:  # the text was not kept: render it again
            return _Chat(self.messages, self.tools, self.thinking).count()
        text = text_low = text_high = 0
        for segment in self.segments:
            n, low, high = _count(segment)
            text, text_low, text_high = text + n, text_low + low, text_high + high
        low_suffix, high_suffix = self._suffixes()
        media_tokens, media_lower, media_upper, media_parts = self._media_totals()
        fixed = self.specials
        tokens = text + fixed + high_suffix + media_tokens
        exact = not (
            text_low != text_high or self.inexact or self.media or low_suffix != high_suffix
        )
        upper = None if media_upper is None else text_high + fixed + high_suffix + media_upper
        if self.inexact and upper is not None:  # the rendering may differ: bound by bytes
            upper = max(upper, self._bytes() + fixed + high_suffix + (media_upper or 0))
        notes = list(self.inexact)
        if low_suffix != high_suffix:
            notes.append("thinking not set: the prompt suffix depends on the model's default")
        if self.media:
            notes.append("media tokens follow the platform's documented formulas")
        return TokenCount(
            tokens=tokens,
            exact=exact,
            upper_bound=upper,
            tokenizer=spec()["name"],
            parts=(("text", text), ("template", fixed + high_suffix), *media_parts),
            lower_bound=text_low + fixed + low_suffix + media_lower,
            notes=tuple(notes),
        )

    def _bytes(self) -> int:
        if self.sizes_only:
            return self.text_bytes
        return sum(len(s.encode("utf-8")) for s in self.segments)

    def bound(self) -> TokenCount:
        """The chat's interval from UTF-8 sizes and media formulas, without the tokenizer."""
        bounds = _suffix_bounds()
        suffix_bytes = max(bounds.values()) if self.thinking is None else bounds[self.thinking]
        longest = spec()["max_token_bytes"]
        size = self._bytes()
        nonempty = self.nonempty if self.sizes_only else len(self.segments)
        media_tokens, media_lower, media_upper, media_parts = self._media_totals()
        lower = self.specials + max(nonempty, -(-size // longest)) + media_lower
        upper = None if media_upper is None else self.specials + size + suffix_bytes + media_upper
        notes = ["bounded by UTF-8 length; not tokenized"]
        if self.media:
            notes.append("media tokens follow the platform's documented formulas")
        return TokenCount(
            tokens=self.specials + size + suffix_bytes + media_tokens,
            exact=False,
            upper_bound=upper,
            tokenizer=spec()["name"],
            parts=(
                ("text_bytes", size),
                ("template", self.specials + suffix_bytes),
                *media_parts,
            ),
            lower_bound=lower,
            notes=tuple(notes),
            refine=self.count,
        )


@lru_cache(maxsize=1024)
def _between_specials(rendered: str) -> list[str]:
    """The texts around the special tokens in template text (which repeats: cached)."""
    return _specials().split(rendered)


@cache
def _suffix_bounds() -> dict[bool, int]:
    """Tokens at most that the thinking suffix adds, thinking on (True) and off (False)."""
    suffixes = spec()["chat"]["thinking_suffix"]
    return {True: _bound_no_tokenizer(suffixes["enabled"]),
            False: _bound_no_tokenizer(suffixes["disabled"])}  # fmt: skip


def _bound_no_tokenizer(text: str) -> int:
    """Tokens at most in template text: one per special token, one per byte of the rest."""
    specials = _specials().findall(text)
    return len(specials) + len(_specials().sub("", text).encode("utf-8"))


def _render_tools(tools: Sequence[Mapping[str, Any]], t: Mapping[str, Any]) -> str:
    out = [t["tools_open"]]
    for tool in tools:
        fn = tool.get("function", tool) if isinstance(tool, Mapping) else {}
        if not isinstance(fn, Mapping):
            fn = {}
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
                    description=str(fn.get("description", "")).strip()
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
            value=json.dumps(value, ensure_ascii=False)
            if isinstance(value, Mapping | list)
            else str(value),
        )
        for key, value in obj.items()
        if key not in handled
    )


def _render_calls(calls: Any, t: Mapping[str, Any], where: str) -> str:
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
            except ValueError:
                args = {"arguments": args}
        if not isinstance(args, Mapping):
            args = {"arguments": args}
        out.append(t["tool_call_open"].format(name=fn.get("name", "")))
        for name, value in args.items():
            text = (
                json.dumps(value, ensure_ascii=False)
                if isinstance(value, Mapping | list)
                else str(value)
            )
            out.append(t["tool_call_argument"].format(name=name, value=text))
        out.append(t["tool_call_close"])
    return "".join(out)
