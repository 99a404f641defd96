"""The run folder's record: the lock, run_info.json, the results file, the step lookup.

Its files are written atomically (atomic_files.py).

One run writes a run folder at a time (`RunLock`). `run_info.json` records
what inference and export need to use a fine-tuned run (task kind, labels,
casing, lengths, the model config) and the settings a resumed run must share
with the one that wrote its checkpoints (`check_resumable`). The vocabulary
and the config are copied into the folder and named relatively, so a run
folder can be moved, copied to another machine or tarred up.
"""

import atexit
import contextlib
import json
import os
import socket
import sys
import time

from absl import logging
import tensorflow as tf

import atomic_files
import data_files
import errors
import modeling
import ner_data
import windows

RUN_INFO_FILE = "run_info.json"
LOCK_FILE = "run.lock"
# Copies a run folder keeps of the model files, so that it is self-contained.
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "bert_config.json"
LABELS_FILE = "labels.txt"
def write_results(path, results):
  """`key = value` lines sorted by key: the eval_results.txt format."""
  atomic_files.write_lines(path, [f"{key} = {results[key]}" for key in sorted(results)])


def read_results(path):
  """The `key = value` blocks of eval_history.txt (blank-line separated), or one of
  eval_results.txt: a list of {key: value str}, empty blocks left out.

  Raises:
    errors.UserError naming the file and line that is not `key = value`.
  """
  blocks = [{}]
  text = data_files.read_text(path, "`key = value` lines")
  for number, line in enumerate(text.splitlines(), 1):
    if not line.strip():
      blocks.append({})
      continue
    key, sep, value = line.partition("=")
    if not sep:
      raise errors.UserError(f"{path}:{number}: expected `key = value`, got {line!r}; "
                             "fix or delete that line.")
    blocks[-1][key.strip()] = value.strip()
  return [block for block in blocks if block]


def read_merged_results(path):
  """{key: value str} of all the `key = value` lines of `path` (eval_results.txt);
  a key given in more than one block keeps its last value."""
  return {key: value for block in read_results(path) for key, value in block.items()}


def format_results(results):
  return ", ".join(f"{k} = {v}" for k, v in sorted(results.items()))


def append_results(path, results):
  """Appends a `key = value` block and a blank line (eval_history.txt).

  A symbolic link at `path` is refused: the history stays inside the run folder.
  """
  if os.path.islink(path):
    raise errors.UserError(f"{path} is a symbolic link; the run folder's history is "
                           "written only to a regular file inside it. Remove the link.")
  text = "".join(f"{key} = {results[key]}\n" for key in sorted(results)) + "\n"
  earlier = b""
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path, "rb") as reader:
      earlier = reader.read()
  # Rewritten and renamed, not appended in place: a hard-linked copy of the folder
  # (cp -al, rsync --link-dest) keeps its own history, and a kill leaves no half block.
  atomic_files.write_text(path, earlier + text.encode("utf-8"))


def read_json(path, what="JSON file"):
  """The JSON value in `path`; a UserError naming the file when it is not JSON."""
  data = data_files.read_bytes(path, what)
  try:
    text = data.decode("utf-8-sig")   # a hand edit may add a byte-order mark
  except UnicodeDecodeError as e:
    raise errors.UserError(f"{path} is not valid JSON ({e}); restore or delete the "
                           f"{what}.") from None
  return data_files.parse_json(text, path, f" Restore or delete the {what}.")


# ------------------------------------------------------------ the lock


def _process_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:   # another user's process
    return True
  return True


