"""`mimo-select serve`: the library over HTTP for gateways in any language, and a page for
choosing a model by clicking.

JSON endpoints mirror the library (route, recommend, explain, tokens, models, and with live
rate limits the leases and the usage view), described by one OpenAPI document at
`/openapi.json`; errors are RFC 9457 problem details with the library's messages and JSON
paths. The page at `/` is served by the same process, with no build step and no network.

This module is light on purpose: the command line calls `add_arguments` whenever it builds its
parser, so Starlette and uvicorn are imported only by `run` and by the first use of
`create_app` (which loads `_app`, where it is defined).

    python -m mimo_select.serve --port 8787       # the same as `mimo-select serve`
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mimo_select.cli import _seconds, _whole  # the CLI's value parsers, one definition
from mimo_select.errors import UsageError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mimo_select.engine import Selector
    from mimo_select.usage import AsyncRedisUsage, MemoryUsage

    from ._app import create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_BODY", "DEFAULT_PORT", "DEFAULT_TIMEOUT", "add_arguments",
           "create_app", "run"]  # fmt: skip

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY = 32 << 20  # bytes: 32 MiB, a 1M-token chat with room to spare
DEFAULT_TIMEOUT = 30.0  # seconds for a request body to arrive
ENV_CONFIG = "MIMO_SELECT_SERVE"  # the configuration handed to each worker process
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mimo-select serve` (the CLI adds --catalog and --rules)."""
    g = parser.add_argument_group("server")
    g.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on (default 127.0.0.1: this machine only; "
                   "0.0.0.0 for every interface)")  # fmt: skip
    g.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port (default 8787)")
    g.add_argument("--workers", metavar="N", type=_whole, default=1,
                   help="worker processes (default 1); with live rate limits, more than one "
                   "needs --redis")  # fmt: skip
    live = parser.add_argument_group("live rate limits (off unless --redis or --memory-usage)")
    live.add_argument("--redis", metavar="URL",
                      help="count every model's RPM and TPM in this Redis, shared by every "
                      "worker and replica (redis://HOST:PORT/DB, rediss://, unix://)")  # fmt: skip
    live.add_argument(
        "--memory-usage",
        action="store_true",
        help="count them in this process instead (one worker, one replica)",
    )
    live.add_argument(
        "--account",
        metavar="NAME",
        default="default",
        help="the account the counts are for (default: default)",
    )
    live.add_argument(
        "--window",
        metavar="SECONDS",
        type=_seconds,
        default=60.0,
        help="the sliding window (default 60; every replica must agree)",
    )
    live.add_argument(
        "--prefix", metavar="NAME", default="mimo", help="the Redis key prefix (default: mimo)"
    )
    live.add_argument("--on-error", choices=["open", "closed"], default="open",
                      help="when Redis fails: open routes on a local count (default), closed "
                      "answers 503")  # fmt: skip
    s = parser.add_argument_group("safety")
    s.add_argument("--api-key-env", metavar="NAME",
                   help="require the API key held in this environment variable on /v1/* "
                   "(Authorization: Bearer KEY or X-API-Key: KEY)")  # fmt: skip
    s.add_argument("--max-body", metavar="BYTES", type=_size, default=DEFAULT_MAX_BODY,
                   help="largest request body, K/M/G suffixes in binary units (default 32M); "
                   "413 above it")  # fmt: skip
    s.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="allow browser calls from this origin (repeatable; none by default)",
    )
    s.add_argument("--allowed-host", metavar="NAME", action="append", default=[],
                   help="a Host name to answer to (repeatable; default on loopback: "
                   "127.0.0.1, localhost, [::1]; elsewhere any)")  # fmt: skip
    s.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help="time a request body may take to arrive (default 30); 408 after",
    )
    s.add_argument(
        "--keep-alive",
        metavar="SECONDS",
        type=_seconds,
        default=5.0,
        help="close idle connections after this long (default 5)",
    )
    s.add_argument("--limit-concurrency", metavar="N", type=_whole, default=1000,
                   help="connections and requests per worker at once (default 1000); 503 "
                   "above it")  # fmt: skip
    o = parser.add_argument_group("logging")
    o.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                   default="info", help="default info")  # fmt: skip
    o.add_argument("--access-log", action="store_true", help="log every request (off by "
                   "default: a gateway in front logs them)")  # fmt: skip
    # POST /v1/echo: the bare stack, as benchmarks/bench_serve.py compares /v1/route with
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Check the options, load the catalog and rules once (to report problems before any
    worker starts), then serve until interrupted. Returns the exit code; raises `UsageError`
    for bad options and the library's errors for bad data files."""
    config = _config(args)
    try:
        import orjson  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise UsageError("`mimo-select serve` needs Starlette, uvicorn and orjson: "
                         "pip install 'mimo-select[serve]'") from None  # fmt: skip
    _selector(config)  # a bad catalog or rules file fails here, once, with file:line
    import json

    os.environ[ENV_CONFIG] = json.dumps(config)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    live = ("Redis " + config["redis_where"] if config["redis"] else
            "in this process" if config["memory_usage"] else "off")  # fmt: skip
    sys.stderr.write(
        f"mimo-select serve: http://{shown}:{args.port}/ (the page), /openapi.json (the API); "
        f"live rate limits: {live}; API key: "
        f"{'required' if config['api_key_env'] else 'none'}\n"
    )
    try:
        uvicorn.run(
            "mimo_select.serve:from_environment", factory=True, host=args.host, port=args.port,
            workers=args.workers, log_level=args.log_level, access_log=args.access_log,
            timeout_keep_alive=math.ceil(args.keep_alive),
            limit_concurrency=args.limit_concurrency, server_header=False, proxy_headers=False,
            timeout_graceful_shutdown=10,
        )  # fmt: skip
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind or start
        code = exc.code if isinstance(exc.code, int) else 1
        if code:
            sys.stderr.write(f"mimo-select serve: could not serve on {shown}:{args.port} "
                             "(see the log above)\n")  # fmt: skip
            return 2
    return 0


