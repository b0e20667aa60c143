"""What a change of pass shape costs: llama_decode passes of 1 and n tokens, steady and after a switch.

On CUDA, llama.cpp replays a captured graph only while a pass has the shape of the pass before it under the same
graph-cache key; a pass of another shape runs without its graph and the next one captures it again. This times,
at one context depth, (1) steady passes of each size, (2) the first three passes after a switch from the other
size, and (3) passes that alternate sizes every pass, so that the price of a switch (the first two passes after
one, less two steady passes) is measured on its own, apart from the decode loop and its policy.

    python benchmarks/shape_switch_cost.py -m MODEL.gguf [--n-gpu-layers -1] [--sizes 2,4,6] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from mtp_edge import MTPModel
from mtp_edge.calibrate import switch_blocks, time_passes


def measure(model: MTPModel, n: int, depth: int, rounds: int) -> dict:
    """Steady, after-switch and alternating costs of passes of 1 and n tokens (medians over rounds, ms)."""
    rows = time_passes(model, switch_blocks(n) * 2, depth, rounds)[1:]  # the first round warms both graphs
    med = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
    steady1, steadyn = statistics.median([med(4), med(5)]), statistics.median([med(10), med(11)])
    after_to_n = [med(6), med(7), med(8)]
    after_to_1 = [med(12), med(13), med(14)]
    alt = time_passes(model, [1, n] * 8, depth, rounds)[1:]
    alt_pair = statistics.median(sum(r[2:]) / 7 for r in alt)  # 7 pairs after the first
    return {
        "n": n, "depth": depth,
        "steady_ms": {"1": steady1, str(n): steadyn},
        "after_switch_to_n_ms": after_to_n, "after_switch_to_1_ms": after_to_1,
        "switch_extra_ms": {"to_n": after_to_n[0] + after_to_n[1] - 2 * steadyn,
                            "to_1": after_to_1[0] + after_to_1[1] - 2 * steady1},
        "alternating_pair_ms": alt_pair, "steady_pair_ms": steady1 + steadyn,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="2,4,6", help="pass sizes n to switch with a one-token pass, comma-separated")
    ap.add_argument("--depth", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"shape_switch_cost: --sizes {args.sizes!r} must be comma-separated integers, e.g. 2,4,6")
    if not sizes or min(sizes) < 2:
        raise SystemExit("shape_switch_cost: --sizes needs pass sizes of at least 2 tokens")
    model = MTPModel(args.model, n_ctx=args.depth + max(sizes) + 64, n_gpu_layers=args.n_gpu_layers,
                     n_threads=args.threads, n_threads_batch=args.threads, flash_attn=args.flash_attn)
    rows = [measure(model, n, args.depth, args.rounds) for n in sizes]
    print(f"{args.model}: n_gpu_layers {args.n_gpu_layers}, depth {args.depth}, median of {args.rounds - 1} rounds (ms)")
    print(f"{'n':>3} {'steady 1':>9} {'steady n':>9} {'after ->n (1st 2nd 3rd)':>26} {'after ->1 (1st 2nd 3rd)':>26}"
          f" {'switch ->n':>11} {'switch ->1':>11} {'alt pair':>9} {'steady pair':>12}")
    for r in rows:
        n = str(r["n"])
        print(f"{r['n']:>3} {r['steady_ms']['1']:>9.3f} {r['steady_ms'][n]:>9.3f} "
              f"{' '.join(f'{x:.3f}' for x in r['after_switch_to_n_ms']):>26} "
              f"{' '.join(f'{x:.3f}' for x in r['after_switch_to_1_ms']):>26} "
              f"{r['switch_extra_ms']['to_n']:>+11.3f} {r['switch_extra_ms']['to_1']:>+11.3f} "
              f"{r['alternating_pair_ms']:>9.3f} {r['steady_pair_ms']:>12.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "n_gpu_layers": args.n_gpu_layers,
                                               "threads": args.threads, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
