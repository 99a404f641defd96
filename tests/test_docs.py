"""The README and docs/ as a user reads them: every command names programs, scripts and
flags that exist, the README stays a front door, and its code-map example trains."""

import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import modeling
import training

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").glob("*.md"))
# Commands of other tools that the docs show (installing, viewing, serving).
OTHER_TOOLS = {".", "source", "pip", "tensorboard", "tensorflow_model_server", "curl", "echo", "export",
               "python3", "cd", "git", "tar", "/usr/bin/time"}
# Official scorers take positional arguments only.
POSITIONAL_ONLY = {"squad_evaluate.py", "conlleval.py"}


def code_blocks(path, language):
  return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def commands(block):
  """The shell commands of a block: continuation lines joined, comments dropped."""
  joined = re.sub(r"\\\n\s*", " ", block)
  pending = ""
  for line in joined.splitlines():
    line = pending + line.split(" #")[0].strip()
    if not line or line.startswith("#"):
      continue
    try:
      shlex.split(line)
    except ValueError:   # a quoted value goes on over the next line
      pending = line + " "
      continue
    pending = ""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens, words_of_parts = list(lexer), [[]]
    for token in tokens:   # split at && and | outside quotes
      if token in ("&&", "|", ";"):
        words_of_parts.append([])
      else:
        words_of_parts[-1].append(token)
    for words in words_of_parts:
      while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):   # VAR=value prefix
        words.pop(0)
      if words:
        yield words


def documented_commands():
  """[(doc name, program path, [flag names])] of every python/bash command in the docs."""
  found = []
  for doc in DOCS:
    for block in code_blocks(doc, "bash"):
      for words in commands(block):
        tool, args = words[0], words[1:]
        if tool in ("python", "bash") and args:
          program, rest = args[0], args[1:]
          if "--" in rest:   # run_grid.py: what follows goes to --program
            rest = rest[:rest.index("--")]
          flags = sorted({a[2:].split("=")[0] for a in rest if a.startswith("--")})
          found.append((doc.name, program, flags))
        else:
          assert tool in OTHER_TOOLS or tool.startswith("bert-"), (doc.name, words)
  return found


def test_the_readme_is_a_front_door():
  text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
  lines = text.splitlines()
  assert len(lines) <= 300
  assert lines[0].startswith("# ")
  headings = [line for line in lines if line.startswith("## ")]
  assert headings[:2] == ["## Two commands", "## Contents"]
  two = code_blocks(REPO_ROOT / "README.md", "bash")[0].splitlines()
  assert len(two) == 2
  assert two[0].startswith("bash scripts/quickstart.sh") and two[1].startswith(
      "bash scripts/test.sh")
  for link in re.findall(r"\]\((docs/[^)#]+)", text):
    assert (REPO_ROOT / link).is_file(), link


def test_every_documented_command_names_an_existing_program_and_its_flags():
  found = documented_commands()
  programs = {program for _, program, _ in found}
  assert {"run_classifier.py", "run_squad.py", "run_ner.py", "run_multiple_choice.py",
          "inference.py", "export_savedmodel.py", "convert_checkpoint.py",
          "scripts/quickstart.sh", "scripts/test.sh"} <= programs
  for program in programs:
    assert (REPO_ROOT / program).is_file(), program
  for doc, program, _ in found:
    if program.endswith(".sh"):
      result = subprocess.run(["bash", "-n", str(REPO_ROOT / program)], capture_output=True,
                              text=True)
      assert result.returncode == 0, (doc, program, result.stderr)

  def help_text(program):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, str(REPO_ROOT / program), "--help"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)

  python_programs = sorted(p for p in programs if p.endswith(".py")
                           and Path(p).name not in POSITIONAL_ONLY)
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    helps = dict(zip(python_programs, pool.map(help_text, python_programs)))
  for doc, program, flags in found:
    if program not in helps:
      assert Path(program).name in POSITIONAL_ONLY or program.endswith(".sh"), program
      continue
    result = helps[program]
    assert result.returncode == 0, (program, result.stderr[-2000:])
    listed = set(re.findall(r"--(?:\[no\])?([a-z0-9_]+)", result.stdout + result.stderr))
    missing = [flag for flag in flags if flag not in listed]
    assert not missing, f"{doc}: {program} --help does not list {missing}"


def test_the_code_map_example_trains(tmp_path):
  blocks = code_blocks(REPO_ROOT / "README.md", "python")
  assert len(blocks) == 1
  namespace = {}
  exec(compile(blocks[0], "README.md", "exec"), namespace)   # pylint: disable=exec-used
  config = modeling.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32,
                               max_position_embeddings=32)
  task = namespace["MeanPoolClassifierTask"](config, 3)
  rng = np.random.default_rng(0)
  lengths = rng.integers(3, 12, 32)
  mask = (np.arange(12)[None, :] < lengths[:, None]).astype(np.int32)
  labels = rng.integers(0, 3, 32).astype(np.int32)
  ids = (rng.integers(5, 40, (32, 12)) * mask).astype(np.int32)
  ids[:, 1] = 5 + labels * 10    # the label is readable from the tokens
  arrays = {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(mask),
            "label_ids": labels}
  trainer = training.Trainer(task, training.TrainingConfig(
      output_dir=str(tmp_path), num_train_steps=40, learning_rate=5e-3, num_warmup_steps=2,
      train_batch_size=16, save_checkpoints_steps=40, log_every_steps=40, seed=3))
  trainer.restore(None)
  before = float(task.loss(arrays, False, None))
  trainer.train(lambda: tf.data.Dataset.from_tensor_slices(arrays), 32)
  after = float(task.loss(arrays, False, None))
  assert after < before - 0.3, (before, after)
  assert set(task.variables()) >= {"output_weights", "output_bias",
                                   "bert/embeddings/word_embeddings"}
  probabilities = task.predict(arrays)["probabilities"].numpy()
  assert probabilities.shape == (32, 3)
  np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_link_only_to_files_that_exist(doc):
  text = doc.read_text(encoding="utf-8")
  for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
    assert (doc.parent / link).exists(), f"{doc.name}: {link}"
