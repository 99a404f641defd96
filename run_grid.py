r"""Fine-tune over a grid of flag values, as the BERT paper selects them on dev, and keep the best.

  python run_grid.py --program=run_classifier.py \
    --grid="learning_rate=5e-5,3e-5,2e-5;train_batch_size=16,32;num_train_epochs=2,3,4" \
    --seeds=1,2,3 --output_dir=$OUT -- \
    --task_name=MRPC --do_train=true --do_eval=true --data_dir=$GLUE_DIR/MRPC \
    --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128

Every combination of the --grid values, once per --seeds value (given to the
program as --seed), runs as its own process, one after the other:
`python <program> <the flags after --> --<name>=<value>... --output_dir=$OUT/<run>`.
The program is never imported: run_classifier.py, run_ner.py, run_squad.py,
run_multiple_choice.py or a program of your own (give --metric) run exactly as
when typed by hand, their output going to $OUT/<run>/grid.log.

Written in --output_dir:
  <run>/             the program's output folder, named after the setting:
                     learning_rate=3e-5,train_batch_size=16,num_train_epochs=2,seed=1
  grid_results.tsv   one row per setting, in grid order: its values, the dev metric,
                     how many runs finished, their mean and sample standard deviation
                     (n - 1), each seed's value, the setting's best run folder and a
                     `*` on the best setting (best mean). Rewritten after every run,
                     so a stopped grid leaves a true partial table.
  best               relative symlink to the best run (of the best setting, its best
                     seed: the paper's restarts keep the best on dev), ready for
                     inference.py/export_savedmodel.py --model_dir=$OUT/best. Where the
                     file system has no symlinks, best.txt names the folder instead.
  feature_cache/     run_classifier.py's feature caches (its --cache_dir): settings that
                     differ only in training flags (TRAINING_ONLY_FLAGS) share one folder,
                     others get a subfolder per feature-changing value. The other
                     programs build their features in each run.

Run the same command again to go on: a run is finished when the grid recorded
the program's exit 0 in <run>/grid_run.json (written atomically, after
eval_results.txt, which the programs also write atomically) and is skipped; any
other run is started again and the program resumes from the checkpoints in its
folder. A run folder whose recorded flags differ from the command's is an error,
never resumed with other flags. A failed run stops the grid with one line
naming the run, the exit code and the log (--keep_going runs the others first).
SIGINT/SIGTERM/SIGHUP are passed on to the running program, which saves a
checkpoint and stops; then the grid stops with the program's exit code.
"""

import dataclasses
import hashlib
import itertools
import math
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags

import atomic_files
import classifier_data
import cli
import errors
import metrics
import run_info

FLAGS = flags.FLAGS
REPO_DIR = os.path.dirname(os.path.abspath(__file__))

RESULTS_FILE = "grid_results.tsv"
BEST_LINK = "best"
BEST_NOTE = "best.txt"
RUN_RECORD = "grid_run.json"
LOG_FILE = "grid.log"
EVAL_RESULTS = "eval_results.txt"
FEATURE_CACHE = "feature_cache"


@dataclasses.dataclass(frozen=True)
class Program:
  """What the grid knows of a program it runs (by file name)."""
  eval_flag: str        # the flag that makes it score the dev set
  metric: str           # eval_results.txt key compared across runs; None: by --task_name
  has_cache_dir: bool = False   # takes --cache_dir: feature caches shareable across runs


# A table rather than asking each program (`--helpfull` would load TensorFlow
# once more per grid); a program not listed needs --metric.
#   run_classifier.py     the task's own figure, metrics.primary_metric (accuracy,
#                         CoLA MCC, MRPC/QQP F1, STS-B mean of Pearson and
#                         Spearman): the one --eval_every_steps keeps its best by.
#   run_ner.py            entity-level F1 of conlleval.
#   run_squad.py          has no dev evaluation of its own: --do_predict on a
#                         --predict_file with gold answers (dev-v1.1.json) scores it
#                         as the official script does; its F1 (0-100) is the dev
#                         metric. v2.0: F1 at --null_score_diff_threshold, not
#                         best_f1, whose threshold is itself fitted on dev.
#   run_multiple_choice.py  accuracy.
# Always the final eval_results.txt: with --eval_every_steps, the model the
# run folder's newest checkpoint holds (what `best` serves), not its best/.
PROGRAMS = {
    "run_classifier.py": Program("do_eval", None, has_cache_dir=True),
    "run_ner.py": Program("do_eval", "eval_f1"),
    "run_squad.py": Program("do_predict", "f1"),
    "run_multiple_choice.py": Program("do_eval", "eval_accuracy"),
}
UNKNOWN_PROGRAM = Program(None, None)

