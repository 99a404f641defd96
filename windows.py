"""Sliding windows over a long sequence of word pieces (NER sentences, SQuAD contexts).

A sequence longer than a window is cut into windows `stride` pieces apart,
the last one reaching the end (the `doc_spans` of squad_data.py). A piece seen
in several windows is scored in the one where it has the most context: the
score of a window is min(left context, right context) + 0.01 * its length,
and the first window wins ties. A sequence without pieces has no window.

serving.py computes the same windows inside the graph (window_layout,
best_windows); tests/test_windows.py checks that both agree.
"""

import collections

Span = collections.namedtuple("Span", ["start", "length"])


def spans(num_pieces, max_pieces, stride):
  """The windows over `num_pieces` pieces: list of Span(start, length).

  Args:
    num_pieces: int >= 0.
    max_pieces: int >= 1, the pieces a window holds.
    stride: int >= 1, pieces between the starts of two windows; a window never
      starts past the end of the previous one.
  """
  if max_pieces < 1 or stride < 1:   # callers check their settings first (a loop forever)
    raise ValueError(f"max_pieces={max_pieces} and stride={stride} must be positive.")
  result, start = [], 0
  while start < num_pieces:
    length = min(num_pieces - start, max_pieces)
    result.append(Span(start, length))
    if start + length == num_pieces:
      break
    start += min(length, stride)
  return result


def tagger_stride_problem(stride, max_seq_length):
  """Why a tagger's `stride` cannot step its windows ([CLS] + pieces + [SEP]), or None."""
  if 1 <= stride <= max_seq_length - 2:
    return None
  return f"window_stride={stride} must be in [1, max_seq_length - 2 = {max_seq_length - 2}]"


def context_room_problem(max_seq_length, max_query_length, flag_prefix=""):
  """Why SQuAD windows of these lengths hold no context, or None.

  A window is [CLS] question [SEP] context [SEP].
  """
  if max_seq_length > max_query_length + 3:
    return None
  return (f"{flag_prefix}max_seq_length={max_seq_length} must be greater than "
          f"{flag_prefix}max_query_length={max_query_length} + 3 ([CLS] and two [SEP]) to "
          "leave room for the context")


def best_window(windows, position):
  """Index of the window where piece `position` has the most context, or None."""
  best, best_score = None, None
  for index, (start, length) in enumerate(windows):
    if not start <= position < start + length:
      continue
    score = min(position - start, start + length - 1 - position) + 0.01 * length
    if best_score is None or score > best_score:
      best, best_score = index, score
  return best
