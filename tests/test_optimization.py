"""Tests for optimization.py: schedule, AdamWeightDecay and LAMB against NumPy, tf.distribute."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import optimization

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny model's variables: official-style names, odd and distinct shapes.
SHAPES = {
    "bert/embeddings/LayerNorm/gamma": (5,),
    "bert/encoder/layer_0/attention/self/query/kernel": (5, 5),
    "bert/encoder/layer_0/attention/self/query/bias": (5,),
    "bert/encoder/layer_0/intermediate/dense/kernel": (5, 7),
    "output_weights": (3, 5),
    "output_bias": (3,),
}
DECAYED = {"bert/encoder/layer_0/attention/self/query/kernel",
           "bert/encoder/layer_0/intermediate/dense/kernel", "output_weights"}

# Every kind of name an official checkpoint (one layer) plus a classifier head holds.
ALL_NAMES = [
    "bert/embeddings/word_embeddings", "bert/embeddings/token_type_embeddings",
    "bert/embeddings/position_embeddings", "bert/embeddings/LayerNorm/gamma",
    "bert/embeddings/LayerNorm/beta",
] + [f"bert/encoder/layer_0/attention/self/{p}/{k}"
     for p in ("query", "key", "value") for k in ("kernel", "bias")] + [
    "bert/encoder/layer_0/attention/output/dense/kernel",
    "bert/encoder/layer_0/attention/output/dense/bias",
    "bert/encoder/layer_0/attention/output/LayerNorm/gamma",
    "bert/encoder/layer_0/attention/output/LayerNorm/beta",
    "bert/encoder/layer_0/intermediate/dense/kernel",
    "bert/encoder/layer_0/intermediate/dense/bias",
    "bert/encoder/layer_0/output/dense/kernel", "bert/encoder/layer_0/output/dense/bias",
    "bert/encoder/layer_0/output/LayerNorm/gamma", "bert/encoder/layer_0/output/LayerNorm/beta",
    "bert/pooler/dense/kernel", "bert/pooler/dense/bias",
    "cls/predictions/transform/dense/kernel", "cls/predictions/transform/dense/bias",
    "cls/predictions/transform/LayerNorm/gamma", "cls/predictions/transform/LayerNorm/beta",
    "cls/predictions/output_bias", "cls/seq_relationship/output_weights",
    "cls/seq_relationship/output_bias", "output_weights", "output_bias",
]
ALL_DECAYED = {
    "bert/embeddings/word_embeddings", "bert/embeddings/token_type_embeddings",
    "bert/embeddings/position_embeddings",
    "bert/encoder/layer_0/attention/self/query/kernel",
    "bert/encoder/layer_0/attention/self/key/kernel",
    "bert/encoder/layer_0/attention/self/value/kernel",
    "bert/encoder/layer_0/attention/output/dense/kernel",
    "bert/encoder/layer_0/intermediate/dense/kernel",
    "bert/encoder/layer_0/output/dense/kernel", "bert/pooler/dense/kernel",
    "cls/predictions/transform/dense/kernel", "cls/seq_relationship/output_weights",
    "output_weights",
}


@pytest.fixture(autouse=True)
def seed_everything():
  random.seed(0)
  np.random.seed(0)
  tf.random.set_seed(0)


def make_values(rng, shapes=None):
  """Returns {name: float32 array} drawn from `rng` for every name in `shapes`."""
  shapes = shapes or SHAPES
  return {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}


def make_variables(values):
  return {name: tf.Variable(value, name=name) for name, value in values.items()}


def make_gradients(rng, scales):
  """One gradient dict per step; `scales` set their global norms above and below 1."""
  return [{name: (scale * rng.normal(size=shape)).astype(np.float32)
           for name, shape in SHAPES.items()} for scale in scales]


def run_steps(optimizer, variables, grads_per_step, use_function):
  """Applies each step's gradients; returns the global norms the optimizer reported."""
  names = sorted(variables)

  def apply(grads):
    return optimizer.apply_gradients(zip(grads, [variables[n] for n in names]))

  if use_function:
    apply = tf.function(apply)
  return [float(apply([tf.constant(step[n]) for n in names])) for step in grads_per_step]


