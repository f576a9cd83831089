"""`mimo-select check`: prompt files against MiMo model limits, for CI and pre-commit.

Every file is read, every prompt in it checked against each target model, and every
unreadable file reported, before the exit code is decided. A prompt is first bounded by its
UTF-8 size; the tokenizer loads only when that bound does not already settle the answer.
Large trees are counted in parallel on all cores.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import MimoSelectError, RequestError, UsageError
from .tokens import TokenCount

__all__ = ["CheckOptions", "Finding", "ReadError", "Report", "Target", "check_paths"]

FORMATS = {
    ".txt": "text", ".md": "text", ".markdown": "text", ".prompt": "text", ".tmpl": "text",
    ".json": "json", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml",
}  # fmt: skip
SKIP_DIRS = frozenset(("node_modules", "__pycache__", "site-packages"))
PARALLEL_BYTES = 8 << 20  # below this much input, worker start-up costs more than it saves
PARALLEL_FILES = 256


@dataclass(frozen=True)
class Target:
    """A model's limits, as `check` needs them (plain data, so workers can receive it)."""

    model: str
    context_window: int
    max_output: int
    thinking: bool | None = None  # the model's default thinking mode, which the count follows


@dataclass(frozen=True)
class CheckOptions:
    targets: tuple[Target, ...]  # --model / --models; empty: the body's model, else the smallest
    choices: tuple[Target, ...]  # text models, smallest window first, for "the smallest that fits"
    max_output: int | None = None
    margin: float = 0.0
    format_in: str | None = None
    by_id: Mapping[str, Target] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One prompt against one model."""

    path: str
    line: int | None
    model: str
    tokens: int
    exact: bool
    upper_bound: int | None
    output: int
    limit: int
    violations: tuple[str, ...]
    certain: bool = True

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class ReadError:
    path: str
    line: int | None
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    files: int = 0

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.failed else 0


# --- finding the files ---------------------------------------------------------------------


def discover(
    paths: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    any_extension: bool = False,
) -> list[Path]:
    """The files to check: named files as given; directories and globs walked, skipping hidden
    directories, virtualenvs and what `.gitignore` files ignore; then --include/--exclude."""
    found: dict[Path, None] = {}
    for raw in paths:
        if any(c in raw for c in "*?["):
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                raise UsageError(f"{raw}: no file matches this pattern")
            for match in matches:
                p = Path(match)
                for f in _walk(p, any_extension) if p.is_dir() else [p]:
                    found.setdefault(f)
            continue
        p = Path(raw)
        if p.is_dir():
            for f in _walk(p, any_extension):
                found.setdefault(f)
        elif p.exists():
            found.setdefault(p)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    files = list(found)
    if include:
        files = [f for f in files if any(_matches(f, pat) for pat in include)]
    if exclude:
        files = [f for f in files if not any(_matches(f, pat) for pat in exclude)]
    return files


def _matches(path: Path, pattern: str) -> bool:
    text = path.as_posix()
    return fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(path.name, pattern)


def _walk(root: Path, any_extension: bool) -> Iterator[Path]:
    """Prompt files below `root`, honouring every `.gitignore` on the way down."""
    ignores: list[tuple[Path, Any]] = []
    for directory, dirs, names in os.walk(root):
        here = Path(directory)
        ignores = [(base, spec) for base, spec in ignores if here.is_relative_to(base)]
        gitignore = here / ".gitignore"
        if gitignore.is_file():
            from pathspec import GitIgnoreSpec  # gitignore semantics, negations included

            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
            ignores.append((here, GitIgnoreSpec.from_lines(lines)))
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
            and not _ignored(here / d, ignores, is_dir=True)
        )  # fmt: skip
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or _ignored(path, ignores, is_dir=False):
                continue
            if any_extension or path.suffix.lower() in FORMATS:
                yield path


def _ignored(path: Path, ignores: list[tuple[Path, Any]], *, is_dir: bool) -> bool:
    for base, spec in ignores:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False


# --- reading prompts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    path: str
    line: int | None
    text: str | None = None
    messages: Any = None
    tools: Any = None
    thinking: bool | None = None
    model: str | None = None
    max_output: int | None = None


def read_prompts(path: Path, format_in: str | None) -> Iterator[Prompt | ReadError]:
    name = str(path)
    kind = format_in or FORMATS.get(path.suffix.lower(), "text")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield ReadError(name, None, f"cannot read: {exc.strerror}")
        return
    if b"\0" in raw[:8192]:
        yield ReadError(name, None, "binary file (a NUL byte in its first 8 KB)")
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield ReadError(
            name, raw[: exc.start].count(b"\n") + 1, f"not UTF-8 text (byte {exc.start})"
        )
        return
    if kind == "text":
        yield Prompt(name, None, text=text)
    elif kind == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield ReadError(name, getattr(exc, "lineno", None), f"malformed JSON: {exc}")
            return
        yield prompt_from_data(data, name, None)
    elif kind == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield ReadError(name, number, f"malformed JSON: {exc}")
                continue
            yield prompt_from_data(data, name, number)
    elif kind == "yaml":
        import yaml

        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            yield ReadError(name, mark.line + 1 if mark else None, f"malformed YAML: {exc}")
            return
        yield prompt_from_data(data, name, None)
    else:
        yield ReadError(name, None, f"unknown input format {kind!r}")


def prompt_from_data(data: Any, path: str, line: int | None) -> Prompt | ReadError:
    """A request body, a bare messages list, or an object holding `messages` or `prompt`."""
    if isinstance(data, list):
        return Prompt(path, line, messages=data)
    if not isinstance(data, dict):
        return ReadError(path, line, "expected a request body, a messages list or a prompt")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        return ReadError(path, line, "`model` must be a string")
    model = None if model in (None, "auto") else model.removesuffix("[1m]")
    budget = data.get("max_completion_tokens", data.get("max_tokens"))
    if budget is not None and (
        not isinstance(budget, int) or isinstance(budget, bool) or budget < 0
    ):
        return ReadError(path, line, "max_tokens must be a non-negative whole number")
    thinking = data.get("thinking")
    mode = thinking.get("type") if isinstance(thinking, dict) else None
    common: dict[str, Any] = {
        "model": model,
        "max_output": budget,
        "thinking": None if mode is None else mode == "enabled",
    }

    if isinstance(data.get("messages"), list):
        return Prompt(path, line, messages=data["messages"], tools=data.get("tools"), **common)
    if isinstance(data.get("prompt"), str):
        return Prompt(path, line, text=data["prompt"], **common)
    return ReadError(path, line, "expected `messages` (a list) or `prompt` (text)")


# --- checking ------------------------------------------------------------------------------


def check_paths(files: Sequence[Path], options: CheckOptions, *, jobs: int | None = None) -> Report:
    """Check every prompt in `files`; in parallel when the input is large."""
    sizes = [_size(f) for f in files]
    workers = jobs if jobs is not None else _workers(len(files), sum(sizes))
    report = Report(files=len(files))
    if workers <= 1:
        parts = [_check_files([str(f) for f in files], options)]
    else:
        chunks = _chunks([str(f) for f in files], sizes, workers * 4)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_check_files, chunks, [options] * len(chunks)))
    for findings, errors in parts:
        report.findings.extend(findings)
        report.errors.extend(errors)
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _workers(files: int, size: int) -> int:
    if files < 2 or (size < PARALLEL_BYTES and files < PARALLEL_FILES):
        return 1
    return min(os.cpu_count() or 1, files)


def _chunks(paths: list[str], sizes: list[int], n: int) -> list[list[str]]:
    """Split into `n` lists of about equal bytes, biggest files first."""
    buckets: list[tuple[int, list[str]]] = [(0, []) for _ in range(min(n, len(paths)))]
    for size, path in sorted(zip(sizes, paths, strict=True), reverse=True):
        i = min(range(len(buckets)), key=lambda k: buckets[k][0])
        total, items = buckets[i]
        items.append(path)
        buckets[i] = (total + size, items)
    return [items for _, items in buckets if items]


def _check_files(paths: list[str], options: CheckOptions) -> tuple[list[Finding], list[ReadError]]:
    findings: list[Finding] = []
    errors: list[ReadError] = []
    for path in paths:
        for item in read_prompts(Path(path), options.format_in):
            if isinstance(item, ReadError):
                errors.append(item)
                continue
            try:
                findings.extend(check_prompt(item, options))
            except MimoSelectError as exc:
                errors.append(ReadError(path, item.line, str(exc)))
    return findings, errors


def check_prompt(prompt: Prompt, options: CheckOptions) -> list[Finding]:
    """The prompt against each target: from its byte bound when that settles it, else counted."""
    output = options.max_output if options.max_output is not None else (prompt.max_output or 0)
    if options.targets:
        targets = list(options.targets)
    elif prompt.model is not None:
        if prompt.model not in options.by_id:
            from .errors import UnknownModelError

            raise UnknownModelError(prompt.model, options.by_id, where="model")
        targets = [options.by_id[prompt.model]]
    else:
        targets = []  # the smallest-window model that fits
    if prompt.thinking is None and len({t.thinking for t in targets}) == 1:
        prompt = replace(prompt, thinking=targets[0].thinking)
    count = bound_prompt(prompt)
    if not _settled(count, targets or list(options.choices[:1]), output, options.margin):
        count = count_prompt(prompt)
    if not targets:
        fitting = [
            t for t in options.choices if _fits(count.upper_bound, output, t, options.margin)
        ]
        targets = [fitting[0] if fitting else options.choices[-1]]
    return [_finding(prompt, count, t, output, options.margin) for t in targets]


def bound_prompt(prompt: Prompt) -> TokenCount:
    """The prompt's interval from its UTF-8 size (no tokenizer)."""
    from .tokens import bound_chat, bound_text

    if prompt.text is not None:
        return bound_text(prompt.text)
    try:
        return bound_chat(prompt.messages, tools=prompt.tools, thinking=prompt.thinking)
    except RequestError as exc:
        raise MimoSelectError(f"{exc.where}: {exc.message}") from None


