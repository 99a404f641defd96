"""Tests of run_ner.py and conlleval.py: features, windows, entity scores, real data, CLI runs.

Feature and window tests use hand-built vocabularies and hand-computed ids.
conlleval tests use crafted tag sequences with hand-computed counts. The CLI
runs train a tiny random BERT (hidden 16, 4 heads, intermediate 37, 2 layers)
with the real uncased vocabulary on the first sentences of the real CoNLL-2003
and WeiboNER files; both start at once (the test machine has two cores).
"""

import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import conlleval
import errors
import modeling
import ner_data
import run_ner
import windows
import tokenization
from conftest import SHARED_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO_ROOT / "run_ner.py")
DATA = SHARED_DIR / "data"
CONLL_LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG",
                "I-PER"]
# Odd sizes so that a swapped dimension cannot go unnoticed; the real vocab size.
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
MAX_SEQ_LENGTH = 32
CLS_ID, SEP_ID, UNK_ID = 101, 102, 100   # in the uncased vocab


def make_tokenizer(tmp_path, tokens, do_lower_case=True):
  path = tmp_path / "vocab.txt"
  path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
  return tokenization.FullTokenizer(str(path), do_lower_case)


def sentence_blocks(path):
  """[(token, tag, line)] per sentence of a CoNLL file, read independently of run_ner."""
  blocks, current = [], []
  for line in Path(path).read_text(encoding="utf-8").split("\n"):
    fields = line.split()
    if not fields or fields[0] == "-DOCSTART-":
      if current:
        blocks.append(current)
      current = []
    else:
      current.append((fields[0], fields[-1], line))
  if current:
    blocks.append(current)
  return blocks


def copy_sentences(source, target, count):
  """Copies the lines of the first `count` sentences of a CoNLL file, bytes unchanged."""
  lines = Path(source).read_bytes().split(b"\n")
  seen, end, in_sentence = 0, len(lines), False
  for index, line in enumerate(lines):
    blank = not line.strip() or line.startswith(b"-DOCSTART-")
    if in_sentence and blank:
      seen += 1
      if seen == count:
        end = index + 1
        break
    in_sentence = not blank
  Path(target).parent.mkdir(parents=True, exist_ok=True)
  Path(target).write_bytes(b"\n".join(lines[:end]) + b"\n")


# ---------------------------------------------------------------- features


def test_label_on_first_piece_of_each_word(tmp_path):
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "john", "un", "##aff", "##able", "new",
           "york", "##er", "u", ".", "s", "lives"]
  tokenizer = make_tokenizer(tmp_path, vocab)
  # "\ufffd" is cleaned away by the tokenizer: the word must still get [UNK].
  words = ["John", "unaffable", "New", "Yorker", "U.S.", "\ufffd"]
  tags = ["B-PER", "O", "B-MISC", "I-MISC", "B-LOC", "O"]
  label_list = ["O", "B-LOC", "B-MISC", "B-PER", "I-MISC"]
  label_map = {t: i for i, t in enumerate(label_list)}
  windows = ner_data.convert_sentence(words, tags, label_map, 16, 7, tokenizer)
  assert len(windows) == 1
  features, word_index = windows[0]
  # [CLS] john un ##aff ##able new york ##er u . s . [UNK] [SEP] pad pad
  assert features["input_ids"] == [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 12, 1, 3, 0, 0]
  assert features["input_mask"] == [1] * 14 + [0] * 2
  assert features["segment_ids"] == [0] * 16
  assert features["label_ids"] == [0, 3, 0, 0, 0, 2, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]
  assert features["label_mask"] == [0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
  assert word_index == [-1, 0, 1, -1, -1, 2, 3, -1, 4, -1, -1, -1, 5, -1, -1, -1]
  sentence = ner_data.Sentence(words, words, tags, list(range(1, 7)))
  converted = ner_data.convert_sentences([sentence], label_list, 16, 7, tokenizer)
  # Gold ids as predictions decode back to the gold tags, one per word.
  assert ner_data.decode(converted.arrays["label_ids"], converted, [sentence],
                        label_list) == [tags]


def test_long_sentence_windows_hand_computed(tmp_path):
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(7)]
  tokenizer = make_tokenizer(tmp_path, vocab)
  words = [f"w{i}" for i in range(7)]
  tags = ["O", "B-X", "I-X", "O", "B-X", "O", "B-X"]
  label_map = {"O": 0, "B-X": 1, "I-X": 2}
  # 4 pieces a window, stride 2: windows at pieces 0-3, 2-5, 4-6. Most context:
  # w2 is at offset 2 of 0-3 (1 right) vs offset 0 of 2-5: window 0 (score 1.04);
  # w3: 3 of 0-3 (0) vs 1 of 2-5 (1): window 1; w4: 2 of 2-5 (1) vs 0 of 4-6 (0):
  # window 1; w5: 3 of 2-5 (0) vs 1 of 4-6 (1): window 2.
  windows = ner_data.convert_sentence(words, tags, label_map, 6, 2, tokenizer)
  assert [w[0]["input_ids"] for w in windows] == [
      [2, 4, 5, 6, 7, 3], [2, 6, 7, 8, 9, 3], [2, 8, 9, 10, 3, 0]]
  assert [w[0]["input_mask"] for w in windows] == [[1] * 6, [1] * 6, [1] * 5 + [0]]
  assert [w[1] for w in windows] == [[-1, 0, 1, 2, -1, -1], [-1, -1, 3, 4, -1, -1],
                                     [-1, -1, 5, 6, -1, -1]]
  assert [w[0]["label_mask"] for w in windows] == [[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0],
                                                   [0, 0, 1, 1, 0, 0]]
  assert [w[0]["label_ids"] for w in windows] == [[0, 0, 1, 2, 0, 0], [0, 0, 0, 1, 0, 0],
                                                  [0, 0, 0, 1, 0, 0]]
  # Each window predicts its own number: each word must come from its window.
  sentence = ner_data.Sentence(words, words, ["A"] * 7, list(range(1, 8)))
  features = ner_data.convert_sentences([sentence], ["A", "B", "C"], 6, 2, tokenizer)
  predictions = np.repeat(np.arange(3)[:, None], 6, axis=1)
  assert ner_data.decode(predictions, features, [sentence], ["A", "B", "C"]) == [
      ["A", "A", "A", "B", "B", "C", "C"]]


