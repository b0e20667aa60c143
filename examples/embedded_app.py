"""An app that embeds mtp-edge: turn notes into action items, streaming the answer as it is decoded.

    python examples/embedded_app.py notes.txt [more.txt ...] [-m MODEL.gguf] [-n MAX_TOKENS]
    echo "..." | python examples/embedded_app.py -

It uses the OpenAI-shaped API (`create_chat_completion(stream=True)`), so code written against a hosted
model moves to a local MTP model by swapping the client for an MTPModel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtp_edge import MTPModel

INSTRUCTION = "List the action items in these notes as short bullet points, one per line, nothing else."


def action_items(model: MTPModel, notes: str, max_tokens: int) -> dict:
    """Stream the action items of `notes` to stdout; return the usage (with the MTP stats)."""
    messages = [{"role": "user", "content": f"{INSTRUCTION}\n\nNotes:\n{notes.strip()}"}]
    usage: dict = {}
    for chunk in model.create_chat_completion(messages, max_tokens=max_tokens, stream=True):
        print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
        usage = chunk.get("usage", usage)
    print()
    return usage


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="text files with notes ('-' reads standard input)")
    p.add_argument("-m", "--model", help="a .gguf MTP model (default: the demo's SmolLM2-135M-Instruct-MTP)")
    p.add_argument("-n", "--max-tokens", type=int, default=160)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--k-max", default="auto", help="tokens per pass at most, or 'auto' (what pays on this machine)")
    args = p.parse_args()
    texts = {}
    for name in args.files:
        path = Path(name)
        if name != "-" and not path.is_file():
            print(f"embedded_app: no such file: {name}", file=sys.stderr)
            return 1
        texts[name] = sys.stdin.read() if name == "-" else path.read_text(encoding="utf-8")
    if not args.model:
        from mtp_edge.demo import prepare_model

        args.model = prepare_model(log=lambda msg: print(msg, file=sys.stderr)).path
    k_max = args.k_max if args.k_max == "auto" else int(args.k_max)
    with MTPModel(args.model, n_ctx=4096, n_threads=args.threads, k_max=k_max) as model:
        for name, notes in texts.items():
            print(f"== {name}")
            u = action_items(model, notes, args.max_tokens)
            print(f"   ({u['completion_tokens']} tokens in {u['mtp_passes']} passes, "
                  f"{u['mtp_decode_tps']:.0f} tokens/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
