"""A GGUF file's MTP settings (docs/DESIGN.md), read and validated before llama.cpp ever sees the file."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .gguf_kv import ArrayInfo, read_kv

MASK_TOKEN_TEXT = "<|mtp_special_token_0|>"


def mask_token_text(j: int) -> str:
    """The text of mask slot j's token in a range-mask vocab (j = 0 is MASK_TOKEN_TEXT)."""
    return f"<|mtp_special_token_{j}|>"


DEFAULT_K_MAX = 16
DEFAULT_TAU = 0.9
MAX_K_MAX = 256
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class MTPMetadata:
    """MTP settings of a model file; `mask_token_id` None means the file has no mask token (yet)."""

    path: str
    architecture: str
    name: str | None
    vocab_size: int
    context_length: int | None
    mask_token_id: int | None
    mask_mode: str = "single"
    k_max: int = DEFAULT_K_MAX
    tau: float = DEFAULT_TAU
    prompt_format: str = "chat"
    stop_token_ids: tuple[int, ...] = field(default_factory=tuple)
    has_chat_template: bool = False
    mtp_version: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop_token_ids"] = list(self.stop_token_ids)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def read_metadata(path: str | os.PathLike) -> MTPMetadata:
    """Read and validate the MTP metadata of a GGUF file.

    Raises FileNotFoundError for a missing file and ValueError, with the key and the fix, for a file
    that is not GGUF or carries out-of-range MTP values.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a .gguf file (convert a checkpoint folder with `mtp-edge convert`)")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ValueError(f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')")

    kv = read_kv(str(path), read_arrays=frozenset({"mtp.stop_token_ids"}))
    arch = kv.get("general.architecture")
    if not isinstance(arch, str):
        raise ValueError(f"{path}: GGUF key 'general.architecture' is missing; the file is not a model")
    tokens = kv.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, ArrayInfo) or tokens.length == 0:
        raise ValueError(f"{path}: the file has no tokenizer (tokenizer.ggml.tokens); reconvert it with `mtp-edge convert`")
    vocab_size = tokens.length
    ctx_len = kv.get(f"{arch}.context_length")
    has_template = isinstance(kv.get("tokenizer.chat_template"), str)

    mask_id = kv.get("tokenizer.ggml.mask_token_id")
    mask_mode = kv.get("mtp.mask_mode", "single")
    k_max = kv.get("mtp.k_max")
    tau = kv.get("mtp.tau")
    prompt_format = kv.get("mtp.prompt_format", "chat" if has_template else "plain")
    stop_ids = kv.get("mtp.stop_token_ids", [])
    version = kv.get("mtp.version")
    name = kv.get("general.name")

    meta = MTPMetadata(
        path=str(path),
        architecture=arch,
        name=name if isinstance(name, str) else None,
        vocab_size=int(vocab_size),
        context_length=int(ctx_len) if isinstance(ctx_len, (int, float)) else None,
        mask_token_id=None if mask_id is None else _as_int(mask_id, "tokenizer.ggml.mask_token_id", path),
        mask_mode=mask_mode if isinstance(mask_mode, str) else "?",
        k_max=DEFAULT_K_MAX if k_max is None else _as_int(k_max, "mtp.k_max", path),
        tau=DEFAULT_TAU if tau is None else _as_float(tau, "mtp.tau", path),
        prompt_format=prompt_format if isinstance(prompt_format, str) else "?",
        stop_token_ids=tuple(_as_int(s, "mtp.stop_token_ids", path) for s in _as_list(stop_ids)),
        has_chat_template=has_template,
        mtp_version=None if version is None else _as_int(version, "mtp.version", path),
    )
    validate(meta)
    return meta


def _as_list(value) -> list:
    if isinstance(value, ArrayInfo):
        raise ValueError("mtp.stop_token_ids must be an array of integers")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_int(value, key: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{path}: GGUF key {key!r} must be an integer, got {value!r}")
    return int(value)


def _as_float(value, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: GGUF key {key!r} must be a number, got {value!r}")
    return float(value)


def validate(meta: MTPMetadata) -> None:
    """Reject MTP values that would make the decode loop read outside the vocab or loop forever."""
    where = meta.path
    if meta.mask_token_id is not None and not 0 <= meta.mask_token_id < meta.vocab_size:
        raise ValueError(
            f"{where}: tokenizer.ggml.mask_token_id = {meta.mask_token_id} is outside the vocab of "
            f"{meta.vocab_size} tokens; the file is damaged: reconvert it, or pass mask_token_id= explicitly"
        )
    if not 1 <= meta.k_max <= MAX_K_MAX:
        raise ValueError(f"{where}: mtp.k_max = {meta.k_max} must be between 1 and {MAX_K_MAX}")
    if not (math.isfinite(meta.tau) and 0.0 < meta.tau <= 1.0):
        raise ValueError(f"{where}: mtp.tau = {meta.tau} must be in (0, 1]")
    if meta.mask_mode not in ("single", "range"):
        raise ValueError(f"{where}: mtp.mask_mode = {meta.mask_mode!r} must be 'single' or 'range'")
    if meta.mask_mode == "range" and meta.mask_token_id is not None:
        if meta.mask_token_id + meta.k_max - 1 >= meta.vocab_size:
            raise ValueError(f"{where}: range masks {meta.mask_token_id}..+{meta.k_max - 1} run past the vocab")
    if meta.prompt_format not in ("chat", "plain"):
        raise ValueError(f"{where}: mtp.prompt_format = {meta.prompt_format!r} must be 'chat' or 'plain'")
    for s in meta.stop_token_ids:
        if not 0 <= s < meta.vocab_size:
            raise ValueError(f"{where}: mtp.stop_token_ids holds {s}, outside the vocab of {meta.vocab_size}")
