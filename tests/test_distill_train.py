"""The distillation objective and loop on a tiny random Llama: k = 1 floor, learning, frozen rows, resume."""

from __future__ import annotations

import copy
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch.nn.functional as F  # noqa: E402

from mtp_edge.distill.data import save_jsonl  # noqa: E402
from mtp_edge.distill.modeling import make_lora  # noqa: E402
from mtp_edge.distill.objective import distill_step  # noqa: E402
from mtp_edge.distill.packing import pack_regions  # noqa: E402
from mtp_edge.distill.tiny import make_tiny_checkpoint, tiny_llama, tiny_records  # noqa: E402
from mtp_edge.distill.train import TrainConfig, train  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


V, MASK, PAD_ID = 40, 39, 0


def _batch(k: int):
    g = torch.Generator().manual_seed(0)
    seqs = [[int(t) for t in torch.randint(1, MASK, (n,), generator=g)] for n in (20, 16, 24, 18)]
    starts = [[4, 9, 14], [3, 8, 12], [6, 15, 22], [5, 10, 17]]
    return pack_regions(seqs, [3, 3, 5, 4], starts, k, MASK, PAD_ID), seqs, starts


def test_k1_student_equals_teacher_and_loss_is_the_teacher_floor():
    """At step 0 with k = 1 the student is the teacher: every row matches, and the hard-teacher loss is
    exactly the teacher's own cross-entropy on its argmax (excess loss 0) at the right rows."""
    model = tiny_llama(V, seed=2)
    batch, seqs, starts = _batch(1)
    res = distill_step(model, copy.deepcopy(model).eval(), batch, MASK, None)
    assert res.match.tolist() == [1.0]
    floor = []
    with torch.no_grad():
        for seq, ps in zip(seqs, starts):
            logits = model(input_ids=torch.tensor([seq])).logits[0]
            rows = logits[[p - 1 for p in ps]]
            floor.append(F.cross_entropy(rows, rows.argmax(-1), reduction="none"))
    torch.testing.assert_close(res.loss.detach(), torch.cat(floor).mean(), atol=1e-5, rtol=1e-5)
    assert res.loss.item() - torch.cat(floor).mean().item() == pytest.approx(0.0, abs=1e-5)


def test_k_greater_than_1_first_row_still_matches_at_step_0():
    model = tiny_llama(V, seed=2)
    batch, _, _ = _batch(4)
    res = distill_step(model, copy.deepcopy(model).eval(), batch, MASK, None)
    assert res.match[0].item() == 1.0  # the plain next-token row is untouched by the masks
    assert res.student_logits.shape == (4, 3, 4, V)