# Flags that change training but never the features: runs differing only in
# these share one feature cache folder. Others (max_seq_length, data_dir,
# vocab_file, ...) get a folder of their own, whatever the cache's own checks.
TRAINING_ONLY_FLAGS = frozenset({
    "learning_rate", "train_batch_size", "num_train_epochs", "warmup_proportion", "seed",
    "weight_decay_rate", "optimizer", "gradient_accumulation_steps",
    "save_checkpoints_steps", "iterations_per_loop", "keep_checkpoint_max", "log_steps",
    "eval_every_steps", "early_stopping_patience"})

_FLAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._+-]+\Z")
_MAX_FOLDER_NAME = 200   # file systems allow 255 bytes
_TRUE = ("true", "t", "1")   # absl's spellings of a true boolean (lower-cased)
_LOG_RECORD = re.compile(r"[IWEF]\d{4} ")   # absl and TensorFlow log lines


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("program", None, "The program to run: run_classifier.py, "
                      "run_ner.py, run_squad.py, run_multiple_choice.py or your own "
                      "(path relative to the working directory or this repository).")
  flags.DEFINE_string("grid", None, "`flag=value,value;flag=value,...`: flags of the "
                      "program and their values; every combination runs.")
  flags.DEFINE_string("seeds", None, "Comma-separated --seed values: each setting runs "
                      "once per seed (random restarts; mean and std in the table).")
  flags.DEFINE_string("output_dir", None, "Where the run folders, grid_results.tsv and "
                      "best go.")
  flags.DEFINE_string("metric", None, "eval_results.txt key compared (default: the "
                      "program's dev metric, see PROGRAMS in run_grid.py).")
  flags.DEFINE_enum("metric_goal", "auto", ["auto", "max", "min"], "Whether higher or "
                    "lower --metric is better; auto: lower for names ending in loss.")
  flags.DEFINE_bool("keep_going", False, "A failed run does not stop the grid (the "
                    "grid still exits 1 at the end).")


@dataclasses.dataclass
class GridConfig:
  """Everything a grid is run from."""
  program: str              # path of the program to run
  grid: list                # [(flag name, [value, ...]), ...] in the order given
  output_dir: str           # where the run folders, grid_results.tsv and best go
  program_args: list        # the program's own flags (after --), the same in every run
  seeds: list = dataclasses.field(default_factory=list)   # --seed values; [] = none given
  metric: str = None        # eval_results.txt key compared; None: the program's
  metric_goal: str = "auto"   # max, min, or auto (min for *loss)
  keep_going: bool = False  # a failed run does not stop the grid


@dataclasses.dataclass
class Run:
  """One process of the grid."""
  setting: tuple            # ((flag name, value), ...) in grid order
  seed: int                 # None without --seeds
  folder: str               # its folder name in output_dir
  metric: str               # the eval_results.txt key compared
  args: list                # the program's flags, output_dir and cache_dir aside
  value: str = None         # the metric as eval_results.txt writes it, once finished
  failed: bool = False


class GridInterrupted(Exception):
  """A signal stopped the grid after the running program stopped."""

  def __init__(self, signum, folder):
    name = signal.Signals(signum).name
    super().__init__(f"{name} received: stopped during {folder}. Run the same command "
                     "again to go on (the run resumes from its checkpoints).")
    self.exit_code = 128 + signum


# ---------------------------------------------------------------- parsing


def parse_grid(text):
  """`a=1,2;b=x` -> [("a", ["1", "2"]), ("b", ["x"])], in the order given.

  Raises:
    errors.UserError naming the part of --grid that is wrong.
  """
  grid = []
  for part in (p.strip() for p in (text or "").split(";")):
    if not part:
      continue
    name, sep, values = (s.strip() for s in part.partition("="))
    if not sep or not _FLAG_NAME.match(name):
      raise errors.UserError(
          f"--grid: {part!r} is not `flag_name=value,value,...`; e.g. "
          "--grid=\"learning_rate=5e-5,3e-5;num_train_epochs=2,3\".")
    values = [v.strip() for v in values.split(",")]
    if not all(values):
      raise errors.UserError(f"--grid: {part!r} has an empty value.")
    if len(set(values)) != len(values):
      raise errors.UserError(f"--grid: {part!r} repeats a value.")
    if name in dict(grid):
      raise errors.UserError(f"--grid names {name} twice; give all its values in one "
                             f"`{name}=...` part.")
    grid.append((name, values))
  return grid


