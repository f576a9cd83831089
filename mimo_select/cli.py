"""The `mimo-select` command line: parse, call the library, print; the commands themselves
live in `_commands`.

Exit codes: 0 success, 1 limits violated or no eligible model, 2 usage or data errors. Every
error is one line (or one line per data problem) starting `mimo-select: error:`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from .errors import DataError, MimoSelectError, UsageError, did_you_mean

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2
PROG = "mimo-select"
LIMITS_NOTE = (
    "RPM and TPM are limits per account and per model: the sum over every API key and every "
    "replica of one account calling one model."
)

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # a mistyped command or choice: name the close one
            known = re.findall(r"'([^']*)'", choice[2])
            hint = did_you_mean(choice[1], known)
            if hint:
                message = (
                    f"{message.split(':', maxsplit=1)[0]}: unknown choice {choice[1]!r} ({hint})"
                )
        where = self.prog.removeprefix(PROG).strip()
        raise UsageError(f"{where}: {message}" if where else message)


def _common() -> _Parser:
    """Options every subcommand accepts, also after the subcommand name."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--catalog",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="use this catalog file instead of the bundled one",
    )
    common.add_argument(
        "--as-of",
        metavar="DATE",
        default=argparse.SUPPRESS,
        help="answer for this day (YYYY-MM-DD or today): the catalog's dated updates up to it "
        "applied (default: the model page as captured)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    from . import _commands as c

    parser = _Parser(
        prog=PROG,
        description="Pick the MiMo model for a request, and say which limits it would break.",
        epilog=f"{LIMITS_NOTE} Exit codes: 0 ok, 1 violations or no eligible model, 2 usage "
        "or data errors.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--catalog", metavar="PATH", help="use this catalog file")
    parser.add_argument("--as-of", metavar="DATE", help="answer for this day (or today)")
    common = _common()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("models", parents=[common], help="show the model catalog, or one model")
    p.add_argument("model", metavar="ID", nargs="?", help="show this model in full")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=c.models)

    p = sub.add_parser("validate", parents=[common], help="check the catalog and rules files")
    _rules_option(p)
    p.set_defaults(run=c.validate)

    traits = _trait_options()
    p = sub.add_parser("recommend", parents=[common, traits], help="rank the models for a "
                       "request", epilog=LIMITS_NOTE)  # fmt: skip
    p.set_defaults(run=c.recommend)

    p = sub.add_parser("explain", parents=[common, traits], epilog=LIMITS_NOTE,
                       help="why a model was or was not chosen")  # fmt: skip
    p.add_argument("model", metavar="MODEL", help="the model id to explain")
    p.set_defaults(run=c.explain)

    p = sub.add_parser("route", parents=[common], help="decide for an OpenAI chat, Anthropic "
                       "or OpenAI Responses body")  # fmt: skip
    p.add_argument("body", metavar="BODY", help="the request body (.json or .yaml); - reads stdin")
    _api_option(p)
    _rules_option(p)
    _media_option(p)
    p.add_argument("--strict", action="store_true", help="reject a model the request may not "
                   "fit (an uncertain count), not only one it surely does not")  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print the decision as JSON")
    g.add_argument("--apply", action="store_true", help="print the body with its model set")
    p.add_argument("--fallback", action="store_true", help="with --apply: when the body's own "
                   "model does not fit, switch to the best one that does")  # fmt: skip
    p.set_defaults(run=c.route)

    _check_parser(sub, common)

    p = sub.add_parser("tokens", parents=[common], help="count MiMo tokens in files")
    p.add_argument("paths", nargs="+", metavar="FILE", help="files to count; - reads stdin")
    _format_option(p)
    p.add_argument("--model", metavar="ID", help="count as sent to this model (its thinking "
                   "default); else the body's own model")  # fmt: skip
    _api_option(p)
    _media_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=c.tokens)

    _usage_parser(sub, common)
    _serve_parser(sub, common)

    p = sub.add_parser("schema", parents=[common], help="print a JSON Schema")
    p.add_argument("name", choices=["catalog", "rules", "updates", "decision"])
    p.set_defaults(run=c.schema)

    _catalog_parser(sub, common)
    return parser


def _catalog_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from . import _commands as c

    p = sub.add_parser("catalog", parents=[common], help="the catalog over time")
    what = p.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser, required=True)
    d = what.add_parser("diff", parents=[common], help="what changed between two days",
                        description="Every dated change between two days: models added, "
                        "deprecated and retired, limits, prices, guide wording, reported events, "
                        "each with its source.")  # fmt: skip
    d.add_argument("--from", dest="from_date", metavar="DATE",
                   help="the day before the first change (default: the model page as "
                   "captured)")  # fmt: skip
    d.add_argument("--to", dest="to_date", metavar="DATE", default="today",
                   help="the last day included (default: today)")  # fmt: skip
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(run=c.catalog_diff)


