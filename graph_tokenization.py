# coding=utf-8
"""tokenization.FullTokenizer as TensorFlow ops, for SavedModels that take raw text.

`GraphTokenizer` turns a batch of UTF-8 strings (or string pairs) into the
`input_ids`, `input_mask` and `segment_ids` that run_classifier.py feeds the
model: the same word pieces as `tokenization.FullTokenizer`, and the same
longest-first pair truncation and `[CLS] a [SEP] b [SEP]` layout as classifier_data.py.

Why not tensorflow-text's BertTokenizer as is: it gives other ids than
tokenization.py on real text (with the uncased BERT vocab, 3 of the 4266 MRPC
dev/test sentences; with a Chinese vocab, 2020 of 2400 ChnSentiCorp reviews).
Its lower-casing is ICU's NFKC case folding ("，" becomes ",", "Ａ" "a", "ﬁ"
"fi", "²" "2", "µ" "μ", and "ΑΣ" ends in "σ", not "ς"); it turns control
characters into spaces where the reference deletes them ("a\\x00b" is one word
there); it splits on ASCII whitespace only (not U+00A0, U+3000, U+2028); it
keeps U+FFFD (dropped by the reference); its word limit is 100 bytes, not 200
characters; and its Unicode tables (ICU, RE2) are other versions than Python's.
So the basic tokenizer is rebuilt here from per-code-point tables computed with
this Python's `unicodedata` by tokenization.py's own character rules; only the
greedy longest-match-first WordPiece step is tensorflow-text's
(`WordpieceTokenizer`, the same algorithm).

The two context-dependent rules of FullTokenizer's per-word `lower()` + NFD are
applied as well: capital sigma lower-cases to final "ς" at the end of a word,
and NFD puts combining marks in canonical order.
"""

import functools
import unicodedata

import numpy as np
import tensorflow as tf

import errors
import tokenization

UNK, CLS, SEP = "[UNK]", "[CLS]", "[SEP]"
# tokenization.WordpieceTokenizer's max_input_chars_per_word.
MAX_CHARS_PER_WORD = 200
_NUM_CODE_POINTS = 0x110000
_SPACE = 0x20
_CAPITAL_SIGMA, _FINAL_SIGMA = 0x3A3, 0x3C2
# A template value standing for the code point being replaced.
_SELF = -1
# Templates of the character classes below: what a code point becomes.
_KEEP, _DROP, _TO_SPACE, _SPACED = 0, 1, 2, 3
_CLASS_TEMPLATES = ([_SELF], [], [_SPACE], [_SPACE, _SELF, _SPACE])


def import_tf_text():
  """The tensorflow_text module; a UserError saying what to install without it."""
  try:
    import tensorflow_text  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.UserError(
        "SavedModels that take raw text need tensorflow-text (its WordPiece op), which "
        "is not installed: pip install "
        f"tensorflow-text=={tf.__version__.rsplit('.', 1)[0]}.* (or pip install "
        "'.[serving]').") from None
  return tensorflow_text


# ------------------------------------------------------------ character tables


def _clean_classes(chars):
  """tokenization.clean_entry as classes: drop, to space, spaced (CJK) or keep."""
  def classify(char):
    entry = tokenization.clean_entry(ord(char))
    if entry is None:
      return _DROP
    if entry == " ":
      return _TO_SPACE
    return _SPACED if isinstance(entry, str) else _KEEP
  return [classify(c) for c in chars]


def _split_classes(chars, do_lower_case):
  """What BasicTokenizer.split_word does to each char after lower() and NFD."""
  is_punctuation = tokenization.is_punctuation
  category = unicodedata.category
  return [_TO_SPACE if c.isspace()              # split() separates words on it
          else _DROP if do_lower_case and category(c) == "Mn"   # accents after NFD
          else _SPACED if is_punctuation(c)
          else _KEEP for c in chars]


def _per_char_lower(chars, prefix="", suffix=""):
  """[(prefix + c + suffix).lower() for c in chars], in one call of str.lower().

  U+0001 separates the items: neither cased nor case-ignorable, so each item's
  final-sigma context ends at it, and lower() leaves it alone.
  """
  joined = "\x01".join(prefix + ("" if c == "\x01" else c) + suffix for c in chars)
  return joined.lower().split("\x01")


