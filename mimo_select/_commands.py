"""The commands of `mimo-select`, one function each: read the arguments, call the library,
print. Every input goes through the one file reader (`files`) and the one request reader."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from . import _text
from .cli import EXIT_ERROR, EXIT_OK, EXIT_VIOLATION, PROG
from .errors import MimoSelectError, TraitsError, UsageError

# flag -> Traits field, for the recommend and explain commands
TRAIT_FLAGS = {
    "input": "input_modalities",
    "output": "output_modality",
    "needs": "features",
    "voice": "voice",
    "latency": "latency",
    "scenario": "scenario",
    "input_tokens": "input_tokens",
    "max_output": "max_output_tokens",
    "rpm": "expected_rpm",
    "tpm": "expected_tpm",
    "accounts": "accounts",
    "allow": "allow",
    "deny": "deny",
    "currency": "currency",
    "max_cost": "max_cost",
}
# words people reach for, and the flag that says what they mean
INTENTS = {
    "vision": "--input image", "image": "--input image", "images": "--input image",
    "audio": "--input audio", "video": "--input video", "multimodal": "--input image,audio,video",
    "voice_clone": "--voice clone", "clone": "--voice clone", "voice_design": "--voice design",
    "tts": "--output speech", "speech": "--output speech", "thinking": "--needs deep_thinking",
    "reasoning": "--needs deep_thinking", "tools": "--needs function_call",
    "json": "--needs structured_output", "search": "--needs web_search",
    "long_context": "--input-tokens N", "fast": "--latency low", "cheap": "--latency low",
}  # fmt: skip


def _selector(args: argparse.Namespace) -> Any:
    from .engine import Selector

    return Selector.from_files(getattr(args, "catalog", None), getattr(args, "rules", []),
                               as_of=getattr(args, "as_of", None))  # fmt: skip


def _catalog(args: argparse.Namespace, *, validate: bool = False) -> Any:
    from .catalog import load_catalog

    as_of = getattr(args, "as_of", None)
    return load_catalog(getattr(args, "catalog", None), validate=validate, as_of=as_of)


def _notes(catalog: Any, models: Any, out: TextIO) -> None:
    """The first lines of an answer that names a model the updates have news of."""
    from ._render import notice_lines

    out.writelines(line + "\n" for line in notice_lines(catalog, list(models)))


def _print_json(value: Any, out: TextIO) -> None:
    """Strict JSON (no NaN), readable where it can be: text as it is, unless it holds what
    UTF-8 cannot carry (a lone surrogate from a JSON escape), which is escaped instead."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False)
    out.write(text + "\n")


def _style(out: TextIO) -> _text.Style:
    return _text.Style(_text.use_colour(out))


# --- traits from flags ---------------------------------------------------------------------