def parse_seeds(text):
  """`1,2,3` -> [1, 2, 3]; None or "" -> []."""
  if not text:
    return []
  try:
    seeds = [int(s) for s in text.split(",")]
  except ValueError:
    raise errors.UserError(f"--seeds={text}: give integers separated by commas, e.g. "
                           "--seeds=1,2,3.") from None
  if len(set(seeds)) != len(seeds):
    raise errors.UserError(f"--seeds={text} repeats a seed.")
  return seeds


def program_flags(args):
  """The flags in `args` as [(name, value or None), ...], as absl reads them.

  `--name=value` gives value, `--name value` too (the next word is not a
  flag), a bare `--name` None (a true boolean). `--noname` stays as written:
  see `flag_value`.
  """
  pairs = []
  for i, arg in enumerate(args):
    if not arg.startswith("-") or arg in ("-", "--"):
      continue
    name, sep, value = arg.lstrip("-").partition("=")
    if not sep:
      following = args[i + 1] if i + 1 < len(args) else "-"
      value = None if following.startswith("-") else following
    pairs.append((name, value))
  return pairs


def flag_value(pairs, name):
  """The last value `pairs` give flag `name` (booleans: "true"/"false"), or None."""
  found = None
  for flag, value in pairs:
    if flag == name:
      found = "true" if value is None else value
    elif flag == "no" + name and value is None:
      found = "false"
  return found


def _token(args, name):
  """The word of `args` that sets flag `name` (for error messages)."""
  for arg in args:
    flag = arg.lstrip("-").partition("=")[0]
    if arg.startswith("-") and flag in (name, "no" + name):
      return arg
  return f"--{name}"


def check_config(config):
  """Checks flags and program arguments before any run; raises errors.UserError."""
  for name in ("program", "output_dir"):
    if not getattr(config, name):
      raise errors.UserError(f"--{name} is required.")
  if "://" in config.output_dir:
    raise errors.UserError(f"--output_dir={config.output_dir}: the grid writes logs and a "
                           "symlink there; give a local folder.")
  cli.require_checkpoint_dir(config.output_dir, "output_dir")   # the runs' folders
  if not config.grid and not config.seeds:
    raise errors.UserError("Give --grid (flags and values to try) and/or --seeds.")
  names = [name for name, _ in config.grid]
  if "output_dir" in names:
    raise errors.UserError("--grid: output_dir is set by the grid (a folder per run in "
                           "--output_dir); remove it.")
  if "seed" in names:
    raise errors.UserError("--grid: give seeds as --seeds=1,2,3 (the table then reports "
                           "their mean and std); remove seed from --grid.")
  given = {name for name, _ in program_flags(config.program_args)}
  for name in names:
    if {name, "no" + name} & given:
      raise errors.UserError(f"--grid sets {name} and {_token(config.program_args, name)} "
                             "is also given after --; remove one of them.")
  if "output_dir" in given:
    raise errors.UserError(f"{_token(config.program_args, 'output_dir')} after --: the "
                           "grid gives each run a folder in --output_dir; remove it.")
  if config.seeds and "seed" in given:
    raise errors.UserError(f"--seeds sets --seed and {_token(config.program_args, 'seed')} "
                           "is also given after --; remove one of them.")
  check_evaluates(config, names)


def check_evaluates(config, grid_names):
  """Refuses a known program's flags that would leave no dev results to compare."""
  program = PROGRAMS.get(os.path.basename(config.program), UNKNOWN_PROGRAM)
  if not program.eval_flag or program.eval_flag in grid_names:
    return
  value = flag_value(program_flags(config.program_args), program.eval_flag)
  if (value or "false").lower() not in _TRUE:
    extra = (" with a --predict_file that has answers (the dev set)"
             if program.eval_flag == "do_predict" else "")
    raise errors.UserError(
        f"run_grid.py compares the runs' dev results: add --{program.eval_flag}=true"
        f"{extra} after --.")


