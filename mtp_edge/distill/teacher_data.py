"""The data the teacher writes before training: its answers, its own requests, sampled answers, held-out answers.

Each product is cached in the run's folder, so `--resume` and other ranks (torchrun) read instead of generating.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mtp_edge.distill.data import Example, encode_examples, load_jsonl, save_jsonl, self_generate, self_prompt

if TYPE_CHECKING:
    from mtp_edge.distill.train import TrainConfig

TEACHER_ANSWERS = "teacher_answers.jsonl"
SELF_PROMPTED = "self_prompted.jsonl"
TEACHER_SAMPLES = "teacher_samples.jsonl"
HOLDOUT_ANSWERS = "holdout_answers.jsonl"


def generated_data(model, tok, cfg: TrainConfig, records: list[dict], stops: list[int], amp, log=print) -> list[dict]:
    """`records` with the teacher's own answers (--self-generate) and requests (--self-prompt), cached in OUT."""
    out = Path(cfg.out)
    if cfg.self_generate:
        cache = out / TEACHER_ANSWERS
        if cache.is_file():
            records = load_jsonl(cache)
            log(f"self-generate: reusing {len(records)} teacher answers from {cache}")
        else:
            with amp():
                answers = self_generate(model, tok, [r["question"] for r in records], cfg.prompt_format,
                                        cfg.gen_max_new_tokens, cfg.gen_batch, stops, log)
            records = [{**r, "answer": a, "gold": r.get("answer", "")} for r, a in zip(records, answers)]
            save_jsonl(cache, records)
    if cfg.self_prompts:
        records += self_prompted_records(model, tok, cfg, stops, amp, log)
    if cfg.gen_samples:
        records += sampled_records(model, tok, cfg, records, stops, amp, log)
    return records


def sampled_records(model, tok, cfg: TrainConfig, records: list[dict], stops: list[int], amp, log=print) -> list[dict]:
    """`cfg.gen_samples` more teacher answers per question, sampled at `cfg.gen_temperature` (cached in OUT).

    More distinct prefixes of the teacher's own distribution than its one greedy answer per question (run 6 on
    SmolLM2 found no memorisation gap for them to close: docs/RESULTS.md)."""
    cache = Path(cfg.out) / TEACHER_SAMPLES
    if cache.is_file():
        extra = load_jsonl(cache)
        log(f"gen-samples: reusing {len(extra)} sampled answers from {cache}")
        return extra
    questions = [r["question"] for r in records]
    seen = {(r["question"], r["answer"]) for r in records}
    extra = []
    for i in range(cfg.gen_samples):
        torch.manual_seed(cfg.seed * 7907 + i)
        with amp():
            answers = self_generate(model, tok, questions, cfg.prompt_format, cfg.gen_max_new_tokens, cfg.gen_batch,
                                    stops, log, temperature=cfg.gen_temperature)
        for q, a in zip(questions, answers):
            if a.strip() and (q, a) not in seen:  # a sample equal to an answer already held adds nothing
                seen.add((q, a))
                extra.append({"question": q, "answer": a, "source": f"sample-t{cfg.gen_temperature}"})
    log(f"gen-samples: {len(extra)} sampled answers at temperature {cfg.gen_temperature}")
    save_jsonl(cache, extra)
    return extra


def holdout_examples(model, tok, cfg: TrainConfig, stops: list[int], stop_id: int, amp, log=print) -> list[Example]:
    """The teacher's greedy answers to `cfg.holdout_n` questions of `cfg.holdout_data` (cached in OUT), encoded."""
    cache = Path(cfg.out) / HOLDOUT_ANSWERS
    if cache.is_file():
        records = load_jsonl(cache)
    else:
        records = load_jsonl(cfg.holdout_data, require_answer=False)[:cfg.holdout_n]
        with amp():
            answers = self_generate(model, tok, [r["question"] for r in records], cfg.prompt_format,
                                    cfg.gen_max_new_tokens, cfg.gen_batch, stops, log)
        records = [{"question": r["question"], "answer": a} for r, a in zip(records, answers)]
        save_jsonl(cache, records)
    return encode_examples(tok, records, cfg.prompt_format, stop_id, cfg.seq_len)


def self_prompted_records(model, tok, cfg: TrainConfig, stops: list[int], amp, log=print) -> list[dict]:
    """Requests the teacher writes itself (Magpie) with its greedy answers; cached in OUT/self_prompted.jsonl."""
    if cfg.prompt_format != "chat":
        raise ValueError("--self-prompt needs --prompt-format chat (the requests are drawn from the chat template)")
    cache = Path(cfg.out) / SELF_PROMPTED
    if cache.is_file():
        records = load_jsonl(cache)
        log(f"self-prompt: reusing {len(records)} requests and answers from {cache}")
        return records
    with amp():
        prompts = self_prompt(model, tok, cfg.self_prompts, cfg.prompt_max_new_tokens, cfg.gen_batch, stops,
                              cfg.seed, log)
        answers = self_generate(model, tok, prompts, cfg.prompt_format, cfg.gen_max_new_tokens, cfg.gen_batch,
                                stops, log)
    records = [{"question": p, "answer": a, "source": "self-prompt"} for p, a in zip(prompts, answers) if a.strip()]
    if not records:
        raise ValueError(f"--self-prompt {cfg.self_prompts}: the teacher finished no request within "
                         f"{cfg.prompt_max_new_tokens} tokens; raise --prompt-max-new-tokens")
    log(f"self-prompt: {len(records)} requests with answers")
    save_jsonl(cache, records)
    return records
