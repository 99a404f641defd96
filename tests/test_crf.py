"""Tests for crf.py against brute-force enumeration of every tag path in NumPy, and of
TaggingTask with its CRF (run_ner.py --crf): loss, Viterbi predictions, variable.

Scores are random real numbers, so no two paths tie and the Viterbi argmax is
unique (test_decode_matches_enumeration asserts the gap). Transitions are
random too, hence not symmetric: reading transitions[j, i] for i -> j changes
every score.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import crf
import modeling
import tasks

NUM_TAGS = 3
# Rows of one batch: full, prefix, non-prefix (BERT word starts), empty, a
# single word in the middle, first and last only.
MASKS = np.array([[1, 1, 1, 1, 1],
                  [1, 1, 1, 0, 0],
                  [0, 1, 0, 1, 1],
                  [0, 0, 0, 0, 0],
                  [0, 0, 1, 0, 0],
                  [1, 0, 0, 0, 1]], np.int32)


def random_inputs(seed, batch_size, length, num_tags=NUM_TAGS):
  """float64 unary [B, T, K], int32 tags [B, T], float64 transitions [K, K]."""
  rng = np.random.default_rng(seed)
  unary = rng.normal(scale=2.0, size=(batch_size, length, num_tags))
  tags = rng.integers(0, num_tags, size=(batch_size, length)).astype(np.int32)
  transitions = rng.normal(size=(num_tags, num_tags))
  return unary, tags, transitions


def path_score(unary_row, transitions, positions, path):
  """Score of `path` (one tag per position in `positions`) in plain Python."""
  score = sum(unary_row[p, tag] for p, tag in zip(positions, path))
  return score + sum(transitions[a, b] for a, b in zip(path[:-1], path[1:]))


def enumerate_row(unary_row, mask_row, transitions):
  """All paths over the masked positions of one row: (positions, paths, scores)."""
  positions = np.nonzero(mask_row)[0]
  # product(..., repeat=0) yields the one empty path, of score 0.
  paths = list(itertools.product(range(transitions.shape[0]), repeat=len(positions)))
  scores = np.array([path_score(unary_row, transitions, positions, p) for p in paths])
  return positions, paths, scores


def brute_log_partition(unary, mask, transitions):
  return np.array([np.logaddexp.reduce(enumerate_row(u, m, transitions)[2])
                   for u, m in zip(unary, mask)])


def brute_log_likelihood(unary, tags, mask, transitions):
  result = []
  for u, t, m in zip(unary, tags, mask):
    positions, _, scores = enumerate_row(u, m, transitions)
    result.append(path_score(u, transitions, positions, t[positions]) -
                  np.logaddexp.reduce(scores))
  return np.array(result)


def test_log_partition_matches_enumeration():
  for length in range(1, 6):
    rng = np.random.default_rng(length)
    masks = np.concatenate([MASKS[:, :length], rng.integers(0, 2, size=(4, length))])
    unary, _, transitions = random_inputs(length, len(masks), length)
    got = crf.log_partition(unary, masks, transitions).numpy()
    assert got.shape == (len(masks),)
    np.testing.assert_allclose(got, brute_log_partition(unary, masks, transitions),
                               rtol=1e-12, atol=1e-12)


def test_log_likelihood_matches_enumeration():
  unary, tags, transitions = random_inputs(1, len(MASKS), MASKS.shape[1])
  # Tags outside the mask are ignored, even out-of-range ones.
  tags = np.where(MASKS == 1, tags, -100)
  got = crf.log_likelihood(unary, tags, MASKS, transitions).numpy()
  want = brute_log_likelihood(unary, tags, MASKS, transitions)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
  assert got[3] == 0.0   # the empty row
  assert np.all(got <= 0.0)


def test_log_likelihoods_of_all_paths_sum_to_one():
  unary, _, transitions = random_inputs(2, 1, 4)
  mask = np.array([[1, 0, 1, 1]])
  paths = np.array(list(itertools.product(range(NUM_TAGS), repeat=3)))
  tags = np.zeros((len(paths), 4), np.int32)
  tags[:, [0, 2, 3]] = paths
  batch = np.repeat(unary, len(paths), axis=0)
  log_p = crf.log_likelihood(batch, tags, np.repeat(mask, len(paths), axis=0), transitions)
  np.testing.assert_allclose(np.exp(log_p.numpy()).sum(), 1.0, rtol=1e-12)


def test_decode_matches_enumeration():
  for length in (1, 3, 5):
    masks = MASKS[:, :length]
    unary, _, transitions = random_inputs(10 + length, len(masks), length)
    tags, score = crf.decode(unary, masks, transitions)
    assert tags.dtype == tf.int32 and tags.shape == masks.shape
    for b, (u, m) in enumerate(zip(unary, masks)):
      positions, paths, scores = enumerate_row(u, m, transitions)
      ranked = np.sort(scores)
      assert len(scores) == 1 or ranked[-1] - ranked[-2] > 1e-6, "a tie: pick another seed"
      want = np.full(length, crf.FILL_TAG)
      want[positions] = paths[int(np.argmax(scores))]
      np.testing.assert_array_equal(tags[b].numpy(), want)
      np.testing.assert_allclose(score[b].numpy(), scores.max(), rtol=1e-12, atol=1e-12)


def test_decode_fills_outside_the_mask_and_empty_rows():
  assert crf.FILL_TAG == 0   # documented: a valid tag id, never out of range
  unary, _, transitions = random_inputs(3, 2, 4)
  unary[:, :, crf.FILL_TAG] -= 100.0   # the fill tag is never a best tag
  tags, score = crf.decode(unary, np.array([[0, 1, 0, 1], [0, 0, 0, 0]]), transitions)
  tags = tags.numpy()
  assert tags[0, 1] != crf.FILL_TAG and tags[0, 3] != crf.FILL_TAG
  np.testing.assert_array_equal(tags[0, [0, 2]], [crf.FILL_TAG] * 2)
  np.testing.assert_array_equal(tags[1], [crf.FILL_TAG] * 4)
  assert score[1].numpy() == 0.0


def negative_log_likelihood(unary, tags, mask, transitions):
  return -tf.reduce_sum(crf.log_likelihood(unary, tags, mask, transitions))


def central_differences(function, x, eps=1e-6):
  """d function / d x by central differences, x a float64 np.ndarray."""
  grad = np.zeros_like(x)
  for index in np.ndindex(x.shape):
    step = np.zeros_like(x)
    step[index] = eps
    grad[index] = (function(x + step) - function(x - step)) / (2 * eps)
  return grad


def test_gradients_match_finite_differences():
  # float64 throughout: the central-difference error (~eps^2 + 1e-16/eps) is
  # about 1e-10, so the tolerance can stay tight.
  mask = MASKS[[2, 3, 5]][:, :4]
  unary, tags, transitions = random_inputs(4, 3, 4)
  nll = tf.function(negative_log_likelihood)
  unary_t, transitions_t = tf.constant(unary), tf.constant(transitions)
  with tf.GradientTape() as tape:
    tape.watch([unary_t, transitions_t])
    loss = nll(unary_t, tags, mask, transitions_t)
  grad_unary, grad_transitions = tape.gradient(loss, [unary_t, transitions_t])
  numeric_unary = central_differences(
      lambda u: nll(u, tags, mask, transitions_t).numpy(), unary)
  numeric_transitions = central_differences(
      lambda t: nll(unary_t, tags, mask, t).numpy(), transitions)
  np.testing.assert_allclose(grad_unary.numpy(), numeric_unary, rtol=1e-6, atol=1e-8)
  np.testing.assert_allclose(grad_transitions.numpy(), numeric_transitions,
                             rtol=1e-6, atol=1e-8)
  # Unmasked positions and the empty row get no gradient at all.
  assert np.all(grad_unary.numpy()[mask == 0] == 0.0)
  assert np.abs(grad_transitions.numpy()).max() > 0.1


def test_module_variable_name_and_checkpoint(tmp_path):
  model = crf.CRF(5)
  assert list(model.variables_by_name()) == ["crf/transitions"]
  assert model.transitions.dtype == tf.float32 and model.transitions.shape == (5, 5)
  assert list(crf.CRF(5, scope="ner/crf").variables_by_name()) == ["ner/crf/transitions"]
  prefix = checkpoint_utils.save_tensors(str(tmp_path / "model.ckpt"),
                                         model.variables_by_name())
  assert checkpoint_utils.checkpoint_shapes(prefix) == {"crf/transitions": [5, 5]}


def test_zero_transitions_start_as_a_softmax_head():
  model = crf.CRF(NUM_TAGS)
  np.testing.assert_array_equal(model.transitions.numpy(), np.zeros([NUM_TAGS, NUM_TAGS]))
  unary, tags, _ = random_inputs(5, len(MASKS), MASKS.shape[1])
  unary = unary.astype(np.float32)
  log_softmax = tf.nn.log_softmax(unary).numpy()
  want = np.take_along_axis(log_softmax, tags[..., None], axis=-1)[..., 0]
  np.testing.assert_allclose(model.log_likelihood(unary, tags, MASKS).numpy(),
                             (want * MASKS).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_float32_module_and_half_precision_inputs():
  unary, tags, transitions = random_inputs(6, len(MASKS), MASKS.shape[1])
  model = crf.CRF(NUM_TAGS)
  model.transitions.assign(transitions.astype(np.float32))
  want = brute_log_likelihood(unary, tags, MASKS, transitions)
  got = model.log_likelihood(tf.constant(unary, tf.float32), tags, MASKS)
  assert got.dtype == tf.float32
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
  for dtype in (tf.float16, tf.bfloat16):
    low = tf.constant(unary, dtype)
    exact = model.log_likelihood(tf.cast(low, tf.float32), tags, MASKS)
    got = model.log_likelihood(low, tags, MASKS)
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(got.numpy(), exact.numpy())
    decoded, score = model.decode(low, MASKS)
    want_tags, want_score = model.decode(tf.cast(low, tf.float32), MASKS)
    assert score.dtype == tf.float32
    np.testing.assert_array_equal(decoded.numpy(), want_tags.numpy())
    np.testing.assert_array_equal(score.numpy(), want_score.numpy())


def unknown_shape_functions(model):
  """decode and log_likelihood as tf.functions with None batch and length."""
  unary_spec = tf.TensorSpec([None, None, NUM_TAGS], tf.float32)
  int_spec = tf.TensorSpec([None, None], tf.int32)
  decode = tf.function(model.decode, input_signature=[unary_spec, int_spec])
  likelihood = tf.function(model.log_likelihood,
                           input_signature=[unary_spec, int_spec, int_spec])
  return decode, likelihood


@pytest.mark.parametrize("batch_size,length", [(1, 1), (1, 5), (6, 5), (6, 1)])
def test_unknown_batch_and_length_in_tf_function(batch_size, length):
  unary, tags, transitions = random_inputs(7, batch_size, length)
  mask = MASKS[:batch_size, :length]
  model = crf.CRF(NUM_TAGS)
  model.transitions.assign(transitions.astype(np.float32))
  decode, likelihood = unknown_shape_functions(model)
  unary32 = tf.constant(unary, tf.float32)
  got_tags, got_score = decode(unary32, mask)
  want_tags, want_score = model.decode(unary32, mask)
  assert got_tags.shape == (batch_size, length)
  np.testing.assert_array_equal(got_tags.numpy(), want_tags.numpy())
  np.testing.assert_allclose(got_score.numpy(), want_score.numpy(), rtol=1e-6)
  np.testing.assert_allclose(likelihood(unary32, tags, mask).numpy(),
                             brute_log_likelihood(unary, tags, mask, transitions),
                             rtol=1e-5, atol=1e-5)


def test_saved_model_decodes_as_the_module(tmp_path):
  unary, _, transitions = random_inputs(8, len(MASKS), MASKS.shape[1])
  model = crf.CRF(NUM_TAGS)
  model.transitions.assign(transitions.astype(np.float32))
  model.serve, _ = unknown_shape_functions(model)
  tf.saved_model.save(model, str(tmp_path / "saved"))
  loaded = tf.saved_model.load(str(tmp_path / "saved"))
  # The transitions are a variable of the SavedModel, not a folded constant.
  assert loaded.transitions.name == "crf/transitions:0"
  np.testing.assert_array_equal(loaded.transitions.numpy(), model.transitions.numpy())
  unary32 = tf.constant(unary, tf.float32)
  got_tags, got_score = loaded.serve(unary32, MASKS)
  want_tags, want_score = model.decode(unary32, MASKS)
  assert got_tags.shape == want_tags.shape
  np.testing.assert_array_equal(got_tags.numpy(), want_tags.numpy())
  np.testing.assert_array_equal(got_score.numpy(), want_score.numpy())


def test_xla_compiles_decode_and_loss_gradient():
  unary, tags, transitions = random_inputs(9, len(MASKS), MASKS.shape[1])
  unary32, transitions32 = tf.constant(unary, tf.float32), tf.constant(transitions, tf.float32)

  def decode_and_gradient(u):
    with tf.GradientTape() as tape:
      tape.watch(u)
      loss = negative_log_likelihood(u, tags, MASKS, transitions32)
    return crf.decode(u, MASKS, transitions32), tape.gradient(loss, u)

  (tags_xla, score_xla), grad_xla = tf.function(decode_and_gradient, jit_compile=True)(unary32)
  (tags_eager, score_eager), grad_eager = decode_and_gradient(unary32)
  np.testing.assert_array_equal(tags_xla.numpy(), tags_eager.numpy())
  np.testing.assert_allclose(score_xla.numpy(), score_eager.numpy(), rtol=1e-6)
  np.testing.assert_allclose(grad_xla.numpy(), grad_eager.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ TaggingTask's CRF

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=16, type_vocab_size=2)
TASK_TAGS = 4
# Windows as run_ner.py lays them out: [CLS] at 0, label_mask 1 on the first
# piece of each scored word only, [SEP] and padding 0; the third row scores
# nothing (its words are scored in another window).
TASK_MASKS = np.array([[0, 1, 1, 0, 1, 1, 0],
                       [0, 1, 0, 1, 1, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0],
                       [0, 1, 1, 1, 1, 1, 0]], np.int32)


def tagging_task(use_crf, seed=3):
  """A tiny TaggingTask with a random head of large weights (varied argmax tags)."""
  task = tasks.TaggingTask(modeling.BertConfig(**TINY), TASK_TAGS, use_crf=use_crf)
  task.build("float32", seed=seed)
  head = task.head.output_weights
  head.assign(tf.random.stateless_normal(head.shape, seed=[seed, 1], stddev=3.0))
  return task


def task_features(seed=4):
  rng = np.random.default_rng(seed)
  batch, length = TASK_MASKS.shape
  input_mask = np.ones((batch, length), np.int32)
  input_mask[1, 6] = 0   # padding
  return {"input_ids": rng.integers(5, TINY["vocab_size"], (batch, length)).astype(np.int32),
          "input_mask": input_mask, "segment_ids": np.zeros((batch, length), np.int32),
          "label_ids": (rng.integers(0, TASK_TAGS, (batch, length)) * TASK_MASKS).astype(
              np.int32),
          "label_mask": TASK_MASKS}


def test_task_crf_variable_only_with_use_crf():
  assert "crf/transitions" not in tagging_task(False).variables()
  task = tagging_task(True)
  transitions = task.variables()["crf/transitions"]
  assert transitions is task.crf.transitions and transitions.shape == (TASK_TAGS, TASK_TAGS)
  assert set(task.variables()) == set(tagging_task(False).variables()) | {"crf/transitions"}


def test_task_zero_transitions_loss_and_tags_are_the_softmax_head():
  """A new CRF head (zero transitions): the softmax loss and argmax tags, word for word."""
  features = task_features()
  task = tagging_task(True)
  logits = task.logits(features, training=False).numpy()
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_softmax, features["label_ids"][..., None], -1)[..., 0]
  want_sums = (nll * TASK_MASKS).sum(-1)
  outputs = task.predict(features)
  np.testing.assert_allclose(outputs["loss_sum"].numpy(), want_sums, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(task.loss(features, False, None).numpy(),
                             want_sums.sum() / TASK_MASKS.sum(), rtol=1e-5)
  predictions = outputs["predictions"].numpy()
  assert predictions.shape == TASK_MASKS.shape
  masked = TASK_MASKS == 1
  np.testing.assert_array_equal(predictions[masked], logits.argmax(-1)[masked])
  np.testing.assert_array_equal(predictions[~masked], crf.FILL_TAG)


def test_task_predict_decodes_with_viterbi():
  """A hand-set transition forbidding a bigram the argmax tags use changes the tags."""
  features = task_features()
  task = tagging_task(True)
  logits = task.logits(features, training=False).numpy().astype(np.float64)
  argmax = logits.argmax(-1)
  # The first bigram of consecutive scored words in the argmax tags of row 0.
  words = np.nonzero(TASK_MASKS[0])[0]
  first, second = argmax[0, words[0]], argmax[0, words[1]]
  transitions = np.zeros((TASK_TAGS, TASK_TAGS))
  transitions[first, second] = -1e4
  task.crf.transitions.assign(transitions.astype(np.float32))
  predictions = task.predict(features)["predictions"].numpy()
  got = predictions[0, words]
  assert len(got) == len(words)
  assert (got[0], got[1]) != (first, second)
  # Each row equals the best path by enumeration under the hand-set matrix.
  for row, (u, m) in enumerate(zip(logits, TASK_MASKS)):
    positions, paths, scores = enumerate_row(u, m, transitions)
    want = np.full(len(m), crf.FILL_TAG)
    want[positions] = paths[int(np.argmax(scores))]
    np.testing.assert_array_equal(predictions[row], want)
  # The loss is the CRF's: -log p(gold) under the same matrix, over scored words.
  want_loss = -brute_log_likelihood(logits, features["label_ids"], TASK_MASKS, transitions)
  np.testing.assert_allclose(task.predict(features)["loss_sum"].numpy(), want_loss,
                             rtol=1e-4)
  np.testing.assert_allclose(task.loss(features, False, None).numpy(),
                             want_loss.sum() / TASK_MASKS.sum(), rtol=1e-4)
