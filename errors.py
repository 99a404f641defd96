"""The errors a user can fix, and how every program reports them.

Every program prints a `UserError`, and the OS or TensorFlow errors that mean
bad input (a missing, unreadable or damaged file, a full disk), as one line
`<script>: error: <message>` and exits 1; any other exception is a bug of ours
and keeps its traceback. Messages name the flag, file or line, the value
received and the fix.

Subclasses exist only where a caller treats them differently. This module
does not import TensorFlow (create_pretraining_data.py's workers run without
it): TensorFlow's errors are recognised when TensorFlow is loaded.
"""

import errno
import math
import os
import re
import signal
import sys
import traceback


class UserError(ValueError):
  """Bad input the user can fix: a flag, a file, a line of data, a setting.

  A ValueError, so that callers (and tests) that expect ValueError for bad
  arguments still see one.
  """


class DataError(UserError):
  """A data file cannot be read as the task's format (file and line named).

  Caught where a reader tries one layout and falls back to another.
  """


class CheckpointError(UserError):
  """A checkpoint is missing, damaged or does not fit the model.

  Caught when resuming, to fall back to an older intact checkpoint or to say
  which --output_dir holds the run.
  """


class TrainingError(UserError):
  """Training cannot go on (the loss became NaN, the workers disagree); says why."""


class TrainingInterrupted(Exception):
  """SIGTERM, SIGINT or SIGHUP arrived; a checkpoint was saved at `step`.

  Not a UserError: the command exits 128 + the signal's number (SIGHUP 129,
  SIGINT 130, SIGTERM 143), so that a job scheduler can tell "preempted" from
  "failed".
  """

  def __init__(self, step, signal_name):
    super().__init__(f"{signal_name} received: saved a checkpoint at step {step} and "
                     "stopped. Run the same command again to resume from it.")
    self.step = step
    self.signal_name = signal_name


# OS errors that mean a bad input or output path, not a bug of ours.
_OS_INPUT_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError,
                    PermissionError, UnicodeDecodeError)
# TensorFlow's errors of the same kinds, by class name.
_TF_INPUT_ERRORS = ("NotFoundError", "DataLossError", "PermissionDeniedError")


def _tf_error_class(error):
  """The name of a tf.errors.OpError subclass `error` is, or None."""
  tf = sys.modules.get("tensorflow")
  if tf is None or not isinstance(error, tf.errors.OpError):
    return None
  return type(error).__name__


