"""run_grid.py: parsing, folder names, the table, `best`, resuming, and a real grid.

The end-to-end test runs `python run_grid.py --program=run_classifier.py` as a
user types it, over two learning rates on the tiny MRPC model of
test_fault_tolerance.py (one update each), then again to see both runs
skipped. The grid's own logic (seeds, failures, --keep_going, resuming,
signals) is tested in process with a small stand-in program that writes
eval_results.txt from its flags in milliseconds.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import atomic_files
import errors
import run_grid
import run_info
from test_fault_tolerance import cli_env
from test_fault_tolerance import tiny_model  # pylint: disable=unused-import  (a fixture)
from test_run_classifier import read_results, snapshot

REPO_ROOT = Path(__file__).resolve().parents[1]

# Stand-in program: score = learning_rate * 1000 + seed; learning_rate "bad"
# exits 3, "slow" waits for SIGTERM and exits 143 as the real programs do.
FAKE_PROGRAM = textwrap.dedent("""\
    import os, signal, sys, time
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
    out = args["output_dir"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "calls"), "a") as f:
      f.write(" ".join(sys.argv[1:]) + "\\n")
    rate = args["learning_rate"]
    if rate == "bad":
      print("fake.py: error: bad rate")
      sys.exit(3)
    if rate == "slow":
      signal.signal(signal.SIGTERM, lambda *unused: sys.exit(143))
      open(os.path.join(out, "started"), "w").close()
      time.sleep(60)
      sys.exit(0)
    score = float(rate) * 1000 + int(args.get("seed", 0))
    with open(os.path.join(out, "eval_results.txt"), "w") as f:
      f.write(f"global_step = 1\\nscore = {score}\\nscore_loss = {-score}\\n")
    """)


@pytest.fixture
def fake_program(tmp_path):
  path = tmp_path / "fake.py"
  path.write_text(FAKE_PROGRAM)
  return str(path)


def fake_config(program, out, grid, **kwargs):
  kwargs.setdefault("metric", "score")
  return run_grid.GridConfig(program=program, grid=run_grid.parse_grid(grid),
                             output_dir=str(out), program_args=["--other=1"], **kwargs)


def calls(folder):
  path = Path(folder) / "calls"
  return path.read_text().splitlines() if path.exists() else []


def read_table(path):
  """grid_results.tsv as (header, rows); every row as wide as the header."""
  lines = Path(path).read_text().splitlines()
  header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
  for row in rows:
    assert len(row) == len(header), row
  return header, [dict(zip(header, row)) for row in rows]


def classifier_config(**kwargs):
  return run_grid.GridConfig(
      program="run_classifier.py", grid=run_grid.parse_grid("learning_rate=1e-3"),
      output_dir="out", program_args=kwargs.pop("program_args", [
          "--task_name=MRPC", "--do_train=true", "--do_eval=true"]), **kwargs)


# ---------------------------------------------------------------- parsing


def test_grid_keeps_the_flags_and_values_in_the_order_given():
  grid = run_grid.parse_grid(
      "learning_rate=5e-5,3e-5,2e-5; train_batch_size=16, 32;num_train_epochs=2,3,4;")
  assert grid == [("learning_rate", ["5e-5", "3e-5", "2e-5"]),
                  ("train_batch_size", ["16", "32"]), ("num_train_epochs", ["2", "3", "4"])]
  assert run_grid.parse_grid("init_checkpoint=/a=b/ckpt") == [
      ("init_checkpoint", ["/a=b/ckpt"])]


@pytest.mark.parametrize("text, expected", [
    ("learning_rate", "is not `flag_name=value"),
    ("learning-rate=1", "is not `flag_name=value"),
    ("=1,2", "is not `flag_name=value"),
    ("learning_rate=1,,2", "empty value"),
    ("learning_rate=", "empty value"),
    ("learning_rate=1,1", "repeats a value"),
    ("learning_rate=1;learning_rate=2", "names learning_rate twice"),
])
def test_bad_grids_are_refused_with_the_part_named(text, expected):
  with pytest.raises(errors.UserError, match=expected):
    run_grid.parse_grid(text)


def test_seeds():
  assert run_grid.parse_seeds("1,2,3") == [1, 2, 3]
  assert run_grid.parse_seeds(None) == []
  with pytest.raises(errors.UserError, match="integers separated by commas"):
    run_grid.parse_seeds("1,x")
  with pytest.raises(errors.UserError, match="repeats a seed"):
    run_grid.parse_seeds("1,1")


def test_program_flags_read_as_absl_reads_them():
  args = ["--task_name", "MRPC", "--do_train", "--nodo_eval", "-max_seq_length=32",
          "--data_dir=a=b"]
  pairs = run_grid.program_flags(args)
  assert pairs == [("task_name", "MRPC"), ("do_train", None), ("nodo_eval", None),
                   ("max_seq_length", "32"), ("data_dir", "a=b")]
  assert run_grid.flag_value(pairs, "task_name") == "MRPC"
  assert run_grid.flag_value(pairs, "do_train") == "true"
  assert run_grid.flag_value(pairs, "do_eval") == "false"
  assert run_grid.flag_value(pairs, "do_predict") is None


def test_stray_words_before_the_double_dash_are_refused():
  raw = ["run_grid.py", "--grid=a=1", "--", "--task_name=MRPC"]
  assert run_grid.program_args(["run_grid.py", "--task_name=MRPC"], raw) == ["--task_name=MRPC"]
  assert run_grid.program_args(["run_grid.py"], ["run_grid.py", "--grid=a=1"]) == []
  with pytest.raises(errors.UserError, match="unexpected 'MRPC'"):
    run_grid.program_args(["run_grid.py", "MRPC", "--do_eval"],
                          ["run_grid.py", "MRPC", "--", "--do_eval"])
  with pytest.raises(errors.UserError, match="after --"):
    run_grid.program_args(["run_grid.py", "MRPC"], ["run_grid.py", "MRPC"])


@pytest.mark.parametrize("args, grid, seeds, expected", [
    (["--learning_rate=2e-5"], "learning_rate=1e-3", [],
     "--grid sets learning_rate and --learning_rate=2e-5 is also given after --"),
    (["--learning_rate", "2e-5"], "learning_rate=1e-3", [],
     "--grid sets learning_rate and --learning_rate is also given"),
    (["--nodo_lower_case"], "do_lower_case=true,false", [],
     "--grid sets do_lower_case and --nodo_lower_case is also given"),
    (["--output_dir=x"], "learning_rate=1e-3", [], "--output_dir=x after --"),
    ([], "output_dir=a,b", [], "output_dir is set by the grid"),
    ([], "seed=1,2", [], "give seeds as --seeds"),
    (["--seed=4"], "learning_rate=1e-3", [1, 2], "--seeds sets --seed and --seed=4"),
    ([], "", [], "Give --grid"),
])
def test_conflicting_flags_are_refused_naming_both(args, grid, seeds, expected):
  config = classifier_config(program_args=["--task_name=MRPC", "--do_train", "--do_eval"] +
                             args, seeds=seeds)
  config.grid = run_grid.parse_grid(grid)
  with pytest.raises(errors.UserError, match=re.escape(expected)):
    run_grid.check_config(config)


@pytest.mark.parametrize("program, args, expected", [
    ("run_classifier.py", ["--do_train"], "add --do_eval=true after --"),
    ("run_classifier.py", ["--do_eval", "--nodo_eval"], "add --do_eval=true"),
    ("run_ner.py", ["--do_eval=false"], "add --do_eval=true"),
    ("run_squad.py", ["--do_train=true"],
     "add --do_predict=true with a --predict_file that has answers"),
])
def test_a_program_that_would_not_evaluate_is_refused_at_start(program, args, expected):
  config = classifier_config(program_args=args)
  config.program = program
  with pytest.raises(errors.UserError, match=expected):
    run_grid.check_config(config)


def test_dev_metric_of_each_program():
  config = classifier_config()
  assert run_grid.dev_metric(config, ()) == "eval_f1"                         # MRPC
  assert run_grid.dev_metric(config, (("task_name", "CoLA"),)) == "eval_mcc"
  assert run_grid.dev_metric(config, (("task_name", "STS-B"),)) == "eval_corr"
  assert run_grid.dev_metric(config, (("task_name", "SST-2"),)) == "eval_accuracy"
  for program, metric in (("run_ner.py", "eval_f1"), ("run_squad.py", "f1"),
                          ("run_multiple_choice.py", "eval_accuracy"),
                          ("path/to/run_squad.py", "f1")):
    config.program = program
    assert run_grid.dev_metric(config, ()) == metric
  config.metric = "eval_loss"
  assert run_grid.dev_metric(config, ()) == "eval_loss"


def test_dev_metric_errors_say_to_give_metric():
  with pytest.raises(errors.UserError, match="give --metric=<key>"):
    run_grid.dev_metric(run_grid.GridConfig(program="mine.py", grid=[], output_dir="o",
                                            program_args=[]), ())
  with pytest.raises(errors.UserError, match="no --task_name after --"):
    run_grid.dev_metric(classifier_config(program_args=["--do_eval"]), ())
  with pytest.raises(errors.UserError, match="--task_name=nope: unknown task"):
    run_grid.dev_metric(classifier_config(program_args=["--task_name=nope"]), ())


def test_metric_goal():
  assert run_grid.higher_is_better("eval_f1", "auto")
  assert not run_grid.higher_is_better("eval_loss", "auto")
  assert not run_grid.higher_is_better("eval_f1", "min")
  assert run_grid.higher_is_better("eval_loss", "max")


# ---------------------------------------------------------------- folders


def test_folder_names_are_the_setting_as_written():
  setting = (("learning_rate", "3e-5"), ("train_batch_size", "16"), ("num_train_epochs", "2"))
  assert (run_grid.folder_name(setting, 1) ==
          "learning_rate=3e-5,train_batch_size=16,num_train_epochs=2,seed=1")
  assert run_grid.folder_name(setting) == "learning_rate=3e-5,train_batch_size=16,num_train_epochs=2"
  assert run_grid.folder_name((), 7) == "seed=7"


def test_unsafe_values_get_safe_distinct_folder_names():
  names = [run_grid.folder_name((("data_dir", value),))
           for value in ("glue/MRPC", "glue_MRPC", "glue MRPC", "../MRPC", "glue/MRPC/")]
  assert len(set(names)) == len(names)
  for name in names:
    assert "/" not in name and " " not in name and name.startswith("data_dir=")
  assert names[0] == run_grid.folder_name((("data_dir", "glue/MRPC"),))   # stable
  assert names[0].startswith("data_dir=glue_MRPC~") and len(names[0]) == len("data_dir=glue_MRPC~") + 8
  long_name = run_grid.folder_name(tuple((f"flag_{i}", "x" * 30) for i in range(20)))
  assert len(long_name) == run_grid._MAX_FOLDER_NAME
  other = run_grid.folder_name(tuple((f"flag_{i}", "x" * 30) for i in range(19)) +
                               (("flag_19", "y" * 30),))
  assert other != long_name


def test_runs_share_the_feature_cache_unless_a_feature_flag_differs(tmp_path):
  program = tmp_path / "run_classifier.py"
  program.write_text("")
  config = classifier_config(seeds=[1, 2])
  config.program, config.output_dir = str(program), "out"
  config.grid = run_grid.parse_grid("learning_rate=1e-3,2e-3;num_train_epochs=2")
  runs = run_grid.plan_runs(config)
  assert [r.folder for r in runs] == [
      "learning_rate=1e-3,num_train_epochs=2,seed=1", "learning_rate=1e-3,num_train_epochs=2,seed=2",
      "learning_rate=2e-3,num_train_epochs=2,seed=1", "learning_rate=2e-3,num_train_epochs=2,seed=2"]
  command = run_grid.command(config, str(program), runs[1])
  assert command == [sys.executable, str(program), "--task_name=MRPC", "--do_train=true",
                     "--do_eval=true", "--learning_rate=1e-3", "--num_train_epochs=2",
                     "--seed=2", f"--output_dir={os.path.join('out', runs[1].folder)}",
                     f"--cache_dir={os.path.join('out', 'feature_cache')}"]
  config.grid = run_grid.parse_grid("max_seq_length=64,128;learning_rate=1e-3,2e-3")
  caches = [run_grid.command(config, str(program), r)[-1] for r in run_grid.plan_runs(config)]
  assert len(caches) == 8
  assert caches == [f"--cache_dir={os.path.join('out', 'feature_cache', f'max_seq_length={n}')}"
                    for n in (64, 64, 64, 64, 128, 128, 128, 128)]
  config.program_args.append("--cache_dir=mine")   # the user's own cache folder wins
  mine = run_grid.plan_runs(config)[0]
  assert [a for a in run_grid.command(config, "x", mine) if "cache_dir" in a] == [
      "--cache_dir=mine"]
  config.program = "run_ner.py"   # featurizes in memory: no --cache_dir
  assert not any(a.startswith("--cache_dir") for a in run_grid.command(config, "x", runs[0]))


# ---------------------------------------------------------------- the table


def _run(setting, seed, value, metric="eval_f1", failed=False):
  return run_grid.Run(setting, seed, run_grid.folder_name(setting, seed), metric, [],
                      value=value, failed=failed)


def test_table_has_mean_and_sample_std_over_seeds_in_grid_order():
  a, b, c = (("learning_rate", "5e-5"),), (("learning_rate", "3e-5"),), (("learning_rate", "2e-5"),)
  runs = [_run(a, 1, "0.8"), _run(a, 2, "0.9"), _run(a, 3, "0.7"),
          _run(b, 1, "0.85"), _run(b, 2, "0.95"), _run(b, 3, None, failed=True),
          _run(c, 1, None), _run(c, 2, None), _run(c, 3, None)]
  rows = run_grid.table_rows(runs)
  assert [len(row.runs) for row in rows] == [3, 3, 3]
  best = run_grid.best_row(rows, higher=True)
  assert best is rows[1]
  lines = run_grid.table_lines(rows, ["learning_rate"], [1, 2, 3], best, True)
  assert len(lines) == 4
  assert lines[0].split("\t") == ["learning_rate", "metric", "runs", "mean", "std", "seed=1",
                                  "seed=2", "seed=3", "folder", "best"]
  cells = [line.split("\t") for line in lines[1:]]
  assert cells[0][:3] == ["5e-5", "eval_f1", "3"]
  # Mean and sample std (n - 1), to 6 significant digits.
  assert cells[0][3] == f"{np.mean([0.8, 0.9, 0.7]):.6g}" == "0.8"
  assert cells[0][4] == f"{np.std([0.8, 0.9, 0.7], ddof=1):.6g}" == "0.1"
  assert cells[0][5:] == ["0.8", "0.9", "0.7", "learning_rate=5e-5,seed=2", ""]
  assert cells[1][:3] == ["3e-5", "eval_f1", "2"]
  assert cells[1][3] == f"{np.mean([0.85, 0.95]):.6g}" == "0.9"
  assert cells[1][4] == f"{np.std([0.85, 0.95], ddof=1):.6g}" == "0.0707107"
  assert cells[1][5:] == ["0.85", "0.95", "failed", "learning_rate=3e-5,seed=2", "*"]
  assert cells[2] == ["2e-5", "eval_f1", "0", "", "", "", "", "", "", ""]


def test_one_run_per_setting_has_no_std_and_ties_go_to_the_first():
  a, b = (("learning_rate", "5e-5"),), (("learning_rate", "3e-5"),)
  rows = run_grid.table_rows([_run(a, None, "0.5"), _run(b, None, "0.5")])
  best = run_grid.best_row(rows, higher=True)
  assert best is rows[0]
  lines = run_grid.table_lines(rows, ["learning_rate"], [], best, True)
  assert lines[0].split("\t")[5] == "value"
  assert lines[1].split("\t") == ["5e-5", "eval_f1", "1", "0.5", "", "0.5",
                                  "learning_rate=5e-5", "*"]


def test_lower_is_better_for_losses():
  a, b = (("learning_rate", "5e-5"),), (("learning_rate", "3e-5"),)
  rows = run_grid.table_rows([_run(a, 1, "0.4", "eval_loss"), _run(a, 2, "0.2", "eval_loss"),
                              _run(b, 1, "0.35", "eval_loss"), _run(b, 2, "0.35", "eval_loss")])
  best = run_grid.best_row(rows, higher=False)
  assert best is rows[0]                                  # mean 0.3 < 0.35
  assert best.best_run(higher=False).seed == 2


def test_best_is_a_relative_symlink_replaced_in_place(tmp_path):
  for name in ("a=1", "a=2"):
    (tmp_path / name).mkdir()
    (tmp_path / name / "marker").write_text(name)
  assert run_grid.point_best(str(tmp_path), "a=1") == str(tmp_path / "best")
  assert os.readlink(tmp_path / "best") == "a=1"
  run_grid.point_best(str(tmp_path), "a=2")
  assert os.readlink(tmp_path / "best") == "a=2"
  assert (tmp_path / "best" / "marker").read_text() == "a=2"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a=1", "a=2", "best"]


def test_best_txt_where_symlinks_are_impossible(tmp_path, monkeypatch):
  def no_symlinks(*unused):
    raise OSError(1, "Operation not permitted")
  monkeypatch.setattr(os, "symlink", no_symlinks)
  assert run_grid.point_best(str(tmp_path), "a=1") == str(tmp_path / "best.txt")
  assert (tmp_path / "best.txt").read_text() == "a=1\n"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["best.txt"]


def test_best_refuses_to_replace_a_real_folder(tmp_path):
  (tmp_path / "best").mkdir()
  with pytest.raises(errors.UserError, match="is not the grid's symlink"):
    run_grid.point_best(str(tmp_path), "a=1")


# ---------------------------------------------------------------- run folders


def test_finished_means_recorded_finished_and_results_present(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=1")
  run = run_grid.plan_runs(config)[0]
  folder = tmp_path / run.folder
  assert run_grid.run_state(config, run) == "new"
  run_grid.write_record(config, run, finished=False)        # started, then killed
  assert run_grid.run_state(config, run) == "resume"
  (folder / "eval_results.txt").write_text("score = 1.0\n")   # killed after the eval
  assert run_grid.run_state(config, run) == "resume"
  run.value = "1.0"
  run_grid.write_record(config, run, finished=True)
  assert run_grid.run_state(config, run) == "finished"
  (folder / "eval_results.txt").unlink()
  assert run_grid.run_state(config, run) == "resume"
  other = fake_config(fake_program, tmp_path, "learning_rate=1")
  other.program_args = ["--other=2"]
  with pytest.raises(errors.UserError, match=r"was run with other flags \(now: --other=2; "
                     r"then: --other=1\)"):
    run_grid.run_state(other, run_grid.plan_runs(other)[0])


def test_flags_in_another_order_are_the_same_unless_one_is_repeated():
  same = run_grid.same_flags
  assert same(["--a=1", "--b", "x", "--c"], ["--c", "--b", "x", "--a=1"])
  assert not same(["--a=1", "--b", "x"], ["--a=1", "--b", "y"])
  assert same(["--a=1", "--b", "x"], ["--b=x", "--a=1"])
  assert not same(["--a=1", "--b", "x"], ["--a=1", "--b=x", "--c"])
  assert not same(["--a=1", "--a=2"], ["--a=2", "--a=1"])              # the last one wins
  assert not same(["--do_eval", "--nodo_eval"], ["--nodo_eval", "--do_eval"])
  assert same(["--a=1", "--a=2"], ["--a=1", "--a=2"])


def test_a_folder_the_grid_did_not_start_is_refused(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=1")
  (tmp_path / "learning_rate=1").mkdir()
  (tmp_path / "learning_rate=1" / "model.ckpt-5.index").write_text("")
  with pytest.raises(errors.UserError, match="holds files run_grid.py did not start"):
    run_grid.run(config)


def test_metric_missing_from_eval_results_names_the_file_and_keys(tmp_path):
  (tmp_path / "eval_results.txt").write_text("eval_accuracy = 0.5\nloss = 0.7\n")
  with pytest.raises(errors.UserError, match=r"eval_results.txt has no eval_f1 \(it has "
                     r"eval_accuracy, loss\); give --metric"):
    run_grid.read_metric(str(tmp_path), "eval_f1")
  with pytest.raises(errors.UserError, match="the program ended without writing it"):
    run_grid.read_metric(str(tmp_path / "nothing"), "eval_f1")


# ---------------------------------------------------------------- the grid, stand-in program


def test_seeds_run_each_setting_and_the_best_seed_of_the_best_setting_wins(tmp_path,
                                                                           fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002,0.003", seeds=[1, 5])
  runs = run_grid.run(config)
  assert [r.value for r in runs] == ["3.0", "7.0", "4.0", "8.0"]
  assert calls(tmp_path / "learning_rate=0.002,seed=5") == [
      f"--other=1 --learning_rate=0.002 --seed=5 "
      f"--output_dir={tmp_path / 'learning_rate=0.002,seed=5'}"]
  header, rows = read_table(tmp_path / "grid_results.tsv")
  assert header == ["learning_rate", "metric", "runs", "mean", "std", "seed=1", "seed=5",
                    "folder", "best"]
  assert [(r["learning_rate"], r["mean"], r["seed=1"], r["seed=5"], r["best"]) for r in rows] == [
      ("0.002", "5", "3.0", "7.0", ""), ("0.003", "6", "4.0", "8.0", "*")]
  assert rows[0]["std"] == f"{np.std([3.0, 7.0], ddof=1):.6g}"   # 6 significant digits
  assert os.readlink(tmp_path / "best") == "learning_rate=0.003,seed=5"


def test_min_goal_picks_the_lowest(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002,0.003",
                       metric="score_loss")
  run_grid.run(config)
  assert os.readlink(tmp_path / "best") == "learning_rate=0.003"   # -4 < -3


def test_a_failed_run_stops_the_grid_with_a_true_partial_table(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002,bad,0.003")
  log = tmp_path / "learning_rate=bad" / "grid.log"
  with pytest.raises(errors.UserError) as raised:
    run_grid.run(config)
  assert str(raised.value) == ("learning_rate=bad: fake.py exited with code 3 (fake.py: "
                               f"error: bad rate); see {log}")
  assert "fake.py: error: bad rate" in log.read_text()
  _, rows = read_table(tmp_path / "grid_results.tsv")
  assert [(r["value"], r["runs"]) for r in rows] == [("2.0", "1"), ("", "0"), ("", "0")]
  assert not (tmp_path / "learning_rate=0.003").exists()
  assert os.readlink(tmp_path / "best") == "learning_rate=0.002"


def test_keep_going_runs_the_others_then_fails(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002,bad,0.003",
                       keep_going=True)
  with pytest.raises(errors.UserError, match=r"1 of 3 runs failed \(learning_rate=bad\)"):
    run_grid.run(config)
  _, rows = read_table(tmp_path / "grid_results.tsv")
  assert [r["value"] for r in rows] == ["2.0", "failed", "3.0"]
  assert os.readlink(tmp_path / "best") == "learning_rate=0.003"
  # Run again: finished runs are skipped, the failed one is tried again.
  with pytest.raises(errors.UserError, match="1 of 3 runs failed"):
    run_grid.run(config)
  assert [len(calls(tmp_path / f"learning_rate={v}")) for v in ("0.002", "bad", "0.003")] == [
      1, 2, 1]


def test_an_unfinished_run_is_started_again_a_finished_one_is_not(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002,0.003")
  run_grid.run(config)
  record = tmp_path / "learning_rate=0.002" / "grid_run.json"
  atomic_files.write_json(str(record), dict(run_info.read_json(str(record)), finished=False))
  run_grid.run(config)
  assert len(calls(tmp_path / "learning_rate=0.002")) == 2
  assert len(calls(tmp_path / "learning_rate=0.003")) == 1
  assert run_info.read_json(str(record))["finished"] is True


def test_a_damaged_run_record_is_named(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002")
  run_grid.run(config)
  record = tmp_path / "learning_rate=0.002" / "grid_run.json"
  for damage in ("[1]", '{"args": "--learning_rate=0.002"}', '{"args": [1]}'):
    record.write_text(damage)
    with pytest.raises(errors.UserError, match="grid_run.json is not the record run_grid.py "
                       "writes; restore it, or delete the folder"):
      run_grid.run(config)
  record.unlink()
  record.mkdir()
  with pytest.raises(errors.UserError, match="grid_run.json: is a directory"):
    run_grid.run(config)
  assert len(calls(tmp_path / "learning_rate=0.002")) == 1


def test_sigterm_is_passed_on_and_stops_the_grid(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=slow,0.003")
  started = tmp_path / "learning_rate=slow" / "started"

  def send_sigterm():
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
      time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)

  previous = signal.getsignal(signal.SIGTERM)
  threading.Thread(target=send_sigterm, daemon=True).start()
  with pytest.raises(run_grid.GridInterrupted, match="SIGTERM received") as raised:
    run_grid.run(config)
  assert raised.value.exit_code == 143
  assert signal.getsignal(signal.SIGTERM) is previous
  assert not (tmp_path / "learning_rate=0.003").exists()
  assert run_info.read_json(str(tmp_path / "learning_rate=slow" / "grid_run.json"))[
      "finished"] is False


def test_the_failure_line_quotes_the_programs_last_words(tmp_path):
  log = tmp_path / "grid.log"
  log.write_text("==== 2026-01-01 python run_classifier.py ...\n"
                 "I0101 12:00:00.000 training.py:1] step 1\n"
                 "run_classifier.py: error: --vocab_file is required.\n\n"
                 "E0000 00:00:1796405689.250988   28592 cuda_platform.cc:52] no CUDA\n")
  assert run_grid.last_words(str(log)) == "run_classifier.py: error: --vocab_file is required."
  log.write_text("==== 2026-01-01 python run_classifier.py ...\n")
  assert run_grid.last_words(str(log)) is None
  assert run_grid.exit_description(-9) == "was killed by SIGKILL"
  assert run_grid.exit_description(1) == "exited with code 1"


# ---------------------------------------------------------------- the real thing


def classifier_args(model):
  """run_classifier.py's flags on the tiny MRPC model: one update per run."""
  return ["--task_name=MRPC", "--do_train=true", "--do_eval=true",
          f"--data_dir={model / 'MRPC'}", f"--vocab_file={model / 'vocab.txt'}",
          f"--bert_config_file={model / 'bert_config.json'}",
          f"--init_checkpoint={model / 'bert_model.ckpt'}", "--max_seq_length=32",
          "--train_batch_size=8", "--num_train_epochs=0.05"]


