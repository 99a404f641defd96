"""Fault tolerance through the real CLI: preemption signals, SIGKILL, NaN losses.

Every training run is `python run_classifier.py ...` in a subprocess on a tiny
random BERT (hidden 16, 4 heads, intermediate 37, 2 layers) whose vocabulary is
built from the first rows of the real MRPC training file, which it trains on
(150 updates, a checkpoint every 7). The runs start together, two at a time.

- SIGTERM / SIGINT mid-training: the run saves a checkpoint at the step it
  reached, exits 143 / 130 with one line saying so, and the same command run
  again resumes and ends with weights, Adam slots and global_step bit-for-bit
  equal to an uninterrupted run (same step count, schedule, data order).
- SIGKILL: whatever moment a process dies, even inside a checkpoint write, the
  `checkpoint` state file names a complete checkpoint that loads, and a re-run
  resumes from it (the resumed run after SIGINT is SIGKILLed and resumed again,
  still ending bit-for-bit equal). Crashes are also injected before every file
  operation of a save (in process) and at random moments of a saving loop
  (20 real SIGKILLs).
- A NaN/Inf loss stops the run with one line naming the step, exit code 1,
  and no checkpoint written after the last finite one.
- Damaged checkpoints (truncated, a flipped byte): a resumed run skips them
  with a warning naming each and resumes from the newest intact one, still
  ending bit-for-bit equal; when none is intact it stops with one line.
- --init_checkpoint: ignored with a warning when the run resumes; what is
  evaluated without --do_train, even when output_dir holds checkpoints.
"""

import collections
import concurrent.futures
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import atomic_files
import checkpoint_utils
import modeling
import tokenization
from conftest import SHARED_DIR, flip_middle_byte, truncate_to_half

REPO_ROOT = Path(__file__).resolve().parents[1]
MRPC = SHARED_DIR / "data" / "MRPC"
NUM_TRAIN = 200
BATCH = 8
EPOCHS = 6
TOTAL_STEPS = NUM_TRAIN // BATCH * EPOCHS       # 150 updates of ~15 ms on a tiny model
SAVE_EVERY = 7                                  # odd: a signal rarely lands on a save step
EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130, "SIGHUP": 129}


