"""Where a GPU pass's time goes: its wall time per pass size, and with `--kernels` the kernels it runs (Nsight Compute).

Times steady llama_decode passes of n tokens at one context depth, logits on every row and the KV rolled back after
each, as the calibration times them (CUDA graphs as llama.cpp decides; GGML_CUDA_DISABLE_GRAPHS=1 in the environment
turns them off, which shows what the graphs save). With `--kernels`, each size in `--kernel-sizes` also runs under
`ncu --metrics gpu__time_duration.sum` twice, with one and with three passes after the same prefill: the difference
of the two kernel counts over two is the kernels of one pass (no markers needed), and the last pass's kernels give
the breakdown by kernel. ncu serializes kernels, flushes caches and locks clocks, so its durations are its own, not
the pass's: the counts are exact, the times tell which kernels dominate. (The torch profiler cannot be used: torch's
CUDA and llama.cpp's in one process crash on the GPU machine, session 23.)

    python benchmarks/gpu_pass_profile.py -m MODEL.gguf [--n-gpu-layers -1] [--sizes 1,2,4,8,9,16] [--kernels] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

PASSES_FLAG = "--passes-only"  # the child ncu runs: load, prefill, then N passes of n tokens, nothing else


def parse_ncu_csv(text: str) -> list[tuple[str, float]]:
    """(kernel name, duration in us) of every kernel in an `ncu --csv --metrics gpu__time_duration.sum` log, in order."""
    lines = [line for line in text.splitlines() if line.startswith('"')]  # drops ==PROF== and program output
    kernels = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}.get(
            row.get("Metric Unit", "ns").strip().lower(), 1e-3)
        kernels.append((row["Kernel Name"], value * scale))
    return kernels


def short_name(kernel: str) -> str:
    """A kernel's template name without its argument list: 'mul_mat_vec_q<8, 8, 0, 0, 0>'."""
    name = kernel.split("(")[0].strip()
    return name[5:] if name.startswith("void ") else name


def one_pass(kernels_one: list[tuple[str, float]], kernels_three: list[tuple[str, float]]) -> dict:
    """The kernels of one pass from the runs with one and with three passes after the same prefill."""
    extra = len(kernels_three) - len(kernels_one)
    if extra <= 0 or extra % 2:
        raise ValueError(f"three passes ran {len(kernels_three)} kernels and one pass {len(kernels_one)}: "
                         "not two whole passes apart (was the GPU shared, or a graph captured late?)")
    per_pass = extra // 2
    last = kernels_three[-per_pass:]
    count, time = Counter(), defaultdict(float)
    for name, us in last:
        count[short_name(name)] += 1
        time[short_name(name)] += us
    return {"kernels": per_pass, "ncu_us": sum(us for _, us in last),
            "by_kernel": {n: {"count": count[n], "ncu_us": round(time[n], 2)}
                          for n in sorted(time, key=lambda n: -time[n])}}


def steady_pass_ms(model, sizes: list[int], depth: int, rounds: int) -> dict[int, float]:
    """Median ms of `rounds` llama_decode passes of each size after two untimed ones (CUDA captures on the 2nd)."""
    from mtp_edge.calibrate import time_passes

    out = {}
    for n in sizes:
        rows = time_passes(model, [n] * (rounds + 2), depth, 1)[0]
        out[n] = statistics.median(rows[2:])
    return out


def open_model(args: argparse.Namespace, largest: int):
    from mtp_edge import MTPModel

    return MTPModel(args.model, n_ctx=args.depth + largest + 64, n_gpu_layers=args.n_gpu_layers,
                    n_threads=args.threads, n_threads_batch=args.threads, flash_attn=args.flash_attn)