def test_grid_over_two_learning_rates_writes_the_table_and_best_then_skips(
    tiny_model, tmp_path, capsys):
  out = tmp_path / "grid"
  first = subprocess.run(
      [sys.executable, str(REPO_ROOT / "run_grid.py"), "--program=run_classifier.py",
       "--grid=learning_rate=1e-3,0.3", "--metric=eval_loss", f"--output_dir={out}", "--"] +
      classifier_args(tiny_model),
      cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=900)
  assert first.returncode == 0, first.stderr[-3000:]
  # eval_loss (lower is better): after one update F1 can tie at the all-positive answer.
  folders = ["learning_rate=1e-3", "learning_rate=0.3"]
  header, rows = read_table(out / "grid_results.tsv")
  assert header == ["learning_rate", "metric", "runs", "mean", "std", "value", "folder", "best"]
  assert len(rows) == 2
  values = [read_results(out / f / "eval_results.txt")["eval_loss"] for f in folders]
  assert [r["value"] for r in rows] == values
  assert [(r["learning_rate"], r["metric"], r["runs"], r["folder"]) for r in rows] == [
      ("1e-3", "eval_loss", "1", folders[0]), ("0.3", "eval_loss", "1", folders[1])]
  assert values[0] != values[1]   # else "best" would not tell them apart
  best = int(np.argmin([float(v) for v in values]))
  assert [r["best"] for r in rows] == ["*" if i == best else "" for i in range(2)]
  assert os.readlink(out / "best") == folders[best]
  # Ready for inference.py / export_savedmodel.py --model_dir=$OUT/best.
  assert run_info.read_run_info(str(out / "best"))["task_kind"] == "classifier"
  assert tf.train.latest_checkpoint(str(out / "best")).endswith("model.ckpt-1")
  # One feature cache, built by the first run and reused by the second.
  assert (out / "feature_cache" / "train.tf_record").is_file()
  assert not any((out / f / "train.tf_record").exists() for f in folders)
  assert "Reusing cached features" in (out / folders[1] / "grid.log").read_text()

  # The same grid again (in process: run() is what main() calls): nothing runs.
  before = {f: snapshot(out / f) for f in folders}
  capsys.readouterr()
  run_grid.run(run_grid.GridConfig(
      program="run_classifier.py", grid=run_grid.parse_grid("learning_rate=1e-3,0.3"),
      output_dir=str(out), program_args=classifier_args(tiny_model), metric="eval_loss"))
  assert capsys.readouterr().out.count("(skipped)") == 2
  assert {f: snapshot(out / f) for f in folders} == before
  assert read_table(out / "grid_results.tsv")[1] == rows


