"""The self-distillation training loop: batches, optimiser, schedule, checkpoints and resume."""

from __future__ import annotations

import copy
import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mtp_edge.distill.data import Example, encode_examples, load_jsonl
from mtp_edge.distill.modeling import (load_base, make_lora, merge_adapter_for_full_finetuning, save_adapter_folder,
                                       save_checkpoint_folder, stop_token_ids, warm_start_from_adapter)
from mtp_edge.distill import distributed as dist_
from mtp_edge.distill.objective import distill_step
from mtp_edge.distill.packing import PackedBatch, pack_regions, sample_region_starts
from mtp_edge.distill.teacher_data import generated_data, holdout_examples
from mtp_edge.distill.tokens import MtpConfig, add_mask_tokens

STATE_FILE = "trainer_state.pt"


@dataclass
class TrainConfig:
    """Everything that defines a run; saved with checkpoints so that --resume continues the same run."""

    base: str
    data: str | list[str]  # one jsonl file or several (concatenated)
    out: str
    k_max: int = 16
    k_min: int = 2
    steps: int = 1000
    lora_rank: int | None = None  # None: full fine-tuning
    lora_alpha: float | None = None
    seq_len: int = 160
    regions: int = 5
    lr: float = 1e-5
    warmup: int = 100
    min_lr_ratio: float = 0.1
    batch: int = 32
    seed: int = 0
    save_every: int = 200
    log_every: int = 10
    time_limit: float | None = None  # seconds of training, then save and stop
    self_generate: bool = False
    gen_max_new_tokens: int = 256
    gen_batch: int = 256
    prompt_format: str = "chat"
    tau: float = 0.9
    device: str | None = None
    max_examples: int | None = None
    resume: bool = False
    ntp_weight: float = 1.0  # loss weight of row 0 (plain next token) against each mask row
    soft_weight: float = 0.0  # share of KL to the teacher's distribution in the loss (0: the paper's hard teacher)
    init_adapter: str | None = None  # warm start: LoRA weights + mask rows of an earlier run
    self_prompts: int = 0  # Magpie: the teacher also writes this many user requests (and answers them)
    prompt_max_new_tokens: int = 128
    gen_samples: int = 0  # this many extra teacher answers per question, sampled at gen_temperature
    gen_temperature: float = 0.7
    holdout_data: str | None = None  # questions never trained on: their teacher answers measure generalisation
    holdout_n: int = 256
    holdout_every: int = 100
    mask_mode: str = "single"  # "range": slot j reads mask token j (METHOD.md 1), each row its own embedding


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def batch_for_step(examples: list[Example], step: int, cfg: TrainConfig, mask_id: int, pad_id: int,
                   env: dist_.DistEnv = dist_.DistEnv()) -> PackedBatch:
    """The packed batch of `step` (this rank's slice of it), a pure function of (seed, step, rank): resuming
    needs no data-loader state, and ranks need no communication to agree on the data."""
    n = len(examples)
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    k = int(torch.randint(cfg.k_min, cfg.k_max + 1, (), generator=g))
    picks = []
    for i in range(step * cfg.batch, (step + 1) * cfg.batch):
        epoch, j = divmod(i, n)
        perm = _epoch_perm(n, cfg.seed, epoch)
        picks.append(examples[int(perm[j])])
    starts = [sample_region_starts(e.prompt_len, len(e.ids), cfg.regions, g) for e in picks]
    picks, starts = dist_.shard(picks, env), dist_.shard(starts, env)
    return pack_regions([e.ids for e in picks], [e.prompt_len for e in picks], starts, k, mask_id, pad_id,
                        cfg.mask_mode)


_PERMS: dict[tuple[int, int, int], torch.Tensor] = {}


def _epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    key = (n, seed, epoch)
    if key not in _PERMS:
        _PERMS.clear()
        _PERMS[key] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
    return _PERMS[key]


