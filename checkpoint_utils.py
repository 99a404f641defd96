"""Name-based checkpoints in the official BERT layout: resolve, read, load, save.

Official downloads (`bert_model.ckpt.index` + `.data-*`) and every checkpoint this
toolkit writes are TF1-style *name-based* bundles: each tensor is stored under its
variable name (`bert/encoder/layer_0/attention/self/query/kernel`, `global_step`,
`<var>/adam_m`, ...). We read and write them with the bundle ops directly rather
than through `tf.train.Checkpoint`, whose object-graph keys
(`model/.../.ATTRIBUTES/VARIABLE_VALUE`) tools built for the reference cannot read.
"""

import glob
import os
import re
import uuid

from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import errors

# Checkpoints exported from TF-Hub modules prefix every name with this.
_HUB_PREFIX = "module/"
_STEP_RE = re.compile(r"^(?P<base>.*)-(?P<step>\d+)$")


def _strip_bundle_suffix(path):
  """Turns `x.index` / `x.data-00000-of-00001` into the prefix `x`."""
  if path.endswith(".index"):
    return path[:-len(".index")]
  match = re.match(r"^(.*)\.data-\d+-of-\d+$", path)
  return match.group(1) if match else path


def _prefixes_in_dir(directory):
  """Checkpoint prefixes found by their `.index` files, newest step last."""
  # glob.escape: a folder named like `run[1]` is a name, not a pattern.
  prefixes = [p[:-len(".index")]
              for p in tf.io.gfile.glob(os.path.join(glob.escape(directory), "*.index"))]

  def sort_key(prefix):
    match = _STEP_RE.match(prefix)
    return (1, int(match.group("step"))) if match else (0, 0)

  return sorted(prefixes, key=sort_key)


def check_checkpoint_path(path, flag_name):
  """Raises errors.UserError for a path TensorFlow cannot read checkpoints from.

  TensorFlow encodes paths as UTF-8, so bytes that are not UTF-8 (a Latin-1
  folder name) fail inside it. Its checkpoint reader takes the prefix for a file pattern, so a `[` in it
  (a folder `runs/bert[base]`) finds nothing: checkpoints written there could
  never be resumed, evaluated or exported.
  """
  errors.require_utf8_path(path, flag_name)
  if "[" in str(path):
    raise errors.UserError(
        f"--{flag_name}={path}: TensorFlow reads '[' in a checkpoint path as part of "
        "a pattern and cannot open checkpoints there; rename the folder without '['.")


def state_checkpoint(directory):
  """The prefix the folder's `checkpoint` state file names, or None (no or damaged file).

  Unlike tf.train.latest_checkpoint it logs nothing when that checkpoint is gone
  (callers fall back to the newest one present).
  """
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):   # a damaged state file names nothing
    return None
  return state.model_checkpoint_path if state and state.model_checkpoint_path else None


def resolve_checkpoint(path, flag_name="init_checkpoint"):
  """Returns the checkpoint prefix named by `path`.

  Args:
    path: a prefix (`.../bert_model.ckpt`, `.../model.ckpt-343`), one of its
      files (`.index`, `.data-*`), or a directory (its latest checkpoint).
    flag_name: used in error messages.

  Returns:
    The prefix string, whose `.index` file exists.

  Raises:
    errors.CheckpointError: nothing usable is there; the message says what was looked for.
  """
  if not path:
    raise errors.CheckpointError(f"--{flag_name} is empty; give a checkpoint prefix "
                                 "such as .../bert_model.ckpt or a directory.")
  check_checkpoint_path(path, flag_name)
  if tf.io.gfile.isdir(path):
    prefixes = _prefixes_in_dir(path)
    if prefixes:
      return _checkpoint_of_folder(path, prefixes, flag_name)
    raise errors.CheckpointError(
        f"--{flag_name}={path}: the directory holds no checkpoint (no *.index "
        "file); point it at a folder with bert_model.ckpt.index or "
        "model.ckpt-<step>.index, or at the prefix itself.")
  prefix = _strip_bundle_suffix(path)
  if tf.io.gfile.exists(prefix + ".index"):
    return prefix
  if tf.io.gfile.exists(prefix) and not tf.io.gfile.isdir(prefix):
    raise errors.CheckpointError(
        f"--{flag_name}={path}: this is a file but not a TF checkpoint bundle "
        f"(no {prefix}.index). Pickled or PyTorch files are never loaded; "
        "convert Hugging Face weights with convert_checkpoint.py first.")
  raise errors.CheckpointError(
      f"--{flag_name}={path}: no checkpoint found (expected {prefix}.index and "
      f"{prefix}.data-00000-of-00001). Give the prefix without the .index "
      "suffix, e.g. .../bert_model.ckpt, or a directory.")


