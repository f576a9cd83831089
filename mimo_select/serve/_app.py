"""The HTTP service: Starlette routes over one `Selector`, and the page.

Every handler reads its input with the library's readers (`Selector.read`, `Traits.from_json`,
the strict JSON reader of `files`), calls the library, and writes the library's JSON. What the
server adds per request is a size-limited body read, an optional constant-time API key check
and the response; work on bodies over `OFFLOAD_BYTES` runs in a thread so that one large body
does not hold up the small ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import date
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mimo_select.decisions import Decision
from mimo_select.errors import MimoSelectError, NoEligibleModelError, UsageValueError
from mimo_select.updates import resolve_as_of
from mimo_select.usage import (
    AsyncRedisUsage,
    MemoryUsage,
    awaited,
    usage_report,
    usage_tokens,
)

from . import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT
from ._body import flag, media_type, names, read_body, read_json
from ._leases import LeaseBook, end
from ._openapi import build_openapi
from ._problems import MEDIA_TYPE, ProblemError, dumps, from_library, problem_body

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from mimo_select.engine import Selector

__all__ = ["create_app"]

log = logging.getLogger("mimo_select.serve")

OFFLOAD_BYTES = 256 << 10  # bodies larger than this are parsed and decided in a thread

Store = MemoryUsage | AsyncRedisUsage

_API_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
_PAGE_HEADERS = {
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-cache",
}
_PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/assets/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/assets/style.css": ("style.css", "text/css; charset=utf-8"),
}
_EXPLAIN_KEYS = frozenset(("model", "traits"))
_LEASE_OPS = ("settle", "release", "throttled")
_LEASE_FIELD = frozenset(("lease",))


def _query(request: Request) -> dict[str, str]:
    """The query's parameters as a plain dict (the last of a repeated name wins)."""
    raw = request.scope["query_string"]
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status, {**_API_HEADERS, **headers} if headers else _API_HEADERS,
                    "application/json")  # fmt: skip


class _Day:
    """One catalog day: its selector and the catalog answers, built once."""

    def __init__(self, selector: Selector) -> None:
        catalog = selector.catalog
        self.selector = selector
        self.models = dumps([m.summary() for m in catalog])
        self.model = {m.id: dumps(catalog.describe(m.id)) for m in catalog}


_SHARED_PIECES = ("ranked", "rejected", "notices", "cautions")  # the selector remembers these
_PIECES = 4096  # written pieces kept; past that they are all forgotten and written again

_DAYS = 16  # catalog days other than the server's own kept built at once


