"""Multi-worker training through the real CLI: two processes on 127.0.0.1.

Two `run_pretraining.py` workers, each with TF_CONFIG naming the two-task
cluster and its own index, train with --distribution_strategy=multi_worker
(MultiWorkerMirroredStrategy, one CPU replica per worker). They must end where
one process training on the same global batch ends: every worker reads the
same shuffled stream and keeps its replicas' halves of each global batch, the
gradients are all-reduced, and only the chief (worker 0) writes checkpoints,
summaries and eval_results.txt into the shared --output_dir. A SIGTERM to one
worker stops both at the same step (the chief saves) and the same commands
resume; run_classifier.py workers keep their feature caches out of output_dir.
The main comparison takes ~25 s on two idle cores; the preemption and
classifier runs (~40 s and ~20 s idle, twice that on a busy machine) are
`slow`. The split of the input stream and the TPU error are checked fast.

Why a tolerance and not bit equality: one process takes the mean loss over
the 8 examples of a batch; two replicas take means over 4 and average them,
and their matmuls have other shapes (so another summation order). The
weights differ by float32 rounding: ~1e-6 after one step, 1.7e-6 at most after
the 60 steps here (Adam's normalised updates do not amplify it much).
Dropout is on (0.1): an example's masks are keyed by its index in the
training stream, not by the replica that trains it, so both topologies drop
the same units.
"""

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import modeling
import input_pipeline
import training
from test_fault_tolerance import BATCH, NUM_TRAIN, classifier_args
from test_fault_tolerance import tiny_model  # pylint: disable=unused-import  (a fixture)
from test_run_pretraining import PREDS, SEQ, VOCAB, write_records

REPO_ROOT = Path(__file__).resolve().parents[1]
STEPS = 60
TIMEOUT = 300     # seconds a run may take before the test kills it


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("multi_worker")
  config = modeling.BertConfig(
      vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
      intermediate_size=37, max_position_embeddings=SEQ, type_vocab_size=2,
      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
  config.to_json_file(str(root / "bert_config.json"))
  # 100 records: not a multiple of the batch, so epochs straddle batches.
  write_records(str(root / "train.tfrecord"), 100, seed=1)
  write_records(str(root / "eval.tfrecord"), 32, seed=2)
  return root


def pretraining_args(model_dir, out, *extra):
  return [sys.executable, str(REPO_ROOT / "run_pretraining.py"),
          f"--bert_config_file={model_dir / 'bert_config.json'}",
          f"--input_file={model_dir / 'train.tfrecord'}",
          f"--eval_input_file={model_dir / 'eval.tfrecord'}", f"--output_dir={out}",
          f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PREDS}",
          "--do_train=true", "--do_eval=true", "--train_batch_size=8",
          "--eval_batch_size=8", "--max_eval_steps=4", "--learning_rate=3e-3",
          "--num_warmup_steps=2", f"--num_train_steps={STEPS}",
          "--save_checkpoints_steps=10", "--log_steps=5", "--iterations_per_loop=5",
          *extra]


def free_ports(count):
  """Ports nobody listens on now (bound then released; a race is unlikely)."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def env_for(tf_config=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  env.pop("TF_CONFIG", None)
  if tf_config is not None:
    env["TF_CONFIG"] = json.dumps(tf_config)
  return env


def run_all(commands, logs):
  """Runs [(args, env)] at once; kills every one if any fails or TIMEOUT passes.

  Returns:
    The exit codes.
  """
  processes = []
  try:
    for (args, env), log in zip(commands, logs):
      with open(log, "w") as log_file:
        processes.append(subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log_file,
                                          stderr=log_file))
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
      codes = [p.poll() for p in processes]
      if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
        break
      time.sleep(0.2)
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
      p.wait()
  return [p.returncode for p in processes]


def step_lines(log):
  """The progress lines `step N/M loss=... grad_norm=...` (without timing fields)."""
  return re.findall(r"step \d+/\d+ loss=\S+ lr=\S+ grad_norm=\S+", Path(log).read_text())


def files_below(directory):
  """Relative paths of the files below `directory`; event files named by folder only."""
  names = [str(p.relative_to(directory)) for p in Path(directory).rglob("*") if p.is_file()]
  return sorted(re.sub(r"events\.out\.tfevents\..*", "events", n) for n in names)


def read_results(path):
  return {k: float(v) for k, v in (line.split(" = ") for line in
                                   Path(path).read_text().splitlines())}


@pytest.mark.parametrize("pipelines,replicas,start_step", [
    (2, 2, 0), (2, 2, 7), (2, 4, 3), (3, 3, 5)])
def test_pipelines_split_each_global_batch_as_one_process_reads_it(
    pipelines, replicas, start_step):
  """Pipeline i's batches, in replica order, make the one-process global batch."""
  per_replica, records = 2, tf.data.Dataset.range(23)
  global_batch = per_replica * replicas
  consumed = start_step * global_batch
  one = list(input_pipeline.training_dataset(records, 23, global_batch, seed=5,
                                       consumed_records=consumed)
             .take(6).as_numpy_iterator())
  local = replicas // pipelines
  shares = [list(input_pipeline.training_dataset(
      records, 23, per_replica, seed=5, consumed_records=consumed,
      input_context=tf.distribute.InputContext(pipelines, i, replicas))
                 .take(6 * local).as_numpy_iterator()) for i in range(pipelines)]
  for step in range(6):
    # Worker-major replica ids: pipeline i feeds replicas i*local .. i*local+local-1.
    parts = [shares[i][step * local + j] for i in range(pipelines) for j in range(local)]
    np.testing.assert_array_equal(np.concatenate(parts), one[step])


