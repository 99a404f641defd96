# coding=utf-8
"""The CMRC2018 metric of squad_evaluate.py equals the official cmrc2018_evaluate.py.

Hand-computed cases for each rule of the official script (its punctuation
list, lower case and strip, the Chinese range U+4E00..U+9FA5, NLTK words for
the other characters, the longest common substring, several gold answers,
missing and empty predictions), the NLTK word tokenizer reproduction on
hand-computed tokens, and the whole metric against an independent oracle of
the official script (tests/cmrc_official_oracle.py) on stress predictions
built from the real CMRC2018 dev answers. When NLTK 3.10 and its English Punkt
model are installed, the tokenizer is also compared with NLTK itself.
"""

import json
import random

import pytest

import cmrc_official_oracle as oracle
import nltk_word_tokenize
import squad_evaluate

# ===================================================================== exact match


def test_exact_match_removes_the_listed_punctuation_only():
  assert squad_evaluate.normalize_answer_zh("A-B:C_D*E^F/G\\H~I`J+K=L") == "abcdefghijkl"
  assert squad_evaluate.normalize_answer_zh(
      "《北京》，「大学」。『』（）－～“”’；：？！、·") == "北京大学"
  # Not in the list: the left single quote, the ellipsis (the list's "……" is
  # two characters), ASCII brackets, period and ampersand.
  assert squad_evaluate.normalize_answer_zh("‘北京’…(大学).&") == "‘北京…(大学).&"
  assert squad_evaluate.exact_match_score_zh("北京大学。", "北京大学") == 1
  assert squad_evaluate.exact_match_score_zh("北京大学.", "北京大学") == 0


def test_exact_match_lower_cases_strips_the_ends_and_keeps_inner_whitespace():
  assert squad_evaluate.exact_match_score_zh("Beijing", "BEIJING") == 1
  assert squad_evaluate.exact_match_score_zh("  北京大学\t", "北京大学") == 1
  assert squad_evaluate.exact_match_score_zh("北京 大学", "北京大学") == 0
  # The strip comes before the punctuation is removed: the space stays.
  assert squad_evaluate.normalize_answer_zh("北京大学 。") == "北京大学 "
  assert squad_evaluate.exact_match_score_zh("北京大学 。", "北京大学") == 0


# ===================================================================== segments


@pytest.mark.parametrize("text, segments", [
    ("龥龦龦", ["龥", "龦龦"]),                    # U+9FA5 is the last "Chinese" one
    ("㐀㐁", ["㐀㐁"]),                             # extension A is not in the range
    ("一〇〇年", ["一", "〇〇", "年"]),
    ("光荣和ω-force开发", ["光", "荣", "和", "ωforce", "开", "发"]),  # "-" joins
    ("a/b", ["ab"]),
    ("增长3.5%", ["增", "长", "3.5", "%"]),        # unlisted punctuation is a word
    ("1,000元", ["1,000", "元"]),
    ("(JR)线", ["(", "jr", ")", "线"]),
    ("北京.", ["北", "京", "."]),                  # a sentence-final period
    ("北京…", ["北", "京", "…"]),
    ("他说can't", ["他", "说", "ca", "n't"]),      # contraction
    ('"Iskra"号', ["``", "iskra", "''", "号"]),    # quotes
    ("Henry A. Walsh", ["henry", "a.", "walsh"]),  # initial before a lower-case word
    ("end. Start", ["end", ".", "start"]),         # a Punkt sentence break
    ("Mr. Smith", ["mr.", "smith"]),               # a known abbreviation: no break
    (" 北京 大学 ", ["北", "京", "大", "学"]),      # whitespace only separates
    ("New\u3000York\t市", ["new", "york", "市"]),
    ("", []),
    ("。《》", []),
])
def test_segments_are_chinese_characters_and_nltk_words(text, segments):
  assert squad_evaluate.segment_zh(text) == segments


# ===================================================================== F1


def test_f1_is_the_longest_common_substring_of_segments():
  # A bag of segments would overlap fully (F1 1); the longest run is 1: 1/2, 1/2.
  assert squad_evaluate.f1_score_zh("学大", "大学") == pytest.approx(0.5)
  # 大学 = 2 of 4 predicted, 2 of 3 gold.
  assert squad_evaluate.f1_score_zh("北京大学", "北大学") == pytest.approx(4 / 7)
  # [增 长 3.5 %] vs [3.5]: p = 1/4, r = 1.
  assert squad_evaluate.f1_score_zh("增长3.5%", "3.5") == pytest.approx(0.4)
  # [mr. smith 说] vs [smith]: p = 1/3, r = 1.
  assert squad_evaluate.f1_score_zh("Mr. Smith说", "Smith") == pytest.approx(0.5)
  assert squad_evaluate.f1_score_zh("北京 大学", "北京大学") == 1.0


