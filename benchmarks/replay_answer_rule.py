"""A per-answer rule for auto's one-shape passes, replayed on every committed trace (session 22; not adopted).

The rule: once an answer has run `min_passes` passes with masks, if its own tokens a pass, priced by the curve
(calibrated, or with `use_loop` the trace's loop costs), make masks slower than plain passes by more than `margin`,
the rest of that answer runs plain (the guard does not see those passes). It fixed the H100 chat trace, where masks
paid on half the answers and main's guard (memory across answers) kept them for all, and lost 4-19% on the H200 chat
traces, whose answers open poorly and pay later (docs/RESULTS.md, session 22).

    python benchmarks/replay_answer_rule.py [TRACE ...]   (default: docs/results/traces/*.jsonl.gz)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # its siblings replay_guard.py and replay_all_traces.py

import replay_all_traces as rat  # noqa: E402
import replay_guard as rg  # noqa: E402


def replay(sizes: dict, costs: rg.LoopCosts, k_max: int, min_passes: int, margin: float,
           use_loop: bool = False) -> list[tuple[int, float]]:
    """replay_guard.replay_auto's main rule (one-shape passes, next_fixed_pass, the guard) plus the per-answer rule;
    min_passes 0: main as it is. Returns (tokens, seconds) per generation."""
    from mtp_edge import _core

    rule = (min_passes, margin, use_loop) if min_passes else None
    return rg.replay_auto(sizes, costs, k_max, _core.ThroughputGuard, True, start_untimed=True, priced_switches=True,
                          fill=True, next_size=True, answer_rule=rule)["per_generation"]


def judge(path: str, overrides: dict, variants: dict) -> dict | None:
    """Each variant's bench figure as a share of the trace's best fixed row, under one of replay_all_traces' pricings."""
    t = rat.priced_trace(path, overrides)
    if t is None:
        return None
    k_max = max(t.sizes)  # with_every_size adds only sizes below the largest row
    return {v: rg.median_speedup(replay(t.sizes, t.costs, k_max, *args), t.plain, t.repeats) / t.best_fixed
            for v, args in variants.items()}


VARIANTS = {"main": (0, 0.0), "n16 m0": (16, 0.0), "n16 m3": (16, 0.03), "n24 m3": (24, 0.03), "n32 m3": (32, 0.03),
            "n32 m5": (32, 0.05), "n48 m3": (48, 0.03), "n32 m3 loop": (32, 0.03, True)}


def main() -> int:
    variants = VARIANTS
    traces = sys.argv[1:] or sorted(str(p) for p in (HERE.parent / "docs" / "results" / "traces").glob("*.jsonl.gz"))
    for pricing, o in rat.PRICINGS.items():
        res = {}
        for t in traces:
            r = judge(t, o, variants)
            if r:
                res[Path(t).name] = r
        print(f"== {pricing} ({len(res)} traces)")
        for v in variants:
            xs = [r[v] for r in res.values()]
            print(f"{v:14s} min {min(xs):.3f} mean {statistics.mean(xs):.4f} below95 {sum(x < 0.95 for x in xs)}")
        for name, r in res.items():
            if any(abs(r[v] - r['main']) > 0.01 for v in variants):
                print("   ", name[:55], " ".join(f"{v}={r[v]:.3f}" for v in variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
