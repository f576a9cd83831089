"""`mimo-select check` over a large generated tree: files/s and MB/s, serial and parallel.

    .venv/bin/python benchmarks/bench_check.py [--files 10000] [--mb 200]

Generates prompt files (text, Markdown, JSON bodies) in a temporary folder, then checks them
twice per target: against the default targets (the byte bound settles nearly every file) and
against `mimo-v2.5-tts` (8K window: most files must be tokenized).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from mimo_select.catalog import load_catalog
from mimo_select.check import CheckOptions, Target, check_paths, discover


def generate(root: Path, files: int, megabytes: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    words = [
        "the",
        "model",
        "reads",
        "every",
        "request",
        "and",
        "picks",
        "the",
        "window",
        "that",
        "fits",
        "a",
        "prompt",
        "with",
        "tools",
        "images",
        "and",
        "long",
        "documents",
        "in",
        "many",
        "languages",
        "模型",
        "上下文",
        "窗口",
    ]
    average = megabytes * 1_000_000 // files
    total = 0
    for i in range(files):
        size = max(200, int(rng.expovariate(1 / average)))
        text = " ".join(rng.choice(words) for _ in range(size // 5))
        folder = root / f"team{i % 20}" / f"area{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = i % 3
        if kind == 0:
            path, data = folder / f"p{i}.txt", text
        elif kind == 1:
            path, data = folder / f"p{i}.md", f"# Prompt {i}\n\n{text}\n"
        else:
            body = {"messages": [{"role": "system", "content": "Be careful."},
                                 {"role": "user", "content": text}], "max_tokens": 1024}  # fmt: skip
            path, data = folder / f"p{i}.json", json.dumps(body)
        path.write_text(data)
        total += len(data.encode())
    return total


def options(model: str | None) -> CheckOptions:
    catalog = load_catalog()
    by_id = {m.id: Target(m.id, m.context_window.tokens, m.max_output.tokens) for m in catalog}
    text_models = sorted((by_id[m.id] for m in catalog if "text" in m.output_modalities),
                         key=lambda t: t.context_window)  # fmt: skip
    return CheckOptions(
        targets=(by_id[model],) if model else (), choices=tuple(text_models), by_id=by_id
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mimo-check-bench-"))
    try:
        start = time.perf_counter()
        total = generate(root, args.files, args.mb)
        print(
            f"generated {args.files:,} files, {total / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s"
        )
        files = discover([str(root)])
        for label, model in (("default targets", None), ("--model mimo-v2.5-tts", "mimo-v2.5-tts")):
            for jobs in (1, None):
                start = time.perf_counter()
                report = check_paths(files, options(model), jobs=jobs)
                elapsed = time.perf_counter() - start
                mode = "serial  " if jobs == 1 else "parallel"
                print(
                    f"{label:22} {mode} {elapsed:6.2f} s  {len(files) / elapsed:8.0f} files/s"
                    f"  {total / 1e6 / elapsed:6.1f} MB/s  ({len(report.failed)} failed)"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
