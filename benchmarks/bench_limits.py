"""Live RPM/TPM limits under contention and their cost, next to `limits` and LiteLLM. Run:

    .venv/bin/python benchmarks/bench_limits.py [--quick]

About 80 s (`--quick`: about 45 s). Starts and stops its own redis-server (through
`tests/redis_server.py`, so the dev extra); `limits` and LiteLLM come from the bench extra,
and a part whose library is not importable says so and is skipped. Every request is an
OpenAI-style chat body with `max_tokens` 128, 256 or 512 and a user message of about 60 to 450
tokens; its answer uses a quarter to all of `max_tokens`. Five models qualify for these bodies,
each limited to RPM 20 and TPM 8,000 here, so that both limits bind (the notes count the
refusals by limit). Times are the host's wall clock, which Redis's TIME also reads here.

1. exactness: 4 processes x 8 threads send through `Selector.route(body, usage=RedisUsage)`
   with a 1 s window for 4 windows, settling each lease with the request's usage. Per model:
   the most requests and tokens in any 1 s interval against the limit, by Redis's clock (the
   store's time base) and by the host's clock read right after `route` returns (when a gateway
   would send), and how many decisions spilled over to it from the model ranked first.
   Senders re-fill a window the moment an entry leaves it, so any jitter in how late a thread
   resumes after its admission makes an exact store window look wider from the host; a store
   window a little longer than the platform's absorbs that (the run with 1 s + MARGIN).
2. overhead: `route(body, usage=MemoryUsage)` against `route(body)`, and
   `route(body, usage=RedisUsage)` against one bare PING to the same server plus `route(body)`,
   in the same run (huge limits and a short window, so no window fills); and the time Redis
   itself spends in the admit script (`INFO commandstats`).
3. side by side, 1, 2 and 4 replica processes of 8 concurrent senders each, on the same bodies
   and limits: `RedisUsage` through `route`; `limits`' moving-window Redis limiter (1 s is its
   smallest window) over the same ranking, one hit per limit (RPM, then TPM with the
   reservation) per candidate, atomic per key only; LiteLLM's Router with
   `usage-based-routing-v2` over one deployment per model on the same redis-server, mock
   responses carrying the same usage, no network (anything outside loopback is refused and
   counted). LiteLLM's windows are calendar minutes: its runs are timed to lie inside one, so
   its worst 60 s is all it admitted. Round trips are counted in the client (redis-py's sends;
   a pipeline is one); Redis commands from `INFO commandstats` after `CONFIG RESETSTAT`
   (they include the commands a Lua script runs).
4. clock skew: two replicas, one with its clock 0.3 s behind, fill the same limit in turn:
   `limits` stamps entries with the client's clock, `RedisUsage` with Redis's.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _litellm_limits
from _timing import median_time

from mimo_select import Selector
from mimo_select.catalog import load_catalog
from mimo_select.usage import MemoryUsage, RedisUsage
from tests.redis_server import RedisServer, find_redis_server

QUICK = "--quick" in sys.argv[1:]
RPM, TPM = 20, 8_000  # per model and window, for every store
WINDOW = 1.0  # ours and `limits` (whole seconds only); LiteLLM's is the calendar minute
THREADS = 8  # concurrent senders per replica: threads, or LiteLLM's coroutines
PROCESSES = 4  # replicas in the exactness run
REPLICAS = (1, 2, 4)
WINDOWS = 3 if QUICK else 4  # length of a run of ours or `limits`, in windows
LITELLM_SECONDS = 3.0 if QUICK else 6.0  # length of a LiteLLM run, inside one minute
LITELLM_WINDOW = 60.0
MARGIN = 0.1  # seconds added to the store's window in the margin run
SKEW = 0.3  # seconds one replica's clock runs behind in the skew demo
ROUNDS, BUDGET = (7, 0.04) if QUICK else (15, 0.05)  # overhead: rounds, seconds per median

SYSTEM = "You are a careful analyst. Answer in plain English and cite the figures you use."
SENTENCES = [
    "Revenue grew four percent in the third quarter, driven by services and licensing.",
    "Operating costs rose faster than expected because of new data-centre leases.",
    "The board wants a list of the three largest risks for the coming year.",
    "Customer churn fell to 2.1 percent after the support team was reorganised.",
    "Summarise the attached notes and keep every number exactly as written.",
    "Hardware margins shrank while subscription margins held steady at 61 percent.",
    "Explain the currency exposure in two short paragraphs for a general reader.",
    "The audit found no material weakness, but flagged two manual reconciliations.",
]

Job = tuple[dict[str, Any], int, int, str]  # body, its input tokens, max_tokens, first-ranked


def make_jobs(selector: Selector) -> tuple[list[str], list[Job]]:
    """48 chat bodies, their exact input counts and first-ranked models; the models they rank."""
    rng = random.Random(7)
    huge = {m: {"rpm": 10**9, "tpm": 10**15} for m in load_catalog().ids}
    probe = MemoryUsage(limits=huge)
    models: dict[str, None] = {}
    jobs = []
    for _ in range(48):
        budget = rng.choice((128, 256, 512))
        text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(2, 28)))
        body = {
            "model": "auto",
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
            "max_tokens": budget,
        }
        plain = selector.route(body)
        d = selector.route(body, usage=probe)
        assert d.lease is not None, d
        assert d.model == plain.model, (d, plain)
        models.update(dict.fromkeys((plain.model, *plain.fallbacks)))
        jobs.append((body, d.lease.tokens - budget, budget, d.model))
    return list(models), jobs


def has_limits() -> bool:
    try:
        import limits  # noqa: F401
    except ImportError:
        return False
    return True


# --- one run: replicas x senders ---------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    kind: str  # "ours" | "limits" | "litellm"
    replicas: int
    url: str
    port: int
    account: str  # also the LiteLLM deployments' id prefix: fresh counters per run
    window: float  # the store's window
    seconds: float
    selector: Selector
    models: list[str]
    jobs: list[Job]


class Row(NamedTuple):
    """One decision. Times are epoch seconds: the host's wall clock, which Redis's TIME reads
    here too. `rpm_at`/`tpm_at`: when the store counted it, by the store's own clock (Redis
    for ours; for `limits` the client clock it stamps each entry with; None for LiteLLM)."""

    model: str | None  # None: nothing admitted
    rpm_at: float | None
    tpm_at: float | None
    at: float  # the host clock right after the decision: when a gateway would send
    tokens: int  # what the request used: input plus completion
    spilled: bool  # admitted on a model other than the first-ranked


def _count_round_trips() -> Callable[[], int]:
    """Count redis-py's sends in this process (a pipeline is one send); returns the reader."""
    import redis.asyncio.connection as aconn
    import redis.connection as conn

    lock = threading.Lock()
    sent = [0]

    def wrap(original: Any) -> Any:
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                sent[0] += 1
            return original(self, *args, **kwargs)

        return send

    for cls in (conn.AbstractConnection, aconn.AbstractConnection):
        cls.send_packed_command = wrap(cls.send_packed_command)  # type: ignore[method-assign]
    return lambda: sent[0]


