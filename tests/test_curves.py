"""Tests of curves.py (curves.png from a run folder) and plot_curves.py."""

import logging
import os
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

import atomic_files
import curves
import errors
import run_info
import training
from test_bad_inputs import ForkServer
from test_training import examples_of, make_arrays, make_trainer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_events(folder, points):
  """One event file in `folder`, written as training.py writes it: [(step, tag, value)]."""
  writer = tf.summary.create_file_writer(str(folder))
  with writer.as_default():
    for step, tag, value in points:
      training.summary_scalar(tag, value, step)
  writer.flush()
  writer.close()
  # The wall times order the files; make the next file's clearly later.
  time.sleep(0.01)


def newest_event_file(folder):
  return max(curves.event_files(str(folder)), key=os.path.getmtime)


def f32(values):
  """The floats as the event files store them (float32)."""
  return [float(np.float32(v)) for v in values]


def assert_series(series, steps, values):
  assert len(series.steps) == len(steps) and len(series.values) == len(values)
  assert series.steps == steps
  assert series.values == values


def write_resumed_run(out):
  """A run logged to step 10, resumed from step 5 (the later file sorts first by name).

  Evaluations at 4 and 8, then after the resume at 6.
  """
  write_events(out / "train", [(s, tag, v) for s, v in zip([2, 4, 6, 8, 10],
                                                          [1.0, 0.9, 0.8, 0.7, 0.6])
                               for tag in ("loss", "learning_rate", "grad_norm")])
  write_events(out / "train", [(6, "loss", 0.55), (6, "learning_rate", 0.4),
                               (9, "loss", 0.5), (9, "learning_rate", 0.3)])
  # A name that sorts before the first file's: the order must come from the
  # wall times inside.
  os.rename(newest_event_file(out / "train"),
            out / "train" / "events.out.tfevents.0000000000.resumed.v2")
  for step, accuracy in ((4, 0.6), (8, 0.75), (6, 0.7)):   # one file per evaluation
    write_events(out / "eval", [(step, "eval_accuracy", accuracy),
                                (step, "eval_loss", 1.0 / step)])


def test_a_resumed_runs_events_merge_the_later_file_wins_and_orphans_go(tmp_path):
  write_resumed_run(tmp_path)
  train = curves.read_event_scalars(str(tmp_path / "train"))
  assert sorted(train) == ["grad_norm", "learning_rate", "loss"]
  # Step 6 logged again, 8 and 10 came from a state the resume threw away.
  assert_series(train["loss"], [2, 4, 6, 9], f32([1.0, 0.9, 0.55, 0.5]))
  assert_series(train["learning_rate"], [2, 4, 6, 9], f32([1.0, 0.9, 0.4, 0.3]))
  assert_series(train["grad_norm"], [2, 4], f32([1.0, 0.9]))
  result = curves.read_curves(str(tmp_path))
  assert sorted(result.train) == ["learning_rate", "loss"]   # what is drawn
  assert sorted(result.eval) == ["eval_accuracy", "eval_loss"]
  assert_series(result.eval["eval_accuracy"], [4, 6], f32([0.6, 0.7]))
  assert_series(result.eval["eval_loss"], [4, 6], f32([0.25, 1 / 6]))
  assert result.best_step is None and result.best_results == {}


def test_merge_runs_drops_what_a_later_run_redid():
  merged = curves.merge_runs([
      [(1, "a", 1.0), (2, "a", 2.0), (3, "a", 3.0), (3, "b", 30.0)],
      [(2, "a", 20.0)],
      [(4, "a", 4.0), (2, "a", 200.0), (5, "b", 50.0)],   # a restart inside a run
      []])
  assert sorted(merged) == ["a", "b"]
  assert_series(merged["a"], [1, 2], [1.0, 200.0])
  assert_series(merged["b"], [5], [50.0])
  assert curves.merge_runs([]) == {}


def test_a_truncated_event_file_keeps_the_scalars_before_the_damage(tmp_path, caplog):
  write_events(tmp_path, [(s, "loss", s / 10) for s in (1, 2, 3)])
  path = newest_event_file(tmp_path)
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:-5])   # killed while writing the last record
  caplog.set_level(logging.WARNING)
  start, records = curves.read_event_file(path)
  assert records == [(1, "loss", f32([0.1])[0]), (2, "loss", f32([0.2])[0])]
  assert np.isfinite(start)
  assert [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]