@pytest.mark.parametrize("lora", [False, True])
def test_a_few_steps_on_a_fixed_batch_lower_the_loss(lora):
    torch.manual_seed(0)
    model = tiny_llama(V, seed=3)
    batch, _, _ = _batch(3)
    emb_before = model.get_input_embeddings().weight.detach().clone()
    if lora:
        student, teacher, ctx = (s := make_lora(model, 8, 16, [MASK])), s, s.disable_adapter
    else:
        student, teacher, ctx = model, copy.deepcopy(model).eval().requires_grad_(False), None
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    losses, accs = [], []
    for _ in range(25):
        res = distill_step(student, teacher, batch, MASK, None, ctx)
        opt.zero_grad()
        res.loss.backward()
        opt.step()
        losses.append(res.loss.item())
        accs.append(res.match[1:].mean().item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert accs[-1] > accs[0]
    if lora:  # only the mask row of the (tied) embedding may move
        emb_after = student.get_input_embeddings().weight.detach()
        changed = (emb_after != emb_before).any(dim=1).nonzero().flatten().tolist()
        assert changed == [MASK]


@pytest.mark.parametrize("lora_rank", [None, 4])
def test_resume_continues_the_same_run(tmp_path, lora_rank):
    base = make_tiny_checkpoint(tmp_path / "base", seed=4)
    data = tmp_path / "data.jsonl"
    save_jsonl(data, tiny_records(24, seed=1))

    def cfg(out, resume=False):
        return TrainConfig(base=str(base), data=str(data), out=str(tmp_path / out), k_max=4, steps=6, seq_len=40,
                           regions=3, lr=3e-3, warmup=2, batch=4, save_every=3, log_every=1, lora_rank=lora_rank,
                           device="cpu", resume=resume)

    full = [h["loss"] for h in train(cfg("a"), log=lambda m: None, progress=False)["history"]]

    class Interrupted(Exception):
        pass

    def crash_at_step_4(msg: str):
        if msg.startswith("{") and json.loads(msg)["step"] == 4:
            raise Interrupted  # killed after the checkpoint of step 3, with step 3's update lost

    with pytest.raises(Interrupted):
        train(cfg("b"), log=crash_at_step_4, progress=False)
    resumed = [h["loss"] for h in train(cfg("b", resume=True), log=lambda m: None, progress=False)["history"]]
    assert len(full) == len(resumed) == 6
    assert resumed == pytest.approx(full, rel=1e-5, abs=1e-6)
    assert len(set(full)) > 1  # the run actually moved


def test_sigterm_stops_cleanly_and_resume_continues_the_same_run(tmp_path):
    import os
    import signal

    from mtp_edge.distill.train import STATE_FILE

    base = make_tiny_checkpoint(tmp_path / "base", seed=4)
    data = tmp_path / "data.jsonl"
    save_jsonl(data, tiny_records(24, seed=1))

    def cfg(out, resume=False):
        return TrainConfig(base=str(base), data=str(data), out=str(tmp_path / out), k_max=4, steps=6, seq_len=40,
                           regions=3, lr=3e-3, warmup=2, batch=4, save_every=100, log_every=1, lora_rank=4,
                           device="cpu", resume=resume)

    full = [h["loss"] for h in train(cfg("a"), log=lambda m: None, progress=False)["history"]]
    messages = []

    def terminate_at_step_1(msg: str):
        messages.append(msg)
        if msg.startswith("{") and json.loads(msg)["step"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler (or `kill`) sends mid-step

    stopped = train(cfg("b"), log=terminate_at_step_1, progress=False)["history"]
    assert len(stopped) == 2 and any("stopped by signal after 2 steps" in m for m in messages)
    assert torch.load(tmp_path / "b" / "checkpoint" / STATE_FILE, weights_only=False)["step"] == 2
    assert (tmp_path / "b" / "model" / "adapter_model.safetensors").is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after training
    resumed = [h["loss"] for h in train(cfg("b", resume=True), log=lambda m: None, progress=False)["history"]]
    assert resumed == pytest.approx(full, rel=1e-5, abs=1e-6)


def test_ntp_weight_scales_row_0_against_the_mask_rows():
    from mtp_edge.distill.objective import distill_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 4, V, generator=g)
    targets = torch.randint(0, V, (3, 2, 4), generator=g)
    per_row = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none").reshape(3, 2, 4)
    per_row = per_row.mean(dim=(0, 1))
    plain = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    torch.testing.assert_close(distill_loss(logits, targets), plain)  # weight 1 is the paper's plain mean
    torch.testing.assert_close(distill_loss(logits, targets, 5.0), (5 * per_row[0] + per_row[1:].sum()) / 8)


def test_soft_loss_is_kl_to_the_teacher_over_the_base_vocab_and_zero_when_they_agree():
    from mtp_edge.distill.objective import soft_distill_loss

    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(3, 2, 4, MASK, generator=g)  # base vocabulary only: ids 0..MASK-1
    agree = torch.cat([teacher, torch.full((3, 2, 4, V - MASK), -1e9)], dim=-1)  # no mass on the mask id
    assert soft_distill_loss(agree, teacher, MASK).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(3, 2, 4, V, generator=g)
    p_t = F.softmax(teacher, -1)
    kl = (p_t * (F.log_softmax(teacher, -1) - F.log_softmax(student, -1)[..., :MASK])).sum(-1).mean(dim=(0, 1))
    torch.testing.assert_close(soft_distill_loss(student, teacher, MASK), kl.mean())
    torch.testing.assert_close(soft_distill_loss(student, teacher, MASK, 3.0), (3 * kl[0] + kl[1:].sum()) / 6)
    # mass on the mask id is a miss: the same base logits with a likely mask token cost more
    leaky = torch.cat([teacher, torch.full((3, 2, 4, V - MASK), 5.0)], dim=-1)
    assert soft_distill_loss(leaky, teacher, MASK) > soft_distill_loss(agree, teacher, MASK) + 0.1


def test_soft_weight_mixes_the_hard_and_soft_losses_and_training_on_it_lowers_both():
    from mtp_edge.distill.objective import distill_loss, soft_distill_loss

    torch.manual_seed(0)
    student = tiny_llama(V, seed=3)
    teacher = copy.deepcopy(student).eval().requires_grad_(False)
    batch, _, _ = _batch(3)
    hard = distill_step(student, teacher, batch, MASK, None)
    mixed = distill_step(student, teacher, batch, MASK, None, soft_weight=0.25)
    with torch.no_grad():  # the teacher's logits: its pass on the student's argmax tokens, as distill_step runs it
        from mtp_edge.distill.objective import attention_mask_for, readout_hidden, readout_logits, teacher_input
        t_ids = teacher_input(batch, hard.student_logits[..., :MASK].argmax(-1))
        t_logits = readout_logits(teacher, readout_hidden(teacher, t_ids, batch, attention_mask_for(teacher, batch,
                                                                                                    torch.float32)))
    soft = soft_distill_loss(hard.student_logits, t_logits, MASK)
    torch.testing.assert_close(hard.loss, distill_loss(hard.student_logits, hard.targets))
    torch.testing.assert_close(mixed.loss, 0.75 * hard.loss + 0.25 * soft)
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(25):
        res = distill_step(student, teacher, batch, MASK, None, soft_weight=1.0)
        first = res.loss.item() if first is None else first
        opt.zero_grad()
        res.loss.backward()
        opt.step()
    assert res.loss.item() < 0.5 * first
    assert res.match[1:].mean().item() > hard.match[1:].mean().item()


def _tiny_run(tmp_path, out, **kw):
    base = tmp_path / "base"
    if not base.exists():  # small embeddings: near-uniform sampling, so self-prompted requests end in time
        make_tiny_checkpoint(base, seed=4, embed_std=0.05)
    data = tmp_path / "data.jsonl"
    if not data.exists():
        save_jsonl(data, tiny_records(24, seed=1))
    cfg = dict(base=str(base), data=str(data), out=str(tmp_path / out), k_max=4, steps=4, seq_len=40, regions=3,
               lr=3e-3, warmup=1, batch=4, save_every=4, log_every=1, lora_rank=4, device="cpu")
    cfg.update(kw)
    return train(TrainConfig(**cfg), log=lambda m: None, progress=False)


def test_init_adapter_starts_from_the_saved_weights_and_rejects_another_rank(tmp_path):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    first = _tiny_run(tmp_path, "a")
    saved = load_file(str(tmp_path / "a" / "model" / "adapter_model.safetensors"))
    env = _tiny_run(tmp_path, "b", init_adapter=str(tmp_path / "a" / "model"), lr=1e-12, steps=1)["env"]
    now = get_peft_model_state_dict(env["student"], save_embedding_layers=False)
    assert set(now) == set(saved)
    for key, tensor in saved.items():  # lr ~0: still the warm-start weights (saved in fp16)
        torch.testing.assert_close(now[key].half(), tensor, atol=1e-3, rtol=0)
    mask = env["mask_ids"][0]
    torch.testing.assert_close(env["student"].get_input_embeddings().weight[mask],
                               first["env"]["student"].get_input_embeddings().weight[mask], atol=1e-6, rtol=0)
    assert any(t.abs().sum() > 0 for k, t in saved.items() if "lora_B" in k)  # run a moved off LoRA's zero init
    with pytest.raises(ValueError, match="at least the one"):
        _tiny_run(tmp_path, "c", init_adapter=str(tmp_path / "a" / "model"), lora_rank=2, steps=1)


def _logits_after_warm_start(tmp_path, out: str, **kw):
    env = _tiny_run(tmp_path, out, lr=1e-12, steps=1, **kw)["env"]
    ids = torch.tensor([[3, 7, 11, env["mask_ids"][0], env["mask_ids"][1]]], device=env["device"])
    with torch.no_grad():
        return env, env["student"](input_ids=ids).logits


def test_init_adapter_at_a_higher_rank_or_merged_for_full_finetuning_computes_the_saved_model(tmp_path):
    """A rank-4 run grown to rank 8 (alpha 2r and a fixed alpha 4: B rescaled) and merged into the weights for full
    fine-tuning all give the rank-4 model's logits at the start, masks included; the grown rank's new A rows are
    not zero, so they learn."""
    _tiny_run(tmp_path, "a")
    adapter = str(tmp_path / "a" / "model")
    _, want = _logits_after_warm_start(tmp_path, "same", init_adapter=adapter)
    grown, got = _logits_after_warm_start(tmp_path, "grown", init_adapter=adapter, lora_rank=8)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=0)
    _, got = _logits_after_warm_start(tmp_path, "alpha", init_adapter=adapter, lora_rank=8, lora_alpha=4.0)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=0)
    _, got = _logits_after_warm_start(tmp_path, "full", init_adapter=adapter, lora_rank=None)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=0)
    a_rows = [t for k, t in grown["student"].named_parameters() if "lora_A" in k]
    assert a_rows and all(t[4:].abs().sum() > 0 for t in a_rows)


