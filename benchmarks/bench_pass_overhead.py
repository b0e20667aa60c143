"""Per-pass overhead of the decode loop: time per pass beyond llama_decode itself, before and after.

The loop's stats split decode time into time inside llama_decode and the rest (top-1 and probability per row,
acceptance, KV rollback, bookkeeping). `--baseline-core` runs a second build of `mtp_edge._core` (e.g. the
previous commit's, built with the same llama_decode timer) on the same model, prompts and threads, in worker
processes alternating round by round with the current build, so the two columns compare loop overhead only. Median over repeats; threads fixed.

    python benchmarks/bench_pass_overhead.py [-m MODEL] [--threads 2] [--repeats 5] [--max-tokens 64]
        [--n-gpu-layers -1] [--[no-]flash-attn] [--baseline-core /tmp/old_ext/build/_core.cpython-311-x86_64-linux-gnu.so] [--json OUT]
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PROMPTS = [
    "Write a short story about a robot who learns to paint.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether?",
    "Explain how a bicycle works to a ten-year-old.",
]
# (label, options): plain decoding, static k (every mask row read), ConfAdapt (rows read until one fails).
CONFIGS = [
    ("k=1", dict(k_max=1)),
    ("static k=4", dict(k_max=4, mode="static")),
    ("confadapt k=4 tau=0.5", dict(k_max=4, tau=0.5)),
    ("confadapt k=4, no agreement rows", dict(k_max=4, tau=0.5, track_agreement=False)),
    ("confadapt k=6 tau=0.9", dict(k_max=6, tau=0.9)),
    ("confadapt k=6 tau=0.9, varying shape", dict(k_max=6, tau=0.9, fixed_shape=False)),
    ("lossless k=6 tau=0.5", dict(k_max=6, mode="lossless")),
    ("confadapt_verify k=6 tau=0.9", dict(k_max=6, tau=0.9, mode="confadapt_verify")),
]


def use_core(path: str) -> None:
    """Make `import mtp_edge` use another build of the extension (before mtp_edge is first imported).

    Two builds cannot share one process (both register the same C++ types), so each build runs in its own
    worker process and the parent interleaves them round by round.
    """
    spec = importlib.util.spec_from_file_location("mtp_edge._core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["mtp_edge._core"] = module


def run_once(model, tokens: list[int], max_tokens: int, options: dict) -> dict:
    """One generation; per decode pass: loop ms, llama_decode ms."""
    decoder = model._decoder
    decoder.clear_cache()
    decoder.begin(tokens, 0, model._params(max_tokens, options))
    decoder.run()
    s = decoder.stats
    passes = s["passes"] - 1  # the prefill pass is timed separately
    if passes <= 0:
        raise RuntimeError("the generation ended in its first pass; give --max-tokens more room")
    return {"loop_ms": s["decode_s"] / passes * 1e3, "llama_ms": s["llama_decode_s"] / passes * 1e3,
            "eff_k": s["generated"] / s["passes"]}


def worker(args) -> int:
    """One round in this process: every prompt x config once; prints the samples as JSON."""
    # On CUDA builds this worker has died with SIGSEGV before printing (sessions 4, 5, 14) where `mtp-edge bench`
    # runs the same decoder: the Python stack of a crash goes to stderr, which the parent shows.
    faulthandler.enable()
    if args.core:
        use_core(args.core)
    from mtp_edge import MTPModel

    path, mask = args.model, args.mask_token_id
    if path is None:  # the tests' model and stand-in mask (conftest, imported only here, sets OMP_WAIT_POLICY)
        from conftest import STAND_IN_MASK_ID
        from gguf_util import smollm2_gguf

        path, mask = str(smollm2_gguf()), STAND_IN_MASK_ID if mask is None else mask
    model = MTPModel(path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, mask_token_id=mask,
                     n_gpu_layers=args.n_gpu_layers, flash_attn=args.flash_attn)
    samples = []
    for i, prompt in enumerate(PROMPTS):
        print(f"worker: prompt {i + 1}/{len(PROMPTS)}", file=sys.stderr, flush=True)  # how far a crash got
        tokens = model.tokenize(model.format_chat([{"role": "user", "content": prompt}]))
        if i == 0:
            run_once(model, tokens, 8, dict(k_max=4, tau=0.5))  # warm-up
        for label, options in CONFIGS:
            samples.append({"config": label, **run_once(model, tokens, args.max_tokens, options)})
    print(json.dumps(samples), flush=True)  # before the teardown: a crash there must not lose the figures
    model.close()
    return 0


def run_worker(cmd: list[str]) -> list[dict]:
    """One worker round's samples. A worker that printed its samples and then crashed (seen once at exit on a
    CUDA build) still counts, with a warning; one that printed none fails with its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if lines and lines[-1].startswith("["):
        if proc.returncode != 0:
            print(f"warning: the worker exited with {proc.returncode} after printing its samples", file=sys.stderr)
        return json.loads(lines[-1])
    raise RuntimeError(f"the worker exited with {proc.returncode} and printed no samples:\n{proc.stderr[-3000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=None, help="GGUF (default: SmolLM2-135M-Instruct Q4_1, stand-in mask)")
    ap.add_argument("--mask-token-id", type=int, default=None, help="mask id for a model without one")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--n-gpu-layers", type=int, default=0, help="-1: every layer on the GPU (CUDA/Metal build)")
    ap.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=None,
                    help="llama.cpp's fused attention kernel (default: mtp-edge's, on with layers on a GPU)")
    ap.add_argument("--baseline-core", default=None, help="a second _core .so to compare against")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--core", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    builds = {"current": None, **({"baseline": args.baseline_core} if args.baseline_core else {})}
    common = [sys.executable, __file__, "--worker", "--threads", str(args.threads), "--max-tokens",
              str(args.max_tokens), "--n-gpu-layers", str(args.n_gpu_layers)]
    common += [] if args.flash_attn is None else ["--flash-attn" if args.flash_attn else "--no-flash-attn"]
    common += (["-m", args.model] if args.model else []) + (
        ["--mask-token-id", str(args.mask_token_id)] if args.mask_token_id is not None else [])
    samples: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for build, core in builds.items():  # alternating rounds: drift hits both builds alike
            cmd = common + (["--core", core] if core else [])
            for s in run_worker(cmd):
                samples.setdefault((s["config"], build), []).append(s)
    path = args.model or "SmolLM2-135M-Instruct Q4_1 (stand-in mask)"
    rows = []
    for (label, build), runs in samples.items():
        loop = statistics.median(r["loop_ms"] for r in runs)
        llama = statistics.median(r["llama_ms"] for r in runs)
        over = statistics.median(r["loop_ms"] - r["llama_ms"] for r in runs)
        rows.append({"config": label, "build": build, "loop_ms_per_pass": loop, "llama_decode_ms_per_pass": llama,
                     "overhead_ms_per_pass": over, "overhead_share": over / loop,
                     "eff_k": statistics.median(r["eff_k"] for r in runs)})
    print(f"model {Path(path).name}, threads {args.threads}, n_gpu_layers {args.n_gpu_layers}, "
          f"{len(PROMPTS)} prompts x {args.repeats} repeats, {args.max_tokens} tokens; medians; "
          "builds alternated round by round")
    print(f"{'config':<36}{'build':>10}{'ms/pass':>9}{'llama_decode':>14}{'overhead ms':>13}{'share':>8}{'Eff.k':>7}")
    for r in rows:
        print(f"{r['config']:<36}{r['build']:>10}{r['loop_ms_per_pass']:>9.2f}{r['llama_decode_ms_per_pass']:>14.2f}"
              f"{r['overhead_ms_per_pass']:>13.3f}{r['overhead_share']:>8.1%}{r['eff_k']:>7.2f}")
    result = {"model": Path(path).name, "threads": args.threads, "n_gpu_layers": args.n_gpu_layers,
              "flash_attn": args.flash_attn, "repeats": args.repeats, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
