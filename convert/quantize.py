"""Output types: which GGML type each tensor gets, encoding rows to it, and K-quants through llama.cpp.

f32/f16/bf16/q8_0/q4_0/q4_1 are encoded here (numpy; the q-types through `gguf.quants`). K-quant mixes
(q4_k_m, q5_k_m, q6_k) are llama.cpp's own recipes, so they go through `llama_model_quantize` from a
lossless intermediate file instead of being re-implemented.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

Q = GGMLQuantizationType


@dataclass(frozen=True)
class OutType:
    name: str
    file_type: LlamaFileType
    tensor_type: Q | None  # None: written losslessly first, then quantized by llama.cpp


OUTTYPES: dict[str, OutType] = {
    "f32": OutType("f32", LlamaFileType.ALL_F32, Q.F32),
    "f16": OutType("f16", LlamaFileType.MOSTLY_F16, Q.F16),
    "bf16": OutType("bf16", LlamaFileType.MOSTLY_BF16, Q.BF16),
    "q8_0": OutType("q8_0", LlamaFileType.MOSTLY_Q8_0, Q.Q8_0),
    "q4_0": OutType("q4_0", LlamaFileType.MOSTLY_Q4_0, Q.Q4_0),
    "q4_1": OutType("q4_1", LlamaFileType.MOSTLY_Q4_1, Q.Q4_1),
    "q4_k_m": OutType("q4_k_m", LlamaFileType.MOSTLY_Q4_K_M, None),
    "q5_k_m": OutType("q5_k_m", LlamaFileType.MOSTLY_Q5_K_M, None),
    "q6_k": OutType("q6_k", LlamaFileType.MOSTLY_Q6_K, None),
}


def get_outtype(name: str) -> OutType:
    key = name.lower()
    if key not in OUTTYPES:
        raise ValueError(f"unknown output type {name!r}; choose one of {', '.join(OUTTYPES)}")
    return OUTTYPES[key]


def tensor_type(name: str, shape: tuple[int, ...], wanted: Q) -> Q:
    """The type one tensor is stored as.

    1-D tensors (norms, biases, rope_freqs) stay float32 as llama.cpp expects; a matrix whose rows do not
    split into whole quantization blocks falls back to f16 (as llama.cpp's own converter does).
    """
    if len(shape) < 2 or name.endswith("rope_freqs.weight"):
        return Q.F32
    block = GGML_QUANT_SIZES[wanted][0]
    if shape[-1] % block:
        return Q.F16
    return wanted


def _to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounding to nearest even (NaN kept a quiet NaN)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((bits.astype(np.uint64) + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def bf16_to_f16(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bits -> float16, bit-identical to going through float32, about 3x faster.

    A bf16 value with exponent in f16's normal range (2^-14 .. 2^15) converts exactly by re-biasing the
    exponent and widening the 7-bit mantissa; the rare rest (zeros, f16 subnormals, overflow, inf/nan) goes
    the slow way. Checked against the float32 path on all 65536 bf16 values (tests).
    """
    raw = np.ascontiguousarray(raw, dtype=np.uint16)
    out = np.empty_like(raw)
    sign = np.empty_like(raw)
    # in place, two scratch arrays: t = |x| bits - (113 << 7) wraps below f16's normal range, so one
    # unsigned compare finds every value that needs the slow path
    np.bitwise_and(raw, np.uint16(0x7FFF), out=out)
    np.subtract(out, np.uint16(113 << 7), out=out)
    odd = np.flatnonzero(out >= np.uint16(30 << 7))
    np.add(out, np.uint16(1 << 7), out=out)  # = |x| bits - (112 << 7): exponent re-biased from 127 to 15
    np.left_shift(out, np.uint16(3), out=out)  # 7 mantissa bits -> 10
    np.bitwise_and(raw, np.uint16(0x8000), out=sign)
    np.bitwise_or(out, sign, out=out)
    if odd.size:
        with np.errstate(over="ignore"):
            out.reshape(-1)[odd] = (raw.reshape(-1)[odd].astype(np.uint32) << 16).view(np.float32) \
                .astype(np.float16).view(np.uint16)
    return out.view(np.float16)


def encode_raw(raw: np.ndarray, raw_dtype: str, qtype: Q) -> np.ndarray | None:
    """Fast paths from stored rows (bf16 bits, f16, f32) straight to `qtype`; None where there is none."""
    if raw_dtype == "BF16" and qtype == Q.F16:
        return bf16_to_f16(raw)
    if (raw_dtype, qtype) in (("BF16", Q.BF16), ("F16", Q.F16), ("F32", Q.F32)):
        return np.ascontiguousarray(raw)  # already the bytes to write
    return None


def encode_rows(rows: np.ndarray, qtype: Q) -> np.ndarray:
    """Encode a float32 chunk of whole rows into the bytes of `qtype` (an array to write as is)."""
    if qtype == Q.F32:
        return np.ascontiguousarray(rows, dtype=np.float32)
    if qtype == Q.F16:
        with np.errstate(over="ignore"):  # beyond f16's range becomes inf, as in llama.cpp's converter
            return np.ascontiguousarray(rows, dtype=np.float16)
    if qtype == Q.BF16:
        return _to_bf16(rows)
    from gguf import quants

    return quants.quantize(np.ascontiguousarray(rows, dtype=np.float32), qtype)


def kquant_intermediate(source_dtypes: set[str]) -> OutType:
    """The type to write before llama.cpp quantizes: lossless for bf16/f16 checkpoints, f16 for a GGUF base."""
    if source_dtypes == {"BF16"}:
        return OUTTYPES["bf16"]
    if source_dtypes <= {"F16", "GGUF"}:
        return OUTTYPES["f16"]
    return OUTTYPES["f32"]


def llama_quantize(src: Path, dst: Path, outtype: OutType, nthread: int = 0) -> None:
    """Quantize GGUF `src` into `dst` with llama.cpp's own recipe for `outtype` (a K-quant mix)."""
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - llama-cpp-python is a core dependency
        raise RuntimeError(
            f"--outtype {outtype.name} needs llama.cpp's quantizer from llama-cpp-python, which failed to import ({exc})"
        ) from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(outtype.file_type)
    params.nthread = nthread or (os.cpu_count() or 1)
    rc = llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(dst), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama.cpp's quantizer failed (code {rc}) turning {src.name} into {outtype.name}")