def test_range_mask_mode_from_a_single_mask_run_starts_as_that_model_and_trains_a_row_per_slot(tmp_path):
    """--mask-mode range warm-started from a single-mask adapter: step 0 reads mask ids m, m+1, ... exactly as the
    single-mask model reads m, m, ...; training then moves each slot's row on its own, and the run's outputs
    (mtp_config.json, the packed batches) say range."""
    from mtp_edge.distill.tokens import MtpConfig

    _tiny_run(tmp_path, "single")
    adapter = str(tmp_path / "single" / "model")
    env = _tiny_run(tmp_path, "start", init_adapter=adapter, mask_mode="range", lr=1e-12, steps=1)["env"]
    m = env["mask_ids"]
    with torch.no_grad():
        single = env["student"](input_ids=torch.tensor([[3, 7, 11, m[0], m[0], m[0]]])).logits
        ranged = env["student"](input_ids=torch.tensor([[3, 7, 11, m[0], m[1], m[2]]])).logits
    torch.testing.assert_close(ranged, single, atol=1e-5, rtol=0)
    trained = _tiny_run(tmp_path, "range", init_adapter=adapter, mask_mode="range", steps=3)["env"]
    rows = trained["student"].get_input_embeddings().weight[m[:4]].detach()
    assert not torch.allclose(rows[1], rows[0]) and not torch.allclose(rows[2], rows[1])  # slots 0..2 (k_max 4)
    start_rows = env["student"].get_input_embeddings().weight
    torch.testing.assert_close(rows[3], start_rows[m[0]])  # slot 3 (past k_max - 1): the single-mask row, untrained
    torch.testing.assert_close(trained["student"].get_input_embeddings().weight[m[-1]], start_rows[m[0]])
    assert MtpConfig.load(tmp_path / "range" / "model").mask_mode == "range"
    from mtp_edge.distill.train import TrainConfig, batch_for_step

    cfg = TrainConfig(base="b", data="d", out="o", k_max=4, k_min=4, batch=2, regions=1, mask_mode="range")
    batch = batch_for_step(trained["examples"], 0, cfg, m[0], 0)
    assert set(batch.input_ids[0].tolist()) & set(m) == set(m[:3])


