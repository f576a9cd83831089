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
from .errors import MimoSelectError

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


class UsageError(MimoSelectError):
    """Bad command-line usage (exit code 2)."""


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
        "--rules", metavar="PATH", action="append", default=[], help="a rules file (repeatable)"
    )
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser("schema", parents=[common], help="print a JSON Schema")
    p.add_argument("name", choices=["catalog"])
    p.set_defaults(run=_cmd_schema)
    return parser


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


def _catalog(args: argparse.Namespace) -> Any:
    from .catalog import load_catalog

    return load_catalog(getattr(args, "catalog", None))


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
    catalog = _catalog(args)
    out.write(f"{catalog.file}: ok ({len(catalog)} models, {len(catalog.guide)} guide rows)\n")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._schemas import schema

    _print_json(schema(args.name), out)
    return EXIT_OK
