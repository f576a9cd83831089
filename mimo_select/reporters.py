"""How `check` reports: one function per output format, chosen by name from `REPORTERS`.

The check itself never formats text; each reporter turns a `Report` into one format: text for
people, JSON for scripts, GitHub workflow annotations, JUnit XML for CI test views, and SARIF
2.1.0 for code-scanning UIs. Every finding carries its violations as data (rule id, limit,
numbers), so no reporter guesses a rule from a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TextIO
from xml.etree import ElementTree as ET

from .check import Finding, Report, Skipped
from .decisions import Violation
from .files import ReadError

__all__ = ["REPORTERS"]

Reporter = Callable[[Report, TextIO, bool, Mapping[str, str]], None]
UNREADABLE = "unreadable"
UNREADABLE_TEXT = "The file can be read as a prompt (UTF-8 text, valid JSON or YAML)."


def _where(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line else path


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _summary(report: Report) -> str:
    """Counts that add up: the prompts checked are those that fit and those that failed."""
    prompts = {(f.path, f.line) for f in report.findings}
    failed = {(f.path, f.line) for f in report.failed}
    text = (
        f"{_plural(report.files, 'file')}: {_plural(len(prompts), 'prompt')} checked "
        f"({len(prompts) - len(failed):,} fit, {len(failed):,} failed)"
    )
    if report.errors:
        text += f", {_plural(len(report.errors), 'read error')}"
    if report.skipped:
        text += f", {_plural(len(report.skipped), 'file')} skipped (not prompts)"
    return text


def _message(f: Finding, v: Violation, margin: float) -> str:
    text = f"{f.model}: {v.message}"
    if not v.certain:
        text += " (may not fit: the count is not exact)"
    if margin and v.limit == "context_window":
        text += f" ({margin:g}% of the window kept free)"
    return f"{text} [{v.rule}]"


def _counted(f: Finding) -> str:
    c = f.tokens
    if c.exact:
        return f"{c.tokens:,} tokens"
    upper = "no known bound" if c.upper_bound is None else f"{c.upper_bound:,}"
    return f"{c.lower_bound:,} to {upper} tokens (not exact)"


def text(report: Report, out: TextIO, verbose: bool, rules: Mapping[str, str]) -> None:
    for f in report.findings:
        where = _where(f.path, f.line)
        if not f.ok:
            out.writelines(f"{where}: {_message(f, v, report.margin)}\n" for v in f.violations)
        elif verbose:
            out.write(f"{where}: ok, {_counted(f)} + {f.output:,} output fit {f.model} ({f.why})\n")
    out.writelines(f"{_where(e.path, e.line)}: error: {e.message}\n" for e in report.errors)
    if verbose:
        out.writelines(f"{_where(s.path, s.line)}: skipped: {s.message}\n" for s in report.skipped)
    out.write(_summary(report) + "\n")


def _finding_json(f: Finding) -> dict[str, Any]:
    c = f.tokens
    return {
        "path": f.path,
        "line": f.line,
        "model": f.model,
        "why": f.why,
        "tokens": c.tokens,
        "exact": c.exact,
        "lower_bound": c.lower_bound,
        "upper_bound": c.upper_bound,
        "output": f.output,
        "ok": f.ok,
        "violations": [v.to_json() for v in f.violations],
    }


def _error_json(e: ReadError | Skipped) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "message": e.message}


def json_report(report: Report, out: TextIO, verbose: bool, rules: Mapping[str, str]) -> None:
    json.dump(
        {
            "ok": report.exit_code == 0,
            "files": [_finding_json(f) for f in report.findings],
            "errors": [_error_json(e) for e in report.errors],
            "skipped": [_error_json(s) for s in report.skipped],
            "summary": _summary(report),
        },
        out,
        indent=2,
        allow_nan=False,
    )
    out.write("\n")


def _escape(value: str, *, prop: bool = False) -> str:
    """GitHub workflow command escaping (data; properties also escape : and ,)."""
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(report: Report, out: TextIO, verbose: bool, rules: Mapping[str, str]) -> None:
    def annotate(path: str, line: int | None, message: str, title: str) -> None:
        where = f"file={_escape(path, prop=True)}"
        if line:
            where += f",line={line}"
        out.write(f"::error {where},title={_escape(title, prop=True)}::{_escape(message)}\n")

    for f in report.failed:
        for v in f.violations:
            annotate(f.path, f.line, _message(f, v, report.margin), f"mimo-select: {v.rule}")
    for e in report.errors:
        annotate(e.path, e.line, e.message, "mimo-select: unreadable")
    out.write(_summary(report) + "\n")


def junit(report: Report, out: TextIO, verbose: bool, rules: Mapping[str, str]) -> None:
    """One test case per file (and line) and model; unreadable files are errors."""
    suite = ET.Element(
        "testsuite",
        name="mimo-select check",
        tests=str(len(report.findings) + len(report.errors)),
        failures=str(len(report.failed)),
        errors=str(len(report.errors)),
        skipped=str(len(report.skipped)),
    )
    for f in report.findings:
        case = ET.SubElement(suite, "testcase", classname=f.path,
                             name=f"{_where(f.path, f.line)} fits {f.model}")  # fmt: skip
        if f.line:
            case.set("line", str(f.line))
        if not f.ok:
            first = f.violations[0]
            failure = ET.SubElement(
                case, "failure", message=_message(f, first, report.margin), type=first.rule
            )
            failure.text = "\n".join(_message(f, v, report.margin) for v in f.violations)
    for e in report.errors:
        case = ET.SubElement(
            suite, "testcase", classname=e.path, name=f"{_where(e.path, e.line)} is readable"
        )
        ET.SubElement(case, "error", message=e.message, type=UNREADABLE).text = e.message
    for s in report.skipped:
        case = ET.SubElement(
            suite, "testcase", classname=s.path, name=f"{_where(s.path, s.line)} is a prompt"
        )
        ET.SubElement(case, "skipped", message=s.message)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")


def sarif(report: Report, out: TextIO, verbose: bool, rules: Mapping[str, str]) -> None:
    """SARIF 2.1.0: one result per violation or unreadable file; the rules are the
    selector's constraints, so a user's own rules appear by their ids."""
    from . import __version__

    def location(path: str, line: int | None) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": {"uri": path}}
        if line:
            physical["region"] = {"startLine": line}
        return {"physicalLocation": physical}

    described = {**rules, UNREADABLE: UNREADABLE_TEXT}
    rule_ids = list(described)
    results = [
        {
            "ruleId": v.rule,
            "ruleIndex": rule_ids.index(v.rule) if v.rule in rule_ids else -1,
            "level": "error" if v.certain else "warning",
            "message": {"text": _message(f, v, report.margin)},
            "locations": [location(f.path, f.line)],
            "properties": {"model": f.model, "tokens": f.tokens.tokens, "exact": f.tokens.exact},
        }
        for f in report.failed
        for v in f.violations
    ] + [
        {
            "ruleId": UNREADABLE,
            "ruleIndex": rule_ids.index(UNREADABLE),
            "level": "error",
            "message": {"text": e.message},
            "locations": [location(e.path, e.line)],
        }
        for e in report.errors
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mimo-select",
                        "version": str(__version__),
                        "rules": [
                            {"id": rid, "shortDescription": {"text": desc or rid}}
                            for rid, desc in described.items()
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    json.dump(log, out, indent=2, allow_nan=False)
    out.write("\n")


REPORTERS: dict[str, Reporter] = {
    "text": text,
    "json": json_report,
    "github": github,
    "junit": junit,
    "sarif": sarif,
}
