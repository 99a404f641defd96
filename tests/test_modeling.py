"""Tests for modeling.py and checkpoint_utils.py: names, config, numerics, save/load."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import errors
import modeling
import tasks
from conftest import flip_middle_byte, truncate_to_half

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures",
                       "official_L-8_H-512_A-8")
FIXTURE = os.environ.get("BERT_FIXTURE_DIR", os.path.normpath(FIXTURE))

# Odd sizes so that a swapped dimension cannot go unnoticed.
TINY = dict(vocab_size=29, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=16, type_vocab_size=3)


def tiny_config(**overrides):
  return modeling.BertConfig(**{**TINY, **overrides})


def random_batch(config, batch_size=3, seq_length=7, seed=0):
  rng = np.random.RandomState(seed)
  ids = rng.randint(0, config.vocab_size, size=(batch_size, seq_length)).astype(np.int32)
  mask = np.ones((batch_size, seq_length), np.int32)
  mask[1, 4:] = 0
  mask[2, 2:] = 0
  types = rng.randint(0, config.type_vocab_size, size=(batch_size, seq_length)).astype(np.int32)
  return ids, mask, types


# ---------------------------------------------------------------- BertConfig

def test_config_round_trips_through_json_with_unknown_keys(tmp_path):
  data = {**TINY, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
          "directionality": "bidi", "pooler_type": "first_token_transform"}
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(data))
  config = modeling.BertConfig.from_json_file(str(path))
  assert config.extra == {"directionality": "bidi", "pooler_type": "first_token_transform"}
  assert json.loads(config.to_json_string()) == data
  path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())   # saved by a Windows editor
  assert modeling.BertConfig.from_json_file(str(path)).to_dict() == data
  again = modeling.BertConfig.from_dict(json.loads(config.to_json_string()))
  assert again == config


def test_config_reads_the_official_fixture():
  config = modeling.BertConfig.from_json_file(os.path.join(FIXTURE, "bert_config.json"))
  assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
          config.intermediate_size, config.vocab_size) == (512, 8, 8, 2048, 30522)


@pytest.mark.parametrize("overrides, words", [
    (dict(hidden_size=30, num_attention_heads=4), ["hidden_size=30", "num_attention_heads=4"]),
    (dict(hidden_act="gelu_fancy"), ["hidden_act='gelu_fancy'", "gelu"]),
    (dict(num_hidden_layers=0), ["num_hidden_layers=0", "positive"]),
    (dict(hidden_dropout_prob=1.5), ["hidden_dropout_prob=1.5"]),
    # Tracebacks or out-of-memory crashes before: a list, NaN, sizes with extra digits.
    (dict(hidden_act=["gelu"]), ["hidden_act=['gelu'] is not supported"]),
    (dict(initializer_range=float("nan")), ["initializer_range=nan must be a positive"]),
    (dict(max_position_embeddings=10 ** 12), ["parameters, more than 1.72e+10",
                                              "max_position_embeddings=1000000000000"]),
    (dict(num_hidden_layers=10 ** 9), ["parameters, more than", "num_hidden_layers=10000"]),
])
def test_config_rejects_inconsistent_values(overrides, words):
  with pytest.raises(errors.UserError) as info:
    tiny_config(**overrides)
  for word in words:
    assert word in str(info.value)


def test_classifier_dropout_key_sets_the_heads_dropout(tmp_path):
  assert tiny_config().classifier_dropout_prob == 0.1   # the reference's rate
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps({**tiny_config().to_dict(), "classifier_dropout": 0.0}))
  config = modeling.BertConfig.from_json_file(str(path))
  assert config.classifier_dropout_prob == 0.0
  assert json.loads(config.to_json_string())["classifier_dropout"] == 0.0
  heads = (tasks.ClassifierTask(config, 2), tasks.TaggingTask(config, 3),
           tasks.MultipleChoiceTask(config))
  for task in heads:
    task.build("float32", seed=1)
    assert task.head.dropout_prob == 0.0, type(task).__name__
  path.write_text(json.dumps({**tiny_config().to_dict(), "classifier_dropout": None}))
  assert modeling.BertConfig.from_json_file(str(path)).classifier_dropout_prob == 0.1
  path.write_text(json.dumps({**tiny_config().to_dict(), "classifier_dropout": 1.5}))
  with pytest.raises(errors.UserError, match="classifier_dropout=1.5 must be in"):
    modeling.BertConfig.from_json_file(str(path))


def test_config_missing_key_is_named(tmp_path):
  data = dict(TINY)
  del data["intermediate_size"]
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(data))
  with pytest.raises(errors.UserError, match="'intermediate_size' is missing"):
    modeling.BertConfig.from_json_file(str(path))


def test_config_bad_json_names_the_file(tmp_path):
  path = tmp_path / "bert_config.json"
  path.write_bytes(b"{\"vocab_size\": 3,")
  with pytest.raises(errors.UserError, match="bert_config.json"):
    modeling.BertConfig.from_json_file(str(path))
  with pytest.raises(errors.UserError, match="file not found"):
    modeling.BertConfig.from_json_file(str(tmp_path / "nope.json"))


# ------------------------------------------------------------ variable names

def test_variables_match_the_official_checkpoint_name_for_name_and_shape():
  config = modeling.BertConfig.from_json_file(os.path.join(FIXTURE, "bert_config.json"))
  model = modeling.BertModel(config)
  heads = modeling.PretrainingHeads(config)
  ours = {name: var.shape.as_list()
          for name, var in {**model.variables_by_name(), **heads.variables_by_name()}.items()}
  official = dict(tf.train.list_variables(os.path.join(FIXTURE, "bert_model.ckpt")))
  assert ours == official
  assert all(v.dtype == tf.float32 for v in model.trainable_variables)


def test_outputs_have_documented_shapes_and_embedding_table_is_shared():
  config = tiny_config()
  model = modeling.BertModel(config, seed=1)
  ids, mask, types = random_batch(config)
  out = model(ids, mask, types)
  assert out.sequence_output.shape == (3, 7, 32)
  assert out.pooled_output.shape == (3, 32)
  assert len(out.all_encoder_layers) == 2
  assert out.embedding_output.shape == (3, 7, 32)
  np.testing.assert_array_equal(out.sequence_output, out.all_encoder_layers[-1])
  assert model.embedding_table is model.variables_by_name()["bert/embeddings/word_embeddings"]


# ----------------------------------------------------------------- numerics

def test_gelu_is_the_exact_erf_form():
  x = np.linspace(-6, 6, 101).astype(np.float64)
  from math import erf, sqrt
  expected = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x])
  np.testing.assert_allclose(modeling.gelu(tf.constant(x)).numpy(), expected, rtol=1e-6, atol=1e-9)
  tanh_form = modeling.gelu_tanh(tf.constant(x)).numpy()
  assert np.max(np.abs(tanh_form - expected)) > 1e-5   # the two forms really differ


def test_padding_does_not_change_real_positions():
  config = tiny_config()
  model = modeling.BertModel(config, seed=2)
  ids, mask, types = random_batch(config)
  short = model(ids[:, :4], mask[:, :4], types[:, :4]).sequence_output.numpy()
  padded_ids = np.concatenate([ids[:, :4], np.full((3, 5), 7, np.int32)], axis=1)
  padded_mask = np.concatenate([mask[:, :4], np.zeros((3, 5), np.int32)], axis=1)
  padded_types = np.concatenate([types[:, :4], np.zeros((3, 5), np.int32)], axis=1)
  long = model(padded_ids, padded_mask, padded_types).sequence_output.numpy()
  np.testing.assert_allclose(long[:, :4], short, atol=1e-5)


def test_dropout_only_when_training_and_reproducible_with_a_seed():
  config = tiny_config()
  model = modeling.BertModel(config, seed=3)
  ids, mask, types = random_batch(config)
  a = model(ids, mask, types).sequence_output
  b = model(ids, mask, types).sequence_output
  np.testing.assert_array_equal(a, b)
  seeds = modeling.example_dropout_seeds(5, tf.constant([0, 1, 2], tf.int64))
  other = modeling.example_dropout_seeds(6, tf.constant([0, 1, 2], tf.int64))
  t1 = model(ids, mask, types, training=True, dropout_seed=seeds).sequence_output
  t2 = model(ids, mask, types, training=True, dropout_seed=seeds).sequence_output
  t3 = model(ids, mask, types, training=True, dropout_seed=other).sequence_output
  np.testing.assert_array_equal(t1, t2)
  assert np.max(np.abs(t1 - a)) > 1e-3
  assert np.max(np.abs(t1 - t3)) > 1e-3


def padded(array, length, value=0):
  """[B, S] -> [B, length]: cut, or padded on the right with `value`."""
  if length <= array.shape[1]:
    return array[:, :length]
  return np.pad(array, [(0, 0), (0, length - array.shape[1])], constant_values=value)


def test_an_examples_dropout_does_not_depend_on_its_batch_or_padded_length():
  """Rows moved to another batch, order and padded length keep their outputs and gradients."""
  config = tiny_config()
  model = modeling.BertModel(config, seed=4)
  ids, mask, types = random_batch(config, batch_size=3, seq_length=7)
  index = tf.constant([10, 11, 12], tf.int64)
  full = model(ids, mask, types, training=True,
               dropout_seed=modeling.example_dropout_seeds(9, index))
  eval_output = model(ids, mask, types).sequence_output.numpy()
  assert np.max(np.abs(full.sequence_output.numpy() - eval_output)) > 1e-2   # dropout is on
  # Rows 2 and 1 alone (example 2 holds 2 real tokens, example 1 holds 4), in
  # the other order, cut to 4 and padded to 11 (longer than the first batch).
  rows = [2, 1]
  for length in (4, 11):
    part = model(padded(ids[rows], length, 7), padded(mask[rows], length),
                 padded(types[rows], length), training=True,
                 dropout_seed=modeling.example_dropout_seeds(9, tf.gather(index, rows)))
    for j, row in enumerate(rows):
      real = int(mask[row].sum())
      np.testing.assert_allclose(part.sequence_output[j, :real],
                                 full.sequence_output[row, :real], rtol=1e-5, atol=1e-5)
      np.testing.assert_allclose(part.pooled_output[j], full.pooled_output[row],
                                 rtol=1e-5, atol=1e-5)
  # The same rows under another stream index are dropped out differently.
  moved = model(ids, mask, types, training=True,
                dropout_seed=modeling.example_dropout_seeds(9, index + 3))
  assert np.max(np.abs(moved.sequence_output[:, 0] - full.sequence_output[:, 0])) > 1e-2


def test_output_positions_keep_the_full_models_dropout():
  config = tiny_config()
  model = modeling.BertModel(config, seed=6)
  ids, mask, types = random_batch(config)
  seeds = modeling.example_dropout_seeds(3, tf.constant([4, 5, 6], tf.int64))
  full = model(ids, mask, types, training=True, dropout_seed=seeds)
  positions = np.array([[0, 3, 3], [0, 6, 1], [0, 0, 5]], np.int32)
  part = model(ids, mask, types, training=True, dropout_seed=seeds,
               output_positions=positions)
  expected = np.take_along_axis(full.sequence_output.numpy(), positions[:, :, None], axis=1)
  np.testing.assert_allclose(part.sequence_output, expected, atol=1e-5)
  np.testing.assert_allclose(part.pooled_output, full.pooled_output, atol=1e-5)


@pytest.mark.parametrize("task_class", ["classifier", "tagging", "choice"])
def test_a_heads_dropout_does_not_depend_on_the_batch_or_padded_length(task_class):
  """Task logits with dropout: an example alone, cut and padded, keeps its batch's logits."""
  config = tiny_config(extra={"classifier_dropout": 0.5})
  task = {"classifier": lambda: tasks.ClassifierTask(config, 3),
          "tagging": lambda: tasks.TaggingTask(config, 3),
          "choice": lambda: tasks.MultipleChoiceTask(config)}[task_class]()
  task.build("float32", seed=1)
  ids, mask, types = random_batch(config, batch_size=4)
  mask[3, 4:] = 0
  features = {"input_ids": ids, "input_mask": mask, "segment_ids": types}
  if task_class == "choice":   # [2 examples, 2 choices, S]
    features = {k: v.reshape(2, 2, -1) for k, v in features.items()}
  batch = len(features["input_ids"])
  seeds = modeling.example_dropout_seeds(8, tf.range(batch, dtype=tf.int64) + 40)
  full = task.logits(features, True, seeds).numpy()
  assert np.max(np.abs(full - task.logits(features, False).numpy())) > 1e-3
  last = {k: v[-1:, ..., :5] for k, v in features.items()}    # cut 7 -> 5 (4 real tokens)
  alone = task.logits(last, True, seeds[-1:]).numpy()
  expected = full[-1:, :5] if task_class == "tagging" else full[-1:]
  assert alone.shape == expected.shape
  np.testing.assert_allclose(alone, expected, rtol=1e-5, atol=1e-5)


