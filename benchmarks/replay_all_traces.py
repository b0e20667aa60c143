"""Every committed bench trace through benchmarks/replay_guard.py: main's auto against the best fixed row of each, as
the bench judges it (median over prompts of each prompt's speedup over k_max = 1), with changes of pass shape priced
as traced and at 0 (a llama.cpp with one CUDA graph per pass size). One table for a policy change across machines,
models and prompt sets, so that it is judged on all of them, not tuned to one.

    python benchmarks/replay_all_traces.py [TRACE ...] [--json OUT]   (default: docs/results/traces/*.jsonl.gz)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # its sibling replay_guard.py

import replay_guard as rg  # noqa: E402

# "calibrated": switches free, the policy deciding by the curve the bench calibrated (its JSON's pass_cost_ms) as the
# decoder did, not by the loop's own costs, and every size between the fixed rows there (cut from the next larger
# row). The loop-cost replay showed 100.8% of k_max = 4 on session 19's H200 chat trace, where the bench measured
# 81%: a few % of calibration noise had made the prior pick 5-token passes, which that replay ran as 4.
PRICINGS = {"as traced": {}, "switches free": {"switch_s": 0.0, "start_s": 0.0},
            "calibrated": {"switch_s": 0.0, "start_s": 0.0, "calibrated": True}}


@dataclass
class PricedTrace:
    """One trace under one pricing: its fixed rows (every size between them too, where the pricing is calibrated),
    their costs, plain's generations, the repeats per prompt and the best fixed row by the bench's figure."""
    sizes: dict
    costs: rg.LoopCosts
    plain: list
    repeats: int
    best_fixed_k: int
    best_fixed: float


def priced_trace(path: str, overrides: dict) -> PricedTrace | None:
    """The trace at `path` priced by `overrides` (one of PRICINGS); None where the pricing needs the bench's curve and
    there is no bench JSON beside the trace."""
    rows = rg.load_rows(path)
    sizes = rg.fixed_rows(rows)
    if rg.PLAIN_ROW not in rows or not sizes:
        raise SystemExit(f"replay_all_traces: {path} needs the {rg.PLAIN_ROW!r} row and fixed rows `k_max=N`")
    costs = rg.loop_costs(rows, sizes)
    for name, value in overrides.items():
        if name != "calibrated":
            setattr(costs, name, value)
    if overrides.get("calibrated"):
        costs.calibrated_s = rg.calibrated_curve(path)
        if costs.calibrated_s is None:
            return None
    repeats = 1 + max(r.get("repeat", 0) for r in rows[rg.PLAIN_ROW])
    plain = rg.fixed_generations([rg.decode_passes(r) for r in rows[rg.PLAIN_ROW]], costs, 1)
    fixed = {n: rg.median_speedup(rg.fixed_generations(g, costs, n), plain, repeats) for n, g in sizes.items()}
    fixed[1] = 1.0
    best = max(fixed, key=fixed.get)
    if costs.calibrated_s:
        sizes = rg.with_every_size(sizes, costs)  # after the best fixed row: that one is measured, these are not
    return PricedTrace(sizes, costs, plain, repeats, best, fixed[best])


def judge(path: str, overrides: dict) -> dict:
    """Best fixed row, the decoder before session 16 and main, relative to k_max = 1, on one trace."""
    from mtp_edge import _core

    t = priced_trace(path, overrides)
    if t is None:
        return {}  # no bench JSON beside the trace: nothing to judge this pricing on
    k_max = max(t.sizes)  # with_every_size adds only sizes below the largest row
    common = dict(start_untimed=True, priced_switches=True, fill=True)
    before = rg.replay_auto(t.sizes, t.costs, k_max, lambda: _core.ThroughputGuard(masks_margin=0.0, cost_decay=0.0),
                            True, **common)
    main = rg.replay_auto(t.sizes, t.costs, k_max, _core.ThroughputGuard, True, next_size=True, **common)
    return {"best_fixed_k": t.best_fixed_k, "best_fixed": t.best_fixed,
            "before_s16": rg.median_speedup(before["per_generation"], t.plain, t.repeats),
            "main": rg.median_speedup(main["per_generation"], t.plain, t.repeats)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="*", help="bench traces (default: every one under docs/results/traces)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    traces = args.traces or sorted(str(p) for p in (HERE.parent / "docs" / "results" / "traces").glob("*.jsonl.gz"))
    if not traces:
        raise SystemExit("replay_all_traces: no traces given and none under docs/results/traces")
    report = {Path(t).name: {p: judge(t, o) for p, o in PRICINGS.items()} for t in traces}
    print(f"{'trace':<46} " + "   ".join(f"{p + ': best fixed':>20} {'before':>7} {'main':>7}" for p in PRICINGS))
    def cells(r: dict) -> str:
        if not r:
            return f"{'(no bench JSON)':>20} {'-':>7} {'-':>7}"
        return (f"{'k' + str(r['best_fixed_k']) + ' ' + format(r['best_fixed'], '.3f'):>20} "
                f"{r['before_s16'] / r['best_fixed']:>7.1%} {r['main'] / r['best_fixed']:>7.1%}")

    for name, r in report.items():
        print(f"{name.replace('.jsonl.gz', ''):<46} " + "   ".join(cells(r[p]) for p in PRICINGS))
    for p in PRICINGS:
        for who in ("before_s16", "main"):
            share = [r[p][who] / r[p]["best_fixed"] for r in report.values() if r[p]]
            if not share:
                continue
            print(f"{p}, {who}: min {min(share):.1%}, mean {sum(share) / len(share):.1%}, "
                  f"below 95% of the best fixed row on {sum(s < 0.95 for s in share)} of {len(share)}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