def _sigma_context_classes(chars):
  """0: other, 1: cased, 2: case-ignorable, as str.lower()'s final-sigma rule sees them.

  Python does not expose the Cased and Case_Ignorable properties; its own
  lower() reveals them: "cΣ" ends in "ς" iff c is cased and not ignorable,
  "AcΣ" iff c is either.
  """
  cased = [s[-1:] == "ς" for s in _per_char_lower(chars, suffix="Σ")]
  either = [s[-1:] == "ς" for s in _per_char_lower(chars, prefix="A", suffix="Σ")]
  # U+0001 is neither (it stood in for itself above as an empty item).
  return [1 if c else 2 if e else 0 for c, e in zip(cased, either)]


def _lower_nfd_map(chars):
  """{code point: NFD(c.lower()) as code points} for every char that changes."""
  lowered = _per_char_lower(chars)
  # NFD reorders marks only between two starters (class 0), as U+0001 is.
  mapped = unicodedata.normalize("NFD", "\x01".join(lowered)).split("\x01")
  return {ord(c): [ord(x) for x in m] for c, m in zip(chars, mapped)
          if m != c and c != "\x01"}


def _ranges(chars, values):
  """(starts, values) int32 arrays of the runs of equal values over all code points."""
  full = np.zeros(_NUM_CODE_POINTS, np.int32)   # surrogates: class 0
  full[[ord(c) for c in chars]] = values
  change = np.flatnonzero(np.diff(full)) + 1
  starts = np.concatenate([[0], change]).astype(np.int32)
  return starts, full[starts]


@functools.lru_cache(maxsize=None)
def character_tables(do_lower_case):
  """The per-code-point tables of the basic tokenizer (numpy arrays, computed once).

  Every assigned code point is classified by this Python's own rules (and
  tokenization.py's). The others get class 0 (keep; no case, no mark), which is
  what those rules give unassigned (Cn) and private-use (Co) code points outside
  the CJK blocks, and surrogates cannot occur in text decoded from UTF-8.

  Returns:
    dict of (starts, values) range tables `clean`, `split`, and when
    lower-casing `sigma_context`, `combining_class`, plus `lower_keys` (sorted
    int32 code points) and `lower_pieces` ((values, row_splits) of NFD(c.lower())
    for each key, then of "ς" and of the char itself).
  """
  category = unicodedata.category
  unassigned = ("Cn", "Co", "Cs")
  chars = [c for c in map(chr, range(_NUM_CODE_POINTS)) if category(c) not in unassigned]
  chars += [chr(cp) for low, high in tokenization.CJK_RANGES
            for cp in range(low, high + 1) if category(chr(cp)) in unassigned]
  tables = {"clean": _ranges(chars, _clean_classes(chars)),
            "split": _ranges(chars, _split_classes(chars, do_lower_case))}
  if do_lower_case:
    tables["sigma_context"] = _ranges(chars, _sigma_context_classes(chars))
    tables["combining_class"] = _ranges(chars, [unicodedata.combining(c) for c in chars])
    mapping = _lower_nfd_map(chars)
    keys = sorted(mapping)
    # Two more rows: the final sigma, and "unchanged" for every other char.
    tables["lower_keys"] = np.array(keys, np.int32)
    tables["lower_pieces"] = _ragged_rows([mapping[cp] for cp in keys] +
                                          [[_FINAL_SIGMA], [_SELF]])
  return tables


def _ragged_rows(rows):
  """(values, row_splits) numpy arrays of a list of int lists."""
  splits = np.cumsum([0] + [len(row) for row in rows]).astype(np.int64)
  return np.array([x for row in rows for x in row], np.int32), splits


# ------------------------------------------------------------ ragged helpers


def _lookup_ranges(code_points, table):
  """int32 class of each code point (1-D int32 Tensor) under a (starts, values) table."""
  starts, values = table
  index = tf.searchsorted(tf.constant(starts), code_points, side="right") - 1
  return tf.gather(tf.constant(values), index)


