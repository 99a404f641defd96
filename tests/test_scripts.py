"""The shell scripts: they never delete a folder they did not make; the shipped demo files."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FRESH = ('source <(sed -n "/^fresh_output_dir()/,/^}/p" scripts/setup_env.sh); '
         'fresh_output_dir "$1"')


def fresh_output_dir(path):
  return subprocess.run(["bash", "-c", FRESH, "fresh", str(path)], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=60)


def test_a_new_folder_is_made_and_marked(tmp_path):
  done = fresh_output_dir(tmp_path / "a" / "out")
  assert done.returncode == 0, done.stderr
  assert sorted(os.listdir(tmp_path / "a" / "out")) == [".made-by-bert-scripts"]


def test_a_folder_the_scripts_made_is_emptied(tmp_path):
  out = tmp_path / "out"
  assert fresh_output_dir(out).returncode == 0
  (out / "eval_results.txt").write_text("x")
  (out / "train").mkdir()
  (out / "train" / "events").write_text("x")
  done = fresh_output_dir(out)
  assert done.returncode == 0, done.stderr
  assert sorted(os.listdir(out)) == [".made-by-bert-scripts"]


def test_a_users_folder_is_left_alone(tmp_path):
  out = tmp_path / "mine"
  out.mkdir()
  (out / "thesis.tex").write_text("three years of work")
  done = fresh_output_dir(out)
  assert done.returncode == 1
  assert "holds files this script did not make; set OUT to a new folder" in done.stderr
  assert sorted(os.listdir(out)) == ["thesis.tex"]
  assert (out / "thesis.tex").read_text() == "three years of work"
  empty = tmp_path / "empty"
  empty.mkdir()
  assert fresh_output_dir(empty).returncode == 0


def test_the_quickstart_stops_before_any_work_on_a_users_folder(tmp_path):
  out = tmp_path / "mine"
  out.mkdir()
  (out / "notes.txt").write_text("keep me")
  env = dict(os.environ, OUT=str(out), BERT_VENV=os.environ.get(
      "BERT_VENV", str(REPO_ROOT / ".venv")))
  done = subprocess.run(["bash", "scripts/quickstart.sh"], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=1800)
  assert done.returncode == 1, done.stderr[-2000:]
  assert "quickstart.sh: " in done.stderr and "did not make" in done.stderr
  assert sorted(os.listdir(out)) == ["notes.txt"]
  assert (out / "notes.txt").read_text() == "keep me"


def test_the_package_installs_with_its_commands(tmp_path):
  """`pip install .` puts every module and the bert-* commands in place (deps aside)."""
  target = tmp_path / "site"
  done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                         "--disable-pip-version-check", "--target", str(target),
                         str(REPO_ROOT)], cwd=tmp_path, capture_output=True, text=True,
                        timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  modules = sorted(p.stem for p in target.glob("*.py"))
  assert modules == sorted(p.stem for p in REPO_ROOT.glob("*.py"))
  command = target / "bin" / "bert-run-classifier"
  assert command.is_file()
  env = dict(os.environ, PYTHONPATH=str(target))
  helped = subprocess.run([str(command), "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
  assert helped.returncode == 0, helped.stderr[-3000:]
  assert "flags of bert-run-classifier:" in helped.stdout
  assert "  --init_checkpoint:" in helped.stdout and "  --task_name:" in helped.stdout


def test_the_demo_corpus_regenerates_byte_for_byte(tmp_path):
  """scripts/pretrain_corpus.txt is what make_demo_corpus.py writes from its tables."""
  out = tmp_path / "corpus.txt"
  done = subprocess.run([sys.executable, "scripts/make_demo_corpus.py", f"--output={out}"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  shipped = (REPO_ROOT / "scripts" / "pretrain_corpus.txt").read_bytes()
  assert len(shipped) > 50_000
  assert out.read_bytes() == shipped


def test_the_scripts_log_filters_keep_the_results_line(tmp_path, monkeypatch):
  """quickstart.sh and pretrain_demo.sh show a run's results through `grep -E`."""
  import re
  import training
  logged = []   # absl's verbosity is whatever earlier tests left: take the lines at the call
  monkeypatch.setattr(training.logging, "info", lambda fmt, *args: logged.append(fmt % args))
  training.report_results(str(tmp_path), {"eval_accuracy": 0.5, "global_step": 3},
                          chief=False)
  results_lines = [line for line in logged if "eval_accuracy" in line]
  assert len(results_lines) == 1
  filters = []
  for script in ("quickstart.sh", "pretrain_demo.sh"):
    filters += [pattern for pattern in re.findall(
        r'grep -E "([^"]+)"', (REPO_ROOT / "scripts" / script).read_text())
                if "Summary:" not in pattern]    # create_pretraining_data's log
  assert len(filters) == 3
  for pattern in filters:
    done = subprocess.run(["grep", "-E", pattern], input=results_lines[0] + "\n",
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == results_lines[0], pattern
