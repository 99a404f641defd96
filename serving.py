# coding=utf-8
"""The serving library: SavedModel modules and Python predictors of every task's run folder.

Both take raw UTF-8 text, cut it into words and windows inside the graph as
their training scripts do, and decode the model's outputs the same way, so a
served model answers as the script's own predictions (test_predictions.txt,
predictions.json) do.

NER (`NerServer`), signatures:
  serving_default  text: string [batch] -> per word, padded to the batch's most words:
                     words string, tags string ("" past the end), tag_ids int32 (-1),
                     probabilities float32 [batch, words, num_labels] (0),
                     start_char, end_char int32 (-1): the word is
                     text[start_char:end_char] in Unicode code points,
                   num_words int32 [batch]
  serve_ids        input_ids, input_mask, segment_ids int32 [batch, seq] -> per position:
                     probabilities [batch, seq, num_labels], tag_ids, tags [batch, seq]
A model trained with run_ner.py --crf (run_info.json: "crf": true) decodes with
Viterbi over each window's tagged positions, as run_ner.py does: its serve_ids
also takes label_mask int32 [batch, seq] (1 at the first piece of each word in
the window where it is tagged, the chain's positions) and gives tags there
("O"-id 0 elsewhere); probabilities stay the softmax of the per-position scores
(not CRF marginals), so their argmax can differ from a CRF's tag.
Words: run_ner.py reads one word a line; raw text is cut at whitespace (the
characters BasicTokenizer turns into spaces: space, tab, newlines, category
Zs), or, for models trained on one character a line (the Chinese sets, see
ner_data.word_split), into single characters. Each word is tagged on its first
word piece; a word without pieces is one [UNK]; a sentence longer than
max_seq_length is cut into run_ner.py's overlapping windows and each word is
tagged in the window where it has the most context.

SQuAD (`SquadServer`), signatures:
  serving_default  question, context: string [batch] -> answer_text string,
                   start_char, end_char int32 (the answer is context[start_char:end_char]
                   in code points), score float32 (start + end logit); v2.0 models also
                   null_score_diff float32 (when it exceeds null_score_diff_threshold:
                   answer_text "", start_char = end_char = -1)
  serve_ids        input_ids, input_mask, segment_ids -> start_logits, end_logits
                   float32 [batch, seq]
As run_squad.py: the question is cut to max_query_length pieces, the context
split into words at whitespace (and at every CJK character when it holds one)
and into windows doc_stride apart; the answer is the span of highest start +
end logit among each window's n_best_size best starts and ends that lies in
the context, starts where its window gives the most context, does not end
before it starts and has at most max_answer_length pieces (ties: the
reference's order); its text is mapped back to the context as get_final_text
does. answer_text is run_squad.py's answer (the whitespace between its words
collapsed to single spaces). Unlike run_squad.py, a context without any word
piece answers "" with start_char = end_char = -1 and score -inf (run_squad.py
writes the nonce "empty"). The prediction settings (max_answer_length...) are
those of the training run, from its run_info.json.

Character offsets count the code points of the text as decoded, invalid UTF-8
bytes dropped (as tokenization.convert_to_unicode does). With --tflite, the
serve_ids signature is converted (the text signatures need tensorflow-text ops).
"""

import collections
import os
import tempfile

from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import checkpoint_utils
import choice_data
import classifier_data
import crf
import errors
import graph_tokenization
import modeling
import ner_data
import run_info
import serving_encoder
import squad_data
import tasks
import tokenization
import training
import windows

_NEG_INF = float("-inf")
_BIG = 2 ** 40


Words = collections.namedtuple("Words", ["chars", "row", "start_char", "count"])
Windows = collections.namedtuple("Windows", ["sentence", "index", "start", "length",
                                             "count", "first"])


# ------------------------------------------------------------ words and windows


def split_words(chars, separator, alone):
  """Cuts rows of code points into words.

  Args:
    chars: RaggedTensor int32 [batch, (chars)].
    separator: bool [total chars], the characters between words.
    alone: bool [total chars], characters that are words by themselves.

  Returns:
    Words: chars RaggedTensor int32 [words, (chars)] over all rows; row int64
    [words], the row of each word; start_char int64 [words], its first
    character's position in the row (its last is start_char + length - 1);
    count int64 [batch], the words of each row.
  """
  flat = chars.flat_values
  position = tf.range(tf.size(flat, out_type=tf.int64))
  row_start = tf.repeat(chars.row_starts(), chars.row_lengths())
  in_word = ~separator
  after_row_start = position > row_start
  previous_in_word = tf.concat([[False], in_word[:-1]], 0) & after_row_start
  previous_alone = tf.concat([[False], alone[:-1]], 0) & after_row_start
  starts = in_word & (~previous_in_word | alone | previous_alone)
  word_of_char = tf.cumsum(tf.cast(starts, tf.int64)) - 1
  num_words = tf.reduce_sum(tf.cast(starts, tf.int64))
  word_chars = tf.RaggedTensor.from_value_rowids(
      tf.boolean_mask(flat, in_word), tf.boolean_mask(word_of_char, in_word),
      nrows=num_words, validate=False)
  row = tf.boolean_mask(chars.value_rowids(), starts)
  count = tf.math.bincount(row, minlength=chars.nrows(), maxlength=chars.nrows(),
                           dtype=tf.int64)
  return Words(word_chars, row, tf.boolean_mask(position - row_start, starts), count)


def per_row(values, row, nrows):
  """RaggedTensor [nrows, (items), ...] of per-item `values` [items, ...] of rows `row`."""
  return tf.RaggedTensor.from_value_rowids(values, row, nrows=nrows, validate=False)


