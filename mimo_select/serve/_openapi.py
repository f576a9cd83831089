"""The service's one OpenAPI 3.1 document, built from the pydantic contract models.

Responses reuse the library's contract (`_contract.DecisionOut`: `mimo-select schema
decision`); the models below describe what only the service answers. The traits schema is
built from the `Traits` fields and the library's vocabularies, and scenario and model names
from the catalog being served, so it cannot drift from what the library accepts.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from mimo_select._contract import DecisionOut, TokensOut, ViolationOut

from ._problems import MEDIA_TYPE, PROBLEM_TYPES

if TYPE_CHECKING:
    from mimo_select.engine import Selector

__all__ = ["build_openapi", "traits_schema"]

_REF = "#/components/schemas/{model}"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasonText(_Out):
    rule: str
    message: str


class RuleVerdict(_Out):
    rule: str
    type: str = Field(description='"constraint" or "preference".')
    verdict: str = Field(description='e.g. "passes", "violated", "adds +100".')


class ExplanationOut(_Out):
    """Why one model ranks where it does, or is rejected, next to the winner."""

    model_config = ConfigDict(title="Explanation")
    model: str
    eligible: bool
    rank: int | None = Field(description="1-based among eligible models; null when rejected.")
    score: float | None
    winner: str | None
    winner_score: float | None
    reasons: list[ReasonText]
    violations: list[ViolationOut]
    rules: list[RuleVerdict] = Field(description="The verdict of every rule that applies.")
    traits: dict[str, Any]


class TokenCountOut(TokensOut):
    """A request's MiMo token count, with its exactness and bounds (as `tokens --json`)."""

    model_config = ConfigDict(title="TokenCount")
    api: str = Field(
        description="The shape the input was read as: openai, anthropic, responses, messages, "
        "prompt or text."
    )


class ModelSummary(_Out):
    """One model as `mimo-select models --json` lists it."""

    id: str
    series: str
    generation: str
    capabilities: list[str]
    input_modalities: list[str]
    output_modalities: list[str]
    context_window: int = Field(description="Tokens.")
    max_output: int = Field(description="Tokens.")
    rpm: int | None = Field(description="Requests per minute, per account and per model.")
    tpm: int | None = Field(description="Tokens per minute, per account and per model.")


class GuideRow(_Out):
    scenario: str
    requirement: str
    position: int = Field(description="The model's place in the row, 1 first.")


class ModelDetail(ModelSummary):
    """One model in full, as `mimo-select models ID --json`."""

    status: str
    thinking_default: str | None
    guide: list[GuideRow] = Field(description="The quick-selection guide rows naming it.")
    notice: str | None = Field(description="The latest notice about it, if any.")


class ModelUsageOut(_Out):
    model: str
    requests: int
    rpm: int
    tokens: int
    tpm: int
    cooling_for: float | None = Field(description="Seconds of 429 cooldown left.")
    frees_in: float | None = Field(description="Seconds until the oldest request leaves.")
    empty_in: float | None = Field(description="Seconds until the last request leaves.")


class UsageOut(_Out):
    """What the live usage store holds now, as `mimo-select usage --json`."""

    model_config = ConfigDict(title="Usage")
    account: str
    redis: str | None = Field(description="Where Redis is (no password); null in memory.")
    window: float = Field(description="Seconds.")
    source: str = Field(description='"redis", "local" (Redis away: a local count) or "memory".')
    clock: str = Field(description='"redis" (Redis\'s clock) or "process".')
    models: list[ModelUsageOut]
    no_limits: list[str] = Field(description="Models without a published RPM or TPM.")


class LeaseState(_Out):
    """A lease after a settle, release or throttled call."""

    lease: str = Field(description="The lease id, as the decision gave it.")
    model: str
    state: str = Field(description="settled, released or throttled: the first call wins.")
    tokens: int = Field(description="Tokens counted: the settled total, else the reservation.")


class SettleIn(BaseModel):
    """The API's usage object (OpenAI or Anthropic shape), or the whole response holding it."""

    model_config = ConfigDict(extra="allow", title="Usage object")
    total_tokens: int | None = Field(default=None, ge=0)
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)


class ThrottledIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Throttled")
    retry_after: float | None = Field(
        default=None,
        ge=0,
        description="The platform's Retry-After, in seconds; without it, an exponential "
        "backoff with full jitter.",
    )


class ProblemOut(BaseModel):
    """RFC 9457 problem details, with the library's message and place."""

    model_config = ConfigDict(extra="allow", title="Problem")
    type: str = Field(description="urn:mimo-select:problem:KIND")
    title: str
    status: int
    detail: str = Field(description="The library's message.")
    instance: str | None = None
    where: str | None = Field(default=None, description="The place, as the library names it.")
    pointer: str | None = Field(default=None, description="JSON Pointer into the request body.")
    error: str | None = Field(default=None, description="The library's exception class.")


class HealthOut(_Out):
    status: str


class ReadyOut(_Out):
    status: str
    models: int = Field(description="Models in the catalog being served.")
    usage: str | None = Field(description='"memory", "redis", or null without live limits.')


_MODELS: tuple[type[BaseModel], ...] = (
    DecisionOut, ExplanationOut, TokenCountOut, ModelSummary, ModelDetail, UsageOut,
    LeaseState, SettleIn, ThrottledIn, ProblemOut, HealthOut, ReadyOut,
)  # fmt: skip

_TRAIT_TEXT = {
    "input_modalities": "Input kinds (default text).",
    "output_modality": "text or speech (a voice implies speech).",
    "input_tokens": "Input length in tokens (the lower bound when input_tokens_max is given).",
    "input_tokens_max": "The upper bound of an uncertain input count.",
    "max_output_tokens": "The output budget in tokens.",
    "features": "Features the request uses.",
    "voice": "How a voice is chosen: preset, clone or design (implies speech output).",
    "latency": "low or normal.",
    "scenario": "A quick-selection guide row: it brings the traits it implies.",
    "expected_rpm": "The planned load in requests per minute (limits are per account and model).",
    "expected_tpm": "The planned load in tokens per minute.",
    "accounts": "The accounts the planned load spreads over.",
    "allow": "Only these models.",
    "deny": "Never these models.",
    "thinking": "enabled or disabled, as the request sets it.",
    "prompt": "Text to count (a UTF-8 bound first; counted exactly when a limit is near).",
    "messages": "A chat to count, in MiMo's chat template.",
}


def traits_schema(selector: Selector) -> dict[str, Any]:
    """The JSON Schema of a traits object, from the `Traits` fields themselves."""
    from mimo_select._schemas import enum_of
    from mimo_select.traits import LATENCIES, THINKING, VOICES, Traits, _vocabulary
    from mimo_select.updates import currencies

    known = [*enum_of("catalog", "input_modality"), *enum_of("catalog", "output_modality"),
             *enum_of("catalog", "feature"), *VOICES, *LATENCIES, *THINKING]  # fmt: skip
    order: dict[str, int] = {}
    for name in known:  # as the catalog lists them
        order.setdefault(name, len(order))

    def ordered(values: frozenset[str]) -> tuple[str, ...]:
        return tuple(sorted(values, key=lambda v: (order.get(v, len(order)), v)))

    names = {k: ordered(v) for k, v in _vocabulary().items()}
    names["currency"] = ordered(frozenset(currencies()))
    names["scenario"] = tuple(g.scenario for g in selector.catalog.guide)
    names["allow"] = names["deny"] = tuple(selector.catalog.ids)
    props: dict[str, Any] = {}
    for f in fields(Traits):
        if f.name == "tokens":
            continue
        annotation = (
            str(f.type).replace("InitVar[", "").rstrip("]")
            if "InitVar" in str(f.type)
            else str(f.type)
        )
        schema = _schema_of(f.name, annotation, names.get(f.name))
        if f.name in _TRAIT_TEXT:
            schema["description"] = _TRAIT_TEXT[f.name]
        props[f.name] = schema
    return {
        "title": "Traits",
        "type": "object",
        "description": "What a request needs; every field is optional (the `Traits` fields).",
        "properties": props,
        "additionalProperties": False,
    }


