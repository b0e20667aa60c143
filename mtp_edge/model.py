"""MTPModel: load a GGUF through llama-cpp-python, decode through the C++ MTP loop."""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Literal

from ._abi import check_llama_cpp_version, context_pointer, libllama_handle
from .metadata import MASK_TOKEN_TEXT, MTPMetadata, mask_token_text, read_metadata

check_llama_cpp_version()

import llama_cpp  # noqa: E402  (after the version check, so a wrong version fails with the fix)

from . import _core  # noqa: E402
from .generation import (  # noqa: E402
    GenerationResult,
    GenerationStats,
    Utf8Stream,
    partial_stop_len,
    stats_from_decoder,
)
from .llama_load import open_llama  # noqa: E402

Mode = Literal["confadapt", "static", "lossless", "confadapt_verify"]
MODES = ("confadapt", "static", "lossless", "confadapt_verify")
# Lossless mode's default proposal threshold. A wrong proposal costs a verified row, never output quality, so
# proposing below ConfAdapt's 0.9 pays: run-3 SmolLM2-MTP, k_max 6, tokens per pass at tau 0.9 / 0.7 / 0.5 / 0.3 /
# 0.1: GSM8K 1.76 / 2.21 / 2.39 / 2.36 / 2.33, chat 1.48 / 1.63 / 1.77 / 1.87 / 1.84 (docs/RESULTS.md, lossless).
LOSSLESS_TAU = 0.5
# confadapt_verify: ConfAdapt emits its confident prefix (tau) at once; the mask rows after it that clear
# propose_tau (default LOSSLESS_TAU) are proposed and verified by the next pass, as lossless mode does.

# Decoding options of generate/stream/stream_tokens and their defaults (None: the model's default).
# Prompt-lookup drafts per pass at most, by default in the verifying greedy modes: the policy
# (lookup_draft_length) decides per pass how many of them beat the masks whose slots they take.
LOOKUP_TOKENS = 8
# Slots past the trained k_max that auto may give a verifying pass (lossless, confadapt_verify): such a pass feeds
# the last pass's proposals and the drafts before its masks, so at the trained size they crowd the masks out. The
# masks that reach untrained slots only propose (DecodeParams.trusted_masks). H200, session 17, confadapt_verify
# GSM8K at one pass size: 4 / 6 / 8 tokens 1.69x / 1.71x / 1.80x plain; 9 and more cost twice as much a pass.
VERIFY_EXTRA_SLOTS = 2

DECODE_OPTIONS: dict[str, object] = {
    "k_max": None,  # tokens per pass at most (k_max - 1 masks); 1 = plain; "auto" = cost-aware (calibrate.py)
    "tau": None,  # threshold on the top-1 probability of each mask row (None: tau_for(mode))
    # "confadapt", "static" (accept all k), "lossless" (verify before emitting) or "confadapt_verify" (emit the
    # confident prefix, verify the less confident rows after it)
    "mode": "confadapt",
    "propose_tau": None,  # confadapt_verify: the proposal threshold (None: LOSSLESS_TAU)
    "temperature": 0.0,  # 0 = greedy
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "repeat_penalty": 1.0,
    "seed": None,
    "stop_token_ids": None,  # in addition to the model's end-of-generation tokens
    "track_agreement": True,  # read the rows over re-fed tokens to measure agreement with greedy
    "pass_cost": None,  # cost of a pass of n tokens (index n-1): selects the cost-aware mask policy
    "trace": False,  # record what each pass did in GenerationStats.trace
    # passes with masks always feed k_max tokens (a GPU replays graphs of repeated shapes); None: on a GPU only
    "fixed_shape": None,
    # lossless and confadapt_verify (greedy): where the text ends in an n-gram seen before, up to this many tokens
    # of what followed it are drafted into slots the masks would fill, and verified by the same pass (0: off;
    # None: LOOKUP_TOKENS in those modes at temperature 0)
    "lookup_tokens": None,
    # top-1 rows computed in llama.cpp's graph for this generation (None: as the model was opened, `device_rows`)
    "device_rows": None,
}


def _release_model(state: dict) -> None:
    """The decoder first (it points into the context), then llama-cpp-python's model and context."""
    state["_decoder"] = None
    state["llama"].close()