# --------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
  """A random tiny BERT saved like an official download, and an MRPC data folder.

  The vocabulary holds every word seen twice in the first NUM_TRAIN training
  pairs (BasicTokenizer of the repo, lower-cased), so WordPiece runs for real.
  """
  if not (MRPC / "train.tsv").is_file():
    pytest.skip(f"real data not found under {MRPC}")
  root = tmp_path_factory.mktemp("tiny_model")
  data = root / "MRPC"
  data.mkdir()
  for split, rows in (("train.tsv", NUM_TRAIN), ("dev.tsv", 40)):
    lines = (MRPC / split).read_bytes().splitlines(keepends=True)
    (data / split).write_bytes(b"".join(lines[:rows + 1]))   # header + rows
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  counts = collections.Counter()
  for line in (data / "train.tsv").read_text(encoding="utf-8-sig").splitlines()[1:]:
    for text in line.split("\t")[3:5]:
      counts.update(basic.tokenize(text))
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
      word for word, count in counts.items() if count >= 2)
  (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
  config = modeling.BertConfig(
      vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
      intermediate_size=37, max_position_embeddings=32, type_vocab_size=2)
  config.to_json_file(str(root / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  checkpoint_utils.save_tensors(str(root / "bert_model.ckpt"), model.variables_by_name())
  return root


def classifier_args(model, out, *extra):
  """The command of every run here: MRPC fine-tuning, 150 updates, a save every 7."""
  return [sys.executable, str(REPO_ROOT / "run_classifier.py"),
          "--task_name=MRPC", "--do_train=true", f"--data_dir={model / 'MRPC'}",
          f"--vocab_file={model / 'vocab.txt'}",
          f"--bert_config_file={model / 'bert_config.json'}",
          f"--init_checkpoint={model / 'bert_model.ckpt'}", "--max_seq_length=32",
          f"--train_batch_size={BATCH}", f"--num_train_epochs={EPOCHS}",
          "--learning_rate=1e-3", f"--save_checkpoints_steps={SAVE_EVERY}",
          "--iterations_per_loop=3", "--log_steps=5", f"--output_dir={out}",
          *extra]


def cli_env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  env.pop("TF_CONFIG", None)
  return env


def run_to_end(args, log_path):
  """Runs a command to completion with stderr in `log_path`; returns its exit code."""
  with open(log_path, "w") as log:
    return subprocess.run(args, cwd=REPO_ROOT, env=cli_env(), stdout=log, stderr=log,
                          timeout=600).returncode


def wait_for_log(process, log_path, pattern, timeout=300):
  """Polls the log until `pattern` (a regex) appears; fails if the process ends first."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    text = Path(log_path).read_text(errors="replace") if Path(log_path).exists() else ""
    match = re.search(pattern, text)
    if match:
      return match
    if process.poll() is not None:
      pytest.fail(f"the run ended (exit {process.returncode}) before logging "
                  f"{pattern!r}:\n{text[-3000:]}")
    time.sleep(0.02)
  process.kill()
  pytest.fail(f"no {pattern!r} in the log after {timeout} s")


def stderr_lines(log_path):
  """Lines of a log that are not absl/TF log records (what a user reads)."""
  return [line for line in Path(log_path).read_text(errors="replace").splitlines()
          if line.strip() and not re.match(r"^[IWEF]\d{4} ", line)]


def tensors_of(path):
  """{name: np.ndarray} of the checkpoint at `path` (prefix or directory)."""
  return checkpoint_utils.read_checkpoint(str(path))


def assert_same_tensors(actual, expected):
  assert set(actual) == set(expected)
  for name in expected:
    np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def state_file_prefix(directory):
  """The checkpoint the `checkpoint` state file names, as an absolute prefix."""
  state = tf.train.get_checkpoint_state(str(directory))
  assert state is not None, f"no readable checkpoint state file in {directory}"
  path = state.model_checkpoint_path
  return path if os.path.isabs(path) else os.path.join(str(directory), path)


def start_cli(args, log_path):
  with open(log_path, "w") as log:
    return subprocess.Popen(args, cwd=REPO_ROOT, env=cli_env(), stdout=log, stderr=log)


def signal_when_logged(args, log_path, pattern, signal_number, delay=0.0):
  """Starts a run, sends `signal_number` once `pattern` is logged; returns the exit code."""
  process = start_cli(args, log_path)
  try:
    wait_for_log(process, log_path, pattern)
    time.sleep(delay)
    process.send_signal(signal_number)
    return process.wait(timeout=300)
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def _uninterrupted(args, root):
  return {"code": run_to_end(args, root / "log")}


def _interrupted(args, root, signal_name, then_kill=False):
  """A run stopped by `signal_name` at step >= 20, then the same command again.

  With `then_kill`, the second run is SIGKILLed just after its first checkpoint
  and a third one finishes: a resumed run that dies resumes too.
  """
  out = Path(args[-1].split("=", 1)[1])
  result = {"first": signal_when_logged(args, root / "first.log", r"step 20/150 ",
                                        getattr(signal, signal_name))}
  result["state_after_first"] = (state_file_prefix(out) if (out / "checkpoint").exists()
                                 else None)
  if not then_kill:
    result["second"] = run_to_end(args, root / "second.log")
    return result
  result["second"] = signal_when_logged(
      args, root / "second.log", r"Saved checkpoint \S*model\.ckpt-\d+\n",
      signal.SIGKILL, delay=random.Random(0).uniform(0.0, 0.1))
  result["state_after_second"] = state_file_prefix(out)
  result["third"] = run_to_end(args, root / "third.log")
  return result


def _nan(args, root):
  # A learning rate of 1e10 from the first update: the loss overflows in a few steps.
  return {"code": run_to_end(args + ["--learning_rate=1e10", "--warmup_proportion=0",
                                     "--save_checkpoints_steps=1",
                                     "--iterations_per_loop=1", "--num_train_epochs=1"],
                             root / "log")}


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
  """Starts every CLI scenario, two processes at a time: {name: (Future, folder)}.

  Each scenario's folder holds its logs and `out`, the --output_dir.
  """
  root = tmp_path_factory.mktemp("runs")
  scenarios = {"uninterrupted": (_uninterrupted,), "SIGTERM": (_interrupted, "SIGTERM"),
               "SIGINT": (_interrupted, "SIGINT", True),
               "SIGHUP": (_interrupted, "SIGHUP"), "nan": (_nan,)}
  pool = concurrent.futures.ThreadPoolExecutor(2)
  started = {}
  for name, (job, *extra) in scenarios.items():
    folder = root / name
    folder.mkdir()
    started[name] = (pool.submit(job, classifier_args(tiny_model, folder / "out"), folder,
                                 *extra), folder)
  yield started
  pool.shutdown(wait=True, cancel_futures=True)


def uninterrupted_tensors(runs):
  future, folder = runs["uninterrupted"]
  assert future.result()["code"] == 0, (folder / "log").read_text()[-3000:]
  return tensors_of(folder / "out")


# ------------------------------------------------------ preemption signals


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_saves_exits_and_the_rerun_ends_with_identical_weights(signal_name, runs):
  future, folder = runs[signal_name]
  result, out = future.result(), folder / "out"
  text = (folder / "first.log").read_text()
  assert result["first"] == EXIT_CODES[signal_name], text[-3000:]
  # One readable line, no traceback, naming the step it saved.
  assert "Traceback" not in text
  message = stderr_lines(folder / "first.log")[-1]
  match = re.fullmatch(rf"run_classifier\.py: {signal_name} received: saved a checkpoint "
                       r"at step (\d+) and stopped\. Run the same command again to "
                       r"resume from it\.", message)
  assert match, message
  step = int(match.group(1))
  assert 20 <= step < TOTAL_STEPS
  # The checkpoint of that very step, named by the state file.
  assert result["state_after_first"] == str(out / f"model.ckpt-{step}")

  second = (folder / "second.log").read_text()
  assert f"Resuming from {out / f'model.ckpt-{step}'} (step {step})" in second
  # The --init_checkpoint of the command is not used, and the log says so.
  assert re.search(rf"^W\d{{4}} .*\] --init_checkpoint=\S*bert_model\.ckpt is ignored: the "
                   rf"run resumes from its own checkpoint {re.escape(str(out))}/model\.ckpt-"
                   rf"{step} \(step {step}\)\. To start from --init_checkpoint, use a new "
                   r"--output_dir\.$", second, re.MULTILINE), second[-3000:]
  if signal_name == "SIGINT":   # its second run was killed: see the next test
    return
  assert result["second"] == 0, second[-3000:]
  assert state_file_prefix(out) == str(out / f"model.ckpt-{TOTAL_STEPS}")
  assert checkpoint_utils.read_global_step(str(out)) == TOTAL_STEPS
  assert_same_tensors(tensors_of(out), uninterrupted_tensors(runs))


def test_sigkill_of_a_resumed_run_resumes_again_to_identical_weights(runs):
  future, folder = runs["SIGINT"]
  result, out = future.result(), folder / "out"
  assert result["second"] == -signal.SIGKILL
  interrupted_at = checkpoint_utils.step_of(result["state_after_first"])
  killed_at = checkpoint_utils.step_of(result["state_after_second"])
  assert interrupted_at < killed_at < TOTAL_STEPS and killed_at % SAVE_EVERY == 0
  third = (folder / "third.log").read_text()
  assert result["third"] == 0, third[-3000:]
  resumed = re.search(r"Resuming from \S*model\.ckpt-(\d+) \(step \1\)", third)
  assert resumed and int(resumed.group(1)) >= killed_at, third[-3000:]
  assert state_file_prefix(out) == str(out / f"model.ckpt-{TOTAL_STEPS}")
  assert_same_tensors(tensors_of(out), uninterrupted_tensors(runs))


# ------------------------------------------------------------------ NaN loss


def test_nan_loss_is_one_line_naming_the_step_and_exit_code_1(runs):
  future, folder = runs["nan"]
  out = folder / "out"
  text = (folder / "log").read_text()
  assert future.result()["code"] == 1, text[-3000:]
  assert "Traceback" not in text
  message = stderr_lines(folder / "log")[-1]
  match = re.fullmatch(r"run_classifier\.py: error: The loss became NaN or Inf at step "
                       r"(\d+): lower --learning_rate or check the input data\. The last "
                       r"good checkpoint is (\S+)\.", message)
  assert match, message
  step, last_good = int(match.group(1)), match.group(2)
  assert 0 < step < NUM_TRAIN // BATCH
  # Saved every step until then, nothing after; the last one holds finite numbers.
  assert last_good == str(out / f"model.ckpt-{step}") == state_file_prefix(out)
  assert [checkpoint_utils.step_of(p) for p in
          checkpoint_utils.CheckpointManager(str(out)).prefixes()][-1] == step
  for name, value in tensors_of(last_good).items():
    assert np.all(np.isfinite(value)), name


# ------------------------------------------------------ damaged checkpoints


# The checkpoints the uninterrupted run keeps (keep_checkpoint_max=5).
KEPT_STEPS = (list(range(SAVE_EVERY, TOTAL_STEPS, SAVE_EVERY)) + [TOTAL_STEPS])[-5:]


def data_file(out, step):
  return out / f"model.ckpt-{step}.data-00000-of-00001"


def copy_of_the_finished_run(runs, destination):
  """The uninterrupted run's --output_dir (ended at TOTAL_STEPS), copied."""
  future, folder = runs["uninterrupted"]
  assert future.result()["code"] == 0, (folder / "log").read_text()[-3000:]
  shutil.copytree(folder / "out", destination)
  assert [checkpoint_utils.step_of(p) for p in
          checkpoint_utils.CheckpointManager(str(destination)).prefixes()] == KEPT_STEPS
  return destination


def test_a_resumed_run_skips_damaged_checkpoints_with_a_warning_and_ends_identical(
    runs, tiny_model, tmp_path):
  """The two newest checkpoints are damaged: the run resumes from the third."""
  out = copy_of_the_finished_run(runs, tmp_path / "out")
  newest, second, intact = KEPT_STEPS[-1], KEPT_STEPS[-2], KEPT_STEPS[-3]
  truncate_to_half(data_file(out, newest))
  flip_middle_byte(data_file(out, second))
  log = tmp_path / "log"
  assert run_to_end(classifier_args(tiny_model, out), log) == 0, log.read_text()[-3000:]
  text = log.read_text()
  resumed = rf"Resuming from the newest intact one, {re.escape(str(out))}/model\.ckpt-" \
            rf"{intact} \(step {intact}\)\.$"
  for step, reason in ((newest, r"holds \d+ bytes but model\.ckpt-\d+\.index lists \d+ \(the "
                        r"file is truncated, or the \.index belongs to another checkpoint\)"),
                       (second, r"fails its checksum at \S+ \(the file is corrupted, or "
                        r"model\.ckpt-\d+\.index belongs to another checkpoint\)")):
    warning = (rf"^W\d{{4}} .*\] Checkpoint {re.escape(str(out))}/model\.ckpt-{step} is "
               rf"damaged: {re.escape(str(data_file(out, step)))} {reason}\. {resumed}")
    assert re.search(warning, text, re.MULTILINE), text[-3000:]
  assert f"Resuming from {out}/model.ckpt-{intact} (step {intact})." in text
  assert state_file_prefix(out) == str(out / f"model.ckpt-{TOTAL_STEPS}")
  assert_same_tensors(tensors_of(out), uninterrupted_tensors(runs))


def test_an_output_dir_whose_checkpoints_are_all_damaged_is_one_error_line(
    runs, tiny_model, tmp_path):
  out = copy_of_the_finished_run(runs, tmp_path / "out")
  for step in KEPT_STEPS[:-1]:
    truncate_to_half(data_file(out, step))
  flip_middle_byte(data_file(out, KEPT_STEPS[-1]))
  before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in out.iterdir()}
  log = tmp_path / "log"
  assert run_to_end(classifier_args(tiny_model, out), log) == 1, log.read_text()[-3000:]
  assert "Traceback" not in log.read_text()
  message = stderr_lines(log)[-1]
  assert message.startswith(f"run_classifier.py: error: --output_dir={out}: every checkpoint "
                            f"of the run is damaged ({out}/model.ckpt-{KEPT_STEPS[-1]}: "
                            f"{data_file(out, KEPT_STEPS[-1])} fails its checksum at "), message
  assert message.endswith(". Delete them to start again from --init_checkpoint, or use a new "
                          "--output_dir."), message
  for step in KEPT_STEPS:
    assert f"{out}/model.ckpt-{step}: {data_file(out, step)} " in message
  after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in out.iterdir()}
  assert after == before


# ------------------------------------------- --init_checkpoint and output_dir


def read_results(path):
  return dict(line.split(" = ") for line in Path(path).read_text().splitlines())


def test_eval_without_training_uses_the_named_checkpoint_and_reports_its_step(
    runs, tiny_model, tmp_path):
  """output_dir holds a finished run; --init_checkpoint names an older checkpoint."""
  out = copy_of_the_finished_run(runs, tmp_path / "out")
  named = runs["uninterrupted"][1] / "out" / f"model.ckpt-{KEPT_STEPS[0]}"
  evaluate = ("--do_train=false", "--do_eval=true", f"--init_checkpoint={named}")
  fresh = tmp_path / "fresh"   # the same evaluation where no checkpoint competes
  processes = [start_cli(classifier_args(tiny_model, folder, *evaluate), tmp_path / name)
               for folder, name in ((out, "log"), (fresh, "fresh.log"))]
  for process, name in zip(processes, ("log", "fresh.log")):
    assert process.wait(timeout=600) == 0, (tmp_path / name).read_text()[-3000:]
  text = (tmp_path / "log").read_text()
  assert re.search(rf"^W\d{{4}} .*\] Evaluating --init_checkpoint={re.escape(str(named))} "
                   rf"\({re.escape(str(named))}, step {KEPT_STEPS[0]}\), not the newest "
                   rf"checkpoint of --output_dir={re.escape(str(out))} "
                   rf"\({re.escape(str(out))}/model\.ckpt-{TOTAL_STEPS}\): without "
                   r"--do_train the named checkpoint wins\.$", text, re.MULTILINE), text[-3000:]
  results = read_results(out / "eval_results.txt")
  assert results["global_step"] == str(KEPT_STEPS[0])
  assert results == read_results(fresh / "eval_results.txt")


# ----------------------------------------------------- crashes during a save


# The calls that change a checkpoint directory: (module, function name) of
# tf.io.gfile and, for local paths (atomic_files), of os and shutil; SaveV2 is
# patched too.
FILE_OPERATIONS = tuple([(tf.io.gfile, name) for name in ("rename", "remove", "rmtree",
                                                          "makedirs")] +
                        [(os, name) for name in ("replace", "rename", "remove", "rmdir",
                                                 "mkdir", "makedirs")] +
                        [(shutil, "rmtree")])


class _Crash(BaseException):
  """Stands for the process dying: nothing after the failing call runs."""


def _marker_tensors(step, value=None):
  """Tensors whose every element tells which save wrote them."""
  value = step if value is None else value
  return {"global_step": np.int64(step), "a": np.full([300], value, np.float32),
          "layer/kernel": np.full([7, 11], -value, np.float32)}


def check_directory_after_crash(directory, check_tensors):
  """Asserts what a crash may leave: a state file naming whole checkpoints.

  Every checkpoint that the state file lists or an `.index` file announces must
  load with tf.train.load_checkpoint and checkpoint_utils, its tensors passing
  `check_tensors(prefix, {name: np.ndarray})`.

  Returns:
    (step of the checkpoint the state file names, step of the newest one).
  """
  directory = str(directory)
  latest = state_file_prefix(directory)
  assert tf.train.latest_checkpoint(directory) == latest
  assert checkpoint_utils.resolve_checkpoint(directory) == latest
  state = tf.train.get_checkpoint_state(directory)
  listed = {os.path.join(directory, p) for p in state.all_model_checkpoint_paths}
  assert latest in listed
  indexed = {path[:-len(".index")]
             for path in tf.io.gfile.glob(os.path.join(directory, "*.index"))}
  for prefix in listed | indexed:
    reader = tf.train.load_checkpoint(prefix)
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    check_tensors(prefix, values)
    assert checkpoint_utils.read_checkpoint(prefix).keys() == values.keys()
  newest = checkpoint_utils.step_of(checkpoint_utils.CheckpointManager(directory).latest())
  assert newest >= checkpoint_utils.step_of(latest)
  return checkpoint_utils.step_of(latest), newest


def _check_marker_tensors(prefix, values):
  """The tensors of _marker_tensors: all written by the same save."""
  assert set(values) == {"global_step", "a", "layer/kernel"}, prefix
  marker = values["a"].flat[0]
  np.testing.assert_array_equal(values["a"], np.full([300], marker), err_msg=prefix)
  np.testing.assert_array_equal(values["layer/kernel"], np.full([7, 11], -marker))


def _operations_of_a_save(directory, step, tensors, max_to_keep, monkeypatch):
  """Counts the file operations (renames, removals, bundle writes) of one save."""
  count = [0]

  def counting(function):
    def wrapper(*args, **kwargs):
      count[0] += 1
      return function(*args, **kwargs)
    return wrapper

  with monkeypatch.context() as patch:
    for module, name in FILE_OPERATIONS:
      patch.setattr(module, name, counting(getattr(module, name)))
    patch.setattr(tf.raw_ops, "SaveV2", counting(tf.raw_ops.SaveV2))
    checkpoint_utils.CheckpointManager(directory, max_to_keep=max_to_keep).save(
        step, tensors)
  return count[0]


@pytest.mark.parametrize("case", ["new step", "step saved again"])
def test_a_crash_before_any_file_operation_of_a_save_leaves_a_usable_checkpoint(
    case, tmp_path, monkeypatch):
  """The process dies before the k-th rename/removal/bundle write, for every k."""
  max_to_keep = 3
  step, value = (4, 4) if case == "new step" else (3, 30)

  def fresh(directory):
    manager = checkpoint_utils.CheckpointManager(str(directory), max_to_keep=max_to_keep)
    for old in (1, 2, 3):
      manager.save(old, _marker_tensors(old))
    return str(directory)

  total = _operations_of_a_save(fresh(tmp_path / "count"), step,
                                _marker_tensors(step, value), max_to_keep, monkeypatch)
  assert total >= 4   # bundle write, data + index renames, state file; + pruning
  for crash_at in range(1, total + 1):
    directory = fresh(tmp_path / f"crash{crash_at}")
    calls = [0]

    def dying(function):
      def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == crash_at:
          raise _Crash()
        return function(*args, **kwargs)
      return wrapper

    with monkeypatch.context() as patch:
      for module, name in FILE_OPERATIONS:
        patch.setattr(module, name, dying(getattr(module, name)))
      patch.setattr(tf.raw_ops, "SaveV2", dying(tf.raw_ops.SaveV2))
      with pytest.raises(_Crash):
        checkpoint_utils.CheckpointManager(directory, max_to_keep=max_to_keep).save(
            step, _marker_tensors(step, value))
    latest, _ = check_directory_after_crash(directory, _check_marker_tensors)
    assert latest in (2, 3, 4), (crash_at, latest)
    # The re-run saves again and leaves a tidy directory.
    manager = checkpoint_utils.CheckpointManager(directory, max_to_keep=max_to_keep)
    manager.save(step, _marker_tensors(step, value))
    manager.save(step + 10, _marker_tensors(step + 10))
    assert check_directory_after_crash(directory, _check_marker_tensors) == (
        step + 10, step + 10)
    names = sorted(os.listdir(directory))
    expected_steps = sorted({1, 2, 3, step, step + 10})[-max_to_keep:]
    expected = sorted(["checkpoint"] + [f"model.ckpt-{s}{suffix}" for s in expected_steps
                                        for suffix in (".index", ".data-00000-of-00001")])
    assert names == expected, (crash_at, names)


def _record_state_writes(monkeypatch, dying_at=None):
  """The names the state file is written with from now on; `dying_at`'s write crashes."""
  named = []
  real = checkpoint_utils.write_checkpoint_state

  def recording(directory, latest, all_prefixes):
    if dying_at and os.path.basename(latest) == dying_at:
      raise _Crash()
    named.append(os.path.basename(latest))
    real(directory, latest, all_prefixes)

  monkeypatch.setattr(checkpoint_utils, "write_checkpoint_state", recording)
  return named


def test_a_save_after_resuming_past_the_state_file_first_catches_the_state_up(
    tmp_path, monkeypatch):
  """Killed twice between index and state file: the state stays one save behind."""
  directory = str(tmp_path)
  manager = checkpoint_utils.CheckpointManager(directory, max_to_keep=2)
  for step in (1, 2):
    manager.save(step, _marker_tensors(step))
  # What a kill between model.ckpt-2.index and its state file leaves:
  checkpoint_utils.write_checkpoint_state(
      directory, os.path.join(directory, "model.ckpt-1"),
      [os.path.join(directory, "model.ckpt-1")])
  assert check_directory_after_crash(directory, _check_marker_tensors) == (1, 2)
  written = _record_state_writes(monkeypatch, dying_at="model.ckpt-3")
  with pytest.raises(_Crash):   # the resumed run is killed the same way
    checkpoint_utils.CheckpointManager(directory, max_to_keep=2).save(3, _marker_tensors(3))
  assert written == ["model.ckpt-2"]
  assert check_directory_after_crash(directory, _check_marker_tensors) == (2, 3)


# Importing TensorFlow takes seconds: this parent imports it once (running no
# op) and forks one saving loop per request, each a real process to SIGKILL.
# Request on stdin: "<directory> <last step>"; replies on stdout:
# "STARTED <pid> <step resumed from>", then "EXIT <pid> <wait status>".
SAVING_LOOP = textwrap.dedent("""
    import os
    import sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    import checkpoint_utils

    def saving_loop(directory, last_step):
      manager = checkpoint_utils.CheckpointManager(directory, max_to_keep=2)
      latest = manager.latest()
      step = checkpoint_utils.step_of(latest) + 1 if latest else 1
      print("STARTED", os.getpid(), step - 1, flush=True)
      big = np.ones([1 << 20], np.float32)     # 4 MB per tensor: a save takes a while
      while step <= last_step:
        manager.save(step, {{"global_step": np.int64(step), "a": big * step,
                            "layer/kernel": np.full([7, 11], -step, np.float32),
                            "b": big * -step}})
        step += 1

    for line in sys.stdin:
      directory, last_step = line.split()
      pid = os.fork()
      if pid == 0:
        try:
          saving_loop(directory, int(last_step))
        finally:
          os._exit(0)
      _, status = os.waitpid(pid, 0)
      print("EXIT", pid, status, flush=True)
""")


def _run_saving_loop(server, directory, last_step, kill_after=None):
  """One forked saving loop, SIGKILLed after `kill_after` s; (step resumed from, status)."""
  server.stdin.write(f"{directory} {last_step}\n")
  server.stdin.flush()
  started = server.stdout.readline().split()
  assert started and started[0] == "STARTED", started
  pid, resumed = int(started[1]), int(started[2])
  if kill_after is not None:
    time.sleep(kill_after)
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  ended = server.stdout.readline().split()
  assert ended[:2] == ["EXIT", str(pid)], ended
  return resumed, int(ended[2])


def test_sigkill_at_random_moments_of_a_saving_loop_never_breaks_the_checkpoint(tmp_path):
  directory = tmp_path / "ckpts"
  server = subprocess.Popen([sys.executable, "-c", SAVING_LOOP.format(repo=str(REPO_ROOT))],
                            env=cli_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
  rng = random.Random(1234)
  named, newest = [0], 0   # steps of the state file's checkpoint; of the newest one
  try:
    for _ in range(20):
      resumed, status = _run_saving_loop(server, directory, 10 ** 6,
                                         kill_after=rng.uniform(0.0, 0.5))
      assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
      # A kill between the new index and the state file leaves the state one
      # step behind: both checkpoints are whole; a resume takes the newest.
      assert resumed == newest
      if newest == 0 and not (directory / "checkpoint").exists():
        assert not list(directory.glob("*.index"))   # killed before its first save
        continue
      named_step, newest = check_directory_after_crash(directory, _check_loop_tensors)
      named.append(named_step)
      assert newest in (named_step, named_step + 1)
    assert named == sorted(named) and named[-1] > 10, named
    # A loop that is not killed resumes, finishes and leaves no debris.
    last = newest + 3
    resumed, status = _run_saving_loop(server, directory, last)
    assert resumed == newest and status == 0
  finally:
    server.kill()
    server.wait()
  assert check_directory_after_crash(directory, _check_loop_tensors) == (last, last)
  assert sorted(os.listdir(directory)) == sorted(
      ["checkpoint"] + [f"model.ckpt-{s}{x}" for s in (last - 1, last)
                        for x in (".index", ".data-00000-of-00001")])


def _check_loop_tensors(prefix, values):
  """The tensors of SAVING_LOOP: all of the step in the checkpoint's name."""
  step = int(values["global_step"])
  assert prefix.endswith(f"model.ckpt-{step}")
  np.testing.assert_array_equal(values["a"], np.full([1 << 20], step, np.float32))
  np.testing.assert_array_equal(values["b"], np.full([1 << 20], -step, np.float32))
  np.testing.assert_array_equal(values["layer/kernel"], np.full([7, 11], -step))


# ------------------------------------------------------------ stale caches


def _fine_tuned_classifier(model):
  """A classifier checkpoint of the tiny model with a random (not zero) head."""
  import tasks  # pylint: disable=g-import-not-at-top
  config = modeling.BertConfig.from_json_file(str(model / "bert_config.json"))
  task = tasks.ClassifierTask(config, 2)
  task.build("float32", seed=5)
  task.head.output_weights.assign(tf.random.stateless_normal([2, 16], seed=[1, 2]))
  prefix = str(model / "fine_tuned" / "model.ckpt-1")
  checkpoint_utils.save_tensors(prefix, task.variables())
  return prefix


def test_a_changed_test_file_is_not_answered_from_the_stale_cache(tiny_model, tmp_path):
  """The predict cache is keyed on the examples: new rows, new predictions."""
  checkpoint = _fine_tuned_classifier(tiny_model)
  rows = (MRPC / "test.tsv").read_bytes().splitlines(keepends=True)
  data = tmp_path / "data"
  data.mkdir()

  def predict(test_rows, out):
    (data / "test.tsv").write_bytes(b"".join([rows[0]] + test_rows))
    args = [sys.executable, str(REPO_ROOT / "run_classifier.py"), "--task_name=MRPC",
            "--do_predict=true", f"--data_dir={data}", f"--vocab_file={tiny_model / 'vocab.txt'}",
            f"--bert_config_file={tiny_model / 'bert_config.json'}",
            f"--init_checkpoint={checkpoint}", "--max_seq_length=32", f"--output_dir={out}"]
    assert run_to_end(args, tmp_path / "log.txt") == 0, (tmp_path / "log.txt").read_text()
    return (out / "test_results.tsv").read_text()

  first = predict(rows[1:17], tmp_path / "predict")
  second = predict(rows[17:33], tmp_path / "predict")     # the same folder, other rows
  fresh = predict(rows[17:33], tmp_path / "fresh")        # nothing cached
  assert len(first.splitlines()) == len(second.splitlines()) == 16
  assert second != first
  assert second == fresh
  assert "Feature cache" in (tmp_path / "log.txt").read_text() or second == fresh


# ------------------------------------------------------------ one run per folder


def test_a_second_run_in_the_same_output_dir_stops_and_names_the_first(tiny_model, tmp_path):
  out = tmp_path / "out"
  # Long enough (1,250 updates) to be still running when the second run starts.
  args = classifier_args(tiny_model, out, "--num_train_epochs=50")
  first = start_cli(args, tmp_path / "first.log")
  try:
    wait_for_log(first, tmp_path / "first.log", r"step 5/1250 ")
    second = subprocess.run(args, cwd=REPO_ROOT, env=cli_env(), capture_output=True,
                            text=True, timeout=600)
    assert first.poll() is None, "the first run ended before the second one was checked"
    assert second.returncode == 1, second.stderr[-2000:]
    last = [line for line in second.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("run_classifier.py: error: ")
    assert f"is in use by another run (pid {first.pid} " in last
    assert "Traceback" not in second.stderr
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=600) == 143, (tmp_path / "first.log").read_text()[-2000:]
  finally:
    if first.poll() is None:
      first.kill()
      first.wait()
  assert checkpoint_utils.CheckpointManager(str(out)).latest()
  assert not (out / "run.lock").exists()
  # The interrupted run, resumed with another learning rate: stopped, naming the change.
  changed = subprocess.run(args + ["--learning_rate=5e-4", "--num_train_epochs=1"],
                           cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True,
                           timeout=600)
  assert changed.returncode == 1, changed.stderr[-2000:]
  assert "training.learning_rate: 0.001 -> 0.0005" in changed.stderr
  assert "training.num_train_steps: 1250 -> 25" in changed.stderr
  assert "--allow_setting_changes=true" in changed.stderr
  allowed = subprocess.run(args + ["--learning_rate=5e-4", "--num_train_epochs=1",
                                  "--allow_setting_changes=true"],
                           cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True,
                           timeout=600)
  assert allowed.returncode == 0, allowed.stderr[-2000:]
  assert "with changed settings: training.learning_rate: 0.001 -> 0.0005" in allowed.stderr


def test_a_lock_left_by_a_dead_process_is_taken_over_and_a_live_one_is_not(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import socket  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  lock_path = tmp_path / "run.lock"
  lock_path.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                   "started": "then", "command": "old run"}))
  lock = run_info.RunLock(str(tmp_path))
  lock.acquire()
  assert json.loads(lock_path.read_text())["pid"] == os.getpid()
  lock.release()
  assert not lock_path.exists()
  alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    lock_path.write_text(json.dumps({"pid": alive.pid, "host": socket.gethostname(),
                                     "started": "now", "command": "run_ner.py --x"}))
    with pytest.raises(errors.UserError, match=f"in use by another run \\(pid {alive.pid} "
                                               ".*run_ner.py --x.*delete"):
      run_info.RunLock(str(tmp_path)).acquire()
    assert json.loads(lock_path.read_text())["pid"] == alive.pid   # left alone
  finally:
    alive.kill()
    alive.wait()


