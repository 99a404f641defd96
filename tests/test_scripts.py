"""The shell scripts: they never delete a folder they did not make."""

import os
import subprocess
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
