# coding=utf-8
"""Data side of run_classifier.py: processors, features, TFRecord caches.

Flag-free. Everything the reference's run_classifier.py offered keeps its
name and behaviour (`InputExample`, `DataProcessor`, `convert_single_example`,
`file_based_convert_examples_to_features`, ...), plus:

  * processors for all of GLUE (the reference had MRPC, CoLA, MNLI, XNLI),
    the simple `text_a/text_b/label` XNLI layout, and `CsvProcessor` for the
    users' own TSV / CSV / JSON-lines / JSON-array files;
  * `errors.DataError` (a ValueError) naming the file, line, value received and what
    is accepted, instead of an IndexError or KeyError deep in a loop;
  * float `label_ids` for regression (STS-B) in TFRecords; the reference
    handled classification only;
  * atomic cache writes with a `<file>.meta.json` sidecar (`cache_is_valid`);
  * GLUE-benchmark submission files (`write_glue_submission`).

Reading is deliberate about a few things the reference left to chance: a
UTF-8 byte-order mark is dropped before parsing (so it never sticks to the
first field), blank lines are skipped, and labels are compared after
stripping surrounding whitespace.
"""

import csv
import dataclasses
import hashlib
import inspect
import io
import json
import os
from typing import Any, Optional

from absl import logging
import numpy as np
import tensorflow as tf

import errors
import metrics
import run_info
import tokenization

# Version of the feature layout written by file_based_convert_examples_to_
# features; a cache written under another version is stale.
FEATURES_FORMAT = "bert-classifier-features/1"

# File a training run saves its label list to, one label a line.
LABELS_FILE_NAME = "labels.txt"

# Examples between two progress lines of the feature conversion.
_LOG_EVERY = 10000


@dataclasses.dataclass
class InputExample:
  """A single training/test example for simple sequence classification.

  Attributes:
    guid: str, "<split>-<id>": the id is the file's index/id column when it
      has one (GLUE test files), else the 0-based data row number.
    text_a: str, untokenized text of the first sequence.
    text_b: str or None, untokenized text of the second sequence (pair tasks).
    label: str, one of the processor's labels; a float for regression; for
      unlabeled test files a placeholder (the first label, or 0.0).
  """
  guid: str
  text_a: str
  text_b: Optional[str] = None
  label: Any = None


class PaddingInputExample(object):
  """Fake example padding eval/predict sets up to a multiple of the batch size.

  The reference needed it because TPUs require a fixed batch size; its
  features are all zeros with is_real_example=False, so metrics ignore it.
  """


@dataclasses.dataclass
class InputFeatures:
  """A single set of features of data.

  Attributes:
    input_ids: list of int of length max_seq_length, word-piece ids padded
      with 0.
    input_mask: list of int of length max_seq_length, 1 for real tokens.
    segment_ids: list of int of length max_seq_length, 0 for [CLS] a [SEP]
      and padding, 1 for b [SEP].
    label_id: int index into the label list; float for regression.
    is_real_example: bool, False for PaddingInputExample.
  """
  input_ids: list
  input_mask: list
  segment_ids: list
  label_id: Any
  is_real_example: bool = True


# ----------------------------------------------------------------------------
# Reading files.


class _Row(list):
  """A list of fields that remembers its 1-based line number in the file."""
  __slots__ = ("line_number",)


def _is_remote(path):
  return "://" in str(path)


def _file_exists(path):
  path = str(path)
  return tf.io.gfile.exists(path) if _is_remote(path) else os.path.isfile(path)


def _read_bytes(path, expected):
  """Returns the bytes of `path`; errors.DataError naming `expected` if absent."""
  path = str(path)
  if _is_remote(path):
    if not tf.io.gfile.exists(path):
      raise errors.DataError("%s: file not found; expected %s" % (path, expected))
    with tf.io.gfile.GFile(path, "rb") as f:
      return f.read()
  if not os.path.isfile(path):
    what = "is a directory" if os.path.isdir(path) else "file not found"
    raise errors.DataError("%s: %s; expected %s" % (path, what, expected))
  try:
    with open(path, "rb") as f:
      return f.read()
  except PermissionError:
    raise errors.DataError("%s: cannot be read: permission denied; make it readable "
                           "(chmod a+r)." % path) from None


def _read_text(path, expected="a UTF-8 text file"):
  """Returns the text of a UTF-8 file, without its byte-order mark if any."""
  data = _read_bytes(path, expected)
  if data.startswith(b"\xef\xbb\xbf"):
    data = data[3:]
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise errors.DataError(
        "%s, line %d: not valid UTF-8 (byte 0x%02x); re-save the file as "
        "UTF-8, e.g. iconv -f GB18030 -t UTF-8 (for Chinese text)"
        % (path, line, data[e.start])) from None


def read_rows(path, delimiter="\t", quotechar=None, expected="a TSV file"):
  """Reads a delimited text file into rows of fields.

  Args:
    path: str, local path or a tf.io.gfile URL (gs://...).
    delimiter: str, one character.
    quotechar: None reads quote characters as ordinary text (csv.QUOTE_NONE),
      as the reference's `_read_tsv(quotechar=None)` did for GLUE files;
      a character (e.g. '"') enables standard CSV quoting.
    expected: str, the expected layout, quoted by the missing-file error.

  Returns:
    list of rows; each row is a list of str with a `line_number` attribute
    (1-based, the line the record starts on). Blank lines are skipped.

  Raises:
    errors.DataError: missing file, bytes that are not UTF-8, or malformed CSV.
  """
  return _parse_rows(_read_text(path, expected), path, delimiter, quotechar)


def _parse_rows(text, path, delimiter, quotechar):
  """Parses delimited `text` (see read_rows); `path` is for error messages."""
  if quotechar is None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE)
  else:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quotechar=quotechar)
  rows = []
  next_line = 1
  try:
    for fields in reader:
      if fields:
        row = _Row(fields)
        row.line_number = next_line
        rows.append(row)
      next_line = reader.line_num + 1
  except csv.Error as e:
    raise errors.DataError("%s, line %d: %s" % (path, next_line, e)) from None
  return rows


