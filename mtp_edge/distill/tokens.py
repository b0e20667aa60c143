"""The mask tokens `<|mtp_special_token_0..31|>`, their embedding rows, and `mtp_config.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

N_MASK_TOKENS = 32
MASK_TOKENS: list[str] = [f"<|mtp_special_token_{i}|>" for i in range(N_MASK_TOKENS)]
MTP_CONFIG_NAME = "mtp_config.json"


@dataclass
class MtpConfig:
    """The content of `mtp_config.json` (docs/DESIGN.md, checkpoint folder)."""

    k_max: int = 16
    tau: float = 0.9
    prompt_format: str = "chat"
    stop_token_ids: list[int] = field(default_factory=list)
    mask_token: str = MASK_TOKENS[0]
    mask_mode: str = "single"
    mtp_version: int = 1

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / MTP_CONFIG_NAME
        data = asdict(self)
        order = ["mtp_version", "mask_token", "mask_mode", "k_max", "tau", "prompt_format", "stop_token_ids"]
        path.write_text(json.dumps({key: data[key] for key in order}, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "MtpConfig":
        path = Path(folder) / MTP_CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: is {folder} an mtp-edge checkpoint or adapter folder?")
        return cls(**json.loads(path.read_text()))


def init_new_rows(old: torch.Tensor, n_new: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rows drawn per dimension from the mean and variance of the existing rows `old` [V, H].

    Why not zeros or the mean alone: a zero/mean row makes every mask look alike to the model's norms; a
    draw with the embeddings' own statistics starts the mask as an "ordinary-looking" token (METHOD.md 5).
    """
    if old.ndim != 2 or old.shape[0] < 2:
        raise ValueError(f"need a [V, H] embedding with V >= 2, got shape {tuple(old.shape)}")
    old32 = old.detach().float()
    mean = old32.mean(dim=0)
    std = old32.std(dim=0)
    noise = torch.randn(n_new, old.shape[1], generator=generator, dtype=torch.float32)
    return (mean + std * noise.to(old32.device)).to(old.dtype)


def add_mask_tokens(model, tokenizer, seed: int = 0) -> list[int]:
    """Add `<|mtp_special_token_0..31|>` to tokenizer and model once; return their ids.

    Idempotent: a tokenizer that already carries the tokens (a resumed run, an MTP checkpoint) is left as
    it is. Spare embedding rows (vocab padded beyond the tokenizer) are used before the matrix grows.
    """
    vocab = tokenizer.get_vocab()
    if all(tok in vocab for tok in MASK_TOKENS):
        return [vocab[tok] for tok in MASK_TOKENS]
    n_tok_before = len(tokenizer)
    # add_tokens(special_tokens=True) behaves the same in transformers 4.x and 5.x
    tokenizer.add_tokens(MASK_TOKENS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(MASK_TOKENS)
    emb = model.get_input_embeddings()
    n_rows = emb.weight.shape[0]
    n_needed = max(ids) + 1
    if n_needed > n_rows:
        model.resize_token_embeddings(n_needed, mean_resizing=False)
        emb = model.get_input_embeddings()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        base_rows = emb.weight[: min(n_tok_before, n_rows)]
        new = init_new_rows(base_rows, len(ids), g).to(emb.weight.device)
        emb.weight[ids] = new
        out = model.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != emb.weight.data_ptr():
            out.weight[ids] = init_new_rows(out.weight[: min(n_tok_before, n_rows)], len(ids), g).to(
                out.weight.device)
    return list(ids)

