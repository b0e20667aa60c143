"""Which llama.cpp build this process runs: a fingerprint of the llama.cpp libraries it loaded.

A pass's cost belongs to the build as much as to the model: llama-cpp-python 0.3.36 built for the CPU, for CUDA,
with one CUDA graph per pass size (scripts/cuda_graph_key.sh) or with the multi-token kernel fusions
(scripts/cuda_mmvq_fusion.sh) all report the same version, and on an H100 the last two changed a pass of 2-8 tokens
by -6% to +8% (docs/RESULTS.md, sessions 16 and 24). Calibration curves carry this fingerprint in their key, so a
rebuilt or swapped llama.cpp (also one put first on LD_LIBRARY_PATH) is measured afresh instead of being priced
with the old build's curve.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

LIBRARY_PREFIXES = ("libllama", "libggml", "llama", "ggml")  # Linux/macOS names, then Windows DLLs


def _is_llama_library(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith(LIBRARY_PREFIXES) and (".so" in name or name.endswith((".dylib", ".dll")))


def loaded_llama_libraries() -> list[str]:
    """Paths of the llama.cpp libraries mapped into this process (Linux: /proc/self/maps, which sees a library
    loaded from LD_LIBRARY_PATH too); elsewhere, those shipped in llama-cpp-python's package."""
    import llama_cpp  # loads libllama and the ggml libraries it links

    found: set[str] = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and _is_llama_library(fields[5].strip()):
                    found.add(fields[5].strip())
    except OSError:
        pass
    if not found:
        lib_dir = Path(llama_cpp.__file__).resolve().parent / "lib"
        found = {str(p) for p in lib_dir.glob("*") if p.is_file() and _is_llama_library(p.name)}
    return sorted(found)


def fingerprint(paths: list[str]) -> str:
    """16 hex digits from each file's path, size and modification time: changes when a library is rebuilt."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            st = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


@functools.cache  # the libraries a process has mapped do not change; a key is built for every auto generation
def llama_build_id() -> str:
    """The fingerprint of the llama.cpp libraries this process runs."""
    return fingerprint(loaded_llama_libraries())
