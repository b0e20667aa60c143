"""Helpers for the product tests (demo, chat, server, examples): a small MTP GGUF built the demo's way."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

THREADS = "2"
N_MTP_TOKENS = 32
SMOLLM2_VOCAB = 49152
REPO = Path(__file__).resolve().parent.parent


def make_token_adapter(folder: Path, seed: int = 0, n_tokens: int = N_MTP_TOKENS, mask_mode: str = "single",
                       k_max: int = 4) -> Path:
    """An adapter folder with only `n_tokens` MTP token rows (random): the shape of the shipped one, no LoRA."""
    from mtp_edge.convert.checkpoint import write_safetensors

    folder.mkdir(parents=True, exist_ok=True)
    ids = list(range(SMOLLM2_VOCAB, SMOLLM2_VOCAB + n_tokens))
    rows = np.random.default_rng(seed).standard_normal((n_tokens, 576)).astype(np.float32) * 0.1
    write_safetensors(folder / "mtp_tokens.safetensors",
                      {"embed_rows": rows, "token_ids": np.asarray(ids, np.int64)})
    (folder / "mtp_tokens.json").write_text(json.dumps(
        {"tokens": [f"<|mtp_special_token_{i}|>" for i in range(n_tokens)], "ids": ids}))
    (folder / "mtp_config.json").write_text(json.dumps(
        {"mtp_version": 1, "mask_token": "<|mtp_special_token_0|>", "mask_mode": mask_mode, "k_max": k_max,
         "tau": 0.9, "prompt_format": "chat"}))
    return folder


def mtp_smollm2(base_temp: Path) -> Path:
    """SmolLM2 + random MTP tokens, built once per test session through the demo's cache."""
    from mtp_edge import demo

    adapter = base_temp / "token-adapter"
    if not adapter.exists():
        make_token_adapter(adapter)
    return demo.prepare_model(adapter, cache=base_temp / "cache", progress=False, log=lambda _: None).path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for `mtp-edge` subprocesses: unbuffered, no colours. They import the installed package,
    never the checkout (whose mtp_edge/ has no compiled _core and no convert/ mapped in)."""
    return dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", TERM="dumb", **extra)


def mtp_edge_cmd(*args: str) -> list[str]:
    """The installed `mtp-edge` script (as users run it); `python -m mtp_edge` would put the current folder,
    maybe the checkout, first on sys.path."""
    script = Path(sys.executable).with_name("mtp-edge")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-P", "-m", "mtp_edge", *args]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, poll: float = 0.2):
    """Poll `predicate` until truthy (returned) or fail naming `what` (a liveness bound, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode} while waiting for {what}")
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