_warned_states = set()


def _checkpoint_of_folder(directory, prefixes, flag_name):
  """The checkpoint the folder's `checkpoint` file names, else its newest one.

  The state file is followed as TensorFlow follows it (a user may point it at
  an older step; a resume past a damaged newest checkpoint saves below it), but
  by file name inside `directory`: in a copied folder it may name the original
  (TF1 wrote absolute paths). A newer step beside it (a run killed before its
  state file moved on) is warned about, once a process.
  """
  by_name = {os.path.basename(prefix): prefix for prefix in prefixes}
  named = state_checkpoint(directory)
  chosen = by_name.get(os.path.basename(named)) if named else None
  if chosen is None:
    return prefixes[-1]
  newer = [p for p in prefixes if (step_of(p) or 0) > (step_of(chosen) or 0)]
  if newer and (directory, chosen) not in _warned_states:
    _warned_states.add((directory, chosen))
    hint = "init_checkpoint" if flag_name == "model_dir" else flag_name
    logging.warning(
        "--%s=%s: its `checkpoint` file names %s, but the newer %s is there too (a run "
        "stopped before it updated that file?); using %s, as TensorFlow does. To use the "
        "newer one: --%s=%s.", flag_name, directory, os.path.basename(chosen),
        os.path.basename(newer[-1]), os.path.basename(chosen), hint, newer[-1])
  return chosen


def _canonical_names(stored_names):
  """Maps canonical name (TF-Hub `module/` prefix removed) -> stored name."""
  names = {}
  for stored in stored_names:
    canonical = stored[len(_HUB_PREFIX):] if stored.startswith(_HUB_PREFIX) else stored
    # A bundle holding both spellings keeps the unprefixed one.
    if canonical not in names or stored == canonical:
      names[canonical] = stored
  return names


class DamagedCheckpointError(errors.CheckpointError):
  """A checkpoint's files are truncated, corrupted or do not belong together.

  Caught when resuming, to fall back to the newest intact checkpoint.

  Attributes:
    prefix: the damaged checkpoint.
    reason: what is wrong, naming the file.
  """

  def __init__(self, message, prefix, reason):
    super().__init__(message)
    self.prefix = prefix
    self.reason = reason


# What the bundle reader raises on damaged files: format and checksum errors
# (tf.errors.OpError), and IndexError for data shorter than the index says.
_READ_ERRORS = (tf.errors.OpError, IndexError)
_DATA_FILE_RE = re.compile(r"\.data-(?P<shard>\d+)-of-(?P<count>\d+)$")


def _error_text(error):
  """The first line of a reader error, without TF's op details."""
  text = (getattr(error, "message", None) or str(error)).strip()
  return " ".join(text.splitlines()[0].split()) if text else type(error).__name__


