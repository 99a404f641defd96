"""CLI tests of run_classifier.py on real data: outputs, resume, every task, bad inputs.

Every run is `python run_classifier.py ...` in a subprocess, as a user types it,
on a tiny random BERT (hidden 16, 4 heads, intermediate 37, 2 layers) with the
real uncased vocabulary, so that tokenization is real. Data sets are the real
files of shared/data, cut to their first rows where the full file is not the
point.

The runs are independent processes, so the module starts those of the
selected tests at once, on a queue two wide (the test machine has two cores);
each test waits for the runs it reads. The four GLUE tasks that only add another
accuracy-only file layout are `slow`.
"""

import concurrent.futures
import json
import math
import os
import random
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import classifier_data
import modeling
import run_classifier
import tokenization
from conftest import SHARED_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO_ROOT / "run_classifier.py")
DATA = SHARED_DIR / "data"
MAX_PARALLEL = 2
# Odd sizes so that a swapped dimension cannot go unnoticed; the real vocab size.
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
MAX_SEQ_LENGTH = 32
FEATURE_NAMES = {"input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example"}
CLS_ID, SEP_ID, UNK_ID = 101, 102, 100   # in the uncased vocab

# The reference README's MRPC run, on the full real files: 3668 examples, batch 32.
MRPC_STEPS = int(3668 / 32 * 0.05)
# The other tasks: first rows of the real files; batch 8, one epoch = 2 steps.
NUM_TRAIN, NUM_DEV, NUM_TEST = 16, 24, 12
SMP_LABELS = ["angry", "fear", "happy", "neural", "sad", "surprise"]
ACCURACY_ONLY = {"eval_accuracy"}
TASKS = {  # task name: the task's own eval_results.txt keys
    "CoLA": {"eval_accuracy", "eval_mcc"},
    "SST-2": ACCURACY_ONLY,
    "RTE": ACCURACY_ONLY,
    "WNLI": ACCURACY_ONLY,
    "QNLI": ACCURACY_ONLY,
    "STS-B": {"eval_pearson", "eval_spearmanr", "eval_corr"},
    "XNLI": ACCURACY_ONLY,
    "LCQMC": ACCURACY_ONLY,
    "ChnSentiCorp": ACCURACY_ONLY,
    "custom": {"eval_accuracy", "eval_macro_f1", "eval_micro_f1"} |
              {f"eval_f1_{label}" for label in SMP_LABELS},
    "custom_regression": {"eval_pearson", "eval_spearmanr", "eval_corr"},   # STS-B's rows
}
SLOW_TASKS = ("SST-2", "RTE", "WNLI", "QNLI", "ChnSentiCorp")
ERROR_CASES = ["missing data_dir", "unknown task", "unknown label", "missing columns",
               "empty train file", "non-UTF-8 dev", "vocab size mismatch",
               "cased flag on uncased model", "max_seq_length too long",
               "checkpoint not found", "checkpoint shape mismatch",
               "output_dir of another task", "predict with a pre-trained checkpoint",
               "no --do_ flag", "zero train_batch_size"]


# --------------------------------------------------------------------- helpers


def uses(*run_names):
  """Declares the runs a test reads (a parametrized test's parameter is one too)."""
  def declare(test):
    test.run_names = run_names
    return test
  return declare


