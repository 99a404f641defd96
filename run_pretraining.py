r"""BERT pretraining: masked LM + next-sentence prediction on TFRecords.

Reads the records of create_pretraining_data.py (ours or the reference's, same
schema) and trains from scratch or continues an official checkpoint:

  python run_pretraining.py --input_file=tf_examples.tfrecord --output_dir=$OUT \
    --do_train=true --do_eval=true --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --train_batch_size=32 \
    --max_seq_length=128 --max_predictions_per_seq=20 --num_train_steps=20 \
    --num_warmup_steps=10 --learning_rate=2e-5
"""

import re

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import checkpoint_utils
import cli
import data_files
import errors
import feature_cache
import modeling
import run_info
import tasks
import training



def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model.")
  flags.DEFINE_string("input_file", None, "Input TFRecord files: comma-separated "
                      "paths or globs.")
  flags.DEFINE_string("eval_input_file", None, "Held-out TFRecords for --do_eval "
                      "(default: --input_file, as the reference).")
  flags.DEFINE_integer("max_seq_length", 128, "Sequence length of the records.")
  flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per record "
                       "(must equal the value used to create the records).")
  flags.DEFINE_bool("do_train", False, "Run pretraining.")
  flags.DEFINE_bool("do_eval", False, "Evaluate; writes eval_results.txt.")
  flags.DEFINE_integer("eval_batch_size", 8, "Records per evaluation batch.")
  flags.DEFINE_integer("num_train_steps", 100000, "Optimizer updates.")
  flags.DEFINE_integer("num_warmup_steps", 10000, "Updates of linear warm-up.")
  flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")
  cli.define_training_flags()


def record_features(max_seq_length, max_predictions_per_seq):
  """The TFRecord schema of create_pretraining_data.py's records."""
  ints = lambda n: tf.io.FixedLenFeature([n], tf.int64)
  return {
      "input_ids": ints(max_seq_length),
      "input_mask": ints(max_seq_length),
      "segment_ids": ints(max_seq_length),
      "masked_lm_positions": ints(max_predictions_per_seq),
      "masked_lm_ids": ints(max_predictions_per_seq),
      "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
      "next_sentence_labels": ints(1),
  }


def expand_input_files(spec, flag_name="input_file"):
  """The files of --input_file or --eval_input_file (see data_files.expand_input_files)."""
  return data_files.expand_input_files(
      spec, flag_name, "the TFRecord files of create_pretraining_data.py", "*.tfrecord")


def _reason(error):
  """An OpError's message without TF's "{{function_node ...}}" and "[Op:...]" wrapping."""
  return re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message).strip()


def check_record_shapes(path, max_seq_length, max_predictions_per_seq):
  """Reads the first record; raises UserError if its lengths differ from the flags."""
  try:
    first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
  except tf.errors.OpError as e:
    raise errors.UserError(f"{path}: not a readable TFRecord file ({_reason(e)}); give "
                           "the output files of create_pretraining_data.py.") from None
  if first is None:
    raise errors.UserError(f"{path}: holds no records; give TFRecord files that "
                           "create_pretraining_data.py wrote instances to.")
  example = tf.train.Example.FromString(first.numpy()).features.feature
  needed = set(record_features(1, 1))
  missing = sorted(needed - set(example))
  if missing:
    raise errors.UserError(f"{path}: records lack the feature {missing[0]!r}; they were "
                           "not written by create_pretraining_data.py.")
  lengths = {"max_seq_length": len(example["input_ids"].int64_list.value),
             "max_predictions_per_seq": len(example["masked_lm_positions"].int64_list.value)}
  for flag_name, expected in (("max_seq_length", max_seq_length),
                              ("max_predictions_per_seq", max_predictions_per_seq)):
    if lengths[flag_name] != expected:
      raise errors.UserError(
          f"--{flag_name}={expected} but the records in {path} were created with "
          f"{flag_name}={lengths[flag_name]}; pass --{flag_name}={lengths[flag_name]}.")


