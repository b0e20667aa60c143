"""`convert_checkpoint`: source -> (adapter) -> MTP metadata -> GGUF, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from gguf import GGMLQuantizationType

from . import metadata
from .model import SourceModel
from .quantize import OutType, get_outtype, kquant_intermediate, llama_quantize, tensor_type
from .writer import TensorPlan, atomic_output, check_output, write_gguf


def load_source(src: str | os.PathLike[str], offline: bool = False) -> SourceModel:
    """A SourceModel from a checkpoint folder, a hub repo id, or a GGUF base file."""
    if str(src).lower().endswith(".gguf"):
        from .source_gguf import load_gguf_model

        return load_gguf_model(Path(src))
    from .hub import resolve_source
    from .source_hf import load_hf_model

    folder, repo_id = resolve_source(src, offline)
    return load_hf_model(folder, repo_id)


def plan_tensors(model: SourceModel, wanted: GGMLQuantizationType) -> list[TensorPlan]:
    return [TensorPlan(name, src, tensor_type(name, tuple(src.shape), wanted)) for name, src in model.tensors.items()]


def convert_checkpoint(
    src: str | os.PathLike[str],
    outfile: str | os.PathLike[str],
    *,
    outtype: str = "f16",
    mask_token: str | None = None,
    k_max: int | None = None,
    tau: float | None = None,
    prompt_format: str | None = None,
    force: bool = False,
    offline: bool = False,
    adapter: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Convert an MTP checkpoint to one GGUF file that llama.cpp loads and mtp-edge runs.

    Args:
        src: a Hugging Face checkpoint folder, a hub repo id (``owner/name``), or a ``.gguf`` base model
            (dequantized; normally combined with ``adapter``).
        outfile: the GGUF to write. It appears only when complete; an existing file is kept unless ``force``.
        outtype: f32, f16, bf16, q8_0, q4_0, q4_1, or a llama.cpp K-quant mix (q4_k_m, q5_k_m, q6_k).
        mask_token: text of the mask token (default: mtp_config.json's, else ``<|mtp_special_token_0|>``).
        k_max, tau, prompt_format: override the MTP defaults written as ``mtp.*`` keys.
        offline: never download (as does ``HF_HUB_OFFLINE=1``).
        adapter: a LoRA adapter folder from ``mtp-edge distill --lora-rank`` to merge into the base.
        progress: show a progress bar over the bytes written.

    Returns:
        The path of the written file.

    Raises:
        FileNotFoundError: a missing folder, weights, tokenizer file or adapter file.
        ValueError: an unsupported architecture, mismatched shapes or dtypes, corrupt or truncated
            safetensors, a missing mask token, an existing output without ``force``, bad settings.
        RuntimeError: llama.cpp's quantizer failed (K-quants) or a download failed.
    """
    ot: OutType = get_outtype(outtype)
    out = check_output(outfile, force)  # fail before any heavy work
    model = load_source(src, offline)
    if adapter is not None:
        from .adapter import apply_adapter

        apply_adapter(model, Path(adapter))
    settings = metadata.resolve(model.tokens, has_chat_template=model.has_chat_template, eos_ids=model.eos_ids,
                                mtp_config=model.mtp_config, known=model.known, mask_token=mask_token,
                                k_max=k_max, tau=tau, prompt_format=prompt_format)
    kv = model.kv
    settings.write(kv)
    stage = ot if ot.tensor_type is not None else kquant_intermediate(model.dtypes)
    kv.u32("general.file_type", int(stage.file_type))
    kv.u32("general.quantization_version", 2)
    assert stage.tensor_type is not None
    plans = plan_tensors(model, stage.tensor_type)
    with atomic_output(out, force) as tmp:
        if ot.tensor_type is not None:
            write_gguf(tmp, kv, plans, progress=progress, desc=f"{out.name} ({ot.name})")
        else:
            inter = tmp.with_name(tmp.name + f".{stage.name}")
            try:
                write_gguf(inter, kv, plans, progress=progress, desc=f"{out.name} ({stage.name}, before {ot.name})")
                llama_quantize(inter, tmp, ot)
            finally:
                inter.unlink(missing_ok=True)
    return out