def count_prompt(prompt: Prompt) -> TokenCount:
    """The prompt counted with the tokenizer."""
    from .tokens import count_chat, count_text

    if prompt.text is not None:
        return count_text(prompt.text)
    return count_chat(prompt.messages, tools=prompt.tools, thinking=prompt.thinking)


def _limit(target: Target, margin: float) -> int:
    return int(target.context_window * (1 - margin / 100))


def _fits(tokens: int | None, output: int, target: Target, margin: float) -> bool:
    return tokens is not None and tokens + output <= _limit(target, margin)


def _settled(count: TokenCount, targets: Iterable[Target], output: int, margin: float) -> bool:
    """Whether the bound alone shows the prompt fits every target. A prompt that does not fit
    is always counted, so that its message carries the real number."""
    return all(_fits(count.upper_bound, output, t, margin) for t in targets)


def _finding(prompt: Prompt, count: TokenCount, t: Target, output: int, margin: float) -> Finding:
    limit = _limit(t, margin)
    window = f"{t.model} context window {t.context_window:,}"
    if margin:
        window += f" less {margin:g}% margin ({limit:,})"
    violations = []
    certain = True
    need = count.tokens + output
    if count.lower_bound + output > limit:
        least = "" if count.exact else "at least "
        violations.append(
            f"{least}{count.lower_bound:,} tokens + {output:,} output > {window}"
            f" (over by {count.lower_bound + output - limit:,})"
        )
    elif not _fits(count.upper_bound, output, t, margin):
        certain = False
        upper = (
            "an unknown number of" if count.upper_bound is None else f"up to {count.upper_bound:,}"
        )
        violations.append(
            f"{upper} tokens + {output:,} output may exceed {window}"
            f" (the count is not exact: {'; '.join(count.notes)})"
        )
    if output > t.max_output:
        violations.append(f"{output:,} output > {t.model} maximum output {t.max_output:,}")
    return Finding(
        path=prompt.path, line=prompt.line, model=t.model, tokens=need - output,
        exact=count.exact, upper_bound=count.upper_bound, output=output, limit=limit,
        violations=tuple(violations), certain=certain,
    )  # fmt: skip