def window_layout(num_pieces, max_pieces, stride, allow_empty):
  """The windows of windows.spans (run_ner.py, run_squad.py), for a batch.

  Window k of a row starts at piece k * min(stride, max_pieces) and holds up to
  max_pieces pieces; the last one reaches the row's end.

  Args:
    num_pieces: int64 [batch], the pieces of each row.
    max_pieces: int64 [batch], the pieces a window holds.
    stride: int, pieces between window starts; a window never starts past the
      end of the one before (a larger stride steps max_pieces).
    allow_empty: bool, a row without pieces has no window (run_squad.py) rather
      than one empty window (run_ner.py).

  Returns:
    Windows of int64 Tensors: sentence, index (within the row), start, length
    [windows]; count, first [batch] (the number of windows of each row and the
    index of its first).
  """
  step = tf.minimum(tf.cast(stride, tf.int64), max_pieces)            # [batch]
  extra = tf.maximum((num_pieces - max_pieces + step - 1) // step, 0)
  count = 1 + extra
  if allow_empty:
    count = tf.where(num_pieces > 0, count, 0)
  k = tf.ragged.range(count)                                      # [batch, (windows)]
  sentence = k.value_rowids()
  start = k.flat_values * tf.gather(step, sentence)
  length = tf.minimum(tf.gather(num_pieces, sentence) - start, tf.gather(max_pieces, sentence))
  return Windows(sentence, k.flat_values, start, length, count, k.row_starts())


def best_windows(windows, sentence, position):
  """Index (within its row) of the window where each piece has the most context.

  windows.best_window: the score of a window
  is min(left context, right context) + 0.01 * its length, the first window
  wins ties; the same float64 arithmetic as Python's.

  Args:
    windows: Windows.
    sentence: int64 [pieces], the row of each piece.
    position: int64 [pieces], the piece's position in its row.

  Returns:
    int64 [pieces].
  """
  candidates = tf.ragged.range(tf.gather(windows.count, sentence))   # [pieces, (windows)]
  item = candidates.value_rowids()
  k = candidates.flat_values
  window = tf.gather(windows.first, tf.gather(sentence, item)) + k
  start, length = tf.gather(windows.start, window), tf.gather(windows.length, window)
  p = tf.gather(position, item)
  inside = (start <= p) & (p < start + length)
  score = (tf.cast(tf.minimum(p - start, start + length - 1 - p), tf.float64) +
           tf.constant(0.01, tf.float64) * tf.cast(length, tf.float64))
  score = tf.where(inside, score, _NEG_INF)
  num_items = tf.size(position, out_type=tf.int64)
  best = tf.math.unsorted_segment_max(score, item, num_items)
  first_best = tf.where(score == tf.gather(best, item), k, _BIG)
  return tf.math.unsorted_segment_min(first_best, item, num_items)


def ragged_concat(parts):
  """Row-wise concatenation of RaggedTensors / dense Tensors [rows, (n)]."""
  parts = [p if isinstance(p, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(p)
           for p in parts]
  return tf.concat(parts, axis=1)


def model_inputs(token_rows, first_segment_one=None):
  """int32 input_ids, input_mask, segment_ids [rows, longest] of ragged token rows.

  first_segment_one: int64 [rows], the first position of segment 1 (None: all 0).
  """
  input_ids = token_rows.to_tensor(0)
  lengths = token_rows.row_lengths()
  width = tf.shape(input_ids, out_type=tf.int64)[1]
  columns = tf.range(width)[tf.newaxis, :]
  input_mask = columns < lengths[:, tf.newaxis]
  segment_ids = tf.zeros_like(input_mask)
  if first_segment_one is not None:
    segment_ids = input_mask & (columns >= first_segment_one[:, tf.newaxis])
  return {"input_ids": tf.cast(input_ids, tf.int32),
          "input_mask": tf.cast(input_mask, tf.int32),
          "segment_ids": tf.cast(segment_ids, tf.int32)}


def special_id(tokenizer, token):
  """int32 scalar id of [CLS], [SEP] or [UNK] in the tokenizer's vocabulary table."""
  return tokenizer.token_id(token)


def special_columns(tokenizer, count):
  """int32 [count, 1] columns of [CLS] and of [SEP]."""
  return (tf.fill([count, 1], special_id(tokenizer, graph_tokenization.CLS)),
          tf.fill([count, 1], special_id(tokenizer, graph_tokenization.SEP)))


def _ids_signature():
  return [tf.TensorSpec([None, None], tf.int32, name=name)
          for name in ("input_ids", "input_mask", "segment_ids")]


# ------------------------------------------------------------ NER


class NerServer(tf.Module):
  """A fine-tuned run_ner.py tagger with tokenization, as the SavedModel's signatures."""

  def __init__(self, task, tokenizer, label_list, window_stride, word_split):
    """Wraps a built tasks.TaggingTask (weights loaded) and a GraphTokenizer.

    Args:
      task: tasks.TaggingTask.
      tokenizer: graph_tokenization.GraphTokenizer; its max_seq_length is the
        windows' length.
      label_list: list of str, the tags in id order.
      window_stride: int, pieces between the starts of two windows.
      word_split: "whitespace" or "characters" (see ner_data.word_split).
    """
    super().__init__(name="ner")
    if word_split not in ner_data.WORD_SPLITS:
      raise ValueError(f"word_split={word_split!r}; expected "
                       f"{' or '.join(repr(split) for split in ner_data.WORD_SPLITS)}.")
    problem = windows.tagger_stride_problem(window_stride, tokenizer.max_seq_length)
    if problem:
      raise ValueError(problem)
    self.bert = task.model
    self.head = task.head
    self.crf = task.crf   # tracked, so the SavedModel holds its transitions
    self.tokenizer = tokenizer
    self._task = task
    self._label_list = list(label_list)
    self._stride = int(window_stride)
    self._per_character = word_split == "characters"

  def _outputs(self, logits, tag_ids):
    return {"probabilities": tf.nn.softmax(logits), "tag_ids": tag_ids,
            "tags": tf.gather(tf.constant(self._label_list), tag_ids)}

  @tf.function(autograph=False, input_signature=_ids_signature())
  def serve_ids(self, input_ids, input_mask, segment_ids):
    """Per-position tags of int32 [batch, seq] features (see the module docstring)."""
    logits = self._task.logits({"input_ids": input_ids, "input_mask": input_mask,
                                "segment_ids": segment_ids}, training=False)  # [B,S,L]
    return self._outputs(logits, tf.argmax(logits, axis=-1, output_type=tf.int32))

  @tf.function(autograph=False, input_signature=_ids_signature() + [
      tf.TensorSpec([None, None], tf.int32, name="label_mask")])
  def serve_ids_crf(self, input_ids, input_mask, segment_ids, label_mask):
    """A CRF model's serve_ids: Viterbi tags over the label_mask positions."""
    features = {"input_ids": input_ids, "input_mask": input_mask,
                "segment_ids": segment_ids}
    logits = self._task.logits(features, training=False)                 # [B,S,L]
    return self._outputs(logits, self._task.tag_ids(logits, label_mask))

  @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string,
                                                               name="text")])
  def serve_text(self, text):
    """Tags of the words of raw sentences (see the module docstring)."""
    chars = tf.strings.unicode_decode(text, "UTF-8", errors="ignore")
    separator = self.tokenizer.is_whitespace(chars.flat_values)
    alone = ~separator if self._per_character else tf.zeros_like(separator)
    words = split_words(chars, separator, alone)
    word_text = tf.strings.unicode_encode(words.chars, "UTF-8")            # [words]
    window_rows, window, column = self._windows(self._word_pieces(word_text), words)
    index = tf.stack([window, column], axis=1)       # where each word is tagged
    inputs = model_inputs(window_rows)
    if self.crf is None:
      outputs = self.serve_ids(**inputs)                                   # [W, T, ...]
    else:
      # The chain of each window: its words' tagged positions, as label_mask.
      shape = tf.shape(inputs["input_ids"], out_type=tf.int64)
      label_mask = tf.scatter_nd(index, tf.ones_like(window, tf.int32), shape)
      outputs = self.serve_ids_crf(label_mask=label_mask, **inputs)
    nrows = tf.size(text, out_type=tf.int64)

    def padded(values, default):
      return per_row(values, words.row, nrows).to_tensor(default)

    start_char = tf.cast(words.start_char, tf.int32)
    return {"words": padded(word_text, ""),
            "tags": padded(tf.gather_nd(outputs["tags"], index), ""),
            "tag_ids": padded(tf.gather_nd(outputs["tag_ids"], index), -1),
            "probabilities": padded(tf.gather_nd(outputs["probabilities"], index), 0.0),
            "start_char": padded(start_char, -1),
            "end_char": padded(start_char + tf.cast(words.chars.row_lengths(), tf.int32), -1),
            "num_words": tf.cast(words.count, tf.int32)}

  def _word_pieces(self, word_text):
    """int32 RaggedTensor [words, (pieces)]; a word without pieces gets [UNK] (run_ner)."""
    pieces = self.tokenizer.token_ids(word_text)
    unk = tf.fill([pieces.nrows(), 1], special_id(self.tokenizer, graph_tokenization.UNK))
    with_unk = ragged_concat([pieces, unk])
    keep = tf.maximum(pieces.row_lengths(), 1)
    position = tf.ragged.range(pieces.row_lengths() + 1)
    return tf.ragged.boolean_mask(with_unk, position < keep[:, tf.newaxis])

  def _windows(self, pieces, words):
    """Window rows ([CLS] pieces [SEP]) and the window and column where each word is tagged.

    Returns:
      RaggedTensor int32 [windows, (tokens)]; int64 window and column [words].
    """
    nrows = tf.size(words.count, out_type=tf.int64)
    per_word = pieces.row_lengths()
    num_pieces = tf.math.unsorted_segment_sum(per_word, words.row, nrows)
    max_pieces = tf.fill([nrows], tf.constant(self.tokenizer.max_seq_length - 2, tf.int64))
    windows = window_layout(num_pieces, max_pieces, self._stride, allow_empty=False)
    piece_start = tf.cumsum(num_pieces, exclusive=True)            # of each sentence
    begin = tf.gather(piece_start, windows.sentence) + windows.start
    window_pieces = tf.gather(pieces.flat_values, tf.ragged.range(begin, begin + windows.length))
    cls, sep = special_columns(self.tokenizer, tf.size(windows.start))
    rows = ragged_concat([cls, window_pieces, sep])
    # Each word is tagged on its first piece, in that piece's best window.
    first_piece = tf.cumsum(per_word, exclusive=True) - tf.gather(piece_start, words.row)
    best = best_windows(windows, words.row, first_piece)
    window = tf.gather(windows.first, words.row) + best
    column = 1 + first_piece - tf.gather(windows.start, window)
    return rows, window, column

  def signatures(self):
    """{signature key: tf.function}; see ClassifierServer.signatures."""
    serve_ids = self.serve_ids if self.crf is None else self.serve_ids_crf
    return {"serving_default": self.serve_text, "serve_ids": serve_ids}