def run_cli(args):
  """Runs run_classifier.py with `args`; returns the subprocess.CompletedProcess (text)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)   # it would print tracebacks on purpose
  return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=900)


def check_ok(result):
  assert result.returncode == 0, f"{result.args}\n{result.stderr[-3000:]}"


def read_results(path):
  """eval_results.txt as {key: str}; every line must be `key = value`."""
  lines = Path(path).read_text(encoding="utf-8").splitlines()
  results = {}
  for line in lines:
    key, sep, value = line.partition(" = ")
    assert sep and key and value and key == key.strip(), line
    results[key] = value
  assert len(results) == len(lines)
  return results


def first_record(path):
  """{feature name: list of values} of the first tf.train.Example in a TFRecord file."""
  raw = next(iter(tf.data.TFRecordDataset(str(path)))).numpy()
  features = tf.train.Example.FromString(raw).features.feature
  return {name: list(getattr(feature, feature.WhichOneof("kind")).value)
          for name, feature in features.items()}


def check_record(path, max_seq_length=MAX_SEQ_LENGTH):
  """Checks the feature layout of a cache; returns its first record."""
  record = first_record(path)
  assert set(record) == FEATURE_NAMES
  for name in ("input_ids", "input_mask", "segment_ids"):
    assert len(record[name]) == max_seq_length, name
  assert len(record["label_ids"]) == 1
  assert record["is_real_example"] == [1]
  return record


def expected_pair_ids(vocab, tokens_a, tokens_b):
  """input_ids and segment_ids of [CLS] a [SEP] b [SEP], longer side cut first, padded."""
  tokens_a, tokens_b = list(tokens_a), list(tokens_b)
  while len(tokens_a) + len(tokens_b) > MAX_SEQ_LENGTH - 3:
    (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
  padding = [0] * (MAX_SEQ_LENGTH - len(tokens))
  ids = [vocab.get(t, UNK_ID) for t in tokens] + padding
  segments = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1) + padding
  return ids, segments


def copy_rows(source, target, rows, header):
  """Copies the header line (if any) and data lines rows[0]..rows[1]-1, bytes unchanged."""
  lines = Path(source).read_bytes().splitlines(keepends=True)
  head, body = (lines[:1], lines[1:]) if header else ([], lines)
  Path(target).parent.mkdir(parents=True, exist_ok=True)
  Path(target).write_bytes(b"".join(head + body[rows[0]:rows[1]]))


def snapshot(directory):
  """{relative path: (size, mtime_ns)} of every file below `directory`, None if absent."""
  directory = Path(directory)
  if not directory.exists():
    return None
  return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
          for p in directory.rglob("*") if p.is_file()}


def model_args(bert, init_checkpoint=None):
  return [f"--vocab_file={bert / 'vocab.txt'}",
          f"--bert_config_file={bert / 'bert_config.json'}",
          f"--init_checkpoint={init_checkpoint or bert / 'bert_model.ckpt'}",
          f"--max_seq_length={MAX_SEQ_LENGTH}"]


def mrpc_train_args(bert, out):
  """The README's MRPC train+eval command (shorter sequences, a twentieth of an epoch)."""
  return (["--task_name=MRPC", "--do_train=true", "--do_eval=true",
           f"--data_dir={DATA / 'MRPC'}"] + model_args(bert) +
          ["--train_batch_size=32", "--learning_rate=2e-5", "--num_train_epochs=0.05",
           "--save_checkpoints_steps=2", f"--output_dir={out}"])


# ---------------------------------------------------------------- the runs


def _task_data(task, root):
  """A data dir with the first real rows of the task's files; extra flags for the run."""
  data = root / task
  if task == "custom":
    # JSON arrays in .txt files, written as the originals are (json.dumps defaults).
    data.mkdir(parents=True)
    for name, count in (("virus_train.txt", NUM_TRAIN), ("virus_eval_labeled.txt", NUM_DEV)):
      records = json.loads((DATA / "SMP2020-EWECT" / name).read_text(encoding="utf-8"))
      (data / name).write_text(json.dumps(records[:count], ensure_ascii=False),
                               encoding="utf-8")
    return data, ["--train_file=virus_train.txt", "--dev_file=virus_eval_labeled.txt",
                  "--text_a_column=content", "--label_column=label"]
  if task == "custom_regression":   # STS-B's rows as the users' own scored pairs
    for split, count in (("train.tsv", NUM_TRAIN), ("dev.tsv", NUM_DEV)):
      copy_rows(DATA / "STS-B" / split, data / split, (0, count), header=True)
    return data, ["--text_a_column=sentence1", "--text_b_column=sentence2",
                  "--label_column=score", "--regression=true"]
  source = DATA / {"XNLI": "XNLI-zh-ERNIE"}.get(task, task)
  if task == "LCQMC":
    # The HIT layout (headerless .txt); the copy lacks train.txt: disjoint dev rows serve.
    copy_rows(source / "dev.txt", data / "train.txt", (0, NUM_TRAIN), header=False)
    copy_rows(source / "dev.txt", data / "dev.txt", (NUM_TRAIN, NUM_TRAIN + NUM_DEV),
              header=False)
    return data, []
  header = task != "CoLA"
  if task in ("QNLI", "XNLI"):
    # These copies come without train.tsv: disjoint dev rows serve as training data.
    copy_rows(source / "dev.tsv", data / "train.tsv", (0, NUM_TRAIN), header)
    copy_rows(source / "dev.tsv", data / "dev.tsv", (NUM_TRAIN, NUM_TRAIN + NUM_DEV), header)
  else:
    copy_rows(source / "train.tsv", data / "train.tsv", (0, NUM_TRAIN), header)
    copy_rows(source / "dev.tsv", data / "dev.tsv", (0, NUM_DEV), header)
  if task == "STS-B":
    copy_rows(source / "test.tsv", data / "test.tsv", (0, NUM_TEST), header)
    # A folder that does not exist yet.
    return data, ["--do_predict=true", f"--glue_submission_dir={root / 'glue_submission'}"]
  return data, []