def test_self_prompt_adds_teacher_written_requests_with_answers(tmp_path):
    from mtp_edge.distill.data import load_jsonl

    env = _tiny_run(tmp_path, "sp", self_prompts=16, prompt_max_new_tokens=48, gen_max_new_tokens=12,
                    steps=1)["env"]
    records = load_jsonl(tmp_path / "sp" / "self_prompted.jsonl")
    assert records and all(r["source"] == "self-prompt" and r["answer"].strip() for r in records)
    assert len({r["question"] for r in records}) == len(records)
    assert all(len(r["question"].split()) >= 3 for r in records)
    assert 24 < len(env["examples"]) <= 24 + len(records)  # a request too long for --seq-len 40 is dropped


@pytest.mark.slow
def test_a_gguf_base_saves_as_a_checkpoint_folder_after_full_finetuning(smollm2_path, tmp_path):
    """transformers marks a dequantized GGUF as "quantized" and refuses to save it; --full must still write
    its checkpoint folder (this failed on the GPU machine after a whole training run)."""
    from mtp_edge.distill.modeling import load_base, save_checkpoint_folder
    from mtp_edge.distill.tokens import MtpConfig

    model, tok = load_base(str(smollm2_path))
    out = save_checkpoint_folder(model, tok, MtpConfig(k_max=4), tmp_path / "model")
    again, _ = load_base(str(out))
    ids = torch.tensor([[1, 504, 3458, 30, 260]])
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, model(ids).logits)
    from mtp_edge.convert.tokenizer import detect_pre

    # the saved tokenizer is SmolLM2's (digits split one by one), so the converter labels it as llama.cpp does
    assert detect_pre(json.loads((out / "tokenizer.json").read_text())) == "smollm"


