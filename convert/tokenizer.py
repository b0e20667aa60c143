"""Hugging Face byte-level BPE tokenizer (tokenizer.json) -> llama.cpp's `tokenizer.ggml.*` metadata.

Read straight from the JSON files, so converting needs neither `tokenizers` nor `transformers`. The
pre-tokenizer family (llama.cpp's `tokenizer.ggml.pre`) is recognised from the pre-tokenizer's structure
and split pattern -- the exact regexes llama.cpp implements for each family -- instead of by hashing a
sample tokenization, which would need the `tokenizers` library.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGUFValueType

from .checkpoint import load_json
from .writer import KV

NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5

_CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
_CONTRACTIONS_SPELLED = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_REST = r"|[^\r\n\p{L}\p{N}]?\p{L}+|%s| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPLIT_FAMILIES = {
    _CONTRACTIONS + _REST % r"\p{N}{1,3}": "llama-bpe",
    _CONTRACTIONS_SPELLED + _REST % r"\p{N}{1,3}": "llama-bpe",
    _CONTRACTIONS + _REST % r"\p{N}": "qwen2",
    _CONTRACTIONS_SPELLED + _REST % r"\p{N}": "qwen2",
}
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
SUPPORTED = "llama-bpe (Llama 3), qwen2 (Qwen2/Qwen3), smollm (SmolLM/SmolLM2), gpt-2"


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special: dict[str, int] = field(default_factory=dict)  # bos/eos/unk/pad -> id
    add_bos: bool = False
    add_eos: bool = False
    chat_templates: dict[str, str] = field(default_factory=dict)  # "" = the default template


def _steps(pre: Any) -> list[dict]:
    if not pre:
        return []
    if pre.get("type") == "Sequence":
        return [s for p in pre.get("pretokenizers", []) for s in _steps(p)]
    return [pre]


def detect_pre(tokenizer_json: dict, where: str = "tokenizer.json") -> str:
    """llama.cpp's pre-tokenizer name for this tokenizer, or ValueError naming what was found."""
    steps = _steps(tokenizer_json.get("pre_tokenizer"))
    kinds = [s.get("type") for s in steps]
    if kinds == ["Split", "ByteLevel"] and steps[1].get("use_regex", True) is False:
        pattern = steps[0].get("pattern", {})
        regex = pattern.get("Regex") if isinstance(pattern, dict) else None
        if regex in SPLIT_FAMILIES and steps[0].get("behavior") == "Isolated" and not steps[0].get("invert"):
            return SPLIT_FAMILIES[regex]
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"):
        return "gpt-2"
    raise ValueError(
        f"{where}: unsupported pre-tokenizer {json.dumps(tokenizer_json.get('pre_tokenizer'))[:300]}. "
        f"Supported byte-level BPE families: {SUPPORTED}"
    )


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _template_bos_eos(post: Any) -> tuple[bool, bool]:
    """Whether the post-processor adds a special token before / after a single sequence."""
    if not post:
        return False, False
    if post.get("type") == "Sequence":
        found = [_template_bos_eos(p) for p in post.get("processors", [])]
        return any(b for b, _ in found), any(e for _, e in found)
    if post.get("type") == "TemplateProcessing":
        single = post.get("single") or []
        return bool(single) and "SpecialToken" in single[0], bool(single) and "SpecialToken" in single[-1]
    return False, False


def _chat_templates(folder: Path, tcfg: dict) -> dict[str, str]:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return {"": jinja.read_text(encoding="utf-8")}
    tpl = tcfg.get("chat_template")
    if tpl is None and (folder / "chat_template.json").is_file():
        tpl = load_json(folder / "chat_template.json", "chat template").get("chat_template")
    if isinstance(tpl, str):
        return {"": tpl}
    if isinstance(tpl, list):
        return {("" if t.get("name") == "default" else t["name"]): t["template"] for t in tpl if "template" in t}
    return {}