def numpy_optimizer(values, grads_per_step, learning_rates, decayed, lamb=False,
                    adapted=(), clip_norm=1.0, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                    weight_decay_rate=0.01):
  """The update rules in float64 NumPy: the reference's AdamWeightDecay, or LAMB.

  Returns:
    (params, m, v, norms): dicts of float64 arrays and the list of pre-clip global norms.
  """
  params = {n: p.astype(np.float64) for n, p in values.items()}
  m = {n: np.zeros_like(p) for n, p in params.items()}
  v = {n: np.zeros_like(p) for n, p in params.items()}
  norms = []
  assert len(grads_per_step) == len(learning_rates)
  for step, (grads, lr) in enumerate(zip(grads_per_step, learning_rates)):
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
    norms.append(norm)
    scale = clip_norm / max(norm, clip_norm) if clip_norm else 1.0
    for name in params:
      g = grads[name].astype(np.float64) * scale
      m[name] = beta_1 * m[name] + (1 - beta_1) * g
      v[name] = beta_2 * v[name] + (1 - beta_2) * g * g
      m_hat, v_hat = m[name], v[name]
      if lamb:
        m_hat = m_hat / (1 - beta_1 ** (step + 1))
        v_hat = v_hat / (1 - beta_2 ** (step + 1))
      update = m_hat / (np.sqrt(v_hat) + epsilon)
      if name in decayed:
        update = update + weight_decay_rate * params[name]
      ratio = 1.0
      if lamb and name in adapted:
        p_norm, u_norm = np.linalg.norm(params[name]), np.linalg.norm(update)
        ratio = p_norm / u_norm if p_norm > 0 and u_norm > 0 else 1.0
      params[name] = params[name] - lr * ratio * update
  return params, m, v, norms


# --- learning-rate schedule -------------------------------------------------------------

@pytest.mark.parametrize("use_function", [False, True])
def test_schedule_matches_hand_computed_values(use_function):
  schedule = optimization.LinearWarmupLinearDecay(0.1, num_train_steps=10, num_warmup_steps=4)
  call = tf.function(schedule) if use_function else schedule
  # Warm-up 0.1*step/4 below step 4, then 0.1*(1 - step/10), 0 from step 10 on.
  expected = {0: 0.0, 1: 0.025, 3: 0.075, 4: 0.06, 7: 0.03, 9: 0.01, 10: 0.0, 15: 0.0}
  for step, lr in expected.items():
    value = call(tf.constant(step, tf.int64))
    assert value.dtype == tf.float32
    np.testing.assert_allclose(float(value), lr, rtol=1e-6, atol=1e-9, err_msg=f"step {step}")


def test_schedule_without_warmup_and_with_warmup_to_the_end():
  no_warmup = optimization.LinearWarmupLinearDecay(0.2, num_train_steps=8, num_warmup_steps=0)
  np.testing.assert_allclose([float(no_warmup(s)) for s in (0, 2, 8)], [0.2, 0.15, 0.0],
                             rtol=1e-6)
  full = optimization.LinearWarmupLinearDecay(0.1, num_train_steps=5, num_warmup_steps=5)
  np.testing.assert_allclose([float(full(s)) for s in (0, 4, 5)], [0.0, 0.08, 0.0], atol=1e-8)
  assert full.get_config() == {
      "name": "LinearWarmupLinearDecay", "init_lr": 0.1, "num_train_steps": 5,
      "num_warmup_steps": 5, "end_learning_rate": 0.0, "power": 1.0}


# --- AdamWeightDecay against NumPy ---------------------------------------------------------

@pytest.mark.parametrize("use_function,call_build", [(False, False), (True, True), (True, False)])
def test_adamw_matches_numpy(use_function, call_build):
  rng = np.random.default_rng(1)
  values = make_values(rng)
  grads = make_gradients(rng, scales=[3.0, 0.05, 1.7, 0.1])
  variables = make_variables(values)
  optimizer = optimization.create_optimizer(0.05, num_train_steps=6, num_warmup_steps=2)
  if call_build:
    optimizer.build(variables.values())
  norms = run_steps(optimizer, variables, grads, use_function)

  learning_rates = [0.0, 0.025, 0.05 * (1 - 2 / 6), 0.05 * (1 - 3 / 6)]
  params, m, v, expected_norms = numpy_optimizer(values, grads, learning_rates, DECAYED)
  # Both regimes of the clipping are exercised.
  assert min(expected_norms) < 1.0 < max(expected_norms)
  np.testing.assert_allclose(norms, expected_norms, rtol=1e-6)
  slots = optimizer.named_slot_variables()
  for name, variable in variables.items():
    assert variable.dtype == tf.float32
    np.testing.assert_allclose(variable.numpy(), params[name], atol=1e-6, err_msg=name)
    np.testing.assert_allclose(slots[f"{name}/adam_m"].numpy(), m[name], atol=1e-6)
    np.testing.assert_allclose(slots[f"{name}/adam_v"].numpy(), v[name], atol=1e-6)
  assert int(optimizer.iterations.numpy()) == 4
  np.testing.assert_allclose(float(optimizer.current_learning_rate()), 0.05 * (1 - 4 / 6),
                             rtol=1e-6)


