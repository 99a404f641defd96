"""Training curves as a picture: `curves.png` in the run folder.

Training runs often live on remote servers where TensorBoard's port cannot be
reached; a PNG can be copied with scp. `write_curves(output_dir)` draws, against
the global step: the training loss and learning rate (from the TensorBoard
event files training.py writes in `<output_dir>/train/`), every metric of the
evaluations during training (from `<output_dir>/eval/`, else from
`eval_history.txt`), and the step of the best checkpoint
(`<output_dir>/best/eval_results.txt`). Where TensorBoard can be reached,
`tensorboard --logdir=<output_dir>` shows the same scalars.

Event files are read with TensorFlow alone (no tensorboard package); plotting
needs matplotlib, an optional dependency (`pip install '.[plots]'`).
"""

import contextlib
import dataclasses
import glob
import io
import math
import os
import stat
import typing

from absl import logging
import tensorflow as tf
from google.protobuf import message

import atomic_files
import errors
import run_info

CURVES_FILE = "curves.png"
# The training scalars drawn (training.py also logs grad_norm,
# examples_per_second and, in float16, loss_scale).
TRAIN_TAGS = ("loss", "learning_rate")
TITLES = {"loss": "training loss", "learning_rate": "learning rate"}
EVENT_FILE_PATTERN = "events.out.tfevents.*"
EVAL_HISTORY_FILE = "eval_history.txt"
BEST_RESULTS_FILE = os.path.join("best", "eval_results.txt")
MISSING_MATPLOTLIB = (f"{CURVES_FILE} needs matplotlib: pip install '.[plots]' "
                      "(or pip install matplotlib)")
# Inches per panel; at 100 dots per inch.
_PANEL_WIDTH, _PANEL_HEIGHT, _DPI = 5.5, 3.5, 100


class MatplotlibMissing(errors.UserError):
  """matplotlib is not installed: training says so once and goes on."""


class Series(typing.NamedTuple):
  """One scalar against the step: steps (ints, increasing) and values (floats)."""
  steps: list
  values: list


@dataclasses.dataclass
class Curves:
  """What curves.png shows, read from a run folder."""
  train: dict             # {tag: Series}, the TRAIN_TAGS that were logged
  eval: dict              # {metric: Series} of the evaluations during training
  best_step: typing.Optional[int] = None    # step of the checkpoint in best/
  best_results: dict = dataclasses.field(default_factory=dict)   # its {metric: float}


# ------------------------------------------------------------ reading


def merge_runs(runs):
  """Merges runs of scalars, a later run replacing what it logged again.

  A run resumed from a checkpoint logs again from the step after it: what an
  earlier run logged at or after a later run's first step came from a state
  that was thrown away (TensorBoard drops it too), so it is dropped.

  Args:
    runs: list, oldest first, of lists of (step int, tag str, value float) in
      the order they were written.

  Returns:
    {tag: Series}, steps increasing.
  """
  points = {}   # {tag: {step: value}}
  for run in _split_at_restarts(runs):
    first = run[0][0]
    for by_step in points.values():
      for step in [s for s in by_step if s >= first]:
        del by_step[step]
    for step, tag, value in run:
      points.setdefault(tag, {})[step] = value
  return {tag: Series(sorted(by_step), [by_step[s] for s in sorted(by_step)])
          for tag, by_step in sorted(points.items()) if by_step}


def _split_at_restarts(runs):
  """The non-empty runs, each also cut where its step goes back (a restart in one file)."""
  pieces = []
  for run in runs:
    previous = None
    for record in run:
      if previous is None or record[0] < previous:
        pieces.append([])
      pieces[-1].append(record)
      previous = record[0]
  return pieces


class _DamagedValue(Exception):
  """A summary value whose tensor cannot be read (a damaged or crafted file)."""


# The dtypes a scalar summary is written in.
_SCALAR_DTYPES = frozenset(tf.as_dtype(d).as_datatype_enum for d in (
    tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64, tf.bool))


def _scalar(value):
  """The float of a summary value (a scalar tensor or simple_value), else None.

  Raises:
    _DamagedValue: a one-element tensor whose content cannot be read.
  """
  kind = value.WhichOneof("value")
  if kind == "simple_value":
    return float(value.simple_value)
  if kind != "tensor":
    return None
  tensor = value.tensor
  # Checked before reading: a crafted shape would allocate terabytes.
  if tensor.dtype not in _SCALAR_DTYPES or any(d.size != 1 for d in tensor.tensor_shape.dim):
    return None
  try:
    array = tf.make_ndarray(tensor)
  except (ValueError, TypeError) as e:   # content of the wrong length
    raise _DamagedValue(str(e)) from None
  if array.size != 1:
    raise _DamagedValue(f"{array.size} elements in a scalar")
  return float(array.reshape(()))


