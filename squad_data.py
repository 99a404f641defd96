"""SQuAD and CMRC2018 data: examples, features (windows), and answers from the logits.

The library side of run_squad.py (which keeps its flags, training and output
files); inference.py answers questions with the same code. Names and
behaviour are the reference's (SquadExample, InputFeatures, read_squad_examples,
convert_examples_to_features, FeatureWriter, write_predictions, get_final_text),
with the deliberate differences run_squad.py's docstring lists.
"""

import collections
import contextlib
import dataclasses
import math

from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import data_files
import errors
import feature_cache
import squad_evaluate
import tokenization
import windows

# The reference numbered features from here.
FIRST_UNIQUE_ID = 1000000000
# Start value of the minimum null score: larger than any real score.
LARGE_SCORE = 1000000.0


# ===================================================================== examples


@dataclasses.dataclass
class SquadExample:
  """One question on one paragraph; positions are indexes into doc_tokens."""
  qas_id: str
  question_text: str
  doc_tokens: list                 # the paragraph's words
  orig_answer_text: str = None
  start_position: int = None       # first word of the answer (training)
  end_position: int = None         # last word of the answer (training)
  is_impossible: bool = False
  # Per word: whether whitespace precedes it in the paragraph (False only
  # between words split apart at CJK characters). None: all True.
  doc_token_follows_space: list = None


@dataclasses.dataclass
class InputFeatures:
  """One window of an example, as the model sees it."""
  unique_id: int
  example_index: int
  doc_span_index: int
  tokens: list
  token_to_orig_map: dict          # window position -> word index in doc_tokens
  token_is_max_context: dict       # window position -> bool
  input_ids: list
  input_mask: list
  segment_ids: list
  start_position: int = None
  end_position: int = None
  is_impossible: bool = None


def _is_whitespace(char):
  """Word separators of a paragraph: space, tab, CR, LF and U+202F (it occurs in SQuAD)."""
  return char in " \t\r\n" or ord(char) == 0x202F


def _is_cjk_char(char):
  # The tokenizer's CJK ranges: each such character is also one basic token.
  return tokenization.is_cjk(ord(char))


def split_paragraph(text):
  """Words of a paragraph, as the reference but one word per CJK character.

  Args:
    text: str, the paragraph ("context").

  Returns:
    (doc_tokens, char_to_word_offset, follows_space): the words; for each
    character of `text` the index of its word (whitespace maps to the word
    before it, -1 before the first word); for each word whether whitespace
    precedes it.
  """
  split_cjk = any(_is_cjk_char(c) for c in text)
  doc_tokens, char_to_word_offset, follows_space = [], [], []
  new_word = after_space = True
  for char in text:
    if _is_whitespace(char):
      new_word = after_space = True
    else:
      cjk = split_cjk and _is_cjk_char(char)
      if new_word or cjk:
        doc_tokens.append(char)
        follows_space.append(after_space)
      else:
        doc_tokens[-1] += char
      new_word, after_space = cjk, False   # a CJK character ends its word
    char_to_word_offset.append(len(doc_tokens) - 1)
  return doc_tokens, char_to_word_offset, follows_space


def join_words(words, follows_space=None):
  """Words back to text: a space where the paragraph had whitespace."""
  if follows_space is None:
    return " ".join(words)
  pieces = []
  for index, (word, space) in enumerate(zip(words, follows_space)):
    pieces.append((" " if space and index else "") + word)
  return "".join(pieces)


def load_squad_data(path, flag_name):
  """Reads a SQuAD-format JSON file; returns its "data" list of articles."""
  text = data_files.read_text(path, f"the SQuAD JSON file of --{flag_name}")
  data = data_files.parse_json(text, f"--{flag_name}={path}")
  if not isinstance(data, dict) or not isinstance(data.get("data"), list):
    raise errors.DataError(f"--{flag_name}={path}: expected a SQuAD JSON object "
                           '{"version": ..., "data": [articles]}.')
  return data["data"]


def _require(mapping, key, kind, where):
  """mapping[key] if it is a `kind`, else a errors.DataError naming `where`."""
  if not isinstance(mapping, dict) or key not in mapping:
    raise errors.DataError(f"{where}: missing key {key!r}.")
  if not isinstance(mapping[key], kind):
    raise errors.DataError(f"{where}: {key!r} must be a {kind.__name__}, got "
                           f"{type(mapping[key]).__name__}.")
  return mapping[key]


