"""A small, strict reader of a GGUF file's header: its key-values and tensor directory, never tensor data.

gguf's GGUFReader builds numpy views for every field (seconds for a 49k-token vocab); this reads the header with
`struct` in tens of milliseconds, and it must survive untrusted files: every length is bounds-checked against the
file. Two users: the runtime (`mtp_edge.metadata`) reads a dozen keys and skips the big arrays; the converter
(`mtp_edge.convert.gguf_read`) reads everything and maps the tensor data that follows the header.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
                  12: "<d"}
STRING, ARRAY = 8, 9
DEFAULT_ALIGNMENT = 32
_MAX_KEYS = 1 << 16
_MAX_DIMS = 4


@dataclass(frozen=True)
class ArrayInfo:
    """An array value that was skipped, not read: its element type and length."""

    item_type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]  # GGUF order: the innermost (contiguous) dimension first
    qtype: int  # ggml type id
    offset: int  # bytes from the start of the data section


@dataclass
class Header:
    version: int
    kv: dict[str, tuple[int, object, int | None]]  # key -> (value type, value, array item type or None)
    tensors: list[TensorInfo]
    data_start: int  # file offset of the data section (aligned)

    def get(self, key: str, default: object = None) -> object:
        item = self.kv.get(key)
        return default if item is None else item[1]


class _Cursor:
    """Reads little-endian values from a buffer (bytes, memoryview or mmap), never past its end."""

    def __init__(self, buf, path: str) -> None:
        self.buf, self.pos, self.path, self.size = buf, 0, path, len(buf)

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise ValueError(f"{self.path} is truncated or damaged: its GGUF header runs past the end of the file "
                             "(download or convert it again)")

    def unpack(self, fmt: str) -> tuple:
        n = struct.calcsize(fmt)
        self._need(n)
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return out

    def one(self, fmt: str):
        return self.unpack(fmt)[0]

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n

    def string(self) -> str:
        n = self.one("<Q")
        self._need(n)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.path}: a GGUF string is not valid UTF-8; the file is damaged") from None

    def value(self, vtype: int, read: bool) -> tuple[object, int | None]:
        """(value, array item type); an array not to be `read` is skipped and given as ArrayInfo."""
        if vtype in SCALAR_FORMATS:
            return self.one(SCALAR_FORMATS[vtype]), None
        if vtype == STRING:
            return self.string(), None
        if vtype != ARRAY:
            raise ValueError(f"{self.path}: unknown GGUF value type {vtype}; the file is damaged")
        item_type, length = self.unpack("<IQ")
        if item_type in SCALAR_FORMATS:
            fmt = SCALAR_FORMATS[item_type]
            if not read:
                self.skip(struct.calcsize(fmt) * length)
                return ArrayInfo(item_type, length), item_type
            return list(self.unpack(f"<{length}{fmt[1]}")), item_type
        if item_type in (STRING, ARRAY):
            if length > self.size - self.pos:  # every element takes at least a byte: a damaged length
                self._need(length)
            if item_type == STRING and not read:  # skipped without decoding (a vocab has ~50k of them)
                for _ in range(length):
                    self.skip(self.one("<Q"))
                return ArrayInfo(item_type, length), item_type
            items = [self.value(item_type, read)[0] for _ in range(length)]
            return (items if read else ArrayInfo(item_type, length)), item_type
        raise ValueError(f"{self.path}: GGUF arrays of type {item_type} are not supported; the file is damaged")


def parse_header(buf, path: str, read_array: Callable[[str], bool] = lambda key: True,
                 tensors: bool = True) -> Header:
    """The header of the GGUF file in `buf`. Arrays are read only where `read_array(key)`; with `tensors`, the
    tensor directory too (else it stays unread and `data_start` is 0)."""
    cur = _Cursor(buf, path)
    if cur.size < 4 or bytes(buf[:4]) != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file")
    cur.skip(4)
    version = cur.one("<I")
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version} is not supported (2 or 3 expected)")
    n_tensors, n_kv = cur.unpack("<QQ")
    if n_kv > _MAX_KEYS:
        raise ValueError(f"{path}: the GGUF header claims {n_kv} keys; the file is damaged")
    kv: dict[str, tuple[int, object, int | None]] = {}
    for _ in range(n_kv):
        key = cur.string()
        vtype = cur.one("<I")
        value, item_type = cur.value(vtype, read_array(key))
        kv[key] = (vtype, value, item_type)
    header = Header(version, kv, [], 0)
    if not tensors:
        return header
    if n_tensors > cur.size:
        raise ValueError(f"{path}: the GGUF header claims {n_tensors} tensors; the file is damaged")
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.one("<I")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise ValueError(f"{path}: tensor {name} has {n_dims} dimensions; the file is damaged")
        dims = cur.unpack(f"<{n_dims}Q")
        qtype, offset = cur.unpack("<IQ")
        header.tensors.append(TensorInfo(name, tuple(dims), qtype, offset))
    align = header.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or align <= 0:
        raise ValueError(f"{path}: general.alignment = {align!r} is not a positive integer; the file is damaged")
    header.data_start = (cur.pos + align - 1) // align * align
    return header


def read_kv(path: str, read_arrays: frozenset[str] = frozenset()) -> dict[str, object]:
    """The header's key-values. Arrays are read only for keys in `read_arrays`; others are ArrayInfo."""
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is not a GGUF file (it is empty)")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        header = parse_header(mm, str(path), lambda key: key in read_arrays, tensors=False)
    return {key: value for key, (_, value, _) in header.kv.items()}