def test_empty_texts_score_as_the_official_script():
  assert squad_evaluate.f1_score_zh("", "北京") == 0.0
  assert squad_evaluate.exact_match_score_zh("", "北京") == 0
  # A gold answer of listed punctuation only has no segments: F1 0, EM 1.
  assert squad_evaluate.f1_score_zh("。", "《》") == 0.0
  assert squad_evaluate.exact_match_score_zh("。", "《》") == 1
  # gold "" = no answer (SQuAD v2.0): only an answer without segments scores.
  assert squad_evaluate.f1_score_zh("", "") == 1.0
  assert squad_evaluate.f1_score_zh("。", "") == 1.0
  assert squad_evaluate.f1_score_zh("北京", "") == 0.0


def _data(questions):
  return {"version": "v1.0", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [
      {"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in golds]}
      for qid, golds in questions]}]}]}


HAND_DATA = _data([("q1", ["北京大学", "北京"]), ("q2", ["3.5%"]), ("q3", ["上海", "上海市"]),
                   ("q4", ["广州"]), ("q5", ["new york"])])
HAND_PREDICTIONS = {"q1": "北京大学。", "q2": "增长3.5%", "q3": "上海市 ", "q5": "New  York"}


def test_evaluate_takes_the_best_gold_and_counts_missing_predictions():
  # q1 EM 1 F1 1; q2 [增 长 3.5 %] vs [3.5 %]: EM 0, F1 2/3; q3 best gold 上海市:
  # EM 1, F1 1; q4 missing: 0, 0; q5 inner double space: EM 0, F1 1.
  results = squad_evaluate.evaluate(HAND_DATA["data"], HAND_PREDICTIONS, language="zh")
  assert results == pytest.approx({"exact_match": 40.0, "f1": 100 * (11 / 3) / 5})
  # The oracle of the official script agrees (F1, EM, total, skipped).
  f1, em, total, skipped = oracle.evaluate(HAND_DATA, HAND_PREDICTIONS,
                                           nltk_word_tokenize.word_tokenize)
  assert (f1, em, total, skipped) == pytest.approx((100 * (11 / 3) / 5, 40.0, 5, 1))


def test_every_gold_text_counts_in_chinese_but_not_in_english():
  data = _data([("q", ["。", "北京"])])["data"]
  assert squad_evaluate.gold_answers(data, "zh") == {"q": ["。", "北京"]}
  assert squad_evaluate.gold_answers(_data([("q", ["!", "x"])])["data"], "en") == {"q": ["x"]}
  # An empty prediction matches the punctuation-only gold: EM 1, F1 0.
  assert squad_evaluate.evaluate(data, {"q": ""}, language="zh") == {"exact_match": 100.0,
                                                                    "f1": 0.0}


# ===================================================================== NLTK words


@pytest.mark.parametrize("text, words", [
    ("can't", ["ca", "n't"]),
    ("cannot", ["can", "not"]),
    ("gonna", ["gon", "na"]),
    ("'tis", ["'", "tis"]),
    ("it's", ["it", "'s"]),
    ("we'll", ["we", "'ll"]),
    ("'hello'", ["'", "hello", "'"]),
    ('he said "end." next', ["he", "said", "``", "end", ".", "''", "next"]),
    ("chapter 3. abc", ["chapter", "3.", "abc"]),          # number, lower-case word
    ("3. administrators", ["3", ".", "administrators"]),   # a word Punkt cannot rule out
    ("a. 5", ["a", ".", "5"]),                             # initial before a digit
    ("a. walsh", ["a.", "walsh"]),
    ("u.s. army", ["u.s.", "army"]),
    ("e.g. this", ["e.g", ".", "this"]),                   # not a known abbreviation
    ("u.s.a.", ["u.s.a", "."]),
    ("wait... what", ["wait", "...", "what"]),
    ("why? because", ["why", "?", "because"]),
    ("$100", ["$", "100"]),
    ("a,b", ["a", ",", "b"]),
    ("x;y&z", ["x", ";", "y", "&", "z"]),
    ("abc.def", ["abc.def"]),
    ("a\u2014b", ["a", "\u2014", "b"]),
    (" x ", ["x"]),
    ("  ", []),
])
def test_word_tokenize_by_hand(text, words):
  assert nltk_word_tokenize.word_tokenize(text) == words