def _replace(chars, template_of_char, templates):
  """Replaces every code point by a row of `templates` (_SELF: the code point itself).

  Args:
    chars: RaggedTensor int32 [batch, (chars)].
    template_of_char: int32 Tensor [total chars], the template row of each char.
    templates: (values, row_splits) numpy arrays of the template rows.

  Returns:
    RaggedTensor int32 [batch, (new chars)].
  """
  template_values, template_splits = (tf.constant(x) for x in templates)
  flat = chars.flat_values
  start = tf.gather(template_splits, template_of_char)                 # [total] int64
  length = tf.gather(template_splits, template_of_char + 1) - start
  source = tf.repeat(tf.range(tf.size(flat, out_type=tf.int64)), length)
  offset = tf.range(tf.size(source, out_type=tf.int64)) - tf.gather(
      tf.cumsum(length, exclusive=True), source)
  values = tf.gather(template_values, tf.gather(start, source) + offset)
  values = tf.where(values == _SELF, tf.gather(flat, source), values)
  row_lengths = tf.math.unsorted_segment_sum(length, chars.value_rowids(), chars.nrows())
  return tf.RaggedTensor.from_row_lengths(values, row_lengths, validate=False)


def _map_classes(chars, table):
  """Applies a class table (_KEEP/_DROP/_TO_SPACE/_SPACED) to every code point."""
  classes = _lookup_ranges(chars.flat_values, table)
  return _replace(chars, classes, _ragged_rows(_CLASS_TEMPLATES))


def _row_bounds(chars):
  """int64 [total chars] start and limit (in flat positions) of each char's row."""
  lengths = chars.row_lengths()
  return tf.repeat(chars.row_starts(), lengths), tf.repeat(chars.row_limits(), lengths)


def _final_sigmas(chars, context_table):
  """bool [total chars]: capital sigmas that str.lower() turns into final "ς".

  The rule of Python's lower(): preceded by a cased letter and not followed by
  one, case-ignorable characters (apostrophes, combining marks...) skipped. Row
  edges and spaces (neither cased nor ignorable) end the search, as the word
  edges of FullTokenizer's per-word lower() do.
  """
  flat = chars.flat_values
  kind = _lookup_ranges(flat, context_table)
  total = tf.size(flat, out_type=tf.int64)
  counted = tf.cast(kind != 2, tf.int64)
  positions = tf.where(kind != 2)[:, 0]                      # the non-ignorable chars
  cased = tf.concat([kind == 1, [False]], 0)                 # [total + 1], last: none
  row_start, row_limit = _row_bounds(chars)
  before = tf.cumsum(counted, exclusive=True)                # non-ignorables before i
  previous = tf.gather(tf.concat([[-1], positions], 0), before)
  previous_cased = (previous >= row_start) & tf.gather(cased, tf.maximum(previous, 0))
  following = tf.gather(tf.concat([positions, [total]], 0), before + counted)
  following_cased = (following < row_limit) & tf.gather(cased, following)
  return (flat == _CAPITAL_SIGMA) & previous_cased & ~following_cased


def _lower_nfd(chars, tables):
  """NFD(text.lower()) with Python's rules: table map, final sigma, canonical order."""
  flat = chars.flat_values
  keys = tables["lower_keys"]
  final_row, identity_row = len(keys), len(keys) + 1
  index = tf.minimum(tf.searchsorted(tf.constant(keys), flat), len(keys) - 1)
  found = tf.gather(tf.constant(keys), index) == flat
  rows = tf.where(found, index, identity_row)
  rows = tf.where(_final_sigmas(chars, tables["sigma_context"]), final_row, rows)
  chars = _replace(chars, rows, tables["lower_pieces"])
  return _canonical_order(chars, tables["combining_class"])


def _canonical_order(chars, combining_table):
  """Stable-sorts each run of combining marks (class > 0) by combining class, as NFD does."""
  flat = chars.flat_values
  ccc = tf.cast(_lookup_ranges(flat, combining_table), tf.int64)
  position = tf.range(tf.size(flat, out_type=tf.int64))
  row_start, _ = _row_bounds(chars)
  # A run of marks belongs to the last starter before it (or to its row's start):
  # sorting by (that position, class) moves marks only within their run.
  opens_run = (ccc == 0) | (position == row_start)
  anchor = tf.gather(tf.where(opens_run)[:, 0],
                     tf.cumsum(tf.cast(opens_run, tf.int64)) - 1)
  key = anchor * 512 + tf.where(ccc == 0, tf.zeros_like(ccc), 256 + ccc)
  return tf.RaggedTensor.from_row_splits(tf.gather(flat, tf.argsort(key, stable=True)),
                                         chars.row_splits, validate=False)