def _answer_span(qa, where, words, char_to_word_offset, follows_space):
  """(answer text, start word, end word), or None when the text is not there."""
  answer = _require(qa, "answers", list, where)[0]
  text = _require(answer, "text", str, where + " answer 0")
  start_char = _require(answer, "answer_start", int, where + " answer 0")
  end_char = start_char + len(text) - 1
  if not text or start_char < 0 or end_char >= len(char_to_word_offset):
    logging.warning("%s: answer_start=%d with %r lies outside the context; skipped.",
                    where, start_char, text)
    return None
  start, end = char_to_word_offset[start_char], char_to_word_offset[end_char]
  # Keep only answers whose text is recovered from the words (a mismatch is
  # usually odd Unicode in the data).
  actual = join_words(words[start:end + 1], follows_space[start:end + 1])
  if actual.find(" ".join(text.split())) == -1:
    logging.warning("Could not find answer: %r vs. %r (%s); skipped.", actual, text, where)
    return None
  return text, start, end


def _read_paragraph(paragraph, where, is_training, version_2, examples):
  """Appends the paragraph's SquadExamples; returns how many were skipped."""
  context = _require(paragraph, "context", str, where)
  qas = _require(paragraph, "qas", list, where)
  words, char_to_word_offset, follows_space = split_paragraph(context)
  spaced = None if all(follows_space) else follows_space
  skipped = 0
  for qa in qas:
    if not isinstance(qa, dict) or "id" not in qa:
      raise errors.DataError(f"{where}: a question is missing key 'id'.")
    if not squad_evaluate.valid_question_id(qa["id"]):
      raise errors.DataError(f"{where}: question id {qa['id']!r} is not a string; write "
                             "it as a JSON string.")
    q_where = f"{where}, question id {qa['id']!r}"
    question = _require(qa, "question", str, q_where)
    example = SquadExample(squad_evaluate.question_id(qa), question, words,
                           doc_token_follows_space=spaced)
    if is_training:
      impossible = qa.get("is_impossible") if version_2 else False
      if impossible not in (True, False, None, 0, 1):   # "false" would read as true
        raise errors.DataError(f"{q_where}: is_impossible={impossible!r} must be true or "
                               "false (JSON, without quotes).")
      example.is_impossible = bool(impossible)
      if example.is_impossible:
        example.start_position = example.end_position = -1
        example.orig_answer_text = ""
      elif not _require(qa, "answers", list, q_where):
        raise errors.DataError(f"{q_where}: no answers to train on (an unanswerable "
                               "question needs --version_2_with_negative and "
                               '"is_impossible": true).')
      else:
        span = _answer_span(qa, q_where, words, char_to_word_offset, follows_space)
        if span is None:
          skipped += 1
          continue
        example.orig_answer_text, example.start_position, example.end_position = span
    examples.append(example)
  return skipped


def examples_from_data(articles, is_training, version_2_with_negative=False, source="data"):
  """SquadExamples of the "data" list of a SQuAD file, in file order.

  Training examples whose answer text is not found in the paragraph are
  skipped with a warning.
  """
  examples, skipped = [], 0
  for a_index, article in enumerate(articles):
    title = article.get("title", "") if isinstance(article, dict) else ""
    a_where = f"{source}: article {a_index} ({title!r})"
    for p_index, paragraph in enumerate(_require(article, "paragraphs", list, a_where)):
      skipped += _read_paragraph(paragraph, f"{a_where}, paragraph {p_index}",
                                 is_training, version_2_with_negative, examples)
  if skipped:
    logging.warning("%s: %d training questions skipped (answer not found in the context).",
                    source, skipped)
  counts = collections.Counter(example.qas_id for example in examples)
  repeated = [qas_id for qas_id, count in counts.items() if count > 1]
  if repeated and not is_training:
    # predictions.json is keyed by id: later questions would replace earlier ones.
    logging.warning("%s: %d question ids occur more than once (e.g. %s); predictions.json "
                    "keeps one answer per id, the last question's.", source, len(repeated),
                    ", ".join(map(repr, repeated[:3])))
  return examples


