"""Optimizers and learning-rate schedule for BERT: AdamWeightDecay and LAMB.

`create_optimizer` gives what the reference's `create_optimizer` built: Adam without
bias correction (beta_1 0.9, beta_2 0.999, epsilon 1e-6), decoupled weight decay 0.01
skipped for LayerNorm parameters and biases, gradients clipped to global norm 1.0, and a
learning rate that warms up linearly for `num_warmup_steps` and then decays linearly to
0 at `num_train_steps`. No Keras: a `tf.Module` over plain `tf.Variable`s.

Checkpoint layout: the optimizer owns `global_step` (int64) and, for each variable
`<var>`, the float32 slots `<var>/adam_m` and `<var>/adam_v`, the names the reference
wrote. LAMB keeps the same two slots (its first and second moments), so a checkpoint
has one layout whichever optimizer wrote it. `named_variables()` maps these names to
the variables for the name-based checkpoint writer.

Distribution contract: in replica context (inside `strategy.run`) `apply_gradients`
expects gradients that the caller has ALREADY all-reduced across replicas (e.g.
`ctx.all_reduce(SUM, grads)` of a loss divided by the global batch size). It clips
them on each replica (same gradients, same result, no communication), then each
device updates its own copy of the variables through `merge_call` +
`strategy.extended.update`, as Keras optimizers do. Call `build(variables)` under
`strategy.scope()` before the first `tf.function` trace so that the slots and
`global_step` are mirrored like the model's variables and none is created while tracing.
"""

import numbers
import re

import tensorflow as tf

import modeling

# Regexes searched in variable names; a match means no weight decay (the reference's list).
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
OPTIMIZER_TYPES = ("adamw", "lamb")
SLOT_NAMES = ("adam_m", "adam_v")


def _is_int(value):
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_schedule_arguments(init_lr, num_train_steps, num_warmup_steps):
  """Raises ValueError naming the first bad schedule argument and what is accepted."""
  if not _is_real(init_lr) or not init_lr > 0 or init_lr == float("inf"):
    raise ValueError(f"init_lr must be a finite number > 0. Received: init_lr={init_lr!r}.")
  if not _is_int(num_train_steps) or num_train_steps <= 0:
    raise ValueError(
        "num_train_steps must be an integer > 0 (a tiny data set with a large batch size "
        f"gives 0 steps). Received: num_train_steps={num_train_steps!r}.")
  if not _is_int(num_warmup_steps) or num_warmup_steps < 0:
    raise ValueError("num_warmup_steps must be an integer >= 0. "
                     f"Received: num_warmup_steps={num_warmup_steps!r}.")
  if num_warmup_steps > num_train_steps:
    raise ValueError(
        f"num_warmup_steps={num_warmup_steps} is larger than num_train_steps="
        f"{num_train_steps}: warm-up must end by the last step. Lower the warm-up "
        "(num_warmup_steps / warmup_proportion) or train for more steps.")