class _Bundle:
  """A checkpoint opened for reading; damaged files raise DamagedCheckpointError.

  Opening reads the `.index` and checks, without reading any tensor, that
  every data file is there and exactly as long as the index's tensors: a
  truncated download or an index from another checkpoint is caught here.
  Reading a tensor checks its crc32c (a flipped byte).
  """

  def __init__(self, path, flag_name="init_checkpoint"):
    self.path, self.flag_name = path, flag_name
    self.prefix = resolve_checkpoint(path, flag_name)
    try:
      self._reader = tf.train.load_checkpoint(self.prefix)
      self.stored_shapes = self._reader.get_variable_to_shape_map()
      dtypes = self._reader.get_variable_to_dtype_map()
    except _READ_ERRORS as e:
      raise self.damaged(f"{self.prefix}.index cannot be read ({_error_text(e)})") from None
    self.names = _canonical_names(self.stored_shapes)
    self._check_data_files(dtypes)

  def damaged(self, reason):
    """The DamagedCheckpointError of this checkpoint, saying how to fix it."""
    if self.path == self.prefix:
      where, fix = f"--{self.flag_name}={self.path} is damaged", ""
    else:
      where = f"--{self.flag_name}={self.path}: its checkpoint {self.prefix} is damaged"
      fix = (f", or delete it to use the previous checkpoint in {self.path}"
             if tf.io.gfile.isdir(self.path) and len(_prefixes_in_dir(self.path)) > 1
             else "")
    return DamagedCheckpointError(
        f"{where}: {reason}; re-download or re-create the checkpoint{fix}.",
        self.prefix, reason)

  def _data_file(self, shard):
    return f"{self.prefix}.data-{shard:05d}-of-{self._num_shards:05d}"

  def _check_data_files(self, dtypes):
    """Raises DamagedCheckpointError unless the data files hold what the index lists."""
    found, names = {}, {}
    for path in tf.io.gfile.glob(glob.escape(self.prefix) + ".data-*"):
      match = _DATA_FILE_RE.search(path)
      # Names only: glob spells a prefix without a folder as ./prefix.
      if match and os.path.basename(path) == os.path.basename(self.prefix) + match.group(0):
        found[int(match.group("shard"))] = int(match.group("count"))
        names.setdefault(int(match.group("count")), []).append(os.path.basename(path))
    if len(names) > 1:   # e.g. a stray -00001-of-00002 beside a -00000-of-00001
      raise self.damaged(
          f"{self.prefix}.data-* come from writes of {' and '.join(map(str, sorted(names)))} "
          "shards ("
          f"{'; '.join(', '.join(sorted(n)) for _, n in sorted(names.items()))}); keep the "
          "ones written with its .index and remove the others")
    self._num_shards = max(found.values(), default=1)
    for shard in range(self._num_shards):
      if shard not in found:
        raise self.damaged(f"{self._data_file(shard)} is missing")
    if any(dtype == tf.string or not dtype.is_numpy_compatible for dtype in dtypes.values()):
      return   # variable-length tensors: no size to expect
    # Bundles store tensors back to back (no alignment padding), TF1's Saver too.
    expected = sum(int(np.prod(shape, dtype=np.int64)) * dtypes[name].size
                   for name, shape in self.stored_shapes.items())
    actual = sum(tf.io.gfile.stat(self._data_file(shard)).length
                 for shard in range(self._num_shards))
    if actual != expected:
      files = (self._data_file(0) if self._num_shards == 1 else
               f"{self.prefix}.data-* ({self._num_shards} files)")
      raise self.damaged(
          f"{files} holds {actual} bytes but {self._index_name} lists {expected} (the file "
          f"is {'truncated' if actual < expected else 'longer'}, or the .index belongs to "
          "another checkpoint)")

  @property
  def _index_name(self):
    return os.path.basename(self.prefix) + ".index"

  def stored_shape(self, name):
    """The shape list of canonical `name`."""
    return list(self.stored_shapes[self.names[name]])

  def tensor(self, name):
    """np.ndarray of canonical `name`, its checksum verified."""
    try:
      return self._reader.get_tensor(self.names[name])
    except _READ_ERRORS as e:
      raise self.damaged(self._read_failure(name, e)) from None

  def _read_failure(self, name, error):
    """Why reading `name` failed, naming the file."""
    text = _error_text(error)
    shard = re.search(r"shard (\d+)", text)
    data = self._data_file(int(shard.group(1)) if shard else 0)
    if self._num_shards > 1 and not shard:
      data = f"{self.prefix}.data-*"
    if "checksum" in text.lower():
      return (f"{data} fails its checksum at {name} (the file is corrupted, or "
              f"{self._index_name} belongs to another checkpoint)")
    if isinstance(error, IndexError):
      return (f"{data} is shorter than {self._index_name} says at {name} (the file is "
              f"truncated, or {self._index_name} belongs to another checkpoint)")
    return f"reading {name} from {data} failed ({text})"