def load_hf_vocab(folder: Path, n_vocab: int, config: dict) -> Vocab:
    """The tokenizer of a checkpoint folder as llama.cpp sees it, padded to the model's `n_vocab` rows."""
    tj_path = folder / "tokenizer.json"
    if not tj_path.is_file():
        extra = " (it has only a sentencepiece tokenizer.model, which mtp-edge does not convert)" \
            if (folder / "tokenizer.model").is_file() else ""
        raise FileNotFoundError(f"missing tokenizer file tokenizer.json in {folder}{extra}; save the tokenizer "
                                "with tokenizer.save_pretrained(folder) next to the weights")
    tj = load_json(tj_path, "tokenizer file")
    tcfg = load_json(folder / "tokenizer_config.json", "tokenizer file") \
        if (folder / "tokenizer_config.json").is_file() else {}
    model = tj.get("model") or {}
    # Byte fallback writes an unknown character as sentencepiece-style <0xNN> tokens, and does nothing where the
    # vocabulary has none of them (it then ends as without the flag). Some transformers versions set the flag on
    # the byte-level tokenizers they rebuild from GGUF files (the trainer's full fine-tunes of SmolLM2), so only a
    # fallback that can fire is refused.
    fallback = model.get("byte_fallback") and any(_BYTE_TOKEN.fullmatch(t) for t in model.get("vocab", {}))
    if model.get("type") != "BPE" or fallback:
        raise ValueError(f"{tj_path}: tokenizer model {model.get('type')!r}"
                         f"{' with byte fallback' if fallback else ''} is not supported; "
                         f"only byte-level BPE ({SUPPORTED})")
    pre = detect_pre(tj, str(tj_path))

    by_id: dict[int, tuple[str, int]] = {int(i): (t, NORMAL) for t, i in model.get("vocab", {}).items()}
    for added in tj.get("added_tokens", []):
        text = added["content"]
        special = added.get("special") or (text.startswith("<|") and text.endswith("|>"))
        by_id[int(added["id"])] = (text, CONTROL if special else USER_DEFINED)
    top = max(by_id) if by_id else -1
    if top >= n_vocab:
        raise ValueError(f"shape mismatch: the tokenizer has token id {top} ({by_id[top][0]!r}) but the model's "
                         f"embedding has only {n_vocab} rows")
    tokens, types = [], []
    for i in range(n_vocab):
        text, kind = by_id.get(i, (f"[PAD{i}]", UNUSED))  # padded rows stay: they take part in the softmax
        tokens.append(text)
        types.append(kind)

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    vocab = Vocab(tokens, types, merges, pre)
    index = {t: i for i, t in reversed(list(enumerate(tokens)))}
    for role in ("bos", "eos", "unk", "pad"):
        text = _token_text(tcfg.get(f"{role}_token"))
        tid = index.get(text) if text else None
        if tid is None:
            fallback = config.get(f"{role}_token_id")
            tid = fallback[0] if isinstance(fallback, list) and fallback else fallback
        if isinstance(tid, int) and 0 <= tid < n_vocab:
            vocab.special[role] = tid
    tmpl_bos, tmpl_eos = _template_bos_eos(tj.get("post_processor"))
    vocab.add_bos = bool(tcfg.get("add_bos_token", tmpl_bos))
    vocab.add_eos = bool(tcfg.get("add_eos_token", tmpl_eos))
    vocab.chat_templates = _chat_templates(folder, tcfg)
    return vocab


def vocab_kv(kv: KV, vocab: Vocab) -> None:
    """Write the `tokenizer.*` keys llama.cpp reads."""
    kv.string("tokenizer.ggml.model", "gpt2")
    kv.string("tokenizer.ggml.pre", vocab.pre)
    kv.array("tokenizer.ggml.tokens", GGUFValueType.STRING, vocab.tokens)
    kv.array("tokenizer.ggml.token_type", GGUFValueType.INT32, vocab.types)
    kv.array("tokenizer.ggml.merges", GGUFValueType.STRING, vocab.merges)
    names = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}
    for role, tid in vocab.special.items():
        kv.u32(f"tokenizer.ggml.{names[role]}", tid)
    kv.boolean("tokenizer.ggml.add_bos_token", vocab.add_bos)
    kv.boolean("tokenizer.ggml.add_eos_token", vocab.add_eos)
    for name, template in vocab.chat_templates.items():
        kv.string("tokenizer.chat_template" + (f".{name}" if name else ""), template)
