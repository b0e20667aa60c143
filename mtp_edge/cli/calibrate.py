"""`mtp-edge calibrate`: measure and cache the cost of a pass of n tokens for this machine and model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtp_edge.cli.generate import add_kernel_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True, help="path of a .gguf model")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--n-gpu-layers", type=int, default=0, help="layers on the GPU (-1 = all; CUDA/Metal builds)")
    add_kernel_arguments(p)
    p.add_argument("--repeats", type=int, default=5, help="timed passes per size; the median counts (default 5)")
    p.add_argument("--quick", action="store_true", help="9 sizes at one depth (what `--k-max auto` does on first use)")
    p.add_argument("--json", action="store_true", help="print the curve as JSON")
    p.add_argument("--no-save", action="store_true", help="measure only; leave the cache as it is")


def switch_report(curve) -> list[str]:
    """What a change of pass size costs here, and on CUDA where it is dear, how to make it cheap."""
    from mtp_edge.calibrate import SWITCH_PASS

    if curve.switch_ms is None:
        return []
    lines = [f"a change of pass size (1 <-> {SWITCH_PASS} tokens) adds {curve.switch_ms:.2f} ms"]
    one_token = curve.cost_ms[curve.depths[0]][0]
    if curve.key.get("backend") == "CUDA" and curve.switch_ms > 2 * one_token:
        lines.append("  this llama.cpp keeps one captured CUDA graph for every pass size; built with one per size "
                     "(scripts/build_llama_cpp_cuda.sh in the mtp-edge source; README) a change cost ~0.5 ms on "
                     "an H200 and passes with masks ran 9-17% faster")
    return lines


def run(args: argparse.Namespace) -> int:
    from mtp_edge import calibrate
    from mtp_edge.model import MTPModel

    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"model file {args.model} does not exist")
    model = MTPModel(args.model, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                     n_gpu_layers=args.n_gpu_layers, flash_attn=args.flash_attn, device_rows=args.device_rows)
    curve = calibrate.calibrate(model, full=not args.quick, repeats=args.repeats, save=not args.no_save)
    if args.json:
        print(json.dumps(curve.to_json()))
        return 0
    key = curve.key
    kernel = (", flash attention" if key.get("flash_attn") else "") + (", device rows" if key.get("device_rows") else "")
    print(f"{Path(key['model']).name}: {key['backend']}{kernel}, {key['threads']} threads, median of {curve.repeats}")
    depths = curve.depths
    print(f"{'n':>4}" + "".join(f"{f'ms @ {d}':>12}" for d in depths) + f"{'x n=1':>8}")
    for i, n in enumerate(curve.sizes):
        ratio = curve.cost_ms[depths[0]][i] / curve.cost_ms[depths[0]][0]
        print(f"{n:>4}" + "".join(f"{curve.cost_ms[d][i]:>12.2f}" for d in depths) + f"{ratio:>8.2f}")
    for line in switch_report(curve):
        print(line)
    if not args.no_save:
        print(f"saved to {calibrate.cache_path(key)}", file=sys.stderr)
    return 0
