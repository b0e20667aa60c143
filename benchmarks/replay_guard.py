"""Replay a bench trace through auto's policy and throughput guard, offline: what the guard's choices cost.

`mtp-edge bench --trace` records every pass of every row. This takes the acceptance the text gave at each token
position from a fixed row with masks (default `k_max=6`, the pass shape of auto's fixed-shape passes) and the
loop's costs from the trace itself: a plain pass (the `mtp-edge k_max=1` row), a pass of the fixed shape (the
masks row) and the extra cost of a pass whose size differs from the one before (llama.cpp's CUDA backend re-captures
its graph then; measured on the auto row's switches, 0 where it has none). It then drives the decoder's real parts
(`mtp_edge._core`: AcceptanceEstimate, choose_masks, probe_interval, ThroughputGuard) over the same generations in
the same order, the memory carried across generations as the decoder carries it (the estimate at half weight, the
guard whole), and compares guard variants with "always plain" and "always masks" on one set of figures. Offline
and deterministic: no GPU needed to see what a guard change does on a GPU's trace.

    python benchmarks/replay_guard.py TRACE.jsonl[.gz] [--masks-row k_max=6] [--json OUT]
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

PLAIN_ROW = "mtp-edge k_max=1"
SWITCH_ROW = "auto"  # the row whose passes change size: where the switch cost is measured


@dataclass
class LoopCosts:
    plain_s: float  # a plain pass after a plain pass
    fixed_s: float  # a pass of the fixed shape after one of the same shape
    switch_s: float  # extra for a pass whose size differs from the previous pass's

    def pass_s(self, fed: int, previous: int | None) -> float:
        return (self.plain_s if fed == 1 else self.fixed_s) + (self.switch_s if previous not in (None, fed) else 0.0)


def load_rows(path: str) -> dict[str, list[dict]]:
    """mode -> its generations (prompt, repeat, passes) in file order."""
    opener = gzip.open if path.endswith(".gz") else open
    rows: dict[str, list[dict]] = {}
    with opener(path, "rt") as f:
        for line in f:
            rec = json.loads(line)
            rows.setdefault(rec["mode"], []).append(rec)
    return rows


def decode_passes(rec: dict) -> list[dict]:
    return [p for p in rec["passes"] if not p["prefill"]]


def loop_costs(rows: dict[str, list[dict]], masks_row: str) -> LoopCosts:
    """The three costs, as medians over the trace's passes (the switch cost: switch passes less a same-size pass)."""
    plain = statistics.median(p["seconds"] for r in rows[PLAIN_ROW] for p in decode_passes(r))
    fixed = statistics.median(p["seconds"] for r in rows[masks_row] for p in decode_passes(r))
    extra = []
    for r in rows.get(SWITCH_ROW, []):
        ps = decode_passes(r)
        for a, b in zip(ps, ps[1:]):
            if a["fed"] != b["fed"]:
                extra.append(b["seconds"] - (plain if b["fed"] == 1 else fixed))
    return LoopCosts(plain, fixed, max(0.0, statistics.median(extra)) if extra else 0.0)


def acceptance_by_position(passes: list[dict]) -> tuple[list[int], list[dict], int]:
    starts, pos = [], 0
    for p in passes:
        starts.append(pos)
        pos += p["emitted"]
    return starts, passes, pos


def emitted_at(at: int, starts: list[int], passes: list[dict]) -> int:
    """Tokens a fixed-shape pass emits at position `at`: the masks row's pass that covers it, from there on."""
    i = bisect.bisect_right(starts, at) - 1
    return max(1, starts[i] + passes[i]["emitted"] - at)


def replay_auto(generations: list[list[dict]], costs: LoopCosts, k_max: int, guard) -> dict:
    """Auto (fixed shape) over every generation: the decoder's choose_masks / probe / guard logic, per pass."""
    from mtp_edge import _core

    most = k_max - 1
    curve = [costs.plain_s + (costs.fixed_s - costs.plain_s) * (n - 1) / most for n in range(1, k_max + 1)]
    interval = _core.probe_interval(curve, k_max)
    est = _core.AcceptanceEstimate(most)
    seconds = tokens = passes = plain = 0
    for gen in generations:
        starts, ps, total = acceptance_by_position(gen)
        at, previous, since_probe = 0, None, 0
        while at < total:
            masks = 0
            if guard is None or guard.masks_allowed:
                masks = _core.choose_masks(curve, est, most, fixed_pass=k_max)
                since_probe = 0 if masks > 0 else since_probe + 1
                if masks == 0 and since_probe >= interval:
                    masks, since_probe = 1, 0  # the probe
            fed = k_max if masks > 0 else 1
            emitted = min(emitted_at(at, starts, ps), total - at) if masks > 0 else 1
            spent = costs.pass_s(fed, previous)
            if masks > 0:
                est.record(k_max - 1, emitted - 1)  # a fixed-shape pass carries every mask
            if guard is not None:
                guard.record(spent, emitted)
            seconds, tokens, passes, plain = seconds + spent, tokens + emitted, passes + 1, plain + (masks == 0)
            at, previous = at + emitted, fed
        est.scale(0.5)
    return {"tok_s": tokens / seconds, "plain_share": plain / passes, "passes": passes}


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import _core

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", help="a trace written by `mtp-edge bench --trace` (.jsonl or .jsonl.gz)")
    ap.add_argument("--masks-row", default="k_max=6", help="the fixed row whose passes give the acceptance")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    rows = load_rows(args.trace)
    for name in (args.masks_row, PLAIN_ROW):
        if name not in rows:
            raise SystemExit(f"replay_guard: no row {name!r} in {args.trace}; rows: {', '.join(rows)}")
    generations = [decode_passes(r) for r in rows[args.masks_row]]
    k_max = max(p["fed"] for g in generations for p in g)
    costs = loop_costs(rows, args.masks_row)
    tokens = sum(p["emitted"] for g in generations for p in g)
    results = {"always plain": {"tok_s": 1.0 / costs.plain_s, "plain_share": 1.0},
               f"always masks ({args.masks_row})": {"tok_s": tokens / (costs.fixed_s * sum(map(len, generations))),
                                                    "plain_share": 0.0},
               "auto, no guard": replay_auto(generations, costs, k_max, None),
               "auto, guard judging one window": replay_auto(generations, costs, k_max, _core.ThroughputGuard(0.0)),
               "auto, guard (smoothed yield)": replay_auto(generations, costs, k_max, _core.ThroughputGuard())}
    base = results["always plain"]["tok_s"]
    print(f"{args.trace}: {len(generations)} generations, {tokens} tokens; plain pass {costs.plain_s * 1e3:.2f} ms, "
          f"{k_max}-token pass {costs.fixed_s * 1e3:.2f} ms, size switch +{costs.switch_s * 1e3:.2f} ms")
    print(f"{'policy':<34} {'tok/s':>8} {'vs plain':>9} {'plain passes':>13}")
    for name, r in results.items():
        print(f"{name:<34} {r['tok_s']:>8.1f} {r['tok_s'] / base:>9.3f} {r['plain_share']:>13.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps({"trace": args.trace, "masks_row": args.masks_row,
                                               "costs_s": vars(costs), "tokens": tokens, "policies": results},
                                              indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