class LinearWarmupLinearDecay:
  """The learning rate: linear warm-up, then linear decay to 0.

  lr(step) = init_lr * step / num_warmup_steps            if step < num_warmup_steps
           = init_lr * (1 - min(step, num_train_steps) / num_train_steps)   otherwise
  where `step` is the global step before the update (the first update uses step 0,
  so its learning rate is 0 when there is a warm-up, as in the reference).
  """

  def __init__(self, init_lr, num_train_steps, num_warmup_steps=0):
    _check_schedule_arguments(init_lr, num_train_steps, num_warmup_steps)
    self.init_lr = float(init_lr)
    self.num_train_steps = int(num_train_steps)
    self.num_warmup_steps = int(num_warmup_steps)

  def __call__(self, step):
    """Returns the learning rate at `step`.

    Args:
      step: integer scalar Tensor (or int), the global step before the update.

    Returns:
      float32 scalar Tensor.
    """
    step = tf.cast(step, tf.float32)
    # tf.compat.v1.train.polynomial_decay with power 1.0 and end_learning_rate 0.0.
    done = tf.minimum(step, float(self.num_train_steps)) / float(self.num_train_steps)
    learning_rate = self.init_lr * (1.0 - done)
    if self.num_warmup_steps:
      warmup_learning_rate = self.init_lr * (step / float(self.num_warmup_steps))
      learning_rate = tf.where(step < float(self.num_warmup_steps),
                               warmup_learning_rate, learning_rate)
    return learning_rate

  def get_config(self):
    """Returns the schedule's arguments as a plain dict (for logs)."""
    return {"name": type(self).__name__, "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "end_learning_rate": 0.0, "power": 1.0}


class ConstantLearningRate:
  """A learning rate that does not change with the step (for tests and experiments)."""

  def __init__(self, learning_rate):
    if not _is_real(learning_rate) or learning_rate < 0:
      raise ValueError("learning_rate must be a number >= 0. "
                       f"Received: learning_rate={learning_rate!r}.")
    self.learning_rate = float(learning_rate)

  def __call__(self, step):
    """Returns the learning rate as a float32 scalar Tensor, whatever `step`."""
    del step  # Unused.
    return tf.constant(self.learning_rate, tf.float32)

  def get_config(self):
    """Returns the learning rate as a plain dict (for logs)."""
    return {"name": type(self).__name__, "learning_rate": self.learning_rate}


def _check_patterns(argument, patterns):
  """Returns `patterns` as a tuple of regex strings, or raises ValueError."""
  if isinstance(patterns, (str, bytes)) or not all(isinstance(p, str) for p in patterns):
    raise ValueError(f"{argument} must be a list of regex strings, e.g. "
                     f"['LayerNorm', 'bias']. Received: {argument}={patterns!r}.")
  return tuple(patterns)


def _check_multipliers(multipliers):
  """Returns {regex: float} learning-rate multipliers (None: {}), or raises ValueError."""
  multipliers = dict(multipliers or {})
  for pattern, value in multipliers.items():
    if (not isinstance(pattern, str) or not _is_real(value) or not 0 < value < float("inf")):
      raise ValueError("learning_rate_multipliers must map regex strings to finite numbers "
                       "> 0, e.g. {'^crf/': 100.0}. Received: learning_rate_multipliers="
                       f"{multipliers!r}.")
  return {pattern: float(value) for pattern, value in multipliers.items()}


def _check_hyperparameters(beta_1, beta_2, epsilon, weight_decay_rate, clip_norm):
  """Raises ValueError naming the first bad hyperparameter and what is accepted."""
  for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
    if not _is_real(value) or not 0.0 <= value < 1.0:
      raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}.")
  for name, value in (("epsilon", epsilon), ("weight_decay_rate", weight_decay_rate)):
    if not _is_real(value) or not value >= 0.0:
      raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}.")
  if clip_norm is not None and (not _is_real(clip_norm) or not clip_norm > 0.0):
    raise ValueError("clip_norm must be a number > 0, or None for no clipping. "
                     f"Received: clip_norm={clip_norm!r}.")


def _on_tpu():
  strategy = tf.distribute.get_strategy()
  return isinstance(strategy, (tf.distribute.TPUStrategy,
                               tf.distribute.experimental.TPUStrategy))


def _prepare_gradient(grad):
  """Casts `grad` to float32 and sums the rows of IndexedSlices that share an index.

  Summing duplicates first makes the global norm and the squared gradient in v those
  of the dense gradient (the reference's clip_by_global_norm measured the raw values).
  On TPU, IndexedSlices become dense: tf.unique has a dynamic shape XLA cannot compile.

  Args:
    grad: Tensor or IndexedSlices of any float dtype.

  Returns:
    float32 Tensor, or float32 IndexedSlices with unique indices.
  """
  if not isinstance(grad, tf.IndexedSlices):
    return tf.cast(grad, tf.float32)
  values = tf.cast(grad.values, tf.float32)
  if _on_tpu():
    return tf.convert_to_tensor(tf.IndexedSlices(values, grad.indices, grad.dense_shape))
  unique_indices, positions = tf.unique(grad.indices)
  values = tf.math.unsorted_segment_sum(values, positions, tf.shape(unique_indices)[0])
  return tf.IndexedSlices(values, unique_indices, grad.dense_shape)


