"""What a cheaper multi-token pass would make of a bench: each mode's traced decode passes repriced, its speedup scaled.

A projection, not a measurement: it takes a bench's JSON and its trace (`mtp-edge bench --json --trace`), removes from
every decode pass of 2..`--max-n` tokens the time of `--saved-kernels` kernels at that pass's cost per kernel (the
calibrated cost of a pass of n tokens over `--pass-kernels`), and scales each mode's measured speedup by its old
decode time over its new one. Plain decoding and one-token passes are untouched. Session 23 used it for llama.cpp's
one-token fusions let through to passes of up to 8 tokens (an 8-token pass: 725 kernels, 146 of them the fusions'
difference; scripts/cuda_mmvq_fusion.sh). Session 24 measured that build on an H100 and the projection did not hold
for 7-8-token passes: the fused pass ran 579 kernels but cost 8% more (its fused kernels cost more per launch), while
2-4-token passes were 3-6% cheaper. Removing kernels prices them at the pass's old cost per kernel; check the result
against a measured curve before trusting it (docs/RESULTS.md, session 24).

    python benchmarks/project_pass_saving.py --bench BENCH.json --trace TRACE.jsonl.gz --curve CALIBRATE.json \
        [--saved-kernels 146] [--pass-kernels 725] [--max-n 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path


def pass_saving_ms(curve_ms: list[float], saved_kernels: int, pass_kernels: int, max_n: int):
    """ms a pass of n tokens saves: `saved_kernels` at the pass's ms per kernel, for 2 <= n <= max_n, else 0."""
    def saving(n: int) -> float:
        if n < 2 or n > max_n:
            return 0.0
        return saved_kernels * curve_ms[min(n, len(curve_ms)) - 1] / pass_kernels
    return saving


def project(traces: list[dict], bench_rows: list[dict], saving) -> list[dict]:
    """Per bench row with traced passes: measured speedup, projected speedup and the decode-time ratio."""
    old, new = defaultdict(float), defaultdict(float)
    for run in traces:
        for p in run["passes"]:
            if p.get("prefill"):
                continue
            ms = p["seconds"] * 1e3
            old[run["mode"]] += ms
            new[run["mode"]] += max(ms - saving(p["fed"]), 0.0)
    out = []
    for row in bench_rows:
        label = row.get("label", row["mode"])
        if label in old and new[label] > 0:
            ratio = new[label] / old[label]
            out.append({"mode": label, "measured": row["speedup"], "projected": row["speedup"] / ratio,
                        "time_ratio": ratio})
    return out


def load_trace(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True, help="the bench's --json output")
    ap.add_argument("--trace", required=True, help="the same bench's --trace output (.jsonl or .jsonl.gz)")
    ap.add_argument("--curve", required=True, help="`mtp-edge calibrate --json` of the same machine and model")
    ap.add_argument("--depth", type=int, default=512, help="the curve's context depth to price by (nearest measured)")
    ap.add_argument("--saved-kernels", type=int, default=146)
    ap.add_argument("--pass-kernels", type=int, default=725)
    ap.add_argument("--max-n", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not 0 < args.saved_kernels < args.pass_kernels:
        raise SystemExit("project_pass_saving: --saved-kernels must be between 0 and --pass-kernels")
    try:
        curve = json.loads(Path(args.curve).read_text())
        depth = min(curve["cost_ms"], key=lambda d: abs(int(d) - args.depth))
        by_size = dict(zip(curve["sizes"], curve["cost_ms"][depth]))
        curve_ms = [by_size[n] for n in range(1, args.max_n + 1)]
        bench_rows = json.loads(Path(args.bench).read_text())["rows"]
        traces = load_trace(args.trace)
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"project_pass_saving: cannot read the inputs ({e}); the curve needs every size 1..--max-n "
                         "(a full calibration)")
    rows = project(traces, bench_rows, pass_saving_ms(curve_ms, args.saved_kernels, args.pass_kernels, args.max_n))
    print(f"PROJECTION: {args.saved_kernels} of {args.pass_kernels} kernels saved on passes of 2-{args.max_n} tokens "
          f"({args.bench})")
    print(f"{'mode':40s} {'measured':>9} {'projected':>10} {'decode time':>12}")
    for r in rows:
        print(f"{r['mode'][:40]:40s} {r['measured']:>9.3f} {r['projected']:>10.3f} {r['time_ratio']:>11.3f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"projection": True, "bench": args.bench, "trace": args.trace,
                                               "saved_kernels": args.saved_kernels, "pass_kernels": args.pass_kernels,
                                               "max_n": args.max_n, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