def checkpoint_shapes(path, flag_name="init_checkpoint"):
  """Returns {canonical name: shape list} for every tensor in a checkpoint.

  Raises:
    errors.CheckpointError: no checkpoint there; DamagedCheckpointError: its
      files are damaged (named in the message).
  """
  bundle = _Bundle(path, flag_name)
  return {name: bundle.stored_shape(name) for name in bundle.names}


def read_checkpoint(path, flag_name="init_checkpoint"):
  """Returns {canonical name: np.ndarray} for every tensor; raises as checkpoint_shapes."""
  bundle = _Bundle(path, flag_name)
  return {name: bundle.tensor(name) for name in bundle.names}


class LoadReport:
  """What `load_variables` did: names loaded, left fresh, and unused."""

  def __init__(self, prefix, loaded, missing, unused):
    self.prefix = prefix
    self.loaded = loaded
    self.missing = missing    # model variables initialised fresh (task heads)
    self.unused = unused      # checkpoint entries the model does not use

  def log_lines(self):
    """Human-readable summary lines for the training log."""
    lines = [f"Restored {len(self.loaded)} variables from {self.prefix}"]
    if self.missing:
      lines.append(f"{len(self.missing)} variables not in the checkpoint, "
                   "initialised fresh: " + ", ".join(self.missing))
    if self.unused:
      lines.append(f"{len(self.unused)} checkpoint entries not used by this "
                   "model: " + ", ".join(_summarize_names(self.unused)))
    return lines


def _summarize_names(names, limit=12):
  """Folds optimizer slots so that the unused list stays readable."""
  slots = [n for n in names if n.endswith(("/adam_m", "/adam_v"))]
  rest = [n for n in names if n not in set(slots)]
  shown = rest[:limit] + ([f"... {len(rest) - limit} more"] if len(rest) > limit else [])
  if slots:
    shown.append(f"{len(slots)} optimizer slots (adam_m/adam_v)")
  return shown


# The encoder: every name under bert/. Its variables must all come from the
# checkpoint; only the task heads (every other name) may start fresh.
_ENCODER = "bert/"
_LAYER_RE = re.compile(r"^bert/encoder/layer_(\d+)/")


def _is_slot(name, names):
  """True for an optimizer slot `<var>/adam_m`, `<var>/Adam_1`, ...: `<var>` is an entry too."""
  return "/" in name and name.rsplit("/", 1)[0] in names


def _layers(names):
  return {int(m.group(1)) for m in map(_LAYER_RE.match, names) if m}


def _ranges(numbers):
  """[0, 1, 2, 5] -> "0-2, 5"."""
  runs = []
  for n in sorted(numbers):
    if runs and n == runs[-1][1] + 1:
      runs[-1][1] = n
    else:
      runs.append([n, n])
  return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _plural(numbers, word="layer"):
  return f"{word}{'s' if len(numbers) > 1 else ''} {_ranges(numbers)}"


