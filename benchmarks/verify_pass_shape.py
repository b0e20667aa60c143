"""Tokens per pass of the verifying modes when every pass has one shape (a GPU's `fixed_shape` passes), at a pass of
k_max tokens and at a larger one: pending proposals take the places of masks in a one-shape pass, so a larger
pass gives them room. Eff. k does not depend on the machine, so this CPU measures what an H200 would see.

    python benchmarks/verify_pass_shape.py -m MODEL.gguf --n 30 --json docs/results/verify_pass_shape.json

A pass of k_max > the trained k_max runs masks beyond the trained ones; the verifying modes only propose rows that
clear the proposal threshold, so untrained rows cost a row, not quality.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtp_edge import MTPModel

RULES = [("lossless", {"mode": "lossless"}), ("confadapt_verify 0.9", {"mode": "confadapt_verify"}),
         ("confadapt 0.9", {"mode": "confadapt"})]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--data", default="../shared/data/gsm8k/test.jsonl")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--passes", default="6,8", help="one-shape pass sizes (k_max) to compare")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    model = MTPModel(args.model, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads)
    questions = [json.loads(line)["question"] for line in Path(args.data).read_text().splitlines()[:args.n]]
    prompts = [model.tokenize(model.format_chat([{"role": "user", "content": q}])) for q in questions]
    rows = {}
    print("| rule | one-shape pass | Eff. k |\n|---|---|---|")
    for label, options in RULES:
        for size in (int(s) for s in args.passes.split(",")):
            tokens = passes = 0
            for ids in prompts:
                s = model.generate(ids, args.max_tokens, k_max=size, fixed_shape=True, reuse_cache=False,
                                   track_agreement=False, **options).stats
                tokens, passes = tokens + s.tokens, passes + s.passes
            rows[f"{label}, pass of {size}"] = {"eff_k": tokens / passes, "tokens": tokens, "passes": passes}
            print(f"| {label} | {size} | {tokens / passes:.2f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
