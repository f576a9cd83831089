"""Random access to the bytes behind a base64 payload, decoding only the slices read.

Base64 maps each 4-character group to 3 bytes, so any byte range is decoded from its covering
4-character slice: a 10 MB image or recording costs the few hundred bytes its headers take.
Audio durations (`_audio`) and image sizes (`media`) read their headers through it.
"""

from __future__ import annotations

import binascii

from .errors import RequestError

__all__ = ["Payload", "payload_source"]

_DATA_URL_HEAD = 1024  # where the comma of a data: URL must appear
_WRAP_SCAN = 8192  # characters searched for the first line break of wrapped base64
_MAX_READS = 20_000  # reads of one payload: bounds the time nested structures can take


def payload_source(data: str) -> tuple[str, int] | None:
    """(MIME type, index where the base64 starts), or None for a URL or non-base64 data."""
    if data.startswith("data:"):
        comma = data.find(",", 0, _DATA_URL_HEAD)
        if comma < 0:
            return None
        params = data[5:comma].lower().split(";")
        return (params[0].strip(), comma + 1) if "base64" in params[1:] else None
    if "://" in data[:16]:
        return None
    return "", 0


class Payload:
    """The bytes of a base64 string, decoding only the slices read; `decoded` counts them.

    Line-wrapped base64 (MIME, PEM, the `base64` tool) is read too when every line but the
    last has the length of the first; a misplaced line break met while reading is an error.
    """

    __slots__ = ("_line", "_lines", "_reads", "_sep", "_start", "_text", "chars", "decoded", "size")

    def __init__(self, text: str, start: int) -> None:
        end = len(text)
        while end > start and end > len(text) - 64 and text[end - 1] in " \t\r\n":
            end -= 1
        newline = text.find("\n", start, min(end, start + _WRAP_SCAN))
        self._text, self._start, self._line, self._sep, self._lines = text, start, 0, 0, 1
        physical = end - start
        if newline < 0:
            self.chars = physical
        else:
            self._sep = 2 if text[newline - 1 : newline] == "\r" else 1
            self._line = newline - start - (self._sep - 1)
            if self._line <= 0:
                raise RequestError("base64 data starts with a line break")
            self._lines = -(-(physical + self._sep) // (self._line + self._sep))
            self.chars = physical - self._sep * (self._lines - 1)
        self.decoded = self._reads = 0
        whole, rest = divmod(self.chars, 4)
        if rest == 1:
            raise RequestError("base64 data has an impossible length")
        if rest:  # unpadded: 2 or 3 characters carry 1 or 2 bytes
            self.size = whole * 3 + rest - 1
        else:
            self.size = whole * 3 - self._chars(max(0, self.chars - 2), self.chars).count("=")

    def _chars(self, a: int, b: int) -> str:
        """Base64 characters a..b, with line breaks removed."""
        text, start, line = self._text, self._start, self._line
        if not line:
            return text[start + a : start + b]
        stride = line + self._sep
        first, last = a // line, (b - 1) // line
        chunk = text[start + first * stride + a % line : start + last * stride + (b - 1) % line + 1]
        # the breaks around and inside the slice are where a regular layout puts them
        before = text[start + first * stride - 1] if first else "\n"
        after = text[start + (last + 1) * stride - 1] if last < self._lines - 1 else "\n"
        chunk = chunk.replace("\r", "").replace("\n", "")
        if before != "\n" or after != "\n" or len(chunk) != b - a:
            raise RequestError("base64 data has lines of different lengths")
        return chunk

    def read(self, offset: int, n: int) -> bytes:
        """Bytes offset..offset+n, fewer at the end of the data."""
        end = min(self.size, offset + n)
        if offset < 0 or end <= offset:
            return b""
        if self._reads == _MAX_READS:
            raise RequestError(f"gave up after {_MAX_READS} reads of the headers")
        self._reads += 1
        first, last = offset // 3, -(-end // 3)
        chunk = self._chars(4 * first, min(4 * last, self.chars))
        if len(chunk) % 4:
            chunk += "=" * (-len(chunk) % 4)
        try:
            raw = binascii.a2b_base64(chunk.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise RequestError(f"invalid base64 near byte {offset}") from None
        self.decoded += len(raw)
        return raw[offset - 3 * first : end - 3 * first]

    def need(self, offset: int, n: int, what: str) -> bytes:
        """Exactly n bytes at offset, or a RequestError naming `what` as truncated."""
        raw = self.read(offset, n)
        if len(raw) < n:
            raise RequestError(f"truncated {what}: the data ends at byte {self.size}")
        return raw
