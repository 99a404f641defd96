"""Shared pytest helpers: where the shared data lives, repo root on sys.path."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))

# The repo is checked out beside ../shared (/work/main -> /work/shared);
# BERT_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get(
    "BERT_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture
def shared_dir():
  """Path of the shared directory (data/, fixtures/); skips if it is absent."""
  if not SHARED_DIR.is_dir():
    pytest.skip("shared data directory %s not found; set BERT_SHARED_DIR"
                % SHARED_DIR)
  return SHARED_DIR
