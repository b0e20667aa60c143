"""A streaming GGUF (version 3) writer.

The header (metadata and the table of tensor infos) needs every tensor's name, shape and type before any
data, so the writer takes a list of `TensorPlan`s -- cheap lazy descriptions -- then streams each tensor's
bytes chunk by chunk. Memory stays near one chunk whatever the model size. The file appears under its final
name only when it is complete (`atomic_output`).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from mtp_edge.gguf_kv import SCALAR_FORMATS

from .quantize import encode_raw, encode_rows
from .tensors import RowSource

GGUF_MAGIC = 0x46554747  # "GGUF" little-endian
GGUF_VERSION = 3
ALIGNMENT = 32
CHUNK_ELEMENTS = 1 << 22  # 4M floats = 16 MiB of float32 per chunk
FAST_PATHS = True  # tests switch this off to compare against the float32 path
WORKERS = 2  # conversion threads; more buys nothing on the 2-core machines this targets

_SCALAR = SCALAR_FORMATS  # keyed by GGUF value type ids (GGUFValueType is an IntEnum)


@dataclass
class KV:
    """Ordered GGUF metadata with explicit types (GGUF distinguishes uint32 from int32 and so on)."""

    items: dict[str, tuple[GGUFValueType, Any, GGUFValueType | None]] = field(default_factory=dict)

    def set(self, key: str, vtype: GGUFValueType, value: Any, subtype: GGUFValueType | None = None) -> None:
        self.items[key] = (vtype, value, subtype)

    def u32(self, key: str, value: int) -> None:
        self.set(key, GGUFValueType.UINT32, int(value))

    def i32(self, key: str, value: int) -> None:
        self.set(key, GGUFValueType.INT32, int(value))

    def f32(self, key: str, value: float) -> None:
        self.set(key, GGUFValueType.FLOAT32, float(value))

    def boolean(self, key: str, value: bool) -> None:
        self.set(key, GGUFValueType.BOOL, bool(value))

    def string(self, key: str, value: str) -> None:
        self.set(key, GGUFValueType.STRING, str(value))

    def array(self, key: str, subtype: GGUFValueType, values: Sequence[Any]) -> None:
        self.set(key, GGUFValueType.ARRAY, list(values), subtype)

    def get(self, key: str, default: Any = None) -> Any:
        item = self.items.get(key)
        return default if item is None else item[1]

    def remove(self, key: str) -> None:
        self.items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self.items


@dataclass
class TensorPlan:
    """One tensor to write: its GGUF name, a lazy source of float32 rows, and the type to store it as."""

    name: str
    source: RowSource
    qtype: GGMLQuantizationType

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.source.shape, self.qtype)


def tensor_nbytes(shape: Sequence[int], qtype: GGMLQuantizationType) -> int:
    block, size = GGML_QUANT_SIZES[qtype]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows * (int(shape[-1]) // block) * size


def _pad(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _string(s: str | bytes) -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(raw)) + raw


def _value(vtype: GGUFValueType, value: Any, subtype: GGUFValueType | None) -> bytes:
    if vtype == GGUFValueType.STRING:
        return _string(value)
    if vtype == GGUFValueType.ARRAY:
        assert subtype is not None
        head = struct.pack("<IQ", int(subtype), len(value))
        if subtype == GGUFValueType.STRING:
            return head + b"".join(_string(v) for v in value)
        if subtype == GGUFValueType.ARRAY:
            raise ValueError("nested GGUF arrays are not supported")
        return head + np.asarray(value, dtype=np.dtype(_SCALAR[subtype])).tobytes()
    return struct.pack(_SCALAR[vtype], value)


def header_bytes(kv: KV, plans: Sequence[TensorPlan]) -> bytes:
    """Magic, counts, metadata and tensor infos, padded to the data alignment."""
    out = [struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(plans), len(kv.items))]
    for key, (vtype, value, subtype) in kv.items.items():
        out.append(_string(key) + struct.pack("<I", int(vtype)) + _value(vtype, value, subtype))
    offset = 0
    for plan in plans:
        dims = [int(d) for d in reversed(plan.source.shape)]  # ggml order: fastest-varying first
        block = GGML_QUANT_SIZES[plan.qtype][0]
        if dims[0] % block:
            raise ValueError(f"tensor {plan.name}: row length {dims[0]} is not a multiple of {plan.qtype.name}'s block {block}")
        out.append(_string(plan.name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
                   + struct.pack("<IQ", int(plan.qtype), offset))
        offset += _pad(plan.nbytes)
    head = b"".join(out)
    return head + b"\0" * (_pad(len(head)) - len(head))


def write_gguf(path: str | os.PathLike[str], kv: KV, plans: Sequence[TensorPlan], *, progress: bool = False,
               desc: str = "writing") -> Path:
    """Write a complete GGUF file at `path` (the caller arranges atomicity, see `atomic_output`)."""
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate tensor names: {dup}")
    total = sum(_pad(p.nbytes) for p in plans)
    bar = _progress(total, desc) if progress else None
    with open(path, "wb") as f, ThreadPoolExecutor(max_workers=WORKERS) as pool:
        f.write(header_bytes(kv, plans))
        for plan in plans:
            written = 0
            # read + convert the next chunks on worker threads (numpy and file reads release the GIL)
            # while this thread writes; at most WORKERS + 1 chunks are in memory at once
            pending: deque[Future[np.ndarray]] = deque()
            for rows in _chunks(plan):
                pending.append(pool.submit(_encode_chunk, plan, rows))
                if len(pending) > WORKERS:
                    written += _write(f, pending.popleft().result(), bar)
            while pending:
                written += _write(f, pending.popleft().result(), bar)
            if written != plan.nbytes:
                raise RuntimeError(f"tensor {plan.name}: wrote {written} bytes, expected {plan.nbytes}")
            pad = _pad(written) - written
            f.write(b"\0" * pad)
            if bar is not None:
                bar.update(pad)
                bar.set_postfix_str(plan.name, refresh=False)
    if bar is not None:
        bar.close()
    return Path(path)


def _chunks(plan: TensorPlan) -> Iterator[slice]:
    shape = plan.source.shape
    rows_total = int(shape[0]) if shape else 1
    row_elems = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    step = max(1, CHUNK_ELEMENTS // max(row_elems, 1))
    for start in range(0, rows_total, step):
        yield slice(start, min(start + step, rows_total))


def _encode_chunk(plan: TensorPlan, rows: slice) -> np.ndarray:
    raw_dtype = getattr(plan.source, "raw_dtype", None)
    if raw_dtype is not None and FAST_PATHS:
        # sources that can hand out their stored bits skip the float32 round trip (bf16 -> f16, copies)
        data = encode_raw(plan.source.take_raw(rows), raw_dtype, plan.qtype)  # type: ignore[attr-defined]
        if data is not None:
            return np.ascontiguousarray(data)
    return np.ascontiguousarray(encode_rows(plan.source.take(rows), plan.qtype))


def _write(f: IO[bytes], data: np.ndarray, bar: Any) -> int:
    f.write(memoryview(data).cast("B"))
    if bar is not None:
        bar.update(data.nbytes)
    return data.nbytes


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs and CI would get every redraw as a line)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, dynamic_ncols=True, disable=None)


def check_output(outfile: str | os.PathLike[str], force: bool) -> Path:
    """Validate the output path before any work starts."""
    out = Path(outfile)
    if out.is_dir():
        raise ValueError(f"output {out} is a directory; give a file name such as {out / 'model.gguf'}")
    if out.exists() and not force:
        raise ValueError(f"output {out} already exists; pass --force (force=True) to overwrite it")
    if not out.parent.exists():
        raise FileNotFoundError(f"output folder {out.parent} does not exist; create it first")
    return out


@contextlib.contextmanager
def atomic_output(outfile: str | os.PathLike[str], force: bool) -> Iterator[Path]:
    """Yield a temporary path beside `outfile`; rename it into place only if the block completes.

    Any exception -- KeyboardInterrupt included -- deletes the temporary file, so a failed or interrupted
    conversion never leaves a half-written model under either name.
    """
    out = check_output(outfile, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if out.exists() and not force:  # appeared while we worked: still never clobber it
            raise ValueError(f"output {out} appeared during the conversion; pass --force to overwrite it")
        os.replace(tmp_path, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
