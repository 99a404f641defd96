"""Tests of serving_encoder.py: the exported classifier's encoder pass.

Its pooled output must be BertModel's: against the independent NumPy forward
pass (tests/numpy_bert.py, float64) on batches with padding, masked holes and a
masked [CLS], against BertModel itself on a row with no real token, and the
same whatever else is in the batch. bfloat16 is held to a stated bound.
"""

import numpy as np
import pytest
import tensorflow as tf

import modeling
import tasks
import serving_encoder
from numpy_bert import numpy_bert_forward

# Odd sizes; weights of stddev 0.5 so that every token moves the output.
TINY = dict(vocab_size=29, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=16, type_vocab_size=3,
            initializer_range=0.5)


def build_task(**overrides):
  config = modeling.BertConfig(**{**TINY, **overrides})
  task = tasks.ClassifierTask(config, 3)
  task.build("float32", seed=1)
  return task


def batch(seq_length=11, seed=0):
  """int32 [5, seq_length] ids, mask, segments: full, short, length-1, holes, masked [CLS]."""
  rng = np.random.RandomState(seed)
  ids = rng.randint(0, TINY["vocab_size"], (5, seq_length)).astype(np.int32)
  lengths = np.array([seq_length, 6, 1, 9, 8])
  mask = (np.arange(seq_length)[np.newaxis] < lengths[:, np.newaxis]).astype(np.int32)
  mask[3, [2, 5]] = 0
  mask[4, 0] = 0
  segments = rng.randint(0, TINY["type_vocab_size"], (5, seq_length)).astype(np.int32)
  return ids, mask, segments


def oracle_pooled(task, ids, mask, segments):
  weights = {name: v.numpy() for name, v in task.model.variables_by_name().items()}
  _, pooled, _ = numpy_bert_forward(weights, task.bert_config.to_dict(), ids, mask, segments)
  return pooled


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu", "swish"])
def test_pooled_output_equals_the_numpy_oracle(hidden_act):
  task = build_task(hidden_act=hidden_act)
  encoder = tf.function(serving_encoder.ServingEncoder(task.model))
  got, expected, bert_model = [], [], []
  for seed in range(4):
    ids, mask, segments = batch(seed=seed)
    expected.append(oracle_pooled(task, ids, mask, segments))
    got.append(encoder(ids, mask, segments).numpy())
    bert_model.append(task.model(ids, mask, segments).pooled_output.numpy())
  got, expected, bert_model = map(np.concatenate, (got, expected, bert_model))
  assert got.shape == expected.shape == bert_model.shape == (20, TINY["hidden_size"])
  np.testing.assert_allclose(got, expected, atol=5e-5)
  # As close to the float64 oracle as BertModel's own float32 pass is (these
  # large weights amplify rounding: BertModel is up to 2e-5 away), in RMS over
  # four batches. One batch's largest error is too few numbers: with oneDNN on
  # an AVX2 CPU (fused matmul + GELU or swish) its ratio to BertModel's reached
  # 3.4x on one batch and 0.4x on the next; over four batches the RMS ratio
  # stays under 1.4x (under 1.1x without oneDNN).
  def rms(error):
    return np.sqrt(np.mean(np.square(error)))
  assert rms(got - expected) <= 2 * rms(bert_model - expected)
  # The comparison sees the rows apart.
  assert np.abs(expected[1] - expected[2]).max() > 0.1


def test_a_row_without_real_tokens_gets_bert_models_values():
  task = build_task()
  ids, mask, segments = batch()
  mask[1] = 0
  expected = task.model(ids, mask, segments).pooled_output.numpy()
  got = serving_encoder.ServingEncoder(task.model)(ids, mask, segments).numpy()
  # Every key of that row is masked: BertModel's scores are shifted by -10000,
  # where float32 keeps 3 decimals, so both sides differ by that rounding.
  np.testing.assert_allclose(got[1], expected[1], atol=1e-4)
  np.testing.assert_allclose(np.delete(got, 1, 0), np.delete(expected, 1, 0), atol=2e-5)


def test_a_row_is_the_same_alone_and_beside_longer_rows():
  task = build_task()
  encoder = tf.function(serving_encoder.ServingEncoder(task.model))
  ids, mask, segments = batch(seq_length=13)
  together = encoder(ids, mask, segments).numpy()
  for row in range(len(ids)):
    length = max(int(np.flatnonzero(mask[row]).max(initial=0)) + 1, 1)
    alone = encoder(ids[row:row + 1, :length], mask[row:row + 1, :length],
                    segments[row:row + 1, :length]).numpy()
    # Only the rounding of matmuls of another height differs.
    np.testing.assert_allclose(alone[0], together[row], atol=1e-5)


def test_classifier_logits_equal_the_tasks_own():
  task = build_task()
  encoder = serving_encoder.ServingEncoder(task.model)
  ids, mask, segments = batch()
  expected = task.logits({"input_ids": ids, "input_mask": mask, "segment_ids": segments},
                         training=False).numpy()
  np.testing.assert_allclose(task.head(encoder(ids, mask, segments)).numpy(), expected,
                             atol=2e-5)


def test_bfloat16_stays_within_its_bound_of_the_oracle():
  task = build_task(initializer_range=0.02)
  encoder = serving_encoder.ServingEncoder(task.model, "bfloat16")
  ids, mask, segments = batch()
  got = encoder(ids, mask, segments)
  assert got.dtype == tf.bfloat16
  assert all(v.dtype == tf.bfloat16 for layer in encoder.layers
             for v in (layer.intermediate.kernel, layer.output_dense.kernel))
  expected = oracle_pooled(task, ids, mask, segments)
  error = np.abs(got.numpy().astype(np.float64) - expected).max()
  # bfloat16 keeps 8 significant bits: a relative step of 2^-8 per rounding.
  assert 0 < error < 2e-2


def test_weights_are_stored_once_in_the_serving_layout():
  task = build_task()
  encoder = serving_encoder.ServingEncoder(task.model)
  h, i, layers = TINY["hidden_size"], TINY["intermediate_size"], TINY["num_hidden_layers"]
  embeddings = (TINY["vocab_size"] + TINY["max_position_embeddings"] +
                TINY["type_vocab_size"] + 2) * h
  per_layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h
  assert sum(int(np.prod(v.shape)) for v in encoder.variables) == (
      embeddings + layers * per_layer + h * h + h)
  # The query part of the fused kernel carries the 1/sqrt(head_size) scale.
  first = task.model.layers[0].attention
  np.testing.assert_allclose(encoder.layers[0].query_key_value.kernel.numpy()[:, :h],
                             first.query.kernel.numpy() / np.sqrt(first.head_size),
                             rtol=1e-6)


def test_unsupported_dtype_is_named():
  with pytest.raises(ValueError, match="float16.*float32, bfloat16"):
    serving_encoder.ServingEncoder(build_task().model, "float16")
