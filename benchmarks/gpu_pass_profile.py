"""Where a GPU pass's time goes: kernels, their busy time and the gaps between them, per pass size.

Times steady llama_decode passes of n tokens (logits on every row, the KV rolled back after each) under the torch
profiler, whose CUPTI tracing sees every kernel of the process, llama.cpp's included. For each pass size it reports
the wall time of a pass (llama_decode + synchronize, as the calibration times it), the number of kernels, the GPU's
busy time (the union of the kernels' intervals), the span from the first kernel's start to the last one's end, and
what is left: host work before the first kernel and after the last (graph build, scheduling, the logits' copy), and
idle gaps inside the span (launch latency). Run it once with CUDA graphs (llama.cpp's default) and once with
GGML_CUDA_DISABLE_GRAPHS=1 to see what the graphs save. Without torch or CUDA it reports the wall times only.

    python benchmarks/gpu_pass_profile.py -m MODEL.gguf --n-gpu-layers -1 [--sizes 1,2,4,8,9,16] [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from mtp_edge import MTPModel
from mtp_edge.calibrate import _decode, _fill_context, _filler

PASS_LABEL = "mtp_pass_n"  # the profiler range around one pass: "mtp_pass_n=8"


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by the intervals (overlaps counted once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def pass_breakdown(passes: list[tuple[int, float, float]], kernels: list[tuple[float, float, str]]) -> dict:
    """Per pass size: medians over its passes of wall, kernel count, busy, span, host-before/after and idle gaps (us).

    passes: (n, start, end) of each pass's profiler range; kernels: (start, end, name) of every kernel, same clock.
    A kernel belongs to the pass whose range holds its start (with graphs the launch returns before the kernels run,
    but the range ends with llama_synchronize, so every kernel of the pass starts inside it).
    """
    kernels = sorted(kernels)
    rows: dict[int, dict[str, list[float]]] = {}
    names: dict[int, dict[str, float]] = {}
    i = 0
    for n, t0, t1 in sorted(passes, key=lambda p: p[1]):
        while i < len(kernels) and kernels[i][0] < t0:
            i += 1
        mine = []
        while i < len(kernels) and kernels[i][0] <= t1:
            mine.append(kernels[i])
            i += 1
        r = rows.setdefault(n, {k: [] for k in ("wall", "kernels", "busy", "span", "before", "after", "gaps")})
        r["wall"].append(t1 - t0)
        r["kernels"].append(len(mine))
        if mine:
            busy = union_length([(a, b) for a, b, _ in mine])
            first, last = mine[0][0], max(b for _, b, _ in mine)
            r["busy"].append(busy)
            r["span"].append(last - first)
            r["before"].append(first - t0)
            r["after"].append(max(t1 - last, 0.0))
            r["gaps"].append(last - first - busy)
            per = names.setdefault(n, {})
            for a, b, name in mine:
                per[name] = per.get(name, 0.0) + (b - a)
    out = {}
    for n, r in sorted(rows.items()):
        count = len(r["wall"])
        row = {k: statistics.median(v) for k, v in r.items() if v}
        row["passes"] = count
        if n in names:
            top = sorted(names[n].items(), key=lambda kv: -kv[1])[:8]
            row["top_kernels_us_per_pass"] = {name[:80]: t / count for name, t in top}
        out[n] = row
    return out


def kernels_and_passes(trace: dict) -> tuple[list[tuple[int, float, float]], list[tuple[float, float, str]]]:
    """The pass ranges and the GPU work (kernels, copies, memsets) of a Chrome trace the torch profiler exported."""
    passes, kernels = [], []
    for e in trace.get("traceEvents", []):
        if e.get("ph") != "X":
            continue
        name, cat = str(e.get("name", "")), str(e.get("cat", "")).lower()
        start, dur = float(e.get("ts", 0.0)), float(e.get("dur", 0.0))
        if cat == "kernel":
            kernels.append((start, start + dur, name))
        elif cat in ("gpu_memcpy", "gpu_memset"):  # the logits' copy to the host is on the GPU's timeline too
            kernels.append((start, start + dur, f"[{cat[4:]}] {name}"))
        elif name.startswith(PASS_LABEL + "="):
            passes.append((int(name.split("=", 1)[1]), start, start + dur))
    return passes, kernels


def run_passes(model: MTPModel, sizes: list[int], depth: int, rounds: int, label) -> None:
    """Steady passes: for each size, `rounds` passes after two untimed ones (CUDA captures its graph on the 2nd)."""
    import llama_cpp

    ctx = model.llama._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(int(model.llama.n_batch), 0, 1)
    tokens = _filler(model, depth + max(sizes))
    try:
        _fill_context(ctx, mem, batch, tokens[:depth], int(model.llama.n_batch))
        for n in sizes:
            for r in range(rounds + 2):
                with label(f"{PASS_LABEL}={n}" if r >= 2 else "warm"):
                    _decode(ctx, batch, tokens[depth:depth + n], depth, outputs=n)
                llama_cpp.llama_memory_seq_rm(mem, 0, depth, -1)
    finally:
        llama_cpp.llama_batch_free(batch)
    model.reset()


def profile(model: MTPModel, sizes: list[int], depth: int, rounds: int, trace_out: str | None) -> dict:
    """The breakdown under the torch profiler, or wall times only where torch or its CUDA is missing."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, record_function
        cuda = torch.cuda.is_available()
    except ImportError:
        torch, cuda = None, False
    if not cuda:
        import contextlib
        import time

        spans: list[tuple[int, float, float]] = []

        @contextlib.contextmanager
        def label(name: str):
            t0 = time.perf_counter()
            yield
            if name.startswith(PASS_LABEL):
                spans.append((int(name.split("=")[1]), t0 * 1e6, time.perf_counter() * 1e6))

        run_passes(model, sizes, depth, rounds, label)
        return {"profiler": None, "by_size": pass_breakdown(spans, [])}
    with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run_passes(model, sizes, depth, rounds, record_function)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        trace = json.loads(Path(path).read_text())
    if trace_out:
        with gzip.open(trace_out, "wt") as f:
            json.dump(trace, f)
    passes, kernels = kernels_and_passes(trace)
    return {"profiler": f"torch {torch.__version__}", "by_size": pass_breakdown(passes, kernels)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--n-gpu-layers", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1,2,4,8,9,16")
    ap.add_argument("--depth", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--trace", default=None, help="also write the profiler's Chrome trace here (.json.gz)")
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"gpu_pass_profile: --sizes {args.sizes!r} must be comma-separated integers, e.g. 1,4,8")
    if not sizes or min(sizes) < 1:
        raise SystemExit("gpu_pass_profile: --sizes needs pass sizes of at least 1 token")
    model = MTPModel(args.model, n_ctx=args.depth + max(sizes) + 64, n_gpu_layers=args.n_gpu_layers,
                     n_threads=args.threads, n_threads_batch=args.threads, flash_attn=args.flash_attn)
    result = profile(model, sizes, args.depth, args.rounds, args.trace)
    graphs = "off" if os.environ.get("GGML_CUDA_DISABLE_GRAPHS") else "on"
    print(f"{args.model}: n_gpu_layers {args.n_gpu_layers}, depth {args.depth}, CUDA graphs {graphs}, "
          f"median of {args.rounds} passes (us); profiler: {result['profiler']}")
    print(f"{'n':>3} {'wall':>8} {'kernels':>8} {'busy':>8} {'span':>8} {'before':>8} {'after':>8} {'gaps':>8}")
    for n, r in result["by_size"].items():
        cells = [f"{r.get(k, float('nan')):>8.1f}" for k in ("wall", "kernels", "busy", "span", "before", "after", "gaps")]
        print(f"{n:>3} " + " ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "n_gpu_layers": args.n_gpu_layers,
                                               "depth": args.depth, "cuda_graphs": graphs, **result}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
