"""Per-pass overhead of the decode loop: time per pass beyond llama_decode itself, before and after.

The loop's stats split decode time into time inside llama_decode and the rest (top-1 and probability per row,
acceptance, KV rollback, bookkeeping). `--baseline-core` loads a second build of `mtp_edge._core` (e.g. the
previous commit's, built with the same llama_decode timer) and runs it on the same model, prompts and threads,
interleaved, so the two columns compare loop overhead only. Median over repeats; threads fixed.

    python benchmarks/bench_pass_overhead.py [-m MODEL] [--threads 2] [--repeats 5] [--max-tokens 64]
        [--baseline-core /tmp/old_ext/build/_core.cpython-311-x86_64-linux-gnu.so] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
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
]
PARAM_FIELDS = ("mode", "k_max", "tau", "mask_id", "mask_range", "max_tokens", "stop_ids", "track_agreement",
                "pass_cost", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed",
                "trace")


def load_core(path: str):
    """Another build of the extension, loaded under its own module name (PyInit__core)."""
    spec = importlib.util.spec_from_file_location("_core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_once(model, decoder, core, tokens: list[int], max_tokens: int, options: dict) -> dict:
    """One generation through `decoder`; per decode pass: loop ms, llama_decode ms."""
    params = model._params(max_tokens, options)
    if core is not None:  # copy into the other build's parameter type
        other = core.DecodeParams()
        for name in PARAM_FIELDS:
            setattr(other, name, getattr(params, name))
        params = other
    decoder.begin(tokens, 0, params)
    decoder.run()
    s = decoder.stats
    passes = s["passes"] - 1  # the prefill pass is timed separately
    if passes <= 0:
        raise RuntimeError("the generation ended in its first pass; give --max-tokens more room")
    return {"loop_ms": s["decode_s"] / passes * 1e3, "llama_ms": s["llama_decode_s"] / passes * 1e3,
            "eff_k": s["generated"] / s["passes"]}


def main() -> int:
    from conftest import STAND_IN_MASK_ID
    from gguf_util import smollm2_gguf
    from mtp_edge import MTPModel, _core
    from mtp_edge._abi import context_pointer, libllama_handle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=None, help="GGUF (default: SmolLM2-135M-Instruct Q4_1)")
    ap.add_argument("--mask-token-id", type=int, default=None,
                    help=f"mask id for a model without one (default {STAND_IN_MASK_ID} on SmolLM2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--baseline-core", default=None, help="a second _core .so to compare against")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    path = args.model or str(smollm2_gguf())
    mask = args.mask_token_id if args.mask_token_id is not None else (None if args.model else STAND_IN_MASK_ID)

    model = MTPModel(path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, mask_token_id=mask)
    builds = {"current": (model._decoder, None)}
    if args.baseline_core:
        core = load_core(args.baseline_core)
        builds["baseline"] = (core.Decoder(libllama_handle(), context_pointer(model.llama)), core)
    samples: dict[tuple[str, str], list[dict]] = {(c, b): [] for c, _ in CONFIGS for b in builds}
    for prompt in PROMPTS:
        tokens = model.tokenize(model.format_chat([{"role": "user", "content": prompt}]))
        for _ in range(args.repeats):
            for label, options in CONFIGS:
                for build, (decoder, core) in builds.items():  # interleaved: drift hits both builds alike
                    decoder.clear_cache()
                    samples[(label, build)].append(run_once(model, decoder, core, tokens, args.max_tokens, options))
    model.reset()
    rows = []
    for (label, build), runs in samples.items():
        loop = statistics.median(r["loop_ms"] for r in runs)
        llama = statistics.median(r["llama_ms"] for r in runs)
        over = statistics.median(r["loop_ms"] - r["llama_ms"] for r in runs)
        rows.append({"config": label, "build": build, "loop_ms_per_pass": loop, "llama_decode_ms_per_pass": llama,
                     "overhead_ms_per_pass": over, "overhead_share": over / loop,
                     "eff_k": statistics.median(r["eff_k"] for r in runs)})
    print(f"model {Path(path).name}, threads {args.threads}, {len(PROMPTS)} prompts x {args.repeats} repeats, "
          f"{args.max_tokens} tokens; medians, unloaded _core compared side by side")
    print(f"{'config':<36}{'build':>10}{'ms/pass':>9}{'llama_decode':>14}{'overhead ms':>13}{'share':>8}{'Eff.k':>7}")
    for r in rows:
        print(f"{r['config']:<36}{r['build']:>10}{r['loop_ms_per_pass']:>9.2f}{r['llama_decode_ms_per_pass']:>14.2f}"
              f"{r['overhead_ms_per_pass']:>13.3f}{r['overhead_share']:>8.1%}{r['eff_k']:>7.2f}")
    result = {"model": Path(path).name, "threads": args.threads, "repeats": args.repeats, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
