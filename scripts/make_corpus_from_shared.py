# coding=utf-8
"""Writes a real-text pre-training corpus from the shared data sets.

The output is create_pretraining_data.py's input format: one sentence per
line, a blank line between documents.

    python scripts/make_corpus_from_shared.py --lang=en --output=/tmp/en.txt
    python scripts/make_corpus_from_shared.py --lang=zh --output=/tmp/zh.txt
    python scripts/make_corpus_from_shared.py --lang=zh --segmented \
        --output=/tmp/zh_words.txt   # words separated by spaces

English (--sources, default all): `squad` (SQuAD v1.1 dev: each paragraph a
document, or each article with --squad_unit=article, split into sentences),
`mrpc` (MSR paraphrase corpus sentences, documents of
--mrpc_sentences_per_document consecutive sentences), `conll`
(CoNLL-2003 train/valid/test: each -DOCSTART- article a document, its
sentences' tokens joined by spaces).
Chinese: `cmrc` (CMRC 2018 dev contexts split after 。！？), `chnsenticorp`
(ChnSentiCorp hotel/laptop/book reviews, train/dev/test: each review a
document, split after 。！？; raw text for --word_segmenter=jieba), and with
--segmented `weibo` (Weibo NER posts, whose files carry a word segmentation:
each character is tagged with its position in its word, 0 = first), written
as space-separated words for `--word_boundaries=space`.
"""

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