def keep_masks(rate, row_keys, width):
  """The 0/1 keep mask dropout draws for row keys [..., 1] and `width` columns."""
  ones = tf.ones(tf.concat([tf.shape(row_keys)[:-1], [width]], 0))
  return (modeling.dropout(ones, rate, True, row_keys).numpy() > 0).astype(np.float64)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_keeps_one_minus_rate_and_masks_differ_across_sites_and_examples(rate):
  """Keep rates within 4.5 binomial standard deviations; masks of sites and examples unrelated."""
  seeds = modeling.example_dropout_seeds(1, tf.range(64, dtype=tf.int64))
  positions = tf.range(128)
  hidden = [keep_masks(rate, modeling.dropout_row_keys(seeds, site, positions)[..., None],
                       384) for site in (1, 2)]                         # [64, 128, 384]
  attention = keep_masks(rate, modeling.dropout_row_keys(seeds, 3, positions, 12)[..., None],
                         128)                                           # [64, 12, 128, 128]
  keep = 1.0 - rate
  for mask in hidden + [attention]:
    n = mask.size
    bound = 4.5 * np.sqrt(keep * rate / n)
    assert abs(mask.mean() - keep) < bound, (mask.mean(), keep, bound)
    # Per row, column and example the rate holds too (no structure along an axis).
    for axis_means in (mask.mean(axis=tuple(range(1, mask.ndim))), mask.mean(axis=-2)):
      assert abs(axis_means.mean() - keep) < bound
  # Independent masks agree with probability keep^2 + rate^2.
  agree = keep ** 2 + rate ** 2
  pairs = [(hidden[0], hidden[1]),                                  # two sites
           (hidden[0][:32], hidden[0][32:]),                        # two sets of examples
           (hidden[0][:, :64], hidden[0][:, 64:]),                  # two sets of positions
           (hidden[0][..., :192], hidden[0][..., 192:]),            # two sets of columns
           (attention[:, :6], attention[:, 6:])]                    # two sets of heads
  for a, b in pairs:
    assert a.shape == b.shape
    bound = 4.5 * np.sqrt(agree * (1 - agree) / a.size)
    assert abs((a == b).mean() - agree) < bound, ((a == b).mean(), agree, bound)