class RunLock:
  """An exclusive claim on a run folder: one run writes it at a time.

  The lock file names the process, host, command and folder that holds it. A
  lock left by a process that no longer runs on this host is taken over with a
  warning, and so is a lock copied with the folder (it names another folder,
  which still exists); a live one stops the new run with an error naming it.
  Folders on remote file systems (gs://) are not locked.
  """

  def __init__(self, output_dir):
    self.path = os.path.join(output_dir, LOCK_FILE)
    self.held = False
    self._record = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "command": " ".join(sys.argv),
                    "folder": os.path.abspath(output_dir)}

  def _holder(self):
    try:
      with open(self.path, encoding="utf-8") as reader:
        holder = json.load(reader)
      return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
      return {}

  def acquire(self):
    if "://" in self.path or self.held:
      return
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._holder()
        if holder.get("pid") == os.getpid() and holder.get("host") == self._record["host"]:
          self.held = True   # this process's own run, called again
          return
        if holder.get("host") == self._record["host"] and not (
            isinstance(holder.get("pid"), int) and _process_alive(holder["pid"])):
          logging.warning("Taking over %s: its run (pid %s) is no longer running.",
                          self.path, holder.get("pid"))
          with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
          continue
        if self._copied_with_the_folder(holder):
          logging.warning("Taking over %s: it was copied with the folder from %s, where "
                          "its run (pid %s) holds its own.", self.path, holder["folder"],
                          holder.get("pid"))
          with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
          continue
        raise errors.UserError(
            f"{os.path.dirname(self.path)} is in use by another run (pid "
            f"{holder.get('pid', '?')} on {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}: {holder.get('command', '?')}). Wait for it "
            "to end or use another --output_dir; if that run is gone, delete "
            f"{self.path}.") from None
      with os.fdopen(fd, "w", encoding="utf-8") as writer:
        json.dump(self._record, writer)
      self.held = True
      return
    raise errors.UserError(f"Could not take the lock {self.path}; try again.")

  def _copied_with_the_folder(self, holder):
    """Whether the lock names another folder of this host that still exists.

    A folder moved while its run is live is not taken over: its lock names a
    folder that no longer exists.
    """
    folder = holder.get("folder")
    return (isinstance(folder, str) and holder.get("host") == self._record["host"] and
            os.path.isdir(folder) and
            not same_file(folder, os.path.dirname(os.path.abspath(self.path))))

  def release(self):
    if self.held and self._holder().get("pid") == os.getpid():
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)
    self.held = False


def claim_run_folder(output_dir, chief=True):
  """Creates `output_dir` and, on the chief, takes its lock until this process ends.

  Returns:
    The RunLock (held on the chief).
  """
  tf.io.gfile.makedirs(output_dir)
  lock = RunLock(output_dir)
  if chief:
    lock.acquire()
    atexit.register(lock.release)
  return lock


# ------------------------------------------------------------ run_info.json

# The task kinds, the program that writes each, and what run_info.json must
# hold for inference and export (besides bert_config, do_lower_case,
# max_seq_length and vocab_file).
WRITERS = {"classifier": "run_classifier.py", "ner": "run_ner.py", "squad": "run_squad.py",
           "multiple_choice": "run_multiple_choice.py"}
REQUIRED_KEYS = {
    "classifier": ("label_list",),
    "ner": ("label_list", "window_stride", "word_split"),
    "squad": ("doc_stride", "max_query_length", "max_answer_length", "n_best_size",
              "version_2_with_negative", "null_score_diff_threshold"),
    "multiple_choice": ("num_choices",),
}
# The type of each value inference and export read; counts and lengths are
# positive (a window stride too).
VALUE_TYPES = {
    "do_lower_case": bool, "vocab_file": str, "label_list": list, "is_regression": bool,
    "crf": bool, "word_split": str, "version_2_with_negative": bool,
    "null_score_diff_threshold": (int, float)}
POSITIVE_KEYS = ("max_seq_length", "window_stride", "doc_stride", "max_query_length",
                 "max_answer_length", "n_best_size", "num_choices")
# What a resumed run must share with the run that wrote its checkpoints: the
# model and its task (never changeable) and the settings that change the
# result (changeable with --allow_setting_changes). A tagger's crf (run_ner.py
# --crf) is part of the model: it adds the CRF's variable to the checkpoint.
MODEL_KEYS = ("task_kind", "task_name", "label_list", "bert_config", "crf")
SETTING_KEYS = ("max_seq_length", "do_lower_case", "training", "crf_learning_rate")


def training_settings(config):
  """The TrainingConfig fields that change the trained weights (not speed or logging)."""
  return {name: getattr(config, name) for name in (
      "learning_rate", "num_train_steps", "num_warmup_steps", "train_batch_size", "seed",
      "optimizer", "weight_decay_rate", "clip_norm", "compute_dtype", "length_bucketing")}


def same_file(a, b):
  """Whether two paths name one file; for paths that cannot be compared
  (remote, or missing), whether they are spelled alike."""
  with contextlib.suppress(OSError):
    return os.path.samefile(a, b)
  return a == b


