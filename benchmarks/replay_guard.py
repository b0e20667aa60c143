"""Replay a bench trace through auto's policy and throughput guard, offline: what the guard's choices cost.

`mtp-edge bench --trace` records every pass of every row. This takes the acceptance the text gave at each token
position from the fixed rows with masks (`k_max=N`: every pass feeds N tokens) and the loop's costs from the trace
itself: a plain pass (the `mtp-edge k_max=1` row), a pass of each fixed size, the extra cost of a change of pass size
(on CUDA the first pass of a new shape runs without its graph and the second captures it: both are charged, measured
on the auto row's changes) and the same for each generation's first two decode passes, which follow the prompt's.
It then drives the decoder's real parts (`mtp_edge._core`: AcceptanceEstimate, choose_masks, probe_interval,
best_fixed_pass, ThroughputGuard) over the same generations in the same order, the memory carried across
generations as the decoder carries it (the estimate at half weight, the guard whole), and compares policy variants
with "always plain" and "always masks" on one set of figures. Offline and deterministic: no GPU needed to see what a
policy change does on a GPU's trace.

    python benchmarks/replay_guard.py TRACE.jsonl[.gz] [--json OUT]
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
MAIN = "auto, + cost over ~8 windows (main)"  # what the decoder does now


@dataclass
class LoopCosts:
    pass_s_by_size: dict[int, float]  # a pass of n tokens after one of the same size (1: plain)
    switch_s: float  # extra for a change of pass size: the first two passes of the new size, less two steady ones
    start_s: float = 0.0  # the same for a generation's first two decode passes (they follow the prompt's pass)
    calibrated_s: list[float] | None = None  # the curve the decoder chose by (the bench's calibration), if given

    def pass_s(self, fed: int, previous: int | None) -> float:
        """A pass's cost; `previous` None: the generation's first decode pass, which carries its start's extra."""
        if previous is None:
            return self.pass_s_by_size[fed] + self.start_s
        return self.pass_s_by_size[fed] + (self.switch_s if previous != fed else 0.0)

    def curve(self, k_max: int) -> list[float]:
        """Cost of a pass of 1..k_max tokens, interpolated between the sizes the trace has."""
        known = sorted(self.pass_s_by_size)
        out = []
        for n in range(1, k_max + 1):
            lo = max(k for k in known if k <= n)
            hi = min((k for k in known if k >= n), default=lo)
            a, b = self.pass_s_by_size[lo], self.pass_s_by_size[hi]
            out.append(a if hi == lo else a + (b - a) * (n - lo) / (hi - lo))
        return out

    def policy_curve(self, k_max: int) -> list[float]:
        """The curve the policy decides by: the bench's calibrated one where given (what the decoder had), else the
        loop's own costs (a decoder whose calibration matched its loop exactly)."""
        return list(self.calibrated_s) if self.calibrated_s else self.curve(k_max)


def calibrated_curve(trace: str) -> list[float] | None:
    """The pass-cost curve (seconds) of the bench run that wrote `trace`: its JSON, `bench_X.json` beside the
    trace's folder for `traces/trace_X.jsonl.gz` (docs/results), or beside the trace; None where there is none."""
    t = Path(trace)
    name = t.name.replace(".jsonl.gz", ".json").replace(".jsonl", ".json").replace("trace_", "bench_", 1)
    for candidate in (t.parent.parent / name, t.parent / name):
        if candidate.exists():
            curve = json.loads(candidate.read_text()).get("pass_cost_ms")
            return [c * 1e-3 for c in curve] if curve else None
    return None


def with_every_size(sizes: dict[int, list[list[dict]]], costs: LoopCosts) -> dict[int, list[list[dict]]]:
    """The fixed rows plus one for every size between them that the trace lacks, cut from the next larger row:
    each pass keeps its pending tokens and loses the masks the smaller size has no room for (what it emits is
    capped to match), at a cost interpolated from the rows around it. An approximation (the smaller row's passes
    would start where its own tokens left off); it lets a policy that picks a size the sweep skipped pay that
    size's price instead of running the next smaller row."""
    out = dict(sizes)
    curve = costs.curve(max(sizes))
    for n in range(2, max(sizes)):
        if n in sizes:
            continue
        m = min(k for k in sizes if k > n)
        out[n] = [[dict(p, fed=n, masks=max(0, p["masks"] - (m - n)),
                        emitted=min(p["emitted"], 1 + max(0, p["masks"] - (m - n)))) for p in g] for g in sizes[m]]
        costs.pass_s_by_size[n] = curve[n - 1]
    return out


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