# ------------------------------------------------------------ SQuAD


def _is_cjk(code_points):
  """bool: code points in the CJK blocks of tokenization.CJK_RANGES."""
  result = tf.zeros_like(code_points, tf.bool)
  for low, high in tokenization.CJK_RANGES:
    result |= (code_points >= low) & (code_points <= high)
  return result


def _is_paragraph_space(code_points):
  """bool: squad_data._is_whitespace, the separators of a paragraph's words."""
  result = tf.zeros_like(code_points, tf.bool)
  for char in " \t\r\n\u202f":
    result |= code_points == ord(char)
  return result


def _row_items(ragged, index):
  """ragged[i, index[i]] for every row i (index int64 [rows], inside each row)."""
  return tf.gather(ragged.flat_values, ragged.row_starts() + index)


def find_first(haystack, needle):
  """Python's str.find, per row: int64 [rows], -1 when `needle` is not in `haystack`.

  Args:
    haystack, needle: RaggedTensor int32 [rows, (code points)].
  """
  length, needle_length = haystack.row_lengths(), needle.row_lengths()
  text = haystack.to_tensor(-1)                                          # [R, M]
  # One more column: the width stays >= 1 for empty needles.
  pattern = tf.concat([needle.to_tensor(-2), tf.fill([needle.nrows(), 1], -2)], 1)
  width = tf.shape(pattern, out_type=tf.int64)[1]                           # K
  starts = tf.range(tf.shape(text, out_type=tf.int64)[1] + 1)              # M + 1
  text = tf.concat([text, tf.fill(tf.stack([haystack.nrows(), width]), -1)], 1)
  frames = tf.gather(text, starts[:, tf.newaxis] + tf.range(width)[tf.newaxis, :],
                     axis=1)                                                # [R, M+1, K]
  past_needle = tf.range(width)[tf.newaxis, tf.newaxis, :] >= needle_length[:, None, None]
  match = tf.reduce_all((frames == pattern[:, tf.newaxis, :]) | past_needle, axis=2)
  match &= starts[tf.newaxis, :] + needle_length[:, tf.newaxis] <= length[:, tf.newaxis]
  first = tf.reduce_min(tf.where(match, starts[tf.newaxis, :], _BIG), axis=1)
  return tf.where(first < _BIG, first, -1)


def _ranks(top, width):
  """int64 [rows, width]: the rank of each column in `top` (int32 [rows, k]), or -1."""
  rows = tf.shape(top, out_type=tf.int64)[0]
  k = tf.shape(top, out_type=tf.int64)[1]
  row_index = tf.repeat(tf.range(rows), k)
  index = tf.stack([row_index, tf.reshape(tf.cast(top, tf.int64), [-1])], 1)
  rank = tf.tile(tf.range(k) + 1, [rows])
  return tf.scatter_nd(index, rank, tf.stack([rows, width])) - 1


def _frames(values, length, fill):
  """values[:, t + a] for a < length as [rows, T, length] (`fill` past the end)."""
  rows, width = tf.shape(values, out_type=tf.int64)[0], tf.shape(values, out_type=tf.int64)[1]
  padded = tf.concat([values, tf.fill(tf.stack([rows, length]),
                                      tf.constant(fill, values.dtype))], 1)
  index = tf.range(width)[:, tf.newaxis] + tf.range(length, dtype=tf.int64)[tf.newaxis, :]
  return tf.gather(padded, index, axis=1)


