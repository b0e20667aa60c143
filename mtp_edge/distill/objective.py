"""The self-distillation objective (METHOD.md 5): student readout, teacher targets, loss, acceptance.

The paper's loss is the hard teacher: cross-entropy against the teacher's argmax. `soft_weight` mixes in the
teacher's whole next-token distribution at each row (classic knowledge distillation, temperature 1).

Only the k read-out rows of each region go through the output head: computing logits for every packed
position would cost a [B*T, vocab] matrix (the largest tensor of the step) for rows that carry no loss.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mtp_edge.distill.packing import PackedBatch, build_block_mask, to_additive


def attention_mask_for(model, batch: PackedBatch, dtype: torch.dtype) -> torch.Tensor:
    """The block mask in the form the model's attention kernel expects (bool for SDPA, additive otherwise)."""
    mask = build_block_mask(batch.span, batch.position_ids, batch.start)
    impl = getattr(model.config, "_attn_implementation", None) or "sdpa"
    return mask if impl == "sdpa" else to_additive(mask, dtype)


def readout_hidden(model, input_ids: torch.Tensor, batch: PackedBatch, mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states at the read-out rows, [B, M, k, H], from one packed forward of the decoder body."""
    body = model.get_decoder()
    out = body(input_ids=input_ids, attention_mask=mask, position_ids=batch.position_ids, use_cache=False)
    hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
    B, M, k = batch.rows.shape
    idx = batch.rows.reshape(B, M * k, 1).expand(-1, -1, hidden.shape[-1])
    return hidden.gather(1, idx).reshape(B, M, k, -1)


def readout_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """Output head on the read-out rows; float32 because the loss and the softmax need it."""
    return model.get_output_embeddings()(hidden).float()


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, differentiable
    match: torch.Tensor  # [k] fraction of rows where student argmax == teacher argmax, per row j
    student_logits: torch.Tensor  # [B, M, k, V]
    targets: torch.Tensor  # [B, M, k]


def teacher_input(batch: PackedBatch, student_tokens: torch.Tensor) -> torch.Tensor:
    """The packed ids with each span's masks replaced by the student's tokens y'_1..y'_{k-1}.

    Same mask and positions as the student's pass: the teacher then reads prefix + y'_1..y'_{j-1} at row j.
    """
    ids = batch.input_ids.clone()
    span_idx = batch.span_token_index()  # [B, M, k-1]
    B, M, m = span_idx.shape
    ids.scatter_(1, span_idx.reshape(B, M * m), student_tokens[..., :m].reshape(B, M * m))
    return ids


def distill_loss(student_logits: torch.Tensor, targets: torch.Tensor, ntp_weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy of the student's rows against the teacher's argmax ("hard teacher").

    `ntp_weight` scales row 0 (the plain next-token row) against each mask row; 1.0 is the paper's plain mean.
    A larger weight keeps the model's own next-token choices (and so the verifier of lossless mode) closer to the
    teacher's while the shared weights learn the mask rows.
    """
    per_row = F.cross_entropy(student_logits.reshape(-1, student_logits.shape[-1]), targets.reshape(-1),
                              reduction="none").reshape(targets.shape).mean(dim=(0, 1))  # [k]
    return weighted_row_mean(per_row, ntp_weight)


def weighted_row_mean(per_row: torch.Tensor, ntp_weight: float) -> torch.Tensor:
    """Mean of a [k] per-row loss with row 0 (the plain next-token row) counted as `ntp_weight` mask rows."""
    weights = torch.ones_like(per_row)
    weights[0] = ntp_weight
    return (per_row * weights).sum() / weights.sum()


def soft_distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, n_base_vocab: int,
                      ntp_weight: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) per read-out row, over the base vocabulary, weighted as `distill_loss`.

    The teacher never puts mass on mask tokens; the student's softmax runs over its whole vocabulary (the runtime's
    confidence does), so mass it gives to mask tokens counts as a miss. Zero exactly when the two agree.
    """
    t_logp = F.log_softmax(teacher_logits[..., :n_base_vocab].float(), dim=-1)
    s_logp = F.log_softmax(student_logits.float(), dim=-1)[..., :n_base_vocab]
    per_row = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean(dim=(0, 1))  # [k]
    return weighted_row_mean(per_row, ntp_weight)


def acceptance_by_row(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[k] mean of (student argmax == teacher argmax) at each row j of the regions."""
    return (student_logits.argmax(-1) == targets).float().mean(dim=(0, 1))


def distill_step(student, teacher, batch: PackedBatch, n_base_vocab: int, autocast_dtype: torch.dtype | None,
                 teacher_ctx=None, ntp_weight: float = 1.0, soft_weight: float = 0.0) -> StepOutput:
    """One student pass + one frozen-teacher pass on a packed batch; returns the loss (not yet backpropagated).

    `teacher` is a separate frozen model (full fine-tuning) or the student itself with `teacher_ctx` a
    context that turns its LoRA adapters off. Argmaxes fed to and taken from the teacher are limited to the
    base vocabulary, so the (trained) mask rows never reach the teacher: it stays exactly the start model.
    The loss is (1 - soft_weight) x hard-teacher cross-entropy + soft_weight x KL to the teacher's distribution.
    """
    device = batch.input_ids.device
    amp = (torch.autocast(device_type=device.type, dtype=autocast_dtype) if autocast_dtype is not None
           else nullcontext())
    mask = attention_mask_for(student, batch, autocast_dtype or torch.float32)
    with amp:
        s_hidden = readout_hidden(student, batch.input_ids, batch, mask)
        s_logits = readout_logits(student, s_hidden)
    with torch.no_grad():
        s_tokens = s_logits[..., :n_base_vocab].argmax(-1)
        t_ids = teacher_input(batch, s_tokens)
        with amp, (teacher_ctx() if teacher_ctx is not None else nullcontext()):
            t_hidden = readout_hidden(teacher, t_ids, batch, mask)
            t_logits = readout_logits(teacher, t_hidden)
        targets = t_logits[..., :n_base_vocab].argmax(-1)
    loss = distill_loss(s_logits, targets, ntp_weight)
    if soft_weight:
        loss = (1.0 - soft_weight) * loss + soft_weight * soft_distill_loss(s_logits, t_logits, n_base_vocab,
                                                                            ntp_weight)
    return StepOutput(loss=loss, match=acceptance_by_row(s_logits.detach(), targets), student_logits=s_logits,
                      targets=targets)
