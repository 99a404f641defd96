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

# Each topic: word lists, then templates in story order. A document keeps the
# first template, picks a sorted subset of the middle ones, keeps the last.
TOPICS = {
    "cooking": {
        "dish": ("vegetable soup", "a lemon cake", "fried rice", "a potato stew",
                 "fresh bread", "a tomato sauce", "apple pie", "a bean salad"),
        "item": ("carrots", "onions", "potatoes", "tomatoes", "apples", "beans",
                 "mushrooms", "peppers"),
        "tool": ("a large pot", "a sharp knife", "a wooden spoon", "the old oven",
                 "a heavy pan"),
        "templates": (
            "On {day}, {Name} decided to make {dish} for {his} {relative}.",
            "{He} walked to the market in {town} and bought a bag of {item}.",
            "The recipe came from a notebook that {his} {relative} had kept for years.",
            "{He} washed the {item} and cut them into small pieces.",
            "{He} used {tool}, because it heats slowly and evenly.",
            "While the food cooked, the kitchen filled with a warm smell.",
            "{He} tasted it twice and added a little salt and pepper.",
            "The first attempt was too dry, so {he} added a cup of water.",
            "When the {relative} arrived, the table was already set.",
            "{Name} and the {relative} ate slowly and talked about the week.",
            "Everyone agreed that {dish} tasted better than last time.",
            "After dinner, {Name} wrote the changes to the recipe in the notebook.",
        ),
    },
    "garden": {
        "plant": ("tomatoes", "sunflowers", "beans", "roses", "lettuce",
                  "strawberries", "herbs", "pumpkins"),
        "pest": ("snails", "aphids", "birds", "rabbits"),
        "templates": (
            "In early {season}, {Name} started a small garden behind {his} house.",
            "{He} chose a sunny corner and planted a row of {plant}.",
            "The soil was hard, so {he} mixed in compost from the shed.",
            "Every morning {he} watered the young plants before work.",
            "A week of heavy rain made the ground soft and dark.",
            "Some {pest} found the garden and ate a few of the leaves.",
            "{He} put up a low fence to keep the {pest} away.",
            "By the middle of the {season}, the {plant} were taller than the fence.",
            "{His} {relative} came to see the garden and took a few photos.",
            "{Name} shared the first harvest with the neighbors on {his} street.",
            "Next year {he} wants to grow {plant} as well.",
        ),
    },
    "train": {
        "city": ("the capital", "the coast", "the mountains", "a lake town",
                 "the north", "a river city"),
        "thing": ("a book", "a sandwich", "a warm coat", "a small camera",
                  "a map", "an umbrella"),
        "templates": (
            "{Name} took the early train from {town} to {city} on {day}.",
            "{He} packed {thing} and a bottle of water in {his} bag.",
            "The station was quiet, and the train left exactly on time.",
            "{He} found a seat by the window and watched the fields pass by.",
            "A conductor checked the tickets and wished everyone a good trip.",
            "Halfway through the journey, the train stopped for ten minutes.",
            "An announcement explained that a signal was being repaired.",
            "{Name} used the time to read and to plan the day.",
            "The train arrived a little late, but nobody seemed to mind.",
            "{His} {relative} was waiting on the platform with a big smile.",
            "{Name} and {his} {relative} walked to a cafe near the station.",
            "In the evening, {Name} took the last train back home.",
        ),
    },
    "pets": {
        "pet": ("dog", "cat", "rabbit", "parrot", "puppy", "kitten"),
        "pet_name": ("Biscuit", "Pepper", "Milo", "Luna", "Shadow", "Ginger",
                     "Max", "Coco"),
        "toy": ("a rubber ball", "a soft blanket", "a piece of rope",
                "a cardboard box", "a squeaky toy"),
        "templates": (
            "{Name} adopted a young {pet} from the shelter in {town}.",
            "{He} named it {pet_name} after a character in a children's book.",
            "For the first few days, {pet_name} hid under the bed.",
            "{Name} sat on the floor and spoke to it in a calm voice.",
            "Slowly, the {pet} began to trust {his} new family.",
            "Its favorite thing in the house was {toy}.",
            "Every {day}, {Name} took {pet_name} to the vet for a check.",
            "The vet said that the {pet} was healthy and growing fast.",
            "{His} {relative} visited and could not stop laughing at its tricks.",
            "Now {pet_name} waits by the door when {Name} comes home.",
            "{Name} says that the {pet} has made the house feel warmer.",
        ),
    },
    "school": {
        "subject": ("history", "mathematics", "biology", "geography", "music",
                    "chemistry", "art", "literature"),
        "project": ("a model of a volcano", "a map of the old town",
                    "a short film", "a poster about birds", "a report on rivers"),
        "templates": (
            "{Name} teaches {subject} at the secondary school in {town}.",
            "This term, {his} class is working on {project}.",
            "The students were divided into groups of four.",
            "Each group had to choose a question and find the answer together.",
            "Some students went to the library to look for old books.",
            "Others asked their parents and grandparents for stories.",
            "{Name} met every group once a week to check their progress.",
            "On {day}, the groups presented their work to the whole school.",
            "One group explained {subject} with a simple experiment.",
            "The head teacher praised the careful work of the students.",
            "{Name} plans to repeat the project with next year's class.",
        ),
    },
    "market": {
        "item": ("a pair of shoes", "a winter jacket", "a new kettle",
                 "a birthday present", "a set of plates", "a lamp for the desk"),
        "shop": ("a small shop", "the department store", "a second-hand shop",
                 "the weekend market"),
        "templates": (
            "{Name} needed {item}, so {he} went shopping on {day}.",
            "{He} started at {shop} on the main street of {town}.",
            "The first one {he} saw was nice, but the price was too high.",
            "A friendly seller showed {him} a cheaper one in the back.",
            "{He} compared the two for a long time before deciding.",
            "{He} paid in cash and asked for a receipt.",
            "On the way home, {he} stopped for a cup of tea.",
            "{His} {relative} said it was a good choice.",
            "{Name} was glad that {he} had not bought the first one.",
        ),
    },
    "football": {
        "team": ("the town team", "the school team", "a local club",
                 "the youth team"),
        "score": ("two goals to one", "three goals to two", "one goal to nil",
                  "four goals to three"),
        "templates": (
            "{Name} plays football for {team} in {town}.",
            "The team trains twice a week on a field next to the river.",
            "On {day}, the team played against a club from a nearby village.",
            "The weather was cold, and the grass was wet from the rain.",
            "The other team scored first, after only five minutes.",
            "At half time, the coach asked everyone to stay calm.",
            "In the second half, {Name} passed the ball to a friend who scored.",
            "The crowd cheered as the final whistle blew.",
            "In the end, {Name}'s team won the match by {score}.",
            "After the game, both teams shook hands and shared some fruit.",
            "{His} {relative} had watched the whole match from the side.",
        ),
    },
    "music": {
        "instrument": ("the piano", "the guitar", "the violin", "the drums",
                       "the flute", "the cello"),
        "piece": ("an old folk song", "a slow waltz", "a short march",
                  "a lullaby", "a piece by a local composer"),
        "templates": (
            "{Name} started learning {instrument} when {he} was forty years old.",
            "{He} takes a lesson every {day} with a teacher in {town}.",
            "At first, even simple exercises felt very hard.",
            "{He} practiced for twenty minutes every evening after dinner.",
            "The neighbors did not complain, although the first weeks were loud.",
            "After a few months, {he} could play {piece}.",
            "{His} teacher suggested that {he} join a small group of beginners.",
            "The group meets in the back room of the library.",
            "In {season}, the group gave a short concert for their families.",
            "{Name} was nervous, but {he} played without a mistake.",
            "{His} {relative} recorded the concert on a phone.",
        ),
    },
    "repair": {
        "broken": ("the kitchen tap", "a bicycle wheel", "the garden gate",
                   "an old radio", "a wooden chair", "the bathroom door"),
        "tool": ("a screwdriver", "a small hammer", "a set of keys",
                 "a roll of tape", "some glue"),
        "templates": (
            "Last {day}, {broken} in {Name}'s house stopped working properly.",
            "{He} did not want to call a repair service for such a small problem.",
            "{He} watched a short video that explained the usual causes.",
            "Then {he} took out {tool} and opened it carefully.",
            "Inside, one small part was worn out and loose.",
            "The hardware store in {town} had the right part for a low price.",
            "{He} replaced the part and tightened everything again.",
            "The first test failed, and {he} had to start over.",
            "The second time, everything worked as it should.",
            "{His} {relative} was surprised that {he} had fixed it alone.",
            "{Name} now keeps a box of spare parts in the cupboard.",
        ),
    },
    "library": {
        "genre": ("mystery novels", "travel books", "books about history",
                  "cookbooks", "poetry", "books about the stars"),
        "event": ("a reading club", "a talk by a local author",
                  "a quiz evening", "a workshop on writing letters"),
        "templates": (
            "{Name} visits the public library in {town} every {day}.",
            "{He} usually borrows {genre}, but sometimes {he} tries something new.",
            "The librarian knows {him} well and often suggests a title.",
            "The reading room is quiet, bright and full of plants.",
            "Children sit on cushions in a corner and listen to stories.",
            "This month, the library is organizing {event}.",
            "{Name} signed up on the first day.",
            "About twenty people came, and the room was almost full.",
            "Afterwards, the visitors drank tea and talked about their favorite books.",
            "{Name} left with three new books and a list of many more.",
        ),
    },
    "weather": {
        "event": ("a strong storm", "a heavy snowfall", "a long heat wave",
                  "a week of thick fog", "a sudden flood"),
        "templates": (
            "In the {season}, {town} had {event} that nobody had expected.",
            "The radio warned people to stay at home if they could.",
            "{Name} closed the windows and brought the chairs inside.",
            "The power went out for a few hours in the evening.",
            "{He} lit candles and played cards with {his} {relative}.",
            "Outside, the wind was so loud that it was hard to sleep.",
            "In the morning, the streets were covered with branches.",
            "Neighbors came out to help each other clean up.",
            "The town hall opened a shelter for families who needed it.",
            "After two days, life in {town} slowly returned to normal.",
        ),
    },
    "health": {
        "activity": ("running", "swimming", "cycling", "walking in the hills",
                     "yoga", "dancing"),
        "templates": (
            "{Name} wanted to feel healthier, so {he} started {activity}.",
            "At first, {he} did it only twice a week for half an hour.",
            "{He} bought comfortable shoes and a small water bottle.",
            "The first weeks were tiring, and {his} legs often hurt.",
            "A doctor in {town} advised {him} to rest well and drink enough water.",
            "{He} also began to eat more fruit and vegetables.",
            "After two months, {he} could go twice as far as before.",
            "{His} {relative} decided to join {him} on {day} mornings.",
            "Together, {Name} and {his} {relative} set a goal for the end of the {season}.",
            "{Name} says that {he} sleeps better and feels more awake.",
        ),
    },
    "moving": {
        "home": ("a small flat", "an old house", "a flat above a bakery",
                 "a cottage near the forest"),
        "templates": (
            "After many years in the city, {Name} moved to {home} in {town}.",
            "Packing took more than two weeks.",
            "{He} gave away the furniture that {he} no longer needed.",
            "On {day}, a van carried the boxes to the new address.",
            "{His} {relative} helped to carry the heavy boxes upstairs.",
            "The first night, {he} slept on a mattress on the floor.",
            "It took a month to unpack everything and hang the pictures.",
            "The neighbors brought a cake to welcome {him}.",
            "{Name} soon found a favorite bench in the park nearby.",
            "{He} says that the quiet streets feel like home now.",
        ),
    },
    "baking_bread": {
        "bread": ("a rye loaf", "a white loaf", "flat bread", "bread rolls",
                  "a sourdough loaf"),
        "templates": (
            "Every {day}, {Name} bakes {bread} for the family.",
            "{He} mixes flour, water, salt and a little yeast in a bowl.",
            "The dough rests for several hours in a warm place.",
            "When it has doubled in size, {he} shapes it by hand.",
            "The oven must be very hot before the bread goes in.",
            "After forty minutes, the crust is brown and crisp.",
            "{He} lets the bread cool on a rack before cutting it.",
            "{His} {relative} always asks for the first slice.",
            "{Name} learned the method from a baker in {town}.",
        ),
    },
    "bike_trip": {
        "route": ("along the river", "through the forest", "around the lake",
                  "over the hills", "to the old castle"),
        "templates": (
            "On a sunny {day} in {season}, {Name} went on a bike ride {route}.",
            "{He} checked the tires and the brakes before leaving.",
            "The path was flat at first and easy to follow.",
            "Later, the road climbed slowly and {he} had to stop to rest.",
            "From the top, {he} could see the roofs of {town}.",
            "{He} ate a sandwich and drank some water in the shade.",
            "On the way down, {he} met a group of other cyclists and rode with them.",
            "{Name} arrived home tired but very happy.",
            "{He} has already planned the next trip with {his} {relative}.",
        ),
    },
}


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
