r"""BERT fine-tuning for named-entity recognition (token classification) on CoNLL-format files.

Runs the command the BERT-NER repositories use, e.g. on CoNLL-2003:

  python run_ner.py --do_train=true --do_eval=true --do_predict=true \
    --data_dir=$DATA/CoNLL-2003 --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_lower_case=false \
    --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
    --num_train_epochs=3.0 --output_dir=$OUT

The command of bert-chinese-ner's BERT_NER.py runs as well, `--task_name=NER`
included, on its data/train.txt, dev.txt, test.txt (`char label` lines, a blank
line between sentences); BERT_NER.py trained by default, here add
--do_train=true (and --do_eval=true, --do_predict=true).

Input: one token a line with its tag in the LAST column (other columns are
ignored), tab- or space-separated, a blank line between sentences,
`-DOCSTART-` lines skipped. The usual file names of CoNLL-2003, WeiboNER,
ResumeNER, People's Daily and MSRA are found without flags.

Each word is split into WordPiece pieces; its tag is learned and predicted on
the FIRST piece (the others, [CLS] and [SEP] have label_mask 0). A sentence
longer than max_seq_length is cut into overlapping windows, not truncated:
each word is scored once, in the window where it has the most context on both
sides (windows.py's max-context rule, as for SQuAD).

With --crf=true a linear-chain CRF (crf.py) scores tag transitions between
consecutive words of a window: trained by its log-likelihood, decoded by
Viterbi (tasks.TaggingTask); its transitions are saved as crf/transitions.

Outputs in output_dir: eval_results.txt (entity-level precision/recall/F1 as
conlleval.pl computes them, overall and per type, token accuracy, loss),
eval_predictions.txt / test_predictions.txt ("token gold predicted" lines that
conlleval.pl reads), test_results.txt, labels.txt, checkpoints model.ckpt-<step>,
and run_info.json (what export_savedmodel.py needs to serve the model on raw text).
"""

import os

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import checkpoint_utils
import cli
import conlleval
import crf
import errors
import processors
import run_info
import tasks
import training
import windows
from ner_data import (check_tags, collect_labels, convert_sentences, decode, read_conll,
                      tfrecord_dataset, word_split, write_predictions, write_tfrecord)

FLAGS = flags.FLAGS

# Files searched in data_dir when --train_file/--dev_file/--test_file is not
# given, in this order: ours, then the names the public NER sets ship with.
DEFAULT_FILES = {
    "train": ("train.txt", "weiboNER_2nd_conll.train", "train.char.bmes", "example.train",
              "eng.train"),
    "dev": ("dev.txt", "valid.txt", "weiboNER_2nd_conll.dev", "dev.char.bmes",
            "example.dev", "eng.testa"),
    "test": ("test.txt", "weiboNER_2nd_conll.test", "test.char.bmes", "example.test",
             "msra_test_bio", "eng.testb"),
}

# --task_name values accepted: the BERT_NER.py scripts' one task.
TASK_NAMES = ("NER",)