def test_a_lock_copied_with_its_folder_is_taken_over_and_a_moved_live_runs_is_not(tmp_path):
  """A copy taken during a live run refused to resume, naming the live run's folder."""
  import json  # pylint: disable=g-import-not-at-top
  import socket  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  live, copy = tmp_path / "live", tmp_path / "copy"
  live.mkdir()
  copy.mkdir()
  alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    for folder, taken in ((live, True), (tmp_path / "moved_away", False), (copy, False)):
      (copy / "run.lock").write_text(json.dumps({
          "pid": alive.pid, "host": socket.gethostname(), "started": "now",
          "command": "run_classifier.py --output_dir=live", "folder": str(folder)}))
      lock = run_info.RunLock(str(copy))
      if taken:
        lock.acquire()
        recorded = json.loads((copy / "run.lock").read_text())
        assert recorded["pid"] == os.getpid() and recorded["folder"] == str(copy)
        lock.release()
      else:
        with pytest.raises(errors.UserError, match=f"in use by another run \\(pid {alive.pid} "):
          lock.acquire()
  finally:
    alive.kill()
    alive.wait()


def test_a_damaged_run_record_is_not_read_as_a_record_without_settings(tmp_path):
  """run_info.json holding {} or [] let any model resume the folder's checkpoints."""
  import json  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  info = {"task_kind": "classifier", "label_list": ["0", "1"], "bert_config": {"h": 8},
          "max_seq_length": 32}
  checkpoint = str(tmp_path / "model.ckpt-8")
  record = tmp_path / "run_info.json"
  record.write_text(json.dumps(info))
  run_info.check_resumable(str(tmp_path), info, checkpoint)   # the same run: resumed
  with pytest.raises(errors.UserError, match=r"bert_config.h: 8 -> 4"):
    run_info.check_resumable(str(tmp_path), dict(info, bert_config={"h": 4}), checkpoint)
  for damaged in ("{}", "[]", '{"task_kind": "classifier"}'):
    record.write_text(damaged)
    for training, resumed in ((True, checkpoint), (False, None)):
      with pytest.raises(errors.UserError, match=re.escape(str(record)) + " is not the "
                         "record a training run writes .*restore it, or use a new "
                         "--output_dir"):
        run_info.check_resumable(str(tmp_path), info, resumed, training=training)


