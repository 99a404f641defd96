"""The users' own data: TSV, CSV, JSON lines or a JSON array (task_name custom)."""

import collections
import os

from absl import logging

import data_files
import errors
import run_info
from processors import DataProcessor, InputExample, label_problem, load_labels


def _column_option(value, option):
  """A column option as a name (str) or a 0-based index (int), or None."""
  if value is None or (isinstance(value, str) and not value.strip()):
    return None
  if isinstance(value, str):
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else value
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


def _char_option(value, name):
  """A one-character `delimiter` or `quotechar` option, or None (the default).

  A backslash-t or "tab" is a tab: the shell passes `--delimiter='\\t'` as two
  characters.
  """
  if value is None:
    return None
  if name == "delimiter" and str(value).lower() in ("\\t", "tab"):
    return "\t"
  if not isinstance(value, str) or len(value) != 1:
    raise errors.DataError("%s=%r: expected one character, e.g. ',' or ';' (a tab: "
                           "\\t or tab)" % (name, value))
  return value


def _cells(row):
  """A row's cells as compared with a header: stripped, a byte order mark and
  trailing empty cells dropped."""
  return [cell.strip().lstrip("\ufeff") for cell in row[:data_files.filled_width(row)]]


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
  is not a number among numbers. An unlabeled test file has a header when
  the training file had one and its first row repeats that header's text
  cells; when the training file had a header and the test file's first row
  differs from it, has_header must say (one dropped or added row would shift
  every prediction line).
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
    self.delimiter = _char_option(delimiter, "delimiter")
    self.quotechar = _char_option(quotechar, "quotechar")
    self._inferred_labels = None
    self._header_decision = None
    self._header_row = None   # the training file's, when it has one

  def get_labels(self, data_dir=None, label_dirs=(), trained_head=False):
    """The label list (see the class docstring), [] for regression.

    Args:
      data_dir: str or None, folder of the training file (default: the
        constructor's or the last get_*_examples call's).
      label_dirs: folders searched, in order, for the labels.txt a training
        run saved (e.g. output_dir); a list found there is the one the
        trained classifier's outputs follow, so it wins over the training
        file. The `labels` option wins over both (a new head may be trained
        from another run's checkpoint), unless `trained_head`.
      trained_head: the head is used as trained (evaluation, prediction): the
        `labels` option must then list the labels.txt found, in its order.

    Raises:
      errors.DataError: no labels option, no labels.txt and no training file; with
        trained_head, a labels option that differs from the labels.txt found.
    """
    if self.is_regression:
      return []
    for folder in label_dirs or ():
      path = os.path.join(folder, run_info.LABELS_FILE)
      if not data_files.file_exists(path):
        continue
      recorded = load_labels(path)
      if self._labels is None:
        self._labels = recorded
        logging.info("Labels from %s: %s", path, self._labels)
      elif trained_head and self._labels != recorded:
        raise errors.DataError(
            "labels=%s differ from %s (%s): the trained head's outputs follow that "
            "file, so the classes would be swapped. Give the labels in its order, or "
            "leave the option out." % (",".join(self._labels), path, ",".join(recorded)))
      break
    if self._labels is not None:
      return list(self._labels)
    if data_dir is not None:
      self.data_dir = data_dir
    if self._inferred_labels is None:
      if self.data_dir is None:
        raise errors.DataError("no label list: pass labels=... or data_dir= (to "
                               "read them from the training file %s)"
                               % self.files["train"])
      path = os.path.join(self.data_dir, self.files["train"])
      if not data_files.file_exists(path):
        raise errors.DataError(
            "%s: no training file to read the labels from, and no %s in %s; "
            "pass labels=..., e.g. those the training run saved in its "
            "output_dir/%s" % (path, run_info.LABELS_FILE,
                               list(label_dirs or ()), run_info.LABELS_FILE))
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
    text = data_files.read_text(path, self._expected())
    fmt = self.file_format or _EXTENSION_FORMATS.get(
        os.path.splitext(path)[1].lower())
    located, not_json = None, None
    if fmt == "json" or (fmt is None and text.lstrip()[:1] in ("[", "{")):
      try:
        located = data_files.parse_json_records(text, path)
      except errors.DataError as e:
        if fmt == "json":
          raise
        not_json = e
    if located is not None:
      records, labeled = self._json_records(located, path, set_type)
    else:  # TSV / CSV, or a sniffed file that was not JSON after all.
      delimiter = self.delimiter or ("," if fmt == "csv" else "\t")
      quotechar = self.quotechar or ('"' if fmt == "csv" else None)
      try:
        rows = data_files.parse_rows(text, path, delimiter, quotechar)
        records, labeled = self._table_records(rows, path, set_type)
      except errors.DataError as e:
        if not_json is None:
          raise
        # A damaged JSON file: its TSV error alone would puzzle.
        raise errors.DataError(f"{e} [read as TSV because it starts like JSON but is "
                               f"not: {not_json}]") from None
    if set_type == "test":
      self.test_has_labels = labeled
    elif not labeled:
      raise errors.DataError("%s: no label column %r; pass --label_column=<name or "
                             "0-based index>" % (path, self.columns["label"]))
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
    data = rows[1:] if has_header else rows
    if has_header:
      width, others = len(rows[0]), "the header has"
    else:  # The rows' usual width; of a tie, the narrower (the wider one is shifted).
      counts = collections.Counter(data_files.filled_width(row) for row in data)
      width = min(counts, key=lambda n: (-counts[n], n))
      others = "most rows have"
    header = _cells(rows[0]) if has_header else None
    records = []
    for row in data:
      if header is not None and _cells(row) == header:   # files joined with their headers
        raise errors.DataError("%s, line %d: repeats the header row (line %d); delete it"
                               % (path, row.line_number, rows[0].line_number))
      if data_files.filled_width(row) > width:
        raise errors.DataError(
            "%s, line %d: found %d columns, %s %d; a text holding the "
            "separator (a tab or an unquoted comma) shifts the columns after it: "
            "quote that text or remove the separator from it"
            % (path, row.line_number, data_files.filled_width(row), others, width))
      if len(row) < needed:
        raise errors.DataError(
            "%s, line %d: %s, need at least %d (%s)"
            % (path, row.line_number, data_files.found_columns(row), needed, ", ".join(
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
      named = [c for c in columns.values() if isinstance(c, str)]
      if not any(name in header for name in named):
        raise errors.DataError(
            "%s, line %d: the columns are named (%s) but the file has no header row "
            "naming them; its first row is data: %s. Give 0-based column indexes "
            "instead, e.g. --text_a_column=0 --label_column=1 (--text_b_column=... for "
            "pairs), or add a header row." % (
                path, first.line_number, ", ".join(
                    "--%s_column=%s" % (role, c) for role, c in columns.items()
                    if isinstance(c, str)), first))
      index = {}
      for role, column in columns.items():
        if isinstance(column, int):
          index[role] = column
        elif column in header:
          index[role] = header.index(column)
        elif not (role == "label" and set_type == "test"):
          raise errors.DataError(
              "%s, line %d: no column named %r (the %s column) in the header "
              "row %s; pass --%s_column=<name or 0-based index>"
              % (path, first.line_number, column, role, header, role))
      return True, index
    index = dict(columns)
    if set_type == "test" and len(first) <= index["label"]:
      del index["label"]  # An unlabeled test file.
    has_header = self.has_header
    if has_header is None:
      has_header = self._detect_header(rows, index, path)
    return has_header, index

  def _detect_header(self, rows, index, path):
    """Whether the first row is a header (see the class docstring)."""
    label_index = index.get("label")
    if label_index is None:
      return self._detect_unlabeled_header(rows[0], index, path)
    if len(rows[0]) <= label_index:
      return False   # data too short for its label: the width check names it
    cell = rows[0][label_index].strip()
    known = self._labels or self._inferred_labels
    if self.is_regression:
      header = not _is_number(cell)
    elif known is not None and self._header_row is not None:
      # After a file with a header: a header repeats it; an unknown label in a
      # row that does not is no reason to drop that row.
      header_label = self._header_row[label_index].strip() if len(
          self._header_row) > label_index else None
      # The same header, or one that names the label column as the training file's does.
      header = self._repeats_training_header(rows[0], index) or (
          cell == header_label and cell not in known)
      if not header and cell not in known:
        raise errors.DataError(
            "%s, line %d: cannot tell whether this first row is a header: its label %r is "
            "not one of %s, and it differs from the training file's header %s: %s. Set "
            "has_header (true or false)." % (path, rows[0].line_number, cell,
                                             ", ".join(known), self._header_row, rows[0]))
    elif known is not None:
      # After a headerless file, an unknown label is an error to report (the
      # label check does), not a header row to drop.
      header = cell not in known and self._header_decision is not False
      if header:
        logging.warning("%s: reading the first row as a header (its label %r is not one "
                        "of %s): %s. Set has_header to be sure.", path, cell,
                        ", ".join(known), rows[0])
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
      self._header_row = rows[0]
    self._header_decision = header
    return header

  def _detect_unlabeled_header(self, first, index, path):
    """Whether the first row of a file without labels is a header."""
    if self._header_decision is None:
      logging.warning("%s: cannot tell whether the first row is a header "
                      "(no label column); reading it as data. Set "
                      "has_header to be sure.", path)
      return False
    if not self._header_decision:
      return False
    header = self._header_row
    if self._repeats_training_header(first, index):
      logging.info("%s: reading the first row as a header, as the training "
                   "file's: %s", path, first)
      return True
    raise errors.DataError(
        "%s, line %d: cannot tell whether this first row is a header: the training "
        "file had a header (%s) and this row differs from it: %s. Set has_header "
        "(true or false)." % (path, first.line_number, header, first))

  def _repeats_training_header(self, first, index):
    """Whether `first` has the training file's header text in the used columns."""
    header = self._header_row
    return all(len(first) > i and len(header) > i and first[i].strip() == header[i].strip()
               for i in index.values())

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
        problem = label_problem(label)   # labels.txt could not hold it
        if problem:
          raise errors.DataError("%s, %s: the label %r %s" % (path, where, label, problem))
      else:
        label = self._parse_label(fields["label"], label_set, path, where)
      examples.append(InputExample(guid, fields["text_a"],
                                   fields.get("text_b"), label))
    if not examples:
      raise errors.DataError("%s: no examples in the file; expected %s"
                             % (path, self._expected()))
    if infer:
      self._inferred_labels = _sorted_labels(e.label for e in examples)
      if len(self._inferred_labels) == 1:
        dropped = ("; its first row was read as a header: %s (set has_header=false if it "
                   "is data)" % self._header_row) if self._header_row else ""
        raise errors.DataError(
            "%s: every example has the label %r; a classifier needs two labels or more "
            "(name the others with labels=...)%s" % (path, self._inferred_labels[0],
                                                     dropped))
    if not labeled:
      placeholder = self._placeholder_label()
      for example in examples:
        example.label = placeholder
    return examples


# Task name (lower case) -> processor class.
