"""What prompt-lookup drafts add to confadapt_verify: one-shape passes of k tokens, drafts on and off, side by side.

    python benchmarks/lookup_drafts.py -m mtp_q8_0.gguf --prompts gsm8k,chat --sizes 4,6,8 [--n-gpu-layers -1]

For each prompt set and pass size: tokens per pass (median and mean over prompts), draft tokens verified / fed,
decode tok/s (median over prompts and repeats), and the speedup over plain llama-cpp-python decoding of the same
prompts in the same run. Prints a table and, with --json, writes the rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def measure(model, token_lists: list[list[int]], size: int, lookup: int, max_tokens: int,
            repeats: int) -> dict:
    """One row: confadapt_verify with passes of `size` tokens, `lookup` draft tokens at most (0: none)."""
    eff_k, tps, fed, verified = [], [], 0, 0
    for _ in range(repeats):
        for tokens in token_lists:
            r = model.generate(tokens, max_tokens, reuse_cache=False, mode="confadapt_verify", k_max=size,
                               fixed_shape=True, track_agreement=False, lookup_tokens=lookup)
            eff_k.append(r.stats.eff_k)
            tps.append(r.stats.decode_tps)
            fed += r.stats.lookup_proposed
            verified += r.stats.lookup_accepted
    return dict(pass_size=size, lookup_tokens=lookup, eff_k_median=statistics.median(eff_k),
                eff_k_mean=statistics.mean(eff_k), drafts_fed=fed // repeats, drafts_verified=verified // repeats,
                decode_tps=statistics.median(tps))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--prompts", default="gsm8k,chat", help="comma-separated: gsm8k, chat or JSONL files")
    p.add_argument("--n-prompts", type=int, default=12)
    p.add_argument("--sizes", default="4,6,8", help="pass sizes (k_max) to compare")
    p.add_argument("--lookup", type=int, default=8, help="draft tokens per pass at most in the 'on' rows")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-gpu-layers", type=int, default=0)
    p.add_argument("--mask-token-id", type=int, default=None, help="for a GGUF without MTP metadata (tests)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"lookup_drafts: no such model file: {args.model}", file=sys.stderr)
        return 1
    from mtp_edge import bench
    from mtp_edge.model import MTPModel

    model = MTPModel(args.model, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                     n_gpu_layers=args.n_gpu_layers, mask_token_id=args.mask_token_id)
    if not model.is_mtp:
        print("lookup_drafts: the model has no mask token", file=sys.stderr)
        return 1
    plain = bench.open_engines(model, [], 2048).plain
    stops = frozenset(model.stop_token_ids)
    rows = []
    print(f"{'prompts':10s} {'k':>3s} {'lookup':>6s} {'Eff.k med':>9s} {'mean':>6s} {'drafts ok/fed':>14s} "
          f"{'tok/s':>8s} {'speedup':>8s}")
    for spec in args.prompts.split(","):
        prompts = bench.load_prompts(spec, args.n_prompts)
        token_lists = [model.tokenize(model.format_chat([{"role": "user", "content": q.text}])) for q in prompts]
        plain_tps = statistics.median(bench._llama_run(plain, t, args.max_tokens, stops)[1]
                                      for _ in range(args.repeats) for t in token_lists)
        for size in (int(s) for s in args.sizes.split(",")):
            for lookup in (0, args.lookup):
                row = dict(prompts=spec, **measure(model, token_lists, size, lookup, args.max_tokens,
                                                   args.repeats))
                row["plain_tps"] = plain_tps
                row["speedup"] = row["decode_tps"] / plain_tps
                rows.append(row)
                print(f"{Path(spec).name[:10]:10s} {size:3d} {lookup:6d} {row['eff_k_median']:9.3f} "
                      f"{row['eff_k_mean']:6.3f} {row['drafts_verified']:6d}/{row['drafts_fed']:<7d} "
                      f"{row['decode_tps']:8.1f} {row['speedup']:8.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(settings=vars(args), rows=rows), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
