r"""BERT fine-tuning for sentence (pair) classification and regression: GLUE and your own data.

Runs the reference's commands unchanged, e.g.

  python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
    --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
    --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 --output_dir=$OUT
"""

import dataclasses
import os

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import classifier_data
import cli
import errors
import feature_cache
import metrics
import modeling
import run_info
import tasks
import tokenization
import training

# Names users import from the reference's run_classifier.py.
from classifier_data import (  # pylint: disable=unused-import
    DataProcessor, InputExample, InputFeatures, PaddingInputExample,
    convert_examples_to_features, convert_single_example,
    file_based_convert_examples_to_features)
from processors import (  # pylint: disable=unused-import
    ColaProcessor, MnliProcessor, MrpcProcessor, XnliProcessor)


# The custom task's string flags, each the custom_processor.CsvProcessor option
# of the same name: {flag: help after "Custom task: "}.
CUSTOM_TASK_OPTIONS = {
    "train_file": "training file in data_dir (.tsv, .csv, .jsonl or .json; default "
                  "train.tsv).",
    "dev_file": "dev file in data_dir (default dev.tsv).",
    "test_file": "test file in data_dir (default test.tsv).",
    "text_a_column": "column (name or 0-based index) of the first text.",
    "text_b_column": "column of the second text.",
    "label_column": "column of the label.",
    "delimiter": "field delimiter (default: tab for .tsv, comma for .csv).",
}


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("data_dir", None, "Folder with the task's .tsv (or custom) files.")
  flags.DEFINE_string("task_name", None, "Task: " + ", ".join(sorted(classifier_data.PROCESSORS)))
  cli.define_task_flags()
  # Ours: evaluation during training, users' own data, submissions.
  flags.DEFINE_integer("eval_every_steps", 0, "Evaluate on the dev set every this many "
                       "updates during training, keeping the best checkpoint in "
                       "output_dir/best (0: only at the end).")
  flags.DEFINE_integer("early_stopping_patience", 0, "Stop after this many evaluations "
                       "without improvement of the task's main metric (0: never).")
  for name, text in CUSTOM_TASK_OPTIONS.items():
    flags.DEFINE_string(name, None, f"Custom task: {text}")
  flags.DEFINE_enum("has_header", "auto", ["auto", "true", "false"],
                    "Custom task: whether the first row is a header.")
  flags.DEFINE_string("labels", None, "Custom task: comma-separated label list "
                      "(default: read from the training file).")
  flags.DEFINE_boolean("regression", False, "Custom task: the labels are numbers (scores, "
                       "as STS-B's): one output, Pearson and Spearman correlations.")
  flags.DEFINE_integer("log_examples", 0, "Log the tokens and ids of this many first "
                       "examples of each split (the reference logged 5).")
  flags.DEFINE_string("glue_submission_dir", None, "Also write the GLUE-benchmark "
                      "submission file of the test predictions here.")
  flags.DEFINE_string("cache_dir", None, "Write the feature caches (train/eval/predict"
                      ".tf_record) here instead of output_dir, so that runs on the same "
                      "data and model files share them (run_grid.py does).")


def _custom_options(f):
  """Options of the users'-own-data processor, from the flags."""
  header = {"auto": None, "true": True, "false": False}[f.has_header]
  labels = [x.strip() for x in f.labels.split(",")] if f.labels else None
  options = {name: getattr(f, name) for name in CUSTOM_TASK_OPTIONS}
  options.update(has_header=header, labels=labels, is_regression=f.regression or None)
  return {k: v for k, v in options.items() if v is not None}


def validate_flags(f):
  """Checks every flag and file before any work; raises errors.UserError."""
  cli.check_task_flags(f, required=("task_name", "output_dir"))
  cli.check_room_for_text(f.max_seq_length)
  if f.cache_dir:
    cli.require_creatable_dir(f.cache_dir, "cache_dir")
  if f.eval_every_steps and not f.do_train:
    raise errors.UserError("--eval_every_steps needs --do_train.")
  if f.eval_every_steps and f.output_dir:   # the best checkpoint's folder, made mid-run
    cli.require_creatable_dir(os.path.join(f.output_dir, "best"), "output_dir")
  if f.early_stopping_patience > 0 and f.do_train and not f.eval_every_steps:
    raise errors.UserError(f"--early_stopping_patience={f.early_stopping_patience} counts "
                           "evaluations during training; add --eval_every_steps=N.")
  custom = [name for name in [*CUSTOM_TASK_OPTIONS, "labels"] if getattr(f, name) is not None]
  if f.has_header != "auto":
    custom.append("has_header")
  if f.regression:
    custom.append("regression")
    if f.labels is not None:
      raise errors.UserError("--labels is for classes; --regression reads numbers as labels. "
                             "Drop one of the two.")
  if custom and f.task_name.lower() not in ("csv", "custom"):
    # Ignored, a GLUE task would read its own files and labels silently.
    raise errors.UserError(
        f"--{custom[0]} is an option of --task_name=custom (your own data); "
        f"--task_name={f.task_name} reads its own files and labels from --data_dir. "
        "Drop the flag, or use --task_name=custom.")
  if f.glue_submission_dir:
    if not f.do_predict:
      raise errors.UserError("--glue_submission_dir needs --do_predict.")
    if f.task_name.lower() not in classifier_data.GLUE_SUBMISSION_NAMES:
      raise errors.UserError(
          f"--glue_submission_dir: --task_name={f.task_name} has no GLUE submission "
          f"file; accepted: {', '.join(sorted(classifier_data.GLUE_SUBMISSION_NAMES))}.")
    cli.require_creatable_dir(f.glue_submission_dir, "glue_submission_dir")


