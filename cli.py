"""Shared command-line plumbing of the run_*.py scripts.

The flags every training script shares (the reference's TPU/checkpoint flags
plus ours for strategies, precision, accumulation, logging and evaluation), the
conversion of flags into a `training.TrainingConfig`, and the wrapper that turns
a user error into one readable line and a non-zero exit.
"""

import os

from absl import flags
from absl import logging
import tensorflow as tf

import atomic_files
import checkpoint_utils
import errors
import precision
import run_info
import tokenization
import distribution
import training


def define_training_flags(flag_values=flags.FLAGS, defaults=None):
  """Defines the flags of the shared training loop on `flag_values`.

  Args:
    flag_values: absl FlagValues (the global FLAGS by default).
    defaults: optional {flag name: default} overriding the values below
      (each script keeps the reference's own defaults).
  """
  d = {"learning_rate": 5e-5, "train_batch_size": 32, "save_checkpoints_steps": 1000,
       "iterations_per_loop": 1000, **(defaults or {})}
  f = flag_values
  # The reference's flags.
  flags.DEFINE_string("output_dir", None, "Where checkpoints, cached features and "
                      "results are written.", flag_values=f)
  flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint: a prefix "
                      "(.../bert_model.ckpt) or a directory (its latest checkpoint).",
                      flag_values=f)
  flags.DEFINE_integer("train_batch_size", d["train_batch_size"],
                       "Global examples per optimizer update.", flag_values=f)
  flags.DEFINE_float("learning_rate", d["learning_rate"], "Peak learning rate for Adam.",
                     flag_values=f)
  flags.DEFINE_integer("save_checkpoints_steps", d["save_checkpoints_steps"],
                       "Save a checkpoint every this many updates.", flag_values=f)
  flags.DEFINE_integer("iterations_per_loop", d["iterations_per_loop"],
                       "Updates per tf.function call (fewer host round trips).",
                       flag_values=f)
  flags.DEFINE_bool("use_tpu", False, "Train on a Cloud TPU (TPUStrategy).", flag_values=f)
  flags.DEFINE_string("tpu_name", None, "Cloud TPU name or grpc:// address.", flag_values=f)
  flags.DEFINE_string("tpu_zone", None, "GCE zone of the Cloud TPU.", flag_values=f)
  flags.DEFINE_string("gcp_project", None, "GCP project of the Cloud TPU.", flag_values=f)
  flags.DEFINE_string("master", None, "TensorFlow master URL (TPU).", flag_values=f)
  flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility: TPUStrategy "
                       "uses every core of the TPU it connects to.", flag_values=f)
  # Ours.
  flags.DEFINE_enum("distribution_strategy", "auto",
                    ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                    "auto: TPU if --use_tpu, multi-worker if TF_CONFIG lists several "
                    "tasks, mirrored over all GPUs if there are several, else one device.",
                    flag_values=f)
  flags.DEFINE_enum("compute_dtype", "float32", list(precision.CHOICES),
                    "Compute precision (variables stay float32). float16 uses dynamic "
                    "loss scaling; bfloat16 needs none (TPU, Ampere GPUs). auto: "
                    "bfloat16 on TPUs, GPUs of compute capability 8.0+ and CPUs with "
                    "AVX512_BF16 or AMX-BF16, else float32; the choice and its reason "
                    "are logged at start-up.", flag_values=f)
  flags.DEFINE_integer("gradient_accumulation_steps", 1, "Split each batch into this "
                       "many micro-batches (same result, less memory).", flag_values=f)
  flags.DEFINE_bool("use_xla", False, "XLA-compile the training step (jit_compile).",
                    flag_values=f)
  flags.DEFINE_bool("dynamic_padding", True, "Cut every batch to its longest sequence "
                    "(same results, less work; always off on TPU).", flag_values=f)
  flags.DEFINE_bool("length_bucketing", False, "Fine-tuning: batch examples of similar "
                    "length together (random order across windows of 32 batches), so "
                    "dynamic padding removes most padding (2.33x faster on MRPC; off by "
                    "default until accuracy parity is shown).", flag_values=f)
  flags.DEFINE_string("length_sorted_splits", "auto", "Classifier and multiple choice: "
                      "sort each batch by length and run it as this many equal "
                      "micro-batches, each cut to its longest sequence. The update is the "
                      "whole batch's (same examples, gradients summed) with less padding "
                      "(MRPC fine-tuning 2x faster on CPU). auto: parts of at least 8 "
                      "examples, up to 8 (a batch of 32 -> 4), off on TPU and for other "
                      "tasks; 1 = off.", flag_values=f)
  flags.DEFINE_integer("seed", 12345, "Seed of data order, dropout and new heads.",
                       flag_values=f)
  flags.DEFINE_integer("log_steps", 100, "Log loss, lr, examples/s and ETA every this "
                       "many updates (also TensorBoard summaries). Unset: about 20 lines "
                       "a run, at most every 100 updates.", flag_values=f)
  flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept in output_dir.",
                       flag_values=f)
  flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "adamw: the reference's "
                    "AdamWeightDecay; lamb: layer-wise adaptive (large batches).",
                    flag_values=f)
  flags.DEFINE_float("weight_decay_rate", 0.01, "Decoupled weight decay (not on "
                     "LayerNorm and biases).", flag_values=f)
  flags.DEFINE_bool("allow_setting_changes", False, "Resume the run in --output_dir "
                    "although its learning rate, batch size, schedule, seed, precision "
                    "or max_seq_length differ from this command's (run_info.json).",
                    flag_values=f)


