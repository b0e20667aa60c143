"""The cost of one llama_decode pass of n tokens on this machine, measured and cached (METHOD.md section 4).

`--k-max auto` chooses the masks per pass from this curve: a pass of a accepted tokens + m masks costs
cost(a + m), and on CPUs and small models that grows with n, so masks pay only when enough are accepted.

A curve is keyed by the model file (path, size, mtime), the backend (CPU/CUDA/Metal/...), the thread counts
and the llama-cpp-python version; a curve whose model file changed is stale and measured again. Curves live
in `user_cache_dir("mtp-edge")/curves` (env `MTP_EDGE_CACHE` overrides the folder) and are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .llama_build import llama_build_id

if TYPE_CHECKING:
    from .model import MTPModel

# 4: sizes timed largest first in each round (version 3 timed them smallest first, which priced a one-token pass
#    two passes after 32-token ones); 3: every size after passes of its own shape (2: only one token; 1: none)
CURVE_VERSION = 4
MAX_PASS = 32  # the policy's curve covers passes of 1..32 tokens
WARM_PASSES = 2  # untimed passes of the same size before each timed one (CUDA captures a graph on the 2nd)
# steady passes timed after them, each a sample: on a 2-core CPU one pass's time varies by +-15-25% (session 25),
# and a quick curve of one sample a size and round put a 3-token pass 23% over the loop's and 7 tokens 10% under
TIMED_PASSES = 3
QUICK_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 32)
FULL_SIZES = tuple(range(1, MAX_PASS + 1))
QUICK_DEPTHS = (128,)
FULL_DEPTHS = (64, 512, 1536)
POLICY_DEPTH = 512  # the curve handed to the policy: the measured depth nearest to this
SWITCH_PASS = 4  # the full calibration also prices a change of pass size between 1 token and this many


@dataclass
class CostCurve:
    """Median ms of one llama_decode of n tokens (logits on every row), per context depth."""

    key: dict  # what the curve is valid for (see curve_key)
    sizes: list[int]  # n values measured
    cost_ms: dict[int, list[float]]  # depth -> ms per pass, aligned with sizes
    repeats: int
    quick: bool  # measured by the few-second first-use calibration
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    switch_ms: float | None = None  # what a change of pass size adds (measure_switch_cost); full calibrations only

    @property
    def depths(self) -> list[int]:
        return sorted(self.cost_ms)

    def at_depth(self, depth: int = POLICY_DEPTH) -> list[float]:
        """ms of a pass of n = 1..32 tokens at the measured depth nearest `depth` (linear in n between sizes)."""
        nearest = min(self.cost_ms, key=lambda d: (abs(d - depth), d))
        return interpolate(self.sizes, self.cost_ms[nearest], MAX_PASS)

    def pass_cost(self) -> list[float]:
        """The curve for DecodeParams.pass_cost (index n-1 = cost of n tokens), made non-decreasing.

        A pass of more tokens does not cost less; where a noisy machine measured a dip, trusting it would
        make the policy chase a fluke into large passes, so the dip is lifted to the cost before it.
        """
        return monotone(self.at_depth(POLICY_DEPTH))

    def to_json(self) -> dict:
        d = asdict(self)
        d["version"] = CURVE_VERSION
        d["cost_ms"] = {str(k): v for k, v in self.cost_ms.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> CostCurve:
        if d.get("version") != CURVE_VERSION:
            raise ValueError(f"curve format {d.get('version')!r}, expected {CURVE_VERSION}")
        sizes = [int(n) for n in d["sizes"]]
        cost = {int(k): [float(x) for x in v] for k, v in d["cost_ms"].items()}
        if not sizes or sizes[0] != 1 or any(len(v) != len(sizes) for v in cost.values()) or not cost:
            raise ValueError("malformed cost curve")
        switch = d.get("switch_ms")
        return cls(dict(d["key"]), sizes, cost, int(d["repeats"]), bool(d["quick"]), str(d.get("created", "")),
                   None if switch is None else float(switch))


def interpolate(sizes: list[int], values: list[float], n_max: int) -> list[float]:
    """Values at n = 1..n_max, linear between measured sizes, the last slope extended past the end."""
    out = []
    for n in range(1, n_max + 1):
        if n >= sizes[-1]:
            out.append(values[-1] + (n - sizes[-1]) * _slope(sizes, values))
            continue
        hi = next(i for i, s in enumerate(sizes) if s >= n)
        if sizes[hi] == n:
            out.append(values[hi])
            continue
        frac = (n - sizes[hi - 1]) / (sizes[hi] - sizes[hi - 1])
        out.append(values[hi - 1] * (1 - frac) + values[hi] * frac)
    return out


def monotone(values: list[float]) -> list[float]:
    """The running maximum: the smallest non-decreasing curve at or above `values`."""
    out, top = [], float("-inf")
    for v in values:
        top = max(top, v)
        out.append(top)
    return out


def _slope(sizes: list[int], values: list[float]) -> float:
    if len(sizes) < 2:
        return values[0]
    return (values[-1] - values[-2]) / (sizes[-1] - sizes[-2])


# -- identity and cache ----------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where curves are cached: $MTP_EDGE_CACHE, else the platform's user cache folder for mtp-edge."""
    env = os.environ.get("MTP_EDGE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mtp-edge"))


