"""`mtp-edge bench`: MTP decoding modes against plain decoding and prompt-lookup decoding, side by side.

Every mode decodes the same prompts with the same threads; modes are interleaved per prompt and repeat so a
drift in machine speed hits all of them alike, and each figure is a median over repeats. Speedup is taken per
prompt against plain decoding through llama-cpp-python, then the median over prompts.

Agreement: for MTP modes, the loop's own measure (emitted tokens equal to plain greedy's choice after the same
prefix); for the prompt-lookup peer, the share of positions whose token equals plain decoding's output.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .answers import is_correct
from .calibrate import flash_attn_on
from .jsonl import read_jsonl
from .model import MTPModel

GSM8K_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gsm8k" / "test.jsonl"

# A few GSM8K test questions for when the data file is absent (answers after ####, as in the data set).
GSM8K_BUILTIN = [
    {"prompt": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
               "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
               "per fresh duck egg. How much in dollars does she make every day at the farmers' market?",
     "answer": "18"},
    {"prompt": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does "
               "it take?", "answer": "3"},
    {"prompt": "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 in "
               "repairs. This increased the value of the house by 150%. How much profit did he make?",
     "answer": "70000"},
    {"prompt": "James decides to run 3 sprints 3 times a week. He runs 60 meters each sprint. How many total "
               "meters does he run a week?", "answer": "540"},
]
CHAT_BUILTIN = [
    {"prompt": "Can you suggest a simple dinner I can cook in 20 minutes?"},
    {"prompt": "Write a short, friendly email telling my team the meeting moved to Thursday."},
    {"prompt": "What are three tips for sleeping better?"},
    {"prompt": "Explain what a compound interest is, in plain words."},
    {"prompt": "Give me a packing list for a weekend hiking trip."},
    {"prompt": "How do I politely decline an invitation to a party?"},
    {"prompt": "Summarize the plot of Romeo and Juliet in three sentences."},
    {"prompt": "What is the difference between weather and climate?"},
]


@dataclass
class Prompt:
    text: str
    answer: str | None = None


@dataclass
class Mode:
    """One row of the bench: how to decode, and what the JSON row says about it."""

    label: str
    mode: str  # "plain", "prompt_lookup", "confadapt", "static", "lossless", "confadapt_verify"
    k_max: int | str | None = None
    tau: float | None = None
    options: dict = field(default_factory=dict)  # MTPModel.generate options
    lookup_tokens: int = 0  # prompt lookup: tokens drafted per step


@dataclass
class Run:
    """One generation: its text, tokens and figures."""

    tokens: list[int]
    text: str
    decode_tps: float
    eff_k: float | None
    agreement: float | None
    ms_per_pass: float | None = None  # decode passes after the first
    guard_plain: float | None = None  # auto: share of decode passes the throughput guard kept plain
    shape_switch_ms: float | None = None  # auto: what a change of pass size cost here, as the decoder measured it
    trace: list[dict] | None = None  # per-pass records (MTPModel's trace option) when asked for


# -- prompts ---------------------------------------------------------------------------------------------
def load_prompts(spec: str, n: int | None = None) -> list[Prompt]:
    """`gsm8k`, `chat` or a JSONL file of {"prompt": ..., "answer": ...} (answer optional)."""
    if spec == "gsm8k":
        if GSM8K_FILE.exists():
            rows = [_gsm8k_row(r) for r in read_jsonl(GSM8K_FILE, ("question", "answer"), n)]
        else:
            rows = [Prompt(r["prompt"], r["answer"]) for r in GSM8K_BUILTIN]
    elif spec == "chat":
        rows = [Prompt(r["prompt"]) for r in CHAT_BUILTIN]
    else:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"prompt file {spec} does not exist (use gsm8k, chat or a .jsonl file)")
        rows = [Prompt(str(r["prompt"]), None if r.get("answer") is None else str(r["answer"]))
                for r in read_jsonl(path, ("prompt",), n)]
    rows = rows[:n] if n else rows
    if not rows:
        raise ValueError(f"no prompts in {spec}")
    return rows


def _gsm8k_row(r: dict) -> Prompt:
    return Prompt(r["question"], r["answer"].split("####")[-1].strip())


# -- modes -----------------------------------------------------------------------------------------------
def default_modes(model: MTPModel, k_sweep: Sequence[int], tau_sweep: Sequence[float],
                  lookup: Sequence[int], other_shape: bool = False, other_rows: bool = False) -> list[Mode]:
    """Plain, prompt lookup, k_max = 1, then (for a model with a mask token) the sweeps, auto, lossless and
    confadapt_verify.

    Passes with masks have one shape on a GPU (fixed_shape) and vary on a CPU by default; `other_shape` adds
    k_max 3, the trained k_max, auto and lossless with the other choice, to show what it changes. `other_rows`
    adds k_max = 1, auto and confadapt_verify auto with top-1 rows computed where the model's default does not
    (MTPModel's device_rows)."""
    modes = [Mode("plain (llama-cpp-python)", "plain", 1)]
    modes += [Mode(f"prompt lookup {n}", "prompt_lookup", n + 1, lookup_tokens=n) for n in lookup]
    modes.append(Mode("mtp-edge k_max=1", "confadapt", 1, options={"k_max": 1}))
    if not model.is_mtp:
        return modes
    tau = model.default_tau
    bound = model.metadata.k_max
    modes += [Mode(f"k_max={k}", "confadapt", k, tau, {"k_max": k, "tau": tau}) for k in k_sweep if 1 < k]
    modes += [Mode(f"auto tau={t:g}", "auto", "auto", t, {"k_max": "auto", "tau": t}) for t in tau_sweep if t != tau]
    modes.append(Mode("auto", "auto", "auto", tau, {"k_max": "auto", "tau": tau}))
    lossless_tau = model.tau_for("lossless")  # proposals are verified: a lower threshold than ConfAdapt's pays
    modes.append(Mode("lossless auto", "lossless", "auto", lossless_tau, {"k_max": "auto", "mode": "lossless"}))
    # ConfAdapt's confident prefix at once, the rows after it down to lossless's threshold verified next pass
    modes.append(Mode("confadapt_verify auto", "confadapt_verify", "auto", tau,
                      {"k_max": "auto", "mode": "confadapt_verify", "tau": tau}))
    # the same without prompt-lookup drafts in the masks' slots (on by default in the verifying modes)
    modes.append(Mode("confadapt_verify auto, no lookup", "confadapt_verify", "auto", tau,
                      {"k_max": "auto", "mode": "confadapt_verify", "tau": tau, "lookup_tokens": 0}))
    if other_shape:
        fixed = not model.on_gpu
        tag = "fixed shape" if fixed else "varying shape"
        other = {"fixed_shape": fixed, "tau": tau}
        modes += [Mode(f"k_max={k} {tag}", "confadapt", k, tau, {**other, "k_max": k})
                  for k in sorted({min(3, bound), bound}) if k > 1]
        modes.append(Mode(f"auto {tag}", "auto", "auto", tau, {**other, "k_max": "auto"}))
        modes.append(Mode(f"lossless auto {tag}", "lossless", "auto", lossless_tau,
                          {"fixed_shape": fixed, "k_max": "auto", "mode": "lossless"}))
    if other_rows:
        rows = {"device_rows": not model.device_rows}
        tag = "host rows" if model.device_rows else "device rows"
        modes.append(Mode(f"mtp-edge k_max=1 {tag}", "confadapt", 1, options={"k_max": 1, **rows}))
        modes.append(Mode(f"auto {tag}", "auto", "auto", tau, {"k_max": "auto", "tau": tau, **rows}))
        modes.append(Mode(f"confadapt_verify auto {tag}", "confadapt_verify", "auto", tau,
                          {"k_max": "auto", "mode": "confadapt_verify", "tau": tau, **rows}))
    for m in modes:  # the trained k_max bounds every sweep
        if isinstance(m.k_max, int) and m.mode == "confadapt" and m.k_max > bound:
            m.label += f" (> trained {bound})"
    return modes


# -- runners ---------------------------------------------------------------------------------------------
def _llama_run(llm, tokens: list[int], max_tokens: int,
               stops: frozenset[int]) -> tuple[list[int], float, int, float]:
    """Greedy through llama-cpp-python; (tokens, decode tok/s after the first token, llama eval calls,
    seconds after the first token).

    Ends at the same tokens as mtp-edge: the vocab's end-of-generation tokens and the model's stop ids.
    """
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    calls = 0
    inner_eval = llm.eval

    def counting_eval(batch):
        nonlocal calls
        calls += 1
        return inner_eval(batch)

    llm.eval = counting_eval
    out: list[int] = []
    t_first = None
    # generate(reset=True) still keeps the longest cached prefix; a run that re-feeds only the last prompt token
    # computes it in a one-token pass, which quantized kernels round differently (another greedy text)
    llm.reset()
    try:
        for tok in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
            if tok in stops or llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            out.append(tok)
            if t_first is None:
                t_first = time.perf_counter()
            if len(out) >= max_tokens:
                break
        elapsed = time.perf_counter() - t_first if t_first else 0.0
    finally:
        del llm.eval  # back to the class method
    tps = (len(out) - 1) / elapsed if elapsed > 0 and len(out) > 1 else 0.0
    return out, tps, calls, elapsed


def _positional_agreement(tokens: list[int], reference: list[int]) -> float | None:
    n = min(len(tokens), len(reference))
    return sum(a == b for a, b in zip(tokens, reference)) / n if n else None


@dataclass
class Engines:
    """What the modes run on: the MTP model and llama-cpp-python instances on the same file and threads."""

    model: MTPModel
    plain: object  # llama_cpp.Llama
    lookup: dict[int, object]  # drafted tokens -> llama_cpp.Llama with LlamaPromptLookupDecoding


def open_engines(model: MTPModel, lookup: Sequence[int], n_ctx: int) -> Engines:
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    from .llama_load import open_llama

    llm_args = dict(model_path=model.llama.model_path, n_ctx=n_ctx, n_threads=model.llama.n_threads,
                    n_threads_batch=model.llama.n_threads_batch, n_batch=512, n_ubatch=512,
                    n_gpu_layers=int(model.llama.model_params.n_gpu_layers), flash_attn=flash_attn_on(model.llama),
                    extra_buffers=bool(model.llama.model_params.use_extra_bufts), verbose=False)
    plain = open_llama(**llm_args)
    peers = {n: open_llama(**llm_args, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=n)) for n in lookup}
    return Engines(model, plain, peers)


