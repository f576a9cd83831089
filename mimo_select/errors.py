"""One exception tree, rooted in `MimoSelectError`; every error says where it happened.

Limit violations are not exceptions: they are values inside a `Decision`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "DataError",
    "ExpressionError",
    "Location",
    "MimoSelectError",
    "NoEligibleModelError",
    "NotARequestError",
    "Problem",
    "RequestError",
    "RulesError",
    "TokenizerError",
    "TraitsError",
    "UnknownModelError",
    "UsageError",
    "UsageStoreError",
    "UsageStoreWarning",
    "UsageValueError",
    "suggest",
]


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt `word`, or None when nothing is close."""
    import difflib  # only once something is misspelt

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A ready-made hint: "did you mean 'x'?", or None."""
    match = suggest(word, choices)
    return f"did you mean {match!r}?" if match else None


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a data file: file, 1-based line and column, and the JSON path inside it."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str = "$"

    def __str__(self) -> str:
        head = self.file or "<input>"
        if self.line is not None:
            head += f":{self.line}"
            if self.column is not None:
                head += f":{self.column}"
        return f"{head}: {self.path}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a data file, rendered like a compiler message."""

    location: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file or "", loc.line or 0, loc.column or 0, self.message)


class MimoSelectError(Exception):
    """The root of every error mimo-select raises on purpose.

    `where` names the place (a file:line, a JSON path or a field) when one is known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DataError(MimoSelectError):
    """A data file (catalog or rules) is invalid; carries every problem found, sorted by place."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=Problem.sort_key))
        if not self.problems:
            raise ValueError("a DataError needs at least one problem")
        first = self.problems[0].location
        where = f"{first.file or '<input>'}:{first.line}" if first.line else first.file
        super().__init__("\n".join(str(p) for p in self.problems), where=where)

    def __str__(self) -> str:
        return self.message


class ExpressionError(MimoSelectError):
    """A rule expression does not compile; `path` is where inside the rule field, `hint` a fix.

    Raised while compiling and turned into a located `RulesError` problem by the rules loader.
    """

    def __init__(self, path: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.hint = hint


class CatalogError(DataError):
    """The model catalog (`data/models.yaml` or a replacement) is invalid."""


class RulesError(DataError):
    """A rules file is invalid, or does not fit the catalog it is compiled against."""


class TraitsError(MimoSelectError, ValueError):
    """A request trait has an unknown or out-of-range value; `where` names the field."""


class RequestError(MimoSelectError, ValueError):
    """A request body cannot be read; `where` is the JSON path of the offending part."""


class NotARequestError(RequestError):
    """A JSON or YAML value that holds no request at all (no `messages`, `input`,
    `instructions` or `prompt`): `check` skips such files unless `--strict`."""


class UnknownModelError(MimoSelectError, KeyError):
    """A model id that is not in the catalog; `suggestion` holds the close match, if any."""

    def __init__(self, model: str, known: Iterable[str], *, where: str | None = None) -> None:
        self.model = model
        self.suggestion = suggest(model, known)
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        super().__init__(f"unknown model {model!r}{hint}", where=where)

    def __str__(self) -> str:  # KeyError would repr() the message
        return MimoSelectError.__str__(self)


class NoEligibleModelError(MimoSelectError):
    """A decision without a model was asked for one (`Decision.apply`)."""


class TokenizerError(MimoSelectError):
    """The bundled tokenizer files are missing or do not match their pinned hashes."""


class UsageError(MimoSelectError):
    """Bad command-line usage, paths or options (exit code 2)."""


class UsageStoreError(MimoSelectError):
    """A rate-limit usage store cannot be reached or answered wrongly (`on_error="closed"`)."""


class UsageValueError(MimoSelectError, ValueError):
    """A usage-store argument is wrong: a `limits` key or value, a candidate, a usage object."""


class UsageStoreWarning(RuntimeWarning):
    """Redis went away and `on_error="open"` admits on a local count (once per outage)."""


class RateLimitedError(MimoSelectError):
    """Every eligible model stayed full until the deadline (`send_with_limits`).

    A `send` function may also raise it to report the platform's 429 when its client has no
    `status_code` to read; `retry_after` is then the Retry-After seconds, if any.
    """

    def __init__(
        self,
        message: str = "rate limited (429)",
        *,
        retry_after: float | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message, where=where)
        self.retry_after = retry_after