def test_a_run_with_another_vocabulary_than_the_folders_is_refused(tmp_path):
  """A resume or evaluation with another vocab.txt of the same size went ahead silently."""
  import json  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  run = tmp_path / "run"
  run.mkdir()
  (run / "vocab.txt").write_text("[PAD]\n[UNK]\na\nb\n")
  (tmp_path / "same.txt").write_text("[PAD]\n[UNK]\na\nb\n")
  (tmp_path / "other.txt").write_text("[PAD]\n[UNK]\nb\na\n")
  info = {"task_kind": "classifier", "label_list": ["0", "1"], "bert_config": {"h": 8}}
  (run / "run_info.json").write_text(json.dumps(dict(info, vocab_file="vocab.txt")))
  checkpoint = str(run / "model.ckpt-8")
  for vocab in (run / "vocab.txt", tmp_path / "same.txt"):
    for training, resumed in ((True, checkpoint), (False, None)):
      run_info.check_resumable(str(run), dict(info, vocab_file=str(vocab)), resumed,
                               training=training)
  for training, resumed in ((True, checkpoint), (False, None)):
    with pytest.raises(errors.UserError, match=r"another model, task or labels \(vocab.txt: "
                       r"the folder's copy differs from --vocab_file=.*other.txt\)"):
      run_info.check_resumable(str(run), dict(info, vocab_file=str(tmp_path / "other.txt")),
                               resumed, training=training)


