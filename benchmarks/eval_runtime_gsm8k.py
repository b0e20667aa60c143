"""The paper-style table measured with the runtime (the C++ loop over llama.cpp), not the PyTorch reference.

    python benchmarks/eval_runtime_gsm8k.py -m MODEL.gguf --original BASE.gguf \
        --data ../shared/data/gsm8k/test.jsonl --n 100 --max-tokens 200 --threads 2 --json docs/results/eval.json

Settings: the original model at k=1 (`--original`, its own file), MTP k=1, static k=2..4, ConfAdapt tau
0.99/0.95/0.9/0.8/0.7/0.6 at the model's trained k_max (`--settings verify`: lossless and confadapt_verify rows
instead; `--settings accuracy`: k=1, ConfAdapt and confadapt_verify at tau 0.9 only). Eff. k is tokens / passes over all questions (the prompt pass included, as the runtime counts it);
agreement is the loop's own check of mask-row tokens against the model's greedy choice (verified proposals agree by
construction); accuracy uses the distill evaluator's answer extraction. `--only 0,3` runs some rows (one process
per row in parallel on a machine of many cores), `--skip S --n N` questions S..S+N-1 (shards of the test set);
`--merge A.json B.json ...` joins such parts into one table: rows of the same index are summed over the question
ranges that every row covers, so a sharded run cut short still compares every row on the same questions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mtp_edge.answers import extract_number  # no torch: it breaks a CUDA llama.cpp build's process

ORIGINAL = "Original k=1"


def settings(k_max: int, which: str = "paper", original: bool = False) -> list[tuple[str, dict]]:
    """(label, generate options) of each row, in the table's order."""
    rows = [(ORIGINAL, {"k_max": 1})] if original else []
    if which == "headline":  # the targets only: k=1 against ConfAdapt at tau 0.9 (and 0.8)
        return rows + [("MTP k=1", {"k_max": 1})] + [(f"ConfAdapt tau={t} (k_max={k_max})", {"k_max": k_max, "tau": t})
                                                     for t in (0.9, 0.8)]
    if which == "accuracy":  # the rows whose accuracy the target compares, for a whole test set in shards
        return rows + [("MTP k=1", {"k_max": 1}), (f"ConfAdapt tau=0.9 (k_max={k_max})", {"k_max": k_max, "tau": 0.9}),
                       (f"ConfAdapt+verify tau=0.9 (k_max={k_max})",
                        {"k_max": k_max, "tau": 0.9, "mode": "confadapt_verify"})]
    if which == "verify":  # the modes that verify proposals: lossless, and ConfAdapt with verification below tau
        rows += [("MTP k=1", {"k_max": 1}), (f"lossless (k_max={k_max})", {"k_max": k_max, "mode": "lossless"})]
        return rows + [(f"ConfAdapt+verify tau={t} (k_max={k_max})",
                        {"k_max": k_max, "tau": t, "mode": "confadapt_verify"}) for t in (0.9, 0.8, 0.7)]
    rows += [("MTP k=1", {"k_max": 1})]
    # the paper's static k: every pass appends k-1 masks after the re-fed tokens (on a GPU the default one-shape
    # passes would give a k-token pass room for fewer masks: static k=2 emitted 1.5 tokens a pass on the H200)
    rows += [(f"MTP static k={k}", {"k_max": k, "mode": "static", "fixed_shape": False}) for k in (2, 3, 4)]
    rows += [(f"ConfAdapt tau={t} (k_max={k_max})", {"k_max": k_max, "tau": t}) for t in (0.99, 0.95, 0.9, 0.8, 0.7,
                                                                                        0.6)]
    return rows


def evaluate_row(model, label: str, options: dict, prompts: list[list[int]], golds: list, max_tokens: int) -> dict:
    """One table row: every question decoded with `options` from an empty cache."""
    t0 = time.time()
    tokens = passes = checked = agreed = correct = wrong = 0
    for ids, gold in zip(prompts, golds):
        result = model.generate(ids, max_tokens, reuse_cache=False, **options)
        s = result.stats
        tokens += s.tokens
        passes += s.passes
        # mask-row tokens against the model's greedy choice: those emitted at once are checked by the next pass;
        # verified proposals (lossless, confadapt_verify) agree by construction
        checked += s.checked + s.proposals_accepted
        agreed += round((s.mask_agreement or 0.0) * s.checked) + s.proposals_accepted
        wrong += s.checked - round((s.mask_agreement or 0.0) * s.checked)
        correct += extract_number(result.text) == gold
    return with_ratios({"label": label, "correct": correct, "tokens": tokens, "passes": passes, "checked": checked,
                        "agreed": agreed, "wrong": wrong, "n_questions": len(prompts),
                        "seconds": round(time.time() - t0, 1)})