def _parse_json_records(text, path):
  """Parses a JSON array of objects or JSON lines: list of (location, dict)."""
  if text.lstrip().startswith("["):
    try:
      records = json.loads(text)
    except json.JSONDecodeError as e:
      raise errors.DataError("%s, line %d: invalid JSON: %s"
                             % (path, e.lineno, e.msg)) from None
    located = [("record %d" % (i + 1), r) for i, r in enumerate(records)]
  else:
    located = []
    for n, line in enumerate(text.splitlines(), start=1):
      if not line.strip():
        continue
      try:
        located.append(("line %d" % n, json.loads(line)))
      except json.JSONDecodeError as e:
        raise errors.DataError("%s, line %d: invalid JSON line: %s"
                               % (path, n, e.msg)) from None
  for where, record in located:
    if not isinstance(record, dict):
      raise errors.DataError("%s, %s: expected a JSON object with the text and "
                             "label keys; received %s" % (path, where,
                                                   type(record).__name__))
  return located


def save_labels(path, labels):
  """Writes `labels` (list of str) to `path`, one a line, atomically."""
  for label in labels:
    if "\n" in label or "\r" in label or label != label.strip() or not label:
      raise errors.DataError("label %r cannot be saved one-per-line: labels must be "
                             "non-empty without surrounding whitespace" % label)
  run_info.write_text(path, "".join(label + "\n" for label in labels))


def load_labels(path):
  """Reads a label list saved by `save_labels`: list of str in id order."""
  text = _read_text(path, "the %s a training run writes to its output_dir "
                    "(one label a line); or pass the labels explicitly"
                    % LABELS_FILE_NAME)
  labels = [line.strip() for line in text.splitlines() if line.strip()]
  if not labels:
    raise errors.DataError("%s: no labels in the file" % path)
  return labels


# ----------------------------------------------------------------------------
# Processors.


class DataProcessor(object):
  """Base class for data converters for sequence classification data sets.

  Subclasses written for the reference (overriding the four get_* methods and
  calling `self._read_tsv`) keep working unchanged.

  Attributes:
    is_regression: bool, True when labels are floats (e.g. STS-B).
    metric_kind: str, the `metrics.classification_metrics` kind of the task.
    test_has_labels: None until get_test_examples ran; then whether the test
      file carried real labels (else every label is a placeholder).
    source_files: dict split -> path of the file read by the last
      get_*_examples call of that split (set by the first call), e.g. for
      make_cache_meta.
  """
  is_regression = False
  metric_kind = "accuracy"
  test_has_labels = None

  def get_train_examples(self, data_dir):
    """Gets a collection of `InputExample`s for the train set."""
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    """Gets a collection of `InputExample`s for the dev set."""
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    """Gets a collection of `InputExample`s for prediction."""
    raise NotImplementedError()

  def get_labels(self):
    """Gets the list of labels (str) in id order; [] for regression."""
    raise NotImplementedError()

  @property
  def num_labels(self):
    """Width of the classifier's output: 1 for regression."""
    return 1 if self.is_regression else len(self.get_labels())

  @property
  def metric_names(self):
    """Names of the task's own eval_results.txt figures (see metrics.py)."""
    return metrics.metric_names(self.metric_kind, self.get_labels())

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    """Reads a tab separated value file: list of rows (lists of str)."""
    return read_rows(input_file, "\t", quotechar)

  def _record_source(self, split, path):
    if "source_files" not in self.__dict__:
      self.source_files = {}
    self.source_files[split] = str(path)

  def _placeholder_label(self):
    """Label of the examples of an unlabeled test file (as the reference)."""
    return 0.0 if self.is_regression else self.get_labels()[0]

  def _parse_label(self, value, label_set, path, where):
    """Returns a checked label (str, or float for regression)."""
    value = value.strip()
    if self.is_regression:
      try:
        return float(value)
      except ValueError:
        raise errors.DataError("%s, %s: label %r is not a number; this is a "
                               "regression task" % (path, where, value)) from None
    if value not in label_set:
      raise errors.DataError("%s, %s: unknown label %r; accepted labels: %s"
                             % (path, where, value, ", ".join(self.get_labels())))
    return value


@dataclasses.dataclass(frozen=True)
class _Layout:
  """Where the fields of one kind of TSV row are (0-based columns).

  `label` may be negative (counted from the end, MNLI's gold_label); None
  means the file carries no labels. `guid` None: use the data row number.
  """
  text_a: int
  text_b: Optional[int] = None
  label: Optional[int] = None
  guid: Optional[int] = None
  header: bool = True
  description: str = ""

  @property
  def min_columns(self):
    columns = [c for c in (self.text_a, self.text_b, self.label, self.guid)
               if c is not None]
    needed = max(c for c in columns if c >= 0) + 1
    if self.label is not None and self.label < 0:
      needed += -self.label
    return needed


class _TableProcessor(DataProcessor):
  """Turns rows of a fixed `_Layout` into `InputExample`s."""

  def _map_label(self, label):
    """Hook: rewrites a raw label before it is checked."""
    return label

  def _examples_from_rows(self, rows, path, set_type, layout, keep=None):
    """Builds examples from `rows` (from read_rows) laid out as `layout`."""
    data_rows = rows[1:] if layout.header else rows
    needed = layout.min_columns
    label_set = frozenset(self.get_labels())
    placeholder = self._placeholder_label() if layout.label is None else None
    examples = []
    for n, row in enumerate(data_rows):
      if len(row) < needed:
        raise errors.DataError(
            "%s, line %d: found %d columns, need at least %d (%s)"
            % (path, row.line_number, len(row), needed, layout.description))
      if keep is not None and not keep(row):
        continue
      guid = "%s-%s" % (set_type,
                        n if layout.guid is None else row[layout.guid])
      text_b = None if layout.text_b is None else row[layout.text_b]
      if layout.label is None:
        label = placeholder
      else:
        label = self._parse_label(self._map_label(row[layout.label].strip()),
                                  label_set, path, "line %d" % row.line_number)
      examples.append(InputExample(guid, row[layout.text_a], text_b, label))
    if not examples:
      raise errors.DataError("%s: no examples in the file; expected %s"
                             % (path, layout.description))
    return examples


