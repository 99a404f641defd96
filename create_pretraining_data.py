# coding=utf-8
r"""Creates masked-LM / next-sentence TFRecords for BERT pre-training.

    python create_pretraining_data.py \
      --input_file=corpus/*.txt --output_file=out/train.tfrecord \
      --vocab_file=uncased_L-12_H-768_A-12/vocab.txt --do_lower_case=True \
      --max_seq_length=128 --max_predictions_per_seq=20 --masked_lm_prob=0.15 \
      --random_seed=12345 --dupe_factor=10 --num_workers=4

Input: UTF-8 text files, one sentence per line, a blank line between
documents (next-sentence pairs never span two documents). `--input_file` is a
comma-separated list of paths or globs (each glob's matches are sorted).

Instances, masking and the TFRecord features are the reference's
(google-research/bert): with `--num_workers=1` and the same seed the instances
are identical to the ones its create_pretraining_data.py makes, in the same
order: the same sequence of `random.Random(random_seed)` calls. That includes
its quirks: `num_to_predict = min(max_predictions_per_seq, max(1,
round(len(tokens) * masked_lm_prob)))` counts [CLS]/[SEP] in `len(tokens)` and
is capped (at max_seq_length 512 the default cap of 20 masks under 4%); the
"random word" of the 80/10/10 rule is any vocabulary entry, [PAD] and [unused*]
included; a chunk of one sentence always gets a random B, so somewhat more
than half of the next_sentence_labels are 1; with whole-word masking a word
that would overshoot `num_to_predict` is skipped, and a `##` piece opening
segment B joins the last word of segment A; a document that does not end
with a blank line continues into the next input file.

Features (int64 unless noted; zero padded): input_ids, input_mask, segment_ids
[max_seq_length]; masked_lm_positions, masked_lm_ids [max_predictions_per_seq];
masked_lm_weights [max_predictions_per_seq] float (1.0 real, 0.0 padding);
next_sentence_labels [1] (1 = segment B is a random next).

Chinese whole-word masking: WordPiece splits Chinese into single characters,
so `##` cannot mark words. Segment the text yourself (any word segmenter) and
write words separated by spaces, e.g. "我 喜欢 北京 。"; then
`--do_whole_word_mask --word_boundaries=space` masks all characters (and
word pieces) of one space-separated word together. The labels are the
ordinary character ids ("喜", "欢"), not "##欢". Between Chinese characters
the spaces change nothing else: "我 喜欢 北京" gives the tokens of
"我喜欢北京".

Or let the workers segment raw text: `--do_whole_word_mask
--word_segmenter=jieba` (pip install jieba) cuts each line with jieba
(accurate mode with its HMM for unknown words, the default dictionary) and
treats the words as `--word_boundaries=space` does (implied). With one
worker the output is byte for byte that of the pre-segmented path on the
text segmented offline as `" ".join(jieba.cut(line))`; with N workers too
when both files are cut into shards holding the same documents, which is
not guaranteed: shards are cut by bytes, and segmenting adds spaces. As in
that offline text, jieba's words also decide the word pieces of the
non-Chinese runs it splits ("AT恤" -> "A", "T恤"; "Göttingen" -> "G", "ö",
"ttingen"). Each worker builds jieba's dictionary once (1-2 s) from the
installed package, never from jieba's cache file in the temporary
directory, so the words depend on the installed jieba only.

Parallel creation, `--num_workers=N` (N > 1): the inputs (read as one stream,
file after file) are cut into 4N contiguous byte ranges at document
boundaries (a single file is split too). Each range is a shard that one of N
processes reads, turns into instances and shuffles with its own seed, derived
from (random_seed, shard index), so random-next segments come from the same
shard; a free worker takes the next shard. The parent then interleaves the
shards' instances in a seeded, uniformly random order (a global shuffle) into
the output files. The output differs from the one-worker output (other
random streams) but is the same on every run with the same inputs, seed and
N, whichever worker ran which shard. A worker holds one shard in memory at a
time; the parent holds none of the corpus.

Beyond the reference: the workers never import TensorFlow (TFRecords and Examples
are written by a small encoder here; CRC-32C by google-crc32c's C code when it is
installed, else NumPy; the parent loads TensorFlow only to read or write gs:// paths),
user errors are one line `create_pretraining_data.py: error: ...` with exit code 1,
outputs are written to `<file>.tmp-<pid>` (a gs:// output: in $TMPDIR, which needs
room for the outputs and, with --num_workers, the shards as well) and renamed only
when everything succeeded, and
a closing summary reports documents, instances, tokens, masked fraction, NSP
balance, instances per file and speed.
"""

import array
import dataclasses
import functools
import hashlib
import logging as python_logging
import multiprocessing
import os
import random
import struct
import time
from typing import Optional

from absl import flags
from absl import logging
import numpy as np

import atomic_files
import data_files
import errors
import tokenization

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script, so that
  other scripts' modules defining the same names can be imported too)."""
  flags.DEFINE_string("input_file", None, "Input raw text file(s): comma-separated "
                      "paths or globs. One sentence per line, blank line between "
                      "documents.")
  flags.DEFINE_string("output_file", None, "Output TFRecord file(s), comma-separated; "
                      "instances are written round-robin. gs:// outputs are written in "
                      "$TMPDIR first, which needs room for them.")
  tokenization.define_flags(flags.FLAGS)
  flags.DEFINE_integer("num_workers", 1, "Processes creating instances. 1 = the "
                       "reference's exact output; N > 1 shards the input (output "
                       "deterministic for a given seed and N).")
  for field in dataclasses.fields(PretrainingDataConfig):
    _define_config_flag(field)


def _define_config_flag(field):
  """The flag of a PretrainingDataConfig field: its name, default and help."""
  name, default, help_text = field.name, field.default, field.metadata["help"]
  if field.metadata.get("choices"):
    flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text)
  elif isinstance(default, bool):
    flags.DEFINE_bool(name, default, help_text)
  elif isinstance(default, int):
    flags.DEFINE_integer(name, default, help_text)
  elif isinstance(default, float):
    flags.DEFINE_float(name, default, help_text)
  else:
    raise TypeError(f"{name}: a str field needs choices; other types need a flag kind")


# Instances logged in full at the start of the output.
_NUM_LOGGED_INSTANCES = 20
# Documents between two progress lines.
_LOG_EVERY_DOCUMENTS = 10000
# Records whose CRCs are computed in one NumPy batch.
_WRITE_BATCH = 256
# Shards per worker with --num_workers > 1: a worker takes the next shard
# when it is free, so shards of uneven cost (bytes only approximate it) even
# out, and a worker holds a smaller part of the corpus at a time.
_SHARDS_PER_WORKER = 4

_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]", "[MASK]")

# Values of --word_segmenter ("none": lines are tokenized as they are).
WORD_SEGMENTERS = ("none", "jieba")