def test_dropout_without_seeds_is_random_and_scales_the_kept():
  x = tf.ones([50, 40])
  a = modeling.dropout(x, 0.25, True).numpy()
  assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
  assert np.array_equal(modeling.dropout(x, 0.25, False), x)


def test_choice_seeds_are_distinct_per_example_and_choice():
  seeds = modeling.example_dropout_seeds(2, tf.constant([0, 1, 2, 3], tf.int64))
  choices = modeling.choice_dropout_seeds(seeds, 5).numpy()
  assert choices.shape == (20,) and len(set(choices.tolist())) == 20
  np.testing.assert_array_equal(choices[5:10], modeling.choice_dropout_seeds(seeds[1:2], 5))
  assert modeling.choice_dropout_seeds(None, 5) is None


def test_output_positions_give_the_full_models_rows_and_pooled_output():
  config = tiny_config()
  model = modeling.BertModel(config, seed=6)
  ids, mask, types = random_batch(config)
  full = model(ids, mask, types)
  # Repeated positions and positions on padding, as masked-LM slots have.
  positions = np.array([[0, 3, 3], [0, 6, 1], [0, 0, 5]], np.int32)
  part = model(ids, mask, types, output_positions=positions)
  expected = np.take_along_axis(full.sequence_output.numpy(), positions[:, :, None], axis=1)
  assert part.sequence_output.shape == (3, 3, config.hidden_size)
  np.testing.assert_allclose(part.sequence_output, expected, atol=1e-5)
  np.testing.assert_allclose(part.pooled_output, full.pooled_output, atol=1e-5)
  np.testing.assert_array_equal(part.all_encoder_layers[0], full.all_encoder_layers[0])
  cls = model(ids, mask, types, output_positions=modeling.cls_position(ids))
  np.testing.assert_allclose(cls.pooled_output, full.pooled_output, atol=1e-5)
  # Another first position pools that position instead.
  moved = model(ids, mask, types, output_positions=positions[:, 1:])
  assert np.max(np.abs(moved.pooled_output - full.pooled_output)) > 1e-3


