"""A fast GGUF reader: the header parsed by mtp_edge.gguf_kv (the runtime's strict reader), tensor data
memory-mapped. `gguf.GGUFReader` builds numpy views for every field part, seconds for a 49k-token vocab."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from mtp_edge.gguf_kv import parse_header

from .writer import KV


@dataclass
class RawTensor:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first)
    qtype: GGMLQuantizationType
    data: np.ndarray  # float32/float16 values, or uint8 blocks shaped (rows, bytes per row)


def read_gguf(path: str | Path) -> tuple[KV, list[RawTensor]]:
    """Metadata and (memory-mapped) tensors of a GGUF file; ValueError for anything malformed."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is not a GGUF file (it is empty)")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    header = parse_header(memoryview(mm), str(path))
    kv = KV()
    for key, (vtype, value, item_type) in header.kv.items():
        if vtype == GGUFValueType.ARRAY:
            kv.array(key, GGUFValueType(item_type), value)
        else:
            kv.set(key, GGUFValueType(vtype), value)
    start = header.data_start
    tensors = []
    for info in header.tensors:
        name, shape, offset = info.name, tuple(reversed(info.dims)), info.offset
        try:
            qtype = GGMLQuantizationType(info.qtype)
        except ValueError:
            raise ValueError(f"{path}: tensor {name} has unknown ggml type {info.qtype}") from None
        block, size = GGML_QUANT_SIZES[qtype]
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        row_bytes = shape[-1] // block * size
        begin, end = start + offset, start + offset + rows * row_bytes
        if end > len(mm):
            raise ValueError(f"{path} is truncated: tensor {name} ends at byte {end} of {len(mm)}; download it again")
        raw = mm[begin:end].view(np.ndarray)
        if qtype == GGMLQuantizationType.F32:
            data = raw.view(np.float32).reshape(shape)
        elif qtype == GGMLQuantizationType.F16:
            data = raw.view(np.float16).reshape(shape)
        else:
            data = raw.reshape((*shape[:-1], row_bytes)) if len(shape) > 1 else raw
        tensors.append(RawTensor(name, shape, qtype, data))
    return kv, tensors