# (body, input tokens, max_tokens, completion tokens) -> (model or None, rpm_at, tpm_at,
# host time right after the decision, the limits that refused candidates)
Decide = Callable[[dict[str, Any], int, int, int], tuple[Any, ...]]


def _ours(run: Run) -> Decide:
    limits = {m: {"rpm": RPM, "tpm": TPM} for m in run.models}
    store = RedisUsage(run.url, account=run.account, limits=limits, window=run.window)

    def decide(body: dict[str, Any], prompt: int, budget: int, completion: int) -> Any:
        d = run.selector.route(body, usage=store)
        at = time.time()
        refused = [r.limit for r in d.refusals]
        if d.lease is None:
            return None, None, None, at, refused
        d.lease.settle({"prompt_tokens": prompt, "completion_tokens": completion})
        refused.append(f"lease from {d.lease.source}")  # "local": Redis was away (fallback)
        return d.model, d.lease.admitted_at, d.lease.admitted_at, at, refused

    return decide


def _limits(run: Run) -> Decide:
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(RedisStorage(run.url))
    rpm = RateLimitItemPerSecond(RPM, int(run.window), namespace="rpm")
    tpm = RateLimitItemPerSecond(TPM, int(run.window), namespace="tpm")
    # `limits` stamps each entry with time.time() in the client: keep this thread's last reading
    stamp, real = threading.local(), time.time

    def stamped() -> float:
        stamp.t = real()
        return stamp.t

    time.time = stamped  # type: ignore[assignment]  # in this worker process only

    def decide(body: dict[str, Any], prompt: int, budget: int, completion: int) -> Any:
        d = run.selector.route(body)
        refused = []
        for model in (d.model, *d.fallbacks):
            if not limiter.hit(rpm, run.account, model):
                refused.append("rpm")
                continue
            rpm_at = stamp.t
            if limiter.hit(tpm, run.account, model, cost=prompt + budget):
                return model, rpm_at, stamp.t, real(), refused
            refused.append("tpm")  # the RPM slot is spent and cannot be given back
        return None, None, None, real(), refused

    return decide


