# sourced by every call: the carried wheels on the path, the checkout importable
if [ ! -f /tmp/site/.ok ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && touch /tmp/site/.ok
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p /tmp/gg /tmp/data /tmp/run
# NVLink multicast stays off (the workplace's rule for multi-GPU machines), also for processes torchrun starts
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# the checkout runs as the package (python3 -m puts it first on the path), and pyproject installs convert/ as
# mtp_edge.convert, which distill imports too (session 27's first start of job AM died of it): the same layout here
[ -e mtp_edge/convert ] || cp -r convert mtp_edge/convert
