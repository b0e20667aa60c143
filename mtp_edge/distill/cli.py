"""`mtp-edge distill`: turn a causal LM into an MTP model by online self-distillation (METHOD.md 5)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--base", required=True, help="checkpoint folder, hub repo id, or GGUF file (dequantized)")
    a("--data", required=True, nargs="+",
      help="jsonl file(s) with question/answer fields (answers optional with --self-generate)")
    a("--out", required=True, help="output folder: checkpoint/, teacher answers, metrics, model/ (the result)")
    a("--k-max", type=int, default=16, help="largest k drawn per step (uniform in [2, k-max]); written to mtp_config")
    a("--steps", type=int, default=1000)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--lora-rank", type=int, default=None, help="LoRA rank (output: adapter folder)")
    mode.add_argument("--full", action="store_true", help="full fine-tuning (output: checkpoint folder; default)")
    a("--lora-alpha", type=float, default=None, help="LoRA alpha (default 2 x rank)")
    a("--seq-len", type=int, default=160, help="tokens per training sequence (prompt + answer), cut beyond")
    a("--regions", type=int, default=5, help="mask regions packed into each sequence")
    a("--lr", type=float, default=1e-5)
    a("--warmup", type=int, default=100)
    a("--batch", type=int, default=32)
    a("--seed", type=int, default=0)
    a("--save-every", type=int, default=200)
    a("--log-every", type=int, default=10)
    a("--time-limit", type=float, default=None, help="stop training after this many seconds (then save)")
    a("--self-generate", action="store_true", help="train on the teacher's own greedy answers")
    a("--self-prompt", type=int, default=0, metavar="N",
      help="the teacher also writes N user requests (Magpie: sampled after the chat template's user prefix) "
           "and answers them; broadens the data beyond --data")
    a("--prompt-max-new-tokens", type=int, default=128, help="longest self-prompted request")
    a("--ntp-weight", type=float, default=1.0,
      help="loss weight of the plain next-token row against each mask row (1 = the paper's mean)")
    a("--soft-weight", type=float, default=0.0,
      help="share of the loss that is KL to the teacher's whole distribution at each row (knowledge distillation); "
           "0 = the paper's hard teacher (cross-entropy against its argmax), 1 = soft targets only")
    a("--init-adapter", default=None, help="start from this adapter folder's LoRA weights and mask rows "
                                           "(fresh optimiser); a higher --lora-rank grows it, --full merges it into the weights")
    a("--mask-mode", choices=["single", "range"], default="single",
      help="single: one mask token in every slot (the paper); range: slot j reads mask token j, each with its own "
           "trained embedding (from a single-mask --init-adapter, every slot starts as its trained row)")
    a("--gen-samples", type=int, default=0, metavar="N",
      help="the teacher also writes N sampled answers per question (new text against learning answers by heart)")
    a("--gen-temperature", type=float, default=0.7, help="temperature of the --gen-samples answers")
    a("--holdout-data", default=None, metavar="FILE",
      help="jsonl of questions never trained on: the teacher answers them and every --holdout-every steps the log "
           "gives the student's match per row on those answers (generalisation, not memory)")
    a("--holdout-n", type=int, default=256)
    a("--holdout-every", type=int, default=100)
    a("--gen-max-new-tokens", type=int, default=256)
    a("--gen-batch", type=int, default=256)
    a("--max-examples", type=int, default=None, help="use only the first N records")
    a("--prompt-format", choices=["chat", "plain"], default="chat")
    a("--tau", type=float, default=0.9, help="default ConfAdapt threshold written to mtp_config.json")
    a("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    a("--device", default=None, help="cuda or cpu (default: cuda when available)")
    a("--eval-data", default=None, help="after training, evaluate on this GSM8K-style jsonl (paper table)")
    a("--eval-n", type=int, default=100)
    a("--eval-settings", choices=["paper", "headline"], default="paper",
      help="paper: the full table; headline: original/MTP k=1 and ConfAdapt 0.9/0.8 only")
    a("--eval-max-tokens", type=int, default=256)
    a("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        raise RuntimeError("mtp-edge distill needs torch: pip install 'mtp-edge[train]'") from exc
    from mtp_edge.distill.train import TrainConfig, train

    if args.k_max < 2:
        raise ValueError("--k-max must be >= 2 (k = 1 is plain next-token training)")
    if args.regions < 1 or args.batch < 1 or args.steps < 1:
        raise ValueError("--regions, --batch and --steps must be >= 1")
    if args.ntp_weight <= 0:
        raise ValueError("--ntp-weight must be > 0")
    if not 0.0 <= args.soft_weight <= 1.0:
        raise ValueError(f"--soft-weight must be in [0, 1] (got {args.soft_weight})")
    if args.self_prompt < 0 or args.gen_samples < 0:
        raise ValueError("--self-prompt and --gen-samples must be >= 0")
    if args.gen_samples and args.gen_temperature <= 0:
        raise ValueError("--gen-temperature must be > 0 (the greedy answer is already in the data)")
    if args.holdout_n < 1 or args.holdout_every < 1:
        raise ValueError("--holdout-n and --holdout-every must be >= 1")
    cfg = TrainConfig(base=args.base, data=args.data[0] if len(args.data) == 1 else args.data, out=args.out, k_max=args.k_max, steps=args.steps,
                      lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, seq_len=args.seq_len,
                      regions=args.regions, lr=args.lr, warmup=args.warmup, batch=args.batch, seed=args.seed,
                      save_every=args.save_every, log_every=args.log_every, time_limit=args.time_limit,
                      self_generate=args.self_generate, gen_max_new_tokens=args.gen_max_new_tokens,
                      gen_batch=args.gen_batch, prompt_format=args.prompt_format, tau=args.tau, device=args.device,
                      max_examples=args.max_examples, resume=args.resume, ntp_weight=args.ntp_weight,
                      soft_weight=args.soft_weight,
                      init_adapter=args.init_adapter, self_prompts=args.self_prompt,
                      prompt_max_new_tokens=args.prompt_max_new_tokens, gen_samples=args.gen_samples,
                      gen_temperature=args.gen_temperature, holdout_data=args.holdout_data, holdout_n=args.holdout_n,
                      holdout_every=args.holdout_every, mask_mode=args.mask_mode)
    if not args.resume and (Path(args.out) / "checkpoint").exists():
        raise ValueError(f"{args.out} already holds a run: pass --resume to continue it or choose a new --out")
    (Path(args.out)).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    summary = train(cfg, progress=not args.no_progress)
    if not summary["env"]["dist"].main:  # torchrun: rank 0 writes and evaluates
        return 0
    print(f"distill: wrote {Path(args.out) / 'model'}")
    if args.eval_data:
        from mtp_edge.distill.data import load_jsonl
        from mtp_edge.distill.evaluate import SETTINGS, evaluate_model, markdown_table

        env = summary["env"]
        records = load_jsonl(args.eval_data)[:args.eval_n]
        ctx = env["student"].disable_adapter if args.lora_rank else None
        stops = env["mtp"].stop_token_ids
        rows = evaluate_model(env["student"], env["tokenizer"], records, env["mask_ids"][0], stops, args.k_max,
                              args.eval_max_tokens, 128, args.prompt_format, ctx,
                              settings=SETTINGS[args.eval_settings](args.k_max), mask_mode=args.mask_mode)
        table = markdown_table(rows)
        print(table)
        (Path(args.out) / "eval.md").write_text(table + "\n")
        (Path(args.out) / "eval.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return 0
