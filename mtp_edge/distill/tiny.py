"""A tiny random Llama checkpoint with a word-level tokenizer: for tests and smoke runs, no downloads."""

from __future__ import annotations

from pathlib import Path

CHATML = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
          "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer(n_words: int = 56):
    """Word-level tokenizer over `w0 .. w{n-1}`, `user`, `assistant`, the chat markers; chat template set."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = SPECIALS + ["user", "assistant", "[UNK]"] + [f"w{i}" for i in range(n_words)]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  bos_token="<|im_start|>", unk_token="[UNK]")
    tok.chat_template = CHATML
    return tok


def tiny_llama(vocab_size: int, seed: int = 0, layers: int = 2, hidden: int = 32, embed_std: float = 1.0):
    """A random LlamaForCausalLM (tied embeddings, GQA, SDPA) small enough for CPU tests.

    `embed_std` 1.0 gives peaked logits (argmaxes mean something); a small one gives near-uniform sampling.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # larger logits than the default init: argmaxes then mean something
        model.get_input_embeddings().weight.normal_(0, embed_std)
    return model


def make_tiny_checkpoint(folder: str | Path, seed: int = 0, embed_std: float = 1.0) -> Path:
    """Write a tiny random Llama + tokenizer as a Hugging Face folder; returns the folder."""
    folder = Path(folder)
    tok = tiny_tokenizer()
    model = tiny_llama(len(tok), seed, embed_std=embed_std)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_records(n: int, seed: int = 0, n_words: int = 56) -> list[dict]:
    """GSM8K-shaped records of random words (question 4-8 words, answer 10-20 words)."""
    import random

    rng = random.Random(seed)
    word = lambda: f"w{rng.randrange(n_words)}"  # noqa: E731
    return [{"question": " ".join(word() for _ in range(rng.randint(4, 8))),
             "answer": " ".join(word() for _ in range(rng.randint(10, 20)))} for _ in range(n)]