def test_output_positions_leave_every_gradient_unchanged():
  config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  model = modeling.BertModel(config, seed=7)
  ids, mask, types = random_batch(config)
  positions = np.array([[0, 2], [0, 3], [0, 0]], np.int32)
  weights = tf.random.stateless_normal([3, 2, config.hidden_size], seed=[1, 2])

  def loss(output_positions):
    out = model(ids, mask, types, training=True, output_positions=output_positions)
    rows = out.sequence_output
    if output_positions is None:
      rows = tf.gather(rows, positions, batch_dims=1)
    return tf.reduce_sum(out.pooled_output ** 2) + tf.reduce_sum(rows * weights)

  grads = []
  for output_positions in (None, positions):
    with tf.GradientTape() as tape:
      value = loss(output_positions)
    grads.append(tape.gradient(value, model.trainable_variables))
  assert len(grads[0]) == len(grads[1]) == len(model.trainable_variables)
  for variable, full, part in zip(model.trainable_variables, *grads):
    np.testing.assert_allclose(tf.convert_to_tensor(part), tf.convert_to_tensor(full),
                               rtol=1e-5, atol=1e-5, err_msg=variable.name)


def test_same_seed_same_initial_weights():
  config = tiny_config()
  a = modeling.BertModel(config, seed=11).variables_by_name()
  b = modeling.BertModel(config, seed=11).variables_by_name()
  c = modeling.BertModel(config, seed=12).variables_by_name()
  name = "bert/encoder/layer_1/intermediate/dense/kernel"
  np.testing.assert_array_equal(a[name], b[name])
  assert not np.array_equal(a[name], c[name])
  # Truncated normal at 2 stddev, as the reference's initializer.
  assert np.max(np.abs(a[name].numpy())) <= 2 * config.initializer_range + 1e-7


@pytest.mark.parametrize("dtype, tolerance", [("bfloat16", 0.15), ("float16", 0.02)])
def test_reduced_precision_stays_close_to_float32(dtype, tolerance):
  config = tiny_config()
  model32 = modeling.BertModel(config, seed=4)
  low = modeling.BertModel(config, compute_dtype=dtype, seed=4)
  ids, mask, types = random_batch(config)
  ref = model32(ids, mask, types)
  out = low(ids, mask, types)
  assert out.sequence_output.dtype == modeling.resolve_dtype(dtype)
  assert all(v.dtype == tf.float32 for v in low.trainable_variables)
  diff = np.abs(tf.cast(out.sequence_output, tf.float32).numpy() - ref.sequence_output.numpy())
  assert np.all(np.isfinite(diff)) and diff.max() < tolerance


