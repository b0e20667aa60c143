"""`mtp-edge demo`: build the embedded SmolLM2 MTP model once, then race it against plain decoding."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtp_edge import demo
from mtp_edge.cli.serve import k_max_arg, measure_auto_costs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-path", action="store_true", help="build the model if needed and print only its path")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--prompts", type=int, default=3, metavar="N",
                   help=f"how many of the {len(demo.PROMPTS)} built-in prompts to answer (default 3)")
    p.add_argument("-n", "--max-tokens", type=int, default=96, help="tokens per answer at most (default 96)")
    p.add_argument("--k-max", type=k_max_arg, default=None,
                   help="MTP tokens per pass at most, or 'auto' (default: as many masks as pay on this "
                        "machine's measured pass costs)")
    p.add_argument("--tau", type=float, default=None, help="ConfAdapt threshold in (0, 1] (default: the model's)")
    p.add_argument("--adapter", type=Path, default=None,
                   help="an MTP adapter folder to use instead of the shipped one (from `mtp-edge distill`)")
    p.add_argument("--n-gpu-layers", type=int, default=0, help="layers on the GPU (-1 = all; CUDA/Metal builds)")


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.prompts <= len(demo.PROMPTS):
        raise ValueError(f"--prompts {args.prompts}: choose 1 to {len(demo.PROMPTS)}")
    if args.max_tokens < 1:
        raise ValueError(f"--max-tokens {args.max_tokens} must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads {args.threads} must be >= 1")


def run(args: argparse.Namespace) -> int:
    _check(args)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731  (stdout stays clean for --model-path)
    found = demo.prepare_model(args.adapter, log=say)
    if args.model_path:
        print(found.path)
        return 0
    if not found.trained:
        say(f"mtp-edge demo: NOTE: no MTP adapter is installed ({demo.ADAPTER_DIR} is missing), so this runs "
            "the untrained SmolLM2 base. It has no mask token: plain decoding only, no MTP speedup to show.")
    from mtp_edge.model import MTPModel

    model = MTPModel(found.path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                     n_gpu_layers=args.n_gpu_layers)
    # Default "auto", as chat and serve: masks only where this machine's measured pass costs say they pay.
    k_max = (args.k_max or "auto") if found.trained else None
    if k_max == "auto":
        measure_auto_costs(model)
    mode = f"MTP ConfAdapt k_max={k_max}, tau={args.tau or model.default_tau:.2f}"
    print(f"{demo.MODEL_NAME if found.trained else 'SmolLM2-135M-Instruct (untrained base)'}: {found.path}")
    print(f"Each prompt: plain decoding (k_max=1), then {mode if found.trained else 'no MTP run'}; "
          f"{args.max_tokens} tokens at most.\n")

    def show(row: demo.Row) -> None:
        same = "" if row.same_text is None else ("  [same text as plain]" if row.same_text
                                                 else "  [differs from plain]")
        print(f"> {row.prompt}\n{row.answer}{same}\n", flush=True)

    rows = demo.compare(model, demo.PROMPTS[: args.prompts], args.max_tokens, k_max=k_max, tau=args.tau,
                        on_row=show)
    print(demo.format_table(rows))
    print("\ntok/s: generated tokens / (prefill + decode time); agreement: MTP tokens equal to plain greedy's.")
    if found.trained:
        print(f"MTP pays where a pass of several tokens costs about as much as one (GPUs, Apple silicon, larger "
              f"models);\non a CPU a model this small pays nearly per token, so `auto` adds few masks. "
              f"`--k-max {model.metadata.k_max}` shows the\ntrained model's full multi-token passes and what they "
              f"cost here.")
    model.close()
    return 0