def test_use_tpu_without_a_tpu_is_one_clear_error(model_dir, tmp_path):
  out = tmp_path / "out"
  [port] = free_ports(1)
  args = pretraining_args(model_dir, out, "--use_tpu=true",
                          f"--tpu_name=grpc://127.0.0.1:{port}")
  [code] = run_all([(args, env_for())], [tmp_path / "log"])
  text = (tmp_path / "log").read_text()
  assert code == 1 and "Traceback" not in text, text[-3000:]
  last = text.strip().splitlines()[-1]
  assert last.startswith("run_pretraining.py: error: --use_tpu: no TPU answered at "
                         f"--tpu_name=grpc://127.0.0.1:{port}"), last
  assert "--tpu_name=local on a TPU VM" in last
  assert not out.exists()


def worker_commands(model_dir, out):
  """The same command for both workers (as a cluster scheduler starts it), own TF_CONFIG."""
  cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
  return [(pretraining_args(model_dir, out, "--distribution_strategy=multi_worker"),
           env_for({"cluster": cluster, "task": {"type": "worker", "index": index}}))
          for index in range(2)]


@pytest.fixture(scope="module")
def single(model_dir, tmp_path_factory):
  """The one-process reference run, started in the background: Future of its folder."""
  out = tmp_path_factory.mktemp("single") / "out"
  pool = concurrent.futures.ThreadPoolExecutor(1)

  def job():
    log = out.parent / "single.log"
    [code] = run_all([(pretraining_args(model_dir, out), env_for())], [log])
    assert code == 0, log.read_text()[-3000:]
    return out

  yield pool.submit(job)
  pool.shutdown(wait=True)


def assert_close_to_single(out, single_out):
  reference = checkpoint_utils.read_checkpoint(str(single_out))
  chief = checkpoint_utils.read_checkpoint(str(out))
  assert set(chief) == set(reference)
  assert int(chief["global_step"]) == int(reference["global_step"]) == STEPS
  for name in reference:
    np.testing.assert_allclose(chief[name], reference[name], rtol=0, atol=1e-5,
                               err_msg=name)
  # The weights moved: the comparison is not between two untouched models.
  slot = [n for n in reference if n.endswith("/adam_m")][0]
  assert np.abs(reference[slot]).max() > 1e-4


def test_two_workers_end_with_the_weights_of_one_process(model_dir, single, tmp_path):
  out = tmp_path / "shared"
  logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
  codes = run_all(worker_commands(model_dir, out), logs)
  assert len(codes) == len(logs)
  for code, log in zip(codes, logs):
    assert code == 0, f"{log.name} (exit {code}):\n{log.read_text()[-3000:]}"

  chief_log, other_log = logs[0].read_text(), logs[1].read_text()
  assert "2 replicas" in chief_log and "2 replicas" in other_log
  # Same loss on both workers (all-reduced).
  assert step_lines(logs[0]) == step_lines(logs[1])
  assert len(step_lines(logs[0])) == STEPS // 5 + 1  # step 1, then every 5th
  # Only the chief saves.
  assert "Saved checkpoint" in chief_log and "Saved checkpoint" not in other_log
  single_out = single.result()
  assert_close_to_single(out, single_out)
  # The shared output_dir holds one run's files: those a single process writes.
  assert files_below(out) == files_below(single_out)
  assert files_below(out).count("train/events") == 1
  # Evaluation: every worker predicts all records; the chief writes the results.
  chief_results = read_results(out / "eval_results.txt")
  single_results = read_results(single_out / "eval_results.txt")
  assert set(chief_results) == set(single_results)
  for key, value in single_results.items():
    assert abs(chief_results[key] - value) < 1e-4, (key, chief_results, single_results)