def _traits(args: argparse.Namespace, selector: Any) -> Any:
    """Traits from the flags, or from `--prompt-file` with the flags overriding."""
    from dataclasses import replace

    from .traits import Traits

    values: dict[str, Any] = {}
    for flag, name in TRAIT_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if name in ("input_modalities", "features", "allow", "deny"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        values[name] = value
    media = _media(args)
    try:
        if args.prompt_file is not None:
            if "input_tokens" in values:
                raise UsageError("--prompt-file and --input-tokens: give one of them")
            request = selector.read(_one_input(args.prompt_file, None),
                                    media_sizes=_sizes(media))  # fmt: skip
            return replace(request.traits, **values) if values else request.traits
        if media:
            values = _with_media(values, media, selector)
        return Traits(**values)
    except TraitsError as exc:
        raise _flag_error(exc) from None


def _flag_error(exc: TraitsError) -> UsageError:
    flag = next((f for f, n in TRAIT_FLAGS.items() if n == exc.where), str(exc.where))
    message = exc.message
    word = message.split("'")[1] if message.count("'") >= 2 else ""
    if word.lower() in INTENTS and "did you mean" not in message:
        message = f"unknown value {word!r}; for that, use {INTENTS[word.lower()]}"
    return UsageError(f"--{flag.replace('_', '-')}: {message}")


def _media(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from .media import parse_media

    return [parse_media(spec) for spec in getattr(args, "media", [])]


def _sizes(media: list[tuple[str, Any]]) -> Any:
    from .media import sizes_in_order

    return sizes_in_order(media) if media else None


def _with_media(
    values: dict[str, Any], media: list[tuple[str, Any]], selector: Any
) -> dict[str, Any]:
    """Media given by size: their input kinds, and their tokens on top of the text's."""
    from .media import params_of, size_tokens

    params = params_of(selector.catalog)
    kinds = set(values.get("input_modalities") or ["text"])
    extra = 0
    for kind, size in media:
        kinds.add(kind)
        extra += size_tokens(kind, size, params).tokens
    return {**values, "input_modalities": sorted(kinds),
            "input_tokens": (values.get("input_tokens") or 0) + extra}  # fmt: skip


def _exact(count: Any) -> Any:
    """The count as people should see it: with the tokenizer, where it decides nothing."""
    return count.refine() if count is not None and count.refine is not None else count


# --- inputs --------------------------------------------------------------------------------


def _inputs(path: str, format_in: str | None) -> list[Any]:
    """The items in one input file ("-": standard input), read by the one file reader."""
    from .files import MAX_PROMPT_BYTES, read_bytes_items, read_items

    if path != "-":
        return read_items(path, format_in)
    raw = sys.stdin.buffer.read(MAX_PROMPT_BYTES + 1)
    if format_in is None:  # a body piped in: JSON when it looks like JSON, else text
        format_in = "json" if raw.lstrip()[:1] in (b"{", b"[") else "text"
    return read_bytes_items(raw, "<stdin>", format_in)


def _one_input(path: str, format_in: str | None) -> Any:
    """The one request in a file (a body, a messages list, a prompt or text)."""
    from .files import ReadError

    items = _inputs(path, format_in)
    for item in items:
        if isinstance(item, ReadError):
            where = f"{item.path}:{item.line}" if item.line else item.path
            raise UsageError(f"{where}: {item.message}")
    if len(items) != 1:
        raise UsageError(f"{path}: holds {len(items)} requests; give a file with one")
    return items[0].data


# --- commands ------------------------------------------------------------------------------


def models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    catalog = _catalog(args)
    if args.model is not None:
        return _one_model(catalog, catalog.model(args.model), args.json, out)
    if args.json:
        _print_json([m.summary() for m in catalog], out)
        return EXIT_OK
    style = _style(out)
    _notes(catalog, catalog.ids, out)
    # a catalog for a later day shows each model's status, in place of the generation (which
    # the id says too), to stay within 80 columns
    statuses = any(m.status != "active" for m in catalog)
    rows = [
        [m.id, m.series, m.status if statuses else m.generation, m.context_window.literal,
         m.max_output.literal, _limit(m.rpm), _limit(m.tpm), ",".join(m.output_modalities)]
        for m in catalog
    ]  # fmt: skip
    head, *body = _text.table(
        ["MODEL", "SERIES", "STATUS" if statuses else "GEN", "CONTEXT", "MAX OUT", "RPM", "TPM",
         "OUTPUT"],
        rows,
    )  # fmt: skip
    out.write(style(head, "bold") + "\n")
    out.writelines(line + "\n" for line in body)
    out.write("\n" + style("Inputs and capabilities", "bold") + "\n")
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for m in catalog:
        groups.setdefault((m.input_modalities, m.capabilities), []).append(m.id)
    for (inputs, caps), ids in groups.items():
        out.writelines(line + "\n" for line in _text.wrap(", ".join(ids) + ":", 78, "  "))
        out.write(f"    input: {' '.join(inputs)}\n")
        out.writelines(line + "\n" for line in _text.wrap(" ".join(caps), 78, "    "))
    out.write("\n")
    for paragraph in _footer(catalog):
        out.writelines(line + "\n" for line in _text.wrap(paragraph, 80, ""))
    return EXIT_OK


def _limit(value: int | None) -> str:
    return "-" if value is None else _text.compact(value)


def _footer(catalog: Any) -> list[str]:
    source = catalog.sources[catalog.source]
    retrieved = f" (retrieved {source.retrieved})" if source.retrieved else ""
    units = catalog.length_units
    return [
        f"RPM and TPM: {catalog.rate_limit_scope.description}",
        f"Lengths in tokens: K = {units['K']:,}, M = {units['M']:,};"
        " in RPM and TPM, M = 1,000,000.",
        f"Source: {source.title}, {source.url}{retrieved}",
    ]


def _one_model(catalog: Any, m: Any, as_json: bool, out: TextIO) -> int:
    """Everything the catalog says of one model."""
    if as_json:
        _print_json(catalog.describe(m.id), out)
        return EXIT_OK
    guide = [g for g in catalog.guide if m.id in g.models]
    notice = catalog.notice(m.id)
    style = _style(out)
    rows = [
        ("series", f"{m.series} (generation {m.generation})"),
        ("status", m.status),
        ("capabilities", ", ".join(m.capabilities)),
        ("input", ", ".join(m.input_modalities)),
        ("output", ", ".join(m.output_modalities)),
        ("context window", f"{m.context_window.literal} ({m.context_window.tokens:,} tokens)"),
        ("maximum output", f"{m.max_output.literal} ({m.max_output.tokens:,} tokens)"),
        ("RPM", "not published" if m.rpm is None else f"{m.rpm:,} (per account, per model)"),
        ("TPM", "not published" if m.tpm is None else f"{m.tpm:,} (per account, per model)"),
        ("thinking", f"{m.thinking.default} by default" if m.thinking else "does not apply"),
    ]
    if m.media_tokens is not None:
        kinds = [k for k in ("image", "audio", "video") if getattr(m.media_tokens, k)]
        rows.append(("media tokens", f"{', '.join(kinds)} by the documented formulas"))
    for g in guide:
        rows.append(("guide", f"{g.scenario}: {g.requirement} (choice "
                     f"{g.models.index(m.id) + 1} of {len(g.models)})"))  # fmt: skip
    if notice is not None:
        rows.append(("notice", str(notice)))
    out.write(style(m.id, "bold") + "\n")
    for key, value in rows:
        lines = _text.wrap(value, 80, " " * 18) or [" " * 18]
        out.write(f"  {key + ':':<16}{lines[0][18:]}\n")
        out.writelines(line + "\n" for line in lines[1:])
    return EXIT_OK


def validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .errors import DataError, Problem
    from .rules import compile_rules, load_rules

    problems: list[Problem] = []
    catalog = None
    try:
        catalog = _catalog(args, validate=True)
        out.write(f"{catalog.file}: ok ({len(catalog)} models, {len(catalog.guide)} guide rows)\n")
    except DataError as exc:
        problems.extend(exc.problems)
    try:
        ruleset = load_rules(args.rules, validate=True)
        if catalog is not None:
            compiled = compile_rules(ruleset, catalog)
            n = len(compiled.constraints) + len(compiled.preferences)
            out.write(f"{', '.join(ruleset.files)}: ok ({n} rules in force)\n")
    except DataError as exc:
        problems.extend(exc.problems)
    if problems:
        err.writelines(f"{PROG}: error: {p}\n" for p in sorted(problems, key=Problem.sort_key))
        err.write(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found\n")
        return EXIT_ERROR
    return EXIT_OK


def catalog_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_diff
    from .updates import catalog_diff as diff_of

    diff = diff_of(args.from_date, args.to_date, path=getattr(args, "catalog", None))
    if args.json:
        _print_json(diff.to_json(), out)
    else:
        out.write(render_diff(diff, _style(out)))
    return EXIT_OK


def schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._schemas import decision_schema
    from ._schemas import schema as shipped

    _print_json(decision_schema() if args.name == "decision" else shipped(args.name), out)
    return EXIT_OK


def recommend(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_decision

    selector = _selector(args)
    decision = selector.select(_traits(args, selector), strict=args.strict)
    if args.json:
        _print_json(decision.shared_json(exact_count=True), out)
    else:
        _notes(selector.catalog, [decision.model, *decision.fallbacks], out)
        out.write(render_decision(decision, _style(out), _exact(decision.traits.tokens)))
    covered = decision.plan is not None and decision.plan.covers
    return EXIT_OK if decision.model or covered else EXIT_VIOLATION


def explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_explanation

    selector = _selector(args)
    explanation = selector.explain(args.model, _traits(args, selector), strict=args.strict)
    if args.json:
        _print_json(explanation.to_json(), out)
    else:
        _notes(selector.catalog, [args.model, explanation.winner], out)
        out.write(render_explanation(explanation, _style(out)))
    return EXIT_OK if explanation.eligible else EXIT_VIOLATION


def tokens(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .files import ReadError

    selector = _selector(args)
    sizes = _sizes(_media(args))
    counted, failed = [], False
    for path in args.paths:
        for item in _inputs(path, args.format_in):
            where = f"{item.path}:{item.line}" if item.line else item.path
            if isinstance(item, ReadError):
                err.write(f"{PROG}: error: {where}: {item.message}\n")
                failed = True
                continue
            try:
                request = selector.read(item.data, api=args.api, model=args.model,
                                        media_sizes=sizes)  # fmt: skip
                counted.append((where, request.api, request.count()))
            except MimoSelectError as exc:
                err.write(f"{PROG}: error: {where}: {exc}\n")
                failed = True
    total = sum(count.tokens for _, _, count in counted)
    if args.json:
        _print_json({"files": [{"path": where, "api": api, **count.to_json()}
                               for where, api, count in counted], "total": total}, out)  # fmt: skip
    else:
        for where, api, count in counted:
            out.write(f"{where}: {_describe_count(count)} ({_AS[api]})\n")
        if len(counted) > 1:
            out.write(f"total: {total:,} tokens in {len(counted)} prompts\n")
    return EXIT_ERROR if failed else EXIT_OK


_AS = {
    "text": "as text",
    "prompt": "a prompt, as text",
    "messages": "a messages list, in the chat template",
    "openai": "an OpenAI chat body",
    "anthropic": "an Anthropic messages body",
    "responses": "an OpenAI Responses body",
}


def _describe_count(count: Any) -> str:
    if count.exact:
        return f"{count.tokens:,} tokens"
    upper = "no known bound" if count.upper_bound is None else f"{count.upper_bound:,}"
    notes = "; ".join(count.notes)
    return f"{count.tokens:,} tokens (not exact: {count.lower_bound:,} to {upper}; {notes})"


def route(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_decision

    body = _one_input(args.body, None)
    selector = _selector(args)
    decision = selector.route(body, api=args.api, strict=args.strict,
                              media_sizes=_sizes(_media(args)))  # fmt: skip
    named = [decision.requested, decision.model, *decision.fallbacks]
    fits = decision.model is not None and decision.requested_fits is not False
    if args.apply:  # the answer is the body; what the news says follows on stderr
        if decision.model is None or (decision.requested_fits is False and not args.fallback):
            err.write(f"{PROG}: {_refusal(decision)}\n")
            _notes(selector.catalog, named, err)
            return EXIT_VIOLATION
        applied = decision.apply(body, fallback=args.fallback)
        if decision.requested is not None and applied["model"] != decision.requested:
            err.write(f"{PROG}: switched from {decision.requested} to {applied['model']}\n")
        _notes(selector.catalog, named, err)
        _print_json(applied, out)
        return EXIT_OK
    if not args.json:
        _notes(selector.catalog, named, out)
    if args.json:
        _print_json(decision.shared_json(exact_count=True), out)
    else:
        out.write(render_decision(decision, _style(out), _exact(decision.traits.tokens)))
    return EXIT_OK if fits else EXIT_VIOLATION


def _refusal(decision: Any) -> str:
    """Why `--apply` prints no body."""
    if decision.requested_fits is False:
        why = decision.rejection(decision.requested)
        reason = why.violations[0].message if why else "it is rejected"
        then = f"; {decision.model} fits (--fallback switches to it)" if decision.model else ""
        return f"the body asks for {decision.requested}, which does not fit ({reason}){then}"
    return "no model is eligible for this body; nothing to apply"


def check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .check import CheckOptions, check_paths, report_rules, selector_for
    from .files import discover
    from .reporters import REPORTERS
    from .updates import resolve_as_of

    catalog = getattr(args, "catalog", None)
    as_of = getattr(args, "as_of", None)
    as_of = None if as_of is None else resolve_as_of(as_of).isoformat()
    selector = selector_for(catalog, tuple(args.rules), args.margin, as_of)
    wanted = [args.model] if args.model else [m.strip() for m in (args.models or "").split(",")]
    chosen = tuple(selector.catalog.model(m).id for m in filter(None, wanted))  # did-you-mean
    options = CheckOptions(
        models=chosen, max_output=args.max_output, margin=args.margin,
        format_in=args.format_in, exact=args.exact or args.verbose, strict=args.strict,
        catalog=catalog, rules=tuple(args.rules), as_of=as_of,
    )  # fmt: skip
    found = discover(args.paths, args.include, args.exclude, any_extension=bool(args.format_in))
    if not found.files and not found.errors:
        raise UsageError(f"no prompt files found in {', '.join(args.paths)}")
    report = check_paths([Path(f) for f in found.files], options, jobs=args.jobs)
    report.errors[:0] = found.errors
    if args.output == "text":
        _notes(selector.catalog, sorted({f.model for f in report.findings}), out)
    REPORTERS[args.output](report, out, args.verbose, report_rules(selector))
    return report.exit_code


def serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`mimo-select serve`: the HTTP service (`mimo_select.serve`), until interrupted."""
    from . import serve as service

    return service.run(args)


# --- usage -----------------------------------------------------------------------------------

_REDIS_TIMEOUT = 2.0  # seconds: a person waits for a remote or TLS Redis, not a router


def usage(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """What a shared Redis usage store holds now, read with on_error="closed": a status
    command shows Redis's count or an error, never a made-up local one."""
    from .errors import UsageStoreError, UsageValueError
    from .usage import RedisUsage, _describe, usage_report

    url = args.redis
    try:
        where = _describe(url, None)  # without user or password
    except UsageValueError as exc:
        raise UsageError(f"--redis: {exc.message}") from None
    catalog = _catalog(args)
    store = RedisUsage(
        url, account=args.account, window=args.window, catalog=catalog, on_error="closed",
        prefix=args.prefix, timeout=_REDIS_TIMEOUT,
    )  # fmt: skip
    try:
        rows = store.usage()
    except UsageStoreError as exc:
        raise UsageError(_unreadable(where, exc)) from None
    finally:
        store.close()
    if args.active:
        rows = tuple(u for u in rows if u.active)
    report = usage_report(store, rows, catalog)
    if args.json:
        _print_json(report, out)
        return EXIT_OK
    style = _style(out)
    head = f"Account {args.account!r} at {where}, window {store.window:g} s by Redis's clock"
    out.write(head + "\n")  # one line, however long the URL: a script may read it
    if rows:
        header, *body = _text.table(
            ["MODEL", "REQUESTS", "TOKENS", "COOLING", "FREES IN", "EMPTY IN"],
            [
                [u.model, f"{u.requests:,} / {u.rpm:,}",
                 f"{_token_amount(u.tokens)} / {_token_amount(u.tpm)}",
                 _in_seconds(u.cooling_for or None), _in_seconds(u.frees_in),
                 _in_seconds(u.empty_in)]
                for u in rows
            ],
        )  # fmt: skip
        out.write(style(header, "bold") + "\n")
        out.writelines(line + "\n" for line in body)
    else:
        out.write("No requests in the window and no model cooling down.\n")
    notes = [n for n in map(_not_admitting, rows) if n]
    unlimited = report["no_limits"]
    if unlimited:
        notes.append(f"Not shown: {', '.join(unlimited)} (the catalog gives no RPM or TPM limit).")
    if notes:
        out.write("\n")
        for note in notes:
            out.writelines(line + "\n" for line in _text.wrap(note, 80, "", "  "))
    return EXIT_OK


def _unreadable(where: str, exc: Exception) -> str:
    """Why the store could not be read, and what to do about it."""
    import redis.exceptions as rx

    cause = exc.__cause__
    detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
    if isinstance(cause, rx.AuthenticationError | rx.AuthorizationError):
        hint = "check the user and password in the URL (redis://USER:PASSWORD@HOST:PORT/DB)"
    elif isinstance(cause, rx.ConnectionError | rx.TimeoutError):
        hint = (
            "is Redis running there? Start one with `redis-server` (or `docker run -p "
            "6379:6379 redis`), or check the host and port in --redis"
        )
    elif isinstance(cause, rx.ResponseError):
        hint = "the usage store needs Redis 5 or newer that runs Lua scripts (EVALSHA)"
    else:
        hint = "check that --redis, --account and --prefix name the stores' Redis and keys"
    return f"cannot read usage from Redis at {where} ({detail}); {hint}"


def _not_admitting(u: Any) -> str | None:
    """Why a model admits nothing now, and when that changes; None when it admits."""
    why = []
    if u.cooling_for > 0:
        why.append(f"cooling down after a 429 for {_in_seconds(u.cooling_for)}")
    if u.requests >= u.rpm:
        why.append(f"at its RPM limit ({u.requests:,} of {u.rpm:,} requests)")
    if u.tokens >= u.tpm:
        why.append(f"at its TPM limit ({u.tokens:,} of {u.tpm:,} tokens)")
    if not why:
        return None
    full = u.requests >= u.rpm or u.tokens >= u.tpm
    frees = f"; its oldest request leaves in {_in_seconds(u.frees_in)}" if full else ""
    return f"{u.model} admits nothing now: {' and '.join(why)}{frees}."


def _in_seconds(value: float | None) -> str:
    """Seconds to one decimal, rounded up: a wait shown never ends before it does."""
    if value is None:
        return "-"
    return f"{math.ceil(round(value * 10, 6)) / 10:.1f} s"


def _token_amount(value: int) -> str:
    """Exact below 100,000; above, three significant digits rounded down (9,999,999 is
    9.99M, never a full-looking 10M)."""
    if value < 100_000:
        return f"{value:,}"
    size, suffix = (1_000_000, "M") if value >= 1_000_000 else (1_000, "K")
    digits = len(str(value // size))
    step = 10 ** max(0, 3 - digits)
    return f"{value * step // size / step:g}{suffix}"