def _kept_tokens(tokens, kept):
  """The first kept[i] tokens of each row i of a RaggedTensor, as flat (row, position, id).

  Args:
    tokens: RaggedTensor int32 [batch, (tokens)].
    kept: int64 Tensor [batch].

  Returns:
    int64 row ids, int64 positions in the row, int32 token ids; 1-D, one entry
    per kept token.
  """
  rows = tokens.value_rowids()
  position = (tf.range(tf.size(tokens.flat_values, out_type=tf.int64)) -
              tf.gather(tokens.row_starts(), rows))
  keep = position < tf.gather(kept, rows)
  return (tf.boolean_mask(rows, keep), tf.boolean_mask(position, keep),
          tf.boolean_mask(tokens.flat_values, keep))


def truncated_lengths(length_a, length_b, max_length):
  """Lengths that tokenization.truncate_seq_pair keeps (it pops the longer, b on ties).

  Args:
    length_a, length_b: int Tensors [batch], the token counts of a and b.
    max_length: int, the tokens allowed for a and b together.

  Returns:
    (kept_a, kept_b), int Tensors [batch].
  """
  kept_a = tf.minimum(length_a, tf.maximum(max_length - length_b, (max_length + 1) // 2))
  kept_b = tf.minimum(length_b, tf.maximum(max_length - length_a, max_length // 2))
  return kept_a, kept_b


# ------------------------------------------------------------ the tokenizer


def load_vocab_lines(vocab_file):
  """vocab.txt as the lines of a TextFileInitializer file with tokenization.py's ids.

  Each line is tokenization.load_vocab's (stripped) token. A token listed twice
  keeps its LAST id there, and a blank line takes an id but no token: such
  lines become " <line number>", which no word piece can equal (pieces hold no
  whitespace), so every line stays unique and every id in place.

  Returns:
    (lines: list of str, vocab: dict token -> id).
  """
  vocab = tokenization.load_vocab(vocab_file)
  lines = [f" {i}" for i in range(max(vocab.values()) + 1)]
  for token, index in vocab.items():
    if token:
      lines[index] = token
  tokenization.require_tokens(vocab, vocab_file)
  return lines, vocab


class GraphTokenizer(tf.Module):
  """FullTokenizer + the classifier's input layout, as TensorFlow ops (tf.Module).

  The vocabulary is read from `vocab_file` by a lookup table: when the module is
  saved in a SavedModel, the file is stored in its assets/ folder.
  """

  def __init__(self, vocab_file, do_lower_case, max_seq_length):
    """Builds the tables.

    Args:
      vocab_file: str, a vocab.txt in the layout of `load_vocab_lines`' output
        (write one with `write_vocab_asset`) — one token a line, unique lines.
      do_lower_case: bool, as the model was trained.
      max_seq_length: int >= 3, the length of the id rows.
    """
    super().__init__(name="tokenizer")
    tf_text = import_tf_text()
    self.do_lower_case = bool(do_lower_case)
    self.max_seq_length = int(max_seq_length)
    self.vocab_asset = tf.saved_model.Asset(vocab_file)
    self.vocab_table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            self.vocab_asset, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=-1)
    # Longer words were replaced by [UNK] already; 4 bytes per char at most.
    self.wordpiece = tf_text.WordpieceTokenizer(
        self.vocab_table, suffix_indicator="##",
        max_bytes_per_word=4 * MAX_CHARS_PER_WORD, token_out_type=tf.int64,
        unknown_token=UNK)
    self._tables = character_tables(self.do_lower_case)

  def basic_tokens(self, text):
    """BasicTokenizer.tokenize: tf.string [batch] -> RaggedTensor tf.string [batch, (words)]."""
    # Invalid UTF-8 is dropped, as convert_to_unicode's decode(..., "ignore").
    chars = tf.strings.unicode_decode(text, "UTF-8", errors="ignore")
    chars = _map_classes(chars, self._tables["clean"])
    if self.do_lower_case:
      chars = _lower_nfd(chars, self._tables)
    chars = _map_classes(chars, self._tables["split"])
    # Every separator is now U+0020 and no ASCII control character is left.
    return tf.strings.split(tf.strings.unicode_encode(chars, "UTF-8"))

  def is_whitespace(self, code_points):
    """bool Tensor: which code points (int32 Tensor) BasicTokenizer turns into spaces."""
    return _lookup_ranges(code_points, self._tables["clean"]) == _TO_SPACE

  def token_ids(self, text):
    """FullTokenizer.tokenize + ids: tf.string [batch] -> RaggedTensor int32 [batch, (pieces)]."""
    words = self.basic_tokens(text)
    too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
    words = words.with_flat_values(tf.where(too_long, UNK, words.flat_values))
    pieces = self.wordpiece.tokenize(words)                  # [batch, (words), (pieces)]
    return tf.cast(pieces.merge_dims(1, 2), tf.int32)

  def encode(self, text_a, text_b=None):
    """Model inputs of texts (pairs), as classifier_data.convert_single_example makes them.

    Args:
      text_a: tf.string Tensor [batch].
      text_b: optional tf.string Tensor [batch]; a row whose text_b has no
        tokens (e.g. "") gets the single-text layout, as in classifier_data.py.

    Returns:
      dict of int32 Tensors [batch, max_seq_length]: input_ids, input_mask,
      segment_ids.
    """
    if text_b is None:
      ids_a = self.token_ids(text_a)
      ids_b = tf.RaggedTensor.from_row_lengths(
          tf.zeros([0], tf.int32), tf.zeros_like(ids_a.row_lengths()), validate=False)
    else:
      tf.debugging.assert_equal(tf.shape(text_a), tf.shape(text_b), message=(
          "text_a and text_b must hold the same number of texts"))
      # One pass over both halves: a single copy of the tokenizer in the graph.
      ids = self.token_ids(tf.concat([text_a, text_b], 0))
      batch_size = tf.shape(text_a, out_type=tf.int64)[0]
      ids_a, ids_b = ids[:batch_size], ids[batch_size:]
    length_a, length_b = ids_a.row_lengths(), ids_b.row_lengths()
    pair = length_b > 0
    kept_a, kept_b = truncated_lengths(length_a, length_b, self.max_seq_length - 3)
    kept_a = tf.where(pair, kept_a, tf.minimum(length_a, self.max_seq_length - 2))
    kept_b = tf.where(pair, kept_b, 0)
    # [CLS] a [SEP] (b [SEP]): token positions in the padded rows.
    length = kept_a + 2 + tf.where(pair, kept_b + 1, 0)
    rows = tf.range(tf.size(length, out_type=tf.int64))
    rows_a, position_a, values_a = _kept_tokens(ids_a, kept_a)
    rows_b, position_b, values_b = _kept_tokens(ids_b, kept_b)
    pair_rows = tf.boolean_mask(rows, pair)
    cls_id, sep_id = self.token_id(CLS), self.token_id(SEP)
    row_index = tf.concat([rows, rows_a, rows, rows_b, pair_rows], 0)
    column = tf.concat([tf.zeros_like(rows), 1 + position_a, kept_a + 1,
                        tf.gather(kept_a, rows_b) + 2 + position_b,
                        tf.boolean_mask(length - 1, pair)], 0)
    values = tf.concat([tf.fill(tf.shape(rows), cls_id), values_a,
                        tf.fill(tf.shape(rows), sep_id), values_b,
                        tf.fill(tf.shape(pair_rows), sep_id)], 0)
    shape = tf.stack([tf.size(length, out_type=tf.int64), self.max_seq_length])
    input_ids = tf.scatter_nd(tf.stack([row_index, column], 1), values, shape)
    columns = tf.range(self.max_seq_length, dtype=tf.int64)[tf.newaxis, :]
    input_mask = columns < length[:, tf.newaxis]
    segment_ids = input_mask & (columns >= (kept_a + 2)[:, tf.newaxis])
    return {"input_ids": input_ids, "input_mask": tf.cast(input_mask, tf.int32),
            "segment_ids": tf.cast(segment_ids, tf.int32)}

  def token_id(self, token):
    return tf.cast(self.vocab_table.lookup(tf.constant(token)), tf.int32)


def write_vocab_asset(vocab_file, path):
  """Writes `vocab_file` as GraphTokenizer reads it (see load_vocab_lines); returns vocab."""
  lines, vocab = load_vocab_lines(vocab_file)
  with open(path, "w", encoding="utf-8", newline="\n") as writer:
    writer.write("".join(line + "\n" for line in lines))
  return vocab