def gather_answered(values, answered, default):
  """[batch] outputs from `values` [answered rows]: `default` for the other rows."""
  position = tf.cumsum(tf.cast(answered, tf.int64)) - 1
  index = tf.where(answered, position, tf.size(values, out_type=tf.int64))
  return tf.gather(tf.concat([values, [default]], 0), index)


class SquadServer(tf.Module):
  """A fine-tuned run_squad.py model with tokenization, as the SavedModel's signatures."""

  def __init__(self, task, tokenizer, doc_stride, max_query_length, max_answer_length,
               n_best_size, version_2_with_negative=False, null_score_diff_threshold=0.0):
    """Wraps a built tasks.SpanTask (weights loaded) and a GraphTokenizer.

    The other arguments are run_squad.py's flags of the same names; the
    tokenizer's max_seq_length is the windows' length.
    """
    super().__init__(name="squad")
    room = tokenizer.max_seq_length - max_query_length - 3
    if doc_stride <= 0 or room <= 0:
      raise ValueError(f"doc_stride={doc_stride} and max_seq_length - max_query_length - 3"
                       f" = {room} must be positive.")
    if max_answer_length <= 0 or n_best_size <= 0:
      raise ValueError(f"max_answer_length={max_answer_length} and n_best_size="
                       f"{n_best_size} must be positive.")
    self.bert = task.model
    self.head = task.head
    self.tokenizer = tokenizer
    # Word pieces back to their text: the vocabulary asset read the other way.
    self.piece_table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            tokenizer.vocab_asset, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value="")
    self._task = task
    self._doc_stride = int(doc_stride)
    self._max_query_length = int(max_query_length)
    self._max_answer_length = int(max_answer_length)
    self._n_best_size = int(n_best_size)
    self._version_2 = bool(version_2_with_negative)
    self._threshold = float(null_score_diff_threshold)

  @tf.function(autograph=False, input_signature=_ids_signature())
  def serve_ids(self, input_ids, input_mask, segment_ids):
    """float32 start_logits and end_logits [batch, seq] of int32 [batch, seq] features."""
    start_logits, end_logits = self._task.logits(
        {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
        training=False)
    return {"start_logits": start_logits, "end_logits": end_logits}

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None], tf.string, name="question"),
      tf.TensorSpec([None], tf.string, name="context")])
  def serve_text(self, question, context):
    """Answers of raw questions on raw contexts (see the module docstring)."""
    tf.debugging.assert_equal(tf.shape(question), tf.shape(context), message=(
        "question and context must hold the same number of texts"))
    nrows = tf.size(context, out_type=tf.int64)
    query = self.tokenizer.token_ids(question)[:, :self._max_query_length]
    chars = tf.strings.unicode_decode(context, "UTF-8", errors="ignore")
    words = split_words(chars, _is_paragraph_space(chars.flat_values),
                        _is_cjk(chars.flat_values))
    pieces = self.tokenizer.token_ids(tf.strings.unicode_encode(words.chars, "UTF-8"))
    doc = self._document(words, pieces, nrows)
    windows, rows, context_begin = self._windows(query, doc)
    features = model_inputs(rows, first_segment_one=context_begin)
    logits = self.serve_ids(**features)
    best = self._best_spans(logits, windows, context_begin, rows.row_lengths(), doc)
    score, answered, window, start, end = best
    outputs = self._answer_text(chars, doc, windows, context_begin, features["input_ids"],
                                window, start, end, words)
    answer_text, start_char, end_char = (
        gather_answered(value, answered, default)
        for value, default in zip(outputs, ("", -1, -1)))
    result = {"score": tf.cast(tf.where(answered, score, _NEG_INF), tf.float32)}
    if self._version_2:
      null = self._null_scores(logits, windows, nrows)
      diff = tf.where(answered, null - score, squad_data.LARGE_SCORE)
      null_answer = diff > self._threshold
      answer_text = tf.where(null_answer, "", answer_text)
      start_char = tf.where(null_answer, tf.constant(-1, tf.int64), start_char)
      end_char = tf.where(null_answer, tf.constant(-1, tf.int64), end_char)
      result["null_score_diff"] = tf.cast(diff, tf.float32)
    result.update(answer_text=answer_text, start_char=tf.cast(start_char, tf.int32),
                  end_char=tf.cast(end_char, tf.int32))
    return result

  def _document(self, words, pieces, nrows):
    """Per context: its pieces, where they start in the flat list, their words."""
    per_word = pieces.row_lengths()
    num_pieces = tf.math.unsorted_segment_sum(per_word, words.row, nrows)
    return {"pieces": pieces.flat_values, "num_pieces": num_pieces,
            "piece_start": tf.cumsum(num_pieces, exclusive=True),
            # The (global) word of every piece: run_squad's tok_to_orig_index.
            "word_of_piece": tf.repeat(tf.range(tf.size(per_word, out_type=tf.int64)),
                                       per_word)}

  def _windows(self, query, doc):
    """Window rows [CLS] question [SEP] context part [SEP], and where the context starts."""
    query_length = query.row_lengths()
    max_pieces = self.tokenizer.max_seq_length - query_length - 3
    windows = window_layout(doc["num_pieces"], max_pieces, self._doc_stride,
                            allow_empty=True)
    begin = tf.gather(doc["piece_start"], windows.sentence) + windows.start
    window_pieces = tf.gather(doc["pieces"], tf.ragged.range(begin, begin + windows.length))
    cls, sep = special_columns(self.tokenizer, tf.size(windows.start))
    rows = ragged_concat([cls, tf.gather(query, windows.sentence), sep, window_pieces, sep])
    return windows, rows, tf.gather(query_length, windows.sentence) + 2

  def _best_spans(self, logits, windows, context_begin, row_length, doc):
    """The best span of each question, as squad_data._prelim_predictions ranks them.

    Returns:
      score float64 [batch] (start + end logit), answered bool [batch] (a span
      exists), and for the answered questions only, int64 [answered]: the
      window, start and end column of the best span.
    """
    start_logits, end_logits = logits["start_logits"], logits["end_logits"]   # [W, T]
    width = tf.shape(start_logits, out_type=tf.int64)[1]
    columns = tf.range(width)[tf.newaxis, :]
    real = columns < row_length[:, tf.newaxis]
    context_end = context_begin + windows.length
    in_context = (columns >= context_begin[:, tf.newaxis]) & (
        columns < context_end[:, tf.newaxis])
    # Only the n_best_size best starts and ends of a window are candidates.
    k = tf.minimum(tf.cast(width, tf.int32), self._n_best_size)
    top_start = tf.math.top_k(tf.where(real, start_logits, _NEG_INF), k).indices   # [W, k]
    top_end = tf.math.top_k(tf.where(real, end_logits, _NEG_INF), k).indices
    start_rank, end_rank = _ranks(top_start, width), _ranks(top_end, width)
    start_ok = in_context & (start_rank >= 0) & self._max_context(
        windows, context_begin, in_context, columns, doc)
    end_ok = in_context & (end_rank >= 0)
    length = self._max_answer_length
    end_ok = _frames(end_ok, length, False)                                   # [W, T, A]
    valid = start_ok[:, :, tf.newaxis] & end_ok
    score = (tf.cast(start_logits, tf.float64)[:, :, tf.newaxis] +
             _frames(tf.cast(end_logits, tf.float64), length, 0.0))
    score = tf.where(valid, score, _NEG_INF)
    # Ties go to the first candidate in squad_data.py's order: window, start rank, end rank.
    order = (windows.index[:, None, None] * width * width + start_rank[:, :, tf.newaxis] * width +
             _frames(end_rank, length, 0))
    nrows = tf.size(windows.count, out_type=tf.int64)
    answered = tf.math.unsorted_segment_max(
        tf.cast(tf.reduce_any(valid, axis=[1, 2]), tf.int32), windows.sentence, nrows) > 0
    best = tf.math.unsorted_segment_max(tf.reduce_max(score, axis=[1, 2]), windows.sentence,
                                        nrows)
    is_best = valid & (score == tf.gather(best, windows.sentence)[:, None, None])
    first = tf.math.unsorted_segment_min(
        tf.reduce_min(tf.where(is_best, order, _BIG), axis=[1, 2]), windows.sentence, nrows)
    first = tf.boolean_mask(first, answered)
    k_best, rank = first // (width * width), first % (width * width)
    window = tf.boolean_mask(windows.first, answered) + k_best
    start = tf.gather_nd(top_start, tf.stack([window, rank // width], 1))
    end = tf.gather_nd(top_end, tf.stack([window, rank % width], 1))
    return best, answered, window, tf.cast(start, tf.int64), tf.cast(end, tf.int64)

  def _max_context(self, windows, context_begin, in_context, columns, doc):
    """bool [W, T]: context positions whose window is where their piece has most context."""
    positions = tf.ragged.range(doc["num_pieces"])
    best = best_windows(windows, positions.value_rowids(), positions.flat_values)
    best = tf.concat([best, [-1]], 0)           # a valid index when there are no pieces
    piece = (tf.gather(doc["piece_start"], windows.sentence) + windows.start)[:, tf.newaxis]
    piece = piece + columns - context_begin[:, tf.newaxis]
    piece = tf.where(in_context, piece, tf.size(best, out_type=tf.int64) - 1)
    return tf.gather(best, piece) == windows.index[:, tf.newaxis]

  def _null_scores(self, logits, windows, nrows):
    """float64 [batch]: the lowest [CLS] start + end logit over each question's windows."""
    # [:, :1] and a sum rather than [:, 0]: a batch without windows has no column.
    null = tf.reduce_sum(tf.cast(logits["start_logits"][:, :1], tf.float64) +
                         tf.cast(logits["end_logits"][:, :1], tf.float64), axis=1)
    return tf.math.unsorted_segment_min(null, windows.sentence, nrows)

  def _answer_text(self, chars, doc, windows, context_begin, input_ids, window, start, end,
                   words):
    """squad_data._span_text of the best spans, and where they lie in the contexts.

    Args:
      chars: RaggedTensor int32 [batch, (code points)], the contexts.
      doc, windows, context_begin: as serve_text built them.
      input_ids: int32 [W, T], the window rows.
      window, start, end: int64 [answered], the best span of each answered question.
      words: Words of the contexts.

    Returns:
      answer_text string, start_char and end_char int64, each [answered].
    """
    sentence = tf.gather(windows.sentence, window)
    pred_text = self._span_pieces_text(input_ids, window, start, end)

    def word_of(column):
      piece = (tf.gather(doc["piece_start"], sentence) + tf.gather(windows.start, window) +
               column - tf.gather(context_begin, window))
      return tf.gather(doc["word_of_piece"], piece)

    first, last = word_of(start), word_of(end)
    begin = tf.gather(words.start_char, first)
    limit = tf.gather(words.start_char, last) + tf.gather(words.chars.row_lengths(), last)
    orig, orig_position = self._orig_text(chars, sentence, begin, limit)
    final_begin, final_end = self._final_text_bounds(pred_text, orig)
    answer = tf.gather(orig.flat_values,
                       tf.ragged.range(orig.row_starts() + final_begin,
                                       orig.row_starts() + final_end + 1))
    return (tf.strings.unicode_encode(answer, "UTF-8"),
            _row_items(orig_position, final_begin), _row_items(orig_position, final_end) + 1)

  def _span_pieces_text(self, input_ids, window, start, end):
    """The de-tokenized pieces of the spans (squad_data._span_text's tok_text)."""
    columns = tf.ragged.range(start, end + 1)
    rows = tf.repeat(window, columns.row_lengths())
    ids = tf.gather_nd(input_ids, tf.stack([rows, columns.flat_values], 1))
    pieces = columns.with_flat_values(self.piece_table.lookup(tf.cast(ids, tf.int64)))
    text = tf.strings.reduce_join(pieces, axis=1, separator=" ")
    text = tf.strings.regex_replace(text, " ##", "")
    text = tf.strings.regex_replace(text, "##", "")
    # Pieces hold no whitespace: " ".join(text.split()) only squeezes spaces.
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

  def _orig_text(self, chars, sentence, begin, limit):
    """The words' text (squad_data.join_words) between begin and limit of the contexts.

    Each run of whitespace becomes one space, as between run_squad.py's words.

    Returns:
      RaggedTensor int32 [answered, (code points)] of the text, and int64 of the
      same shape: each code point's position in its context.
    """
    row_start = tf.gather(chars.row_starts(), sentence)
    position = tf.ragged.range(begin, limit)                          # [answered, (chars)]
    span = tf.gather(chars.flat_values, tf.ragged.range(begin + row_start, limit + row_start))
    space = _is_paragraph_space(span.flat_values)
    first_of_row = tf.range(tf.size(space, out_type=tf.int64)) == tf.repeat(
        span.row_starts(), span.row_lengths())
    previous_space = tf.concat([[False], space[:-1]], 0) & ~first_of_row
    keep = span.with_flat_values(~(space & previous_space))
    orig = span.with_flat_values(tf.where(space, ord(" "), span.flat_values))
    return tf.ragged.boolean_mask(orig, keep), tf.ragged.boolean_mask(position, keep)

  def _final_text_bounds(self, pred_text, orig):
    """squad_data.get_final_text as int64 [answered] first and last index into `orig`.

    As there, the whole of `orig` when the prediction cannot be found in, or
    aligned with, the basic tokens of `orig`.

    Args:
      pred_text: string [answered], the de-tokenized prediction.
      orig: RaggedTensor int32 [answered, (code points)], the words' text.
    """
    tok = tf.strings.unicode_decode(tf.strings.reduce_join(
        self.tokenizer.basic_tokens(tf.strings.unicode_encode(orig, "UTF-8")), axis=1,
        separator=" "), "UTF-8")
    pred = tf.strings.unicode_decode(pred_text, "UTF-8")
    found = find_first(tok, pred)
    pred_length = pred.row_lengths()
    tok_kept, orig_kept = tok.flat_values != ord(" "), orig.flat_values != ord(" ")

    def count(kept, rows):
      return tf.math.unsorted_segment_sum(tf.cast(kept, tf.int64), rows.value_rowids(),
                                          rows.nrows())

    # Aligned: found, and lower-casing and accent stripping kept the character count.
    aligned = ((found >= 0) & (pred_length > 0) &
               (count(tok_kept, tok) == count(orig_kept, orig)))
    # The index among non-space characters of the prediction's first and last char.
    before = tf.concat([tf.cumsum(tf.cast(tok_kept, tf.int64), exclusive=True),
                        [tf.reduce_sum(tf.cast(tok_kept, tf.int64))]], 0)

    def stripped_index(position):
      row_start = tok.row_starts()
      position = tf.where(aligned, position, 0)
      return tf.gather(before, row_start + position) - tf.gather(before, row_start)

    kept_positions = tf.ragged.boolean_mask(tf.ragged.range(orig.row_lengths()),
                                            orig.with_flat_values(orig_kept))
    first = _row_items(kept_positions, stripped_index(found))
    last = _row_items(kept_positions, stripped_index(found + pred_length - 1))
    return (tf.where(aligned, first, 0), tf.where(aligned, last, orig.row_lengths() - 1))

  def signatures(self):
    """{signature key: tf.function}; see ClassifierServer.signatures."""
    return {"serving_default": self.serve_text, "serve_ids": self.serve_ids}


# ------------------------------------------------------------ classifier


class ClassifierServer(tf.Module):
  """A fine-tuned classifier with tokenization, as the SavedModel's signatures."""

  def __init__(self, task, tokenizer, label_list, serving_dtype="float32"):
    """Wraps a built ClassifierTask (weights loaded) and a GraphTokenizer.

    The encoder runs as serving_encoder.ServingEncoder (real tokens only,
    weights laid out once) in `serving_dtype`, "float32" or "bfloat16".
    """
    super().__init__(name="classifier")
    self.encoder = serving_encoder.ServingEncoder(task.model, serving_dtype)
    self.head = task.head
    self.tokenizer = tokenizer
    self._is_regression = task.is_regression
    self._label_list = list(label_list)
    self._segments = task.model.config.type_vocab_size

  # The model and the tokenizer are one tf.function each, called by the text
  # signatures: the SavedModel holds one copy of each graph (faster to save and load).
  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None, None], tf.int32, name=name)
      for name in ("input_ids", "input_mask", "segment_ids")])
  def serve_ids(self, input_ids, input_mask, segment_ids):
    """Signature outputs of int32 [batch, seq] features (see the module docstring)."""
    # A GPU reads zeros past the segment table: a pair on a one-segment model.
    message = f"segment_ids must be in [0, type_vocab_size={self._segments}) of the model"
    checks = [tf.debugging.assert_less(segment_ids, self._segments, message=message),
              tf.debugging.assert_non_negative(segment_ids, message=message)]
    with tf.control_dependencies(checks):
      logits = self.head(self.encoder(input_ids, input_mask, segment_ids))
    if self._is_regression:
      return {"scores": logits[:, 0]}
    label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return {"probabilities": tf.nn.softmax(logits), "label_ids": label_ids,
            "labels": tf.gather(tf.constant(self._label_list), label_ids)}

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None], tf.string, name="text_a"),
      tf.TensorSpec([None], tf.string, name="text_b")])
  def tokenize(self, text_a, text_b):
    return self.tokenizer.encode(text_a, text_b)

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None], tf.string, name="text_a")])
  def serve_text(self, text_a):
    # An empty text_b has no tokens: the single-text layout.
    return self._classify_text(text_a, tf.fill(tf.shape(text_a), ""))

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None], tf.string, name="text_a"),
      tf.TensorSpec([None], tf.string, name="text_b")])
  def serve_text_pair(self, text_a, text_b):
    return self._classify_text(text_a, text_b)

  def _classify_text(self, text_a, text_b):
    features = self.tokenize(text_a, text_b)
    # Padding past the batch's longest input changes nothing but the cost (a
    # short query would pay for max_seq_length tokens); run_classifier.py's
    # predictions cut batches the same way (--dynamic_padding).
    longest = tf.maximum(tf.reduce_max(tf.reduce_sum(features["input_mask"], 1)), 1)
    return self.serve_ids(**{name: value[:, :longest] for name, value in features.items()})

  def signatures(self):
    """{signature key: tf.function with an input_signature}.

    Not concrete functions: tf.saved_model.save traces a tf.function again when
    it was traced before (for its variable-creation check), doubling the
    export's time; given the tf.function it traces each once.
    """
    pairs = {"serve_text_pair": self.serve_text_pair} if self._segments > 1 else {}
    return {"serving_default": self.serve_text, **pairs, "serve_ids": self.serve_ids,
            "tokenize": self.tokenize}