def with_ratios(row: dict) -> dict:
    """The row with accuracy, Eff. k, agreement and wrong tokens per token computed from its counts."""
    return {**row, "accuracy": row["correct"] / max(1, row["n_questions"]),
            "eff_k": row["tokens"] / max(1, row["passes"]),
            "agreement": row["agreed"] / row["checked"] if row["checked"] else None,
            "wrong_per_token": row["wrong"] / max(1, row["tokens"])}


COUNTS = ("correct", "tokens", "passes", "checked", "agreed", "wrong", "n_questions", "seconds")


def merge_rows(rows: list[dict]) -> tuple[list[dict], list[list[int]]]:
    """Rows of several parts joined: per table index, the counts summed over the question ranges ([skip, n]) that
    every index covers (a range some row lacks is left out of all rows). Returns the rows and the ranges kept."""
    by_index: dict[int, dict[tuple[int, int], dict]] = {}
    for r in rows:
        key = (r.get("skip", 0), r["n_questions"])
        if key in by_index.setdefault(r.get("index", 0), {}):
            raise ValueError(f"row {r.get('index', 0)} ({r['label']}) appears twice for questions {key}: "
                             "merge each part once")
        by_index[r.get("index", 0)][key] = r
    common = sorted(set.intersection(*(set(parts) for parts in by_index.values()))) if by_index else []
    merged = []
    for index in sorted(by_index):
        parts = [by_index[index][key] for key in common]
        if not parts:
            continue
        merged.append(with_ratios({"index": index, "label": parts[0]["label"],
                                   **{c: sum(p.get(c, 0) for p in parts) for c in COUNTS}}))
    return merged, [list(key) for key in common]


def print_table(rows: list[dict]) -> None:
    print("| setting | GSM8K correct | Eff. k | agreement | tokens | passes |\n|---|---|---|---|---|---|")
    for r in rows:
        agree = "-" if r["agreement"] is None else f"{r['agreement']:.3f}"
        print(f"| {r['label']} | {r['correct']}/{r['n_questions']} | {r['eff_k']:.2f} | {agree} | {r['tokens']} | "
              f"{r['passes']} |")


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import MTPModel
    from mtp_edge.jsonl import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", help="the MTP GGUF")
    ap.add_argument("--original", default=None, help="the model before training (GGUF): adds its k=1 row")
    ap.add_argument("--data", help="GSM8K-style jsonl (question, answer)")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--skip", type=int, default=0, help="questions to skip first (a shard: --skip S --n N)")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--settings", choices=("paper", "headline", "verify", "accuracy"), default="paper")
    ap.add_argument("--only", default=None, help="comma-separated row indices of the table to run (0 = first)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="join the rows of earlier runs")
    args = ap.parse_args(argv)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        rows, ranges = merge_rows([r for p in parts for r in p["rows"]])
        print_table(rows)
        if args.json:
            Path(args.json).write_text(json.dumps({"settings": parts[0]["settings"], "parts": args.merge,
                                                   "question_ranges": ranges, "rows": rows}, indent=1) + "\n")
        return 0
    if not args.model or not args.data:
        ap.error("-m/--model and --data are needed (or --merge)")
    try:
        records = read_jsonl(args.data, ("question", "answer"), args.skip + args.n)[args.skip:]
    except FileNotFoundError:
        ap.error(f"--data {args.data}: no such file (a GSM8K-style jsonl with question and answer)")
    except ValueError as exc:
        ap.error(str(exc))
    if not records:
        ap.error(f"--skip {args.skip}: {args.data} has no questions after the first {args.skip}")
    golds = [extract_number(r["answer"]) for r in records]
    open_model = lambda path: MTPModel(path, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads,  # noqa: E731
                                       n_gpu_layers=args.n_gpu_layers)
    model = open_model(args.model)
    table = list(enumerate(settings(model.metadata.k_max, args.settings, args.original is not None)))
    if args.only:
        wanted = {int(i) for i in args.only.split(",")}
        table = [(i, row) for i, row in table if i in wanted]
    rows = []
    try:
        for index, (label, options) in table:
            runner = open_model(args.original) if label == ORIGINAL else model
            try:  # the same chat template for both files: the original's own tokens
                prompts = [runner.tokenize(runner.format_chat([{"role": "user", "content": r["question"]}]))
                           for r in records]
                rows.append({"index": index, "skip": args.skip,
                             **evaluate_row(runner, label, options, prompts, golds, args.max_tokens)})
            finally:
                if runner is not model:
                    runner.close()
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        model.close()
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
