# coding=utf-8
"""Test oracle: the official CMRC2018 evaluation (cmrc2018_evaluate.py), plainly.

Written for the tests from the official script's documented behaviour,
independently of squad_evaluate.py, step for step as the script goes: a
punctuation *list* (with its two-character "……" entry) searched per character,
a regular-expression test for the Chinese range, `mixed_segmentation` with its
rm_punc switch, `remove_punctuation`, `find_lcs` over the full table, the
per-question maximum and the sum over every question (missing predictions
counted and skipped). The word tokenizer is a parameter: real
`nltk.word_tokenize` when NLTK and its English Punkt model are installed, else
the project's reproduction.

`stress_predictions` builds predictions from the real CMRC2018 dev answers that
exercise every rule: listed and unlisted punctuation, ASCII words with periods,
contractions and quotes, spaces, truncation, mixed case, full-width letters and
digits with punctuation.
"""

import random
import re

SP_CHAR = ["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
           "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
           "「", "」", "（", "）", "－", "～", "『", "』"]
CHINESE = re.compile("[\u4e00-\u9fa5]")


def nltk_tokenizer():
  """nltk.word_tokenize if NLTK and its English Punkt model load, else None."""
  try:
    import nltk  # pylint: disable=import-outside-toplevel
    nltk.word_tokenize("a. b")
  except (ImportError, LookupError):
    return None
  return nltk.word_tokenize


def mixed_segmentation(text, word_tokenize, rm_punc=False):
  text = str(text).lower().strip()
  segments = []
  pending = ""
  for char in text:
    if rm_punc and char in SP_CHAR:
      continue
    if CHINESE.search(char) or char in SP_CHAR:
      if pending != "":
        segments.extend(word_tokenize(pending))
        pending = ""
      segments.append(char)
    else:
      pending += char
  if pending != "":
    segments.extend(word_tokenize(pending))
  return segments


def remove_punctuation(text):
  text = str(text).lower().strip()
  return "".join(char for char in text if char not in SP_CHAR)


def find_lcs(s1, s2):
  """(longest common substring of the lists, its length)."""
  table = [[0] * (len(s2) + 1) for _ in range(len(s1) + 1)]
  longest = end = 0
  for i in range(len(s1)):
    for j in range(len(s2)):
      if s1[i] == s2[j]:
        table[i + 1][j + 1] = table[i][j] + 1
        if table[i + 1][j + 1] > longest:
          longest = table[i + 1][j + 1]
          end = i + 1
  return s1[end - longest:end], longest


def calc_f1_score(answers, prediction, word_tokenize):
  scores = []
  for answer in answers:
    answer_segments = mixed_segmentation(answer, word_tokenize, rm_punc=True)
    prediction_segments = mixed_segmentation(prediction, word_tokenize, rm_punc=True)
    _, length = find_lcs(answer_segments, prediction_segments)
    if length == 0:
      scores.append(0)
      continue
    precision = 1.0 * length / len(prediction_segments)
    recall = 1.0 * length / len(answer_segments)
    scores.append((2 * precision * recall) / (precision + recall))
  return max(scores)


def calc_em_score(answers, prediction):
  return int(any(remove_punctuation(a) == remove_punctuation(prediction) for a in answers))


def evaluate(dataset, predictions, word_tokenize):
  """(F1, EM, total, skipped) on the 0-100 scale, unrounded."""
  f1 = em = total = skipped = 0
  for article in dataset["data"]:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        total += 1
        qid = qa["id"].strip()
        if qid not in predictions:
          skipped += 1
          continue
        answers = [a["text"] for a in qa["answers"]]
        prediction = str(predictions[qid])
        f1 += calc_f1_score(answers, prediction, word_tokenize)
        em += calc_em_score(answers, prediction)
  return 100.0 * f1 / total, 100.0 * em / total, total, skipped


# --------------------------------------------------------------------- stress set

LISTED = "-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』"
UNLISTED = [".", ",", "'", '"', "(", ")", "%", "$", "&", "!", "?", "…", "‘", "«", "»",
            "—", "–", "[", "]", ";", "@", "#", "<", ">", "...", "．", "〈", "〉"]
WORDS = ["the", "ABC", "Mr. Smith", "U.S.", "can't", "don't", "J. K. Rowling", "3.5%",
         "1,000", "$100", "e.g.", "etc.", "It's", "cannot", "gonna", "'tis", "ok.",
         "Inc.", "No. 5", "a.m.", "version 2.0", "(JR)", '"Iskra"', "x-ray", "3.",
         "U.S.A", "end. Start", "wow! yes", "why? because", "A. B.", "14.5 km/h"]
SPACES = [" ", "  ", "\t", "\u3000", "\xa0"]


def _full_width(text):
  return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _mixed_case(text, rng):
  return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


def _insert(text, piece, rng):
  at = rng.randint(0, len(text))
  return text[:at] + piece + text[at:]


def _stress(answer, rng):
  """One random rewrite of a gold answer."""
  kind = rng.randrange(10)
  if kind == 0:
    return answer
  if kind == 1:
    return _insert(answer, "".join(rng.choice(LISTED) for _ in range(rng.randint(1, 3))), rng)
  if kind == 2:
    return _insert(answer, rng.choice(UNLISTED), rng)
  if kind == 3:
    return _insert(answer, rng.choice(SPACES) + rng.choice(WORDS) + rng.choice(SPACES + [""]), rng)
  if kind == 4:
    return _insert(answer, rng.choice(SPACES), rng)
  if kind == 5:
    cut = rng.randint(0, len(answer))
    return answer[:cut] if rng.random() < 0.5 else answer[cut:]
  if kind == 6:
    return _mixed_case(answer + rng.choice(WORDS), rng)
  if kind == 7:
    return _full_width(_insert(answer, rng.choice(WORDS), rng))
  if kind == 8:
    return rng.choice(WORDS) + rng.choice(UNLISTED) + answer + rng.choice(UNLISTED)
  return _insert(answer, rng.choice(SPACES) + rng.choice(WORDS) + rng.choice(UNLISTED), rng)


def stress_predictions(dataset, seed=0, rewrites=2):
  """{question id: prediction}: real gold answers rewritten `rewrites` times.

  About 1 in 50 questions gets no prediction and 1 in 50 the empty string.
  """
  rng = random.Random(seed)
  predictions = {}
  for article in dataset["data"]:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        roll = rng.random()
        if roll < 0.02:
          continue
        if roll < 0.04:
          predictions[qa["id"]] = ""
          continue
        text = rng.choice(qa["answers"])["text"]
        for _ in range(rewrites):
          text = _stress(text, rng)
        predictions[qa["id"]] = text
  return predictions