def _update_moments(grad, m, v, beta_1, beta_2):
  """Stores m = b1*m + (1-b1)*g and v = b2*v + (1-b2)*g^2 in the slots and returns them.

  For IndexedSlices (unique indices) every row still decays, as in the dense update,
  but no dense gradient is built: the new terms are scattered into the decayed rows.

  Args:
    grad: float32 Tensor shaped like the variable, or IndexedSlices of its rows.
    m, v: float32 slot variables shaped like the variable (this device's copies).
    beta_1, beta_2: Python floats.

  Returns:
    (next_m, next_v): float32 Tensors shaped like the variable.
  """
  if isinstance(grad, tf.IndexedSlices):
    m.assign(beta_1 * m)
    m.scatter_add(tf.IndexedSlices((1.0 - beta_1) * grad.values, grad.indices))
    v.assign(beta_2 * v)
    v.scatter_add(tf.IndexedSlices((1.0 - beta_2) * tf.square(grad.values), grad.indices))
    return m.read_value(), v.read_value()
  next_m = beta_1 * m + (1.0 - beta_1) * grad
  next_v = beta_2 * v + (1.0 - beta_2) * tf.square(grad)
  m.assign(next_m)
  v.assign(next_v)
  return next_m, next_v


def _matches_any(patterns, name):
  return any(re.search(pattern, name) is not None for pattern in patterns)