def test_model_runs_inside_tf_function_with_unknown_shapes():
  config = tiny_config()
  model = modeling.BertModel(config, seed=5)
  spec = tf.TensorSpec([None, None], tf.int32)
  fn = tf.function(lambda i, m, t: model(i, m, t).pooled_output,
                   input_signature=[spec, spec, spec])
  ids, mask, types = random_batch(config)
  np.testing.assert_allclose(fn(ids, mask, types), model(ids, mask, types).pooled_output,
                             atol=1e-6)


def test_sequence_longer_than_position_embeddings_is_a_clear_error():
  with pytest.raises(ValueError, match="max_seq_length=600.*max_position_embeddings=16"):
    modeling.check_sequence_length(tiny_config(), 600)


# ------------------------------------------------------------- checkpoints

def test_save_then_load_is_bit_exact(tmp_path):
  config = tiny_config()
  model = modeling.BertModel(config, seed=6)
  prefix = checkpoint_utils.save_tensors(str(tmp_path / "bert_model.ckpt"),
                                         model.variables_by_name())
  assert sorted(os.listdir(tmp_path)) == ["bert_model.ckpt.data-00000-of-00001",
                                          "bert_model.ckpt.index"]
  fresh = modeling.BertModel(config, seed=7)
  report = checkpoint_utils.load_variables(fresh.variables_by_name(), prefix)
  assert report.missing == [] and report.unused == []
  for name, var in model.variables_by_name().items():
    np.testing.assert_array_equal(var.numpy(), fresh.variables_by_name()[name].numpy())
  # Readable by the plain TF reader, names intact (tools built for the reference).
  reader = tf.train.load_checkpoint(prefix)
  assert set(reader.get_variable_to_shape_map()) == set(model.variables_by_name())


def test_load_reports_fresh_heads_and_unused_entries_and_accepts_hub_prefix(tmp_path):
  """Heads may start fresh; pretraining heads, optimizer slots and global_step are ignored."""
  config = tiny_config()
  model = modeling.BertModel(config, seed=8)
  tensors = {("module/" + k): v for k, v in model.variables_by_name().items()}
  word = "bert/embeddings/word_embeddings"
  tensors.update({
      "module/cls/predictions/output_bias": np.zeros([config.vocab_size], np.float32),
      f"module/{word}/adam_m": np.zeros([29, 32], np.float32),   # this toolkit's slots
      f"module/{word}/Adam_1": np.zeros([29, 32], np.float32),   # TF1 AdamOptimizer's
      "module/global_step": np.int64(12)})
  checkpoint_utils.save_tensors(str(tmp_path / "hub" / "bert_model.ckpt"), tensors)
  fresh = modeling.BertModel(config, seed=9)
  head = {"output_weights": tf.Variable(tf.zeros([2, 32])),
          "output_bias": tf.Variable(tf.zeros([2]))}
  report = checkpoint_utils.load_variables({**fresh.variables_by_name(), **head},
                                           str(tmp_path / "hub"))
  assert report.missing == ["output_bias", "output_weights"]
  assert report.unused == [f"{word}/Adam_1", f"{word}/adam_m", "cls/predictions/output_bias",
                           "global_step"]
  np.testing.assert_array_equal(
      fresh.embedding_table.numpy(), model.embedding_table.numpy())
  assert ("2 variables not in the checkpoint, initialised fresh: output_bias, "
          "output_weights") in report.log_lines()
  assert checkpoint_utils.read_global_step(str(tmp_path / "hub")) == 12


@pytest.mark.parametrize("layers, message", [
    (3, "layer 2 would start from random weights"),
    (1, "the checkpoint's layer 1 would be dropped")])
def test_encoder_layers_that_differ_from_the_config_stop_the_load(tmp_path, layers, message):
  prefix = checkpoint_utils.save_tensors(
      str(tmp_path / "bert_model.ckpt"), modeling.BertModel(tiny_config(), seed=1)
      .variables_by_name())
  other = modeling.BertModel(tiny_config(num_hidden_layers=layers), seed=2)
  before = {n: v.numpy() for n, v in other.variables_by_name().items()}
  with pytest.raises(errors.CheckpointError) as info:
    checkpoint_utils.load_variables(other.variables_by_name(), prefix,
                                    config_flag="--bert_config_file=x.json")
  assert str(info.value) == (
      f"--init_checkpoint={prefix} has encoder layers 0-1 (2) but --bert_config_file=x.json "
      f"says num_hidden_layers={layers}: {message}; use the bert_config.json that came "
      "with the checkpoint.")
  for name, value in other.variables_by_name().items():   # nothing was half-loaded
    np.testing.assert_array_equal(value.numpy(), before[name], err_msg=name)


