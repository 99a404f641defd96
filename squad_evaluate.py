"""SQuAD v1.1 / v2.0 and CMRC2018 scoring, written from the official metrics' definitions.

English (the official SQuAD scripts' semantics):
  * an answer is normalised by lower-casing, deleting ASCII punctuation
    (`string.punctuation`), deleting the articles a/an/the as whole words and
    collapsing whitespace;
  * exact match is equality of normalised strings; F1 is the harmonic mean of
    precision and recall of the bag (multiset) of normalised tokens; a question
    scores the maximum over its gold answers;
  * v2.0: gold answers that normalise to "" are dropped and a question left with
    none has the single gold answer "" (no answer): an empty prediction scores
    1 there and 0 elsewhere. Figures are split into HasAns/NoAns and, given the
    no-answer scores (`null_odds.json`), the best no-answer threshold is found
    by sweeping it over the sorted scores.

Chinese (the official CMRC2018 script `cmrc2018_evaluate.py`, exactly):
  * its punctuation list is -:_*^/\\~`+= and ，。：？！“”；’《》·、「」（）－～『』
    (its entry "……" is two characters long and never equals a character, so
    "…" is not removed); no other punctuation or symbol is removed;
  * exact match: both texts lower-cased, stripped at the ends, then the listed
    characters deleted; inner whitespace stays (北京 大学 != 北京大学);
  * F1: the lower-cased, stripped text without the listed characters is cut
    into segments: each character in U+4E00..U+9FA5 is one segment, and each
    run of other characters between them is split by nltk.word_tokenize
    (reproduced without NLTK by nltk_word_tokenize.py: "3.5%" -> 3.5 %,
    "can't" -> ca n't, "a." at the end -> a .); whitespace only separates.
    The overlap is the longest common *contiguous* run of segments (CMRC's
    find_lcs); an overlap of 0 scores 0, so an empty gold or prediction
    scores F1 0 (but EM 1 when both are empty after normalisation);
  * every gold answer text counts as given, the best one scores; a missing
    prediction scores 0 and figures are 100 * sum / number of questions (the
    official script prints them rounded to 3 decimals).
  A question with no gold answer at all (which the CMRC script cannot score)
  gets the gold answer "" and the SQuAD v2.0 rule: an empty prediction scores
  1, any other 0.

The language is chosen from the gold answers (`language="auto"`: Chinese when
most answered questions have a CJK character in a gold answer) or forced.

Usage, like the official scripts:
  python squad_evaluate.py dev-v1.1.json predictions.json
  python squad_evaluate.py dev-v2.0.json predictions.json --na_prob_file null_odds.json
"""

import argparse
import collections
import json
import os
import re
import string
import sys

import atomic_files
import data_files
import errors
import nltk_word_tokenize
import tokenization

LANGUAGES = ("auto", "en", "zh")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_ASCII_PUNCTUATION = frozenset(string.punctuation)
# The official CMRC2018 script's punctuation list (its "……" entry, two
# characters, never matches one character and is left out).
_CMRC_PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")


class EvaluationError(errors.UserError):
  """Unreadable data or predictions; the message names the file and the problem."""


def contains_cjk(text):
  """True if `text` has a CJK ideograph (the tokenizer's ranges)."""
  return any(tokenization.is_cjk(ord(c)) for c in text)


# --------------------------------------------------------------------- English


def normalize_answer(text):
  """Lower case, no ASCII punctuation, no articles, single spaces (official SQuAD)."""
  text = "".join(c for c in text.lower() if c not in _ASCII_PUNCTUATION)
  text = _ARTICLES.sub(" ", text)
  return " ".join(text.split())


def exact_match_score(prediction, gold):
  """1 if the normalised strings are equal, else 0."""
  return int(normalize_answer(prediction) == normalize_answer(gold))


def _f1_from_overlap(num_same, num_predicted, num_gold):
  if num_predicted == 0 or num_gold == 0:
    # Only "no answer" matches "no answer" (SQuAD v2.0).
    return float(num_predicted == num_gold)
  if num_same == 0:
    return 0.0
  precision = num_same / num_predicted
  recall = num_same / num_gold
  return 2 * precision * recall / (precision + recall)


