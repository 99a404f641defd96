"""One training loop for every run_*.py script.

What it does for a task (see `Task`): builds the variables under a
`tf.distribute` strategy, restores (resume from `output_dir`, else
`--init_checkpoint`), runs several optimizer steps per `tf.function` call,
accumulates gradients over micro-batches, scales the loss in float16, saves
`model.ckpt-<step>` in the official name layout, logs step/loss/lr/examples/s/ETA,
writes TensorBoard summaries, evaluates during training keeping the best
checkpoint, and stops cleanly on SIGTERM, SIGINT and SIGHUP.

Each script keeps only what is its own: data, features, head, loss and metrics.
"""

import atexit
import dataclasses
import math
import os
import shutil
import signal
import tempfile
import time

from absl import logging
import numpy as np
import tensorflow as tf

import checkpoint_utils
import curves
import distribution
import errors
import input_pipeline
import modeling
import optimization
import run_info

from tensorflow.core.framework import summary_pb2

# float16 dynamic loss scaling: start high, halve on overflow, double after this
# many finite steps (the usual schedule of mixed-precision training).
_INITIAL_LOSS_SCALE = 2.0 ** 15
_LOSS_SCALE_GROWTH_INTERVAL = 2000


# Updates of one run at most: a thousand times BERT's pretraining (1M steps), far
# below where step counters and learning-rate schedules overflow.
MAX_TRAIN_STEPS = 2 ** 31 - 1


@dataclasses.dataclass
class TrainingConfig:
  """Settings of the loop; every field comes from a flag of the run_*.py scripts."""
  output_dir: str
  num_train_steps: int                 # optimizer updates in the whole run
  learning_rate: float = 5e-5
  num_warmup_steps: int = 0
  train_batch_size: int = 32           # global examples per optimizer update
  gradient_accumulation_steps: int = 1  # micro-batches per update (memory saver)
  iterations_per_loop: int = 1000      # updates per tf.function call
  save_checkpoints_steps: int = 1000
  keep_checkpoint_max: int = 5
  log_every_steps: int = 100
  seed: int = 12345                    # data order, dropout, fresh heads
  optimizer: str = "adamw"             # adamw | lamb
  weight_decay_rate: float = 0.01
  clip_norm: float = 1.0
  compute_dtype: str = "float32"       # float32 | bfloat16 | float16
  jit_compile: bool = False            # XLA-compile the train step
  dynamic_padding: bool = True         # cut each batch to its longest sequence
  length_bucketing: bool = False       # batch similar lengths together (with dynamic_padding)
  # Micro-batches of a length-sorted batch (with dynamic_padding), or "auto":
  # input_pipeline.auto_sorted_splits() for tasks whose loss is a mean over examples, else 1.
  length_sorted_splits: int | str = 1
  eval_every_steps: int = 0            # 0: no evaluation during training
  early_stopping_patience: int = 0     # evaluations without improvement; 0 = off
  shuffle_buffer_size: int = 50000

  def validate(self):
    """Raises ValueError naming the flag for inconsistent settings."""
    splits = self.length_sorted_splits
    if splits != "auto" and (not isinstance(splits, int) or splits < 1):
      raise errors.UserError(f"--length_sorted_splits={splits} must be auto or a positive "
                             "integer (1 = off).")
    splits = 1 if splits == "auto" else splits   # auto picks a divisor (Trainer)
    positive = ("num_train_steps", "train_batch_size", "gradient_accumulation_steps",
                "iterations_per_loop", "save_checkpoints_steps", "log_every_steps")
    if self.num_train_steps > MAX_TRAIN_STEPS:
      raise errors.UserError(f"--num_train_steps={self.num_train_steps} is more than "
                             f"{MAX_TRAIN_STEPS:,} updates; check it.")
    flag_names = {"log_every_steps": "log_steps"}
    for name in positive:
      if getattr(self, name) <= 0:
        raise errors.UserError(f"--{flag_names.get(name, name)}={getattr(self, name)} must "
                               "be positive.")
    for name in ("eval_every_steps", "early_stopping_patience"):
      if getattr(self, name) < 0:   # step % -1 == 0: every step was evaluated
        raise errors.UserError(f"--{name}={getattr(self, name)} must be 0 (off) or positive.")
    if not 0 <= self.weight_decay_rate < float("inf"):   # also NaN
      raise errors.UserError(f"--weight_decay_rate={self.weight_decay_rate} must be a "
                             "number >= 0 (0: no decay).")
    if not self.learning_rate > 0:   # also NaN
      raise errors.UserError(f"--learning_rate={self.learning_rate} must be positive, "
                             "e.g. 5e-5.")
    accumulation = self.gradient_accumulation_steps
    if self.train_batch_size % (accumulation * splits):
      divisor = (f"--gradient_accumulation_steps={accumulation}" if splits == 1 else
                 "--gradient_accumulation_steps x --length_sorted_splits = "
                 f"{accumulation} x {splits}")
      raise errors.UserError(f"--train_batch_size={self.train_batch_size} is not divisible by "
                             f"{divisor}; the batch is split into equal micro-batches.")
    if self.length_bucketing and splits > 1:
      raise errors.UserError(
          f"--length_bucketing=true and --length_sorted_splits={splits} "
          "are two ways of grouping similar lengths; choose one (--length_sorted_splits "
          "keeps the batches of an unbucketed run).")
    if self.num_warmup_steps < 0 or self.num_warmup_steps > self.num_train_steps:
      raise errors.UserError(f"num_warmup_steps={self.num_warmup_steps} must be in "
                             f"[0, num_train_steps={self.num_train_steps}]; lower "
                             "--warmup_proportion or --num_warmup_steps.")
    if self.compute_dtype not in ("float32", "bfloat16", "float16"):
      # "auto" is resolved before the config is made (precision.resolve_compute_dtype).
      raise errors.UserError(f"--compute_dtype={self.compute_dtype} must be float32, "
                             "bfloat16 or float16.")



