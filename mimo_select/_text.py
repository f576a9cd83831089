"""Plain-text rendering for people: aligned tables and colour only where it helps.

Colour is used only on a terminal and never when NO_COLOR is set (https://no-color.org).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Style:
    """Wraps text in ANSI codes when enabled; a no-op otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 0) -> list[str]:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    pad = " " * indent

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(widths[i]) for i, c in enumerate(cells[:-1])]
        return (pad + "  ".join([*parts, cells[-1]])).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def wrap(text: str, width: int, indent: str, hang: str = "") -> list[str]:
    """Greedy word wrap; keeps long words whole; continuation lines get `hang` more indent."""
    lines: list[str] = []
    current = indent
    for word in text.split():
        candidate = f"{current} {word}" if current.strip() else current + word
        if len(candidate) > width and current.strip():
            lines.append(current)
            current = indent + hang + word
        else:
            current = candidate
    if current.strip():
        lines.append(current)
    return lines


def number(value: int) -> str:
    return f"{value:,}"


def compact(value: int) -> str:
    """10_000_000 -> "10M"; decimal, for counts such as rate limits."""
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if value >= size and value % size == 0:
            return f"{value // size}{suffix}"
    return f"{value:,}"