@pytest.mark.slow
def test_sigterm_to_one_worker_stops_both_and_the_rerun_resumes(model_dir, single,
                                                                 tmp_path):
  out = tmp_path / "shared"
  logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
  commands = worker_commands(model_dir, out)
  processes = []
  try:
    for (args, env), log in zip(commands, logs):
      with open(log, "w") as log_file:
        processes.append(subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log_file,
                                          stderr=log_file))
    deadline = time.time() + TIMEOUT
    while "step 15/" not in logs[0].read_text():
      assert time.time() < deadline and all(p.poll() is None for p in processes), (
          logs[0].read_text()[-3000:] + logs[1].read_text()[-3000:])
      time.sleep(0.05)
    # A scheduler preempting the job signals the non-chief first.
    processes[1].send_signal(signal.SIGTERM)
    codes = [p.wait(timeout=TIMEOUT) for p in processes]
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
        p.wait()
  texts = [log.read_text() for log in logs]
  assert codes == [143, 143], texts[0][-2000:] + texts[1][-2000:]
  steps = [int(re.search(r"saved a checkpoint at step (\d+)", t).group(1)) for t in texts]
  assert steps[0] == steps[1] and 15 <= steps[0] < STEPS, steps
  assert checkpoint_utils.resolve_checkpoint(str(out)).endswith(f"model.ckpt-{steps[0]}")

  # A worker that cannot read the chief's checkpoints (its output_dir is another,
  # empty folder) would train from step 0 beside it: both refuse, naming why.
  commands = worker_commands(model_dir, out)
  commands[1] = (pretraining_args(model_dir, tmp_path / "local_disk",
                                  "--distribution_strategy=multi_worker"), commands[1][1])
  logs = [tmp_path / "split0.log", tmp_path / "split1.log"]
  assert run_all(commands, logs) == [1, 1]
  for log in logs:
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("run_pretraining.py: error: The workers resume from "
                           "different steps"), last
    assert "--output_dir" in last and "Traceback" not in log.read_text()

  # The same commands again: both resume from the chief's checkpoint.
  logs = [tmp_path / "rerun0.log", tmp_path / "rerun1.log"]
  codes = run_all(worker_commands(model_dir, out), logs)
  assert len(codes) == len(logs)
  for code, log in zip(codes, logs):
    assert code == 0, f"{log.name} (exit {code}):\n{log.read_text()[-3000:]}"
    assert f"(step {steps[0]})" in log.read_text()
  assert_close_to_single(out, single.result())


@pytest.mark.slow
def test_two_classifier_workers_write_only_the_chiefs_files(tiny_model, tmp_path):
  """run_classifier.py: feature caches of the non-chief go to a private folder."""
  def args(out, *extra):
    return classifier_args(tiny_model, out, "--do_eval=true", "--num_train_epochs=1",
                           *extra)

  single_out, out = tmp_path / "single", tmp_path / "shared"
  cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
  commands = [(args(single_out), env_for())] + [
      (args(out, "--distribution_strategy=multi_worker"),
       env_for({"cluster": cluster, "task": {"type": "worker", "index": index}}))
      for index in range(2)]
  logs = [tmp_path / name for name in ("single.log", "worker0.log", "worker1.log")]
  codes = run_all(commands, logs)
  assert len(codes) == len(logs) == 3
  for code, log in zip(codes, logs):
    assert code == 0, f"{log.name} (exit {code}):\n{log.read_text()[-3000:]}"
  assert step_lines(logs[1]) == step_lines(logs[2]) and step_lines(logs[1])
  assert "***** eval_results.txt *****" in logs[2].read_text()
  # The non-chief built its caches in a private folder, removed when it exited.
  caches = re.findall(r"Feature cache (\S+) is stale", logs[2].read_text())
  assert len(caches) == 2 and not any(c.startswith(str(out)) for c in caches), caches
  assert not any(os.path.exists(c) for c in caches)
  assert files_below(out) == files_below(single_out)
  assert "train.tf_record" in files_below(out)
  results = read_results(out / "eval_results.txt")
  assert set(results) == set(read_results(single_out / "eval_results.txt"))
  assert results["global_step"] == NUM_TRAIN // BATCH


def test_tf_config_is_counted_and_a_malformed_one_is_one_error_line(monkeypatch):
  """TF_CONFIG="", a non-JSON value or a 5,000-digit number gave a traceback."""
  import distribution  # pylint: disable=g-import-not-at-top
  import errors  # pylint: disable=g-import-not-at-top
  cases = [(None, 0), ("", 0), ("{}", 0), ('{"task": {"type": "worker"}}', 0),
           ('{"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}}', 3)]
  for value, expected in cases:
    if value is None:
      monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
      monkeypatch.setenv("TF_CONFIG", value)
    assert distribution.cluster_size() == expected, value
  malformed = [("{cluster: 1}", r"Expecting property name enclosed in double quotes at "
                                r"line 1 column 2 \(char 1\)"),
               ('{"cluster": {"worker": [%s]}}' % ("9" * 5000), r"Exceeds the limit"),
               ("[" * 100000 + "]" * 100000, r"nested too deeply to parse")]
  for value, problem in malformed:
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(errors.UserError, match=r"^the environment variable TF_CONFIG: not "
                       r"valid JSON: " + problem + r".*Set it to \{"):
      distribution.cluster_size()
