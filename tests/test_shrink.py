"""`mtp-edge shrink-adapter`: a LoRA truncated to a lower rank is the best update of that rank, and converts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from mtp_edge.cli import main as cli_main
from mtp_edge.shrink import shrink_adapter, truncate_lora_pair
from test_convert_adapter import ids_with_masks, load_hf, rel_err
from test_convert_helpers import import_convert, llama_logits, make_adapter, make_checkpoint, require_llama_cpp


def test_truncation_is_the_best_update_of_that_rank():
    rng = np.random.default_rng(0)
    a, b, scale = rng.normal(size=(8, 40)), rng.normal(size=(30, 8)), 0.5
    full = scale * b @ a
    new_a, new_b, kept = truncate_lora_pair(a.astype(np.float32), b.astype(np.float32), scale, 3)
    assert new_a.shape == (3, 40) and new_b.shape == (30, 3)
    u, s, vt = np.linalg.svd(full)
    best = (u[:, :3] * s[:3]) @ vt[:3]  # Eckart-Young: the closest rank-3 matrix
    np.testing.assert_allclose(new_b @ new_a, best, rtol=1e-4, atol=1e-4)
    assert kept == pytest.approx(float(np.sum(s[:3] ** 2) / np.sum(s ** 2)), rel=1e-6)
    # the factors share the singular values evenly (neither overflows fp16 where the product does not)
    assert np.linalg.norm(new_a, axis=1) == pytest.approx(np.linalg.norm(new_b, axis=0), rel=1e-5)


def _padded(adapter: Path, out: Path, extra: int) -> Path:
    """The same update stored at a higher rank: extra A rows (random) whose B columns are zero."""
    shutil.copytree(adapter, out)
    cfg = json.loads((out / "adapter_config.json").read_text())
    weights = load_file(str(out / "adapter_model.safetensors"))
    rng = np.random.default_rng(1)
    for key in [k for k in weights if ".lora_A." in k]:
        b_key = key.replace(".lora_A.", ".lora_B.")
        a, b = weights[key], weights[b_key]
        weights[key] = np.concatenate([a, rng.normal(size=(extra, a.shape[1])).astype(a.dtype)])
        weights[b_key] = np.concatenate([b, np.zeros((b.shape[0], extra), b.dtype)], axis=1)
    r = int(cfg["r"])
    cfg.update(r=r + extra, lora_alpha=float(cfg["lora_alpha"]) * (r + extra) / r)  # same alpha / r
    save_file(weights, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps(cfg))
    return out


def test_shrunk_adapter_converts_to_the_same_model_when_nothing_is_lost(tmp_path):
    require_llama_cpp()
    convert = import_convert()
    base = make_checkpoint(tmp_path / "llama", "llama", mtp_tokens=False)
    n_vocab = load_hf(base).config.vocab_size
    make_adapter(load_hf(base), tmp_path / "r4", n_new=4, r=4)
    padded = _padded(tmp_path / "r4", tmp_path / "r7", extra=3)
    report = shrink_adapter(padded, tmp_path / "shrunk", 4)
    assert (report.rank_from, report.rank_to) == (7, 4) and report.min_retained == pytest.approx(1.0, abs=1e-6)
    assert report.bytes_to < report.bytes_from
    shrunk_cfg = json.loads((tmp_path / "shrunk" / "adapter_config.json").read_text())
    assert shrunk_cfg["r"] == 4 and shrunk_cfg["lora_alpha"] == 4.0
    for name in ("mtp_config.json", "mtp_tokens.json", "mtp_tokens.safetensors"):  # the mask rows travel along
        assert (tmp_path / "shrunk" / name).read_bytes() == (tmp_path / "r4" / name).read_bytes()
    ids = ids_with_masks(n_vocab, n_vocab)
    logits = {}
    for name in ("r4", "shrunk"):
        out = convert.convert_checkpoint(base, tmp_path / f"{name}.gguf", adapter=tmp_path / name, outtype="f32",
                                         progress=False)
        logits[name] = llama_logits(out, ids)
    assert rel_err(logits["shrunk"], logits["r4"]) < 1e-4
    # one rank fewer than the update has: a real loss, reported
    assert shrink_adapter(padded, tmp_path / "lossy", 3).min_retained < 0.999


def test_shrink_refuses_bad_requests_with_the_fix(tmp_path, capsys):
    base = make_checkpoint(tmp_path / "llama", "llama", mtp_tokens=False)
    make_adapter(load_hf(base), tmp_path / "r4", n_new=2, r=4)
    with pytest.raises(ValueError, match="rank is 4; --rank must be lower"):
        shrink_adapter(tmp_path / "r4", tmp_path / "out", 4)
    with pytest.raises(FileNotFoundError, match="not a LoRA adapter folder"):
        shrink_adapter(tmp_path, tmp_path / "out", 2)
    (tmp_path / "taken").mkdir()
    assert cli_main(["shrink-adapter", str(tmp_path / "r4"), "--rank", "2", "-o", str(tmp_path / "taken")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert not any(p.name.startswith(".taken.") for p in tmp_path.iterdir())  # no staging folder left behind
    assert cli_main(["shrink-adapter", str(tmp_path / "r4"), "--rank", "2", "-o", str(tmp_path / "ok")]) == 0
    assert "rank 4 -> 2" in capsys.readouterr().out
