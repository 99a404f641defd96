"""Repository hygiene: no unpickling anywhere, and paths from flags used as given.

Pickle-based loaders (pickle, joblib, torch.load, np.load with pickles allowed)
run code stored in the file they read; a checkpoint, vocabulary or data file
from the internet must never be able to do that. The checks parse every .py
file of the repository (not just grep it), so an alias (`import pickle as p`)
or a missing `allow_pickle=False` is caught and a mention in a comment or a
string is not.

Output and input paths given by flags must be used as given: relative to the
working directory, never moved under a folder of the script's choosing.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Modules whose loaders unpickle (or unmarshal) what they read.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal"}
# Loaders of otherwise useful modules that unpickle: {module: names}. (The
# benchmark scripts run PyTorch peers; they must not torch.load files.)
UNSAFE_NAMES = {"torch": {"load"}, "pandas": {"read_pickle"}, "numpy": {"load"}}
# Calls that unpickle: (module alias as written, attribute).
UNSAFE_CALLS = {("pd", "read_pickle"), ("pandas", "read_pickle"), ("torch", "load")}
NUMPY_NAMES = {"np", "numpy"}


def repository_python_files(root=REPO_ROOT):
  """Every .py file of the repository, outside hidden and generated folders."""
  files = []
  for folder, subfolders, names in os.walk(root):
    subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in (
        "__pycache__", "node_modules", "build", "dist", "out", "tmp") and
        not d.endswith(".egg-info"))
    files.extend(Path(folder) / n for n in sorted(names) if n.endswith(".py"))
  return files


def _dotted(node):
  """`np.load` -> ("np", "load"); None for anything but a name.attribute call."""
  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
    return node.value.id, node.attr
  return None


def unsafe_loads(source, filename="<source>"):
  """Lines of `source` that import an unpickling module or call an unpickling loader.

  Returns:
    list of "file:line: what" strings (empty if the source is clean).
  """
  problems = []
  for node in ast.walk(ast.parse(source, filename)):
    where = f"{filename}:{getattr(node, 'lineno', 0)}"
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.split(".")[0] in UNSAFE_MODULES:
          problems.append(f"{where}: import {alias.name}")
    elif isinstance(node, ast.ImportFrom):
      module = (node.module or "").split(".")[0]
      if module in UNSAFE_MODULES:
        problems.append(f"{where}: from {node.module} import ...")
      for alias in node.names:
        if alias.name in UNSAFE_NAMES.get(module, ()):
          problems.append(f"{where}: from {module} import {alias.name}")
    elif isinstance(node, ast.Call):
      call = _dotted(node.func)
      if call in UNSAFE_CALLS:
        problems.append(f"{where}: {call[0]}.{call[1]}(...)")
      elif call and call[0] in NUMPY_NAMES and call[1] == "load":
        allow = [k.value for k in node.keywords if k.arg == "allow_pickle"]
        if not (allow and isinstance(allow[0], ast.Constant) and allow[0].value is False):
          problems.append(f"{where}: {call[0]}.load(...) without allow_pickle=False")
      elif (isinstance(node.func, ast.Name) and node.func.id == "__import__" or
            call in (("importlib", "import_module"),)):
        names = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if any(str(n).split(".")[0] in UNSAFE_MODULES for n in names):
          problems.append(f"{where}: dynamic import of {names[0]}")
  return problems


def escaping_paths(source, filename="<source>"):
  """Lines that change the working directory or join a path that climbs out (`..`).

  Either would make a relative path from a flag resolve somewhere other than
  where the user ran the command.
  """
  tree = ast.parse(source, filename)
  # A flag's default (flags.DEFINE_string("data_dir", "../data", ...)) is not a
  # path from a flag: what the user passes replaces it, as given.
  defaults = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.Call) and
              getattr(node.func, "attr", getattr(node.func, "id", "")).startswith("DEFINE")
              for inner in ast.walk(node)}
  problems = []
  for node in ast.walk(tree):
    if not isinstance(node, ast.Call) or id(node) in defaults:
      continue
    where = f"{filename}:{node.lineno}"
    call = _dotted(node.func)
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
        node.func, "id", None)
    if call in (("os", "chdir"),) or name == "chdir":
      problems.append(f"{where}: chdir")
    if name in ("join", "Path", "PurePath"):
      for arg in node.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and (
            ".." in Path(arg.value).parts):
          problems.append(f"{where}: path {arg.value!r} climbs out of its folder")
  return problems


# ----------------------------------------------------------------- the checkers


@pytest.mark.parametrize("source", [
    "import pickle\n",
    "import cPickle as p\n",
    "from joblib import load\n",
    "import torch\nstate = torch.load('model.bin')\n",
    "from torch import load\n",
    "from pickle import loads\n",
    "import numpy as np\nx = np.load('a.npy')\n",
    "import numpy as np\nx = np.load('a.npz', allow_pickle=True)\n",
    "import numpy\nx = numpy.load(path, allow_pickle=flag)\n",
    "from numpy import load\n",
    "import pandas as pd\nd = pd.read_pickle(p)\n",
    "m = __import__('pickle')\n",
    "import importlib\nm = importlib.import_module('dill')\n",
])
def test_the_checker_finds_unpickling(source):
  assert unsafe_loads(source), source


@pytest.mark.parametrize("source", [
    "import numpy as np\nx = np.load('a.npy', allow_pickle=False)\n",
    "# pickle.load is never used\ns = 'torch.load'\n",
    "pickle_like = 'pytorch_model.bin'\n",
    "import json\njson.load(f)\n",
    "import torch\nx = torch.from_numpy(a)\n",
])
def test_the_checker_accepts_safe_code(source):
  assert unsafe_loads(source) == []


def test_the_path_checker_finds_chdir_and_climbing_joins():
  assert escaping_paths("import os\nos.chdir(FLAGS.output_dir)\n")
  assert escaping_paths("import os\np = os.path.join(FLAGS.output_dir, '..', 'x')\n")
  assert escaping_paths("p = Path('../shared/data')\n")
  assert escaping_paths("p = os.path.join(out, 'eval.tf_record')\n") == []
  assert escaping_paths("flags.DEFINE_string('d', os.path.join(HERE, '..', 'd'), 'h')\n") == []


# ----------------------------------------------------------------- the repository


def test_repository_files_are_found():
  names = {p.relative_to(REPO_ROOT).as_posix() for p in repository_python_files()}
  assert {"run_classifier.py", "checkpoint_utils.py", "tests/test_hygiene.py"} <= names
  assert not any(n.startswith(".") for n in names)


def test_no_code_unpickles_or_loads_numpy_files_with_pickles_allowed():
  problems = []
  for path in repository_python_files():
    problems += unsafe_loads(path.read_text(encoding="utf-8"),
                             str(path.relative_to(REPO_ROOT)))
  assert problems == []


def test_no_script_changes_directory_or_climbs_out_of_a_folder():
  problems = []
  for path in repository_python_files():
    if path.parent.name == "tests":
      continue   # the test helpers run commands in folders of their own
    problems += escaping_paths(path.read_text(encoding="utf-8"),
                               str(path.relative_to(REPO_ROOT)))
  assert problems == []


def test_relative_paths_with_dotdot_are_used_as_given(tmp_path):
  """create_pretraining_data.py and squad_evaluate.py (no TensorFlow) from a subfolder."""
  work, data = tmp_path / "work" / "here", tmp_path / "data"
  for folder in (work, data, tmp_path / "outputs"):
    folder.mkdir(parents=True)
  (data / "vocab.txt").write_text("\n".join(
      ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "dog", "ran", "."]))
  (data / "corpus.txt").write_text("the cat sat .\nthe dog ran .\n\nthe dog sat .\nthe cat ran .\n")
  qa = {"id": "q", "question": "who sat ?", "answers": [{"text": "the cat", "answer_start": 0}]}
  squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": "the cat sat .", "qas": [qa]}]}]}
  (data / "dev.json").write_text(json.dumps(squad))
  (data / "predictions.json").write_text('{"q": "the cat"}')
  env = dict(os.environ)
  env.pop("BERT_DEBUG", None)
  commands = [
      [str(REPO_ROOT / "create_pretraining_data.py"), "--input_file=../../data/corpus.txt",
       "--vocab_file=../../data/vocab.txt", "--output_file=../../outputs/examples.tfrecord",
       "--max_seq_length=12", "--max_predictions_per_seq=2", "--dupe_factor=1"],
      [str(REPO_ROOT / "squad_evaluate.py"), "../../data/dev.json", "../../data/predictions.json",
       "--out_file=../../outputs/new_folder/eval.json"],
  ]
  for command in commands:
    result = subprocess.run([sys.executable] + command, cwd=work, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
  written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                   if p.is_file() and "data" not in p.parts)
  assert written == ["outputs/examples.tfrecord", "outputs/new_folder/eval.json"]


# ----------------------------------------------------------------- the layering
#
# Programs (files that run as commands) may import the library; nothing imports
# a program, and nothing patches sys.path: what two programs need goes into the
# library, so one program's flags and start-up never become another's.

# Modules with a command line of their own that others may import, and why.
IMPORTABLE_PROGRAMS = {
    # The ports of the official scorers are the definition of their metrics: the
    # library scores with them, and they keep the official scripts' command line.
    "conlleval.py": "official CoNLL scorer",
    "squad_evaluate.py": "official SQuAD / CMRC scorer",
}
# Files that may change sys.path, and why.
SYS_PATH_ALLOWED = {
    # pytest's root module: the tests import the checkout's modules.
    "tests/conftest.py": "the tests import the checkout, installed or not",
    # Forked children run a program as `python program.py` would: sys.path[0]
    # is the program's folder.
    "tests/cli_forkserver.py": "emulates `python program.py` in forked children",
}


def is_program(source):
  """True when a module runs as a command (has an `if __name__ == "__main__":` block)."""
  for node in ast.parse(source).body:
    if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and
        isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
      return True
  return False


def imported_modules(source):
  """(line, top-level module name) of every import statement, nested ones included."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      found.append((node.lineno, node.module.split(".")[0]))
  return found