def _flag(default, help_text, choices=None):
  """A PretrainingDataConfig field that is also the flag of the same name."""
  return dataclasses.field(default=default,
                           metadata={"help": help_text, "choices": choices})


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
  """What instances to make; each field is also the flag of the same name.

  define_flags defines the flags from the fields' defaults and help.
  """
  # hard limit of [CLS] A [SEP] B [SEP]
  max_seq_length: int = _flag(128, "Maximum sequence length.")
  # cap on masked positions per instance
  max_predictions_per_seq: int = _flag(20, "Maximum number of masked LM predictions "
                                       "per sequence.")
  # share of len(tokens), [CLS]/[SEP] counted
  masked_lm_prob: float = _flag(0.15, "Masked LM probability.")
  # chance of a random shorter target length
  short_seq_prob: float = _flag(0.1, "Probability of creating sequences which are "
                                "shorter than the maximum length.")
  # passes over the corpus, each with new masks
  dupe_factor: int = _flag(10, "Number of times to duplicate the input data (with "
                           "different masks).")
  # mask all pieces of a word together
  do_whole_word_mask: bool = _flag(False, "Whether to use whole word masking rather "
                                   "than per-WordPiece masking.")
  word_boundaries: str = _flag(
      "wordpiece", "Words for --do_whole_word_mask. wordpiece: a word is a piece "
      "and its ## continuations; space: the input is pre-segmented, words "
      "separated by spaces (Chinese: '我 喜欢 北京').", choices=("wordpiece", "space"))
  # "jieba" needs word_boundaries "space" and do_whole_word_mask
  word_segmenter: str = _flag(
      "none", "Segments each line into words for --do_whole_word_mask (raw Chinese "
      "text). jieba: jieba.cut(line), words then used as --word_boundaries=space "
      "does (implied). Needs pip install jieba.", choices=WORD_SEGMENTERS)
  # seed of the one random.Random driving everything
  random_seed: int = _flag(12345, "Random seed for data generation.")

  def validate(self):
    """Raises errors.UserError naming the first flag with an unusable value."""
    checks = (
        (self.max_seq_length >= 5, "max_seq_length", "at least 5 "
         "([CLS] A [SEP] B [SEP] with a random target length of 2 or more)"),
        (self.max_predictions_per_seq >= 1, "max_predictions_per_seq", "at least 1 "
         "(run_pretraining.py reads no records without masked positions)"),
        (0.0 <= self.masked_lm_prob <= 1.0, "masked_lm_prob", "in [0, 1]"),
        (0.0 <= self.short_seq_prob <= 1.0, "short_seq_prob", "in [0, 1]"),
        (self.dupe_factor >= 1, "dupe_factor", ">= 1"),
        (self.word_boundaries in ("wordpiece", "space"), "word_boundaries",
         "'wordpiece' or 'space'"),
    )
    for ok, name, accepted in checks:
      if not ok:
        raise errors.UserError("Received --%s=%r; expected %s." %
                               (name, getattr(self, name), accepted))
    self._validate_word_segmenter()

  def _validate_word_segmenter(self):
    if self.word_segmenter not in WORD_SEGMENTERS:
      raise errors.UserError("Received --word_segmenter=%r; expected one of %s." %
                             (self.word_segmenter, ", ".join(WORD_SEGMENTERS)))
    if self.word_segmenter == "none":
      return
    if not self.do_whole_word_mask:
      raise errors.UserError(
          "Received --word_segmenter=%s without --do_whole_word_mask; the "
          "words only decide whole-word masking: add --do_whole_word_mask." %
          self.word_segmenter)
    if self.word_boundaries != "space":
      raise errors.UserError(
          "Received --word_segmenter=%s with --word_boundaries=%s; segmented "
          "words are space-separated words: drop --word_boundaries (space is "
          "implied) or set it to space." %
          (self.word_segmenter, self.word_boundaries))


# ----------------------------------------------------------------------------
# Instances.


class TrainingInstance(object):
  """One masked sentence pair: the reference's TrainingInstance, as ids.

  Attributes:
    input_ids: array of int, ids of [CLS] A [SEP] B [SEP] after masking
      (unpadded, at most max_seq_length).
    segment_a_length: int, positions with segment id 0: len(A) + 2.
    is_random_next: bool, B was taken from another document.
    masked_lm_positions: array of int, increasing positions that were masked.
    masked_lm_ids: array of int, the original ids at those positions.
  """
  __slots__ = ("input_ids", "segment_a_length", "is_random_next",
               "masked_lm_positions", "masked_lm_ids")

  def __init__(self, input_ids, segment_a_length, is_random_next,
               masked_lm_positions, masked_lm_ids):
    self.input_ids = input_ids
    self.segment_a_length = segment_a_length
    self.is_random_next = is_random_next
    self.masked_lm_positions = masked_lm_positions
    self.masked_lm_ids = masked_lm_ids

  @property
  def segment_ids(self):
    """List of int: 0 for [CLS] A [SEP], 1 for B [SEP]."""
    num_b = len(self.input_ids) - self.segment_a_length
    return [0] * self.segment_a_length + [1] * num_b

  def to_text(self, inv_vocab):
    """The logged form: tokens, segment_ids, labels, ... (str)."""
    tokens = [inv_vocab[i] for i in self.input_ids]
    labels = [inv_vocab[i] for i in self.masked_lm_ids]
    return "\n".join((
        "tokens: %s" % " ".join(tokens),
        "segment_ids: %s" % " ".join(map(str, self.segment_ids)),
        "is_random_next: %s" % self.is_random_next,
        "masked_lm_positions: %s" % " ".join(map(str, self.masked_lm_positions)),
        "masked_lm_labels: %s" % " ".join(labels)))


@dataclasses.dataclass(frozen=True)
class MaskingVocab:
  """The ids masking needs, taken from the vocabulary."""
  cls_id: int
  sep_id: int
  mask_id: int
  # The vocab keys in file order, mapped to ids: the pool the 10% "random word"
  # replacements are drawn from.
  random_ids: tuple

  @classmethod
  def from_vocab(cls, vocab):
    return cls(vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"],
               tuple(vocab.values()))


def _inline_shuffle(items, rng):
  """random.Random.shuffle with the method calls inlined (~2x faster).

  Same draws as CPython's shuffle: for i = n-1 .. 1, j = _randbelow(i + 1),
  which takes getrandbits(k) with k = (i + 1).bit_length() until it is
  below i + 1 (k is tracked instead of recomputed).
  """
  getrandbits = rng.getrandbits
  k = len(items).bit_length()
  smallest_with_k_bits = 1 << max(k - 1, 0)
  for i in range(len(items) - 1, 0, -1):
    n = i + 1
    if n < smallest_with_k_bits:
      k -= 1
      smallest_with_k_bits >>= 1
    j = getrandbits(k)
    while j >= n:
      j = getrandbits(k)
    items[i], items[j] = items[j], items[i]