def _resume(bert, trained, cut):
  """Copies the trained MRPC folder as a run killed after step 2, then reruns its command."""
  shutil.copytree(trained, cut, ignore=shutil.ignore_patterns("predict"))
  for path in list(cut.glob("model.ckpt-4.*")) + list(cut.glob("model.ckpt-5.*")):
    path.unlink()
  (cut / "eval_results.txt").unlink()
  (cut / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-2"\n'
                                  'all_model_checkpoint_paths: "model.ckpt-2"\n')
  return run_cli(mrpc_train_args(bert, cut))


def _bad_data(root, name, edit_file=None, line=b""):
  """The first MRPC rows; `edit_file` gets `line` inserted as its line 4."""
  data = root / name
  for split, count in (("train.tsv", 40), ("dev.tsv", 16), ("test.tsv", 16)):
    copy_rows(DATA / "MRPC" / split, data / split, (0, count), header=True)
  if edit_file is not None:
    path = data / edit_file
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3] + [line] + lines[3:]))
  return data


def _error_cases(bert, root, trained):
  """{case: (arguments, output_dir, texts the error line must hold, prepare or None)}."""
  data = _bad_data(root, "good")
  empty = _bad_data(root, "empty")
  (empty / "train.tsv").write_bytes(b"")
  config = json.loads((bert / "bert_config.json").read_text())
  (root / "vocab_config.json").write_text(json.dumps(dict(config, vocab_size=30000)))
  (root / "shape_config.json").write_text(json.dumps(dict(config, intermediate_size=41)))
  official = root / "uncased_L-12_H-768_A-12"
  official.mkdir()
  for path in bert.glob("bert_model.ckpt.*"):
    shutil.copy(path, official / path.name)
  cola = root / "cola"
  copy_rows(DATA / "CoLA" / "train.tsv", cola / "train.tsv", (0, 16), header=False)
  other_task = root / "mrpc_trained"

  def args(out, *flags, data_dir=data, task="MRPC", config=bert / "bert_config.json",
           init=bert / "bert_model.ckpt", do=("--do_train=true",)):
    return [f"--task_name={task}", f"--data_dir={data_dir}",
            f"--vocab_file={bert / 'vocab.txt'}", f"--bert_config_file={config}",
            f"--init_checkpoint={init}", f"--max_seq_length={MAX_SEQ_LENGTH}",
            "--train_batch_size=8", f"--output_dir={out}", *do, *flags]

  def case(name, *flags, expected, **kwargs):
    out = root / "out" / name
    return args(out, *flags, **kwargs), out, expected, None

  return {
      "missing data_dir": case("a", data_dir=root / "no_such_dir",
                               expected=["--data_dir=", "no_such_dir", "not found"]),
      "unknown task": case("b", task="MRCP", expected=["'MRCP'", "mrpc"]),
      "unknown label": case(
          "c", data_dir=_bad_data(root, "label", "train.tsv",
                                  b"7\t1\t2\tA cat sat .\tA dog ran .\n"),
          expected=["train.tsv, line 4", "'7'", "0, 1"]),
      "missing columns": case(
          "d", data_dir=_bad_data(root, "columns", "train.tsv", b"1\t1\t2\tA cat sat .\n"),
          expected=["train.tsv, line 4", "found 4 columns", "at least 5"]),
      "empty train file": case("e", data_dir=empty, expected=["train.tsv", "no examples"]),
      "non-UTF-8 dev": case(
          "f", do=("--do_train=true", "--do_eval=true"),
          data_dir=_bad_data(root, "latin1", "dev.tsv",
                             b"1\t1\t2\tCaf\xe9 au lait .\tA cafe .\n"),
          expected=["dev.tsv, line 4", "UTF-8", "0xe9"]),
      "vocab size mismatch": case("g", config=root / "vocab_config.json",
                                  expected=["--vocab_file=", "30522", "vocab_size=30000"]),
      "cased flag on uncased model": case(
          "h", "--do_lower_case=false", init=official / "bert_model.ckpt",
          expected=["do_lower_case", "uncased_L-12_H-768_A-12", "--do_lower_case=True"]),
      "max_seq_length too long": case(
          "i", "--max_seq_length=600",
          expected=["--max_seq_length=600", "max_position_embeddings=64"]),
      "checkpoint not found": case(
          "j", init=root / "nowhere" / "bert_model.ckpt",
          expected=["--init_checkpoint=", "nowhere/bert_model.ckpt", "no checkpoint"]),
      "checkpoint shape mismatch": case(
          "k", config=root / "shape_config.json",
          expected=["--init_checkpoint=", "intermediate", "[37]", "[41]"]),
      "output_dir of another task": (
          args(other_task, task="CoLA", data_dir=cola), other_task,
          ["--output_dir=", "mrpc_trained", "'mrpc'", "'cola'"],
          lambda: shutil.copytree(trained, other_task,
                                  ignore=shutil.ignore_patterns("predict"))),
      "predict with a pre-trained checkpoint": case(
          "m", do=("--do_predict=true",),
          expected=["--init_checkpoint=", "no classifier head", "--do_train"]),
      "no --do_ flag": case("n", do=(), expected=["--do_train", "--do_eval", "--do_predict"]),
      "zero train_batch_size": case("o", "--train_batch_size=0",
                                    expected=["--train_batch_size=0", "positive"]),
  }


