"""scripts/cuda_graph_key.sh on a stand-in of llama-cpp-python 0.3.36's source tree: the one-line change to the CUDA
graph cache key, applied once, and a clear refusal where the line is not the release's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "cuda_graph_key.sh"
STOCK = """static const void * ggml_cuda_graph_get_key(ggml_cgraph * cgraph) {
    return cgraph->nodes[0];
}
"""


def _tree(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-cuda" / "ggml-cuda.cu"
    f.parent.mkdir(parents=True)
    f.write_text(text)
    return f


def _run(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(folder)], capture_output=True, text=True)


def test_the_key_gains_the_pass_size_once(tmp_path):
    f = _tree(tmp_path, STOCK)
    assert _run(tmp_path).returncode == 0
    keyed = f.read_text()
    assert "cgraph->nodes[0]->ne[1]" in keyed and "return cgraph->nodes[0];" not in keyed
    again = _run(tmp_path)
    assert again.returncode == 0 and "already keyed" in again.stdout
    assert f.read_text() == keyed


def test_another_version_or_folder_is_refused_with_the_reason(tmp_path):
    _tree(tmp_path, STOCK.replace("return cgraph->nodes[0];", "return graph_key_of(cgraph);"))
    other = _run(tmp_path)
    assert other.returncode == 1 and "another version" in other.stderr
    missing = _run(tmp_path / "nowhere")
    assert missing.returncode == 1 and "unpacked llama-cpp-python source" in missing.stderr
