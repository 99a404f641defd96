"""Tests of the shared training loop (training.py) on a tiny BERT classifier."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import errors
import modeling
import tasks
import input_pipeline
import training

SEQ = 7
NUM_EXAMPLES = 24


class TinyTask(tasks.Task):
  """A tiny BERT with a 3-way head; the label is whether token 5 appears (and more)."""

  example_mean_loss = True

  def __init__(self, dropout=0.1):
    self.config = modeling.BertConfig(
        vocab_size=19, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=23, max_position_embeddings=SEQ, type_vocab_size=2,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)

  def build(self, compute_dtype, seed):
    self.model = modeling.BertModel(self.config, compute_dtype, seed=seed)
    self.output_weights = tf.Variable(
        tf.random.stateless_normal([3, 16], seed=[seed, 1], stddev=0.02),
        name="output_weights")
    self.output_bias = tf.Variable(tf.zeros([3]), name="output_bias")

  def variables(self):
    return {**self.model.variables_by_name(), "output_weights": self.output_weights,
            "output_bias": self.output_bias}

  def _logits(self, features, training, seed=None):
    out = self.model(features["input_ids"], features["input_mask"],
                     features["segment_ids"], training=training, dropout_seed=seed)
    return tf.matmul(tf.cast(out.pooled_output, tf.float32), self.output_weights,
                     transpose_b=True) + self.output_bias

  def loss(self, features, training, dropout_seed):
    logits = self._logits(features, training, dropout_seed)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=features["label_ids"], logits=logits))

  def predict(self, features):
    return {"logits": self._logits(features, False)}


def make_arrays(n=NUM_EXAMPLES, seed=0):
  rng = np.random.RandomState(seed)
  lengths = rng.randint(2, SEQ + 1, size=n)
  ids = rng.randint(1, 19, size=(n, SEQ)).astype(np.int32)
  mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
  ids *= mask
  labels = ((ids == 5).any(1).astype(np.int32) + (lengths > 4)).astype(np.int32)
  return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids),
          "label_ids": labels}


def examples_of(arrays):
  """Trainer.train's first two arguments for in-memory arrays."""
  return (lambda: tf.data.Dataset.from_tensor_slices(arrays)), len(arrays["label_ids"])


def make_trainer(output_dir, steps=6, task=None, **overrides):
  settings = dict(output_dir=str(output_dir), num_train_steps=steps, learning_rate=1e-3,
                  num_warmup_steps=2, train_batch_size=4, iterations_per_loop=2,
                  save_checkpoints_steps=3, log_every_steps=1, seed=7)
  strategy = overrides.pop("strategy", None)
  settings.update(overrides)
  return training.Trainer(task or TinyTask(), training.TrainingConfig(**settings), strategy)


def weights(trainer):
  return {k: v.numpy() for k, v in trainer.checkpoint_tensors().items()}


def test_training_writes_official_layout_checkpoints_and_lowers_the_loss(tmp_path):
  arrays = make_arrays()
  trainer = make_trainer(tmp_path, steps=30, learning_rate=3e-3, save_checkpoints_steps=10)
  trainer.restore()
  before = float(trainer.task.loss(arrays, False, None))
  result = trainer.train(*examples_of(arrays))
  after = float(trainer.task.loss(arrays, False, None))
  assert result["global_step"] == 30 and after < before - 0.1, (before, after)
  prefix = checkpoint_utils.resolve_checkpoint(str(tmp_path))
  assert prefix.endswith("model.ckpt-30")
  names = set(checkpoint_utils.checkpoint_shapes(prefix))
  assert "global_step" in names and "output_weights" in names
  assert "bert/encoder/layer_1/output/dense/kernel/adam_m" in names
  assert "bert/encoder/layer_1/output/dense/kernel/adam_v" in names
  assert checkpoint_utils.read_checkpoint(prefix)["global_step"] == 30
  assert [os.path.basename(p) for p in trainer.manager.prefixes()] == [
      "model.ckpt-10", "model.ckpt-20", "model.ckpt-30"]
  # TensorBoard event files in output_dir/train.
  assert any(n.startswith("events.") for n in os.listdir(tmp_path / "train"))


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path):
  arrays = make_arrays()
  straight = make_trainer(tmp_path / "straight")
  straight.restore()
  straight.train(*examples_of(arrays))

  first = make_trainer(tmp_path / "resumed")
  first.restore()

  def stop_after_first_evaluation():
    first._stop_signal = "SIGTERM"   # what the signal handler sets
    return {}

  first.config.eval_every_steps = 2
  with pytest.raises(errors.TrainingInterrupted) as info:
    first.train(*examples_of(arrays), evaluator=stop_after_first_evaluation)
  assert info.value.step == 2
  assert checkpoint_utils.resolve_checkpoint(str(tmp_path / "resumed")).endswith("-2")

  second = make_trainer(tmp_path / "resumed")
  assert second.restore() == "resumed" and second.global_step == 2
  second.train(*examples_of(arrays))
  a, b = weights(straight), weights(second)
  assert set(a) == set(b)
  for name in a:
    np.testing.assert_allclose(b[name], a[name], rtol=0, atol=1e-6, err_msg=name)