def test_eval_history_is_read_when_there_are_no_eval_events(tmp_path):
  write_events(tmp_path / "train", [(1, "loss", 2.0)])
  history = str(tmp_path / "eval_history.txt")
  # Evaluations at 2, 4, 6; the run resumed from step 3 evaluates 4 and 8.
  for step, accuracy in ((2, 0.5), (4, 0.6), (6, 0.7), (4, 0.65), (8, 0.8)):
    run_info.append_results(history, {"eval_accuracy": accuracy, "global_step": step,
                                      "task": "mrpc"})
  result = curves.read_curves(str(tmp_path))
  assert sorted(result.eval) == ["eval_accuracy"]   # text fields are left out
  assert_series(result.eval["eval_accuracy"], [2, 4, 8], [0.5, 0.65, 0.8])
  assert_series(result.train["loss"], [1], [2.0])


def test_a_damaged_eval_history_line_is_named(tmp_path):
  (tmp_path / "eval_history.txt").write_text("global_step = 2\neval_accuracy 0.5\n")
  with pytest.raises(errors.UserError, match=r"eval_history.txt:2: expected `key = value`"):
    curves.read_curves(str(tmp_path))


def test_damaged_results_files_are_named(tmp_path):
  """A step that is no number, bytes that are not UTF-8, a folder in a file's place."""
  write_events(tmp_path / "train", [(1, "loss", 2.0)])
  history = tmp_path / "eval_history.txt"
  for step in ("nan", "inf", "-1", "2.5"):
    history.write_text(f"eval_accuracy = 0.5\nglobal_step = {step}\n")
    with pytest.raises(errors.UserError, match="eval_history.txt: global_step = "):
      curves.read_curves(str(tmp_path))
  history.unlink()
  (tmp_path / "best").mkdir()
  (tmp_path / "best" / "eval_results.txt").write_text("eval_accuracy = 0.5\nglobal_step = nan\n")
  with pytest.raises(errors.UserError, match="best/eval_results.txt: global_step = nan"):
    curves.read_curves(str(tmp_path))
  (tmp_path / "best" / "eval_results.txt").write_bytes(b"eval_f1 = 0.5\xe9\n")
  with pytest.raises(errors.UserError, match=r"eval_results.txt, line 1: not valid UTF-8"):
    curves.read_curves(str(tmp_path))
  (tmp_path / "best" / "eval_results.txt").unlink()
  (tmp_path / "best" / "eval_results.txt").mkdir()
  with pytest.raises(errors.UserError, match=r"eval_results.txt: is a directory"):
    curves.read_curves(str(tmp_path))


def test_a_folder_or_pipe_named_like_an_event_file_is_skipped(tmp_path, caplog):
  """A pipe named like an event file made plot_curves wait forever for a writer."""
  write_events(tmp_path / "train", [(1, "loss", 2.0)])
  (tmp_path / "train" / "events.out.tfevents.999.x").mkdir()
  special = ["events.out.tfevents.999.x"]
  if hasattr(os, "mkfifo"):
    os.mkfifo(tmp_path / "train" / "events.out.tfevents.998.pipe")
    special.append("events.out.tfevents.998.pipe")
  caplog.set_level(logging.WARNING)
  results = []   # read in a thread: opening the pipe would wait forever for a writer
  reader = threading.Thread(target=lambda: results.append(curves.read_curves(str(tmp_path))),
                            daemon=True)
  reader.start()
  reader.join(timeout=60)
  assert not reader.is_alive(), "read_curves opened the pipe"
  assert_series(results[0].train["loss"], [1], [2.0])
  skipped = sorted(r.getMessage().split("/")[-1] for r in caplog.records
                   if "is a directory, pipe or device, not an event file" in r.getMessage())
  assert skipped == sorted(name + " is a directory, pipe or device, not an event file; "
                           "skipped." for name in special)


def test_results_blocks_are_read_as_written(tmp_path):
  path = tmp_path / "eval_history.txt"
  run_info.append_results(str(path), {"eval_accuracy": 0.5, "global_step": 2, "task": "a b"})
  run_info.append_results(str(path), {"eval_accuracy": 0.75, "global_step": 4, "task": "c"})
  blocks = run_info.read_results(str(path))
  assert blocks == [{"eval_accuracy": "0.5", "global_step": "2", "task": "a b"},
                    {"eval_accuracy": "0.75", "global_step": "4", "task": "c"}]
  run_info.write_results(str(tmp_path / "eval_results.txt"), {"loss": 0.25, "x": "y = z"})
  assert run_info.read_results(str(tmp_path / "eval_results.txt")) == [
      {"loss": "0.25", "x": "y = z"}]