class Trainer:
  """Runs training, evaluation and prediction of a Task on a strategy."""

  def __init__(self, task, config, strategy=None):
    config.validate()
    self.task = task
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.chief = distribution.is_chief(self.strategy)
    # Where this process writes files only it reads (feature caches): output_dir
    # on the chief, a private folder on other workers, so that workers sharing
    # output_dir never write the same file.
    self.scratch_dir = config.output_dir
    if not self.chief:
      self.scratch_dir = tempfile.mkdtemp(prefix="bert_worker_")
      atexit.register(shutil.rmtree, self.scratch_dir, ignore_errors=True)
    self.num_replicas = self.strategy.num_replicas_in_sync
    # TPUs need static shapes; elsewhere padding is pure waste.
    self._dynamic_padding = config.dynamic_padding and not isinstance(
        self.strategy, tf.distribute.TPUStrategy)
    # How the input pipeline groups lengths: without dynamic padding (or for a
    # task whose training batches are never cut) grouping lengths gains nothing.
    self.length_bucketing = (self._dynamic_padding and config.length_bucketing and
                             task.train_sequence_keys != ())
    splits = config.length_sorted_splits if self._dynamic_padding else 1
    if splits == "auto":
      splits = (input_pipeline.auto_sorted_splits(config.train_batch_size // (
          config.gradient_accumulation_steps * self.num_replicas))
                if task.example_mean_loss and not self.length_bucketing else 1)
    if splits > 1 and not task.example_mean_loss:
      raise errors.UserError(
          f"--length_sorted_splits={splits}: this task's loss is not a mean over "
          "examples, so length-sorted micro-batches would change it; the flag is for "
          "run_classifier.py and run_multiple_choice.py.")
    self.sorted_group_size = config.train_batch_size if splits > 1 else 0
    self.splits = splits
    # Forward/backward passes per update on each replica: accumulation steps,
    # each split into length-sorted parts.
    self.micro_steps = config.gradient_accumulation_steps * splits
    if config.train_batch_size % (self.micro_steps * self.num_replicas):
      raise errors.UserError(
          f"--train_batch_size={config.train_batch_size} must be divisible by "
          f"gradient_accumulation_steps x length_sorted_splits x replicas = "
          f"{config.gradient_accumulation_steps} x {splits} x {self.num_replicas}.")
    self.micro_batch_size = config.train_batch_size // self.micro_steps
    with self.strategy.scope():
      task.build(config.compute_dtype, config.seed)
      self.optimizer = optimization.create_optimizer(
          config.learning_rate, config.num_train_steps, config.num_warmup_steps,
          optimizer_type=config.optimizer, weight_decay_rate=config.weight_decay_rate,
          clip_norm=config.clip_norm,
          # A head may train some variables faster (a CRF's transitions).
          learning_rate_multipliers=task.learning_rate_multipliers)
      self.trainable = task.variables()
      self._names = sorted(self.trainable)
      self.optimizer.build([self.trainable[n] for n in self._names])
      self._build_loop_state()
    self.manager = checkpoint_utils.CheckpointManager(
        config.output_dir, max_to_keep=config.keep_checkpoint_max)
    self._train_fn = None
    self._predict_fn = None
    self._stop_signal = None       # why training stops at this step (agreed by workers)
    self._evaluations = {}         # step -> metrics of the evaluations during training
    self._signal_received = None   # set by the SIGTERM/SIGINT/SIGHUP handler
    self._sum_fn = None

  # ------------------------------------------------------------ state

  def _build_loop_state(self):
    """Variables of the loop itself: gradient accumulators and the loss scale."""
    on_read = dict(synchronization=tf.VariableSynchronization.ON_READ,
                   aggregation=tf.VariableAggregation.NONE, trainable=False)
    self._accumulators = []
    if self.config.gradient_accumulation_steps > 1:
      # Per-replica sums of micro-batch gradients: all-reduced once per update.
      self._accumulators = [
          tf.Variable(tf.zeros_like(self.trainable[n]), name=f"{n}/grad_accum", **on_read)
          for n in self._names]
    first = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self._fp16 = self.config.compute_dtype == "float16"
    self.loss_scale = tf.Variable(_INITIAL_LOSS_SCALE if self._fp16 else 1.0,
                                  name="loss_scale", **first)
    self._good_steps = tf.Variable(0, dtype=tf.int64, name="loss_scale_good_steps", **first)
    self.skipped_steps = tf.Variable(0, dtype=tf.int64, name="skipped_steps", **first)

  @property
  def global_step(self):
    return int(self.optimizer.iterations.numpy())

  def checkpoint_tensors(self):
    """Everything a training checkpoint holds, by official name."""
    tensors = dict(self.trainable)
    tensors.update(self.optimizer.named_variables())
    if self._fp16:
      tensors["loss_scale"] = self.loss_scale
      tensors["loss_scale_good_steps"] = self._good_steps
    return tensors

  def restore(self, init_checkpoint=None, training=True,
              config_flag="the model's bert_config"):
    """Loads the weights the run starts from.

    A training run resumes from the newest intact checkpoint in output_dir
    (damaged newer ones are skipped with a warning); without one it loads
    `init_checkpoint`. A run that only evaluates or predicts uses an explicit
    `init_checkpoint` even when output_dir holds checkpoints, and that
    checkpoint must hold the task's head.

    Args:
      init_checkpoint: --init_checkpoint (a prefix or folder), or None.
      training: False when the run only evaluates or predicts.
      config_flag: how messages name the model config, e.g.
        "--bert_config_file=bert_config.json".

    Returns:
      "resumed", "initialized" or "fresh".

    Raises:
      errors.CheckpointError: a checkpoint that does not fit the model, a
        damaged --init_checkpoint, or an output_dir whose checkpoints are all
        damaged; errors.UserError: an evaluated checkpoint without the head.
    """
    prefixes = self.manager.prefixes()
    if init_checkpoint and not (training and prefixes):
      self._initialize(init_checkpoint, training, prefixes, config_flag)
      return "initialized"
    if prefixes:
      prefix = self._resume(prefixes, config_flag)
      if init_checkpoint:
        logging.warning("--init_checkpoint=%s is ignored: the run resumes from its own "
                        "checkpoint %s (step %d). To start from --init_checkpoint, use a "
                        "new --output_dir.", init_checkpoint, prefix, self.global_step)
      return "resumed"
    logging.warning("No --init_checkpoint: training from scratch, every weight random. "
                    "To fine-tune a pre-trained BERT pass --init_checkpoint="
                    "<model folder>/bert_model.ckpt.")
    return "fresh"

  def _initialize(self, init_checkpoint, training, prefixes, config_flag):
    """Loads the model's variables from init_checkpoint (not the optimizer's)."""
    report = checkpoint_utils.load_variables(self.trainable, init_checkpoint,
                                             config_flag=config_flag)
    for line in report.log_lines():
      logging.info(line)
    if training:
      return
    head = self.task.head_variable
    if head in report.missing:
      raise errors.UserError(
          f"--init_checkpoint={init_checkpoint} has no {self.task.head_name} head ({head}; "
          "a pre-trained model?): its outputs would come from random weights. Give a "
          "checkpoint trained with this head, or add --do_train=true.")
    step = checkpoint_utils.read_global_step(report.prefix)
    if prefixes and report.prefix != prefixes[-1]:
      logging.warning("Evaluating --init_checkpoint=%s (%s, step %d), not the newest "
                      "checkpoint of --output_dir=%s (%s): without --do_train the named "
                      "checkpoint wins.", init_checkpoint, report.prefix, step,
                      self.config.output_dir, prefixes[-1])
    else:
      logging.info("Evaluating %s (step %d).", report.prefix, step)

  def _resume(self, prefixes, config_flag):
    """Loads everything from the newest intact checkpoint of output_dir; returns its prefix."""
    damaged = []
    for prefix in reversed(prefixes):
      try:
        report = checkpoint_utils.load_variables(
            self.checkpoint_tensors(), prefix, flag_name="output_dir", require_all=True,
            config_flag=config_flag)
      except checkpoint_utils.DamagedCheckpointError as e:
        damaged.append(e)
        continue
      except errors.CheckpointError as e:
        raise errors.CheckpointError(
            f"{e} The run in --output_dir would be resumed: use a new --output_dir "
            "(or delete this one).") from None
      for e in damaged:
        logging.warning("Checkpoint %s is damaged: %s. Resuming from the newest intact one, "
                        "%s (step %d).", e.prefix, e.reason, prefix, self.global_step)
      logging.info("Resuming from %s (step %d).", prefix, self.global_step)
      for line in report.log_lines()[1:]:
        logging.info(line)
      return prefix
    raise errors.CheckpointError(
        f"--output_dir={self.config.output_dir}: every checkpoint of the run is damaged ("
        + "; ".join(f"{e.prefix}: {e.reason}" for e in damaged) + "). Delete them to "
        "start again from --init_checkpoint, or use a new --output_dir.")

  def save(self):
    """Writes model.ckpt-<global step> (chief only); returns its prefix."""
    if not self.chief:
      return None
    prefix = self.manager.save(self.global_step, self.checkpoint_tensors())
    logging.info("Saved checkpoint %s", prefix)
    return prefix

  # -------------------------------------------------------- train step

  def _compute_gradients(self, features):
    """Local loss and float32 gradients of one micro-batch on one replica.

    Dropout masks are a function of (run seed, each example's input_pipeline.STREAM_INDEX,
    site, position): the same whatever replica, micro-batch or padded length
    an example lands in, so the update does not depend on the topology.
    Embedding gradients stay tf.IndexedSlices (summed over length-sorted parts
    by concatenation) unless the step is XLA-compiled.
    """
    features = dict(features)
    if input_pipeline.STREAM_INDEX not in features:
      raise ValueError(f"The training batches have no {input_pipeline.STREAM_INDEX!r} "
                       "feature, which keys the dropout masks: build them with "
                       "input_pipeline.training_dataset.")
    dropout_seed = modeling.example_dropout_seeds(self.config.seed,
                                                  features.pop(input_pipeline.STREAM_INDEX))
    variables = [self.trainable[n] for n in self._names]
    with tf.GradientTape() as tape:
      loss = tf.cast(self.task.loss(features, True, dropout_seed), tf.float32)
      scaled = loss * self.loss_scale if self._fp16 else loss
    grads = tape.gradient(scaled, variables)
    grads = [tf.zeros_like(v) if g is None else _to_float32(g)
             for g, v in zip(grads, variables)]
    if self.config.jit_compile:
      grads = [tf.convert_to_tensor(g) for g in grads]
    return loss, grads

  def _apply(self, local_grads):
    """All-reduces summed micro-batch gradients and applies one update (replica context)."""
    ctx = tf.distribute.get_replica_context()
    count = float(self.micro_steps * self.num_replicas)
    grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_grads)
    if count > 1:   # a pass over every gradient: skipped when it would divide by 1
      grads = [g / count for g in grads]
    variables = [self.trainable[n] for n in self._names]
    if not self._fp16:
      return self.optimizer.apply_gradients(zip(grads, variables))
    grads = [g / self.loss_scale for g in grads]
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    norm = self.optimizer.apply_gradients(zip(grads, variables), apply_update=finite)
    self._update_loss_scale(finite)
    return norm

  def _update_loss_scale(self, finite):
    """Dynamic loss scaling: halve on overflow, double after a run of good steps."""
    grow = tf.logical_and(finite, self._good_steps + 1 >= _LOSS_SCALE_GROWTH_INTERVAL)
    new_scale = tf.where(finite, tf.where(grow, self.loss_scale * 2.0, self.loss_scale),
                         tf.maximum(self.loss_scale / 2.0, 1.0))
    self.loss_scale.assign(new_scale)
    self._good_steps.assign(tf.where(finite & ~grow, self._good_steps + 1,
                                     tf.zeros_like(self._good_steps)))
    self.skipped_steps.assign_add(tf.where(finite, tf.constant(0, tf.int64),
                                           tf.constant(1, tf.int64)))

  def _micro_step(self, micro_index, parts):
    """One micro-batch on one replica; the last one of a step applies the update.

    Args:
      micro_index: int, accumulation step within the update.
      parts: tuple of feature dicts, the micro-batch's length-sorted parts
        (one part without --length_sorted_splits).
    """
    loss, grads = 0.0, None
    for features in parts:
      if self._dynamic_padding:
        # Under XLA every new length compiles anew: round lengths up to 16.
        keys = self.task.train_sequence_keys
        features = input_pipeline.trim_to_longest(
            features, sequence_keys=self.task.sequence_keys if keys is None else keys,
            multiple=16 if self.config.jit_compile else 1)
      part_loss, part_grads = self._grad_fn(features)
      loss += part_loss / len(parts)
      grads = part_grads if grads is None else [
          _add_gradients(g, h) for g, h in zip(grads, part_grads)]
    # Dense gradients: embedding IndexedSlices would otherwise be all-gathered
    # and could not be summed into the accumulators.
    grads = [tf.convert_to_tensor(g) for g in grads]
    last = micro_index == self.config.gradient_accumulation_steps - 1
    if self._accumulators and not last:
      for acc, g in zip(self._accumulators, grads):
        acc.assign_add(g)
      return loss, tf.constant(0.0)
    if self._accumulators:
      grads = [acc.read_value() + g for acc, g in zip(self._accumulators, grads)]
    norm = self._apply(grads)
    for acc in self._accumulators:
      acc.assign(tf.zeros_like(acc))
    return loss, norm

  def _make_train_fn(self):
    """tf.function running `num_steps` updates; returns mean loss, last grad norm, first NaN step."""
    self._grad_fn = self._compute_gradients
    if self.config.jit_compile:
      self._grad_fn = tf.function(self._compute_gradients, jit_compile=True)
    mean = tf.distribute.ReduceOp.MEAN
    # The model and optimizer branch only on Python values: skipping AutoGraph's
    # rewrite of them saves seconds of tracing on every run.
    micro_step = tf.autograph.experimental.do_not_convert(self._micro_step)

    def one_step(iterator):
      """One optimizer update over all micro-batches: (mean loss, grad norm, step)."""
      step = self.optimizer.iterations.read_value()
      step_loss, norm = tf.constant(0.0), tf.constant(0.0)
      accumulation_steps = self.config.gradient_accumulation_steps
      for micro in range(accumulation_steps):
        parts = tuple(next(iterator) for _ in range(self.splits))
        loss, norm = self.strategy.run(micro_step, args=(micro, parts))
        step_loss += self.strategy.reduce(mean, loss, axis=None)
        norm = self.strategy.reduce(mean, norm, axis=None)
      return step_loss / accumulation_steps, norm, step

    # An explicit while_loop rather than AutoGraph's rewrite of a Python loop:
    # the step does not depend on AutoGraph reading this file's source.
    @tf.function(autograph=False)
    def train_steps(iterator, num_steps):
      def body(i, loss_sum, _, first_bad):
        step_loss, norm, step = one_step(iterator)
        bad = tf.logical_and(first_bad < 0, tf.logical_not(tf.math.is_finite(step_loss)))
        return i + 1, loss_sum + step_loss, norm, tf.where(bad, step, first_bad)

      _, loss_sum, norm, first_bad = tf.while_loop(
          lambda i, *_: i < num_steps, body,
          (tf.constant(0), tf.constant(0.0), tf.constant(0.0), tf.constant(-1, tf.int64)))
      return loss_sum / tf.cast(num_steps, tf.float32), norm, first_bad

    return train_steps

  # ------------------------------------------------------------ train

  def _sum_over_workers(self, values):
    """Sums a float64 vector over the workers; None when there is one worker."""
    local = len(self.strategy.extended.worker_devices) if self.num_replicas > 1 else 1
    if local == self.num_replicas:
      return None
    if self._sum_fn is None:
      def replica_sum(vector):
        # identity: a value on this replica's device (a function argument has none).
        return tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.identity(vector))
      self._sum_fn = tf.function(
          lambda vector: self.strategy.run(replica_sum, args=(vector,)), autograph=False)
    total = self._sum_fn(tf.constant(values, tf.float64))
    return self.strategy.experimental_local_results(total)[0].numpy() / local

  def _check_same_step_on_every_worker(self, step):
    """Raises errors.TrainingError unless every worker restored the same global step."""
    sums = self._sum_over_workers([step, step * step, 1.0])
    if sums is None:
      return
    total, squares, workers = sums
    if workers * squares != total * total:   # equal only when every step is the same
      raise errors.TrainingError(
          f"The workers resume from different steps (this one from {step}, on average "
          f"{total / workers:g}): every worker reads the checkpoints in --output_dir, so "
          "it must be storage that all of them read (gs://..., NFS), not a local disk.")

  def _share_stop_signal(self):
    """Stops at this step on SIGTERM/SIGINT/SIGHUP; with several workers, all stop if one did.

    A scheduler signals the workers one by one; a worker that stopped alone
    would leave the others waiting for it in the next all-reduce. One scalar
    all-reduce per host round trip makes them stop at the same step.
    """
    # One read: a signal arriving during the all-reduce waits for the next
    # round trip, so that no worker stops on what the others did not count.
    received = self._signal_received
    sums = self._sum_over_workers([1.0 if received else 0.0])
    if sums is not None and sums[0] > 0:
      received = received or "SIGTERM"   # another worker's: stop as preempted too
    self._stop_signal = self._stop_signal or received

  def _install_signal_handlers(self):
    self._stop_signal = self._signal_received = None
    def handler(signum, _):
      self._signal_received = signal.Signals(signum).name
    return errors.install_stop_handler(handler)

  def _next_boundary(self, step):
    """The next step at which the host must log, save, evaluate or stop."""
    c = self.config
    candidates = [c.num_train_steps, step + c.iterations_per_loop]
    for every in (c.log_every_steps, c.save_checkpoints_steps, c.eval_every_steps):
      if every > 0:
        candidates.append((step // every + 1) * every)
    return min(candidates)

  def evaluation_at(self, step):
    """The metrics of the evaluation during training at `step`, or None."""
    return self._evaluations.get(step)

  def describe(self, what):
    """The run's summary block: data, steps, batch, devices and precision."""
    c = self.config
    try:
      devices = self.strategy.extended.worker_devices
    except RuntimeError:   # the default strategy: TensorFlow's default device
      devices = [d.name for d in (tf.config.list_logical_devices("GPU") or
                                  tf.config.list_logical_devices("CPU"))[:1]]
    devices = sorted({d.split("/")[-1] for d in devices})
    split = (f" = {c.gradient_accumulation_steps} accumulated x {self.splits} length-"
             f"sorted x {self.micro_batch_size // self.num_replicas} x "
             f"{self.num_replicas} replicas" if self.micro_steps * self.num_replicas > 1
             else "")
    return "\n".join([
        f"***** Training from step {self.global_step} to {c.num_train_steps} *****",
        f"  data:     {what}",
        f"  steps:    {self.global_step} -> {c.num_train_steps} ({c.num_warmup_steps} "
        f"warm-up), learning rate {c.learning_rate:g}, {c.optimizer}",
        f"  batch:    {c.train_batch_size}{split}",
        f"  devices:  {self.num_replicas} replica(s) on {', '.join(devices)} "
        f"({type(self.strategy).__name__}), {c.compute_dtype}"
        + (", XLA" if c.jit_compile else ""),
        f"  output:   {c.output_dir} (checkpoint every {c.save_checkpoints_steps} steps, "
        f"log every {c.log_every_steps})"])

  def train(self, examples, num_examples, evaluator=None, best_metric=None,
            higher_is_better=True, description=None):
    """Trains until `num_train_steps`, resuming at the current global step.

    Args:
      examples: callable() -> unbatched tf.data.Dataset of the training
        examples (dicts of Tensors), one pass in a fixed order. The Trainer
        builds the input pipeline from it (input_pipeline.training_dataset:
        seeded epochs, length grouping, sharding, resume position).
      num_examples: int, examples in one pass of `examples`.
      evaluator: optional callable() -> {metric: float}, run every
        `eval_every_steps` updates.
      best_metric: key of evaluator's dict that picks the best checkpoint.
      higher_is_better: direction of best_metric.
      description: what is trained on, for the summary block (e.g. "MRPC, 3668
        examples, 3 epochs").

    Returns:
      dict with "loss" (mean of the last logging window) and "global_step".

    Raises:
      errors.TrainingError: the loss became NaN/Inf (step named).
      errors.TrainingInterrupted: SIGTERM/SIGINT/SIGHUP; a checkpoint was saved first.
    """
    c = self.config
    start = self.global_step
    self._check_same_step_on_every_worker(start)
    iterator = self._train_iterator(self._input_fn(examples, num_examples, start))
    if self._train_fn is None:
      self._train_fn = self._make_train_fn()
    writer = (tf.summary.create_file_writer(os.path.join(c.output_dir, "train"))
              if self.chief else tf.summary.create_noop_writer())
    tracker = _BestTracker(c, higher_is_better)
    previous_handlers = self._install_signal_handlers()
    step, last_loss = start, float("nan")
    window_start, window_time = start, time.time()
    logging.info("%s", self.describe(description or type(self.task).__name__))
    try:
      while step < c.num_train_steps:
        # The first update is logged at once (progress within seconds); its rate
        # includes tracing the step.
        boundary = start + 1 if step == start else self._next_boundary(step)
        last_loss, norm = self._run_chunk(iterator, boundary - step)
        step = self.global_step
        if (step % c.log_every_steps == 0 or step >= c.num_train_steps or
            step == start + 1):
          now = time.time()
          self._log(writer, step, last_loss, norm, step - window_start, now - window_time)
          window_start, window_time = step, now
        self._share_stop_signal()
        pause = time.time()
        stop = self._save_evaluate_or_stop(step, evaluator, tracker, best_metric)
        # examples/s counts training only: saving and evaluating move the window on.
        window_time += time.time() - pause
        if stop:
          break
    finally:
      errors.restore_handlers(previous_handlers)
      writer.flush()
      if self.chief:
        curves.write_curves_quietly(c.output_dir)
    return {"loss": last_loss, "global_step": step}

  def _input_fn(self, examples, num_examples, start):
    """input_fn(input_context) of the training batches, positioned at step `start`."""
    c = self.config
    per_replica = self.micro_batch_size // self.num_replicas

    def input_fn(ctx):
      return input_pipeline.training_dataset(
          examples(), num_examples, per_replica, c.seed, start * c.train_batch_size,
          shuffle_buffer_size=c.shuffle_buffer_size, input_context=ctx,
          length_bucketing=self.length_bucketing, sorted_group_size=self.sorted_group_size)

    return input_fn

  def _train_iterator(self, input_fn):
    """Distributed iterator over the batches of input_fn(input_context)."""
    return iter(self.strategy.distribute_datasets_from_function(input_fn))

  def update_runner(self, dataset):
    """run(num_steps): updates on the batches of `dataset`, with no log or checkpoint.

    For timing the step (benchmark.py); `dataset` yields per-replica batches.
    """
    iterator = self._train_iterator(lambda ctx: dataset)
    if self._train_fn is None:
      self._train_fn = self._make_train_fn()
    return lambda num_steps: self._run_chunk(iterator, num_steps)

  def _run_chunk(self, iterator, num_steps):
    """Runs `num_steps` updates; returns (mean loss, last grad norm) as floats."""
    loss, norm, first_bad = self._train_fn(iterator, tf.constant(num_steps, tf.int32))
    if int(first_bad) >= 0:
      raise errors.TrainingError(
          f"The loss became NaN or Inf at step {int(first_bad)}: lower "
          "--learning_rate or check the input data"
          + ("" if self.config.compute_dtype == "float32" else
             ", or use --compute_dtype=float32")
          + f". The last good checkpoint is {self.manager.latest()}.")
    return float(loss), float(norm)

  def _save_evaluate_or_stop(self, step, evaluator, tracker, best_metric):
    """Saves and evaluates when due; returns True to stop early.

    Raises:
      errors.TrainingInterrupted: a signal arrived (after saving).
    """
    c = self.config
    last = step >= c.num_train_steps
    if step % c.save_checkpoints_steps == 0 or last:
      self.save()
    stop = False
    if evaluator and c.eval_every_steps and (step % c.eval_every_steps == 0 or last):
      self._evaluations[step] = dict(evaluator(), global_step=step)
      stop = tracker.update(self, step, self._evaluations[step], best_metric)
      if stop:
        logging.info("Early stopping at step %d: %s did not improve in %d evaluations.",
                     step, best_metric, c.early_stopping_patience)
    if (stop or self._stop_signal) and step % c.save_checkpoints_steps and not last:
      self.save()
    if self._stop_signal and not stop:
      raise errors.TrainingInterrupted(step, self._stop_signal)
    return stop

  def _log(self, writer, step, loss, norm, steps, seconds):
    """One progress line and the TensorBoard scalars of a logging window."""
    c = self.config
    lr = float(self.optimizer.learning_rate(tf.constant(max(step - 1, 0), tf.int64)))
    rate = steps * c.train_batch_size / seconds if seconds > 0 else float("nan")
    remaining = (c.num_train_steps - step) * seconds / steps if steps else 0.0
    extra = ""
    if self._fp16:
      # read_value(): a MirroredVariable has no float() (several GPUs).
      extra = (f" loss_scale={float(self.loss_scale.read_value()):g} "
               f"skipped={int(self.skipped_steps.read_value())}")
    logging.info("step %d/%d loss=%.4f lr=%.3g grad_norm=%.3f examples/s=%.1f eta=%s%s",
                 step, c.num_train_steps, loss, lr, norm, rate,
                 _format_seconds(remaining), extra)
    with writer.as_default():
      summary_scalar("loss", loss, step)
      summary_scalar("learning_rate", lr, step)
      summary_scalar("grad_norm", norm, step)
      summary_scalar("examples_per_second", rate, step)
      if self._fp16:
        summary_scalar("loss_scale", float(self.loss_scale.read_value()), step)

  # ------------------------------------------------------------ predict

  def _predict_batch(self, batch):
    """Runs task.predict on one host batch of numpy arrays, split over replicas."""
    if self._predict_fn is None:
      self._predict_fn = tf.function(self.task.predict, reduce_retracing=True,
                                     autograph=False,
                                     jit_compile=self.config.jit_compile or None)
    # Prediction needs no communication: every worker predicts the whole batch
    # on its own replicas (with several workers, strategy.run returns only
    # this worker's results).
    local = (len(self.strategy.extended.worker_devices) if self.num_replicas > 1 else 1)
    if local == 1:
      with self.strategy.scope():
        return {k: v.numpy() for k, v in self._predict_fn(batch).items()}
    rows = len(next(iter(batch.values())))
    padded_rows = -(-rows // local) * local
    share = padded_rows // local
    padded = {k: np.concatenate([v, np.repeat(v[-1:], padded_rows - rows, axis=0)])
              for k, v in batch.items()}
    # Replica ids are worker-major: this worker's replicas are consecutive.
    values = self.strategy.experimental_distribute_values_from_function(
        lambda ctx: {k: v[ctx.replica_id_in_sync_group % local * share:
                          (ctx.replica_id_in_sync_group % local + 1) * share]
                     for k, v in padded.items()})
    result = self.strategy.run(self._predict_fn, args=(values,))
    merged = {k: np.concatenate([t.numpy() for t in
                                 self.strategy.experimental_local_results(v)])
              for k, v in result.items()}
    return {k: v[:rows] for k, v in merged.items()}

  def predict(self, chunks, batch_size, length_key="input_mask"):
    """Per-example outputs of task.predict, in input order.

    Within each chunk, examples are sorted by length and every batch is cut to
    its longest example, so short sentences cost little (the results equal
    fixed-length padding: padding is masked out). On TPU shapes stay fixed.

    Args:
      chunks: iterable of {name: np.ndarray [n, ...]} (e.g. a tf.data
        dataset batched in thousands, as numpy).
      batch_size: examples per prediction batch.
      length_key: [n, ..., S] 0/1 array whose row sums are the lengths.
        The arrays named in task.sequence_keys are cut along their last axis.

    Returns:
      {name: np.ndarray [total, ...]} concatenated over chunks.
    """
    results = [predict_by_length(self._predict_batch, chunk, batch_size,
                                 self.task.sequence_keys, length_key, self._dynamic_padding,
                                 self.config.jit_compile)
               for chunk in chunks]
    results = [r for r in results if r]
    if not results:
      return {}
    return {k: concat_ragged([r[k] for r in results]) for k in results[0]}


def _to_float32(gradient):
  """A gradient (Tensor or tf.IndexedSlices) in float32."""
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(tf.cast(gradient.values, tf.float32), gradient.indices,
                            gradient.dense_shape)
  return tf.cast(gradient, tf.float32)


def _add_gradients(a, b):
  """a + b; two tf.IndexedSlices are concatenated (densified once, later)."""
  if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
    return tf.IndexedSlices(tf.concat([a.values, b.values], 0),
                            tf.concat([a.indices, b.indices], 0), a.dense_shape)
  return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


def predict_by_length(predict_batch, arrays, batch_size, sequence_keys,
                      length_key="input_mask", dynamic=True, jit_compile=False):
  """predict_batch over numpy arrays, in batches of examples of similar length.

  The examples are sorted by length and every batch is cut to its longest
  example, so short sentences cost little; the results equal fixed-length
  padding (padding is masked out) and come back in input order.

  Args:
    predict_batch: {name: array [b, ..., s]} -> {name: np.ndarray [b, ...]}.
    arrays: {name: np.ndarray [n, ...]}.
    sequence_keys: the names cut along their last axis.
    length_key: [n, ..., S] 0/1 array whose row sums are the lengths.
    dynamic: False keeps the input order and the full length (TPU: fixed shapes).
    jit_compile: lengths rounded up to a multiple of 16 (XLA compiles once per length).

  Returns:
    {name: np.ndarray [n, ...]}, or {} when there are no examples.
  """
  mask = arrays[length_key]
  if not len(mask):
    return {}
  seq_length = mask.shape[-1]
  lengths = mask.reshape(len(mask), -1, seq_length).sum(-1).max(-1)
  order = np.argsort(-lengths, kind="stable") if dynamic else np.arange(len(mask))
  outputs = []
  for begin in range(0, len(order), batch_size):
    index = order[begin:begin + batch_size]
    longest = max(int(lengths[index].max()), 1) if dynamic else seq_length
    if dynamic and jit_compile:
      longest = min(-(-longest // 16) * 16, seq_length)
    outputs.append(predict_batch({k: v[index][..., :longest] if k in sequence_keys
                                  else v[index] for k, v in arrays.items()}))
  inverse = np.argsort(order, kind="stable")
  return {k: concat_ragged([o[k] for o in outputs])[inverse] for k in outputs[0]}


def concat_ragged(arrays):
  """Concatenates along axis 0, zero-padding trailing axes cut to different lengths."""
  if all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
    return np.concatenate(arrays)
  shape = [max(a.shape[i] for a in arrays) for i in range(1, arrays[0].ndim)]
  padded = [np.pad(a, [(0, 0)] + [(0, s - d) for s, d in zip(shape, a.shape[1:])])
            for a in arrays]
  return np.concatenate(padded)


def _scalar_metadata():
  metadata = summary_pb2.SummaryMetadata()
  metadata.plugin_data.plugin_name = "scalars"
  return metadata.SerializeToString()


_SCALAR_METADATA = _scalar_metadata()


def summary_scalar(name, value, step):
  """Writes a TensorBoard scalar to the default writer.

  The same record tf.summary.scalar writes, without needing the tensorboard
  package at training time (install it only where you view the logs).
  """
  tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                   metadata=_SCALAR_METADATA)


def _format_seconds(seconds):
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_eval_summaries(output_dir, metrics, step):
  """Writes an evaluation's numeric metrics as TensorBoard scalars under output_dir/eval."""
  writer = tf.summary.create_file_writer(os.path.join(output_dir, "eval"))
  with writer.as_default():
    for key, value in metrics.items():
      if key != "global_step" and isinstance(value, (int, float)):
        summary_scalar(key, value, step)
  writer.flush()


def report_results(output_dir, results, chief, file_name="eval_results.txt",
                   summaries=True, step=None):
  """Logs a run's final results and writes them: `key = value` lines, TensorBoard too.

  Args:
    output_dir: the run folder.
    results: {name: value}, with global_step.
    chief: whether this process writes files.
    file_name: eval_results.txt, or e.g. test_results.txt.
    summaries: also write the numbers as TensorBoard scalars under eval/ (dev
      sets; not test sets).
    step: the step of the summaries (default: results["global_step"]).
  """
  logging.info("***** %s *****  %s", file_name, run_info.format_results(results))
  if chief:
    run_info.write_results(os.path.join(output_dir, file_name), results)
    if summaries:
      write_eval_summaries(output_dir, results,
                           int(results.get("global_step", 0) if step is None else step))


def _read_best_results(output_dir):
  """{key: str} of output_dir/best/eval_results.txt, or {} when there is none."""
  path = os.path.join(output_dir, "best", "eval_results.txt")
  if not tf.io.gfile.exists(path):
    return {}
  return run_info.read_merged_results(path)


class _BestTracker:
  """Keeps the best checkpoint by an eval metric in output_dir/best; early stopping."""

  def __init__(self, config, higher_is_better):
    self.config = config
    self.sign = 1.0 if higher_is_better else -1.0
    self.best = None
    self.bad_evals = 0
    # A resumed run knows its best so far: a worse evaluation must not replace it.
    self.best_results = _read_best_results(config.output_dir)

  def update(self, trainer, step, metrics, metric_name):
    """Records one evaluation; returns True when training should stop early."""
    c = self.config
    metrics = dict(metrics, global_step=step)
    if trainer.chief:
      run_info.append_results(os.path.join(c.output_dir, "eval_history.txt"), metrics)
      write_eval_summaries(c.output_dir, metrics, step)
    logging.info("Evaluation at step %d: %s", step, run_info.format_results(metrics))
    if not metric_name or metric_name not in metrics:
      return False
    if self.best is None and metric_name in self.best_results:
      self.best = float(self.best_results[metric_name])
    value = float(metrics[metric_name])
    if self.best is None or self.sign * value > self.sign * self.best:
      self.best, self.bad_evals = value, 0
      if trainer.chief:
        best_dir = os.path.join(c.output_dir, "best")
        checkpoint_utils.CheckpointManager(best_dir, max_to_keep=1).save(
            step, trainer.checkpoint_tensors())
        run_info.write_results(os.path.join(best_dir, "eval_results.txt"), metrics)
      logging.info("New best %s=%.4f at step %d (saved to %s/best).", metric_name,
                   value, step, c.output_dir)
      return False
    self.bad_evals += 1
    patience = c.early_stopping_patience
    return patience > 0 and self.bad_evals >= patience
