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

import os

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import cli
import errors
import modeling
import run_info
import tasks
import training
from choice_data import convert_examples, read_examples


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
  modeling.check_sentence_pairs(bert_config, "Multiple-choice inputs (context, ending)")
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


def train(f, trainer, features, info):
  """Writes run_info.json and fine-tunes (resuming if output_dir has a run)."""
  if trainer.chief:
    run_info.write_run_info(f.output_dir, info, f.vocab_file)
  num_examples = len(features["label_ids"])

  trainer.train(lambda: tf.data.Dataset.from_tensor_slices(features), num_examples,
                description=f"{num_examples} examples of {f.num_choices} "
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
  trainer = cli.build_trainer(f, tasks.MultipleChoiceTask(bert_config),
                              len(splits["train"]["label_ids"]) if "train" in splits else 0,
                              info)
  # Created only now: bad data or a bad checkpoint must leave no output_dir.
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  if f.do_train:
    train(f, trainer, splits["train"], info)
  if f.do_eval:
    training.report_results(f.output_dir, evaluate(f, trainer, splits["dev"]), trainer.chief)
  if f.do_predict:
    probabilities = trainer.predict([splits["test"]], f.predict_batch_size)["probabilities"]
    if trainer.chief:
      atomic_files.write_rows(os.path.join(f.output_dir, "test_results.tsv"), probabilities)


def console_main():
  """The `bert-run-multiple-choice` command: the flags of `python run_multiple_choice.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
