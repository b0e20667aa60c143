"""Lazy tensors: something with a shape that hands out float32 rows on request.

Every weight the converter writes is a `RowSource`. The writer asks for a few thousand rows at a time, so
no tensor (not even a 128k x 4096 embedding) is ever fully materialised unless a transform needs it, and
the peak memory stays near one chunk. Sources compose: a permutation, an appended block of rows, a LoRA
delta are all thin wrappers around the source below them.
"""

from __future__ import annotations

from typing import Callable, Protocol, Union

import numpy as np

Index = Union[slice, np.ndarray]


class RowSource(Protocol):
    """A lazy tensor in numpy (row-major, PyTorch) orientation: `shape[0]` is the row count."""

    shape: tuple[int, ...]

    def take(self, index: Index) -> np.ndarray:
        """Rows `index` (a slice or an integer array) as a new float32 array."""
        ...


def n_rows(src: RowSource) -> int:
    return int(src.shape[0])


class ArraySource:
    """An in-memory array (small tensors, adapter rows, generated tensors such as rope_freqs)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array)
        self.shape = tuple(int(d) for d in self.array.shape)

    def take(self, index: Index) -> np.ndarray:
        return np.array(self.array[index], dtype=np.float32)


class PermutedRows:
    """Rows reordered: row i of this tensor is row `order[i]` of the source (llama.cpp's Q/K layout)."""

    def __init__(self, src: RowSource, order: np.ndarray) -> None:
        if len(order) != n_rows(src):
            raise ValueError(f"permutation of {len(order)} rows for a tensor of {n_rows(src)} rows")
        self.src, self.order, self.shape = src, np.asarray(order, dtype=np.int64), src.shape

    @property
    def raw_dtype(self) -> str | None:
        return getattr(self.src, "raw_dtype", None)

    def take(self, index: Index) -> np.ndarray:
        wanted = self.order[index]
        # read the smallest contiguous block that covers the wanted rows, then gather from it
        lo, hi = int(wanted.min()), int(wanted.max()) + 1
        return self.src.take(slice(lo, hi))[wanted - lo]

    def take_raw(self, index: Index) -> np.ndarray:
        wanted = self.order[index]
        lo, hi = int(wanted.min()), int(wanted.max()) + 1
        return self.src.take_raw(slice(lo, hi))[wanted - lo]  # type: ignore[attr-defined]


class ReplacedRows:
    """The source with some rows replaced and/or rows appended (added tokens' embedding rows).

    `rows` maps row id -> vector; ids >= the source's row count extend the tensor and must be contiguous.
    """

    def __init__(self, src: RowSource, ids: np.ndarray, rows: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.float32)
        base = n_rows(src)
        if rows.shape != (len(ids), *src.shape[1:]):
            raise ValueError(f"{len(ids)} new rows of shape {rows.shape[1:]} do not fit a tensor of shape {src.shape}")
        new = np.sort(ids[ids >= base])
        if len(new) and not np.array_equal(new, np.arange(base, base + len(new))):
            raise ValueError(
                f"token ids {new.tolist()} leave a gap after the {base} existing rows; "
                "added rows must follow the existing ones without gaps"
            )
        self.src, self.base = src, base
        self.lookup = {int(i): k for k, i in enumerate(ids)}
        self.rows = rows
        self.shape = (base + len(new), *src.shape[1:])

    def take(self, index: Index) -> np.ndarray:
        wanted = np.arange(self.shape[0])[index]
        out = np.empty((len(wanted), *self.shape[1:]), dtype=np.float32)
        old = wanted < self.base
        if old.any():
            lo, hi = int(wanted[old].min()), int(wanted[old].max()) + 1
            out[old] = self.src.take(slice(lo, hi))[wanted[old] - lo]
        for pos, row in enumerate(wanted):
            k = self.lookup.get(int(row))
            if k is not None:
                out[pos] = self.rows[k]
        return out


class LoraMerged:
    """W + scale * B @ A, computed per chunk of rows (B is [out, r], A is [r, in])."""

    def __init__(self, src: RowSource, lora_a: np.ndarray, lora_b: np.ndarray, scale: float) -> None:
        lora_a = np.asarray(lora_a, dtype=np.float32)
        lora_b = np.asarray(lora_b, dtype=np.float32)
        if len(src.shape) != 2 or lora_b.shape[0] != src.shape[0] or lora_a.shape[1] != src.shape[1] \
                or lora_a.shape[0] != lora_b.shape[1]:
            raise ValueError(
                f"LoRA shapes A {tuple(lora_a.shape)} and B {tuple(lora_b.shape)} do not fit a weight of shape {src.shape}"
            )
        self.src, self.a, self.b, self.scale, self.shape = src, lora_a, lora_b, float(scale), src.shape

    def take(self, index: Index) -> np.ndarray:
        base = self.src.take(index)
        base += self.scale * (self.b[index] @ self.a)
        return base


class FunctionSource:
    """Rows produced by a function of (start, stop) -- used by benchmarks for random weights."""

    def __init__(self, shape: tuple[int, ...], fn: Callable[[int, int], np.ndarray]) -> None:
        self.shape, self.fn = tuple(shape), fn

    def take(self, index: Index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, _ = index.indices(self.shape[0])
            return np.asarray(self.fn(start, stop), dtype=np.float32)
        index = np.asarray(index)
        lo, hi = int(index.min()), int(index.max()) + 1
        return np.asarray(self.fn(lo, hi), dtype=np.float32)[index - lo]
