"""Token counts of text segments, remembered, so a conversation re-routed every turn costs its
new message, not its history.

Special tokens split the chat template into segments that BPE encodes one by one, so the count
of a chat is the sum of its segments' counts: a segment seen before is a dictionary lookup, and
a hit is the very number a fresh encode gives. Segments missed are encoded together in one call
into the encoder, split apart again at a separator token. The memory holds at most
`BUDGET_CHARS` characters of keys (older entries leave first) and serves every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence

from . import _bpe

BUDGET_CHARS = 16 << 20  # characters of text remembered (16 M: tens of MB at most)
_SEPARATOR = "<|endoftext|>"  # never rendered by the template: splits a joined encode


class SegmentCounts:
    """(tokens, lower, upper) per segment, keyed by what identifies its text."""

    def __init__(self, budget_chars: int = BUDGET_CHARS) -> None:
        self.budget = budget_chars
        self._counts: dict[Hashable, tuple[int, int, int]] = {}
        self._sizes: dict[Hashable, int] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def chars(self) -> int:
        return self._chars

    def get(self, key: Hashable) -> tuple[int, int, int] | None:
        return self._counts.get(key)

    def put(self, key: Hashable, size: int, value: tuple[int, int, int]) -> None:
        if size > self.budget // 8:  # one giant segment would push out everything else
            return
        with self._lock:
            if key in self._counts:
                return
            self._counts[key] = value
            self._sizes[key] = size
            self._chars += size
            while self._chars > self.budget:
                oldest = next(iter(self._sizes))
                self._chars -= self._sizes.pop(oldest)
                del self._counts[oldest]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._sizes.clear()
            self._chars = 0


MEMORY = SegmentCounts()


def count_segments(
    keys: Sequence[Hashable], text_of: Callable[[int], str]
) -> list[tuple[int, int, int]]:
    """(tokens, lower, upper) for each segment, from memory where it can, the rest encoded in
    one call (texts with special tokens or very long runs take the careful path alone).
    `keys` identify the segments in memory; `text_of(i)` builds the i-th text, only if missed."""
    memory = MEMORY
    out: list[tuple[int, int, int] | None] = list(map(memory.get, keys))
    missed = [i for i, found in enumerate(out) if found is None]
    if not missed:
        return out  # type: ignore[return-value]
    texts = {i: text_of(i) for i in missed}
    plain: list[int] = []
    for i in missed:
        text = texts[i]
        if len(text) >= _bpe.LONG_RUN or ("<" in text and _bpe.specials_pattern().search(text)):
            out[i] = _bpe.count_text_parts(text)
        else:
            plain.append(i)
    if len(plain) == 1:
        n = _bpe.count_text_parts(texts[plain[0]])[0]
        out[plain[0]] = (n, n, n)
    elif plain:
        for i, n in zip(plain, _joined_counts([texts[i] for i in plain]), strict=True):
            out[i] = (n, n, n)
    for i in missed:
        found = out[i]
        assert found is not None
        memory.put(keys[i], len(texts[i]), found)
    return out  # type: ignore[return-value]


def _joined_counts(texts: Sequence[str]) -> list[int]:
    """Tokens of each text, from one encode of them all joined by a special token: special
    tokens split the text before BPE sees it, so each part is encoded as it would be alone."""
    encoding = _bpe.encoding()
    separator = encoding.encode_single_token(_SEPARATOR)
    ids = encoding.encode(_SEPARATOR.join(texts), allowed_special={_SEPARATOR})
    counts, run = [], 0
    for token in ids:
        if token == separator:
            counts.append(run)
            run = 0
        else:
            run += 1
    counts.append(run)
    return counts
