"""The errors a user can fix, as one type the command line prints as one line.

Every program prints a `UserError` as `<script>: error: <message>` and exits 1;
any other exception is a bug of ours and keeps its traceback (see cli.run).
The message names the flag, file or line, the value received and the fix.

Subclasses exist only where a caller treats them differently. This module
imports nothing heavy (no TensorFlow), so every module can use it.
"""


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
