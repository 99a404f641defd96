"""`nltk.word_tokenize` for lower-cased text, without NLTK (for the CMRC2018 metric).

The official CMRC2018 evaluation lower-cases an answer and splits every run of
non-Chinese characters with `nltk.word_tokenize(run)`: NLTK's English Punkt
model cuts the run into sentences, then NLTKWordTokenizer (the "improved
Treebank" tokenizer) splits each sentence into words. This module reproduces
NLTK 3.10's rules for that use, so the metric needs no NLTK and no model
download:

  * sentences: Punkt's decision procedure (candidate ends `.`, `?`, `!`; the
    first pass makes `?`, `!` and every final period a break except after a
    known abbreviation or in an ellipsis; the second pass takes the break
    back after an initial or a number when the next word is one the
    orthographic statistics say does not start sentences; closing quotes and
    brackets are realigned onto the sentence they end) with the parameters of
    NLTK's English model that can decide anything in lower-case text: its
    abbreviations and the four words its orthographic statistics leave
    undecided when written in lower case. Its collocations (each an initial
    or a number before a lower-case word the orthographic rule already rules
    out) and frequent sentence starters (they count only when capitalised)
    never change a decision there;
  * words: the NLTKWordTokenizer substitutions (starting quotes, punctuation
    and the final period of a sentence, brackets, double dashes, ending quotes
    and clitics such as n't / 's, the MacIntyre contractions), then a split on
    whitespace. Parentheses are not converted to -LRB- (word_tokenize does not).

Exact only for lower-case text (text that `str.lower` leaves unchanged): the
model's evidence about capitalised words (frequent sentence starters, words
seen capitalised) is left out because such words cannot occur. NLTK 3.10.4
runs these patterns with the third-party `regex` engine and 3.10.3 with `re`,
as here; the two differ in what `\\w` and `\\s` match on a few rare code points
(combining marks, U+001C..U+001F). NLTK releases before 3.9 split an
apostrophe before a word and curly quotes slightly differently.
"""

import re
import string

# --------------------------------------------------------------------- Punkt

# Word types NLTK's English Punkt model knows as abbreviations (a final period
# after them is no sentence break). Its one entry with whitespace, ". . ", can
# never be a token and is left out.
_ABBREVIATIONS = frozenset("""
    a.a a.c a.d a.g a.h a.m a.m.e a.s a.t adm ala ariz aug ave b.f b.v bros c
    c.i.t c.o.m.b c.v calif chg cie co col colo conn corp cos ct d d.c d.h d.w
    dec dr e e.f e.h e.l e.m f f.g f.j feb fla fri ft g g.d g.f g.k ga gen h
    h.c h.f h.m i.m.s ill inc j.b j.c j.j j.k j.p j.r jan jr k kan ky l l.a l.f
    l.p lt ltd m m.b.a m.d.c m.j maj messrs mg mich minn mr mrs ms n n.c n.d
    n.h n.j n.m n.v n.y nev nov oct ok okla ore p p.a.m p.m pa ph.d prof r r.a
    r.h r.i r.j r.k r.t rep reps s s.a s.a.y s.c s.g s.p.a s.s sen sep sept sr
    st sw t t.j tenn tues u.k u.n u.s u.s.a u.s.s.r v va vs vt w w.c w.r w.va
    w.w wash wed wis yr
""".split())

# Punkt's orthographic heuristic says a lower-case word does not start a
# sentence unless the model saw it only in lower case and at least once at a
# sentence start; these are the English model's only such words.
_UNDECIDED_LOWER_CASE = frozenset(["administrators", "b-week", "r-revised", "z-holiday"])