DEFAULT_DATA_DIR = Path(os.environ.get(
    "BERT_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / "data"

EN_SOURCES = ("squad", "mrpc", "conll")
ZH_SOURCES = ("cmrc", "chnsenticorp")
ZH_SEGMENTED_SOURCES = ("weibo",)

# Words that end with "." without ending a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr no vs etc inc ltd co corp gen gov sen rep col "
    "lt sgt capt fig approx jan feb mar apr jun jul aug sep sept oct nov dec "
    "u.s u.k e.g i.e a.m p.m".split())
# A sentence may end after . ! ? (and closing quotes/brackets) before a space
# and a capital, digit or opening quote.
_EN_BOUNDARY = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
_ZH_BOUNDARY = re.compile(r"(?<=[。！？!?])([”’」』）)]*)")


def split_english_sentences(text):
  """Splits English prose into sentences (a rule-based splitter).

  Args:
    text: str, a paragraph.

  Returns:
    List of str sentences, stripped, none empty.
  """
  sentences, start = [], 0
  for match in _EN_BOUNDARY.finditer(text):
    end = match.start() + len(match.group(1))
    last_word = text[start:match.start()].rsplit(None, 1)[-1].rstrip(".!?")
    if last_word.lower() in _ABBREVIATIONS or (
        len(last_word) == 1 and last_word.isupper()):  # initials: "J. Smith"
      continue
    sentences.append(text[start:end])
    start = match.end()
  sentences.append(text[start:])
  return [s.strip() for s in sentences if s.strip()]


def split_chinese_sentences(text):
  """Splits Chinese text after 。！？ (keeping closing quotes with them)."""
  pieces = _ZH_BOUNDARY.split(text)
  sentences, current = [], ""
  for k, piece in enumerate(pieces):
    current += piece
    if k % 2 == 1:  # a captured closing-quote group ends a sentence
      sentences.append(current)
      current = ""
  sentences.append(current)
  merged = []
  for sentence in (s.strip() for s in sentences):
    if merged and not any(ch.isalnum() for ch in sentence):
      merged[-1] += " " + sentence  # a run of "。" belongs to the sentence before
    elif sentence:
      merged.append(sentence)
  return merged


def squad_documents(data_dir, unit="paragraph"):
  """SQuAD dev contexts: a document per paragraph, or per article."""
  with open(data_dir / "SQuAD" / "dev-v1.1.json", encoding="utf-8") as f:
    articles = json.load(f)["data"]
  for article in articles:
    sentences = [split_english_sentences(" ".join(p["context"].split()))
                 for p in article["paragraphs"]]
    if unit == "article":
      yield [s for paragraph in sentences for s in paragraph]
    else:
      yield from sentences


def mrpc_documents(data_dir, sentences_per_document):
  path = data_dir / "MRPC-msi" / "msr_paraphrase_data.txt"
  with open(path, encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  sentences = [" ".join(row[1].split()) for row in rows[1:] if len(row) > 1]
  for start in range(0, len(sentences), sentences_per_document):
    yield sentences[start:start + sentences_per_document]


def conll_documents(data_dir):
  for split in ("train", "valid", "test"):
    document, sentence = [], []
    with open(data_dir / "CoNLL-2003" / ("%s.txt" % split), encoding="utf-8") as f:
      for line in f:
        fields = line.split()
        if fields and fields[0] == "-DOCSTART-":
          if document:
            yield document
          document = []
        elif fields:
          sentence.append(fields[0])
        elif sentence:
          document.append(" ".join(sentence))
          sentence = []
    if sentence:
      document.append(" ".join(sentence))
    if document:
      yield document


def cmrc_documents(data_dir):
  with open(data_dir / "CMRC2018" / "dev.json", encoding="utf-8") as f:
    articles = json.load(f)["data"]
  for article in articles:
    for paragraph in article["paragraphs"]:
      yield split_chinese_sentences(" ".join(paragraph["context"].split()))


def chnsenticorp_documents(data_dir):
  """ChnSentiCorp reviews (label<TAB>text, with a header), one per document."""
  for split in ("train", "dev", "test"):
    with open(data_dir / "ChnSentiCorp" / ("%s.tsv" % split), encoding="utf-8") as f:
      next(f)  # label\ttext_a
      for line in f:
        review = line.rstrip("\n").split("\t", 1)[-1]
        yield split_chinese_sentences(" ".join(review.split()))


def weibo_segmented_documents(data_dir, posts_per_document=4):
  """Weibo NER posts as space-separated words, a few posts per document."""
  posts = []
  for split in ("train", "dev", "test"):
    path = data_dir / "WeiboNER" / ("weiboNER_2nd_conll.%s" % split)
    words = []
    with open(path, encoding="utf-8") as f:
      for line in f:
        token = line.split("\t", 1)[0].strip()
        if not token:
          if words:
            posts.append(words)
          words = []
          continue
        char, position = token[0], token[1:]  # e.g. "喜1": 2nd char of a word
        if position == "0" or not words:
          words.append(char)
        else:
          words[-1] += char
    if words:
      posts.append(words)
  document = []
  for words in posts:
    for sentence in split_chinese_sentences(" ".join(words)):
      document.append(" ".join(sentence.split()))  # words stay space-separated
    if len(document) >= posts_per_document:
      yield document
      document = []
  if document:
    yield document


def build_documents(lang, sources, data_dir, mrpc_sentences_per_document=5,
                    squad_unit="paragraph"):
  """Yields documents (lists of sentence strings) of the chosen sources."""
  del lang  # the sources decide
  makers = {
      "squad": lambda: squad_documents(data_dir, squad_unit),
      "mrpc": lambda: mrpc_documents(data_dir, mrpc_sentences_per_document),
      "conll": lambda: conll_documents(data_dir),
      "cmrc": lambda: cmrc_documents(data_dir),
      "chnsenticorp": lambda: chnsenticorp_documents(data_dir),
      "weibo": lambda: weibo_segmented_documents(data_dir),
  }
  for source in sources:
    for document in makers[source]():
      if document:
        yield document


def write_corpus(documents, output, max_documents=0):
  """Writes documents in the pre-training input format; returns counts."""
  num_documents = num_sentences = 0
  with open(output, "w", encoding="utf-8") as f:
    for document in documents:
      if max_documents and num_documents >= max_documents:
        break
      f.write("\n".join(document) + "\n\n")
      num_documents += 1
      num_sentences += len(document)
  return num_documents, num_sentences


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--lang", choices=("en", "zh"), default="en")
  parser.add_argument("--output", required=True, help="Text file to write.")
  parser.add_argument("--sources", default="", help="Comma list; default: all "
                      "of the language (en: squad,mrpc,conll; zh: "
                      "cmrc,chnsenticorp; "
                      "zh --segmented: weibo).")
  parser.add_argument("--segmented", action="store_true", help="zh only: "
                      "space-separated words (Weibo NER's segmentation).")
  parser.add_argument("--max_documents", type=int, default=0,
                      help="Stop after this many documents (0 = all).")
  parser.add_argument("--mrpc_sentences_per_document", type=int, default=5)
  parser.add_argument("--squad_unit", choices=("paragraph", "article"),
                      default="paragraph", help="What a SQuAD document is.")
  parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
  args = parser.parse_args(argv)

  if args.segmented and args.lang != "zh":
    parser.error("--segmented is for --lang=zh (English words are already "
                 "separated by spaces)")
  if args.lang == "en":
    allowed = EN_SOURCES
  else:
    allowed = ZH_SEGMENTED_SOURCES if args.segmented else ZH_SOURCES
  sources = [s for s in args.sources.split(",") if s] or list(allowed)
  bad = [s for s in sources if s not in allowed]
  if bad:
    parser.error("--sources=%s: %s not available for --lang=%s%s; choose from %s"
                 % (args.sources, ",".join(bad), args.lang,
                    " --segmented" if args.segmented else "", ",".join(allowed)))
  if not args.data_dir.is_dir():
    parser.error("--data_dir=%s not found; set BERT_SHARED_DIR" % args.data_dir)
  documents, sentences = write_corpus(
      build_documents(args.lang, sources, args.data_dir,
                      args.mrpc_sentences_per_document, args.squad_unit),
      args.output, args.max_documents)
  print("wrote %s: %d documents, %d sentences (%s)" %
        (args.output, documents, sentences, ",".join(sources)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