def fixed_rows(rows: dict[str, list[dict]]) -> dict[int, list[list[dict]]]:
    """Pass size -> the generations of the fixed row of that size (`k_max=N`: every pass feeds N tokens)."""
    out = {}
    for mode, recs in rows.items():
        if mode.startswith("k_max=") and mode[6:].isdigit():
            out[int(mode[6:])] = [decode_passes(r) for r in recs]
    return out


def loop_costs(rows: dict[str, list[dict]], sizes: dict[int, list[list[dict]]]) -> LoopCosts:
    """Medians over the trace's passes (a switch's or a start's cost: its two passes less two steady ones)."""
    by_size = {1: statistics.median(p["seconds"] for r in rows[PLAIN_ROW] for p in decode_passes(r))}
    for n, gens in sizes.items():
        by_size[n] = statistics.median(p["seconds"] for g in gens for p in g if p["fed"] == n)
    extra = []
    for r in rows.get(SWITCH_ROW, []):
        ps = decode_passes(r)
        for i in range(1, len(ps) - 1):
            a, b, c = ps[i - 1], ps[i], ps[i + 1]
            if a["fed"] != b["fed"] and b["fed"] in by_size and c["fed"] == b["fed"]:
                # CUDA runs the first pass of a new shape without a graph and captures it on the second: both pay
                extra.append(b["seconds"] + c["seconds"] - 2 * by_size[b["fed"]])
    start = [ps[0]["seconds"] + ps[1]["seconds"] - 2 * by_size[ps[0]["fed"]]
             for mode in [PLAIN_ROW, *(f"k_max={n}" for n in sizes)] for r in rows[mode]
             for ps in [decode_passes(r)] if len(ps) >= 2 and ps[0]["fed"] == ps[1]["fed"] in by_size]
    return LoopCosts(by_size, max(0.0, statistics.median(extra)) if extra else 0.0,
                     max(0.0, statistics.median(start)) if start else 0.0)


def pass_starts(passes: list[dict]) -> tuple[list[int], int]:
    """The token position at which each pass began, and the generation's length in tokens."""
    starts, pos = [], 0
    for p in passes:
        starts.append(pos)
        pos += p["emitted"]
    return starts, pos


def pass_at(at: int, starts: list[int], passes: list[dict]) -> tuple[dict, int]:
    """The fixed row's pass that covers position `at`, and what a pass there emits: that pass's tokens from `at` on."""
    i = bisect.bisect_right(starts, at) - 1
    return passes[i], max(1, starts[i] + passes[i]["emitted"] - at)


