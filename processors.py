"""The data processors of the GLUE, XNLI, LCQMC and ChnSentiCorp tasks, and their base class.

A processor reads a task's files from its data_dir into `InputExample`s, with
errors that name the file and line. Subclasses written for the reference
(overriding the four get_* methods and calling `self._read_tsv`) keep working.
"""

import dataclasses
import math
import os
from typing import Any, Optional

import atomic_files
import data_files
import errors
import metrics
import run_info


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



def label_problem(label):
  """Why `label` cannot be saved one a line in labels.txt and read back, or None."""
  if not label.strip():
    return "is empty"
  if label != label.strip():
    return "has whitespace around it"
  if label.splitlines() != [label]:   # also U+2028, \x85, \v, \f: load_labels splits there
    return "holds a line break"
  return None


def save_labels(path, labels):
  """Writes `labels` (list of str) to `path`, one a line, atomically."""
  for label in labels:
    problem = label_problem(label)
    if problem:
      raise errors.DataError("label %r cannot be saved one-per-line: it %s" % (label, problem))
  atomic_files.write_text(path, "".join(label + "\n" for label in labels))


def load_labels(path):
  """Reads a label list saved by `save_labels`: list of str in id order."""
  text = data_files.read_text(path, "the %s a training run writes to its output_dir "
                    "(one label a line); or pass the labels explicitly"
                    % run_info.LABELS_FILE)
  labels = [line.strip() for line in text.splitlines() if line.strip()]
  if not labels:
    raise errors.DataError("%s: no labels in the file" % path)
  repeated = sorted({label for label in labels if labels.count(label) > 1})
  if repeated:
    raise errors.DataError("%s: %s listed more than once; a label list names each label "
                           "once, in the order of the head's outputs" % (path, ", ".join(repeated)))
  _check_recorded_labels(path, labels)
  return labels


def _check_recorded_labels(path, labels):
  """Raises DataError when the run_info.json beside `path` records other labels.

  A training run writes both; the trained head's outputs follow them, so a
  labels.txt edited or copied from another run would swap the classes.
  """
  record = os.path.join(os.path.dirname(path), run_info.RUN_INFO_FILE)
  if not data_files.file_exists(record):
    return
  try:
    recorded = run_info.read_json(record, run_info.RUN_INFO_FILE)
  except errors.UserError:
    return   # a damaged record is reported where it is read as the run's record
  recorded = recorded.get("label_list") if isinstance(recorded, dict) else None
  if isinstance(recorded, list) and recorded and recorded != labels:
    raise errors.DataError("%s (%s) and %s (%s) list different labels; the trained head "
                           "follows the training run's: restore the labels file it wrote "
                           "(or, in a folder without checkpoints, delete both)"
                           % (path, ",".join(labels), record, ",".join(map(str, recorded))))



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
    return data_files.read_rows(input_file, "\t", quotechar)

  def _placeholder_label(self):
    """Label of the examples of an unlabeled test file (as the reference)."""
    return 0.0 if self.is_regression else self.get_labels()[0]

  def _parse_label(self, value, label_set, path, where):
    """Returns a checked label (str, or float for regression)."""
    value = value.strip()
    if self.is_regression:
      try:
        number = float(value)
      except ValueError:
        raise errors.DataError("%s, %s: label %r is not a number; this is a "
                               "regression task" % (path, where, value)) from None
      if not math.isfinite(number):   # nan, inf or 1e999: the loss and metrics become nan
        raise errors.DataError("%s, %s: label %r is not a finite number; this is a "
                               "regression task" % (path, where, value))
      return number
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

  def unlabeled(self, description):
    """This layout without its label column (most GLUE test files)."""
    return dataclasses.replace(self, label=None, description=description)


class _TableProcessor(DataProcessor):
  """Turns rows of a fixed `_Layout` into `InputExample`s."""
  labels = ()

  def get_labels(self, data_dir=None, label_dirs=(), trained_head=False):
    """The task's fixed labels; the arguments (see CsvProcessor) are unused."""
    del data_dir, label_dirs, trained_head
    return list(self.labels)

  def _map_label(self, label):
    """Hook: rewrites a raw label before it is checked."""
    return label

  def _examples_from_rows(self, rows, path, set_type, layout, keep=None):
    """Builds examples from `rows` (from read_rows) laid out as `layout`."""
    if set_type == "test":
      self.test_has_labels = layout.label is not None
    data_rows = rows[1:] if layout.header else rows
    needed = layout.min_columns
    # A row wider than the header (or than a headerless layout) holds a tab inside a
    # text: read on, its text would end at the tab and the rest shift or drop.
    widest = max(len(rows[0]), needed) if layout.header and rows else needed
    label_set = frozenset(self.get_labels())
    placeholder = self._placeholder_label() if layout.label is None else None
    examples = []
    for n, row in enumerate(data_rows):
      if len(row) < needed:
        raise errors.DataError(
            "%s, line %d: %s, need at least %d (%s)"
            % (path, row.line_number, data_files.found_columns(row), needed,
               layout.description))
      if data_files.filled_width(row) > widest:   # a trailing tab adds no column
        raise errors.DataError(
            "%s, line %d: found %d columns, more than the %d of %s (%s): a tab inside a "
            "text? Replace it with a space." % (
                path, row.line_number, data_files.filled_width(row), widest,
                "the header" if layout.header else "every row", layout.description))
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
  origin = "as download_glue_data.py writes it"
  train_file, dev_file, test_file = "train.tsv", "dev.tsv", "test.tsv"
  labeled_layout = None    # _Layout of train/dev files.
  test_layout = None       # _Layout of the unlabeled test file.
  # (column, header cell) found only in labeled files; None for labeled files
  # without a header, told by a known label in the label column.
  labeled_marker = None

  def get_train_examples(self, data_dir):
    return self._read_split(data_dir, self.train_file, "train")

  def get_dev_examples(self, data_dir):
    return self._read_split(data_dir, self.dev_file, "dev")

  def get_test_examples(self, data_dir):
    return self._read_split(data_dir, self.test_file, "test")

  def _is_labeled_test(self, first_row):
    if self.labeled_marker is None:
      layout = self.labeled_layout
      return (len(first_row) >= layout.min_columns and
              first_row[layout.label].strip() in self.labels)
    column, cell = self.labeled_marker
    if not -len(first_row) <= column < len(first_row):
      return False
    return first_row[column].strip() == cell

  def _read_split(self, data_dir, file_name, set_type):
    path = os.path.join(data_dir, file_name)
    layout = self.labeled_layout
    if set_type == "test":
      layout = self.test_layout
    expected = "the %s %s file (%s), %s" % (
        self.name, file_name, layout.description, self.origin)
    rows = data_files.read_rows(path, "\t", None, expected)
    if set_type == "test":
      if rows and self._is_labeled_test(rows[0]):
        layout = self.labeled_layout
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
  test_layout = labeled_layout.unlabeled("header; index, question, sentence")
  labeled_marker = (3, "label")