class _GlueProcessor(_TableProcessor):
  """A GLUE task as distributed by download_glue_data.py.

  Test files of GLUE carry no labels; a test file in the labeled (train/dev)
  layout, e.g. dev.tsv copied to test.tsv, is recognised by its first row
  (`_is_labeled_test`) and keeps its labels.
  """
  name = ""
  labels = ()
  train_file, dev_file, test_file = "train.tsv", "dev.tsv", "test.tsv"
  labeled_layout = None    # _Layout of train/dev files.
  test_layout = None       # _Layout of the unlabeled test file.
  labeled_marker = None    # (column, header cell) found only in labeled files.

  def get_labels(self, data_dir=None, label_dirs=()):
    """The task's fixed labels; the arguments (see CsvProcessor) are unused."""
    del data_dir, label_dirs
    return list(self.labels)

  def get_train_examples(self, data_dir):
    return self._read_split(data_dir, self.train_file, "train")

  def get_dev_examples(self, data_dir):
    return self._read_split(data_dir, self.dev_file, "dev")

  def get_test_examples(self, data_dir):
    return self._read_split(data_dir, self.test_file, "test")

  def _is_labeled_test(self, first_row):
    column, cell = self.labeled_marker
    if not -len(first_row) <= column < len(first_row):
      return False
    return first_row[column].strip() == cell

  def _read_split(self, data_dir, file_name, set_type):
    path = os.path.join(data_dir, file_name)
    layout = self.labeled_layout
    if set_type == "test":
      layout = self.test_layout
    expected = "the %s %s file (%s), as download_glue_data.py writes it" % (
        self.name, file_name, layout.description)
    rows = read_rows(path, "\t", None, expected)
    if set_type == "test":
      if rows and self._is_labeled_test(rows[0]):
        layout = self.labeled_layout
      self.test_has_labels = layout.label is not None
    self._record_source(set_type, path)
    return self._examples_from_rows(rows, path, set_type, layout)


class MrpcProcessor(_GlueProcessor):
  """MRPC (GLUE): paraphrase pairs, labels "0"/"1"; official metrics F1, acc."""
  name = "MRPC"
  labels = ("0", "1")
  metric_kind = "f1"
  labeled_layout = _Layout(text_a=3, text_b=4, label=0, description=(
      "header; Quality, #1 ID, #2 ID, #1 String, #2 String"))
  test_layout = _Layout(text_a=3, text_b=4, guid=0, description=(
      "header; index, #1 ID, #2 ID, #1 String, #2 String"))
  labeled_marker = (0, "Quality")


class ColaProcessor(_GlueProcessor):
  """CoLA (GLUE): acceptability, labels "0"/"1"; official metric Matthews."""
  name = "CoLA"
  labels = ("0", "1")
  metric_kind = "mcc"
  labeled_layout = _Layout(text_a=3, label=1, header=False, description=(
      "no header; source, label, original label, sentence"))
  test_layout = _Layout(text_a=1, guid=0, description="header; index, sentence")

  def _is_labeled_test(self, first_row):
    # Only the test set has a header; a headerless 4-column file is labeled.
    return len(first_row) >= 4 and first_row[1].strip() in self.labels


class Sst2Processor(_GlueProcessor):
  """SST-2 (GLUE): sentiment of single sentences, labels "0"/"1"."""
  name = "SST-2"
  labels = ("0", "1")
  labeled_layout = _Layout(text_a=0, label=1,
                           description="header; sentence, label")
  test_layout = _Layout(text_a=1, guid=0, description="header; index, sentence")
  labeled_marker = (0, "sentence")


class QnliProcessor(_GlueProcessor):
  """QNLI (GLUE v2): question/sentence entailment."""
  name = "QNLI"
  labels = ("entailment", "not_entailment")
  labeled_layout = _Layout(text_a=1, text_b=2, label=3, guid=0, description=(
      "header; index, question, sentence, label"))
  test_layout = _Layout(text_a=1, text_b=2, guid=0, description=(
      "header; index, question, sentence"))
  labeled_marker = (3, "label")


class RteProcessor(QnliProcessor):
  """RTE (GLUE): textual entailment."""
  name = "RTE"
  labeled_layout = _Layout(text_a=1, text_b=2, label=3, guid=0, description=(
      "header; index, sentence1, sentence2, label"))
  test_layout = _Layout(text_a=1, text_b=2, guid=0, description=(
      "header; index, sentence1, sentence2"))


class WnliProcessor(RteProcessor):
  """WNLI (GLUE): Winograd pronoun entailment, labels "0"/"1"."""
  name = "WNLI"
  labels = ("0", "1")


class QqpProcessor(_GlueProcessor):
  """QQP (GLUE): duplicate questions, labels "0"/"1"; metrics F1, accuracy."""
  name = "QQP"
  labels = ("0", "1")
  metric_kind = "f1"
  labeled_layout = _Layout(text_a=3, text_b=4, label=5, guid=0, description=(
      "header; id, qid1, qid2, question1, question2, is_duplicate"))
  test_layout = _Layout(text_a=1, text_b=2, guid=0, description=(
      "header; id, question1, question2"))
  labeled_marker = (5, "is_duplicate")


class StsbProcessor(_GlueProcessor):
  """STS-B (GLUE): similarity score 0-5, a regression task (float labels)."""
  name = "STS-B"
  is_regression = True
  metric_kind = "regression"
  labeled_layout = _Layout(text_a=7, text_b=8, label=9, guid=0, description=(
      "header; index, genre, filename, year, old_index, source1, source2, "
      "sentence1, sentence2, score"))
  test_layout = _Layout(text_a=7, text_b=8, guid=0, description=(
      "header; index, genre, filename, year, old_index, source1, source2, "
      "sentence1, sentence2"))
  labeled_marker = (9, "score")


class MnliProcessor(_GlueProcessor):
  """MNLI (GLUE), matched dev/test sets."""
  name = "MNLI"
  labels = ("contradiction", "entailment", "neutral")
  dev_file, test_file = "dev_matched.tsv", "test_matched.tsv"
  labeled_layout = _Layout(text_a=8, text_b=9, label=-1, guid=0, description=(
      "header; index, promptID, pairID, genre, 4 parse columns, sentence1, "
      "sentence2, label columns, gold_label last"))
  test_layout = _Layout(text_a=8, text_b=9, guid=0, description=(
      "header; index, promptID, pairID, genre, 4 parse columns, sentence1, "
      "sentence2"))
  labeled_marker = (-1, "gold_label")


class MnliMismatchedProcessor(MnliProcessor):
  """MNLI (GLUE), mismatched dev/test sets."""
  dev_file, test_file = "dev_mismatched.tsv", "test_mismatched.tsv"