def run_mode(engines: Engines, mode: Mode, tokens: list[int], max_tokens: int,
             reference: list[int] | None, track_agreement: bool = True, trace: bool = False) -> Run:
    """One generation in `mode`. Agreement tracking asks for logits on the re-fed rows, which costs time on a
    small model (an output row is ~20% of SmolLM2's pass): timed runs switch it off."""
    model = engines.model
    if mode.mode in ("plain", "prompt_lookup"):
        llm = engines.plain if mode.mode == "plain" else engines.lookup[mode.lookup_tokens]
        out, tps, calls, elapsed = _llama_run(llm, tokens, max_tokens, frozenset(model.stop_token_ids))
        agreement = 1.0 if mode.mode == "plain" else _positional_agreement(out, reference or out)
        # the first eval call is the prompt's; the time runs from the first token on
        ms = 1e3 * elapsed / (calls - 1) if calls > 1 else None
        return Run(out, model.detokenize(out), tps, len(out) / calls if calls else None, agreement, ms)
    result = model.generate(tokens, max_tokens, reuse_cache=False,
                            **{**mode.options, "track_agreement": track_agreement, "trace": trace})
    s = result.stats
    later = s.passes - 1
    return Run(result.tokens, result.text, s.decode_tps, s.eff_k, s.agreement,
               1e3 * s.decode_s / later if later > 0 else None,
               s.guard_plain_passes / later if later > 0 and mode.k_max == "auto" else None,
               s.shape_switch_ms if mode.k_max == "auto" else None,
               s.trace if trace else None)