def test_missing_or_extra_encoder_variables_stop_the_load_naming_them(tmp_path):
  tensors = modeling.BertModel(tiny_config(), seed=1).variables_by_name()
  no_pooler = checkpoint_utils.save_tensors(
      str(tmp_path / "no_pooler" / "bert_model.ckpt"),
      {k: v for k, v in tensors.items() if "pooler" not in k})
  extra = checkpoint_utils.save_tensors(
      str(tmp_path / "extra" / "bert_model.ckpt"),
      {**tensors, "bert/encoder/layer_0/attention/self/relative_bias": np.zeros([4])})
  model = modeling.BertModel(tiny_config(), seed=2).variables_by_name()
  with pytest.raises(errors.CheckpointError) as info:
    checkpoint_utils.load_variables(model, no_pooler)
  assert str(info.value) == (
      f"--init_checkpoint={no_pooler} lacks 2 encoder variables of the model: "
      "bert/pooler/dense/bias, bert/pooler/dense/kernel; they would start from random "
      "weights. Check that the model's bert_config belongs to this checkpoint.")
  with pytest.raises(errors.CheckpointError) as info:
    checkpoint_utils.load_variables(model, extra)
  assert str(info.value) == (
      f"--init_checkpoint={extra} holds 1 encoder variables the model does not have: "
      "bert/encoder/layer_0/attention/self/relative_bias; they would be dropped. Check "
      "that the model's bert_config belongs to this checkpoint.")
  # Where the pooler is not used (extract_features.py), it may be absent.
  report = checkpoint_utils.load_variables(model, no_pooler, optional=("bert/pooler/",))
  assert report.missing == ["bert/pooler/dense/bias", "bert/pooler/dense/kernel"]


def _damage(folder, kind):
  """Damages the bundle `folder/bert_model.ckpt` as disks and downloads do."""
  data = folder / "bert_model.ckpt.data-00000-of-00001"
  index = folder / "bert_model.ckpt.index"
  if kind == "truncated data":
    truncate_to_half(data)
  elif kind == "flipped byte":
    flip_middle_byte(data)
  elif kind == "index of a same-shaped model":
    other = modeling.BertModel(tiny_config(), seed=99).variables_by_name()
    checkpoint_utils.save_tensors(str(folder / "other" / "m"), other)
    index.write_bytes((folder / "other" / "m.index").read_bytes())
  elif kind == "index of a larger model":
    other = modeling.BertModel(tiny_config(num_hidden_layers=3), seed=99)
    checkpoint_utils.save_tensors(str(folder / "other" / "m"), other.variables_by_name())
    index.write_bytes((folder / "other" / "m.index").read_bytes())
  elif kind == "missing data":
    data.unlink()
  elif kind == "stray data file of another write":
    (folder / "bert_model.ckpt.data-00001-of-00002").write_bytes(b"x" * 16)
  elif kind == "truncated index":
    index.write_bytes(index.read_bytes()[:-20])


DAMAGES = {  # kind: texts of the message (after the prefix), found without reading tensors?
    "truncated data": ([".data-00000-of-00001 holds", "bytes but bert_model.ckpt.index "
                        "lists", "truncated"], True),
    "flipped byte": ([".data-00000-of-00001 fails its checksum at bert/"], False),
    "index of a same-shaped model": (["fails its checksum", "bert_model.ckpt.index belongs "
                                      "to another checkpoint"], False),
    "index of a larger model": ([".data-00000-of-00001 holds", "the .index belongs to "
                                 "another checkpoint"], True),
    "missing data": ([".data-00000-of-00001 is missing"], True),
    # It named a file that does not exist (.data-00000-of-00002 is missing).
    "stray data file of another write": ([".data-* come from writes of 1 and 2 shards ("
                                          "bert_model.ckpt.data-00000-of-00001; "
                                          "bert_model.ckpt.data-00001-of-00002); keep the ones "
                                          "written with its .index"], True),
    "truncated index": (["bert_model.ckpt.index cannot be read"], True),
}


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_a_damaged_checkpoint_is_one_error_naming_the_file_and_the_fix(tmp_path, kind):
  model = modeling.BertModel(tiny_config(), seed=1)
  prefix = checkpoint_utils.save_tensors(str(tmp_path / "bert_model.ckpt"),
                                         model.variables_by_name())
  _damage(tmp_path, kind)
  texts, found_on_opening = DAMAGES[kind]
  readers = [lambda: checkpoint_utils.read_checkpoint(prefix),
             lambda: checkpoint_utils.load_variables(
                 modeling.BertModel(tiny_config(), seed=2).variables_by_name(), prefix)]
  if found_on_opening:
    readers += [lambda: checkpoint_utils.checkpoint_shapes(prefix),
                lambda: checkpoint_utils.read_global_step(prefix)]
  for read in readers:
    with pytest.raises(checkpoint_utils.DamagedCheckpointError) as info:
      read()
    message = str(info.value)
    assert message.startswith(f"--init_checkpoint={prefix} is damaged: {prefix}")
    assert message.endswith("; re-download or re-create the checkpoint.")
    assert all(text in message for text in texts), message
    assert info.value.prefix == prefix and errors.is_input_error(info.value)