def sys_path_changes(source):
  """Lines that change sys.path (insert, append, extend, assignment, +=)."""
  lines = []
  for node in ast.walk(ast.parse(source)):
    targets = []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
      targets = [node.func.value] if node.func.attr in (
          "insert", "append", "extend", "__setitem__") else []
    elif isinstance(node, (ast.Assign, ast.AugAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      targets = [t.value if isinstance(t, ast.Subscript) else t for t in targets]
    for target in targets:
      if (isinstance(target, ast.Attribute) and target.attr == "path" and
          isinstance(target.value, ast.Name) and target.value.id == "sys"):
        lines.append(node.lineno)
  return lines


def _programs():
  """Module name -> file of every program of the repository (root and scripts/)."""
  programs = {}
  for path in repository_python_files():
    relative = path.relative_to(REPO_ROOT).as_posix()
    if relative.startswith("tests/") or relative in IMPORTABLE_PROGRAMS:
      continue
    if is_program(path.read_text(encoding="utf-8")):
      programs[path.stem] = relative
  return programs


def test_the_layering_checkers():
  assert is_program('import x\n\nif __name__ == "__main__":\n  main()\n')
  assert not is_program("def main():\n  pass\n")
  assert imported_modules("import a.b as c\nfrom d import e\ndef f():\n  import g\n") == [
      (1, "a"), (2, "d"), (4, "g")]
  assert sys_path_changes("import sys\nsys.path.insert(0, 'x')\n") == [2]
  assert sys_path_changes("import sys\nsys.path[:0] = ['x']\n") == [2]
  assert sys_path_changes("import sys\nsys.path += ['x']\nsys.path.append('y')\n") == [2, 3]
  assert sys_path_changes("import sys\nprint(sys.path)\nx.path.append(1)\n") == []


def test_programs_are_found():
  programs = _programs()
  assert {"run_classifier", "run_squad", "inference", "export_savedmodel",
          "create_pretraining_data", "benchmark"} <= set(programs)
  assert "training" not in programs and "conlleval" not in programs


def test_no_module_imports_a_program():
  programs = _programs()
  problems = []
  for path in repository_python_files():
    relative = path.relative_to(REPO_ROOT).as_posix()
    if relative.startswith("tests/"):
      continue   # tests exercise the programs
    for line, module in imported_modules(path.read_text(encoding="utf-8")):
      if module in programs and programs[module] != relative:
        problems.append(f"{relative}:{line} imports the program {programs[module]}")
  assert problems == []


def test_nothing_patches_sys_path():
  problems = []
  for path in repository_python_files():
    relative = path.relative_to(REPO_ROOT).as_posix()
    if relative in SYS_PATH_ALLOWED:
      continue
    problems += [f"{relative}:{line}" for line in
                 sys_path_changes(path.read_text(encoding="utf-8"))]
  assert problems == []


def test_library_modules_do_not_read_flags():
  """Only programs touch absl FLAGS, and the plumbing they share to parse them.

  cli.py defines the shared training flags and turns them into a config;
  errors.run_program parses every program's command line.
  """
  programs = set(_programs().values()) | set(IMPORTABLE_PROGRAMS) | {"cli.py", "errors.py"}
  problems = []
  for path in sorted(REPO_ROOT.glob("*.py")):
    if path.name in programs:
      continue
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      if isinstance(node, ast.Name) and node.id == "FLAGS" or (
          isinstance(node, ast.Attribute) and node.attr == "FLAGS"):
        problems.append(f"{path.name}:{node.lineno}")
  assert problems == []


def test_the_package_installs_every_module_and_command():
  """pyproject.toml lists every root module, and each command's entry point exists."""
  import tomllib  # pylint: disable=g-import-not-at-top (Python 3.11+)
  project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
  modules = project["tool"]["setuptools"]["py-modules"]
  assert sorted(modules) == sorted(p.stem for p in REPO_ROOT.glob("*.py"))
  scripts = project["project"]["scripts"]
  assert len(scripts) == 12
  for command, target in scripts.items():
    module, function = target.split(":")
    source = (REPO_ROOT / f"{module}.py").read_text(encoding="utf-8")
    assert f"def {function}():" in source, command
    assert command == "bert-" + module.replace("_", "-")