class MTPModel:
    """A GGUF model decoded with multi-token prediction.

    Loads through `llama_cpp.Llama` (tokenizer, chat template, CPU/CUDA/Metal backend options) and decodes
    through mtp-edge's C++ loop, which feeds accepted tokens plus k-1 mask tokens per pass and keeps the
    confident prefix (ConfAdapt), all k tokens (static), or only tokens verified by the next pass (lossless).

    Args:
        model_path: a .gguf file.
        n_ctx: context length in tokens (prompt + output).
        n_threads, n_threads_batch: CPU threads for one-token and batched passes (default: all cores).
        n_gpu_layers: layers offloaded to the GPU (-1 = all) on a CUDA/Metal build of llama-cpp-python. With
            layers on a GPU, passes with masks all have k_max tokens by default (`fixed_shape`), so the GPU can
            replay its captured graph (`on_gpu` says whether this applies).
        n_batch: tokens per llama_decode call during prefill.
        flash_attn: llama.cpp's fused attention kernel. None (the default): on with layers on a GPU, off on a CPU.
            llama-cpp-python leaves it off everywhere; on an H200 it made every mode faster (plain decoding +13-18%,
            confadapt_verify +4-13%), on a 2-core CPU it changed little (docs/RESULTS.md, session 14). The
            calibration cache keeps one curve for each setting.
        extra_buffers: llama.cpp's extra CPU weight buffers (repacked and AMX layouts). None (the default): off
            where llama.cpp reports AMX, whose matrix product crashed quantized files on an AMX CPU (llama.cpp
            #20824; `mtp_edge.llama_load`), on elsewhere.
        device_rows: greedy passes' top-1 tokens and probabilities computed in llama.cpp's graph (its backend
            sampling) instead of copying every row's logits to the host and reducing them there. Off by default:
            on an H200 llama.cpp's per-row kernels cost ~0.033 ms a row more than the copy (docs/RESULTS.md,
            session 20); a backend where copies are dear may differ (`mtp-edge bench --compare-rows` tells).
            Sampling and repeat penalties read whole rows and turn it off for their generation.
        k_max, tau: defaults for generation; None takes "auto" for k_max when the file has a mask token (masks
            per pass chosen from this machine's measured pass costs, up to the file's `mtp.k_max`), and the
            file's `mtp.tau`.
        mask_token_id: override the file's mask token.
        verbose: let llama.cpp print its loading log.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_gpu_layers: int = 0,
        n_batch: int = 512,
        flash_attn: bool | None = None,
        extra_buffers: bool | None = None,
        device_rows: bool = False,
        k_max: int | str | None = None,
        tau: float | None = None,
        mask_token_id: int | None = None,
        verbose: bool = False,
        **llama_kwargs,
    ) -> None:
        self.metadata: MTPMetadata = read_metadata(model_path)
        if n_ctx < 2:
            raise ValueError(f"n_ctx = {n_ctx} is too small")
        threads = n_threads or os.cpu_count() or 1
        # Layers on a GPU: passes with masks get one shape (fixed_shape), which the GPU can replay as a graph,
        # and the fused attention kernel is on unless asked otherwise.
        on_gpu = n_gpu_layers != 0 and bool(llama_cpp.llama_supports_gpu_offload())
        self.llama = open_llama(
            model_path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=n_threads_batch or threads,
            n_gpu_layers=n_gpu_layers,
            n_batch=n_batch,
            n_ubatch=n_batch,
            flash_attn=on_gpu if flash_attn is None else flash_attn,
            extra_buffers=extra_buffers,
            verbose=verbose,
            **llama_kwargs,
        )
        self._decoder = _core.Decoder(libllama_handle(), context_pointer(self.llama))
        self.device_rows = self._decoder.use_device_rows(bool(device_rows))
        # Free the decoder, then llama.cpp's context, when the model is collected or at the latest at interpreter
        # exit, before a GPU backend's own teardown (an unordered teardown can crash a CUDA process at exit).
        self._release = weakref.finalize(self, _release_model, self.__dict__)
        self._lock = threading.Lock()
        self.n_ctx = self._decoder.n_ctx
        self.n_vocab = self._decoder.n_vocab
        self.on_gpu = on_gpu

        self.mask_token_id = mask_token_id if mask_token_id is not None else self._find_mask_token()
        if self.mask_token_id is not None and not 0 <= self.mask_token_id < self.n_vocab:
            raise ValueError(f"mask_token_id = {self.mask_token_id} is outside the vocab of {self.n_vocab} tokens")
        if k_max is None or (k_max == "auto" and not self.is_mtp):
            k_max = "auto" if self.is_mtp else 1
        self.default_k_max: int | str = "auto" if k_max == "auto" else self._check_k_max(k_max, quiet=True)
        self.default_tau = self._check_tau(tau if tau is not None else self.metadata.tau)
        self.prompt_format = self.metadata.prompt_format
        self.stop_token_ids = tuple(self.metadata.stop_token_ids)

    # -- setup -------------------------------------------------------------------------------------
    def _find_mask_token(self) -> int | None:
        if self.metadata.mask_token_id is not None:
            return self.metadata.mask_token_id
        ids = self.llama.tokenize(MASK_TOKEN_TEXT.encode(), add_bos=False, special=True)
        if len(ids) == 1 and self.llama.detokenize(ids, special=True) == MASK_TOKEN_TEXT.encode():
            return ids[0]
        return None

    def _check_k_max(self, k_max: int, quiet: bool = False) -> int:
        if isinstance(k_max, bool) or not isinstance(k_max, int):
            raise ValueError(f"k_max must be an integer >= 1, got {k_max!r}")
        if k_max < 1:
            raise ValueError(f"k_max = {k_max} must be >= 1 (1 = plain next-token decoding)")
        if k_max >= self.n_ctx:
            raise ValueError(f"k_max = {k_max} does not fit the context of {self.n_ctx} tokens")
        if k_max > 1 and self.mask_token_id is None:
            if quiet:
                return 1  # a model without a mask token defaults to plain decoding
            raise ValueError(
                f"this model has no mask token ({MASK_TOKEN_TEXT} / tokenizer.ggml.mask_token_id), so it "
                "runs only with k_max = 1; convert an MTP checkpoint with `mtp-edge convert`"
            )
        return k_max

    @staticmethod
    def _check_tau(tau: float) -> float:
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or not 0 < tau <= 1:
            raise ValueError(f"tau = {tau!r} must be in (0, 1]")
        return float(tau)

    def tau_for(self, mode: str = "confadapt") -> float:
        """The threshold a generation in `mode` uses when none is given: the model's tau (ConfAdapt, static),
        or LOSSLESS_TAU for lossless mode, where a confident-enough mask row only proposes a token."""
        return LOSSLESS_TAU if mode == "lossless" else self.default_tau

    @property
    def is_mtp(self) -> bool:
        """True when the model has a mask token (so k_max > 1 is possible)."""
        return self.mask_token_id is not None

    # -- prompts -----------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        """Tokens of `text`, special tokens parsed, BOS added as the model wants."""
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.llama.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text for a conversation, in the model's prompt format (chat template or plain)."""
        from .prompts import format_messages

        return format_messages(self, messages)

    # -- generation --------------------------------------------------------------------------------
    def check_options(self, max_tokens: int = 256, **options) -> None:
        """Raise ValueError/TypeError now for options that generate/stream would refuse (e.g. before a
        server starts streaming a response)."""
        self._params(max_tokens, options)

    def _params(self, max_tokens: int, options: dict):
        unknown = set(options) - set(DECODE_OPTIONS)
        if unknown:
            raise TypeError(f"unknown decoding options: {', '.join(sorted(unknown))}")
        o = {**DECODE_OPTIONS, **options}
        mode, temperature = o["mode"], o["temperature"]
        if mode not in MODES:
            raise ValueError(f"mode = {mode!r}: use one of {', '.join(MODES)}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ValueError(f"max_tokens = {max_tokens!r} must be an integer >= 0")
        if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature = {temperature!r} must be >= 0")
        if mode == "lossless" and temperature > 0 and o["repeat_penalty"] != 1.0:
            raise ValueError("lossless sampling keeps the output distribution exact only without a repeat penalty")
        if mode == "confadapt_verify" and (temperature > 0 or o["repeat_penalty"] != 1.0):
            raise ValueError("confadapt_verify decodes greedily without a repeat penalty: for sampling use "
                             "mode='confadapt' or mode='lossless'")
        p = _core.DecodeParams()
        p.mode = mode
        k_max = self.default_k_max if o["k_max"] is None else o["k_max"]
        pass_cost = o["pass_cost"]
        if k_max == "auto":  # the trained k_max bounds the masks; the cost curve picks how many per pass
            k_max = self._check_k_max(self.metadata.k_max, quiet=True)
            if k_max > 1 and mode in ("lossless", "confadapt_verify"):
                k_max += self._untrained_mask_slots(k_max - 1)
            if k_max > 1 and pass_cost is None:
                from .calibrate import pass_cost_for

                pass_cost = pass_cost_for(self)
        p.k_max = self._check_k_max(k_max)
        p.tau = self._check_tau(self.tau_for(mode) if o["tau"] is None else o["tau"])
        p.propose_tau = self._check_tau(LOSSLESS_TAU if o["propose_tau"] is None else o["propose_tau"])
        if mode == "confadapt_verify" and p.propose_tau > p.tau:
            raise ValueError(f"propose_tau = {p.propose_tau:g} is above tau = {p.tau:g}: rows that clear tau are "
                             "emitted at once, so only a lower propose_tau proposes anything")
        p.mask_id = -1 if self.mask_token_id is None else self.mask_token_id
        p.mask_range = self.metadata.mask_mode == "range"
        p.max_tokens = max_tokens
        stops = list(self.stop_token_ids) + [int(s) for s in (o["stop_token_ids"] or [])]
        for s in stops:
            if not 0 <= s < self.n_vocab:
                raise ValueError(f"stop token id {s} is outside the vocab of {self.n_vocab}")
        p.stop_ids = stops
        p.track_agreement = bool(o["track_agreement"])
        if o["fixed_shape"] is not None and not isinstance(o["fixed_shape"], bool):
            raise ValueError(f"fixed_shape = {o['fixed_shape']!r} must be True, False or None (on a GPU only)")
        p.fixed_shape = self.on_gpu if o["fixed_shape"] is None else o["fixed_shape"]
        p.pass_cost = [float(c) for c in (pass_cost or [])]
        p.temperature = float(temperature)
        p.top_k, p.top_p, p.min_p = int(o["top_k"]), float(o["top_p"]), float(o["min_p"])
        p.repeat_penalty = float(o["repeat_penalty"])
        p.seed = 0xFFFFFFFF if o["seed"] is None else int(o["seed"]) & 0xFFFFFFFF
        p.trace = bool(o["trace"])
        lookup = o["lookup_tokens"]
        if lookup is None:
            lookup = LOOKUP_TOKENS if mode in ("lossless", "confadapt_verify") and temperature == 0 else 0
        if isinstance(lookup, bool) or not isinstance(lookup, int) or not 0 <= lookup <= 32:
            raise ValueError(f"lookup_tokens = {lookup!r} must be an integer from 0 (off) to 32")
        if lookup and (mode not in ("lossless", "confadapt_verify") or temperature > 0):
            raise ValueError(f"lookup_tokens needs drafts verified greedily: use mode='confadapt_verify' or "
                             f"'lossless' at temperature 0 (got mode={mode!r}, temperature={temperature:g})")
        p.lookup_tokens = lookup
        if o["device_rows"] is not None and not isinstance(o["device_rows"], bool):
            raise ValueError(f"device_rows = {o['device_rows']!r} must be True, False or None (as the model was opened)")
        p.device_rows = -1 if o["device_rows"] is None else int(o["device_rows"])
        p.trusted_masks = max(1, self.metadata.k_max - 1)
        return p

    def _untrained_mask_slots(self, trained_masks: int) -> int:
        """How many of VERIFY_EXTRA_SLOTS mask slots past the trained ones this vocab holds: range masks need
        their own mask tokens there (an id past them is an ordinary token), one shared mask token always fits."""
        if self.mask_token_id is None:
            return 0
        if self.metadata.mask_mode != "range":
            return VERIFY_EXTRA_SLOTS
        slots = 0
        while slots < VERIFY_EXTRA_SLOTS:
            j = trained_masks + slots
            token = self.mask_token_id + j
            if token >= self.n_vocab or self.llama.detokenize([token], special=True) != mask_token_text(j).encode():
                break
            slots += 1
        return slots

    def _prompt_tokens(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, str):
            if not prompt:
                raise ValueError("empty prompt")
            tokens = self.tokenize(prompt)
        else:
            tokens = [int(t) for t in prompt]
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(
                f"the prompt has {len(tokens)} tokens, which leaves no room in the context of {self.n_ctx}; "
                "shorten it or load the model with a larger n_ctx"
            )
        bad = [t for t in tokens if not 0 <= t < self.n_vocab]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the vocab of {self.n_vocab} tokens")
        return tokens

    def stream_tokens(self, prompt: str | Sequence[int], max_tokens: int = 256, *, reuse_cache: bool = True,
                      **options) -> Iterator[list[int]]:
        """Yield the tokens each pass accepts; `last_stats()` has the stats afterwards.

        Options (see DECODE_OPTIONS): k_max, tau, mode ("confadapt", "static", "lossless", "confadapt_verify"),
        propose_tau, temperature, top_k, top_p, min_p, repeat_penalty, seed, stop_token_ids, track_agreement,
        pass_cost, trace, fixed_shape, lookup_tokens, device_rows.
        Stopping early (closing the generator, Ctrl-C) leaves the model usable: between passes the KV
        cache only ever holds committed tokens.
        """
        params = self._params(max_tokens, options)
        tokens = self._prompt_tokens(prompt)
        with self._lock:
            self._begin(tokens, reuse_cache, params)
            while not self._decoder.done:
                chunk = self._decoder.step()
                if chunk:
                    yield list(chunk)

    def _begin(self, tokens: list[int], reuse_cache: bool, params) -> None:
        self._greedy = params.temperature == 0
        self._decoder.begin(tokens, len(tokens) if reuse_cache else 0, params)
        self.llama.n_tokens = 0  # llama-cpp-python's own prefix cache no longer matches the KV

    def last_stats(self) -> GenerationStats:
        """Stats of the most recent generation (also of one stopped early)."""
        greedy, stopped = getattr(self, "_greedy", True), self._decoder.stop_reason == "stop"
        return stats_from_decoder(self._decoder.stats, greedy, stopped)

    @property
    def last_stop_reason(self) -> str:
        return self._decoder.stop_reason or "interrupted"

    def generate(self, prompt: str | Sequence[int], max_tokens: int = 256, *, stop: Sequence[str] | None = None,
                 reuse_cache: bool = True, **options) -> GenerationResult:
        """Generate a completion of `prompt` (text or token ids).

        Returns the text, the tokens, the stop reason ("stop", "length" or "context") and GenerationStats.
        `stop` strings end generation where they appear; options as for `stream_tokens`.
        """
        if stop:
            text = "".join(self.stream(prompt, max_tokens, stop=stop, reuse_cache=reuse_cache, **options))
            return GenerationResult(text, self._stream_tokens_seen, self._stream_stop_reason, self.last_stats())
        params = self._params(max_tokens, options)
        tokens = self._prompt_tokens(prompt)
        with self._lock:
            self._begin(tokens, reuse_cache, params)
            out = list(self._decoder.run())  # the whole loop in C++, Ctrl-C checked between passes
        text = self.llama.detokenize(out).decode("utf-8", errors="replace")
        return GenerationResult(text, out, self._decoder.stop_reason, self.last_stats())

    def stream(self, prompt: str | Sequence[int], max_tokens: int = 256, *, stop: Sequence[str] | None = None,
               **kwargs) -> Iterator[str]:
        """Yield text as passes accept tokens, never splitting a UTF-8 character.

        Keyword options: k_max, tau, mode ("confadapt", "static", "lossless", "confadapt_verify"), propose_tau,
        temperature, top_k, top_p, min_p, repeat_penalty, seed, stop (strings), stop_token_ids, track_agreement,
        reuse_cache.
        """
        stops = [s for s in (stop or []) if s]
        utf8 = Utf8Stream()
        held = ""  # text not yet yielded: it might be the start of a stop string
        self._stream_tokens_seen = []
        self._stream_stop_reason = "interrupted"
        for chunk in self.stream_tokens(prompt, max_tokens, **kwargs):
            self._stream_tokens_seen.extend(chunk)
            held += utf8.push(self.llama.detokenize(chunk))
            hits = [held.find(s) for s in stops if s in held]
            if hits:
                self._stream_stop_reason = "stop"
                if min(hits) > 0:
                    yield held[: min(hits)]
                return
            safe = len(held) - partial_stop_len(held, stops)
            if safe > 0:
                yield held[:safe]
                held = held[safe:]
        held += utf8.flush()
        if held:
            yield held
        self._stream_stop_reason = self._decoder.stop_reason or "interrupted"

    def reset(self) -> None:
        """Forget the KV cache (call after using `self.llama` directly for other generations)."""
        with self._lock:
            self._decoder.clear_cache()
            self.llama.n_tokens = 0

    # -- OpenAI-shaped API -------------------------------------------------------------------------
    def create_completion(self, prompt: str, **kwargs):
        """An OpenAI-style text completion dict (or an iterator of chunks with stream=True)."""
        from .completions import create_completion

        return create_completion(self, prompt, **kwargs)

    def create_chat_completion(self, messages: list[dict[str, str]], **kwargs):
        """An OpenAI-style chat completion dict (or an iterator of chunks with stream=True)."""
        from .completions import create_chat_completion

        return create_chat_completion(self, messages, **kwargs)

    def close(self) -> None:
        """Free the model and its context now (also done when the model is collected, and at exit)."""
        self._release()

    def __enter__(self) -> MTPModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
