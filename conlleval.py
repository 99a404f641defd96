"""Entity-level precision, recall and F1 as the CoNLL shared tasks' conlleval.pl computes them.

Flag-free functions written from conlleval's documented semantics, plus a
command line that reads the file conlleval.pl reads (one token a line, the
gold tag and the predicted tag in the last two columns, a blank line between
sentences) and prints conlleval's summary lines:

  python conlleval.py eval_predictions.txt
  python conlleval.py < eval_predictions.txt

Chunks (entities) follow conlleval's start/end rules, extended, as the usual
ports are, to every common tagging scheme at once, so no scheme option is
needed: IOB1 and IOB2/BIO (`B-`, `I-`), IOE (`E-`), IOBES/BIOES (`S-` single),
BMES/BMEWO (`M-` is read as `I-`) and BILOU (`L-` = `E-`, `U-` = `S-`). As in
conlleval, an entity may start with `I-` (IOB1, or an ill-formed prediction),
a change of type always ends a chunk and starts another, and a predicted chunk
is correct only if it starts and ends where a gold chunk does, with its type.
Sentence breaks end every chunk.

The type is everything after the first `-` (`B-PER-X` has type `PER-X`), as in
conlleval.pl since 2004. One deviation, on purpose: a tag without a prefix
(`PER`, the IO scheme) is read as `I-PER`; conlleval.pl made no chunk of it.
"""

import argparse
import dataclasses
import sys
from typing import Dict, List

OUTSIDE = "O"

# Prefixes of the common schemes mapped to conlleval's letters.
_PREFIXES = {"B": "B", "I": "I", "M": "I", "E": "E", "L": "E", "S": "S", "U": "S"}


def split_tag(tag):
  """Splits a tag into (prefix, type): "B-PER" -> ("B", "PER"), "O" -> ("O", "").

  Args:
    tag: str, e.g. "B-LOC", "I-ORG", "M-TITLE", "S-NAME", "O", "PER".

  Returns:
    (prefix, type): prefix one of "B", "I", "E", "S", "O".
  """
  if tag == OUTSIDE:
    return OUTSIDE, ""
  prefix, dash, chunk_type = tag.partition("-")
  if dash and prefix in _PREFIXES:
    return _PREFIXES[prefix], chunk_type
  if tag in _PREFIXES:   # a bare "B"/"I": chunks without a type
    return _PREFIXES[tag], ""
  return "I", tag        # IO scheme: the tag is the type


def end_of_chunk(prev_prefix, prefix, prev_type, chunk_type):
  """True if a chunk ended on the previous token (conlleval's endOfChunk)."""
  if prev_prefix in ("E", "S"):
    return True
  if prev_prefix in ("B", "I") and prefix in ("B", "S", OUTSIDE):
    return True
  return prev_prefix != OUTSIDE and prev_type != chunk_type


def start_of_chunk(prev_prefix, prefix, prev_type, chunk_type):
  """True if a chunk starts on this token (conlleval's startOfChunk)."""
  if prefix in ("B", "S"):
    return True
  if prefix in ("I", "E") and prev_prefix in ("E", "S", OUTSIDE):
    return True
  return prefix != OUTSIDE and prev_type != chunk_type


@dataclasses.dataclass
class Counts:
  """What conlleval counts; per-type dicts are keyed by the chunk type."""
  tokens: int = 0            # tokens scored (sentence breaks excluded)
  correct_tags: int = 0      # tokens whose predicted tag equals the gold tag
  gold_chunks: int = 0       # chunks in the gold tags ("phrases")
  found_chunks: int = 0      # chunks in the predicted tags
  correct_chunks: int = 0    # predicted chunks equal to a gold chunk
  gold_by_type: Dict[str, int] = dataclasses.field(default_factory=dict)
  found_by_type: Dict[str, int] = dataclasses.field(default_factory=dict)
  correct_by_type: Dict[str, int] = dataclasses.field(default_factory=dict)

  def types(self):
    return sorted(set(self.gold_by_type) | set(self.found_by_type))


def _add(counts_by_type, chunk_type):
  counts_by_type[chunk_type] = counts_by_type.get(chunk_type, 0) + 1


def count_chunks(gold_sentences, predicted_sentences):
  """Counts tokens and chunks of aligned gold and predicted tag sequences.

  A sentence break acts as an `O` token in both sequences (conlleval's
  boundary), so no chunk runs across sentences.

  Args:
    gold_sentences: list of sentences, each a list of gold tags (str).
    predicted_sentences: list of sentences of predicted tags, same lengths.

  Returns:
    Counts.
  """
  if len(gold_sentences) != len(predicted_sentences):
    raise ValueError(f"{len(gold_sentences)} gold sentences but "
                     f"{len(predicted_sentences)} predicted ones.")
  counts = Counts()
  for index, (gold, predicted) in enumerate(zip(gold_sentences, predicted_sentences)):
    if len(gold) != len(predicted):
      raise ValueError(f"Sentence {index}: {len(gold)} gold tags but "
                       f"{len(predicted)} predicted tags.")
    _count_sentence(counts, gold, predicted)
  return counts


