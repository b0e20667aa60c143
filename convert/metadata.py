"""The MTP settings written into the GGUF (`tokenizer.ggml.mask_token_id` and `mtp.*`, see docs/DESIGN.md).

Precedence, highest first: explicit arguments (CLI flags), the checkpoint's `mtp_config.json`, what is
known about the two released checkpoints, then defaults (k_max 16, tau 0.9, the chat template decides the
prompt format, the tokenizer's end-of-sequence ids stop generation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gguf import GGUFValueType

from .writer import KV

DEFAULT_MASK_TOKEN = "<|mtp_special_token_0|>"
MTP_VERSION = 1
MAX_K_MAX = 256  # the runtime's limit (mtp_edge.metadata)

# The released checkpoints carry no mtp_config.json; what they need beyond their tokenizer is here.
KNOWN_CHECKPOINTS: dict[str, dict[str, Any]] = {
    "jwkirchenbauer/L3-1-8B-Magpie-MTP": {"prompt_format": "chat", "stop_token_ids": [128001, 128009]},
    "jwkirchenbauer/Qwen3-4B-Inst-2507-MTP": {"prompt_format": "plain", "stop_token_ids": [151645, 151643]},
}


def known_checkpoint(*hints: str | None) -> dict[str, Any]:
    """Settings of a released checkpoint recognised from a repo id, a folder path or `_name_or_path`."""
    for hint in hints:
        if not hint:
            continue
        for repo, settings in KNOWN_CHECKPOINTS.items():
            owner, name = repo.split("/")
            # a repo id, a path ending in the model name, or a hub cache folder models--owner--name
            if hint == repo or re.search(rf"(^|[/\\]){re.escape(name)}/?$", hint) or f"models--{owner}--{name}" in hint:
                return settings
    return {}


@dataclass
class MTPSettings:
    mask_token: str
    mask_id: int
    mask_mode: str
    k_max: int
    tau: float
    prompt_format: str
    stop_token_ids: list[int]

    def write(self, kv: KV) -> None:
        kv.u32("tokenizer.ggml.mask_token_id", self.mask_id)
        kv.u32("mtp.version", MTP_VERSION)
        kv.string("mtp.mask_mode", self.mask_mode)
        kv.u32("mtp.k_max", self.k_max)
        kv.f32("mtp.tau", self.tau)
        kv.string("mtp.prompt_format", self.prompt_format)
        kv.array("mtp.stop_token_ids", GGUFValueType.INT32, self.stop_token_ids)


def resolve(tokens: list[str], *, has_chat_template: bool, eos_ids: list[int], mtp_config: dict[str, Any],
            known: dict[str, Any], mask_token: str | None = None, k_max: int | None = None,
            tau: float | None = None, prompt_format: str | None = None) -> MTPSettings:
    """Settle and validate every MTP setting; raise ValueError with the fix for anything wrong."""
    n_vocab = len(tokens)
    version = mtp_config.get("mtp_version", MTP_VERSION)
    if version != MTP_VERSION:
        raise ValueError(f"mtp_config.json has mtp_version {version}; this mtp-edge reads version {MTP_VERSION}")
    text = mask_token or mtp_config.get("mask_token") or DEFAULT_MASK_TOKEN
    index = {t: i for i, t in reversed(list(enumerate(tokens)))}
    if text not in index:
        raise ValueError(
            f"mask token {text!r} is not in the tokenizer, so the model cannot predict several tokens per pass. "
            "Pass --mask-token TEXT (mask_token=...) with the token the model was trained with"
            + ("" if mask_token else "; a model without one is not an MTP model (train it with `mtp-edge distill`)")
        )
    mask_id = index[text]
    mode = mtp_config.get("mask_mode", "single")
    if mode not in ("single", "range"):
        raise ValueError(f"mtp_config.json: mask_mode {mode!r} must be 'single' or 'range'")
    k = int(k_max if k_max is not None else mtp_config.get("k_max", 16))
    if not 1 <= k <= MAX_K_MAX:
        raise ValueError(f"k_max {k} must be between 1 and {MAX_K_MAX}")
    if mode == "range" and mask_id + k - 1 >= n_vocab:
        raise ValueError(f"mask_mode 'range' needs ids {mask_id}..{mask_id + k - 1} but the vocab has {n_vocab} tokens; "
                         "lower --k-max")
    t = float(tau if tau is not None else mtp_config.get("tau", 0.9))
    if not 0.0 < t <= 1.0:
        raise ValueError(f"tau {t} must be in (0, 1]")
    fmt = prompt_format or mtp_config.get("prompt_format") or known.get("prompt_format") \
        or ("chat" if has_chat_template else "plain")
    if fmt not in ("chat", "plain"):
        raise ValueError(f"prompt format {fmt!r} must be 'chat' or 'plain'")
    if fmt == "chat" and not has_chat_template:
        raise ValueError("prompt format 'chat' needs a chat template, and the tokenizer has none; "
                         "use --prompt-format plain or add chat_template to tokenizer_config.json")
    stops = mtp_config.get("stop_token_ids") or known.get("stop_token_ids") or eos_ids
    stops = list(dict.fromkeys(int(s) for s in stops))
    bad = [s for s in stops if not 0 <= s < n_vocab]
    if bad:
        raise ValueError(f"stop token ids {bad} are outside the vocab of {n_vocab} tokens")
    return MTPSettings(text, mask_id, mode, k, t, fmt, stops)
