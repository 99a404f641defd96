#!/usr/bin/env bash
# Continued pretraining end to end: create_pretraining_data.py on the shipped
# corpus (scripts/pretrain_corpus.txt, written for this project), then
# run_pretraining.py from the real all-MiniLM-L6-v2 weights (fresh MLM/NSP heads),
# evaluating masked-LM loss on held-out records before and after.
# Knobs: OUT, STEPS, BERT_BASE_DIR (your own model instead of MiniLM).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
OUT="${OUT:-out/pretrain_demo}"
STEPS="${STEPS:-60}"
default_bert_base_dir
fresh_output_dir "$OUT"
# Hold out the last 40 documents for evaluation.
"$VENV_PY" - "$OUT" <<'PY'
import sys
docs = open("scripts/pretrain_corpus.txt", encoding="utf-8").read().strip().split("\n\n")
out = sys.argv[1]
open(f"{out}/train.txt", "w", encoding="utf-8").write("\n\n".join(docs[:-40]) + "\n")
open(f"{out}/heldout.txt", "w", encoding="utf-8").write("\n\n".join(docs[-40:]) + "\n")
PY
for split in train heldout; do
  echo "== create_pretraining_data.py: $split"
  "$VENV_PY" create_pretraining_data.py --input_file="$OUT/$split.txt" \
    --output_file="$OUT/$split.tfrecord" --vocab_file="$BERT_BASE_DIR/vocab.txt" \
    --do_lower_case=True --max_seq_length=128 --max_predictions_per_seq=20 \
    --masked_lm_prob=0.15 --random_seed=12345 --dupe_factor=2 --num_workers=2 2>&1 \
    | grep -E "Summary:|error" || true
done
common=(--bert_config_file="$BERT_BASE_DIR/bert_config.json"
        --init_checkpoint="$BERT_BASE_DIR/bert_model.ckpt"
        --input_file="$OUT/train.tfrecord" --eval_input_file="$OUT/heldout.tfrecord"
        --max_seq_length=128 --max_predictions_per_seq=20 --eval_batch_size=16
        --max_eval_steps=20)
echo "== Held-out MLM loss before pretraining"
"$VENV_PY" run_pretraining.py "${common[@]}" --do_eval=true --output_dir="$OUT/before" \
  2>&1 | grep -E "\*\*\*\*\* eval_results|error" || true
echo "== run_pretraining.py: $STEPS steps"
"$VENV_PY" run_pretraining.py "${common[@]}" --do_train=true --do_eval=true \
  --output_dir="$OUT/after" --train_batch_size=16 --num_train_steps="$STEPS" \
  --num_warmup_steps=6 --learning_rate=1e-4 --log_steps=10 --save_checkpoints_steps=1000 \
  2>&1 | grep -E "step [0-9]+/|\*\*\*\*\* eval_results|error" || true
[ -f "$OUT/after/eval_results.txt" ] || { echo "pretrain_demo: failed" >&2; exit 1; }
echo "== $OUT/before/eval_results.txt"; cat "$OUT/before/eval_results.txt"
echo "== $OUT/after/eval_results.txt"; cat "$OUT/after/eval_results.txt"