def _count_sentence(counts, gold_tags, predicted_tags):
  """conlleval's per-line loop over one sentence, closed by a boundary."""
  last_gold, last_guess = (OUTSIDE, ""), (OUTSIDE, "")
  in_correct = False
  boundary = [(OUTSIDE, OUTSIDE)]
  for position, (gold_tag, guess_tag) in enumerate(list(zip(gold_tags, predicted_tags)) +
                                                   boundary):
    is_boundary = position == len(gold_tags)
    gold, guess = split_tag(gold_tag), split_tag(guess_tag)
    gold_end = end_of_chunk(last_gold[0], gold[0], last_gold[1], gold[1])
    guess_end = end_of_chunk(last_guess[0], guess[0], last_guess[1], guess[1])
    gold_start = start_of_chunk(last_gold[0], gold[0], last_gold[1], gold[1])
    guess_start = start_of_chunk(last_guess[0], guess[0], last_guess[1], guess[1])
    if in_correct:
      if gold_end and guess_end and last_guess[1] == last_gold[1]:
        in_correct = False
        counts.correct_chunks += 1
        _add(counts.correct_by_type, last_gold[1])
      elif gold_end != guess_end or guess[1] != gold[1]:
        in_correct = False
    if gold_start and guess_start and guess[1] == gold[1]:
      in_correct = True
    if gold_start:
      counts.gold_chunks += 1
      _add(counts.gold_by_type, gold[1])
    if guess_start:
      counts.found_chunks += 1
      _add(counts.found_by_type, guess[1])
    if not is_boundary:
      counts.tokens += 1
      counts.correct_tags += int(gold_tag == guess_tag)
    last_gold, last_guess = gold, guess
  assert not in_correct, "the boundary closes every chunk"


def _precision_recall_f1(correct, found, gold):
  precision = correct / found if found else 0.0
  recall = correct / gold if gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return precision, recall, f1


def metrics_from_counts(counts):
  """Fractions in [0, 1]: precision, recall, f1, accuracy, and `<metric>_<TYPE>` per type."""
  precision, recall, f1 = _precision_recall_f1(counts.correct_chunks, counts.found_chunks,
                                               counts.gold_chunks)
  results = {"precision": precision, "recall": recall, "f1": f1,
             "accuracy": counts.correct_tags / counts.tokens if counts.tokens else 0.0}
  for chunk_type in counts.types():
    p, r, f = _precision_recall_f1(counts.correct_by_type.get(chunk_type, 0),
                                   counts.found_by_type.get(chunk_type, 0),
                                   counts.gold_by_type.get(chunk_type, 0))
    results.update({f"precision_{chunk_type}": p, f"recall_{chunk_type}": r,
                    f"f1_{chunk_type}": f})
  return results


def evaluate(gold_sentences, predicted_sentences):
  """Entity-level metrics of predicted tags (see `metrics_from_counts`)."""
  return metrics_from_counts(count_chunks(gold_sentences, predicted_sentences))


def read_predictions(lines, delimiter=None):
  """Reads conlleval's input: (gold sentences, predicted sentences).

  Args:
    lines: iterable of str, one token a line with the gold and the predicted
      tag in the last two columns, blank lines (or `-X-` boundary lines)
      between sentences.
    delimiter: column separator (default: any whitespace, as conlleval).

  Returns:
    Two lists of sentences (lists of tags).
  """
  gold_sentences, predicted_sentences = [], []
  gold, predicted = [], []
  for number, line in enumerate(lines, 1):
    fields = line.rstrip("\r\n").split(delimiter)
    if not any(f.strip() for f in fields) or fields[0] == "-X-":
      if gold:
        gold_sentences.append(gold)
        predicted_sentences.append(predicted)
      gold, predicted = [], []
      continue
    if len(fields) < 2:
      raise ValueError(f"line {number}: expected a gold and a predicted tag in the last "
                       f"two columns; received {line.rstrip()!r}")
    gold.append(fields[-2].strip())
    predicted.append(fields[-1].strip())
  if gold:
    gold_sentences.append(gold)
    predicted_sentences.append(predicted)
  return gold_sentences, predicted_sentences


def report(counts) -> List[str]:
  """conlleval.pl's summary lines (percentages, two decimals)."""
  lines = [f"processed {counts.tokens} tokens with {counts.gold_chunks} phrases; "
           f"found: {counts.found_chunks} phrases; correct: {counts.correct_chunks}."]
  if counts.tokens:
    m = metrics_from_counts(counts)
    lines.append(f"accuracy: {100 * m['accuracy']:6.2f}%; "
                 f"precision: {100 * m['precision']:6.2f}%; "
                 f"recall: {100 * m['recall']:6.2f}%; FB1: {100 * m['f1']:6.2f}")
    for chunk_type in counts.types():
      lines.append(f"{chunk_type:>17}: precision: {100 * m['precision_' + chunk_type]:6.2f}%; "
                   f"recall: {100 * m['recall_' + chunk_type]:6.2f}%; "
                   f"FB1: {100 * m['f1_' + chunk_type]:6.2f}  "
                   f"{counts.found_by_type.get(chunk_type, 0)}")
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(
      description="Entity-level scores of a 'token gold predicted' file (conlleval.pl).")
  parser.add_argument("file", nargs="?", help="predictions file (default: stdin)")
  parser.add_argument("-d", "--delimiter", default=None,
                      help="column separator (default: any whitespace)")
  args = parser.parse_args(argv)
  try:
    if args.file:
      with open(args.file, encoding="utf-8") as reader:
        gold, predicted = read_predictions(reader, args.delimiter)
    else:
      gold, predicted = read_predictions(sys.stdin, args.delimiter)
  except (OSError, ValueError) as e:
    print(f"conlleval.py: error: {args.file or '<stdin>'}: {e}", file=sys.stderr)
    return 1
  print("\n".join(report(count_chunks(gold, predicted))))
  return 0


if __name__ == "__main__":
  sys.exit(main())
