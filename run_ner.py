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
sides (the max-context rule of the reference's SQuAD code).

Outputs in output_dir: eval_results.txt (entity-level precision/recall/F1 as
conlleval.pl computes them, overall and per type, token accuracy, loss),
eval_predictions.txt / test_predictions.txt ("token gold predicted" lines that
conlleval.pl reads), test_results.txt, labels.txt, checkpoints model.ckpt-<step>,
and run_info.json (what export_savedmodel.py needs to serve the model on raw text).
"""

import dataclasses
import os
import re
from typing import List

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import checkpoint_utils
import cli
import conlleval
import data_files
import errors
import run_info
import tasks
import tokenization
import training
import windows

FLAGS = flags.FLAGS

FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids", "label_ids", "label_mask")

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

# WeiboNER appends the character's position in its word: `我0`, `.10`.
_CHAR_SUFFIX_DIGITS = re.compile(r"(.+?)([0-9]+)", re.DOTALL)


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
  flags.DEFINE_integer("window_stride", None, "Pieces between the starts of two windows "
                       "of a long sentence (default: max_seq_length // 2).", flag_values=f)


# --------------------------------------------------------------------- reading


@dataclasses.dataclass
class Sentence:
  """One sentence of a CoNLL file."""
  tokens: List[str]        # first column, as in the file
  words: List[str]         # what the tokenizer sees (WeiboNER digits stripped)
  tags: List[str]          # last column
  line_numbers: List[int]  # 1-based line of each token


def _split_fields(line):
  """Columns of a line: split on tabs if it has any (a token may hold other spaces)."""
  fields = line.split("\t") if "\t" in line else line.split(" ")
  return [field for field in (f.strip(" ") for f in fields) if field]


def strip_char_suffix_digits(token):
  """`我0` -> `我`, `.10` -> `.`: WeiboNER's character + position-in-word."""
  match = _CHAR_SUFFIX_DIGITS.fullmatch(token)
  return match.group(1) if match else token


def read_conll(path, strip_digits=None):
  """Reads a CoNLL-format file into sentences.

  Args:
    path: str, the file.
    strip_digits: bool, strip the digits after each token (see
      strip_char_suffix_digits); None: only for weiboNER* files.

  Returns:
    A non-empty list of Sentence.

  Raises:
    errors.DataError: not UTF-8, a line without a tag, or no sentence at all (file and
      line named).
  """
  if strip_digits is None:
    strip_digits = os.path.basename(path).lower().startswith("weiboner")
  sentences, current = [], []

  def close_sentence():
    if current:
      tokens = [t for t, _, _ in current]
      words = [strip_char_suffix_digits(t) if strip_digits else t for t in tokens]
      sentences.append(Sentence(tokens, words, [g for _, g, _ in current],
                                [n for _, _, n in current]))
      current.clear()

  for number, line in enumerate(data_files.read_text(path, "a CoNLL file").split("\n"), 1):
    line = line.rstrip("\r")
    if not line.strip():
      close_sentence()
      continue
    fields = _split_fields(line)
    if fields[0] == "-DOCSTART-":
      close_sentence()
      continue
    if len(fields) < 2:
      raise errors.DataError(f"{path}, line {number}: expected a token and its tag (last column), "
                             f"separated by spaces or a tab; received {line!r}.")
    current.append((fields[0], fields[-1], number))
  close_sentence()
  if not sentences:
    raise errors.DataError(f"{path}: no sentences; expected one token and its tag a line, a "
                           "blank line between sentences.")
  return sentences


def collect_labels(sentences):
  """The tags of `sentences`: 'O' first (if present), then sorted."""
  tags = {tag for s in sentences for tag in s.tags}
  return (["O"] if "O" in tags else []) + sorted(tags - {"O"})


def check_tags(sentences, path, label_list, source):
  """Raises errors.DataError naming the file and line of the first tag not in label_list."""
  known = set(label_list)
  for sentence in sentences:
    for tag, number in zip(sentence.tags, sentence.line_numbers):
      if tag not in known:
        raise errors.DataError(f"{path}, line {number}: tag {tag!r} is not in {source} "
                               f"({', '.join(label_list)}); pass every tag with --labels.")


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


# -------------------------------------------------------------------- features


def word_pieces(words, tokenizer):
  """WordPiece pieces of each word; a word that tokenizes to nothing becomes [UNK]."""
  pieces = []
  for word in words:
    pieces.append(tokenizer.tokenize(word) or ["[UNK]"])
  return pieces


@dataclasses.dataclass
class Features:
  """Model inputs of a set of sentences: one row per window."""
  arrays: dict               # FEATURE_KEYS -> int32 [num_windows, max_seq_length]
  sentence_index: np.ndarray  # int32 [num_windows]: the sentence of each window
  word_index: np.ndarray      # int32 [num_windows, max_seq_length]: word scored there, or -1

  @property
  def num_windows(self):
    return len(self.sentence_index)


def convert_sentence(words, tags, label_map, max_seq_length, stride, tokenizer):
  """Windows of one sentence.

  Args:
    words: list of str.
    tags: list of str (same length), keys of label_map.
    label_map: {tag: id}.
    max_seq_length: int, positions per window including [CLS] and [SEP].
    stride: int, pieces between the starts of two windows.
    tokenizer: tokenization.FullTokenizer.

  Returns:
    List of (features dict of int lists [max_seq_length], word_index list).
  """
  pieces, first_piece_of = [], []
  for pieces_of_word in word_pieces(words, tokenizer):
    first_piece_of.append(len(pieces))
    pieces.extend(pieces_of_word)
  spans = windows.spans(len(pieces), max_seq_length - 2, stride)
  word_at = {}   # piece position -> word it scores in its best window
  for word, position in enumerate(first_piece_of):
    word_at[position] = (word, windows.best_window(spans, position))
  rows = []
  for span_index, (start, length) in enumerate(spans):
    tokens = ["[CLS]"] + pieces[start:start + length] + ["[SEP]"]
    label_ids, label_mask, word_index = [0], [0], [-1]
    for position in range(start, start + length):
      word, best = word_at.get(position, (None, None))
      scored = best == span_index
      label_ids.append(label_map[tags[word]] if scored else 0)
      label_mask.append(int(scored))
      word_index.append(word if scored else -1)
    label_ids, label_mask, word_index = label_ids + [0], label_mask + [0], word_index + [-1]
    padding = [0] * (max_seq_length - len(tokens))
    rows.append(({"input_ids": tokenizer.convert_tokens_to_ids(tokens) + padding,
                  "input_mask": [1] * len(tokens) + padding,
                  "segment_ids": [0] * max_seq_length,
                  "label_ids": label_ids + padding,
                  "label_mask": label_mask + padding},
                 word_index + [-1] * len(padding)))
  return rows


def convert_sentences(sentences, label_list, max_seq_length, stride, tokenizer,
                      what="the sentences"):
  """Features of all windows of `sentences` (see convert_sentence).

  Logs a WARNING naming `what` (str) when many word pieces are [UNK].
  """
  label_map = {label: i for i, label in enumerate(label_list)}
  counter = tokenization.UnknownTokenCounter(tokenizer)
  rows, sentence_index, word_index = [], [], []
  for index, sentence in enumerate(sentences):
    for features, words in convert_sentence(sentence.words, sentence.tags, label_map,
                                            max_seq_length, stride, counter):
      rows.append(features)
      sentence_index.append(index)
      word_index.append(words)
  counter.log_warning(what)
  arrays = {key: np.array([row[key] for row in rows], np.int32).reshape(-1, max_seq_length)
            for key in FEATURE_KEYS}
  return Features(arrays, np.array(sentence_index, np.int32),
                  np.array(word_index, np.int32).reshape(-1, max_seq_length))


def decode(predictions, features, sentences, label_list):
  """Predicted tags of every word from per-position label ids.

  Args:
    predictions: int [num_windows, S'] label ids (S' >= the longest window).
    features: Features of `sentences`.
    sentences: list of Sentence.
    label_list: list of str.

  Returns:
    List (per sentence) of lists of predicted tags.
  """
  tags = [[None] * len(s.words) for s in sentences]
  rows, columns = np.nonzero(features.arrays["label_mask"])
  for row, column in zip(rows, columns):
    sentence = tags[features.sentence_index[row]]
    word = features.word_index[row, column]
    assert sentence[word] is None, "each word is scored in exactly one window"
    sentence[word] = label_list[int(predictions[row, column])]
  assert all(tag is not None for sentence in tags for tag in sentence)
  return tags


def write_tfrecord(path, features):
  """Writes the windows as tf.train.Examples (int64 features), atomically."""
  with run_info.atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
    for row in range(features.num_windows):
      example = tf.train.Example(features=tf.train.Features(feature={
          key: tf.train.Feature(int64_list=tf.train.Int64List(
              value=features.arrays[key][row].tolist())) for key in FEATURE_KEYS}))
      writer.write(example.SerializeToString())


def tfrecord_dataset(path, max_seq_length):
  """Unbatched dataset of int32 [max_seq_length] feature dicts from write_tfrecord."""
  spec = {key: tf.io.FixedLenFeature([max_seq_length], tf.int64) for key in FEATURE_KEYS}

  def decode_record(record):
    parsed = tf.io.parse_single_example(record, spec)
    return {key: tf.cast(value, tf.int32) for key, value in parsed.items()}

  return tf.data.TFRecordDataset(path).map(decode_record)


# ----------------------------------------------------------------------- model


def validate_flags(f):
  """Checks every flag and file before any work; raises errors.UserError."""
  if f.task_name is not None and f.task_name.strip().upper() not in TASK_NAMES:
    raise errors.UserError(f"--task_name={f.task_name}: run_ner.py runs named-entity "
                           f"recognition only; accepted: {', '.join(TASK_NAMES)} (or leave "
                           "the flag out). Sentence classification is run_classifier.py.")
  cli.check_task_flags(f)
  cli.check_room_for_text(f.max_seq_length)
  stride = window_stride(f)
  if not 1 <= stride <= f.max_seq_length - 2:
    raise errors.UserError(f"--window_stride={stride} must be in [1, max_seq_length - 2 = "
                           f"{f.max_seq_length - 2}] so that windows overlap or touch.")
  if f.labels is not None and (not f.labels or len(set(f.labels)) != len(f.labels)):
    raise errors.UserError(f"--labels={','.join(f.labels)} must list distinct tags.")


def window_stride(f):
  return f.window_stride if f.window_stride is not None else max(1, f.max_seq_length // 2)


def load_label_list(f, train_sentences):
  """(labels, where they came from): --labels, the training file or a trained run."""
  if f.labels:
    return [label.strip() for label in f.labels], "--labels"
  if train_sentences is not None:
    return collect_labels(train_sentences), "the tags of the training file"
  search = [f.output_dir, os.path.dirname(checkpoint_utils.resolve_checkpoint(
      f.init_checkpoint))]
  for directory in search:
    path = os.path.join(directory, run_info.LABELS_FILE)
    if tf.io.gfile.exists(path):
      return run_info.read_lines(path), path
  raise errors.UserError(f"No {run_info.LABELS_FILE} in --output_dir or beside "
                         "--init_checkpoint: pass the trained run's tags with --labels.")


def write_predictions(path, sentences, predicted_tags):
  """`token gold predicted` lines, a blank line after each sentence (conlleval's input)."""
  lines = []
  for sentence, predicted in zip(sentences, predicted_tags):
    for token, gold, guess in zip(sentence.tokens, sentence.tags, predicted):
      # conlleval splits on whitespace: a token must stay one column.
      lines.append(f"{'_'.join(token.split()) or '_'} {gold} {guess}\n")
    lines.append("\n")
  run_info.write_text(path, "".join(lines))


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
  num_train_steps, num_warmup_steps = cli.train_steps(
      f, features["train"].num_windows if f.do_train else 0, "training windows")
  config = cli.training_config(f, num_train_steps, num_warmup_steps)
  config.validate()
  info = build_run_info(f, bert_config, label_list, train_sentences)
  cli.check_resume(f, config, info)
  strategy = cli.strategy_from_flags(f)
  task = tasks.TaggingTask(bert_config, len(label_list))
  trainer = training.Trainer(task, config, strategy)
  state = trainer.restore(f.init_checkpoint)
  if not f.do_train and state != "resumed" and "output_weights" not in (
      checkpoint_utils.checkpoint_shapes(f.init_checkpoint)):
    raise errors.UserError(
        f"--init_checkpoint={f.init_checkpoint} has no tagging head (output_weights): it "
        "is a pre-trained model, not a fine-tuned one; add --do_train=true.")
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


def word_split(sentences):
  """How raw text is cut into words like these: "characters" or "whitespace".

  Chinese NER sets (WeiboNER, MSRA, Resume, People's Daily) have one character
  a line, digits and Latin letters included; a served model must see raw text
  the same way. A few multi-character tokens (WeiboNER has 12 in 73778) are
  tolerated.
  """
  lengths = [len(word) for sentence in sentences for word in sentence.words]
  single = sum(length == 1 for length in lengths)
  return "characters" if lengths and single >= 0.99 * len(lengths) else "whitespace"


def build_run_info(f, bert_config, label_list, train_sentences):
  """What export_savedmodel.py needs to serve the trained model on raw text.

  word_split is known only from training sentences (None: not training).
  """
  info = {"task_kind": "ner", "label_list": label_list,
          "bert_config": bert_config.to_dict(), "vocab_file": os.path.abspath(f.vocab_file),
          "do_lower_case": f.do_lower_case, "max_seq_length": f.max_seq_length,
          "window_stride": window_stride(f)}
  if train_sentences is not None:
    info["word_split"] = word_split(train_sentences)
  return info


def train(f, trainer, features, label_list, chief, info=None):
  """Writes labels.txt, run_info.json and train.tf_record, then runs the training loop."""
  if chief:
    run_info.write_lines(os.path.join(f.output_dir, run_info.LABELS_FILE), label_list)
    if info is not None:
      run_info.write_run_info(f.output_dir, info, f.vocab_file)
  path = os.path.join(trainer.scratch_dir, "train.tf_record")
  write_tfrecord(path, features)

  def dataset_fn(ctx, batch_size, consumed):
    return training.training_dataset(tfrecord_dataset(path, f.max_seq_length),
                                     features.num_windows, batch_size, f.seed, consumed,
                                     input_context=ctx,
                                     length_bucketing=trainer.length_bucketing,
                                     sorted_group_size=trainer.sorted_group_size)

  trainer.train(dataset_fn, description=f"{features.num_windows} windows, "
                f"{len(label_list)} tags, {f.num_train_epochs:g} epochs")


def console_main():
  """The `bert-run-ner` command: the flags of `python run_ner.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