def replay_auto(sizes: dict[int, list[list[dict]]], costs: LoopCosts, k_max: int, make_guard, choose_size: bool,
                start_untimed: bool = False, priced_switches: bool = False, forget: bool = False,
                fill: bool = False, pass_margin: float | None = None, next_size: bool = False,
                warmup_tokens: int = 0, answer_rule: tuple | None = None,
                jitter: list[float] | None = None, jitter_at: int = 0) -> dict:
    """Auto (fixed shape) over every generation: the decoder's choose_masks / probe / guard logic, per pass
    (`make_guard`: a ThroughputGuard factory, or None for no guard); the pass size k_max, or (`choose_size`)
    best_fixed_pass's per generation, taken from the fixed row of that size.
    `start_untimed`: the guard leaves each generation's first two passes untimed (begin_generation);
    `priced_switches`: the probe interval and the guard's re-measurements count the two changes of pass size that
    each makes; `forget`: every generation starts from no memory (what the bench's timed rows got before the
    decoder kept the most recently used rules: its 16-rule store was full of the untracked runs' rules); `fill`:
    while the guard allows masks every pass fills the one-shape pass (no per-pass plain choice, no probes);
    `pass_margin`: the size carries over between generations unless another is expected that much faster;
    `next_size`: the decoder's next_fixed_pass (the prior's size until the estimate rests on enough passes);
    `warmup_tokens`: an earlier short run under the same rule (the first generation's first tokens) feeds the
    estimate before the first generation, as a shared memory would; `answer_rule` (min_passes, margin[, use_loop]):
    once an answer has run min_passes passes with masks, the rest of it runs plain if its own tokens a pass make masks
    more than margin slower than plain by the policy's curve (or the loop's costs), those passes kept from the guard
    (benchmarks/replay_answer_rule.py, session 22: not adopted); `jitter`: the machine's drift, a multiplier for
    each pass in turn from `jitter_at` on (jitter_from)."""
    from mtp_edge import _core

    most = k_max - 1
    curve = costs.policy_curve(k_max)
    est = _core.AcceptanceEstimate(most)
    warm_emitted = 0
    for p in sizes[k_max][0] if warmup_tokens > 0 else []:
        if warm_emitted >= warmup_tokens:
            break
        est.record(p["masks"], p["emitted"] - 1)
        warm_emitted += p["emitted"]
    if warmup_tokens > 0:
        est.scale(0.5)
    seconds = tokens = passes = plain = 0
    per_generation: list[tuple[int, float]] = []  # (tokens, seconds) of each generation
    used: dict[int, int] = {}
    guard = make_guard() if make_guard else None
    chosen = 0  # the size the decoder chose last (the trace may lack that row: then the next smaller one runs)
    for index in range(len(sizes[k_max])):
        if forget and index > 0:
            est = _core.AcceptanceEstimate(most)
            guard = make_guard() if make_guard else None
        if next_size:
            chosen = _core.next_fixed_pass(curve, est, k_max, chosen)
        elif pass_margin is None:
            chosen = _core.best_fixed_pass(curve, est, k_max) if choose_size else k_max
        else:
            chosen = _core.best_fixed_pass(curve, est, k_max, chosen, pass_margin)
        # a size the trace has no row for: the next smaller one
        size = max((n for n in sizes if n <= chosen), default=min(sizes))
        used[size] = used.get(size, 0) + 1
        interval = _core.probe_interval(curve, size, costs.switch_s if priced_switches else 0.0)
        if guard is not None and start_untimed:
            guard.begin_generation()
        if guard is not None and priced_switches:
            guard.set_switch_cost(costs.switch_s)
        ps = sizes[size][index]
        starts, total = pass_starts(ps)
        at, previous, since_probe = 0, None, 0
        generation_start = (tokens, seconds)
        answer_passes = answer_tokens = 0  # this answer's passes with masks and what they emitted (answer_rule)
        answer_plain = False
        while at < total:
            masks = 0  # answer_plain: the rest of this answer stays plain
            if answer_plain:
                pass
            elif fill and (guard is None or guard.masks_allowed):
                masks = size - 1
            elif guard is None or guard.masks_allowed:
                masks = _core.choose_masks(curve, est, size - 1, fixed_pass=size)
                since_probe = 0 if masks > 0 else since_probe + 1
                if masks == 0 and since_probe >= interval:
                    masks, since_probe = 1, 0  # the probe
            fed, emitted = 1, 1
            if masks > 0:
                here, emitted = pass_at(at, starts, ps)
                fed, emitted = size, min(emitted, total - at)
                est.record(here["masks"], emitted - 1)
            spent = costs.pass_s(fed, previous)
            if jitter:
                spent *= jitter[(jitter_at + passes) % len(jitter)]
            if guard is not None and not (answer_plain and guard.masks_allowed):
                guard.record(spent, emitted)
            seconds, tokens, passes, plain = seconds + spent, tokens + emitted, passes + 1, plain + (masks == 0)
            at, previous = at + emitted, fed
            if answer_rule and masks > 0 and not answer_plain:
                answer_passes, answer_tokens = answer_passes + 1, answer_tokens + emitted
                answer_plain = answer_passes >= answer_rule[0] and answer_rule_says_plain(
                    answer_tokens / answer_passes, size, costs, curve, *answer_rule[1:])
        per_generation.append((tokens - generation_start[0], seconds - generation_start[1]))
        est.scale(0.5)
    return {"tok_s": tokens / seconds, "plain_share": plain / passes, "passes": passes, "sizes": used,
            "per_generation": per_generation}


