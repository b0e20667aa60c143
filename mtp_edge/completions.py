"""OpenAI-shaped completion dicts (the same shapes llama-cpp-python returns), streaming included."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .prompts import check_messages

if TYPE_CHECKING:
    from .model import MTPModel

# Options create_* accept and pass to MTPModel.stream (OpenAI names where they exist).
_GEN_KEYS = ("k_max", "tau", "mode", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed",
             "stop_token_ids", "track_agreement")


def _finish_reason(stop_reason: str) -> str:
    return "stop" if stop_reason in ("stop", "interrupted") else "length"


def _usage(model: MTPModel) -> dict[str, Any]:
    s = model.last_stats()
    return {
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.tokens,
        "total_tokens": s.prompt_tokens + s.tokens,
        # MTP stats ride along in usage (OpenAI clients keep unknown usage fields).
        "mtp_passes": s.passes,
        "mtp_eff_k": round(s.eff_k, 4),
        "mtp_agreement": None if s.agreement is None else round(s.agreement, 4),
        "mtp_decode_tps": round(s.decode_tps, 2),
    }


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], int, list[str]]:
    max_tokens = kwargs.pop("max_tokens", None)
    max_tokens = 256 if max_tokens is None else max_tokens
    stop = kwargs.pop("stop", None) or []
    if isinstance(stop, str):
        stop = [stop]
    gen = {k: kwargs.pop(k) for k in _GEN_KEYS if k in kwargs and kwargs[k] is not None}
    for k in [k for k in _GEN_KEYS if k in kwargs]:
        kwargs.pop(k)
    kwargs.pop("model", None)
    if kwargs:
        raise TypeError(f"unsupported arguments: {', '.join(sorted(kwargs))}")
    return gen, max_tokens, list(stop)


def create_completion(model: MTPModel, prompt: str, *, stream: bool = False, **kwargs):
    """`/v1/completions`: a text_completion dict, or an iterator of text_completion chunks."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    gen, max_tokens, stop = _split_kwargs(dict(kwargs))
    model.check_options(max_tokens, **gen)  # a bad option fails here, not on the first read of a stream
    cid, created, name = f"cmpl-{uuid.uuid4()}", int(time.time()), model.metadata.name or "mtp-edge"
    pieces = model.stream(prompt, max_tokens, stop=stop, **gen)

    def chunk(text: str, finish: str | None) -> dict[str, Any]:
        return {"id": cid, "object": "text_completion", "created": created, "model": name,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}

    if stream:
        def events() -> Iterator[dict[str, Any]]:
            try:
                for piece in pieces:
                    yield chunk(piece, None)
                last = chunk("", _finish_reason(model._stream_stop_reason))
                last["usage"] = _usage(model)
                yield last
            finally:
                pieces.close()  # release the model now, even if the consumer stops early

        return events()
    text = "".join(pieces)
    out = chunk(text, _finish_reason(model._stream_stop_reason))
    out["usage"] = _usage(model)
    return out


def create_chat_completion(model: MTPModel, messages: list[dict[str, str]], *, stream: bool = False, **kwargs):
    """`/v1/chat/completions`: a chat.completion dict, or an iterator of chat.completion.chunk dicts."""
    check_messages(messages)
    gen, max_tokens, stop = _split_kwargs(dict(kwargs))
    model.check_options(max_tokens, **gen)  # a bad option fails here, not on the first read of a stream
    prompt = model.format_chat(messages)
    cid, created, name = f"chatcmpl-{uuid.uuid4()}", int(time.time()), model.metadata.name or "mtp-edge"
    pieces = model.stream(prompt, max_tokens, stop=stop, **gen)

    if stream:
        def events() -> Iterator[dict[str, Any]]:
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name}
            try:
                yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None,
                                            "finish_reason": None}]}
                for piece in pieces:
                    yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "logprobs": None,
                                                "finish_reason": None}]}
                yield {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                            "finish_reason": _finish_reason(model._stream_stop_reason)}],
                       "usage": _usage(model)}
            finally:
                pieces.close()  # release the model now, even if the consumer stops early

        return events()
    text = "".join(pieces)
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": _finish_reason(model._stream_stop_reason)}],
        "usage": _usage(model),
    }
