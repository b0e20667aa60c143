"""Mask tokens: added once, initialised from the embedding statistics, surviving save and reload."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from mtp_edge.distill.modeling import (load_adapter, load_base, make_lora, save_adapter_folder,  # noqa: E402
                                       save_checkpoint_folder)
from mtp_edge.distill.tiny import tiny_llama, tiny_tokenizer  # noqa: E402
from mtp_edge.distill.tokens import MASK_TOKENS, MtpConfig, add_mask_tokens, init_new_rows  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_new_rows_follow_the_embedding_statistics():
    g = torch.Generator().manual_seed(0)
    old = torch.randn(500, 8, generator=g) * torch.linspace(0.1, 2.0, 8) + torch.linspace(-1, 1, 8)
    new = init_new_rows(old, 20000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(new.mean(0), old.mean(0), atol=0.05, rtol=0)
    torch.testing.assert_close(new.std(0), old.std(0), atol=0.05, rtol=0.03)


def test_mask_tokens_added_once():
    tok = tiny_tokenizer()
    n0 = len(tok)
    model = tiny_llama(n0)
    ids = add_mask_tokens(model, tok)
    assert ids == list(range(n0, n0 + 32))
    assert tok.convert_ids_to_tokens(ids) == MASK_TOKENS
    assert model.get_input_embeddings().weight.shape[0] == n0 + 32
    rows = model.get_input_embeddings().weight[ids].detach().clone()
    assert add_mask_tokens(model, tok) == ids  # second call: nothing added, nothing re-drawn
    assert len(tok) == n0 + 32 and model.get_input_embeddings().weight.shape[0] == n0 + 32
    assert torch.equal(model.get_input_embeddings().weight[ids], rows)
    # the mask is one token, never split
    assert tok(MASK_TOKENS[0] + " w1", add_special_tokens=False)["input_ids"][0] == ids[0]


def test_spare_rows_are_used_before_growing():
    tok = tiny_tokenizer()
    n0 = len(tok)
    model = tiny_llama(n0 + 40)  # a vocab padded beyond the tokenizer, like Llama 3.1's
    ids = add_mask_tokens(model, tok)
    assert ids == list(range(n0, n0 + 32))
    assert model.get_input_embeddings().weight.shape[0] == n0 + 40  # no growth: 32 of the 40 spare rows


def test_checkpoint_folder_round_trip(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_llama(len(tok))
    ids = add_mask_tokens(model, tok)
    mtp = MtpConfig(k_max=8, tau=0.85, stop_token_ids=[2])
    save_checkpoint_folder(model, tok, mtp, tmp_path / "ckpt")
    model2, tok2 = load_base(str(tmp_path / "ckpt"))
    assert tok2.convert_tokens_to_ids(MASK_TOKENS) == ids
    assert add_mask_tokens(model2, tok2) == ids  # already there: untouched
    assert torch.equal(model2.get_input_embeddings().weight, model.get_input_embeddings().weight)
    cfg = json.loads((tmp_path / "ckpt" / "mtp_config.json").read_text())
    assert cfg == {"mtp_version": 1, "mask_token": "<|mtp_special_token_0|>", "mask_mode": "single", "k_max": 8,
                   "tau": 0.85, "prompt_format": "chat", "stop_token_ids": [2]}


def test_adapter_folder_round_trip(tmp_path):
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    model = tiny_llama(len(tok), seed=5)
    ids = add_mask_tokens(model, tok)
    peft_model = make_lora(model, 4, 8, ids[:1])
    with torch.no_grad():  # a trained-looking adapter: non-zero B matrices and a moved mask row
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
        peft_model.get_input_embeddings().weight[ids[0]] += 0.5
    save_adapter_folder(peft_model, ids, MtpConfig(k_max=4), tmp_path / "ad", "base.gguf")
    files = sorted(p.name for p in (tmp_path / "ad").iterdir())
    assert files == ["adapter_config.json", "adapter_model.safetensors", "mtp_config.json", "mtp_tokens.json",
                     "mtp_tokens.safetensors"]
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "ad" / "adapter_model.safetensors"))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in weights
    assert all(t.dtype == torch.float16 for t in weights.values())
    assert not any("embed" in k for k in weights)  # the mask rows live in mtp_tokens.safetensors only
    rows = load_file(str(tmp_path / "ad" / "mtp_tokens.safetensors"))
    assert rows["token_ids"].tolist() == ids and rows["embed_rows"].dtype == torch.float32
    assert json.loads((tmp_path / "ad" / "mtp_tokens.json").read_text())["ids"] == ids

    fresh = tiny_llama(len(tokenizer := tiny_tokenizer()), seed=5)
    loaded, ids2 = load_adapter(fresh, tokenizer, tmp_path / "ad")
    assert ids2 == ids
    x = torch.tensor([[ids[0], 5, 6, ids[0], 7]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=x).logits, peft_model(input_ids=x).logits, atol=2e-2, rtol=0)