def write_run_info(output_dir, info, vocab_file=None):
  """Writes run_info.json, with copies of the vocabulary and the config beside it.

  Args:
    output_dir: the run folder.
    info: dict with bert_config (a dict) and what the task records; its
      vocab_file becomes "vocab.txt", a copy of `vocab_file`.
    vocab_file: the vocabulary the run tokenizes with (None: the run has none).
  """
  info = dict(info)
  if vocab_file:
    target = os.path.join(output_dir, VOCAB_FILE)
    if not same_file(vocab_file, target):
      with tf.io.gfile.GFile(vocab_file, "rb") as reader:
        atomic_files.write_text(target, reader.read())
    info["vocab_file"] = VOCAB_FILE
  atomic_files.write_json(os.path.join(output_dir, CONFIG_FILE), info["bert_config"])
  info["bert_config_file"] = CONFIG_FILE
  atomic_files.write_json(os.path.join(output_dir, RUN_INFO_FILE), info)


def _vocab_path(model_dir, recorded):
  """The vocabulary of a run folder: a relative name is inside the folder.

  (Folders written before the copy was made name an absolute path.)
  """
  if "://" in recorded or os.path.isabs(recorded):
    return recorded
  return os.path.join(model_dir, recorded)


def read_run_info(model_dir, flag_name="model_dir"):
  """run_info.json of a fine-tuning run folder, checked.

  Returns:
    dict; task_kind defaults to "classifier" (folders written before it
    existed), bert_config is a modeling.BertConfig, vocab_file a path that
    works wherever the folder is now.

  Raises:
    errors.UserError naming the folder or file and the fix.
  """
  errors.require_utf8_path(model_dir, flag_name)   # else a traceback inside tf.io.gfile
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
  if not isinstance(kind, str) or kind not in WRITERS:
    raise errors.UserError(f"{path}: task_kind={kind!r} cannot be exported or served "
                           f"(no fine-tuned head); accepted: {', '.join(WRITERS)}.")
  required = ("bert_config",) + REQUIRED_KEYS[kind] + (
      "do_lower_case", "max_seq_length", "vocab_file")
  missing = [key for key in required if key not in info]
  if missing:
    raise errors.UserError(f"{path} lacks {', '.join(missing)}; it was not written by "
                           f"{WRITERS[kind]}.")
  _check_values(info, path)
  _check_settings(info, path)
  info["bert_config"] = modeling.BertConfig.from_dict(info["bert_config"], source=path)
  if info["max_seq_length"] > info["bert_config"].max_position_embeddings:
    raise errors.UserError(
        f"{path}: max_seq_length={info['max_seq_length']} is longer than the model "
        f"supports (max_position_embeddings={info['bert_config'].max_position_embeddings} "
        "in its bert_config); restore the file the training run wrote.")
  info["vocab_file"] = _vocab_path(model_dir, info["vocab_file"])
  if kind == "classifier":
    info.setdefault("is_regression", not info["label_list"])
    if not info["is_regression"] and not info["label_list"]:
      raise errors.UserError(f"{path}: label_list is empty for a classification task.")
  elif kind == "ner":
    if not info["label_list"]:
      raise errors.UserError(f"{path}: label_list is empty; a tagger needs its tags.")
    info.setdefault("crf", False)   # folders written before run_ner.py --crf
  return info


def _check_values(info, path):
  """Raises UserError for a recorded value of the wrong type (a hand-edited file)."""
  for key, value in info.items():
    if key in POSITIVE_KEYS:
      wrong = isinstance(value, bool) or not isinstance(value, int) or value <= 0
      expected = "a positive integer"
    elif key in VALUE_TYPES:
      wanted = VALUE_TYPES[key]
      wrong = not isinstance(value, wanted) or (isinstance(value, bool) and wanted is not bool)
      expected = {bool: "true or false", str: "a string", list: "a list"}.get(
          wanted, "a number")
    else:
      continue
    if key == "label_list" and not wrong:
      wrong = not all(isinstance(label, str) and label for label in value) or (
          len(set(value)) != len(value))
      expected = "a list of distinct, non-empty strings"
    if wrong:
      raise errors.UserError(f"{path}: {key}={value!r} must be {expected}; restore the "
                             "file the training run wrote.")


def _check_settings(info, path):
  """Refuses settings the training programs refuse as flags (a hand-edited file).

  A window of no pieces made inference.py loop forever on a tagger's text.
  """
  length, kind = info["max_seq_length"], info["task_kind"]
  problem = None
  if length < 3:
    problem = f"max_seq_length={length} leaves no room for text beside [CLS] and [SEP]"
  elif kind == "ner":
    problem = windows.tagger_stride_problem(info["window_stride"], length)
    if not problem and info["word_split"] not in ner_data.WORD_SPLITS:
      choices = " or ".join(f'"{split}"' for split in ner_data.WORD_SPLITS)
      problem = f"word_split={info['word_split']!r} must be {choices}"
  elif kind == "squad":
    problem = windows.context_room_problem(length, info["max_query_length"])
  if not problem:
    return
  raise errors.UserError(f"{path}: {problem}; restore the file the training run wrote.")