def read_event_file(path):
  """The scalars of one event file, up to any damage (a run killed mid-write).

  Returns:
    (wall time of the first scalar or inf, [(step, tag, value), ...] in file order).
  """
  start, records, damaged = math.inf, [], []
  try:
    with _without_deprecation_notice():
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          try:
            scalar = _scalar(value)
          except _DamagedValue as e:
            damaged.append(f"{value.tag} at step {event.step}: {e}")
            continue
          if scalar is not None:
            start = min(start, event.wall_time)
            records.append((int(event.step), value.tag, scalar))
  except (tf.errors.DataLossError, message.DecodeError) as e:
    logging.warning("%s is damaged after %d scalars (%s); using those.", path,
                    len(records), errors.error_line(e))
  if damaged:
    logging.warning("%s: %d values could not be read and were skipped (%s).", path,
                    len(damaged), damaged[0])
  return start, records


@contextlib.contextmanager
def _without_deprecation_notice():
  """Hides TensorFlow's notice that summary_iterator's record reader is deprecated.

  Its replacement, tf.data.TFRecordDataset, takes 0.2 s to set up per file
  (and the eval/ folder holds one file per evaluation); this reader takes 40 us.
  """
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")
  try:
    yield
  finally:
    logger.setLevel(level)


def event_files(folder):
  """The TensorBoard event files directly in `folder` (sorted by name; [] if none).

  A directory, pipe or device named like an event file is skipped with a
  warning (reading a pipe would wait for a writer forever).
  """
  if not tf.io.gfile.isdir(folder):
    return []
  paths = sorted(tf.io.gfile.glob(os.path.join(glob.escape(folder), EVENT_FILE_PATTERN)))
  files = [path for path in paths if _is_regular_file(path)]
  for path in sorted(set(paths) - set(files)):
    logging.warning("%s is a directory, pipe or device, not an event file; skipped.", path)
  return files


def _is_regular_file(path):
  if "://" in path:   # a bucket holds files and folders only
    return not tf.io.gfile.isdir(path)
  try:
    return stat.S_ISREG(os.stat(path).st_mode)
  except OSError:   # removed since the listing, or a dangling link
    return False


def read_event_scalars(folder):
  """{tag: Series} of every scalar in the event files of `folder`, resumes merged.

  Files are taken in the order they were written (the wall time of their first
  scalar; names break ties), so that a resumed run's file comes after the
  run it resumed.
  """
  files = [read_event_file(path) + (path,) for path in event_files(folder)]
  files.sort(key=lambda item: (item[0], item[2]))
  return merge_runs([records for _, records, _ in files])


def read_results_blocks(path):
  """The `key = value` blocks of eval_history.txt (or one, eval_results.txt).

  Returns:
    list of {key: float}; values that are not numbers are left out.

  Raises:
    errors.UserError naming the file and line that is not `key = value`.
  """
  numbers = []
  for block in run_info.read_results(path):
    numbers.append({})
    for key, value in block.items():
      try:
        numbers[-1][key] = float(value)
      except ValueError:
        pass   # a text field: nothing to draw
  return [block for block in numbers if block]


def _global_step(block, path):
  """The global_step of a results block: a whole number, else UserError naming `path`."""
  step = block["global_step"]
  if not (math.isfinite(step) and step >= 0 and step == int(step)):
    raise errors.UserError(f"{path}: global_step = {step} is not a step number; restore "
                           "the file or delete it.")
  return int(step)


def read_eval_history(path):
  """{metric: Series} of eval_history.txt (one block per evaluation), resumes merged."""
  records = [(_global_step(block, path), key, value)
             for block in read_results_blocks(path) if "global_step" in block
             for key, value in sorted(block.items()) if key != "global_step"]
  return merge_runs([records])


def read_curves(output_dir):
  """Curves of a run folder.

  Raises:
    errors.UserError: the folder does not exist or holds no scalars.
  """
  errors.require_utf8_path(output_dir, "model_dir")   # else a traceback inside tf.io.gfile
  if not tf.io.gfile.isdir(output_dir):
    problem = "is a file" if tf.io.gfile.exists(output_dir) else "directory not found"
    raise errors.UserError(f"{output_dir}: {problem}; give the output folder "
                           "of a training run (its --output_dir).")
  train = read_event_scalars(os.path.join(output_dir, "train"))
  evals = read_event_scalars(os.path.join(output_dir, "eval"))
  history = os.path.join(output_dir, EVAL_HISTORY_FILE)
  if not evals and tf.io.gfile.exists(history):
    evals = read_eval_history(history)
  curves = Curves(train={t: train[t] for t in TRAIN_TAGS if t in train}, eval=evals)
  if not curves.train and not curves.eval:
    raise errors.UserError(
        f"{output_dir}: no training scalars found: expected TensorBoard event files "
        f"({EVENT_FILE_PATTERN}) in {os.path.join(output_dir, 'train')} or "
        f"{os.path.join(output_dir, 'eval')}, or {EVAL_HISTORY_FILE}; give the "
        "output folder of a training run (its --output_dir) that logged a step.")
  best = os.path.join(output_dir, BEST_RESULTS_FILE)
  if tf.io.gfile.exists(best):
    blocks = read_results_blocks(best)
    if blocks and "global_step" in blocks[0]:
      curves.best_results = blocks[0]
      curves.best_step = _global_step(blocks[0], best)
  return curves