# How --help groups the flags defined here (errors.print_help): the model and
# the run first, then the training loop.
HELP_SECTIONS = [
    ("the model and the run", ("bert_config_file", "vocab_file", "do_lower_case",
                               "max_seq_length", "do_train", "do_eval", "do_predict",
                               "init_checkpoint", "output_dir", "train_batch_size",
                               "eval_batch_size", "predict_batch_size", "learning_rate",
                               "num_train_epochs", "warmup_proportion")),
    ("the training loop (shared by every run_*.py)", None),
]


# The phases a program may run, and what each one's flag says by default.
PHASE_HELP = {"train": "Fine-tune on the training set.",
              "eval": "Evaluate on the dev set; writes eval_results.txt.",
              "predict": "Predict the test set; writes test_results.tsv."}


def define_task_flags(phases=("train", "eval", "predict"), max_seq_length=128,
                      help_text=None, flag_values=flags.FLAGS):
  """Defines the model, phase and schedule flags of a fine-tuning program.

  bert_config_file, vocab_file, do_lower_case, max_seq_length, do_<phase>,
  eval_batch_size / predict_batch_size (with those phases), num_train_epochs
  and warmup_proportion, then the training loop's flags.

  Args:
    phases: the phases the program runs, of "train", "eval", "predict".
    max_seq_length: the program's default (the reference's).
    help_text: optional {flag name: help} replacing the generic help.
    flag_values: absl FlagValues.
  """
  text = {"bert_config_file": "bert_config.json of the pre-trained model.",
          "max_seq_length": "Tokens per example after WordPiece, with [CLS]/[SEP]; "
                            "longer inputs are truncated.",
          "eval_batch_size": "Examples per evaluation batch.",
          "predict_batch_size": "Examples per prediction batch.",
          "num_train_epochs": "Passes over the training set.",
          "warmup_proportion": "Fraction of updates with linear warm-up.",
          **{f"do_{phase}": PHASE_HELP[phase] for phase in phases}, **(help_text or {})}
  f = flag_values
  flags.DEFINE_string("bert_config_file", None, text["bert_config_file"], flag_values=f)
  tokenization.define_flags(f)
  flags.DEFINE_integer("max_seq_length", max_seq_length, text["max_seq_length"],
                       flag_values=f)
  for phase in phases:
    flags.DEFINE_bool(f"do_{phase}", False, text[f"do_{phase}"], flag_values=f)
  for phase in set(phases) & {"eval", "predict"}:
    flags.DEFINE_integer(f"{phase}_batch_size", 8, text[f"{phase}_batch_size"],
                         flag_values=f)
  flags.DEFINE_float("num_train_epochs", 3.0, text["num_train_epochs"], flag_values=f)
  flags.DEFINE_float("warmup_proportion", 0.1, text["warmup_proportion"], flag_values=f)
  define_training_flags(f)