@functools.lru_cache(maxsize=None)
def _inline_shuffle_is_exact():
  """Checks once that `_inline_shuffle` draws exactly like this Python's."""
  for seed in (0, 1, 12345):
    expected, got = list(range(300)), list(range(300))
    stdlib_rng, inline_rng = random.Random(seed), random.Random(seed)
    for _ in range(3):
      stdlib_rng.shuffle(expected)
      _inline_shuffle(got, inline_rng)
    if expected != got or stdlib_rng.getstate() != inline_rng.getstate():
      return False
  return True


def shuffle(items, rng):
  """rng.shuffle(items): identical result and rng state, faster when it can.

  The rng draws are what make the output equal to the reference's, so the
  inlined version is only used after a start-up check that it matches.
  """
  if type(rng) is random.Random and _inline_shuffle_is_exact():
    _inline_shuffle(items, rng)
  else:
    rng.shuffle(items)


def create_training_instances(documents, config, masking_vocab, rng,
                              log_prefix=""):
  """Makes the instances of a tokenized corpus.

  Args:
    documents: list of documents; a document is a non-empty list of sentences,
      a sentence a non-empty sequence of encoded ids (see `SentenceEncoder`).
      Shuffled in place.
    config: PretrainingDataConfig.
    masking_vocab: MaskingVocab.
    rng: random.Random, the only source of randomness.
    log_prefix: str put before progress lines.

  Returns:
    A list of TrainingInstance, shuffled.
  """
  shuffle(documents, rng)
  instances = []
  total = config.dupe_factor * len(documents)
  done = 0
  for _ in range(config.dupe_factor):
    for document_index in range(len(documents)):
      instances.extend(create_instances_from_document(
          documents, document_index, config, masking_vocab, rng))
      done += 1
      if done % _LOG_EVERY_DOCUMENTS == 0:
        logging.info("%sinstances from %d/%d documents (dupe_factor passes "
                     "included): %d", log_prefix, done, total, len(instances))
  shuffle(instances, rng)
  return instances


def create_instances_from_document(documents, document_index, config,
                                   masking_vocab, rng):
  """Makes the instances whose segment A comes from one document.

  Sentences are gathered into a chunk until it reaches the target length;
  the chunk is split at a random sentence into A and B, and half of the time
  (always, for a one-sentence chunk) B is replaced by sentences from a random
  other document and the unused sentences are put back.
  """
  document = documents[document_index]
  max_num_tokens = config.max_seq_length - 3  # [CLS], [SEP], [SEP]
  target_seq_length = max_num_tokens
  if rng.random() < config.short_seq_prob:
    target_seq_length = rng.randint(2, max_num_tokens)

  instances = []
  chunk = []
  chunk_length = 0
  i = 0
  while i < len(document):
    chunk.append(document[i])
    chunk_length += len(document[i])
    if i == len(document) - 1 or chunk_length >= target_seq_length:
      a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
      tokens_a = []
      for sentence in chunk[:a_end]:
        tokens_a.extend(sentence)
      if len(chunk) == 1 or rng.random() < 0.5:
        is_random_next = True
        tokens_b = _random_next_tokens(documents, document_index,
                                       target_seq_length - len(tokens_a), rng)
        i -= len(chunk) - a_end  # put the unused sentences back
      else:
        is_random_next = False
        tokens_b = []
        for sentence in chunk[a_end:]:
          tokens_b.extend(sentence)
      truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
      instances.append(create_masked_instance(
          tokens_a, tokens_b, is_random_next, config, masking_vocab, rng))
      chunk = []
      chunk_length = 0
    i += 1
  return instances


def _random_next_tokens(documents, document_index, target_b_length, rng):
  """Tokens of consecutive sentences from a random start in another document."""
  # Ten tries, then the current document is used (only with tiny corpora).
  for _ in range(10):
    random_index = rng.randint(0, len(documents) - 1)
    if random_index != document_index:
      break
  random_document = documents[random_index]
  tokens_b = []
  for sentence in random_document[rng.randint(0, len(random_document) - 1):]:
    tokens_b.extend(sentence)
    if len(tokens_b) >= target_b_length:
      break
  return tokens_b


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
  """Removes tokens from the longer list (B on ties) until the pair fits.

  Each removal takes the front or the back token at random (one rng.random()
  each, exactly the reference's calls); the cuts are applied at the end so a
  very long line costs O(n), not O(n^2).
  """
  cut_a, cut_b = [0, 0], [0, 0]  # tokens to remove from [front, back]
  len_a, len_b = len(tokens_a), len(tokens_b)
  while len_a + len_b > max_num_tokens:
    side = 0 if rng.random() < 0.5 else 1
    if len_a > len_b:
      cut_a[side] += 1
      len_a -= 1
    else:
      cut_b[side] += 1
      len_b -= 1
  for tokens, (front, back) in ((tokens_a, cut_a), (tokens_b, cut_b)):
    del tokens[len(tokens) - back:]
    del tokens[:front]
  assert tokens_a and tokens_b


def create_masked_instance(tokens_a, tokens_b, is_random_next, config,
                           masking_vocab, rng):
  """Builds [CLS] A [SEP] B [SEP] and masks it ([MASK] 80%, random 10%, kept 10%).

  Args:
    tokens_a, tokens_b: lists of encoded ids (continuation pieces as ~id).
    is_random_next: bool.
    config: PretrainingDataConfig.
    masking_vocab: MaskingVocab.
    rng: random.Random.

  Returns:
    A TrainingInstance.
  """
  v = masking_vocab
  tokens = [v.cls_id] + tokens_a + [v.sep_id] + tokens_b + [v.sep_id]
  sep_a = len(tokens_a) + 1
  num_to_predict = min(config.max_predictions_per_seq,
                       max(1, int(round(len(tokens) * config.masked_lm_prob))))
  if config.do_whole_word_mask:
    positions = _pick_whole_words(tokens, sep_a, num_to_predict, rng)
    tokens = [t if t >= 0 else ~t for t in tokens]  # drop the word marks
  else:
    candidates = list(range(1, len(tokens) - 1))
    del candidates[sep_a - 1]  # the middle [SEP]
    shuffle(candidates, rng)
    positions = candidates[:num_to_predict]

  input_ids = array.array("i", tokens)
  for index in positions:
    if rng.random() < 0.8:
      input_ids[index] = v.mask_id
    elif rng.random() < 0.5:
      pass  # keep the original token
    else:
      input_ids[index] = v.random_ids[rng.randint(0, len(v.random_ids) - 1)]
  positions.sort()
  return TrainingInstance(
      input_ids=input_ids, segment_a_length=sep_a + 1,
      is_random_next=is_random_next,
      masked_lm_positions=array.array("i", positions),
      masked_lm_ids=array.array("i", [tokens[p] for p in positions]))


