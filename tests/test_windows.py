"""windows.py: the sliding windows of NER and SQuAD, in Python and in the graph."""

import random

import numpy as np
import pytest
import tensorflow as tf

import serving
import windows


def test_max_context_example_of_the_reference():
  # "the man went to the store and bought a gallon of milk": spans A = 0-4,
  # B = 3-7, C = 6-10. "bought" (7) has 4 left / 0 right context in B and 1 / 3
  # in C: C is its max-context span.
  spans = [windows.Span(0, 5), windows.Span(3, 5), windows.Span(6, 5)]
  assert windows.best_window(spans, 7) == 2
  # "store" (5): B gives min(2, 2) = 2, C does not hold it.
  assert windows.best_window(spans, 5) == 1
  # A tie (equal length and context) goes to the first span.
  assert windows.best_window([windows.Span(0, 4), windows.Span(1, 4)], 2) == 0
  assert windows.best_window(spans, 11) is None


def test_spans_hand_computed():
  assert windows.spans(7, 4, 2) == [(0, 4), (2, 4), (4, 3)]
  assert windows.spans(4, 4, 2) == [(0, 4)]
  assert windows.spans(5, 4, 4) == [(0, 4), (4, 1)]
  assert windows.spans(1, 3, 1) == [(0, 1)]
  # No pieces, no window: the same for a sentence and a context.
  assert windows.spans(0, 4, 2) == []


def test_every_piece_is_covered_and_the_last_window_reaches_the_end():
  rng = random.Random(3)
  for _ in range(300):
    num_pieces, max_pieces = rng.randint(1, 60), rng.randint(1, 12)
    # A stride above max_pieces (SQuAD's --doc_stride may be) steps one full window.
    stride = rng.randint(1, max_pieces + 5)
    spans = windows.spans(num_pieces, max_pieces, stride)
    assert spans[0].start == 0 and sum(spans[-1]) == num_pieces
    assert all(b.start <= a.start + a.length for a, b in zip(spans, spans[1:]))
    assert all(0 < length <= max_pieces for _, length in spans)
    for position in range(num_pieces):
      assert windows.best_window(spans, position) is not None


def test_the_graph_computes_the_same_windows_and_best_windows():
  rng = random.Random(11)
  for _ in range(20):
    batch = rng.randint(1, 6)
    num_pieces = [rng.choice([0, rng.randint(1, 50)]) for _ in range(batch)]
    max_pieces = [rng.randint(2, 12) for _ in range(batch)]
    # Rows where the stride exceeds max_pieces step one full window.
    stride = rng.randint(1, max(max_pieces) + 3)
    layout = serving.window_layout(tf.constant(num_pieces, tf.int64),
                                        tf.constant(max_pieces, tf.int64), stride,
                                        allow_empty=True)
    expected = [windows.spans(n, m, stride) for n, m in zip(num_pieces, max_pieces)]
    assert layout.count.numpy().tolist() == [len(s) for s in expected]
    flat = [span for row in expected for span in row]
    assert len(layout.start.numpy()) == len(layout.length.numpy()) == len(flat)
    assert list(zip(layout.start.numpy().tolist(), layout.length.numpy().tolist())) == [
        tuple(span) for span in flat]
    sentence = np.repeat(np.arange(batch), num_pieces)
    position = np.concatenate([np.arange(n) for n in num_pieces])
    best = serving.best_windows(layout, tf.constant(sentence, tf.int64),
                                     tf.constant(position, tf.int64)).numpy()
    assert len(best) == len(position)
    assert best.tolist() == [windows.best_window(expected[s], p)
                             for s, p in zip(sentence, position)]


def test_windows_of_no_pieces_or_no_step_are_refused_not_looped_over():
  """max_pieces=0 (max_seq_length=2 in a hand-edited run_info.json) looped forever."""
  for max_pieces, stride in ((0, 1), (3, 0), (-1, 2)):
    with pytest.raises(ValueError, match="must be positive"):
      windows.spans(5, max_pieces, stride)
  assert windows.tagger_stride_problem(14, 16) is None
  assert windows.tagger_stride_problem(15, 16) == ("window_stride=15 must be in [1, "
                                                   "max_seq_length - 2 = 14]")
  assert windows.tagger_stride_problem(0, 16).startswith("window_stride=0 must be in")