class AdamWeightDecay(tf.Module):
  """AdamWeightDecayOptimizer: Adam without bias correction, decoupled weight decay.

  For each variable p with float32 gradient g (after global-norm clipping):
    m = beta_1 * m + (1 - beta_1) * g;   v = beta_2 * v + (1 - beta_2) * g^2
    update = m / (sqrt(v) + epsilon) [+ weight_decay_rate * p unless the name is excluded]
    p -= lr * update,   lr = learning_rate(global_step before the update)
                             [* the multiplier of the first learning_rate_multipliers
                              pattern the name matches]
  See the module docstring for the slot names and the tf.distribute contract.
  """

  def __init__(self, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
               epsilon=1e-6, exclude_from_weight_decay=None, clip_norm=1.0,
               name="AdamWeightDecay", learning_rate_multipliers=None):
    """Creates the optimizer; `global_step` and the slots are created by `build`.

    Args:
      learning_rate: a schedule (callable: int step Tensor -> float32 scalar), or a
        number for a constant learning rate.
      weight_decay_rate: float >= 0, decoupled weight decay (0 disables it).
      beta_1, beta_2: floats in [0, 1), decay rates of the first and second moments.
      epsilon: float >= 0 added to sqrt(v).
      exclude_from_weight_decay: regexes searched in variable names; matching
        variables get no weight decay. None means ["LayerNorm", "layer_norm", "bias"].
      clip_norm: float > 0, global norm the gradients are clipped to; None disables.
      name: name of the module.
      learning_rate_multipliers: {regex: float > 0}; a variable whose name the
        regex matches (re.search, first match wins) is updated with the
        learning rate times that factor, e.g. {"^crf/": 100.0} for a CRF head.
        None: every variable at the learning rate.
    """
    super().__init__(name=name)
    self.learning_rate_multipliers = _check_multipliers(learning_rate_multipliers)
    _check_hyperparameters(beta_1, beta_2, epsilon, weight_decay_rate, clip_norm)
    if exclude_from_weight_decay is None:
      exclude_from_weight_decay = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY
    self.exclude_from_weight_decay = _check_patterns(
        "exclude_from_weight_decay", exclude_from_weight_decay)
    if not callable(learning_rate):
      learning_rate = ConstantLearningRate(learning_rate)
    self.learning_rate = learning_rate
    self.weight_decay_rate = float(weight_decay_rate)
    self.beta_1 = float(beta_1)
    self.beta_2 = float(beta_2)
    self.epsilon = float(epsilon)
    self.clip_norm = None if clip_norm is None else float(clip_norm)
    self._iterations = None
    self._slot_variables = {}  # "<var>/adam_m" -> tf.Variable
    self._variable_refs = {}  # "<var>" -> var.ref(), to catch two variables with one name

  @property
  def iterations(self):
    """int64 scalar tf.Variable `global_step`: number of updates applied."""
    if self._iterations is None:
      with tf.init_scope(), tf.name_scope(""):
        # ONLY_FIRST_REPLICA: the step is the same on every replica; never sum it.
        self._iterations = tf.Variable(
            0, dtype=tf.int64, name="global_step", trainable=False,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    return self._iterations

  def learning_rate_multiplier(self, name):
    """The factor on the learning rate of the variable called `name` (1.0 by default)."""
    for pattern, value in self.learning_rate_multipliers.items():
      if re.search(pattern, name) is not None:
        return value
    return 1.0

  def uses_weight_decay(self, name):
    """Returns True if the variable called `name` (no ":0") gets weight decay."""
    return bool(self.weight_decay_rate) and not _matches_any(
        self.exclude_from_weight_decay, name)

  def build(self, variables):
    """Creates `global_step` and the zero `adam_m`/`adam_v` slots of `variables`.

    Call it under the strategy scope of the model's variables and before tracing the
    train step. Calling it again (or applying gradients) reuses what exists.

    Args:
      variables: iterable of float32 tf.Variables (the trainable variables).
    """
    _ = self.iterations
    for variable in variables:
      self._slots_for(variable)

  def _slots_for(self, variable):
    """Returns the (adam_m, adam_v) slot variables of `variable`, created if needed."""
    name = modeling.variable_name(variable)
    known = self._variable_refs.get(name)
    if known is None:
      self._create_slots(name, variable)
    elif known != variable.ref():
      raise ValueError(
          f"Two different variables are named {name!r}; the optimizer keys its slots "
          "by variable name, so every trained variable needs a unique name.")
    return tuple(self._slot_variables[f"{name}/{slot}"] for slot in SLOT_NAMES)

  def _create_slots(self, name, variable):
    if variable.dtype != tf.float32:
      raise ValueError(
          f"{type(self).__name__} updates float32 variables only (mixed precision keeps "
          f"float32 variables). Received: {name} with dtype {variable.dtype.name}.")
    shape = variable.shape
    # init_scope: lazily created slots must not be created inside a tf.function
    # graph; name_scope(""): the slot's name is "<var>/adam_m", whatever scope is open.
    with tf.init_scope(), tf.name_scope(""):
      strategy = tf.distribute.get_strategy()
      with strategy.extended.colocate_vars_with(variable):
        for slot in SLOT_NAMES:
          self._slot_variables[f"{name}/{slot}"] = tf.Variable(
              lambda: tf.zeros(shape, tf.float32), name=f"{name}/{slot}",
              trainable=False)
    self._variable_refs[name] = variable.ref()

  def named_slot_variables(self):
    """Returns {"<var>/adam_m": tf.Variable, "<var>/adam_v": ...} for every built variable."""
    return dict(self._slot_variables)

  def named_variables(self):
    """Returns the slots plus {"global_step": iterations}: what a checkpoint saves."""
    return {"global_step": self.iterations, **self._slot_variables}

  def current_learning_rate(self):
    """Returns the learning rate of the next update: float32 scalar Tensor."""
    return self.learning_rate(self.iterations)

  def get_config(self):
    """Returns the hyperparameters as a plain dict (for logs)."""
    config = getattr(self.learning_rate, "get_config", lambda: {})()
    return {"name": type(self).__name__, "learning_rate": config,
            "weight_decay_rate": self.weight_decay_rate, "beta_1": self.beta_1,
            "beta_2": self.beta_2, "epsilon": self.epsilon, "clip_norm": self.clip_norm,
            "exclude_from_weight_decay": list(self.exclude_from_weight_decay),
            "learning_rate_multipliers": dict(self.learning_rate_multipliers)}

  def apply_gradients(self, grads_and_vars, apply_update=None):
    """Clips the gradients to `clip_norm` by global norm and updates each variable once.

    Works eagerly, in tf.function and under tf.distribute strategies. In replica
    context (inside `strategy.run`) the gradients must already be all-reduced across
    replicas by the caller; in cross-replica context they must be plain Tensors (the
    same for every replica). Increments `iterations` by 1.

    Args:
      grads_and_vars: iterable of (gradient, variable) pairs. A gradient is a Tensor
        shaped like its variable or IndexedSlices of its rows, in any float dtype
        (float16/bfloat16 are cast to float32), or None to leave the variable as is.

      apply_update: optional bool scalar Tensor, the same on every replica. When
        it is False the variables and slots are left as they are (float16 loss
        scaling skips steps whose gradients overflowed); `iterations` still
        counts the step, so the schedule and the data position stay in step.

    Returns:
      float32 scalar Tensor: the global norm of the gradients before clipping.
    """
    grads, variables = _filter_gradients(grads_and_vars)
    grads = [_prepare_gradient(grad) for grad in grads]
    global_norm = tf.linalg.global_norm(grads)
    # The clipping factor is applied inside each variable's update rather than
    # to copies of all gradients: one pass over memory less.
    grad_scale = _clip_scale(global_norm, self.clip_norm)
    args = (grads, variables, grad_scale, apply_update)
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
      self._distributed_apply(tf.distribute.get_strategy(), *args)
    else:
      tf.distribute.get_replica_context().merge_call(self._distributed_apply, args=args)
    return global_norm

  def _distributed_apply(self, strategy, grads, variables, grad_scale, apply_update=None):
    """Updates every device's copy of each variable with its local gradient (cross-replica)."""
    def update_all():
      coefficients = self._coefficients(self.iterations.read_value())
      coefficients["grad_scale"] = strategy.experimental_local_results(grad_scale)[0] \
          if isinstance(grad_scale, tf.distribute.DistributedValues) else grad_scale
      for grad, variable in zip(grads, variables):
        m, v = self._slots_for(variable)
        strategy.extended.update(
            variable, self._update_variable, args=(grad, m, v, coefficients),
            kwargs=self._variable_options(modeling.variable_name(variable)), group=False)
      return tf.constant(True)

    if apply_update is None:
      update_all()
    else:
      # The flag is identical on every replica; in cross-replica context the
      # conditional wraps the per-device updates (as Keras' loss scaling does).
      flag = strategy.experimental_local_results(apply_update)[0]
      tf.cond(flag, update_all, lambda: tf.constant(False))
    self.iterations.assign_add(1)

  def _coefficients(self, step):
    """Returns {name: float32 scalar Tensor} shared by all variables' updates at `step`."""
    return {"learning_rate": tf.cast(self.learning_rate(step), tf.float32)}

  def _variable_options(self, name):
    """Returns the per-variable Python options passed to `_update_variable`."""
    return {"use_weight_decay": self.uses_weight_decay(name),
            "lr_multiplier": self.learning_rate_multiplier(name)}

  def _update_variable(self, variable, grad, m, v, coefficients, use_weight_decay,
                       lr_multiplier=1.0):
    """Applies the update to one device's copy of `variable` and of its slots."""
    learning_rate = _scaled(coefficients["learning_rate"], lr_multiplier)
    if not isinstance(grad, tf.IndexedSlices):
      return _fused_adamw_step(variable, m, v, grad, coefficients["grad_scale"],
                               learning_rate, self.beta_1, self.beta_2,
                               self.epsilon, self.weight_decay_rate if use_weight_decay else 0.0)
    grad = _scale_gradient(grad, coefficients["grad_scale"])
    next_m, next_v = _update_moments(grad, m, v, self.beta_1, self.beta_2)
    update = next_m / (tf.sqrt(next_v) + self.epsilon)
    if use_weight_decay:
      update += self.weight_decay_rate * variable
    return variable.assign_sub(learning_rate * update)


def _scaled(learning_rate, multiplier):
  """learning_rate * multiplier; the same tensor (no op) for the usual 1.0."""
  return learning_rate if multiplier == 1.0 else learning_rate * multiplier


def _clip_scale(global_norm, clip_norm):
  """The factor tf.clip_by_global_norm multiplies every gradient by (1.0 without clipping).

  As with tf.clip_by_global_norm, a non-finite norm gives NaN, so a diverged step
  shows in the weights and the loss instead of being silently skipped.
  """
  if clip_norm is None:
    return tf.constant(1.0)
  scale = clip_norm * tf.minimum(1.0 / global_norm, 1.0 / clip_norm)
  return scale + (global_norm - global_norm)


def _scale_gradient(grad, scale):
  if isinstance(grad, tf.IndexedSlices):
    return tf.IndexedSlices(grad.values * scale, grad.indices, grad.dense_shape)
  return grad * scale


# XLA fuses the whole update into one pass over the variable, its gradient and
# slots; as separate TF ops it was ~15 passes, and the optimizer step is
# memory-bound (measured: 10x faster on a 2-core CPU, a quarter of BERT-base's
# training step saved). Variables of one shape share one compiled program.
# Resource handles, not tf.Variables, are passed: tf.function maps a mirrored
# variable's per-device copy back to the mirrored variable, whose assign would
# then write to every device's copy.
@tf.function(jit_compile=True, autograph=False)
def _fused_adamw_handles(variable, m, v, grad, grad_scale, learning_rate, beta_1, beta_2,
                         epsilon, weight_decay_rate):
  read = lambda handle: tf.raw_ops.ReadVariableOp(resource=handle, dtype=tf.float32)
  value, grad = read(variable), grad * grad_scale
  next_m = beta_1 * read(m) + (1.0 - beta_1) * grad
  next_v = beta_2 * read(v) + (1.0 - beta_2) * tf.square(grad)
  update = next_m / (tf.sqrt(next_v) + epsilon)
  if weight_decay_rate:
    update += weight_decay_rate * value
  tf.raw_ops.AssignVariableOp(resource=m, value=next_m)
  tf.raw_ops.AssignVariableOp(resource=v, value=next_v)
  tf.raw_ops.AssignVariableOp(resource=variable, value=value - learning_rate * update)
  return tf.constant(True)


def _fused_adamw_step(variable, m, v, grad, *args):
  """One AdamWeightDecay step for one dense float32 variable, in place."""
  return _fused_adamw_handles(variable.handle, m.handle, v.handle, grad, *args)


def _filter_gradients(grads_and_vars):
  """Drops pairs with a None gradient; returns (grads, variables) lists.

  Raises:
    ValueError: if every gradient is None, or a variable appears twice.
  """
  pairs = list(grads_and_vars)
  kept = [(grad, var) for grad, var in pairs if grad is not None]
  if not kept:
    names = [modeling.variable_name(var) for _, var in pairs]
    raise ValueError(f"No gradient for any of the {len(names)} variables "
                     f"({names[:5]}...): does the loss depend on them?")
  names = [modeling.variable_name(var) for _, var in kept]
  repeated = sorted({name for name in names if names.count(name) > 1})
  if repeated:
    raise ValueError(f"Variables given twice to apply_gradients: {repeated}.")
  return [grad for grad, _ in kept], [var for _, var in kept]


class LAMB(AdamWeightDecay):
  """LAMB (You et al. 2019), as in the TF Model Garden: Adam with a layer-wise trust ratio.

  With bias correction, t = global_step + 1:
    m, v as in AdamWeightDecay;  r = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
    r += weight_decay_rate * p  (unless excluded from weight decay)
    ratio = ||p|| / ||r|| if both are > 0 else 1  (1 if excluded from layer adaptation)
    p -= lr * ratio * r   (lr times the name's learning_rate_multipliers factor, if any)
  The moments live in the same `<var>/adam_m`, `<var>/adam_v` slots as AdamWeightDecay,
  so checkpoints have one layout.
  """

  def __init__(self, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
               epsilon=1e-6, exclude_from_weight_decay=None,
               exclude_from_layer_adaptation=None, clip_norm=1.0, name="LAMB",
               learning_rate_multipliers=None):
    """Creates the optimizer. Arguments as AdamWeightDecay, plus:

    Args:
      exclude_from_layer_adaptation: regexes searched in variable names; matching
        variables use ratio 1. None means the same list as exclude_from_weight_decay.
    """
    super().__init__(learning_rate, weight_decay_rate=weight_decay_rate, beta_1=beta_1,
                     beta_2=beta_2, epsilon=epsilon,
                     exclude_from_weight_decay=exclude_from_weight_decay,
                     clip_norm=clip_norm, name=name,
                     learning_rate_multipliers=learning_rate_multipliers)
    if exclude_from_layer_adaptation is None:
      exclude_from_layer_adaptation = self.exclude_from_weight_decay
    self.exclude_from_layer_adaptation = _check_patterns(
        "exclude_from_layer_adaptation", exclude_from_layer_adaptation)

  def uses_layer_adaptation(self, name):
    """Returns True if the variable called `name` (no ":0") gets the trust ratio."""
    return not _matches_any(self.exclude_from_layer_adaptation, name)

  def get_config(self):
    """Returns the hyperparameters as a plain dict (for logs)."""
    config = super().get_config()
    config["exclude_from_layer_adaptation"] = list(self.exclude_from_layer_adaptation)
    return config

  def _coefficients(self, step):
    coefficients = super()._coefficients(step)
    local_step = tf.cast(step + 1, tf.float32)
    coefficients["bias_correction_1"] = 1.0 - tf.pow(self.beta_1, local_step)
    coefficients["bias_correction_2"] = 1.0 - tf.pow(self.beta_2, local_step)
    return coefficients

  def _variable_options(self, name):
    options = super()._variable_options(name)
    options["use_layer_adaptation"] = self.uses_layer_adaptation(name)
    return options

  def _update_variable(self, variable, grad, m, v, coefficients, use_weight_decay,
                       use_layer_adaptation, lr_multiplier=1.0):
    grad = _scale_gradient(grad, coefficients["grad_scale"])
    next_m, next_v = _update_moments(grad, m, v, self.beta_1, self.beta_2)
    m_hat = next_m / coefficients["bias_correction_1"]
    v_hat = next_v / coefficients["bias_correction_2"]
    update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
    if use_weight_decay:
      update += self.weight_decay_rate * variable
    ratio = 1.0
    if use_layer_adaptation:
      param_norm = tf.norm(variable)
      update_norm = tf.norm(update)
      ratio = tf.where(
          param_norm > 0.0,
          tf.where(update_norm > 0.0, param_norm / update_norm, 1.0), 1.0)
    learning_rate = _scaled(coefficients["learning_rate"], lr_multiplier)
    return variable.assign_sub(ratio * learning_rate * update)


def create_optimizer(init_lr, num_train_steps, num_warmup_steps, optimizer_type="adamw",
                     weight_decay_rate=0.01, clip_norm=1.0, beta_1=0.9, beta_2=0.999,
                     epsilon=1e-6, exclude_from_weight_decay=None,
                     learning_rate_multipliers=None):
  """Returns AdamWeightDecay (or LAMB) with its warm-up/decay learning rate.

  Args:
    init_lr: float > 0, peak learning rate (reached at the end of warm-up).
    num_train_steps: int > 0, the learning rate is 0 from this step on.
    num_warmup_steps: int in [0, num_train_steps], steps of linear warm-up.
    optimizer_type: "adamw" (AdamWeightDecay) or "lamb".
    weight_decay_rate, clip_norm, beta_1, beta_2, epsilon, exclude_from_weight_decay,
      learning_rate_multipliers: as in AdamWeightDecay.

  Returns:
    AdamWeightDecay or LAMB; its `.learning_rate` is a LinearWarmupLinearDecay.

  Raises:
    ValueError: an argument out of range, named with the value received.
  """
  if optimizer_type not in OPTIMIZER_TYPES:
    raise ValueError(f"optimizer_type must be one of {list(OPTIMIZER_TYPES)}. "
                     f"Received: optimizer_type={optimizer_type!r}.")
  schedule = LinearWarmupLinearDecay(init_lr, num_train_steps, num_warmup_steps)
  kwargs = dict(weight_decay_rate=weight_decay_rate, beta_1=beta_1, beta_2=beta_2,
                epsilon=epsilon, exclude_from_weight_decay=exclude_from_weight_decay,
                clip_norm=clip_norm, learning_rate_multipliers=learning_rate_multipliers)
  if optimizer_type == "lamb":
    return LAMB(schedule, **kwargs)
  return AdamWeightDecay(schedule, **kwargs)