def resolve_program(path):
  """The program's path: as given (relative to the working directory), else in this repository."""
  if os.path.isfile(path):
    return path
  in_repo = os.path.join(REPO_DIR, path)
  if not os.path.isabs(path) and os.path.isfile(in_repo):
    return in_repo
  raise errors.UserError(f"--program={path}: file not found (looked in the working "
                         f"directory and in {REPO_DIR}).")


def dev_metric(config, setting):
  """The eval_results.txt key compared for a run of `setting`."""
  if config.metric:
    return config.metric
  name = os.path.basename(config.program)
  program = PROGRAMS.get(name, UNKNOWN_PROGRAM)
  if program.metric:
    return program.metric
  if name != "run_classifier.py":
    raise errors.UserError(f"--program={config.program}: run_grid.py does not know which "
                           "eval_results.txt figure is its dev metric; give --metric=<key>.")
  task = dict(setting).get("task_name") or flag_value(
      program_flags(config.program_args), "task_name")
  if not task:
    raise errors.UserError("run_classifier.py: no --task_name after -- to choose the dev "
                           "metric by; give it there, or --metric=<eval_results.txt key>.")
  try:
    return metrics.primary_metric(classifier_data.get_processor_class(task).metric_kind)
  except errors.DataError as e:
    raise errors.UserError(f"--task_name={task}: {e}") from None


def higher_is_better(metric, goal):
  return goal == "max" or (goal == "auto" and not metric.endswith("loss"))


# ---------------------------------------------------------------- the runs


def _safe_value(value):
  """`value` as it can stand in a folder name; changed ones get a hash of the original."""
  if _SAFE_VALUE.match(value):
    return value
  kept = re.sub(r"[^A-Za-z0-9._+-]+", "_", value).strip("_")[-40:]
  return f"{kept}~{hashlib.sha256(value.encode('utf-8')).hexdigest()[:8]}"


def folder_name(setting, seed=None):
  """`learning_rate=3e-5,num_train_epochs=2,seed=1`: stable, readable, filesystem-safe.

  Values outside [A-Za-z0-9._+-] (paths, spaces) are cut to their safe
  characters plus a hash, so that different values never share a folder.
  """
  parts = [f"{name}={_safe_value(value)}" for name, value in setting]
  if seed is not None:
    parts.append(f"seed={seed}")
  name = ",".join(parts)
  if len(name) > _MAX_FOLDER_NAME:
    name = f"{name[:_MAX_FOLDER_NAME - 9]}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"
  return name


def feature_cache_dir(output_dir, setting):
  """The --cache_dir of a run: one folder per combination of feature-changing values."""
  changing = tuple((n, v) for n, v in setting if n not in TRAINING_ONLY_FLAGS)
  root = os.path.join(output_dir, FEATURE_CACHE)
  return os.path.join(root, folder_name(changing)) if changing else root


def plan_runs(config):
  """Every run of the grid, settings in grid order (last flag fastest), seeds inside."""
  names = [name for name, _ in config.grid]
  runs = []
  for values in itertools.product(*[values for _, values in config.grid]):
    setting = tuple(zip(names, values))
    metric = dev_metric(config, setting)
    for seed in config.seeds or [None]:
      grid_flags = [f"--{n}={v}" for n, v in setting]
      if seed is not None:
        grid_flags.append(f"--seed={seed}")
      runs.append(Run(setting, seed, folder_name(setting, seed), metric,
                      list(config.program_args) + grid_flags))
  return runs


def command(config, program_path, run):
  """The run's command line: this Python, the program, its flags."""
  args = [sys.executable, program_path] + run.args
  args.append(f"--output_dir={os.path.join(config.output_dir, run.folder)}")
  program = PROGRAMS.get(os.path.basename(config.program), UNKNOWN_PROGRAM)
  if program.has_cache_dir and "cache_dir" not in dict(program_flags(config.program_args)):
    args.append(f"--cache_dir={feature_cache_dir(config.output_dir, run.setting)}")
  return args


def same_flags(old, new):
  """Whether two flag lists set the same values: order matters only for a repeated flag."""
  if old == new:
    return True
  pairs = program_flags(new)
  names = [name for name, _ in pairs]
  repeated = len(set(names)) != len(names) or any("no" + n in names for n in names)
  return not repeated and sorted(program_flags(old), key=repr) == sorted(pairs, key=repr)