# ------------------------------------------------------------ from run_info.json


def make_task(info):
  """The unbuilt Task of a checked run_info (read by run_info.read_run_info)."""
  kind, config = info["task_kind"], info["bert_config"]
  if kind == "classifier":
    num_labels = 1 if info["is_regression"] else len(info["label_list"])
    return tasks.ClassifierTask(config, num_labels, info["is_regression"])
  if kind == "ner":
    return tasks.TaggingTask(config, len(info["label_list"]),
                             use_crf=info.get("crf", False))
  if kind == "squad":
    return tasks.SpanTask(config)
  return tasks.MultipleChoiceTask(config)


def load_task(info, checkpoint, flag_name="model_dir"):
  """The run's Task with the fine-tuned weights of `checkpoint` (a prefix or folder).

  Every variable of the task must be in the checkpoint, and the checkpoint
  must not hold a CRF the task lacks (a checkpoint of another run).
  """
  prefix = checkpoint_utils.resolve_checkpoint(checkpoint, flag_name)
  task = make_task(info)
  names = checkpoint_utils.checkpoint_shapes(prefix)
  if task.head_variable not in names:
    raise errors.UserError(f"{prefix} has no {task.head_name} head ({task.head_variable}): "
                           "it is a pre-trained model; give a fine-tuned one.")
  task.build("float32", seed=0)
  variables, transitions = task.variables(), crf.transitions_name()
  if transitions in names and transitions not in variables:
    raise errors.UserError(f"--{flag_name}={prefix} was trained with a CRF ({transitions}) "
                           "but run_info.json says crf=false: give this run's own "
                           "checkpoint or restore the run_info.json the training run wrote.")
  checkpoint_utils.load_variables(variables, prefix, flag_name=flag_name, require_all=True,
                                  config_flag="run_info.json's bert_config")
  logging.info("Loaded %s", prefix)
  return task