def kernels_of(args: argparse.Namespace, ncu: str, n: int) -> dict:
    """One pass of n tokens under ncu: its kernel count and the last pass's kernels by name."""
    logs = []
    with tempfile.TemporaryDirectory() as tmp:
        for passes in (1, 3):
            log = os.path.join(tmp, f"ncu_{n}_{passes}.csv")
            cmd = [ncu, "--metrics", "gpu__time_duration.sum", "--csv", "--log-file", log, sys.executable,
                   os.path.abspath(__file__), "-m", args.model, "--n-gpu-layers", str(args.n_gpu_layers),
                   "--depth", str(args.depth), "--threads", str(args.threads), PASSES_FLAG, f"{n}x{passes}"]
            if args.flash_attn is not None:
                cmd.append("--flash-attn" if args.flash_attn else "--no-flash-attn")
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not os.path.exists(log):
                raise SystemExit(f"gpu_pass_profile: ncu failed on passes of {n} tokens (exit {done.returncode}): "
                                 f"{(done.stderr or done.stdout)[-600:]}")
            logs.append(parse_ncu_csv(Path(log).read_text()))
    return one_pass(*logs)


def run_passes_only(args: argparse.Namespace, plan: str) -> None:
    """The child under ncu: the prefill and `count` passes of n tokens, all untimed."""
    n, count = (int(x) for x in plan.split("x"))
    model = open_model(args, n)
    from mtp_edge.calibrate import time_passes

    time_passes(model, [n] * count, args.depth, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--n-gpu-layers", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1,2,4,8,9,16", help="pass sizes to time, comma-separated")
    ap.add_argument("--depth", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--kernels", action="store_true", help="also count each pass's kernels with Nsight Compute (ncu)")
    ap.add_argument("--kernel-sizes", default="1,8", help="pass sizes to run under ncu (default 1,8)")
    ap.add_argument("--ncu", default=None, help="the ncu binary (default: ncu on PATH)")
    ap.add_argument("--json", default=None)
    ap.add_argument(PASSES_FLAG, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.passes_only:
        run_passes_only(args, args.passes_only)
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        kernel_sizes = [int(s) for s in args.kernel_sizes.split(",") if s.strip()] if args.kernels else []
    except ValueError:
        raise SystemExit("gpu_pass_profile: --sizes and --kernel-sizes must be comma-separated integers, e.g. 1,4,8")
    if not sizes or min(sizes + kernel_sizes) < 1:
        raise SystemExit("gpu_pass_profile: pass sizes must be at least 1 token")
    ncu = shutil.which(args.ncu or "ncu")
    if args.kernels and not ncu:
        raise SystemExit("gpu_pass_profile: --kernels needs Nsight Compute's ncu (on PATH, or --ncu PATH); "
                         "it comes with the CUDA toolkit")
    model = open_model(args, max(sizes))
    wall = steady_pass_ms(model, sizes, args.depth, args.rounds)
    del model
    kernels = {n: kernels_of(args, ncu, n) for n in kernel_sizes}
    graphs = "off" if os.environ.get("GGML_CUDA_DISABLE_GRAPHS") else "on"
    print(f"{args.model}: n_gpu_layers {args.n_gpu_layers}, depth {args.depth}, CUDA graphs {graphs}, "
          f"median of {args.rounds} passes")
    print(f"{'n':>3} {'ms a pass':>10} {'kernels':>8} {'us a kernel':>12}")
    for n in sizes:
        k = kernels.get(n, {}).get("kernels")
        print(f"{n:>3} {wall[n]:>10.3f} {k if k else '-':>8} {wall[n] * 1e3 / k if k else float('nan'):>12.2f}")
    for n, k in kernels.items():
        top = ", ".join(f"{name} x{v['count']}" for name, v in list(k["by_kernel"].items())[:6])
        print(f"  n={n}: {k['kernels']} kernels; most ncu time: {top}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "n_gpu_layers": args.n_gpu_layers, "depth": args.depth, "cuda_graphs": graphs,
            "wall_ms": {str(n): v for n, v in wall.items()}, "kernels": {str(n): v for n, v in kernels.items()},
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
