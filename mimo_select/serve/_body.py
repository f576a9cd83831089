"""Request bodies: read within a size limit and a deadline, parsed by the library's one JSON
reader (strict JSON: no NaN or Infinity, bounded nesting, no lone surrogates)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from mimo_select.errors import did_you_mean
from mimo_select.files import Item, ReadError, format_size, read_bytes_items

from ._problems import ProblemError

__all__ = ["JSON_TYPES", "flag", "media_type", "names", "read_body", "read_json"]

JSON_TYPES = frozenset(("application/json",))

Receive = Any  # the ASGI receive callable


def media_type(headers: Mapping[str, str]) -> str | None:
    """The request's media type without parameters, lower case; None when not given."""
    value = headers.get("content-type")
    if value is None:
        return None
    return value.partition(";")[0].strip().lower() or None


def _is_json(kind: str | None) -> bool:
    return kind is not None and (kind in JSON_TYPES or kind.endswith("+json"))


async def read_body(
    receive: Receive, headers: Mapping[str, str], limit: int, timeout: float
) -> bytes:
    """The whole body, or a `ProblemError`: 413 past `limit` bytes (by Content-Length before reading
    anything, else while reading), 408 when it does not arrive within `timeout` seconds."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    try:
        async with asyncio.timeout(timeout):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ProblemError("request-timeout", "the client went away before the body ended")
            body: bytes = message.get("body", b"")
            if not message.get("more_body", False):  # the common case: one message
                if len(body) > limit:
                    raise _too_large(limit)
                return body
            chunks = [body]
            size = len(body)
            while message.get("more_body", False):
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ProblemError(
                        "request-timeout", "the client went away before the body ended"
                    )
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ProblemError(
            "request-timeout",
            f"the request body did not arrive within {timeout:g} s",
            headers={"connection": "close"},
        ) from None
    return b"".join(chunks)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        "content-too-large",
        f"the request body is over {format_size(limit)}, this server's limit (--max-body)",
        headers={"connection": "close"},
    )


def read_json(raw: bytes, kind: str | None, *, text_ok: bool = False) -> Any:
    """The parsed body: JSON by the library's reader; plain text as it is where `text_ok`.

    Raises `ProblemError`: 415 for another media type (or none), 400 for malformed JSON with its
    line, 422 for an empty body.
    """
    if not _is_json(kind):
        if text_ok and kind == "text/plain":
            item = read_bytes_items(raw, "body", "text")[0]
            if isinstance(item, ReadError):
                raise ProblemError("invalid-request", _where(item), pointer="")
            return item.data
        allowed = "application/json" + (" or text/plain" if text_ok else "")
        got = f"Content-Type {kind}" if kind else "no Content-Type"
        raise ProblemError(
            "unsupported-media-type",
            f"send the body as {allowed} (got {got}); with curl: "
            "-H 'content-type: application/json'",
        )
    if not raw.strip():
        raise ProblemError(
            "invalid-request", "the request body is empty: send a JSON value", pointer=""
        )
    item = read_bytes_items(raw, "body", "json")[0]
    if isinstance(item, ReadError):
        raise ProblemError("malformed-json", _where(item))
    assert isinstance(item, Item)
    return item.data


def _where(error: ReadError) -> str:
    if error.line is None or f"line {error.line}" in error.message:
        return error.message
    return f"line {error.line}: {error.message}"


_TRUE = frozenset(("1", "true", "yes", "on", ""))
_FALSE = frozenset(("0", "false", "no", "off"))


def flag(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean query parameter: `?apply`, `?apply=true` or `?apply=false`."""
    value = query.get(name)
    if value is None:
        return default
    value = value.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ProblemError(
        "invalid-parameter", f"{name} must be true or false, not {value!r}", where=name
    )


def names(query: Mapping[str, str], name: str, known: tuple[str, ...]) -> frozenset[str] | None:
    """A comma-separated list of names from `known` (`?fields=model,fallbacks`); None when
    the parameter is absent."""
    value = query.get(name)
    if value is None:
        return None
    given = [part.strip() for part in value.split(",")]
    for part in given:
        if part not in known:
            hint = did_you_mean(part, known)
            raise ProblemError(
                "invalid-parameter",
                f"{name}: unknown name {part!r}" + (f" ({hint})" if hint else "")
                + f"; known: {', '.join(known)}",
                where=name,
            )  # fmt: skip
    return frozenset(given)
