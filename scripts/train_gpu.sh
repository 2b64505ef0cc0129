#!/usr/bin/env bash
# The ZeRO-3 trainer on every visible NVIDIA GPU of this machine (accelerate launch, NCCL, bf16), then tokens/s
# and MFU. Not run in CI.
#   scripts/train_gpu.sh DATASET_DIR [extra `python -m prover.train.trainer` flags]
# DATASET_DIR: a `datasets` folder (load_from_disk) with string columns prompt and completion.
# Environment: MODEL (default: the bundled SmolLM2-135M-Instruct), OUT (runs/train-gpu), NGPU (nvidia-smi's
# count), BATCH (micro-batch per GPU, 16), GRAD_ACCUM (1), MAX_LEN (1024), LR (1e-5), MAX_STEPS (200; 0: use
# EPOCHS), EPOCHS (1), PEAK_FLOPS (peak dense FLOP/s per GPU; default 989e12, H100 SXM bf16).
# MFU = 6 * parameters * tokens/s / (PEAK_FLOPS * GPUs): useful (non-padding) tokens, the 6N rule for a
# forward + backward pass, attention's extra FLOPs and recomputation (gradient checkpointing) not counted.
# Several nodes: see the docstring of prover/train/launch.py.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:?usage: scripts/train_gpu.sh DATASET_DIR [trainer flags]}"
shift
[ -x .venv/bin/python ] || make setup
PY=.venv/bin/python
NGPU="${NGPU:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}"
if [ "$NGPU" -lt 1 ]; then echo "no NVIDIA GPU visible" >&2; exit 1; fi
MODEL="${MODEL:-$($PY -c 'from prover.generate.models import default_model_path; print(default_model_path())')}"
OUT="${OUT:-runs/train-gpu}"
PEAK_FLOPS="${PEAK_FLOPS:-989e12}"
echo "[train_gpu] $NGPU GPU(s), model $MODEL, data $DATA, out $OUT"
$PY -m prover.train.launch --nproc "$NGPU" -- --model "$MODEL" --data "$DATA" --out "$OUT" \
  --batch-size "${BATCH:-16}" --grad-accum "${GRAD_ACCUM:-1}" --max-len "${MAX_LEN:-1024}" --lr "${LR:-1e-5}" \
  --max-steps "${MAX_STEPS:-200}" --epochs "${EPOCHS:-1}" --warmup-steps "${WARMUP:-10}" \
  --save-every "${SAVE_EVERY:-0}" --precision "${PRECISION:-bf16}" "$@"
$PY - "$OUT/train_metrics.json" "$PEAK_FLOPS" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
peak, n, world = float(sys.argv[2]), m["n_params"], m["world_size"]
tps = m["tokens_per_second_steady"] or m["tokens_per_second"]
mfu = 6 * n * tps / (peak * world)
print(f"[train_gpu] world_size={world} params={n / 1e6:.1f}M steps={m['steps']} "
      f"s/step={m['seconds_per_step']:.3f} final_loss={m['final_loss']:.4f}")
print(f"[train_gpu] tokens/s={tps:.0f} ({tps / world:.0f} per GPU; whole run incl. first step "
      f"{m['tokens_per_second']:.0f}) MFU={100 * mfu:.2f}% (6N FLOPs/token, peak {peak:.3g} FLOP/s per GPU)")
PYEOF
