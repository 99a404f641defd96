# coding=utf-8
"""Test oracle: the reference's pre-training instance algorithm, plainly.

Written for the tests from SPEC §3 and the reference's documented behaviour,
independently of create_pretraining_data.py (which stores ids, shards, writes
TFRecords itself and so on): string tokens, one straightforward function per
step, every random call in the reference's order on one random.Random.

Tokens are (piece, continues_word) pairs so that whole-word masking can use
either WordPiece "##" pieces or user-given word boundaries ("space": every
piece of a space-separated word after the first continues it).
"""

import random


def read_documents(paths, tokenizer, word_boundaries="wordpiece"):
  """Documents (lists of sentences of (piece, continues) tokens), in order."""
  documents = [[]]
  for path in paths:
    with open(path, encoding="utf-8", newline="\n") as f:
      for line in f.read().split("\n"):
        line = line.strip()
        if not line:
          documents.append([])
          continue
        if word_boundaries == "space":
          sentence = []
          for word in line.split():
            pieces = tokenizer.tokenize(word)
            sentence += [(p, k > 0) for k, p in enumerate(pieces)]
        else:
          sentence = [(p, p.startswith("##")) for p in tokenizer.tokenize(line)]
        if sentence:
          documents[-1].append(sentence)
  return [d for d in documents if d]


def choose_target_length(max_num_tokens, short_seq_prob, rng):
  if rng.random() < short_seq_prob:
    return rng.randint(2, max_num_tokens)
  return max_num_tokens


def pick_random_document(num_documents, current, rng):
  index = current
  for _ in range(10):
    index = rng.randint(0, num_documents - 1)
    if index != current:
      return index
  return index


def truncate(tokens_a, tokens_b, max_num_tokens, rng):
  while len(tokens_a) + len(tokens_b) > max_num_tokens:
    if len(tokens_a) > len(tokens_b):
      longer = tokens_a
    else:
      longer = tokens_b
    if rng.random() < 0.5:
      longer.pop(0)
    else:
      longer.pop()


def mask_tokens(tokens, masked_lm_prob, max_predictions, whole_word,
                vocab_words, rng):
  """Returns (output pieces, sorted positions, labels)."""
  groups = []
  for i, (piece, continues) in enumerate(tokens):
    if piece in ("[CLS]", "[SEP]"):
      continue
    if whole_word and continues and groups:
      groups[-1].append(i)
    else:
      groups.append([i])
  rng.shuffle(groups)
  budget = min(max_predictions, max(1, int(round(len(tokens) * masked_lm_prob))))
  output = [piece for piece, _ in tokens]
  chosen = []
  for group in groups:
    if len(chosen) >= budget:
      break
    if len(chosen) + len(group) > budget:
      continue
    for i in group:
      chosen.append(i)
      if rng.random() < 0.8:
        output[i] = "[MASK]"
      elif rng.random() < 0.5:
        pass
      else:
        output[i] = vocab_words[rng.randint(0, len(vocab_words) - 1)]
  chosen.sort()
  return output, chosen, [tokens[i][0] for i in chosen]


def instances_from_document(documents, doc_index, settings, vocab_words, rng):
  document = documents[doc_index]
  max_num_tokens = settings["max_seq_length"] - 3
  target = choose_target_length(max_num_tokens, settings["short_seq_prob"], rng)
  result = []
  chunk = []
  chunk_tokens = 0
  i = 0
  while i < len(document):
    chunk.append(document[i])
    chunk_tokens += len(document[i])
    at_end = i == len(document) - 1
    if at_end or chunk_tokens >= target:
      a_end = 1
      if len(chunk) > 1:
        a_end = rng.randint(1, len(chunk) - 1)
      tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
      if len(chunk) == 1 or rng.random() < 0.5:
        is_random_next = True
        other = documents[pick_random_document(len(documents), doc_index, rng)]
        start = rng.randint(0, len(other) - 1)
        tokens_b = []
        for sentence in other[start:]:
          tokens_b += sentence
          if len(tokens_b) >= target - len(tokens_a):
            break
        i -= len(chunk) - a_end
      else:
        is_random_next = False
        tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
      truncate(tokens_a, tokens_b, max_num_tokens, rng)
      cls, sep = ("[CLS]", False), ("[SEP]", False)
      tokens = [cls] + tokens_a + [sep] + tokens_b + [sep]
      output, positions, labels = mask_tokens(
          tokens, settings["masked_lm_prob"], settings["max_predictions_per_seq"],
          settings["do_whole_word_mask"], vocab_words, rng)
      result.append({
          "tokens": output,
          "segment_ids": [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1),
          "is_random_next": is_random_next,
          "masked_lm_positions": positions,
          "masked_lm_labels": labels,
      })
      chunk = []
      chunk_tokens = 0
    i += 1
  return result


def create_instances(paths, tokenizer, settings, word_boundaries="wordpiece"):
  """All instances, in the reference's output order.

  Args:
    paths: list of input text files.
    tokenizer: tokenization.FullTokenizer.
    settings: dict with max_seq_length, max_predictions_per_seq,
      masked_lm_prob, short_seq_prob, dupe_factor, do_whole_word_mask,
      random_seed.
    word_boundaries: "wordpiece" or "space".
  """
  rng = random.Random(settings["random_seed"])
  documents = read_documents(paths, tokenizer, word_boundaries)
  rng.shuffle(documents)
  vocab_words = list(tokenizer.vocab.keys())
  instances = []
  for _ in range(settings["dupe_factor"]):
    for doc_index in range(len(documents)):
      instances += instances_from_document(documents, doc_index, settings,
                                           vocab_words, rng)
  rng.shuffle(instances)
  return instances
