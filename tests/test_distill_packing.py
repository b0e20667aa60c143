"""Packing and the block mask: the packed forward sees, row for row, what each region alone would see."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mtp_edge.distill.objective import attention_mask_for, readout_hidden, readout_logits  # noqa: E402
from mtp_edge.distill.packing import (PAD, REAL, build_block_mask, pack_regions,  # noqa: E402
                                      sample_region_starts)
from mtp_edge.distill.tiny import tiny_llama  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


V, MASK, PAD_ID = 40, 39, 0


def _plain_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_packed_rows_equal_separate_forwards(k):
    model = tiny_llama(V, seed=1).eval()
    g = torch.Generator().manual_seed(0)
    seqs = [[int(t) for t in torch.randint(1, MASK, (n,), generator=g)] for n in (17, 23, 12)]
    prompt_lens = [5, 3, 4]
    starts = [[5, 9, 9, 16], [3, 10, 15, 22], [4, 6, 7, 11]]  # repeated starts and the last position included
    batch = pack_regions(seqs, prompt_lens, starts, k, MASK, PAD_ID)
    mask = attention_mask_for(model, batch, torch.float32)
    with torch.no_grad():
        packed = readout_logits(model, readout_hidden(model, batch.input_ids, batch, mask))
        body = model.get_decoder()(input_ids=batch.input_ids, attention_mask=mask,
                                   position_ids=batch.position_ids).last_hidden_state
        all_rows = model.get_output_embeddings()(body)
    for b, seq in enumerate(seqs):
        # every real row equals an ordinary causal pass over the sequence (masks are invisible to it)
        torch.testing.assert_close(all_rows[b, :len(seq)], _plain_logits(model, seq), atol=1e-5, rtol=1e-4)
        for r, p in enumerate(starts[b]):
            # region alone, as at inference: prefix tokens[:p] then k-1 masks at contiguous positions
            alone = _plain_logits(model, seq[:p] + [MASK] * (k - 1))[-k:]
            torch.testing.assert_close(packed[b, r], alone, atol=1e-5, rtol=1e-4)


def test_block_mask_rules():
    batch = pack_regions([[1, 2, 3, 4, 5, 6]], [2], [[2, 4]], 3, MASK, PAD_ID)
    m = build_block_mask(batch.span, batch.position_ids, batch.start)[0, 0]
    span = batch.span[0].tolist()
    assert span == [REAL] * 6 + [0, 0, 1, 1]
    real = torch.tensor([s == REAL for s in span])
    assert not m[real][:, ~real].any(), "a real token must never see a mask"
    # span 1 starts at position 4: it sees real positions 0..3 and its own earlier slots, not span 0
    assert m[8].tolist() == [True] * 4 + [False] * 2 + [False, False, True, False]
    assert m[9].tolist() == [True] * 4 + [False] * 2 + [False, False, True, True]
    assert batch.position_ids[0, 6:].tolist() == [2, 3, 4, 5]
    assert batch.rows[0].tolist() == [[1, 6, 7], [3, 8, 9]]


def test_pads_only_see_themselves():
    batch = pack_regions([[1, 2, 3, 4], [1, 2]], [1, 1], [[1], [1]], 2, MASK, PAD_ID)
    m = build_block_mask(batch.span, batch.position_ids, batch.start)[1, 0]
    pads = (batch.span[1] == PAD).nonzero().flatten().tolist()
    assert pads == [2, 3]
    for i in pads:
        assert m[i].nonzero().flatten().tolist() == [i]
        assert m[:, i].nonzero().flatten().tolist() == [i]


def test_region_starts_stay_in_the_answer():
    g = torch.Generator().manual_seed(3)
    for prompt_len, length, n in [(5, 40, 5), (10, 12, 4), (3, 4, 8)]:
        for _ in range(20):
            starts = sample_region_starts(prompt_len, length, n, g)
            assert len(starts) == n and all(prompt_len <= p <= length - 1 for p in starts)
    with pytest.raises(ValueError, match="no answer token"):
        sample_region_starts(10, 10, 2, g)


def test_bad_region_start_is_rejected():
    with pytest.raises(ValueError, match="outside"):
        pack_regions([[1, 2, 3]], [2], [[1]], 2, MASK, PAD_ID)
