"""Writes the demo data sets: the quickstart's review sentiment (data/demo/*.tsv)
and a SWAG-format multiple-choice set (data/demo/swag/*.csv, make_demo_swag.py).

Every sentence is composed here from hand-written phrase lists, so the data
set is ours to ship. Deterministic: the same files on every run.

  python scripts/make_demo_data.py --output_dir=data/demo
"""

import argparse
import os
import random

import make_demo_swag

SUBJECTS = ["the movie", "this phone", "the hotel room", "our waiter", "the new album",
            "this laptop", "the pasta", "the delivery", "the concert", "this novel",
            "the customer service", "this pair of headphones", "the museum tour", "the coffee",
            "the app update", "the train ride", "the keyboard", "the sequel",
            "the guided hike", "the hair salon", "the bakery", "the online course",
            "the car rental", "the stand-up show", "the board game", "the gym class"]
POSITIVE = ["was absolutely wonderful", "exceeded every expectation I had",
            "was a real pleasure from start to finish", "works perfectly",
            "made my whole week better", "was friendly and quick",
            "is worth every penny", "felt warm and welcoming", "was brilliant",
            "turned out even better than the reviews said", "was fresh and delicious",
            "arrived early and in perfect shape", "kept me smiling the entire time",
            "is beautifully made", "was smooth, fast and easy", "impressed everyone"]
NEGATIVE = ["was a complete waste of money", "broke after two days",
            "was rude and painfully slow", "left me bored and annoyed",
            "is badly designed", "arrived late and damaged", "was cold and tasteless",
            "crashed again and again", "felt dirty and cramped",
            "was far worse than advertised", "ruined the whole evening",
            "is overpriced and flimsy", "made me want a refund", "was a letdown",
            "sounded awful", "was confusing and frustrating"]
OPENERS = ["", "Honestly, ", "I have to say ", "To be fair, ", "Overall, ",
           "After a week, ", "My friends agreed that ", "Sadly or not, ",
           "As a regular customer, I think ", "Frankly, "]
POSITIVE_TAILS = ["", " and I would recommend it.", " and we will be back.",
                  " Five stars.", " I loved it.", " Great value."]
NEGATIVE_TAILS = ["", " and I will not return.", " Avoid it.", " One star.",
                  " I regret it.", " Never again."]


def make_sentence(rng, positive):
  opener = rng.choice(OPENERS)
  subject = rng.choice(SUBJECTS)
  predicate = rng.choice(POSITIVE if positive else NEGATIVE)
  tail = rng.choice(POSITIVE_TAILS if positive else NEGATIVE_TAILS)
  text = f"{opener}{subject} {predicate}"
  text = text[0].upper() + text[1:]
  return text + ("." if not tail.startswith(" ") or tail[1:2].isupper() else "") + tail


def write_split(path, rng, count, seen):
  """Writes `count` new labelled sentences (none seen in another split)."""
  rows = []
  while len(rows) < count:
    label = "positive" if rng.random() < 0.5 else "negative"
    text = make_sentence(rng, label == "positive")
    if text not in seen:
      seen.add(text)
      rows.append((text, label))
  with open(path, "w", encoding="utf-8") as f:
    f.write("sentence\tlabel\n")
    for text, label in rows:
      f.write(f"{text}\t{label}\n")


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output_dir", default="data/demo")
  args = parser.parse_args()
  os.makedirs(args.output_dir, exist_ok=True)
  rng = random.Random(2024)
  seen = set()
  for split, count in (("train", 480), ("dev", 120), ("test", 120)):
    write_split(os.path.join(args.output_dir, f"{split}.tsv"), rng, count, seen)
  make_demo_swag.write_swag(os.path.join(args.output_dir, "swag"))


if __name__ == "__main__":
  main()
