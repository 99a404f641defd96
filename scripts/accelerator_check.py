r"""Self-check of this server's CPU, GPUs and TPU: does BERT fine-tuning compute right here?

On every device kind TensorFlow finds (the CPU; the GPUs; a TPU if
TPUClusterResolver finds one) it fine-tunes a BERT classifier for a few steps
on synthetic token ids of MRPC's shape (sequence length 128, 2 labels, batch
32) in three variants:

  float32         the reference's numerics
  mixed_bfloat16  (TPU; CPU with AVX512_BF16/AMX-BF16) or mixed_float16 (GPU,
                  with the training loop's dynamic loss scaling); float32 variables
  xla_float32     float32 with the train step XLA-compiled (jit_compile)

each on one device and mirrored over all devices of the kind (MirroredStrategy;
TPUStrategy over all cores). Every run starts from the same initial weights
and trains on the same batches with dropout off, so its loss at every step must
equal that of the float32 run on one CPU device (the reference) up to rounding:
a row PASSes when max over steps |loss - reference loss| <= the bound of its
compute dtype:

  float32   1e-4   (TensorFloat-32 is turned off: GPUs multiply float32 in
                    float32, and XLA (TPUs) at HIGHEST precision, not in
                    10-bit or bfloat16 passes)
  bfloat16  5e-2   (8-bit mantissa: relative rounding 2^-9)
  float16   1e-2   (11-bit mantissa: relative rounding 2^-12)

Measured on a 2-core AVX512_BF16 CPU (config base, batch 8, 4 steps,
learning rate 1e-4): XLA float32 3.6e-7, bfloat16 3.9e-3, float16 (emulated,
3 steps, batch 4) 7.0e-4. A bug of the size of a wrong learning rate
(--perturb: 100x) gave 0.23 (--short, mirrored over 2 CPU devices). If
float16 loss scaling skips an update (gradients overflowed), the run then
rightly leaves the reference's path, so only the steps up to that one are
compared (the note says so).

The table gives, per row, the median time of a training step (the first step,
which traces and compiles, left out), examples/s, MFU (model FLOPs of a step
per second, flops.py, over the matmul peak of the devices the row used,
measured in this run with a timed large matmul in the row's dtype on that
device) and the loss delta against the reference. Rows that cannot run here
are SKIPPED with the reason ("no GPU found: GPU rows skipped"). Exit status 0
when every row that ran passed, 1 when one failed.

  bash scripts/accelerator_check.sh                 # tiny config, 10 steps
  bash scripts/accelerator_check.sh --config=base   # BERT-base
  bash scripts/accelerator_check.sh --short         # a quick smoke run (~1 min on CPU)
"""

import dataclasses
import glob
import math
import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

import tf_defaults  # noqa: F401,E402  (first: TensorFlow's CPU settings)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import errors  # noqa: E402
import flops  # noqa: E402
import input_pipeline  # noqa: E402
import modeling  # noqa: E402
import precision  # noqa: E402
import tasks  # noqa: E402
import training  # noqa: E402

FLAGS = flags.FLAGS

# The largest |loss - reference loss| over the steps that passes, by compute dtype.
BOUNDS = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}
VARIANTS = ("float32", "mixed", "xla")
STRATEGIES = ("one_device", "mirrored")
STRATEGY_LABELS = {"one_device": "OneDevice", "mirrored": "Mirrored"}
NUM_LABELS = 2   # MRPC: paraphrase or not
# --short: a smoke run that finishes in about a minute on two CPU cores.
SHORT = dict(steps=3, batch_size=8, peak_size=1024)


