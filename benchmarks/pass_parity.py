"""Does a pass of n tokens compute what n one-token passes compute? The rows of each, compared.

Decodes a prompt, then the same n tokens twice from the same cache: once as one pass of n tokens (logits on every
row) and once as n passes of one token. Prints, per row, the largest absolute logit difference and whether the
argmax agrees. A llama.cpp build that changes how multi-token passes run (scripts/cuda_mmvq_fusion.sh) must keep
this near float rounding with every argmax equal; GGML_CUDA_DISABLE_FUSION=1 gives the unfused figures beside it.

    python benchmarks/pass_parity.py -m MODEL.gguf [--n-gpu-layers -1] [--n 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mtp_edge import MTPModel
from mtp_edge.calibrate import _decode, _fill_context

PROMPT = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
          "How many clips did Natalia sell altogether in April and May?")


def rows_after(model: MTPModel, context: list[int], tokens: list[int], one_at_a_time: bool) -> np.ndarray:
    """Logits of every row for `tokens` decoded after `context`, as one pass or as one pass a token."""
    import llama_cpp

    ctx = model.llama._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(int(model.llama.n_batch), 0, 1)
    n_vocab = model.llama.n_vocab()
    try:
        _fill_context(ctx, mem, batch, context, int(model.llama.n_batch))
        out = []
        if one_at_a_time:
            for i, t in enumerate(tokens):
                _decode(ctx, batch, [t], len(context) + i, outputs=1)
                out.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, 0), shape=(n_vocab,)).copy())
        else:
            _decode(ctx, batch, tokens, len(context), outputs=len(tokens))
            for i in range(len(tokens)):
                out.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).copy())
    finally:
        llama_cpp.llama_batch_free(batch)
    model.reset()
    return np.stack(out)


def compare(batched: np.ndarray, sequential: np.ndarray) -> dict:
    """Per row: max |difference| of the logits and whether the argmax agrees."""
    diff = np.abs(batched - sequential).max(axis=1)
    same = batched.argmax(axis=1) == sequential.argmax(axis=1)
    return {"max_abs_diff": [float(x) for x in diff], "argmax_equal": [bool(x) for x in same],
            "worst": float(diff.max()), "all_argmax_equal": bool(same.all())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=8, help="tokens in the batched pass (default 8)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--save", default=None, help="write the batched pass's rows here (.npy)")
    ap.add_argument("--against", default=None, help="also compare the batched rows with rows --save wrote (.npy), "
                    "e.g. from another build or with GGML_CUDA_DISABLE_FUSION=1")
    args = ap.parse_args(argv)
    if args.n < 2:
        raise SystemExit("pass_parity: --n must be at least 2 (a pass of one token is the reference)")
    model = MTPModel(args.model, n_ctx=512, n_gpu_layers=args.n_gpu_layers, n_threads=args.threads,
                     n_threads_batch=args.threads)
    ids = model.tokenize(PROMPT, add_bos=True)
    context, tokens = ids[:-args.n], ids[-args.n:]
    if len(context) < 1:
        raise SystemExit(f"pass_parity: --n {args.n} leaves no context in the {len(ids)}-token prompt")
    batched = rows_after(model, context, tokens, False)
    result = compare(batched, rows_after(model, context, tokens, True))
    if args.save:
        np.save(args.save, batched)
    if args.against:
        other = np.load(args.against)
        if other.shape != batched.shape:
            raise SystemExit(f"pass_parity: {args.against} holds rows of shape {other.shape}, not {batched.shape}")
        result["against"] = compare(batched, other)
    print(f"{args.model}: a pass of {args.n} tokens against {args.n} one-token passes, n_gpu_layers "
          f"{args.n_gpu_layers}: worst |logit difference| {result['worst']:.4g}, argmax equal on "
          f"{sum(result['argmax_equal'])}/{args.n} rows")
    print("  per row: " + " ".join(f"{d:.3g}{'' if s else '*'}" for d, s in
                                   zip(result["max_abs_diff"], result["argmax_equal"])))
    if "against" in result:
        a = result["against"]
        print(f"  against {args.against}: worst |logit difference| {a['worst']:.4g}, argmax equal on "
              f"{sum(a['argmax_equal'])}/{args.n} rows")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "n": args.n, **result}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
