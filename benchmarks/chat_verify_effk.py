"""Tokens per pass of ConfAdapt, confadapt_verify and lossless on chat prompts (not GSM8K): the bench's 8 and 8
more written for this check, so the rule is not judged only on the prompts it was looked at with.

    python benchmarks/chat_verify_effk.py -m MODEL.gguf --threads 1 --json docs/results/chat_verify.json
    python benchmarks/chat_verify_effk.py -m MODEL.gguf --prompts benchmarks/prompts/chat_wide48.jsonl --no-builtin

Greedy, k_max 6, 128 tokens a prompt. "wrong / token" is the share of emitted tokens that differ from the model's
greedy choice (mask-row tokens checked by the next pass; verified proposals agree by construction).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtp_edge import MTPModel
from mtp_edge.bench import CHAT_BUILTIN, load_prompts

NEW_CHAT = [
    "Give me three tips for keeping houseplants alive in winter.",
    "What is the difference between a virus and a bacterium?",
    "Write a short email asking my landlord to fix a leaking tap.",
    "Summarise the plot of Romeo and Juliet in four sentences.",
    "How do I reverse a list in Python? Show an example.",
    "List five countries in South America and their capitals.",
    "Explain what compound interest is to a twelve-year-old.",
    "Suggest a name for a bakery that sells only bread, and explain it.",
]
RULES = [("confadapt 0.9", {"mode": "confadapt", "tau": 0.9}),
         ("confadapt_verify 0.9/0.5", {"mode": "confadapt_verify", "tau": 0.9}),
         ("lossless 0.5", {"mode": "lossless"})]


def measure(model: MTPModel, texts: list[str], options: dict, max_tokens: int) -> dict:
    """Eff. k and wrong tokens of one rule over the prompts, each from an empty cache."""
    tokens = passes = checked = agreed = 0
    for text in texts:
        ids = model.tokenize(model.format_chat([{"role": "user", "content": text}]))
        s = model.generate(ids, max_tokens, k_max=6, reuse_cache=False, **options).stats
        tokens, passes, checked = tokens + s.tokens, passes + s.passes, checked + s.checked
        agreed += round((s.mask_agreement or 0.0) * s.checked)
    return {"eff_k": tokens / max(1, passes), "wrong_per_token": (checked - agreed) / max(1, tokens),
            "tokens": tokens, "passes": passes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", default=None)
    ap.add_argument("--prompts", nargs="*", default=[], metavar="FILE.jsonl",
                    help="more prompt sets (JSONL with a 'prompt' field), one table block each")
    ap.add_argument("--no-builtin", action="store_true", help="only the --prompts sets")
    args = ap.parse_args(argv)
    sets = {} if args.no_builtin else {"bench chat (8)": [r["prompt"] for r in CHAT_BUILTIN], "new chat (8)": NEW_CHAT}
    for path in args.prompts:
        texts = [p.text for p in load_prompts(path)]
        sets[f"{Path(path).stem} ({len(texts)})"] = texts
    if not sets:
        ap.error("--no-builtin needs at least one --prompts FILE")
    model = MTPModel(args.model, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads)
    rows = {}
    print("| prompts | rule | Eff. k | wrong / token |\n|---|---|---|---|")
    for name, texts in sets.items():
        for label, options in RULES:
            r = rows[f"{name}: {label}"] = measure(model, texts, options, args.max_tokens)
            print(f"| {name} | {label} | {r['eff_k']:.2f} | {r['wrong_per_token']:.4f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
