"""data_files: reading the users' files, local or remote, with errors that name them."""

import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

import data_files
import errors

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_remote_paths_go_through_tensorflow_file_systems():
  # ram:// is one of TensorFlow's file systems, as gs:// is on a TPU VM.
  path = "ram://data_files_test/train.tsv"
  with tf.io.gfile.GFile(path, "w") as writer:
    writer.write("\ufeffa\tb\n")
  assert data_files.file_exists(path)
  assert data_files.read_rows(path) == [["a", "b"]]


def expand(spec):
  return data_files.expand_input_files(spec, "input_file", "text files", "*.txt")


def test_input_files_keep_the_items_order_and_sort_each_globs_matches(tmp_path):
  for name in ("b.txt", "a.txt", ".hidden.txt", "c.tsv"):
    (tmp_path / name).write_text("a line .\n")
  spec = f" {tmp_path / 'c.tsv'},, {tmp_path / '*.txt'} ,"
  assert expand(spec) == [str(tmp_path / n) for n in ("c.tsv", "a.txt", "b.txt")]


def test_an_input_path_that_exists_is_a_name_not_a_pattern(tmp_path):
  """`g[1]/corpus.txt` is read, not `g1/corpus.txt`, which the pattern matches."""
  named, matched = tmp_path / "g[1]" / "corpus.txt", tmp_path / "g1" / "corpus.txt"
  for path in (named, matched):
    path.parent.mkdir()
    path.write_text("a line .\n")
  assert expand(str(named)) == [str(named)]
  assert expand(str(tmp_path / "g[1]" / "*.txt")) == [str(matched)]
  assert expand(str(tmp_path / "g?" / "*.txt")) == [str(matched)]


@pytest.mark.parametrize("spec, message", [
    ("", "--input_file is required: comma-separated paths or globs of text files."),
    (" , ,", "--input_file is required: comma-separated paths or globs of text files."),
    ("{tmp}/nope.txt", "--input_file: {tmp}/nope.txt not found; give comma-separated "
     "paths or globs of text files."),
    ("{tmp}/*.none", "--input_file: {tmp}/*.none matches no file; give comma-separated "
     "paths or globs of text files."),
    ("{tmp}/shards", "--input_file: {tmp}/shards is a directory; give the files in it, "
     "e.g. {tmp}/shards/*.txt."),
    ("{tmp}/s*", "--input_file: {tmp}/shards is a directory; give the files in it, "
     "e.g. {tmp}/shards/*.txt."),   # matched by a glob: not skipped in silence
])
def test_input_file_errors_name_the_flag_and_the_pattern(tmp_path, spec, message):
  (tmp_path / "shards").mkdir()
  (tmp_path / "shards" / "a.txt").write_text("a line .\n")
  with pytest.raises(errors.UserError) as raised:
    expand(spec.format(tmp=tmp_path))
  assert str(raised.value) == message.format(tmp=tmp_path)


def test_remote_input_globs_go_through_tensorflow_file_systems():
  for name in ("b.tfrecord", "a.tfrecord"):
    with tf.io.gfile.GFile(f"ram://expand_test/{name}", "w") as writer:
      writer.write("x")
  assert expand("ram://expand_test/*.tfrecord,ram://expand_test/b.tfrecord") == [
      "ram://expand_test/a.tfrecord", "ram://expand_test/b.tfrecord",
      "ram://expand_test/b.tfrecord"]
  with pytest.raises(errors.UserError, match="ram://expand_test/c.txt not found"):
    expand("ram://expand_test/c.txt")


def test_the_module_does_not_load_tensorflow_for_local_files(tmp_path):
  # create_pretraining_data.py's worker processes read through it without TensorFlow.
  (tmp_path / "f.txt").write_text("x\n")
  code = ("import sys, data_files; text = data_files.read_text(sys.argv[1]); "
          "files = data_files.expand_input_files(sys.argv[2], 'input_file', 'text', '*'); "
          "print(text == 'x\\n', data_files.file_exists(sys.argv[1]), "
          "files == [sys.argv[1]], 'tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.txt"),
                        str(tmp_path / "*.txt")], cwd=REPO_ROOT, capture_output=True,
                       text=True, check=True).stdout
  assert out.split() == ["True", "True", "True", "False"]


def test_a_glob_matching_a_link_to_a_missing_file_is_one_error_line(tmp_path):
  (tmp_path / "a.txt").write_text("a\n")
  (tmp_path / "b.txt").symlink_to(tmp_path / "gone.txt")
  with pytest.raises(errors.UserError, match=r"^--input_file: .*b.txt cannot be read: No such "
                     r"file or directory; restore it or leave it out.$"):
    data_files.expand_input_files(str(tmp_path / "*.txt"), "input_file", "text files", "*.txt")


@pytest.mark.parametrize("text, problem", [
    ('{"a": [1, 2}', "Expecting ',' delimiter at line 1 column 12 (char 11)."),
    ('{"a": ' + "7" * 5000 + "}", "Exceeds the limit (4300 digits)"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply to parse"),
    ('{"a":\n [1, 2}', "Expecting ',' delimiter at line 2 column 7 (char 12)"),
])
def test_text_that_is_not_json_is_a_data_error_naming_where(text, problem):
  with pytest.raises(errors.DataError) as caught:
    data_files.parse_json(text, "--predict_file=p.json", " Give a JSON file.")
  message = str(caught.value)
  assert message.startswith("--predict_file=p.json: not valid JSON: ")
  assert problem in message and message.endswith(" Give a JSON file.")


def test_json_lines_errors_name_the_line(tmp_path):
  text = '{"text": "a", "label": "x"}\n{"text": "b", "label": ' + "9" * 5000 + "}\n"
  with pytest.raises(errors.DataError, match=r"^d\.jsonl, line 2: not valid JSON: Exceeds"):
    data_files.parse_json_records(text, "d.jsonl")
  assert len(data_files.parse_json_records(text.splitlines()[0], "d.jsonl")) == 1


def test_json_lines_end_at_line_feeds_only():
  text = ('{"text": "one\u2028two", "label": "a"}\r\n'
          '{"text": "three\u0085four\u2029", "label": "b"}\n\n'
          '{"text": "five", "label": "a"}\r{"text": "six", "label": "b"}\r')
  records = data_files.parse_json_records(text, "d.jsonl")
  assert len(records) == 4
  assert records == [("line 1", {"text": "one\u2028two", "label": "a"}),
                     ("line 2", {"text": "three\u0085four\u2029", "label": "b"}),
                     ("line 4", {"text": "five", "label": "a"}),
                     ("line 5", {"text": "six", "label": "b"})]