class XnliProcessor(_TableProcessor):
  """XNLI, one language, in the reference's layout or the simple one.

  Reference layout (XnliProcessor of google-research/bert):
    train  multinli/multinli.train.<language>.tsv  header; premise, hypo, label
    dev    xnli.dev.tsv   header; language, gold_label, ..., sentence1 (col 6),
    test   xnli.test.tsv  sentence2 (col 7), ...; other languages skipped
  Simple layout (e.g. ERNIE's XNLI-zh), recognised by its header:
    train.tsv / dev.tsv / test.tsv   header text_a, text_b, label
  "contradictory" (MultiNLI's machine-translated train sets) is read as
  "contradiction" in every split; the reference did so in train only.
  """
  labels = ("contradiction", "entailment", "neutral")
  _SIMPLE_HEADER = ["text_a", "text_b", "label"]
  _SIMPLE = _Layout(text_a=0, text_b=1, label=2,
                    description="header; text_a, text_b, label")
  _SIMPLE_UNLABELED = _Layout(text_a=0, text_b=1,
                              description="header; text_a, text_b")
  _MULTINLI = _Layout(text_a=0, text_b=1, label=2,
                      description="header; premise, hypo, label")
  _XNLI = _Layout(text_a=6, text_b=7, label=1, description=(
      "header; language, gold_label, 4 parse columns, sentence1, sentence2, "
      "..."))

  def __init__(self, language="zh"):
    self.language = language

  def get_labels(self, data_dir=None, label_dirs=()):
    """The task's fixed labels; the arguments (see CsvProcessor) are unused."""
    del data_dir, label_dirs
    return list(self.labels)

  def _map_label(self, label):
    return "contradiction" if label == "contradictory" else label

  def get_train_examples(self, data_dir):
    reference = os.path.join("multinli",
                             "multinli.train.%s.tsv" % self.language)
    return self._read_split(data_dir, "train", reference, "train.tsv")

  def get_dev_examples(self, data_dir):
    return self._read_split(data_dir, "dev", "xnli.dev.tsv", "dev.tsv")

  def get_test_examples(self, data_dir):
    return self._read_split(data_dir, "test", "xnli.test.tsv", "test.tsv")

  def _read_split(self, data_dir, set_type, reference_file, simple_file):
    reference_path = os.path.join(data_dir, reference_file)
    simple_path = os.path.join(data_dir, simple_file)
    path = reference_path if _file_exists(reference_path) else simple_path
    expected = ("%s (the reference's XNLI layout) or %s (%s)"
                % (reference_path, simple_path, self._SIMPLE.description))
    rows = read_rows(path, "\t", None, expected)
    keep = None
    header = [cell.strip() for cell in rows[0]] if rows else []
    if header[:2] == self._SIMPLE_HEADER[:2]:
      layout = (self._SIMPLE if header[2:3] == ["label"]
                else self._SIMPLE_UNLABELED)
    elif path == reference_path and set_type == "train":
      layout = self._MULTINLI
    elif path == reference_path:
      layout = self._XNLI
      keep = lambda row: row[0] == self.language
    else:
      raise errors.DataError("%s: unrecognised header %s; expected %s"
                             % (path, header, expected))
    if set_type == "test":
      self.test_has_labels = layout.label is not None
    self._record_source(set_type, path)
    return self._examples_from_rows(rows, path, set_type, layout, keep)


def _column_option(value, option):
  """A column option as a name (str) or a 0-based index (int), or None."""
  if value is None or (isinstance(value, str) and not value.strip()):
    return None
  if isinstance(value, str):
    value = value.strip()
    return int(value) if value.isdigit() else value
  if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
    return value
  raise errors.DataError("%s=%r: expected a column name or a 0-based column index"
                         % (option, value))


def _labels_option(labels):
  """The `labels` option (list, or comma-separated str) as a list, or None."""
  if labels is None:
    return None
  if isinstance(labels, str):
    labels = labels.split(",")
  labels = [str(label).strip() for label in labels]
  labels = [label for label in labels if label]
  if not labels:
    return None
  if len(set(labels)) != len(labels):
    raise errors.DataError("labels=%s: a label is repeated" % ",".join(labels))
  return labels


def _has_header_option(value):
  if value is None or isinstance(value, bool):
    return value
  text = str(value).strip().lower()
  if text in ("", "auto", "none"):
    return None
  if text in ("true", "1", "yes"):
    return True
  if text in ("false", "0", "no"):
    return False
  raise errors.DataError("has_header=%r: expected true, false or auto" % value)


def _is_number(text):
  try:
    float(text)
    return True
  except ValueError:
    return False


def _sorted_labels(labels):
  """Distinct labels sorted, numerically when all of them are numbers."""
  labels = set(labels)
  if all(_is_number(label) for label in labels):
    return sorted(labels, key=lambda label: (float(label), label))
  return sorted(labels)


_EXTENSION_FORMATS = {".tsv": "tsv", ".csv": "csv", ".json": "json",
                      ".jsonl": "json", ".ndjson": "json"}