def define_flags(flag_values=FLAGS):
  """Defines the flags of run_ner.py on `flag_values`."""
  f = flag_values
  flags.DEFINE_string("data_dir", None, "Folder with the CoNLL-format files.", flag_values=f)
  flags.DEFINE_string("task_name", None, "Accepted for the commands of BERT_NER.py "
                      "(bert-chinese-ner, BERT-NER): " + ", ".join(TASK_NAMES) +
                      " (case-insensitive), the one task of this program.", flag_values=f)
  flags.DEFINE_string("train_file", None, "Training file in data_dir (default: train.txt, "
                      "else the first that exists of " +
                      ", ".join(DEFAULT_FILES["train"][1:]) + ").", flag_values=f)
  flags.DEFINE_string("dev_file", None, "Dev file in data_dir (default: dev.txt, else "
                      "the first that exists of " + ", ".join(DEFAULT_FILES["dev"][1:]) +
                      ").", flag_values=f)
  flags.DEFINE_string("test_file", None, "Test file in data_dir (default: test.txt, else "
                      "the first that exists of " + ", ".join(DEFAULT_FILES["test"][1:]) +
                      ").", flag_values=f)
  cli.define_task_flags(max_seq_length=128, flag_values=f, help_text={
      "max_seq_length": "WordPiece tokens per window with [CLS] and [SEP]; longer "
                        "sentences are split into windows.",
      "do_train": "Fine-tune on the training file.",
      "do_eval": "Evaluate on the dev file; writes eval_results.txt and "
                 "eval_predictions.txt.",
      "do_predict": "Tag the test file; writes test_predictions.txt and test_results.txt.",
      "eval_batch_size": "Windows per evaluation batch.",
      "predict_batch_size": "Windows per prediction batch."})
  flags.DEFINE_list("labels", None, "Comma-separated tag list (default: the tags of the "
                    "training file, 'O' first then sorted; without --do_train, the "
                    "labels.txt of the trained run).", flag_values=f)
  flags.DEFINE_bool("strip_char_suffix_digits", None, "Strip the digits that follow each "
                    "token (WeiboNER's `我0`: character + position in its word). Default: "
                    "on for weiboNER* files only.", flag_values=f)
  flags.DEFINE_bool("crf", False, "Put a linear-chain CRF on the tag scores: trained by "
                    "its log-likelihood over the words, decoded by Viterbi (transitions "
                    "in the checkpoint as crf/transitions; run_info.json records it for "
                    "serving). Evaluating a trained run needs the value it was trained "
                    "with.", flag_values=f)
  flags.DEFINE_float("crf_learning_rate", None, "Peak learning rate of the CRF's "
                     "transitions, on the same warm-up and decay as --learning_rate "
                     "(default: --learning_rate). They start at zero, and at BERT's rates "
                     "move only ~1e-4 a step: BERT-CRF taggers often train them ~100x "
                     "faster, e.g. 1e-2.", flag_values=f)
  flags.DEFINE_integer("window_stride", None, "Pieces between the starts of two windows "
                       "of a long sentence (default: max_seq_length // 2).", flag_values=f)


def resolve_data_file(data_dir, split, file_name=None):
  """Path of a split's file: `file_name` in data_dir, else the first usual name found."""
  if file_name:
    path = os.path.join(data_dir, file_name)
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
      raise errors.UserError(f"--{split}_file={file_name}: {path} not found.")
    return path
  for name in DEFAULT_FILES[split]:
    path = os.path.join(data_dir, name)
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
      return path
  raise errors.UserError(f"--data_dir={data_dir} has no {split} file (looked for "
                         f"{', '.join(DEFAULT_FILES[split])}); name it with --{split}_file.")


# ----------------------------------------------------------------------- model


def validate_flags(f):
  """Checks every flag and file before any work; raises errors.UserError."""
  if f.task_name is not None and f.task_name.strip().upper() not in TASK_NAMES:
    raise errors.UserError(f"--task_name={f.task_name}: run_ner.py runs named-entity "
                           f"recognition only; accepted: {', '.join(TASK_NAMES)} (or leave "
                           "the flag out). Sentence classification is run_classifier.py.")
  cli.check_task_flags(f)
  cli.check_room_for_text(f.max_seq_length)
  problem = windows.tagger_stride_problem(window_stride(f), f.max_seq_length)
  if problem:
    raise errors.UserError(f"--{problem} so that windows overlap or touch.")
  if f.crf_learning_rate is not None:
    if not f.crf:
      raise errors.UserError(f"--crf_learning_rate={f.crf_learning_rate:g} needs --crf=true.")
    if not 0 < f.crf_learning_rate < float("inf"):
      raise errors.UserError(f"--crf_learning_rate={f.crf_learning_rate:g} must be a "
                             "positive number.")
  if f.labels is not None and (not f.labels or len(set(f.labels)) != len(f.labels)):
    raise errors.UserError(f"--labels={','.join(f.labels)} must list distinct tags.")