def _check_encoder(variables, names, where, config_flag, optional):
  """Raises CheckpointError unless the model's encoder and the checkpoint's are the same.

  Args:
    variables: the model's {name: variable}.
    names: the checkpoint's canonical names.
    where: `--flag=path`, how messages name the checkpoint.
    config_flag: how messages name the model's config.
    optional: name prefixes of encoder variables that may start fresh.
  """
  model = {n for n in variables if n.startswith(_ENCODER) and not _is_slot(n, variables)}
  stored = {n for n in names if n.startswith(_ENCODER) and not _is_slot(n, names)}
  model_layers, stored_layers = _layers(model), _layers(stored)
  if stored_layers and model_layers != stored_layers:
    problems = []
    if model_layers - stored_layers:
      problems.append(f"{_plural(model_layers - stored_layers)} would start from random "
                      "weights")
    if stored_layers - model_layers:
      problems.append(f"the checkpoint's {_plural(stored_layers - model_layers)} would be "
                      "dropped")
    raise errors.CheckpointError(
        f"{where} has encoder layers {_ranges(stored_layers)} ({len(stored_layers)}) but "
        f"{config_flag} says num_hidden_layers={len(model_layers)}: "
        f"{' and '.join(problems)}; use the bert_config.json that came with the checkpoint.")
  missing = sorted(n for n in model - stored if not n.startswith(tuple(optional)))
  if missing:
    raise errors.CheckpointError(
        f"{where} lacks {len(missing)} encoder variables of the model: "
        f"{', '.join(_summarize_names(missing))}; they would start from random weights. "
        f"Check that {config_flag} belongs to this checkpoint.")
  unused = sorted(stored - model)
  if unused:
    raise errors.CheckpointError(
        f"{where} holds {len(unused)} encoder variables the model does not have: "
        f"{', '.join(_summarize_names(unused))}; they would be dropped. Check that "
        f"{config_flag} belongs to this checkpoint.")


def load_variables(variables, path, flag_name="init_checkpoint", require_all=False,
                   config_flag="the model's bert_config", optional=()):
  """Assigns checkpoint tensors to variables by name.

  The encoder (names under `bert/`) must match the checkpoint's exactly; task
  heads (every other name) absent from the checkpoint keep their fresh
  values and are reported. Checkpoint entries of other heads (e.g. the
  official `cls/predictions`), optimizer slots and `global_step` are ignored.

  Args:
    variables: dict {official name: tf.Variable} (distributed variables too).
    path: checkpoint prefix, bundle file or directory (see resolve_checkpoint).
    flag_name: used in error messages.
    require_all: if True, a model variable absent from the checkpoint is an
      error (used when resuming our own training checkpoints).
    config_flag: how messages name the model's config, e.g.
      "--bert_config_file=bert_config.json".
    optional: prefixes of encoder variables that may start fresh (e.g. the
      pooler where it is not used).

  Returns:
    A LoadReport.

  Raises:
    errors.CheckpointError: encoder layers or variables that differ from the
      checkpoint's, a shape mismatch (naming the variable and both shapes), or
      a missing variable when require_all is set; DamagedCheckpointError:
      damaged files (nothing was assigned when the sizes disagree, some
      variables were when a checksum fails).
  """
  bundle = _Bundle(path, flag_name)
  names = bundle.names
  _check_encoder(variables, names, f"--{flag_name}={path}", config_flag, optional)
  loaded = sorted(name for name in variables if name in names)
  missing = sorted(name for name in variables if name not in names)
  for name in loaded:
    ckpt_shape, var_shape = bundle.stored_shape(name), variables[name].shape.as_list()
    if ckpt_shape != var_shape:
      raise errors.CheckpointError(
          f"--{flag_name}={path}: variable {name} has shape {ckpt_shape} in the "
          f"checkpoint but {var_shape} in the model; check that {config_flag} "
          "belongs to this checkpoint (and num_labels to this task).")
  if require_all and missing:
    raise errors.CheckpointError(
        f"--{flag_name}={path}: the checkpoint lacks {len(missing)} variables "
        f"the model needs, e.g. {missing[0]}; it was written for another model.")
  for name in loaded:
    var = variables[name]
    var.assign(tf.convert_to_tensor(bundle.tensor(name), dtype=var.dtype))
  unused = sorted(set(names) - set(variables))
  return LoadReport(bundle.prefix, loaded, missing, unused)


