# coding=utf-8
"""BERT tokenization: basic (cleaning, CJK, casing, punctuation) + WordPiece.

Output is identical, token for token, to google-research/bert's tokenization.py
on any input. The reference walks every character through Python functions;
here the per-character decisions live in lazily filled `str.translate` tables
and `FullTokenizer` caches the word pieces of each whitespace-delimited word,
which makes it several times faster on real text. No TensorFlow import: the
module is flag-free and loads in milliseconds (gs:// style paths use
`tf.io.gfile`, imported only when such a path is given).
"""

import collections
import os
import re
import unicodedata

from absl import logging

import errors

# CJK ideograph blocks that get spaces around them, exactly the reference's
# ranges. Hangul, Hiragana and Katakana are NOT included: those scripts write
# space-separated words and are treated like every other language.
CJK_RANGES = (
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0x3400, 0x4DBF),    # Extension A
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2B73F),  # Extension C
    (0x2B740, 0x2B81F),  # Extension D
    (0x2B820, 0x2CEAF),  # Extension E
    (0xF900, 0xFAFF),    # Compatibility Ideographs
    (0x2F800, 0x2FA1F),  # Compatibility Ideographs Supplement
)

# Each lazily filled character table stops growing here, so text full of rare
# code points cannot make it hold all 1.1M of them (lookups stay correct).
_MAX_CHAR_TABLE_SIZE = 1 << 16