def prepare(cfg: TrainConfig, log=print):
    """Load the base, (self-generated) data and mask tokens; returns everything the loop needs."""
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dist, device = dist_.init_from_env(device)
    dist_.check_batch(cfg.batch, dist)
    if not dist.main:
        log = _quiet
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # LoRA's initialisation draws from the global generator
    model, tok = load_base(cfg.base, torch.float32, device)
    stops = stop_token_ids(tok)
    amp_dtype = torch.bfloat16 if device.type == "cuda" else None
    records = [r for f in ([cfg.data] if isinstance(cfg.data, str) else cfg.data)
               for r in load_jsonl(f, require_answer=not cfg.self_generate)]
    if cfg.max_examples:
        records = records[:cfg.max_examples]
    amp = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else _null
    with dist_.main_rank_first(dist):  # rank 0 generates and caches; the others then read its cache
        records = generated_data(model, tok, cfg, records, stops, amp, log)
    stop_id = tok.convert_tokens_to_ids("<|im_end|>") if cfg.prompt_format == "chat" and "<|im_end|>" in \
        tok.get_vocab() else tok.eos_token_id
    examples = encode_examples(tok, records, cfg.prompt_format, stop_id, cfg.seq_len)
    log(f"data: {len(examples)} examples, mean length {sum(len(e.ids) for e in examples) / len(examples):.0f} tokens")
    held = []
    if cfg.holdout_data and dist.main:
        held = holdout_examples(model, tok, cfg, stops, stop_id, amp, log)
        log(f"holdout: {len(held)} examples from {cfg.holdout_data}")
    mask_ids = add_mask_tokens(model, tok, seed=cfg.seed)
    n_base_vocab = min(mask_ids)
    if cfg.lora_rank:
        student = make_lora(model, cfg.lora_rank, cfg.lora_alpha, trained_mask_rows(mask_ids, cfg))
        if cfg.init_adapter:
            warm_start_from_adapter(student, mask_ids, cfg.init_adapter)
            log(f"warm start from {cfg.init_adapter}")
        teacher, teacher_ctx = student, student.disable_adapter
    else:
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        teacher_ctx = None
        student = model
        if cfg.init_adapter:
            student = merge_adapter_for_full_finetuning(model, mask_ids, cfg.init_adapter)
            log(f"warm start from {cfg.init_adapter} (merged into the weights)")
    if cfg.init_adapter and spread_single_mask_row(student, mask_ids, cfg):
        log("mask mode range from a single-mask run: every slot starts as the trained mask row")
    student.train()
    dist_.broadcast_parameters([p for p in student.parameters() if p.requires_grad], dist)
    mtp = MtpConfig(k_max=cfg.k_max, tau=cfg.tau, prompt_format=cfg.prompt_format, stop_token_ids=stops,
                    mask_mode=cfg.mask_mode)
    holdout = holdout_batches(held, cfg, mask_ids[0], tok.pad_token_id) if held else []
    return dict(device=device, dist=dist, log=log, student=student, teacher=teacher, teacher_ctx=teacher_ctx, tokenizer=tok,
                examples=examples, mask_ids=mask_ids, n_base_vocab=n_base_vocab, amp_dtype=amp_dtype, mtp=mtp,
                holdout=holdout)


def trained_mask_rows(mask_ids: list[int], cfg: TrainConfig) -> list[int]:
    """The embedding rows a LoRA run trains: the one mask row, or in range mode one row per slot (k_max - 1)."""
    return mask_ids[:max(1, cfg.k_max - 1)] if cfg.mask_mode == "range" else mask_ids[:1]


def spread_single_mask_row(student, mask_ids: list[int], cfg: TrainConfig) -> bool:
    """A range-mode run warm-started from a single-mask run: copy the trained slot-0 row to every other slot, so
    that step 0 computes the single-mask model exactly and training then lets each of the first k_max - 1 slots'
    rows specialise. The slots past those keep the single-mask row: a user's k_max above the trained one then reads
    the mask the model was trained with, not a random row. Returns whether it copied (a range start is kept)."""
    if cfg.mask_mode != "range" or MtpConfig.load(cfg.init_adapter).mask_mode == "range":
        return False
    with torch.no_grad():
        emb = student.get_input_embeddings().weight
        emb[mask_ids[1:]] = emb[mask_ids[0]].clone()
    return True


def holdout_batches(examples: list[Example], cfg: TrainConfig, mask_id: int, pad_id: int) -> list[PackedBatch]:
    """Fixed packed batches of the held-out examples at k = k_max (every row measured), the same at every step."""
    g = torch.Generator().manual_seed(12345)
    batches = []
    for s in range(0, len(examples), cfg.batch):
        picks = examples[s:s + cfg.batch]
        starts = [sample_region_starts(e.prompt_len, len(e.ids), cfg.regions, g) for e in picks]
        batches.append(pack_regions([e.ids for e in picks], [e.prompt_len for e in picks], starts, cfg.k_max,
                                    mask_id, pad_id, cfg.mask_mode))
    return batches


@torch.no_grad()
def holdout_match(env: dict) -> list[float]:
    """Top-1 match with the teacher per read-out row on the held-out batches (row 0: the plain next token)."""
    student, total, n = env["student"], None, 0
    was_training = student.training
    student.eval()
    for batch in env["holdout"]:
        res = distill_step(student, env["teacher"], batch.to(env["device"]), env["n_base_vocab"], env["amp_dtype"],
                           env["teacher_ctx"])
        rows = batch.rows.shape[0]
        total = res.match * rows if total is None else total + res.match * rows
        n += rows
    student.train(was_training)
    return [round(float(m), 4) for m in total / n]


def _quiet(*_args, **_kwargs) -> None:
    """The log of ranks other than 0."""


def _null():
    from contextlib import nullcontext

    return nullcontext()


def train(cfg: TrainConfig, log=print, progress: bool = True) -> dict:
    """Run (or resume) the distillation described by `cfg`; returns a summary with the loss history."""
    env = prepare(cfg, log)
    student, device, dist, log = env["student"], env["device"], env["dist"], env["log"]
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0,
                            fused=device.type == "cuda")
    ckpt = Path(cfg.out) / "checkpoint"
    history: list[dict] = []
    start = 0
    if (ckpt / STATE_FILE).is_file() and cfg.resume:
        start, history = load_state(ckpt / STATE_FILE, student, opt, cfg)
        log(f"resume: continuing at step {start}")
    n_trainable = sum(p.numel() for p in params)
    log(f"train: {n_trainable / 1e6:.2f} M trainable tensors' elements, device {device}, steps {cfg.steps}"
        + (f", {dist.world} processes" if dist.active else ""))
    bar = _progress(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or not dist.main)
    with stop_requested_by_signal() as stop:
        _train_steps(cfg, env, params, opt, bar, history, time.time(), stop)
    return {"history": history, "env": env}


