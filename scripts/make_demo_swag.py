"""Writes a small SWAG-format multiple-choice set (data/demo/swag/*.csv).

Each example is a situation in a place, and the person's next action: the
right ending fits the place, the three others belong to other places. The
sentences are composed here from hand-written phrase lists, so the set is ours
to ship. The columns are SWAG's (`video-id, fold-ind, startphrase, sent1,
sent2, gold-source, ending0..3, label`; test.csv has no label), so
run_multiple_choice.py reads it as it reads SWAG. Deterministic: the same
files on every run. Written by `python scripts/make_demo_data.py` with the
sentiment set.
"""

import csv
import os
import random

PLACES = {
    "the kitchen": ["chops the onions on a board", "stirs the soup on the stove",
                    "takes a tray of bread out of the oven", "washes the plates in the sink"],
    "the beach": ["spreads a towel on the sand", "runs into the waves",
                  "builds a sandcastle near the water", "rubs sunscreen on their arms"],
    "the library": ["pulls a book from the shelf", "whispers a question to the librarian",
                    "opens a heavy atlas on the desk", "returns two novels at the counter"],
    "the garage": ["changes the oil of the car", "tightens a bolt with a wrench",
                   "pumps air into the bicycle tyre", "hangs the ladder on the wall"],
    "the garden": ["waters the tomato plants", "pulls weeds from the flower bed",
                   "digs a hole for a young tree", "mows the lawn in straight rows"],
    "the gym": ["lifts a barbell over their head", "runs on the treadmill",
                "stretches on a yoga mat", "does ten pull-ups on the bar"],
    "the airport": ["shows a passport at the gate", "puts a suitcase on the belt",
                    "checks the departures board", "walks through the security scanner"],
    "the classroom": ["writes an equation on the blackboard", "hands out the exam papers",
                      "raises a hand to answer", "sharpens a pencil at the desk"],
    "the swimming pool": ["dives in from the starting block", "swims a length of backstroke",
                          "adjusts their goggles at the edge", "floats on their back"],
    "the snowy hill": ["sleds down the slope", "throws a snowball at a friend",
                       "builds a snowman with a carrot nose", "skis between the flags"],
    "the bakery": ["kneads a large ball of dough", "slides croissants onto a rack",
                   "dusts a cake with powdered sugar", "rolls out pastry with a pin"],
    "the stable": ["brushes the horse's mane", "fills the trough with water",
                   "saddles the pony for a ride", "sweeps straw out of the stall"],
}
PEOPLE = ["A woman", "A man", "A young boy", "An old man", "A girl", "The coach",
          "A teenager", "The chef", "A tourist", "My neighbour", "A student", "The father"]
OPENINGS = ["{who} walks into {place}.", "{who} is in {place} early in the morning.",
            "{who} arrives at {place} with a friend.", "It is a sunny day and {who_lower} "
            "is at {place}.", "{who} spends the afternoon at {place}."]
PREFIXES = ["Then {pronoun}", "After a moment, {pronoun}", "Next, {pronoun}",
            "Smiling, {pronoun}", "Without a word, {pronoun}"]
FIELDS = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
          "ending0", "ending1", "ending2", "ending3", "label"]


def make_example(rng, index, split):
  """One SWAG row: (columns..., label)."""
  place = rng.choice(sorted(PLACES))
  who = rng.choice(PEOPLE)
  sent1 = rng.choice(OPENINGS).format(who=who, who_lower=who[0].lower() + who[1:],
                                      place=place)
  sent2 = rng.choice(PREFIXES).format(pronoun="they" if rng.random() < 0.5 else "the person")
  others = rng.sample([p for p in sorted(PLACES) if p != place], 3)
  endings = [rng.choice(PLACES[place])] + [rng.choice(PLACES[p]) for p in others]
  order = list(range(4))
  rng.shuffle(order)
  endings = [endings[i] + "." for i in order]
  label = order.index(0)
  return [index, f"demo-{split}-{index}", f"{split}-{index}", f"{sent1} {sent2}", sent1,
          sent2, "gold"] + endings + [label]


def write_swag(output_dir):
  """Writes train.csv (320), val.csv (80) and test.csv (80, unlabeled) into output_dir."""
  os.makedirs(output_dir, exist_ok=True)
  rng = random.Random(2025)
  for split, count, labeled in (("train", 320, True), ("val", 80, True), ("test", 80, False)):
    with open(os.path.join(output_dir, f"{split}.csv"), "w", encoding="utf-8",
              newline="") as f:
      writer = csv.writer(f, lineterminator="\n")
      writer.writerow(FIELDS if labeled else FIELDS[:-1])
      for index in range(count):
        row = make_example(rng, index, split)
        writer.writerow(row if labeled else row[:-1])