def _worker(run: Run, go: Any, out: Any) -> None:
    trips = _count_round_trips()
    refused_net = len(NETWORK)
    binding: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    rows: list[Row] = []
    if run.kind == "litellm":
        replica = _litellm_limits.Replica(run.port, run.account, run.models, RPM, TPM)
        out.put("ready")
        go.wait()
        start = trips()
        got, binding, errors = replica.run(run.jobs, THREADS, run.seconds)
        rows = [Row(model, None, None, at, tokens, False) for model, at, tokens in got]
    else:
        decide = (_ours if run.kind == "ours" else _limits)(run)
        lock = threading.Lock()
        out.put("ready")
        go.wait()
        start = trips()
        end = time.monotonic() + run.seconds

        def hammer() -> None:
            rng = random.Random()
            mine: list[Row] = []
            seen: Counter[str] = Counter()
            while time.monotonic() < end:
                body, prompt, budget, top = rng.choice(run.jobs)
                completion = rng.randint(budget // 4, budget)
                model, rpm_at, tpm_at, at, refused = decide(body, prompt, budget, completion)
                seen.update(refused)
                used = prompt + completion if model else 0
                spilled = model is not None and model != top
                mine.append(Row(model, rpm_at, tpm_at, at, used, spilled))
            with lock:
                rows.extend(mine)
                binding.update(seen)

        threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    out.put((rows, trips() - start, binding, errors, NETWORK[refused_net:]))


@dataclass
class Result:
    run: Run
    rows: list[Row] = field(default_factory=list)
    trips: int = 0
    commands: int = 0
    scripts: int = 0
    binding: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    network: list[str] = field(default_factory=list)
    minutes: int = 1  # calendar minutes the run touched (LiteLLM's windows)


def contend(run: Run, client: Any) -> Result:
    """Start the replicas, let them go at once, collect what each decided."""
    ctx = multiprocessing.get_context("fork")
    out, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(run, go, out)) for _ in range(run.replicas)]
    for p in procs:
        p.start()
    for _ in procs:
        out.get()
    if run.kind == "litellm":  # its counters are per calendar minute: stay inside one
        left = 60.0 - time.time() % 60.0
        if left < run.seconds + 1.5:
            time.sleep(left + 0.2)
    client.config_resetstat()
    wall = time.time()
    go.set()
    result = Result(run)
    for _ in procs:
        rows, trips, binding, errors, network = out.get()
        result.rows += rows
        result.trips += trips
        result.binding.update(binding)
        result.errors.update(errors)
        result.network += network
    for p in procs:
        p.join()
    last = max((r.at for r in result.rows), default=wall)
    result.minutes = int(last // 60) - int(wall // 60) + 1
    stats = client.info("commandstats")
    result.commands = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_config|resetstat")
    result.scripts = sum(stats.get(f"cmdstat_{k}", {}).get("calls", 0) for k in ("evalsha", "eval"))
    return result


def worst(points: list[tuple[float, int]], window: float) -> tuple[int, int]:
    """The most requests and the most tokens in any interval (t - window, t]."""
    points.sort()
    best_n = best_tok = 0
    i = tok = 0
    for j, (t, n) in enumerate(points):
        tok += n
        while points[i][0] <= t - window:
            tok -= points[i][1]
            i += 1
        best_n, best_tok = max(best_n, j - i + 1), max(best_tok, tok)
    return best_n, best_tok


def per_model(result: Result, window: float) -> dict[str, dict[str, Any]]:
    """Per model: admitted, spilled onto it, worst window by host clock and by store clock."""
    out = {}
    for model in result.run.models:
        got = [r for r in result.rows if r.model == model]
        counted = [r for r in got if r.rpm_at is not None and r.tpm_at is not None]
        out[model] = {
            "admitted": len(got),
            "spilled": sum(r.spilled for r in got),
            "host": worst([(r.at, r.tokens) for r in got], window),
            "store": (
                worst([(r.rpm_at, 1) for r in counted], window)[0],
                worst([(r.tpm_at, r.tokens) for r in counted], window)[1],
            )
            if counted
            else None,
        }
    return out


# --- tables -----------------------------------------------------------------------------------


def exactness_rows(result: Result) -> list[list[str]]:
    run = result.run
    name = f"RedisUsage, window {run.window:g} s"
    table = []
    for i, (model, m) in enumerate(per_model(result, WINDOW).items()):
        store = m["store"] or (0, 0)
        table.append(
            [
                name if i == 0 else "", model, f"{RPM}/{TPM:,}", str(m["admitted"]),
                f"{store[0]}/{store[1]:,}", f"{m['host'][0]}/{m['host'][1]:,}", str(m["spilled"]),
            ]
        )  # fmt: skip
    decisions = len(result.rows)
    refused = sum(1 for r in result.rows if r.model is None)
    spilled = sum(r.spilled for r in result.rows)
    table.append(["", f"{decisions:,} decisions", "", f"none fit: {refused:,}", "", "",
                  f"{spilled:,}"])  # fmt: skip
    return table


def exactness_notes(result: Result) -> str:
    """Which limits refused candidates, and how late the host saw its admissions."""
    binding = ", ".join(f"{k} {v:,}" for k, v in sorted(result.binding.items()) if " " not in k)
    sources = ", ".join(f"{v:,} {k}" for k, v in sorted(result.binding.items()) if " " in k)
    lags = sorted(r.at - r.rpm_at for r in result.rows if r.rpm_at is not None)
    ms = [f"{lags[round(q * (len(lags) - 1))] * 1e3:.1f}" for q in (0.5, 0.99, 1.0)]
    return (
        f"  window {result.run.window:g} s: {sources}; candidates refused by {binding}; "
        "host clock after "
        f"route minus Redis clock at admission: median {ms[0]} ms, p99 {ms[1]} ms, "
        f"max {ms[2]} ms"
    )


def _ratio(n: int, limit: int) -> str:
    return f"{n:,}/{limit:,} ({n / limit:.2f}x)"


EXACTNESS_HEAD = ["store", "model", "rpm/tpm", "admitted", "worst, Redis clock",
                  "worst, host clock", "spilled onto it"]  # fmt: skip
SIDE_HEAD = ["store", "replicas", "window", "decisions", "admitted", f"worst req (rpm {RPM})",
             f"worst tok (tpm {TPM:,})", "worst, store's clock", "spilled", "refused rpm/tpm",
             "round trips/decision", "commands/decision"]  # fmt: skip
NAMES = {"ours": "RedisUsage via route", "limits": "limits moving window",
         "litellm": "LiteLLM usage-based-v2"}  # fmt: skip


def side_by_side_row(result: Result) -> list[str]:
    run = result.run
    window = LITELLM_WINDOW if run.kind == "litellm" else WINDOW
    models = per_model(result, window)
    req = max(m["host"][0] for m in models.values())
    tok = max(m["host"][1] for m in models.values())
    stores = [m["store"] for m in models.values() if m["store"]]
    by_store = f"{max(n for n, _ in stores)}/{max(t for _, t in stores):,}" if stores else "-"
    refused = (
        "-" if run.kind == "litellm"
        else f"{result.binding['rpm']:,}/{result.binding['tpm']:,}"
    )  # fmt: skip
    decisions = len(result.rows)
    admitted = sum(1 for r in result.rows if r.model is not None)
    spilled = "-" if run.kind == "litellm" else f"{sum(r.spilled for r in result.rows):,}"
    trips = result.trips / decisions if decisions else 0.0
    cmds = result.commands / decisions if decisions else 0.0
    scripts = result.scripts / decisions if decisions else 0.0
    return [
        NAMES[run.kind], str(run.replicas), f"{window:g} s" + (" fixed" if run.kind == "litellm"
        else ""), f"{decisions:,}", f"{admitted:,}", _ratio(req, RPM), _ratio(tok, TPM), by_store,
        spilled, refused, f"{trips:.2f}", f"{cmds:.1f} ({scripts:.2f})",
    ]  # fmt: skip


def overhead(url: str, selector: Selector, models: list[str], job: Job) -> list[list[str]]:
    """Per call: the median over ROUNDS short interleaved rounds of its median time. Each ratio
    is the median of the rounds' own ratios, next to their range: a call and its baseline are
    timed within a second of each other, so the host's noise (it is shared) hits both alike."""
    import redis

    body, prompt, _, _ = job
    huge = {m: {"rpm": 10**9, "tpm": 10**15} for m in models}
    # a short window keeps as few entries in play as a real per-minute limit would
    memory = MemoryUsage(limits=huge, window=0.02)
    store = RedisUsage(url, account=uuid.uuid4().hex[:8], limits=huge, window=0.02)
    # PING through a client set up as RedisUsage sets up its own (its default timeout)
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    used = {"prompt_tokens": prompt, "completion_tokens": 100}
    candidates = [(m, prompt + 256) for m in models]

    def counted() -> None:  # what a lease reserves needs the exact count that ranking may skip
        count = selector.route(body).traits.tokens
        if count is not None and not count.exact and count.refine is not None:
            count.refine()

    def settled() -> None:
        d = selector.route(body, usage=store)
        assert d.lease is not None
        d.lease.settle(used)

    ping, route, redis_route = "PING round trip", "route(body)", "route(body, usage=RedisUsage)"
    calls: dict[str, Callable[[], object]] = {
        ping: client.ping,
        route: lambda: selector.route(body),
        "route(body) + its exact input count": counted,
        "route(body, usage=MemoryUsage)": lambda: selector.route(body, usage=memory),
        redis_route: lambda: selector.route(body, usage=store),
        "route(body, usage=RedisUsage) + lease.settle": settled,
        f"MemoryUsage.admit, {len(models)} candidates": lambda: memory.admit(candidates),
        f"RedisUsage.admit, {len(models)} candidates": lambda: store.admit(candidates),
    }
    if has_limits():
        from limits import RateLimitItemPerSecond
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter

        limiter = MovingWindowRateLimiter(RedisStorage(url))
        item = RateLimitItemPerSecond(10**6, 1)
        calls["limits moving-window hit, 1 limit"] = lambda: limiter.hit(item, "x")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            times[name].append(median_time(call, BUDGET))
    p, r = times[ping], times[route]
    bases = {
        "route": r,
        "PING + route": [a + b for a, b in zip(p, r, strict=True)],
        "2 PING + route": [2 * a + b for a, b in zip(p, r, strict=True)],
        "PING": p,
    }
    against = {
        route: ("route", ""),
        "route(body) + its exact input count": ("route", ""),
        "route(body, usage=MemoryUsage)": ("route", "<= 2x"),
        redis_route: ("PING + route", "<= 1.5x"),
        "route(body, usage=RedisUsage) + lease.settle": ("2 PING + route", ""),
        f"MemoryUsage.admit, {len(models)} candidates": ("route", ""),
    }
    table = []
    for name, series in times.items():
        base, target = against.get(name, ("PING", ""))
        ratios = sorted(t / b for t, b in zip(series, bases[base], strict=True))
        ratio, spread = (
            f"{statistics.median(ratios):.2f}x {base}",
            f"{ratios[0]:.2f}-{ratios[-1]:.2f}",
        )
        if name == ping:
            ratio = spread = "-"
        table.append([name, f"{statistics.median(series) * 1e6:,.0f} us", ratio, spread, target])
    # what Redis itself spends on one admit: the script's own time, by the server's count
    client.config_resetstat()
    for _ in range(1000):
        selector.route(body, usage=store)
    script = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
    table.append(["  of which Redis runs the admit script", f"{script:,.0f} us", "", "", ""])
    return table


def skew_demo(url: str) -> list[list[str]]:
    """Two replicas fill one model's RPM in turn; replica 1's clock runs SKEW seconds behind."""
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    model = load_catalog().ids[0]
    real = time.time
    rows = []
    for kind in ("ours", "limits"):
        account = uuid.uuid4().hex[:8]
        if kind == "ours":
            limits = {model: {"rpm": RPM, "tpm": TPM}}
            stores = [
                RedisUsage(url, account=account, limits=limits, window=WINDOW) for _ in range(2)
            ]

            def admit(replica: int, stores: list[RedisUsage] = stores) -> bool:
                return stores[replica].admit([(model, 1)]).model is not None
        else:
            limiter = MovingWindowRateLimiter(RedisStorage(url))
            item = RateLimitItemPerSecond(RPM, int(WINDOW), namespace="rpm")

            def admit(
                replica: int, limiter: Any = limiter, item: Any = item, account: str = account
            ) -> bool:
                return bool(limiter.hit(item, account, model))

        sent: list[float] = []

        def fill(replica: int, admit: Any = admit, sent: list[float] = sent) -> None:
            time.time = (lambda: real() - SKEW) if replica == 1 else real  # type: ignore[assignment]
            try:
                for _ in range(3 * RPM):
                    if admit(replica):
                        sent.append(time.monotonic())
            finally:
                time.time = real  # type: ignore[assignment]

        start = time.monotonic()
        fill(1)
        time.sleep(max(0.0, start + WINDOW - SKEW + 0.05 - time.monotonic()))
        fill(0)
        n, _ = worst([(t, 1) for t in sent], WINDOW)
        name = "RedisUsage" if kind == "ours" else "limits moving window"
        rows.append([name, f"{RPM}", str(len(sent)), f"{n}"])
    return rows


def print_table(
    title: str, head: list[str], rows: list[list[str]], notes: list[str] | None = None
) -> None:
    print(title)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for note in notes or []:
        print(note)
    print(flush=True)


NETWORK: list[str] = []  # connections outside loopback refused in this process


def main() -> None:
    import redis
    import redis.utils

    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server is not installed (set REDIS_SERVER)")
    _litellm_limits.guard_network(NETWORK)
    selector = Selector.default()
    models, jobs = make_jobs(selector)
    server = RedisServer(binary).start()
    client = redis.Redis.from_url(server.url)
    version = client.info("server")["redis_version"]
    hiredis = "with hiredis" if redis.utils.HIREDIS_AVAILABLE else "without hiredis"
    print(
        f"redis-server {version}, redis-py {redis.__version__} {hiredis}, "
        f"Python {sys.version.split()[0]}, "
        f"{'quick run, ' if QUICK else ''}{len(jobs)} bodies: inputs "
        f"{min(j[1] for j in jobs)}-{max(j[1] for j in jobs)} tokens, max_tokens 128/256/512; "
        f"models {', '.join(models)}; RPM {RPM}, TPM {TPM:,} each\n",
        flush=True,
    )

    def run(kind: str, replicas: int, window: float = WINDOW) -> Result:
        seconds = LITELLM_SECONDS if kind == "litellm" else WINDOWS * WINDOW
        spec = Run(kind, replicas, server.url, server.port, uuid.uuid4().hex[:8], window,
                   seconds, selector, models, jobs)  # fmt: skip
        return contend(spec, client)

    try:
        ours = {n: run("ours", n) for n in REPLICAS}
        margin = run("ours", PROCESSES, WINDOW + MARGIN)
        print_table(
            f"1. Exactness: {PROCESSES} processes x {THREADS} threads through "
            f"route(body, usage=RedisUsage), {WINDOWS} windows of {WINDOW:g} s; worst = most "
            f"requests/tokens in any {WINDOW:g} s",
            EXACTNESS_HEAD,
            exactness_rows(ours[PROCESSES]) + exactness_rows(margin),
            [exactness_notes(ours[PROCESSES]), exactness_notes(margin)],
        )
        print_table(
            f"2. Per decision: the median of {ROUNDS} interleaved rounds' medians",
            ["call", "median", "ratio (median of rounds)", "rounds' range", "target"],
            overhead(server.url, selector, models, jobs[0]),
        )
        results = list(ours.values())
        if has_limits():
            results += [run("limits", n) for n in REPLICAS]
        else:
            print("limits: skipped (the `limits` package is not importable here)\n")
        litellm = _litellm_limits.version()
        if litellm is None:
            print(
                "LiteLLM: skipped (litellm is not importable in this Python; run under a venv "
                "with the bench extra, e.g. /tmp/benchvenv/bin/python)\n",
                flush=True,
            )
        else:
            results += [run("litellm", n) for n in REPLICAS]
        print_table(
            f"3. Side by side: replicas x {THREADS} senders; worst = the most requests/tokens "
            "any one model took in any window, by the host clock right after the decision and "
            "by the store's own clock (Redis's for ours, the client stamps of `limits`); round "
            "trips counted in the client; commands from INFO commandstats (inside Lua too), "
            "EVAL/EVALSHA in brackets" + (f"; LiteLLM {litellm}" if litellm else ""),
            SIDE_HEAD,
            [side_by_side_row(r) for r in results],
        )
        for r in results:
            if r.run.kind == "litellm":
                kinds = ", ".join(f"{n:,} {k}" for k, n in r.binding.most_common())
                n = r.run.replicas
                print(f"LiteLLM, {n} replica{'s' * (n > 1)}, refusals (429s): {kinds or 'none'}")
                if r.minutes > 1:
                    print("  this run crossed a minute boundary: LiteLLM's counters restarted")
        for r in results:
            if r.errors:
                n = r.run.replicas
                print(f"{NAMES[r.run.kind]}, {n} replica{'s' * (n > 1)}: errors other than 429:")
                for text, n in r.errors.most_common():
                    print(f"  {n:,} x {text}")
        network = NETWORK + [n for r in results for n in r.network]
        print(
            f"Connections outside loopback refused: {len(network)}"
            + (f" ({', '.join(sorted(set(network)))})" if network else "")
            + "\n"
        )
        if has_limits():
            print_table(
                f"4. Clock skew: replica 1 ({SKEW:g} s behind) fills one model, replica 2 tries "
                f"{WINDOW - SKEW + 0.05:g} s later",
                ["store", "rpm", "admitted", f"worst in {WINDOW:g} s"],
                skew_demo(server.url),
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
