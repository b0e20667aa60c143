"""What a generation returns (GenerationStats, GenerationResult) and the text-stream helpers of MTPModel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass
class GenerationStats:
    """What one generation cost and how much the masks contributed."""

    prompt_tokens: int
    reused_tokens: int
    tokens: int
    passes: int
    eff_k: float  # tokens per pass, the prefill pass included
    accept_hist: list[int]  # accept_hist[a] = passes that emitted a tokens
    masks_hist: list[int]  # masks_hist[m] = passes that appended m masks
    prefill_s: float
    decode_s: float
    decode_tps: float  # tokens after the first pass / time of the passes after the first
    agreement: float | None  # emitted tokens equal to plain greedy's choice, of those checked
    mask_agreement: float | None  # the same over mask-row tokens only
    mask_tokens: int
    checked: int
    llama_decode_s: float = 0.0  # of decode_s, the time inside llama_decode (the rest is the loop's own)
    guard_plain_passes: int = 0  # auto: passes the throughput guard kept plain (masks measured slower)
    shape_switch_ms: float = 0.0  # auto: measured cost of a change of pass size on this machine (CUDA: ~10 ms)
    device_rows: bool = False  # top-1 rows computed in llama.cpp's graph (MTPModel's device_rows)
    proposed: int = 0  # lossless mode
    proposals_accepted: int = 0
    lookup_proposed: int = 0  # prompt-lookup draft tokens fed (lookup_tokens > 0), of the proposals above
    lookup_accepted: int = 0  # ... of which verified
    acceptance_at: list[float] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationResult:
    text: str
    tokens: list[int]
    stop_reason: str  # "stop", "length", "context" or "interrupted"
    stats: GenerationStats


class Utf8Stream:
    """Turns token bytes into text without ever splitting a UTF-8 character."""

    def __init__(self) -> None:
        self._buffer = b""

    def push(self, data: bytes) -> str:
        self._buffer += data
        for cut in range(len(self._buffer), max(len(self._buffer) - 4, -1), -1):
            try:
                text = self._buffer[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._buffer = self._buffer[cut:]
            return text
        return ""

    def flush(self) -> str:
        text = self._buffer.decode("utf-8", errors="replace")
        self._buffer = b""
        return text


def partial_stop_len(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that could still grow into one of `stops`."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


def stats_from_decoder(raw: dict, greedy: bool, stopped: bool) -> GenerationStats:
    """GenerationStats from the decoder's raw stats (`_core.Decoder.stats`) of a greedy or sampled generation that
    did or did not end at a stop token."""
    tokens, passes = raw["generated"], raw["passes"]
    # The stop token a pass produced is not emitted, but it was predicted: Eff. k counts it, so that a
    # last pass that only produced the end token does not pull tokens per pass below 1.
    produced = tokens + (1 if stopped else 0)
    ntp_tokens = tokens - raw["mask_tokens"]
    checked, agreed = raw["checked"], raw["agreed"]
    # At temperature 0 a first-row token is plain greedy's choice by construction.
    agree_n = agreed + (ntp_tokens if greedy else 0)
    agree_d = checked + (ntp_tokens if greedy else 0)
    later = tokens - raw["first_pass_tokens"]
    proposed_at, accepted_at = raw["proposed_at"], raw["accepted_at"]
    return GenerationStats(
        prompt_tokens=raw["prompt_tokens"],
        reused_tokens=raw["reused_tokens"],
        tokens=tokens,
        passes=passes,
        eff_k=produced / passes if passes else 0.0,
        accept_hist=list(raw["accept_hist"]),
        masks_hist=list(raw["masks_hist"]),
        prefill_s=raw["prefill_s"],
        decode_s=raw["decode_s"],
        decode_tps=later / raw["decode_s"] if raw["decode_s"] > 0 else 0.0,
        agreement=agree_n / agree_d if agree_d else None,
        mask_agreement=agreed / checked if checked else None,
        mask_tokens=raw["mask_tokens"],
        checked=checked,
        llama_decode_s=raw["llama_decode_s"],
        guard_plain_passes=raw["guard_plain_passes"],
        shape_switch_ms=raw["shape_switch_ms"],
        device_rows=raw["device_rows"],
        proposed=raw["proposed"],
        proposals_accepted=raw["proposals_accepted"],
        lookup_proposed=raw["lookup_proposed"],
        lookup_accepted=raw["lookup_accepted"],
        acceptance_at=[a / p for a, p in zip(accepted_at, proposed_at) if p],
        trace=list(raw["trace"]),
    )