def test_adamw_without_clipping_matches_numpy():
  rng = np.random.default_rng(2)
  values = make_values(rng)
  grads = make_gradients(rng, scales=[4.0, 2.0])
  variables = make_variables(values)
  optimizer = optimization.AdamWeightDecay(0.01, clip_norm=None)
  run_steps(optimizer, variables, grads, use_function=False)
  params, _, _, _ = numpy_optimizer(values, grads, [0.01, 0.01], DECAYED, clip_norm=None)
  for name, variable in variables.items():
    np.testing.assert_allclose(variable.numpy(), params[name], atol=1e-6, err_msg=name)


def test_weight_decay_goes_to_exactly_the_expected_variables():
  optimizer = optimization.create_optimizer(1e-3, 10, 1)
  assert {n for n in ALL_NAMES if optimizer.uses_weight_decay(n)} == ALL_DECAYED
  no_decay = optimization.create_optimizer(1e-3, 10, 1, weight_decay_rate=0.0)
  assert not any(no_decay.uses_weight_decay(n) for n in ALL_NAMES)

  # Behaviour: with zero gradients only the decayed variables move, by p * lr * wd.
  rng = np.random.default_rng(3)
  values = make_values(rng, {name: (3,) for name in ALL_NAMES})
  variables = make_variables(values)
  optimizer = optimization.AdamWeightDecay(0.5, weight_decay_rate=0.1)
  optimizer.apply_gradients((tf.zeros_like(var), var) for var in variables.values())
  changed = {n for n, var in variables.items() if not np.array_equal(var.numpy(), values[n])}
  assert changed == ALL_DECAYED
  for name in ALL_DECAYED:
    np.testing.assert_allclose(variables[name].numpy(), values[name] * (1 - 0.5 * 0.1),
                               rtol=1e-6)


def test_slots_global_step_and_named_variables():
  rng = np.random.default_rng(4)
  variables = make_variables(make_values(rng))
  untouched = "output_bias"
  optimizer = optimization.create_optimizer(1e-2, 10, 0)
  optimizer.build(variables.values())
  assert int(optimizer.iterations.numpy()) == 0
  before = variables[untouched].numpy().copy()
  pairs = [(None if n == untouched else tf.ones_like(var), var) for n, var in variables.items()]
  optimizer.apply_gradients(pairs)

  assert optimizer.iterations.name == "global_step:0"
  assert optimizer.iterations.dtype == tf.int64 and optimizer.iterations.shape == []
  assert not optimizer.iterations.trainable
  assert int(optimizer.iterations.numpy()) == 1
  expected_slots = {f"{n}/{s}" for n in SHAPES for s in ("adam_m", "adam_v")}
  slots = optimizer.named_slot_variables()
  assert set(slots) == expected_slots
  assert set(optimizer.named_variables()) == expected_slots | {"global_step"}
  assert optimizer.named_variables()["global_step"] is optimizer.iterations
  for key, slot in slots.items():
    assert slot.name == key + ":0"
    assert slot.dtype == tf.float32 and not slot.trainable
    assert tuple(slot.shape) == SHAPES[key.rsplit("/", 1)[0]]
  # The None gradient left its variable and its slots alone.
  np.testing.assert_array_equal(variables[untouched].numpy(), before)
  assert not np.any(slots[f"{untouched}/adam_m"].numpy())
  assert np.all(slots["output_weights/adam_m"].numpy() > 0)


def test_lazily_created_slots_cover_only_variables_with_gradients():
  variables = make_variables(make_values(np.random.default_rng(5)))
  optimizer = optimization.AdamWeightDecay(0.1)
  optimizer.apply_gradients([(tf.ones([3]), variables["output_bias"]),
                             (None, variables["output_weights"])])
  assert set(optimizer.named_variables()) == {
      "global_step", "output_bias/adam_m", "output_bias/adam_v"}


