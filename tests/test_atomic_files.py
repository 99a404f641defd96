"""atomic_files: a written file appears whole or not at all, on local and remote paths."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

import atomic_files
import errors

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_text_is_utf8_with_newlines_kept_and_no_temporary_file_is_left(tmp_path):
  path = tmp_path / "eval_results.txt"
  atomic_files.write_text(str(path), "eval_f1 = 0.5\r\nlabel = é\n")
  assert path.read_bytes() == "eval_f1 = 0.5\r\nlabel = é\n".encode("utf-8")
  atomic_files.write_lines(str(path), ["a", "b"])
  assert path.read_text() == "a\nb\n"
  assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_a_failed_block_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
  path = tmp_path / "labels.txt"
  atomic_files.write_text(str(path), "old\n")
  with pytest.raises(RuntimeError, match="stopped"):
    with atomic_files.atomic_writer(str(path)) as writer:
      writer.write("half of the new")
      assert os.path.exists(atomic_files.temporary_path(str(path)))
      raise RuntimeError("stopped")
  assert path.read_text() == "old\n"
  assert os.listdir(tmp_path) == ["labels.txt"]


def test_a_folder_is_replaced_only_when_complete(tmp_path):
  target = tmp_path / "export"
  with pytest.raises(RuntimeError):
    with atomic_files.atomic_path(str(target)) as tmp:
      os.mkdir(tmp)
      (Path(tmp) / "saved_model.pb").write_bytes(b"partial")
      raise RuntimeError("conversion failed")
  assert os.listdir(tmp_path) == []
  with atomic_files.atomic_path(str(target)) as tmp:
    os.mkdir(tmp)
    (Path(tmp) / "saved_model.pb").write_bytes(b"whole")
  assert os.listdir(tmp_path) == ["export"]
  assert (target / "saved_model.pb").read_bytes() == b"whole"


class _Killed(BaseException):
  """Stands for the process dying at a file operation."""


def _write_set(folder, version, names):
  folder.mkdir(parents=True, exist_ok=True)
  for name in names:
    (folder / name).write_text(version)


def _move_set_killed_at(tmp_path, kill_at, monkeypatch):
  """Moves a new {a.data, a.index} set over an old one, dying at operation `kill_at`."""
  directory, staging = tmp_path / "dir", tmp_path / "dir" / "staging"
  _write_set(directory, "old", ["a.data", "a.index", "a.data-2"])
  _write_set(staging, "new", ["a.data", "a.index"])
  calls = [0]

  def dying(function):
    def wrapper(*args, **kwargs):
      calls[0] += 1
      if calls[0] == kill_at:
        raise _Killed()
      return function(*args, **kwargs)
    return wrapper

  with monkeypatch.context() as patch:
    for name in ("replace", "remove", "rmdir"):
      patch.setattr(os, name, dying(getattr(os, name)))
    try:
      atomic_files.move_folder_in(str(staging), str(directory), last=("a.index",),
                                  stale=["a.data-2"])
    except _Killed:
      pass
  return directory, calls[0]


def test_a_moved_in_set_never_shows_its_marker_beside_files_of_another_write(
    tmp_path, monkeypatch):
  """Killed before any one of its file operations, a move leaves no a.index
  beside data of the other version (a checkpoint index with foreign data)."""
  _, total = _move_set_killed_at(tmp_path / "count", 0, monkeypatch)
  assert total >= 4   # old index out, stale out, data in, index in
  for kill_at in range(1, total + 2):
    directory, _ = _move_set_killed_at(tmp_path / str(kill_at), kill_at, monkeypatch)
    files = {p.name: p.read_text() for p in directory.iterdir() if p.is_file()}
    if "a.index" in files:
      version = files["a.index"]
      assert files["a.data"] == version, (kill_at, files)
      assert ("a.data-2" in files) == (version == "old"), (kill_at, files)
  assert files == {"a.data": "new", "a.index": "new"}   # not killed: all moved
  assert sorted(os.listdir(directory)) == ["a.data", "a.index"]   # staging removed


def test_remote_paths_go_through_tensorflow_file_systems():
  # ram:// is one of TensorFlow's file systems, as gs:// is on a TPU VM.
  path = "ram://atomic_files_test/results.json"
  atomic_files.write_json(path, {"b": 1, "a": [2]})
  with tf.io.gfile.GFile(path) as reader:
    assert reader.read() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
  with pytest.raises(RuntimeError):
    with atomic_files.atomic_writer(path) as writer:
      writer.write("{")
      raise RuntimeError("killed")
  with tf.io.gfile.GFile(path) as reader:
    assert reader.read().startswith('{\n  "a"')
  assert tf.io.gfile.listdir("ram://atomic_files_test/") == ["results.json"]


def test_local_paths_stand_in_for_remote_ones_until_all_are_complete(tmp_path, monkeypatch):
  staging = tmp_path / "tmpdir"
  staging.mkdir()
  monkeypatch.setattr("tempfile.tempdir", str(staging))
  folder = "ram://atomic_local_test"
  paths = [f"{folder}/x.tfrecord", str(tmp_path / "y.tfrecord"), f"{folder}/z.tfrecord"]

  def write_all(contents):
    with atomic_files.atomic_local_paths(paths) as local_paths:
      assert len(local_paths) == len(paths)
      assert not any(atomic_files.is_remote(p) for p in local_paths)
      assert local_paths[0].startswith(str(staging)) and local_paths[2].startswith(str(staging))
      assert os.path.dirname(local_paths[1]) == str(tmp_path)   # beside it, as atomic_path
      for local in local_paths:
        Path(local).write_bytes(contents)

  def contents():
    return [tf.io.gfile.GFile(path, "rb").read() for path in paths]

  write_all(b"old")
  assert contents() == [b"old"] * 3
  # A failure in the block, a full disk, and a copy that fails after the first
  # remote file was copied: no path changes, no copy is left.
  with pytest.raises(RuntimeError, match="killed"):
    with atomic_files.atomic_local_paths(paths) as local_paths:
      Path(local_paths[0]).write_bytes(b"half")
      raise RuntimeError("killed")
  with pytest.raises(errors.UserError, match="set TMPDIR to a folder with room") as caught:
    with atomic_files.atomic_local_paths(paths):
      raise OSError(28, "No space left on device")
  assert paths[0] in str(caught.value) and paths[2] in str(caught.value)
  real_copy = tf.io.gfile.copy
  calls = []

  def copy_then_fail(source, target, overwrite=False):
    calls.append(target)
    if len(calls) == 2:
      raise KeyboardInterrupt
    real_copy(source, target, overwrite=overwrite)

  monkeypatch.setattr(tf.io.gfile, "copy", copy_then_fail)
  with pytest.raises(KeyboardInterrupt):
    write_all(b"new")
  assert len(calls) == 2
  assert contents() == [b"old"] * 3
  monkeypatch.setattr(tf.io.gfile, "copy", real_copy)
  assert sorted(tf.io.gfile.listdir(folder)) == ["x.tfrecord", "z.tfrecord"]
  assert sorted(os.listdir(tmp_path)) == ["tmpdir", "y.tfrecord"]
  assert os.listdir(staging) == []
  write_all(b"new")
  assert contents() == [b"new"] * 3
  assert os.listdir(staging) == []


def test_the_module_does_not_load_tensorflow_for_local_files(tmp_path):
  # create_pretraining_data.py's worker processes write through it without TensorFlow.
  code = ("import sys, atomic_files; atomic_files.write_text(sys.argv[1], 'x'); "
          "print('tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f")], cwd=REPO_ROOT,
                       capture_output=True, text=True, check=True).stdout
  assert out.strip() == "False"
  assert (tmp_path / "f").read_text() == "x"


def test_a_link_is_followed_and_a_pipe_is_written_in_place(tmp_path):
  """An output that is a link, /dev/stdout or a FIFO was replaced by a regular file."""
  import threading  # pylint: disable=g-import-not-at-top
  target = tmp_path / "results" / "real.jsonl"
  target.parent.mkdir()
  target.write_text("old\n")
  link = tmp_path / "latest.jsonl"
  link.symlink_to(target)
  atomic_files.write_text(str(link), "new\n")
  assert link.is_symlink() and os.readlink(link) == str(target)
  assert target.read_text() == "new\n"
  assert sorted(os.listdir(tmp_path)) == ["latest.jsonl", "results"]
  assert os.listdir(target.parent) == ["real.jsonl"]
  fifo = tmp_path / "pipe"
  os.mkfifo(fifo)
  received = []
  reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
  reader.start()
  atomic_files.write_text(str(fifo), "through the pipe\n")
  reader.join(timeout=30)
  assert received == ["through the pipe\n"]
  assert fifo.is_fifo()
  assert sorted(os.listdir(tmp_path)) == ["latest.jsonl", "pipe", "results"]


def test_dev_stdout_sent_to_a_log_file_is_written_in_place(tmp_path):
  """`--output_file=/dev/stdout >> run.log`: renaming over the log lost what followed."""
  log = tmp_path / "run.log"
  with open(log, "a") as stdout:
    subprocess.run([sys.executable, "-c", "import atomic_files, sys; "
                    "atomic_files.write_text('/dev/stdout', 'features\\n'); "
                    "print('after', flush=True)"],
                   cwd=str(Path(atomic_files.__file__).parent), stdout=stdout, check=True)
  assert log.read_text() == "features\nafter\n"
  assert os.listdir(tmp_path) == ["run.log"]


def test_a_folder_where_a_file_goes_is_one_error_before_any_writing(tmp_path):
  """It was `[Errno 21] Is a directory: '...tmp-N' -> '...'`, after the work."""
  for target in (str(tmp_path / "eval.tf_record"), "ram://atomic/grid_results.tsv"):
    tf.io.gfile.makedirs(target)
    written = []
    with pytest.raises(errors.UserError, match=r"is a directory where a file belongs; "
                       "move or remove it"):
      with atomic_files.atomic_path(target):
        written.append(True)
    assert written == [] and tf.io.gfile.isdir(target)
  assert sorted(os.listdir(tmp_path)) == ["eval.tf_record"]


def test_an_output_folder_with_a_folder_named_checkpoint_is_refused_at_start(tmp_path):
  import cli  # pylint: disable=g-import-not-at-top
  cli.require_checkpoint_dir(str(tmp_path), "output_dir")
  (tmp_path / "checkpoint").mkdir()
  with pytest.raises(errors.UserError, match="checkpoint is a directory where a file"):
    cli.require_checkpoint_dir(str(tmp_path), "output_dir")


def test_a_folder_in_place_of_a_cache_sidecar_is_named(tmp_path):
  import feature_cache  # pylint: disable=g-import-not-at-top
  cache = str(tmp_path / "eval.tf_record")
  assert feature_cache.read_cache_meta(cache) is None
  os.mkdir(feature_cache.meta_path(cache))
  with pytest.raises(errors.UserError, match="meta.json is a directory where a file"):
    feature_cache.read_cache_meta(cache)