def cached_features(split, examples, label_list, tokenizer, cache_dir, meta,
                    max_seq_length, is_regression, log_examples=0):
  """Writes (or reuses) `<split>.tf_record` in cache_dir; returns its path.

  `meta` (feature_cache.make_cache_meta) is the cache's key: a cache built
  from other examples, vocabulary, casing, length or labels is rebuilt.
  """
  path = os.path.join(cache_dir, f"{split}.tf_record")
  if classifier_data.cache_is_valid(path, meta):
    logging.info("Reusing cached features %s", path)
    # The [UNK] warning of the run that built the cache, again.
    tokenization.warn_if_mostly_unknown(
        feature_cache.read_cache_meta(path).get("unknown_tokens"),
        f"the examples of {os.path.basename(path)}", tokenizer.vocab_file)
    return path
  classifier_data.file_based_convert_examples_to_features(
      examples, label_list, max_seq_length, tokenizer, path, is_regression=is_regression,
      meta=meta, log_examples=log_examples)
  return path


def load_feature_chunks(path, max_seq_length, is_regression, chunk_size=8192):
  """Cached features as numpy chunks for prediction."""
  dataset = classifier_data.file_based_dataset(path, max_seq_length, False, is_regression)
  return dataset.batch(chunk_size).as_numpy_iterator()


def evaluate(trainer, path, setup):
  """Dev-set metrics with the reference's keys plus the task's official ones."""
  f, is_regression = setup.flags, setup.is_regression
  outputs = trainer.predict(load_feature_chunks(path, f.max_seq_length, is_regression),
                            f.eval_batch_size)
  labels = np.concatenate([c["label_ids"] for c in
                           load_feature_chunks(path, f.max_seq_length, is_regression)])
  real = np.concatenate([c["is_real_example"] for c in
                         load_feature_chunks(path, f.max_seq_length, is_regression)]) > 0
  predictions = (outputs["logits"][:, 0] if is_regression
                 else np.argmax(outputs["logits"], axis=-1))
  results = metrics.classification_metrics(
      setup.processor.metric_kind, labels[real], predictions[real], setup.label_list)
  eval_loss = float(np.mean(outputs["per_example_loss"][real]))
  results.update(eval_loss=eval_loss, loss=eval_loss,
                 global_step=run_info.evaluated_step(trainer.global_step, f.init_checkpoint))
  return results


def load_label_list(processor, f):
  """The task's labels; custom tasks read them from data or a trained run's labels.txt."""
  if processor.is_regression:
    return []
  return processor.get_labels(data_dir=f.data_dir, label_dirs=cli.trained_label_dirs(f),
                              trained_head=not f.do_train)


@dataclasses.dataclass
class Setup:
  """Everything read and checked before any output is written."""
  flags: object
  bert_config: modeling.BertConfig
  tokenizer: tokenization.FullTokenizer
  task_name: str
  processor: classifier_data.DataProcessor
  label_list: list
  is_regression: bool
  train_examples: list
  dev_examples: list
  test_examples: list
  info: dict    # what run_info.json records
  cache_dir: str = None   # where feature caches go (default: output_dir)

  def features_for(self, split, examples):
    f = self.flags
    meta = feature_cache.make_cache_meta(
        self.task_name, f.vocab_file, f.do_lower_case, examples, f.max_seq_length,
        self.label_list, self.is_regression)
    return cached_features(split, examples, self.label_list, self.tokenizer,
                           self.cache_dir or f.output_dir, meta, f.max_seq_length,
                           self.is_regression, f.log_examples)


