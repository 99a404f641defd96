"""errors.py: which exceptions are one-line input errors, and what the CLI prints."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest

import errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_errors_module_does_not_import_tensorflow():
  done = subprocess.run([sys.executable, "-c", "import sys, errors; "
                         "print('tensorflow' in sys.modules)"],
                        cwd=REPO, capture_output=True, text=True, check=True)
  assert done.stdout.strip() == "False"


@pytest.mark.parametrize("error", [
    errors.UserError("bad flag"), errors.DataError("bad line"),
    errors.CheckpointError("bad checkpoint"), errors.TrainingError("NaN"),
    FileNotFoundError(2, "No such file", "x.txt"), PermissionError(13, "denied"),
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EROFS, "Read-only file system", "/mnt/ro/.convert-1"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
])
def test_input_errors(error):
  assert errors.is_input_error(error)


@pytest.mark.parametrize("error", [
    ValueError("a bug of ours"), KeyError("x"), AttributeError("x"), TypeError("x"),
    OSError(errno.EIO, "I/O error"), RuntimeError("x")])
def test_bugs_are_not_input_errors(error):
  assert not errors.is_input_error(error)


def test_a_read_only_disk_is_named_with_the_fix():
  line = errors.error_line(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"))
  assert line == ("[Errno 30] Read-only file system: '/mnt/ro/x'; write to a folder on a "
                  "writable disk.")


def test_a_graph_errors_line_is_the_error_not_the_stack_where_its_op_was_made():
  """A training folder moved mid-run printed TensorFlow's whole stack as one line."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  error = tf.errors.NotFoundError(None, None, (
      "Graph execution error:\n\nDetected at node IteratorGetNext defined at (most recent "
      "call last):\n  File \"run_classifier.py\", line 322, in <module>\n\n  File "
      "\"training.py\", line 600, in train\n\n/tmp/run/train.tf_record; No such file or "
      "directory\n\t [[{{node IteratorGetNext}}]] [Op:__inference_train_steps_1234]"))
  assert errors.error_line(error) == "/tmp/run/train.tf_record; No such file or directory"
  plain = tf.errors.NotFoundError(None, None, "x.txt; No such file or directory")
  assert errors.error_line(plain) == "x.txt; No such file or directory"


def test_tensorflow_errors_by_kind():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  assert errors.is_input_error(tf.errors.DataLossError(None, None, "corrupted record"))
  assert errors.is_input_error(tf.errors.NotFoundError(None, None, "x: not found"))
  assert errors.is_input_error(tf.errors.ResourceExhaustedError(
      None, None, "x; No space left on device"))
  assert not errors.is_input_error(tf.errors.InvalidArgumentError(None, None, "shapes"))
  assert not errors.is_input_error(tf.errors.ResourceExhaustedError(None, None, "OOM"))


def _run_program(body):
  """Runs a program whose main(argv) executes `body`, through errors.run_program."""
  code = textwrap.dedent(f"""
      import errors
      def main(argv):
          {body}
      errors.run_program(main)
      """)
  return subprocess.run([sys.executable, "-c", code], cwd=REPO,
                        capture_output=True, text=True, env=dict(os.environ, BERT_DEBUG=""))


def test_user_error_is_one_line_and_exit_1():
  done = _run_program("raise errors.UserError('--vocab_file=x: file not found.')")
  assert done.returncode == 1
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1, done.stderr
  assert lines[0] == "-c: error: --vocab_file=x: file not found."
  assert "Traceback" not in done.stderr


@pytest.mark.parametrize("program, required, words", [
    ("extract_features.py", [], "every setting is a --flag."),
    ("inference.py", [], "every input is an --input."),
    ("convert_checkpoint.py", ["--direction=hf_to_tf", "--input=x", "--output_dir=o"],
     "every setting is a --flag.")])
def test_words_that_are_not_flags_are_one_line_before_any_work(program, required, words,
                                                                tmp_path):
  """`--do_train true` (a space for the '=' of a bool flag) leaves `true` a stray word."""
  done = subprocess.run([sys.executable, os.path.join(REPO, program)] + required + [
      "MRPC", "true"], cwd=tmp_path, capture_output=True, text=True,
                        env=dict(os.environ, BERT_DEBUG=""))
  assert done.returncode == 1, done.stderr[-2000:]
  assert done.stderr.strip().splitlines()[-1] == (
      f"{program}: error: unexpected arguments MRPC true; {words}")
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_float_flag_that_is_not_a_finite_number_is_one_line(value, tmp_path):
  """--num_train_epochs=nan failed in int(nan) with a traceback; inf in the optimizer."""
  done = subprocess.run([sys.executable, os.path.join(REPO, "run_classifier.py"),
                         f"--learning_rate={value}", "--task_name=MRPC"], cwd=tmp_path,
                        capture_output=True, text=True, env=dict(os.environ, BERT_DEBUG=""))
  assert done.returncode == 1, done.stderr[-2000:]
  assert done.stderr.strip().splitlines()[-1] == (
      f"run_classifier.py: error: --learning_rate={float(value)} must be a finite number "
      "(see --helpshort)")
  assert os.listdir(tmp_path) == []