def test_checkpoints_without_a_run_record_are_resumed_with_a_warning(tmp_path, caplog):
  """A copy without run_info.json resumed with any settings, silently."""
  import logging  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  caplog.set_level(logging.WARNING)
  info = {"task_kind": "classifier", "label_list": ["0", "1"], "bert_config": {"h": 8}}
  run_info.check_resumable(str(tmp_path), info, None)   # a new run: nothing to say
  assert not caplog.records
  for training, verb in ((True, "resuming"), (False, "evaluating")):
    caplog.clear()
    run_info.check_resumable(str(tmp_path), info, str(tmp_path / "model.ckpt-302"),
                             training=training)
    assert [r.getMessage() for r in caplog.records] == [
        f"--output_dir={tmp_path} holds checkpoints but no run_info.json: nothing tells "
        f"whether they are of this model and settings; {verb} model.ckpt-302 as given."]


def test_the_eval_history_of_a_hard_linked_copy_is_its_own(tmp_path):
  """cp -al or rsync --link-dest: appending in place changed the original's history too."""
  import run_info  # pylint: disable=g-import-not-at-top
  original, copy = tmp_path / "run" / "eval_history.txt", tmp_path / "copy" / "eval_history.txt"
  original.parent.mkdir()
  copy.parent.mkdir()
  run_info.append_results(str(original), {"global_step": 4, "eval_accuracy": 0.5})
  os.link(original, copy)
  run_info.append_results(str(copy), {"global_step": 8, "eval_accuracy": 0.75})
  assert original.read_text() == "eval_accuracy = 0.5\nglobal_step = 4\n\n"
  assert copy.read_text() == ("eval_accuracy = 0.5\nglobal_step = 4\n\n"
                              "eval_accuracy = 0.75\nglobal_step = 8\n\n")