# ------------------------------------------------------------ drawing


def _matplotlib_figure():
  """matplotlib's Figure and Agg canvas classes (no display, no pyplot state), ticker."""
  try:
    from matplotlib import ticker  # pylint: disable=g-import-not-at-top
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise MatplotlibMissing(MISSING_MATPLOTLIB) from None
  return Figure, FigureCanvasAgg, ticker


def panels(curves):
  """[(title, Series, eval metric name or None for a training scalar)], in drawing order."""
  drawn = [(TITLES[tag], curves.train[tag], None) for tag in TRAIN_TAGS
           if tag in curves.train]
  drawn += [(f"eval: {name}", series, name) for name, series in curves.eval.items()]
  return drawn


def grid_shape(num_panels):
  """(rows, columns) of the panels: up to 4 in two columns, more in three."""
  columns = 1 if num_panels == 1 else 2 if num_panels <= 4 else 3
  return -(-num_panels // columns), columns


def draw_curves(curves, title=""):
  """A matplotlib Figure (Agg canvas) with one panel per curve.

  The best checkpoint's step is a dashed vertical line in every panel; in the
  eval panels its value is marked and written beside it.
  """
  figure_class, canvas_class, ticker = _matplotlib_figure()
  drawn = panels(curves)
  rows, columns = grid_shape(len(drawn))
  figure = figure_class(figsize=(_PANEL_WIDTH * columns, _PANEL_HEIGHT * rows), dpi=_DPI,
                        layout="constrained")
  canvas_class(figure)
  axes = figure.subplots(rows, columns, squeeze=False).ravel()
  for ax, (name, series, metric) in zip(axes, drawn):
    # Markers where points are few enough to tell apart (evaluations, short runs).
    marker = "o" if metric or len(series.steps) <= 50 else None
    ax.plot(series.steps, series.values, marker=marker, markersize=3, linewidth=1.2)
    ax.set_title(name)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if curves.best_step is not None:
      _mark_best(ax, curves, metric)
  if curves.best_step is not None:
    axes[0].legend(loc="best", fontsize="small")
  for ax in axes[len(drawn):]:
    ax.remove()
  if title:
    figure.suptitle(title)
  return figure


def _mark_best(ax, curves, metric):
  """The best checkpoint's step on one panel (and its value, for an eval metric)."""
  step = curves.best_step
  ax.axvline(step, color="tab:red", linestyle="--", linewidth=1,
             label=f"best checkpoint (step {step})")
  value = curves.best_results.get(metric) if metric else None
  if value is not None and math.isfinite(value):
    ax.plot([step], [value], marker="*", markersize=12, color="tab:red", linestyle="")
    # Left of the star: the best step is often the last one, at the right edge.
    ax.annotate(f"{value:.4g}", (step, value), textcoords="offset points",
                xytext=(-8, 6), horizontalalignment="right", color="tab:red")


def write_curves(output_dir):
  """Writes `<output_dir>/curves.png` (atomically) and returns its path.

  Raises:
    MatplotlibMissing: matplotlib is not installed (the message says how to get it).
    errors.UserError: the folder does not exist or holds no scalars.
  """
  _matplotlib_figure()   # before reading anything: the cheapest check first
  curves = read_curves(output_dir)
  title = output_dir.rstrip("/")
  if curves.best_step is not None:
    title += f"  (best checkpoint: step {curves.best_step})"
  figure = draw_curves(curves, title)
  png = io.BytesIO()
  figure.savefig(png, format="png")
  path = os.path.join(output_dir, CURVES_FILE)
  atomic_files.write_text(path, png.getvalue())
  return path


_warned_missing_matplotlib = False


def write_curves_quietly(output_dir):
  """write_curves at the end of training: never raises; says once if it cannot.

  A picture must not fail the training that produced it: a missing matplotlib
  is one WARNING per process, any other failure a WARNING each time (with the
  traceback when it is a bug of ours).

  Returns:
    the path written, or None.
  """
  global _warned_missing_matplotlib
  try:
    path = write_curves(output_dir)
  except MatplotlibMissing as e:
    if not _warned_missing_matplotlib:
      logging.warning("%s", e)
      _warned_missing_matplotlib = True
    return None
  except Exception as e:  # pylint: disable=broad-except
    bug = not errors.is_input_error(e)
    logging.warning("Could not write %s: %s", os.path.join(output_dir, CURVES_FILE),
                    errors.error_line(e), exc_info=bug)
    return None
  logging.info("Wrote %s", path)
  return path