def __getattr__(name: str) -> Any:
    """`create_app`, imported from `_app` (and Starlette with it) when first asked for."""
    if name == "create_app":
        from ._app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_environment() -> Starlette:
    """The app for one worker, from the configuration `run` put in the environment."""
    import json

    from ._app import create_app

    config = json.loads(os.environ[ENV_CONFIG])
    selector = _selector(config)
    usage: MemoryUsage | AsyncRedisUsage | None = None
    if config["redis"]:
        from mimo_select.usage import AsyncRedisUsage

        usage = AsyncRedisUsage(
            config["redis"], account=config["account"], window=config["window"],
            catalog=selector.catalog, on_error=config["on_error"], prefix=config["prefix"],
        )  # fmt: skip
    elif config["memory_usage"]:
        from mimo_select.usage import MemoryUsage

        usage = MemoryUsage(window=config["window"], catalog=selector.catalog,
                            account=config["account"])  # fmt: skip
    key = os.environ.get(config["api_key_env"]) if config["api_key_env"] else None
    return create_app(
        selector, usage=usage, api_key=key, max_body=config["max_body"],
        cors_origins=config["cors_origins"], allowed_hosts=config["allowed_hosts"],
        timeout=config["timeout"], echo=config["echo"], close_usage=True, freeze=True,
        dated=lambda day: _selector(config, as_of=day),
    )  # fmt: skip


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """The options as plain data for the workers; every combination checked here."""
    if args.redis and args.memory_usage:
        raise UsageError("--redis and --memory-usage: give one of them")
    if args.memory_usage and args.workers > 1:
        raise UsageError(
            "--memory-usage counts in one process: with --workers "
            f"{args.workers}, each worker would count alone; use --redis URL"
        )
    where = None
    if args.redis:
        from mimo_select.errors import UsageValueError
        from mimo_select.usage import _describe

        try:
            where = _describe(args.redis, None)  # without user or password
        except UsageValueError as exc:
            raise UsageError(f"--redis: {exc.message}") from None
        try:
            import redis  # noqa: F401
        except ImportError:
            raise UsageError("--redis needs the redis package: pip install "
                             "'mimo-select[serve,redis]'") from None  # fmt: skip
    for name in ("account", "prefix"):
        value = getattr(args, name)
        if not value or "{" in value or "}" in value:
            raise UsageError(f"--{name}: a non-empty name without braces, not {value!r}")
    if args.api_key_env and not os.environ.get(args.api_key_env):
        raise UsageError(f"--api-key-env: the variable {args.api_key_env} is not set or empty")
    hosts: list[str] | None = list(args.allowed_host) or None
    if hosts is None and _is_loopback(args.host):
        hosts = sorted({*LOOPBACK_NAMES, args.host if ":" not in args.host else f"[{args.host}]"})
    catalog = getattr(args, "catalog", None)
    return {
        "catalog": os.path.abspath(catalog) if catalog else None,
        "rules": [os.path.abspath(r) for r in getattr(args, "rules", None) or []],
        "redis": args.redis, "redis_where": where, "memory_usage": args.memory_usage,
        "account": args.account, "window": args.window, "prefix": args.prefix,
        "on_error": args.on_error, "api_key_env": args.api_key_env, "max_body": args.max_body,
        "cors_origins": list(args.cors_origin), "allowed_hosts": hosts,
        "timeout": args.timeout, "echo": bool(getattr(args, "echo", False)),
        "as_of": _day(getattr(args, "as_of", None)),
    }  # fmt: skip


def _selector(config: dict[str, Any], as_of: Any = None) -> Selector:
    """The selector `config` names (on `as_of`, else on its own `--as-of` day)."""
    from mimo_select.engine import Selector

    as_of = config["as_of"] if as_of is None else as_of
    return Selector.from_files(config["catalog"], config["rules"], as_of=as_of)


def _day(as_of: Any) -> str | None:
    """`--as-of` as an ISO date ("today" is the day the server starts), so that every worker
    answers for the same day."""
    from mimo_select.updates import resolve_as_of

    return None if as_of is None else resolve_as_of(as_of).isoformat()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    value = _whole(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, not {text}")
    return value


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(text: str) -> int:
    """Bytes, with binary K, M and G suffixes (32M = 33,554,432)."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1:] if raw[-1:] in "KMG" else ""
    number = raw[: len(raw) - len(unit)].replace("_", "").replace(",", "")
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"expected a size in bytes (32M, 1G), got {text!r}")
    value = int(number) * _UNITS[unit]
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a size over 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mimo_select.serve`: `mimo-select serve` with the same options."""
    from mimo_select.cli import run

    return run(["serve", *(sys.argv[1:] if argv is None else argv)], sys.stdout, sys.stderr)