def check_resumable(output_dir, info, checkpoint, training=True,
                    allow_setting_changes=False):
  """Refuses to resume a run of another model, task or (unless allowed) settings.

  A run that does not train (it evaluates or predicts) is refused too when the
  folder holds the record of another model, task or labels, whether or not it
  resumes a checkpoint there: its result files would sit among that run's.

  Args:
    output_dir: the run folder.
    info: the run_info dict this run would write (bert_config as a dict).
    checkpoint: the checkpoint of output_dir that would be resumed, or None.
    training: whether this run trains on (the settings matter only then).
    allow_setting_changes: resume although SETTING_KEYS differ.
  """
  path = os.path.join(output_dir, RUN_INFO_FILE)
  if training and not checkpoint:
    return   # a new training run writes its own record
  if not tf.io.gfile.exists(path):
    if checkpoint:   # a copy without it, or a folder another program trained
      logging.warning("--output_dir=%s holds checkpoints but no %s: nothing tells whether "
                      "they are of this model and settings; %s %s as given.", output_dir,
                      RUN_INFO_FILE, "resuming" if training else "evaluating",
                      os.path.basename(checkpoint))
    return
  previous = read_json(path, RUN_INFO_FILE)
  if not isinstance(previous, dict) or "bert_config" not in previous:
    # Every record since the first names its model; without one nothing could be compared.
    raise errors.UserError(f"{path} is not the record a training run writes (no "
                           "bert_config); restore it, or use a new --output_dir.")
  previous.setdefault("task_kind", "classifier")
  if previous["task_kind"] == "ner":
    previous.setdefault("crf", False)   # folders written before --crf existed

  def differences(keys):
    found = []
    for key in keys:
      if key not in previous or key not in info or previous[key] == info[key]:
        continue
      old, new = previous[key], info[key]
      if isinstance(old, dict) and isinstance(new, dict):
        found += [f"{key}.{k}: {old.get(k)!r} -> {new.get(k)!r}"
                  for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
      else:
        found.append(f"{key}: {old!r} -> {new!r}")
    return found

  model = differences(MODEL_KEYS) + _vocabulary_difference(output_dir, info)
  if model and not checkpoint:
    raise errors.UserError(
        f"--output_dir={output_dir} holds the run of another model, task or labels "
        f"({'; '.join(model)}); this run's results would be written among its files. "
        "Use a new --output_dir.")
  if model:
    raise errors.UserError(
        f"--output_dir={output_dir} holds the checkpoints of another model, task or "
        f"labels ({'; '.join(model)}); {os.path.basename(checkpoint)} would be resumed. "
        "Use a new --output_dir.")
  settings = differences(SETTING_KEYS) if training else []
  if settings and not allow_setting_changes:
    raise errors.UserError(
        f"--output_dir={output_dir} holds a run with other settings "
        f"({'; '.join(settings)}); resuming it would mix the two. Use a new --output_dir, "
        "or pass --allow_setting_changes=true to resume with the new settings.")
  if settings:
    logging.warning("Resuming %s with changed settings: %s", output_dir, "; ".join(settings))


def _vocabulary_difference(output_dir, info):
  """['vocab.txt: ...'] when the folder's copy of its vocabulary is not the run's --vocab_file.

  The same ids with other tokens load without error: a resume would train on,
  an evaluation score, with another tokenization (and the copy be replaced).
  """
  kept, given = os.path.join(output_dir, VOCAB_FILE), info.get("vocab_file")
  if not given or not tf.io.gfile.exists(kept) or same_file(given, kept):
    return []
  with tf.io.gfile.GFile(kept, "rb") as a, tf.io.gfile.GFile(given, "rb") as b:
    if a.read() == b.read():
      return []
  return [f"{VOCAB_FILE}: the folder's copy differs from --vocab_file={given}"]


def evaluated_step(global_step, init_checkpoint):
  """The step results are reported at: the trained step, else the checkpoint's."""
  import checkpoint_utils  # pylint: disable=g-import-not-at-top
  if global_step or not init_checkpoint:
    return global_step
  return checkpoint_utils.read_global_step(init_checkpoint)