# Official checkpoint names (the directory the Google zip files unpack to).
# The reference knew only the first four uncased and three cased names.
_SMALL_BERT_NAMES = tuple(
    "uncased_L-%d_H-%d_A-%d" % (layers, hidden, hidden // 64)
    for layers in (2, 4, 6, 8, 10, 12)
    for hidden in (128, 256, 512, 768))
_UNCASED_MODELS = frozenset(
    ("uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
     "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12",
     "wwm_uncased_L-24_H-1024_A-16") + _SMALL_BERT_NAMES)
_CASED_MODELS = frozenset(
    ("cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16",
     "multi_cased_L-12_H-768_A-12", "wwm_cased_L-24_H-1024_A-16"))

# The name is the path component right before
# `/bert_model.ckpt` (which may carry a suffix such as `.index`).
_CKPT_IN_MODEL_DIR = re.compile(r"([A-Za-z0-9_-]+)/bert_model\.ckpt")


class VocabLookupError(KeyError, errors.UserError):
  """A token or id is missing from the vocabulary.

  Subclasses KeyError (what the reference raised) and UserError (a
  ValueError), so callers catching either keep working.
  """

  def __str__(self):
    # KeyError would print the message wrapped in quotes.
    return str(self.args[0])


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
  """Checks that `do_lower_case` matches an official checkpoint's casing.

  The casing is not stored in bert_config.json, so it is inferred from the
  official model name: the directory holding `bert_model.ckpt`, or the last
  component when `init_checkpoint` is the model directory itself. Unknown
  names (e.g. your own fine-tuned checkpoints) are not checked.

  Args:
    do_lower_case: bool, the casing the caller intends to tokenize with.
    init_checkpoint: str or None, e.g.
      ".../uncased_L-12_H-768_A-12/bert_model.ckpt" or
      ".../uncased_L-12_H-768_A-12/".

  Raises:
    ValueError: the checkpoint is an official model of the other casing.
  """
  if not init_checkpoint:
    return
  match = _CKPT_IN_MODEL_DIR.search(init_checkpoint)
  if match:
    model_name = match.group(1)
  else:
    model_name = init_checkpoint.rstrip("/").rsplit("/", 1)[-1]
  _check_case(do_lower_case, model_name, "init_checkpoint", init_checkpoint)


def define_flags(flag_values):
  """Defines --vocab_file and --do_lower_case, the tokenizer's two flags.

  Args:
    flag_values: the program's absl FlagValues.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flag_values
  flags.DEFINE_string("vocab_file", None, "vocab.txt of the pre-trained model.",
                      flag_values=f)
  flags.DEFINE_bool("do_lower_case", True, "Lower-case the input: True for uncased "
                    "models, False for cased ones.", flag_values=f)


# The tokens every BERT input is made of, besides the words.
INPUT_TOKENS = ("[CLS]", "[SEP]", "[UNK]")


def require_tokens(vocab, vocab_file, tokens=INPUT_TOKENS,
                   fix="pass the vocab.txt that came with the checkpoint"):
  """Raises UserError naming the file when `vocab` (token -> id) lacks one of `tokens`."""
  missing = [token for token in tokens if token not in vocab]
  if missing:
    raise errors.UserError(f"--vocab_file={vocab_file} has no {'/'.join(missing)} token; "
                           f"the inputs need {', '.join(tokens)}: {fix}.")


def validate_case_matches_vocab(do_lower_case, vocab_file):
  """Like validate_case_matches_checkpoint, for `<official model dir>/vocab.txt`.

  Catches the same mistake where no checkpoint is given (create_pretraining_data.py)
  or the checkpoint was copied elsewhere but the vocabulary was not.

  Raises:
    ValueError: the folder holding `vocab_file` is an official model of the
      other casing.
  """
  if not vocab_file:
    return
  model_name = os.path.basename(os.path.dirname(os.path.normpath(vocab_file)))
  _check_case(do_lower_case, model_name, "vocab_file", vocab_file)


# Letter tokens a vocabulary needs before its casing is judged from its contents.
_MIN_WORDS_FOR_CASING = 500


def case_mismatch_warning(do_lower_case, vocab, vocab_file):
  """One line when the vocabulary's own tokens contradict do_lower_case, else None.

  A cased vocabulary has capital letters in many word tokens; an uncased one
  in none. Judged from the contents, so it works whatever the folder is called.

  Args:
    do_lower_case: bool.
    vocab: iterable of the vocabulary's tokens.
    vocab_file: str, named in the message.
  """
  words = [t[2:] if t.startswith("##") else t for t in vocab]
  words = [w for w in words if w.isalpha()]
  if len(words) < _MIN_WORDS_FOR_CASING:
    return None
  capitalised = sum(any(c.isupper() for c in w) for w in words)
  if do_lower_case and capitalised > 0.05 * len(words):
    return (f"--vocab_file={vocab_file} is a cased vocabulary ({capitalised} of its "
            f"{len(words)} word tokens have capital letters) but --do_lower_case=true "
            "lower-cases the text, so those tokens are never used; pass "
            "--do_lower_case=false for a cased model.")
  # Uncased vocabularies keep a few capital symbols (bert-base-uncased: "ℝ").
  if not do_lower_case and capitalised < 0.001 * len(words):
    return (f"--vocab_file={vocab_file} is an uncased vocabulary ({capitalised} of its "
            f"{len(words)} word tokens have capital letters) but --do_lower_case=false "
            "keeps capitals, so capitalised words become [UNK] or other pieces; pass "
            "--do_lower_case=true for an uncased model.")
  return None


def _check_case(do_lower_case, model_name, flag_name, path):
  if model_name in _UNCASED_MODELS and not do_lower_case:
    case_name, fix = "uncased (lower-cased)", True
  elif model_name in _CASED_MODELS and do_lower_case:
    case_name, fix = "cased", False
  else:
    return
  raise errors.UserError(
      "Received do_lower_case=%s with --%s=%s, but `%s` is the "
      "official %s BERT model; pass --do_lower_case=%s so that text is "
      "tokenized the way the model was pre-trained." %
      (bool(do_lower_case), flag_name, path, model_name, case_name, fix))


def convert_to_unicode(text):
  """Returns `text` as str, decoding bytes as UTF-8 (invalid bytes dropped)."""
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError("Unsupported string type: %s; expected str or UTF-8 bytes."
                   % type(text))


def printable_text(text):
  """Returns `text` as a str suitable for print or logging."""
  return convert_to_unicode(text)


def _read_bytes(path):
  """Returns the raw bytes of a local file or a gs://-style URL."""
  if "://" in path:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError("Vocabulary file not found: %s" % path)
    with tf.io.gfile.GFile(path, "rb") as reader:
      return reader.read()
  try:
    with open(path, "rb") as reader:
      return reader.read()
  except FileNotFoundError:
    raise FileNotFoundError("Vocabulary file not found: %s" % path) from None
  except IsADirectoryError:
    raise errors.UserError("Vocabulary file %s is a directory; give the vocab.txt in it."
                           % path) from None
  except PermissionError:
    raise errors.UserError("Vocabulary file %s cannot be read: permission denied; make it "
                           "readable (chmod a+r)." % path) from None


def load_vocab(vocab_file):
  """Loads a WordPiece vocabulary: one token a line, id = 0-based line number.

  Same semantics as the reference: each line is stripped of surrounding
  whitespace; a blank line still takes an id (its token is ""); a duplicated
  token keeps its first position in the dict but maps to its LAST line's id.

  Args:
    vocab_file: str, path of a UTF-8 vocab.txt (local or gs://-style URL).

  Returns:
    collections.OrderedDict mapping token (str) to id (int).

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is empty, has only blank lines or is not UTF-8.
  """
  raw = _read_bytes(vocab_file)
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    line = raw.count(b"\n", 0, e.start) + 1
    raise errors.UserError("Vocabulary file %s is not valid UTF-8: byte 0x%02x at "
                           "line %d; re-save it as UTF-8." %
                           (vocab_file, raw[e.start], line)) from None
  # Lines end at "\n" only (as with tf.gfile's readline); a trailing "\r" or
  # other whitespace is removed by strip() below.
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()  # the text after the final newline is not a line
  vocab = collections.OrderedDict()
  for index, line in enumerate(lines):
    vocab[line.strip()] = index
  if not any(vocab):
    raise errors.UserError("Vocabulary file %s has no tokens; expected one WordPiece "
                           "token per line, like BERT's vocab.txt." % vocab_file)
  return vocab


def convert_by_vocab(vocab, items):
  """Maps each of `items` (tokens or ids) through `vocab`.

  Args:
    vocab: dict, token -> id or id -> token.
    items: iterable of tokens or ids.

  Returns:
    A list with vocab[item] for each item.

  Raises:
    VocabLookupError: an item is not in `vocab` (a KeyError and ValueError).
  """
  output = []
  for item in items:
    try:
      output.append(vocab[item])
    except KeyError:
      raise VocabLookupError(
          "%r is not in the vocabulary (%d entries); tokenize text with "
          "FullTokenizer.tokenize, which maps unknown words to [UNK]." %
          (item, len(vocab))) from None
  return output


def convert_tokens_to_ids(vocab, tokens):
  """Returns the ids (list of int) of `tokens` under `vocab`."""
  return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
  """Returns the tokens (list of str) of `ids` under `inv_vocab`."""
  return convert_by_vocab(inv_vocab, ids)


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates a pair of token lists in place until together they fit `max_length`.

  One token at a time from the longer list (from b on a tie), as the
  reference: a shorter text keeps proportionally more of its tokens.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def encode_pair(tokens_a, tokens_b, max_seq_length):
  """`[CLS] a [SEP]` (+ `b [SEP]`) within max_seq_length: (tokens, segment_ids).

  tokens_b None is a single text, cut at its end; a list (even empty) makes a
  pair, truncated by truncate_seq_pair. Truncates the lists in place.
  """
  if tokens_b is None:
    del tokens_a[max_seq_length - 2:]                    # [CLS], [SEP]
    tail = []
  else:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)   # [CLS], [SEP], [SEP]
    tail = tokens_b + ["[SEP]"]
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tail
  return tokens, [0] * (len(tokens_a) + 2) + [1] * len(tail)


