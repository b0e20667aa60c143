"""Packing M mask regions into each training sequence, and the block attention mask (METHOD.md 5).

Layout of one packed row of length T = S + M * (k - 1):

    [ real tokens 0..L-1 | pad up to S | span 0: k-1 masks | span 1 | ... | span M-1 ]

Span r stands for the masks that would follow the prefix `tokens[:p_r]` at inference, so its tokens take the
positions p_r .. p_r + k - 2. The ground truth at those positions stays in the real part with its original
positions ("re-inserted after the mask span"): real tokens never see any span, so the real part is exactly an
ordinary causal pass. Placing all spans after the real part instead of interleaving them changes nothing: who
sees whom is decided by the mask and RoPE only sees position ids. The k rows read out for region r are the
real row p_r - 1 (it predicts token p_r, the plain next-token row) and the k - 1 span rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

REAL, PAD = -1, -2  # span ids of non-mask tokens


@dataclass
class PackedBatch:
    """Tensors for one packed forward; every field is [B, T] except `rows` [B, M, k]."""

    input_ids: torch.Tensor  # span tokens hold the mask id (student) until replaced for the teacher
    position_ids: torch.Tensor
    span: torch.Tensor  # REAL, PAD, or the region index r of a mask token
    start: torch.Tensor  # p_r for span tokens, 0 elsewhere
    rows: torch.Tensor  # packed indices of the k read-out rows of each region
    k: int

    def to(self, device: torch.device | str) -> "PackedBatch":
        return PackedBatch(*(t.to(device) for t in (self.input_ids, self.position_ids, self.span, self.start,
                                                   self.rows)), k=self.k)

    def span_token_index(self) -> torch.Tensor:
        """[B, M, k-1] packed indices of the mask tokens (rows[..., 1:])."""
        return self.rows[..., 1:]


def sample_region_starts(prompt_len: int, seq_len: int, n_regions: int, generator: torch.Generator) -> list[int]:
    """M region starts p in [prompt_len, seq_len - 1], evenly spaced after a random offset.

    p is the position of the first masked token, so the prefix tokens[:p] always holds the whole prompt and
    the first region predicts the first answer token. Short answers get repeated starts (harmless: the
    spans are independent), which keeps M, and so the tensor shapes, fixed.
    """
    lo, hi = prompt_len, seq_len - 1
    if hi < lo:
        raise ValueError(f"sequence of {seq_len} tokens has no answer token after a {prompt_len}-token prompt")
    width = hi - lo + 1
    spacing = max(1.0, width / n_regions)
    offset = float(torch.rand((), generator=generator)) * spacing
    return [lo + int(offset + r * spacing) % width for r in range(n_regions)]


def pack_regions(sequences: list[list[int]], prompt_lens: list[int], starts: list[list[int]], k: int,
                 mask_id: int, pad_id: int, mask_mode: str = "single") -> PackedBatch:
    """Pack each sequence with its regions (starts[b] = [p_0, ..., p_{M-1}]) and k - 1 masks per region.

    mask_mode "single" uses mask_id in every slot; "range" uses mask_id + j in slot j (METHOD.md 1).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_regions = len(starts[0])
    if any(len(s) != n_regions for s in starts):
        raise ValueError("every sequence needs the same number of regions")
    S = max(len(s) for s in sequences)
    m = k - 1
    T = S + n_regions * m
    B = len(sequences)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    position_ids = torch.zeros((B, T), dtype=torch.long)
    span = torch.full((B, T), PAD, dtype=torch.long)
    start = torch.zeros((B, T), dtype=torch.long)
    rows = torch.zeros((B, n_regions, k), dtype=torch.long)
    slots = torch.arange(m)
    slot_ids = mask_id + slots if mask_mode == "range" else torch.full((m,), mask_id)
    for b, (seq, p_list) in enumerate(zip(sequences, starts)):
        L = len(seq)
        input_ids[b, :L] = torch.tensor(seq, dtype=torch.long)
        position_ids[b, :L] = torch.arange(L)
        span[b, :L] = REAL
        position_ids[b, L:S] = torch.arange(L, S)  # pads: harmless positions, they only see themselves
        for r, p in enumerate(p_list):
            if not prompt_lens[b] <= p <= L - 1:
                raise ValueError(f"region start {p} outside [{prompt_lens[b]}, {L - 1}] of sequence {b}")
            a = S + r * m
            input_ids[b, a:a + m] = slot_ids
            position_ids[b, a:a + m] = p + slots
            span[b, a:a + m] = r
            start[b, a:a + m] = p
            rows[b, r, 0] = p - 1
            rows[b, r, 1:] = a + slots
    return PackedBatch(input_ids, position_ids, span, start, rows, k)


def build_block_mask(span: torch.Tensor, position_ids: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """[B, 1, T, T] bool, True where query i may attend key j.

    real -> real: causal by position. mask (span r, start p) -> real: positions < p (the prefix).
    mask -> mask of the same span: causal by position. Nothing sees another span; no real token sees a
    mask; pads see only themselves (a row with no key would give NaN that leaks through 0 * NaN).
    """
    qi_span, kj_span = span[:, :, None], span[:, None, :]
    qi_pos, kj_pos = position_ids[:, :, None], position_ids[:, None, :]
    q_real, k_real = qi_span == REAL, kj_span == REAL
    q_mask = qi_span >= 0
    causal = kj_pos <= qi_pos
    real_real = q_real & k_real & causal
    mask_prefix = q_mask & k_real & (kj_pos < start[:, :, None])
    same_span = q_mask & (kj_span == qi_span) & causal
    T = span.shape[1]
    eye = torch.eye(T, dtype=torch.bool, device=span.device)[None]
    return (real_real | mask_prefix | same_span | eye)[:, None]


def to_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool mask -> additive float mask (0 / most negative) for attention kernels that add the mask."""
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill_(~mask, torch.finfo(dtype).min)