def _check_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from . import _commands as c

    p = sub.add_parser(
        "check", parents=[common], help="fail when a prompt file outgrows its model",
        description="Check prompt files against MiMo model limits, with the same rules as "
        "`route`. Exit 0 when all fit, 1 on any violation, 2 on usage errors or unreadable "
        "files (after checking the rest).",
    )  # fmt: skip
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or globs")
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--model", metavar="ID", help="every prompt must fit this model")
    targets.add_argument("--models", metavar="IDS", help="every prompt must fit all of these")
    p.add_argument(
        "--max-output",
        metavar="N",
        type=length,
        help="output tokens to reserve (default: the body's own budget, else 0)",
    )
    p.add_argument(
        "--margin",
        metavar="PCT",
        type=_percent,
        default=0.0,
        help="keep this share of every context window free (default 0)",
    )
    p.add_argument(
        "--include",
        metavar="PATTERN",
        action="append",
        default=[],
        help="check only matching files, gitignore-style (repeatable)",
    )
    p.add_argument(
        "--exclude",
        metavar="PATTERN",
        action="append",
        default=[],
        help="skip matching files, gitignore-style (repeatable)",
    )
    _format_option(p)
    p.add_argument(
        "--output",
        choices=["text", "json", "github", "junit", "sarif"],
        default="text",
        help="report format (default text)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="list passing files too, with exact counts and the model each was checked against",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="count every prompt with the tokenizer (slower; default: only near a limit)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="a JSON or YAML file that holds no prompt is an error, not skipped",
    )
    _rules_option(p)
    p.add_argument(
        "--jobs",
        metavar="N",
        type=_whole,
        help="worker processes (default: all cores for large inputs)",
    )
    p.set_defaults(run=c.check)  # fmt: skip


def _usage_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from . import _commands as c

    p = sub.add_parser(
        "usage", parents=[common], help="show each model's requests and tokens in the "
        "window of a shared Redis usage store",
        description="Each model's requests and tokens in the current window of an account's "
        "Redis usage store (RedisUsage) against its RPM and TPM, the models cooling down after "
        "a 429, and when each frees. Times are seconds from now by Redis's clock. Exit 0, or 2 "
        "when Redis cannot be read.",
    )  # fmt: skip
    p.add_argument("--redis", metavar="URL", required=True,
                   help="the store's Redis, e.g. redis://localhost:6379/0 (rediss:// for TLS, "
                   "unix:///path/redis.sock)")  # fmt: skip
    p.add_argument("--account", metavar="NAME", default="default",
                   help="the account the stores count for (default: default)")  # fmt: skip
    p.add_argument("--window", metavar="SECONDS", type=_seconds, default=60.0,
                   help="the window the stores use (default 60)")  # fmt: skip
    p.add_argument("--prefix", metavar="NAME", default="mimo",
                   help="the key prefix the stores use (default: mimo)")  # fmt: skip
    p.add_argument("--active", action="store_true",
                   help="only models with requests in the window or cooling down")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=c.usage)


def _serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from . import _commands as c
    from . import serve

    p = sub.add_parser(
        "serve", parents=[common], help="serve the library over HTTP, with a page to choose "
        "a model (pip install 'mimo-select[serve]')",
        description="An HTTP service for gateways in any language, and a page at / for "
        "people: POST /v1/route, /v1/recommend, /v1/explain and /v1/tokens, GET /v1/models; "
        "with live rate limits (--redis, or --memory-usage for one process) leases and "
        "/v1/usage. The API is described at /openapi.json; errors are RFC 9457 problem "
        "details. Exit 0 when stopped, 2 for bad options or data files.",
    )  # fmt: skip
    _rules_option(p)
    serve.add_arguments(p)
    p.set_defaults(run=c.serve)


def _rules_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", metavar="PATH", action="append", default=[],
                   help="a rules file layered over the defaults (repeatable; later files "
                   "win)")  # fmt: skip


def _api_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api", choices=["auto", "openai", "anthropic", "responses"], default="auto",
        help="the request body's shape (default: detected from its keys)",
    )  # fmt: skip


def _format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format-in", choices=["text", "json", "jsonl", "yaml"],
                   help="read every file as this format, whatever its extension")  # fmt: skip


def _media_option(p: argparse.ArgumentParser) -> None:
    from .media import MEDIA_SYNTAX

    p.add_argument("--media", metavar="KIND:SIZE", action="append", default=[],
                   help=f"the size of linked media ({MEDIA_SYNTAX}); the i-th given for a "
                   "kind sizes the i-th of that kind")  # fmt: skip


