"""Time `Selector.select` against a naive hand-written filter-and-sort, in the same run.

The baseline reads the same catalog and applies the same hard limits and preference weights
with plain `if` statements, so the ratio is the price of rules as data. Run:

    .venv/bin/python benchmarks/bench_select.py [--as-of today]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from mimo_select import Selector, Traits, load_catalog
from mimo_select.catalog import generation_key

MIX = [
    Traits(),
    Traits(input_tokens=2_000, max_output_tokens=1_000, features=["function_call", "streaming"]),
    Traits(scenario="multimodal_understanding", input_modalities=["text", "image"]),
    Traits(input_tokens=300_000, max_output_tokens=100_000),
    Traits(voice="clone"),
    Traits(voice="preset", input_tokens=500),
    Traits(latency="low", features=["structured_output"], expected_rpm=60),
    Traits(input_tokens=3_000_000),
    Traits(deny=["mimo-v2-flash"], allow=["mimo-v2-flash", "mimo-v2.5-pro", "mimo-v2-pro"]),
    Traits(scenario="complex_reasoning", features=["deep_thinking", "web_search"]),
]


def naive_selector(as_of: str | None = None) -> Callable[[Traits], list[str]]:  # noqa: PLR0915
    """The filter-and-sort a developer would write by hand for this catalog."""
    catalog = load_catalog(as_of=as_of)
    models = [
        (
            m.id, m.series, frozenset(m.capabilities), frozenset(m.input_modalities),
            frozenset(m.output_modalities), m.context_window.tokens, m.max_output.tokens,
            m.rpm, m.tpm, m.generation, m.status,
        )
        for m in catalog
    ]  # fmt: skip
    newest: dict[str, tuple[int, ...]] = {}
    for m in catalog:
        if m.status != "retired":
            newest[m.series] = max(newest.get(m.series, ()), generation_key(m.generation))
    guide = {g.scenario: list(g.models) for g in catalog.guide}
    prices = {m.id: catalog.price(m.id, "USD") for m in catalog}
    doubted = {m.id for m in catalog if catalog.reported(m.id)}  # unconfirmed reports

    def cost(mid: str, inp: int, out: int) -> float | None:
        price = prices[mid]
        if price is None:
            return None
        for tier in price.tiers:
            if tier.input_up_to is None or inp <= tier.input_up_to:
                return (inp * tier.input + out * tier.output) / 1e6
        return None

    def rows_in_force(t: Traits) -> list[str]:
        if t.scenario:
            return [t.scenario]
        matches = {
            "complex_reasoning": "deep_thinking" in t.features or (t.input_tokens or 0) > 131_072,
            "multimodal_understanding": not t.input_modalities <= {"text"},
            "high_concurrency": t.latency == "low",
            "tts_preset_voice": t.voice == "preset"
            or (t.output_modality == "speech" and t.voice is None),
            "tts_voice_clone": t.voice == "clone",
            "tts_voice_design": t.voice == "design",
        }
        return [row for row in guide if matches.get(row)]

    def select(t: Traits) -> list[str]:  # noqa: PLR0915 - one if per rule, as by hand
        inp = t.input_tokens if t.input_tokens is not None else 1000
        out = t.max_output_tokens if t.max_output_tokens is not None else 1000
        costs = {m[0]: cost(m[0], inp, out) for m in models if t.output_modality in m[4]}
        known = [c for c in costs.values() if c is not None]
        cheapest = min(known) if known else None
        ranked = []
        for i, (mid, series, caps, ins, outs, window, max_out, rpm, tpm, gen, status) in enumerate(
            models
        ):
            if not t.input_modalities <= ins or t.output_modality not in outs:
                continue
            if not t.features <= caps:
                continue
            if t.voice == "clone" and "voice_clone" not in caps:
                continue
            if t.voice == "design" and "voice_design" not in caps:
                continue
            if t.voice == "preset" and ("voice_clone" in caps or "voice_design" in caps):
                continue
            if (
                "speech_recognition" in caps
                and "text_generation" not in caps
                and ("speech_recognition" not in t.features)
            ):
                continue
            if status == "retired":
                continue
            if t.input_tokens is not None and t.input_tokens > window:
                continue
            if t.max_output_tokens is not None and t.max_output_tokens > max_out:
                continue
            if (
                t.input_tokens is not None
                and t.max_output_tokens is not None
                and t.input_tokens + t.max_output_tokens > window
            ):
                continue
            if (t.expected_rpm or t.expected_tpm) and (rpm is None or tpm is None):
                continue
            if t.expected_rpm is not None and rpm is not None and t.expected_rpm > rpm:
                continue
            if t.expected_tpm is not None and tpm is not None and t.expected_tpm > tpm:
                continue
            if t.allow is not None and mid not in t.allow:
                continue
            if mid in t.deny:
                continue
            score = 0.0
            points = [
                (len(guide[r]) - guide[r].index(mid)) / len(guide[r])
                for r in rows_in_force(t) if mid in guide[r]
            ]  # fmt: skip
            score += 100 * max(points, default=0.0)
            if "speech_recognition" in t.features and "speech_recognition" in caps:
                score += 100
            if status == "deprecated":
                score -= 20
            if mid in doubted:
                score -= 3
            if generation_key(gen) == newest.get(series):
                score += 5
            mine = costs.get(mid)
            if mine is not None and cheapest is not None:
                score += 10 * (1.0 if mine == cheapest else cheapest / mine)
            elif t.output_modality == "text" and series == "flash":
                score += 10
            ranked.append((-round(score, 6), i, mid))
        ranked.sort()
        return [mid for _, _, mid in ranked]

    return select


def afresh(selector: Selector) -> Callable[[Traits], Any]:
    """`select` as for traits never seen: what the selector remembers of equal traits and
    of equal kinds is forgotten before each call (two dict clears), so every rule is
    evaluated, as the baseline's every `if` is."""
    decided, kinds = selector._decided, selector._kind_hits

    def select(t: Traits) -> Any:
        decided.clear()
        kinds.clear()
        return selector.select(t)

    return select


