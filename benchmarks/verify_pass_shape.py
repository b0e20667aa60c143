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


def rules(propose_taus: list[float]) -> list[tuple[str, dict]]:
    """The verifying modes at each proposal threshold (lossless's tau is its proposal threshold), then ConfAdapt."""
    out = []
    for p in propose_taus:
        tag = "" if p == 0.5 else f", propose {p:g}"  # 0.5: the runtime's default (LOSSLESS_TAU)
        out += [(f"lossless{tag}", {"mode": "lossless", "tau": p}),
                (f"confadapt_verify 0.9{tag}", {"mode": "confadapt_verify", "propose_tau": p})]
    return out + [("confadapt 0.9", {"mode": "confadapt"})]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--data", default="../shared/data/gsm8k/test.jsonl")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--passes", default="6,8", help="one-shape pass sizes (k_max) to compare")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--propose-taus", default="0.5",
                    help="proposal thresholds of the verifying modes, comma-separated (default 0.5, the runtime's)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    model = MTPModel(args.model, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads)
    questions = [json.loads(line)["question"] for line in Path(args.data).read_text().splitlines()[:args.n]]
    prompts = [model.tokenize(model.format_chat([{"role": "user", "content": q}])) for q in questions]
    rows = {}
    print("| rule | one-shape pass | Eff. k |\n|---|---|---|")
    for label, options in rules([float(t) for t in args.propose_taus.split(",")]):
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