def _trait_options() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("request traits")
    g.add_argument("--input", metavar="KINDS", help="input modalities, e.g. text,image")
    g.add_argument("--output", metavar="KIND", help="output modality: text or speech")
    g.add_argument("--needs", metavar="FEATURES", help="e.g. function_call,structured_output")
    g.add_argument("--voice", metavar="HOW", help="preset, clone or design (implies speech)")
    g.add_argument("--latency", metavar="LEVEL", help="low or normal")
    g.add_argument("--scenario", metavar="ID", help=f"a quick-selection guide row: {_scenarios()}")
    g.add_argument(
        "--input-tokens",
        metavar="N",
        type=length,
        help="input length in tokens (128K = 131,072, as the catalog writes it)",
    )
    g.add_argument("--max-output", metavar="N", type=length, help="output budget in tokens")
    g.add_argument(
        "--media",
        metavar="KIND:SIZE",
        action="append",
        default=[],
        help="a media input by its size (image:1920x1080, audio:40m, video:90s@720p);"
        " with --prompt-file, sizes the body's linked media",
    )
    g.add_argument("--rpm", metavar="N", type=rate, help="planned requests per minute")
    g.add_argument(
        "--tpm", metavar="N", type=rate, help="planned tokens per minute (10M = 10,000,000)"
    )
    g.add_argument("--accounts", metavar="N", type=_whole, help="accounts the load spreads over")
    g.add_argument("--currency", metavar="CODE", help="price list for cost estimates: USD "
                   "(default) or CNY")  # fmt: skip
    g.add_argument("--max-cost", metavar="AMOUNT", type=_amount, help="the most one request "
                   "may cost, in --currency (a hard limit)")  # fmt: skip
    g.add_argument("--allow", metavar="IDS", help="only these models (comma-separated)")
    g.add_argument("--deny", metavar="IDS", help="never these models (comma-separated)")
    o = p.add_argument_group("rules and output")
    _rules_option(o)  # type: ignore[arg-type]
    o.add_argument(
        "--prompt-file",
        metavar="PATH",
        help="take the request from this file (text, or a .json/.yaml request body "
        "or messages list): its count, inputs, features and budget; the flags above "
        "override them",
    )
    o.add_argument(
        "--strict",
        action="store_true",
        help="reject a model the request may not "
        "fit (an uncertain count), not only one it surely does not",
    )
    o.add_argument("--json", action="store_true", help="print JSON")
    return p  # fmt: skip


def _scenarios() -> str:
    """The guide's scenario ids, for --help (the bundled catalog; a few milliseconds)."""
    from .catalog import load_catalog

    try:
        return ", ".join(g.scenario for g in load_catalog().guide)
    except MimoSelectError:  # pragma: no cover - the bundled catalog is checked by the tests
        return "see `mimo-select models`"


def _amount(text: str) -> float:
    try:
        value = float(text.lstrip("$¥"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount, got {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite amount >= 0, got {text}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 100, got {text}")
    return value


_SUFFIX = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def _number(text: str, units: dict[str, int]) -> int:
    match = _SUFFIX.match(text.strip().replace(",", "").replace("_", ""))
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a whole number (K and M suffixes allowed), got {text!r}"
        )
    value = float(match[1]) * units.get(match[2].upper(), 1)
    if not value.is_integer() or value > 1 << 62:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def length(text: str) -> int:
    """A token count as the catalog writes lengths: 128K = 131,072, 1M = 1,048,576."""
    from .catalog import load_catalog

    return _number(text, dict(load_catalog().length_units))


def rate(text: str) -> int:
    """A rate as the page writes RPM and TPM: 10M = 10,000,000."""
    return _number(text, {"K": 1_000, "M": 1_000_000})


def _seconds(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _whole(text: str) -> int:
    value = _number(text, {})
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(argv: Sequence[str] | None, stdout: TextIO, stderr: TextIO) -> int:
    """Run the command line; returns the exit code and never raises for bad input."""
    try:
        args = parse_args(argv)
        if args.version:
            from . import __version__

            stdout.write(f"{PROG} {__version__}\n")
            return EXIT_OK
        command: Command | None = getattr(args, "run", None)
        if command is None:
            build_parser().print_help(stderr)
            return EXIT_ERROR
        return command(args, stdout, stderr)
    except DataError as exc:
        stderr.writelines(f"{PROG}: error: {p}\n" for p in exc.problems)
        return EXIT_ERROR
    except MimoSelectError as exc:
        stderr.write(f"{PROG}: error: {exc}\n")
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