def test_gradient_accumulation_equals_the_full_batch(tmp_path):
  """With dropout on: an example's masks do not depend on its micro-batch."""
  arrays = make_arrays()
  full = make_trainer(tmp_path / "full", task=TinyTask(dropout=0.1))
  full.restore()
  full.train(*examples_of(arrays))
  accumulated = make_trainer(tmp_path / "accum", task=TinyTask(dropout=0.1),
                             gradient_accumulation_steps=2)
  accumulated.restore()
  accumulated.train(*examples_of(arrays))
  a, b = weights(full), weights(accumulated)
  assert set(a) == set(b)
  for name in a:
    np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5, err_msg=name)
  assert not np.allclose(a["output_bias"], 0.0)
  # Dropout changed the weights: the comparison is not between dropout-free runs.
  no_dropout = make_trainer(tmp_path / "no_dropout", task=TinyTask(dropout=0.0))
  no_dropout.restore()
  no_dropout.train(*examples_of(arrays))
  assert np.max(np.abs(weights(no_dropout)["output_weights"] - a["output_weights"])) > 1e-3


def test_nan_loss_stops_with_the_step_named(tmp_path):
  arrays = make_arrays()
  trainer = make_trainer(tmp_path, steps=6)
  trainer.restore()
  original_loss = trainer.task.loss

  def poisoned(features, training_, seed):
    step = trainer.optimizer.iterations
    loss = original_loss(features, training_, seed)
    return loss * tf.where(step >= 3, np.nan, 1.0)

  trainer.task.loss = poisoned
  with pytest.raises(errors.TrainingError, match="NaN or Inf at step 3.*model.ckpt-3"):
    trainer.train(*examples_of(arrays))


def test_float16_loss_scaling_skips_overflowing_steps(tmp_path):
  arrays = make_arrays()
  trainer = make_trainer(tmp_path, steps=4, compute_dtype="float16")
  trainer.restore()
  trainer.loss_scale.assign(2.0 ** 40)   # guaranteed overflow of float16 gradients
  before = trainer.task.output_weights.numpy().copy()
  trainer.config.num_train_steps = 1
  trainer.train(*examples_of(arrays))
  assert int(trainer.skipped_steps) == 1 and trainer.global_step == 1
  assert float(trainer.loss_scale) == 2.0 ** 39
  np.testing.assert_array_equal(trainer.task.output_weights.numpy(), before)
  trainer.loss_scale.assign(128.0)
  trainer.config.num_train_steps = 4
  trainer.train(*examples_of(arrays))
  assert int(trainer.skipped_steps) == 1
  assert not np.array_equal(trainer.task.output_weights.numpy(), before)
  assert "loss_scale" in checkpoint_utils.checkpoint_shapes(str(tmp_path))


def test_best_checkpoint_and_early_stopping(tmp_path):
  arrays = make_arrays()
  trainer = make_trainer(tmp_path, steps=12, eval_every_steps=2, early_stopping_patience=2)
  trainer.restore()
  scores = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.95])
  trainer.train(*examples_of(arrays), evaluator=lambda: {"eval_accuracy": next(scores)},
                best_metric="eval_accuracy")
  # Best at step 4 (0.7); steps 6 and 8 do not improve: stop at step 8.
  assert trainer.global_step == 8
  best = checkpoint_utils.resolve_checkpoint(str(tmp_path / "best"))
  assert best.endswith("model.ckpt-4")
  text = (tmp_path / "best" / "eval_results.txt").read_text()
  assert "eval_accuracy = 0.7\n" in text and "global_step = 4\n" in text
  assert checkpoint_utils.resolve_checkpoint(str(tmp_path)).endswith("model.ckpt-8")