# -- the bench -------------------------------------------------------------------------------------------
def bench(model: MTPModel, prompts: list[Prompt], modes: list[Mode], *, max_tokens: int = 128, repeats: int = 3,
          n_ctx: int = 2048, recalibrate: bool = True, progress: Callable[[str], None] | None = None,
          on_trace: Callable[[dict], None] | None = None,
          on_prompt_done: Callable[[list[dict], int], None] | None = None) -> list[dict]:
    """Run every mode on every prompt `repeats` times, interleaved; one JSON-ready row per mode.

    `on_prompt_done`, when given, receives the rows over the prompts finished so far and their count after each
    prompt, so that a long run stopped early (Ctrl-C, a lost machine) still leaves its measured part.

    `on_trace`, when given, receives the per-pass trace of every timed MTP run ({mode, prompt, repeat, passes}:
    what each pass fed, emitted, cost and whether the throughput guard allowed masks), to see where time goes.

    `recalibrate` measures a fresh quick pass-cost curve for `auto` first (and caches it), so the policy
    sees the machine as it is during this run rather than a curve cached under other conditions.
    """
    lookup = sorted({m.lookup_tokens for m in modes if m.mode == "prompt_lookup"})
    engines = open_engines(model, lookup, n_ctx)
    try:
        if any(m.k_max == "auto" for m in modes) and model.is_mtp:
            from .calibrate import calibrate, cost_curve_for

            if recalibrate:
                model._cost_curve = calibrate(model, full=False)
            cost_curve_for(model)  # calibrated now, not inside a timed run
        token_lists = [model.tokenize(model.format_chat([{"role": "user", "content": p.text}])) for p in prompts]
        for mode in modes:  # warm-up: first-use allocations stay out of the timings
            run_mode(engines, mode, token_lists[0], min(8, max_tokens), None)
        runs: dict[str, list[list[Run]]] = {m.label: [[] for _ in prompts] for m in modes}
        plain = next((m for m in modes if m.mode == "plain"), None)
        for i, tokens in enumerate(token_lists):
            reference = run_mode(engines, plain, tokens, max_tokens, None).tokens if plain else None  # untimed
            # MTP modes measure agreement by tracking, which costs time: one untimed tracked run each
            tracked = {m.label: run_mode(engines, m, tokens, max_tokens, reference).agreement
                       for m in modes if m.mode not in ("plain", "prompt_lookup")}
            for r in range(repeats):
                for mode in modes:
                    run = run_mode(engines, mode, tokens, max_tokens, reference, track_agreement=False,
                                   trace=on_trace is not None and mode.mode not in ("plain", "prompt_lookup"))
                    if run.trace is not None:
                        on_trace({"mode": mode.label, "prompt": i, "repeat": r, "passes": run.trace})
                        run.trace = None  # handed over: the rows do not keep it
                    if mode.label in tracked:
                        run.agreement = tracked[mode.label]  # same (greedy) output as the timed run
                    runs[mode.label][i].append(run)
                if progress:
                    progress(f"prompt {i + 1}/{len(prompts)}, repeat {r + 1}/{repeats}")
            if on_prompt_done and i + 1 < len(prompts):
                on_prompt_done(_rows(modes, runs, prompts, i + 1), i + 1)
        return _rows(modes, runs, prompts, len(prompts))
    finally:
        engines.plain.close()
        for llm in engines.lookup.values():
            llm.close()
        model.reset()