_SENTENCE_END_TOKENS = frozenset(".?!")
_PUNCTUATION_TOKENS = frozenset(";:,.!?")
# Characters that end a word (or follow a sentence end directly).
_NON_WORD = "[)\";}\\]*:@'({\\[\u2018\u2019\u201c\u201d\xab\xbb?!]"
_MULTI_CHAR = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"
# Punkt's word tokens: multi-character punctuation, a word (which does not
# start with one of ("`{[:;&#*@)}]-, and ends before whitespace, a non-word
# character, multi-character punctuation or a word-final comma), or one
# other non-space character.
_PUNKT_TOKEN = re.compile(
    _MULTI_CHAR +
    r"|(?=[^(\"`{\[:;&#*@)}\]\-,])\S+?"
    rf"(?=\s|$|{_NON_WORD}|{_MULTI_CHAR}|,(?=$|\s|{_NON_WORD}|{_MULTI_CHAR}))"
    r"|\S")
# A possible sentence end and what follows it: a non-word character, or
# whitespace and the next token.
_PERIOD_CONTEXT = re.compile(rf"[.?!](?=(?P<after>{_NON_WORD}|\s+(?P<next>\S+)))")
_NUMBER = re.compile(r"^-?[.,]?\d[\d,.-]*\.?$")
_INITIAL = re.compile(r"[^\W\d]\.$")
# Closing punctuation after a sentence end that belongs to that sentence.
_REALIGNED = re.compile("[\"')\\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\\s+|(?=--)|$)",
                        re.MULTILINE)


def _word_type(token):
  """Punkt's type of a token: lower case, any number as ##number##."""
  return _NUMBER.sub("##number##", token.lower())


def _without_period(word_type):
  return word_type[:-1] if len(word_type) > 1 and word_type.endswith(".") else word_type


def _first_pass_break(token):
  """Punkt's first pass: ?, ! and a final period, unless after an abbreviation.

  (An ellipsis ends in "..".)
  """
  if token in _SENTENCE_END_TOKENS:
    return True
  if token.endswith(".") and not token.endswith(".."):
    stem = token[:-1].lower()
    return stem not in _ABBREVIATIONS and stem.split("-")[-1] not in _ABBREVIATIONS
  return False


def _cannot_start_sentence(token, word_type):
  """Punkt's orthographic heuristic answering "no" for lower-case text.

  (Its "yes" needs a capitalised word that the model saw in lower case; none
  occurs in lower-case text.)
  """
  if token in _PUNCTUATION_TOKENS:
    return True
  return token[0].islower() and word_type not in _UNDECIDED_LOWER_CASE


def _is_sentence_break(token, next_token, first_pass_break, next_first_pass_break):
  """Punkt's final decision for a token followed by `next_token`.

  An abbreviation or ellipsis becomes a break only before a capitalised word,
  which lower-case text lacks, so the second pass only takes breaks back.
  """
  if not (first_pass_break and token.endswith(".")):
    return first_pass_break
  word_type = _without_period(_word_type(token))
  is_initial = bool(_INITIAL.match(token))
  if not (is_initial or word_type == "##number##"):
    return True
  next_type = _word_type(next_token)
  if next_first_pass_break:
    next_type = _without_period(next_type)
  if _cannot_start_sentence(next_token, next_type):
    return False
  # After an initial, a capitalised word never seen in lower case (J. Bach)
  # does not start a sentence: here, a character without a lower-case form.
  return not (is_initial and next_token[0].isupper())


def _contains_sentence_break(context):
  """True if a token of `context` other than the last one ends a sentence."""
  tokens = [token for line in context.split("\n") if line.strip()
            for token in _PUNKT_TOKEN.findall(line)]
  breaks = [_first_pass_break(token) for token in tokens]
  return any(_is_sentence_break(tokens[i], tokens[i + 1], breaks[i], breaks[i + 1])
             for i in range(len(tokens) - 1))


def _last_ascii_space(text):
  """Index of the last ASCII whitespace character in text; 0 if none.

  A space at index 0 also gives 0, as in NLTK (the word then starts where the
  previous candidate's word started).
  """
  for i in range(len(text) - 1, -1, -1):
    if text[i] in string.whitespace:
      return i
  return 0


