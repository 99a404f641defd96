"""A linear-chain conditional random field for token tagging (BERT + CRF), no Keras.

The CRF scores a tag sequence y_1..y_n of a sentence as

  score(y) = sum_t unary[t, y_t] + sum_{t>1} transitions[y_{t-1}, y_t]

and p(y | x) = exp(score(y)) / Z, Z summed over all K^n sequences by the forward
algorithm; the best sequence comes from Viterbi decoding. There are no start or
end scores: NER repositories built on google-research/bert (and TF-Addons'
crf_log_likelihood) have none either; the first and last word's unary scores learn them.

Which positions form the chain: only those where `mask` is 1, taken in order.
In run_ner.py the mask is `label_mask`, which marks the FIRST piece of each
scored word; [CLS], [SEP], continuation pieces and words scored in another
window are 0, so the 1s are not a prefix. The CRF runs over the compacted
sequence of masked positions, so a transition links two consecutive labelled
WORDS, which is what word-level tags (B-PER -> I-PER) describe. A row with no
masked position has the empty tag sequence: log-likelihood 0, Viterbi score 0.

Everything is computed in float32 (float64 if the unary scores are float64,
which the tests use); float16/bfloat16 unary scores are cast to float32 first,
since log-sum-exp over many steps needs the range. The loops are `tf.scan`s over
time, so the functions run eagerly, inside tf.function with unknown batch size
and length, in an exported SavedModel and under XLA. The length T must be >= 1.
"""

import tensorflow as tf

import modeling

# Tag id that `decode` puts at positions outside the mask. A valid id (not -1),
# so code that looks every position up in the label list cannot go out of range.
FILL_TAG = 0


def transitions_name(scope="crf"):
  """The checkpoint name of the transitions of CRF(scope=scope)."""
  return f"{scope}/transitions"


class CRF(tf.Module):
  """The transition scores of a linear-chain CRF: variable `<scope>/transitions`.

  `transitions [num_tags, num_tags]` float32, transitions[i, j] = score of tag i
  followed by tag j. Initialised to zeros, not random: with zero transitions
  the CRF log-likelihood is exactly the sum of the per-word log-softmax of the
  unary scores, so a new CRF head starts as the softmax head it replaces; there
  is no symmetry to break (the gradient of entry (i, j) is the expected minus
  the observed count of the bigram i -> j, different for each entry from the
  first step); and no seed is needed for reproducibility.
  """

  def __init__(self, num_tags, scope="crf"):
    super().__init__(name=None)
    self.num_tags = num_tags
    self.transitions = tf.Variable(tf.zeros([num_tags, num_tags]),
                                   name=transitions_name(scope))

  def variables_by_name(self):
    """{checkpoint name: tf.Variable}: {"crf/transitions": ...} by default."""
    return {modeling.variable_name(self.transitions): self.transitions}

  def log_likelihood(self, unary, tags, mask):
    """float32 [B] log p(tags | x); see the module function `log_likelihood`."""
    return log_likelihood(unary, tags, mask, self.transitions)

  def decode(self, unary, mask):
    """(int32 [B, T] best tags, float32 [B] their scores); see `decode`."""
    return decode(unary, mask, self.transitions)


def _compute_dtype(unary):
  return tf.float64 if unary.dtype == tf.float64 else tf.float32


def _compact_order(mask):
  """The permutation that moves the masked positions of each row to the front.

  Args:
    mask: Tensor [B, T] of 0/1 (any int, float or bool dtype).

  Returns:
    order: int32 [B, T]; row b of x gathered at order[b] holds the masked
      positions first, in their original order, then the others.
    lengths: int32 [B], the number of masked positions of each row.
  """
  mask = tf.cast(mask, tf.bool)
  positions = tf.range(tf.shape(mask)[1])[tf.newaxis, :]           # [1, T]
  # Distinct keys (no reliance on a stable sort): masked p -> p, others T + p.
  keys = tf.where(mask, positions, positions + tf.shape(mask)[1])   # [B, T]
  order = tf.argsort(keys, axis=1)
  return order, tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


def _prepare(unary, mask, transitions):
  """Compacts the masked positions to a prefix; casts to the compute dtype.

  Returns:
    unary [B, T, K] compacted, valid bool [B, T] (a prefix of length
    lengths[b]), order int32 [B, T] (see _compact_order), transitions [K, K].
  """
  dtype = _compute_dtype(unary)
  order, lengths = _compact_order(mask)
  unary = tf.gather(tf.cast(unary, dtype), order, batch_dims=1)      # [B, T, K]
  valid = tf.sequence_mask(lengths, tf.shape(mask)[1])               # [B, T]
  return unary, valid, order, tf.cast(transitions, dtype)


def _time_major(unary, valid):
  """Steps 1..T-1 as tf.scan elements: ([T-1, B, K], [T-1, B])."""
  return tf.transpose(unary[:, 1:], [1, 0, 2]), tf.transpose(valid[:, 1:])


def _sequence_score(unary, tags, valid, transitions):
  """Score of `tags` on compacted inputs: [B] in the compute dtype."""
  valid_f = tf.cast(valid, unary.dtype)
  unary_scores = tf.gather(unary, tags, batch_dims=2)                # [B, T]
  num_tags = tf.shape(transitions)[0]
  bigrams = tags[:, :-1] * num_tags + tags[:, 1:]                   # [B, T-1] i*K + j
  transition_scores = tf.gather(tf.reshape(transitions, [-1]), bigrams)
  return (tf.reduce_sum(unary_scores * valid_f, axis=1) +
          tf.reduce_sum(transition_scores * valid_f[:, 1:], axis=1))