def padded_ids(tokenizer, tokens, segment_ids, max_seq_length):
  """(input_ids, input_mask, segment_ids) of `tokens`, zero-padded to max_seq_length."""
  padding = [0] * (max_seq_length - len(tokens))
  return (tokenizer.convert_tokens_to_ids(tokens) + padding, [1] * len(tokens) + padding,
          list(segment_ids) + padding)


def whitespace_tokenize(text):
  """Splits `text` on any run of whitespace (str.split), dropping empties."""
  return text.split()


def is_cjk(cp):
  """Returns True if code point `cp` is in one of the CJK blocks of CJK_RANGES."""
  for low, high in CJK_RANGES:
    if low <= cp <= high:
      return True
  return False


def is_punctuation(char):
  """Returns True for ASCII non-alphanumeric symbols and Unicode category P*."""
  cp = ord(char)
  # "$", "^", "`", "+" etc. are not Unicode punctuation but are split anyway.
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


def clean_entry(cp):
  """Translation of one code point by text cleaning + CJK spacing.

  Returns None to drop it (NUL, U+FFFD, category Cc/Cf except tab/newline/CR),
  " " for whitespace (space, tab, newline, CR, category Zs), " c " for a CJK
  ideograph c, and `cp` itself otherwise.
  """
  char = chr(cp)
  if char in "\t\n\r ":
    return " "
  category = unicodedata.category(char)
  if cp == 0 or cp == 0xFFFD or category in ("Cc", "Cf"):
    return None
  if category == "Zs":
    return " "
  if is_cjk(cp):
    return " %s " % char
  return cp


