"""`mtp-edge chat`: talk to a model in the terminal, with MTP decoding and live speed figures."""

from __future__ import annotations

import argparse

from mtp_edge.cli.generate import add_decoding_arguments, add_model_arguments, decoding_options, load_model
from mtp_edge.cli.serve import measure_auto_costs


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("-n", "--max-tokens", type=int, default=512, help="tokens per answer at most (default 512)")
    p.add_argument("--system", default=None, help="a system message (for models whose chat template takes one)")
    add_decoding_arguments(p)


def run(args: argparse.Namespace) -> int:
    from mtp_edge.chat import ChatSession, run_chat

    if args.max_tokens < 1:
        raise ValueError(f"--max-tokens {args.max_tokens} must be >= 1")
    options = decoding_options(args)
    model = load_model(args)
    if options["k_max"] not in (None, 1) and not model.is_mtp:
        raise ValueError(f"{args.model} has no mask token, so it runs only with --k-max 1 (or --ntp)")
    if options["k_max"] in (None, "auto"):
        measure_auto_costs(model)
    session = ChatSession(model, system=args.system, max_tokens=args.max_tokens, options=options)
    kind = "MTP" if model.is_mtp else "plain decoding (no mask token)"
    print(f"mtp-edge chat: {model.metadata.name or args.model}, {kind}, {session.settings()}, "
          f"context {model.n_ctx} tokens.\n/help lists the commands; Ctrl-C stops an answer; Ctrl-D leaves.")
    run_chat(session)
    return 0