def test_an_infinite_null_score_threshold_is_accepted_as_the_reference_does():
  code = textwrap.dedent("""
      import sys
      from absl import flags
      import errors
      flags.DEFINE_float("null_score_diff_threshold", 0.0, "")
      flags.DEFINE_float("learning_rate", 1e-5, "")
      errors.parse_flags_or_exit(sys.argv)
      print(flags.FLAGS.null_score_diff_threshold)
      """)
  done = subprocess.run([sys.executable, "-c", code, "--null_score_diff_threshold=-inf"],
                        cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 0 and done.stdout == "-inf\n", done.stderr[-2000:]
  done = subprocess.run([sys.executable, "-c", code, "--null_score_diff_threshold=nan"],
                        cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 1
  assert "--null_score_diff_threshold=nan must be a finite number" in done.stderr


def test_internal_bug_keeps_its_traceback():
  # A ValueError is a bug of ours now, not a user error: its traceback is printed.
  done = _run_program("raise ValueError('an internal bug')")
  assert done.returncode != 0
  assert "Traceback (most recent call last)" in done.stderr
  assert "ValueError: an internal bug" in done.stderr
  assert "error: an internal bug" not in done.stderr


def test_interrupted_run_exits_with_the_signal_number():
  done = _run_program("raise errors.TrainingInterrupted(7, 'SIGHUP')")
  assert done.returncode == 129
  assert "SIGHUP received: saved a checkpoint at step 7" in done.stderr


def test_full_disk_is_one_line():
  done = _run_program("import errno; raise OSError(errno.ENOSPC, 'No space left on "
                      "device', 'out/train.tf_record')")
  assert done.returncode == 1
  assert "Traceback" not in done.stderr
  assert "no space left on the device" in done.stderr


CORE_FLAGS = ("--output_dir", "--init_checkpoint", "--learning_rate", "--train_batch_size",
              "--distribution_strategy", "--use_tpu")


def program_help(program):
  """`program --help`: the finished process and the flags listed, each listed once."""
  done = subprocess.run([sys.executable, os.path.join(REPO, program), "--help"], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  flags_listed = [line.split(":")[0].strip() for line in done.stdout.splitlines()
                  if line.startswith("  --")]
  assert len(flags_listed) == len(set(flags_listed)), "a flag is listed twice"
  return done, flags_listed


@pytest.mark.parametrize("program, own_flag", [
    ("run_classifier.py", "--task_name"), ("run_pretraining.py", "--max_predictions_per_seq"),
    ("run_squad.py", "--doc_stride"), ("run_ner.py", "--window_stride"),
    ("run_multiple_choice.py", "--num_choices")])
def test_help_lists_the_programs_flags_and_the_shared_ones(program, own_flag):
  done, flags_listed = program_help(program)
  for flag in CORE_FLAGS + (own_flag,):
    assert flag in flags_listed, (program, flag)
  # absl's and TensorFlow's own flags stay in --helpfull.
  assert "--logtostderr" not in flags_listed and "--verbosity" not in flags_listed
  assert f"flags of {program}:" in done.stdout
  assert "the training loop (shared by every run_*.py):" in done.stdout
  assert "(default: 5e-05)" in done.stdout or "(default: 2e-05)" in done.stdout


@pytest.mark.parametrize("program", ["run_classifier.py", "create_pretraining_data.py",
                                     "extract_features.py"])
def test_help_lists_the_tokenizer_flags(program):
  """tokenization.define_flags' flags: with the shared ones, or the program's own."""
  _, flags_listed = program_help(program)
  assert "--vocab_file" in flags_listed and "--do_lower_case" in flags_listed
  assert "--input_file" in flags_listed or "--task_name" in flags_listed


def test_an_output_dir_that_is_a_dangling_link_is_refused_naming_the_target(tmp_path):
  import cli  # pylint: disable=g-import-not-at-top
  link = tmp_path / "out"
  link.symlink_to(tmp_path / "gone")
  with pytest.raises(errors.UserError, match=r"--output_dir=.*out: .*out is a link to the "
                     r"missing .*gone; create that folder"):
    cli.require_creatable_dir(str(link), "output_dir")
  with pytest.raises(errors.UserError, match="is a link to the missing"):
    cli.require_creatable_dir(str(link / "sub"), "output_dir")
  (tmp_path / "gone").mkdir()
  cli.require_creatable_dir(str(link), "output_dir")   # the link now leads somewhere


def test_a_tilde_in_a_path_flag_is_the_home_folder_as_the_shell_would_make_it(tmp_path):
  """`--output_dir=~/x` (which bash leaves alone) is $HOME/x; texts keep their ~."""
  script = textwrap.dedent("""
      import sys
      sys.path.insert(0, {repo!r})
      from absl import flags
      import errors
      flags.DEFINE_string("output_dir", None, "")
      flags.DEFINE_string("input_file", None, "")
      flags.DEFINE_string("init_checkpoint", None, "")
      flags.DEFINE_string("text", None, "")
      errors.parse_flags_or_exit(sys.argv)
      f = flags.FLAGS
      print(f.output_dir, f.input_file, f.init_checkpoint, f.text, sep="|")
  """).format(repo=REPO)
  done = subprocess.run([sys.executable, "-c", script, "--output_dir=~/runs/a",
                         "--input_file=~/x.txt,data/~y.txt,~/z.txt",
                         "--init_checkpoint=gs://b/~c", "--text=~/not a path"],
                        env={**os.environ, "HOME": str(tmp_path)}, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip().split("|") == [
      f"{tmp_path}/runs/a", f"{tmp_path}/x.txt,data/~y.txt,{tmp_path}/z.txt",
      "gs://b/~c", "~/not a path"]
