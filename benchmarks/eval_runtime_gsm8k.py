"""The paper-style table measured with the runtime (the C++ loop over llama.cpp), not the PyTorch reference.

    python benchmarks/eval_runtime_gsm8k.py -m MODEL.gguf --data ../shared/data/gsm8k/test.jsonl --n 24 \
        --max-tokens 200 --threads 2 --json docs/results/eval_runtime_gsm8k.json

Settings: MTP k=1, static k=2..4, ConfAdapt tau 0.99/0.95/0.9/0.8/0.7/0.6 at the model's trained k_max. Eff. k is
tokens / passes over all questions (the prompt pass included, as the runtime counts it); agreement is the loop's own
check of mask-row tokens against the model's greedy choice; accuracy uses the distill evaluator's answer extraction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def settings(k_max: int, which: str = "paper") -> list[tuple[str, dict]]:
    if which == "headline":  # the targets only: k=1 against ConfAdapt at tau 0.9 (and 0.8)
        return [("MTP k=1", {"k_max": 1})] + [(f"ConfAdapt tau={t} (k_max={k_max})", {"k_max": k_max, "tau": t})
                                              for t in (0.9, 0.8)]
    rows = [("MTP k=1", {"k_max": 1})]
    rows += [(f"MTP static k={k}", {"k_max": k, "mode": "static"}) for k in (2, 3, 4)]
    rows += [(f"ConfAdapt tau={t} (k_max={k_max})", {"k_max": k_max, "tau": t}) for t in (0.99, 0.95, 0.9, 0.8, 0.7,
                                                                                        0.6)]
    return rows


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import MTPModel
    from mtp_edge.distill.evaluate import extract_number
    from mtp_edge.jsonl import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--data", required=True, help="GSM8K-style jsonl (question, answer)")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--settings", choices=("paper", "headline"), default="paper")
    args = ap.parse_args(argv)
    records = read_jsonl(args.data, ("question", "answer"), args.n)
    model = MTPModel(args.model, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads)
    rows = []
    try:
        prompts = [model.tokenize(model.format_chat([{"role": "user", "content": r["question"]}])) for r in records]
        golds = [extract_number(r["answer"]) for r in records]
        for label, options in settings(model.metadata.k_max, args.settings):
            t0 = time.time()
            tokens = passes = checked = agreed = correct = 0
            for ids, gold in zip(prompts, golds):
                result = model.generate(ids, args.max_tokens, reuse_cache=False, **options)
                s = result.stats
                tokens += s.tokens
                passes += s.passes
                checked += s.checked
                agreed += round((s.mask_agreement or 0.0) * s.checked)
                correct += extract_number(result.text) == gold
            rows.append({"label": label, "accuracy": correct / len(records), "correct": correct,
                         "eff_k": tokens / max(1, passes), "agreement": agreed / checked if checked else None,
                         "tokens": tokens, "passes": passes, "n_questions": len(records),
                         "seconds": round(time.time() - t0, 1)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        model.close()
    print("| setting | GSM8K correct | Eff. k | agreement | tokens | passes |\n|---|---|---|---|---|---|")
    for r in rows:
        agree = "-" if r["agreement"] is None else f"{r['agreement']:.3f}"
        print(f"| {r['label']} | {r['correct']}/{r['n_questions']} | {r['eff_k']:.2f} | {agree} | {r['tokens']} | "
              f"{r['passes']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
