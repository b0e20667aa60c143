"""Exact text edits to llama-cpp-python's sources, for the patch scripts beside this file (cuda_mmvq_fusion.sh,
cuda_mmvq_wide.sh, cpu_q8_0_ncols.sh): every edit is checked first, its old text found exactly once in the file as
it is, and nothing is written unless all are, so the source of another version is left as it was."""

from __future__ import annotations

import sys
from pathlib import Path


def apply_edits(script: str, folder: Path, edits: dict[str, list[tuple[str, str]]]) -> None:
    """Replace each (old, new) pair in folder/name, in order; exit with `script`'s message where one does not match."""
    texts = {name: (folder / name).read_text() for name in edits}
    for name, pairs in edits.items():
        for old, _ in pairs:
            if texts[name].count(old) != 1:
                sys.exit(f"{script}: the expected code of llama-cpp-python 0.3.36 is not in {folder / name} "
                         "(another version?)")
    for name, pairs in edits.items():
        for old, new in pairs:
            texts[name] = texts[name].replace(old, new)
        (folder / name).write_text(texts[name])
