"""Atomic file writes: a file appears complete under its name, or not at all.

Every file the project writes goes through `atomic_path` (or a helper built on
it): it is written under a temporary name beside the target and renamed over
it at the end, so a reader never sees half a file and a failed write (full
disk, kill) leaves the earlier good file in place. Files valid only together
(a checkpoint bundle, a converted model) are written to a staging folder and
moved in by `move_folder_in`.

Free of TensorFlow, so that create_pretraining_data.py's workers and the
safetensors writer can use it: local paths use the os module; remote ones
(gs://, hdfs://, ...) load TensorFlow's file systems when first written.
"""

import contextlib
import json
import os
import shutil
import stat

import numpy as np

import errors

# In the names of files and folders being written (renamed away when complete).
TMP_MARK = ".tmp-"


def temporary_path(path):
  """The name `path` is written under until it is complete."""
  return f"{path}{TMP_MARK}{os.getpid()}"


def is_remote(path):
  """True for paths of TensorFlow's file systems (gs://..., hdfs://...)."""
  return "://" in str(path)


def gfile():
  """tf.io.gfile, loaded on first use: only remote paths need TensorFlow."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (remote paths only)
  return tf.io.gfile


def replace(source, target):
  """Renames `source` over `target` (a file, or a folder onto a missing name)."""
  if is_remote(target):
    gfile().rename(source, target, overwrite=True)
  else:
    os.replace(source, target)


def remove_quietly(path):
  """Removes the file or folder `path` if it exists; never raises."""
  with contextlib.suppress(Exception):
    if is_remote(path):
      tf_gfile = gfile()
      if tf_gfile.isdir(path):
        tf_gfile.rmtree(path)
      elif tf_gfile.exists(path):
        tf_gfile.remove(path)
    elif os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    elif os.path.lexists(path):
      os.remove(path)


def move_folder_in(staging, directory, last=(), stale=()):
  """Moves the files of the folder `staging` into `directory`, then removes it.

  For files that are valid only together, as a checkpoint's data files and the
  `.index` that says where its tensors are in them. The names in `last` are
  the ones that make the set exist for a reader (the `.index`): the old ones
  are removed first, then the files of `stale` (of the old set, not written
  again), then the new files are moved in with those of `last` at the end. A
  process killed at any moment leaves no `last` file beside files of another
  write (of the files in the staging folder and in `stale`).

  Returns:
    The names moved, those of `last` at the end.
  """
  if isinstance(last, str) or isinstance(stale, str):
    raise TypeError("last and stale are sequences of file names, not one name")
  names = sorted(_listdir(staging), key=lambda name: (name in last, name))
  for name in list(last) + [name for name in stale if name not in names]:
    _remove_file(os.path.join(directory, name))
  for name in names:
    replace(os.path.join(staging, name), os.path.join(directory, name))
  remove_quietly(staging)
  return names


def _listdir(path):
  return gfile().listdir(path) if is_remote(path) else os.listdir(path)


def _remove_file(path):
  """Removes the file `path` if it exists (raising if that fails)."""
  if is_remote(path):
    if gfile().exists(path):
      gfile().remove(path)
  elif os.path.lexists(path):
    os.remove(path)


def require_creatable_dir(path, flag_name, of_file=False):
  """Refuses an output path that cannot be created because a file is in the way.

  With `of_file`, `path` is an output file and its folder is checked. Remote
  paths (gs://) pass: folders there are name prefixes.

  Raises:
    errors.UserError naming --flag_name: a file, or a link to a missing
    folder, where a folder must be made.
  """
  if is_remote(path):
    return
  wanted = os.path.abspath(os.path.dirname(path) if of_file else path)
  current = wanted
  while not os.path.exists(current):
    if os.path.islink(current):
      raise errors.UserError(f"--{flag_name}={path}: {current} is a link to the missing "
                             f"{os.readlink(current)}; create that folder or give another path.")
    current = os.path.dirname(current)
  if os.path.isdir(current):
    return
  if current == wanted and not of_file:
    raise errors.UserError(f"--{flag_name}={path} is a file, not a folder; give a folder path.")
  raise errors.UserError(f"--{flag_name}={path}: {current} is a file, so nothing can be "
                         "written inside it; give another path.")


def require_output_file(path, flag_name, example):
  """Refuses an output file path that is a folder, or whose folder cannot be made.

  Args:
    path: the output file (local or remote).
    flag_name: the flag that gave it, for the message.
    example: a file name suggested inside the folder, e.g. "features.jsonl".

  Raises:
    errors.UserError naming --flag_name and the fix.
  """
  if (gfile().isdir(path) if is_remote(path) else os.path.isdir(path)) or path.endswith("/"):
    raise errors.UserError(f"--{flag_name}={path} is a directory; give a file path such as "
                           f"{os.path.join(path, example)}.")
  require_creatable_dir(path, flag_name, of_file=True)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path`; what the block writes there replaces it.

  On any error the temporary file is removed and `path` is left as it was; a
  full disk becomes one UserError naming the path and the free space. A link
  is followed where its target's folder is writable: the target is replaced,
  the link stays. A device or a pipe, and anything under /dev or /proc
  (`/dev/stdout`, even when the shell sent it to a file), is written in place:
  there is no file of ours to replace. A directory where the file goes is a
  UserError, before the block runs.
  """
  if is_remote(path) and gfile().isdir(path):
    raise errors.directory_in_the_way(path)
  if not is_remote(path):
    try:
      mode = os.stat(path).st_mode
    except OSError:
      mode = None
    special = os.path.abspath(path).startswith(("/dev/", "/proc/"))
    if mode is not None and (special or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
      yield path
      return
    if mode is not None and stat.S_ISDIR(mode):
      raise errors.directory_in_the_way(path)
    if os.path.islink(path):
      target = os.path.realpath(path)
      if os.access(os.path.dirname(target), os.W_OK):
        path = target
  tmp = temporary_path(path)
  try:
    yield tmp
    replace(tmp, path)
  except BaseException as e:
    remove_quietly(tmp)
    if errors.is_disk_full(e):
      raise errors.no_space_error(path) from None
    raise


@contextlib.contextmanager
def atomic_local_paths(paths):
  """As `atomic_path` for several files, with local paths yielded for all of them, for
  writers of plain files (create_pretraining_data.py's workers never load TensorFlow).

  Remote paths (gs://) are written in a local temporary folder ($TMPDIR, which must
  hold them), then copied in under temporary names, all before the first is renamed;
  on any error no remote path changes and the copies are removed.

  Yields:
    A list of local paths, one per path of `paths`.
  """
  with contextlib.ExitStack() as stack:
    staging, local_paths, remote = None, [], []
    for path in paths:
      if not is_remote(path):
        local_paths.append(stack.enter_context(atomic_path(path)))
        continue
      if staging is None:
        import tempfile  # pylint: disable=g-import-not-at-top  (remote paths only)
        staging = tempfile.mkdtemp(prefix="bert-output-")
        stack.callback(remove_quietly, staging)
      local_paths.append(os.path.join(staging, f"{len(local_paths)}.part"))
      remote.append((local_paths[-1], path))
    try:
      yield local_paths
    except BaseException as e:
      if staging is not None and errors.is_disk_full(e):
        raise errors.UserError(
            f"{staging}: no space left on the device for the local copies of "
            f"{', '.join(path for _, path in remote)}; set TMPDIR to a folder with room "
            "for the outputs. Earlier outputs were kept.") from None
      raise
    copies = [temporary_path(path) for _, path in remote]
    try:
      for (local, _), copy in zip(remote, copies):
        gfile().copy(local, copy, overwrite=True)
      for (_, path), copy in zip(remote, copies):
        replace(copy, path)
    except BaseException:
      for copy in copies:
        remove_quietly(copy)
      raise


@contextlib.contextmanager
def atomic_writer(path, mode="w"):
  """A writable file object whose file replaces `path` when the block succeeds.

  Text is written as UTF-8 with "\\n" line ends, on every platform.
  """
  with atomic_path(path) as tmp:
    if is_remote(path):
      writer = gfile().GFile(tmp, mode)
    elif "b" in mode:
      writer = open(tmp, mode)  # pylint: disable=unspecified-encoding
    else:
      writer = open(tmp, mode, encoding="utf-8", newline="")
    with writer:
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