@contextmanager
def stop_requested_by_signal():
    """While training, SIGTERM or Ctrl-C asks for a clean stop: the step in flight ends, the run is saved, and
    `--resume` continues it (a job scheduler's kill or an impatient user loses no steps). Yields a list that holds
    the signal's number once one came."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield got
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda signum, _frame: got.append(signum))
    try:
        yield got
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _train_steps(cfg: TrainConfig, env: dict, params, opt, bar, history: list[dict], t0: float,
                 stop: list[int]) -> None:
    """The optimiser steps of `bar`; stops early (saving the run) at the time limit or on a signal."""
    student, device, dist, log = env["student"], env["device"], env["dist"], env["log"]
    ckpt = Path(cfg.out) / "checkpoint"
    pad_id = env["tokenizer"].pad_token_id
    ema = None
    for step in bar:
        held = holdout_match(env) if env["holdout"] and step % cfg.holdout_every == 0 else None
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = batch_for_step(env["examples"], step, cfg, env["mask_ids"][0], pad_id, dist).to(device)
        res = distill_step(student, env["teacher"], batch, env["n_base_vocab"], env["amp_dtype"], env["teacher_ctx"],
                           cfg.ntp_weight, cfg.soft_weight)
        opt.zero_grad(set_to_none=True)
        res.loss.backward()
        dist_.average_gradients(params, dist)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        figures = dist_.mean_across(torch.cat([res.loss.detach().reshape(1), res.match]), dist).tolist()
        loss, match = figures[0], figures[1:]
        acc = sum(match[1:]) / max(1, len(match) - 1)  # mask rows only: row 0 is the plain next-token row
        ema = acc if ema is None else 0.98 * ema + 0.02 * acc
        rec = {"step": step, "loss": round(loss, 5), "k": batch.k, "acc": round(acc, 4),
               "match": [round(m, 4) for m in match], "lr": opt.param_groups[0]["lr"],
               "t": round(time.time() - t0, 2)}
        if held is not None:  # measured before this step's update: step 0's is the starting point
            rec["holdout_match"] = held
        history.append(rec)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{ema:.3f}", k=batch.k)
        if step % cfg.log_every == 0 or held is not None:
            log(json.dumps(rec))
        done = step + 1
        timed_out = cfg.time_limit is not None and time.time() - t0 > cfg.time_limit
        ending = dist_.agree(timed_out or bool(stop), dist, device)
        if (done % cfg.save_every == 0 or done == cfg.steps or ending) and dist.main:
            save_state(ckpt / STATE_FILE, student, opt, done, history, cfg)
            write_output(env, cfg)
        if env["holdout"] and (done == cfg.steps or ending):  # where the saved weights stand
            log(json.dumps({"step": done, "holdout_match": holdout_match(env), "after_last_step": True}))
        if ending:
            log(f"time limit {cfg.time_limit:.0f} s reached after {done} steps" if timed_out else
                f"stopped by signal after {done} steps (saved; --resume continues)")
            break


def write_output(env: dict, cfg: TrainConfig) -> Path:
    """Adapter folder (LoRA) or checkpoint folder (full fine-tuning) in cfg.out/model."""
    target = Path(cfg.out) / "model"
    if cfg.lora_rank:
        return save_adapter_folder(env["student"], env["mask_ids"], env["mtp"], target, Path(cfg.base).name)
    return save_checkpoint_folder(env["student"], env["tokenizer"], env["mtp"], target)


def save_state(path: Path, model, opt, step: int, history: list[dict], cfg: TrainConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trainable = {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "params": trainable, "opt": opt.state_dict(), "history": history,
                "config": {k: v for k, v in asdict(cfg).items()}}, tmp)
    tmp.replace(path)  # atomic: a run killed while saving keeps the previous checkpoint


def load_state(path: Path, model, opt, cfg: TrainConfig) -> tuple[int, list[dict]]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("base", "lora_rank", "k_max", "regions", "batch", "seed", "mask_mode"):
        if state["config"].get(key) != getattr(cfg, key):
            raise ValueError(f"--resume: {key} was {state['config'].get(key)!r} in the checkpoint, now "
                             f"{getattr(cfg, key)!r}; resume with the same settings or use a new --out")
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in state["params"].items():
            named[n].copy_(t.to(named[n].device))
    opt.load_state_dict(state["opt"])
    return state["step"], state["history"]


def _progress(it, **kw):
    try:
        from tqdm import tqdm

        return tqdm(it, mininterval=5.0, dynamic_ncols=True, **kw)
    except ImportError:  # tqdm is optional: plain iteration, log lines still print
        return it