def window_stride(f):
  return f.window_stride if f.window_stride is not None else max(1, f.max_seq_length // 2)


def crf_learning_rate(f):
  return f.learning_rate if f.crf_learning_rate is None else f.crf_learning_rate


def load_label_list(f, train_sentences):
  """(labels, where they came from): --labels, the training file or a trained run.

  Tags that the trained run (beside --init_checkpoint, or in --output_dir)
  saved in another order are refused: its head's outputs are in its own order.
  Training may change the tag set, not reorder it.
  """
  trained = _trained_labels(f)
  if f.labels:
    labels, source = [label.strip() for label in f.labels], "--labels"
  elif train_sentences is not None:
    labels, source = collect_labels(train_sentences), "the tags of the training file"
  elif trained:
    return trained
  else:
    raise errors.UserError(f"No {run_info.LABELS_FILE} or {run_info.RUN_INFO_FILE} of a "
                           "tagger in --output_dir or beside --init_checkpoint: pass the "
                           "trained run's tags with --labels.")
  if trained and labels != trained[0] and (
      sorted(labels) == sorted(trained[0]) or (source == "--labels" and not f.do_train)):
    raise errors.UserError(
        f"{source} ({','.join(labels)}) differ from the tags of the trained run in "
        f"{trained[1]} ({','.join(trained[0])}): its head's outputs are in that order; "
        f"pass --labels={','.join(trained[0])}.")
  return labels, source


def _trained_labels(f):
  """(labels, path) of the trained run in --output_dir or beside --init_checkpoint, or None.

  Its labels.txt, else the label_list of its run_info.json (a folder copied
  without labels.txt).
  """
  for directory in cli.trained_label_dirs(f):
    path = os.path.join(directory, run_info.LABELS_FILE)
    if tf.io.gfile.exists(path):
      return processors.load_labels(path), path
  for directory in cli.trained_label_dirs(f):
    path = os.path.join(directory, run_info.RUN_INFO_FILE)
    if not tf.io.gfile.exists(path):
      continue
    info = run_info.read_json(path, run_info.RUN_INFO_FILE)
    labels = info.get("label_list") if isinstance(info, dict) and info.get(
        "task_kind") == "ner" else None
    if isinstance(labels, list) and labels and all(
        isinstance(label, str) and label for label in labels):
      return labels, path
  return None


def check_crf_checkpoint(f):
  """Refuses to evaluate a trained tagger with a --crf other than its training's.

  Only for runs that do not train and name --init_checkpoint (training starts
  or resumes, and resuming is checked against run_info.json).
  """
  if f.do_train or not f.init_checkpoint:
    return
  prefix = checkpoint_utils.resolve_checkpoint(f.init_checkpoint)
  names = checkpoint_utils.checkpoint_shapes(prefix)
  if tasks.TaggingTask.head_variable not in names:
    return   # a pre-trained model: the trainer refuses it
  has_crf = crf.transitions_name() in names
  if has_crf != f.crf:
    trained = "with" if has_crf else "without"
    raise errors.UserError(
        f"--init_checkpoint={f.init_checkpoint}: {prefix} was trained {trained} a CRF "
        f"({crf.transitions_name()}), but --crf={str(f.crf).lower()}; pass "
        f"--crf={str(has_crf).lower()}.")


def evaluate(trainer, features, sentences, label_list, batch_size, prefix="eval"):
  """Entity-level metrics of the tagged `sentences`; also returns the predicted tags."""
  chunk = 8192
  chunks = ({k: v[i:i + chunk] for k, v in features.arrays.items()}
            for i in range(0, features.num_windows, chunk))
  outputs = trainer.predict(chunks, batch_size)
  predicted = decode(outputs["predictions"], features, sentences, label_list)
  scores = conlleval.evaluate([s.tags for s in sentences], predicted)
  results = {f"{prefix}_{key}": value for key, value in scores.items()}
  results[f"{prefix}_loss"] = float(np.sum(outputs["loss_sum"]) /
                                    max(1, int(np.sum(outputs["num_scored"]))))
  return results, predicted


def read_splits(f):
  """{split: (path, sentences)} of every file the run needs, read and checked."""
  needed = [("train", f.do_train), ("dev", f.do_eval), ("test", f.do_predict)]
  splits = {}
  for split, wanted in needed:
    if wanted:
      path = resolve_data_file(f.data_dir, split, getattr(f, f"{split}_file"))
      splits[split] = (path, read_conll(path, f.strip_char_suffix_digits))
      logging.info("%s: %d sentences from %s", split, len(splits[split][1]), path)
  return splits


def run(f):
  """Train / evaluate / predict as the flags say (parsed flags `f`)."""
  validate_flags(f)
  bert_config, tokenizer = cli.load_model_files(f)
  # Read and check every input before writing anything: bad data leaves no output.
  splits = read_splits(f)
  train_sentences = splits["train"][1] if "train" in splits else None
  label_list, source = load_label_list(f, train_sentences)
  for path, sentences in splits.values():
    check_tags(sentences, path, label_list, source)
  stride = window_stride(f)
  features = {split: convert_sentences(sentences, label_list, f.max_seq_length, stride,
                                       tokenizer, f"the {split} file {path}")
              for split, (path, sentences) in splits.items()}
  for split, feats in features.items():
    logging.info("%s: %d windows for %d sentences.", split, feats.num_windows,
                 len(splits[split][1]))
  info = build_run_info(f, bert_config, label_list, train_sentences)
  check_crf_checkpoint(f)
  # A --learning_rate of 0 or less is refused by cli.build_trainer, with the flag named.
  task = tasks.TaggingTask(bert_config, len(label_list), use_crf=f.crf, crf_lr_multiplier=(
      crf_learning_rate(f) / f.learning_rate if f.learning_rate > 0 else 1.0))
  trainer = cli.build_trainer(f, task, features["train"].num_windows if f.do_train else 0,
                              info, "training windows")
  # Created only now: a bad file or checkpoint must leave no output_dir behind.
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  chief = trainer.chief
  if f.do_train:
    train(f, trainer, features["train"], label_list, chief, info)
  step = run_info.evaluated_step(trainer.global_step, f.init_checkpoint)
  for split, prefix, batch_size in (("dev", "eval", f.eval_batch_size),
                                    ("test", "test", f.predict_batch_size)):
    if split in splits:
      sentences = splits[split][1]
      results, predicted = evaluate(trainer, features[split], sentences, label_list,
                                    batch_size, prefix)
      results.update(global_step=step, loss=results[f"{prefix}_loss"])
      training.report_results(f.output_dir, results, chief, f"{prefix}_results.txt",
                              summaries=prefix == "eval")
      if chief:
        write_predictions(os.path.join(f.output_dir, f"{prefix}_predictions.txt"),
                          sentences, predicted)


def build_run_info(f, bert_config, label_list, train_sentences):
  """What export_savedmodel.py needs to serve the trained model on raw text.

  word_split is known only from training sentences (None: not training).
  """
  info = {"task_kind": "ner", "label_list": label_list,
          "bert_config": bert_config.to_dict(), "vocab_file": os.path.abspath(f.vocab_file),
          "do_lower_case": f.do_lower_case, "max_seq_length": f.max_seq_length,
          "window_stride": window_stride(f), "crf": f.crf,
          "crf_learning_rate": crf_learning_rate(f) if f.crf else None}
  if train_sentences is not None:
    info["word_split"] = word_split(train_sentences)
  return info


def train(f, trainer, features, label_list, chief, info=None):
  """Writes run_info.json, labels.txt and train.tf_record, then runs the training loop.

  The record comes first, as run_classifier.py writes it: labels.txt is checked
  against the run_info.json beside it when it is read.
  """
  if chief:
    if info is not None:
      run_info.write_run_info(f.output_dir, info, f.vocab_file)
    processors.save_labels(os.path.join(f.output_dir, run_info.LABELS_FILE), label_list)
  path = os.path.join(trainer.scratch_dir, "train.tf_record")
  write_tfrecord(path, features)

  trainer.train(lambda: tfrecord_dataset(path, f.max_seq_length), features.num_windows,
                description=f"{features.num_windows} windows, "
                f"{len(label_list)} tags, {f.num_train_epochs:g} epochs")


def console_main():
  """The `bert-run-ner` command: the flags of `python run_ner.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