def _pick_whole_words(tokens, sep_a, num_to_predict, rng):
  """Positions to mask, whole words at a time, in the order they are decided.

  A continuation (negative encoded id) joins the word before it, even across
  the middle [SEP] as in the reference; a word that would overshoot
  `num_to_predict` is skipped.
  """
  words = []
  for i in range(1, len(tokens) - 1):
    if i == sep_a:
      continue
    if tokens[i] < 0 and words:
      words[-1].append(i)
    else:
      words.append([i])
  shuffle(words, rng)
  positions = []
  for word in words:
    if len(positions) >= num_to_predict:
      break
    if len(positions) + len(word) <= num_to_predict:
      positions.extend(word)
  return positions


# ----------------------------------------------------------------------------
# Reading and tokenizing.


class SentenceEncoder(object):
  """Tokenizes one line into a compact array of ids.

  When `mark_words` is set, a token that continues a word is stored as ~id
  (a negative number) so whole-word masking can group it with the word
  before it; otherwise ids are stored as they are. With `segmenter`, a line
  is first cut into its words, which are then treated as space-separated
  words are.
  """

  def __init__(self, tokenizer, mark_words, word_boundaries="wordpiece",
               segmenter=None):
    self._tokenizer = tokenizer
    self._word_boundaries = word_boundaries if mark_words else None
    self._segmenter = segmenter
    self._encoded = {}  # word piece -> stored value
    for token, token_id in tokenizer.vocab.items():
      continues = mark_words and token.startswith("##")
      self._encoded[token] = ~token_id if continues else token_id

  def encode(self, line):
    """Returns array('i') of the stored ids of `line` (str), maybe empty."""
    if self._segmenter is not None:
      return self._encode_words(self._segmenter(line))
    if self._word_boundaries == "space":
      return self._encode_words(line.split())
    return array.array(
        "i", map(self._encoded.__getitem__, self._tokenizer.tokenize(line)))

  def _encode_words(self, words):
    """Every piece but the first of each word (list of str) is marked."""
    ids = array.array("i")
    for word in words:
      pieces = self._tokenizer.tokenize(word)
      if pieces:
        ids.append(self._tokenizer.vocab[pieces[0]])
        ids.extend(~self._tokenizer.vocab[p] for p in pieces[1:])
    return ids


class JiebaSegmenter(object):
  """Cuts a line into jieba's words: `" ".join(jieba.cut(line)).split()`.

  Accurate mode with the HMM on (jieba's default: unknown words such as
  names are found by the HMM rather than left as single characters), the
  default dictionary. Whitespace is dropped, as splitting the offline
  segmented text on spaces does.
  """

  def __init__(self):
    self._jieba = import_jieba().Tokenizer()
    # Built from dict.txt inside the package (1-2 s) with jieba's own
    # gen_pfdict, setting what its initialize() sets, because initialize()
    # loads <tempdir>/jieba.cache whenever it exists, whichever jieba wrote
    # it: the words then depend on the installed package only, and N workers
    # do not race to rewrite that file.
    self._jieba.FREQ, self._jieba.total = self._jieba.gen_pfdict(
        self._jieba.get_dict_file())
    self._jieba.initialized = True

  def __call__(self, line):
    """Returns the words (list of str without whitespace) of `line` (str)."""
    return " ".join(self._jieba.cut(line, HMM=True)).split()


def import_jieba():
  """Imports jieba with its log quietened, or says how to install it."""
  try:
    import jieba  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.UserError("--word_segmenter=jieba needs the jieba package, "
                           "which is not installed: pip install jieba (or pip install '.[chinese]')") from None
  jieba.setLogLevel(python_logging.WARNING)  # its DEBUG lines go to stderr
  return jieba


@functools.lru_cache(maxsize=None)
def load_word_segmenter(name):
  """The process's segmenter of --word_segmenter `name` (None for "none")."""
  if name == "none":
    return None
  assert name == "jieba", name
  return JiebaSegmenter()


@dataclasses.dataclass(frozen=True)
class FileRange:
  """Bytes [start, end) of an input file; end None = to the end of the file."""
  path: str
  start: int = 0
  end: Optional[int] = None


def _open_binary(path):
  if "://" in path:  # gs:// and other remote file systems need TensorFlow
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.io.gfile.GFile(path, "rb")
  return open(path, "rb")


def _file_size(path):
  if "://" in path:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.io.gfile.stat(path).length
  return os.path.getsize(path)


def _line_number(path, offset):
  """1-based number of the line holding byte `offset` of `path`."""
  count = 0
  with _open_binary(path) as f:
    while offset > 0:
      block = f.read(min(offset, 1 << 20))
      if not block:
        break
      count += block.count(b"\n")
      offset -= len(block)
  return count + 1


def read_documents(ranges, encoder, log_prefix=""):
  """Reads and tokenizes documents.

  Lines end at "\\n"; each is decoded as UTF-8 and stripped; a blank line
  ends a document; a line without tokens is skipped; empty documents are
  dropped. Like the reference, a document is not ended by the end of a file.

  Args:
    ranges: list of FileRange, read in order.
    encoder: SentenceEncoder.
    log_prefix: str put before progress lines.

  Returns:
    (documents, num_tokens): list of documents (lists of id arrays), int.

  Raises:
    errors.UserError: a line is not valid UTF-8 (names the file and line).
  """
  documents = [[]]
  num_tokens = 0
  for file_range in ranges:
    with _open_binary(file_range.path) as reader:
      if file_range.start:   # a pipe (<(zcat f.gz)) is read from its start, unseekable
        reader.seek(file_range.start)
      position = file_range.start
      for number, raw in enumerate(reader, 1):
        if file_range.end is not None and position >= file_range.end:
          break
        try:
          line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
          if file_range.start:   # a shard: count the lines before it
            number = _line_number(file_range.path, position)
          raise errors.UserError(
              "Input file %s line %d is not valid UTF-8 (byte 0x%02x at byte "
              "column %d); re-save the file as UTF-8." %
              (file_range.path, number, raw[e.start], e.start + 1)) from None
        position += len(raw)
        if not line:
          if documents[-1]:
            documents.append([])
            if len(documents) % _LOG_EVERY_DOCUMENTS == 1:
              logging.info("%sread %d documents", log_prefix, len(documents) - 1)
          continue
        sentence = encoder.encode(line)
        if sentence:
          documents[-1].append(sentence)
          num_tokens += len(sentence)
  if not documents[-1]:
    documents.pop()
  return documents, num_tokens


# ----------------------------------------------------------------------------
# Sharding the input for --num_workers.


def _next_document_start(path, offset, size):
  """First offset >= `offset` where a document starts (after a blank line)."""
  if offset <= 0:
    return 0
  with _open_binary(path) as f:
    f.seek(offset - 1)
    position = offset
    if f.read(1) != b"\n":
      position += len(f.readline())  # finish the line `offset` falls in
    for raw in f:
      position += len(raw)
      if not raw.decode("utf-8", "replace").strip():
        return position
  return size