def _as_tensor(value):
  if isinstance(value, tf.Variable):
    return tf.convert_to_tensor(value.read_value())
  return tf.convert_to_tensor(value)


def save_tensors(prefix, tensors):
  """Writes a name-based checkpoint bundle atomically.

  The bundle is written in a temporary folder beside `prefix`, then moved into
  place by atomic_files.move_folder_in: an old checkpoint of the same prefix
  loses its `.index` first (the index is what makes a checkpoint exist for
  every reader) and its data files of another shard count, then the new data
  files arrive and the new `.index` last. A process killed at any moment
  therefore leaves the complete old checkpoint, none, or the complete new one:
  never an index without its data, nor an old index paired with new data.

  Args:
    prefix: destination prefix, e.g. `out/model.ckpt-100`.
    tensors: dict {name: tf.Variable, tf.Tensor or np.ndarray}.

  Returns:
    The prefix.
  """
  directory = os.path.dirname(prefix)
  if directory:
    tf.io.gfile.makedirs(directory)
  names = sorted(tensors)
  values = [_as_tensor(tensors[name]) for name in names]
  # A folder, not a temporary prefix: a half-moved bundle must not leave an
  # `.index` that a directory scan would take for a checkpoint.
  staging = f"{prefix}{atomic_files.TMP_MARK}{uuid.uuid4().hex}"
  tf.io.gfile.makedirs(staging)
  tmp_prefix = os.path.join(staging, os.path.basename(prefix))
  try:
    tf.raw_ops.SaveV2(prefix=tmp_prefix, tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=values)
  except BaseException as e:
    # A full disk: the half-written bundle would hold its space until the next save.
    tf.io.gfile.rmtree(staging)
    if errors.is_disk_full(e):
      raise errors.no_space_error(prefix) from None
    raise
  # Saved again: the old index goes before its data files are replaced, and
  # old data files of another shard count go too.
  old_data = [os.path.basename(p)
              for p in tf.io.gfile.glob(glob.escape(prefix) + ".data-*")]
  atomic_files.move_folder_in(staging, directory or ".",
                              last=(os.path.basename(prefix) + ".index",), stale=old_data)
  return prefix


def delete_checkpoint(prefix):
  """Removes every file of a checkpoint bundle (index first: it marks validity)."""
  if tf.io.gfile.exists(prefix + ".index"):
    tf.io.gfile.remove(prefix + ".index")
  for data_file in tf.io.gfile.glob(glob.escape(prefix) + ".data-*"):
    tf.io.gfile.remove(data_file)


