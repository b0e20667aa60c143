#!/usr/bin/env bash
# Checkpoint folder -> GGUF -> generate.
#
#   examples/convert_and_run.sh SRC [OUT.gguf] [PROMPT]
#
# SRC: a Hugging Face MTP checkpoint folder (config.json, *.safetensors, tokenizer.json, mtp_config.json),
# a hub repo id such as jwkirchenbauer/L3-1-8B-Magpie-MTP, or a .gguf base together with ADAPTER=DIR.
# Environment: OUTTYPE (default q8_0), ADAPTER (a LoRA adapter folder from `mtp-edge distill --lora-rank`),
# MAX_TOKENS (default 128), THREADS (default: all cores).
set -euo pipefail

src=${1:?usage: $0 SRC [OUT.gguf] [PROMPT]}
out=${2:-$(basename "${src%/}" .gguf)-mtp.${OUTTYPE:-q8_0}.gguf}
prompt=${3:-"What is 7 times 8?"}

convert=(mtp-edge convert "$src" --outfile "$out" --outtype "${OUTTYPE:-q8_0}" --force)
[ -n "${ADAPTER:-}" ] && convert+=(--adapter "$ADAPTER")
"${convert[@]}"

mtp-edge inspect "$out"

threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
# Plain decoding first, then MTP: the speed lines on stderr compare them.
mtp-edge generate -m "$out" "${threads[@]}" -p "$prompt" --chat -n "${MAX_TOKENS:-128}" --ntp
mtp-edge generate -m "$out" "${threads[@]}" -p "$prompt" --chat -n "${MAX_TOKENS:-128}"