def is_disk_full(error):
  """True for the errors a full disk raises (Python's and TensorFlow's)."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  return (_tf_error_class(error) is not None and
          ("No space left" in str(error) or "Disk quota" in str(error)))


def no_space_error(path):
  """A UserError for a write that found the disk full: the path and the free space."""
  free = ""
  if path and "://" not in str(path):
    try:
      import shutil  # pylint: disable=g-import-not-at-top
      folder = os.path.dirname(os.path.abspath(str(path)))
      free = f" ({shutil.disk_usage(folder).free / 2**20:.0f} MiB free there)"
    except OSError:
      pass
  return UserError(f"{path or 'an output file'}: no space left on the device{free}; free "
                   "some space or write to another folder. Earlier outputs were kept.")


def directory_in_the_way(path):
  """A UserError for a folder found where a file is to be read or written."""
  return UserError(f"{path} is a directory where a file belongs; move or remove it, then "
                   "run again.")


def is_input_error(error):
  """True for the errors printed as one line rather than with a traceback."""
  return (isinstance(error, (UserError,) + _OS_INPUT_ERRORS) or is_disk_full(error) or
          (isinstance(error, OSError) and error.errno == errno.EROFS) or
          _tf_error_class(error) in _TF_INPUT_ERRORS)


def error_line(error):
  """The one line printed for an input error (no script name)."""
  message = getattr(error, "message", None) if _tf_error_class(error) else None
  if message and message.startswith("Graph execution error:"):
    # The stack where the failing op was defined comes first; the error itself last,
    # followed by the op's name.
    paragraphs = [p for p in message.split("\n\n") if p.strip()]
    message = re.sub(r"\s*\[\[\{\{node .*", "", paragraphs[-1], flags=re.S)
  message = message or str(error)
  if is_disk_full(error) and not isinstance(error, UserError):
    message = str(no_space_error(getattr(error, "filename", None)))
    if _tf_error_class(error):   # TensorFlow's message names the file
      message += f" ({getattr(error, 'message', error)})"
  if isinstance(error, OSError) and error.errno == errno.EROFS:
    message += "; write to a folder on a writable disk."
  if isinstance(error, PermissionError) or _tf_error_class(error) == "PermissionDeniedError":
    message += ("; check the file's permissions (chmod a+r to read it, a writable "
                "--output_dir to write).")
  return " ".join(message.split())


def report_errors(main):
  """Wraps a program's main(argv) for absl's app.run.

  Input errors print one `<script>: error: <message>` line and exit 1 (with
  BERT_DEBUG set, the traceback too); a TrainingInterrupted exits 128 + the
  signal number; every other exception propagates with its traceback.
  """
  def wrapped(argv):
    script = os.path.basename(sys.argv[0])
    try:
      return main(argv)
    except TrainingInterrupted as e:
      print(f"{script}: {e}", file=sys.stderr)
      sys.exit(128 + signal.Signals[e.signal_name].value)
    except Exception as e:  # pylint: disable=broad-except
      if not is_input_error(e):
        raise
      if os.environ.get("BERT_DEBUG"):
        traceback.print_exc()
      print(f"{script}: error: {error_line(e)}", file=sys.stderr)
      sys.exit(1)
  return wrapped


# The signals that stop a run cleanly. SIGHUP: the SSH session of a run started
# without nohup dropped; save and stop as for SIGTERM rather than die.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))   # Windows has no SIGHUP


def install_stop_handler(handler):
  """Sets `handler(signum, frame)` for STOP_SIGNALS; returns what to restore.

  Only the main thread can set handlers; elsewhere nothing changes ({}).
  """
  previous = {}
  for signum in STOP_SIGNALS:
    try:
      previous[signum] = signal.signal(signum, handler)
    except ValueError:   # not the main thread: leave signals alone
      pass
  return previous


def restore_handlers(previous):
  """Puts back the handlers install_stop_handler replaced."""
  for signum, handler in previous.items():
    signal.signal(signum, handler)


# Asking for help: the program's own flags and the shared ones; --helpfull adds
# absl's and TensorFlow's.
_HELP_ARGUMENTS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")


def _flag_help(flag):
  """`  --name: help` lines with the default (enums list their choices first)."""
  import textwrap  # pylint: disable=g-import-not-at-top
  text = f"--{flag.name}: {flag.help}"
  if flag.default is not None:
    default = flag.default if not isinstance(flag.default, list) else ",".join(
        map(str, flag.default))
    text += f" (default: {default})"
  return textwrap.fill(text, width=92, initial_indent="  ", subsequent_indent="      ")


def print_help(program):
  """Prints the program's docstring and its flags: its own, then the shared ones.

  The shared flags come in the sections of cli.HELP_SECTIONS when the
  program uses cli.py: [(heading, flag names or None for the rest)].
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  module = sys.modules.get(program)
  print((getattr(module, "__doc__", None) or "").strip() or f"USAGE: {sys.argv[0]} [flags]")
  by_module = flags.FLAGS.flags_by_module_dict()
  own = {}
  for name in (program, sys.argv[0], os.path.abspath(sys.argv[0])):
    own.update({flag.name: flag for flag in by_module.get(name, [])})
  shared = {flag.name: flag for flag in by_module.get("cli", [])}
  # tokenization.define_flags' two: shared when the program uses cli's flags, else its own.
  (shared if shared else own).update(
      {flag.name: flag for flag in by_module.get("tokenization", [])})
  groups = [(f"flags of {os.path.basename(sys.argv[0])}", list(own.values()))]
  for heading, names in getattr(sys.modules.get("cli"), "HELP_SECTIONS", []):
    names = [n for n in shared if n in names] if names is not None else list(shared)
    groups.append((heading, [shared.pop(n) for n in names]))
  for heading, flag_list in groups:
    if flag_list:
      print(f"\n{heading}:")
      for flag in sorted(flag_list, key=lambda x: x.name):
        print(_flag_help(flag))
  print("\nAll flags, absl's and TensorFlow's too: --helpfull")