def make_server(info, task, tokenizer, serving_dtype="float32"):
  """The SavedModel module of a run (classifier, ner, squad); errors.UserError if bad."""
  kind = info["task_kind"]   # read_run_info checked the values the servers check again
  if kind == "classifier":
    return ClassifierServer(task, tokenizer, info["label_list"], serving_dtype)
  if kind == "ner":
    return NerServer(task, tokenizer, info["label_list"], info["window_stride"],
                     info["word_split"])
  if kind == "squad":
    return SquadServer(task, tokenizer, info["doc_stride"], info["max_query_length"],
                       info["max_answer_length"], info["n_best_size"],
                       info["version_2_with_negative"], info["null_score_diff_threshold"])
  raise errors.UserError(f"task_kind={kind!r} has no SavedModel export; use inference.py "
                         "--model_dir to run it.")


TFLITE_FILE = "model.tflite"
VOCAB_ASSET = "vocab.txt"


# ------------------------------------------------------------ exporting a run folder


def next_version(export_dir):
  """One above the highest integer-named folder in export_dir (1 if none)."""
  if not tf.io.gfile.isdir(export_dir):
    return 1
  versions = [int(name.rstrip("/")) for name in tf.io.gfile.listdir(export_dir)
              if name.rstrip("/").isdigit()]
  return max(versions, default=0) + 1