def test_window_cut_inside_a_word(tmp_path):
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##d", "##e", "f", "g"]
  tokenizer = make_tokenizer(tmp_path, vocab)
  # Pieces a b c ##d ##e f g; windows 0-3, 2-5, 4-6. The first piece of "cde"
  # (position 2) has more context in window 0; f (5) in window 2: window 1
  # scores no word at all and window 2 starts inside "cde".
  windows = ner_data.convert_sentence(["a", "b", "cde", "f", "g"], ["O"] * 5, {"O": 0}, 6, 2,
                                     tokenizer)
  assert [w[0]["input_ids"] for w in windows] == [
      [2, 4, 5, 6, 7, 3], [2, 6, 7, 8, 9, 3], [2, 8, 9, 10, 3, 0]]
  assert [w[1] for w in windows] == [[-1, 0, 1, 2, -1, -1], [-1] * 6,
                                     [-1, -1, 3, 4, -1, -1]]


def test_every_word_scored_once_with_most_context(tmp_path):
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "##x"]
  tokenizer = make_tokenizer(tmp_path, vocab)
  rng = random.Random(7)
  for _ in range(200):
    words = ["x" * rng.randint(1, 4) for _ in range(rng.randint(1, 40))]
    max_seq_length = rng.randint(3, 14)
    stride = rng.randint(1, max_seq_length - 2)
    rows = ner_data.convert_sentence(words, ["O"] * len(words), {"O": 0},
                                       max_seq_length, stride, tokenizer)
    first_piece = np.cumsum([0] + [len(w) for w in words])[:-1]
    starts = windows.spans(int(sum(len(w) for w in words)), max_seq_length - 2, stride)
    assert starts[0][0] == 0 and sum(starts[-1]) == sum(len(w) for w in words)
    scored = {}
    for index, (features, word_index) in enumerate(rows):
      for column, word in enumerate(word_index):
        assert (word >= 0) == bool(features["label_mask"][column])
        if word >= 0:
          assert word not in scored
          scored[word] = (index, column)
    assert sorted(scored) == list(range(len(words)))
    for word, (index, column) in scored.items():
      start, length = starts[index]
      assert column - 1 == first_piece[word] - start   # the word's first piece
      context = min(column - 1, length - column)
      for other_start, other_length in starts:
        offset = first_piece[word] - other_start
        if 0 <= offset < other_length:
          assert context >= min(offset, other_length - 1 - offset)


def test_read_conll_columns_separators_and_docstart(tmp_path):
  path = tmp_path / "mixed.txt"
  path.write_bytes(b"-DOCSTART- -X- -X- O\r\n\r\nEU NNP B-NP B-ORG\r\nrejects VBZ O\r\n\r\n"
                   b"\r\n\xe5\x8c\x97\tx\tB-LOC\n\xe4\xba\xac\tI-LOC\n-DOCSTART- O\nSolo  O")
  sentences = ner_data.read_conll(str(path))
  assert [s.words for s in sentences] == [["EU", "rejects"], ["北", "京"], ["Solo"]]
  assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-LOC", "I-LOC"], ["O"]]
  assert [s.line_numbers for s in sentences] == [[3, 4], [7, 8], [10]]
  weibo = tmp_path / "weiboNER_2nd_conll.dev"
  weibo.write_text("我0\tO\n.10\tO\n\ufffd\ufffd0\tO\n12\tO\n", encoding="utf-8")
  sentence, = ner_data.read_conll(str(weibo))
  assert sentence.words == ["我", ".", "\ufffd\ufffd", "1"]
  assert sentence.tokens == ["我0", ".10", "\ufffd\ufffd0", "12"]
  assert ner_data.read_conll(str(weibo), strip_digits=False)[0].words == sentence.tokens
  assert ner_data.collect_labels(sentences) == ["O", "B-LOC", "B-ORG", "I-LOC"]


def test_a_line_with_other_columns_than_the_first_is_named_in_a_warning(tmp_path, caplog):
  """A file cut off mid-line (`german JJ`) would read the tag JJ: the log names the line."""
  path = tmp_path / "train.txt"
  path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\ngerman JJ B-NP B-MISC\n"
                  "call NN I-NP O\n\nto TO B-PP O\nboycott VB\n", encoding="utf-8")
  caplog.set_level(logging.WARNING)
  sentences = ner_data.read_conll(str(path))
  assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-MISC", "O"], ["O", "VB"]]
  warnings = [r.getMessage() for r in caplog.records if "columns" in r.getMessage()]
  assert len(warnings) == 1
  assert "train.txt, line 8 has 2 columns where line 1 has 4" in warnings[0]
  caplog.clear()
  path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", encoding="utf-8")
  assert len(ner_data.read_conll(str(path))) == 1
  assert not [r for r in caplog.records if "columns" in r.getMessage()]


@pytest.mark.parametrize("content, expected", [
    (b"EU\tB-ORG\nrejects\tO x\n", "line 2: the tag 'O x' holds a space"),
    ("EU\tB-ORG  \t\nrejects\t  B-MISC\u3000I\n".encode(),
     "line 2: the tag 'B-MISC\\u3000I' holds a space"),
    (b"EU B-ORG\rrejects O\r\rgerman B-MISC\r", "line 1: a carriage return (\\r) inside"),
])
def test_a_tag_with_a_space_or_a_bare_carriage_return_is_a_named_error(tmp_path, content,
                                                                        expected):
  path = tmp_path / "train.txt"
  path.write_bytes(content)
  with pytest.raises(errors.DataError) as error:
    ner_data.read_conll(str(path))
  assert str(error.value).startswith(f"{path}, {expected}")


