"""Name-based checkpoints in the official BERT layout: resolve, read, load, save.

Official downloads (`bert_model.ckpt.index` + `.data-*`) and every checkpoint this
toolkit writes are TF1-style *name-based* bundles: each tensor is stored under its
variable name (`bert/encoder/layer_0/attention/self/query/kernel`, `global_step`,
`<var>/adam_m`, ...). We read and write them with the bundle ops directly rather
than through `tf.train.Checkpoint`, whose object-graph keys
(`model/.../.ATTRIBUTES/VARIABLE_VALUE`) tools built for the reference cannot read.
"""

import os
import re
import uuid

import tensorflow as tf

import errors
import run_info

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
  prefixes = [p[:-len(".index")]
              for p in tf.io.gfile.glob(os.path.join(directory, "*.index"))]

  def sort_key(prefix):
    match = _STEP_RE.match(prefix)
    return (1, int(match.group("step"))) if match else (0, 0)

  return sorted(prefixes, key=sort_key)


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
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest and tf.io.gfile.exists(latest + ".index"):
      return latest
    prefixes = _prefixes_in_dir(path)
    if prefixes:
      return prefixes[-1]
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


def _canonical_names(reader):
  """Maps canonical name (TF-Hub `module/` prefix removed) -> stored name."""
  names = {}
  for stored in reader.get_variable_to_shape_map():
    canonical = stored[len(_HUB_PREFIX):] if stored.startswith(_HUB_PREFIX) else stored
    # A bundle holding both spellings keeps the unprefixed one.
    if canonical not in names or stored == canonical:
      names[canonical] = stored
  return names


def checkpoint_shapes(path):
  """Returns {canonical name: shape list} for every tensor in a checkpoint."""
  reader = tf.train.load_checkpoint(resolve_checkpoint(path))
  shapes = reader.get_variable_to_shape_map()
  return {name: list(shapes[stored])
          for name, stored in _canonical_names(reader).items()}


def read_checkpoint(path):
  """Returns {canonical name: np.ndarray} for every tensor in a checkpoint."""
  reader = tf.train.load_checkpoint(resolve_checkpoint(path))
  return {name: reader.get_tensor(stored)
          for name, stored in _canonical_names(reader).items()}


class LoadReport:
  """What `load_variables` did: names loaded, left fresh, and unused."""

  def __init__(self, prefix, loaded, missing, unused):
    self.prefix = prefix
    self.loaded = loaded
    self.missing = missing    # model variables initialised fresh
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


def load_variables(variables, path, flag_name="init_checkpoint",
                   require_all=False):
  """Assigns checkpoint tensors to variables by name.

  Args:
    variables: dict {official name: tf.Variable} (distributed variables too).
    path: checkpoint prefix, bundle file or directory (see resolve_checkpoint).
    flag_name: used in error messages.
    require_all: if True, a model variable absent from the checkpoint is an
      error (used when resuming our own training checkpoints).

  Returns:
    A LoadReport.

  Raises:
    errors.CheckpointError: on a shape mismatch (naming the variable and both
      shapes), or a missing variable when require_all is set.
  """
  prefix = resolve_checkpoint(path, flag_name)
  reader = tf.train.load_checkpoint(prefix)
  stored_shapes = reader.get_variable_to_shape_map()
  names = _canonical_names(reader)
  loaded, missing = [], []
  for name in sorted(variables):
    var = variables[name]
    if name not in names:
      missing.append(name)
      continue
    stored = names[name]
    ckpt_shape = list(stored_shapes[stored])
    var_shape = var.shape.as_list()
    if ckpt_shape != var_shape:
      raise errors.CheckpointError(
          f"--{flag_name}={path}: variable {name} has shape {ckpt_shape} in the "
          f"checkpoint but {var_shape} in the model; check that --bert_config_file "
          "belongs to this checkpoint (and num_labels to this task).")
    value = reader.get_tensor(stored)
    var.assign(tf.convert_to_tensor(value, dtype=var.dtype))
    loaded.append(name)
  if require_all and missing:
    raise errors.CheckpointError(
        f"--{flag_name}={path}: the checkpoint lacks {len(missing)} variables "
        f"the model needs, e.g. {missing[0]}; it was written for another model.")
  unused = sorted(set(names) - set(variables))
  return LoadReport(prefix, loaded, missing, unused)


def _as_tensor(value):
  if isinstance(value, tf.Variable):
    return tf.convert_to_tensor(value.read_value())
  return tf.convert_to_tensor(value)


def save_tensors(prefix, tensors):
  """Writes a name-based checkpoint bundle atomically.

  The bundle is written in a temporary folder beside `prefix`, then moved into
  place data file first and `.index` last (the index is what makes a checkpoint
  exist for every reader). A process killed at any moment therefore leaves the
  complete old checkpoint, none, or the complete new one: never an index
  without its data, nor an old index paired with new data.

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
  staging = f"{prefix}{run_info.TMP_MARK}{uuid.uuid4().hex}"
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
  if tf.io.gfile.exists(prefix + ".index"):
    # Saved again: retire the old index before its data file is replaced.
    tf.io.gfile.remove(prefix + ".index")
  for data_file in tf.io.gfile.glob(tmp_prefix + ".data-*"):
    suffix = data_file[len(tmp_prefix):]
    tf.io.gfile.rename(data_file, prefix + suffix, overwrite=True)
  tf.io.gfile.rename(tmp_prefix + ".index", prefix + ".index", overwrite=True)
  tf.io.gfile.rmtree(staging)
  return prefix


def delete_checkpoint(prefix):
  """Removes every file of a checkpoint bundle (index first: it marks validity)."""
  if tf.io.gfile.exists(prefix + ".index"):
    tf.io.gfile.remove(prefix + ".index")
  for data_file in tf.io.gfile.glob(prefix + ".data-*"):
    tf.io.gfile.remove(data_file)


class CheckpointManager:
  """Keeps `model.ckpt-<step>` bundles in a directory, the last few of them.

  Writes the `checkpoint` state file that `tf.train.latest_checkpoint` and the
  reference's tools read, so `--init_checkpoint=<output_dir>` finds the newest.
  """

  def __init__(self, directory, basename="model.ckpt", max_to_keep=5):
    self.directory = directory
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

  def _remove_debris(self):
    """Deletes temporary files of killed saves and data files left without an index."""
    join = os.path.join
    for path in (tf.io.gfile.glob(join(self.directory, f"{self.basename}-*{run_info.TMP_MARK}*")) +
                 tf.io.gfile.glob(join(self.directory, f"checkpoint{run_info.TMP_MARK}*"))):
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      else:
        tf.io.gfile.remove(path)
    data_re = re.compile(re.escape(self.basename) + r"-\d+\.data-\d+-of-\d+$")
    for path in tf.io.gfile.glob(join(self.directory, f"{self.basename}-*.data-*")):
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
  run_info.write_lines(os.path.join(directory, "checkpoint"), lines)


def read_global_step(path):
  """The `global_step` stored in a checkpoint, or 0 when it has none."""
  reader = tf.train.load_checkpoint(resolve_checkpoint(path))
  for name in ("global_step", _HUB_PREFIX + "global_step"):
    if reader.has_tensor(name):
      return int(reader.get_tensor(name))
  return 0


def step_of(prefix):
  """The step number in `model.ckpt-<step>`, or None for other names."""
  match = _STEP_RE.match(prefix or "")
  return int(match.group("step")) if match else None

