"""The `mimo-select` command line: thin wrappers that parse, call the library and print.

Exit codes: 0 success, 1 limits violated or no eligible model, 2 usage or data errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import _text
from .errors import MimoSelectError, UsageError

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _common() -> _Parser:
    """Options every subcommand accepts, also after the subcommand name."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--catalog",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="use this catalog file instead of the bundled one",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mimo-select",
        description="Pick the MiMo model for a request, and say which limits it would break.",
        epilog="exit codes: 0 ok, 1 violations or no eligible model, 2 usage or data errors",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--catalog", metavar="PATH", help="use this catalog file")
    common = _common()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("models", parents=[common], help="show the model catalog")
    p.add_argument("--json", action="store_true", help="print a JSON list of models")
    p.set_defaults(run=_cmd_models)

    p = sub.add_parser("validate", parents=[common], help="check the catalog and rules files")
    p.add_argument(
        "--rules", metavar="PATH", action="append", default=[],
        help="a rules file layered over the defaults (repeatable)",
    )  # fmt: skip
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser(
        "recommend", parents=[common, _trait_options()], help="rank the models for a request"
    )
    p.set_defaults(run=_cmd_recommend)

    p = sub.add_parser(
        "explain",
        parents=[common, _trait_options()],
        help="why a model was or was not chosen",
    )
    p.add_argument("model", metavar="MODEL", help="the model id to explain")
    p.set_defaults(run=_cmd_explain)

    p = sub.add_parser(
        "route", parents=[common], help="decide for an OpenAI- or Anthropic-compatible body"
    )
    p.add_argument("body", metavar="BODY", help="the request body (.json or .yaml); - reads stdin")
    _api_option(p)
    p.add_argument(
        "--rules", metavar="PATH", action="append", default=[],
        help="a rules file layered over the defaults (repeatable)",
    )  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print the decision as JSON")
    g.add_argument("--apply", action="store_true", help="print the body with its model set")
    p.set_defaults(run=_cmd_route)

    _check_parser(sub, common)

    p = sub.add_parser("tokens", parents=[common], help="count MiMo tokens in files")
    p.add_argument("paths", nargs="+", metavar="FILE", help="files to count; - reads stdin")
    p.add_argument(
        "--format-in", choices=["text", "json", "jsonl", "yaml"],
        help="read every file as this format, whatever its extension",
    )  # fmt: skip
    p.add_argument(
        "--model", metavar="ID",
        help="count as sent to this model (its thinking default; else the body's model)",
    )  # fmt: skip
    _api_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_tokens)

    p = sub.add_parser("schema", parents=[common], help="print a JSON Schema")
    p.add_argument("name", choices=["catalog", "rules", "decision"])
    p.set_defaults(run=_cmd_schema)
    return parser


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
    "allow": "allow",
    "deny": "deny",
}


def _check_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "check", parents=[common], help="fail when a prompt file outgrows its model",
        description="Check prompt files against MiMo model limits. Exit 0 when all fit, 1 on "
        "any violation, 2 on usage errors or unreadable files (after checking the rest).",
    )  # fmt: skip
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or globs")
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--model", metavar="ID", help="every prompt must fit this model")
    targets.add_argument("--models", metavar="IDS", help="every prompt must fit all of these")
    p.add_argument(
        "--max-output",
        metavar="N",
        type=_count,
        help="output tokens to reserve (default: the body's own max_tokens, else 0)",
    )
    p.add_argument(
        "--margin",
        metavar="PCT",
        type=_percent,
        default=0.0,
        help="keep this much below every limit (default 0)",
    )
    p.add_argument(
        "--include",
        metavar="GLOB",
        action="append",
        default=[],
        help="check only matching files (repeatable)",
    )
    p.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="skip matching files (repeatable)",
    )
    p.add_argument(
        "--format-in",
        choices=["text", "json", "jsonl", "yaml"],
        help="read every file as this format, whatever its extension",
    )
    p.add_argument(
        "--output",
        choices=["text", "json", "github", "junit", "sarif"],
        default="text",
        help="report format (default text)",
    )
    p.add_argument(
        "--verbose", action="store_true",
        help="list passing files too, with exact counts and the model each was checked against",
    )  # fmt: skip
    p.add_argument(
        "--exact", action="store_true",
        help="count every prompt with the tokenizer (slower; default: only near a limit)",
    )  # fmt: skip
    p.add_argument(
        "--strict", action="store_true",
        help="a JSON or YAML file that holds no prompt is an error, not skipped",
    )  # fmt: skip
    p.add_argument(
        "--rules", metavar="PATH", action="append", default=[],
        help="a rules file layered over the defaults (repeatable): its constraints apply",
    )  # fmt: skip
    p.add_argument("--jobs", metavar="N", type=_count,
                   help="worker processes (default: all cores for large inputs)")  # fmt: skip
    p.set_defaults(run=_cmd_check)