def test_punkt_sentences_by_hand():
  assert nltk_word_tokenize.sentences("mr. smith came. he left") == ["mr. smith came.",
                                                                     "he left"]
  # The closing bracket after the period belongs to the first sentence.
  assert nltk_word_tokenize.sentences("(it ended.) then") == ["(it ended.)", "then"]


def _random_lower_case_text(rng):
  pieces = ["a", "abc", "mr", "u.s", "j.k", "administrators", "the", "cannot", "gonna",
            "can't", "'tis", "it's", "3", "3.5", "1,000", "é", "ω", "ａｂ", "ℂ", ".", ".",
            ",", "'", '"', "(", ")", "[", "]", "{", "}", "<", ">", "%", "$", "&", "!", "?",
            ";", "@", "#", "…", "‘", "«", "»", "„", "\u2013", "..", "...", ". . .", "?!",
            ".)", '."', "'s", "n't", "''", " ", " ", " ", "  ", "\t", "\n", "\u3000"]
  return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))).lower()


def _nltk_3_10():
  nltk = pytest.importorskip("nltk")
  if tuple(int(p) for p in nltk.__version__.split(".")[:2]) < (3, 10):
    pytest.skip(f"the reproduction follows NLTK 3.10; installed: {nltk.__version__}")
  return nltk


def test_sentence_words_equal_nltk_word_tokenizer_when_installed():
  nltk = _nltk_3_10()
  tokenizer = nltk.tokenize.NLTKWordTokenizer()
  rng = random.Random(0)
  for _ in range(2000):
    text = _random_lower_case_text(rng)
    assert nltk_word_tokenize.sentence_words(text) == tokenizer.tokenize(text), text


def _nltk_3_10_word_tokenize():
  """nltk.word_tokenize of NLTK 3.10+ with its English Punkt model, else None."""
  try:
    import nltk  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  if tuple(int(p) for p in nltk.__version__.split(".")[:2]) < (3, 10):
    return None
  return oracle.nltk_tokenizer()


def test_word_tokenize_equals_nltk_when_installed():
  _nltk_3_10()
  nltk_tokenize = _nltk_3_10_word_tokenize()
  if nltk_tokenize is None:
    pytest.skip("NLTK's English Punkt model (punkt_tab) is not installed")
  rng = random.Random(1)
  for _ in range(2000):
    text = _random_lower_case_text(rng)
    assert nltk_word_tokenize.word_tokenize(text) == nltk_tokenize(text), text


# ===================================================================== real answers


def test_stress_predictions_score_as_the_official_script(shared_dir):
  path = shared_dir / "data" / "CMRC2018" / "dev.json"
  if not path.is_file():
    pytest.skip(f"{path} not found")
  data = json.loads(path.read_text(encoding="utf-8"))
  predictions = oracle.stress_predictions(data, seed=0)
  word_tokenize = _nltk_3_10_word_tokenize() or nltk_word_tokenize.word_tokenize
  f1, em, total, skipped = oracle.evaluate(data, predictions, word_tokenize)
  assert total == 3219 and skipped == total - len(predictions) > 0
  results = squad_evaluate.evaluate(data["data"], predictions)   # language detected: zh
  assert results["f1"] == pytest.approx(f1, abs=1e-9)
  assert results["exact_match"] == pytest.approx(em, abs=1e-9)
  golds = {qa["id"]: [a["text"] for a in qa["answers"]] for article in data["data"]
           for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
  exact, f1_each = squad_evaluate.raw_scores(
      squad_evaluate.gold_answers(data["data"], "zh"), predictions, "zh")
  assert len(exact) == len(golds) == total
  for qid, prediction in list(predictions.items())[::7]:
    assert f1_each[qid] == oracle.calc_f1_score(golds[qid], prediction, word_tokenize), qid
    assert exact[qid] == oracle.calc_em_score(golds[qid], prediction), qid


def test_questions_without_answers_are_counted():
  """run_squad.py says why a predict file with one question lacking answers is not scored."""
  dataset = [{"paragraphs": [{"context": "c", "qas": [
      {"id": "1", "question": "q", "answers": [{"text": "c", "answer_start": 0}]},
      {"id": "2", "question": "q"},
      {"id": "3", "question": "q", "answers": []}]}]}]
  assert squad_evaluate.count_gold_answers(dataset) == (2, 3)
  assert not squad_evaluate.has_gold_answers(dataset)
  del dataset[0]["paragraphs"][0]["qas"][1]
  assert squad_evaluate.count_gold_answers(dataset) == (2, 2)
  assert squad_evaluate.has_gold_answers(dataset)
