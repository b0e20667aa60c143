"""`mtp-edge bench`: plain, prompt-lookup and MTP decoding modes side by side on the same prompts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtp_edge.cli.generate import add_kernel_arguments


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers separated by commas") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: values must be >= 1")
    return values


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas") from None
    if any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: tau values must be in (0, 1]")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True, help="path of a .gguf model")
    p.add_argument("--prompts", default="gsm8k", help="gsm8k, chat, or a JSONL file of {prompt, answer?} (default gsm8k)")
    p.add_argument("--n-prompts", type=int, default=8, help="prompts to use (default 8)")
    p.add_argument("--max-tokens", type=int, default=128, help="tokens per generation at most (default 128)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for every mode (default 2)")
    p.add_argument("--n-gpu-layers", type=int, default=0, help="layers on the GPU (-1 = all; CUDA/Metal builds)")
    add_kernel_arguments(p)  # every mode, plain and prompt lookup too: each row compares like with like
    p.add_argument("--repeats", type=int, default=3, help="timed runs per mode and prompt; medians (default 3)")
    p.add_argument("--k-sweep", type=_ints, default=[2, 3, 4, 6, 8, 16], help="fixed k_max values (default 2,3,4,6,8,16)")
    p.add_argument("--tau-sweep", type=_floats, default=[0.6, 0.8, 0.99], help="extra tau values for auto")
    p.add_argument("--lookup", type=_ints, default=[2, 10], help="prompt-lookup drafted tokens (default 2,10)")
    p.add_argument("--compare-shapes", action="store_true",
                   help="also time a few modes with the other pass-shape choice (fixed k_max-token passes are the "
                        "default on a GPU, varying ones on a CPU)")
    p.add_argument("--compare-rows", action="store_true",
                   help="also time k_max=1, auto and confadapt_verify auto with the other choice of where top-1 rows "
                        "are computed (--device-rows: in llama.cpp's graph; the default: on the host)")
    p.add_argument("--mask-token-id", type=int, default=None, help="mask token for a model without one (testing)")
    p.add_argument("--cached-curve", action="store_true",
                   help="use the cached pass-cost curve for auto instead of measuring a fresh one first")
    p.add_argument("--json", default=None, metavar="OUT", help="write the rows (and settings) as JSON")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="speedup against agreement, one point per mode")
    p.add_argument("--trace", default=None, metavar="OUT.jsonl",
                   help="write every timed MTP run's passes (tokens fed and emitted, seconds, guard regime), one "
                        "run per line")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict], out=None) -> None:
    out = out or sys.stdout  # looked up per call: sys.stdout may be replaced after import
    print(f"{'mode':<30}{'k_max':>6}{'tau':>6}{'Eff.k':>7}{'tok/s':>8}{'speedup':>9}{'agree':>7}{'acc':>6}"
          f"{'=plain':>8}{'ms/pass':>9}{'guard':>7}", file=out)
    for r in rows:
        print(f"{r['label']:<30}{str(r['k_max']):>6}{_fmt(r['tau'], 'g'):>6}{_fmt(r['eff_k'], '.2f'):>7}"
              f"{_fmt(r['decode_tps'], '.1f'):>8}{_fmt(r['speedup'], '.3f'):>9}{_fmt(r['agreement'], '.3f'):>7}"
              f"{_fmt(r['accuracy'], '.2f'):>6}{r['same_text_as_plain']:>5}/{r['prompts']:<2}"
              f"{_fmt(r.get('ms_per_pass'), '.2f'):>9}{_fmt(r.get('guard_plain'), '.2f'):>7}", file=out)


def _write_atomic(path: str, text: str) -> None:
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)  # a reader (or a run stopped mid-write) sees the old file or the new one, never half


def run(args: argparse.Namespace) -> int:
    from mtp_edge import bench
    from mtp_edge.model import MTPModel

    for name in ("n_prompts", "max_tokens", "threads", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"model file {args.model} does not exist")
    prompts = bench.load_prompts(args.prompts, args.n_prompts)
    n_ctx = 2048
    model = MTPModel(args.model, n_ctx=n_ctx, n_threads=args.threads, n_threads_batch=args.threads,
                     n_gpu_layers=args.n_gpu_layers, mask_token_id=args.mask_token_id,
                     flash_attn=args.flash_attn, device_rows=args.device_rows)
    if not model.is_mtp:
        print("mtp-edge: note: this model has no mask token: only plain, prompt lookup and k_max=1 run",
              file=sys.stderr)
    from mtp_edge.calibrate import backend_name, flash_attn_on

    settings = {k: getattr(args, k) for k in ("model", "prompts", "n_prompts", "max_tokens", "threads",
                                               "n_gpu_layers", "repeats", "mask_token_id")}
    settings["flash_attn"] = flash_attn_on(model.llama)  # what ran: the default depends on the backend
    settings["extra_buffers"] = bool(model.llama.model_params.use_extra_bufts)  # off on AMX CPUs (llama_load)
    settings["device_rows"] = model.device_rows  # every row's default; --compare-rows adds the other choice
    traces: list[dict] = []
    done = {"rows": None, "prompts": 0}

    def save(rows: list[dict], n_done: int) -> None:
        """The JSON and trace files as they stand after `n_done` prompts, each written whole or not at all."""
        done.update(rows=rows, prompts=n_done)
        curve = getattr(model, "_cost_curve", None)
        if args.json:
            _write_atomic(args.json, json.dumps({"settings": settings, "rows": rows, "prompts_done": n_done,
                                                 "complete": n_done == len(prompts),
                                                 "pass_cost_ms": curve.pass_cost() if curve else None}, indent=1))
        if args.trace:
            _write_atomic(args.trace, "".join(json.dumps(t) + "\n" for t in traces))

    try:  # the model is closed before plotting: the GPU bench once crashed at exit with llama.cpp still loaded
        modes = bench.default_modes(model, args.k_sweep, args.tau_sweep, args.lookup,
                                    args.compare_shapes or backend_name(args.n_gpu_layers) != "CPU",
                                    other_rows=args.compare_rows)
        rows = bench.bench(model, prompts, modes, max_tokens=args.max_tokens, repeats=args.repeats, n_ctx=n_ctx,
                           recalibrate=not args.cached_curve,
                           progress=lambda msg: print(f"mtp-edge bench: {msg}", file=sys.stderr, flush=True),
                           on_trace=traces.append if args.trace else None,
                           on_prompt_done=save)
    except KeyboardInterrupt:
        if not done["rows"]:
            raise
        print(f"mtp-edge bench: stopped after {done['prompts']} of {len(prompts)} prompts; the rows below are "
              f"theirs{' (also in ' + args.json + ')' if args.json else ''}", file=sys.stderr)
        print_table(done["rows"])
        return 130
    finally:
        model.close()
    title = (f"{Path(args.model).name}, {args.prompts} x{len(prompts)}, {args.threads} threads, "
             f"{'flash attention, ' if settings['flash_attn'] else ''}{args.max_tokens} tokens, median of {args.repeats}")
    print(title)
    print_table(rows)
    save(rows, len(prompts))
    if args.plot:
        bench.plot(rows, args.plot, title)
    return 0