def parse_flags_or_exit(argv, program="__main__"):
  """absl's flag parsing, a bad flag printed as one `<script>: error:` line (exit 1).

  --help (and -h, --helpshort) prints the program's flags (print_help) and exits 0.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  if any(argument in _HELP_ARGUMENTS for argument in argv[1:]):
    print_help(program)
    sys.exit(0)
  try:
    remaining = flags.FLAGS(argv)
    _check_finite(flags.FLAGS)
  except flags.Error as e:
    print(f"{os.path.basename(argv[0])}: error: {' '.join(str(e).split())} "
          "(see --helpshort)", file=sys.stderr)
    sys.exit(1)
  expand_home(flags.FLAGS)
  return remaining


def _check_finite(flag_values):
  """Raises absl's flags.Error for a float flag that is nan, or inf where that means nothing."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  for name in flag_values:
    value = flag_values[name].value
    if isinstance(value, float) and (math.isnan(value) or (
        math.isinf(value) and name not in _INFINITY_ALLOWED)):
      raise flags.IllegalFlagValueError(f"--{name}={value} must be a finite number")


# Float flags where an infinity means something: never (inf) or always (-inf)
# answer "" in SQuAD 2.0, as the reference accepts.
_INFINITY_ALLOWED = ("null_score_diff_threshold",)

# Flags whose values are paths (comma-separated for several files).
_PATH_FLAG_SUFFIXES = ("_file", "_files", "_dir", "_checkpoint")


def expand_home(flag_values):
  """Expands `~` and `~user` in path flags, as the shell does for `--flag ~/x`.

  The shell leaves `--output_dir=~/x` alone, which would make a folder named `~`.
  """
  for name in flag_values:
    value = flag_values[name].value
    if isinstance(value, str) and "~" in value and name.endswith(_PATH_FLAG_SUFFIXES):
      flag_values[name].value = ",".join(os.path.expanduser(part)
                                         for part in value.split(","))


def require_utf8_path(path, flag_name):
  """Raises UserError for a path holding bytes that are not UTF-8.

  TensorFlow's file functions encode paths as UTF-8, so such a path (a Latin-1
  folder name) would fail deep inside them.
  """
  try:
    str(path).encode("utf-8")
  except UnicodeEncodeError:
    shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    raise UserError(
        f"--{flag_name}={shown}: the path holds bytes that are not UTF-8, and "
        "TensorFlow takes UTF-8 paths only; rename it with UTF-8 characters.") from None


def run_program(main, program=None, words="every setting is a --flag."):
  """absl's app.run(main) with report_errors and parse_flags_or_exit.

  Args:
    main: the program's main(argv).
    program: the name of the program's module, whose flags and docstring
      --help shows (default: main's module).
    words: how the program takes its input, told when words that are not
      flags are given (a flag's value after a space, a missing `--`); None
      for a program that reads such words itself.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  program = program or main.__module__

  def checked(argv):
    if words is not None and len(argv) > 1:
      raise UserError(f"unexpected arguments {' '.join(argv[1:])}; {words}")
    return main(argv)

  app.run(report_errors(checked),
          flags_parser=lambda argv: parse_flags_or_exit(argv, program))