def f1_score(prediction, gold):
  """Token F1 of the normalised strings, overlap counted as a multiset."""
  predicted = normalize_answer(prediction).split()
  golden = normalize_answer(gold).split()
  common = collections.Counter(predicted) & collections.Counter(golden)
  return _f1_from_overlap(sum(common.values()), len(predicted), len(golden))


# --------------------------------------------------------------------- Chinese


def normalize_answer_zh(text):
  """CMRC2018 exact-match form: lower case, ends stripped, listed punctuation deleted.

  Inner whitespace stays, and the strip comes first: "北京 。" keeps its space.
  """
  return "".join(c for c in text.lower().strip() if c not in _CMRC_PUNCTUATION)


def segment_zh(text):
  """CMRC2018 F1 segments: each character U+4E00..U+9FA5, NLTK words of the rest.

  The text is lower-cased and stripped; listed punctuation is skipped without
  ending a run, so "ω-force" is the one word "ωforce".
  """
  segments = []
  run = ""
  for char in text.lower().strip():
    if char in _CMRC_PUNCTUATION:
      continue
    if "\u4e00" <= char <= "\u9fa5":
      segments.extend(nltk_word_tokenize.word_tokenize(run))
      segments.append(char)
      run = ""
    else:
      run += char
  segments.extend(nltk_word_tokenize.word_tokenize(run))
  return segments


def _longest_common_run(a, b):
  """Length of the longest common contiguous subsequence of lists a and b."""
  best = 0
  previous = [0] * (len(b) + 1)
  for x in a:
    current = [0] * (len(b) + 1)
    for j, y in enumerate(b):
      if x == y:
        current[j + 1] = previous[j] + 1
        best = max(best, current[j + 1])
    previous = current
  return best


def exact_match_score_zh(prediction, gold):
  return int(normalize_answer_zh(prediction) == normalize_answer_zh(gold))


def f1_score_zh(prediction, gold):
  """CMRC2018 F1: overlap = longest common run of segments; no overlap scores 0.

  gold "" marks a question without answers (SQuAD v2.0 rule, see the module
  docstring).
  """
  predicted = segment_zh(prediction)
  if not gold:
    return float(not predicted)
  golden = segment_zh(gold)
  overlap = _longest_common_run(predicted, golden)
  if overlap == 0:   # also when either side has no segments (the official rule)
    return 0.0
  return _f1_from_overlap(overlap, len(predicted), len(golden))


SCORERS = {"en": (exact_match_score, f1_score), "zh": (exact_match_score_zh, f1_score_zh)}


# --------------------------------------------------------------------- data sets


def _questions(dataset):
  for article in dataset:
    for paragraph in article.get("paragraphs", []):
      yield from paragraph.get("qas", [])


def question_id(qa):
  """qa["id"] as predictions.json keys it (JSON keys are strings): 7 is "7"."""
  qid = qa["id"]
  return str(qid) if isinstance(qid, int) and not isinstance(qid, bool) else qid


def valid_question_id(qid):
  """Whether `qid` can be a question id: a string, or an integer (read as its text)."""
  return isinstance(qid, str) or (isinstance(qid, int) and not isinstance(qid, bool))