def answer_rule_says_plain(tokens_a_pass: float, size: int, costs: LoopCosts, curve: list[float], margin: float,
                           use_loop: bool = False) -> bool:
    """Whether an answer's passes of `size` tokens, at `tokens_a_pass`, are more than `margin` slower a token than
    plain passes, priced by the policy's curve or (`use_loop`) the loop's own costs."""
    one, this = (costs.pass_s_by_size[1], costs.pass_s_by_size[size]) if use_loop else (curve[0], curve[size - 1])
    return tokens_a_pass / this * (1 + margin) < 1 / one


def fixed_generations(gens: list[list[dict]], costs: LoopCosts, size: int, jitter: list[float] | None = None,
                      jitter_at: int = 0) -> list[tuple[int, float]]:
    """(tokens, seconds) of each generation of a fixed row at the replay's costs (its start's extra included);
    `jitter`: each pass's cost times the drift, from `jitter_at` on, as replay_auto does."""
    if not jitter:
        return [(sum(p["emitted"] for p in g), costs.pass_s_by_size[size] * len(g) + costs.start_s) for g in gens]
    out, n = [], jitter_at
    for g in gens:
        out.append((sum(p["emitted"] for p in g),
                    costs.start_s + sum(costs.pass_s_by_size[size] * jitter[(n + i) % len(jitter)] for i in range(len(g)))))
        n += len(g)
    return out


def jitter_from(gens: list[list[dict]]) -> list[float]:
    """A row's pass times in the order they ran, over their mean: how the machine's speed moved pass by pass
    (in stretches: shared machines drift), to apply to every pass size alike."""
    times = [p["seconds"] for g in gens for p in g]
    mean = statistics.fmean(times)
    return [t / mean for t in times]


def replay_cost_memory(sizes: dict[int, list[list[dict]]], costs: LoopCosts, k_max: int, jitter: list[float],
                       repeats: int, plain_gens: list[list[dict]], per_pass: bool, starts: int = 8) -> dict:
    """Main's auto with the guard's cost smoothed over ~8 windows (session 26) and with the latest window's cost
    (before), beside always-plain and always-masks: per policy the bench's median speedup over plain at the trace's
    median costs, and under the machine's drift (`jitter`) started at `starts` points of it, the median and worst
    of those runs and their median plain share. `per_pass`: passes chosen one by one, as on a CPU (no one-shape
    passes), else main's one-shape passes (a GPU)."""
    from mtp_edge import _core

    guards = {MAIN: _core.ThroughputGuard,
              "auto, latest window's cost (before session 26)": lambda: _core.ThroughputGuard(cost_decay=0.0)}
    out: dict[str, dict] = {}
    for i in range(starts + 1):  # run 0: no drift
        at, drift = (i - 1) * len(jitter) // starts, jitter if i > 0 else None
        plain = fixed_generations(plain_gens, costs, 1, drift, at)
        rows = {f"always masks (k_max={n})": (fixed_generations(sizes[n], costs, n, drift, at), 0.0) for n in sorted(sizes)}
        for name, make in guards.items():
            r = replay_auto(sizes, costs, k_max, make, True, start_untimed=True, priced_switches=True,
                            fill=not per_pass, next_size=not per_pass, jitter=drift, jitter_at=at)
            rows[name] = (r["per_generation"], r["plain_share"])
        for name, (per_generation, plain_share) in rows.items():
            o = out.setdefault(name, {"speedups_drift": [], "plain_shares_drift": []})
            speedup = median_speedup(per_generation, plain, repeats)
            if drift is None:
                o["speedup"], o["plain_share"] = speedup, plain_share
            else:
                o["speedups_drift"].append(speedup)
                o["plain_shares_drift"].append(plain_share)
    for o in out.values():
        o["median_speedup_drift"], o["worst_speedup_drift"] = statistics.median(o["speedups_drift"]), min(o["speedups_drift"])
        o["median_plain_share_drift"] = statistics.median(o["plain_shares_drift"])
    return out