def test_predict_keeps_input_order_and_equals_fixed_length_padding(tmp_path):
  arrays = make_arrays(n=21)
  trainer = make_trainer(tmp_path)
  trainer.restore()
  chunks = [{k: v[:13] for k, v in arrays.items()}, {k: v[13:] for k, v in arrays.items()}]
  dynamic = trainer.predict(chunks, batch_size=4)["logits"]
  fixed = trainer.task.predict({k: tf.constant(v) for k, v in arrays.items()})["logits"]
  np.testing.assert_allclose(dynamic, fixed.numpy(), atol=1e-5)


def test_predict_by_length_batches_similar_lengths_and_keeps_the_input_order():
  lengths = np.array([3, 9, 1, 9, 5, 2, 7])
  mask = (np.arange(10)[None, :] < lengths[:, None]).astype(np.int32)
  arrays = {"input_mask": mask, "row": np.arange(7)}
  seen = []

  def predict_batch(batch):
    seen.append((batch["input_mask"].shape[1], batch["row"].tolist()))
    return {"length": batch["input_mask"].sum(-1), "row": batch["row"]}

  outputs = training.predict_by_length(predict_batch, arrays, 3, ("input_mask",))
  assert outputs["row"].tolist() == list(range(7))
  assert outputs["length"].tolist() == lengths.tolist()
  assert seen == [(9, [1, 3, 6]), (5, [4, 0, 5]), (1, [2])]
  seen.clear()
  fixed = training.predict_by_length(predict_batch, arrays, 3, ("input_mask",), dynamic=False)
  assert fixed["row"].tolist() == list(range(7))
  assert seen == [(10, [0, 1, 2]), (10, [3, 4, 5]), (10, [6])]
  seen.clear()
  training.predict_by_length(predict_batch, arrays, 3, ("input_mask",), jit_compile=True)
  assert [length for length, _ in seen] == [10, 10, 10]   # 9, 5 and 1 rounded up to 16, cut at 10
  empty = {k: v[:0] for k, v in arrays.items()}
  assert training.predict_by_length(predict_batch, empty, 3, ("input_mask",)) == {}


def test_the_configs_shuffle_buffer_size_reaches_the_input_pipeline(tmp_path):
  """It was a field nothing read: every run shuffled with the default 50,000."""
  arrays = make_arrays()
  firsts = {}
  for size in (1, 50000):
    trainer = make_trainer(tmp_path / str(size), shuffle_buffer_size=size)
    batch = next(iter(trainer._input_fn(*examples_of(arrays), 0)(None)))
    firsts[size] = batch["input_ids"].numpy()
  assert firsts[1].shape == firsts[50000].shape == (4, SEQ)
  np.testing.assert_array_equal(firsts[1], arrays["input_ids"][:4])   # a buffer of 1: in order
  assert not np.array_equal(firsts[50000], arrays["input_ids"][:4])


def test_training_dataset_resumes_at_the_same_batch():
  records = tf.data.Dataset.range(10)
  full = list(input_pipeline.training_dataset(records, 10, 3, seed=4).take(8).as_numpy_iterator())
  resumed = list(input_pipeline.training_dataset(records, 10, 3, seed=4, consumed_records=12)
                 .take(4).as_numpy_iterator())
  np.testing.assert_array_equal(np.stack(resumed), np.stack(full[4:]))
  # Every epoch is a permutation of all records.
  flat = np.concatenate(full[:3] + [full[3][:1]])
  assert sorted(flat[:10].tolist()) == list(range(10))


def _records_of_lengths(num_records, seq_length=12, seed=0):
  lengths = np.random.default_rng(seed).integers(1, seq_length + 1, num_records)
  mask = (np.arange(seq_length)[None, :] < lengths[:, None]).astype(np.int32)
  return tf.data.Dataset.from_tensor_slices(
      {"input_mask": mask, "record": np.arange(num_records)})


