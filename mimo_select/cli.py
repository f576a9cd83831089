"""The `mimo-select` command line: thin wrappers that parse, call the library and print.

Exit codes: 0 success, 1 limits violated or no eligible model, 2 usage or data errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
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
    p.add_argument("body", metavar="BODY.json", help="the request body; - reads stdin")
    p.add_argument("--api", choices=["auto", "openai", "anthropic"], default="auto")
    p.add_argument(
        "--rules", metavar="PATH", action="append", default=[],
        help="a rules file layered over the defaults (repeatable)",
    )  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print the decision as JSON")
    g.add_argument("--apply", action="store_true", help="print the body with its model set")
    p.set_defaults(run=_cmd_route)

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
    p.add_argument("--verbose", action="store_true", help="list passing files too")
    p.add_argument("--jobs", metavar="N", type=_count,
                   help="worker processes (default: all cores for large inputs)")  # fmt: skip
    p.set_defaults(run=_cmd_check)

    p = sub.add_parser("tokens", parents=[common], help="count MiMo tokens in files")
    p.add_argument("paths", nargs="+", metavar="FILE", help="files to count; - reads stdin")
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
        help="count the input from this file: text, or a .json request body or messages list",
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


def _traits(args: argparse.Namespace) -> Any:
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
    if args.prompt_file is not None:
        if "input_tokens" in values:
            raise UsageError("--prompt-file and --input-tokens: give one of them")
        values["tokens"] = _prompt_count(args.prompt_file, exact=False)
    try:
        return Traits(**values)
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

    decision = _selector(args).select(_traits(args))
    if args.json:
        _print_json(decision.to_json(), out)
    else:
        out.write(render_decision(decision, _text.Style(_text.use_colour(out))))
    return EXIT_OK if decision.model else EXIT_VIOLATION


def _cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_explanation

    explanation = _selector(args).explain(args.model, _traits(args))
    if args.json:
        _print_json(explanation.to_json(), out)
    else:
        out.write(render_explanation(explanation, _text.Style(_text.use_colour(out))))
    return EXIT_OK if explanation.eligible else EXIT_VIOLATION


def _prompt_count(path: str, *, exact: bool) -> Any:
    """A file's input tokens: a .json body or messages list as a chat, anything else as text.

    With `exact` False the count is a UTF-8 bound that the selector refines only if needed.
    """
    from .check import Prompt, ReadError, bound_prompt, count_prompt, prompt_from_data

    text = _read_text(path)
    prompt: Prompt | ReadError = Prompt(path, None, text=text)
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc})") from None
        prompt = prompt_from_data(data, path, None)
    if isinstance(prompt, ReadError):
        raise UsageError(f"{path}: {prompt.message}")
    try:
        return count_prompt(prompt) if exact else bound_prompt(prompt)
    except MimoSelectError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _cmd_tokens(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    files, total, failed = [], 0, False
    for path in args.paths:
        try:
            count = _prompt_count(path, exact=True)
        except UsageError as exc:
            err.write(f"{exc}\n")
            failed = True
            continue
        total += count.tokens
        files.append((path, count))
    if args.json:
        _print_json(
            {
                "files": [
                    {
                        "path": path,
                        "tokens": c.tokens,
                        "exact": c.exact,
                        "upper_bound": c.upper_bound,
                    }
                    for path, c in files
                ],
                "total": total,
            },
            out,
        )
    else:
        for path, c in files:
            if c.exact:
                out.write(f"{path}: {c.tokens:,} tokens\n")
            else:
                upper = "no known bound" if c.upper_bound is None else f"{c.upper_bound:,}"
                out.write(
                    f"{path}: {c.tokens:,} tokens (not exact: {c.lower_bound:,} to {upper})\n"
                )
        if len(files) > 1:
            out.write(f"total: {total:,} tokens in {len(files)} files\n")
    return EXIT_ERROR if failed else EXIT_OK


def _cmd_route(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._render import render_decision

    text = _read_text(args.body)
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{args.body}: not valid JSON ({exc})") from None
    decision = _selector(args).route(body, api=args.api)
    fits = decision.model is not None and decision.requested_fits is not False
    if args.apply:
        if decision.model is None:
            err.write("no eligible model; nothing to apply\n")
            return EXIT_VIOLATION
        _print_json(decision.apply(body), out)
    elif args.json:
        _print_json(decision.to_json(), out)
    else:
        if decision.requested is not None:
            verdict = "fits" if decision.requested_fits else "does not fit"
            out.write(f"Requested: {decision.requested} ({verdict})\n")
        out.write(render_decision(decision, _text.Style(_text.use_colour(out))))
    return EXIT_OK if fits else EXIT_VIOLATION


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .check import CheckOptions, Target, check_paths, discover
    from .reporters import REPORTERS

    catalog = _catalog(args)
    by_id = {
        m.id: Target(
            m.id, m.context_window.tokens, m.max_output.tokens,
            None if m.thinking is None else m.thinking.default == "enabled",
        )
        for m in catalog
    }  # fmt: skip
    wanted = [args.model] if args.model else [m.strip() for m in (args.models or "").split(",")]
    targets = []
    for model_id in filter(None, wanted):
        catalog.model(model_id)  # UnknownModelError with a suggestion: exit 2
        targets.append(by_id[model_id])
    text_models = [by_id[m.id] for m in catalog if "text" in m.output_modalities]
    options = CheckOptions(
        targets=tuple(targets),
        choices=tuple(sorted(text_models, key=lambda t: t.context_window)),
        max_output=args.max_output,
        margin=args.margin,
        format_in=args.format_in,
        by_id=by_id,
    )
    files = discover(args.paths, args.include, args.exclude, any_extension=bool(args.format_in))
    report = check_paths(files, options, jobs=args.jobs)
    REPORTERS[args.output](report, out, args.verbose)
    return report.exit_code