def _log_partition(unary, valid, transitions):
  """log Z on compacted inputs by the forward algorithm: [B], 0 for empty rows."""
  def step(alpha, elems):                          # alpha [B, K]: log-sum over prefixes
    unary_t, valid_t = elems
    scores = alpha[:, :, tf.newaxis] + transitions  # [B, K_prev, K_next]
    new_alpha = tf.reduce_logsumexp(scores, axis=1) + unary_t
    # Past a row's end alpha stays, so the final alpha is the one at its end.
    return tf.where(valid_t[:, tf.newaxis], new_alpha, alpha)

  alpha = tf.foldl(step, _time_major(unary, valid), initializer=unary[:, 0])
  return tf.where(valid[:, 0], tf.reduce_logsumexp(alpha, axis=1),
                  tf.zeros_like(alpha[:, 0]))


def log_partition(unary, mask, transitions):
  """log Z(x): log of the summed exp-scores of all tag sequences.

  Args:
    unary: float Tensor [B, T, K] (any float dtype), per-position tag scores.
    mask: Tensor [B, T] of 0/1; the chain runs over the 1s only (module doc).
    transitions: float Tensor or Variable [K, K].

  Returns:
    float32 Tensor [B] (float64 for float64 unary); 0 for rows without a 1.
  """
  unary, valid, _, transitions = _prepare(unary, mask, transitions)
  return _log_partition(unary, valid, transitions)


def log_likelihood(unary, tags, mask, transitions):
  """log p(tags | x) of the given tag sequences under the CRF.

  Args:
    unary: float Tensor [B, T, K] (any float dtype), per-position tag scores.
    tags: int Tensor [B, T], gold tag ids; values outside the mask are ignored.
    mask: Tensor [B, T] of 0/1; the chain runs over the 1s only (module doc).
    transitions: float Tensor or Variable [K, K].

  Returns:
    float32 Tensor [B] (float64 for float64 unary), <= 0; 0 for rows without
    a 1. The loss is e.g. -mean over the batch.
  """
  unary, valid, order, transitions = _prepare(unary, mask, transitions)
  tags = tf.gather(tf.cast(tags, tf.int32), order, batch_dims=1)
  tags = tf.where(valid, tags, tf.zeros_like(tags))   # ignored, but in range
  return (_sequence_score(unary, tags, valid, transitions) -
          _log_partition(unary, valid, transitions))


def _viterbi_forward(unary, valid, transitions):
  """Best-prefix scores and backpointers on compacted inputs.

  One invalid step is appended, so the scan runs at least once: with T = 1 it
  would stack zero outputs, which graph mode refuses for an unknown batch size.

  Returns:
    delta [B, K], best score of a sequence ending in each tag at the row's end;
    backpointers int32 [T, B, K], backpointers[t, b, j] = best tag at step t
    before tag j at step t+1 (the identity past the row's end).
  """
  unary = tf.pad(unary, [[0, 0], [0, 1], [0, 0]])
  valid = tf.pad(valid, [[0, 0], [0, 1]])
  identity = tf.range(tf.shape(transitions)[0])[tf.newaxis, :]    # [1, K]

  def step(carry, elems):
    delta, _ = carry
    unary_t, valid_t = elems
    scores = delta[:, :, tf.newaxis] + transitions  # [B, K_prev, K_next]
    new_delta = tf.reduce_max(scores, axis=1) + unary_t
    best_prev = tf.argmax(scores, axis=1, output_type=tf.int32)
    keep = valid_t[:, tf.newaxis]
    return (tf.where(keep, new_delta, delta),
            tf.where(keep, best_prev, tf.zeros_like(best_prev) + identity))

  first = (unary[:, 0], tf.zeros_like(unary[:, 0], tf.int32))
  deltas, backpointers = tf.scan(step, _time_major(unary, valid), initializer=first)
  return deltas[-1], backpointers


def decode(unary, mask, transitions):
  """The highest-scoring tag sequence (Viterbi) and its score.

  Ties between equal-scoring sequences are broken by tf.argmax, which does not
  guarantee which one; with real-valued scores they do not occur.

  Args:
    unary: float Tensor [B, T, K] (any float dtype), per-position tag scores.
    mask: Tensor [B, T] of 0/1; the chain runs over the 1s only (module doc).
    transitions: float Tensor or Variable [K, K].

  Returns:
    tags: int32 Tensor [B, T], the best tag at each masked position, FILL_TAG
      (0) elsewhere.
    score: float32 Tensor [B] (float64 for float64 unary), the score of that
      sequence; 0 for rows without a 1.
  """
  unary, valid, order, transitions = _prepare(unary, mask, transitions)
  delta, backpointers = _viterbi_forward(unary, valid, transitions)
  last = tf.argmax(delta, axis=1, output_type=tf.int32)             # [B]

  def back(tag, backpointers_t):   # tag at step t+1 -> best tag at step t
    return tf.gather(backpointers_t, tag, batch_dims=1)

  # Backpointers are the identity past a row's end, so `last` walks back
  # unchanged to the row's last masked step and the true path starts there.
  compact = tf.transpose(tf.scan(back, backpointers, initializer=last,
                                 reverse=True))                    # [B, T]
  compact = tf.where(valid, compact, tf.fill(tf.shape(compact), FILL_TAG))
  tags = tf.gather(compact, tf.argsort(order, axis=1), batch_dims=1)  # back in place
  score = tf.where(valid[:, 0], tf.reduce_max(delta, axis=1), tf.zeros_like(delta[:, 0]))
  return tags, score