def _punctuation_entry(cp):
  """Puts spaces around punctuation so str.split() isolates it."""
  char = chr(cp)
  return " %s " % char if is_punctuation(char) else cp


def _nonspacing_mark_entry(cp):
  """Drops combining marks of category Mn (accents after NFD)."""
  return None if unicodedata.category(chr(cp)) == "Mn" else cp


class _CharTable(dict):
  """A str.translate table computed per code point on first use."""

  def __init__(self, entry_fn):
    super().__init__()
    self._entry_fn = entry_fn
    for cp in range(128):  # ASCII is always in the table
      self[cp] = entry_fn(cp)

  def __missing__(self, cp):
    value = self._entry_fn(cp)
    if len(self) < _MAX_CHAR_TABLE_SIZE:
      self[cp] = value
    return value


_CLEAN_TABLE = _CharTable(clean_entry)
_PUNCTUATION_TABLE = _CharTable(_punctuation_entry)
_NONSPACING_MARK_TABLE = _CharTable(_nonspacing_mark_entry)


class BasicTokenizer(object):
  """Runs basic tokenization (cleaning, CJK splitting, casing, punctuation)."""

  def __init__(self, do_lower_case=True):
    """Constructs a BasicTokenizer.

    Args:
      do_lower_case: bool, lower-case and strip accents (uncased models).
    """
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    """Splits `text` (str or UTF-8 bytes) into a list of basic tokens (str)."""
    output = []
    for word in self.split_words(text):
      output.extend(self.split_word(word))
    return output

  @staticmethod
  def split_words(text):
    """Cleans `text`, spaces out CJK ideographs, splits on whitespace.

    Args:
      text: str or UTF-8 bytes.

    Returns:
      A list of words (str): the units `split_word` works on.
    """
    return convert_to_unicode(text).translate(_CLEAN_TABLE).split()

  def split_word(self, word):
    """Casing, accent stripping and punctuation splitting of one word.

    Args:
      word: str, one item of `split_words`' output.

    Returns:
      A list of basic tokens (str); empty if only accents were left.
    """
    if self.do_lower_case:
      # lower() is applied to the whole word as in the reference: Greek
      # capital sigma lower-cases differently at the end of a word.
      word = word.lower()
      if not word.isascii():
        word = unicodedata.normalize("NFD", word).translate(
            _NONSPACING_MARK_TABLE)
    # Equal to the reference's split-on-punctuation followed by its second
    # whitespace split: no punctuation character is whitespace.
    return word.translate(_PUNCTUATION_TABLE).split()