def _api_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api", choices=["auto", "openai", "anthropic", "responses"], default="auto",
        help="the request body's shape (default: detected from its keys)",
    )  # fmt: skip


def _trait_options() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("request traits")
    g.add_argument("--input", metavar="KINDS", help="input modalities, e.g. text,image")
    g.add_argument("--output", metavar="KIND", help="output modality: text or speech")
    g.add_argument("--needs", metavar="FEATURES", help="e.g. function_call,structured_output")
    g.add_argument("--voice", metavar="HOW", help="preset, clone or design (implies speech)")
    g.add_argument("--latency", metavar="LEVEL", help="low or normal")
    g.add_argument("--scenario", metavar="ID", help="a quick-selection guide scenario")
    g.add_argument("--input-tokens", metavar="N", type=_count, help="input length in tokens")
    g.add_argument("--max-output", metavar="N", type=_count, help="output budget in tokens")
    g.add_argument("--rpm", metavar="N", type=_count, help="planned requests per minute")
    g.add_argument("--tpm", metavar="N", type=_count, help="planned tokens per minute")
    g.add_argument("--allow", metavar="IDS", help="only these models (comma-separated)")
    g.add_argument("--deny", metavar="IDS", help="never these models (comma-separated)")
    o = p.add_argument_group("rules and output")
    o.add_argument(
        "--rules", metavar="PATH", action="append", default=[],
        help="a rules file layered over the defaults (repeatable; later files win)",
    )  # fmt: skip
    o.add_argument(
        "--prompt-file", metavar="PATH",
        help="take the request from this file (text, or a .json/.yaml request body or messages "
        "list): its count, inputs, features and budget; the flags above override them",
    )  # fmt: skip
    o.add_argument("--json", action="store_true", help="print JSON")
    return p


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 100, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _traits(args: argparse.Namespace, selector: Any) -> Any:
    from dataclasses import replace

    from .errors import TraitsError
    from .traits import Traits

    values: dict[str, Any] = {}
    for flag, name in TRAIT_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if name in ("input_modalities", "features", "allow", "deny"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        values[name] = value
    try:
        if args.prompt_file is None:
            return Traits(**values)
        if "input_tokens" in values:
            raise UsageError("--prompt-file and --input-tokens: give one of them")
        request = selector.read(_one_input(args.prompt_file, None))
        return replace(request.traits, **values)
    except TraitsError as exc:
        flag = next((f for f, n in TRAIT_FLAGS.items() if n == exc.where), str(exc.where))
        raise UsageError(f"--{flag.replace('_', '-')}: {exc.message}") from None


def _selector(args: argparse.Namespace) -> Any:
    from .engine import Selector

    catalog = getattr(args, "catalog", None)
    rules = getattr(args, "rules", [])
    if catalog is None and not rules:
        return Selector.default()
    return Selector.from_files(catalog, rules)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(argv: Sequence[str] | None, stdout: TextIO, stderr: TextIO) -> int:
    """Run the command line; returns the exit code and never raises for bad input."""
    try:
        args = parse_args(argv)
        if args.version:
            from . import __version__

            stdout.write(f"mimo-select {__version__}\n")
            return EXIT_OK
        command: Command | None = getattr(args, "run", None)
        if command is None:
            build_parser().print_help(stderr)
            return EXIT_ERROR
        return command(args, stdout, stderr)
    except MimoSelectError as exc:
        stderr.write(f"error: {exc}\n" if not isinstance(exc, UsageError) else f"{exc}\n")
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        code = run(argv, sys.stdout, sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:  # `mimo-select models | head`
        code = EXIT_OK
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def _catalog(args: argparse.Namespace, *, validate: bool = False) -> Any:
    from .catalog import load_catalog

    return load_catalog(getattr(args, "catalog", None), validate=validate)


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(value, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _cmd_models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    catalog = _catalog(args)
    if args.json:
        _print_json([m.summary() for m in catalog], out)
        return EXIT_OK
    style = _text.Style(_text.use_colour(out))
    rows = [
        [
            m.id,
            m.series,
            m.generation,
            m.context_window.literal,
            m.max_output.literal,
            _text.compact(m.rpm),
            _text.compact(m.tpm),
            ",".join(m.output_modalities),
        ]
        for m in catalog
    ]
    head, *body = _text.table(
        ["MODEL", "SERIES", "GEN", "CONTEXT", "MAX OUT", "RPM", "TPM", "OUTPUT"], rows
    )
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
    source = catalog.sources[catalog.source]
    retrieved = f" (retrieved {source.retrieved})" if source.retrieved else ""
    units = catalog.length_units
    footer = [
        f"RPM and TPM: {catalog.rate_limit_scope.description}",
        f"Lengths in tokens: K = {units['K']:,}, M = {units['M']:,};"
        " in RPM and TPM, M = 1,000,000.",
        f"Source: {source.title}, {source.url}{retrieved}",
    ]
    out.write("\n")
    for paragraph in footer:
        out.writelines(line + "\n" for line in _text.wrap(paragraph, 80, ""))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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
        err.writelines(f"{p}\n" for p in sorted(problems, key=lambda p: p.sort_key()))
        err.write(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found\n")
        return EXIT_ERROR
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._schemas import decision_schema, schema

    _print_json(decision_schema() if args.name == "decision" else schema(args.name), out)
    return EXIT_OK


def _cmd_recommend(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_decision

    selector = _selector(args)
    decision = selector.select(_traits(args, selector))
    if args.json:
        _print_json(decision.to_json(exact_count=True), out)
    else:
        style = _text.Style(_text.use_colour(out))
        out.write(render_decision(decision, style, _exact(decision.traits.tokens)))
    return EXIT_OK if decision.model else EXIT_VIOLATION


def _exact(count: Any) -> Any:
    """The count as people should see it: with the tokenizer, where it decides nothing."""
    return count.refine() if count is not None and count.refine is not None else count


def _cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_explanation

    selector = _selector(args)
    explanation = selector.explain(args.model, _traits(args, selector))
    if args.json:
        _print_json(explanation.to_json(), out)
    else:
        out.write(render_explanation(explanation, _text.Style(_text.use_colour(out))))
    return EXIT_OK if explanation.eligible else EXIT_VIOLATION


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


def _cmd_tokens(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .files import ReadError

    selector = _selector(args)
    counted, failed = [], False
    for path in args.paths:
        for item in _inputs(path, args.format_in):
            if isinstance(item, ReadError):
                where = f"{item.path}:{item.line}" if item.line else item.path
                err.write(f"mimo-select: error: {where}: {item.message}\n")
                failed = True
                continue
            where = f"{item.path}:{item.line}" if item.line else item.path
            try:
                request = selector.read(item.data, api=args.api, model=args.model)
            except MimoSelectError as exc:
                err.write(f"mimo-select: error: {where}: {exc}\n")
                failed = True
                continue
            counted.append((where, request.api, request.count()))
    if args.json:
        _print_json(
            {
                "files": [{"path": where, "api": api, **count.to_json()}
                          for where, api, count in counted],
                "total": sum(count.tokens for _, _, count in counted),
            },
            out,
        )  # fmt: skip
    else:
        for where, api, count in counted:
            out.write(f"{where}: {_describe_count(count)} ({_AS[api]})\n")
        if len(counted) > 1:
            total = sum(count.tokens for _, _, count in counted)
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


def _cmd_route(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_decision

    body = _one_input(args.body, None)
    decision = _selector(args).route(body, api=args.api)
    fits = decision.model is not None and decision.requested_fits is not False
    if args.apply:
        if decision.model is None:
            err.write("mimo-select: no eligible model; nothing to apply\n")
            return EXIT_VIOLATION
        _print_json(decision.apply(body), out)
    elif args.json:
        _print_json(decision.to_json(exact_count=True), out)
    else:
        if decision.requested is not None:
            verdict = "fits" if decision.requested_fits else "does not fit"
            out.write(f"Requested: {decision.requested} ({verdict})\n")
        style = _text.Style(_text.use_colour(out))
        out.write(render_decision(decision, style, _exact(decision.traits.tokens)))
    return EXIT_OK if fits else EXIT_VIOLATION


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .check import CheckOptions, check_paths, report_rules, selector_for
    from .files import discover
    from .reporters import REPORTERS

    catalog = getattr(args, "catalog", None)
    selector = selector_for(catalog, tuple(args.rules), args.margin)
    wanted = [args.model] if args.model else [m.strip() for m in (args.models or "").split(",")]
    models = tuple(selector.catalog.model(m).id for m in filter(None, wanted))  # did-you-mean
    options = CheckOptions(
        models=models,
        max_output=args.max_output,
        margin=args.margin,
        format_in=args.format_in,
        exact=args.exact or args.verbose,
        strict=args.strict,
        catalog=catalog,
        rules=tuple(args.rules),
    )
    found = discover(args.paths, args.include, args.exclude, any_extension=bool(args.format_in))
    report = check_paths([Path(f) for f in found.files], options, jobs=args.jobs)
    report.errors[:0] = found.errors
    REPORTERS[args.output](report, out, args.verbose, report_rules(selector))
    return report.exit_code