class _Service:
    """What the handlers share: the selector, the usage store, and what is built once."""

    def __init__(
        self,
        selector: Selector,
        *,
        dated: Callable[[date], Selector] | None,
        usage: Store | None,
        api_key: str | None,
        max_body: int,
        timeout: float,
        echo: bool,
    ) -> None:
        from mimo_select import __version__

        self.selector = selector
        self._today = _Day(selector)
        self._dated = dated
        self._days: OrderedDict[date, _Day] = OrderedDict()
        self.usage = usage
        self.book = LeaseBook(usage, selector.catalog) if usage is not None else None
        self.max_body = max_body
        self.timeout = timeout
        self._key = hashlib.sha256(api_key.encode()).digest() if api_key else None
        live = None if usage is None else usage.source
        self.live = live
        self._openapi = dumps(
            build_openapi(
                selector,
                version=__version__,
                dated=dated is not None,
                live=live,
                api_key=self._key is not None,
                echo=echo,
                max_body=max_body,
            )
        )
        self._pieces: dict[int, tuple[Any, Any]] = {}
        self._page = {path: _page_file(name, kind) for path, (name, kind) in _PAGE_FILES.items()}

    # --- the plumbing every endpoint shares ----------------------------------------------

    def endpoint(
        self, handler: Callable[[Request], Any], *, guarded: bool = True
    ) -> Callable[[Request], Any]:
        key = self._key

        async def endpoint(request: Request) -> Response:
            try:
                if guarded and key is not None:
                    self._check_key(request, key)
                response: Response = await handler(request)
                return response
            except ProblemError as problem:
                return problem_response(problem, request.url.path)
            except MimoSelectError as exc:
                return problem_response(from_library(exc), request.url.path)

        return endpoint

    @staticmethod
    def _check_key(request: Request, key: bytes) -> None:
        headers = request.headers
        given = headers.get("x-api-key")
        if given is None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        # compared as digests: constant time, whatever the length given
        if given is None or not hmac.compare_digest(
            hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest(), key
        ):
            raise ProblemError(
                "unauthorized",
                "this server needs an API key: send `Authorization: Bearer KEY` or "
                "`X-API-Key: KEY`" + (" (the key given is wrong)" if given is not None else ""),
                headers={"www-authenticate": 'Bearer realm="mimo-select"'},
            )

    async def body(self, request: Request, *, text_ok: bool = False) -> tuple[Any, int]:
        """The request's JSON (or text, where `text_ok`) and its size in bytes."""
        raw = await read_body(request.receive, request.headers, self.max_body, self.timeout)
        kind = media_type(request.headers)
        if len(raw) > OFFLOAD_BYTES:
            return await asyncio.to_thread(read_json, raw, kind, text_ok=text_ok), len(raw)
        return read_json(raw, kind, text_ok=text_ok), len(raw)

    async def day(self, query: Mapping[str, str]) -> _Day:
        """The catalog day the query asks for (`?as_of=`), else the server's own; a day is
        built once, in a thread, and the last few are kept."""
        asked = query.get("as_of")
        if not asked:
            return self._today
        try:
            day = resolve_as_of(asked)
            build = self._dated
            if build is None:
                raise ProblemError(
                    "invalid-parameter",
                    "as_of: this server answers for its own catalog only (its app was given "
                    "a selector and no way to build another day's)",
                    where="as_of",
                )
            known = self._days.get(day)
            if known is not None:
                self._days.move_to_end(day)
                return known
            built = await asyncio.to_thread(lambda: _Day(build(day)))
        except MimoSelectError as exc:
            raise ProblemError("invalid-parameter", f"as_of: {exc.message}",
                               where="as_of") from None  # fmt: skip
        self._days[day] = built
        while len(self._days) > _DAYS:
            self._days.popitem(last=False)
        return built

    def decision_json(
        self, decision: Decision, exact: bool, fields: frozenset[str] | None = None
    ) -> dict[str, Any]:
        if fields is not None and decision.lease is not None:
            fields |= _LEASE_FIELD  # a lease taken is always handed over, to be settled
        out = decision.shared_json(exact_count=exact, fields=fields)
        written = self._written
        for name in _SHARED_PIECES:
            piece = out.get(name)
            if piece:
                out[name] = written(piece)
        if decision.lease is not None and self.book is not None:
            out["lease"]["id"] = self.book.hold(decision.lease)
        return out

    def _written(self, piece: Any) -> Any:
        """A shared piece of decisions (the selector's remembered lists, never changed) as
        written JSON from the second time it is seen: later decisions copy its bytes instead
        of walking it again."""
        pieces = self._pieces
        known = pieces.get(id(piece))
        if known is not None and known[0] is piece:  # held here, so its id is not reused
            if known[1] is None:
                known = pieces[id(piece)] = (piece, orjson.Fragment(dumps(piece)))
            return known[1]
        if len(pieces) >= _PIECES:
            pieces.clear()
        pieces[id(piece)] = (piece, None)
        return piece

    # --- endpoints -----------------------------------------------------------------------

    async def route(self, request: Request) -> Response:
        query = _query(request)
        apply, fallback = flag(query, "apply"), flag(query, "fallback")
        strict, exact = flag(query, "strict"), flag(query, "exact")
        fields = names(query, "fields", Decision.FIELDS)
        api = query.get("api", "auto")
        usage = self.usage if flag(query, "reserve", True) else None
        data, size = await self.body(request)
        selector = (await self.day(query)).selector
        if size > OFFLOAD_BYTES:  # read and count in a thread; admit (cheap) in the loop
            read = await asyncio.to_thread(selector.read, data, api=api)
            if isinstance(usage, AsyncRedisUsage):  # count in the thread: the memo keeps it
                await asyncio.to_thread(selector.select, read.traits, model=read.model,
                                        strict=strict)  # fmt: skip
            if usage is None or isinstance(usage, MemoryUsage):
                decision = await asyncio.to_thread(
                    selector.select, read.traits, model=read.model, strict=strict, usage=usage
                )
            else:
                decision = await selector.aselect(read.traits, model=read.model, strict=strict,
                                                  usage=usage)  # fmt: skip
        else:
            decision = await selector.aroute(data, api=api, strict=strict, usage=usage)
        if not apply:
            if size > OFFLOAD_BYTES:
                out = await asyncio.to_thread(self.decision_json, decision, exact, fields)
            else:
                out = self.decision_json(decision, exact, fields)
            return _json(dumps(out))
        try:
            applied = decision.apply(data, fallback=fallback)
        except MimoSelectError as exc:
            if decision.lease is not None:  # admitted for a body that is not sent
                await end(decision.lease, "release", None)
            if isinstance(exc, NoEligibleModelError):
                raise self._refused(exc, decision, exact) from None
            raise
        headers = {"x-mimo-select-model": applied["model"],
                   "x-mimo-select-fallbacks": ",".join(decision.fallbacks)}  # fmt: skip
        if decision.lease is not None and self.book is not None:
            headers["x-mimo-select-lease"] = self.book.hold(decision.lease)
        if decision.requested is not None and applied["model"] != decision.requested:
            headers["x-mimo-select-switched-from"] = decision.requested
        return _json(dumps(applied), headers=headers)

    def _refused(self, exc: NoEligibleModelError, decision: Decision, exact: bool) -> ProblemError:
        """Why `apply` gives no body, said for HTTP as the CLI says it for flags: 429 when
        only live rate limits stand in the way, else 422."""
        out = decision.shared_json(exact_count=exact)
        message = exc.message
        if decision.requested is not None and decision.requested_fits is False:
            why = decision.rejection(decision.requested)
            reason = why.violations[0].message if why and why.violations else "it is rejected"
            then = (
                f"; {decision.model} fits (?fallback=true switches to it)" if decision.model else ""
            )
            message = f"the body asks for {decision.requested}, which does not fit ({reason}){then}"
        live = _only_live(decision)
        if live is not None:
            wait = max(1, math.ceil(live))
            return ProblemError(
                "rate-limited", message, where=exc.where, pointer="/model",
                headers={"retry-after": str(wait)},
                extra={"error": type(exc).__name__, "retry_after": round(live, 3),
                       "decision": out},
            )  # fmt: skip
        return ProblemError(
            "no-eligible-model",
            message,
            where=exc.where,
            pointer="/model",
            extra={"error": type(exc).__name__, "decision": out},
        )

    async def recommend(self, request: Request) -> Response:
        query = _query(request)
        strict, exact = flag(query, "strict"), flag(query, "exact")
        fields = names(query, "fields", Decision.FIELDS)
        data, _ = await self.body(request)
        traits = _traits(data, "")
        decision = (await self.day(query)).selector.select(traits, strict=strict)
        return _json(dumps(self.decision_json(decision, exact, fields)))

    async def explain(self, request: Request) -> Response:
        query = _query(request)
        strict = flag(query, "strict")
        data, _ = await self.body(request)
        if not isinstance(data, dict):
            raise ProblemError(
                "invalid-request", 'expected an object: {"model": ID, "traits": {...}}', pointer=""
            )
        for key in data:
            if key not in _EXPLAIN_KEYS:
                raise ProblemError(
                    "invalid-request",
                    f"unknown key {key!r}; known: model, traits",
                    pointer=f"/{key}",
                )
        model = data.get("model")
        if not isinstance(model, str):
            raise ProblemError(
                "invalid-request",
                "`model` must be a model id (text)",
                where="model",
                pointer="/model",
            )
        traits = _traits(data.get("traits", {}), "/traits")
        try:
            explanation = (await self.day(query)).selector.explain(model, traits, strict=strict)
        except MimoSelectError as exc:
            if exc.where is None:  # the model to explain
                problem = from_library(exc)
                problem.where, problem.pointer = "model", "/model"
                raise problem from None
            raise from_library(exc, base="/traits") from None
        return _json(dumps(explanation.to_json()))

    async def tokens(self, request: Request) -> Response:
        query = _query(request)
        model, api = query.get("model"), query.get("api", "auto")
        data, size = await self.body(request, text_ok=True)
        selector = self.selector

        def count() -> bytes:
            read = selector.read(data, api=api, model=model)
            return dumps({"api": read.api, **read.count().to_json()})

        if size > OFFLOAD_BYTES:
            return _json(await asyncio.to_thread(count))
        return _json(count())

    async def models(self, request: Request) -> Response:
        return _json((await self.day(_query(request))).models)

    async def one_model(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        day = await self.day(_query(request))
        body = day.model.get(model_id)
        if body is None:
            try:
                day.selector.catalog.model(model_id)  # raises with did-you-mean
            except MimoSelectError as exc:
                raise ProblemError(
                    "unknown-model",
                    exc.message,
                    where="model_id",
                    extra={"error": type(exc).__name__},
                ) from None
        assert body is not None
        return _json(body)

    async def lease(self, request: Request) -> Response:
        op = request.path_params["op"]
        if self.book is None or op not in _LEASE_OPS:
            raise self._no_live()
        handle = request.path_params["lease_id"]
        lease = self.book.find(handle)
        value: Any = None
        raw = await read_body(request.receive, request.headers, self.max_body, self.timeout)
        if op == "settle":
            value = read_json(raw, media_type(request.headers))
            if isinstance(value, dict) and isinstance(value.get("usage"), dict):
                value = value["usage"]  # the whole response: its usage object
        elif op == "throttled" and raw.strip():
            body = read_json(raw, media_type(request.headers))
            if not isinstance(body, dict) or set(body) - {"retry_after"}:
                raise ProblemError(
                    "invalid-request", 'expected {"retry_after": SECONDS} or no body', pointer=""
                )
            value = body.get("retry_after")
        before = lease.state
        try:
            await end(lease, op, value)
        except UsageValueError as exc:
            where = "/retry_after" if op == "throttled" else ""
            raise ProblemError(
                "invalid-usage",
                exc.message,
                where=exc.where,
                pointer=where,
                extra={"error": type(exc).__name__},
            ) from None
        tokens = lease.tokens
        if op == "settle" and before == "open" and lease.state == "settled":
            tokens = usage_tokens(value)
        out = {"lease": handle, "model": lease.model, "state": lease.state, "tokens": tokens}
        return _json(dumps(out))

    async def usage_view(self, request: Request) -> Response:
        store = self.usage
        if store is None:
            raise self._no_live()
        active = flag(_query(request), "active")
        rows = await awaited(store.usage())
        if active:
            rows = tuple(u for u in rows if u.active)
        return _json(dumps(usage_report(store, rows, self.selector.catalog)))

    def _no_live(self) -> ProblemError:
        return ProblemError(
            "live-limits-off",
            "this server tracks no live rate limits: start it with --redis URL (or "
            "--memory-usage for one worker)" if self.book is None else
            f"no such lease operation; use one of {', '.join(_LEASE_OPS)}",
        )  # fmt: skip

    async def healthz(self, request: Request) -> Response:
        return _json(b'{"status":"ok"}')

    async def readyz(self, request: Request) -> Response:
        store = self.usage
        if isinstance(store, AsyncRedisUsage):
            first = self.selector.catalog.models[0].id
            try:
                rows = await store.usage([first])
            except MimoSelectError as exc:
                raise ProblemError("not-ready", f"Redis does not answer: {exc.message}") from None
            if rows[0].source != "redis":
                raise ProblemError(
                    "not-ready",
                    "Redis does not answer: routing on a local count "
                    "(on_error='open') until it does",
                )
        out = {"status": "ready", "models": len(self.selector.catalog), "usage": self.live}
        return _json(dumps(out))

    async def openapi_json(self, request: Request) -> Response:
        return _json(self._openapi)

    async def echo(self, request: Request) -> Response:
        data, _ = await self.body(request)
        return _json(dumps(data))

    async def page_file(self, request: Request) -> Response:
        body, kind, etag = self._page[request.url.path]
        headers = {**_PAGE_HEADERS, "etag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, headers)
        return Response(body, 200, headers, kind)


def _traits(data: Any, base: str) -> Any:
    from mimo_select.traits import Traits

    try:
        return Traits.from_json(data)
    except MimoSelectError as exc:  # a bad trait, or an unknown model in allow or deny
        raise from_library(exc, base=base) from None


def _only_live(decision: Decision) -> float | None:
    """Seconds to wait when only live rate limits keep the body from a model, else None."""
    if decision.model is None and decision.retry_after is not None:
        return decision.retry_after
    if decision.requested is not None and decision.requested_fits is False:
        why = decision.rejection(decision.requested)
        if why and why.violations and all(v.rule.endswith("-live") for v in why.violations):
            refusal = next((r for r in decision.refusals if r.model == decision.requested), None)
            if refusal is not None and math.isfinite(refusal.frees_in):
                return refusal.frees_in
    return None


def _page_file(name: str, kind: str) -> tuple[bytes, str, str]:
    body = files("mimo_select").joinpath("web", name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return body, kind, etag


def problem_response(problem: ProblemError, instance: str | None) -> Response:
    headers = {**_API_HEADERS, **problem.headers}
    return Response(problem_body(problem, instance), problem.status, headers, MEDIA_TYPE)


class _Hosts:
    """Refuses requests whose Host is not one of `hosts` (any port): a page elsewhere that
    rebinds its DNS name to 127.0.0.1 cannot reach a loopback server through its own name."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = ""
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value.decode("latin-1").lower()
                    break
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.hosts:
                served = ", ".join(sorted(self.hosts))
                problem = ProblemError(
                    "unknown-host",
                    f"unknown host {host!r}: this server answers to {served} (--allowed-host)",
                )
                await problem_response(problem, None)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    selector: Selector | None = None,
    *,
    usage: MemoryUsage | AsyncRedisUsage | None = None,
    api_key: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    cors_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    echo: bool = False,
    close_usage: bool = False,
    freeze: bool = False,
    dated: Callable[[date], Selector] | None = None,
) -> Starlette:
    """The ASGI app.

    `selector` defaults to `Selector.default()`. `usage` turns live rate limits on: a
    `MemoryUsage` (one process) or an `AsyncRedisUsage` (shared; a threaded `RedisUsage`
    would block the event loop); `close_usage` closes it when the app stops. `api_key`
    guards `/v1/*` (not the page, `/openapi.json` or the health probes). `cors_origins`:
    none by default. `allowed_hosts`: the Host names served (any port); None serves any.
    `echo` adds `POST /v1/echo`, the benchmarks' baseline. `freeze` (a server process's own
    app) moves what is loaded at start out of the cycle collector's reach (`gc.freeze`).
    `dated` builds the selector for another catalog day (`?as_of=`); with the default
    selector it is the bundled catalog's, otherwise without it the server answers for its
    own day only.
    Raises `UsageValueError` for a store it cannot serve from.
    """
    from mimo_select.engine import Selector as _Selector

    if selector is None:
        selector = _Selector.default()
        dated = dated or _bundled_day
    if usage is not None and not isinstance(usage, MemoryUsage | AsyncRedisUsage):
        raise UsageValueError(
            f"the server needs a MemoryUsage or an AsyncRedisUsage, not {type(usage).__name__}"
            " (a threaded RedisUsage would block the event loop)",
            where="usage",
        )
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise UsageValueError(f"max_body must be bytes > 0, not {max_body!r}", where="max_body")
    service = _Service(selector, dated=dated, usage=usage, api_key=api_key, max_body=max_body,
                       timeout=timeout, echo=echo)  # fmt: skip
    ep = service.endpoint
    routes = [
        Route("/v1/route", ep(service.route), methods=["POST"]),
        Route("/v1/recommend", ep(service.recommend), methods=["POST"]),
        Route("/v1/explain", ep(service.explain), methods=["POST"]),
        Route("/v1/tokens", ep(service.tokens), methods=["POST"]),
        Route("/v1/models", ep(service.models), methods=["GET"]),
        Route("/v1/models/{model_id:str}", ep(service.one_model), methods=["GET"]),
        Route("/v1/leases/{lease_id:str}/{op:str}", ep(service.lease), methods=["POST"]),
        Route("/v1/usage", ep(service.usage_view), methods=["GET"]),
        Route("/healthz", ep(service.healthz, guarded=False), methods=["GET"]),
        Route("/readyz", ep(service.readyz, guarded=False), methods=["GET"]),
        Route("/openapi.json", ep(service.openapi_json, guarded=False), methods=["GET"]),
    ]
    routes += [Route(path, service.page_file, methods=["GET"]) for path in _PAGE_FILES]
    if echo:
        routes.append(Route("/v1/echo", ep(service.echo), methods=["POST"]))
    middleware = []
    origins = list(cors_origins)
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-api-key"],
                expose_headers=[
                    "x-mimo-select-model",
                    "x-mimo-select-lease",
                    "x-mimo-select-fallbacks",
                    "x-mimo-select-switched-from",
                    "retry-after",
                ],
                max_age=600,
            )
        )
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(_Hosts, hosts=allowed_hosts))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from mimo_select.tokens import count_tokens

        await asyncio.to_thread(count_tokens, "warm")  # load the tokenizer before traffic
        if freeze:
            # what is loaded before traffic (catalog, rules, tokenizer, the stack) lives as
            # long as the process: the cycle collector need not walk it on every full pass
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if close_usage and isinstance(usage, AsyncRedisUsage):
                await usage.aclose()

    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_problem,
            Exception: _internal_problem,
        },
        lifespan=lifespan,
    )


def _bundled_day(day: date) -> Selector:
    from mimo_select.engine import Selector

    return Selector.default(as_of=day)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        problem = ProblemError(
            "method-not-allowed",
            f"{request.method} is not allowed here; use {allowed}",
            headers={"allow": allowed},
        )
    else:
        problem = ProblemError(
            "not-found", f"no such path: {request.url.path}; the API is described at /openapi.json"
        )
    return problem_response(problem, request.url.path)


async def _internal_problem(request: Request, exc: Exception) -> Response:
    log.error("unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
    problem = ProblemError("internal", "an unexpected error; the server log has the details")
    return problem_response(problem, request.url.path)
