"""The shipped JSON Schemas, and their errors turned into located, helpful problems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ._resources import bundled_file
from ._yaml import Document
from .errors import Problem, did_you_mean

if TYPE_CHECKING:  # jsonschema is imported only when a file is validated
    from jsonschema import Draft202012Validator, ValidationError

SCHEMAS = {
    "catalog": ("data", "catalog.schema.json"),
    "rules": ("rules", "rules.schema.json"),
    "updates": ("data", "updates.schema.json"),
}


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema `name` (`catalog`, `rules` or `updates`)."""
    folder, filename = SCHEMAS[name]
    with bundled_file(folder, filename).open(encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


@cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def enum_of(name: str, definition: str) -> tuple[str, ...]:
    """The values a `$defs` entry allows, following `anyOf` and `$ref` within the schema."""
    return tuple(_enum_values(schema(name), schema(name)["$defs"][definition]))


def _enum_values(root: dict[str, Any], node: dict[str, Any]) -> Iterator[str]:
    if "$ref" in node:
        yield from _enum_values(root, root["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    yield from node.get("enum", ())
    for sub in node.get("anyOf", ()):
        yield from _enum_values(root, sub)


def schema_problems(doc: Document, name: str) -> list[Problem]:
    """Every schema violation in `doc`, each pointing at its line."""
    problems: list[Problem] = []
    for error in _validator(name).iter_errors(doc.data):
        problems.extend(_explain(doc, error))
    return problems


def _explain(doc: Document, error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        allowed = set(props)
        for key in sorted(set(instance) - allowed, key=str):
            what = "operator" if str(key).startswith("$") else "field"
            yield doc.problem(
                (*path, key),
                f"unknown {what} {key!r}",
                did_you_mean(str(key), allowed) or f"allowed: {', '.join(sorted(allowed))}",
            )
        return
    if error.validator == "required":
        yield doc.problem(path, error.message.replace("is a required property", "is missing"))
        return
    choices = _choices(error)
    if choices is not None:
        quoted = not isinstance(instance, str) and str(instance) in choices
        yield doc.problem(
            path,
            f"{instance!r} is not one of: {', '.join(choices)}",
            f'quote it: "{instance}"' if quoted else did_you_mean(str(instance), choices),
        )
        return
    if error.validator == "anyOf" and error.context:
        # explain the branch whose type matched, e.g. an operator object with a typo
        matched = [e for e in error.context if e.validator != "type"]
        if matched:
            for sub in matched:
                yield from _explain(doc, sub)
            return
    hint = None
    if (
        error.validator == "type"
        and error.validator_value == "string"
        and isinstance(instance, (int, float))
    ):
        hint = f'quote it: "{instance}"'
    yield doc.problem(path, error.message, hint)


def _choices(error: ValidationError) -> list[str] | None:
    """The allowed values when the error is "not one of these" (an enum, or anyOf enums)."""
    value: Any = error.validator_value
    if error.validator == "enum":
        return [str(v) for v in value]
    if error.validator == "anyOf" and error.context:
        values: list[Any] = [e.validator_value for e in error.context if e.validator == "enum"]
        if len(values) == len(error.context):
            return [str(v) for group in values for v in group]
    return None


@cache
def decision_schema() -> dict[str, Any]:
    """The JSON Schema of `Decision.to_json()`, generated from its pydantic description."""
    from ._contract import DecisionOut

    out = DecisionOut.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out
