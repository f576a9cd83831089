"""`mimo-select check`: prompt files against MiMo model limits, for CI and pre-commit.

Every prompt is read by the same reader as a routed request body and judged by the same
selector and rules: a limit is defined once, in `rules/`, so a user's `--rules` file and
`--margin` apply here as they do in a gateway. Every file is read and every unreadable one
reported before the exit code is decided. A prompt is first bounded by its UTF-8 size; the
tokenizer loads only when that bound does not settle the answer (or with `exact`). Large
trees are checked in parallel on all cores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MimoSelectError, NotARequestError
from .files import Item, ReadError, read_items

if TYPE_CHECKING:
    from .decisions import Violation
    from .engine import Selector
    from .tokens import TokenCount

__all__ = ["CheckOptions", "Finding", "Report", "Skipped", "check_paths"]

PARALLEL_BYTES = 8 << 20  # below this much input, worker start-up costs more than it saves
PARALLEL_FILES = 256


@dataclass(frozen=True)
class CheckOptions:
    """What to check against. Plain data, so worker processes can rebuild the selector."""

    models: tuple[str, ...] = ()  # every prompt must fit these; empty: its own model or default
    max_output: int | None = None  # output tokens to reserve; None: the body's own budget
    margin: float = 0.0  # percent of every context window kept free
    format_in: str | None = None
    exact: bool = False  # count every prompt with the tokenizer, even when its bound fits
    # (--verbose implies it: a listed count should be the real one)
    strict: bool = False  # a JSON or YAML file that is not a prompt is an error, not skipped
    catalog: str | None = None
    rules: tuple[str, ...] = ()
    as_of: str | None = None  # an ISO day: the catalog's dated updates up to it


@dataclass(frozen=True)
class Finding:
    """One prompt against one model: the count, and the limits it breaks (rule ids and
    numbers, as the selector reports them)."""

    path: str
    line: int | None
    model: str
    why: str  # how the model was chosen: --model, the body's model, or the default
    tokens: TokenCount
    output: int
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class Skipped:
    """A JSON or YAML file that holds no request (say `package.json`)."""

    path: str
    line: int | None
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0
    margin: float = 0.0

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.failed else 0


def check_paths(files: Sequence[Path], options: CheckOptions, *, jobs: int | None = None) -> Report:
    """Check every prompt in `files`; in parallel when the input is large."""
    sizes = [_size(f) for f in files]
    workers = _workers(len(files), sum(sizes), jobs)
    report = Report(files=len(files), margin=options.margin)
    if workers <= 1:
        parts = [check_files([str(f) for f in files], options)]
    else:
        from concurrent.futures import ProcessPoolExecutor  # only for large inputs (40 ms)

        chunks = _chunks([str(f) for f in files], sizes, workers * 4)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(check_files, chunks, [options] * len(chunks)))
    for findings, errors, skipped in parts:
        report.findings.extend(findings)
        report.errors.extend(errors)
        report.skipped.extend(skipped)
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _workers(files: int, size: int, jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    if jobs is not None:  # never more workers than cores or files: more only costs start-up
        return max(1, min(jobs, cores, files))
    if files < 2 or (size < PARALLEL_BYTES and files < PARALLEL_FILES):
        return 1
    return min(cores, files)


def _chunks(paths: list[str], sizes: list[int], n: int) -> list[list[str]]:
    """Split into `n` lists of about equal bytes, biggest files first."""
    buckets: list[tuple[int, list[str]]] = [(0, []) for _ in range(min(n, len(paths)))]
    for size, path in sorted(zip(sizes, paths, strict=True), reverse=True):
        i = min(range(len(buckets)), key=lambda k: buckets[k][0])
        total, items = buckets[i]
        items.append(path)
        buckets[i] = (total + size, items)
    return [items for _, items in buckets if items]


@cache
def selector_for(
    catalog: str | None, rules: tuple[str, ...], margin: float, as_of: str | None = None
) -> Selector:
    """The selector `check` judges with: built once per process (workers build their own)."""
    from .engine import Selector

    settings = {"context_margin": margin / 100} if margin else None
    return Selector.from_files(catalog, rules, settings=settings, as_of=as_of)


def check_files(
    paths: list[str], options: CheckOptions
) -> tuple[list[Finding], list[ReadError], list[Skipped]]:
    """Read and check every prompt in `paths` (one worker's share)."""
    selector = selector_for(options.catalog, options.rules, options.margin, options.as_of)
    findings: list[Finding] = []
    errors: list[ReadError] = []
    skipped: list[Skipped] = []
    for path in paths:
        for item in read_items(path, options.format_in):
            if isinstance(item, ReadError):
                errors.append(item)
                continue
            try:
                findings.extend(check_item(item, selector, options))
            except NotARequestError as exc:
                if options.strict:
                    errors.append(ReadError(item.path, item.line, exc.message))
                else:
                    skipped.append(Skipped(item.path, item.line, exc.message))
            except MimoSelectError as exc:
                errors.append(ReadError(item.path, item.line, str(exc)))
    return findings, errors, skipped


def check_item(item: Item, selector: Selector, options: CheckOptions) -> list[Finding]:
    """One prompt against each target model, judged by the selector's hard rules."""
    request = selector.read(item.data)  # NotARequestError: the file holds no request
    targets: list[tuple[str, str]]
    if options.models:
        targets = [(m, "--model") for m in options.models]
    elif request.model is not None:
        targets = [(request.model, "the body's model")]
    else:
        targets = [default_model(selector)]
    findings = []
    for model, why in targets:
        if model != request.model:  # the count follows the target's thinking default
            request = selector.read(item.data, model=model)
        findings.append(_judge(item, request, (model, why), selector, options))
    return findings


def default_model(selector: Selector) -> tuple[str, str]:
    """The model a bare prompt is checked against: the selector's choice for a plain text
    request, with the reason it gives."""
    from .traits import Traits

    decision = selector.select(Traits())
    if decision.model is None:
        raise MimoSelectError("no model is eligible for a plain text request under these rules")
    rules = ", ".join(r.rule for r in decision.ranked[0].reasons if r.points > 0) or "eligible"
    return decision.model, f"the default for a text request, ranked first by {rules}"


def _judge(
    item: Item, request: Any, target: tuple[str, str], selector: Selector, options: CheckOptions
) -> Finding:
    model, why = target
    traits = request.traits
    if options.max_output is not None:
        traits = replace(traits, max_output_tokens=options.max_output)
    if options.exact:
        traits = traits.with_count(request.count())
    rejection = selector.select(traits).rejection(model)
    count = traits.tokens
    if rejection is not None and not count.exact and count.refine is not None:
        traits = traits.with_count(count.refine())  # a failure carries the real numbers
        rejection = selector.select(traits).rejection(model)
        count = traits.tokens
    return Finding(
        path=item.path,
        line=item.line,
        model=model,
        why=why,
        tokens=replace(count, refine=None),  # a plain value: findings cross processes
        output=traits.max_output_tokens or 0,
        violations=rejection.violations if rejection else (),
    )


def report_rules(selector: Selector) -> Mapping[str, str]:
    """Rule id -> description, for the reporters that list rules (SARIF)."""
    return {rule.id: rule.description for rule in selector.rules.constraints}