class CsvProcessor(DataProcessor):
  """The users' own data: TSV, CSV, JSON lines or a JSON array of objects.

  Columns are names (of the header row, or JSON keys) or 0-based indexes;
  digit strings such as "2" (from a command line) count as indexes. The file
  format follows the extension: .tsv (tab, quotes are plain text, as GLUE),
  .csv (comma, standard CSV quoting), .json/.jsonl; any other extension
  (.txt, ...) is sniffed: a file starting with "[" or "{" is tried as JSON,
  anything else is TSV.

  The label list is, in order of precedence: the `labels` option (list or
  comma-separated str; its order fixes the label ids); else the distinct
  labels of the training file, sorted (numerically when all are numbers) so
  the ids do not depend on the order of the training rows. A predict-only
  run without a training file must pass `labels`, e.g.
  `load_labels(<output_dir>/labels.txt)` saved by the training run.

  With `has_header=None` (auto) a header row is assumed when columns are
  given by name; with indexes, the first row is a header when its label cell
  is not a known label (for regression: not a number). While the labels are
  still unknown (reading the training file), it is guessed - with a warning -
  to be a header when its label cell occurs nowhere else in the column and
  is not a number among numbers. An unlabeled test file reuses the training
  file's decision.
  """
  metric_kind = "multiclass"

  def __init__(self, data_dir=None, train_file="train.tsv",
               dev_file="dev.tsv", test_file="test.tsv",
               text_a_column="text_a", text_b_column=None,
               label_column="label", id_column=None, has_header=None,
               labels=None, delimiter=None, quotechar=None, file_format=None,
               is_regression=False):
    """Constructs the processor; options are checked here, files read later.

    Args:
      data_dir: str or None, where get_labels() finds the training file
        (the data_dir of get_*_examples calls is remembered too).
      train_file, dev_file, test_file: str, file names inside data_dir.
      text_a_column, text_b_column, label_column, id_column: column name or
        0-based index; text_b (pair tasks) and id (example ids) are optional.
      has_header: True, False or None (auto, see the class docstring).
      labels: list of str or comma-separated str, or None (see above).
      delimiter: str or None (tab for TSV, comma for CSV).
      quotechar: str or None (None for TSV: quotes are text; '"' for CSV).
      file_format: "tsv", "csv", "json" or None (from the extension).
      is_regression: bool, labels are numbers (one output, metrics.py's
        "regression" kind).
    """
    self.data_dir = data_dir
    self.files = {"train": train_file, "dev": dev_file, "test": test_file}
    self.columns = {
        "text_a": _column_option(text_a_column, "text_a_column"),
        "text_b": _column_option(text_b_column, "text_b_column"),
        "label": _column_option(label_column, "label_column"),
        "id": _column_option(id_column, "id_column"),
    }
    if self.columns["text_a"] is None or self.columns["label"] is None:
      raise errors.DataError("text_a_column and label_column are required; received "
                             "text_a_column=%r, label_column=%r"
                             % (text_a_column, label_column))
    self.has_header = _has_header_option(has_header)
    self.is_regression = bool(is_regression)
    self.metric_kind = "regression" if self.is_regression else "multiclass"
    self._labels = None if self.is_regression else _labels_option(labels)
    if file_format not in (None, "tsv", "csv", "json"):
      raise errors.DataError("file_format=%r: expected tsv, csv, json or None (from "
                             "the file extension)" % file_format)
    self.file_format = file_format
    self.delimiter = delimiter
    self.quotechar = quotechar
    self._inferred_labels = None
    self._header_decision = None

  def get_labels(self, data_dir=None, label_dirs=()):
    """The label list (see the class docstring), [] for regression.

    Args:
      data_dir: str or None, folder of the training file (default: the
        constructor's or the last get_*_examples call's).
      label_dirs: folders searched, in order, for the labels.txt a training
        run saved (e.g. output_dir); a list found there is the one the
        trained classifier's outputs follow, so it wins over the training
        file. The `labels` option wins over both.

    Raises:
      errors.DataError: no labels option, no labels.txt and no training file.
    """
    if self.is_regression:
      return []
    if self._labels is not None:
      return list(self._labels)
    for folder in label_dirs or ():
      path = os.path.join(folder, LABELS_FILE_NAME)
      if _file_exists(path):
        self._labels = load_labels(path)
        logging.info("Labels from %s: %s", path, self._labels)
        return list(self._labels)
    if data_dir is not None:
      self.data_dir = data_dir
    if self._inferred_labels is None:
      if self.data_dir is None:
        raise errors.DataError("no label list: pass labels=... or data_dir= (to "
                               "read them from the training file %s)"
                               % self.files["train"])
      path = os.path.join(self.data_dir, self.files["train"])
      if not _file_exists(path):
        raise errors.DataError(
            "%s: no training file to read the labels from, and no %s in %s; "
            "pass labels=..., e.g. those the training run saved in its "
            "output_dir/%s" % (path, LABELS_FILE_NAME,
                               list(label_dirs or ()), LABELS_FILE_NAME))
      self.get_train_examples(self.data_dir)
    return list(self._inferred_labels)

  def get_train_examples(self, data_dir):
    return self._read_split(data_dir, "train")

  def get_dev_examples(self, data_dir):
    return self._read_split(data_dir, "dev")

  def get_test_examples(self, data_dir):
    return self._read_split(data_dir, "test")

  def _read_split(self, data_dir, set_type):
    self.data_dir = data_dir
    path = os.path.join(data_dir, self.files[set_type])
    if set_type != "train":
      self.get_labels()  # Dev/test labels are checked against the train list.
    text = _read_text(path, self._expected())
    fmt = self.file_format or _EXTENSION_FORMATS.get(
        os.path.splitext(path)[1].lower())
    located = None
    if fmt == "json" or (fmt is None and text.lstrip()[:1] in ("[", "{")):
      try:
        located = _parse_json_records(text, path)
      except errors.DataError:
        if fmt == "json":
          raise
    if located is not None:
      records, labeled = self._json_records(located, path, set_type)
    else:  # TSV / CSV, or a sniffed file that was not JSON after all.
      delimiter = self.delimiter or ("," if fmt == "csv" else "\t")
      quotechar = self.quotechar or ('"' if fmt == "csv" else None)
      rows = _parse_rows(text, path, delimiter, quotechar)
      records, labeled = self._table_records(rows, path, set_type)
    if set_type == "test":
      self.test_has_labels = labeled
    elif not labeled:
      raise errors.DataError("%s: no label column %r; pass label_column=<name or "
                             "0-based index>" % (path, self.columns["label"]))
    self._record_source(set_type, path)
    return self._examples_from_records(records, path, set_type, labeled)

  def _expected(self):
    named = {role: column for role, column in self.columns.items()
             if column is not None}
    return ("a TSV/CSV/JSON file with columns %s" % ", ".join(
        "%s=%r" % item for item in named.items()))

  def _json_records(self, located, path, set_type):
    """(records, labeled): records are (where, {role: str}) of JSON objects."""
    named = {role: key for role, key in self.columns.items() if key is not None}
    if any(isinstance(key, int) for key in named.values()):
      raise errors.DataError("%s: JSON records are addressed by key; received column "
                             "indexes %s" % (path, named))
    labeled = not (set_type == "test" and located
                   and named["label"] not in located[0][1])
    if not labeled:
      del named["label"]
    records = []
    for where, obj in located:
      fields = {}
      for role, key in named.items():
        value = obj.get(key)
        if value is None:
          raise errors.DataError("%s, %s: no key %r (the %s column); keys found: %s"
                                 % (path, where, key, role, ", ".join(obj)))
        fields[role] = value if isinstance(value, str) else str(value)
      records.append((where, fields))
    return records, labeled

  def _table_records(self, rows, path, set_type):
    """(records, labeled): records are (where, {role: str}) of table rows."""
    if not rows:
      raise errors.DataError("%s: no examples in the file; expected %s"
                             % (path, self._expected()))
    has_header, index = self._resolve_columns(rows, path, set_type)
    needed = max(index.values()) + 1
    records = []
    for row in rows[1:] if has_header else rows:
      if len(row) < needed:
        raise errors.DataError(
            "%s, line %d: found %d columns, need at least %d (%s)"
            % (path, row.line_number, len(row), needed, ", ".join(
                "%s in column %d" % item for item in index.items())))
      records.append(("line %d" % row.line_number,
                      {role: row[i] for role, i in index.items()}))
    return records, "label" in index

  def _resolve_columns(self, rows, path, set_type):
    """(has_header, {role: 0-based column}) of a table file."""
    columns = {role: c for role, c in self.columns.items() if c is not None}
    first = rows[0]
    if any(isinstance(c, str) for c in columns.values()):
      if self.has_header is False:
        raise errors.DataError("%s: columns given by name need a header row, but "
                               "has_header=False; give 0-based column indexes"
                               % path)
      header = [cell.strip() for cell in first]
      index = {}
      for role, column in columns.items():
        if isinstance(column, int):
          index[role] = column
        elif column in header:
          index[role] = header.index(column)
        elif not (role == "label" and set_type == "test"):
          raise errors.DataError(
              "%s, line %d: no column named %r (the %s column) in the header "
              "row %s; pass %s_column=<name or 0-based index>"
              % (path, first.line_number, column, role, header, role))
      return True, index
    index = dict(columns)
    if set_type == "test" and len(first) <= index["label"]:
      del index["label"]  # An unlabeled test file.
    has_header = self.has_header
    if has_header is None:
      has_header = self._detect_header(rows, index.get("label"), path)
    return has_header, index

  def _detect_header(self, rows, label_index, path):
    """Whether the first row is a header (see the class docstring)."""
    if label_index is None:
      if self._header_decision is None:
        logging.warning("%s: cannot tell whether the first row is a header "
                        "(no label column); reading it as data. Set "
                        "has_header to be sure.", path)
        return False
      return self._header_decision
    cell = rows[0][label_index].strip()
    known = self._labels or self._inferred_labels
    if self.is_regression:
      header = not _is_number(cell)
    elif known is not None:
      header = cell not in known
    else:  # Labels still unknown: a guess, logged as a warning.
      others = [row[label_index].strip() for row in rows[1:]
                if len(row) > label_index]
      header = cell not in others and not (
          _is_number(cell) and all(_is_number(other) for other in others))
      if header:
        logging.warning("%s: guessing that the first row is a header (its "
                        "label %r occurs nowhere else): %s. Set has_header "
                        "to be sure.", path, cell, rows[0])
    if header:
      logging.info("%s: reading the first row as a header: %s", path, rows[0])
    self._header_decision = header
    return header

  def _examples_from_records(self, records, path, set_type, labeled):
    infer = labeled and not self.is_regression and \
        self._labels is None and set_type == "train"
    label_set = frozenset() if infer or self.is_regression else \
        frozenset(self.get_labels())
    examples = []
    for n, (where, fields) in enumerate(records):
      guid = "%s-%s" % (set_type, fields.get("id", n))
      if not labeled:
        label = None
      elif infer:
        label = fields["label"].strip()
      else:
        label = self._parse_label(fields["label"], label_set, path, where)
      examples.append(InputExample(guid, fields["text_a"],
                                   fields.get("text_b"), label))
    if not examples:
      raise errors.DataError("%s: no examples in the file; expected %s"
                             % (path, self._expected()))
    if infer:
      self._inferred_labels = _sorted_labels(e.label for e in examples)
    if not labeled:
      placeholder = self._placeholder_label()
      for example in examples:
        example.label = placeholder
    return examples


