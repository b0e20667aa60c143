"""GSM8K evaluation with the reference decoder: accuracy, Eff. k (tokens per pass) and agreement.

    python -m mtp_edge.distill.evaluate --base SmolLM2-135M-Instruct.Q4_1.gguf --adapter DIR \
        --data test.jsonl --n 200 --k-max 8 --json results.json
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from mtp_edge.answers import extract_number
from mtp_edge.distill.data import load_jsonl, prompt_ids
from mtp_edge.distill.reference import decode_batch

# (label, k, tau, static, original) -- the paper's table (METHOD.md 3) with our k_max
SETTINGS_DOC = "original k=1, MTP static k=1..4, ConfAdapt tau 0.99/0.95/0.9/0.8/0.7/0.6"


@dataclass
class SettingResult:
    label: str
    accuracy: float
    eff_k: float
    agreement: float | None
    n_questions: int
    n_tokens: int
    n_passes: int
    seconds: float


def run_setting(model, prompts: list[list[int]], golds: list[str], tokenizer, label: str, k: int, tau: float,
                static: bool, mask_id: int, stop_ids: list[int], max_tokens: int, batch: int,
                autocast_dtype, ctx=None, mask_mode: str = "single") -> SettingResult:
    """Decode every prompt with one setting; aggregate Eff. k and agreement over all passes/tokens."""
    t0 = time.time()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results = [None] * len(prompts)
    with (ctx() if ctx is not None else nullcontext()):
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            outs = decode_batch(model, [prompts[i] for i in idx], k, tau, max_tokens, mask_id, stop_ids, static,
                                mask_mode, autocast_dtype=autocast_dtype, track_agreement=k > 1)
            for i, r in zip(idx, outs):
                results[i] = r
    correct = sum(extract_number(tokenizer.decode(r.tokens, skip_special_tokens=True)) == g
                  for r, g in zip(results, golds))
    n_tok = sum(len(r.tokens) for r in results)
    n_pass = sum(len(r.passes) for r in results)
    n_mask = sum(r.n_mask_tokens for r in results)
    agree = sum((r.agreement or 0.0) * r.n_mask_tokens for r in results) / n_mask if n_mask else None
    return SettingResult(label, correct / len(prompts), n_tok / max(1, n_pass), agree, len(prompts), n_tok, n_pass,
                         round(time.time() - t0, 1))


def paper_settings(k_max: int) -> list[tuple[str, int, float, bool, bool]]:
    rows = [("original model, k=1", 1, 1.0, True, True)]
    rows += [(f"MTP static k={k}", k, 1.0, True, False) for k in (1, 2, 3, 4)]
    rows += [(f"ConfAdapt tau={t} (k_max={k_max})", k_max, t, False, False) for t in (0.99, 0.95, 0.9, 0.8, 0.7, 0.6)]
    return rows


def headline_settings(k_max: int) -> list[tuple[str, int, float, bool, bool]]:
    """The rows a target is read from: original and MTP at k=1, ConfAdapt at tau 0.9 and 0.8."""
    keep = ("original model, k=1", "MTP static k=1", f"ConfAdapt tau=0.9 (k_max={k_max})",
            f"ConfAdapt tau=0.8 (k_max={k_max})")
    return [s for s in paper_settings(k_max) if s[0] in keep]


SETTINGS = {"paper": paper_settings, "headline": headline_settings}


def select_settings(rows: list[tuple[str, int, float, bool, bool]], prefixes: list[str]):
    """The rows whose label starts with one of `prefixes` (all rows when none are given)."""
    if not prefixes:
        return rows
    kept = [r for r in rows if r[0].startswith(tuple(prefixes))]
    if not kept:
        labels = ", ".join(repr(r[0].split(" (")[0]) for r in rows)
        raise SystemExit(f"--only {prefixes} matches no setting; the labels start with: {labels}")
    return kept


def markdown_table(rows: list[SettingResult]) -> str:
    lines = ["| setting | GSM8K acc | Eff. k | agreement | tokens | passes |", "|---|---|---|---|---|---|"]
    for r in rows:
        agree = "-" if r.agreement is None else f"{r.agreement:.3f}"
        lines.append(f"| {r.label} | {100 * r.accuracy:.1f} | {r.eff_k:.2f} | {agree} | {r.n_tokens} | {r.n_passes} |")
    return "\n".join(lines)


def evaluate_model(model, tokenizer, records: list[dict], mask_id: int, stop_ids: list[int], k_max: int,
                   max_tokens: int, batch: int, prompt_format: str = "chat", original_ctx=None,
                   settings=None, log=print, mask_mode: str = "single") -> list[SettingResult]:
    """The paper-style table on `records` (GSM8K question/answer); `original_ctx` turns the MTP weights off."""
    device = next(model.parameters()).device
    amp = torch.bfloat16 if device.type == "cuda" else None
    prompts = [prompt_ids(tokenizer, r["question"], prompt_format) for r in records]
    golds = [extract_number(r["answer"]) for r in records]
    rows = [s for s in settings or paper_settings(k_max) if not (s[4] and original_ctx is None)]
    # the headline settings first, so that a run cut short still has them; the table keeps the paper's order
    first = [i for i, s in enumerate(rows) if s[0].startswith(("ConfAdapt tau=0.9 ", "MTP static k=1"))]
    out: dict[int, SettingResult] = {}
    model.eval()
    for i in first + [i for i in range(len(rows)) if i not in first]:
        label, k, tau, static, original = rows[i]
        out[i] = run_setting(model, prompts, golds, tokenizer, label, k, tau, static, mask_id, stop_ids, max_tokens,
                             batch, amp, original_ctx if original else None, mask_mode)
        log(json.dumps(asdict(out[i])))
    return [out[i] for i in sorted(out)]


def main(argv: list[str] | None = None) -> int:
    from mtp_edge.distill.modeling import load_adapter, load_base, stop_token_ids
    from mtp_edge.distill.tokens import MtpConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="base checkpoint folder, hub id or GGUF (or the MTP checkpoint)")
    ap.add_argument("--adapter", help="adapter folder from `mtp-edge distill --lora-rank`")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=200, help="first N questions")
    ap.add_argument("--k-max", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--settings", choices=sorted(SETTINGS), default="paper",
                    help="paper: the full table; headline: original/MTP k=1 and ConfAdapt 0.9/0.8")
    ap.add_argument("--only", action="append", default=[], metavar="PREFIX",
                    help="run only the settings whose label starts with PREFIX (repeatable), e.g. to give each "
                         "GPU of a machine its own rows: --only 'MTP static k=1'")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    select_settings(SETTINGS[args.settings](args.k_max or 0), args.only)  # a bad --only fails before the model loads
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tok = load_base(args.base, torch.float32, device)
    ctx = None
    if args.adapter:
        model, ids = load_adapter(model, tok, args.adapter)
        mtp = MtpConfig.load(args.adapter)
        ctx = model.disable_adapter
    else:
        mtp = MtpConfig.load(args.base)
        ids = tok.convert_tokens_to_ids([mtp.mask_token])
    model.to(device)
    records = load_jsonl(args.data)[:args.n]
    rows = evaluate_model(model, tok, records, ids[0], sorted(set(stop_token_ids(tok)) | set(mtp.stop_token_ids)),
                          args.k_max or mtp.k_max, args.max_tokens, args.batch, mtp.prompt_format, ctx,
                          settings=select_settings(SETTINGS[args.settings](args.k_max or mtp.k_max), args.only),
                          mask_mode=mtp.mask_mode)
    print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