def _second_document_start(input_files, starts, sizes, begin):
  """Global offset where the second document from `begin` starts, else the end.

  `begin` is a line start. Documents are runs of text lines ended by a blank
  line; as read_documents reads them, a document goes on past a file's end.
  The scan stops at the second document, so it reads little of most corpora.
  """
  documents, in_text = 0, False
  for path, file_start, size in zip(input_files, starts, sizes):
    position = max(begin - int(file_start), 0)
    if position >= size:
      continue
    with _open_binary(path) as f:
      f.seek(position)
      for raw in f:
        text = bool(raw.decode("utf-8", "replace").strip())
        if text and not in_text:
          documents += 1
          if documents == 2:
            return int(file_start) + position
        in_text = text
        position += len(raw)
  return int(starts[-1])


def plan_shards(input_files, num_shards):
  """Cuts the inputs (one stream, file after file) into contiguous shards.

  Cut points are near equal byte offsets, moved forward to the next document
  start (the line after a blank line, or the start of a file). A cut that
  would leave a shard with a single document is dropped (the shards after it
  are empty): a shard draws its random next segments from its own other
  documents, and with one it would label segments of the same document random.

  Args:
    input_files: list of str paths.
    num_shards: int >= 1.

  Returns:
    A list of `num_shards` lists of FileRange (a shard may be empty).
  """
  if num_shards == 1:
    return [[FileRange(path) for path in input_files]]
  sizes = [_file_size(path) for path in input_files]
  starts = np.cumsum([0] + sizes)  # global offset of each file
  total = int(starts[-1])
  cuts = [0]
  for k in range(1, num_shards):
    target = max(total * k // num_shards, cuts[-1])
    f = min(int(np.searchsorted(starts, target, side="right")) - 1,
            len(input_files) - 1)
    local = _next_document_start(input_files[f], target - int(starts[f]),
                                 sizes[f])
    cuts.append(int(starts[f]) + local)

  kept = [0]   # the cuts that leave two documents or more in the shard before them
  second = _second_document_start(input_files, starts, sizes, 0)
  for cut in cuts[1:]:
    if cut > second:
      kept.append(cut)
      second = _second_document_start(input_files, starts, sizes, cut)
  if len(kept) > 1 and second >= total:
    kept.pop()   # the last shard joins the one before it
  cuts = kept + [total] * (num_shards + 1 - len(kept))
  shards = []
  for begin, end in zip(cuts[:-1], cuts[1:]):
    ranges = []
    for path, file_start, size in zip(input_files, starts, sizes):
      low, high = max(begin - file_start, 0), min(end - file_start, size)
      if low < high:
        ranges.append(FileRange(path, int(low), int(high)))
    shards.append(ranges)
  return shards


def shard_seed(random_seed, shard_index):
  """Seed of shard `shard_index` (or "merge"): a hash of both, stable."""
  digest = hashlib.sha256(
      ("create_pretraining_data/%d/%s" % (random_seed, shard_index)).encode())
  return int.from_bytes(digest.digest()[:8], "little")


# ----------------------------------------------------------------------------
# TFRecord and tf.train.Example writing, without TensorFlow.


def _make_crc32c_table():
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


class _Crc32c(object):
  """CRC-32C (Castagnoli) of many byte strings at once with NumPy.

  The CRC is affine in the message bits: crc(m) = c[len(m)] XOR (XOR over
  bytes b at distance d from the end of table[d][b]), where table[d] is the
  byte table shifted through d zero bytes. One gather + one XOR-reduce per
  batch replaces the byte-at-a-time loop (~15x faster than pure Python).
  """

  def __init__(self):
    self._byte_table = np.array(_make_crc32c_table(), dtype=np.uint32)
    self._tables = np.empty((0, 256), dtype=np.uint32)  # [distance, byte]
    self._constants = np.zeros(1, dtype=np.uint32)  # [n]: crc of n zero bytes
    self._grow(1024)

  def _grow(self, length):
    """Extends the tables to messages of `length` bytes."""
    old = len(self._tables)
    new = max(length, 2 * old)
    tables = np.empty((new, 256), dtype=np.uint32)
    tables[:old] = self._tables
    for d in range(old, new):
      if d == 0:
        tables[d] = self._byte_table
      else:
        tables[d] = self._byte_table[tables[d - 1] & 0xFF] ^ (tables[d - 1] >> 8)
    constants = np.empty(new + 1, dtype=np.uint32)
    constants[:old + 1] = self._constants
    table = self._byte_table.tolist()
    state = int(constants[old]) ^ 0xFFFFFFFF
    for n in range(old + 1, new + 1):
      state = table[state & 0xFF] ^ (state >> 8)
      constants[n] = state ^ 0xFFFFFFFF
    self._tables, self._constants = tables, constants

  def many(self, messages):
    """Returns the CRC-32C (list of int) of each of `messages` (non-empty)."""
    lengths = np.fromiter(map(len, messages), np.int64, len(messages))
    if lengths.max() > len(self._tables):
      self._grow(int(lengths.max()))
    data = np.frombuffer(b"".join(messages), np.uint8)
    ends = np.cumsum(lengths)
    # index into the flat tables: distance-to-end * 256 + byte
    index = np.repeat(ends * 256 - 256, lengths)
    index -= np.arange(0, len(data) * 256, 256)
    index += data
    crcs = np.bitwise_xor.reduceat(self._tables.ravel()[index], ends - lengths)
    return (crcs ^ self._constants[lengths]).tolist()


_CRC32C = None


def _c_crc32c():
  """google-crc32c's CRC-32C function if its C extension is installed, else None.

  Optional, kept because it is faster: ~50x _Crc32c's speed on the
  tf.Examples of a real shard, a tenth of a one-worker run's CPU time. Its
  pure-Python fallback is slower than _Crc32c, so it is not used.
  """
  try:
    import google_crc32c  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return google_crc32c.value if google_crc32c.implementation == "c" else None


_C_CRC32C = _c_crc32c()


def crc32c_many(messages):
  """CRC-32C of each of `messages` (list of non-empty bytes): list of int."""
  if _C_CRC32C is not None:
    return [_C_CRC32C(message) for message in messages]
  global _CRC32C
  if _CRC32C is None:
    _CRC32C = _Crc32c()
  return _CRC32C.many(messages)


def _masked_crc(crc):
  """TFRecord's masked CRC: rotate right by 15 bits, add a constant."""
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class TFRecordWriter(object):
  """Writes a TFRecord file without TensorFlow.

  Each record is framed as uint64 length, masked CRC-32C of those 8 bytes,
  the data, masked CRC-32C of the data (little-endian), like
  tf.io.TFRecordWriter. CRCs are computed in batches of records.
  """

  def __init__(self, path):
    self._file = open(path, "wb")
    self._pending = []
    self._headers = {}  # length -> length + its masked CRC (12 bytes)

  def write(self, record):
    """Appends one record (bytes)."""
    self._pending.append(record)
    if len(self._pending) >= _WRITE_BATCH:
      self.flush()

  def _header(self, length):
    header = self._headers.get(length)
    if header is None:
      length_bytes = struct.pack("<Q", length)
      header = length_bytes + struct.pack(
          "<I", _masked_crc(crc32c_many([length_bytes])[0]))
      self._headers[length] = header
    return header

  def flush(self):
    if not self._pending:
      return
    parts = []
    for record, crc in zip(self._pending, crc32c_many(self._pending)):
      parts += (self._header(len(record)), record,
                struct.pack("<I", _masked_crc(crc)))
    self._file.write(b"".join(parts))
    self._pending = []

  def close(self):
    self.flush()
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()


def read_tfrecord_frames(path):
  """Yields each record of a TFRecord file as its full frame (bytes)."""
  with open(path, "rb") as f:
    while True:
      header = f.read(12)
      if not header:
        return
      (length,) = struct.unpack_from("<Q", header)
      yield header + f.read(length + 4)


def _encode_varint(value):
  """Protobuf base-128 varint of an int64 (negative: 10 bytes)."""
  value &= 0xFFFFFFFFFFFFFFFF
  out = bytearray()
  while value >= 0x80:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


# Varints of 0..16383: every length prefix of an Example, and most ids.
_VARINTS = [bytes((i,)) for i in range(1 << 7)] + [
    bytes((i & 0x7F | 0x80, i >> 7)) for i in range(1 << 7, 1 << 14)]


def _varint(value):
  return _VARINTS[value] if 0 <= value < len(_VARINTS) else _encode_varint(value)


@functools.lru_cache(maxsize=4096)
def _feature_entry_header(name, kind_tag, packed_length):
  """Bytes before the packed values of one Features.feature map entry.

  Layout, outside in: map entry (field 1 of Features) = key (field 1) +
  value Feature (field 2); Feature.float_list is field 2 (tag 0x12),
  int64_list field 3 (tag 0x1a); the list's packed `value` is field 1, left
  out when empty as protobuf does. Only the payload length matters, so
  headers are cached (most features have a fixed length).
  """
  values_head = b"\x0a" + _varint(packed_length) if packed_length else b""
  list_length = len(values_head) + packed_length
  feature_head = kind_tag + _varint(list_length) + values_head
  feature_length = len(feature_head) + packed_length
  body_head = (b"\x0a" + _varint(len(name)) + name + b"\x12" +
               _varint(feature_length) + feature_head)
  return b"\x0a" + _varint(len(body_head) + packed_length) + body_head


class ExampleSerializer(object):
  """Serializes TrainingInstances as tf.train.Example bytes, without TF.

  The bytes parse (tf.train.Example.FromString) to exactly the Example the
  reference builds; features are written in the reference's order.
  """

  def __init__(self, max_seq_length, max_predictions_per_seq, vocab_size):
    self.max_seq_length = max_seq_length
    self.max_predictions_per_seq = max_predictions_per_seq
    # Varint bytes of every id/position as a [size, width] table plus a mask
    # of the bytes in use, so a batch of sequences is encoded by NumPy.
    values = np.arange(max(vocab_size, max_seq_length), dtype=np.int64)
    lengths = np.ones_like(values)
    for shift in range(7, 64, 7):
      lengths += values >= (1 << shift)
    width = int(lengths.max())
    self._varint_bytes = np.stack(
        [((values >> (7 * j)) & 0x7F) | np.where(lengths > j + 1, 0x80, 0)
         for j in range(width)], axis=1).astype(np.uint8)
    self._varint_used = np.arange(width)[None, :] < lengths[:, None]
    self._varint_lengths = lengths

  def _pack_many(self, sequences):
    """Packed varint bytes (list of bytes) of each array('i') in `sequences`."""
    flat = array.array("i")
    for sequence in sequences:
      flat.extend(sequence)
    ids = np.frombuffer(flat, dtype=np.int32) if flat else np.zeros(0, np.int32)
    data = self._varint_bytes[ids][self._varint_used[ids]].tobytes()
    byte_ends = np.concatenate(([0], np.cumsum(self._varint_lengths[ids])))
    bounds = byte_ends[np.cumsum([0] + [len(q) for q in sequences])].tolist()
    return [data[bounds[k]:bounds[k + 1]] for k in range(len(sequences))]

  def serialize_many(self, instances):
    """Returns the serialized tf.train.Example (bytes) of each instance."""
    input_ids = self._pack_many([inst.input_ids for inst in instances])
    positions = self._pack_many([inst.masked_lm_positions for inst in instances])
    label_ids = self._pack_many([inst.masked_lm_ids for inst in instances])
    return [self._serialize(inst, input_ids[k], positions[k], label_ids[k])
            for k, inst in enumerate(instances)]

  def _serialize(self, instance, packed_ids, packed_positions, packed_labels):
    n, a = len(instance.input_ids), instance.segment_a_length
    zeros = b"\x00" * (self.max_seq_length - n)
    k = len(instance.masked_lm_positions)
    prediction_zeros = b"\x00" * (self.max_predictions_per_seq - k)
    parts = []
    for name, kind_tag, packed in (
        (b"input_ids", b"\x1a", packed_ids + zeros),
        (b"input_mask", b"\x1a", b"\x01" * n + zeros),
        (b"segment_ids", b"\x1a", b"\x00" * a + b"\x01" * (n - a) + zeros),
        (b"masked_lm_positions", b"\x1a", packed_positions + prediction_zeros),
        (b"masked_lm_ids", b"\x1a", packed_labels + prediction_zeros),
        (b"masked_lm_weights", b"\x12",  # float 1.0 = 00 00 80 3f
         b"\x00\x00\x80\x3f" * k + prediction_zeros * 4),
        (b"next_sentence_labels", b"\x1a",
         b"\x01" if instance.is_random_next else b"\x00")):
      parts += (_feature_entry_header(name, kind_tag, len(packed)), packed)
    features = b"".join(parts)
    return b"\x0a" + _varint(len(features)) + features


# ----------------------------------------------------------------------------
# One shard: read, make instances, write.


@dataclasses.dataclass
class CorpusStats:
  """Counts for the closing summary (summed over shards)."""
  documents: int = 0
  corpus_tokens: int = 0  # word pieces read from the input
  instances: int = 0
  instance_tokens: int = 0  # real tokens in instances, [CLS]/[SEP] excluded
  masked_tokens: int = 0
  random_next: int = 0

  def add(self, other):
    for field in dataclasses.fields(self):
      setattr(self, field.name,
              getattr(self, field.name) + getattr(other, field.name))

  def count_instance(self, instance):
    self.instances += 1
    self.instance_tokens += len(instance.input_ids) - 3
    self.masked_tokens += len(instance.masked_lm_positions)
    self.random_next += instance.is_random_next


@dataclasses.dataclass(frozen=True)
class ShardTask:
  """Everything one worker needs (picklable)."""
  index: int
  num_shards: int
  ranges: tuple  # of FileRange
  vocab_file: str
  do_lower_case: bool
  config: PretrainingDataConfig
  seed: int
  output_paths: tuple  # written round-robin
  log_instances: bool  # log the first instances here (one-shard runs)


@dataclasses.dataclass
class ShardResult:
  stats: CorpusStats
  instances_per_file: list
  instance_texts: list  # first _NUM_LOGGED_INSTANCES, in written order


def build_shard(task):
  """Reads a shard, makes and shuffles its instances, writes them.

  Returns:
    ShardResult.

  Raises:
    errors.UserError: bad UTF-8, or a one-shard corpus without documents.
  """
  prefix = "[shard %d/%d] " % (task.index + 1, task.num_shards) if (
      task.num_shards > 1) else ""
  tokenizer = _load_tokenizer(task.vocab_file, task.do_lower_case)
  config = task.config
  encoder = SentenceEncoder(tokenizer, config.do_whole_word_mask,
                            config.word_boundaries,
                            load_word_segmenter(config.word_segmenter))
  documents, num_tokens = read_documents(task.ranges, encoder, prefix)
  stats = CorpusStats(documents=len(documents), corpus_tokens=num_tokens)
  if not documents and task.num_shards == 1:
    raise _empty_corpus_error([r.path for r in task.ranges])
  logging.info("%sread %d documents, %d tokens", prefix, len(documents),
               num_tokens)
  instances = []
  if documents:
    instances = create_training_instances(
        documents, config, MaskingVocab.from_vocab(tokenizer.vocab),
        random.Random(task.seed), prefix)
  del documents
  serializer = ExampleSerializer(config.max_seq_length,
                                 config.max_predictions_per_seq,
                                 max(tokenizer.vocab.values()) + 1)
  texts = [inst.to_text(tokenizer.inv_vocab)
           for inst in instances[:_NUM_LOGGED_INSTANCES]]
  counts = [0] * len(task.output_paths)
  writers = [TFRecordWriter(path) for path in task.output_paths]
  try:
    for start in range(0, len(instances), _WRITE_BATCH):
      batch = instances[start:start + _WRITE_BATCH]
      for index, record in enumerate(serializer.serialize_many(batch), start):
        writers[index % len(writers)].write(record)
        counts[index % len(writers)] += 1
      for instance in batch:
        stats.count_instance(instance)
    if task.log_instances:
      for text in texts:
        logging.info("*** Example ***\n%s", text)
  finally:
    for writer in writers:
      writer.close()
  return ShardResult(stats, counts, texts)


@functools.lru_cache(maxsize=4)
def _load_tokenizer(vocab_file, do_lower_case):
  """One FullTokenizer per process and vocabulary (workers run many shards)."""
  return tokenization.FullTokenizer(vocab_file, do_lower_case)


def _init_worker(vocab_file, do_lower_case, word_segmenter):
  """Runs once in each spawned worker, while the parent plans the shards."""
  flags.FLAGS.mark_as_parsed()  # silences "Logging before flag parsing"
  logging.use_absl_handler()
  logging.set_verbosity(logging.INFO)
  try:
    _load_tokenizer(vocab_file, do_lower_case)
    load_word_segmenter(word_segmenter)
  except (OSError, ValueError):
    pass  # the parent reports a bad vocabulary or a missing segmenter


def _shard_worker(task):
  return build_shard(task)


def _empty_corpus_error(paths):
  return errors.UserError(
      "the input holds no text (0 documents with tokens): %s; expected UTF-8 "
      "text, one sentence per line, a blank line between documents." %
      ", ".join(paths))


def merge_shards(part_paths, part_counts, output_paths, seed):
  """Interleaves shard files into the outputs in a seeded random order.

  Picking the next shard with probability proportional to its remaining
  records gives a uniformly random interleaving, so shards that are each
  shuffled merge into a uniformly shuffled whole. Output files are filled
  round-robin, as the reference does.

  Returns:
    (instances_per_file, first): list of int; list of (shard, index in
    shard) of the first _NUM_LOGGED_INSTANCES records written.
  """
  rng = random.Random(seed)
  readers = [read_tfrecord_frames(path) for path in part_paths]
  remaining = list(part_counts)
  total = sum(remaining)
  counts = [0] * len(output_paths)
  first = []
  outputs = [open(path, "wb") for path in output_paths]
  try:
    for index in range(total):
      pick = int(rng.random() * (total - index))  # one of the records left
      shard = 0
      while pick >= remaining[shard]:
        pick -= remaining[shard]
        shard += 1
      outputs[index % len(outputs)].write(next(readers[shard]))
      counts[index % len(outputs)] += 1
      if index < _NUM_LOGGED_INSTANCES:
        first.append((shard, part_counts[shard] - remaining[shard]))
      remaining[shard] -= 1
  finally:
    for f in outputs:
      f.close()
  return counts, first


# ----------------------------------------------------------------------------
# The whole run.


@dataclasses.dataclass
class RunSummary:
  stats: CorpusStats
  instances_per_file: dict  # output path -> instances
  elapsed_seconds: float


def _check_vocab(vocab_file, do_lower_case):
  """Loads the vocabulary once up front so a bad one fails before any work."""
  try:
    tokenization.validate_case_matches_vocab(do_lower_case, vocab_file)
    tokenizer = _load_tokenizer(vocab_file, do_lower_case)
  except FileNotFoundError:
    raise errors.UserError("--vocab_file=%s: file not found." % vocab_file) from None
  except ValueError as e:
    raise errors.UserError("--vocab_file=%s: %s" % (vocab_file, e)) from None
  tokenization.require_tokens(tokenizer.vocab, vocab_file, _SPECIAL_TOKENS,
                              fix="give the vocab.txt of the model to pre-train")
  warning = tokenization.case_mismatch_warning(do_lower_case, tokenizer.vocab, vocab_file)
  if warning:
    logging.warning("%s", warning)
  return tokenizer


def _check_word_segmenter(name):
  """Imports the segmenter's package up front so a missing one fails early."""
  if name == "jieba":
    logging.info("Word segmenter: jieba %s (accurate mode, HMM on, default "
                 "dictionary)", import_jieba().__version__)


def _check_outputs(output_files):
  if not output_files:
    raise errors.UserError("--output_file is required: one or more comma-separated "
                           "TFRecord paths.")
  if len(set(output_files)) != len(output_files):
    raise errors.UserError("--output_file lists a file twice: %s" %
                           ",".join(output_files))
  for path in output_files:
    atomic_files.require_output_file(path, "output_file", "examples.tfrecord")
    if atomic_files.is_remote(path):
      continue  # gs:// folders are name prefixes
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
      raise errors.UserError("--output_file=%s: directory %s does not exist." % (path, directory))


def _warn_about_quirks(config):
  full = int(round(config.max_seq_length * config.masked_lm_prob))
  if config.max_predictions_per_seq < full:
    logging.warning(
        "max_predictions_per_seq=%d caps masking below masked_lm_prob=%g for "
        "full-length sequences (%d of %d tokens would be masked); the "
        "reference recommends max_predictions_per_seq = %d.",
        config.max_predictions_per_seq, config.masked_lm_prob,
        config.max_predictions_per_seq, config.max_seq_length, full)
  if config.word_boundaries == "space" and not config.do_whole_word_mask:
    logging.warning("--word_boundaries=space has no effect without "
                    "--do_whole_word_mask.")


def run(input_files, output_files, vocab_file, config, do_lower_case=True,
        num_workers=1):
  """Creates the pre-training TFRecords (flag-free entry point).

  Args:
    input_files: list of str, text files (see `data_files.expand_input_files`).
    output_files: list of str, TFRecord files written round-robin.
    vocab_file: str, vocab.txt.
    config: PretrainingDataConfig.
    do_lower_case: bool.
    num_workers: int, 1 = the reference's exact instances; N > 1 = N
      processes working through shards of the input.

  Returns:
    RunSummary.

  Raises:
    errors.UserError: bad flags, inputs or vocabulary; no output file is left.
  """
  start = time.monotonic()
  config.validate()
  if num_workers < 1:
    raise errors.UserError("Received --num_workers=%d; expected >= 1." % num_workers)
  _check_outputs(output_files)
  pipes = [path for path in input_files if not atomic_files.is_remote(path)
           and os.path.exists(path) and not os.path.isfile(path)]
  if num_workers > 1 and pipes:
    raise errors.UserError(
        "--input_file: %s is a pipe, not a file; --num_workers=%d cuts the input into "
        "shards by byte offsets. Pass --num_workers=1, or write the text to a file "
        "first." % (pipes[0], num_workers))
  pool = None
  if num_workers > 1:
    # Started first: workers import and load the vocabulary while the parent
    # checks it and plans the shards. spawn: workers start clean (no forked
    # thread state) and never import TensorFlow.
    pool = multiprocessing.get_context("spawn").Pool(
        num_workers, initializer=_init_worker,
        initargs=(vocab_file, do_lower_case, config.word_segmenter))
  try:
    _check_vocab(vocab_file, do_lower_case)
    _check_word_segmenter(config.word_segmenter)
    _warn_about_quirks(config)
    if not pipes and sum(_file_size(path) for path in input_files) == 0:
      raise _empty_corpus_error(input_files)
    logging.info("*** Reading from input files ***\n  %s", "\n  ".join(input_files))
    logging.info("*** Writing to output files ***\n  %s", "\n  ".join(output_files))
    stats, counts = _write_outputs(input_files, output_files, vocab_file,
                                   do_lower_case, config, pool, num_workers)
  finally:
    if pool is not None:
      pool.terminate()
      pool.join()
  summary = RunSummary(stats, dict(zip(output_files, counts)),
                       time.monotonic() - start)
  _log_summary(summary, num_workers)
  return summary


def _write_outputs(input_files, output_files, vocab_file, do_lower_case,
                   config, pool, num_workers):
  """Writes temporary files beside `output_files` (remote ones: in $TMPDIR), renamed
  (copied) only if everything worked."""
  with atomic_files.atomic_local_paths(output_files) as tmp_outputs:
    if pool is None:
      task = ShardTask(0, 1, tuple(plan_shards(input_files, 1)[0]), vocab_file,
                       do_lower_case, config, config.random_seed,
                       tuple(tmp_outputs), log_instances=True)
      result = build_shard(task)
      return result.stats, result.instances_per_file
    return _run_sharded(input_files, tmp_outputs[0], tmp_outputs, vocab_file,
                        do_lower_case, config, pool, num_workers * _SHARDS_PER_WORKER)


def _run_sharded(input_files, first_output, tmp_outputs, vocab_file, do_lower_case,
                 config, pool, num_shards):
  """Runs the shards on the worker pool, then merges them into `tmp_outputs`.

  The shards are temporary files beside `first_output` (a local path), removed at the end.
  """
  shards = plan_shards(input_files, num_shards)
  parts = [atomic_files.temporary_path("%s.shard-%05d-of-%05d" % (first_output, k, num_shards))
           for k in range(num_shards)]
  tasks = [ShardTask(k, num_shards, tuple(ranges), vocab_file, do_lower_case,
                     config, shard_seed(config.random_seed, k), (parts[k],),
                     log_instances=False)
           for k, ranges in enumerate(shards)]
  try:
    results = pool.map(_shard_worker, tasks, chunksize=1)
    stats = CorpusStats()
    for result in results:
      stats.add(result.stats)
    if stats.documents == 0:
      raise _empty_corpus_error(input_files)
    counts, first = merge_shards(parts, [r.stats.instances for r in results],
                                 tmp_outputs,
                                 shard_seed(config.random_seed, "merge"))
    for shard, index in first:
      logging.info("*** Example ***\n%s", results[shard].instance_texts[index])
    return stats, counts
  except BaseException:
    pool.terminate()   # the other workers stop before their part files are removed
    pool.join()
    raise
  finally:
    for part in parts:
      atomic_files.remove_quietly(part)


def _log_summary(summary, num_workers):
  s = summary.stats
  seconds = max(summary.elapsed_seconds, 1e-9)
  logging.info("Wrote %d total instances", s.instances)
  logging.info(
      "Summary: %d documents, %d tokens read; %d instances holding %d tokens "
      "([CLS]/[SEP] excluded); masked fraction %.4f (%d masked / %d tokens); "
      "next_sentence_labels=1 (random next) %.4f; %.1f s, %.1f docs/s, "
      "%d worker(s).", s.documents, s.corpus_tokens, s.instances,
      s.instance_tokens, s.masked_tokens / max(s.instance_tokens, 1),
      s.masked_tokens, s.instance_tokens, s.random_next / max(s.instances, 1),
      seconds, s.documents / seconds, num_workers)
  for path, count in summary.instances_per_file.items():
    logging.info("  %s: %d instances", path, count)


def main(_):
  logging.set_verbosity(logging.INFO)
  if not FLAGS.vocab_file:
    raise errors.UserError("--vocab_file is required: the vocab.txt of the model.")
  values = {field.name: FLAGS[field.name].value
            for field in dataclasses.fields(PretrainingDataConfig)}
  if FLAGS.word_segmenter != "none" and not FLAGS["word_boundaries"].present:
    values["word_boundaries"] = "space"  # what segmented words are
  config = PretrainingDataConfig(**values)
  output_files = [p.strip() for p in (FLAGS.output_file or "").split(",")
                  if p.strip()]
  input_files = data_files.expand_input_files(
      FLAGS.input_file, "input_file", "text files, one sentence per line, a blank line "
      "between documents", "*.txt")
  run(input_files, output_files, FLAGS.vocab_file, config, FLAGS.do_lower_case,
      FLAGS.num_workers)


def console_main():
  """The `bert-create-pretraining-data` command: the flags of `python create_pretraining_data.py`."""
  define_flags()
  errors.run_program(main)


if __name__ == "__main__":
  console_main()