class RteProcessor(QnliProcessor):
  """RTE (GLUE): textual entailment."""
  name = "RTE"
  labeled_layout = _Layout(text_a=1, text_b=2, label=3, guid=0, description=(
      "header; index, sentence1, sentence2, label"))
  test_layout = labeled_layout.unlabeled("header; index, sentence1, sentence2")


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
  test_layout = labeled_layout.unlabeled(
      "header; index, genre, filename, year, old_index, source1, source2, "
      "sentence1, sentence2")
  labeled_marker = (9, "score")


class MnliProcessor(_GlueProcessor):
  """MNLI (GLUE), matched dev/test sets."""
  name = "MNLI"
  labels = ("contradiction", "entailment", "neutral")
  dev_file, test_file = "dev_matched.tsv", "test_matched.tsv"
  labeled_layout = _Layout(text_a=8, text_b=9, label=-1, guid=0, description=(
      "header; index, promptID, pairID, genre, 4 parse columns, sentence1, "
      "sentence2, label columns, gold_label last"))
  test_layout = labeled_layout.unlabeled(
      "header; index, promptID, pairID, genre, 4 parse columns, sentence1, "
      "sentence2")
  labeled_marker = (-1, "gold_label")


class MnliMismatchedProcessor(MnliProcessor):
  """MNLI (GLUE), mismatched dev/test sets."""
  dev_file, test_file = "dev_mismatched.tsv", "test_mismatched.tsv"


class LcqmcProcessor(_GlueProcessor):
  """LCQMC (HIT): do two questions ask the same? Labels "0"/"1"; official metric accuracy.

  The release's train.txt, dev.txt and test.txt have no header and three
  columns: text_a, text_b, label. A test file of two columns is unlabeled.
  """
  name = "LCQMC"
  origin = "as the LCQMC release has it"
  labels = ("0", "1")
  train_file, dev_file, test_file = "train.txt", "dev.txt", "test.txt"
  labeled_layout = _Layout(text_a=0, text_b=1, label=2, header=False,
                           description="no header; text_a, text_b, label")
  test_layout = labeled_layout.unlabeled("no header; text_a, text_b")


class ChnSentiCorpProcessor(_GlueProcessor):
  """ChnSentiCorp: sentiment of reviews, labels "0" (negative) / "1"; official metric accuracy.

  ERNIE's copy has train.tsv, dev.tsv and test.tsv with the header
  `label, text_a`; the PaddleNLP (LUGE) release adds a `qid` column and
  hides the test labels (`qid, text_a`). Columns are found by their names.
  """
  name = "ChnSentiCorp"
  labels = ("0", "1")
  _DESCRIPTION = "header naming the columns label and text_a, optionally qid"

  def _read_split(self, data_dir, file_name, set_type):
    path = os.path.join(data_dir, file_name)
    expected = "the %s %s file (%s)" % (self.name, file_name, self._DESCRIPTION)
    rows = data_files.read_rows(path, "\t", None, expected)
    header = [cell.strip() for cell in rows[0]] if rows else ["text_a", "label"]
    needed = ["text_a"] if set_type == "test" else ["text_a", "label"]
    missing = [name for name in needed if name not in header]
    if missing:
      raise errors.DataError("%s, line 1: the header %s has no %s column; expected %s"
                             % (path, header, missing[0], expected))
    column = lambda name: header.index(name) if name in header else None
    layout = _Layout(text_a=column("text_a"), label=column("label"),
                     guid=column("qid"), description=self._DESCRIPTION)
    return self._examples_from_rows(rows, path, set_type, layout)


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
  _SIMPLE_UNLABELED = _SIMPLE.unlabeled("header; text_a, text_b")
  _MULTINLI = _Layout(text_a=0, text_b=1, label=2,
                      description="header; premise, hypo, label")
  _XNLI = _Layout(text_a=6, text_b=7, label=1, description=(
      "header; language, gold_label, 4 parse columns, sentence1, sentence2, "
      "..."))

  def __init__(self, language="zh"):
    self.language = language

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
    path = reference_path if data_files.file_exists(reference_path) else simple_path
    expected = ("%s (the reference's XNLI layout) or %s (%s)"
                % (reference_path, simple_path, self._SIMPLE.description))
    rows = data_files.read_rows(path, "\t", None, expected)
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
    return self._examples_from_rows(rows, path, set_type, layout, keep)