def check_task_flags(f, phases=("train", "eval", "predict"), data_dir=True,
                     fine_tuned="fine-tuned", required=("output_dir",), files=()):
  """The checks every fine-tuning program makes of the flags of define_task_flags.

  Args:
    f: parsed flags.
    phases: the program's phases (as given to define_task_flags).
    data_dir: whether --data_dir must be a folder.
    fine_tuned: how the checkpoint an eval/predict-only run needs is called.
    required: flags that must be given, checked in this order.
    files: flags naming input files that must exist (checked before the checkpoint).

  Raises:
    errors.UserError naming the first bad flag.
  """
  names = [f"--do_{phase}" for phase in phases]
  if not any(getattr(f, f"do_{phase}") for phase in phases):
    listed = ", ".join(names[:-1]) + " or " + names[-1]
    raise errors.UserError(f"At least one of {listed} must be True.")
  for name in required:
    if not getattr(f, name):
      raise errors.UserError(f"--{name} is required.")
  require_checkpoint_dir(f.output_dir, "output_dir")
  require_file(f.vocab_file, "vocab_file")
  require_file(f.bert_config_file, "bert_config_file")
  if data_dir:
    require_dir(f.data_dir, "data_dir")
  for name in files:
    require_file(getattr(f, name), name)
  if f.init_checkpoint:
    checkpoint_utils.resolve_checkpoint(f.init_checkpoint)
    tokenization.validate_case_matches_checkpoint(f.do_lower_case, f.init_checkpoint)
  elif not f.do_train:
    others = "/".join(names[1:])
    raise errors.UserError(
        f"{others} without --do_train need{'s' if len(names) == 2 else ''} "
        f"--init_checkpoint (a {fine_tuned} checkpoint or its folder).")
  for name in ("train_batch_size", "eval_batch_size", "predict_batch_size",
               "max_seq_length"):
    if name in f and getattr(f, name) <= 0:
      raise errors.UserError(f"--{name}={getattr(f, name)} must be positive.")
  if f.do_train and f.num_train_epochs <= 0:
    raise errors.UserError(f"--num_train_epochs={f.num_train_epochs} must be positive.")
  if not 0.0 <= f.warmup_proportion <= 1.0:
    raise errors.UserError(f"--warmup_proportion={f.warmup_proportion} must be in [0, 1].")


def check_room_for_text(max_seq_length):
  """Raises errors.UserError when max_seq_length leaves no room beside [CLS] and [SEP]."""
  if max_seq_length < 3:
    raise errors.UserError(f"--max_seq_length={max_seq_length} leaves no room for text "
                           "beside [CLS] and [SEP]; use at least 3.")


