# coding=utf-8
"""Writes scripts/pretrain_corpus.txt, the small English demo corpus.

    python scripts/make_demo_corpus.py [--output=scripts/pretrain_corpus.txt]

Every sentence is composed here from templates and word lists written for
this project (no outside text), so the corpus can be shipped and regenerated
byte for byte (fixed seed). Each document follows one person through one
everyday topic (cooking, gardening, a train trip, ...): its sentences come in
story order, so a sentence and the next one really belong together, which is
what next-sentence prediction needs, and the vocabulary of each topic repeats
often enough for a tiny masked LM to learn something.

Format: one sentence per line, a blank line between documents (the input of
create_pretraining_data.py).
"""

import argparse
import json
import random
from pathlib import Path

PEOPLE = (
    ("Anna", "she", "her"), ("Ben", "he", "his"), ("Clara", "she", "her"),
    ("David", "he", "his"), ("Elena", "she", "her"), ("Farid", "he", "his"),
    ("Grace", "she", "her"), ("Hugo", "he", "his"), ("Iris", "she", "her"),
    ("Jonas", "he", "his"), ("Keiko", "she", "her"), ("Liam", "he", "his"),
    ("Maya", "she", "her"), ("Nora", "she", "her"), ("Omar", "he", "his"),
    ("Priya", "she", "her"), ("Rosa", "she", "her"), ("Sam", "he", "his"),
    ("Tariq", "he", "his"), ("Uma", "she", "her"), ("Victor", "he", "his"),
    ("Wen", "she", "her"), ("Yusuf", "he", "his"), ("Zoe", "she", "her"),
)
TOWNS = ("Millbrook", "Ashford", "Riverton", "Lakeside", "Stonebridge",
         "Elmwood", "Greenfield", "Oakdale", "Westport", "Fairview")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday")
RELATIVES = ("sister", "brother", "mother", "father", "grandmother",
             "grandfather", "cousin", "neighbor", "best friend", "aunt", "uncle")
SEASONS = ("spring", "summer", "autumn", "winter")

# Each topic (scripts/demo_corpus_topics.json): word lists, then templates
# in story order. A document keeps the first template, picks a sorted subset
# of the middle ones, keeps the last.
TOPICS_FILE = Path(__file__).resolve().parent / "demo_corpus_topics.json"
with open(TOPICS_FILE, encoding="utf-8") as _file:
  TOPICS = json.load(_file)


# Words that may open a middle sentence that tells what the person did next
# ("Then, he walked to the market ..."): the subject is the person and the
# verb is in the past tense.
CONNECTORS = ("Then", "After that", "Later", "Soon after", "Next")
PAST_TENSE = frozenset((
    "took", "found", "bought", "went", "made", "put", "gave", "wrote", "met",
    "sat", "ate", "began", "came", "left", "saw", "paid", "lit", "spoke", "did",
    "had", "could", "was", "drank", "rode", "played", "chose", "learned"))
NAMES = frozenset(p[0] for p in PEOPLE)


def _with_connector(sentence, rng):
  """Sometimes opens a past-tense action of the person with a connector."""
  words = sentence.split()
  subject, verb = words[0], words[1]
  is_person = subject in ("He", "She") or subject in NAMES
  is_past = (verb.endswith("ed") and verb not in ("needed",)) or verb in PAST_TENSE
  if not (is_person and is_past) or rng.random() > 0.4:
    return sentence
  if subject not in NAMES:
    sentence = sentence[0].lower() + sentence[1:]
  return "%s, %s" % (rng.choice(CONNECTORS), sentence)


def make_document(topic, rng):
  """One document (list of sentences) about `topic`, with one person."""
  spec = TOPICS[topic]
  name, he, his = rng.choice(PEOPLE)
  slots = {
      "Name": name, "he": he, "He": he.capitalize(), "his": his,
      "His": his.capitalize(), "him": "her" if he == "she" else "him",
      "town": rng.choice(TOWNS), "day": rng.choice(DAYS),
      "relative": rng.choice(RELATIVES), "season": rng.choice(SEASONS),
  }
  for key, values in spec.items():
    if key != "templates":
      slots[key] = rng.choice(values)
  templates = spec["templates"]
  num_middle = rng.randint(1, min(6, len(templates) - 2))
  middle = sorted(rng.sample(range(1, len(templates) - 1), num_middle))
  chosen = [0] + middle + [len(templates) - 1]
  sentences = [templates[i].format(**slots) for i in chosen]
  return [sentences[0]] + [_with_connector(x, rng) for x in sentences[1:-1]] + [
      sentences[-1]]


def make_corpus(num_documents=260, seed=2024):
  """Returns `num_documents` documents, topics cycling in a shuffled order."""
  rng = random.Random(seed)
  topics = sorted(TOPICS)
  documents = []
  while len(documents) < num_documents:
    rng.shuffle(topics)
    for topic in topics[:num_documents - len(documents)]:
      documents.append(make_document(topic, rng))
  return documents


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--output", type=Path,
                      default=Path(__file__).resolve().parent / "pretrain_corpus.txt")
  parser.add_argument("--num_documents", type=int, default=260)
  parser.add_argument("--seed", type=int, default=2024)
  args = parser.parse_args()
  documents = make_corpus(args.num_documents, args.seed)
  text = "\n\n".join("\n".join(document) for document in documents) + "\n"
  args.output.write_text(text, encoding="utf-8")
  print("wrote %s: %d documents, %d sentences, %d bytes" % (
      args.output, len(documents), sum(map(len, documents)),
      len(text.encode("utf-8"))))


if __name__ == "__main__":
  main()
