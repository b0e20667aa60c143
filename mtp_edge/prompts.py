"""Prompt formats: the model's chat template, or the plain `question\\n\\n` format some MTP models use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import MTPModel

ROLES = ("system", "user", "assistant")


def check_messages(messages: list[dict[str, str]]) -> None:
    """Raise ValueError naming the first malformed message."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be {{'role': one of {ROLES}, 'content': str}}, got {m!r}")


def format_messages(model: MTPModel, messages: list[dict[str, str]]) -> str:
    """The prompt text for `messages`, ending where the assistant's next reply starts."""
    check_messages(messages)
    template = model.llama.metadata.get("tokenizer.chat_template")
    if model.prompt_format == "chat" and template:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos_id, eos_id = model.llama.token_bos(), model.llama.token_eos()
        piece = lambda t: model.llama.detokenize([t], special=True).decode("utf-8", "replace") if t >= 0 else ""  # noqa: E731
        formatter = Jinja2ChatFormatter(template=template, eos_token=piece(eos_id), bos_token=piece(bos_id),
                                        add_generation_prompt=True)
        return formatter(messages=messages).prompt
    # Plain format (e.g. the Qwen3 MTP checkpoint): turns separated by a blank line.
    parts = [m["content"].strip() for m in messages if m["role"] != "system" or m["content"].strip()]
    return "\n\n".join(parts) + "\n\n"