def test_length_bucketing_groups_lengths_keeps_the_records_and_resumes():
  records, batch, k = _records_of_lengths(100), 4, input_pipeline.BUCKET_WINDOW_BATCHES
  bucketed = list(input_pipeline.training_dataset(records, 100, batch, seed=3, length_bucketing=True)
                  .take(2 * k).as_numpy_iterator())
  plain = list(input_pipeline.training_dataset(records, 100, batch, seed=3)
               .take(2 * k).as_numpy_iterator())
  for window in range(2):   # each window of batches holds the plain stream's records
    ids = lambda batches: sorted(np.concatenate(
        [b["record"] for b in batches[window * k:(window + 1) * k]]).tolist())
    assert ids(bucketed) == ids(plain)
  spread = lambda batches: np.mean([np.ptp(b["input_mask"].sum(1)) for b in batches])
  assert spread(bucketed) <= 1.0 < 4.0 < spread(plain)
  longest = [int(b["input_mask"].sum(1).max()) for b in bucketed[:k]]
  assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
  resumed = list(input_pipeline.training_dataset(records, 100, batch, seed=3, length_bucketing=True,
                                           consumed_records=37 * batch)
                 .take(2 * k - 37).as_numpy_iterator())
  assert len(resumed) == len(bucketed[37:]) == 2 * k - 37
  for got, want in zip(resumed, bucketed[37:]):
    np.testing.assert_array_equal(got["record"], want["record"])


def test_sorted_groups_keep_each_updates_examples_sorted_and_resume():
  records, batch, group = _records_of_lengths(100), 3, 12
  sorted_ = list(input_pipeline.training_dataset(records, 100, batch, seed=3,
                                           sorted_group_size=group)
                 .take(40).as_numpy_iterator())
  whole = list(input_pipeline.training_dataset(records, 100, group, seed=3)
               .take(10).as_numpy_iterator())
  parts = group // batch
  assert len(sorted_) == len(whole) * parts == 40
  for update, want in enumerate(whole):
    got = sorted_[update * parts:(update + 1) * parts]
    assert sorted(np.concatenate([b["record"] for b in got]).tolist()) == sorted(
        want["record"].tolist())
    lengths = np.concatenate([b["input_mask"].sum(1) for b in got])
    np.testing.assert_array_equal(lengths, np.sort(want["input_mask"].sum(1)))
  resumed = list(input_pipeline.training_dataset(records, 100, batch, seed=3,
                                           sorted_group_size=group,
                                           consumed_records=7 * group)
                 .take(8).as_numpy_iterator())
  assert len(resumed) == len(sorted_[7 * parts:7 * parts + 8]) == 8
  for got, want in zip(resumed, sorted_[7 * parts:7 * parts + 8]):
    np.testing.assert_array_equal(got["record"], want["record"])


@pytest.mark.parametrize("options", [{}, {"sorted_group_size": 12},
                                     {"length_bucketing": True}])
def test_every_example_carries_its_index_in_the_stream(options):
  """stream_index is the example's position in the plain stream, also after sorting and resuming."""
  records, batch = _records_of_lengths(100), 3
  plain = list(input_pipeline.training_dataset(records, 100, batch, seed=3)
               .take(300).as_numpy_iterator())
  record_at = np.concatenate([b["record"] for b in plain])          # stream position -> record
  assert len(record_at) == 900
  np.testing.assert_array_equal(np.concatenate([b[input_pipeline.STREAM_INDEX] for b in plain]),
                                np.arange(900))
  for consumed in (0, 48 * batch):
    got = list(input_pipeline.training_dataset(records, 100, batch, seed=3, consumed_records=consumed,
                                         **options).take(100).as_numpy_iterator())
    index = np.concatenate([b[input_pipeline.STREAM_INDEX] for b in got])
    assert len(index) == 300 and index.dtype == np.int64
    np.testing.assert_array_equal(record_at[index], np.concatenate([b["record"] for b in got]))
    assert len(set(index.tolist())) == 300
    if not options.get("length_bucketing"):   # its windows put batches in a random order
      assert index.min() == consumed


def test_training_batches_without_the_stream_index_are_refused(tmp_path):
  arrays = make_arrays()
  trainer = make_trainer(tmp_path, steps=2)
  trainer.restore()
  # Trainer.train always adds it; update_runner takes batches as they come.
  plain = tf.data.Dataset.from_tensor_slices(arrays).batch(4).repeat()
  with pytest.raises(ValueError, match="no 'stream_index' feature"):
    trainer.update_runner(plain)(1)