# ---------------------------------------------------------------- conlleval


def scores(gold, predicted):
  return conlleval.evaluate(gold, predicted)


def test_conlleval_iob2_type_and_boundary_mismatch():
  gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"]]
  pred = [["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O"]]
  # Gold PER(0-1) LOC(3) ORG(5-6); predicted PER(0-1) ORG(3) ORG(5): only PER is
  # right (ORG(3) has the wrong type, ORG(5) the wrong end).
  s = scores(gold, pred)
  assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
  assert s["accuracy"] == pytest.approx(5 / 7)
  assert (s["precision_PER"], s["recall_PER"], s["f1_PER"]) == (1.0, 1.0, 1.0)
  assert (s["precision_LOC"], s["recall_LOC"], s["f1_LOC"]) == (0.0, 0.0, 0.0)
  assert (s["precision_ORG"], s["recall_ORG"], s["f1_ORG"]) == (0.0, 0.0, 0.0)
  counts = conlleval.count_chunks(gold, pred)
  assert conlleval.report(counts) == [
      "processed 7 tokens with 3 phrases; found: 3 phrases; correct: 1.",
      "accuracy:  71.43%; precision:  33.33%; recall:  33.33%; FB1:  33.33",
      "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0",
      "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
      "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1"]


def test_conlleval_iob1_chunks_start_with_i():
  gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
  pred = [["I-PER", "I-PER", "I-PER", "O", "B-LOC"]]
  # Gold PER(0-1) PER(2) LOC(4) (I- after O starts a chunk, B- splits two);
  # predicted PER(0-2) LOC(4): LOC is right, PER ends elsewhere.
  s = scores(gold, pred)
  assert (s["precision"], s["recall"]) == pytest.approx((1 / 2, 1 / 3))
  assert s["f1"] == pytest.approx(0.4)
  assert s["accuracy"] == pytest.approx(3 / 5)
  assert (s["precision_PER"], s["recall_PER"], s["f1_PER"]) == (0.0, 0.0, 0.0)
  assert (s["precision_LOC"], s["recall_LOC"], s["f1_LOC"]) == (1.0, 1.0, 1.0)


def test_conlleval_iobes():
  gold = [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "B-ORG", "E-ORG"], ["B-LOC", "E-LOC"]]
  pred = [["S-PER", "O", "B-LOC", "E-LOC", "S-LOC", "B-ORG", "E-ORG"], ["B-LOC", "E-LOC"]]
  # Gold PER LOC(2-4) ORG | LOC; predicted PER LOC(2-3) LOC(4) ORG | LOC.
  s = scores(gold, pred)
  assert (s["precision"], s["recall"]) == pytest.approx((3 / 5, 3 / 4))
  assert s["f1"] == pytest.approx(2 / 3)
  assert s["accuracy"] == pytest.approx(7 / 9)
  assert (s["precision_LOC"], s["recall_LOC"]) == pytest.approx((1 / 3, 1 / 2))
  assert s["f1_LOC"] == pytest.approx(0.4)
  # E after E starts a chunk of its own.
  s = scores([["B-LOC", "E-LOC", "O"]], [["B-LOC", "E-LOC", "E-LOC"]])
  assert (s["precision"], s["recall"]) == (0.5, 1.0)


def test_conlleval_bmes():
  gold = [["B-ORG", "M-ORG", "E-ORG", "S-NAME", "O", "B-TITLE", "E-TITLE"]]
  pred = [["B-ORG", "M-ORG", "E-ORG", "O", "O", "B-TITLE", "M-TITLE"]]
  # Gold ORG(0-2) NAME(3) TITLE(5-6); predicted ORG(0-2) TITLE(5-6, closed by
  # the end of the sentence): both right, NAME missed.
  s = scores(gold, pred)
  assert (s["precision"], s["recall"]) == pytest.approx((1.0, 2 / 3))
  assert s["f1"] == pytest.approx(0.8)
  assert s["accuracy"] == pytest.approx(5 / 7)
  assert (s["precision_NAME"], s["recall_NAME"], s["f1_NAME"]) == (0.0, 0.0, 0.0)
  assert s["f1_TITLE"] == 1.0


def test_conlleval_chunks_end_at_sentence_breaks():
  # One sentence: I-PER continues the chunk. Two sentences: two chunks.
  one = conlleval.count_chunks([["B-PER", "I-PER"]], [["B-PER", "I-PER"]])
  two = conlleval.count_chunks([["B-PER"], ["I-PER"]], [["B-PER"], ["I-PER"]])
  assert (one.gold_chunks, one.correct_chunks) == (1, 1)
  assert (two.gold_chunks, two.correct_chunks) == (2, 2)
  assert conlleval.split_tag("B-PER.NAM") == ("B", "PER.NAM")
  assert conlleval.split_tag("M-TITLE") == ("I", "TITLE")
  assert conlleval.split_tag("O") == ("O", "")