@pytest.mark.slow
def test_a_gguf_base_tokenizes_as_llama_cpp_does(smollm2_path):
    """transformers rebuilds a GGUF's tokenizer with GPT-2's pre-tokenizer; for SmolLM2 a space before a number
    then became another token than llama.cpp's, so training saw sequences the runtime never produces."""
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from mtp_edge.distill.modeling import load_base, restore_gguf_pre_tokenizer

    texts = ["There are 220 castles in Scotland.  40 percent of them are ruins.",
             "She paid $1,250.75 on 2024-12-07;  3 x 12 = 36\n\n  indented 7 and café 東京"]
    vocab = Llama(str(smollm2_path), vocab_only=True, verbose=False)
    llama_ids = [vocab.tokenize(t.encode(), add_bos=False, special=False) for t in texts]
    rebuilt = AutoTokenizer.from_pretrained(str(smollm2_path.parent), gguf_file=smollm2_path.name)
    assert rebuilt.encode(texts[0], add_special_tokens=False) != llama_ids[0]  # what transformers alone gives
    assert restore_gguf_pre_tokenizer(rebuilt, smollm2_path) == "smollm"
    _, tok = load_base(str(smollm2_path))
    for t, ids in zip(texts, llama_ids):
        assert rebuilt.encode(t, add_special_tokens=False) == ids
        assert tok.encode(t, add_special_tokens=False) == ids


def test_gen_samples_add_distinct_sampled_answers_and_are_cached(tmp_path):
    from mtp_edge.distill.data import load_jsonl

    env = _tiny_run(tmp_path, "gs", self_generate=True, gen_samples=2, gen_temperature=1.0, gen_max_new_tokens=12,
                    steps=1)["env"]
    greedy = {(r["question"], r["answer"]) for r in load_jsonl(tmp_path / "gs" / "teacher_answers.jsonl")}
    samples = load_jsonl(tmp_path / "gs" / "teacher_samples.jsonl")
    assert samples and all(r["source"] == "sample-t1.0" for r in samples)
    pairs = [(r["question"], r["answer"]) for r in samples]
    assert len(set(pairs)) == len(pairs) and not set(pairs) & greedy
    assert len({q for q, _ in pairs}) > 12  # most of the 24 questions got a sample unlike their greedy answer
    n = len(env["examples"])
    again = _tiny_run(tmp_path, "gs", self_generate=True, gen_samples=2, gen_temperature=1.0, gen_max_new_tokens=12,
                      steps=2, resume=True)["env"]  # the cache is read back, not drawn again
    assert len(again["examples"]) == n
    assert load_jsonl(tmp_path / "gs" / "teacher_samples.jsonl") == samples


def test_holdout_match_is_logged_before_updates_and_tracks_the_student(tmp_path):
    held = tmp_path / "held.jsonl"
    save_jsonl(held, [{"question": r["question"]} for r in tiny_records(8, seed=9)])
    from mtp_edge.distill.train import TrainConfig as Cfg

    lines = []
    base_cfg = dict(base=str(tmp_path / "base"), data=str(tmp_path / "data.jsonl"))
    _tiny_run(tmp_path, "warm", steps=1)  # writes the tiny base and data
    run = train(Cfg(**base_cfg, out=str(tmp_path / "ho"), k_max=4, steps=4, seq_len=40, regions=3, lr=3e-2,
                    warmup=1, batch=4, save_every=4, log_every=1, lora_rank=4, device="cpu", holdout_data=str(held),
                    holdout_n=6, holdout_every=2, gen_max_new_tokens=12), log=lines.append, progress=False)
    final = [json.loads(m) for m in lines if m.startswith("{") and "after_last_step" in m]
    assert [f["step"] for f in final] == [4] and len(final[0]["holdout_match"]) == 4
    logged = [r for r in run["history"] if "holdout_match" in r]
    assert [r["step"] for r in logged] == [0, 2]
    first, later = logged[0]["holdout_match"], logged[1]["holdout_match"]
    assert len(first) == 4 and first[0] == 1.0  # k = k_max rows; row 0 is the teacher's own next token at step 0
    assert later != first  # measured on the student as it trains, not a cached figure
    assert len(run["env"]["holdout"]) == 2  # 6 examples in batches of 4
    from mtp_edge.distill.data import load_jsonl

    assert len(load_jsonl(tmp_path / "ho" / "holdout_answers.jsonl")) == 6