def backend_name(n_gpu_layers: int) -> str:
    """The backend the passes run on: CPU unless layers are offloaded on a GPU build of llama-cpp-python."""
    import llama_cpp

    if n_gpu_layers == 0 or not llama_cpp.llama_supports_gpu_offload():
        return "CPU"
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    for name in ("CUDA", "Metal", "Vulkan", "HIP", "SYCL"):
        if name.lower() in info.lower():
            return name
    return "GPU"


# llama.cpp settings read from the environment that change what a pass of several tokens costs: CUDA's kernel
# fusions and graphs, the pass size up to which scripts/cuda_mmvq_fusion.sh's build fuses, whether
# scripts/cuda_mmvq_wide.sh's build widens the matmuls of 5-8-token passes, and whether scripts/cpu_q8_0_ncols.sh's
# build runs Q8_0 passes of 2-8 tokens with its own kernel
KERNEL_ENV_VARS = ("GGML_CUDA_DISABLE_FUSION", "GGML_CUDA_DISABLE_GRAPHS", "MTP_EDGE_MMVQ_FUSION_MAX_COLS",
                   "MTP_EDGE_MMVQ_WIDE", "MTP_EDGE_CPU_Q8_0_NCOLS")


def kernel_env() -> dict:
    """The KERNEL_ENV_VARS set in this process's environment, with their values."""
    return {name: os.environ[name] for name in KERNEL_ENV_VARS if os.environ.get(name, "") != ""}


def curve_key(model_path: str | os.PathLike, backend: str, threads: int, threads_batch: int,
              n_gpu_layers: int, flash_attn: bool = False, extra_buffers: bool = True,
              device_rows: bool = False) -> dict:
    """What a curve depends on. Size and mtime change when the model file is rewritten; the attention kernel
    changes the cost of a pass of several tokens, and so do llama.cpp's extra CPU weight buffers (repacked or
    AMX layouts; `llama_load`), top-1 rows computed in the pass's graph (`MTPModel(device_rows=...)`), the
    kernel settings of `KERNEL_ENV_VARS` (named only when one is set) and the llama.cpp build itself
    (`llama_build`: a rebuilt library overwrites its stale curve)."""
    path = Path(model_path).resolve()
    st = path.stat()
    try:
        llama_version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        llama_version = "unknown"
    return {"model": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "backend": backend,
            "threads": threads, "threads_batch": threads_batch, "n_gpu_layers": n_gpu_layers,
            "flash_attn": bool(flash_attn), "extra_buffers": bool(extra_buffers), "device_rows": bool(device_rows),
            "llama_cpp_python": llama_version, "llama_build": llama_build_id(),
            **({"kernel_env": env} if (env := kernel_env()) else {})}


