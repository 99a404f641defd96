"""data_files: reading the users' files, local or remote, with errors that name them."""

import subprocess
import sys
from pathlib import Path

import tensorflow as tf

import data_files

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_remote_paths_go_through_tensorflow_file_systems():
  # ram:// is one of TensorFlow's file systems, as gs:// is on a TPU VM.
  path = "ram://data_files_test/train.tsv"
  with tf.io.gfile.GFile(path, "w") as writer:
    writer.write("\ufeffa\tb\n")
  assert data_files.file_exists(path)
  assert data_files.read_rows(path) == [["a", "b"]]


def test_the_module_does_not_load_tensorflow_for_local_files(tmp_path):
  # create_pretraining_data.py's worker processes read through it without TensorFlow.
  (tmp_path / "f.txt").write_text("x\n")
  code = ("import sys, data_files; text = data_files.read_text(sys.argv[1]); "
          "print(text == 'x\\n', data_files.file_exists(sys.argv[1]), "
          "'tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.txt")], cwd=REPO_ROOT,
                       capture_output=True, text=True, check=True).stdout
  assert out.split() == ["True", "True", "False"]