def test_the_best_checkpoint_step_and_results_come_from_best(tmp_path):
  write_resumed_run(tmp_path)
  os.makedirs(tmp_path / "best")
  run_info.write_results(str(tmp_path / "best" / "eval_results.txt"),
                         {"eval_accuracy": 0.75, "eval_loss": 0.125, "global_step": 8})
  result = curves.read_curves(str(tmp_path))
  assert result.best_step == 8
  assert result.best_results == {"eval_accuracy": 0.75, "eval_loss": 0.125,
                                  "global_step": 8.0}


def test_folders_without_scalars_are_one_clear_error(tmp_path):
  with pytest.raises(errors.UserError, match="directory not found"):
    curves.read_curves(str(tmp_path / "missing"))
  (tmp_path / "file").write_text("x")
  with pytest.raises(errors.UserError, match="is a file"):
    curves.read_curves(str(tmp_path / "file"))
  (tmp_path / "train").mkdir()
  with pytest.raises(errors.UserError, match=r"no training scalars found: expected "
                     r"TensorBoard event files \(events.out.tfevents.\*\) in "):
    curves.read_curves(str(tmp_path))


def test_grid_shape():
  assert [curves.grid_shape(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [
      (1, 1), (1, 2), (2, 2), (2, 2), (2, 3), (2, 3), (3, 3)]


# ------------------------------------------------------------ drawing (matplotlib)


def test_the_figure_has_a_panel_per_curve_and_marks_the_best_step(tmp_path):
  pytest.importorskip("matplotlib")
  write_resumed_run(tmp_path)
  os.makedirs(tmp_path / "best")
  run_info.write_results(str(tmp_path / "best" / "eval_results.txt"),
                         {"eval_accuracy": 0.75, "eval_loss": 0.125, "global_step": 8})
  result = curves.read_curves(str(tmp_path))
  figure = curves.draw_curves(result)
  axes = figure.axes
  assert [ax.get_title() for ax in axes] == [
      "training loss", "learning rate", "eval: eval_accuracy", "eval: eval_loss"]
  expected = [result.train["loss"], result.train["learning_rate"],
              result.eval["eval_accuracy"], result.eval["eval_loss"]]
  for ax, series, best_value in zip(axes, expected, [None, None, 0.75, 0.125]):
    curve, best_line = ax.lines[:2]
    assert list(curve.get_xdata()) == series.steps
    assert list(curve.get_ydata()) == series.values
    assert list(best_line.get_xdata()) == [8, 8]   # the dashed vertical line
    if best_value is None:
      assert len(ax.lines) == 2
    else:
      star = ax.lines[2]
      assert (list(star.get_xdata()), list(star.get_ydata())) == ([8], [best_value])
      assert [t.get_text() for t in ax.texts] == [f"{best_value:.4g}"]
  # Without a best checkpoint: the curves alone.
  result.best_step, result.best_results = None, {}
  assert all(len(ax.lines) == 1 for ax in curves.draw_curves(result).axes)


def test_curves_png_is_written_atomically_as_a_png(tmp_path):
  matplotlib_image = pytest.importorskip("matplotlib.image")
  write_resumed_run(tmp_path)
  path = curves.write_curves(str(tmp_path))
  assert path == str(tmp_path / "curves.png")
  data = open(path, "rb").read()
  assert data[:8] == PNG_MAGIC and len(data) > 1000
  image = matplotlib_image.imread(path)
  # 4 panels in 2 x 2, each 5.5 x 3.5 inches at 100 dpi; RGBA.
  assert image.shape == (700, 1100, 4)
  assert image[..., :3].std() > 0.05   # not a blank page
  assert not [n for n in os.listdir(tmp_path) if atomic_files.TMP_MARK in n]


def _matplotlib_missing(monkeypatch):
  for name in ("matplotlib", "matplotlib.figure", "matplotlib.ticker",
               "matplotlib.backends", "matplotlib.backends.backend_agg"):
    monkeypatch.setitem(sys.modules, name, None)   # `import` raises ImportError
  monkeypatch.setattr(curves, "_warned_missing_matplotlib", False)


def test_without_matplotlib_one_line_says_how_to_get_it(tmp_path, monkeypatch, caplog):
  write_resumed_run(tmp_path)
  _matplotlib_missing(monkeypatch)
  with pytest.raises(curves.MatplotlibMissing) as raised:
    curves.write_curves(str(tmp_path))
  assert str(raised.value) == ("curves.png needs matplotlib: pip install '.[plots]' "
                               "(or pip install matplotlib)")
  assert errors.is_input_error(raised.value)   # plot_curves.py: one line, exit 1
  caplog.set_level(logging.INFO)
  assert curves.write_curves_quietly(str(tmp_path)) is None
  assert curves.write_curves_quietly(str(tmp_path)) is None
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  assert warnings == [str(raised.value)]   # once per process
  assert not (tmp_path / "curves.png").exists()


def test_the_quiet_writer_warns_instead_of_raising(tmp_path, caplog):
  pytest.importorskip("matplotlib")
  caplog.set_level(logging.WARNING)
  assert curves.write_curves_quietly(str(tmp_path)) is None   # nothing logged yet
  [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
  assert "Could not write" in warning.getMessage()
  assert "no training scalars found" in warning.getMessage()
  assert not warning.exc_info   # a user's problem: no traceback
  assert not (tmp_path / "curves.png").exists()


def test_the_quiet_writer_logs_a_bug_of_ours_with_its_traceback(tmp_path, monkeypatch,
                                                                caplog):
  pytest.importorskip("matplotlib")
  write_resumed_run(tmp_path)
  monkeypatch.setattr(curves, "draw_curves", lambda *args: 1 / 0)
  caplog.set_level(logging.WARNING)
  assert curves.write_curves_quietly(str(tmp_path)) is None
  [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
  assert "division by zero" in warning.getMessage()
  assert warning.exc_info[0] is ZeroDivisionError


# ------------------------------------------------------------ plot_curves.py


def test_plot_curves_command(tmp_path):
  pytest.importorskip("matplotlib")
  run = tmp_path / "run"
  write_resumed_run(run)
  (tmp_path / "empty").mkdir()
  (tmp_path / "logs").mkdir()
  script = os.path.join(REPO_ROOT, "plot_curves.py")
  commands = {
      "ok": [script, f"--model_dir={run}"],
      "missing": [script, f"--model_dir={tmp_path / 'missing'}"],
      "empty": [script, f"--model_dir={tmp_path / 'empty'}"],
      "no_flag": [script],
  }
  # Forked from one process that imported TensorFlow once (see test_bad_inputs.py).
  server = ForkServer(tmp_path / "logs")
  try:
    done = server.run(commands, tmp_path)
  finally:
    server.close()
  done = {name: (r.stdout, r.stderr, r.returncode) for name, r in done.items()}
  stdout, stderr, code = done["ok"]
  assert code == 0, stderr[-2000:]
  assert stdout.strip() == str(run / "curves.png")
  assert (run / "curves.png").read_bytes()[:8] == PNG_MAGIC
  expected = {
      "missing": f"plot_curves.py: error: {tmp_path / 'missing'}: directory not found",
      "empty": (f"plot_curves.py: error: {tmp_path / 'empty'}: no training scalars found: "
                f"expected TensorBoard event files (events.out.tfevents.*) in "
                f"{tmp_path / 'empty' / 'train'} or {tmp_path / 'empty' / 'eval'}"),
      "no_flag": "plot_curves.py: error: flag --model_dir=None: Flag --model_dir must have "
                 "a value other than None.",
  }
  for name, start in expected.items():
    stdout, stderr, code = done[name]
    assert code == 1, (name, stderr[-2000:])
    assert "Traceback" not in stderr, (name, stderr[-2000:])
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(start), (name, last)
  assert not (tmp_path / "empty" / "curves.png").exists()


# ------------------------------------------------------------ a real training run


def test_training_ends_with_curves_png_also_after_a_resume(tmp_path):
  pytest.importorskip("matplotlib")
  arrays = make_arrays()
  scores = iter([0.5, 0.7, 0.6, 0.65, 0.8, 0.75])
  evaluator = lambda: {"eval_accuracy": next(scores)}  # noqa: E731
  trainer = make_trainer(tmp_path, steps=6, eval_every_steps=2)
  trainer.restore()
  trainer.train(*examples_of(arrays), evaluator, "eval_accuracy")
  assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_MAGIC
  first = curves.read_curves(str(tmp_path))
  assert_series(first.eval["eval_accuracy"], [2, 4, 6], f32([0.5, 0.7, 0.6]))
  assert first.train["loss"].steps == [1, 2, 3, 4, 5, 6]
  assert first.best_step == 4
  first_png = (tmp_path / "curves.png").read_bytes()

  # Killed after step 6 but before its checkpoint: the rerun resumes at 3
  # and logs steps 4-6 again, then goes on to 8.
  for name in os.listdir(tmp_path):
    if name.startswith("model.ckpt-6."):
      os.remove(tmp_path / name)
  (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-3"\n'
                                       'all_model_checkpoint_paths: "model.ckpt-3"\n')
  resumed = make_trainer(tmp_path, steps=8, eval_every_steps=2)
  resumed.restore()
  assert resumed.global_step == 3
  resumed.train(*examples_of(arrays), evaluator, "eval_accuracy")
  assert (tmp_path / "curves.png").read_bytes() != first_png
  result = curves.read_curves(str(tmp_path))
  loss = result.train["loss"]
  assert loss.steps == [1, 2, 3, 4, 5, 6, 7, 8]
  # Steps 1-3 from the first run's file, 4-8 from the rerun's.
  _, rerun = curves.read_event_file(newest_event_file(tmp_path / "train"))
  rerun_loss = [(step, value) for step, tag, value in rerun if tag == "loss"]
  assert [s for s, _ in rerun_loss] == [4, 5, 6, 7, 8]
  assert loss.values == first.train["loss"].values[:3] + [v for _, v in rerun_loss]
  assert_series(result.eval["eval_accuracy"], [2, 4, 6, 8], f32([0.5, 0.65, 0.8, 0.75]))
  # eval_history.txt holds every evaluation; read alone it gives the same curve.
  history = curves.read_eval_history(str(tmp_path / "eval_history.txt"))
  assert history["eval_accuracy"].steps == [2, 4, 6, 8]
  assert f32(history["eval_accuracy"].values) == result.eval["eval_accuracy"].values
  assert result.best_step == 6 and result.best_results["eval_accuracy"] == 0.8


def test_crafted_tensor_values_are_skipped_with_one_warning(tmp_path, caplog):
  """Malformed scalar tensors were ValueError/KeyError/MemoryError tracebacks."""
  from tensorflow.core.framework import tensor_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.framework import types_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.util import event_pb2  # pylint: disable=g-import-not-at-top

  def scalar_of_dims(*dims, **fields):
    proto = tensor_pb2.TensorProto(dtype=fields.pop("dtype", types_pb2.DT_FLOAT), **fields)
    for size in dims:
      proto.tensor_shape.dim.add(size=size)
    return proto

  crafted = [scalar_of_dims(tensor_content=b"abc"),              # 3 bytes of a float32
             scalar_of_dims(1, tensor_content=b"abcdefgh"),       # 2 floats in a [1]
             scalar_of_dims(dtype=types_pb2.DT_RESOURCE),
             scalar_of_dims(dtype=types_pb2.DT_INVALID),
             scalar_of_dims(-1, float_val=[1.0]),
             scalar_of_dims(10 ** 12, float_val=[1.0]),           # 3.6 TiB if allocated
             scalar_of_dims(float_val=[1.0, 2.0])]
  folder = tmp_path / "train"
  folder.mkdir()
  with tf.io.TFRecordWriter(str(folder / "events.out.tfevents.1.x")) as writer:
    for step, proto in enumerate(crafted, start=1):
      event = event_pb2.Event(step=step, wall_time=1.0)
      event.summary.value.add(tag="loss", tensor=proto)
      writer.write(event.SerializeToString())
    event = event_pb2.Event(step=9, wall_time=2.0)
    event.summary.value.add(tag="loss", tensor=scalar_of_dims(float_val=[0.5]))
    writer.write(event.SerializeToString())
  caplog.set_level(logging.WARNING)
  result = curves.read_curves(str(tmp_path))
  assert_series(result.train["loss"], [9], [0.5])
  warned = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
  assert len(warned) == 1 and ": 3 values could not be read and were skipped (loss at " \
      "step 1: " in warned[0], warned
