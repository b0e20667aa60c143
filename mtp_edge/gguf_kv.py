"""A small, strict reader of a GGUF file's key-value header (no tensors).

gguf's GGUFReader parses every tensor and array of the file (seconds for a 100 MB model); the runtime
needs a dozen keys, and must survive untrusted files: every length is bounds-checked against the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_KEYS = 1 << 16


@dataclass(frozen=True)
class ArrayInfo:
    """An array value that was skipped, not read: its element type and length."""

    item_type: int
    length: int


class _Cursor:
    def __init__(self, f: BinaryIO, size: int, path: str):
        self.f, self.size, self.path = f, size, path

    def read(self, n: int) -> bytes:
        if n < 0 or self.f.tell() + n > self.size:
            raise ValueError(f"{self.path}: truncated or damaged GGUF header (a length runs past the end of the file)")
        return self.f.read(n)

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.read(self.unpack("<Q"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.path}: a GGUF string is not valid UTF-8") from exc

    def skip(self, n: int) -> None:
        if n < 0 or self.f.tell() + n > self.size:
            raise ValueError(f"{self.path}: truncated or damaged GGUF header (a length runs past the end of the file)")
        self.f.seek(n, 1)


def read_kv(path: str, read_arrays: frozenset[str] = frozenset()) -> dict[str, object]:
    """Return the header's key-values. Arrays are read only for keys in `read_arrays`; others are ArrayInfo."""
    import os

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        cur = _Cursor(f, size, path)
        if cur.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version} is not supported (2 or 3 expected)")
        cur.unpack("<Q")  # tensor count
        n_kv = cur.unpack("<Q")
        if n_kv > _MAX_KEYS:
            raise ValueError(f"{path}: the GGUF header claims {n_kv} keys; the file is damaged")
        out: dict[str, object] = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("<I")
            out[key] = _value(cur, vtype, key in read_arrays)
        return out


def _value(cur: _Cursor, vtype: int, read_array: bool):
    if vtype in _SCALARS:
        return cur.unpack(_SCALARS[vtype])
    if vtype == _STRING:
        return cur.string()
    if vtype != _ARRAY:
        raise ValueError(f"{cur.path}: unknown GGUF value type {vtype}; the file is damaged")
    item_type = cur.unpack("<I")
    length = cur.unpack("<Q")
    if item_type in _SCALARS:
        width = struct.calcsize(_SCALARS[item_type])
        if not read_array:
            cur.skip(width * length)
            return ArrayInfo(item_type, length)
        raw = cur.read(width * length)
        return list(struct.unpack(f"<{length}{_SCALARS[item_type][1]}", raw))
    if item_type == _STRING:
        if read_array:
            return [cur.string() for _ in range(length)]
        for _ in range(length):
            cur.skip(cur.unpack("<Q"))
        return ArrayInfo(item_type, length)
    raise ValueError(f"{cur.path}: GGUF arrays of type {item_type} are not supported here")