def parse_records(files, max_seq_length, max_predictions_per_seq):
  """Unbatched dataset of parsed records (int64 features cast to int32)."""
  return feature_cache.int32_records(
      files, record_features(max_seq_length, max_predictions_per_seq))


def _damaged(path, error):
  return errors.UserError(
      f"{path}: damaged TFRecord file or records of another schema ({_reason(error)}); "
      "recreate it with create_pretraining_data.py, or leave it out of the input files.")


def check_record_values(features, path, bert_config, max_seq_length):
  """Raises UserError when parsed records hold ids beyond the model's tables.

  Records made with another vocabulary (or edited) would stop training in a
  Gather, steps in; here the file, the feature and the value are named.

  Args:
    features: {name: int array [num_records, ...]} of records parsed by
      record_features.
    path: the file they came from.
    bert_config: modeling.BertConfig of the model trained or evaluated.
    max_seq_length: the records' sequence length.
  """
  vocabulary = ("the records were made with another vocabulary: recreate them with "
                "create_pretraining_data.py and this model's vocab.txt")
  limits = (
      ("input_ids", "vocab_size", bert_config.vocab_size, vocabulary),
      ("masked_lm_ids", "vocab_size", bert_config.vocab_size, vocabulary),
      ("segment_ids", "type_vocab_size", bert_config.type_vocab_size,
       "the model has no segment embedding for a second text, and next-sentence "
       "pretraining needs one: use a bert_config.json with type_vocab_size=2"),
      ("masked_lm_positions", "max_seq_length", max_seq_length,
       "the records were not written by create_pretraining_data.py: recreate them"),
      ("next_sentence_labels", "the two next-sentence classes", 2,
       "the records were not written by create_pretraining_data.py: recreate them"))
  for name, limit_name, limit, fix in limits:
    values = features[name]
    bad = values[(values < 0) | (values >= limit)]
    if bad.size:
      raise errors.UserError(f"{path}: {name} holds {int(bad[0])}, outside [0, {limit}) "
                             f"({limit_name}); {fix}.")