def check_dataset(dataset, source):
  """Raises EvaluationError where `dataset` is not a SQuAD "data" list this scorer reads.

  Every question needs a string (or integer) "id"; its "answers", when present, must be a
  list of objects with a string "text" (a question without "answers" is only
  left unscored, see count_gold_answers).
  """
  for a_index, article in enumerate(dataset):
    paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
    if not isinstance(paragraphs, list):
      raise EvaluationError(f'{source}: article {a_index} has no "paragraphs" list.')
    for p_index, paragraph in enumerate(paragraphs):
      where = f"{source}: article {a_index}, paragraph {p_index}"
      qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
      if not isinstance(qas, list):
        raise EvaluationError(f'{where} has no "qas" list.')
      for qa in qas:
        if not isinstance(qa, dict) or not valid_question_id(qa.get("id")):
          raise EvaluationError(f'{where}: a question has no string "id" '
                                f"({str(qa)[:60]}).")
        answers = qa.get("answers")
        if answers is not None and not (isinstance(answers, list) and all(
            isinstance(answer, dict) and isinstance(answer.get("text"), str)
            for answer in answers)):
          raise EvaluationError(
              f'{where}, question id {qa["id"]!r}: "answers" must be a list of objects '
              f'with a "text" string, e.g. [{{"text": "Paris", "answer_start": 12}}]; '
              f"got {json.dumps(answers)[:60]}.")


def gold_answers(dataset, language="en"):
  """{question id: [gold answer texts]} in file order; [""] for no-answer questions.

  Args:
    dataset: the "data" list of a SQuAD-format JSON file.
    language: "en" drops gold answers that normalise to "" (official v2.0);
      "zh" keeps every text as the CMRC2018 script does.
  """
  golds = collections.OrderedDict()
  for qa in _questions(dataset):
    texts = [a["text"] for a in qa.get("answers", [])]
    if language == "en":
      texts = [t for t in texts if normalize_answer(t)]
    golds[question_id(qa)] = texts or [""]
  return golds


def has_answer_map(dataset):
  """{question id: bool}: whether its "answers" list is non-empty (official v2.0)."""
  return {question_id(qa): bool(qa.get("answers")) for qa in _questions(dataset)}


def detect_language(dataset):
  """"zh" if most answered questions have a CJK character in a gold answer, else "en"."""
  answered = cjk = 0
  for qa in _questions(dataset):
    texts = [a.get("text", "") for a in qa.get("answers", [])]
    if texts:
      answered += 1
      cjk += any(contains_cjk(t) for t in texts)
  return "zh" if cjk * 2 > answered else "en"


def count_gold_answers(dataset):
  """(questions with an "answers" list, questions) of a SQuAD dataset."""
  answers = [qa.get("answers") for qa in _questions(dataset)]
  return sum(isinstance(a, list) for a in answers), len(answers)


def has_gold_answers(dataset):
  """True if every question has an "answers" list and at least one is not empty."""
  answers = [qa.get("answers") for qa in _questions(dataset)]
  return (bool(answers) and all(isinstance(a, list) for a in answers) and
          any(answers))


# --------------------------------------------------------------------- scoring


def raw_scores(golds, predictions, language):
  """Per-question exact match and F1 (0..1) of the predictions as written.

  A question without a prediction scores 0 (as the official v1.1 script).
  """
  exact_fn, f1_fn = SCORERS[language]
  exact, f1 = {}, {}
  for qid, answers in golds.items():
    prediction = predictions.get(qid)
    if prediction is None:
      exact[qid] = f1[qid] = 0.0
      continue
    exact[qid] = max(exact_fn(prediction, a) for a in answers)
    f1[qid] = max(f1_fn(prediction, a) for a in answers)
  return exact, f1


def apply_no_answer_threshold(scores, na_probs, has_answer, threshold):
  """Scores when every question with na_prob > threshold is answered with ""."""
  return {qid: (float(not has_answer[qid]) if na_probs[qid] > threshold else score)
          for qid, score in scores.items()}


def best_threshold(predictions, scores, na_probs, has_answer):
  """Best total score (0..100) over no-answer thresholds, and that threshold.

  Starts from "every question answered with no answer" and answers questions
  one by one in increasing order of na_prob, keeping the best running total.
  """
  current = best = sum(1 for qid in scores if not has_answer[qid])
  threshold = 0.0
  for qid in sorted(scores, key=lambda q: na_probs[q]):
    if has_answer[qid]:
      current += scores[qid]
    elif predictions.get(qid):
      current -= 1
    if current > best:
      best, threshold = current, na_probs[qid]
  return 100.0 * best / len(scores), threshold