class WordpieceTokenizer(object):
  """Runs WordPiece tokenization (greedy longest match first)."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    """Constructs a WordpieceTokenizer.

    Args:
      vocab: dict whose keys are the WordPiece tokens; must not be modified
        afterwards (the longest token length is computed here).
      unk_token: str, emitted for a word that cannot be split.
      max_input_chars_per_word: int, longer words become `unk_token`.
    """
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word
    # No vocab entry is longer than these, so longer candidate substrings
    # can be skipped without changing which match is found first.
    self._max_piece_chars = max((len(t) for t in vocab), default=0)
    self._max_suffix_chars = max(
        (len(t) - 2 for t in vocab if t.startswith("##")), default=0)

  def tokenize(self, text):
    """Splits `text` into word pieces, e.g. "unaffable" -> un ##aff ##able.

    Args:
      text: str or UTF-8 bytes, one word or whitespace-separated words,
        normally the output of BasicTokenizer.

    Returns:
      A list of word pieces (str).
    """
    output = []
    for word in convert_to_unicode(text).split():
      output.extend(self.tokenize_word(word))
    return output

  def tokenize_word(self, word):
    """Returns the word pieces (list of str) of one word without whitespace."""
    vocab = self.vocab
    length = len(word)
    if length > self.max_input_chars_per_word:
      return [self.unk_token]
    if word in vocab:
      return [word]
    pieces = []
    start = 0
    while start < length:
      if start == 0:
        end = min(length, self._max_piece_chars)
      else:
        end = min(length, start + self._max_suffix_chars)
      while end > start:
        piece = word[start:end] if start == 0 else "##" + word[start:end]
        if piece in vocab:
          break
        end -= 1
      else:
        return [self.unk_token]  # no piece matches: the whole word is unknown
      pieces.append(piece)
      start = end
    return pieces


class FullTokenizer(object):
  """Runs end-to-end tokenization: BasicTokenizer then WordPiece."""

  def __init__(self, vocab_file, do_lower_case=True, max_cached_words=1 << 17):
    """Constructs a FullTokenizer.

    Args:
      vocab_file: str, path of vocab.txt (see `load_vocab`).
      do_lower_case: bool, must match the checkpoint (uncased models: True).
      max_cached_words: int, bound on the word -> pieces cache; the cache is
        emptied when it is full, so memory stays bounded on any corpus.
    """
    self.vocab_file = vocab_file
    self.vocab = load_vocab(vocab_file)
    self.inv_vocab = {v: k for k, v in self.vocab.items()}
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
    self.max_cached_words = max_cached_words
    self._cache = {}

  def tokenize(self, text):
    """Splits `text` (str or UTF-8 bytes) into a list of word pieces (str)."""
    cache = self._cache
    output = []
    for word in BasicTokenizer.split_words(text):
      pieces = cache.get(word)
      if pieces is None:
        pieces = self._tokenize_word(word)
        if len(cache) >= self.max_cached_words:
          cache.clear()
        cache[word] = pieces
      output.extend(pieces)
    return output

  def _tokenize_word(self, word):
    """Returns the word pieces of one `BasicTokenizer.split_words` word."""
    pieces = []
    for token in self.basic_tokenizer.split_word(word):
      pieces.extend(self.wordpiece_tokenizer.tokenize_word(token))
    return pieces

  def clear_cache(self):
    """Empties the word -> pieces cache (e.g. to time a cold start)."""
    self._cache.clear()

  def convert_tokens_to_ids(self, tokens):
    """Returns the ids (list of int) of `tokens`; raises VocabLookupError."""
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    """Returns the tokens (list of str) of `ids`; raises VocabLookupError."""
    return convert_by_vocab(self.inv_vocab, ids)


# Share of [UNK] word pieces above which the feature builders warn.
UNKNOWN_WARNING_RATE = 0.05


class UnknownTokenCounter(object):
  """Wraps a FullTokenizer and counts the [UNK] word pieces of what it tokenizes.

  An English vocabulary turns most Chinese characters into [UNK] without any
  error, and the model then predicts near chance. The feature builders of
  every run_*.py tokenize through a counter and call `log_warning` when done.
  Every other attribute (convert_tokens_to_ids, vocab, ...) is the wrapped
  tokenizer's, so a counter goes wherever a FullTokenizer does.
  """

  def __init__(self, tokenizer, unk_token="[UNK]", max_sampled_texts=1000):
    """Constructs a counter.

    Args:
      tokenizer: FullTokenizer.
      unk_token: str, the piece that counts as unknown.
      max_sampled_texts: int, the example words come from the first this many
        texts that hold an [UNK] (bounds the cost of finding them).
    """
    self.tokenizer = tokenizer
    self.unk_token = unk_token
    self.num_pieces = 0
    self.num_unknown = 0
    self._max_sampled_texts = max_sampled_texts
    self._sampled_texts = 0
    self._unknown_words = collections.Counter()

  def __getattr__(self, name):
    # Only reached for names the counter itself lacks.
    if name == "tokenizer":
      raise AttributeError(name)
    return getattr(self.tokenizer, name)

  def tokenize(self, text):
    """The wrapped tokenizer's pieces (list of str) of `text`, counted."""
    pieces = self.tokenizer.tokenize(text)
    self.num_pieces += len(pieces)
    unknown = pieces.count(self.unk_token)
    if unknown:
      self.num_unknown += unknown
      if self._sampled_texts < self._max_sampled_texts:
        self._sampled_texts += 1
        self._unknown_words.update(self._unknown_words_of(text))
    return pieces

  def _unknown_words_of(self, text):
    """The basic tokens of `text` (after casing) that WordPiece cannot split."""
    return [token for token in self.tokenizer.basic_tokenizer.tokenize(text)
            if self.unk_token in self.tokenizer.tokenize(token)]

  def summary(self, max_examples=8):
    """{"word_pieces": int, "unknown_pieces": int, "unknown_examples": [str]}.

    The examples are the most frequent unknown words of the sampled texts.
    """
    return {"word_pieces": self.num_pieces, "unknown_pieces": self.num_unknown,
            "unknown_examples": [w for w, _ in self._unknown_words.most_common(max_examples)]}

  def log_warning(self, what):
    """Logs a WARNING if [UNK] is above UNKNOWN_WARNING_RATE; returns it (or None).

    Args:
      what: str, where the text came from, e.g. "the train examples".
    """
    return warn_if_mostly_unknown(self.summary(), what,
                                  getattr(self.tokenizer, "vocab_file", None))