# ------------------------------------------------------------ a full disk


def _no_space(path="x"):
  import errno  # pylint: disable=g-import-not-at-top
  return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_resume_below_a_damaged_newest_checkpoint_never_names_it(tmp_path, monkeypatch):
  """Resumed from 1 past a damaged 5, saving 2 must not catch the state up to 5."""
  directory = str(tmp_path)
  manager = checkpoint_utils.CheckpointManager(directory, max_to_keep=3)
  for step in (1, 5):
    manager.save(step, _marker_tensors(step))
  checkpoint_utils.write_checkpoint_state(   # what the resume saw: state on 1
      directory, os.path.join(directory, "model.ckpt-1"),
      [os.path.join(directory, "model.ckpt-1")])
  named = _record_state_writes(monkeypatch)
  manager.save(2, _marker_tensors(2))
  assert named == ["model.ckpt-2"]


def test_a_checkpoint_named_without_a_folder_reads_and_saves_again(tmp_path, monkeypatch):
  """--init_checkpoint=bert_model.ckpt, run inside the model's folder."""
  monkeypatch.chdir(tmp_path)
  checkpoint_utils.save_tensors("bert_model.ckpt", _marker_tensors(1))
  values = checkpoint_utils.read_checkpoint("bert_model.ckpt")
  assert sorted(values) == ["a", "global_step", "layer/kernel"]
  _check_marker_tensors("bert_model.ckpt", {k: np.asarray(v) for k, v in values.items()})
  checkpoint_utils.save_tensors("bert_model.ckpt", _marker_tensors(2))   # saved again
  assert int(checkpoint_utils.read_checkpoint("bert_model.ckpt")["global_step"]) == 2
  assert sorted(os.listdir(tmp_path)) == ["bert_model.ckpt.data-00000-of-00001",
                                          "bert_model.ckpt.index"]


