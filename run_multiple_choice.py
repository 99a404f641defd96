r"""BERT fine-tuning for multiple choice: SWAG (the BERT paper's setup) and your own data.

Each choice i of an example is `[CLS] context [SEP] prefix ending_i [SEP]`; BERT
reads every choice, one shared vector scores its pooled output, and a softmax
over the choices gives the answer.

  python run_multiple_choice.py --do_train=true --do_eval=true \
    --data_dir=$SWAG_DIR --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
    --train_batch_size=16 --learning_rate=2e-5 --num_train_epochs=3.0 --output_dir=$OUT

Files: SWAG's train.csv / val.csv / test.csv (columns sent1, sent2, ending0..,
label), or JSON lines (.jsonl/.json) of
{"context": ..., "prefix" (or "question"): ..., "endings": [...], "label": k}.
"""

import dataclasses
import json
import os

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import data_files
import cli
import errors
import run_info
import tasks
import tokenization
import training

FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids")


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("data_dir", None, "Folder with the SWAG .csv (or .jsonl) files.")
  flags.DEFINE_integer("num_choices", 4, "Candidate endings per example.")
  cli.define_task_flags(help_text={
      "max_seq_length": "Tokens per choice after WordPiece, with [CLS]/[SEP]; longer "
                        "inputs are truncated."})
  flags.DEFINE_string("train_file", "train.csv", "Training file in data_dir.")
  flags.DEFINE_string("dev_file", "val.csv", "Dev file in data_dir.")
  flags.DEFINE_string("test_file", "test.csv", "Test file in data_dir.")


# ------------------------------------------------------------------------ data


@dataclasses.dataclass
class MultipleChoiceExample:
  """One question: a context, an ending prefix and the candidate endings."""
  guid: str
  context: str
  prefix: str
  endings: list          # num_choices str
  label: int = 0         # index of the right ending (0 for unlabeled test data)


def _check_label(value, num_choices, path, line):
  try:
    label = int(str(value).strip())
  except ValueError:
    label = None
  if label is None or not 0 <= label < num_choices:
    raise errors.DataError(
        f"{path}, line {line}: label {value!r} is not a choice index in "
        f"0..{num_choices - 1} (--num_choices={num_choices}).")
  return label


def read_swag_csv(path, num_choices, labeled, split):
  """Examples of a SWAG CSV file (header with sent1, sent2, ending0.., label)."""
  rows = data_files.read_rows(path, delimiter=",", quotechar='"',
                              expected="a SWAG CSV file")
  if not rows:
    raise errors.DataError(f"{path}: the file is empty; expected a SWAG CSV file.")
  header = rows[0]
  endings = [c for c in header if c.startswith("ending")]
  required = ["sent1", "sent2"] + [f"ending{i}" for i in range(num_choices)]
  required += ["label"] if labeled else []
  missing = [c for c in required if c not in header]
  if missing or len(endings) != num_choices:
    raise errors.DataError(
        f"{path}, line 1: the header {','.join(header)} needs the columns "
        f"{','.join(required)} and exactly {num_choices} ending columns "
        f"(--num_choices={num_choices}); missing: {','.join(missing) or 'none'}.")
  column = {name: header.index(name) for name in required}
  examples = []
  for row in rows[1:]:
    if len(row) < len(header):
      raise errors.DataError(
          f"{path}, line {row.line_number}: {len(row)} columns, the header has "
          f"{len(header)}.")
    label = (_check_label(row[column["label"]], num_choices, path, row.line_number)
             if labeled else 0)
    examples.append(MultipleChoiceExample(
        f"{split}-{len(examples)}", row[column["sent1"]], row[column["sent2"]],
        [row[column[f"ending{i}"]] for i in range(num_choices)], label))
  return examples


def read_json_lines(path, num_choices, labeled, split):
  """Examples of a JSON-lines file of {context, prefix|question, endings, label}."""
  lines = data_files.read_text(path, "a JSON-lines file").splitlines()
  examples = []
  for n, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as e:
      raise errors.DataError(f"{path}, line {n}: invalid JSON: {e.msg}") from None
    endings = record.get("endings") if isinstance(record, dict) else None
    if not isinstance(endings, list) or "context" not in record or (
        labeled and "label" not in record):
      raise errors.DataError(
          f"{path}, line {n}: expected an object with context, endings"
          f"{', label' if labeled else ''} (and prefix or question).")
    if len(endings) != num_choices:
      raise errors.DataError(
          f"{path}, line {n}: {len(endings)} endings; --num_choices={num_choices}.")
    label = _check_label(record["label"], num_choices, path, n) if labeled else 0
    prefix = record.get("prefix", record.get("question", ""))
    examples.append(MultipleChoiceExample(f"{split}-{len(examples)}", record["context"],
                                          prefix or "", [str(e) for e in endings], label))
  return examples


def read_examples(data_dir, file_name, num_choices, labeled, split):
  """The examples of data_dir/file_name; raises DataError for a bad or empty file."""
  path = os.path.join(data_dir, file_name)
  if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
    raise errors.DataError(
        f"{path}: file not found (--{split}_file={file_name}); expected a SWAG CSV "
        "or a .jsonl file.")
  reader = (read_json_lines if file_name.endswith((".jsonl", ".json")) else read_swag_csv)
  examples = reader(path, num_choices, labeled, split)
  if not examples:
    raise errors.DataError(f"{path}: no examples in the file.")
  return examples