def _schema_of(name: str, annotation: str, enum: tuple[str, ...] | None) -> dict[str, Any]:
    optional = annotation.endswith("| None")
    base = annotation.removesuffix("| None").strip()
    schema: dict[str, Any]
    if base.startswith("frozenset"):
        item: dict[str, Any] = {"type": "string"}
        if enum:
            item["enum"] = list(enum)
        schema = {"type": "array", "items": item, "uniqueItems": True}
    elif base == "str":
        schema = {"type": "string"}
        if enum:
            schema["enum"] = list(enum)
    elif base == "int":
        schema = {"type": "integer", "minimum": 1 if name == "accounts" else 0}
    elif base == "float":
        schema = {"type": "number", "minimum": 0}
    elif base.startswith("Sequence"):
        schema = {"type": "array", "items": {"type": "object"}}
    else:  # a field this table does not know yet: any JSON, the library checks it
        schema = {}
    if optional and schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


_CHAT_BODY: dict[str, Any] = {
    "title": "Request body",
    "description": "An OpenAI chat, Anthropic messages or OpenAI Responses body, read as "
    "`mimo-select route` reads it. `model` names a model to keep (when it fits); `auto` or "
    "none means choose.",
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                    "content": {
                        "anyOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "object"}},
                        ]
                    },
                },
                "required": ["role", "content"],
            },
        },
        "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "instructions": {"type": "string"},
        "prompt": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 0},
        "max_completion_tokens": {"type": "integer", "minimum": 0},
        "max_output_tokens": {"type": "integer", "minimum": 0},
        "tools": {"type": "array", "items": {"type": "object"}},
        "stream": {"type": "boolean"},
    },
}

_APPLIED: dict[str, Any] = {
    "title": "Applied body",
    "description": "The request body with `model` set to the choice: the body to send.",
    "type": "object",
    "properties": {"model": {"type": "string"}},
    "required": ["model"],
}


def _fields_pattern() -> str:
    """`fields`: one or more decision keys, comma-separated."""
    from mimo_select.decisions import Decision

    one = "|".join(Decision.FIELDS)
    return f"^ *({one}) *(, *({one}) *)*$"


