"""llama.cpp's tokenizer test vocabularies (ggml-vocab-*.gguf + .inp/.out), fetched from PyPI once.

They ship only in llama-cpp-python's source package; `pip download` brings it (about 80 MB, a minute),
and the vocab files are extracted into a cache folder that later runs reuse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"


def cache_dir() -> Path:
    root = os.environ.get("MTP_EDGE_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mtp-edge-tests")
    return Path(root) / f"llama-vocab-{VERSION}"


def fetch_llama_vocab() -> str | None:
    """The folder holding the vocab files, downloading them if needed; None if that is impossible."""
    target = cache_dir()
    if (target / "ggml-vocab-llama-bpe.gguf").is_file():
        return str(target)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "-d", tmp, f"llama-cpp-python=={VERSION}"]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            # --no-build-isolation needs the build backend installed; retry with pip's default.
            cmd.remove("--no-build-isolation")
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                return None
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"), None)
        if sdist is None:
            return None
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if "/vendor/llama.cpp/models/" in member.name and name.startswith("ggml-vocab-") and member.isfile():
                    member.name = name
                    tar.extract(member, partial, filter="data")
        partial.rename(target)  # complete or absent: never a half-filled cache
    return str(target)


if __name__ == "__main__":
    print(fetch_llama_vocab() or "")