def convert_example(example, max_seq_length, tokenizer):
  """{input_ids, input_mask, segment_ids}: int32 [num_choices, max_seq_length] each."""
  rows = {key: [] for key in FEATURE_KEYS}
  context = tokenizer.tokenize(example.context)
  for ending in example.endings:
    tokens_a = list(context)
    tokens_b = tokenizer.tokenize(f"{example.prefix} {ending}".strip())
    # Account for [CLS], [SEP], [SEP]; the longer side loses tokens first, as
    # run_classifier's pairs.
    while len(tokens_a) + len(tokens_b) > max_seq_length - 3:
      (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
    padding = [0] * (max_seq_length - len(tokens))
    rows["input_ids"].append(tokenizer.convert_tokens_to_ids(tokens) + padding)
    rows["input_mask"].append([1] * len(tokens) + padding)
    rows["segment_ids"].append([0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                               + padding)
  return {key: np.array(value, np.int32) for key, value in rows.items()}


def convert_examples(examples, max_seq_length, tokenizer, what="the examples"):
  """Features of all examples: int32 [N, C, S] arrays and label_ids [N].

  Logs a WARNING naming `what` (str) when many word pieces are [UNK].
  """
  counter = tokenization.UnknownTokenCounter(tokenizer)
  features = [convert_example(e, max_seq_length, counter) for e in examples]
  counter.log_warning(what)
  arrays = {key: np.stack([f[key] for f in features]) for key in FEATURE_KEYS}
  arrays["label_ids"] = np.array([e.label for e in examples], np.int32)
  return arrays


# ------------------------------------------------------------------------ model


def validate_flags(f):
  """Checks every flag before any work; raises errors.UserError."""
  cli.check_task_flags(f)
  if f.num_choices < 2:
    raise errors.UserError(f"--num_choices={f.num_choices} must be at least 2.")
  cli.check_room_for_text(f.max_seq_length)


def prepare(f):
  """Checks flags and model files, reads and featurizes every split (writes nothing).

  Returns:
    (BertConfig, {split: features}) with splits "train", "dev", "test" as asked.
  """
  validate_flags(f)
  bert_config, tokenizer = cli.load_model_files(f)
  wanted = [("train", f.train_file, f.do_train), ("dev", f.dev_file, f.do_eval),
            ("test", f.test_file, f.do_predict)]
  splits = {}
  for split, file_name, asked in wanted:
    if asked:
      examples = read_examples(f.data_dir, file_name, f.num_choices,
                               labeled=split != "test", split=split)
      splits[split] = convert_examples(examples, f.max_seq_length, tokenizer,
                                       f"the {split} file {file_name}")
      logging.info("%s: %d examples from %s", split, len(examples), file_name)
  return bert_config, splits


def build_run_info(f, bert_config):
  """What inference.py and export need to use the trained model."""
  return {"task_kind": "multiple_choice", "num_choices": f.num_choices,
          "bert_config": bert_config.to_dict(), "vocab_file": os.path.abspath(f.vocab_file),
          "do_lower_case": f.do_lower_case, "max_seq_length": f.max_seq_length}


def build_trainer(f, bert_config, num_train_examples, info):
  """The Trainer with weights restored; raises before output_dir is created."""
  num_train_steps, num_warmup_steps = cli.train_steps(f, num_train_examples)
  config = cli.training_config(f, num_train_steps, num_warmup_steps)
  cli.check_resume(f, config, info)
  trainer = training.Trainer(tasks.MultipleChoiceTask(bert_config), config,
                             cli.strategy_from_flags(f))
  cli.restore(trainer, f)
  return trainer


def train(f, trainer, features, info):
  """Writes run_info.json and fine-tunes (resuming if output_dir has a run)."""
  if trainer.chief:
    run_info.write_run_info(f.output_dir, info, f.vocab_file)
  num_examples = len(features["label_ids"])

  def dataset_fn(ctx, batch_size, consumed):
    records = tf.data.Dataset.from_tensor_slices(features)
    return training.training_dataset(records, num_examples, batch_size, f.seed, consumed,
                                     input_context=ctx,
                                     length_bucketing=trainer.length_bucketing,
                                     sorted_group_size=trainer.sorted_group_size)

  trainer.train(dataset_fn, description=f"{num_examples} examples of {f.num_choices} "
                f"choices, {f.num_train_epochs:g} epochs")


def evaluate(f, trainer, features):
  """eval_accuracy, eval_loss, loss and global_step on the dev features."""
  outputs = trainer.predict([features], f.eval_batch_size)
  accuracy = float(np.mean(np.argmax(outputs["logits"], -1) == features["label_ids"]))
  eval_loss = float(np.mean(outputs["per_example_loss"]))
  return {"eval_accuracy": accuracy, "eval_loss": eval_loss, "loss": eval_loss,
          "global_step": run_info.evaluated_step(trainer.global_step, f.init_checkpoint)}


def run(f):
  """Train / evaluate / predict as the flags say (parsed flags `f`)."""
  bert_config, splits = prepare(f)
  info = build_run_info(f, bert_config)
  trainer = build_trainer(f, bert_config, len(splits["train"]["label_ids"])
                          if "train" in splits else 0, info)
  # Created only now: bad data or a bad checkpoint must leave no output_dir.
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  if f.do_train:
    train(f, trainer, splits["train"], info)
  if f.do_eval:
    training.report_results(f.output_dir, evaluate(f, trainer, splits["dev"]), trainer.chief)
  if f.do_predict:
    probabilities = trainer.predict([splits["test"]], f.predict_batch_size)["probabilities"]
    if trainer.chief:
      run_info.write_rows(os.path.join(f.output_dir, "test_results.tsv"), probabilities)


def console_main():
  """The `bert-run-multiple-choice` command: the flags of `python run_multiple_choice.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
