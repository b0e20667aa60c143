"""A Hugging Face checkpoint folder -> `SourceModel` (validated names, shapes and dtypes; nothing read yet)."""

from __future__ import annotations

from pathlib import Path

from .architectures import IGNORED, Arch, dims_from_config, expected_shapes, get_arch, gguf_tensor_name, \
    hparams_kv, permutation_for
from .checkpoint import FLOAT_DTYPES, load_json, load_tensors
from .metadata import known_checkpoint
from .model import SourceModel
from .tensors import ArraySource, PermutedRows, RowSource
from .tokenizer import load_hf_vocab, vocab_kv
from .writer import KV


def load_hf_model(folder: Path, repo_id: str | None = None) -> SourceModel:
    config = load_json(folder / "config.json", "config.json")
    if "text_config" in config and "hidden_size" not in config:
        config = {**config, **config["text_config"]}
    arch: Arch = get_arch(config)
    tensors = load_tensors(folder)
    dims = dims_from_config(config, arch, has_lm_head="lm_head.weight" in tensors)
    if dims.head_dim % 2:
        raise ValueError(f"config.json: head dimension {dims.head_dim} must be even for RoPE")

    expected = expected_shapes(dims, arch, config)
    missing = [n for n in expected if n not in tensors]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ValueError(f"{folder}: the checkpoint lacks tensors {', '.join(missing[:5])}{more} that a "
                         f"{arch.hf_name} with this config.json needs; the weights are incomplete")
    unknown = sorted(n for n in tensors if n not in expected and not IGNORED.search(n)
                     and not (n == "lm_head.weight" and dims.tied))
    if unknown:
        raise ValueError(f"{folder}: tensors {', '.join(unknown[:5])} are not part of a {arch.hf_name}; "
                         "refusing to drop weights silently (is config.json the right one?)")
    dtypes: set[str] = set()
    for name, shape in expected.items():
        t = tensors[name]
        if t.dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype mismatch: {name} is {t.dtype}; weights must be bf16, f16 or f32")
        if t.shape != shape:
            raise ValueError(f"shape mismatch: {name} is {list(t.shape)} in {t.path.name} but config.json implies "
                             f"{list(shape)}")
        dtypes.add(t.dtype)

    kv = KV()
    name = str(config.get("_name_or_path") or repo_id or folder.name)
    kv.string("general.name", name.rstrip("/").split("/")[-1] or "model")
    rope_freqs = hparams_kv(kv, arch, dims, config)
    vocab = load_hf_vocab(folder, dims.n_vocab, config)
    vocab_kv(kv, vocab)

    out: dict[str, RowSource] = {}
    for hf_name in expected:
        gname = gguf_tensor_name(hf_name)
        assert gname is not None, hf_name
        src: RowSource = tensors[hf_name]
        order = permutation_for(gname, arch, dims)
        out[gname] = PermutedRows(src, order) if order is not None else src
    if rope_freqs is not None:
        out["rope_freqs.weight"] = ArraySource(rope_freqs)

    mtp_config = load_json(folder / "mtp_config.json", "mtp_config.json") if (folder / "mtp_config.json").is_file() else {}
    gen = load_json(folder / "generation_config.json", "generation_config.json") \
        if (folder / "generation_config.json").is_file() else {}
    eos = gen.get("eos_token_id", config.get("eos_token_id"))
    eos_ids = [int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
    if "eos" in vocab.special and vocab.special["eos"] not in eos_ids:
        eos_ids.append(vocab.special["eos"])
    known = known_checkpoint(repo_id, str(folder.resolve()), str(config.get("_name_or_path", "")))
    return SourceModel(name, arch, dims, kv, out, dtypes, mtp_config, known, eos_ids)