def test_conlleval_cli_reads_predictions_file(tmp_path):
  path = tmp_path / "predictions.txt"
  path.write_text("John NNP B-PER B-PER\nSmith NNP I-PER O\nlives VBZ O O\n\n"
                  "Paris NNP B-LOC B-LOC\n", encoding="utf-8")
  result = subprocess.run([sys.executable, str(REPO_ROOT / "conlleval.py"), str(path)],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines() == [
      "processed 4 tokens with 2 phrases; found: 2 phrases; correct: 1.",
      "accuracy:  75.00%; precision:  50.00%; recall:  50.00%; FB1:  50.00",
      "              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1",
      "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1"]


# ---------------------------------------------------------------- real data

# file: (sentences, tokens) as listed in shared/data/SOURCES.md.
REAL_FILES = {
    "CoNLL-2003/train.txt": (14041, 203621), "CoNLL-2003/valid.txt": (3250, 51362),
    "CoNLL-2003/test.txt": (3453, 46435),
    "WeiboNER/weiboNER_2nd_conll.train": (1350, None),
    "WeiboNER/weiboNER_2nd_conll.dev": (270, None),
    "WeiboNER/weiboNER_2nd_conll.test": (270, None),
    "ResumeNER/train.char.bmes": (3821, 124099), "ResumeNER/dev.char.bmes": (463, 13890),
    "ResumeNER/test.char.bmes": (477, 15100),
    "PeoplesDaily-NER/example.dev": (2318, 109870),
    "PeoplesDaily-NER/example.test": (4636, 219197),
    "MSRA-NER/msra_test_bio": (3442, 172601),
}


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_sets_load_as_they_are(shared_dir, name):
  path = shared_dir / "data" / name
  sentences = ner_data.read_conll(str(path))
  num_sentences, num_tokens = REAL_FILES[name]
  assert len(sentences) == num_sentences
  if num_tokens is not None:
    assert sum(len(s.words) for s in sentences) == num_tokens
  assert [[t for t, _, _ in b] for b in sentence_blocks(path)] == [s.tokens for s in sentences]
  assert [[g for _, g, _ in b] for b in sentence_blocks(path)] == [s.tags for s in sentences]
  if name.startswith("WeiboNER"):   # `我0` -> `我`; the emoji lost to U+FFFD stay together
    assert {len(w) for s in sentences for w in s.words} <= {1, 2}
    assert all(w == "\ufffd\ufffd" for s in sentences for w in s.words if len(w) == 2)
  else:
    assert all(s.words == s.tokens for s in sentences)
  prefixes = {tag[0] for s in sentences for tag in s.tags}
  if name.startswith("ResumeNER"):   # BMES (its test file has no S- tag)
    assert {"O", "B", "M", "E"} <= prefixes <= {"O", "B", "M", "E", "S"}
  else:
    assert prefixes == {"O", "B", "I"}


@pytest.mark.parametrize("folder, train, dev, test", [
    ("CoNLL-2003", "train.txt", "valid.txt", "test.txt"),
    ("WeiboNER", "weiboNER_2nd_conll.train", "weiboNER_2nd_conll.dev",
     "weiboNER_2nd_conll.test"),
    ("ResumeNER", "train.char.bmes", "dev.char.bmes", "test.char.bmes"),
    ("PeoplesDaily-NER", None, "example.dev", "example.test"),
    ("MSRA-NER", None, None, "msra_test_bio")])
def test_usual_file_names_found(shared_dir, folder, train, dev, test):
  data_dir = str(shared_dir / "data" / folder)
  for split, name in (("train", train), ("dev", dev), ("test", test)):
    if name:
      assert run_ner.resolve_data_file(data_dir, split) == os.path.join(data_dir, name)
    else:
      with pytest.raises(errors.UserError, match=f"no {split} file"):
        run_ner.resolve_data_file(data_dir, split)


# ---------------------------------------------------------------- bad input


def parse_flags(args):
  flag_values = flags.FlagValues()
  run_ner.define_flags(flag_values)
  flag_values(["run_ner.py"] + [str(a) for a in args])
  return flag_values


@pytest.fixture
def hand_model(tmp_path):
  """vocab.txt + bert_config.json of a tiny model (no checkpoint: errors come first)."""
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "eu", "rejects", "german"]
  (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
  (tmp_path / "bert_config.json").write_text(json.dumps(dict(TINY, vocab_size=len(tokens))))
  return tmp_path


GOOD = "EU B-ORG\nrejects O\nGerman B-MISC\n\n"
ERROR_CASES = {  # case: (train.txt bytes, dev.txt bytes, extra flags, texts of the message)
    "one column": (GOOD + "alone\n", GOOD, [], ["train.txt, line 5", "'alone'", "tag"]),
    "tag not in --labels": (GOOD, "EU B-ORG\n\nParis B-LOC\n", ["--labels=O,B-ORG,B-MISC"],
                            ["dev.txt, line 3", "'B-LOC'", "--labels", "O, B-ORG, B-MISC"]),
    "dev tag not in train": (GOOD, GOOD + "Paris B-LOC\n", [],
                             ["dev.txt, line 5", "'B-LOC'", "training file"]),
    "empty file": ("-DOCSTART- -X- O\n\n\n", GOOD, [], ["train.txt", "no sentences"]),
    "non-UTF-8": (GOOD, GOOD.encode() + b"Caf\xe9 O\n", [],
                  ["dev.txt, line 5", "UTF-8", "0xe9"]),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_bad_input_is_named_and_leaves_no_output(hand_model, tmp_path, case):
  train, dev, extra, expected = ERROR_CASES[case]
  data = tmp_path / "data"
  data.mkdir()
  for name, content in (("train.txt", train), ("dev.txt", dev)):
    (data / name).write_bytes(content if isinstance(content, bytes) else content.encode())
  out = tmp_path / "out"
  f = parse_flags([f"--data_dir={data}", f"--vocab_file={hand_model / 'vocab.txt'}",
                   f"--bert_config_file={hand_model / 'bert_config.json'}",
                   f"--output_dir={out}", f"--max_seq_length={MAX_SEQ_LENGTH}",
                   "--do_train", "--do_eval", *extra])
  with pytest.raises(ValueError) as error:
    run_ner.run(f)
  for text in expected:
    assert text in str(error.value)
  assert not out.exists()


def test_cli_error_is_one_line(hand_model, tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.txt").write_bytes(GOOD.encode() + b"\xff O\n")
  out = tmp_path / "out"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("BERT_DEBUG", None)
  result = subprocess.run(
      [sys.executable, SCRIPT, f"--data_dir={data}", f"--vocab_file={hand_model / 'vocab.txt'}",
       f"--bert_config_file={hand_model / 'bert_config.json'}", f"--output_dir={out}",
       f"--max_seq_length={MAX_SEQ_LENGTH}", "--do_train"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if "error:" in line]  # not TF's start-up notices
  assert errors == [f"run_ner.py: error: {data / 'train.txt'}, line 5: not valid UTF-8 "
                    "(byte 0xff); re-save the file as UTF-8, e.g. iconv -f GB18030 -t UTF-8."]
  assert not out.exists()


# ---------------------------------------------------------------- CLI runs


def tiny_checkpoint(folder, vocab_file, num_labels):
  """A random tiny BERT with a random head of large weights (its predictions vary)."""
  folder.mkdir(parents=True)
  shutil.copy(vocab_file, folder / "vocab.txt")
  (folder / "bert_config.json").write_text(json.dumps(TINY))
  model = modeling.BertModel(modeling.BertConfig.from_dict(TINY), seed=1)
  rng = np.random.default_rng(0)
  tensors = dict(model.variables_by_name(),
                 output_weights=rng.normal(size=(num_labels, 16)).astype(np.float32),
                 output_bias=np.zeros(num_labels, np.float32))
  checkpoint_utils.save_tensors(str(folder / "bert_model.ckpt"), tensors)
  return folder


def write_bert_ner_file(path, blocks):
  """Sentences in bert-chinese-ner's layout: `char label` lines, a blank line after each."""
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join("".join(f"{token} {tag}\n" for token, tag, _ in block) + "\n"
                          for block in blocks), encoding="utf-8")


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, minilm_checkpoint):
  """Starts the CoNLL-2003, WeiboNER and BERT_NER.py-layout runs (one with --crf) together.

  Returns {name: (returncode, stderr, data, out)}.
  """
  if not DATA.is_dir():
    pytest.skip(f"shared data not found at {DATA}")
  root = tmp_path_factory.mktemp("ner_cli")
  vocab = minilm_checkpoint / "vocab.txt"
  weibo_labels = ner_data.collect_labels(
      ner_data.read_conll(str(DATA / "WeiboNER" / "weiboNER_2nd_conll.train")))
  conll = root / "conll"
  copy_sentences(DATA / "CoNLL-2003" / "train.txt", conll / "train.txt", 100)
  copy_sentences(DATA / "CoNLL-2003" / "valid.txt", conll / "valid.txt", 100)
  copy_sentences(DATA / "CoNLL-2003" / "test.txt", conll / "test.txt", 30)
  weibo = root / "weibo"
  for split, count in (("train", 60), ("dev", 40), ("test", 20)):
    copy_sentences(DATA / "WeiboNER" / f"weiboNER_2nd_conll.{split}",
                   weibo / f"weiboNER_2nd_conll.{split}", count)
  # bert-chinese-ner's data/ folder: People's Daily as `char label` lines, no --labels.
  bert_ner = root / "bert_ner"
  blocks = sentence_blocks(DATA / "PeoplesDaily-NER" / "example.dev")
  for split, selected in (("train", blocks[:60]), ("dev", blocks[60:100]),
                          ("test", sentence_blocks(DATA / "PeoplesDaily-NER" /
                                                   "example.test")[:20])):
    write_bert_ner_file(bert_ner / f"{split}.txt", selected)
  bert_ner_labels = run_ner.collect_labels(run_ner.read_conll(str(bert_ner / "train.txt")))
  runs = {"conll": (conll, CONLL_LABELS, ["--labels=" + ",".join(CONLL_LABELS)]),
          "weibo": (weibo, weibo_labels, ["--labels=" + ",".join(weibo_labels)]),
          "bert_ner": (bert_ner, bert_ner_labels, ["--task_name=NER"]),
          "bert_ner_crf": (bert_ner, bert_ner_labels, ["--task_name=NER", "--crf=true",
                                                       "--crf_learning_rate=0.1"])}
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  processes = {}
  for name, (data, labels, extra) in runs.items():
    bert = tiny_checkpoint(root / f"bert_{name}", vocab, len(labels))
    out = root / f"out_{name}"
    # The BERT_NER.py command (data_dir ... output_dir), then the phases and sizes.
    args = [f"--data_dir={data}", f"--bert_config_file={bert / 'bert_config.json'}",
            f"--init_checkpoint={bert / 'bert_model.ckpt'}",
            f"--vocab_file={bert / 'vocab.txt'}", f"--output_dir={out}",
            "--do_train=true", "--do_eval=true", "--do_predict=true",
            f"--max_seq_length={MAX_SEQ_LENGTH}", "--train_batch_size=16",
            "--num_train_epochs=1", "--learning_rate=1e-4", *extra]
    processes[name] = (subprocess.Popen(
        [sys.executable, SCRIPT] + args, cwd=REPO_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE), data, out)
  results = {}
  for name, (process, data, out) in processes.items():
    _, stderr = process.communicate(timeout=900)
    results[name] = (process.returncode, stderr, data, out)
  return results


def read_results(path):
  results = {}
  for line in Path(path).read_text(encoding="utf-8").splitlines():
    key, sep, value = line.partition(" = ")
    assert sep, line
    results[key] = float(value)
  return results


def count_records(path):
  return sum(1 for _ in tf.data.TFRecordDataset(str(path)))


def check_cli_run(run, dev_name, test_name):
  """Checks the files of a train+eval+predict run; returns (results, dev data)."""
  returncode, stderr, data, out = run
  assert returncode == 0, stderr[-3000:]
  results = read_results(out / "eval_results.txt")
  step = int(results["global_step"])
  num_windows = count_records(out / "train.tf_record")
  num_train = len(sentence_blocks(next(p for p in data.iterdir() if "train" in p.name)))
  assert num_windows > num_train      # some sentences needed several windows
  assert step == num_windows // 16    # one epoch of batch 16
  for name in ("eval_predictions.txt", "test_predictions.txt", "test_results.txt",
               "labels.txt", "checkpoint", f"model.ckpt-{step}.index"):
    assert (out / name).is_file(), name
  for split, name in (("eval", dev_name), ("test", test_name)):
    blocks = sentence_blocks(data / name)
    lines = (out / f"{split}_predictions.txt").read_text(encoding="utf-8").split("\n")
    # One line per token, a blank line after each sentence: the input's tokens and tags.
    expected = []
    for block in blocks:
      expected += [(token, gold) for token, gold, _ in block] + [None]
    assert len(lines) == len(expected) + 1 and lines[-1] == ""
    for line, want in zip(lines, expected):
      if want is None:
        assert line == ""
      else:
        token, gold, predicted = line.split(" ")
        assert (token, gold) == want
  gold, predicted = conlleval.read_predictions(
      (out / "eval_predictions.txt").read_text(encoding="utf-8").splitlines())
  types = {t[2:] for sentence in gold + predicted for t in sentence if t != "O"}
  assert set(results) == ({"eval_precision", "eval_recall", "eval_f1", "eval_accuracy",
                           "eval_loss", "global_step", "loss"} |
                          {f"eval_{m}_{t}" for m in ("precision", "recall", "f1")
                           for t in types})
  assert len(gold) == len(predicted)
  assert [len(gs) for gs in gold] == [len(ps) for ps in predicted]
  tokens = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
  assert results["eval_accuracy"] == pytest.approx(
      sum(g == p for g, p in tokens) / len(tokens), abs=1e-12)
  recomputed = conlleval.evaluate(gold, predicted)
  for key in ("precision", "recall", "f1"):
    assert results[f"eval_{key}"] == pytest.approx(recomputed[key], abs=1e-12)
  assert results["loss"] == results["eval_loss"] > 0
  return results, gold


def test_conll2003_cli_run(cli_runs):
  results, gold = check_cli_run(cli_runs["conll"], "valid.txt", "test.txt")
  assert {t[2:] for s in gold for t in s if t != "O"} == {"PER", "LOC", "ORG", "MISC"}
  # The random head tags many entities: the F1 compared above is not a trivial 0.
  assert 0 < results["eval_f1"] < 1
  _, _, _, out = cli_runs["conll"]
  summary = subprocess.run([sys.executable, str(REPO_ROOT / "conlleval.py"),
                            str(out / "eval_predictions.txt")], capture_output=True,
                           text=True, timeout=60).stdout.splitlines()
  assert summary[1].endswith(f"FB1: {100 * results['eval_f1']:6.2f}")


def test_weibo_cli_run(cli_runs):
  results, _ = check_cli_run(cli_runs["weibo"], "weiboNER_2nd_conll.dev",
                             "weiboNER_2nd_conll.test")
  assert 0 <= results["eval_f1"] <= 1
  # The model saw characters without WeiboNER's position digits: 科0 技1 ... -> 科 技 ...
  _, _, data, out = cli_runs["weibo"]
  vocab = tokenization.load_vocab(str(out.parent / "bert_weibo" / "vocab.txt"))
  first = sentence_blocks(data / "weiboNER_2nd_conll.train")[0]
  chars = [token[:-1] for token, _, _ in first][:MAX_SEQ_LENGTH - 2]
  record = next(iter(tf.data.TFRecordDataset(str(out / "train.tf_record")))).numpy()
  ids = list(tf.train.Example.FromString(record).features.feature["input_ids"].int64_list.value)
  expected = [CLS_ID] + [vocab.get(c, UNK_ID) for c in chars] + [SEP_ID]
  assert ids == expected + [0] * (MAX_SEQ_LENGTH - len(expected))
  assert len(set(ids) - {CLS_ID, SEP_ID, UNK_ID}) >= 5   # 方 智 的 ... are in the vocab


def test_bert_chinese_ner_command_and_data(cli_runs):
  """`--task_name=NER` and data/{train,dev,test}.txt of `char label` lines train and evaluate."""
  results, gold = check_cli_run(cli_runs["bert_ner"], "dev.txt", "test.txt")
  assert {t[2:] for s in gold for t in s if t != "O"} == {"PER", "LOC", "ORG"}
  _, _, data, out = cli_runs["bert_ner"]
  assert (out / "labels.txt").read_text(encoding="utf-8").split() == [
      "O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
  assert (data / "train.txt").read_text(encoding="utf-8").startswith("在 O\n")


def test_crf_run_trains_evaluates_and_saves_transitions(cli_runs):
  """--crf=true on BERT_NER.py's layout: the files of a run, and crf/transitions trained."""
  results, gold = check_cli_run(cli_runs["bert_ner_crf"], "dev.txt", "test.txt")
  assert {t[2:] for s in gold for t in s if t != "O"} == {"PER", "LOC", "ORG"}
  out = cli_runs["bert_ner_crf"][3]
  assert json.loads((out / "run_info.json").read_text())["crf"] is True
  assert json.loads((cli_runs["bert_ner"][3] / "run_info.json").read_text())["crf"] is False
  step = int(results["global_step"])
  shapes = checkpoint_utils.checkpoint_shapes(str(out / f"model.ckpt-{step}"))
  assert shapes["crf/transitions"] == [7, 7]
  assert "crf/transitions" not in checkpoint_utils.checkpoint_shapes(
      str(cli_runs["bert_ner"][3]))
  # The CRF starts at zero transitions (absent from the init checkpoint). Trained at
  # --crf_learning_rate=0.1 they move further than any run at --learning_rate=1e-4
  # could: an Adam step t without bias correction moves at most lr * 0.1 t / sqrt(0.001).
  transitions = tf.train.load_variable(str(out / f"model.ckpt-{step}"), "crf/transitions")
  bound = sum(1e-4 * 0.1 * t / 0.001 ** 0.5 for t in range(1, step + 1))
  assert np.abs(transitions).max() > bound
  info = json.loads((out / "run_info.json").read_text())
  assert info["crf_learning_rate"] == 0.1
  # Its Adam slots are saved too (the run can resume).
  assert "crf/transitions/adam_m" in shapes


def _rerun_flags(run, out, *extra):
  _, _, data, trained = run
  bert = trained.parent / "bert_bert_ner"
  return parse_flags([f"--data_dir={data}", f"--vocab_file={bert / 'vocab.txt'}",
                      f"--bert_config_file={bert / 'bert_config.json'}",
                      f"--output_dir={out}", f"--max_seq_length={MAX_SEQ_LENGTH}",
                      "--train_batch_size=16", "--num_train_epochs=1",
                      "--learning_rate=1e-4", *extra])


@pytest.mark.parametrize("trained,crf", [("bert_ner_crf", "false"), ("bert_ner", "true")])
def test_resuming_with_another_crf_is_refused(cli_runs, trained, crf):
  out = cli_runs[trained][3]
  before = sorted(p.name for p in out.iterdir())
  with pytest.raises(errors.UserError) as error:
    run_ner.run(_rerun_flags(cli_runs[trained], out, "--do_train", f"--crf={crf}",
                             "--allow_setting_changes=true"))
  # Another --crf_learning_rate is a setting: refused unless --allow_setting_changes.
  if trained == "bert_ner_crf":
    with pytest.raises(errors.UserError, match=r"crf_learning_rate: 0.1 -> 0.01"):
      run_ner.run(_rerun_flags(cli_runs[trained], out, "--do_train", "--crf=true",
                               "--crf_learning_rate=0.01"))
  old = "True" if crf == "false" else "False"
  assert f"crf: {old} -> {crf.title()}" in str(error.value)
  assert "another model" in str(error.value)
  assert sorted(p.name for p in out.iterdir()) == before


def test_eval_only_crf_run_needs_its_crf(cli_runs, tmp_path):
  """--do_eval of the CRF run: Viterbi again gives its predictions; --crf=false is refused."""
  run = cli_runs["bert_ner_crf"]
  assert run[0] == 0, run[1][-3000:]
  trained = run[3]
  with pytest.raises(errors.UserError) as error:
    run_ner.run(_rerun_flags(run, tmp_path / "wrong", f"--init_checkpoint={trained}",
                             "--do_eval"))
  assert "trained with a CRF (crf/transitions), but --crf=false; pass --crf=true" in str(
      error.value)
  assert not (tmp_path / "wrong").exists()
  with pytest.raises(errors.UserError, match="trained without a CRF"):
    run_ner.run(_rerun_flags(cli_runs["bert_ner"], tmp_path / "wrong",
                             f"--init_checkpoint={cli_runs['bert_ner'][3]}", "--do_eval",
                             "--crf=true"))
  fresh = tmp_path / "eval_only"
  run_ner.run(_rerun_flags(run, fresh, f"--init_checkpoint={trained}", "--do_eval",
                           "--crf=true", "--eval_batch_size=5"))
  assert (fresh / "eval_predictions.txt").read_text(encoding="utf-8") == (
      trained / "eval_predictions.txt").read_text(encoding="utf-8")
  assert read_results(fresh / "eval_results.txt") == pytest.approx(
      read_results(trained / "eval_results.txt"), rel=1e-5)


def _unk_warnings(stderr):
  """(split, file, percent, unknown, total) of each [UNK] WARNING line in a run's log."""
  found = re.findall(r"^W\d{4} [^\n]*tokenization\.py:\d+\] ([0-9.]+)% of the word "
                     r"pieces of the (\w+) file (\S+) are \[UNK\] \((\d+) of (\d+); e\.g\. ",
                     stderr, re.MULTILINE)
  return [(split, path, float(percent), int(unknown), int(total))
          for percent, split, path, unknown, total in found]


def test_english_vocab_on_chinese_ner_data_logs_the_unk_warning(cli_runs):
  """The uncased (MiniLM) vocab: WeiboNER and People's Daily warn, CoNLL-2003 does not."""
  returncode, stderr, _, _ = cli_runs["conll"]
  assert returncode == 0 and "[UNK]" not in stderr
  for name, files in (("weibo", ("weiboNER_2nd_conll.train", "weiboNER_2nd_conll.dev",
                                 "weiboNER_2nd_conll.test")),
                      ("bert_ner", ("train.txt", "dev.txt", "test.txt"))):
    returncode, stderr, data, out = cli_runs[name]
    assert returncode == 0, stderr[-3000:]
    warnings = _unk_warnings(stderr)
    assert [(split, path) for split, path, *_ in warnings] == [
        (split, str(data / file)) for split, file in zip(("train", "dev", "test"), files)]
    assert "does not cover this language or script" in stderr
    # The training file's figures, counted here over the pieces of each word.
    tokenizer = tokenization.FullTokenizer(str(out.parent / f"bert_{name}" / "vocab.txt"))
    pieces = [piece for sentence in run_ner.read_conll(str(data / files[0]))
              for word in sentence.words for piece in tokenizer.tokenize(word)]
    _, _, percent, unknown, total = warnings[0]
    assert (unknown, total) == (pieces.count("[UNK]"), len(pieces))
    assert percent == round(100 * unknown / total, 1) and percent > 5


def test_crf_learning_rate_needs_crf(hand_model, tmp_path):
  common = [f"--data_dir={tmp_path}", f"--vocab_file={hand_model / 'vocab.txt'}",
            f"--bert_config_file={hand_model / 'bert_config.json'}",
            f"--output_dir={tmp_path / 'out'}", "--do_train"]
  run_ner.validate_flags(parse_flags(common + ["--crf", "--crf_learning_rate=0.01"]))
  with pytest.raises(errors.UserError, match=r"^--crf_learning_rate=0.01 needs --crf=true\.$"):
    run_ner.validate_flags(parse_flags(common + ["--crf_learning_rate=0.01"]))
  with pytest.raises(errors.UserError, match="must be a positive number"):
    run_ner.validate_flags(parse_flags(common + ["--crf", "--crf_learning_rate=0"]))


def test_task_name_accepts_ner_only(hand_model, tmp_path):
  common = [f"--data_dir={tmp_path}", f"--vocab_file={hand_model / 'vocab.txt'}",
            f"--bert_config_file={hand_model / 'bert_config.json'}",
            f"--output_dir={tmp_path / 'out'}", "--do_train"]
  for name in ("NER", "ner", " Ner "):
    run_ner.validate_flags(parse_flags(common + [f"--task_name={name}"]))
  run_ner.validate_flags(parse_flags(common))   # the flag is optional
  with pytest.raises(errors.UserError) as error:
    run_ner.validate_flags(parse_flags(common + ["--task_name=MRPC"]))
  assert str(error.value) == (
      "--task_name=MRPC: run_ner.py runs named-entity recognition only; accepted: NER (or "
      "leave the flag out). Sentence classification is run_classifier.py.")


def test_eval_only_on_the_trained_folder(cli_runs, tmp_path):
  """--do_eval with --init_checkpoint=<trained output_dir>: its labels.txt, same scores."""
  returncode, stderr, data, out = cli_runs["conll"]
  assert returncode == 0, stderr[-3000:]
  bert = out.parent / "bert_conll"
  fresh = tmp_path / "eval_only"
  run_ner.run(parse_flags([
      f"--data_dir={data}", f"--vocab_file={bert / 'vocab.txt'}",
      f"--bert_config_file={bert / 'bert_config.json'}", f"--init_checkpoint={out}",
      f"--output_dir={fresh}", f"--max_seq_length={MAX_SEQ_LENGTH}", "--do_eval",
      "--eval_batch_size=5"]))
  assert (fresh / "eval_predictions.txt").read_text(encoding="utf-8") == (
      out / "eval_predictions.txt").read_text(encoding="utf-8")
  trained = read_results(out / "eval_results.txt")
  assert read_results(fresh / "eval_results.txt") == pytest.approx(trained, rel=1e-5)
  # The same tags in another order would read the head's outputs as the wrong tags.
  saved = (out / "labels.txt").read_text(encoding="utf-8").split()
  shuffled = saved[1:] + saved[:1]
  with pytest.raises(errors.UserError) as error:
    run_ner.run(parse_flags([
        f"--data_dir={data}", f"--vocab_file={bert / 'vocab.txt'}",
        f"--bert_config_file={bert / 'bert_config.json'}", f"--init_checkpoint={out}",
        f"--output_dir={tmp_path / 'reordered'}", f"--max_seq_length={MAX_SEQ_LENGTH}",
        "--do_eval", "--labels=" + ",".join(shuffled)]))
  assert str(error.value) == (
      f"--labels ({','.join(shuffled)}) differ from the tags of the trained run in "
      f"{out / 'labels.txt'} ({','.join(saved)}): its head's outputs are in that order; "
      f"pass --labels={','.join(saved)}.")
  assert not (tmp_path / "reordered").exists()


# ---------------------------------------------------------------- real weights


@pytest.mark.slow
def test_minilm_learns_conll2003(minilm_checkpoint, tmp_path):
  """all-MiniLM-L6-v2, 1 epoch on 1000 CoNLL-2003 sentences: entity F1 on 300 dev ones."""
  data = tmp_path / "conll"
  copy_sentences(DATA / "CoNLL-2003" / "train.txt", data / "train.txt", 1000)
  copy_sentences(DATA / "CoNLL-2003" / "valid.txt", data / "valid.txt", 300)
  out = tmp_path / "out"
  start = time.time()
  result = subprocess.run(
      [sys.executable, SCRIPT, f"--data_dir={data}",
       f"--vocab_file={minilm_checkpoint / 'vocab.txt'}",
       f"--bert_config_file={minilm_checkpoint / 'bert_config.json'}",
       f"--init_checkpoint={minilm_checkpoint / 'bert_model.ckpt'}", f"--output_dir={out}",
       "--do_train", "--do_eval", "--max_seq_length=128", "--train_batch_size=8",
       "--num_train_epochs=1", "--learning_rate=1e-4", "--labels=" + ",".join(CONLL_LABELS)],
      cwd=REPO_ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True,
      text=True, timeout=1800)
  assert result.returncode == 0, result.stderr[-3000:]
  results = read_results(out / "eval_results.txt")
  print(f"MiniLM CoNLL-2003 1000/300: eval_f1={results['eval_f1']:.4f} "
        f"eval_accuracy={results['eval_accuracy']:.4f} in {time.time() - start:.0f}s")
  assert results["eval_f1"] > 0.5
  assert results["eval_accuracy"] > 0.9


def test_a_trained_runs_tags_come_from_its_record_when_labels_txt_is_missing(tmp_path):
  """A run folder copied without labels.txt asked for --labels; run_info.json has them."""
  import types  # pylint: disable=g-import-not-at-top
  f = types.SimpleNamespace(output_dir=str(tmp_path), init_checkpoint=None, do_train=False,
                            labels=None)
  with pytest.raises(errors.UserError, match=r"No labels.txt or run_info.json of a tagger "
                     r"in --output_dir"):
    run_ner.load_label_list(f, None)
  record = tmp_path / "run_info.json"
  record.write_text(json.dumps({"task_kind": "classifier", "label_list": ["0", "1"]}))
  with pytest.raises(errors.UserError, match=r"No labels.txt or run_info.json of a tagger"):
    run_ner.load_label_list(f, None)   # another task's labels are not tags
  record.write_text(json.dumps({"task_kind": "ner", "label_list": ["O", "B-PER", "I-PER"]}))
  assert run_ner.load_label_list(f, None) == (["O", "B-PER", "I-PER"], str(record))
  (tmp_path / "labels.txt").write_text("O\nB-PER\nI-PER\n")
  assert run_ner.load_label_list(f, None) == (["O", "B-PER", "I-PER"],
                                              str(tmp_path / "labels.txt"))