def cache_path(key: dict) -> Path:
    """One file per (model path, backend, threads, attention kernel, weight buffers, device rows, kernel
    settings): a rewritten model overwrites its stale curve."""
    slot = {k: key.get(k) for k in ("model", "backend", "threads", "threads_batch", "n_gpu_layers", "flash_attn",
                                    "extra_buffers", "device_rows")}
    if "kernel_env" in key:
        slot["kernel_env"] = key["kernel_env"]
    digest = hashlib.sha256(json.dumps(slot, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "curves" / f"{Path(key['model']).stem[:40]}-{digest}.json"


def load_curve(key: dict) -> CostCurve | None:
    """The cached curve for `key`, or None when there is none or it is stale or unreadable."""
    path = cache_path(key)
    try:
        curve = CostCurve.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return curve if curve.key == key else None


def save_curve(curve: CostCurve) -> Path:
    """Write the curve atomically: a reader sees the old file or the new one, never half of one."""
    path = cache_path(curve.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".curve-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(curve.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def model_key(model: MTPModel) -> dict:
    llm = model.llama
    n_gpu_layers = int(llm.model_params.n_gpu_layers)
    return curve_key(llm.model_path, backend_name(n_gpu_layers), int(llm.n_threads), int(llm.n_threads_batch),
                     n_gpu_layers, flash_attn_on(llm), bool(llm.model_params.use_extra_bufts), model.device_rows)


def flash_attn_on(llm) -> bool:
    """Whether a llama_cpp.Llama was opened with llama.cpp's fused attention kernel."""
    import llama_cpp

    return int(llm.context_params.flash_attn_type) == int(llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED)


# -- measuring -------------------------------------------------------------------------------------------
def _filler(model: MTPModel, n: int) -> list[int]:
    """Ordinary text tokens (cost does not depend on which tokens, but keep them realistic)."""
    base = model.tokenize("The quick brown fox jumps over the lazy dog while the cat watches quietly. ",
                          add_bos=False) or [0]
    return (base * (n // len(base) + 1))[:n]


def measure_curve(model: MTPModel, *, sizes: tuple[int, ...] = QUICK_SIZES, depths: tuple[int, ...] = QUICK_DEPTHS,
                  repeats: int = 3, quick: bool = True) -> CostCurve:
    """Time llama_decode of n tokens after `depth` cached tokens, logits on every row, KV rolled back after each.

    The curve prices passes as the decode loop meets them: plain decoding repeats one-token passes, and with
    masks the loop feeds passes of one shape on a GPU (fixed_shape), where llama.cpp's CUDA backend replays a
    captured graph once a shape repeats (about half the cost of running it afresh). So each timed pass follows
    `WARM_PASSES` untimed passes of its own size, and `TIMED_PASSES` of them are timed in a row, each a sample of
    the median; rounds go over all sizes, which spreads a drift in machine
    speed over every size, largest first: on some CPUs a small pass runs slow for several passes after large
    ones (an Intel Xeon, session 22: the third one-token pass after 32-token passes 40% over a steady run of
    them), and plain decoding is a steady run of one-token passes. Leaves the model's cache empty.
    """
    import llama_cpp

    n_ctx, n_batch = model.n_ctx, int(model.llama.n_batch)
    sizes = tuple(s for s in sizes if s <= n_batch)
    if not sizes or sizes[0] != 1:
        raise ValueError("sizes must start at 1 and fit n_batch")
    depths = tuple(sorted({min(d, n_ctx - max(sizes) - 1) for d in depths if n_ctx - max(sizes) - 1 >= 1}))
    if not depths:
        raise ValueError(f"the context of {n_ctx} tokens is too small to calibrate passes of {max(sizes)} tokens")
    with model._lock:
        model._decoder.use_device_rows(model.device_rows)  # time the graph the decode loop runs
        ctx = model.llama._ctx.ctx
        mem = llama_cpp.llama_get_memory(ctx)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        tokens = _filler(model, max(depths) + max(sizes))
        try:
            cost: dict[int, list[float]] = {}
            for depth in depths:
                _fill_context(ctx, mem, batch, tokens[:depth], n_batch)
                samples: dict[int, list[float]] = {n: [] for n in sizes}
                for _ in range(repeats):
                    for n in sorted(sizes, reverse=True):
                        for i in range(WARM_PASSES + TIMED_PASSES):
                            dt = _decode(ctx, batch, tokens[depth:depth + n], depth, outputs=n)
                            llama_cpp.llama_memory_seq_rm(mem, 0, depth, -1)
                            if i >= WARM_PASSES:
                                samples[n].append(dt * 1e3)
                cost[depth] = [statistics.median(samples[n]) for n in sizes]
        finally:
            llama_cpp.llama_batch_free(batch)
    model.reset()  # the decoder's view of the cache must match the (now emptied) KV
    return CostCurve(model_key(model), list(sizes), cost, repeats, quick)


def _fill_context(ctx, mem, batch, tokens: list[int], n_batch: int) -> None:
    """Empty the KV, then decode `tokens` from position 0 in n_batch chunks: the context the timed passes attend to."""
    import llama_cpp

    llama_cpp.llama_memory_clear(mem, True)
    for start in range(0, len(tokens), n_batch):
        _decode(ctx, batch, tokens[start:start + n_batch], start, outputs=1)


def _decode(ctx, batch, tokens: list[int], pos: int, outputs: int) -> float:
    """One llama_decode of `tokens` at positions pos.., logits on the last `outputs` rows; seconds."""
    import llama_cpp

    n = len(tokens)
    batch.n_tokens = n
    for i, t in enumerate(tokens):
        batch.token[i] = t
        batch.pos[i] = pos + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if i >= n - outputs else 0
    t0 = time.perf_counter()
    rc = llama_cpp.llama_decode(ctx, batch)
    llama_cpp.llama_synchronize(ctx)
    dt = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"llama_decode failed with status {rc} while calibrating")
    return dt


def time_passes(model: MTPModel, sizes: list[int], depth: int, rounds: int) -> list[list[float]]:
    """ms of llama_decode passes of `sizes` tokens in that order after `depth` cached tokens, `rounds` times, the KV
    rolled back after each pass; leaves the model's cache empty."""
    import llama_cpp

    n_batch = int(model.llama.n_batch)
    with model._lock:
        model._decoder.use_device_rows(model.device_rows)  # time the graph the decode loop runs
        ctx = model.llama._ctx.ctx
        mem = llama_cpp.llama_get_memory(ctx)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        tokens = _filler(model, depth + max(sizes))
        try:
            _fill_context(ctx, mem, batch, tokens[:depth], n_batch)
            out = []
            for _ in range(rounds):
                row = []
                for n in sizes:
                    row.append(_decode(ctx, batch, tokens[depth:depth + n], depth, outputs=n) * 1e3)
                    llama_cpp.llama_memory_seq_rm(mem, 0, depth, -1)
                out.append(row)
        finally:
            llama_cpp.llama_batch_free(batch)
    model.reset()
    return out


def switch_blocks(n: int) -> list[int]:
    """Six one-token passes, then six of n: each block's last two passes are steady, its first ones follow a switch."""
    return [1] * 6 + [n] * 6


def measure_switch_cost(model: MTPModel, n: int = SWITCH_PASS, depth: int = POLICY_DEPTH, rounds: int = 5) -> float:
    """ms that a change of pass size (1 <-> n tokens) adds: the first two passes after it less two steady passes of
    its size, the median over rounds of both directions. ~0 on a CPU; on CUDA, where llama.cpp 0.3.36 keeps one
    captured graph for every pass size, ~4-5 ms each way on an H200 (docs/RESULTS.md, session 16)."""
    depth = max(1, min(depth, model.n_ctx - n - 1))
    rows = time_passes(model, switch_blocks(n) * 2, depth, rounds + 1)[1:]  # the first round warms both shapes
    extra = []
    for r in rows:
        steady_1, steady_n = (r[4] + r[5]) / 2, (r[10] + r[11]) / 2
        extra += [r[6] + r[7] - 2 * steady_n, r[12] + r[13] - 2 * steady_1]
    return statistics.median(extra)


def calibrate(model: MTPModel, *, full: bool = True, repeats: int | None = None, save: bool = True) -> CostCurve:
    """Measure the curve (full: n = 1..32 at three depths, and what a change of pass size costs; quick: 9 sizes at
    one depth) and cache it."""
    if full:
        curve = measure_curve(model, sizes=FULL_SIZES, depths=FULL_DEPTHS, repeats=repeats or 5, quick=False)
        curve.switch_ms = measure_switch_cost(model)
    else:
        curve = measure_curve(model, sizes=QUICK_SIZES, depths=QUICK_DEPTHS, repeats=repeats or 2, quick=True)
    if save:
        save_curve(curve)
    return curve


def cost_curve_for(model: MTPModel, *, notice=sys.stderr) -> CostCurve:
    """The model's cached curve, or a quick calibration (a few seconds) on first use, remembered per model."""
    key = model_key(model)
    cached = getattr(model, "_cost_curve", None)
    if cached is not None and cached.key == key:
        return cached
    curve = load_curve(key)
    if curve is None:
        if notice is not None:
            print("mtp-edge: measuring this machine's pass costs for --k-max auto (once per model; "
                  "`mtp-edge calibrate` measures the full curve)", file=notice, flush=True)
        curve = calibrate(model, full=False)
    model._cost_curve = curve
    return curve


def pass_cost_for(model: MTPModel) -> list[float]:
    """DecodeParams.pass_cost for `model` (cached curve or quick calibration)."""
    return cost_curve_for(model).pass_cost()