def read_squad_examples(input_file, is_training, version_2_with_negative=False,
                        flag_name="train_file"):
  """Reads a SQuAD-format JSON file into a list of SquadExample."""
  articles = load_squad_data(input_file, flag_name)
  return examples_from_data(articles, is_training, version_2_with_negative,
                            source=f"--{flag_name}={input_file}")


# ===================================================================== features


def _improve_answer_span(doc_tokens, input_start, input_end, tokenizer, orig_answer_text):
  """The smallest token span inside [input_start, input_end] spelling the answer.

  Word-level spans can be too wide: for the answer "1895" in "(1895-1943)."
  the word is the whole "(1895-1943).", whose pieces are ( 1895 - 1943 ) . ;
  the span that tokenizes like the answer is just "1895".
  """
  answer = " ".join(tokenizer.tokenize(orig_answer_text))
  for new_start in range(input_start, input_end + 1):
    for new_end in range(input_end, new_start - 1, -1):
      if " ".join(doc_tokens[new_start:new_end + 1]) == answer:
        return new_start, new_end
  return input_start, input_end


def _tokenize_document(doc_tokens, tokenizer):
  """Word pieces of the words, with the maps between word and piece indexes."""
  tok_to_orig_index, orig_to_tok_index, all_doc_tokens = [], [], []
  for index, word in enumerate(doc_tokens):
    orig_to_tok_index.append(len(all_doc_tokens))
    for piece in tokenizer.tokenize(word):
      tok_to_orig_index.append(index)
      all_doc_tokens.append(piece)
  return tok_to_orig_index, orig_to_tok_index, all_doc_tokens


def _answer_token_span(example, orig_to_tok_index, all_doc_tokens, tokenizer):
  """(first, last) answer piece of a training example; (-1, -1) if impossible."""
  if example.is_impossible:
    return -1, -1
  start = orig_to_tok_index[example.start_position]
  if example.end_position < len(example.doc_tokens) - 1:
    end = orig_to_tok_index[example.end_position + 1] - 1
  else:
    end = len(all_doc_tokens) - 1
  return _improve_answer_span(all_doc_tokens, start, end, tokenizer,
                              example.orig_answer_text)


def _window(query_tokens, all_doc_tokens, tok_to_orig_index, doc_spans, span_index):
  """tokens, segment_ids, token_to_orig_map, token_is_max_context of one window."""
  span = doc_spans[span_index]
  tokens = ["[CLS]"] + query_tokens + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  token_to_orig_map, token_is_max_context = {}, {}
  for i in range(span.length):
    split_index = span.start + i
    token_to_orig_map[len(tokens)] = tok_to_orig_index[split_index]
    token_is_max_context[len(tokens)] = (
        windows.best_window(doc_spans, split_index) == span_index)
    tokens.append(all_doc_tokens[split_index])
    segment_ids.append(1)
  tokens.append("[SEP]")
  segment_ids.append(1)
  return tokens, segment_ids, token_to_orig_map, token_is_max_context


def iter_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                  is_training):
  """Yields the InputFeatures of every window of every example, unique_id ascending.

  Training windows that do not contain the whole answer (and unanswerable
  questions) get start_position = end_position = 0, the [CLS] token. A
  WARNING is logged at the end when many word pieces are [UNK].
  """
  unique_id = FIRST_UNIQUE_ID
  cached_words, document = None, None
  # Counts the questions and paragraphs (each once), not the answers found in them.
  counter = tokenization.UnknownTokenCounter(tokenizer)
  for example_index, example in enumerate(examples):
    query_tokens = counter.tokenize(example.question_text)[:max_query_length]
    if example.doc_tokens is not cached_words:   # questions share their paragraph
      cached_words = example.doc_tokens
      document = _tokenize_document(example.doc_tokens, counter)
    tok_to_orig_index, orig_to_tok_index, all_doc_tokens = document
    if is_training:
      tok_start, tok_end = _answer_token_span(example, orig_to_tok_index, all_doc_tokens,
                                              tokenizer)
    # The 3 are [CLS], [SEP] and [SEP].
    max_tokens_for_doc = max_seq_length - len(query_tokens) - 3
    doc_spans = windows.spans(len(all_doc_tokens), max_tokens_for_doc, doc_stride)
    for span_index, span in enumerate(doc_spans):
      tokens, segment_ids, token_to_orig_map, token_is_max_context = _window(
          query_tokens, all_doc_tokens, tok_to_orig_index, doc_spans, span_index)
      input_ids, input_mask, segment_ids = tokenization.padded_ids(
          tokenizer, tokens, segment_ids, max_seq_length)
      feature = InputFeatures(
          unique_id=unique_id, example_index=example_index, doc_span_index=span_index,
          tokens=tokens, token_to_orig_map=token_to_orig_map,
          token_is_max_context=token_is_max_context, input_ids=input_ids,
          input_mask=input_mask, segment_ids=segment_ids,
          is_impossible=example.is_impossible)
      if is_training:
        feature.start_position = feature.end_position = 0
        inside = span.start <= tok_start and tok_end <= span.start + span.length - 1
        if not example.is_impossible and inside:
          offset = len(query_tokens) + 2 - span.start
          feature.start_position, feature.end_position = tok_start + offset, tok_end + offset
      yield feature
      unique_id += 1
  counter.log_warning("the training questions and paragraphs" if is_training
                      else "the questions and paragraphs to predict")


def convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride,
                                 max_query_length, is_training, output_fn):
  """The reference's entry point: calls output_fn(InputFeatures) per window."""
  for feature in iter_features(examples, tokenizer, max_seq_length, doc_stride,
                               max_query_length, is_training):
    output_fn(feature)


class FeatureWriter:
  """Writes InputFeatures to a TFRecord file with the reference's feature names.

  Written under a temporary name and renamed by close(), so a reader never
  sees a half-written file. Use as a context manager.
  """

  def __init__(self, filename, is_training):
    self.filename = filename
    self.is_training = is_training
    self.num_features = 0
    self._files = contextlib.ExitStack()
    tmp = self._files.enter_context(atomic_files.atomic_path(filename))
    self._writer = self._files.enter_context(tf.io.TFRecordWriter(tmp))

  def process_feature(self, feature):
    values = collections.OrderedDict(
        unique_ids=feature_cache.int_feature([feature.unique_id]),
        input_ids=feature_cache.int_feature(feature.input_ids),
        input_mask=feature_cache.int_feature(feature.input_mask),
        segment_ids=feature_cache.int_feature(feature.segment_ids))
    if self.is_training:
      values["start_positions"] = feature_cache.int_feature([feature.start_position])
      values["end_positions"] = feature_cache.int_feature([feature.end_position])
      values["is_impossible"] = feature_cache.int_feature([int(bool(feature.is_impossible))])
    self._writer.write(feature_cache.serialize_example(values))
    self.num_features += 1

  def close(self):
    self._files.close()

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    return self._files.__exit__(exc_type, exc, tb)


def train_records(path, seq_length):
  """Unbatched dataset of the parsed train.tf_record (int32 features)."""
  spec = {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "start_positions": tf.io.FixedLenFeature([], tf.int64),
      "end_positions": tf.io.FixedLenFeature([], tf.int64),
      "is_impossible": tf.io.FixedLenFeature([], tf.int64, default_value=0),
  }
  return feature_cache.int32_records(path, spec)


def feature_chunks(features, chunk_size=4096):
  """Prediction windows as numpy chunks for Trainer.predict."""
  for begin in range(0, len(features), chunk_size):
    chunk = features[begin:begin + chunk_size]
    yield {name: np.array([getattr(f, name) for f in chunk], np.int32)
           for name in ("input_ids", "input_mask", "segment_ids")}


# ===================================================================== model


RawResult = collections.namedtuple("RawResult", ["unique_id", "start_logits", "end_logits"])


def raw_results(features, outputs):
  """A RawResult per window: its start and end logits over its own tokens.

  Args:
    features: the InputFeatures the model ran on, in order.
    outputs: {"start_logits", "end_logits"}: arrays [windows, padded length].
  """
  return [RawResult(feature.unique_id,
                    outputs["start_logits"][i, :len(feature.tokens)].tolist(),
                    outputs["end_logits"][i, :len(feature.tokens)].tolist())
          for i, feature in enumerate(features)]


_PrelimPrediction = collections.namedtuple(
    "PrelimPrediction", ["feature_index", "start_index", "end_index", "start_logit",
                         "end_logit"])
_NbestPrediction = collections.namedtuple("NbestPrediction",
                                          ["text", "start_logit", "end_logit"])


