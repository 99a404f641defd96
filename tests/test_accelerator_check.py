"""scripts/accelerator_check.sh: the short self-check on this machine's CPU.

The runs are subprocesses, as users start the check: the table, the SKIPPED
rows of the devices this machine lacks, and the exit status are what users see.
"""

import os
import subprocess
import sys
from pathlib import Path

import precision

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_check(*args, script="scripts/accelerator_check.py"):
  """(exit status, stdout, stderr) of the check with `args`."""
  env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), BERT_VENV=sys.prefix)
  env.pop("TPU_NAME", None)
  command = (["bash", script] if script.endswith(".sh") else [sys.executable, script])
  done = subprocess.run(command + list(args), cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=600)
  return done.returncode, done.stdout, done.stderr


def table_rows(output):
  """{(device, variant, strategy): the row's cells} of the table after its header."""
  lines = output.splitlines()
  header = max(i for i, line in enumerate(lines) if line.startswith("device  variant"))
  rows = {}
  for line in lines[header + 1:]:
    if not line.strip():
      break
    cells = line.split()
    rows[tuple(cells[:3])] = cells
  return rows


def result_and_note(cells):
  """(PASS/FAIL/SKIPPED, the note) of a row's cells."""
  index = next(i for i, c in enumerate(cells) if c in ("PASS", "FAIL", "SKIPPED"))
  return cells[index], " ".join(cells[index + 1:])


def cpu_mixed_dtype():
  """What the check should run as the CPU's mixed variant here (None: SKIPPED)."""
  facts = precision.DeviceFacts("cpu", cpu_flags=precision.read_cpu_flags(),
                                onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
                                platform=sys.platform)
  dtype, _ = precision.choose_compute_dtype(facts)
  return dtype if dtype == "bfloat16" else None


def test_the_short_check_passes_on_the_cpu_and_names_what_it_skipped():
  status, output, errors = run_check("--short", script="scripts/accelerator_check.sh")
  assert status == 0, (output + errors)[-3000:]
  rows = table_rows(output)
  mixed = cpu_mixed_dtype()
  expected = {("CPU", "float32", "OneDevice(1)"), ("CPU", "xla_float32", "OneDevice(1)"),
              ("CPU", f"mixed_{mixed}" if mixed else "mixed", "OneDevice(1)"),
              ("CPU", "all", "Mirrored"), ("GPU", "all", "-"), ("TPU", "all", "-")}
  assert len(rows) == len(expected), output[-3000:]
  assert set(rows) == expected
  for key in (("CPU", "float32", "OneDevice(1)"), ("CPU", "xla_float32", "OneDevice(1)")):
    assert result_and_note(rows[key])[0] == "PASS", rows[key]
  mixed_result, mixed_note = result_and_note(rows[("CPU", f"mixed_{mixed}" if mixed else
                                                   "mixed", "OneDevice(1)")])
  assert (mixed_result, bool(mixed_note)) == (("PASS", False) if mixed else ("SKIPPED", True))
  # The reference row: step time, throughput, MFU, zero delta, the float32 bound.
  reference = rows[("CPU", "float32", "OneDevice(1)")]
  assert float(reference[3]) > 0 and float(reference[4]) > 0
  assert reference[5].endswith("%") and float(reference[5][:-1]) > 0
  assert (float(reference[6]), reference[7]) == (0.0, "1e-04")
  assert result_and_note(rows[("CPU", "xla_float32", "OneDevice(1)")])[0] == "PASS"
  assert 0 <= float(rows[("CPU", "xla_float32", "OneDevice(1)")][6]) <= 1e-4
  assert result_and_note(rows[("GPU", "all", "-")]) == (
      "SKIPPED", "no GPU found: GPU rows skipped")
  assert result_and_note(rows[("TPU", "all", "-")])[0] == "SKIPPED"
  assert "no TPU found" in result_and_note(rows[("TPU", "all", "-")])[1]
  assert "bounds on max |loss - CPU float32 loss|: float32 0.0001, bfloat16 0.05, " \
         "float16 0.01" in output
  assert output.rstrip().splitlines()[-1] == (
      "PASS: 3 PASS, 0 FAIL, 3 SKIPPED" if mixed else "PASS: 2 PASS, 0 FAIL, 4 SKIPPED")


def test_a_perturbed_mirrored_run_fails_and_the_check_exits_1():
  status, output, errors = run_check("--short", "--cpu_devices=2", "--variants=float32",
                                     "--perturb=float32")
  assert status == 1, (output + errors)[-3000:]
  rows = table_rows(output)
  assert set(rows) == {("CPU", "float32", "OneDevice(1)"), ("CPU", "float32", "Mirrored(2)"),
                       ("GPU", "all", "-"), ("TPU", "all", "-")}
  # The reference is never perturbed; the mirrored run (2 replicas) is.
  assert result_and_note(rows[("CPU", "float32", "OneDevice(1)")]) == (
      "PASS", "the reference")
  mirrored = rows[("CPU", "float32", "Mirrored(2)")]
  result, note = result_and_note(mirrored)
  assert result == "FAIL" and note.startswith("losses ")
  assert float(mirrored[6]) > 1e-4
  assert output.rstrip().splitlines()[-1] == "FAIL: 1 PASS, 1 FAIL, 2 SKIPPED"


def test_bad_flags_are_one_line_and_exit_1():
  status, output, errors = run_check("--steps=1")
  assert status == 1
  assert errors.strip().splitlines()[-1] == (
      "accelerator_check: --steps=1: needs 2 or more (the first step traces and compiles, "
      "and is not timed).")
  assert "device  variant" not in output