# --- IndexedSlices and mixed precision ----------------------------------------------------

@pytest.mark.parametrize("use_function", [False, True])
def test_indexed_slices_gradient_matches_dense(use_function):
  rng = np.random.default_rng(6)
  embedding_init = rng.normal(size=(7, 5)).astype(np.float32)
  kernel_init = rng.normal(size=(5, 3)).astype(np.float32)
  ids = tf.constant([[1, 3, 1], [6, 3, 1]])  # Repeated ids: duplicate rows to sum.
  targets = tf.constant(rng.normal(size=(2, 3, 3)).astype(np.float32))

  def train(densify):
    embedding = tf.Variable(embedding_init, name="bert/embeddings/word_embeddings")
    kernel = tf.Variable(kernel_init, name="bert/encoder/layer_0/output/dense/kernel")
    optimizer = optimization.create_optimizer(0.1, 10, 0)

    def step():
      with tf.GradientTape() as tape:
        outputs = tf.matmul(tf.gather(embedding, ids), kernel)  # [2, 3, 3]
        loss = tf.reduce_sum(tf.square(outputs - targets))
      grad_embedding, grad_kernel = tape.gradient(loss, [embedding, kernel])
      assert isinstance(grad_embedding, tf.IndexedSlices)
      if densify:
        grad_embedding = tf.convert_to_tensor(grad_embedding)
      return optimizer.apply_gradients([(grad_embedding, embedding), (grad_kernel, kernel)])

    step = tf.function(step) if use_function else step
    norms = [float(step()) for _ in range(3)]
    return norms, embedding.numpy(), kernel.numpy(), optimizer.named_slot_variables()

  sparse_norms, sparse_embedding, sparse_kernel, sparse_slots = train(densify=False)
  dense_norms, dense_embedding, dense_kernel, dense_slots = train(densify=True)
  assert dense_norms[0] > 1.0  # Clipping is active.
  np.testing.assert_allclose(sparse_norms, dense_norms, rtol=1e-6)
  np.testing.assert_allclose(sparse_embedding, dense_embedding, atol=1e-6)
  np.testing.assert_allclose(sparse_kernel, dense_kernel, atol=1e-6)
  for key in dense_slots:
    np.testing.assert_allclose(sparse_slots[key].numpy(), dense_slots[key].numpy(), atol=1e-6)
  # Rows 0, 2, 4, 5 were never looked up: their moments stay zero.
  untouched_rows = [0, 2, 4, 5]
  assert not np.any(sparse_slots["bert/embeddings/word_embeddings/adam_m"].numpy()[untouched_rows])


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_gradients_are_applied_in_float32(dtype):
  rng = np.random.default_rng(7)
  values = make_values(rng)
  grads = make_gradients(rng, scales=[2.0])[0]
  low = {n: tf.cast(g, dtype) for n, g in grads.items()}
  results = []
  for cast_first in (False, True):
    variables = make_variables(values)
    optimizer = optimization.AdamWeightDecay(0.01)
    optimizer.apply_gradients(
        (tf.cast(low[n], tf.float32) if cast_first else low[n], variables[n]) for n in SHAPES)
    assert all(var.dtype == tf.float32 for var in variables.values())
    results.append({n: var.numpy() for n, var in variables.items()})
  for name in SHAPES:
    np.testing.assert_array_equal(results[0][name], results[1][name])


# --- LAMB ---------------------------------------------------------------------------------

@pytest.mark.parametrize("use_function", [False, True])
def test_lamb_matches_numpy(use_function):
  rng = np.random.default_rng(8)
  values = make_values(rng)
  values["output_bias"][:] = 0.0  # A zero parameter takes ratio 1 (were it adapted).
  grads = make_gradients(rng, scales=[2.5, 0.08, 1.3])
  variables = make_variables(values)
  optimizer = optimization.create_optimizer(0.02, num_train_steps=5, num_warmup_steps=1,
                                            optimizer_type="lamb")
  assert isinstance(optimizer, optimization.LAMB)
  assert {n for n in SHAPES if optimizer.uses_layer_adaptation(n)} == DECAYED
  norms = run_steps(optimizer, variables, grads, use_function)

  learning_rates = [0.0, 0.02 * (1 - 1 / 5), 0.02 * (1 - 2 / 5)]
  params, m, v, expected_norms = numpy_optimizer(
      values, grads, learning_rates, DECAYED, lamb=True, adapted=DECAYED)
  np.testing.assert_allclose(norms, expected_norms, rtol=1e-6)
  slots = optimizer.named_slot_variables()
  for name, variable in variables.items():
    np.testing.assert_allclose(variable.numpy(), params[name], atol=1e-6, err_msg=name)
    np.testing.assert_allclose(slots[f"{name}/adam_m"].numpy(), m[name], atol=1e-6)
    np.testing.assert_allclose(slots[f"{name}/adam_v"].numpy(), v[name], atol=1e-6)