def test_a_damaged_newest_checkpoint_of_a_folder_names_the_older_one_as_the_way_out(tmp_path):
  manager = checkpoint_utils.CheckpointManager(str(tmp_path))
  for step in (1, 2):
    manager.save(step, modeling.BertModel(tiny_config(), seed=step).variables_by_name())
  flip_middle_byte(tmp_path / "model.ckpt-2.data-00000-of-00001")
  with pytest.raises(checkpoint_utils.DamagedCheckpointError) as info:
    checkpoint_utils.read_checkpoint(str(tmp_path))
  prefix = str(tmp_path / "model.ckpt-2")
  assert str(info.value).startswith(f"--init_checkpoint={tmp_path}: its checkpoint "
                                    f"{prefix} is damaged: {prefix}.data-00000-of-00001 "
                                    "fails its checksum at bert/")
  assert str(info.value).endswith("; re-download or re-create the checkpoint, or delete it "
                                  f"to use the previous checkpoint in {tmp_path}.")


def test_checkpoints_of_tf1_savers_pass_the_data_size_check(tmp_path):
  """Sharded and partitioned TF1 checkpoints (float16, int64 too) are not taken for damaged."""
  tf1 = tf.compat.v1
  with tf.Graph().as_default():
    with tf1.device("/cpu:0"):
      tf1.get_variable("bert/kernel", [37, 11])
      tf1.get_variable("half", [5], dtype=tf.float16)
      tf1.get_variable("global_step", [], dtype=tf.int64, initializer=tf1.zeros_initializer())
      tf1.get_variable("partitioned", [100, 7], partitioner=tf1.fixed_size_partitioner(3))
    prefixes = []
    with tf1.Session() as session:
      session.run(tf1.global_variables_initializer())
      for sharded in (False, True):
        (tmp_path / str(sharded)).mkdir()
        prefixes.append(tf1.train.Saver(sharded=sharded).save(
            session, str(tmp_path / str(sharded) / "model.ckpt"), global_step=3))
  for prefix in prefixes:
    tensors = checkpoint_utils.read_checkpoint(prefix)
    assert sorted(tensors) == ["bert/kernel", "global_step", "half", "partitioned"]
    assert tensors["partitioned"].shape == (100, 7)


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path):
  model = modeling.BertModel(tiny_config(intermediate_size=41), seed=1)
  prefix = checkpoint_utils.save_tensors(str(tmp_path / "m.ckpt"), model.variables_by_name())
  other = modeling.BertModel(tiny_config(), seed=1)
  with pytest.raises(errors.CheckpointError) as info:
    checkpoint_utils.load_variables(other.variables_by_name(), prefix)
  message = str(info.value)
  assert "bert/encoder/layer_0/intermediate/dense/bias" in message
  assert "[41]" in message and "[37]" in message


def test_resolve_checkpoint_errors_are_clear(tmp_path):
  with pytest.raises(errors.CheckpointError, match="no checkpoint found"):
    checkpoint_utils.resolve_checkpoint(str(tmp_path / "missing" / "bert_model.ckpt"))
  with pytest.raises(errors.CheckpointError, match="holds no checkpoint"):
    checkpoint_utils.resolve_checkpoint(str(tmp_path))
  pickle_like = tmp_path / "pytorch_model.bin"
  pickle_like.write_bytes(b"\x80\x02not a checkpoint")
  with pytest.raises(errors.CheckpointError, match="never loaded"):
    checkpoint_utils.resolve_checkpoint(str(pickle_like))


