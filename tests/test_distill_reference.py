"""The PyTorch reference decoder (METHOD.md section 2) against plain greedy decoding and by hand."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mtp_edge.answers import extract_number  # noqa: E402
from mtp_edge.distill.reference import confadapt_accept, decode_batch, reference_decode, slot_ids  # noqa: E402
from mtp_edge.distill.tiny import tiny_llama  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


V, MASK, STOP = 48, 47, 2


@pytest.fixture(scope="module")
def model():
    return tiny_llama(V, seed=7).eval()


def test_accept_rule():
    assert confadapt_accept([0.95, 0.91, 0.5, 0.99], 0.9) == 2
    assert confadapt_accept([0.2, 0.99], 0.9) == 1  # always at least the next-token row
    assert confadapt_accept([0.9, 0.9], 0.9) == 2  # p >= tau accepts
    assert confadapt_accept([0.1, 0.2, 0.3], 0.9, static=True) == 3
    assert slot_ids(10, 3) == [10, 10, 10] and slot_ids(10, 3, "range") == [10, 11, 12]


def test_k1_is_plain_greedy(model):
    prompt = [5, 9, 13, 4, 21]
    ref = reference_decode(model, prompt, k_max=1, tau=0.9, max_tokens=12, mask_id=MASK)
    with torch.no_grad():
        gen = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, pad_token_id=0,
                             eos_token_id=None)
    assert ref.tokens == gen[0, len(prompt):].tolist()
    assert ref.eff_k == 1.0 and all(len(p) == 1 for p in ref.passes)


def test_first_pass_reads_the_last_k_rows(model):
    prompt, k = [3, 8, 30, 11], 4
    ref = reference_decode(model, prompt, k_max=k, tau=1.0, max_tokens=30, mask_id=MASK, static=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + [MASK] * (k - 1)])).logits[0, -k:]
    assert ref.passes[0] == logits.argmax(-1).tolist()
    torch.testing.assert_close(torch.tensor(ref.probs[0]), torch.softmax(logits.float(), -1).max(-1).values)
    assert all(len(p) == k for p in ref.passes[:-1]) and len(ref.tokens) == 30
    # the second pass starts from the committed tokens: prompt + first pass, then masks
    with torch.no_grad():
        second = model(input_ids=torch.tensor([prompt + ref.passes[0] + [MASK] * (k - 1)])).logits[0, -k:]
    assert ref.passes[1] == second.argmax(-1).tolist()[:len(ref.passes[1])]


def test_agreement_by_hand(model):
    prompt = [6, 7, 8]
    ref = reference_decode(model, prompt, k_max=3, tau=1.0, max_tokens=9, mask_id=MASK, static=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + ref.tokens])).logits[0]
    greedy = logits[len(prompt) - 1:-1].argmax(-1).tolist()
    mask_rows = [i for i in range(9) if i % 3 != 0]  # static k=3: tokens 1, 2 of each pass came from masks
    expected = sum(greedy[i] == ref.tokens[i] for i in mask_rows) / len(mask_rows)
    assert ref.n_mask_tokens == 6 and ref.agreement == pytest.approx(expected)


def test_stop_and_budget(model):
    prompt = [5, 6]
    free = reference_decode(model, prompt, k_max=2, tau=1.0, max_tokens=20, mask_id=MASK, static=True)
    stop = free.tokens[3]
    cut = reference_decode(model, prompt, k_max=2, tau=1.0, max_tokens=20, mask_id=MASK, static=True,
                           stop_ids=[stop])
    first = free.tokens.index(stop)
    assert cut.tokens == free.tokens[:first + 1]  # trimmed right after the stop id
    assert len(reference_decode(model, prompt, k_max=4, tau=1.0, max_tokens=7, mask_id=MASK,
                                static=True).tokens) == 7


def test_batched_equals_one_by_one(model):
    prompts = [[5, 9, 13], [4, 4, 4, 4, 4, 30, 31], [12]]
    batched = decode_batch(model, prompts, 3, 0.5, 6, MASK, [STOP])
    for p, b in zip(prompts, batched):
        one = reference_decode(model, p, k_max=3, tau=0.5, max_tokens=6, mask_id=MASK, stop_ids=[STOP])
        assert b.tokens == one.tokens and b.passes == one.passes


def test_bad_arguments():
    with pytest.raises(ValueError, match="k_max"):
        reference_decode(None, [1], k_max=0, tau=0.9, max_tokens=5, mask_id=MASK)


def test_answer_extraction():
    assert extract_number("so 3 + 4 = 7.\n#### 1,250") == "1250"
    assert extract_number("The answer is 42.") == "42"
    assert extract_number("costs $3.50 in total") == "3.5"
    assert extract_number("no digits") is None


def test_evaluate_only_selects_settings_by_label_prefix():
    from mtp_edge.distill.evaluate import paper_settings, select_settings
    rows = paper_settings(6)
    assert select_settings(rows, []) == rows
    kept = select_settings(rows, ["MTP static k=1", "ConfAdapt tau=0.9 "])
    assert [r[0] for r in kept] == ["MTP static k=1", "ConfAdapt tau=0.9 (k_max=6)"]
    with pytest.raises(SystemExit, match="matches no setting"):
        select_settings(rows, ["ConfAdapt tau=0.5"])