def scan_records(files, bert_config, max_seq_length, max_predictions_per_seq):
  """Number of records in `files`, each read, parsed and checked before training.

  A damaged file, records of another schema (a feature of another length or
  type) and ids beyond the model's tables are named here, not met mid-run.
  """
  spec = record_features(max_seq_length, max_predictions_per_seq)
  count = 0
  for path in files:
    batches = tf.data.TFRecordDataset(path).batch(4096).map(
        lambda records: tf.io.parse_example(records, spec),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    try:
      for features in batches.as_numpy_iterator():
        check_record_values(features, path, bert_config, max_seq_length)
        count += len(features["input_ids"])
    except tf.errors.OpError as e:
      raise _damaged(path, e) from None
  logging.info("%d records in %d input files.", count, len(files))
  return count


def pretraining_metrics(outputs, features):
  """eval_results.txt values with the reference's names (weighted as tf.metrics did)."""
  weights = features["masked_lm_weights"].astype(np.float64)
  correct = outputs["masked_lm_predictions"] == features["masked_lm_ids"]
  total_weight = max(weights.sum(), 1e-12)
  mlm_loss = float((outputs["masked_lm_nll"] * weights).sum() / total_weight)
  nsp_labels = features["next_sentence_labels"].reshape(-1)
  nsp_loss = float(outputs["next_sentence_nll"].mean())
  return {
      "masked_lm_accuracy": float((correct * weights).sum() / total_weight),
      "masked_lm_loss": mlm_loss,
      "next_sentence_accuracy": float(np.mean(
          outputs["next_sentence_predictions"] == nsp_labels)),
      "next_sentence_loss": nsp_loss,
      "loss": mlm_loss + nsp_loss,
  }


def read_eval_features(files, f, bert_config):
  """The first `max_eval_steps` batches of the eval records, checked file by file.

  Read before any work, so that a damaged or foreign file is named before
  training and before the run folder is made.
  """
  wanted, features = f.max_eval_steps * f.eval_batch_size, []
  for path in files:
    remaining = wanted - sum(len(c["input_ids"]) for c in features)
    if remaining <= 0:
      break
    dataset = parse_records([path], f.max_seq_length, f.max_predictions_per_seq)
    try:
      chunks = list(dataset.take(remaining).batch(8192).as_numpy_iterator())
    except tf.errors.OpError as e:
      raise _damaged(path, e) from None
    for chunk in chunks:
      check_record_values(chunk, path, bert_config, f.max_seq_length)
    features += chunks
  if not features:
    raise errors.UserError("The evaluation records are empty.")
  return {k: np.concatenate([c[k] for c in features]) for k in features[0]}


def evaluate(trainer, merged, f):
  """eval_results.txt's values on the features of read_eval_features."""
  outputs = trainer.predict([merged], f.eval_batch_size)
  results = pretraining_metrics(outputs, merged)
  results["global_step"] = run_info.evaluated_step(trainer.global_step, f.init_checkpoint)
  return results


def validate_flags(f):
  """Checks flags and inputs before any work; returns (config, train files, eval files)."""
  if not (f.do_train or f.do_eval):
    raise errors.UserError("At least one of --do_train or --do_eval must be True.")
  if not f.output_dir:
    raise errors.UserError("--output_dir is required.")
  cli.require_checkpoint_dir(f.output_dir, "output_dir")
  cli.require_file(f.bert_config_file, "bert_config_file")
  bert_config = modeling.BertConfig.from_json_file(f.bert_config_file)
  modeling.check_sequence_length(bert_config, f.max_seq_length)
  # More slots than tokens is valid (create_pretraining_data.py's 20 with length 16):
  # the slots beyond the masked tokens are padding of weight 0.
  if f.max_predictions_per_seq <= 0:
    raise errors.UserError(f"--max_predictions_per_seq={f.max_predictions_per_seq} must "
                           "be at least 1.")
  for name in ("eval_batch_size", "max_eval_steps"):
    if getattr(f, name) <= 0:
      raise errors.UserError(f"--{name}={getattr(f, name)} must be positive.")
  if f.init_checkpoint:
    checkpoint_utils.resolve_checkpoint(f.init_checkpoint)
  train_files = expand_input_files(f.input_file) if f.do_train else []
  eval_files = (expand_input_files(f.eval_input_file or f.input_file,
                                   "eval_input_file" if f.eval_input_file else "input_file")
                if f.do_eval else [])
  # Every file: files made with other lengths would fail mid-run otherwise.
  for path in sorted(set(train_files + eval_files)):
    check_record_shapes(path, f.max_seq_length, f.max_predictions_per_seq)
  return bert_config, train_files, eval_files


def run(f):
  """Pretrain and/or evaluate as the parsed flags `f` say."""
  bert_config, train_files, eval_files = validate_flags(f)
  config = cli.training_config(f, f.num_train_steps if f.do_train else 1,
                               f.num_warmup_steps if f.do_train else 0)
  config.validate()
  # Every training record is read once now: a damaged file stops the run here.
  num_records = (scan_records(train_files, bert_config, f.max_seq_length,
                              f.max_predictions_per_seq) if f.do_train else 0)
  eval_features = read_eval_features(eval_files, f, bert_config) if f.do_eval else None
  info = {"task_kind": "pretraining", "bert_config": bert_config.to_dict(),
          "max_seq_length": f.max_seq_length,
          "max_predictions_per_seq": f.max_predictions_per_seq}
  cli.check_resume(f, config, info)
  strategy = cli.strategy_from_flags(f)
  trainer = training.Trainer(tasks.PretrainingTask(bert_config), config, strategy)
  cli.restore(trainer, f)
  # Created only now: a checkpoint that does not fit must leave no output_dir.
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  if f.do_train:
    if trainer.chief:
      run_info.write_run_info(f.output_dir, info)

    trainer.train(lambda: parse_records(train_files, f.max_seq_length,
                                        f.max_predictions_per_seq),
                  num_records, description=f"{num_records} records in "
                  f"{len(train_files)} files")
  if f.do_eval:
    training.report_results(f.output_dir, evaluate(trainer, eval_features, f),
                            trainer.chief)


def console_main():
  """The `bert-run-pretraining` command: the flags of `python run_pretraining.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