# Task name (lower case) -> processor class.
PROCESSORS = {
    "cola": ColaProcessor,
    "sst-2": Sst2Processor,
    "sst2": Sst2Processor,
    "mrpc": MrpcProcessor,
    "sts-b": StsbProcessor,
    "stsb": StsbProcessor,
    "qqp": QqpProcessor,
    "mnli": MnliProcessor,
    "mnli-mm": MnliMismatchedProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
    "csv": CsvProcessor,
    "custom": CsvProcessor,
}


def get_processor(task_name, **options):
  """Returns the processor of `task_name` (case-insensitive).

  Args:
    task_name: str, a key of PROCESSORS.
    **options: constructor options: `language` for xnli, the CsvProcessor
      arguments for csv/custom; GLUE tasks take none.

  Raises:
    errors.DataError: unknown task name, or an option the task does not take.
  """
  key = str(task_name).strip().lower()
  if key not in PROCESSORS:
    raise errors.DataError("unknown task_name %r; accepted: %s"
                           % (task_name, ", ".join(sorted(PROCESSORS))))
  processor_class = PROCESSORS[key]
  try:
    inspect.signature(processor_class).bind(**options)
  except TypeError:
    accepted = [name for name in inspect.signature(processor_class).parameters]
    raise errors.DataError("task %s does not take the option(s) %s; accepted: %s"
                           % (key, ", ".join(sorted(options)),
                       ", ".join(accepted) or "none")) from None
  return processor_class(**options)


# ----------------------------------------------------------------------------
# Features.


def _truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates a sequence pair in place to the maximum length.

  One token at a time from the longer sequence (from b on a tie), as the
  reference: a shorter sequence keeps proportionally more of its tokens.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def _check_max_seq_length(max_seq_length):
  if max_seq_length < 3:
    raise errors.UserError("max_seq_length must be at least 3 ([CLS] a [SEP] b "
                           "[SEP] with a and b non-empty). Received: "
                           "max_seq_length=%d" % max_seq_length)


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer):
  """Converts a single `InputExample` into a single `InputFeatures`.

  Args:
    ex_index: int, position of the example (the first 5 are logged).
    example: InputExample or PaddingInputExample.
    label_list: list of str; empty for regression, where label_id is
      float(example.label).
    max_seq_length: int, length of the id lists, >= 3.
    tokenizer: tokenization.FullTokenizer.

  Returns:
    InputFeatures: `[CLS] a [SEP]` (+ `b [SEP]`), zero-padded.

  Raises:
    errors.DataError: example.label is not in label_list.
  """
  label_map = {label: i for i, label in enumerate(label_list or ())}
  return _convert_example(ex_index, example, label_map, max_seq_length,
                          tokenizer)


