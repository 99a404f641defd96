#!/usr/bin/env bash
# Self-check of this server's CPU, GPUs and TPU: a few steps of an MRPC-shaped
# BERT fine-tune in float32, mixed precision and XLA, on one device and
# mirrored over all, each compared with a float32 run on the CPU; prints one
# table (step time, examples/s, MFU, loss delta, PASS/FAIL/SKIPPED) and exits 1
# if a row fails. Flags go to scripts/accelerator_check.py, e.g.
#   bash scripts/accelerator_check.sh --short
#   bash scripts/accelerator_check.sh --config=base --steps=20
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
exec "$VENV_PY" scripts/accelerator_check.py "$@"
