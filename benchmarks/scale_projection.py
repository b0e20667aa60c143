"""Scale projection: what MTP decoding would buy the released checkpoints' shapes on this CPU. A PROJECTION.

1. Random-weight GGUFs of the real shapes (Llama-3.1-8B, Qwen3-4B) written by the converter's machinery
   (mtp_edge.convert.synthetic.write_random_gguf, F16; Q4_K_M through llama.cpp's quantizer). Cost depends on
   shape and type, not on values (MEASURED.md). Full 8B/4B files do not fit this machine's time and disk
   budget, so each shape is written with FEW layers (default 1 and 3) and the curve of the full depth is
   extrapolated per layer: cost_L(n) = cost_1(n) + (L - 1) * (cost_3(n) - cost_1(n)) / 2. The fixed part
   (embedding, output head, per-pass overhead) is measured, not assumed.
2. Each file calibrated like `mtp-edge calibrate` (llama_decode of n tokens, logits on every row, median).
3. Acceptance: the paper's Eff. k 3.3 at tau 0.9, k_max 16 (METHOD.md section 3), modelled as a constant
   conditional acceptance p per mask position (1 + p + ... + p^15 = 3.3 gives p = 0.70); or our own model's
   accept histogram (`--accept-hist`, from a fixed-k_max run: conditional acceptance per position).
4. Projected speedup for m masks per pass in steady state (the policy's own model):
   E[a](m) * cost(1) / cost(E[a](m) + m), for the trained k_max (m = k_max - 1) and the best m (`auto`).

    python benchmarks/scale_projection.py --workdir /tmp/scale [--shapes llama-3.1-8b,qwen3-4b]
        [--types f16,q4_k_m] [--layers 1,3] [--threads 2] [--n-gpu-layers -1] [--json OUT] [--curves-json CACHED]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

FULL_LAYERS = {"llama-3.1-8b": 32, "qwen3-4b": 36}
SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 32)
PAPER_EFF_K, PAPER_K_MAX = 3.3, 16
# MEASURED.md, H200 CUDA (llama-bench, not measured by this script): ms per pass of n tokens, 8B shape.
H200_8B = {"q4_0": {1: 3.02, 2: 3.72, 4: 4.48, 8: 6.33, 16: 8.02, 32: 9.35},
           "f16": {1: 4.77, 2: 7.52, 4: 7.35, 8: 7.75, 16: 8.50, 32: 8.26}}


def geometric_p(eff_k: float, masks: int) -> float:
    """p such that 1 + p + ... + p^masks = eff_k (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(mid ** j for j in range(masks + 1)) < eff_k:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def conditionals_from_hist(accept_hist: list[int], k_max: int) -> list[float]:
    """P(accept mask j | masks 1..j-1 accepted) from a fixed-k_max run's passes-by-tokens-emitted histogram."""
    total = sum(accept_hist)
    reach = [sum(accept_hist[a] for a in range(j, len(accept_hist))) / total for j in range(1, k_max + 1)]
    return [reach[j] / reach[j - 1] if reach[j - 1] > 0 else 0.0 for j in range(1, k_max)]


def expected_tokens(conditional: list[float], masks: int) -> float:
    expected, reach = 1.0, 1.0
    for j in range(masks):
        reach *= conditional[j] if j < len(conditional) else 0.0
        expected += reach
    return expected


def cost_at(curve: dict[int, float], n: float) -> float:
    """Linear interpolation in n over the measured sizes, the last slope extended."""
    xs = sorted(curve)
    if n <= xs[0]:
        return curve[xs[0]]
    for a, b in zip(xs, xs[1:]):
        if n <= b:
            return curve[a] + (curve[b] - curve[a]) * (n - a) / (b - a)
    a, b = xs[-2], xs[-1]
    return curve[b] + (curve[b] - curve[a]) / (b - a) * (n - b)


def speedup(curve: dict[int, float], conditional: list[float], masks: int) -> tuple[float, float]:
    """(speedup over plain decoding, tokens per pass) with `masks` masks per pass in steady state."""
    tokens = expected_tokens(conditional, masks)
    return tokens * curve[1] / cost_at(curve, tokens + masks), tokens


def best_masks(curve: dict[int, float], conditional: list[float], most: int) -> int:
    return max(range(most + 1), key=lambda m: speedup(curve, conditional, m)[0])


def extrapolate(c_lo: dict[int, float], c_hi: dict[int, float], lo: int, hi: int, full: int) -> dict[int, float]:
    """Per-layer extrapolation to `full` layers, made non-decreasing in n (a bigger pass never costs less;
    where noise says so, as the policy does with a calibrated curve, the dip is lifted)."""
    raw = {n: c_lo[n] + (full - lo) * (c_hi[n] - c_lo[n]) / (hi - lo) for n in sorted(c_lo)}
    out, top = {}, float("-inf")
    for n, c in raw.items():
        top = max(top, c)
        out[n] = top
    return out


# -- measuring -------------------------------------------------------------------------------------------
def make_file(workdir: Path, shape: str, qtype: str, n_layer: int) -> Path:
    from mtp_edge.convert.quantize import get_outtype, llama_quantize
    from mtp_edge.convert.synthetic import write_random_gguf

    f16 = workdir / f"{shape}-L{n_layer}-f16.gguf"
    if not f16.exists():
        write_random_gguf(f16, shape, outtype="f16", n_layer=n_layer)
    if qtype == "f16":
        return f16
    out = workdir / f"{shape}-L{n_layer}-{qtype}.gguf"
    if not out.exists():  # through a temporary name: an interrupted run leaves no half file behind
        tmp = out.with_suffix(".tmp")
        llama_quantize(f16, tmp, get_outtype(qtype))
        tmp.rename(out)
    return out


def measure(path: Path, threads: int, repeats: int, n_gpu_layers: int = 0) -> dict[int, float]:
    from mtp_edge import calibrate
    from mtp_edge.model import MTPModel

    model = MTPModel(path, n_ctx=1024, n_threads=threads, n_threads_batch=threads, n_batch=64,
                     n_gpu_layers=n_gpu_layers)
    try:
        curve = calibrate.measure_curve(model, sizes=SIZES, depths=(256,), repeats=repeats)
    finally:
        model.close()
    return dict(zip(curve.sizes, curve.cost_ms[256]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mtp-scale")
    ap.add_argument("--shapes", default="llama-3.1-8b,qwen3-4b")
    ap.add_argument("--types", default="f16,q4_k_m")
    ap.add_argument("--layers", default="1,3", help="two layer counts to extrapolate from")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n-gpu-layers", type=int, default=0, help="-1: every layer on the GPU (a CUDA/Metal build)")
    ap.add_argument("--curves-json", default=None, help="reuse measured curves from an earlier --json")
    ap.add_argument("--accept-hist", default=None,
                    help="JSON {\"k_max\": K, \"accept_hist\": [...]} of our model (a fixed-k_max run)")
    ap.add_argument("--ours-eff-k", default="1.61@8", help="our model's Eff.k@k_max, as a geometric acceptance")
    ap.add_argument("--prepare-only", action="store_true", help="write the files, measure nothing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.layers.split(","))
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    measured: dict[str, dict[str, dict[int, float]]] = {}
    if args.curves_json:
        measured = {k: {kk: {int(n): c for n, c in vv.items()} for kk, vv in v.items()}
                    for k, v in json.loads(Path(args.curves_json).read_text())["measured"].items()}
    for shape in args.shapes.split(","):
        for qtype in args.types.split(","):
            name = f"{shape} {qtype}"
            measured.setdefault(name, {})
            for n_layer in (lo, hi):
                if str(n_layer) in measured[name] or n_layer in measured[name]:
                    continue
                t0 = time.time()
                path = make_file(workdir, shape, qtype, n_layer)
                if args.prepare_only:
                    continue
                measured[name][str(n_layer)] = measure(path, args.threads, args.repeats, args.n_gpu_layers)
                print(f"measured {path.name} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    if args.prepare_only:
        return 0
    measured = {k: {str(kk): {int(n): c for n, c in vv.items()} for kk, vv in v.items()} for k, v in measured.items()}

    # acceptance scenario -> P(accept mask j | earlier accepted), one entry per mask the model was trained for
    scenarios = {"paper tau 0.9 (Eff.k 3.3 @ k_max 16)": [geometric_p(PAPER_EFF_K, PAPER_K_MAX - 1)] * 15}
    if args.ours_eff_k:  # our SmolLM2-MTP, RESULTS.md self-distillation section: 1.61 at tau 0.9, k_max 8
        eff, k = (float(x) for x in args.ours_eff_k.split("@"))
        scenarios[f"ours tau 0.9 (Eff.k {eff:g} @ k_max {k:g})"] = [geometric_p(eff, int(k) - 1)] * (int(k) - 1)
    if args.accept_hist:
        ours = json.loads(Path(args.accept_hist).read_text())
        scenarios[f"our model ({ours.get('label', 'accept_hist')})"] = conditionals_from_hist(ours["accept_hist"],
                                                                                                ours["k_max"])
    curves = {}
    where = "GPU" if args.n_gpu_layers else f"CPU, {args.threads} threads"
    for name, by_layers in measured.items():
        shape = name.split()[0]
        curves[f"{name} ({where}, {FULL_LAYERS[shape]} layers extrapolated)"] = extrapolate(
            by_layers[str(lo)], by_layers[str(hi)], lo, hi, FULL_LAYERS[shape])
    for qtype, c in H200_8B.items():
        curves[f"llama-3.1-8b {qtype} (H200 CUDA, MEASURED.md)"] = c
    rows = []
    for cname, curve in curves.items():
        for sname, cond in scenarios.items():
            fixed, fixed_tokens = speedup(curve, cond, len(cond))  # the trained k_max, every mask appended
            m = best_masks(curve, cond, len(cond))
            best, best_tokens = speedup(curve, cond, m)
            rows.append({"curve": cname, "acceptance": sname, "ms_n1": curve[1], "cost_ratio_n8": cost_at(curve, 8) / curve[1],
                         "kmax_speedup": fixed, "kmax_eff_k": fixed_tokens, "auto_masks": m, "auto_speedup": best,
                         "auto_eff_k": best_tokens})
    print("PROJECTION (random-weight files of the real shapes; acceptance from the paper or our model)")
    print(f"{'curve':<64}{'ms n=1':>8}{'c8/c1':>7}{'kmax x':>7}{'auto m':>7}{'auto x':>8}{'Eff.k':>7}  acceptance")
    for r in rows:
        print(f"{r['curve']:<64}{r['ms_n1']:>8.1f}{r['cost_ratio_n8']:>7.2f}{r['kmax_speedup']:>7.2f}"
              f"{r['auto_masks']:>7}{r['auto_speedup']:>8.2f}{r['auto_eff_k']:>7.2f}  {r['acceptance']}")
    result = {"measured": measured, "layers": [lo, hi], "threads": args.threads, "n_gpu_layers": args.n_gpu_layers,
              "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
