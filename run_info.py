"""The run folder's record: atomic writes, run_info.json, the step lookup.

Every file the project writes goes through `atomic_writer` (or a helper built
on it): it is written under a temporary name beside the target and renamed
over it at the end, so a reader never sees half a file and a failed write
(full disk, kill) leaves the earlier good file in place.

`run_info.json` records what inference and export need to use a fine-tuned
run: task kind, labels, casing, lengths and the model config.
"""

import contextlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf

import errors
import modeling

RUN_INFO_FILE = "run_info.json"
LABELS_FILE = "labels.txt"
# In the names of files and folders being written (renamed away when complete).
TMP_MARK = ".tmp-"


# ------------------------------------------------------------ atomic writes


def temporary_path(path):
  """The name `path` is written under until it is complete."""
  return f"{path}{TMP_MARK}{os.getpid()}"


def no_space_error(path):
  """A UserError naming `path` and the free space of its disk."""
  folder = os.path.dirname(os.path.abspath(path))
  free = ""
  if "://" not in path:
    with contextlib.suppress(OSError):
      free = f" ({shutil.disk_usage(folder).free / 2**20:.0f} MiB free)"
  return errors.UserError(f"{path}: no space left on the device{free}; free some space "
                          "or write to another folder. Earlier outputs were kept.")


def _remove_quietly(path):
  with contextlib.suppress(Exception):
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path`; what the block writes there replaces it.

  On any error the temporary file is removed and `path` is left as it was; a
  full disk becomes one UserError naming the path and the free space.
  """
  tmp = temporary_path(path)
  try:
    yield tmp
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException as e:
    _remove_quietly(tmp)
    if errors.is_disk_full(e):
      raise no_space_error(path) from None
    raise


@contextlib.contextmanager
def atomic_writer(path, mode="w"):
  """A tf.io.gfile writer whose file replaces `path` when the block succeeds."""
  with atomic_path(path) as tmp, tf.io.gfile.GFile(tmp, mode) as writer:
    yield writer


def write_text(path, text):
  """Writes `text` (str or bytes) to `path` atomically."""
  with atomic_writer(path, "wb" if isinstance(text, bytes) else "w") as writer:
    writer.write(text)


def write_json(path, data, indent=2, sort_keys=True):
  """Writes `data` as indented JSON (keys sorted by default), atomically."""
  write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def write_lines(path, lines):
  """Writes one str per line, atomically."""
  write_text(path, "".join(f"{line}\n" for line in lines))


def write_rows(path, rows):
  """Writes tab-separated float rows (test_results.tsv: probabilities), atomically."""
  write_lines(path, ["\t".join(str(float(x)) for x in np.atleast_1d(row)) for row in rows])


def write_results(path, results):
  """`key = value` lines sorted by key, as the reference's eval_results.txt."""
  write_lines(path, [f"{key} = {results[key]}" for key in sorted(results)])


def format_results(results):
  return ", ".join(f"{k} = {v}" for k, v in sorted(results.items()))


def append_results(path, results):
  """Appends a `key = value` block and a blank line (eval_history.txt)."""
  text = "".join(f"{key} = {results[key]}\n" for key in sorted(results)) + "\n"
  try:
    with tf.io.gfile.GFile(path, "a") as writer:
      writer.write(text)
  except (OSError, tf.errors.OpError) as e:
    if errors.is_disk_full(e):
      raise no_space_error(path) from None
    raise


def read_json(path, what="JSON file"):
  """The JSON value in `path`; a UserError naming the file when it is not JSON."""
  try:
    with tf.io.gfile.GFile(path, "rb") as reader:
      return json.loads(reader.read().decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise errors.UserError(f"{path} is not valid JSON ({e}); restore or delete the "
                           f"{what}.") from None


def read_lines(path):
  """The non-blank lines of a text file, stripped (labels.txt)."""
  with tf.io.gfile.GFile(path) as reader:
    return [line.strip() for line in reader.read().splitlines() if line.strip()]


# ------------------------------------------------------------ run_info.json

# The task kinds, the program that writes each, and what run_info.json must
# hold for inference and export (besides bert_config, do_lower_case,
# max_seq_length and vocab_file).
WRITERS = {"classifier": "run_classifier.py", "ner": "run_ner.py", "squad": "run_squad.py"}
REQUIRED_KEYS = {
    "classifier": ("label_list",),
    "ner": ("label_list", "window_stride", "word_split"),
    "squad": ("doc_stride", "max_query_length", "max_answer_length", "n_best_size",
              "version_2_with_negative", "null_score_diff_threshold"),
}
def read_run_info(model_dir, flag_name="model_dir"):
  """run_info.json of a fine-tuning run folder, checked.

  Returns:
    dict; task_kind defaults to "classifier" (folders written before it
    existed), bert_config is a modeling.BertConfig.

  Raises:
    errors.UserError naming the folder or file and the fix.
  """
  path = os.path.join(model_dir, RUN_INFO_FILE)
  if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
    raise errors.UserError(f"--{flag_name}={model_dir} is a file, not a directory; give "
                           "the folder that holds it.")
  if not tf.io.gfile.isdir(model_dir):
    raise errors.UserError(f"--{flag_name}={model_dir}: directory not found.")
  if not tf.io.gfile.exists(path):
    raise errors.UserError(
        f"--{flag_name}={model_dir}: no {RUN_INFO_FILE}; give the --output_dir of a "
        f"{', '.join(WRITERS.values())} training run.")
  info = read_json(path, RUN_INFO_FILE)
  if not isinstance(info, dict):
    raise errors.UserError(f"{path} holds no JSON object; restore or delete it.")
  kind = info.setdefault("task_kind", "classifier")
  if kind not in WRITERS:
    raise errors.UserError(f"{path}: task_kind={kind!r} cannot be exported or served "
                           f"(no fine-tuned head); accepted: {', '.join(WRITERS)}.")
  required = ("bert_config",) + REQUIRED_KEYS[kind] + (
      "do_lower_case", "max_seq_length", "vocab_file")
  missing = [key for key in required if key not in info]
  if missing:
    raise errors.UserError(f"{path} lacks {', '.join(missing)}; it was not written by "
                           f"{WRITERS[kind]}.")
  info["bert_config"] = modeling.BertConfig.from_dict(info["bert_config"], source=path)
  if kind == "classifier":
    info.setdefault("is_regression", not info["label_list"])
    if not info["is_regression"] and not info["label_list"]:
      raise errors.UserError(f"{path}: label_list is empty for a classification task.")
  elif kind == "ner" and not info["label_list"]:
    raise errors.UserError(f"{path}: label_list is empty; a tagger needs its tags.")
  return info


def evaluated_step(global_step, init_checkpoint):
  """The step results are reported at: the trained step, else the checkpoint's."""
  import checkpoint_utils  # pylint: disable=g-import-not-at-top
  if global_step or not init_checkpoint:
    return global_step
  return checkpoint_utils.read_global_step(init_checkpoint)