def test_lamb_layer_adaptation_can_differ_from_weight_decay():
  rng = np.random.default_rng(9)
  values = make_values(rng)
  grads = make_gradients(rng, scales=[0.5, 0.7])
  variables = make_variables(values)
  optimizer = optimization.LAMB(0.03, weight_decay_rate=0.0,
                                exclude_from_layer_adaptation=["LayerNorm"])
  adapted = {n for n in SHAPES if "LayerNorm" not in n}
  assert {n for n in SHAPES if optimizer.uses_layer_adaptation(n)} == adapted
  run_steps(optimizer, variables, grads, use_function=False)
  params, _, _, _ = numpy_optimizer(values, grads, [0.03, 0.03], decayed=(), lamb=True,
                                    adapted=adapted, weight_decay_rate=0.0)
  for name, variable in variables.items():
    np.testing.assert_allclose(variable.numpy(), params[name], atol=1e-6, err_msg=name)


# --- arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(init_lr=0.0), "init_lr=0.0"),
    (dict(init_lr=-1e-5), "init_lr=-1e-05"),
    (dict(num_train_steps=0), "num_train_steps=0"),
    (dict(num_train_steps=12.5), "num_train_steps=12.5"),
    (dict(num_warmup_steps=-1), "num_warmup_steps=-1"),
    (dict(num_warmup_steps=11), "num_warmup_steps=11 is larger than num_train_steps=10"),
    (dict(optimizer_type="adam"), r"\['adamw', 'lamb'\]. Received: optimizer_type='adam'"),
    (dict(clip_norm=0.0), "clip_norm=0.0"),
    (dict(beta_1=1.0), "beta_1=1.0"),
    (dict(weight_decay_rate=-0.01), "weight_decay_rate=-0.01"),
    (dict(exclude_from_weight_decay="bias"), "exclude_from_weight_decay='bias'"),
    (dict(learning_rate_multipliers={"^crf/": 0.0}), r"learning_rate_multipliers=\{'\^crf/': 0.0\}"),
    (dict(learning_rate_multipliers={"^crf/": "10"}), "learning_rate_multipliers="),
])
def test_bad_arguments_raise_value_error_naming_the_value(kwargs, message):
  arguments = dict(init_lr=1e-4, num_train_steps=10, num_warmup_steps=1)
  arguments.update(kwargs)
  with pytest.raises(ValueError, match=message):
    optimization.create_optimizer(**arguments)


@pytest.mark.parametrize("optimizer_type", ["adamw", "lamb"])
def test_learning_rate_multiplier_scales_only_the_matching_variables(optimizer_type):
  """Three steps of twins: the matching variable moves `factor` times as far, others alike."""
  def train(multipliers):
    optimizer = optimization.create_optimizer(
        1e-3, 10, 2, optimizer_type=optimizer_type, weight_decay_rate=0.0,
        learning_rate_multipliers=multipliers)
    # Zero transitions (as a new CRF starts): LAMB's trust ratio is 1 for them.
    transitions = tf.Variable(tf.zeros([3, 3]), name="crf/transitions")
    weights = tf.Variable(tf.ones([3, 3]), name="output_weights")
    rng = np.random.default_rng(0)
    for _ in range(3):
      optimizer.apply_gradients([(tf.constant(rng.normal(size=(3, 3)), tf.float32), v)
                                 for v in (transitions, weights)])
    return transitions.numpy(), weights.numpy(), optimizer
  base_transitions, base_weights, _ = train(None)
  transitions, weights, optimizer = train({"^crf/": 50.0, "nothing": 7.0})
  assert optimizer.learning_rate_multiplier("crf/transitions") == 50.0
  assert optimizer.learning_rate_multiplier("output_weights") == 1.0
  assert optimizer.get_config()["learning_rate_multipliers"] == {"^crf/": 50.0,
                                                                 "nothing": 7.0}
  assert np.abs(base_transitions).max() > 1e-4
  np.testing.assert_array_equal(weights, base_weights)
  if optimizer_type == "adamw":
    # The update is linear in the learning rate (the moments do not see it).
    np.testing.assert_allclose(transitions, 50.0 * base_transitions, rtol=1e-5)
  else:
    # Once non-zero, LAMB's trust ratio rescales: only the first step is 50x.
    assert np.abs(transitions).max() > 10 * np.abs(base_transitions).max()