def define_flags():
  flags.DEFINE_enum("config", "tiny", sorted(flops.CONFIGS), "BERT shape (flops.CONFIGS).")
  flags.DEFINE_bool("short", False, "A quick run: " + ", ".join(
      f"--{k}={v}" for k, v in SHORT.items()) + " (flags given explicitly win).")
  flags.DEFINE_integer("steps", 10, "Training steps per run (the first is not timed).")
  flags.DEFINE_integer("batch_size", 32, "Global examples per step (MRPC's recipe: 32).")
  flags.DEFINE_integer("seq_length", 128, "Tokens per example (MRPC's recipe: 128).")
  flags.DEFINE_float("learning_rate", 2e-5, "AdamW learning rate, no warm-up (MRPC's recipe).")
  flags.DEFINE_integer("seed", 12345, "Seed of the initial weights and the data.")
  flags.DEFINE_list("variants", list(VARIANTS), "Variants to run: " + ", ".join(VARIANTS)
                    + " (float32 always runs: its CPU run is the reference).")
  flags.DEFINE_list("strategies", list(STRATEGIES), "Strategies to run: "
                    + ", ".join(STRATEGIES) + " (mirrored: MirroredStrategy or TPUStrategy "
                    "over all devices of a kind).")
  flags.DEFINE_string("tpu", None, "TPU name or grpc://address for TPUClusterResolver "
                      "(default: $TPU_NAME, or the local TPU of a TPU VM).")
  flags.DEFINE_integer("cpu_devices", 1, "Split the CPU into this many logical devices, "
                       "so that the mirrored rows run on a machine without GPUs (refused "
                       "where there are GPUs).")
  flags.DEFINE_integer("peak_size", 2048, "Size of the timed square matmul on CPUs "
                       "(8192 on GPUs and TPUs).")
  flags.DEFINE_integer("peak_repeats", 10, "Timed calls of the peak matmul; the best is kept.")
  flags.DEFINE_enum("perturb", None, list(VARIANTS), "Tests the check itself: trains "
                    "this variant with 100x the learning rate (the reference run excepted), "
                    "so that its rows must FAIL.")


# ------------------------------------------------------------------ devices

@dataclasses.dataclass
class DeviceKind:
  """One kind of device of this machine and how the check runs on it."""
  kind: str                      # "CPU" | "GPU" | "TPU"
  names: list                    # logical device names, e.g. ["/device:GPU:0", ...]
  description: str               # for the header, e.g. "2 x NVIDIA A100 (8.0)"
  mixed_dtype: str = None        # dtype of the mixed variant; None: not run
  mixed_reason: str = ""         # why the mixed variant runs or not
  tpu_resolver: object = None    # TPUClusterResolver (TPU only)
  tpu_topology: object = None    # tf.tpu.experimental.Topology (TPU only)


def split_cpu(count):
  """Splits the CPU into `count` logical devices (before TensorFlow initializes them)."""
  if count > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def cpu_kind():
  """The CPU; its mixed variant is bfloat16 where precision.py's rule picks it."""
  names = [d.name for d in tf.config.list_logical_devices("CPU")]
  facts = precision.DeviceFacts(
      "cpu", cpu_flags=precision.read_cpu_flags(),
      onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0", platform=sys.platform)
  dtype, reason = precision.choose_compute_dtype(facts)
  return DeviceKind("CPU", names, f"{os.cpu_count()} cores, {len(names)} logical device(s)",
                    mixed_dtype="bfloat16" if dtype == "bfloat16" else None,
                    mixed_reason=reason)


def gpu_kind():
  """The GPUs, or None. The mixed variant is float16 (every CUDA GPU multiplies it)."""
  gpus = tf.config.list_physical_devices("GPU")
  if not gpus:
    return None
  names = [d.name for d in tf.config.list_logical_devices("GPU")]
  details = [tf.config.experimental.get_device_details(gpu) for gpu in gpus]
  shown = sorted({f"{d.get('device_name', 'GPU')} "
                  f"({'.'.join(map(str, d.get('compute_capability', ('?',))))})"
                  for d in details})
  return DeviceKind("GPU", names, f"{len(names)} x " + ", ".join(shown),
                    mixed_dtype="float16",
                    mixed_reason="GPUs run mixed_float16 with dynamic loss scaling")


def tpu_address(flag_value):
  """The TPU to ask for: the flag, $TPU_NAME, "local" on a TPU VM, or None."""
  if flag_value:
    return flag_value
  if os.environ.get("TPU_NAME"):
    return os.environ["TPU_NAME"]
  # TPU VMs expose their chips as /dev/accel* (v2-v4) or VFIO groups (v5+).
  if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
    return "local"
  return None


def tpu_kind(flag_value):
  """(the TPU or None, why there is none)."""
  address = tpu_address(flag_value)
  if address is None:
    return None, "no TPU found (no --tpu, no $TPU_NAME, not a TPU VM): TPU rows skipped"
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    topology = tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, OSError, tf.errors.OpError) as e:
    reason = str(getattr(e, "message", None) or e).splitlines()[0][:160]
    return None, f"no TPU answered at {address} ({reason}): TPU rows skipped"
  names = [d.name for d in tf.config.list_logical_devices("TPU")]
  return DeviceKind("TPU", names, f"{len(names)} TPU cores at {address}",
                    mixed_dtype="bfloat16", mixed_reason="a TPU multiplies bfloat16 natively",
                    tpu_resolver=resolver, tpu_topology=topology), None