def _convert_example(ex_index, example, label_map, max_seq_length, tokenizer):
  """convert_single_example with the label map built once by the caller."""
  _check_max_seq_length(max_seq_length)
  if isinstance(example, PaddingInputExample):
    return InputFeatures(input_ids=[0] * max_seq_length,
                         input_mask=[0] * max_seq_length,
                         segment_ids=[0] * max_seq_length,
                         label_id=0 if label_map else 0.0,
                         is_real_example=False)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  if tokens_b:
    # Account for [CLS], [SEP], [SEP] with "- 3".
    _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[:max_seq_length - 2]  # Account for [CLS] and [SEP].
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  padding = [0] * (max_seq_length - len(input_ids))
  input_ids += padding
  input_mask += padding
  segment_ids += padding
  if not label_map:
    label_id = float(example.label)
  elif example.label in label_map:
    label_id = label_map[example.label]
  else:
    raise errors.DataError("example %s: label %r is not in the label list %s"
                           % (example.guid, example.label, list(label_map)))
  if ex_index < 5:
    logging.info("*** Example ***\nguid: %s\ntokens: %s\ninput_ids: %s\n"
                 "input_mask: %s\nsegment_ids: %s\nlabel: %s (id = %s)",
                 example.guid, " ".join(tokenization.printable_text(t)
                                        for t in tokens),
                 " ".join(map(str, input_ids)), " ".join(map(str, input_mask)),
                 " ".join(map(str, segment_ids)), example.label, label_id)
  return InputFeatures(input_ids, input_mask, segment_ids, label_id)


def _iter_features(examples, label_list, max_seq_length, tokenizer):
  """Yields the InputFeatures of `examples`, logging progress."""
  label_map = {label: i for i, label in enumerate(label_list or ())}
  for ex_index, example in enumerate(examples):
    if ex_index % _LOG_EVERY == 0:
      logging.info("Writing example %d of %d", ex_index, len(examples))
    yield _convert_example(ex_index, example, label_map, max_seq_length,
                           tokenizer)


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer):
  """Converts a list of `InputExample`s into a list of `InputFeatures`."""
  _check_max_seq_length(max_seq_length)
  return list(_iter_features(examples, label_list, max_seq_length, tokenizer))


# ----------------------------------------------------------------------------
# TFRecord caches.


def _int_feature(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _float_feature(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _meta_path(output_file):
  return str(output_file) + ".meta.json"


def _json_round_trip(value):
  """`value` as JSON would give it back (tuples become lists, ...)."""
  return json.loads(json.dumps(value))


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, is_regression=False,
                                            meta=None):
  """Converts `examples` to a TFRecord file plus a `.meta.json` sidecar.

  Features (one tf.train.Example per example, as the reference):
    input_ids, input_mask, segment_ids  int64 [max_seq_length]
    label_ids                           int64 [1]; float [1] for regression
                                        (the reference had no regression)
    is_real_example                     int64 [1]

  The records go to a temporary file renamed to `output_file` at the end,
  and the old sidecar is removed first, so an interrupted run leaves either
  no cache or one `cache_is_valid` rejects - never a half-written one.

  Args:
    examples: list of InputExample / PaddingInputExample.
    label_list: list of str; empty for regression.
    max_seq_length: int.
    tokenizer: tokenization.FullTokenizer.
    output_file: str, path of the TFRecord file (local or gs://).
    is_regression: bool, must agree with an empty label_list.
    meta: dict or None, what the cache was built from (see make_cache_meta),
      stored in the sidecar with num_examples, max_seq_length, label_list,
      is_regression, format and the TFRecord's size.

  Returns:
    dict, the sidecar written to `<output_file>.meta.json`.
  """
  if bool(is_regression) == bool(label_list):
    raise ValueError("is_regression=%s needs %s label_list; received %s"
                     % (is_regression, "an empty" if is_regression else "a",
                        label_list))
  output_file = str(output_file)
  if tf.io.gfile.exists(_meta_path(output_file)):
    tf.io.gfile.remove(_meta_path(output_file))
  label_feature = _float_feature if is_regression else _int_feature
  with run_info.atomic_path(output_file) as tmp_file, \
      tf.io.TFRecordWriter(tmp_file) as writer:
    for feature in _iter_features(examples, label_list, max_seq_length, tokenizer):
      features = {
          "input_ids": _int_feature(feature.input_ids),
          "input_mask": _int_feature(feature.input_mask),
          "segment_ids": _int_feature(feature.segment_ids),
          "label_ids": label_feature([feature.label_id]),
          "is_real_example": _int_feature([int(feature.is_real_example)]),
      }
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=features)).SerializeToString())
  written = dict(meta or {})
  written.update(
      format=FEATURES_FORMAT,
      num_examples=len(examples),
      num_real_examples=sum(not isinstance(e, PaddingInputExample)
                            for e in examples),
      max_seq_length=max_seq_length,
      label_list=list(label_list or []),
      is_regression=bool(is_regression),
      tfrecord_size=tf.io.gfile.stat(output_file).length)
  written = _json_round_trip(written)
  run_info.write_text(_meta_path(output_file),
                     json.dumps(written, indent=2, ensure_ascii=False) + "\n")
  return written


def _file_fingerprint(path):
  path = str(path)
  stat = tf.io.gfile.stat(path)
  return {"path": os.path.abspath(path) if not _is_remote(path) else path,
          "size": stat.length, "mtime_nsec": stat.mtime_nsec}


def make_cache_meta(task_name, vocab_file, do_lower_case, data_files,
                    max_seq_length, label_list, num_examples=None,
                    is_regression=False):
  """Describes what a feature cache is built from, for `cache_is_valid`.

  Args:
    task_name: str.
    vocab_file: str, path of vocab.txt (its size and SHA-256 are recorded).
    do_lower_case: bool.
    data_files: list of str, the data files the examples came from (their
      path, size and mtime are recorded), e.g. processor.source_files values.
    max_seq_length: int.
    label_list: list of str.
    num_examples: int or None, number of examples (with padding) if known.
    is_regression: bool.

  Returns:
    dict of JSON values.
  """
  with tf.io.gfile.GFile(str(vocab_file), "rb") as f:
    vocab_bytes = f.read()
  meta = {
      "task": str(task_name).lower(),
      "vocab_file": {"size": len(vocab_bytes),
                     "sha256": hashlib.sha256(vocab_bytes).hexdigest()},
      "do_lower_case": bool(do_lower_case),
      "data_files": [_file_fingerprint(path) for path in data_files],
      "max_seq_length": int(max_seq_length),
      "label_list": list(label_list or []),
      "is_regression": bool(is_regression),
  }
  if num_examples is not None:
    meta["num_examples"] = int(num_examples)
  return _json_round_trip(meta)