def _flag(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": {"type": "boolean", "default": False}}  # fmt: skip


def _json(ref: str | dict[str, Any]) -> dict[str, Any]:
    schema = {"$ref": _REF.format(model=ref)} if isinstance(ref, str) else ref
    return {"application/json": {"schema": schema}}


def _problems(*statuses: int) -> dict[str, Any]:
    kinds: dict[int, list[str]] = {}
    for kind, (status, _) in PROBLEM_TYPES.items():
        kinds.setdefault(status, []).append(kind)
    schema = {"$ref": _REF.format(model="ProblemOut")}
    return {
        str(s): {
            "description": ", ".join(f"`{k}`" for k in kinds[s]),
            "content": {MEDIA_TYPE: {"schema": schema}},
        }
        for s in sorted(statuses)
    }


def build_openapi(
    selector: Selector,
    *,
    version: str,
    dated: bool = False,
    live: str | None,
    api_key: bool,
    echo: bool = False,
    max_body: int,
) -> dict[str, Any]:
    """The document for this app: live-limit paths only when a usage store is configured,
    the API key scheme only when one is required, `as_of` only when the app can build
    another catalog day."""
    schemas = models_json_schema([(m, "serialization") for m in _MODELS], ref_template=_REF)[1]
    components: dict[str, Any] = dict(schemas.get("$defs", {}))
    components["Traits"] = traits_schema(selector)
    components["RequestBody"] = _CHAT_BODY
    components["AppliedBody"] = _APPLIED
    partial = {k: v for k, v in components["DecisionOut"].items() if k != "required"}
    components["PartialDecision"] = {
        **partial,
        "title": "PartialDecision",
        "description": "The keys `fields` asks for.",
    }
    components["Explain"] = {
        "title": "Explain",
        "type": "object",
        "properties": {
            "model": {"type": "string", "enum": list(selector.catalog.ids)},
            "traits": {"$ref": _REF.format(model="Traits")},
        },
        "required": ["model"],
        "additionalProperties": False,
    }
    body_errors = (400, 408, 413, 415, 422)
    day_errors = (422,) if dated else ()
    guard = (401,) if api_key else ()
    strict = _flag("strict", "Reject a model the request may not fit (an uncertain count), "
                   "not only one it surely does not.")  # fmt: skip
    exact = _flag("exact", "Count the input with the tokenizer for the report "
                  "(`tokens.decided_on` keeps the interval the decision used).")  # fmt: skip
    route_codes = body_errors + guard + ((429, 503) if live else ())
    route_doc = (
        "Decide for a request body, as `Selector.route`: the decision JSON (`mimo-select "
        "schema decision`); nothing fits is a decision, not an error. With `apply`, the body "
        "to send, with headers `X-Mimo-Select-Model`, `X-Mimo-Select-Fallbacks` (the next "
        "models, comma-separated) and `X-Mimo-Select-Lease`; a body whose "
        "own model does not fit is 422 unless `fallback`, and when every eligible model is at "
        "its live rate limit the answer is 429 with `Retry-After`; the problem then carries "
        "the decision."
    )
    if live:
        route_doc += (
            " With live rate limits, the chosen model is counted at once (unless "
            "`reserve=false`) and the decision carries a `lease` whose `id` any worker or "
            "replica sharing the store can settle, release or report throttled."
        )
    pick = {"name": "fields", "in": "query", "required": False,
            "description": "Only these keys of the decision, comma-separated (say "
                           "`model,fallbacks`): only they are built. A lease taken is "
                           "always included.",
            "schema": {"type": "string", "pattern": _fields_pattern()}}  # fmt: skip
    as_of = [{"name": "as_of", "in": "query", "required": False,
              "description": "Answer from the catalog on this day (`YYYY-MM-DD` or `today`): "
                             "every dated update up to it applied, as `--as-of`. Live rate "
                             "limits count the server's own catalog's models.",
              "schema": {"type": "string", "pattern": "^(today|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
                         "examples": ["today", "2026-11-30"]}}] if dated else []  # fmt: skip
    api = {"name": "api", "in": "query", "required": False,
           "description": "The body's shape (default: detected from its keys).",
           "schema": {"type": "string", "enum": ["auto", "openai", "anthropic", "responses"],
                      "default": "auto"}}  # fmt: skip
    route_params = [
        _flag("apply", "Answer with the body to send, its model set."),
        _flag("fallback", "With apply: switch a body's own model that does not fit."),
        strict,
        exact,
        pick,
        api,
        *as_of,
    ]
    if live:
        route_params.append(
            {
                "name": "reserve",
                "in": "query",
                "required": False,
                "description": "Count the chosen model against its live limits (a lease).",
                "schema": {"type": "boolean", "default": True},
            }
        )
    header = {"schema": {"type": "string"}}
    paths: dict[str, Any] = {
        "/v1/route": {"post": {
            "operationId": "route",
            "summary": "Choose a model for a request body",
            "description": route_doc,
            "parameters": route_params,
            "requestBody": {"required": True, "content": _json("RequestBody")},
            "responses": {
                "200": {"description": "The decision, or with `apply` the body to send.",
                        "headers": {"X-Mimo-Select-Model": header,
                                    "X-Mimo-Select-Fallbacks": header,
                                    "X-Mimo-Select-Lease": header,
                                    "X-Mimo-Select-Switched-From": header},
                        "content": {"application/json": {"schema": {"anyOf": [
                            {"$ref": _REF.format(model="DecisionOut")},
                            {"$ref": _REF.format(model="PartialDecision")},
                            {"$ref": _REF.format(model="AppliedBody")}]}}}},
                **_problems(*route_codes),
            },
        }},
        "/v1/recommend": {"post": {
            "operationId": "recommend",
            "summary": "Rank the models for a set of traits",
            "description": "As `Selector.select` (never reserves).",
            "parameters": [strict, exact, pick, *as_of],
            "requestBody": {"required": True, "content": _json("Traits")},
            "responses": {"200": {"description": "The decision.", "content": _json(
                {"anyOf": [{"$ref": _REF.format(model="DecisionOut")},
                           {"$ref": _REF.format(model="PartialDecision")}]})},
                          **_problems(*body_errors, *guard)},
        }},
        "/v1/explain": {"post": {
            "operationId": "explain",
            "summary": "Why a model was or was not chosen",
            "description": "As `Selector.explain`.",
            "parameters": [strict, *as_of],
            "requestBody": {"required": True, "content": _json("Explain")},
            "responses": {"200": {"description": "The explanation.",
                                  "content": _json("ExplanationOut")},
                          **_problems(*body_errors, *guard)},
        }},
        "/v1/tokens": {"post": {
            "operationId": "tokens",
            "summary": "Count a request's MiMo tokens",
            "description": "A request body, a messages list or `{\"prompt\": ...}` as JSON, or "
            "plain text: the count, exact or with its bounds, as `mimo-select tokens --json`.",
            "parameters": [
                {"name": "model", "in": "query", "required": False,
                 "description": "Count as sent to this model (its thinking default).",
                 "schema": {"type": "string", "enum": list(selector.catalog.ids)}},
                api,
            ],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {}},
                "text/plain": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "The count.", "content": _json("TokenCountOut")},
                          **_problems(*body_errors, *guard)},
        }},
        "/v1/models": {"get": {
            "operationId": "models",
            "summary": "The catalog",
            "parameters": as_of,
            "responses": {"200": {"description": "Every model, as `models --json`.",
                                  "content": _json({"type": "array", "items": {
                                      "$ref": _REF.format(model="ModelSummary")}})},
                          **_problems(*day_errors, *guard)},
        }},
        "/v1/models/{model_id}": {"get": {
            "operationId": "model",
            "summary": "One model in full",
            "parameters": [{"name": "model_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}, *as_of],
            "responses": {"200": {"description": "As `models ID --json`.",
                                  "content": _json("ModelDetail")},
                          **_problems(404, *day_errors, *guard)},
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "The process is up", "security": [],
            "responses": {"200": {"description": "Up.", "content": _json("HealthOut")}},
        }},
        "/readyz": {"get": {
            "operationId": "readyz", "security": [],
            "summary": "The catalog is loaded, and Redis answers when configured",
            "responses": {"200": {"description": "Ready.", "content": _json("ReadyOut")},
                          **_problems(503)},
        }},
    }  # fmt: skip
    if live:
        lease = [{"name": "lease_id", "in": "path", "required": True,
                  "description": "`lease.id` from the decision.",
                  "schema": {"type": "string"}}]  # fmt: skip
        ends = {
            "settle": ("The request was answered: count what the API billed.", "SettleIn"),
            "release": ("The request was never sent: give its slot back.", None),
            "throttled": ("The API answered 429: cool the model down for every replica.",
                          "ThrottledIn"),
        }  # fmt: skip
        for op, (summary, schema) in ends.items():
            operation: dict[str, Any] = {
                "operationId": op, "summary": summary, "parameters": lease,
                "responses": {"200": {"description": "The lease's state.",
                                      "content": _json("LeaseState")},
                              **_problems(*body_errors, 404, *guard, 503)},
            }  # fmt: skip
            if schema is not None:
                operation["requestBody"] = {"required": op == "settle", "content": _json(schema)}
            paths[f"/v1/leases/{{lease_id}}/{op}"] = {"post": operation}
        paths["/v1/usage"] = {"get": {
            "operationId": "usage", "summary": "Each model's window in the live usage store",
            "parameters": [_flag("active", "Only models in use or cooling down.")],
            "responses": {"200": {"description": "As `mimo-select usage --json`.",
                                  "content": _json("UsageOut")},
                          **_problems(422, *guard, 503)},
        }}  # fmt: skip
    if echo:
        paths["/v1/echo"] = {"post": {
            "operationId": "echo", "summary": "The JSON body back (benchmarks only)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": {"200": {"description": "The body.",
                                  "content": {"application/json": {"schema": {}}}},
                          **_problems(*body_errors, *guard)},
        }}  # fmt: skip
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "mimo-select",
            "version": version,
            "description": "Which Xiaomi MiMo model should a request go to, and what limits "
            "would it break: the mimo-select library over HTTP. Errors are RFC 9457 problem "
            f"details. Request bodies are limited to {max_body:,} bytes.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
    if api_key:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "The key from the variable --api-key-env names."},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }  # fmt: skip
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
    return doc