def _get_best_indexes(logits, n_best_size):
  """Indexes of the n_best_size largest logits, largest first (lower index on ties)."""
  order = sorted(range(len(logits)), key=lambda i: logits[i], reverse=True)
  return order[:n_best_size]


def _compute_softmax(scores):
  """Softmax of a list of floats (as Python floats); [] for []."""
  if not scores:
    return []
  top = max(scores)
  exps = [math.exp(s - top) for s in scores]
  total = sum(exps)
  return [e / total for e in exps]


def _without_spaces(text):
  """`text` without " ", and for each kept character its index in `text`."""
  positions = [i for i, c in enumerate(text) if c != " "]
  return "".join(text[i] for i in positions), positions


def get_final_text(pred_text, orig_text, do_lower_case, verbose_logging=False):
  """Projects a de-tokenized prediction onto the original text of its words.

  `pred_text` is in tokenizer form (lower-cased, accents stripped, punctuation
  spaced out); `orig_text` is the original words the span covers, which can
  hold more than the answer ("Smith's" for the answer "smith"). The original
  is tokenized the same way, the prediction is found in it, and the match is
  carried back character by character through both texts with spaces
  removed. When that alignment is impossible (tokenization changed the
  number of characters) the whole `orig_text` is returned.

  Args:
    pred_text: str, e.g. "steve smith".
    orig_text: str, e.g. "Steve Smith's".
    do_lower_case: bool, how the model's tokenizer normalised text.
    verbose_logging: log why a mapping failed.

  Returns:
    str, a substring of orig_text (e.g. "Steve Smith").
  """
  tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  tok_text = " ".join(tokenizer.tokenize(orig_text))
  start = tok_text.find(pred_text)
  if start == -1:
    if verbose_logging:
      logging.info("Unable to find text: %r in %r", pred_text, orig_text)
    return orig_text
  end = start + len(pred_text) - 1
  orig_chars, orig_positions = _without_spaces(orig_text)
  tok_chars, tok_positions = _without_spaces(tok_text)
  if len(orig_chars) != len(tok_chars):
    if verbose_logging:
      logging.info("Length not equal after stripping spaces: %r vs %r", orig_chars,
                   tok_chars)
    return orig_text
  tok_to_stripped = {position: i for i, position in enumerate(tok_positions)}
  if start not in tok_to_stripped or end not in tok_to_stripped:
    if verbose_logging:
      logging.info("Couldn't map the start or end of %r in %r", pred_text, orig_text)
    return orig_text
  orig_start = orig_positions[tok_to_stripped[start]]
  orig_end = orig_positions[tok_to_stripped[end]]
  return orig_text[orig_start:orig_end + 1]


def _prelim_predictions(features, results, n_best_size, max_answer_length, version_2):
  """Valid spans of every window, and the null candidate of lowest score (v2.0)."""
  prelims = []
  null = None
  for index, (feature, result) in enumerate(zip(features, results)):
    if version_2:
      score = result.start_logits[0] + result.end_logits[0]
      if null is None or score < null.start_logit + null.end_logit:
        null = _PrelimPrediction(index, 0, 0, result.start_logits[0], result.end_logits[0])
    for start in _get_best_indexes(result.start_logits, n_best_size):
      for end in _get_best_indexes(result.end_logits, n_best_size):
        # Spans must lie in the context, start where this window has the
        # token's best context, and not be reversed or too long.
        if start not in feature.token_to_orig_map or end not in feature.token_to_orig_map:
          continue
        if not feature.token_is_max_context.get(start, False):
          continue
        if end < start or end - start + 1 > max_answer_length:
          continue
        prelims.append(_PrelimPrediction(index, start, end, result.start_logits[start],
                                         result.end_logits[end]))
  if null is not None:
    prelims.append(null)
  prelims.sort(key=lambda p: p.start_logit + p.end_logit, reverse=True)
  return prelims, null


def _span_text(example, feature, pred, do_lower_case, verbose_logging):
  """The original-text answer of a span of word pieces."""
  pieces = feature.tokens[pred.start_index:pred.end_index + 1]
  tok_text = " ".join(pieces).replace(" ##", "").replace("##", "")
  tok_text = " ".join(tok_text.split())
  first = feature.token_to_orig_map[pred.start_index]
  last = feature.token_to_orig_map[pred.end_index]
  spaced = example.doc_token_follows_space
  orig_text = join_words(example.doc_tokens[first:last + 1],
                         spaced[first:last + 1] if spaced else None)
  return get_final_text(tok_text, orig_text, do_lower_case, verbose_logging)