@pytest.mark.parametrize("accumulation,splits", [(1, 4), (2, 2)])
def test_length_sorted_splits_train_to_the_same_weights_as_whole_batches(
    tmp_path, accumulation, splits):
  """With dropout on: the masks of an example do not depend on its micro-batch or length."""
  arrays = make_arrays(n=40)
  whole = make_trainer(tmp_path / "whole", task=TinyTask(dropout=0.1), train_batch_size=8,
                       dynamic_padding=False)
  whole.restore()
  whole.train(*examples_of(arrays))
  split = make_trainer(tmp_path / "split", task=TinyTask(dropout=0.1), train_batch_size=8,
                       gradient_accumulation_steps=accumulation,
                       length_sorted_splits=splits)
  assert split.micro_batch_size == 8 // (accumulation * splits)
  assert split.sorted_group_size == 8
  split.restore()
  split.train(*examples_of(arrays))
  a, b = weights(whole), weights(split)
  assert set(a) == set(b)
  for name in a:
    np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5, err_msg=name)
  assert not np.allclose(a["output_bias"], 0.0)


def test_length_sorted_splits_refuse_losses_that_are_not_example_means(tmp_path):
  class TokenMeanTask(TinyTask):
    example_mean_loss = False
  with pytest.raises(ValueError, match="--length_sorted_splits=2: this task's loss is not "
                     "a mean over examples"):
    make_trainer(tmp_path, task=TokenMeanTask(), length_sorted_splits=2)
  # Without dynamic padding nothing is split, so nothing is refused.
  trainer = make_trainer(tmp_path, task=TokenMeanTask(), length_sorted_splits=2,
                         dynamic_padding=False)
  assert trainer.micro_steps == 1 and trainer.sorted_group_size == 0


