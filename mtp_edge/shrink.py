"""Shrink a LoRA adapter to a lower rank: the best rank-r approximation of each module's update.

A LoRA update is delta = (alpha / r) * B @ A. Its truncated SVD at a lower rank is the closest update of that rank
(Eckart-Young), so a high-rank training run can ship within a size budget at a measured cost. The SVD is taken
through the two thin QR factors (B = Qb Rb, A^T = Qa Ra, then the r x r core Rb Ra^T), never through the
out x in product, so a 30-layer model shrinks in seconds with numpy alone (no torch).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class ShrinkReport:
    """What a shrink kept: per module, the share of the update's squared Frobenius norm retained."""

    rank_from: int
    rank_to: int
    retained: dict[str, float] = field(default_factory=dict)
    bytes_from: int = 0
    bytes_to: int = 0

    @property
    def min_retained(self) -> float:
        return min(self.retained.values()) if self.retained else 1.0

    @property
    def mean_retained(self) -> float:
        return float(np.mean(list(self.retained.values()))) if self.retained else 1.0


def truncate_lora_pair(a: np.ndarray, b: np.ndarray, scale: float, rank: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Best rank-`rank` factors (A', B') of scale * b @ a, with scale 1 folded in and split evenly between them.

    a: (r, in), b: (out, r). Returns A' (rank, in), B' (out, rank) and the share of ||scale * b @ a||_F^2 kept.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    qb, rb = np.linalg.qr(b64)            # (out, r), (r, r)
    qa, ra = np.linalg.qr(a64.T)          # (in, r), (r, r)
    u, s, vt = np.linalg.svd(rb @ ra.T)   # core of b @ a = qb (rb ra^T) qa^T
    s = s * scale
    total = float(np.sum(s ** 2))
    keep = min(rank, s.size)
    root = np.sqrt(s[:keep])
    new_b = (qb @ u[:, :keep]) * root          # (out, keep)
    new_a = (root[:, None] * vt[:keep]) @ qa.T  # (keep, in)
    retained = float(np.sum(s[:keep] ** 2)) / total if total > 0 else 1.0
    return new_a, new_b, retained


def shrink_adapter(src: str | Path, out: str | Path, rank: int) -> ShrinkReport:
    """Write `out`: the adapter folder `src` with every LoRA pair truncated to `rank` (alpha = rank, so scale 1).

    The other files of the folder (mask-token rows, mtp_config.json) are copied unchanged. The folder is written
    beside `out` and renamed into place, so a failure leaves no half-written adapter.
    """
    from safetensors.numpy import load_file, save_file

    src, out = Path(src), Path(out)
    config_path, weights_path = src / ADAPTER_CONFIG, src / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{src} is not a LoRA adapter folder: expected {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS} "
                                "(what `mtp-edge distill --lora-rank` writes)")
    if rank < 1:
        raise ValueError(f"--rank must be at least 1, got {rank}")
    if out.resolve() == src.resolve():
        raise ValueError("the output folder must differ from the adapter folder")
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new output folder or remove it")
    config = json.loads(config_path.read_text())
    for key in ("rank_pattern", "alpha_pattern"):
        if config.get(key):
            raise ValueError(f"{ADAPTER_CONFIG} has a {key}; per-module ranks are not supported")
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    if rank >= r:
        raise ValueError(f"the adapter's rank is {r}; --rank must be lower than that to shrink it")
    weights = load_file(str(weights_path))
    report = ShrinkReport(rank_from=r, rank_to=rank, bytes_from=weights_path.stat().st_size)
    shrunk: dict[str, np.ndarray] = {}
    for key, tensor in weights.items():
        if ".lora_A." in key:
            b_key = key.replace(".lora_A.", ".lora_B.")
            if b_key not in weights:
                raise ValueError(f"{ADAPTER_WEIGHTS} has {key} but no {b_key}")
            new_a, new_b, kept = truncate_lora_pair(tensor, weights[b_key], alpha / r, rank)
            shrunk[key], shrunk[b_key] = new_a.astype(tensor.dtype), new_b.astype(weights[b_key].dtype)
            report.retained[key.split(".lora_A.")[0]] = kept
        elif ".lora_B." not in key:
            shrunk[key] = tensor  # e.g. trainable rows saved beside the pairs: kept as they are
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for item in src.iterdir():
            if item.is_file() and item.name not in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
                shutil.copy2(item, staging / item.name)
        save_file(shrunk, str(staging / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        config.update(r=rank, lora_alpha=float(rank))
        (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        report.bytes_to = (staging / ADAPTER_WEIGHTS).stat().st_size
        staging.chmod(0o755)  # mkdtemp's folder is private; the adapter is an ordinary folder
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
