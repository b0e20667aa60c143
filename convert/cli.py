"""`mtp-edge convert SRC --outfile OUT.gguf`: the command-line face of `convert_checkpoint`."""

from __future__ import annotations

import argparse
import sys

from .quantize import OUTTYPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC",
                        help="checkpoint folder, Hugging Face repo id (owner/name), or a .gguf base (with --adapter)")
    parser.add_argument("--outfile", "-o", required=True, help="the GGUF file to write")
    parser.add_argument("--outtype", default="f16", choices=list(OUTTYPES), type=str.lower,
                        help="tensor type (default f16); q4_k_m/q5_k_m/q6_k use llama.cpp's quantizer")
    parser.add_argument("--adapter", metavar="DIR", help="LoRA adapter folder (mtp-edge distill --lora-rank) to merge")
    parser.add_argument("--mask-token", metavar="TEXT", help="the mask token (default <|mtp_special_token_0|>)")
    parser.add_argument("--k-max", type=int, metavar="N", help="k_max the model was trained for (default 16)")
    parser.add_argument("--tau", type=float, metavar="T", help="default ConfAdapt threshold (default 0.9)")
    parser.add_argument("--prompt-format", choices=["chat", "plain"],
                        help="how prompts are built (default: chat if the tokenizer has a chat template)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.add_argument("--offline", action="store_true", help="never download; use the local Hugging Face cache")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from . import convert_checkpoint

    out = convert_checkpoint(args.src, args.outfile, outtype=args.outtype, mask_token=args.mask_token,
                             k_max=args.k_max, tau=args.tau, prompt_format=args.prompt_format, force=args.force,
                             offline=args.offline, adapter=args.adapter, progress=not args.quiet)
    size = out.stat().st_size
    print(f"wrote {out} ({size / 2**20:.1f} MiB, {args.outtype})", file=sys.stderr)
    return 0