def median_speedup(per_generation: list[tuple[int, float]], plain: list[tuple[int, float]], repeats: int) -> float:
    """The bench's figure: per prompt the median over its repeats of tok/s over plain's, then the median over
    prompts (generations come prompt by prompt, `repeats` each)."""
    ratios = [(t / s) / (pt / ps) for (t, s), (pt, ps) in zip(per_generation, plain)]
    return statistics.median(statistics.median(ratios[i:i + repeats]) for i in range(0, len(ratios), repeats))


def main(argv: list[str] | None = None) -> int:
    from mtp_edge import _core

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", help="a trace written by `mtp-edge bench --trace` (.jsonl or .jsonl.gz)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--switch-ms", type=float, default=None,
                    help="price a change of pass size at this many ms instead of what the trace measured (0: a "
                         "llama.cpp that keeps one CUDA graph per pass size)")
    ap.add_argument("--start-ms", type=float, default=None,
                    help="likewise for the extra of a generation's first two decode passes")
    ap.add_argument("--warmup-tokens", type=int, default=0,
                    help="feed the estimate the first N tokens' passes of the first generation before it starts, as "
                         "an earlier short run under the same rule would (session 16's bench: 8 tokens, and the "
                         "k_max=6 row, shared auto's memory); 0: none, the decoder since session 16")
    ap.add_argument("--cost-memory", choices=["per-pass", "one-shape"], default=None,
                    help="also replay the guard's cost memory (main's ~8 windows against the latest window's) with "
                         "passes chosen one by one (a CPU) or main's one-shape passes (a GPU), at the trace's median "
                         "costs and under the machine's own drift: every pass's cost times the plain row's pass times "
                         "in order, over their mean, from 8 starting points")
    args = ap.parse_args(argv)

    rows = load_rows(args.trace)
    sizes = fixed_rows(rows)
    k_max = max(sizes, default=0)
    if PLAIN_ROW not in rows or k_max < 2:
        raise SystemExit(f"replay_guard: {args.trace} needs the {PLAIN_ROW!r} row and fixed rows `k_max=N`; "
                         f"rows: {', '.join(rows)}")
    costs = loop_costs(rows, sizes)
    if args.switch_ms is not None:
        costs.switch_s = args.switch_ms * 1e-3
    if args.start_ms is not None:
        costs.start_s = args.start_ms * 1e-3
    repeats = 1 + max(r.get("repeat", 0) for r in rows[PLAIN_ROW])
    plain_gens = [decode_passes(r) for r in rows[PLAIN_ROW]]
    results = {"always plain": {"tok_s": sum(map(len, plain_gens)) / (costs.pass_s_by_size[1] * sum(map(len, plain_gens))
                                                                     + costs.start_s * len(plain_gens)),
                                "plain_share": 1.0, "per_generation": fixed_generations(plain_gens, costs, 1)}}
    for n in sorted(sizes):
        gens = sizes[n]
        results[f"always masks (k_max={n})"] = {
            "tok_s": sum(p["emitted"] for g in gens for p in g) / (costs.pass_s_by_size[n] * sum(map(len, gens))
                                                                  + costs.start_s * len(gens)),
            "plain_share": 0.0, "per_generation": fixed_generations(gens, costs, n)}

    def old_guard(yield_decay: float = 0.875):
        """The guard before session 9: a yield memory of ~8 windows, plain passes measured after the first window
        with masks."""
        return lambda: _core.ThroughputGuard(yield_decay, 1, 0.0, cost_decay=0.0)

    def no_margin_guard():
        """The guard before session 18: masks and plain judged on their measured time per token alone."""
        return _core.ThroughputGuard(masks_margin=0.0, cost_decay=0.0)

    results["auto, no guard"] = replay_auto(sizes, costs, k_max, None, False)
    results["auto, guard judging one window"] = replay_auto(sizes, costs, k_max, old_guard(0.0), False)
    results["auto, guard (smoothed yield)"] = replay_auto(sizes, costs, k_max, old_guard(), False)
    results["auto, smoothed guard, best size"] = replay_auto(sizes, costs, k_max, old_guard(), True)
    results["auto, + generation start untimed"] = replay_auto(sizes, costs, k_max, old_guard(), True,
                                                              start_untimed=True)
    results["auto, + switches priced"] = replay_auto(sizes, costs, k_max, old_guard(), True, start_untimed=True,
                                                     priced_switches=True)
    results["auto as above, memory lost each generation"] = replay_auto(
        sizes, costs, k_max, old_guard(), True, start_untimed=True, priced_switches=True, forget=True)
    results["auto, + passes filled, masks judged on 12 windows"] = replay_auto(
        sizes, costs, k_max, no_margin_guard, True, start_untimed=True, priced_switches=True, fill=True)
    results["auto, + pass size kept unless clearly beaten"] = replay_auto(
        sizes, costs, k_max, no_margin_guard, True, start_untimed=True, priced_switches=True, fill=True,
        pass_margin=_core.PASS_CHANGE_MARGIN, warmup_tokens=args.warmup_tokens)
    results["auto, + resized only on enough passes"] = replay_auto(
        sizes, costs, k_max, no_margin_guard, True, start_untimed=True, priced_switches=True, fill=True,
        next_size=True, warmup_tokens=args.warmup_tokens)
    results["auto, + masks kept on a near tie"] = replay_auto(
        sizes, costs, k_max, lambda: _core.ThroughputGuard(cost_decay=0.0), True, start_untimed=True,
        priced_switches=True, fill=True, next_size=True, warmup_tokens=args.warmup_tokens)
    results[MAIN] = replay_auto(sizes, costs, k_max, _core.ThroughputGuard, True, start_untimed=True,
                                priced_switches=True, fill=True, next_size=True, warmup_tokens=args.warmup_tokens)
    tokens = sum(p["emitted"] for g in sizes[k_max] for p in g)
    base = results["always plain"]["tok_s"]
    print(f"{args.trace}: {len(sizes[k_max])} generations; pass of n tokens (ms): "
          + ", ".join(f"{n}: {s * 1e3:.2f}" for n, s in sorted(costs.pass_s_by_size.items()))
          + f"; size switch +{costs.switch_s * 1e3:.2f} ms, generation start +{costs.start_s * 1e3:.2f} ms")
    plain_per_generation = results["always plain"]["per_generation"]
    for r in results.values():
        r["median_speedup"] = median_speedup(r["per_generation"], plain_per_generation, repeats)
    print(f"{'policy':<56} {'tok/s':>8} {'vs plain':>9} {'median/prompt':>14} {'plain passes':>13}  sizes")
    for name, r in results.items():
        print(f"{name:<56} {r['tok_s']:>8.1f} {r['tok_s'] / base:>9.3f} {r['median_speedup']:>14.3f} "
              f"{r['plain_share']:>13.1%}  {r.get('sizes', '')}")
    memory = None
    if args.cost_memory:
        memory = replay_cost_memory(with_every_size(sizes, costs), costs, k_max, jitter_from(plain_gens), repeats,
                                    plain_gens, per_pass=args.cost_memory == "per-pass")
        print(f"the guard's cost memory, {args.cost_memory} passes; median speedup / plain passes at the median "
              f"costs, then under the plain row's drift (8 starts: median, worst, median plain passes):")
        for name, o in memory.items():
            print(f"{name:<56} {o['speedup']:>7.3f} {o['plain_share']:>6.1%}   drift {o['median_speedup_drift']:.3f} "
                  f"{o['worst_speedup_drift']:.3f} {o['median_plain_share_drift']:>6.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps({"trace": args.trace, "costs_s": {str(k): v for k, v in
                                               costs.pass_s_by_size.items()}, "switch_s": costs.switch_s, "start_s": costs.start_s,
                                               "tokens_max_row": tokens, "policies": results, "cost_memory": memory},
                                              indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