def run_state(config, run):
  """"new", "resume" or "finished".

  Raises:
    errors.UserError: the folder holds a run started with other flags, or
      files the grid did not write.
  """
  folder = os.path.join(config.output_dir, run.folder)
  record_path = os.path.join(folder, RUN_RECORD)
  if not os.path.exists(record_path):
    if os.path.isdir(folder) and os.listdir(folder):
      raise errors.UserError(f"{folder} holds files run_grid.py did not start; move it "
                             "away or give another --output_dir.")
    return "new"
  record = run_info.read_json(record_path, RUN_RECORD)
  record = record if isinstance(record, dict) else {}
  args = record.get("args")
  if not (isinstance(args, list) and all(isinstance(arg, str) for arg in args) and
          isinstance(record.get("finished"), bool)):
    raise errors.UserError(f"{record_path} is not the record run_grid.py writes; restore "
                           "it, or delete the folder to run it again.")
  program = os.path.basename(config.program)
  if record.get("program", program) != program:
    raise errors.UserError(
        f"{folder} was run by {record['program']!r}, not --program={config.program}; its "
        "result must not be reused. Give another --output_dir, or delete the folder.")
  old = args
  if not same_flags(old, run.args):
    added = [a for a in run.args if a not in old]
    removed = [a for a in old if a not in run.args]
    change = (f"now: {' '.join(added)}; then: {' '.join(removed)}" if added or removed
              else "a repeated flag in another order")
    raise errors.UserError(
        f"{folder} was run with other flags ({change}); its checkpoints must not be "
        "resumed with these. Give another --output_dir, or delete the folder to run it "
        "again.")
  finished = record.get("finished") and os.path.exists(os.path.join(folder, EVAL_RESULTS))
  return "finished" if finished else "resume"


def write_record(config, run, finished):
  """<run>/grid_run.json: the flags the run was started with; finished after exit 0."""
  folder = os.path.join(config.output_dir, run.folder)
  os.makedirs(folder, exist_ok=True)
  record = {"program": os.path.basename(config.program), "args": run.args,
            "finished": finished}
  if finished:
    record.update(metric=run.metric, value=run.value)
  atomic_files.write_json(os.path.join(folder, RUN_RECORD), record)


def read_metric(folder, metric):
  """The `metric` line of folder/eval_results.txt, as written (a str that parses as float)."""
  path = os.path.join(folder, EVAL_RESULTS)
  if not os.path.exists(path):
    raise errors.UserError(
        f"{path}: the program ended without writing it, so the run has no dev result "
        "(run_squad.py writes it only for a --predict_file with answers).")
  results = run_info.read_merged_results(path)
  if metric not in results:
    raise errors.UserError(f"{path} has no {metric} (it has {', '.join(sorted(results))}); "
                           "give --metric=<one of them>.")
  try:
    finite = math.isfinite(float(results[metric]))
  except ValueError:
    finite = False
  if not finite:   # a NaN would win (or lose) every comparison
    raise errors.UserError(f"{path}: {metric} = {results[metric]!r} is not a finite number.")
  return results[metric]


# ---------------------------------------------------------------- processes


class _Stopper:
  """Passes SIGINT, SIGTERM and SIGHUP on to the running program; the grid stops after it.

  The program runs in a session of its own, so that a Ctrl-C in the terminal
  reaches it once (through here), not twice.
  """
  def __init__(self):
    self.process = None
    self.signum = None
    self.previous = {}

  def __enter__(self):
    self.previous = errors.install_stop_handler(self._handle)
    return self

  def __exit__(self, *unused):
    errors.restore_handlers(self.previous)

  def _handle(self, signum, unused_frame):
    self.signum = self.signum or signum
    if self.process is not None and self.process.poll() is None:
      self.process.send_signal(signum)

  def check(self, folder):
    if self.signum is not None:
      raise GridInterrupted(self.signum, folder)

  def run(self, args, log_path):
    """Runs `args` with stdout and stderr appended to `log_path`; returns the exit code."""
    with open(log_path, "a", encoding="utf-8") as log:
      log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(args)}\n")
      log.flush()
      self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
      try:
        return self.process.wait()
      finally:
        self.process = None


def exit_description(code):
  if code < 0:
    return f"was killed by {signal.Signals(-code).name}"
  return f"exited with code {code}"


