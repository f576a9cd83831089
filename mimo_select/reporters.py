"""How `check` reports: one function per output format, chosen by name from `REPORTERS`.

The check itself never formats text; each reporter turns a `Report` into one format: text for
people, JSON for scripts, GitHub workflow annotations, JUnit XML for CI test views, and SARIF
2.1.0 for code-scanning UIs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO
from xml.etree import ElementTree as ET

from .check import Finding, ReadError, Report

__all__ = ["REPORTERS"]

Reporter = Callable[[Report, TextIO, bool], None]
RULES = {
    "context-window": "The prompt and its output budget fit the model's context window.",
    "max-output": "The output budget fits the model's maximum output.",
    "unreadable": "The file can be read as a prompt (UTF-8 text, valid JSON or YAML).",
}


def _where(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line else path


def _rule(violation: str) -> str:
    return "max-output" if "maximum output" in violation else "context-window"


def _summary(report: Report) -> str:
    failed = {(f.path, f.line) for f in report.failed}
    passed = {(f.path, f.line) for f in report.findings} - failed
    return (
        f"{report.files} file{'s' if report.files != 1 else ''} checked: "
        f"{len(passed)} prompt{'s' if len(passed) != 1 else ''} fit, {len(failed)} failed, "
        f"{len(report.errors)} unreadable"
    )


def text(report: Report, out: TextIO, verbose: bool) -> None:
    for f in report.findings:
        if not f.ok:
            out.writelines(f"{_where(f.path, f.line)}: {v}\n" for v in f.violations)
        elif verbose:
            counted = f"{f.tokens:,} tokens" if f.exact else f"at most {f.tokens:,} tokens"
            out.write(
                f"{_where(f.path, f.line)}: ok, {counted} + {f.output:,} output fit"
                f" {f.model} ({f.limit:,})\n"
            )
    out.writelines(f"{_where(e.path, e.line)}: error: {e.message}\n" for e in report.errors)
    out.write(_summary(report) + "\n")


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "path": f.path,
        "line": f.line,
        "model": f.model,
        "tokens": f.tokens,
        "exact": f.exact,
        "upper_bound": f.upper_bound,
        "output": f.output,
        "limit": f.limit,
        "ok": f.ok,
        "certain": f.certain,
        "violations": list(f.violations),
    }


def _error_json(e: ReadError) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "message": e.message}


def json_report(report: Report, out: TextIO, verbose: bool) -> None:
    json.dump(
        {
            "ok": report.exit_code == 0,
            "files": [_finding_json(f) for f in report.findings],
            "errors": [_error_json(e) for e in report.errors],
        },
        out,
        indent=2,
    )
    out.write("\n")


def _escape(value: str, *, prop: bool = False) -> str:
    """GitHub workflow command escaping (data; properties also escape : and ,)."""
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(report: Report, out: TextIO, verbose: bool) -> None:
    def annotate(path: str, line: int | None, message: str, title: str) -> None:
        where = f"file={_escape(path, prop=True)}"
        if line:
            where += f",line={line}"
        out.write(f"::error {where},title={_escape(title, prop=True)}::{_escape(message)}\n")

    for f in report.failed:
        for v in f.violations:
            annotate(f.path, f.line, v, f"mimo-select: {f.model}")
    for e in report.errors:
        annotate(e.path, e.line, e.message, "mimo-select: unreadable")
    out.write(_summary(report) + "\n")


def junit(report: Report, out: TextIO, verbose: bool) -> None:
    """One test case per file (and line) and model; unreadable files are errors."""
    suite = ET.Element(
        "testsuite",
        name="mimo-select check",
        tests=str(len(report.findings) + len(report.errors)),
        failures=str(len(report.failed)),
        errors=str(len(report.errors)),
        skipped="0",
    )
    for f in report.findings:
        case = ET.SubElement(suite, "testcase", classname=f.path,
                             name=f"{_where(f.path, f.line)} fits {f.model}")  # fmt: skip
        if f.line:
            case.set("line", str(f.line))
        if not f.ok:
            failure = ET.SubElement(
                case, "failure", message=f.violations[0], type=_rule(f.violations[0])
            )
            failure.text = "\n".join(f.violations)
    for e in report.errors:
        case = ET.SubElement(
            suite, "testcase", classname=e.path, name=f"{_where(e.path, e.line)} is readable"
        )
        ET.SubElement(case, "error", message=e.message, type="unreadable").text = e.message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")


def sarif(report: Report, out: TextIO, verbose: bool) -> None:
    """SARIF 2.1.0: one result per violation or unreadable file."""
    from . import __version__

    def location(path: str, line: int | None) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": {"uri": path}}
        if line:
            physical["region"] = {"startLine": line}
        return {"physicalLocation": physical}

    rule_ids = list(RULES)
    results = [
        {
            "ruleId": _rule(v),
            "ruleIndex": rule_ids.index(_rule(v)),
            "level": "error",
            "message": {"text": v},
            "locations": [location(f.path, f.line)],
            "properties": {"model": f.model, "tokens": f.tokens, "exact": f.exact},
        }
        for f in report.failed
        for v in f.violations
    ] + [
        {
            "ruleId": "unreadable",
            "ruleIndex": rule_ids.index("unreadable"),
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
                            {"id": rid, "shortDescription": {"text": desc}}
                            for rid, desc in RULES.items()
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    json.dump(log, out, indent=2)
    out.write("\n")


REPORTERS: dict[str, Reporter] = {
    "text": text,
    "json": json_report,
    "github": github,
    "junit": junit,
    "sarif": sarif,
}