def _mean(scores, qids):
  return 100.0 * sum(scores[q] for q in qids) / len(qids)


def evaluate(dataset, predictions, na_probs=None, na_prob_thresh=None, language="auto",
             version_2=None):
  """Scores predictions against a SQuAD-format data set.

  Args:
    dataset: the "data" list of the JSON file with gold answers.
    predictions: {question id: answer text} ("" = no answer).
    na_probs: optional {question id: no-answer score} (null_odds.json); enables
      the best-threshold search.
    na_prob_thresh: optional float; questions with na_prob above it count as
      answered with "" (the official v2.0 script's --na-prob-thresh). None scores
      the predictions as written.
    language: "auto", "en" or "zh" (see the module docstring).
    version_2: report the v2.0 figures; None: if na_probs is given or a
      question has no answer.

  Returns:
    OrderedDict with exact_match and f1 (0..100); with version_2 also total,
    HasAns_*/NoAns_* (exact, f1, total) and, with na_probs, best_exact,
    best_exact_thresh, best_f1, best_f1_thresh.
  """
  if language not in LANGUAGES:
    raise EvaluationError(f"language={language!r} must be one of {', '.join(LANGUAGES)}.")
  if language == "auto":
    language = detect_language(dataset)
  golds = gold_answers(dataset, language)
  if not golds:
    raise EvaluationError("The data set holds no questions.")
  has_answer = has_answer_map(dataset)
  if na_probs is not None:
    missing = [qid for qid in golds if qid not in na_probs]
    if missing:
      raise EvaluationError(f"The no-answer scores have no entry for question id "
                            f"{missing[0]!r} ({len(missing)} questions lack one).")
  exact_raw, f1_raw = raw_scores(golds, predictions, language)
  exact, f1 = exact_raw, f1_raw
  if na_probs is not None and na_prob_thresh is not None:
    exact = apply_no_answer_threshold(exact_raw, na_probs, has_answer, na_prob_thresh)
    f1 = apply_no_answer_threshold(f1_raw, na_probs, has_answer, na_prob_thresh)
  qids = list(golds)
  results = collections.OrderedDict(exact_match=_mean(exact, qids), f1=_mean(f1, qids))
  if version_2 is None:
    version_2 = na_probs is not None or not all(has_answer.values())
  if not version_2:
    return results
  results["total"] = len(qids)
  for name, subset in (("HasAns", [q for q in qids if has_answer[q]]),
                       ("NoAns", [q for q in qids if not has_answer[q]])):
    if subset:
      results[f"{name}_exact"] = _mean(exact, subset)
      results[f"{name}_f1"] = _mean(f1, subset)
      results[f"{name}_total"] = len(subset)
  if na_probs is not None:
    results["best_exact"], results["best_exact_thresh"] = best_threshold(
        predictions, exact_raw, na_probs, has_answer)
    results["best_f1"], results["best_f1_thresh"] = best_threshold(
        predictions, f1_raw, na_probs, has_answer)
  return results


def official_layout(results):
  """The official scripts' key names: v1.1 exact_match/f1; v2.0 exact/f1/total/..."""
  if "total" not in results:
    return collections.OrderedDict((k, results[k]) for k in ("exact_match", "f1"))
  out = collections.OrderedDict(exact=results["exact_match"])
  out.update((k, v) for k, v in results.items() if k != "exact_match")
  return out


# --------------------------------------------------------------------- files


def load_json(path, what):
  """Reads a UTF-8 JSON file; errors name the file and the position of the problem."""
  try:
    with open(path, "rb") as reader:
      text = reader.read().decode("utf-8-sig")
  except OSError as e:
    raise EvaluationError(f"{what} {path}: cannot read it ({e.strerror}).") from None
  except UnicodeDecodeError as e:
    raise EvaluationError(f"{what} {path}: not UTF-8 text (byte {e.start}).") from None
  return data_files.parse_json(text, f"{what} {path}")


