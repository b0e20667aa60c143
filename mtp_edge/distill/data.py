"""Training data: GSM8K-style jsonl (`question`, `answer`), chat-template encoding, teacher answers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mtp_edge.jsonl import read_jsonl


@dataclass
class Example:
    """One encoded training sequence: prompt ids followed by answer ids (ending in the stop token)."""

    ids: list[int]
    prompt_len: int


def load_jsonl(path: str | Path, require_answer: bool = True) -> list[dict]:
    """Read records with a `question` (and unless `require_answer` is False, an `answer`) string field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found: pass --data with a jsonl file of "
                                "{\"question\": ..., \"answer\": ...} lines")
    needed = ("question", "answer") if require_answer else ("question",)
    hint = " (or pass --self-generate to let the teacher write the answers)" if require_answer else ""
    records = read_jsonl(path, needed, hint=hint)
    if not records:
        raise ValueError(f"{path} holds no records")
    return records


def prompt_ids(tokenizer, question: str, prompt_format: str) -> list[int]:
    """The token ids the runtime feeds for `question`: the chat template (with generation prompt) or plain."""
    if prompt_format == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the base tokenizer has no chat template: use --prompt-format plain")
        ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                            tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)
    if prompt_format == "plain":
        return tokenizer(question + "\n\n", add_special_tokens=True)["input_ids"]
    raise ValueError(f"unknown prompt format {prompt_format!r}: use chat or plain")


def encode_examples(tokenizer, records: list[dict], prompt_format: str, stop_id: int, seq_len: int) -> list[Example]:
    """Prompt + answer + stop token, cut to `seq_len`; examples with no answer token left are dropped."""
    out = []
    for rec in records:
        p = prompt_ids(tokenizer, rec["question"], prompt_format)
        a = tokenizer(rec["answer"], add_special_tokens=False)["input_ids"] + [stop_id]
        ids = (p + a)[:seq_len]
        if len(ids) >= len(p) + 2:  # at least two answer tokens: one region, one target beyond
            out.append(Example(ids=ids, prompt_len=len(p)))
    if not out:
        raise ValueError(f"no example fits --seq-len {seq_len} with an answer: raise --seq-len")
    return out


@torch.no_grad()
def self_generate(model, tokenizer, questions: list[str], prompt_format: str, max_new_tokens: int,
                  batch_size: int, stop_ids: list[int], log=print, temperature: float = 0.0) -> list[str]:
    """Teacher answers for `questions`, batched with left padding (sorted by length to pad less): greedy, or
    sampled at `temperature` > 0 (seed the global generator for a reproducible draw)."""
    device = next(model.parameters()).device
    encoded = [prompt_ids(tokenizer, q, prompt_format) for q in questions]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    answers: list[str] = [""] * len(questions)
    pad = tokenizer.pad_token_id
    t0 = time.time()
    was_training = model.training
    model.eval()
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        L = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), L), pad, dtype=torch.long)
        att = torch.zeros((len(idx), L), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, L - len(encoded[i]):] = torch.tensor(encoded[i])
            att[row, L - len(encoded[i]):] = 1
        sampling = dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0 else \
            dict(do_sample=False)
        gen = model.generate(input_ids=ids.to(device), attention_mask=att.to(device), max_new_tokens=max_new_tokens,
                             eos_token_id=stop_ids, pad_token_id=pad, **sampling)
        for row, i in enumerate(idx):
            new = gen[row, L:].tolist()
            cut = next((j for j, t in enumerate(new) if t in stop_ids), len(new))
            answers[i] = tokenizer.decode(new[:cut], skip_special_tokens=True)
        log(f"self-generate: {min(s + batch_size, len(order))}/{len(order)} answers, {time.time() - t0:.0f} s")
    model.train(was_training)
    return answers


def user_turn_prefix(tokenizer) -> list[int]:
    """The chat template's ids up to where the user's words begin (system turn included, if the template adds one).

    Fed alone to an instruction-tuned model, this prefix makes it write a user request: the Magpie recipe
    (Xu et al. 2024) for drawing prompts from the model's own distribution without any data set.
    """
    sentinel = "\u2063mtp-edge-sentinel\u2063"
    text = tokenizer.apply_chat_template([{"role": "user", "content": sentinel}], tokenize=False,
                                         add_generation_prompt=False)
    if sentinel not in text:
        raise ValueError("the chat template does not place the user's message verbatim: --self-prompt needs a "
                         "chat model")
    return tokenizer(text[:text.index(sentinel)], add_special_tokens=False)["input_ids"]


@torch.no_grad()
def self_prompt(model, tokenizer, n: int, max_new_tokens: int, batch_size: int, stop_ids: list[int], seed: int,
                log=print) -> list[str]:
    """`n` distinct user requests sampled from the model itself (temperature 1) after the user-turn prefix.

    Requests the model did not finish within `max_new_tokens`, shorter than three words or repeated are dropped,
    so fewer than `n` may come back.
    """
    device = next(model.parameters()).device
    prefix = torch.tensor([user_turn_prefix(tokenizer)], device=device)
    torch.manual_seed(seed)
    seen: set[str] = set()
    prompts: list[str] = []
    was_training = model.training
    model.eval()
    t0 = time.time()
    for s in range(0, n, batch_size):
        rows = min(batch_size, n - s)
        ids = prefix.expand(rows, -1)
        gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                             top_p=1.0, top_k=0, max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                             pad_token_id=tokenizer.pad_token_id)
        for row in gen[:, ids.shape[1]:].tolist():
            cut = next((j for j, t in enumerate(row) if t in stop_ids), None)
            if cut is None:
                continue  # unfinished request
            text = tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
            if len(text.split()) >= 3 and text not in seen:
                seen.add(text)
                prompts.append(text)
        log(f"self-prompt: {len(prompts)} requests kept from {s + rows} drawn, {time.time() - t0:.0f} s")
    model.train(was_training)
    return prompts


def save_jsonl(path: str | Path, records: list[dict]) -> None:
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in records))
