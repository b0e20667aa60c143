"""Issue 5's targets over every committed `mtp-edge bench` file: one table of where each stands, machine by machine.

For each bench JSON (docs/results/bench_*.json, from session --since on; the session is the file name's `_sNN`
suffix) it reads auto's speedup over plain llama-cpp-python, auto's share of the best fixed k_max row, the best
mode at tau 0.9 (confadapt_verify auto where it ran) and its wall-clock efficiency (speedup / Eff. k), and prompt
lookup's best row; then it prints, per backend, the worst and best of each against the issue's target.

    python benchmarks/target_status.py [--since 20] [--json OUT] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
VERIFY = "confadapt_verify auto"


@dataclass
class BenchRun:
    """One bench file's figures for the targets (None where the run had no such row)."""
    file: str
    session: int | None
    backend: str  # "cpu" or "gpu", from the file name
    auto: float  # auto (ConfAdapt tau 0.9) speedup over plain llama-cpp-python
    auto_share: float | None  # auto / the best fixed k_max row (mtp-edge k_max = 1 included)
    best_tau09: float  # the fastest tau-0.9 mode (auto or confadapt_verify auto)
    best_tau09_efficiency: float | None  # its speedup / Eff. k
    lookup: float | None  # prompt lookup's best row


def session_of(name: str) -> int | None:
    """The session a file's name carries (`..._s25b.json` -> 25), None for the unsuffixed early files."""
    m = re.search(r"_s(\d+)[a-z0-9]*\.json$", name)
    return int(m.group(1)) if m else None


def read_run(path: Path) -> BenchRun | None:
    """The figures of one bench JSON, or None where it has no auto row (sweeps of one mode, partial runs)."""
    rows = json.loads(path.read_text()).get("rows") or []
    by_label = {r.get("label"): r for r in rows}
    auto = by_label.get("auto")
    if auto is None or not auto.get("speedup"):
        return None
    fixed = [r["speedup"] for r in rows if r.get("mode") == "confadapt"
             and r.get("label", "").removeprefix("mtp-edge ").startswith("k_max") and r.get("speedup")]
    best = max([auto] + ([by_label[VERIFY]] if by_label.get(VERIFY, {}).get("speedup") else []),
               key=lambda r: r["speedup"])
    lookups = [r["speedup"] for r in rows if r.get("mode") == "prompt_lookup" and r.get("speedup")]
    return BenchRun(path.name, session_of(path.name), "gpu" if "_gpu_" in path.name else "cpu",
                    auto["speedup"], auto["speedup"] / max(fixed) if fixed else None, best["speedup"],
                    best["speedup"] / best["eff_k"] if best.get("eff_k") else None, max(lookups) if lookups else None)


def summarize(runs: list[BenchRun]) -> list[dict]:
    """Per backend: each target's worst and best figure over the runs, and how many runs meet it."""
    out = []
    for backend in sorted({r.backend for r in runs}):
        rs = [r for r in runs if r.backend == backend]
        speed_target = 2.0 if backend == "gpu" else 1.3
        checks = [
            ("auto >= 0.97x plain", [r.auto for r in rs], lambda v: v >= 0.97),
            ("auto >= 95% of best fixed", [r.auto_share for r in rs if r.auto_share], lambda v: v >= 0.95),
            (f"best tau-0.9 mode >= {speed_target}x", [r.best_tau09 for r in rs], lambda v: v >= speed_target),
            ("efficiency >= 0.75" if backend == "gpu" else "efficiency (no CPU target)",
             [r.best_tau09_efficiency for r in rs if r.best_tau09_efficiency],
             (lambda v: v >= 0.75) if backend == "gpu" else None),
            ("best tau-0.9 mode ahead of prompt lookup", [r.best_tau09 - r.lookup for r in rs if r.lookup],
             lambda v: v > 0),
        ]
        for name, values, met in checks:
            if values:
                out.append({"backend": backend, "target": name, "runs": len(values),
                            "met": sum(map(met, values)) if met else None,
                            "worst": round(min(values), 3), "best": round(max(values), 3)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="bench JSON files (default: docs/results/bench_*.json)")
    ap.add_argument("--since", type=int, default=20, help="only files of this session on (default 20)")
    ap.add_argument("--json", type=Path, help="write the per-file figures and the summary here")
    args = ap.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("bench_*.json"))
    runs = [r for r in map(read_run, files) if r and (r.session or 0) >= args.since]
    if not runs:
        print(f"target_status: no bench file with an auto row from session {args.since} on", file=sys.stderr)
        return 1
    table = summarize(runs)
    print(f"{len(runs)} bench runs from session {args.since} on (worst / best; 'lookup' rows: margin in speedup)")
    print(f"{'backend':7}  {'target':42}  {'met':>7}  {'worst':>7}  {'best':>7}")
    for t in table:
        met = f"{t['met']:>3}/{t['runs']:<3}" if t["met"] is not None else f"  -/{t['runs']:<3}"
        print(f"{t['backend']:7}  {t['target']:42}  {met}  {t['worst']:7.3f}  {t['best']:7.3f}")
    if args.json:
        args.json.write_text(json.dumps({"since": args.since, "summary": table, "runs": [asdict(r) for r in runs]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