def read_cache_meta(output_file):
  """The sidecar of a feature cache as a dict, or None if absent/unreadable."""
  path = _meta_path(output_file)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      meta = json.load(f)
  except ValueError:
    return None
  return meta if isinstance(meta, dict) else None


def cache_is_valid(output_file, expected_meta):
  """Whether the TFRecord cache `output_file` can be reused.

  True when the file and its sidecar exist, the sidecar's format is
  FEATURES_FORMAT, the file has the size the sidecar recorded (it was not
  rewritten by another run) and every key of `expected_meta` has the same
  value in the sidecar. The reason for a False is logged.
  """
  output_file = str(output_file)
  meta = read_cache_meta(output_file)
  reason = None
  if not tf.io.gfile.exists(output_file):
    reason = "no file"
  elif meta is None:
    reason = "no readable %s" % _meta_path(output_file)
  elif meta.get("format") != FEATURES_FORMAT:
    reason = "format %r, expected %r" % (meta.get("format"), FEATURES_FORMAT)
  elif meta.get("tfrecord_size") != tf.io.gfile.stat(output_file).length:
    reason = "the file changed after its sidecar was written"
  else:
    for key, value in _json_round_trip(dict(expected_meta)).items():
      if meta.get(key) != value:
        reason = "%s differs: cached %r, now %r" % (key, meta.get(key), value)
        break
  if reason:
    logging.info("Feature cache %s is stale (%s); rebuilding it.",
                 output_file, reason)
  return reason is None


def file_based_dataset(input_file, seq_length, is_training,
                       is_regression=False, shuffle_buffer_size=100,
                       seed=None):
  """Reads a feature TFRecord file as an unbatched tf.data.Dataset.

  TFRecords written by the reference's run_classifier.py read unchanged.
  As the reference, the training dataset repeats forever and is shuffled
  with a small buffer; the caller batches and counts steps.

  Args:
    input_file: str or list of str, TFRecord file(s).
    seq_length: int, max_seq_length the file was written with.
    is_training: bool, repeat and shuffle.
    is_regression: bool, label_ids are floats.
    shuffle_buffer_size: int.
    seed: int or None, shuffle seed.

  Returns:
    tf.data.Dataset of dicts: input_ids, input_mask, segment_ids (int32
    [seq_length]), label_ids (int32 [], float32 [] for regression),
    is_real_example (int32 []).

  Raises:
    errors.DataError: the file's sidecar records another seq_length or label type.
  """
  files = [input_file] if isinstance(input_file, (str, os.PathLike)) \
      else list(input_file)
  for path in files:
    meta = read_cache_meta(path) or {}
    for key, value in (("max_seq_length", seq_length),
                       ("is_regression", bool(is_regression))):
      if key in meta and meta[key] != value:
        raise errors.DataError("%s was written with %s=%s; received %s=%s. Delete "
                               "the file to rebuild it." % (path, key, meta[key],
                                                     key, value))
  name_to_features = {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.io.FixedLenFeature(
          [], tf.float32 if is_regression else tf.int64),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }

  def decode_record(record):
    example = tf.io.parse_single_example(record, name_to_features)
    # tf.train.Example only stores int64; int32 is what the model takes.
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t
            for name, t in example.items()}

  dataset = tf.data.TFRecordDataset([str(path) for path in files])
  if is_training:
    dataset = dataset.repeat()
    dataset = dataset.shuffle(buffer_size=shuffle_buffer_size, seed=seed)
  return dataset.map(decode_record, num_parallel_calls=tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------
# GLUE benchmark submission.

# Task name -> file name the GLUE submission zip must use.
GLUE_SUBMISSION_NAMES = {
    "cola": "CoLA.tsv",
    "sst-2": "SST-2.tsv",
    "sst2": "SST-2.tsv",
    "mrpc": "MRPC.tsv",
    "sts-b": "STS-B.tsv",
    "stsb": "STS-B.tsv",
    "qqp": "QQP.tsv",
    "mnli": "MNLI-m.tsv",
    "mnli-mm": "MNLI-mm.tsv",
    "qnli": "QNLI.tsv",
    "rte": "RTE.tsv",
    "wnli": "WNLI.tsv",
}


def write_glue_submission(task_name, examples, probabilities, label_list,
                          output_path):
  """Writes a GLUE-benchmark prediction file: `index<TAB>prediction` lines.

  Args:
    task_name: str, a key of GLUE_SUBMISSION_NAMES (case-insensitive).
    examples: list of InputExample from get_test_examples (the index is the
      guid's part after its last "-"); PaddingInputExamples are skipped.
    probabilities: float array of shape [len(examples), num_labels]; for
      STS-B, predicted scores of shape [len(examples)] or [len(examples), 1].
    label_list: list of str, the label of each probability column.
    output_path: str, a directory (the file gets the GLUE name) or a file.

  Returns:
    str, the path written.
  """
  key = str(task_name).strip().lower()
  if key not in GLUE_SUBMISSION_NAMES:
    raise errors.DataError("task %r has no GLUE submission file; accepted: %s"
                           % (task_name, ", ".join(sorted(GLUE_SUBMISSION_NAMES))))
  probabilities = np.asarray(probabilities, dtype=np.float64)
  if len(probabilities) != len(examples):
    raise ValueError("%d examples but %d predictions"
                     % (len(examples), len(probabilities)))
  regression = PROCESSORS[key].is_regression
  lines = ["index\tprediction\n"]
  for example, row in zip(examples, probabilities):
    if isinstance(example, PaddingInputExample):
      continue
    index = example.guid.rsplit("-", 1)[-1]
    if regression:
      prediction = "%.3f" % float(np.reshape(row, -1)[0])
    else:
      prediction = label_list[int(np.argmax(row))]
    lines.append("%s\t%s\n" % (index, prediction))
  output_path = str(output_path)
  if tf.io.gfile.isdir(output_path):
    output_path = os.path.join(output_path, GLUE_SUBMISSION_NAMES[key])
  with tf.io.gfile.GFile(output_path, "w") as f:
    f.write("".join(lines))
  return output_path