def make_strategy(device, name):
  """(tf.distribute strategy, number of replicas), or (None, why not) for `name`."""
  count = len(device.names)
  if device.kind == "TPU":
    if name == "one_device":
      assignment = tf.tpu.experimental.DeviceAssignment.build(
          device.tpu_topology, num_replicas=1)
      return tf.distribute.TPUStrategy(device.tpu_resolver,
                                       experimental_device_assignment=assignment), 1
    return tf.distribute.TPUStrategy(device.tpu_resolver), count
  if name == "one_device":
    return tf.distribute.OneDeviceStrategy(device.names[0]), 1
  if count < 2:
    hint = " (--cpu_devices=2 splits the CPU)" if device.kind == "CPU" else ""
    return None, f"one {device.kind} device: nothing to mirror over{hint}"
  return tf.distribute.MirroredStrategy(device.names), count


# ------------------------------------------------------------------ runs

@dataclasses.dataclass
class Settings:
  """What every run shares."""
  bert_config: modeling.BertConfig
  steps: int
  batch_size: int               # global, split over the replicas
  seq_length: int
  learning_rate: float
  seed: int
  perturb: str = None           # variant trained with 100x the learning rate


def dropout_free_config(shape, seq_length):
  """The BertConfig of flops.CONFIGS `shape` with dropout off (runs must be comparable)."""
  return modeling.BertConfig(
      max_position_embeddings=max(512, seq_length), type_vocab_size=2,
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
      extra={"classifier_dropout": 0.0}, **shape)