def prepare(f):
  """Checks flags, model files and data, reading every input (nothing is written)."""
  validate_flags(f)
  bert_config, tokenizer = cli.load_model_files(f)
  task_name = f.task_name.lower()
  # The name as typed, so that an unknown one is quoted back unchanged.
  processor = classifier_data.get_processor(f.task_name, **(
      _custom_options(f) if task_name in ("csv", "custom") else {}))
  label_list = load_label_list(processor, f)
  is_regression = processor.is_regression
  info = {"task_name": task_name, "label_list": label_list,
              "bert_config": bert_config.to_dict(), "is_regression": is_regression,
              "vocab_file": os.path.abspath(f.vocab_file),
              "do_lower_case": f.do_lower_case, "max_seq_length": f.max_seq_length}
  examples = dict(
      train_examples=processor.get_train_examples(f.data_dir) if f.do_train else None,
      dev_examples=(processor.get_dev_examples(f.data_dir)
                    if f.do_eval or f.eval_every_steps else None),
      test_examples=processor.get_test_examples(f.data_dir) if f.do_predict else None)
  if any(e.text_b for split in examples.values() for e in split or ()):
    modeling.check_sentence_pairs(bert_config, f"the {f.task_name} examples")
  return Setup(
      flags=f, bert_config=bert_config, tokenizer=tokenizer, task_name=task_name,
      processor=processor, label_list=label_list, is_regression=is_regression,
      info=info, **examples)


def build_trainer(setup):
  """The Trainer with weights restored; raises before output_dir is created."""
  f = setup.flags
  num_labels = 1 if setup.is_regression else len(setup.label_list)
  task = tasks.ClassifierTask(setup.bert_config, num_labels, setup.is_regression)
  return cli.build_trainer(f, task, len(setup.train_examples) if f.do_train else 0,
                           setup.info, eval_every_steps=f.eval_every_steps,
                           early_stopping_patience=f.early_stopping_patience)


def train(setup, trainer, eval_path):
  """Fine-tunes on the cached training features (resuming if output_dir has a run)."""
  f = setup.flags
  if trainer.chief:
    run_info.write_run_info(f.output_dir, setup.info, f.vocab_file)
    classifier_data.save_labels(os.path.join(f.output_dir, run_info.LABELS_FILE),
                                setup.label_list)
  train_path = setup.features_for("train", setup.train_examples)
  num_examples = len(setup.train_examples)

  def examples():
    # One pass, unshuffled: the Trainer repeats and shuffles with seeded epochs,
    # so a resumed run sees the same batches (an unseeded shuffle here made runs,
    # and resumes, differ).
    return classifier_data.file_based_dataset(train_path, f.max_seq_length, False,
                                              setup.is_regression)

  evaluator = None
  if f.eval_every_steps:
    evaluator = lambda: evaluate(trainer, eval_path, setup)
  labels = (f"{len(setup.label_list)} labels" if setup.label_list else "regression")
  primary = metrics.primary_metric(setup.processor.metric_kind)
  trainer.train(examples, num_examples, evaluator, primary,
                description=f"{setup.task_name}: {num_examples} examples, {labels}, "
                            f"{f.num_train_epochs:g} epochs")


def predict(setup, trainer):
  """Writes test_results.tsv (and GLUE submission files if asked)."""
  f = setup.flags
  path = setup.features_for("predict", setup.test_examples)
  outputs = trainer.predict(load_feature_chunks(path, f.max_seq_length, setup.is_regression),
                            f.predict_batch_size)
  probabilities = outputs["probabilities"]
  if not trainer.chief:
    return
  results_path = os.path.join(f.output_dir, "test_results.tsv")
  atomic_files.write_rows(results_path, probabilities)
  if f.glue_submission_dir:
    # A missing folder would otherwise be written as a file of that name.
    tf.io.gfile.makedirs(f.glue_submission_dir)
    classifier_data.write_glue_submission(setup.task_name, setup.test_examples,
                                          probabilities, setup.label_list,
                                          f.glue_submission_dir)
  logging.info("Wrote %d test predictions to %s", len(probabilities), results_path)


def run(f):
  """Train / evaluate / predict as the flags say (parsed flags `f`)."""
  setup = prepare(f)
  trainer = build_trainer(setup)
  # Other workers keep their private scratch folder: they must not write shared files.
  setup.cache_dir = (f.cache_dir if f.cache_dir and trainer.chief
                     else trainer.scratch_dir)
  # Created only now: bad data or a bad checkpoint must leave no output_dir.
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  tf.io.gfile.makedirs(setup.cache_dir)
  eval_path = (setup.features_for("eval", setup.dev_examples)
               if setup.dev_examples else None)
  if f.do_train:
    train(setup, trainer, eval_path)
  if f.do_eval:
    # With --eval_every_steps the last step was evaluated already: reuse it.
    results = trainer.evaluation_at(trainer.global_step) if f.do_train else None
    already_reported = results is not None
    if results is None:
      results = evaluate(trainer, eval_path, setup)
    training.report_results(f.output_dir, results, trainer.chief,
                            summaries=not already_reported)
  if f.do_predict:
    predict(setup, trainer)


def console_main():
  """The `bert-run-classifier` command: the flags of `python run_classifier.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