def test_bad_variables_and_gradients_raise_value_error():
  optimizer = optimization.AdamWeightDecay(0.1)
  weights = tf.Variable(tf.ones([2]), name="output_weights")
  with pytest.raises(ValueError, match="No gradient for any of the 1 variables"):
    optimizer.apply_gradients([(None, weights)])
  with pytest.raises(ValueError, match="float32 variables only.*output_bias with dtype float64"):
    optimizer.build([tf.Variable(tf.ones([2], tf.float64), name="output_bias")])
  optimizer.build([weights])
  with pytest.raises(ValueError, match="Two different variables are named 'output_weights'"):
    optimizer.build([tf.Variable(tf.ones([2]), name="output_weights")])
  with pytest.raises(ValueError, match="given twice"):
    optimizer.apply_gradients([(tf.ones([2]), weights), (tf.ones([2]), weights)])


def test_config_for_logs():
  optimizer = optimization.create_optimizer(2e-5, 100, 10, optimizer_type="lamb")
  config = optimizer.get_config()
  json.dumps(config)  # Plain values only.
  assert config["name"] == "LAMB" and config["learning_rate"]["num_warmup_steps"] == 10
  assert config["exclude_from_weight_decay"] == ["LayerNorm", "layer_norm", "bias"]
  assert float(optimizer.current_learning_rate()) == 0.0


# --- tf.distribute ------------------------------------------------------------------------

# Runs in a fresh interpreter: logical CPU devices must be set before TF initialises them.
MIRRORED_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import optimization

    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    EMB, GAMMA = "bert/embeddings/word_embeddings", "bert/embeddings/LayerNorm/gamma"
    KERNEL = "bert/encoder/layer_0/attention/self/query/kernel"
    BIAS = "bert/encoder/layer_0/attention/self/query/bias"
    INIT = {EMB: rng.normal(size=(7, 5)), GAMMA: 1 + 0.1 * rng.normal(size=5),
            KERNEL: rng.normal(size=(5, 5)), BIAS: 0.1 * rng.normal(size=5),
            "output_weights": rng.normal(size=(3, 5)), "output_bias": np.zeros(3)}
    NAMES = sorted(INIT)
    BATCH = (rng.normal(size=(6, 5)).astype(np.float32),
             np.array([1, 3, 1, 6, 3, 0], np.int32), np.array([0, 2, 1, 1, 0, 2], np.int32))
    STEPS = 3
    # One strategy for all variants: separate MirroredStrategy instances in one process
    # reuse collective instance keys and abort each other's all-reduces.
    STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def make_variables():
      return {n: tf.Variable(v.astype(np.float32), name=n) for n, v in INIT.items()}

    def loss_fn(vs, features, ids, labels):
      h = (features + tf.gather(vs[EMB], ids)) * vs[GAMMA]
      h = tf.tanh(tf.matmul(h, vs[KERNEL]) + vs[BIAS])
      logits = tf.matmul(h, vs["output_weights"], transpose_b=True) + vs["output_bias"]
      per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
      # Sum over the global batch of 6; x10 makes the norm > 1 so clipping acts.
      return 10.0 * tf.reduce_sum(per_example) / 6.0

    def single_device():
      vs = make_variables()
      optimizer = optimization.create_optimizer(0.05, 10, 1)
      @tf.function
      def step():
        with tf.GradientTape() as tape:
          loss = loss_fn(vs, *BATCH)
        grads = tape.gradient(loss, [vs[n] for n in NAMES])
        return optimizer.apply_gradients(zip(grads, [vs[n] for n in NAMES]))
      norms = [float(step()) for _ in range(STEPS)]
      return vs, optimizer, norms

    def mirrored(build, use_function):
      strategy = STRATEGY
      with strategy.scope():
        vs = make_variables()
        optimizer = optimization.create_optimizer(0.05, 10, 1)
        if build:
          optimizer.build(vs.values())
      inputs = strategy.experimental_distribute_values_from_function(
          lambda ctx: tuple(tf.constant(a[3 * ctx.replica_id_in_sync_group:][:3])
                            for a in BATCH))
      kinds = set()
      def replica_step(features, ids, labels):
        with tf.GradientTape() as tape:
          loss = loss_fn(vs, features, ids, labels)
        grads = tape.gradient(loss, [vs[n] for n in NAMES])
        kinds.add(type(grads[NAMES.index(EMB)]).__name__)
        grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
        return optimizer.apply_gradients(zip(grads, [vs[n] for n in NAMES]))
      def step():
        return strategy.run(replica_step, args=inputs)
      if use_function:
        step = tf.function(step)
      norms = [[float(x) for x in strategy.experimental_local_results(step())]
               for _ in range(STEPS)]
      return strategy, vs, optimizer, norms, sorted(kinds)

    def max_diff(strategy, distributed, single):
      return max(float(np.max(np.abs(local.numpy() - single.numpy())))
                 for local in strategy.experimental_local_results(distributed))

    ref_vs, ref_opt, ref_norms = single_device()
    report = {"moved": min(float(np.max(np.abs(ref_vs[n].numpy() - INIT[n]))) for n in NAMES)}
    for build, use_function in ((True, False), (True, True), (False, True)):
      strategy, vs, opt, norms, kinds = mirrored(build, use_function)
      ref_slots, slots = ref_opt.named_slot_variables(), opt.named_slot_variables()
      assert len(norms) == len(ref_norms) == STEPS
      assert all(len(per_replica) == 2 for per_replica in norms)
      report[f"build={build},function={use_function}"] = {
          "param_diff": max(max_diff(strategy, vs[n], ref_vs[n]) for n in NAMES),
          "slot_diff": max(max_diff(strategy, slots[k], ref_slots[k]) for k in ref_slots),
          "slot_names_equal": sorted(slots) == sorted(ref_slots),
          "slot_types": sorted({type(s).__name__ for s in opt.named_variables().values()}),
          "global_steps": [int(x) for x in strategy.experimental_local_results(opt.iterations)],
          "norm_diff": max(abs(n - r) for per_replica, r in zip(norms, ref_norms)
                           for n in per_replica),
          "embedding_grad": kinds,
      }
    print("REPORT " + json.dumps(report))