def last_words(log_path, limit=300):
  """The log's last line that is not a log record: the program's error, if any."""
  with open(log_path, "rb") as log:
    log.seek(max(0, os.path.getsize(log_path) - 65536))
    lines = log.read().decode("utf-8", "replace").splitlines()
  for line in reversed(lines):
    if line.strip() and not _LOG_RECORD.match(line) and not line.startswith("===="):
      return line.strip()[:limit]
  return None


# ---------------------------------------------------------------- the table


@dataclasses.dataclass
class Row:
  """A setting's runs (one per seed) in grid_results.tsv."""
  setting: tuple
  runs: list

  @property
  def values(self):
    return [float(r.value) for r in self.runs if r.value is not None]

  @property
  def mean(self):
    return statistics.mean(self.values) if self.values else None

  @property
  def std(self):
    """Sample standard deviation (n - 1) over the finished seeds; None below 2."""
    return statistics.stdev(self.values) if len(self.values) > 1 else None

  def best_run(self, higher):
    """The finished run with the best value (the first of equals), or None."""
    done = [r for r in self.runs if r.value is not None]
    sign = 1.0 if higher else -1.0
    return max(done, key=lambda r: sign * float(r.value)) if done else None


def table_rows(runs):
  """Runs grouped by setting, in plan order."""
  rows = []
  for run in runs:
    if rows and rows[-1].setting == run.setting:
      rows[-1].runs.append(run)
    else:
      rows.append(Row(run.setting, [run]))
  return rows


def best_row(rows, higher):
  """The row with the best mean over its finished runs (the first of equals), or None."""
  done = [row for row in rows if row.values]
  sign = 1.0 if higher else -1.0
  return max(done, key=lambda row: sign * row.mean) if done else None


def _number(x):
  return "" if x is None else f"{x:.6g}"


def table_lines(rows, grid_names, seeds, best, higher):
  """grid_results.tsv: a header, then one tab-separated line per row.

  A run's cell is its value as eval_results.txt wrote it, `failed`, or empty
  while it has not finished; `folder` is the row's best finished run; `best`
  holds a `*` on the row `best`.
  """
  value_columns = [f"seed={s}" for s in seeds] or ["value"]
  lines = ["\t".join(grid_names + ["metric", "runs", "mean", "std"] + value_columns +
                     ["folder", "best"])]
  for row in rows:
    cells = [value for _, value in row.setting]
    cells += [row.runs[0].metric, str(len(row.values)), _number(row.mean), _number(row.std)]
    cells += [r.value if r.value is not None else ("failed" if r.failed else "")
              for r in row.runs]
    top = row.best_run(higher)
    cells += [top.folder if top else "", "*" if row is best else ""]
    lines.append("\t".join(cells))
  return lines


def check_best_link(output_dir):
  """output_dir/best; a UserError when a file or folder that is not the grid's symlink is there."""
  link = os.path.join(output_dir, BEST_LINK)
  if os.path.lexists(link) and not os.path.islink(link):
    raise errors.UserError(f"{link} exists and is not the grid's symlink to its best run; "
                           "move it away or give another --output_dir.")
  return link


def point_best(output_dir, folder):
  """Makes output_dir/best a relative symlink to `folder`, replaced atomically.

  Returns:
    the path written: the symlink, or best.txt naming the folder where the
    file system has no symlinks.
  """
  link = check_best_link(output_dir)
  if os.path.islink(link) and os.readlink(link) == folder:
    return link
  tmp = atomic_files.temporary_path(link)
  try:
    os.symlink(folder, tmp)
  except (OSError, NotImplementedError):
    note = os.path.join(output_dir, BEST_NOTE)
    atomic_files.write_text(note, folder + "\n")
    return note
  try:
    atomic_files.replace(tmp, link)
  except BaseException:
    atomic_files.remove_quietly(tmp)
    raise
  return link


def write_outputs(config, runs):
  """grid_results.tsv and best as the finished runs say; returns (best run, best path)."""
  rows = table_rows(runs)
  higher = higher_is_better(runs[0].metric, config.metric_goal)
  best = best_row(rows, higher)
  names = [name for name, _ in config.grid]
  atomic_files.write_lines(os.path.join(config.output_dir, RESULTS_FILE),
                           table_lines(rows, names, config.seeds, best, higher))
  if best is None:   # no finished run of this grid: no best (not an older grid's)
    link = os.path.join(config.output_dir, BEST_LINK)
    if os.path.islink(link):
      os.remove(link)
    atomic_files.remove_quietly(os.path.join(config.output_dir, BEST_NOTE))
    return None, None
  top = best.best_run(higher)
  return top, point_best(config.output_dir, top.folder)