def test_auto_sorted_splits_makes_equal_parts_of_at_least_8():
  sizes = [1, 8, 15, 16, 24, 32, 48, 64, 128, 33]
  got = [input_pipeline.auto_sorted_splits(size) for size in sizes]
  assert len(got) == len(sizes)
  assert got == [1, 1, 1, 2, 3, 4, 6, 8, 8, 3]
  for size, splits in zip(sizes, got):
    assert size % splits == 0 and (splits == 1 or size // splits >= 8)


def test_auto_splits_only_example_mean_losses_and_only_with_dynamic_padding(tmp_path):
  class TokenMeanTask(TinyTask):
    example_mean_loss = False
  split = make_trainer(tmp_path / "a", train_batch_size=16, length_sorted_splits="auto")
  assert (split.splits, split.micro_batch_size, split.sorted_group_size) == (2, 8, 16)
  token_mean = make_trainer(tmp_path / "b", task=TokenMeanTask(), train_batch_size=16,
                            length_sorted_splits="auto")
  assert token_mean.splits == 1 and token_mean.sorted_group_size == 0
  padded = make_trainer(tmp_path / "c", train_batch_size=16, length_sorted_splits="auto",
                        dynamic_padding=False)
  assert padded.splits == 1
  bucketed = make_trainer(tmp_path / "d", train_batch_size=16, length_sorted_splits="auto",
                          length_bucketing=True)
  assert bucketed.splits == 1 and bucketed.length_bucketing


def test_config_errors_name_the_flag():
  with pytest.raises(ValueError, match="train_batch_size=10 is not divisible by "
                     "--gradient_accumulation_steps=3"):
    training.TrainingConfig(output_dir="x", num_train_steps=5, train_batch_size=10,
                            gradient_accumulation_steps=3).validate()
  with pytest.raises(ValueError, match="--gradient_accumulation_steps x "
                     "--length_sorted_splits = 2 x 3"):
    training.TrainingConfig(output_dir="x", num_train_steps=5, train_batch_size=8,
                            gradient_accumulation_steps=2, length_sorted_splits=3).validate()
  with pytest.raises(ValueError, match="--length_bucketing=true and "
                     "--length_sorted_splits=2 are two ways"):
    training.TrainingConfig(output_dir="x", num_train_steps=5, length_bucketing=True,
                            length_sorted_splits=2).validate()
  with pytest.raises(ValueError, match="--length_sorted_splits=0 must be auto or a positive"):
    training.TrainingConfig(output_dir="x", num_train_steps=5,
                            length_sorted_splits=0).validate()
  with pytest.raises(ValueError, match="num_warmup_steps=9"):
    training.TrainingConfig(output_dir="x", num_train_steps=5,
                            num_warmup_steps=9).validate()
  # Accepted before: evaluation after every step, patience ignored, a decay traceback.
  for settings, message in (({"eval_every_steps": -1}, r"^--eval_every_steps=-1 must be 0 "),
                            ({"early_stopping_patience": -2, "eval_every_steps": 1},
                             r"^--early_stopping_patience=-2 must be 0 \(off\) or positive"),
                            ({"weight_decay_rate": -0.5}, r"^--weight_decay_rate=-0.5 must be"),
                            ({"weight_decay_rate": math.nan}, r"^--weight_decay_rate=nan "),
                            ({"log_every_steps": 0}, r"^--log_steps=0 must be positive")):
    with pytest.raises(errors.UserError, match=message):
      training.TrainingConfig(output_dir="x", num_train_steps=5, **settings).validate()
  training.TrainingConfig(output_dir="x", num_train_steps=5, eval_every_steps=2,
                          early_stopping_patience=3, weight_decay_rate=0.0).validate()


MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path[:0] = [{repo!r}, {tests!r}]
    import training
    import test_training as t
    arrays = t.make_arrays()
    results = []
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name, strategy, splits in (("one", None, 1), ("two", mirrored, 1),
                                   ("two_split", mirrored, 2)):
      trainer = training.Trainer(t.TinyTask(dropout=0.1), training.TrainingConfig(
          output_dir={out!r} + "/" + name, num_train_steps=4, learning_rate=1e-3,
          num_warmup_steps=1, train_batch_size=4, iterations_per_loop=2, seed=7,
          length_sorted_splits=splits), strategy)
      trainer.restore()
      trainer.train(*t.examples_of(arrays))
      results.append({{k: v.numpy() for k, v in trainer.checkpoint_tensors().items()}})
      preds = trainer.predict([{{k: v[:9] for k, v in arrays.items()}}], batch_size=4)
      results[-1]["_logits"] = preds["logits"]
    worst = max(float(np.max(np.abs(results[0][k] - other[k])))
                for other in results[1:] for k in results[0])
    print("MAXDIFF", worst, trainer.num_replicas)
""")


def test_two_replica_mirrored_training_equals_one_device(tmp_path):
  script = MIRRORED_SCRIPT.format(repo=os.path.dirname(os.path.dirname(__file__)),
                                  tests=os.path.dirname(__file__), out=str(tmp_path))
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
  lines = [l for l in result.stdout.splitlines() if l.startswith("MAXDIFF")]
  assert lines, result.stderr[-3000:]
  _, diff, replicas = lines[0].split()
  assert int(replicas) == 2
  assert float(diff) < 1e-5


FLOAT16_MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path[:0] = [{repo!r}, {tests!r}]
    from absl import logging
    import training
    import test_training as t
    logging.set_verbosity(logging.INFO)
    trainer = t.make_trainer({out!r}, steps=2, compute_dtype="float16",
                             strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    trainer.restore()
    trainer.train(*t.examples_of(t.make_arrays()))
    print("REPLICAS", trainer.num_replicas, "STEP", trainer.global_step)
""")


def test_float16_training_logs_its_loss_scale_on_two_replicas(tmp_path):
  """The log line of a float16 run reads the (mirrored) loss-scale variables."""
  script = FLOAT16_MIRRORED_SCRIPT.format(repo=os.path.dirname(os.path.dirname(__file__)),
                                          tests=os.path.dirname(__file__), out=str(tmp_path))
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
  assert "REPLICAS 2 STEP 2" in result.stdout, result.stderr[-3000:]
  assert "loss_scale=32768 skipped=0" in result.stderr


