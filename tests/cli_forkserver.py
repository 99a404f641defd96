"""Runs many `python <script>.py --flags` commands, each in its own forked process.

Importing TensorFlow takes seconds, and a table of bad-input cases runs dozens
of commands that fail within a second of starting. This server imports only
the third-party libraries once (TensorFlow, NumPy, absl; never the repo's own
modules), then forks one child per command. The child is a separate process
that looks like a fresh `python <script>.py ...`: its own argv, cwd,
environment, stdin from /dev/null, stdout and stderr into files, the script
run as `__main__` (the repo's modules and flags are imported and defined anew),
an uncaught exception printed as the interpreter prints it, and the exit code
of `sys.exit` / `SystemExit` as the process's exit status.

Protocol: one JSON object per line on stdin, a command
  {"id", "script", "args", "cwd", "env", "stdout", "stderr"}
or a barrier {"barrier": true}; on stdout, one line per finished command
  {"id": ..., "returncode": ..., "seconds": ...}   (returncode < 0: killed by a signal)
and {"barrier": true} once every command sent before a barrier has finished.

Usage: python cli_forkserver.py MAX_PARALLEL
"""

import atexit
import json
import os
import runpy
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import absl.app  # pylint: disable=g-import-not-at-top,unused-import
import absl.flags  # pylint: disable=g-import-not-at-top,unused-import
import absl.logging  # pylint: disable=g-import-not-at-top,unused-import
import numpy  # pylint: disable=g-import-not-at-top,unused-import
import tensorflow  # pylint: disable=g-import-not-at-top,unused-import


def _redirect(fd, path, flags):
  new = os.open(path, flags, 0o644)
  os.dup2(new, fd)
  os.close(new)


def _exit_status(code):
  """The exit status the interpreter gives `sys.exit(code)`."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code & 0xFF
  print(code, file=sys.stderr)
  return 1


def run_child(spec):
  """Becomes `python spec["script"] *spec["args"]`; never returns."""
  status = 1
  try:
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    _redirect(0, os.devnull, os.O_RDONLY)
    # A new reader: the server's may hold buffered lines of later commands.
    sys.stdin = open(0, "r", encoding=sys.stdin.encoding, errors=sys.stdin.errors,
                     closefd=False)
    _redirect(1, spec["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, spec["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    script = os.path.abspath(spec["script"])
    sys.argv = [spec["script"]] + list(spec["args"])
    sys.path[0] = os.path.dirname(script)   # as `python script.py` sets it
    try:
      runpy.run_path(script, run_name="__main__")
      status = 0
    except SystemExit as e:
      status = _exit_status(e.code)
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
      status = 1
    atexit._run_exitfuncs()  # pylint: disable=protected-access
  finally:
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    finally:
      os._exit(status)  # pylint: disable=protected-access


def main():
  max_parallel = int(sys.argv[1])
  running = {}

  def reap_one():
    pid, status = os.wait()
    code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
            else -os.WTERMSIG(status))
    name, started = running.pop(pid)
    print(json.dumps({"id": name, "returncode": code,
                      "seconds": round(time.monotonic() - started, 3)}), flush=True)

  while True:
    line = sys.stdin.readline()
    if not line:
      break
    spec = json.loads(line)
    if spec.get("barrier"):
      while running:
        reap_one()
      print(json.dumps({"barrier": True}), flush=True)
      continue
    while len(running) >= max_parallel:
      reap_one()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      run_child(spec)
    running[pid] = (spec["id"], time.monotonic())
  while running:
    reap_one()


if __name__ == "__main__":
  main()
