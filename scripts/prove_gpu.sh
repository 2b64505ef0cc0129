#!/usr/bin/env bash
# `make prove` scaled up for a machine with an NVIDIA GPU: the model on CUDA in bf16, several Lean servers
# searching at once (their generation requests batched together), a bigger budget. Not run in CI.
#   scripts/prove_gpu.sh [extra `python -m prover prove` flags, e.g. --model /path/to/checkpoint]
# For a bigger model served by vLLM instead: --generator openai+fixed --model http://localhost:8000/v1
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
exec .venv/bin/python -m prover prove --bench "${BENCH:-data/minif2f_core/valid.jsonl}" \
  --out "${OUT:-runs/prove-gpu}" --generator hf+fixed --gen-opt device=cuda --gen-opt dtype=bfloat16 \
  --workers "${WORKERS:-4}" \
  --budget "${BUDGET:-max_expansions=32,samples_per_expansion=16,wall_seconds=120,expand_batch=2}" \
  --baseline --resume "$@"