def _error_run(args, out, prepare):
  """Runs a failing command; returns its result and output_dir before the run."""
  if prepare:
    prepare()
  before = snapshot(out)
  return run_cli(args), before


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_checkpoint):
  """A random-init tiny BERT saved like an official download, with the real uncased vocab."""
  if not (DATA / "MRPC" / "train.tsv").is_file():
    pytest.skip(f"real data not found under {DATA}")
  random.seed(0)
  np.random.seed(0)
  tf.random.set_seed(0)
  directory = tmp_path_factory.mktemp("tiny_uncased")
  shutil.copy(minilm_checkpoint / "vocab.txt", directory / "vocab.txt")
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(directory / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  checkpoint_utils.save_tensors(str(directory / "bert_model.ckpt"), model.variables_by_name())
  return directory


def _selected_runs(request):
  """Names of the runs that the selected tests of this module read."""
  names = set()
  for item in request.session.items:
    if item.module is request.module:
      names.update(getattr(item.function, "run_names", ()))
      if hasattr(item, "callspec"):
        names.update(item.callspec.params.values())
  return names


@pytest.fixture(scope="module")
def runs(request, tiny_bert, tmp_path_factory):
  """Starts the runs of the selected tests, MAX_PARALLEL at a time: {name: Future}, folders.

  Runs that need the trained MRPC folder wait for it. It is queued first, so it
  is already running when one of them starts waiting: no deadlock.
  """
  wanted = _selected_runs(request)
  root = tmp_path_factory.mktemp("runs")
  out = root / "mrpc"
  pool = concurrent.futures.ThreadPoolExecutor(MAX_PARALLEL)
  futures = {}
  needs_mrpc = {"predict", "eval_only", "resume", "output_dir of another task"}
  if wanted & (needs_mrpc | {"mrpc"}):
    futures["mrpc"] = pool.submit(run_cli, mrpc_train_args(tiny_bert, out))

  def after_mrpc(function, *args):
    def job():
      check_ok(futures["mrpc"].result())
      return function(*args)
    return pool.submit(job)

  if "auto" in wanted:
    futures["auto"] = pool.submit(run_cli, mrpc_train_args(tiny_bert, root / "auto") +
                                  ["--num_train_epochs=0.02", "--compute_dtype=auto"])
  for task in [t for t in TASKS if t in wanted]:
    data, extra = _task_data(task, root / "data")
    futures[task] = pool.submit(run_cli, [
        f"--task_name={task.split('_')[0]}", "--do_train=true", "--do_eval=true", f"--data_dir={data}"] +
        model_args(tiny_bert) + extra +
        ["--train_batch_size=8", "--num_train_epochs=1", f"--output_dir={root / task}"])
  if "predict" in wanted:
    futures["predict"] = after_mrpc(run_cli, [
        "--task_name=MRPC", "--do_predict=true", f"--data_dir={DATA / 'MRPC'}"] +
        model_args(tiny_bert, init_checkpoint=out) + [f"--output_dir={out / 'predict'}"])
  if "eval_only" in wanted:
    futures["eval_only"] = after_mrpc(run_cli, [
        "--task_name=MRPC", "--do_eval=true", f"--data_dir={DATA / 'MRPC'}"] +
        model_args(tiny_bert, init_checkpoint=out) + [f"--output_dir={root / 'eval_only'}"])
  if "resume" in wanted:
    futures["resume"] = after_mrpc(_resume, tiny_bert, out, root / "resumed")
  if wanted & set(ERROR_CASES):
    cases = _error_cases(tiny_bert, root / "errors", out)
  for name in [c for c in ERROR_CASES if c in wanted]:
    args, output_dir, expected, prepare = cases[name]
    submit = after_mrpc if prepare else pool.submit
    futures[name] = (submit(_error_run, args, output_dir, prepare), output_dir, expected)
  yield dict(futures=futures, root=root, mrpc=out)
  pool.shutdown(wait=True, cancel_futures=True)


def result_of(runs, name):
  return runs["futures"][name].result()


# ------------------------------------------------------------- MRPC end to end


@uses("mrpc")
def test_mrpc_eval_results_have_the_reference_keys(runs):
  check_ok(result_of(runs, "mrpc"))
  results = read_results(runs["mrpc"] / "eval_results.txt")
  assert set(results) == {"eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss"}
  assert int(results["global_step"]) == MRPC_STEPS == 5
  assert 0.0 <= float(results["eval_accuracy"]) <= 1.0
  assert 0.0 <= float(results["eval_f1"]) <= 1.0
  # A 2-class head that barely trained: the loss stays near ln 2.
  assert abs(float(results["eval_loss"]) - math.log(2)) < 0.1
  assert results["loss"] == results["eval_loss"]


@uses("predict")
def test_mrpc_test_results_are_probabilities_one_line_per_test_example(runs):
  check_ok(result_of(runs, "predict"))
  lines = (runs["mrpc"] / "predict" / "test_results.tsv").read_text().splitlines()
  assert len(lines) == 1725
  for line in lines:
    probabilities = [float(x) for x in line.split("\t")]
    assert len(probabilities) == 2
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert abs(sum(probabilities) - 1.0) < 1e-5


@uses("mrpc", "predict")
def test_mrpc_feature_caches_hold_the_reference_features(runs, tiny_bert):
  check_ok(result_of(runs, "predict"))
  out = runs["mrpc"]
  for path in (out / "train.tf_record", out / "eval.tf_record",
               out / "predict" / "predict.tf_record"):
    check_record(path)
  # The first training pair, tokenized here: [CLS] a [SEP] b [SEP], longer side cut.
  first = (DATA / "MRPC" / "train.tsv").read_text(encoding="utf-8-sig").splitlines()[1]
  label, _, _, text_a, text_b = first.split("\t")
  tokenizer = tokenization.FullTokenizer(str(tiny_bert / "vocab.txt"), do_lower_case=True)
  ids, segments = expected_pair_ids(tokenizer.vocab, tokenizer.tokenize(text_a),
                                    tokenizer.tokenize(text_b))
  record = first_record(out / "train.tf_record")
  assert record["input_ids"] == ids
  assert record["segment_ids"] == segments
  assert record["input_mask"] == [1] * MAX_SEQ_LENGTH   # the pair fills all 32
  assert record["label_ids"] == [int(label)]


@uses("mrpc")
def test_mrpc_checkpoint_has_the_official_names(runs, tiny_bert):
  check_ok(result_of(runs, "mrpc"))
  out = runs["mrpc"]
  assert tf.train.latest_checkpoint(str(out)) == str(out / "model.ckpt-5")
  state = (out / "checkpoint").read_text().splitlines()
  assert state[0] == 'model_checkpoint_path: "model.ckpt-5"'
  # Saved every 2 steps and at the end.
  assert set(state[1:]) == {f'all_model_checkpoint_paths: "model.ckpt-{step}"'
                            for step in (2, 4, 5)}
  reader = tf.train.load_checkpoint(str(out / "model.ckpt-5"))
  initial = tf.train.load_checkpoint(str(tiny_bert / "bert_model.ckpt"))
  trained = dict(initial.get_variable_to_shape_map(), output_weights=[2, 16],
                 output_bias=[2])
  expected = dict(trained, global_step=[])
  for name, shape in trained.items():
    expected[f"{name}/adam_m"] = shape
    expected[f"{name}/adam_v"] = shape
  assert ({k: list(v) for k, v in reader.get_variable_to_shape_map().items()} ==
          {k: list(v) for k, v in expected.items()})
  assert int(reader.get_tensor("global_step")) == 5
  # Fine-tuning moved the encoder away from its initial values.
  name = "bert/encoder/layer_1/output/dense/kernel"
  assert not np.allclose(reader.get_tensor(name), initial.get_tensor(name))


@uses("mrpc")
def test_mrpc_writes_tensorboard_events(runs):
  check_ok(result_of(runs, "mrpc"))
  events = list((runs["mrpc"] / "train").glob("events.out.tfevents.*"))
  assert events
  steps = {}
  for path in events:
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        steps.setdefault(value.tag, set()).add(event.step)
  assert {"loss", "learning_rate"} <= set(steps)
  assert MRPC_STEPS in steps["loss"]


def auto_dtype_of_this_cpu():
  """What --compute_dtype=auto must pick on this GPU-less Linux machine, read independently."""
  with open("/proc/cpuinfo", encoding="utf-8") as f:
    flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
  units = {"avx512_bf16", "amx_bf16"} & set(flags)
  onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
  return "bfloat16" if units and onednn else "float32"


@uses("auto")
def test_compute_dtype_auto_trains_in_the_dtype_it_logs(runs):
  if tf.config.list_physical_devices("GPU") or not os.path.isfile("/proc/cpuinfo"):
    pytest.skip("the expected choice is worked out for GPU-less Linux machines")
  result = result_of(runs, "auto")
  check_ok(result)
  expected = auto_dtype_of_this_cpu()
  chosen = [line for line in result.stderr.splitlines() if "--compute_dtype=auto:" in line]
  assert len(chosen) == 1, result.stderr[-3000:]
  assert f"--compute_dtype=auto: {expected}, because " in chosen[0]
  devices = [line for line in result.stderr.splitlines() if "  devices:  " in line]
  assert len(devices) == 1
  assert devices[0].endswith(f"), {expected}")
  # The concrete dtype is what a resumed run is compared with.
  info = json.loads((runs["root"] / "auto" / "run_info.json").read_text(encoding="utf-8"))
  assert info["training"]["compute_dtype"] == expected
  results = read_results(runs["root"] / "auto" / "eval_results.txt")
  assert int(results["global_step"]) == int(3668 / 32 * 0.02) == 2


@uses("mrpc", "eval_only")
def test_eval_only_on_the_trained_folder_matches_the_training_runs_eval(runs):
  check_ok(result_of(runs, "eval_only"))
  trained = read_results(runs["mrpc"] / "eval_results.txt")
  again = read_results(runs["root"] / "eval_only" / "eval_results.txt")
  assert again["eval_accuracy"] == trained["eval_accuracy"]
  assert again["eval_f1"] == trained["eval_f1"]
  assert again["global_step"] == trained["global_step"]
  np.testing.assert_allclose(float(again["eval_loss"]), float(trained["eval_loss"]),
                             rtol=1e-6)


@uses("mrpc", "resume")
def test_a_run_killed_after_step_2_resumes_to_the_same_weights(runs):
  resumed = result_of(runs, "resume")
  check_ok(resumed)
  cut = runs["root"] / "resumed"
  assert f"Resuming from {cut / 'model.ckpt-2'} (step 2)" in resumed.stderr
  assert f"Training from step 2 to {MRPC_STEPS}" in resumed.stderr
  expected = tf.train.load_checkpoint(str(runs["mrpc"] / "model.ckpt-5"))
  actual = tf.train.load_checkpoint(str(cut / "model.ckpt-5"))
  names = expected.get_variable_to_shape_map()
  assert set(actual.get_variable_to_shape_map()) == set(names)
  step_2 = tf.train.load_checkpoint(str(cut / "model.ckpt-2"))
  name = "bert/encoder/layer_0/attention/self/query/kernel"
  assert not np.allclose(step_2.get_tensor(name), actual.get_tensor(name))
  for name in sorted(names):
    np.testing.assert_allclose(actual.get_tensor(name), expected.get_tensor(name),
                               atol=1e-6, err_msg=name)
  uninterrupted = read_results(runs["mrpc"] / "eval_results.txt")
  again = read_results(cut / "eval_results.txt")
  assert again["eval_accuracy"] == uninterrupted["eval_accuracy"]
  np.testing.assert_allclose(float(again["eval_loss"]), float(uninterrupted["eval_loss"]),
                             rtol=1e-5)


# ------------------------------------------------------- every task with data


@pytest.mark.parametrize("task", [
    pytest.param(t, marks=pytest.mark.slow) if t in SLOW_TASKS else t for t in TASKS])
def test_every_task_trains_and_writes_its_official_metrics(runs, task):
  check_ok(result_of(runs, task))
  out = runs["root"] / task
  results = read_results(out / "eval_results.txt")
  assert set(results) == TASKS[task] | {"eval_loss", "global_step", "loss"}
  assert int(results["global_step"]) == NUM_TRAIN // 8
  assert math.isfinite(float(results["eval_loss"]))
  for key in TASKS[task]:
    low = -1.0 if key in ("eval_mcc", "eval_pearson", "eval_spearmanr", "eval_corr") else 0.0
    assert low <= float(results[key]) <= 1.0, key
  record = check_record(out / "train.tf_record")
  real_ids = [i for i, m in zip(record["input_ids"], record["input_mask"]) if m]
  assert real_ids[0] == CLS_ID and real_ids[-1] == SEP_ID
  assert any(i not in (CLS_ID, SEP_ID, UNK_ID) for i in real_ids)


@uses("XNLI", "custom")
def test_chinese_text_is_split_into_characters(runs, tiny_bert):
  """XNLI-zh and the Weibo data: one token per CJK character, as the reference."""
  check_ok(result_of(runs, "XNLI"))
  check_ok(result_of(runs, "custom"))
  vocab = tokenization.load_vocab(str(tiny_bert / "vocab.txt"))
  header, first = (DATA / "XNLI-zh-ERNIE" / "dev.tsv").read_text("utf-8").splitlines()[:2]
  text_a, text_b, label = first.split("\t")
  ids, segments = expected_pair_ids(vocab, text_a, text_b)
  record = first_record(runs["root"] / "XNLI" / "train.tf_record")
  assert header == "text_a\ttext_b\tlabel"
  assert record["input_ids"] == ids and record["segment_ids"] == segments
  assert record["label_ids"] == [["contradiction", "entailment", "neutral"].index(label)]
  weibo = json.loads((DATA / "SMP2020-EWECT" / "virus_train.txt").read_text("utf-8"))[0]
  record = first_record(runs["root"] / "custom" / "train.tf_record")
  assert len(record["input_ids"]) == len(record["input_mask"]) == MAX_SEQ_LENGTH
  real_ids = [i for i, m in zip(record["input_ids"], record["input_mask"]) if m]
  assert real_ids == ([CLS_ID] + [vocab.get(ch, UNK_ID) for ch in weibo["content"]] +
                      [SEP_ID])
  assert record["label_ids"] == [SMP_LABELS.index(weibo["label"])]


@uses("LCQMC", "mrpc")
def test_an_english_vocab_on_chinese_text_logs_the_unk_warning(runs, tiny_bert):
  """The uncased (MiniLM) vocab: LCQMC's examples are mostly [UNK], MRPC's are not."""
  result = result_of(runs, "LCQMC")
  check_ok(result)
  tokenizer = tokenization.FullTokenizer(str(tiny_bert / "vocab.txt"), do_lower_case=True)
  rows = [line.split("\t") for line in
          (DATA / "LCQMC" / "dev.txt").read_text(encoding="utf-8").splitlines()]
  warnings = [line for line in result.stderr.splitlines() if "are [UNK]" in line]
  assert len(warnings) == 2, result.stderr[-3000:]
  # The dev features are built first, then the training ones.
  for line, split, (start, stop) in zip(warnings, ("eval", "train"),
                                        ((NUM_TRAIN, NUM_TRAIN + NUM_DEV), (0, NUM_TRAIN))):
    pieces = [piece for a, b, _ in rows[start:stop]
              for piece in tokenizer.tokenize(a) + tokenizer.tokenize(b)]
    unknown = pieces.count("[UNK]")
    assert unknown > 0.05 * len(pieces)
    head, _, message = line.partition("] ")
    assert head.startswith("W") and "tokenization.py" in head, line
    assert message.startswith(
        f"{100 * unknown / len(pieces):.1f}% of the word pieces of the examples of "
        f"{split}.tf_record are [UNK] ({unknown} of {len(pieces)}; e.g. "), line
    assert f"the vocabulary {tiny_bert / 'vocab.txt'} does not cover this language" in line
  results = read_results(runs["root"] / "LCQMC" / "eval_results.txt")
  assert set(results) == {"eval_accuracy", "eval_loss", "global_step", "loss"}
  mrpc = result_of(runs, "mrpc")
  check_ok(mrpc)
  assert "[UNK]" not in mrpc.stderr


@uses("STS-B")
def test_sts_b_is_regression_with_one_score_per_test_line(runs):
  check_ok(result_of(runs, "STS-B"))
  out = runs["root"] / "STS-B"
  lines = (out / "test_results.tsv").read_text().splitlines()
  assert len(lines) == NUM_TEST
  for line in lines:
    assert "\t" not in line
    assert math.isfinite(float(line))
  # Regression labels are stored as floats.
  first = (DATA / "STS-B" / "train.tsv").read_text(encoding="utf-8").splitlines()[1]
  np.testing.assert_allclose(first_record(out / "train.tf_record")["label_ids"],
                             [float(first.split("\t")[9])], rtol=1e-6)
  # The GLUE-benchmark file: the test file's index column and the scores to 3 places.
  submission = (runs["root"] / "data" / "glue_submission" / "STS-B.tsv").read_text()
  rows = [line.split("\t") for line in submission.splitlines()]
  assert rows[0] == ["index", "prediction"]
  assert [index for index, _ in rows[1:]] == [str(i) for i in range(NUM_TEST)]
  assert [prediction for _, prediction in rows[1:]] == [
      "%.3f" % float(line) for line in lines]


@uses("custom_regression")
def test_custom_regression_trains_on_the_scores_as_numbers(runs):
  check_ok(result_of(runs, "custom_regression"))
  out = runs["root"] / "custom_regression"
  info = json.loads((out / "run_info.json").read_text())
  assert info["is_regression"] is True and info["label_list"] == []
  assert (out / "labels.txt").read_text() == ""
  first = (DATA / "STS-B" / "train.tsv").read_text(encoding="utf-8").splitlines()[1]
  np.testing.assert_allclose(first_record(out / "train.tf_record")["label_ids"],
                             [float(first.split("\t")[9])], rtol=1e-6)


@uses("custom")
def test_custom_json_task_infers_and_saves_its_labels(runs):
  check_ok(result_of(runs, "custom"))
  out = runs["root"] / "custom"
  assert (out / "labels.txt").read_text(encoding="utf-8").split() == SMP_LABELS
  results = read_results(out / "eval_results.txt")
  # Single-label: micro-F1 is accuracy.
  np.testing.assert_allclose(float(results["eval_micro_f1"]),
                             float(results["eval_accuracy"]), atol=1e-12)


# --------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_input_is_one_error_line_and_leaves_no_output(runs, case):
  future, out, expected = runs["futures"][case]
  result, before = future.result()
  assert result.returncode == 1, result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_classifier.py: error: "), last
  for text in expected:
    assert text in last, (text, last)
  if before is None:
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
  else:
    assert snapshot(out) == before


def test_an_evaluated_checkpoint_keeps_the_label_order_of_its_own_run(tmp_path):
  # Evaluating another run's checkpoint into a folder that holds a labels.txt:
  # the head's outputs follow the checkpoint's run, so its labels.txt comes first.
  trained = tmp_path / "trained"
  out = tmp_path / "out"
  for folder, labels in ((trained, ["pos", "neg"]), (out, ["neg", "pos"])):
    folder.mkdir()
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
  (trained / "model.ckpt-7.index").write_bytes(b"")
  (tmp_path / "train.tsv").write_text("good\tpos\nbad\tneg\n")
  for do_train, expected in ((False, ["pos", "neg"]), (True, ["neg", "pos"])):
    f = types.SimpleNamespace(output_dir=str(out), init_checkpoint=str(trained / "model.ckpt-7"),
                              do_train=do_train, data_dir=str(tmp_path))
    processor = classifier_data.get_processor("csv", train_file="train.tsv", text_a_column=0,
                                              label_column=1)
    assert run_classifier.load_label_list(processor, f) == expected, do_train