@pytest.mark.parametrize("folder", ["lr*2", "what?", "r{a,b}"])
def test_a_folder_named_like_a_glob_pattern_is_a_name(tmp_path, folder):
  """Checkpoints in `lr*2` are its own, not those of a folder the pattern matches."""
  directory = tmp_path / folder
  decoy = checkpoint_utils.CheckpointManager(str(tmp_path / "lrx2"), max_to_keep=5)
  other = checkpoint_utils.CheckpointManager(str(tmp_path / "whatx"), max_to_keep=5)
  for step in (7, 8, 9):
    decoy.save(step, _marker_tensors(step))
    other.save(step, _marker_tensors(step))
  manager = checkpoint_utils.CheckpointManager(str(directory), max_to_keep=2)
  for step in (1, 2, 3):
    manager.save(step, _marker_tensors(step))
  assert manager.prefixes() == [str(directory / "model.ckpt-2"), str(directory / "model.ckpt-3")]
  assert checkpoint_utils.resolve_checkpoint(str(directory)) == str(directory / "model.ckpt-3")
  assert int(checkpoint_utils.read_checkpoint(str(directory))["global_step"]) == 3
  assert check_directory_after_crash(directory, _check_marker_tensors) == (3, 3)
  assert len(decoy.prefixes()) == len(other.prefixes()) == 3   # untouched


def test_a_checkpoint_folder_with_a_bracket_is_refused_before_any_work(tmp_path):
  """TensorFlow cannot read checkpoints under `run[1]`: one line, nothing written."""
  import errors  # pylint: disable=g-import-not-at-top
  directory = tmp_path / "run[1]"
  with pytest.raises(errors.UserError, match=r"--output_dir=.*run\[1\]: TensorFlow reads "
                     r"'\[' .* rename the folder without '\['"):
    checkpoint_utils.CheckpointManager(str(directory))
  with pytest.raises(errors.UserError, match=r"--init_checkpoint=.*run\[1\]/bert_model.ckpt"):
    checkpoint_utils.read_checkpoint(str(directory / "bert_model.ckpt"))
  assert not directory.exists()


def test_a_checkpoint_folder_whose_name_is_not_utf8_is_refused_before_any_work(tmp_path):
  """A Latin-1 folder name (bytes, not UTF-8) failed inside tf.io.gfile with a traceback."""
  import errors  # pylint: disable=g-import-not-at-top
  directory = os.path.join(str(tmp_path), os.fsdecode(b"r\xe9sum\xe9"))
  with pytest.raises(errors.UserError) as error:
    checkpoint_utils.CheckpointManager(directory)
  assert str(error.value) == (
      f"--output_dir={tmp_path}/r\\xe9sum\\xe9: the path holds bytes that are not UTF-8, "
      "and TensorFlow takes UTF-8 paths only; rename it with UTF-8 characters.")
  with pytest.raises(errors.UserError, match=r"--init_checkpoint=.*r\\xe9sum\\xe9/bert"):
    checkpoint_utils.read_checkpoint(os.path.join(directory, "bert_model.ckpt"))
  import cli  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.UserError, match=r"--output_file=.*r\\xe9sum\\xe9/o.jsonl: the path"):
    cli.require_creatable_dir(os.path.join(directory, "o.jsonl"), "output_file", of_file=True)
  # Inputs too (--data_dir, --vocab_file): a UnicodeEncodeError inside tf.io.gfile before.
  with pytest.raises(errors.UserError, match=r"^--data_dir=.*r\\xe9sum\\xe9: the path"):
    cli.require_dir(directory, "data_dir")
  with pytest.raises(errors.UserError, match=r"^--vocab_file=.*r\\xe9sum\\xe9/v.txt: the"):
    cli.require_file(os.path.join(directory, "v.txt"), "vocab_file")
  import curves  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  for read in (run_info.read_run_info, curves.read_curves):   # inference, export, plot_curves
    with pytest.raises(errors.UserError, match=r"^--model_dir=.*r\\xe9sum\\xe9: the path"):
      read(directory)
  assert not os.path.exists(directory)


def test_a_state_file_is_rewritten_only_when_it_lags(tmp_path, monkeypatch):
  """Spelled "./ckpts//", the folder still shows its checkpoints: no needless catch-up."""
  monkeypatch.chdir(tmp_path)
  manager = checkpoint_utils.CheckpointManager("ckpts", max_to_keep=2)
  manager.save(1, _marker_tensors(1))
  written = _record_state_writes(monkeypatch)
  for step in (2, 3):
    checkpoint_utils.CheckpointManager("./ckpts//", max_to_keep=2).save(
        step, _marker_tensors(step))
  assert written == ["model.ckpt-2", "model.ckpt-3"]   # one state write per save
  assert check_directory_after_crash(tmp_path / "ckpts", _check_marker_tensors) == (3, 3)