def _end_contexts(text):
  """Each candidate sentence end with its context (previous word + end + what follows).

  A candidate whose previous word would reach back into the previous
  candidate's word replaces that candidate (runs such as "a?!").
  """
  pending = None   # (match, context) not yet yielded
  word_start = word_stop = 0
  for match in _PERIOD_CONTEXT.finditer(text):
    space = _last_ascii_space(text[word_stop:match.start()])
    start = word_stop + space + 1 if space else word_start
    if pending and word_stop <= start:
      yield pending
    word_start, word_stop = start, match.start()
    pending = (match, text[word_start:word_stop] + match.group() + match.group("after"))
  if pending:
    yield pending


def _sentence_slices(text):
  """(start, stop) of Punkt's sentences before realignment; the last without trailing space."""
  last_break = 0
  for match, context in _end_contexts(text):
    if _contains_sentence_break(context):
      yield last_break, match.end()
      last_break = match.start("next") if match.group("next") else match.end()
  yield last_break, len(text.rstrip())


def sentences(text):
  """Punkt sentences of lower-case text (nltk.sent_tokenize with the English model)."""
  slices = list(_sentence_slices(text))
  result = []
  shift = 0
  for i, (start, stop) in enumerate(slices):
    start += shift
    shift = 0
    if i + 1 < len(slices):
      following = text[slices[i + 1][0]:slices[i + 1][1]]
      closing = _REALIGNED.match(following)
      if closing:   # the closing quotes/brackets move to this sentence
        stop = slices[i + 1][0] + len(closing.group().rstrip())
        shift = closing.end()
        result.append(text[start:stop])
        continue
    if start < stop:
      result.append(text[start:stop])
  return result


# --------------------------------------------------------------------- words

# NLTKWordTokenizer's substitutions before the text is padded with spaces, in
# order: starting quotes, punctuation, brackets, double dashes.
_BEFORE_PADDING = [(re.compile(pattern), replacement) for pattern, replacement in [
    ("([«“‘„]|`+)", r" \1 "),                     # opening curly quotes, backticks
    (r'^"', "``"),                                # a quote opening the sentence
    ("(``)", r" \1 "),
    (r"""([ (\[{<])("|'{2})""", r"\1 `` "),       # a quote after space or bracket
    (r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),  # 'word
    (r"""([^.])(\.)([\])}>"'»”’ ]*)\s*$""", r"\1 \2 \3 "),  # the final period
    (r"([:,])([^\d])", r" \1 \2"),                # , and : unless before a digit
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),                      # ellipses
    (r"[;@#$%&]", r" \g<0> "),
    ("[\u2012-\u2015]", r" \g<0> "),              # figure, en and em dashes
    (r"""([^.])(\.)([\])}>"']*)\s*$""", r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),                      # a closing single quote
    (r"[*]", r" \g<0> "),
    (r"[\][(){}<>]", r" \g<0> "),                 # brackets
    (r"--", r" -- "),
]]

# After padding: ending quotes and clitics, then the contractions.
_AFTER_PADDING = [(re.compile(pattern), replacement) for pattern, replacement in [
    ("([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
]] + [(re.compile(pattern), r" \1 \2 ") for pattern in [
    r"(?i)\b(can)(not)\b", r"(?i)\b(d)('ye)\b", r"(?i)\b(gim)(me)\b",
    r"(?i)\b(gon)(na)\b", r"(?i)\b(got)(ta)\b", r"(?i)\b(lem)(me)\b",
    r"(?i)\b(more)('n)\b", r"(?i)\b(wan)(na)(?=\s)",
    r"(?i) ('t)(is)\b", r"(?i) ('t)(was)\b",
]]


def sentence_words(sentence):
  """NLTKWordTokenizer().tokenize(sentence): the words of one sentence."""
  for pattern, replacement in _BEFORE_PADDING:
    sentence = pattern.sub(replacement, sentence)
  sentence = " " + sentence + " "
  for pattern, replacement in _AFTER_PADDING:
    sentence = pattern.sub(replacement, sentence)
  return sentence.split()


def word_tokenize(text):
  """nltk.word_tokenize(text) for lower-case text: the words of each Punkt sentence.

  Args:
    text: str, lower case (as the CMRC2018 metric passes it).

  Returns:
    list of str tokens.
  """
  return [word for sentence in sentences(text) for word in sentence_words(sentence)]