def test_a_state_file_naming_a_deleted_checkpoint_falls_back_without_error_logs(tmp_path,
                                                                               caplog):
  """tf.train.latest_checkpoint logged 'Couldn't match files' above the run's own lines."""
  checkpoint_utils.save_tensors(str(tmp_path / "model.ckpt-1"), {"w": tf.Variable([1.0])})
  (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-5"\n'
                                       'all_model_checkpoint_paths: "model.ckpt-5"\n')
  caplog.set_level(logging.WARNING)
  assert checkpoint_utils.resolve_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-1")
  assert checkpoint_utils.state_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-5")
  assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_a_folder_follows_its_state_file_by_name_and_warns_of_a_newer_step(tmp_path, caplog):
  """A copied TF1 folder's state file (an absolute path) loaded the original's checkpoint;
  a state file behind a newer step (a killed run) was followed without a word."""
  original, copy = tmp_path / "original", tmp_path / "copy"
  for folder in (original, copy):
    for step in (1, 4, 8):
      checkpoint_utils.save_tensors(str(folder / f"model.ckpt-{step}"),
                                    {"w": tf.Variable([float(step)])})
  caplog.set_level(logging.WARNING)
  # (state file names, resolved step in copy/, warned); a warning is said once a process
  # for a folder and checkpoint (programs resolve a flag several times).
  for named, step, warned in ((original / "model.ckpt-8", 8, False),
                              (original / "model.ckpt-4", 4, True), ("model.ckpt-4", 4, False),
                              ("model.ckpt-8", 8, False), (original / "model.ckpt-9", 8, False),
                              ("model.ckpt-1", 1, True)):
    caplog.clear()
    (copy / "checkpoint").write_text(f'model_checkpoint_path: "{named}"\n')
    assert checkpoint_utils.resolve_checkpoint(str(copy)) == str(copy / f"model.ckpt-{step}")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == int(warned), (named, messages)
    if warned:
      assert messages[0] == (
          f"--init_checkpoint={copy}: its `checkpoint` file names model.ckpt-{step}, but the "
          "newer model.ckpt-8 is there too (a run stopped before it updated that file?); "
          f"using model.ckpt-{step}, as TensorFlow does. To use the newer one: "
          f"--init_checkpoint={copy / 'model.ckpt-8'}.")
  # --model_dir takes a run folder only: the newer one is named by --init_checkpoint.
  (copy / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-4"\n')
  caplog.clear()
  assert checkpoint_utils.resolve_checkpoint(str(copy), "model_dir").endswith("ckpt-4")
  assert not caplog.records   # said above for this folder and checkpoint
  checkpoint_utils.save_tensors(str(tmp_path / "named" / "bert_model.ckpt"),
                                {"w": tf.Variable([1.0])})
  checkpoint_utils.save_tensors(str(tmp_path / "named" / "model.ckpt-3"),
                                {"w": tf.Variable([1.0])})
  (tmp_path / "named" / "checkpoint").write_text('model_checkpoint_path: "bert_model.ckpt"\n')
  assert checkpoint_utils.resolve_checkpoint(str(tmp_path / "named"), "model_dir") == str(
      tmp_path / "named" / "bert_model.ckpt")
  assert caplog.records[-1].getMessage().endswith(
      f"To use the newer one: --init_checkpoint={tmp_path / 'named' / 'model.ckpt-3'}.")


def test_a_config_of_another_model_than_the_checkpoints_is_warned_about(tmp_path, caplog):
  """Other heads or activation load the same shapes: the weights computed another function."""
  import cli  # pylint: disable=g-import-not-at-top
  model = tmp_path / "model"
  model.mkdir()
  checkpoint_utils.save_tensors(str(model / "bert_model.ckpt"), {"w": tf.Variable([1.0])})
  own = tiny_config(num_attention_heads=2)
  own.to_json_file(str(model / "bert_config.json"))
  same, other = tmp_path / "same.json", tmp_path / "other.json"
  own.to_json_file(str(same))
  tiny_config(num_attention_heads=4, hidden_act="relu").to_json_file(str(other))
  caplog.set_level(logging.WARNING)
  for config_file, warned in ((model / "bert_config.json", False), (same, False),
                              (other, True)):
    caplog.clear()
    config = modeling.BertConfig.from_json_file(str(config_file))
    cli.warn_if_the_checkpoint_has_another_config(config, str(config_file),
                                                  str(model / "bert_model.ckpt"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == int(warned), messages
  assert messages[0] == (
      f"--bert_config_file={other} differs from {model / 'bert_config.json'}, the config "
      "beside --init_checkpoint, in hidden_act 'relu' vs 'gelu', num_attention_heads 4 vs 2: "
      "the checkpoint's weights would compute another function. Give that file unless this "
      "is meant.")
  caplog.clear()   # no config beside the checkpoint, or a damaged one: nothing to compare
  (model / "bert_config.json").write_text("{")
  cli.warn_if_the_checkpoint_has_another_config(config, str(other), str(model))
  os.remove(model / "bert_config.json")
  cli.warn_if_the_checkpoint_has_another_config(config, str(other), str(model))
  assert not caplog.records


def test_manager_keeps_the_last_few_and_latest_is_found(tmp_path):
  manager = checkpoint_utils.CheckpointManager(str(tmp_path), max_to_keep=2)
  for step in (1, 5, 12):
    manager.save(step, {"global_step": np.int64(step), "w": np.full([2], step, np.float32)})
  assert [os.path.basename(p) for p in manager.prefixes()] == ["model.ckpt-5", "model.ckpt-12"]
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-12")
  assert checkpoint_utils.resolve_checkpoint(str(tmp_path)).endswith("model.ckpt-12")
  assert checkpoint_utils.read_checkpoint(str(tmp_path))["global_step"] == 12
  assert not any(".tmp-" in name for name in os.listdir(tmp_path))


def test_vocab_size_check_allows_padded_embeddings_and_refuses_other_models():
  """vocab_size must cover the ids; rounding up (NVIDIA's 30528 for 30,522 tokens) is padding."""
  english = {f"t{i}": i for i in range(30522)}
  for vocab_size in (30522, 30528, 30592):
    modeling.check_vocab_size(modeling.BertConfig(vocab_size=vocab_size), english, "v.txt")
  for vocab_size in (30521, 30527, 30650, 21128):
    with pytest.raises(errors.UserError, match=(
        f"^--vocab_file=v.txt has 30522 tokens but the model's bert_config.json says "
        f"vocab_size={vocab_size}; they belong to different models")):
      modeling.check_vocab_size(modeling.BertConfig(vocab_size=vocab_size), english, "v.txt")
  # A repeated line takes an id of its own: ids are lines, not distinct tokens.
  repeated = dict(english, t5=30522)
  assert len(repeated) == 30522
  modeling.check_vocab_size(modeling.BertConfig(vocab_size=30523), repeated, "v.txt")