def convert_tflite(saved_model_dir, path):
  """Writes the serve_ids signature of a SavedModel as a TFLite flatbuffer."""
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                       signature_keys=["serve_ids"])
  try:
    flatbuffer = converter.convert()
  except Exception as e:  # pylint: disable=broad-except
    # The converter's own errors (ConverterError...) carry pages of MLIR.
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise errors.UserError(f"--tflite: the TFLite converter failed ({first_line}); "
                           "export without --tflite.") from e
  with tf.io.gfile.GFile(path, "wb") as writer:
    writer.write(flatbuffer)


def write_export(server, target, tflite):
  """Saves `server` into `target` through a temporary sibling folder renamed at the end."""
  with atomic_files.atomic_path(target) as tmp:
    tf.saved_model.save(server, tmp, signatures=server.signatures())
    if tflite:
      convert_tflite(tmp, os.path.join(tmp, TFLITE_FILE))
    if tf.io.gfile.exists(target):
      raise errors.UserError(f"{target} appeared during the export; nothing was replaced.")


def export(model_dir, export_dir, export_version=None, init_checkpoint=None,
           vocab_file=None, tflite=False, serving_dtype="float32"):
  """Exports a fine-tuning output folder; returns the version folder written.

  Args:
    model_dir: str, the training run's --output_dir.
    export_dir: str, parent of the numbered version folders.
    export_version: int or None (one above the highest present).
    init_checkpoint: str or None, the checkpoint (default: newest in model_dir).
    vocab_file: str or None, overrides run_info.json's vocab_file.
    tflite: bool, also write model.tflite.
    serving_dtype: "float32" or "bfloat16", the classifier encoder's dtype.

  Raises:
    errors.UserError (and checkpoint/config errors): nothing is written then.
  """
  if not export_dir:
    raise errors.UserError("--export_dir is required.")
  graph_tokenization.import_tf_text()   # before any work
  if export_version is not None and export_version < 0:
    raise errors.UserError(f"--export_version={export_version} must be a non-negative "
                           "integer.")
  info = run_info.read_run_info(model_dir)
  flag_name = "init_checkpoint" if init_checkpoint else "model_dir"
  checkpoint = checkpoint_utils.resolve_checkpoint(init_checkpoint or model_dir, flag_name)
  vocab_file = vocab_file or info["vocab_file"]
  if not tf.io.gfile.exists(vocab_file):
    source = "--vocab_file" if vocab_file != info["vocab_file"] else (
        f"{run_info.RUN_INFO_FILE}'s vocab_file")
    raise errors.UserError(f"{source}={vocab_file}: file not found; pass --vocab_file.")
  version = next_version(export_dir) if export_version is None else export_version
  target = os.path.join(export_dir, str(version))
  if tf.io.gfile.exists(target):
    raise errors.UserError(f"{target} exists already; TF Serving versions are never "
                           "overwritten: give another --export_version.")
  with tempfile.TemporaryDirectory() as scratch:
    vocab_copy = os.path.join(scratch, VOCAB_ASSET)
    try:
      vocab = graph_tokenization.write_vocab_asset(vocab_file, vocab_copy)
    except (ValueError, FileNotFoundError) as e:
      raise errors.UserError(str(e)) from None
    modeling.check_vocab_size(info["bert_config"], vocab, vocab_file)
    task = load_task(info, checkpoint, flag_name)
    tokenizer = graph_tokenization.GraphTokenizer(vocab_copy, info["do_lower_case"],
                                                  info["max_seq_length"])
    server = make_server(info, task, tokenizer, serving_dtype)
    tf.io.gfile.makedirs(export_dir)
    write_export(server, target, tflite)
  logging.info("Wrote %s", target)
  return target


# ------------------------------------------------------------ Python predictors
#
# What inference.py runs: the same features and decoding as the run_*.py
# programs' own predictions, in Python, without tensorflow-text.

_FIELD_SEPARATOR = " ||| "


def split_fields(text, count=None):
  """`a ||| b ||| ...` -> list of fields; `count` (None: 1 or 2) fields are required."""
  fields = text.split(_FIELD_SEPARATOR)
  if count is not None and len(fields) != count:
    raise errors.UserError(f"input {text[:60]!r}: {len(fields)} fields separated by "
                           f"'{_FIELD_SEPARATOR.strip()}', expected {count}.")
  return fields


class Predictor:
  """A fine-tuned run folder loaded once; `answer(texts)` many times."""

  def __init__(self, info, checkpoint, batch_size=32, flag_name="model_dir"):
    self.info = info
    self.batch_size = batch_size
    self.tokenizer = tokenization.FullTokenizer(info["vocab_file"], info["do_lower_case"])
    modeling.check_vocab_size(info["bert_config"], self.tokenizer.vocab, info["vocab_file"])
    tokenization.require_tokens(self.tokenizer.vocab, info["vocab_file"])
    self.task = load_task(info, checkpoint, flag_name)
    self._predict = tf.function(self.task.predict, reduce_retracing=True, autograph=False)

  @classmethod
  def check_text(cls, info, text):
    """Raises UserError when `text` is not an input of this task (before the model loads)."""

  def run_model(self, arrays, length_key="input_mask"):
    """task.predict over numpy feature arrays [n, ..., S], batched by length."""
    return training.predict_by_length(
        lambda batch: {k: v.numpy() for k, v in self._predict(batch).items()}, arrays,
        self.batch_size, self.task.sequence_keys, length_key)