class CheckpointManager:
  """Keeps `model.ckpt-<step>` bundles in a directory, the last few of them.

  Writes the `checkpoint` state file that `tf.train.latest_checkpoint` and the
  reference's tools read, so `--init_checkpoint=<output_dir>` finds the newest.
  """

  def __init__(self, directory, basename="model.ckpt", max_to_keep=5):
    check_checkpoint_path(directory, "output_dir")
    # tf.io.gfile.glob finds nothing under a doubled slash ("out//*.index").
    self.directory = directory if atomic_files.is_remote(directory) else os.path.normpath(
        directory)
    self.basename = basename
    self.max_to_keep = max_to_keep

  def prefixes(self):
    """Existing checkpoint prefixes with this basename, oldest first."""
    pattern = re.compile(re.escape(self.basename) + r"-\d+$")
    return [p for p in _prefixes_in_dir(self.directory)
            if pattern.match(os.path.basename(p))]

  def latest(self):
    """Newest complete checkpoint prefix, or None."""
    prefixes = self.prefixes()
    return prefixes[-1] if prefixes else None

  def save(self, step, tensors):
    """Writes `<basename>-<step>`, updates the state file, then prunes old ones.

    Safe against a kill at any moment: the state file is replaced atomically
    and names only complete checkpoints (it moves to the new one before old
    ones are deleted, and stops naming a step while that step is rewritten).
    A state file a kill left behind the newest checkpoint is caught up first,
    so it is never more than one save behind.
    What a killed save left behind is removed here; one process writes a
    directory (the chief), so no other save can be in flight.
    """
    prefix = os.path.join(self.directory, f"{self.basename}-{int(step)}")
    self._remove_debris()
    existing = self.prefixes()
    if prefix in existing:
      existing.remove(prefix)
      if existing:
        write_checkpoint_state(self.directory, existing[-1], existing)
      elif tf.io.gfile.exists(os.path.join(self.directory, "checkpoint")):
        tf.io.gfile.remove(os.path.join(self.directory, "checkpoint"))
    elif (existing and step_of(existing[-1]) < step and
          self._state_latest() != os.path.basename(existing[-1])):
      # A kill between an index and its state file left the state behind the
      # newest checkpoint, which a resume took (this save comes after it):
      # catch up before saving, so the state file is never more than one save
      # behind. (A resume that skipped a damaged newest one saves below it.)
      write_checkpoint_state(self.directory, existing[-1], existing)
    save_tensors(prefix, tensors)
    kept = self.prefixes()
    doomed = []
    if self.max_to_keep and len(kept) > self.max_to_keep:
      doomed = [p for p in kept[:-self.max_to_keep] if p != prefix]
      kept = [p for p in kept if p not in doomed]
    write_checkpoint_state(self.directory, prefix, kept)
    for old in doomed:
      delete_checkpoint(old)
    return prefix

  def _state_latest(self):
    """The file name of the checkpoint the `checkpoint` state file names, or None."""
    prefix = state_checkpoint(self.directory)
    return os.path.basename(prefix) if prefix else None

  def _remove_debris(self):
    """Deletes temporary files of killed saves and data files left without an index."""
    directory, basename = glob.escape(self.directory), glob.escape(self.basename)
    join = os.path.join
    for path in (tf.io.gfile.glob(join(directory, f"{basename}-*{atomic_files.TMP_MARK}*")) +
                 tf.io.gfile.glob(join(directory, f"checkpoint{atomic_files.TMP_MARK}*"))):
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      else:
        tf.io.gfile.remove(path)
    data_re = re.compile(re.escape(self.basename) + r"-\d+\.data-\d+-of-\d+$")
    for path in tf.io.gfile.glob(join(directory, f"{basename}-*.data-*")):
      if (data_re.match(os.path.basename(path)) and
          not tf.io.gfile.exists(_strip_bundle_suffix(path) + ".index")):
        tf.io.gfile.remove(path)


def write_checkpoint_state(directory, latest, all_prefixes):
  """Writes the `checkpoint` text file that tf.train.latest_checkpoint reads.

  The same text-proto lines TF1 wrote, with paths relative to `directory`;
  written to a temporary file and renamed.
  """
  lines = [f'model_checkpoint_path: "{os.path.basename(latest)}"']
  lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in all_prefixes]
  atomic_files.write_lines(os.path.join(directory, "checkpoint"), lines)


def read_global_step(path, flag_name="init_checkpoint"):
  """The `global_step` stored in a checkpoint, or 0 when it has none."""
  bundle = _Bundle(path, flag_name)
  return int(bundle.tensor("global_step")) if "global_step" in bundle.names else 0


def step_of(prefix):
  """The step number in `model.ckpt-<step>`, or None for other names."""
  match = _STEP_RE.match(prefix or "")
  return int(match.group("step")) if match else None