def log_steps(flag, num_train_steps):
  """--log_steps as given, or about 20 progress lines a run when the user did not set it."""
  if flag.present:
    return flag.value
  return max(1, min(flag.value, num_train_steps // 20))


def compute_dtype(f):
  """--compute_dtype as float32, bfloat16 or float16, with `auto` resolved.

  `auto` picks by this machine's devices (precision.py); the choice is logged
  once, with its reason, and is what run_info.json records.
  """
  dtype, reason = precision.resolve_compute_dtype(f.compute_dtype, on_tpu(f))
  if reason:
    logging.info("--compute_dtype=auto: %s, because %s.", dtype, reason)
  return dtype


def training_config(flag_values, num_train_steps, num_warmup_steps, eval_every_steps=0,
                    early_stopping_patience=0):
  """Builds the TrainingConfig from parsed flags (called by each script's main)."""
  f = flag_values
  check_device_flags(f)
  return training.TrainingConfig(
      output_dir=f.output_dir, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, learning_rate=f.learning_rate,
      train_batch_size=f.train_batch_size,
      gradient_accumulation_steps=f.gradient_accumulation_steps,
      iterations_per_loop=f.iterations_per_loop,
      save_checkpoints_steps=f.save_checkpoints_steps,
      keep_checkpoint_max=f.keep_checkpoint_max,
      log_every_steps=log_steps(f["log_steps"], num_train_steps),
      seed=f.seed, optimizer=f.optimizer, weight_decay_rate=f.weight_decay_rate,
      compute_dtype=compute_dtype(f), jit_compile=f.use_xla,
      dynamic_padding=f.dynamic_padding, length_bucketing=f.length_bucketing,
      length_sorted_splits=sorted_splits(f.length_sorted_splits),
      eval_every_steps=eval_every_steps, early_stopping_patience=early_stopping_patience)


def sorted_splits(value):
  """--length_sorted_splits as TrainingConfig takes it: "auto" or an int."""
  if value == "auto":
    return value
  try:
    return int(value)
  except ValueError:
    raise errors.UserError(f"--length_sorted_splits={value} must be auto or a positive "
                           "integer (1 = off).") from None


def build_trainer(f, task, num_train_examples, info, what="training examples",
                  **config_options):
  """A fine-tuning program's Trainer with its weights restored, before output_dir is made.

  Args:
    f: the parsed flags.
    task: the tasks.Task to train or run.
    num_train_examples: what one epoch holds (ignored without --do_train).
    info: the run_info dict this run writes (see check_resume).
    what: what num_train_examples counts, for the too-few-examples error.
    **config_options: eval_every_steps, early_stopping_patience (training_config).
  """
  num_train_steps, num_warmup_steps = train_steps(f, num_train_examples, what)
  config = training_config(f, num_train_steps, num_warmup_steps, **config_options)
  config.validate()
  check_resume(f, config, info)
  trainer = training.Trainer(task, config, strategy_from_flags(f))
  restore(trainer, f)
  return trainer


def restore(trainer, f):
  """trainer.restore as the flags say (see training.Trainer.restore).

  Training resumes the run in --output_dir, else starts from --init_checkpoint;
  without --do_train a named --init_checkpoint is what is evaluated.
  """
  return trainer.restore(f.init_checkpoint, training=f.do_train,
                         config_flag=f"--bert_config_file={f.bert_config_file}")


# Strategies that must exist before TensorFlow runs its first op (collective
# ops and the TPU system are configured at program start-up): made once, by
# `run` before main, and handed out again by strategy_from_flags.
_startup_strategies = {}


def _needs_startup_strategy(f):
  if f.use_tpu or f.distribution_strategy in ("tpu", "multi_worker"):
    return True
  return f.distribution_strategy == "auto" and distribution.cluster_size() > 1


def strategy_from_flags(flag_values):
  f = flag_values
  key = (f.distribution_strategy, f.use_tpu, f.tpu_name, f.tpu_zone, f.gcp_project,
         f.master)
  if key not in _startup_strategies:
    strategy = distribution.make_strategy(*key)
    if not _needs_startup_strategy(f):
      return strategy
    _startup_strategies[key] = strategy
  return _startup_strategies[key]


# The file a folder given for these flags usually holds (for the error message).
_USUAL_FILE = {"vocab_file": "vocab.txt", "bert_config_file": "bert_config.json"}


def require_file(path, flag_name, what="file"):
  """Raises errors.UserError unless `path` names an existing file."""
  if not path:
    raise errors.UserError(f"--{flag_name} is required.")
  errors.require_utf8_path(path, flag_name)
  if tf.io.gfile.isdir(path):
    usual = _USUAL_FILE.get(flag_name)
    raise errors.UserError(f"--{flag_name}={path} is a directory; give the {what} in it"
                           + (f", e.g. {os.path.join(path, usual)}." if usual else "."))
  if not tf.io.gfile.exists(path) or (path.endswith("/") and "://" not in path):
    raise errors.UserError(f"--{flag_name}={path}: {what} not found.")


def require_dir(path, flag_name):
  """Raises errors.UserError unless `path` names an existing directory."""
  if not path:
    raise errors.UserError(f"--{flag_name} is required.")
  errors.require_utf8_path(path, flag_name)
  if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
    raise errors.UserError(f"--{flag_name}={path} is a file, not a directory; give the "
                           "folder that holds it.")
  if not tf.io.gfile.isdir(path):
    raise errors.UserError(f"--{flag_name}={path}: directory not found.")


def require_creatable_dir(path, flag_name, of_file=False):
  """atomic_files.require_creatable_dir, and a path TensorFlow can take (UTF-8).

  Checked at start-up so that the run stops before any work (TensorFlow's
  makedirs would fail only after the model is built).
  """
  errors.require_utf8_path(path, flag_name)
  atomic_files.require_creatable_dir(path, flag_name, of_file)


def require_checkpoint_dir(path, flag_name):
  """An output folder for checkpoints: creatable, and readable back by TensorFlow."""
  require_creatable_dir(path, flag_name)
  checkpoint_utils.check_checkpoint_path(path, flag_name)
  state = os.path.join(path, "checkpoint")   # the checkpoint list, rewritten at each save
  if tf.io.gfile.isdir(state):
    raise errors.directory_in_the_way(state)


def trained_label_dirs(f):
  """The folders that may hold the labels.txt of the head being trained or evaluated.

  --output_dir, and the folder of --init_checkpoint; without --do_train the run
  evaluated is the checkpoint's, so its folder comes first.
  """
  search = [f.output_dir]
  if f.init_checkpoint:
    beside = os.path.dirname(checkpoint_utils.resolve_checkpoint(f.init_checkpoint))
    search.insert(1 if f.do_train else 0, beside)
  return search


def check_resume(f, config, info):
  """Refuses an --output_dir whose checkpoints belong to another run (before any work).

  Adds the training settings to `info` (the run_info dict this run writes) and
  compares them with the folder's run_info.json: another model, task or label
  set always stops the run; other settings stop a training run unless
  --allow_setting_changes.
  """
  info["training"] = run_info.training_settings(config)
  # Without --do_train a named --init_checkpoint is evaluated (restore): nothing resumes.
  resumes = f.do_train or not f.init_checkpoint
  latest = checkpoint_utils.CheckpointManager(f.output_dir).latest() if resumes else None
  run_info.check_resumable(f.output_dir, info, latest, training=f.do_train,
                           allow_setting_changes=f.allow_setting_changes)


def on_tpu(f):
  """Whether the flags train on a TPU."""
  return f.use_tpu or f.distribution_strategy == "tpu"


def check_device_flags(f):
  """Rejects flag combinations the chosen device cannot run (before connecting to it)."""
  if on_tpu(f) and f.compute_dtype == "float16":
    raise errors.UserError("--compute_dtype=float16 is not supported on TPU (float16 loss "
                           "scaling is for GPUs); use --compute_dtype=bfloat16.")


def run(main, words="every setting is a --flag."):
  """Runs a training program's main(argv) (see errors.run_program).

  A TPU or multi-worker strategy is made before main: it must exist before
  TensorFlow runs its first op.
  """
  def with_strategy(argv):
    if "distribution_strategy" in flags.FLAGS and _needs_startup_strategy(flags.FLAGS):
      check_device_flags(flags.FLAGS)   # before connecting to the TPU
      strategy_from_flags(flags.FLAGS)
    return main(argv)
  errors.run_program(with_strategy, main.__module__, words)


def run_program(define_flags, run_fn):
  """A run_*.py command: defines its flags, then run_fn(FLAGS) with INFO logging."""
  def main(_):
    logging.set_verbosity(logging.INFO)
    run_fn(flags.FLAGS)
  main.__module__ = run_fn.__module__   # the program whose flags --help lists
  define_flags()
  run(main)


def load_model_files(f):
  """Reads --bert_config_file and --vocab_file and checks they fit together.

  Returns:
    (modeling.BertConfig, tokenization.FullTokenizer).

  Raises:
    errors.UserError: sequence length above the model's, or a vocab
      whose size differs from the config's.
  """
  import modeling        # pylint: disable=g-import-not-at-top
  bert_config = modeling.BertConfig.from_json_file(f.bert_config_file)
  modeling.check_sequence_length(bert_config, f.max_seq_length)
  tokenization.validate_case_matches_vocab(f.do_lower_case, f.vocab_file)
  tokenizer = tokenization.FullTokenizer(f.vocab_file, f.do_lower_case)
  warning = tokenization.case_mismatch_warning(f.do_lower_case, tokenizer.vocab, f.vocab_file)
  if warning:
    logging.warning("%s", warning)
  modeling.check_vocab_size(bert_config, tokenizer.vocab, f.vocab_file)
  tokenization.require_tokens(tokenizer.vocab, f.vocab_file)
  if getattr(f, "init_checkpoint", None):
    warn_if_the_checkpoint_has_another_config(bert_config, f.bert_config_file,
                                              f.init_checkpoint)
  return bert_config, tokenizer


def warn_if_the_checkpoint_has_another_config(bert_config, config_file, init_checkpoint):
  """Warns when the bert_config.json beside the checkpoint describes another model.

  A config of other heads or another activation loads the same tensor shapes
  without error, and the weights then compute another function.
  """
  import modeling        # pylint: disable=g-import-not-at-top
  try:
    folder = os.path.dirname(checkpoint_utils.resolve_checkpoint(init_checkpoint))
    beside = os.path.join(folder, "bert_config.json")
    if not tf.io.gfile.exists(beside) or run_info.same_file(beside, config_file):
      return
    own = modeling.BertConfig.from_json_file(beside)
  except errors.UserError:   # reported where the checkpoint is loaded, or not ours to judge
    return
  keys = ("hidden_act",) + modeling.SHAPE_KEYS
  differences = [f"{key} {getattr(bert_config, key)!r} vs {getattr(own, key)!r}"
                 for key in keys if getattr(bert_config, key) != getattr(own, key)]
  if differences:
    logging.warning("--bert_config_file=%s differs from %s, the config beside "
                    "--init_checkpoint, in %s: the checkpoint's weights would compute another "
                    "function. Give that file unless this is meant.", config_file, beside,
                    ", ".join(differences))


def train_steps(f, num_examples, what="training examples"):
  """(num_train_steps, num_warmup_steps) as the reference counts them.

  num_train_steps = int(num_examples / train_batch_size * num_train_epochs),
  warm-up = int(num_train_steps * warmup_proportion); (1, 0) without --do_train.
  """
  if not f.do_train:
    return 1, 0
  steps = int(num_examples / f.train_batch_size * f.num_train_epochs)
  if steps > training.MAX_TRAIN_STEPS:
    raise errors.UserError(
        f"{num_examples} {what} x --num_train_epochs={f.num_train_epochs:g} make {steps:.3g} "
        f"updates of --train_batch_size={f.train_batch_size}, more than "
        f"{training.MAX_TRAIN_STEPS:,}; check --num_train_epochs.")
  if steps < 1:
    raise errors.UserError(
        f"{num_examples} {what} x --num_train_epochs={f.num_train_epochs} make less "
        f"than one batch of --train_batch_size={f.train_batch_size}; lower the batch "
        "size or add data.")
  return steps, int(steps * f.warmup_proportion)
