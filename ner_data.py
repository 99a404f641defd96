"""NER data: CoNLL-format files, word-piece windows with labels, tags back per word.

The library side of run_ner.py (which keeps its flags, training and output
files); inference.py and the served model tag text with the same code.
Each word is split into WordPiece pieces and scored on its FIRST piece (the
others, [CLS] and [SEP] have label_mask 0); a sentence longer than a window is
cut into overlapping windows (windows.py) and each word is scored in the one
where it has the most context.
"""

import dataclasses
import os
import re
from typing import List

from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import data_files
import errors
import feature_cache
import tokenization
import windows

FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids", "label_ids", "label_mask")

# WeiboNER appends the character's position in its word: `我0`, `.10`.
_CHAR_SUFFIX_DIGITS = re.compile(r"(.+?)([0-9]+)", re.DOTALL)


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
  first_line = None   # (columns, number) of the first token line
  columns_differ = False

  def close_sentence():
    if current:
      tokens = [t for t, _, _ in current]
      words = [strip_char_suffix_digits(t) if strip_digits else t for t in tokens]
      sentences.append(Sentence(tokens, words, [g for _, g, _ in current],
                                [n for _, _, n in current]))
      current.clear()

  for number, line in enumerate(data_files.read_text(path, "a CoNLL file").split("\n"), 1):
    line = line.rstrip("\r")
    if "\r" in line:   # lines ending in \r alone: the file would read as one line
      raise errors.DataError(f"{path}, line {number}: a carriage return (\\r) inside the "
                             "line; if the lines end in \\r alone, convert the file with "
                             "`tr '\\r' '\\n'` (mac2unix), else delete it.")
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
    if len(fields[-1].split()) > 1:   # a space after a tab: the tag would be "B-ORG x"
      raise errors.DataError(f"{path}, line {number}: the tag {fields[-1]!r} holds a space; "
                             "separate every column by one tab, or every column by spaces.")
    if first_line is None:
      first_line = (len(fields), number)
    elif len(fields) != first_line[0] and not columns_differ:
      # Said once a file: a line cut short (`EU NNP` of `EU NNP B-NP B-ORG`) gives
      # a wrong tag (NNP) that no later check catches.
      columns_differ = True
      logging.warning("%s, line %d has %d columns where line %d has %d; the tag is the last "
                      "column, so check that the line is not cut short.", path, number,
                      len(fields), first_line[1], first_line[0])
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
  with atomic_files.atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
    for row in range(features.num_windows):
      writer.write(feature_cache.serialize_example({
          key: feature_cache.int_feature(features.arrays[key][row].tolist())
          for key in FEATURE_KEYS}))


def tfrecord_dataset(path, max_seq_length):
  """Unbatched dataset of int32 [max_seq_length] feature dicts from write_tfrecord."""
  spec = {key: tf.io.FixedLenFeature([max_seq_length], tf.int64) for key in FEATURE_KEYS}
  return feature_cache.int32_records(path, spec)


def write_predictions(path, sentences, predicted_tags):
  """`token gold predicted` lines, a blank line after each sentence (conlleval's input)."""
  lines = []
  for sentence, predicted in zip(sentences, predicted_tags):
    for token, gold, guess in zip(sentence.tokens, sentence.tags, predicted):
      # conlleval splits on whitespace: a token must stay one column.
      lines.append(f"{'_'.join(token.split()) or '_'} {gold} {guess}\n")
    lines.append("\n")
  atomic_files.write_text(path, "".join(lines))


# How raw text is cut into words (word_split's answers, recorded in run_info.json).
WORD_SPLITS = ("whitespace", "characters")


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
