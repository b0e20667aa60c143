"""The PyTorch reference decoder: exactly METHOD.md section 2, greedy, for evaluation and as a test oracle.

Every pass recomputes the whole sequence instead of keeping a KV cache. That is the same computation as the
C++ loop's (committed tokens attend causally; the pending tokens and masks follow at contiguous positions;
mask KV never survives a pass), just slower, and it leaves no cache state to get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class RefResult:
    """Output of one decode: the emitted tokens and, per pass, what was accepted and from which rows."""

    tokens: list[int]
    passes: list[list[int]] = field(default_factory=list)  # accepted tokens of each pass
    probs: list[list[float]] = field(default_factory=list)  # top-1 probability of each of the pass's k rows
    agreement: float | None = None  # mask-emitted tokens equal to the model's own greedy choice (fraction)
    n_mask_tokens: int = 0  # tokens that came from mask rows (j >= 2)

    @property
    def eff_k(self) -> float:
        """Tokens accepted per forward pass."""
        return sum(len(p) for p in self.passes) / max(1, len(self.passes))


def confadapt_accept(probs: list[float], tau: float, static: bool = False) -> int:
    """How many of the k row predictions to accept: all (static), else the longest prefix with p >= tau,
    never fewer than one (the first row is the plain next-token prediction)."""
    if static:
        return len(probs)
    n = 0
    while n < len(probs) and probs[n] >= tau:
        n += 1
    return max(1, n)


def slot_ids(mask_id: int, n: int, mask_mode: str = "single") -> list[int]:
    """The ids fed for n mask slots: one id repeated ("single") or mask_id + j ("range")."""
    return [mask_id + j for j in range(n)] if mask_mode == "range" else [mask_id] * n


@torch.no_grad()
def _last_rows(model, seqs: list[list[int]], n_rows: list[int], autocast_dtype) -> torch.Tensor:
    """Float32 logits [B, max(n_rows), V]: row i of sequence b is position len(seqs[b]) - n_rows[b] + i
    (rows i >= n_rows[b] are filler). One right-padded batched forward, the head only on the rows asked for.

    Right padding needs no attention mask: a causal model never lets a real token see a later pad.
    """
    device = next(model.parameters()).device
    L, n_max = max(len(s) for s in seqs), max(n_rows)
    ids = torch.zeros((len(seqs), L), dtype=torch.long)
    index = torch.zeros((len(seqs), n_max), dtype=torch.long)
    for b, (s, n) in enumerate(zip(seqs, n_rows)):
        ids[b, :len(s)] = torch.tensor(s)
        index[b] = (torch.arange(n_max) + len(s) - n).clamp(0, L - 1)
    ids, index = ids.to(device), index.to(device)
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else _null()
    with amp:
        hidden = model.get_decoder()(input_ids=ids, use_cache=False)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden.last_hidden_state
        rows = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
        return model.get_output_embeddings()(rows).float()


def _null():
    from contextlib import nullcontext

    return nullcontext()


@torch.no_grad()
def decode_batch(model, prompts: list[list[int]], k_max: int, tau: float, max_tokens: int, mask_id: int,
                 stop_ids: list[int], static: bool = False, mask_mode: str = "single",
                 autocast_dtype: torch.dtype | None = None, track_agreement: bool = True) -> list[RefResult]:
    """Decode several prompts independently (batched forwards, per-sequence state); see `reference_decode`."""
    committed = [list(p) for p in prompts]  # prompt + emitted tokens (n_past + pending in the C++ loop)
    results = [RefResult(tokens=[]) for _ in prompts]
    sources: list[list[int]] = [[] for _ in prompts]  # row index j each emitted token came from
    live = list(range(len(prompts)))
    stops = set(stop_ids)
    while live:
        k = k_max
        seqs = [committed[b] + slot_ids(mask_id, k - 1, mask_mode) for b in live]
        logits = _last_rows(model, seqs, [k] * len(live), autocast_dtype)
        p_all, top_all = torch.softmax(logits, dim=-1).max(dim=-1)  # float32 softmax over the full vocab
        still = []
        for b, probs, toks in zip(live, p_all.tolist(), top_all.tolist()):
            n = confadapt_accept(probs, tau, static)
            accepted = toks[:n]
            res = results[b]
            room = max_tokens - len(res.tokens)
            accepted = accepted[:room]
            stop_at = next((i for i, t in enumerate(accepted) if t in stops), None)
            if stop_at is not None:
                accepted = accepted[:stop_at + 1]
            res.passes.append(accepted)
            res.probs.append(probs)
            res.tokens.extend(accepted)
            sources[b].extend(range(len(accepted)))
            committed[b].extend(accepted)
            if stop_at is None and len(res.tokens) < max_tokens:
                still.append(b)
        live = still
    if track_agreement:
        _agreement(model, prompts, results, sources, autocast_dtype)
    return results


def _agreement(model, prompts, results, sources, autocast_dtype) -> None:
    """Compare each token emitted from a mask row with the model's greedy choice after the same prefix."""
    seqs = [list(p) + r.tokens for p, r in zip(prompts, results)]
    n_rows = [len(r.tokens) for r in results]
    for b0 in range(0, len(seqs), 64):
        chunk = range(b0, min(len(seqs), b0 + 64))
        # row i of the last len(tokens)+1 rows predicts token i, so drop the final row
        logits = _last_rows(model, [seqs[b] for b in chunk], [n_rows[b] + 1 for b in chunk], autocast_dtype)
        for b, lg in zip(chunk, logits):
            greedy = lg[:n_rows[b]].argmax(-1).tolist()
            pairs = [(g, t) for g, t, j in zip(greedy, results[b].tokens, sources[b]) if j >= 1]
            results[b].n_mask_tokens = len(pairs)
            results[b].agreement = (sum(g == t for g, t in pairs) / len(pairs)) if pairs else None


def reference_decode(model, prompt_ids: list[int], k_max: int, tau: float, max_tokens: int, mask_id: int,
                     static: bool = False, stop_ids: list[int] | None = None, mask_mode: str = "single",
                     autocast_dtype: torch.dtype | None = None) -> RefResult:
    """Greedy MTP decoding of one prompt as METHOD.md section 2 defines it.

    Each pass feeds the committed tokens plus k_max - 1 masks, takes argmax and top-1 softmax probability
    (float32, full vocabulary) at the last k_max rows, accepts the longest prefix with p >= tau (at least one
    token; all k_max with static=True), stops after a stop id or at max_tokens. k_max = 1 is plain greedy.
    Returns the tokens, the accepted tokens of every pass, their row probabilities, and agreement.
    """
    if k_max < 1 or not 0 < tau <= 1 or max_tokens < 1:
        raise ValueError(f"need k_max >= 1, 0 < tau <= 1, max_tokens >= 1 (got {k_max}, {tau}, {max_tokens})")
    return decode_batch(model, [prompt_ids], k_max, tau, max_tokens, mask_id, stop_ids or [], static, mask_mode,
                        autocast_dtype)[0]
