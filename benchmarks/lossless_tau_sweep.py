"""Tokens per pass of lossless mode against its proposal threshold tau (ConfAdapt's beside it), no timing.

In lossless mode a mask row at or above tau only proposes its token; the next pass verifies it, so a wrong proposal
costs a row of compute, never output quality, and the best threshold is lower than ConfAdapt's. This measures it:

    python benchmarks/lossless_tau_sweep.py -m MODEL.gguf --data ../shared/data/gsm8k/test.jsonl --n 8 \
        --max-tokens 128 --threads 2 --json docs/results/lossless_tau_sweep_cpu_q8.json

`same_as_plain` compares with mtp-edge at k_max = 1 (one-token passes): on quantized files batched and one-token
kernels round differently (MEASURED.md), so lossless output can differ there; on F16/F32 it is exact (tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CHAT = ["Can you suggest a simple dinner I can cook in 20 minutes?", "What are three tips for sleeping better?",
        "Explain what a compound interest is, in plain words.", "Give me a packing list for a weekend hiking trip."]
LOSSLESS_TAUS = (0.9, 0.7, 0.5, 0.3, 0.1, 0.0001)
CONFADAPT_TAUS = (0.9, 0.5)


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import MTPModel
    from mtp_edge.jsonl import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--data", required=True, help="GSM8K-style jsonl (question, answer)")
    ap.add_argument("--n", type=int, default=8, help="GSM8K questions (the 4 chat prompts always run)")
    ap.add_argument("--k-max", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    model = MTPModel(args.model, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads)
    sets = {"gsm8k": [r["question"] for r in read_jsonl(args.data, ("question", "answer"), args.n)], "chat": CHAT}
    rows = []
    try:
        for name, prompts in sets.items():
            prompt_tokens = [model.tokenize(model.format_chat([{"role": "user", "content": p}])) for p in prompts]
            plain = [model.generate(t, args.max_tokens, k_max=1, reuse_cache=False).tokens for t in prompt_tokens]
            runs = [("lossless", t) for t in LOSSLESS_TAUS] + [("confadapt", t) for t in CONFADAPT_TAUS]
            for mode, tau in runs:
                tokens = passes = same = 0
                for ids, reference in zip(prompt_tokens, plain):
                    result = model.generate(ids, args.max_tokens, k_max=args.k_max, tau=tau, mode=mode,
                                            reuse_cache=False)
                    tokens, passes = tokens + result.stats.tokens, passes + result.stats.passes
                    same += result.tokens == reference
                rows.append({"set": name, "mode": mode, "tau": tau, "eff_k": round(tokens / passes, 3),
                             "same_as_plain": f"{same}/{len(prompts)}"})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        model.close()
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