def unknown_token_warning(summary, what, vocab_file=None, threshold=UNKNOWN_WARNING_RATE):
  """The warning for a share of [UNK] pieces above `threshold`, else None.

  Args:
    summary: dict of UnknownTokenCounter.summary (or None: no warning).
    what: str, where the text came from.
    vocab_file: str or None, the vocabulary, named in the message.
    threshold: float, the largest share of [UNK] that passes silently.
  """
  total = (summary or {}).get("word_pieces", 0)
  unknown = (summary or {}).get("unknown_pieces", 0)
  if not total or unknown <= threshold * total:
    return None
  examples = summary.get("unknown_examples") or []
  vocabulary = "the vocabulary %s" % vocab_file if vocab_file else "the vocabulary"
  return ("%.1f%% of the word pieces of %s are [UNK] (%d of %d%s): %s does not cover "
          "this language or script, so the model sees little of the text and will "
          "predict near chance. Use a checkpoint whose vocab.txt covers it: for Chinese "
          "a Chinese one (chinese_L-12_H-768_A-12, BERT-wwm) or the multilingual "
          "multi_cased_L-12_H-768_A-12."
          % (100.0 * unknown / total, what, unknown, total,
             "; e.g. " + " ".join(examples) if examples else "", vocabulary))


def warn_if_mostly_unknown(summary, what, vocab_file=None):
  """Logs unknown_token_warning as a WARNING when there is one; returns it (or None).

  `what` None: nothing is logged (inference answers many small batches).
  """
  if what is None:
    return None
  message = unknown_token_warning(summary, what, vocab_file)
  if message:
    logging.warning("%s", message)
  return message