def predict_example(example, features, results, n_best_size, max_answer_length,
                    do_lower_case, version_2_with_negative=False,
                    null_score_diff_threshold=0.0, verbose_logging=False):
  """Answer, n-best list and (v2.0) null score difference of one question.

  Args:
    example: SquadExample.
    features: its InputFeatures (windows), in order.
    results: RawResult per window (logits over the window's real tokens).

  Returns:
    (prediction str, nbest list of OrderedDict(text, probability, start_logit,
    end_logit), score_diff float or None).
  """
  prelims, null = _prelim_predictions(features, results, n_best_size, max_answer_length,
                                      version_2_with_negative)
  nbest, seen = [], set()
  for pred in prelims:
    if len(nbest) >= n_best_size:
      break
    text = ""
    if pred.start_index > 0:    # a span, not the null answer
      text = _span_text(example, features[pred.feature_index], pred, do_lower_case,
                        verbose_logging)
      if text in seen:
        continue
    seen.add(text)
    nbest.append(_NbestPrediction(text, pred.start_logit, pred.end_logit))
  if null is not None and "" not in seen:
    nbest.append(_NbestPrediction("", null.start_logit, null.end_logit))
  if not nbest:   # no valid span at all (e.g. an empty context): the reference's nonce
    nbest.append(_NbestPrediction("empty", 0.0, 0.0))
  probs = _compute_softmax([e.start_logit + e.end_logit for e in nbest])
  nbest_json = [collections.OrderedDict(text=e.text, probability=p,
                                        start_logit=e.start_logit, end_logit=e.end_logit)
                for e, p in zip(nbest, probs)]
  if not version_2_with_negative:
    return nbest_json[0]["text"], nbest_json, None
  best_span = next((e for e in nbest if e.text), None)
  if best_span is None:
    return "", nbest_json, LARGE_SCORE
  null_score = null.start_logit + null.end_logit if null else LARGE_SCORE
  score_diff = null_score - best_span.start_logit - best_span.end_logit
  prediction = "" if score_diff > null_score_diff_threshold else best_span.text
  return prediction, nbest_json, score_diff


def compute_predictions(all_examples, all_features, all_results, n_best_size,
                        max_answer_length, do_lower_case, version_2_with_negative=False,
                        null_score_diff_threshold=0.0, verbose_logging=False):
  """Predictions of every example: (predictions, nbest, null_odds) OrderedDicts by qas_id."""
  by_example = collections.defaultdict(list)
  results = {r.unique_id: r for r in all_results}
  for feature in all_features:
    by_example[feature.example_index].append(feature)
  predictions = collections.OrderedDict()
  nbest = collections.OrderedDict()
  null_odds = collections.OrderedDict()
  for index, example in enumerate(all_examples):
    features = by_example[index]
    prediction, nbest_json, score_diff = predict_example(
        example, features, [results[f.unique_id] for f in features], n_best_size,
        max_answer_length, do_lower_case, version_2_with_negative,
        null_score_diff_threshold, verbose_logging)
    predictions[example.qas_id] = prediction
    nbest[example.qas_id] = nbest_json
    if version_2_with_negative:
      null_odds[example.qas_id] = score_diff
  return predictions, nbest, null_odds


def write_json(path, data):
  """json.dumps(data, indent=4) + "\\n" as the reference, via a temporary file."""
  atomic_files.write_json(path, data, indent=4, sort_keys=False)


def write_predictions(all_examples, all_features, all_results, n_best_size,
                      max_answer_length, do_lower_case, output_prediction_file,
                      output_nbest_file, output_null_log_odds_file,
                      version_2_with_negative=False, null_score_diff_threshold=0.0,
                      verbose_logging=False):
  """The reference's entry point: computes and writes the prediction files."""
  predictions, nbest, null_odds = compute_predictions(
      all_examples, all_features, all_results, n_best_size, max_answer_length,
      do_lower_case, version_2_with_negative, null_score_diff_threshold, verbose_logging)
  write_json(output_prediction_file, predictions)
  write_json(output_nbest_file, nbest)
  if version_2_with_negative:
    write_json(output_null_log_odds_file, null_odds)
  return predictions, nbest, null_odds