def test_dynamic_padding_trains_to_the_same_weights_as_fixed_padding(tmp_path):
  arrays = make_arrays()
  # With dropout: an example's masks do not depend on the length it is cut to.
  fixed = make_trainer(tmp_path / "fixed", task=TinyTask(dropout=0.1), dynamic_padding=False)
  fixed.restore()
  fixed.train(*examples_of(arrays))
  dynamic = make_trainer(tmp_path / "dynamic", task=TinyTask(dropout=0.1),
                         dynamic_padding=True)
  dynamic.restore()
  dynamic.train(*examples_of(arrays))
  a, b = weights(fixed), weights(dynamic)
  assert set(a) == set(b)
  for name in a:
    np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_xla_compiled_steps_draw_the_same_dropout_masks(tmp_path):
  """The masks are integer arithmetic: XLA computes the same ones as TensorFlow's kernels."""
  arrays = make_arrays()
  runs = []
  for jit in (False, True):
    trainer = make_trainer(tmp_path / str(jit), steps=3, task=TinyTask(dropout=0.1),
                           jit_compile=jit, dynamic_padding=False)
    trainer.restore()
    trainer.train(*examples_of(arrays))
    runs.append(weights(trainer))
  assert set(runs[0]) == set(runs[1])
  for name in runs[0]:
    np.testing.assert_allclose(runs[1][name], runs[0][name], rtol=1e-4, atol=1e-5,
                               err_msg=name)


def test_data_order_does_not_depend_on_the_global_seed():
  orders = []
  for global_seed in (None, 0, 5):
    if global_seed is not None:
      tf.random.set_seed(global_seed)
    dataset = input_pipeline.training_dataset(tf.data.Dataset.range(10), 10, 3, seed=4)
    orders.append(np.stack(list(dataset.take(6).as_numpy_iterator())))
  np.testing.assert_array_equal(orders[1], orders[0])
  np.testing.assert_array_equal(orders[2], orders[0])


def test_trim_to_longest_cuts_the_last_axis_of_choice_features():
  mask = np.zeros((2, 3, 8), np.int32)
  mask[0, 1, :5] = 1
  mask[1, 2, :3] = 1
  features = {"input_mask": tf.constant(mask), "input_ids": tf.constant(mask * 7),
              "label_ids": tf.constant([1, 2])}
  cut = input_pipeline.trim_to_longest(features, sequence_keys=("input_mask", "input_ids"))
  assert cut["input_ids"].shape == (2, 3, 5)
  np.testing.assert_array_equal(cut["input_ids"], mask[..., :5] * 7)
  assert cut["label_ids"].shape == (2,)
  rounded = input_pipeline.trim_to_longest(features, multiple=4)
  assert rounded["input_mask"].shape == (2, 3, 8)


def test_training_from_scratch_is_a_warning(tmp_path, caplog):
  trainer = make_trainer(tmp_path / "out")
  with caplog.at_level("WARNING"):
    assert trainer.restore(None) == "fresh"
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warnings) == 1
  assert "training from scratch, every weight random" in warnings[0]
  assert "--init_checkpoint=" in warnings[0]


def test_the_log_starts_with_the_summary_and_shows_the_first_step_at_once(tmp_path, caplog):
  trainer = make_trainer(tmp_path / "out", steps=6, log_every_steps=100)
  trainer.restore(None)
  # absl's own level may have been lowered by an in-process program (inference.py).
  with caplog.at_level("INFO"), caplog.at_level("INFO", logger="absl"):
    trainer.train(*examples_of(make_arrays()), description="tiny: 24 examples")
  messages = [r.getMessage() for r in caplog.records]
  summary = [m for m in messages if m.startswith("***** Training from step 0 to 6 *****")]
  assert len(summary) == 1
  assert "  data:     tiny: 24 examples" in summary[0]
  assert "  batch:    4" in summary[0] and "float32" in summary[0]
  progress = [m.split()[1] for m in messages if m.startswith("step ")]
  assert progress == ["1/6", "6/6"]   # the first update at once, then every 100 (or the end)


def test_the_summarys_batch_split_multiplies_to_the_batch(tmp_path):
  trainer = make_trainer(tmp_path / "out", train_batch_size=16, gradient_accumulation_steps=2,
                         length_sorted_splits=2)
  batch = [line for line in trainer.describe("tiny").splitlines()
           if line.startswith("  batch:")]
  assert len(batch) == 1
  # 16 examples = 2 accumulated micro-batches x 2 length-sorted parts x 4 examples x 1 replica.
  assert batch[0] == "  batch:    16 = 2 accumulated x 2 length-sorted x 4 x 1 replicas"