# ---------------------------------------------------------------- the grid


def say(text):
  print(f"run_grid: {text}", flush=True)


def run_one(config, program_path, run, state, stopper, where):
  """Starts (or resumes) one run; marks it failed or fills in its value."""
  folder = os.path.join(config.output_dir, run.folder)
  log_path = os.path.join(folder, LOG_FILE)
  write_record(config, run, finished=False)
  say(f"{where} {run.folder}: {'resuming' if state == 'resume' else 'running'} "
      f"(log: {log_path})")
  start = time.time()
  code = stopper.run(command(config, program_path, run), log_path)
  stopper.check(run.folder)
  if code != 0:
    last = last_words(log_path)
    message = (f"{run.folder}: {os.path.basename(config.program)} {exit_description(code)}"
               f"{f' ({last})' if last else ''}; see {log_path}")
    if not config.keep_going:
      raise errors.UserError(message)
    say(f"{where} {message}; going on (--keep_going).")
    run.failed = True
    return
  run.value = read_metric(folder, run.metric)
  write_record(config, run, finished=True)
  say(f"{where} {run.folder}: {run.metric} = {run.value} ({time.time() - start:.0f} s)")


def run(config):
  """Runs every run of the grid not finished yet; returns the runs (values filled in).

  Raises:
    errors.UserError: bad flags, a run that failed (after the others with
      keep_going), a folder of another run.
    GridInterrupted: a signal stopped the grid.
  """
  check_config(config)
  program_path = resolve_program(config.program)
  runs = plan_runs(config)
  states = [run_state(config, r) for r in runs]   # every folder checked before any work
  check_best_link(config.output_dir)   # before any run, not after the first
  os.makedirs(config.output_dir, exist_ok=True)
  for r, state in zip(runs, states):
    if state == "finished":
      r.value = read_metric(os.path.join(config.output_dir, r.folder), r.metric)
  write_outputs(config, runs)
  with _Stopper() as stopper:
    for i, (r, state) in enumerate(zip(runs, states), 1):
      where = f"[{i}/{len(runs)}]"
      if state == "finished":
        say(f"{where} {r.folder}: finished earlier, {r.metric} = {r.value} (skipped)")
        continue
      stopper.check(r.folder)
      try:
        run_one(config, program_path, r, state, stopper, where)
      finally:
        write_outputs(config, runs)
  top, best_path = write_outputs(config, runs)
  say(f"results: {os.path.join(config.output_dir, RESULTS_FILE)}")
  if top is not None:
    how = " (no symlinks on this file system)" if best_path.endswith(BEST_NOTE) else ""
    say(f"best: {top.folder} ({top.metric} = {top.value}) -> {best_path}{how}")
  failed = [r.folder for r in runs if r.failed]
  if failed:
    raise errors.UserError(f"{len(failed)} of {len(runs)} runs failed ({', '.join(failed)}); "
                           f"see their {LOG_FILE}. Run the same command again to retry them.")
  return runs


def program_args(argv, raw_argv):
  """The words after `--` (absl leaves them in argv); refuses stray ones before it."""
  after = raw_argv[raw_argv.index("--") + 1:] if "--" in raw_argv else []
  if len(argv) - 1 != len(after):
    stray = argv[1:len(argv) - len(after)]
    raise errors.UserError(f"unexpected {stray[0]!r}: give the program's flags after --, "
                           "e.g. run_grid.py --program=... --grid=... -- --task_name=MRPC ...")
  return after


def main(argv):
  config = GridConfig(
      program=FLAGS.program, grid=parse_grid(FLAGS.grid), output_dir=FLAGS.output_dir,
      program_args=program_args(argv, sys.argv), seeds=parse_seeds(FLAGS.seeds),
      metric=FLAGS.metric, metric_goal=FLAGS.metric_goal, keep_going=FLAGS.keep_going)
  try:
    run(config)
  except GridInterrupted as e:
    print(f"{os.path.basename(sys.argv[0])}: {e}", file=sys.stderr)
    sys.exit(e.exit_code)


def console_main():
  """The `bert-run-grid` command: the flags of `python run_grid.py`."""
  define_flags()
  errors.run_program(main, words=None)   # the program's flags come after --


if __name__ == "__main__":
  console_main()