def _rows(modes: list[Mode], runs: dict[str, list[list[Run]]], prompts: list[Prompt], done: int) -> list[dict]:
    """One row per mode over the first `done` prompts."""
    plain = runs[modes[0].label][:done]
    return [_row(mode, runs[mode.label][:done], plain, prompts[:done]) for mode in modes]


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _row(mode: Mode, runs: list[list[Run]], plain: list[list[Run]], prompts: list[Prompt]) -> dict:
    """Medians over repeats per prompt, then over prompts; speedup per prompt against plain."""
    tps = [_median([r.decode_tps for r in rs]) for rs in runs]
    plain_tps = [_median([r.decode_tps for r in rs]) for rs in plain]
    speedups = [a / b for a, b in zip(tps, plain_tps) if a and b]
    answered = [(rs[0].text, p.answer) for rs, p in zip(runs, prompts) if p.answer is not None]
    same_as_plain = sum(rs[0].tokens == ps[0].tokens for rs, ps in zip(runs, plain))
    return {
        "label": mode.label, "mode": mode.mode, "k_max": mode.k_max, "tau": mode.tau,
        "eff_k": _median([_median([r.eff_k for r in rs]) for rs in runs]),
        "decode_tps": _median(tps), "speedup": _median(speedups),
        "agreement": _median([_median([r.agreement for r in rs]) for rs in runs]),
        "ms_per_pass": _median([_median([r.ms_per_pass for r in rs]) for rs in runs]),
        "guard_plain": _median([_median([r.guard_plain for r in rs]) for rs in runs]),
        "shape_switch_ms": _median([_median([r.shape_switch_ms for r in rs]) for rs in runs]),
        "accuracy": sum(is_correct(t, a) for t, a in answered) / len(answered) if answered else None,
        "same_text_as_plain": same_as_plain, "prompts": len(prompts),
        "tokens": statistics.mean(len(rs[0].tokens) for rs in runs),
    }


def plot(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Speedup over plain decoding against agreement, one labelled point per mode (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for row in rows:
        if row["speedup"] is None:
            continue
        x = row["agreement"] if row["agreement"] is not None else 1.0
        ax.scatter(x, row["speedup"], s=36)
        ax.annotate(row["label"], (x, row["speedup"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("agreement with plain greedy decoding")
    ax.set_ylabel("decode speedup over plain decoding (x)")
    ax.set_title(title or "mtp-edge bench", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
