"""`mtp-edge generate`: one prompt, one completion, with MTP stats."""

from __future__ import annotations

import argparse
import json
import sys


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options every verb that loads a model shares."""
    p.add_argument("-m", "--model", required=True, help="path of a .gguf model")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--n-gpu-layers", type=int, default=0, help="layers on the GPU (-1 = all; CUDA/Metal builds)")
    p.add_argument("--ctx", type=int, default=4096, help="context length in tokens (default 4096)")
    add_kernel_arguments(p)


def add_kernel_arguments(p: argparse.ArgumentParser) -> None:
    """Where llama.cpp does the work: its fused attention kernel, and top-1 rows in its graph."""
    p.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=None,
                   help="llama.cpp's fused attention kernel (default: on with layers on a GPU, where it made every "
                        "mode faster on an H200; off on a CPU)")
    p.add_argument("--device-rows", action=argparse.BooleanOptionalAction, default=False,
                   help="greedy passes' top-1 tokens and probabilities computed in llama.cpp's graph instead of "
                        "copying every row's logits to the host (default: off; slower on an H200)")


def add_decoding_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k-max", default=None,
                   help="tokens per pass at most (k_max - 1 masks), or 'auto': as many masks as pay on this "
                        "machine's measured pass costs, up to the model's mtp.k_max (default: auto)")
    p.add_argument("--tau", type=float, default=None,
                   help="threshold in (0, 1]; default: the model's (ConfAdapt), 0.5 with --mode lossless")
    p.add_argument("--propose-tau", type=float, default=None,
                   help="--mode confadapt_verify: rows below --tau but at least this are proposed and verified by "
                        "the next pass (default 0.5)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--static", action="store_true", help="accept all k tokens of a pass (no confidence test)")
    g.add_argument("--ntp", action="store_true", help="plain next-token decoding (k_max = 1)")
    g.add_argument("--mode", choices=["confadapt", "static", "lossless", "confadapt_verify"], default=None,
                   help="acceptance rule (default confadapt; lossless = output identical to plain decoding; "
                        "confadapt_verify = confadapt's confident tokens at once, the less confident rows after "
                        "them verified by the next pass)")
    p.add_argument("--lookup", type=int, default=None, metavar="N",
                   help="--mode confadapt_verify or lossless: draft up to N tokens per pass from earlier text "
                        "(prompt lookup), verified by the same pass where they beat the masks (default 8; 0: off)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--min-p", type=float, default=0.05)
    p.add_argument("--repeat-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)


def decoding_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for MTPModel.generate/stream from the parsed decoding options."""
    mode = "static" if args.static else (args.mode or "confadapt")
    k_max = 1 if args.ntp else args.k_max
    if isinstance(k_max, str) and k_max.strip().lower() == "auto":
        k_max = "auto"
    elif isinstance(k_max, str):
        try:
            k_max = int(k_max)
        except ValueError:
            raise ValueError(f"--k-max {k_max!r} must be an integer >= 1 or 'auto'") from None
    return dict(k_max=k_max, tau=args.tau, mode=mode, propose_tau=args.propose_tau, temperature=args.temperature,
                top_k=args.top_k, top_p=args.top_p, min_p=args.min_p, repeat_penalty=args.repeat_penalty,
                seed=args.seed, lookup_tokens=args.lookup)


def load_model(args: argparse.Namespace):
    from mtp_edge.model import MTPModel

    return MTPModel(args.model, n_ctx=args.ctx, n_threads=args.threads, n_threads_batch=args.threads,
                    n_gpu_layers=args.n_gpu_layers, flash_attn=args.flash_attn,
                    device_rows=args.device_rows)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("-p", "--prompt", required=True, help="prompt text ('-' reads standard input)")
    p.add_argument("-n", "--max-tokens", type=int, default=256, help="tokens to generate at most (default 256)")
    p.add_argument("--chat", action="store_true",
                   help="wrap the prompt in the model's prompt format (chat template or plain)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_decoding_arguments(p)


def run(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt:
        raise ValueError("empty prompt")
    options = decoding_options(args)
    model = load_model(args)
    if options["k_max"] is None and not model.is_mtp:
        print("mtp-edge: note: this model has no mask token; running plain decoding (k_max = 1)", file=sys.stderr)
    if args.chat:
        prompt = model.format_chat([{"role": "user", "content": prompt}])
    if args.json:
        result = model.generate(prompt, args.max_tokens, **options)
        s = result.stats
        print(json.dumps({
            "text": result.text, "tokens": result.tokens, "stop_reason": result.stop_reason,
            "passes": s.passes, "eff_k": s.eff_k, "decode_tps": s.decode_tps, "agreement": s.agreement,
            "mask_agreement": s.mask_agreement, "accept_hist": s.accept_hist, "prompt_tokens": s.prompt_tokens,
            "prefill_s": s.prefill_s, "decode_s": s.decode_s,
            "k_max": options["k_max"] or model.default_k_max, "tau": options["tau"] or model.tau_for(options["mode"]),
            "mode": options["mode"],
        }))
        return 0
    for piece in model.stream(prompt, args.max_tokens, **options):
        print(piece, end="", flush=True)
    s = model.last_stats()
    agreement = "n/a" if s.agreement is None else f"{s.agreement:.3f}"
    print(f"\n[{s.tokens} tokens in {s.passes} passes, {s.eff_k:.2f} tokens/pass, "
          f"{s.decode_tps:.1f} tokens/s, agreement {agreement}, stop: {model.last_stop_reason}]", file=sys.stderr)
    return 0