""")


def test_mirrored_strategy_matches_single_device():
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="3",
             CUDA_VISIBLE_DEVICES="")
  result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
  lines = [l for l in result.stdout.splitlines() if l.startswith("REPORT ")]
  assert result.returncode == 0 and lines, result.stderr[-3000:]
  report = json.loads(lines[-1][len("REPORT "):])
  assert report.pop("moved") > 1e-3  # The single-device run really trained every variable.
  assert len(report) == 3
  for variant, checks in report.items():
    # Replica sums round differently from the full-batch gradient, and the
    # XLA-fused update contracts multiply-adds (7e-7 from unfused ops on one
    # device after these 3 steps); Adam at lr 0.05 carries both into the weights.
    assert checks["param_diff"] < 3e-6, variant
    assert checks["slot_diff"] < 1e-6, variant
    assert checks["norm_diff"] < 1e-5, variant
    assert checks["slot_names_equal"], variant
    assert checks["slot_types"] == ["MirroredVariable"], variant
    assert checks["global_steps"] == [3, 3], variant
    assert checks["embedding_grad"] == ["IndexedSlices"], variant


@pytest.mark.parametrize("use_function", [False, True])
def test_apply_update_false_skips_the_update_but_counts_the_step(use_function):
  rng = np.random.RandomState(3)
  variables = make_variables(make_values(rng))
  optimizer = optimization.create_optimizer(1e-2, 10, 0)
  optimizer.build(list(variables.values()))
  grads = make_gradients(rng, [0.5])[0]
  before = {n: v.numpy().copy() for n, v in variables.items()}

  def step(flag):
    optimizer.apply_gradients([(tf.constant(grads[n]), variables[n]) for n in variables],
                              apply_update=flag)

  fn = tf.function(step) if use_function else step
  fn(tf.constant(False))
  assert int(optimizer.iterations) == 1
  for name, var in variables.items():
    np.testing.assert_array_equal(var.numpy(), before[name])
  assert all(not np.any(s.numpy()) for s in optimizer.named_slot_variables().values())
  fn(tf.constant(True))
  assert int(optimizer.iterations) == 2
  assert any(not np.array_equal(var.numpy(), before[n]) for n, var in variables.items())