def _load_mapping(path, what):
  data = load_json(path, what)
  if not isinstance(data, dict):
    raise EvaluationError(f"{what} {path}: expected a JSON object "
                          "{question id: value}, got " + type(data).__name__ + ".")
  return data


def check_predictions(predictions, dataset, pred_file, data_file):
  """Raises EvaluationError when the predictions cannot belong to the data set.

  Some unanswered questions only score 0 (as the official script); answers that
  are not strings (an nbest_predictions.json) or no id in common are errors.
  """
  for qid, answer in predictions.items():
    if not isinstance(answer, str):
      raise EvaluationError(
          f"predictions file {pred_file}: the answer of question id {qid!r} is a "
          f"{type(answer).__name__}, not a string; give the predictions.json of "
          "run_squad.py (not nbest_predictions.json).")
  qids = [question_id(qa) for qa in _questions(dataset) if isinstance(qa, dict) and "id" in qa]
  if qids and not predictions:
    raise EvaluationError(
        f"predictions file {pred_file} holds no answers; give the predictions.json "
        f"run_squad.py wrote for data file {data_file}.")
  if predictions and qids and not set(predictions) & set(qids):
    raise EvaluationError(
        f"predictions file {pred_file} answers none of the {len(qids)} question ids "
        f"of data file {data_file} (e.g. {next(iter(predictions))!r} vs. {qids[0]!r}); "
        "give the predictions made for this data file.")


def check_no_answer_scores(na_probs, path):
  """Raises EvaluationError for a no-answer score that is not a number."""
  for qid, score in na_probs.items():
    if isinstance(score, bool) or not isinstance(score, (int, float)):
      raise EvaluationError(
          f"no-answer file {path}: the score of question id {qid!r} is {score!r}, not a "
          "number; give the null_odds.json run_squad.py wrote.")


def main(argv=None):
  parser = argparse.ArgumentParser(
      description="SQuAD v1.1/v2.0 and CMRC2018 evaluation (official metrics).")
  parser.add_argument("data_file", help="SQuAD-format JSON with gold answers.")
  parser.add_argument("pred_file", help="predictions.json: {question id: answer}.")
  parser.add_argument("--na_prob_file", "--na-prob-file", "-n", default=None,
                      help="null_odds.json: no-answer scores (v2.0 threshold search).")
  parser.add_argument("--na_prob_thresh", "--na-prob-thresh", "-t", type=float, default=1.0,
                      help="With --na_prob_file: answer \"\" where the score exceeds "
                           "this (the official default, 1.0).")
  parser.add_argument("--eval_language", choices=LANGUAGES, default="auto",
                      help="en: SQuAD metrics; zh: CMRC2018 metrics; auto: by the answers.")
  parser.add_argument("--out_file", "--out-file", "-o", default=None,
                      help="Also write the JSON metrics here.")
  args = parser.parse_args(argv)
  try:
    data = load_json(args.data_file, "data file")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
      raise EvaluationError(f"data file {args.data_file}: expected a SQuAD JSON object "
                            '{"version": ..., "data": [articles]}.')
    check_dataset(data["data"], f"data file {args.data_file}")
    predictions = _load_mapping(args.pred_file, "predictions file")
    check_predictions(predictions, data["data"], args.pred_file, args.data_file)
    na_probs = (_load_mapping(args.na_prob_file, "no-answer file")
                if args.na_prob_file else None)
    if na_probs is not None:
      check_no_answer_scores(na_probs, args.na_prob_file)
    if args.out_file:
      atomic_files.require_output_file(args.out_file, "out_file", "eval.json")
    results = evaluate(data["data"], predictions, na_probs,
                       args.na_prob_thresh if na_probs is not None else None,
                       args.eval_language)
  except errors.UserError as e:
    print(f"squad_evaluate.py: error: {e}", file=sys.stderr)
    return 1
  text = json.dumps(official_layout(results), indent=2 if "total" in results else None)
  print(text)
  if args.out_file:
    os.makedirs(os.path.dirname(os.path.abspath(args.out_file)), exist_ok=True)
    atomic_files.write_text(args.out_file, text + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