def per_call(
    fn: Callable[[Any], Any], items: list[Any], rounds: int = 7, loops: int = 2000
) -> list[float]:
    """Median-ready samples: seconds per call over the whole mix, one sample per round."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(loops):
            for item in items:
                fn(item)
        samples.append((time.perf_counter() - start) / (loops * len(items)))
    return samples


def scaled_catalog(n: int) -> Any:
    """The bundled catalog grown to `n` models by copying its models under new ids."""
    from dataclasses import replace

    base = load_catalog()
    models = list(base.models)
    copy = 0
    while len(models) < n:
        m = base.models[copy % len(base.models)]
        models.append(replace(m, id=f"{m.id}-copy{copy}"))
        copy += 1
    return replace(base, models=tuple(models[:n]))


def scaling() -> None:
    """Build time and decision time as the catalog grows (the rules compile to bitmasks)."""
    from mimo_select.rules import compile_rules, load_rules

    print("\ncatalog size   build (ms)   select (us)   us per model   vs 9 models, per model")
    base_per_model = None
    for n in (9, 16, 32, 64):
        catalog = scaled_catalog(n)
        ruleset = load_rules()
        start = time.perf_counter()
        selector = Selector(catalog, compile_rules(ruleset, catalog))
        build = time.perf_counter() - start
        per = statistics.median(per_call(afresh(selector), MIX, rounds=5, loops=300))
        per_model = per / n
        base_per_model = base_per_model or per_model
        print(f"{n:12d}   {build * 1e3:10.1f}   {per * 1e6:11.1f}   {per_model * 1e6:12.2f}"
              f"   {per_model / base_per_model:8.2f}x")  # fmt: skip


def main() -> None:
    as_of = sys.argv[sys.argv.index("--as-of") + 1] if "--as-of" in sys.argv else None
    selector = Selector.default(as_of=as_of)
    naive = naive_selector(as_of)
    print(f"catalog: {selector.catalog.as_of or 'the model page as captured'}, "
          f"{len(selector.catalog)} models")  # fmt: skip
    for t in MIX:  # same answers, or the comparison means nothing
        assert [c.model for c in selector.select(t).ranked] == naive(t), t
    fast: list[float] = []
    base: list[float] = []
    seen: list[float] = []
    ratios = []
    first = afresh(selector)
    for _ in range(9):  # alternate them, so load on the machine hits all alike
        fast += per_call(first, MIX, rounds=1)
        base += per_call(naive, MIX, rounds=1)
        seen += per_call(selector.select, MIX, rounds=1)
        ratios.append(fast[-1] / base[-1])
    singles = sorted(statistics.median(per_call(first, [t], rounds=5, loops=2000)) for t in MIX)
    s_med, b_med = statistics.median(fast), statistics.median(base)
    print(f"trait sets in the mix:           {len(MIX)}")
    print(f"naive filter-and-sort, median:   {b_med * 1e6:7.2f} us per decision")
    print(f"Selector.select, median:         {s_med * 1e6:7.2f} us per decision (traits not seen)")
    print(f"  for traits seen before:        {statistics.median(seen) * 1e6:7.2f} us per decision"
          " (remembered)")  # fmt: skip
    print(
        f"ratio select / naive:            {statistics.median(ratios):7.2f}x  (target <= 3x;"
        f" median of {len(ratios)} alternating rounds, range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(
        f"median decision over trait sets: {statistics.median(singles) * 1e6:7.2f} us "
        f"(range {singles[0] * 1e6:.2f}-{singles[-1] * 1e6:.2f}; target < 20 us)"
    )
    scaling()


if __name__ == "__main__":
    main()
