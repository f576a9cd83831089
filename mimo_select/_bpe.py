"""MiMo's byte-level BPE: the bundled rank table, loaded once, and exact text counts.

The table ships in the package, pinned by sha256 and checked on load; nothing is downloaded.
Text is counted exactly, within linear time: long runs of one kind of character, where BPE
turns super-linear and tiktoken's regex engine overflows, are handled piecewise.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from array import array
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from ._resources import bundled_file
from .errors import RequestError, TokenizerError

if TYPE_CHECKING:
    import tiktoken

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
    "symbol": re.compile(f"[^\\W_{_WS}]|[{_WS}]"),  # a letter, a digit or a space; `_` is a symbol
}


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
def specials_pattern() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(spec()["special_tokens"], key=len)))


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8. A lone surrogate (a JSON escape such as \\ud800 that names
    half a character) cannot be sent as UTF-8: a `RequestError`, not a traceback."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise RequestError(
            f"text holds a lone surrogate ({text[exc.start]!r} at character {exc.start:,}): "
            "half of a UTF-16 pair, not a character; it cannot be sent as UTF-8"
        ) from None


def count_text_parts(text: str) -> tuple[int, int, int]:
    """(tokens, lower, upper): all three equal when the count is exact.

    Special tokens count as one each and split the text around them, as tiktoken does:
    a whitespace run before one ends its piece there."""
    if "<" in text and len(text) >= LONG_RUN and specials_pattern().search(text):
        total = low = high = 0
        pieces = specials_pattern().split(text)
        for piece in pieces:
            n, lo, hi = count_text_parts(piece)
            total, low, high = total + n, low + lo, high + hi
        specials = len(pieces) - 1
        return total + specials, low + specials, high + specials
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
    if char.isalnum():
        return None  # digits are pieces of one character: no long piece to fear
    return "symbol"  # punctuation, `_` and the rest: `[^\s\p{L}\p{N}]+` is one piece


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
    piece = _space_piece
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
            tokens += piece(text[k:cut])
        position = cut
    else:
        tokens += _encode_len(text[position:start])
        position = start
    horizontal = text[position:end]
    if end == len(text):
        return tokens + (piece(horizontal) if horizontal else 0), end
    if len(horizontal) > 1:
        return tokens + piece(horizontal[:-1]), end - 1
    return tokens, position


_PERIODIC = 4096  # characters: uniform whitespace longer than this is counted by its period


def _space_piece(piece: str) -> int:
    """Tokens in one whitespace piece. BPE over a uniform stretch (one character, or `\r\n`
    repeated) is periodic: past a few thousand characters, every `p` more units add the same
    tokens, and what comes before and after the stretch only changes the tokens near its ends.
    So a long one is counted by cutting whole periods out of its middle and BPE-encoding what
    is left, exactly and in linear time (the test suite holds the shortcut to plain BPE)."""
    encode = encoding()._encode_single_piece
    if len(piece) <= 4 * _PERIODIC:
        return len(encode(piece.encode()))
    middle = len(piece) // 2
    unit = "\r\n" if piece[middle : middle + 2] in ("\r\n", "\n\r") else piece[middle]
    if unit == "\r\n" and piece[middle] == "\n":
        middle -= 1
    first, last = middle, middle
    while first >= len(unit) and piece[first - len(unit) : first] == unit:
        first -= len(unit)
    while piece[last : last + len(unit)] == unit:
        last += len(unit)
    units = (last - first) // len(unit)
    if units * len(unit) <= 2 * _PERIODIC:
        return len(encode(piece.encode()))
    before, after = piece[:first], piece[last:]

    def tokens(n: int) -> int:
        return len(encode((before + unit * n + after).encode()))

    period = _period(unit)
    keep = _PERIODIC // len(unit) + (units - _PERIODIC // len(unit)) % period
    gain = tokens(keep + period) - tokens(keep)
    return tokens(keep) + (units - keep) // period * gain


@cache
def _period(unit: str) -> int:
    """The smallest p (in units) with tokens(k + p) - tokens(k) constant for every k from
    `_PERIODIC` on; checked over four periods' worth of lengths."""
    encode = encoding()._encode_single_piece
    base = _PERIODIC // len(unit)
    counts = [len(encode((unit * n).encode())) for n in range(base, base + 4 * 256 + 1)]
    for p in range(1, 257):
        diffs = {counts[i + p] - counts[i] for i in range(len(counts) - p)}
        if len(diffs) == 1:
            return p
    raise TokenizerError(f"no period for runs of {unit!r}")  # pragma: no cover


_BLOCK = 4096  # characters per block of a long run
_SPLIT_ERROR = 8  # tokens a block boundary can change the count by, at most (see below)


def _estimate_run(run: str) -> tuple[int, int, int]:
    """A run of 50,000+ letters or symbols is one BPE piece, and exact BPE over it is
    super-linear: count it in 4,096-character blocks. Cutting a piece changes its count only
    near the cut: measured over random cuts in common Chinese, rare CJK, Latin and symbol
    runs, by -3 to +4 tokens. The interval allows twice that, `_SPLIT_ERROR` per boundary
    (and per edge, where the run meets its neighbours), within the hard bounds of its size."""
    piece = encoding()._encode_single_piece
    blocks = range(0, len(run), _BLOCK)
    estimate = sum(len(piece(run[i : i + _BLOCK].encode())) for i in blocks)
    slack = _SPLIT_ERROR * (len(blocks) + 1)
    size = len(run.encode())
    longest: int = spec()["max_token_bytes"]
    lowest = max(0, -(-size // longest) - 1)
    return estimate, max(lowest, estimate - slack), min(size + 1, estimate + slack)


_WS_SET = frozenset(" \t\n\x0b\x0c\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def _encode_len(text: str) -> int:
    if not text:
        return 0
    enc = encoding()
    if "<" in text and specials_pattern().search(text):
        return len(enc.encode(text, allowed_special="all"))
    return len(enc.encode_ordinary(text))
