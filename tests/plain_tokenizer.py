"""Plain BERT tokenizer from ../shared/SPEC.md §2: the test oracle.

Deliberately naive: one Python call per character and a WordPiece search
that starts from the whole remaining word, like google-research/bert. It is
the independent reference the fast `tokenization.FullTokenizer` is compared
against, and the baseline `scripts/benchmark_tokenizer.py` measures.
"""

import unicodedata

def to_text(text):
  """str stays str; bytes are decoded as UTF-8, dropping invalid bytes."""
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  if isinstance(text, str):
    return text
  raise ValueError("not text: %r" % (text,))


def read_vocab(path):
  """Token -> id, the id being the 0-based line number (last duplicate wins)."""
  vocab = {}
  with open(path, encoding="utf-8", newline="\n") as f:
    for line_number, line in enumerate(f):
      vocab[line.strip()] = line_number
  return vocab


def is_whitespace(ch):
  if ch in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(ch) == "Zs"


def is_control(ch):
  if ch in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch):
  code = ord(ch)
  ascii_symbol = (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96
                  or 123 <= code <= 126)
  return ascii_symbol or unicodedata.category(ch)[0] == "P"


def is_cjk(ch):
  # The CJK ideograph blocks of SPEC section 2, spelled out as comparisons
  # so the baseline is not slowed down by a loop.
  code = ord(ch)
  return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or
          0x20000 <= code <= 0x2A6DF or 0x2A700 <= code <= 0x2B73F or
          0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF or
          0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def clean(text):
  kept = []
  for ch in text:
    if ord(ch) in (0, 0xFFFD) or is_control(ch):
      continue
    kept.append(" " if is_whitespace(ch) else ch)
  return "".join(kept)


def space_cjk(text):
  out = []
  for ch in text:
    out.append(" " + ch + " " if is_cjk(ch) else ch)
  return "".join(out)


def strip_accents(word):
  out = []
  for ch in unicodedata.normalize("NFD", word):
    if unicodedata.category(ch) != "Mn":
      out.append(ch)
  return "".join(out)


def split_punctuation(word):
  pieces = []
  current = []
  for ch in word:
    if is_punctuation(ch):
      if current:
        pieces.append("".join(current))
        current = []
      pieces.append(ch)
    else:
      current.append(ch)
  if current:
    pieces.append("".join(current))
  return pieces


def basic_tokenize(text, do_lower_case):
  text = space_cjk(clean(to_text(text)))
  tokens = []
  for word in text.strip().split():
    if do_lower_case:
      word = strip_accents(word.lower())
    tokens.extend(split_punctuation(word))
  return " ".join(tokens).strip().split()


def wordpiece_tokenize(word, vocab, unk="[UNK]", max_chars=200):
  chars = list(word)
  if len(chars) > max_chars:
    return [unk]
  pieces = []
  start = 0
  while start < len(chars):
    found = None
    end = len(chars)
    while end > start:
      candidate = "".join(chars[start:end])
      if start > 0:
        candidate = "##" + candidate
      if candidate in vocab:
        found = candidate
        break
      end -= 1
    if found is None:
      return [unk]
    pieces.append(found)
    start = end
  return pieces


class PlainTokenizer:
  """BasicTokenizer + WordPiece, the slow obvious way."""

  def __init__(self, vocab_file, do_lower_case=True):
    self.vocab = read_vocab(vocab_file)
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    pieces = []
    for token in basic_tokenize(text, self.do_lower_case):
      for word in token.strip().split():
        pieces.extend(wordpiece_tokenize(word, self.vocab))
    return pieces