class ClassifierPredictor(Predictor):
  """`text` or `a ||| b` -> label and probabilities (a score for regression).

  The encoder runs as the SavedModel's does (ClassifierServer: real tokens only).
  """

  def __init__(self, info, checkpoint, batch_size=32, flag_name="model_dir"):
    super().__init__(info, checkpoint, batch_size, flag_name)
    self.labels = info["label_list"]
    self.server = ClassifierServer(self.task, None, self.labels)

  @classmethod
  def check_text(cls, info, text):
    fields = split_fields(text)
    if len(fields) > 2:
      raise errors.UserError(f"input {text[:60]!r}: at most one ' ||| ' (text_a ||| "
                             "text_b) for a classifier.")
    if not all(field.strip() for field in fields):
      raise errors.UserError(f"input {text[:60]!r}: a text of the pair is empty; give "
                             "text_a ||| text_b, or one text without ' ||| '.")
    if len(fields) == 2:
      modeling.check_sentence_pairs(info["bert_config"],
                                    f"inputs with ' ||| ' ({text[:60]!r})")

  def answer(self, texts):
    length = self.info["max_seq_length"]
    rows = []
    for row, text in enumerate(texts):
      self.check_text(self.info, text)
      fields = split_fields(text)
      example = classifier_data.InputExample(f"input-{row}", fields[0],
                                             fields[1] if len(fields) > 1 else None,
                                             self.labels[0] if self.labels else "0")
      rows.append(classifier_data.convert_single_example(
          10 ** 9, example, self.labels or None, length, self.tokenizer))   # not logged
    if not rows:
      return []
    names = ("input_ids", "input_mask", "segment_ids")
    output = "scores" if self.task.is_regression else "probabilities"
    values = training.predict_by_length(
        lambda batch: {output: self.server.serve_ids(*(batch[k] for k in names))[output]
                       .numpy()},
        {k: np.array([getattr(r, k) for r in rows], np.int32) for k in names},
        self.batch_size, names)[output]
    if self.task.is_regression:
      return [{"text": t, "score": float(s)} for t, s in zip(texts, values)]
    return [{"text": text, "label": self.labels[int(np.argmax(p))],
             "probabilities": {l: round(float(x), 6) for l, x in zip(self.labels, p)}}
            for text, p in zip(texts, values)]


class TaggerPredictor(Predictor):
  """Text -> its words and their tags, as run_ner.py tags a sentence."""

  def answer(self, texts):
    labels, characters = self.info["label_list"], self.info["word_split"] == "characters"
    sentences = []
    for text in texts:
      words = ([c for c in tokenization.convert_to_unicode(text) if not c.isspace()]
               if characters else text.split())
      sentences.append(ner_data.Sentence(words, words, [labels[0]] * len(words),
                                         [1] * len(words)))
    results = [{"text": t, "words": [], "tags": []} for t in texts]
    scored = [i for i, s in enumerate(sentences) if s.words]
    if scored:
      features = ner_data.convert_sentences([sentences[i] for i in scored], labels,
                                            self.info["max_seq_length"],
                                            self.info["window_stride"], self.tokenizer,
                                            what=None)
      tags = ner_data.decode(self.run_model(features.arrays)["predictions"], features,
                             [sentences[i] for i in scored], labels)
      for i, sentence_tags in zip(scored, tags):
        results[i].update(words=sentences[i].words, tags=sentence_tags)
    return results


class SquadPredictor(Predictor):
  """`question ||| context` -> the answer, as run_squad.py --do_predict answers it."""

  @classmethod
  def check_text(cls, info, text):
    question, context = split_fields(text, 2)
    if not (question.strip() and context.strip()):
      raise errors.UserError(f"input {text[:60]!r}: the question and the context must "
                             "both be given: question ||| context.")

  def answer(self, texts):
    info = self.info
    for text in texts:
      self.check_text(info, text)
    pairs = [split_fields(text, 2) for text in texts]
    articles = [{"title": "", "paragraphs": [
        {"context": context, "qas": [{"id": str(i), "question": question}]}]}
                for i, (question, context) in enumerate(pairs)]
    examples = squad_data.examples_from_data(articles, False, source="--input")
    features = list(squad_data.iter_features(
        examples, self.tokenizer, info["max_seq_length"], info["doc_stride"],
        info["max_query_length"], False))
    outputs = self.run_model(next(squad_data.feature_chunks(features, len(features) or 1),
                                  {"input_ids": np.zeros([0, 1], np.int32),
                                   "input_mask": np.zeros([0, 1], np.int32),
                                   "segment_ids": np.zeros([0, 1], np.int32)}))
    predictions, nbest, _ = squad_data.compute_predictions(
        examples, features, squad_data.raw_results(features, outputs), info["n_best_size"],
        info["max_answer_length"], info["do_lower_case"], info["version_2_with_negative"],
        info["null_score_diff_threshold"], False)
    answers = []
    for i, (question, context) in enumerate(pairs):
      best = nbest.get(str(i), [{}])[0]
      answers.append({"question": question, "context": context,
                      "answer": predictions.get(str(i), ""),
                      "probability": round(float(best.get("probability", 0.0)), 6)})
    return answers


class ChoicePredictor(Predictor):
  """`context ||| ending 1 ||| ... ||| ending N` -> the best ending and the probabilities."""

  @classmethod
  def check_text(cls, info, text):
    split_fields(text, info["num_choices"] + 1)

  def answer(self, texts):
    count = self.info["num_choices"]
    examples = []
    for row, text in enumerate(texts):
      self.check_text(self.info, text)
      context, *endings = split_fields(text, count + 1)
      examples.append(choice_data.MultipleChoiceExample(f"input-{row}", context, "",
                                                        endings))
    arrays = choice_data.convert_examples(examples, self.info["max_seq_length"],
                                          self.tokenizer, what=None)
    probabilities = self.run_model(arrays)["probabilities"]
    return [{"text": text, "choice": int(np.argmax(p)),
             "probabilities": [round(float(x), 6) for x in p]}
            for text, p in zip(texts, probabilities)]


PREDICTORS = {"classifier": ClassifierPredictor, "ner": TaggerPredictor,
              "squad": SquadPredictor, "multiple_choice": ChoicePredictor}