def test_a_full_disk_during_a_checkpoint_save_keeps_the_last_checkpoint(tmp_path, monkeypatch):
  import errors  # pylint: disable=g-import-not-at-top
  manager = checkpoint_utils.CheckpointManager(str(tmp_path), max_to_keep=3)
  manager.save(1, _marker_tensors(1))

  def full(**_):
    raise tf.errors.ResourceExhaustedError(None, None, "model.ckpt-2.data: No space left on device")

  monkeypatch.setattr(tf.raw_ops, "SaveV2", full)
  with pytest.raises(errors.UserError) as error:
    manager.save(2, _marker_tensors(2))
  message = str(error.value)
  assert str(tmp_path / "model.ckpt-2") in message
  assert "no space left on the device (" in message and "MiB free there)" in message
  # The staging folder is gone (it would hold the space until the next save).
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      "checkpoint", "model.ckpt-1.data-00000-of-00001", "model.ckpt-1.index"]
  assert manager.latest() == str(tmp_path / "model.ckpt-1")


def test_a_full_disk_during_an_atomic_write_keeps_the_old_file(tmp_path):
  import errors  # pylint: disable=g-import-not-at-top
  path = tmp_path / "eval_results.txt"
  atomic_files.write_text(str(path), "eval_accuracy = 0.5\n")
  with pytest.raises(errors.UserError, match="eval_results.txt: no space left"):
    with atomic_files.atomic_writer(str(path)) as writer:
      writer.write("eval_accuracy = 0.7\n")
      raise _no_space(atomic_files.temporary_path(str(path)))
  assert path.read_text() == "eval_accuracy = 0.5\n"
  assert [p.name for p in tmp_path.iterdir()] == ["eval_results.txt"]


def test_a_full_disk_in_create_pretraining_data_is_one_line_and_keeps_old_outputs(
    tmp_path, monkeypatch):
  import create_pretraining_data as cpd  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "dog", "ran"]
  (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
  (tmp_path / "corpus.txt").write_text("the cat sat\nthe dog ran\n\nthe dog sat\nthe cat ran\n")
  output = tmp_path / "out" / "examples.tfrecord"
  output.parent.mkdir()
  output.write_bytes(b"an earlier good output")
  config = cpd.PretrainingDataConfig(max_seq_length=12, max_predictions_per_seq=2,
                                     dupe_factor=2)

  def full(self):
    raise _no_space(self._file.name)

  monkeypatch.setattr(cpd.TFRecordWriter, "flush", full)
  with pytest.raises(errors.UserError) as error:
    cpd.run([str(tmp_path / "corpus.txt")], [str(output)], str(tmp_path / "vocab.txt"),
            config)
  line = errors.error_line(error.value)
  assert f"{output}: no space left on the device" in line   # the output the user named
  assert "MiB free there" in line
  assert output.read_bytes() == b"an earlier good output"
  assert [p.name for p in output.parent.iterdir()] == ["examples.tfrecord"]


# ------------------------------------------------------------ smaller problems


def test_eval_history_is_not_appended_through_a_symbolic_link(tmp_path):
  import errors  # pylint: disable=g-import-not-at-top
  import run_info  # pylint: disable=g-import-not-at-top
  outside = tmp_path / "outside.txt"
  outside.write_text("kept\n")
  run = tmp_path / "run"
  run.mkdir()
  (run / "eval_history.txt").symlink_to(outside)
  with pytest.raises(errors.UserError, match="eval_history.txt is a symbolic link"):
    run_info.append_results(str(run / "eval_history.txt"), {"eval_accuracy": 0.5})
  assert outside.read_text() == "kept\n"
  run_info.append_results(str(run / "history.txt"), {"global_step": 3, "eval_accuracy": 0.5})
  assert (run / "history.txt").read_text() == "eval_accuracy = 0.5\nglobal_step = 3\n\n"


def test_a_field_longer_than_csv_default_limit_is_read(tmp_path):
  import data_files  # pylint: disable=g-import-not-at-top
  text = "x" * 200_000
  (tmp_path / "train.tsv").write_text(f"text_a\tlabel\n{text}\t1\n", encoding="utf-8")
  rows = data_files.read_rows(str(tmp_path / "train.tsv"))
  assert len(rows) == 2
  assert rows[1] == [text, "1"] and rows[1].line_number == 2
  (tmp_path / "train.csv").write_text(f'text_a,label\n"{text}",1\n', encoding="utf-8")
  rows = data_files.read_rows(str(tmp_path / "train.csv"), ",", '"')
  assert len(rows) == 2 and rows[1] == [text, "1"]


def test_repeated_squad_question_ids_are_reported(caplog):
  import squad_data  # pylint: disable=g-import-not-at-top
  qa = lambda qid: {"id": qid, "question": "who sat ?",
                    "answers": [{"text": "the cat", "answer_start": 0}]}
  articles = [{"title": "t", "paragraphs": [
      {"context": "the cat sat .", "qas": [qa("q1"), qa("q2"), qa("q1")]}]}]
  with caplog.at_level("WARNING"):
    examples = squad_data.examples_from_data(articles, False, source="dev.json")
  assert [e.qas_id for e in examples] == ["q1", "q2", "q1"]
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warnings) == 1
  assert "dev.json: 1 question ids occur more than once (e.g. 'q1')" in warnings[0]


# ------------------------------------------------------------ a movable run folder


def test_a_moved_run_folder_serves_with_its_source_model_folder_renamed(tiny_model, tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  source = tmp_path / "source"
  shutil.copytree(tiny_model, source, ignore=shutil.ignore_patterns("MRPC", "fine_tuned"))
  out = tmp_path / "run"
  args = [sys.executable, str(REPO_ROOT / "run_classifier.py"), "--task_name=MRPC",
          "--do_train=true", f"--data_dir={tiny_model / 'MRPC'}",
          f"--vocab_file={source / 'vocab.txt'}",
          f"--bert_config_file={source / 'bert_config.json'}",
          f"--init_checkpoint={source / 'bert_model.ckpt'}", "--max_seq_length=32",
          "--train_batch_size=8", "--num_train_epochs=1", f"--output_dir={out}"]
  assert run_to_end(args, tmp_path / "train.log") == 0, (tmp_path / "train.log").read_text()
  info = json.loads((out / "run_info.json").read_text())
  assert info["vocab_file"] == "vocab.txt" and info["bert_config_file"] == "bert_config.json"
  assert (out / "vocab.txt").read_bytes() == (source / "vocab.txt").read_bytes()
  source.rename(tmp_path / "source_renamed")
  moved = tmp_path / "elsewhere" / "run"
  moved.parent.mkdir()
  out.rename(moved)
  done = subprocess.run([sys.executable, str(REPO_ROOT / "inference.py"),
                         f"--model_dir={moved}", "--input=the company posted a profit ."],
                        cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                        timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  lines = done.stdout.strip().splitlines()
  assert len(lines) == 1
  result = json.loads(lines[0])
  assert result["label"] in ("0", "1") and set(result["probabilities"]) == {"0", "1"}