def test_a_record_of_another_program_or_without_its_keys_is_refused(tmp_path, fake_program):
  config = fake_config(fake_program, tmp_path, "learning_rate=0.002")
  run_grid.run(config)
  other = tmp_path / "other.py"
  other.write_text(FAKE_PROGRAM)
  with pytest.raises(errors.UserError, match=r"learning_rate=0.002 was run by 'fake.py', "
                     r"not --program=.*other.py; its result must not be reused"):
    run_grid.run(fake_config(str(other), tmp_path, "learning_rate=0.002"))
  record = tmp_path / "learning_rate=0.002" / "grid_run.json"
  kept = run_info.read_json(str(record))
  for damage in ({"program": "fake.py", "finished": True},
                 dict(kept, finished="no"), {k: v for k, v in kept.items() if k != "finished"}):
    record.write_text(json.dumps(damage))
    with pytest.raises(errors.UserError, match="grid_run.json is not the record run_grid.py "
                       "writes"):
      run_grid.run(config)
  assert len(calls(tmp_path / "learning_rate=0.002")) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_metric_that_is_not_finite_is_refused(tmp_path, value):
  (tmp_path / "eval_results.txt").write_text(f"eval_f1 = {value}\nloss = 0.7\n")
  with pytest.raises(errors.UserError, match=f"eval_f1 = '{value}' is not a finite number"):
    run_grid.read_metric(str(tmp_path), "eval_f1")


def test_best_is_checked_before_any_run_and_never_left_from_another_grid(tmp_path,
                                                                         fake_program):
  (tmp_path / "best").write_text("notes")
  with pytest.raises(errors.UserError, match=r"best exists and is not the grid's symlink"):
    run_grid.run(fake_config(fake_program, tmp_path, "learning_rate=0.002"))
  assert not (tmp_path / "learning_rate=0.002").exists()
  (tmp_path / "best").unlink()
  run_grid.run(fake_config(fake_program, tmp_path, "learning_rate=0.002"))
  assert os.readlink(tmp_path / "best") == "learning_rate=0.002"
  # Another grid in the folder, none of whose runs finishes: no best at all.
  with pytest.raises(errors.UserError, match=r"1 of 1 runs failed"):
    run_grid.run(fake_config(fake_program, tmp_path, "learning_rate=bad", keep_going=True))
  assert not os.path.lexists(tmp_path / "best")
  _, rows = read_table(tmp_path / "grid_results.tsv")
  assert len(rows) == 1 and rows[0]["value"] == "failed" and rows[0]["best"] == ""