def synthetic_mrpc(settings):
  """{feature: int32 [steps * batch_size, seq_length] or [steps * batch_size]} + stream index.

  Sentence pairs of MRPC's shape: [CLS] a [SEP] b [SEP] filling every position
  (so that each step does the full FLOPs of flops.py), random labels.
  """
  rng = np.random.default_rng(settings.seed)
  n, s = settings.steps * settings.batch_size, settings.seq_length
  ids = rng.integers(1000, settings.bert_config.vocab_size, (n, s))
  ids[:, 0], ids[:, s // 2], ids[:, -1] = 101, 102, 102        # [CLS] ... [SEP] ... [SEP]
  segments = np.zeros((n, s), np.int32)
  segments[:, s // 2 + 1:] = 1
  return {"input_ids": ids.astype(np.int32), "input_mask": np.ones((n, s), np.int32),
          "segment_ids": segments,
          "label_ids": rng.integers(0, NUM_LABELS, n).astype(np.int32),
          # Each example's index in the stream keys its dropout masks (training.py).
          input_pipeline.STREAM_INDEX: np.arange(n, dtype=np.int64)}


def initial_weights(settings):
  """{official name: float32 array}: the weights every run starts from."""
  task = tasks.ClassifierTask(settings.bert_config, NUM_LABELS)
  with tf.device("/cpu:0"):
    task.build("float32", settings.seed)
  return {name: v.numpy() for name, v in task.variables().items()}


def fine_tune(settings, strategy, compute_dtype, jit_compile, weights, data, perturbed):
  """Trains `settings.steps` steps from `weights` on `data`.

  Returns:
    (loss of each step, seconds of each step, the steps whose update float16
    loss scaling skipped (gradients overflowed)).
  """
  with tempfile.TemporaryDirectory() as output_dir:
    config = training.TrainingConfig(
        output_dir=output_dir, num_train_steps=settings.steps,
        learning_rate=settings.learning_rate * (100 if perturbed else 1),
        train_batch_size=settings.batch_size, iterations_per_loop=1,
        compute_dtype=compute_dtype, jit_compile=jit_compile, dynamic_padding=False,
        seed=settings.seed)
    trainer = training.Trainer(tasks.ClassifierTask(settings.bert_config, NUM_LABELS),
                               config, strategy)
    for name, variable in trainer.task.variables().items():
      variable.assign(weights[name])

    # In order: step k's global batch is rows [k * batch, (k + 1) * batch) on any
    # number of replicas (each replica takes the next per-replica batch).
    run_steps = trainer.update_runner(tf.data.Dataset.from_tensor_slices(data).batch(
        settings.batch_size // trainer.num_replicas, drop_remainder=True).repeat())
    losses, seconds, skipped = [], [], []
    for step in range(1, settings.steps + 1):
      start = time.perf_counter()
      loss, _ = run_steps(1)          # a float: the step has finished on the device
      seconds.append(time.perf_counter() - start)
      losses.append(loss)
      if int(trainer.skipped_steps.read_value()) > len(skipped):
        skipped.append(step)
  return losses, seconds, skipped


@dataclasses.dataclass
class Row:
  """One line of the table."""
  device: str
  variant: str
  strategy: str
  result: str                    # PASS | FAIL | SKIPPED
  note: str = ""
  step_seconds: float = None
  examples_per_second: float = None
  mfu: float = None
  loss_delta: float = None
  bound: float = None


def variant_setup(device, variant):
  """(compute dtype, jit_compile, row name) of `variant` on `device`, or (None, why, name)."""
  if variant == "float32":
    return "float32", False, "float32"
  if variant == "xla":
    return "float32", True, "xla_float32"
  if device.mixed_dtype is None:
    return None, f"mixed precision skipped: {device.mixed_reason}", "mixed"
  return device.mixed_dtype, False, f"mixed_{device.mixed_dtype}"


class Peaks:
  """Matmul peaks in GFLOP/s by (device name, dtype), measured once each."""

  def __init__(self, cpu_size, repeats):
    self.cpu_size, self.repeats = cpu_size, repeats
    self.measured = {}

  def get(self, device_name, dtype):
    key = (device_name, dtype)
    if key not in self.measured:
      size = self.cpu_size if "CPU" in device_name.upper() else 8192
      try:
        self.measured[key] = flops.measure_matmul_peak(size, self.repeats, dtype, device_name)
      except (tf.errors.OpError, ValueError) as e:   # e.g. no kernel for the dtype
        print(f"matmul peak {device_name} {dtype}: not measured ({str(e).splitlines()[0]})")
        self.measured[key] = None
      else:
        print(f"matmul peak {device_name} {dtype} ({size}x{size}): "
              f"{self.measured[key]:.1f} GFLOP/s")
    return self.measured[key]


def compare(losses, reference, bound):
  """(max |loss - reference| over the steps, PASS or FAIL); NaN fails."""
  assert len(losses) == len(reference), (len(losses), len(reference))
  deltas = [abs(a - b) for a, b in zip(losses, reference)]
  delta = float("nan") if any(math.isnan(d) for d in deltas) else max(deltas)
  return delta, "PASS" if delta <= bound else "FAIL"   # NaN compares False: FAIL


def run_row(device, variant, strategy, replicas, settings, context):
  """Runs one variant on one strategy; returns its Row (reference losses in `context`)."""
  dtype, jit_or_reason, name = variant_setup(device, variant)
  reference = context.get("reference") is None   # the first run: float32 on one CPU device
  label = strategy_label(strategy, replicas)
  if dtype is None:
    return Row(device.kind, name, label, "SKIPPED", jit_or_reason)
  if settings.batch_size % replicas:
    return Row(device.kind, name, label, "SKIPPED", f"--batch_size={settings.batch_size} "
               f"is not divisible by {replicas} replicas")
  try:
    losses, seconds, skipped = fine_tune(settings, strategy, dtype, jit_or_reason,
                                         context["weights"], context["data"],
                                         settings.perturb == variant and not reference)
  except errors.TrainingError as e:
    return Row(device.kind, name, label, "FAIL", str(e).split(":")[0],
               bound=BOUNDS[dtype])
  if reference:
    context["reference"] = losses
  step = statistics.median(seconds[1:])
  # After an update that loss scaling skipped, the run rightly leaves the
  # reference's path: compare the steps up to that one (its loss came first).
  compared = skipped[0] if skipped else len(losses)
  delta, result = compare(losses[:compared], context["reference"][:compared], BOUNDS[dtype])
  peak = context["peaks"].get(device.names[0], dtype)
  # Logical CPU devices share the same cores: their peak is the CPU's.
  peak_devices = 1 if device.kind == "CPU" else replicas
  model_flops = flops.flops_per_sequence(context["shape"], settings.seq_length, True)
  mfu = (None if peak is None else
         model_flops * settings.batch_size / step / (peak * 1e9 * peak_devices))
  note = "the reference" if reference else ""
  if skipped:
    note = (f"loss scaling skipped the update of step(s) {','.join(map(str, skipped))}: "
            f"steps 1-{compared} compared")
  if result == "FAIL":
    note += ("; " if note else "") + ("losses " + " ".join(f"{x:.5f}" for x in losses) + " vs "
            + " ".join(f"{x:.5f}" for x in context["reference"]))
  return Row(device.kind, name, label, result, note, step_seconds=step,
             examples_per_second=settings.batch_size / step, mfu=mfu, loss_delta=delta,
             bound=BOUNDS[dtype])


def strategy_label(strategy, replicas):
  """"Mirrored(2)": the strategy's class without "Strategy", and its replicas."""
  return f"{type(strategy).__name__.replace('Strategy', '')}({replicas})"


def device_rows(device, settings, variants, strategies, context):
  """The rows of one device kind, strategy by strategy."""
  rows = []
  for strategy_name in strategies:
    strategy, replicas = make_strategy(device, strategy_name)
    if strategy is None:
      rows.append(Row(device.kind, "all", STRATEGY_LABELS[strategy_name], "SKIPPED",
                      replicas))
      continue
    for variant in variants:
      rows.append(run_row(device, variant, strategy, replicas, settings, context))
      print(format_row(rows[-1]), flush=True)
  return rows


# ------------------------------------------------------------------ table

COLUMNS = ("device", "variant", "strategy", "step ms", "examples/s", "MFU", "loss delta",
           "bound", "result", "note")
WIDTHS = (6, 14, 12, 9, 10, 7, 10, 7, 7, 0)


def _format(value, spec):
  return "-" if value is None else format(value, spec)


def format_row(row):
  cells = (row.device, row.variant, row.strategy,
           _format(None if row.step_seconds is None else row.step_seconds * 1e3, ".1f"),
           _format(row.examples_per_second, ".1f"), _format(row.mfu, ".1%"),
           _format(row.loss_delta, ".2e"), _format(row.bound, ".0e"), row.result, row.note)
  return "  ".join(str(c).ljust(w) for c, w in zip(cells, WIDTHS)).rstrip()


def format_table(rows):
  lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, WIDTHS)).rstrip()]
  lines += [format_row(row) for row in rows]
  return "\n".join(lines)


# ------------------------------------------------------------------ main

def resolve_settings(f):
  """Settings from the flags (--short's values unless a flag was given); UserError if bad."""
  values = {k: (getattr(f, k) if f[k].present or not f.short else v) for k, v in SHORT.items()}
  for name in ("variants", "strategies"):
    unknown = sorted(set(getattr(f, name)) - set(VARIANTS if name == "variants" else
                                                  STRATEGIES))
    if unknown:
      raise errors.UserError(f"--{name}={','.join(getattr(f, name))}: unknown "
                             f"{', '.join(unknown)}.")
  if values["steps"] < 2:
    raise errors.UserError(f"--steps={values['steps']}: needs 2 or more (the first step "
                           "traces and compiles, and is not timed).")
  if values["batch_size"] < 1 or f.seq_length < 4 or f.cpu_devices < 1:
    raise errors.UserError("--batch_size and --cpu_devices must be positive and "
                           "--seq_length at least 4.")
  shape = dict(flops.CONFIGS[f.config])
  settings = Settings(dropout_free_config(shape, f.seq_length), values["steps"],
                      values["batch_size"], f.seq_length, f.learning_rate, f.seed, f.perturb)
  return settings, shape, values


def detect_devices(tpu_flag):
  """([DeviceKind] in the order CPU, GPU, TPU; {kind: why it is missing})."""
  devices, missing = [cpu_kind()], {}
  gpus = gpu_kind()
  if gpus:
    devices.append(gpus)
  else:
    missing["GPU"] = "no GPU found: GPU rows skipped"
  tpu, why = tpu_kind(tpu_flag)
  if tpu:
    devices.append(tpu)
  else:
    missing["TPU"] = why
  return devices, missing


def run(f):
  """Runs the check; returns the exit status (0: every row that ran passed)."""
  # The table says what happened; TensorFlow's notes on strategies and retracing
  # (every run builds a new train step on purpose) would bury it.
  tf.get_logger().setLevel("ERROR")
  settings, shape, values = resolve_settings(f)
  if f.cpu_devices > 1 and tf.config.list_physical_devices("GPU"):
    # Two MirroredStrategy instances in one process can abort each other's
    # all-reduces (their collective keys collide): mirror over the GPUs only.
    raise errors.UserError(f"--cpu_devices={f.cpu_devices} is for machines without GPUs; "
                           "here the mirrored rows run on the GPUs.")
  split_cpu(f.cpu_devices)
  # float32 rows check float32 arithmetic: off, TensorFloat-32 also makes XLA
  # (TPUs) multiply float32 at HIGHEST precision.
  tf.config.experimental.enable_tensor_float_32_execution(False)
  devices, missing = detect_devices(f.tpu)
  for device in devices:
    print(f"{device.kind}: {device.description}; mixed precision: "
          f"{device.mixed_dtype or 'skipped'} ({device.mixed_reason})")
  for kind, why in missing.items():
    print(f"{kind}: {why}")
  print(f"config {f.config} (dropout off), batch {settings.batch_size} x seq "
        f"{settings.seq_length}, {NUM_LABELS} labels, {settings.steps} steps, learning rate "
        f"{settings.learning_rate:g}; bounds on max |loss - CPU float32 loss|: "
        + ", ".join(f"{k} {v:g}" for k, v in BOUNDS.items()))
  context = dict(weights=initial_weights(settings), data=synthetic_mrpc(settings),
                 shape=shape, peaks=Peaks(values["peak_size"], f.peak_repeats))
  # The reference (float32, one CPU device) runs first.
  variants = ["float32"] + [v for v in f.variants if v != "float32"]
  strategies = ["one_device"] + [s for s in f.strategies if s != "one_device"]
  rows = []
  for device in devices:
    rows += device_rows(device, settings, variants, strategies, context)
  rows += [Row(kind, "all", "-", "SKIPPED", why) for kind, why in missing.items()]
  print()
  print(format_table(rows))
  counts = {r: sum(row.result == r for row in rows) for r in ("PASS", "FAIL", "SKIPPED")}
  failed = counts["FAIL"] > 0
  print(f"\n{'FAIL' if failed else 'PASS'}: " + ", ".join(f"{n} {r}" for r, n in counts.items()))
  return 1 if failed else 0


def main(_):
  try:
    status = run(FLAGS)
  except errors.UserError as e:
    print(f"accelerator_check: {e}", file=sys.stderr)
    status = 1
  sys.exit(status)


if __name__ == "__main__":
  define_flags()
  app.run(main)
