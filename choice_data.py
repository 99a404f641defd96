"""Multiple-choice data: SWAG CSV or JSON-lines examples, and their per-choice features.

Each choice i of an example is `[CLS] context [SEP] prefix ending_i [SEP]`.
The library side of run_multiple_choice.py; inference.py uses the same code.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

import data_files
import errors
import tokenization

FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids")


@dataclasses.dataclass
class MultipleChoiceExample:
  """One question: a context, an ending prefix and the candidate endings."""
  guid: str
  context: str
  prefix: str
  endings: list          # num_choices str
  label: int = 0         # index of the right ending (0 for unlabeled test data)


def _check_label(value, num_choices, path, where):
  """The label as a choice index; `where` is "line N" or "record N"."""
  try:
    label = int(str(value).strip())
  except ValueError:
    label = None
  if label is None or not 0 <= label < num_choices:
    raise errors.DataError(
        f"{path}, {where}: label {value!r} is not a choice index in "
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
    if len(row) != len(header):   # more: an unquoted comma shifted the fields
      raise errors.DataError(
          f"{path}, line {row.line_number}: {data_files.found_columns(row)}, the "
          f"header has {len(header)}; quote the fields that hold commas.")
    label = (_check_label(row[column["label"]], num_choices, path,
                          f"line {row.line_number}") if labeled else 0)
    examples.append(MultipleChoiceExample(
        f"{split}-{len(examples)}", row[column["sent1"]], row[column["sent2"]],
        [row[column[f"ending{i}"]] for i in range(num_choices)], label))
  return examples


def read_json_lines(path, num_choices, labeled, split):
  """Examples of JSON lines (or a JSON array) of {context, prefix|question, endings, label}."""
  text = data_files.read_text(path, "a JSON-lines file")
  examples = []
  for where, record in data_files.parse_json_records(text, path):
    endings = record.get("endings")
    given = [record[key] for key in ("prefix", "question") if record.get(key) not in (None, "")]
    if len(given) == 2:   # one of them was dropped without a word
      raise errors.DataError(f"{path}, {where}: both prefix and question are given; keep "
                             "the one that goes before each ending.")
    prefix = given[0] if given else ""
    texts = [record.get("context"), prefix] + (endings if isinstance(endings, list) else [])
    if not isinstance(endings, list) or not all(_is_text(t) for t in texts) or (
        labeled and "label" not in record):
      raise errors.DataError(
          f"{path}, {where}: expected an object with context, endings"
          f"{', label' if labeled else ''} (and prefix or question), the texts strings "
          "or numbers.")
    if len(endings) != num_choices:
      raise errors.DataError(
          f"{path}, {where}: {len(endings)} endings; --num_choices={num_choices}.")
    label = _check_label(record["label"], num_choices, path, where) if labeled else 0
    examples.append(MultipleChoiceExample(f"{split}-{len(examples)}", str(record["context"]),
                                          str(prefix), [str(e) for e in endings], label))
  return examples


def _is_text(value):
  """A string, or a number read as its text (an ending "42"); not null, true or a list."""
  return isinstance(value, (str, int, float)) and not isinstance(value, bool)


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
    # Always a pair (an empty ending too), truncated as run_classifier's pairs.
    tokens, segment_ids = tokenization.encode_pair(
        list(context), tokenizer.tokenize(f"{example.prefix} {ending}".strip()),
        max_seq_length)
    for key, value in zip(FEATURE_KEYS, tokenization.padded_ids(
        tokenizer, tokens, segment_ids, max_seq_length)):
      rows[key].append(value)
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
