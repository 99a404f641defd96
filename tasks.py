"""The task layer: the BERT encoder with one head each, for training, prediction and serving.

A task owns its head's variables (under the official checkpoint names), its
logits, its loss and its per-example prediction outputs. The training loop
(training.Trainer), prediction and the serving modules (serving.py) take any
task; the run_*.py programs keep only their flags, data, metrics and files.

  ClassifierTask      [CLS] -> num_labels logits (or one regression score)
  TaggingTask         every position -> num_labels logits (NER), optionally a CRF
  SpanTask            every position -> start and end logits (SQuAD, `cls/squad/`)
  MultipleChoiceTask  [CLS] of each choice -> one score, softmax over choices
  PretrainingTask     masked-LM (`cls/predictions`) and next-sentence heads

A new head is a subclass that sets what differs (see README, "Code map"):
`build_head`, `logits`, `loss` and `predict`.
"""

import tensorflow as tf

import crf
import modeling


class Task:
  """The BERT encoder and one head.

  Class attributes tell the training loop what it may do with the batches:
    example_mean_loss: the loss is a mean over examples, so equal-sized
      micro-batches of a batch average to its loss (--length_sorted_splits).
    sequence_keys: features [..., S] that may be cut to the batch's longest
      sequence (padding is masked out, so the outputs do not change).
    train_sequence_keys: the same for training batches (None: sequence_keys;
      (): keep training batches whole, when the loss needs every position).
    head_variable: the variable only a fine-tuned checkpoint of this task has.
    head_name: what the head is called in messages.
    learning_rate_multipliers: None, or {regex: factor} of variables the
      optimizer trains faster (TaggingTask's CRF transitions).
  """

  example_mean_loss = False
  sequence_keys = ("input_ids", "input_mask", "segment_ids")
  train_sequence_keys = None
  head_variable = "output_weights"
  head_name = "classifier"
  learning_rate_multipliers = None

  def __init__(self, bert_config):
    self.bert_config = bert_config
    self.model = None
    self.head = None

  def build(self, compute_dtype, seed):
    """Creates the encoder and head variables (under the strategy's scope)."""
    self.model = modeling.BertModel(self.bert_config, compute_dtype, seed=seed)
    self.head = self.build_head(seed)

  def build_head(self, seed):
    """The head module: has variables_by_name() and is called on encoder outputs."""
    raise NotImplementedError

  def variables(self):
    """{official checkpoint name: tf.Variable} of everything trained and saved."""
    return {**self.model.variables_by_name(), **self.head.variables_by_name()}

  def encode(self, features, training, dropout_seed=None, output_positions=None):
    """modeling.BertOutputs of int32 input_ids, input_mask, segment_ids [B, S]."""
    return self.model(features["input_ids"], features["input_mask"],
                      features["segment_ids"], training=training,
                      dropout_seed=dropout_seed, output_positions=output_positions)

  def loss(self, features, training, dropout_seed):
    """float32 scalar: the loss of this replica's batch of `features`."""
    raise NotImplementedError

  def predict(self, features):
    """{name: Tensor [batch, ...]} per-example outputs (no dropout)."""
    raise NotImplementedError

  def _dropout_head(self, seed, num_outputs):
    return modeling.OutputLayer(num_outputs, self.bert_config.hidden_size, seed,
                                dropout_prob=self.bert_config.classifier_dropout_prob)


def cross_entropy(logits, label_ids):
  """float32 per-row softmax cross-entropy of int labels (any int dtype)."""
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(label_ids, tf.int32), logits=logits)


class ClassifierTask(Task):
  """Dropout and a dense layer on the pooled [CLS] vector (`output_weights [L, H]`)."""

  example_mean_loss = True

  def __init__(self, bert_config, num_labels, is_regression=False):
    super().__init__(bert_config)
    self.num_labels = num_labels
    self.is_regression = is_regression

  def build_head(self, seed):
    return self._dropout_head(seed, self.num_labels)

  def logits(self, features, training, dropout_seed=None):
    """float32 [B, num_labels] logits."""
    output = self.encode(features, training, dropout_seed,
                         output_positions=modeling.cls_position(features["input_ids"]))
    return self.head(output.pooled_output, training, dropout_seed)

  def per_example_loss(self, logits, label_ids):
    if self.is_regression:
      return tf.square(tf.squeeze(logits, -1) - tf.cast(label_ids, tf.float32))
    return cross_entropy(logits, label_ids)

  def loss(self, features, training, dropout_seed):
    logits = self.logits(features, training, dropout_seed)
    return tf.reduce_mean(self.per_example_loss(logits, features["label_ids"]))

  def predict(self, features):
    logits = self.logits(features, training=False)
    outputs = {"logits": logits,
               "per_example_loss": self.per_example_loss(logits, features["label_ids"])}
    outputs["probabilities"] = (logits if self.is_regression else tf.nn.softmax(logits))
    return outputs


class TaggingTask(Task):
  """Dropout and a dense layer on every position (`output_weights [num_labels, H]`).

  Features add label_ids and label_mask [B, S]: only positions with
  label_mask 1 (the first piece of each word) are scored.

  With `use_crf`, a linear-chain CRF (crf.py) sits on the dense layer's
  scores: its transition matrix is the variable `crf/transitions [num_labels,
  num_labels]` (official checkpoints have no CRF variable; "crf/" is the head's
  own scope, beside the classifiers' top-level output_weights), saved in the checkpoint
  with the rest. The chain runs over the label_mask positions of each window,
  in order, so a transition links two consecutive scored words. The loss is
  the negative CRF log-likelihood summed over the batch's windows and divided
  by the number of scored words, as the softmax loss is: with zero transitions
  (the CRF's start) the two losses are equal. `predict` gives the Viterbi tags
  at the label_mask positions (0 elsewhere), where argmax gives tags at every
  position; run_ner.py reads the label_mask positions only.
  `crf_lr_multiplier` scales the learning rate of crf/transitions (the
  optimizer's learning_rate_multipliers, read by training.Trainer).
  """

  sequence_keys = ("input_ids", "input_mask", "segment_ids", "label_ids", "label_mask")
  head_name = "tagging"

  def __init__(self, bert_config, num_labels, use_crf=False, crf_lr_multiplier=1.0):
    super().__init__(bert_config)
    self.num_labels = num_labels
    self.use_crf = use_crf
    self.crf = None
    # The transitions start at zero and, at BERT's learning rates, would move
    # only ~lr per Adam step: CRF heads on BERT commonly train them faster.
    self.learning_rate_multipliers = (
        {"^crf/": float(crf_lr_multiplier)} if use_crf and crf_lr_multiplier != 1.0 else None)

  def build_head(self, seed):
    if self.use_crf:
      self.crf = crf.CRF(self.num_labels, scope="crf")
    return self._dropout_head(seed, self.num_labels)

  def variables(self):
    variables = super().variables()
    if self.crf is not None:
      variables.update(self.crf.variables_by_name())
    return variables

  def logits(self, features, training, dropout_seed=None):
    """float32 [B, S, num_labels] logits of every position."""
    output = self.encode(features, training, dropout_seed)
    return self.head(output.sequence_output, training, dropout_seed)

  @staticmethod
  def token_losses(logits, features):
    """float32 [B, S] cross-entropy, zero where label_mask is 0."""
    losses = cross_entropy(logits, features["label_ids"])
    return losses * tf.cast(features["label_mask"], tf.float32)

  def window_losses(self, logits, features):
    """float32 [B]: each window's summed loss over its scored words."""
    if self.crf is None:
      return tf.reduce_sum(self.token_losses(logits, features), axis=-1)
    return -self.crf.log_likelihood(logits, features["label_ids"], features["label_mask"])

  def tag_ids(self, logits, label_mask):
    """int32 [B, S]: Viterbi tags at the label_mask positions with a CRF, else argmax."""
    if self.crf is None:
      return tf.argmax(logits, axis=-1, output_type=tf.int32)
    # One masked-out column more: crf.decode needs a length >= 1, and a served
    # batch without words has none. It changes no tag.
    length = tf.shape(logits)[1]
    tags, _ = self.crf.decode(tf.pad(logits, [[0, 0], [0, 1], [0, 0]]),
                              tf.pad(label_mask, [[0, 0], [0, 1]]))
    return tags[:, :length]

  def loss(self, features, training, dropout_seed):
    """Summed loss of the batch's scored tokens (label_mask 1) divided by their number."""
    losses = self.window_losses(self.logits(features, training, dropout_seed), features)
    count = tf.reduce_sum(tf.cast(features["label_mask"], tf.float32))
    return tf.math.divide_no_nan(tf.reduce_sum(losses), count)

  def predict(self, features):
    logits = self.logits(features, training=False)
    return {"predictions": self.tag_ids(logits, features["label_mask"]),      # [B,S]
            "loss_sum": self.window_losses(logits, features),                 # [B]
            "num_scored": tf.reduce_sum(features["label_mask"], axis=-1)}    # [B]


class SpanTask(Task):
  """A dense layer giving a start and an end logit per token (`cls/squad/` [2, H])."""

  # Full-length training windows: the reference's loss is a softmax over all
  # max_seq_length positions, padding included, and cutting training batches
  # would change it. Prediction still cuts: padding does not change the logits
  # of real tokens.
  train_sequence_keys = ()
  head_variable = "cls/squad/output_weights"
  head_name = "SQuAD"

  def build_head(self, seed):
    # [2, H]: row 0 scores starts, row 1 ends; no dropout.
    return modeling.OutputLayer(2, self.bert_config.hidden_size, seed,
                                scope="cls/squad/", seed_offset=11, dropout_prob=0.0)

  def logits(self, features, training, dropout_seed=None):
    """float32 start and end logits, each [B, S]."""
    output = self.encode(features, training, dropout_seed)
    logits = self.head(output.sequence_output)                         # [B,S,2]
    return logits[..., 0], logits[..., 1]

  def loss(self, features, training, dropout_seed):
    start_logits, end_logits = self.logits(features, training, dropout_seed)
    start_loss = cross_entropy(start_logits, features["start_positions"])
    end_loss = cross_entropy(end_logits, features["end_positions"])
    return tf.reduce_mean((start_loss + end_loss) / 2.0)

  def predict(self, features):
    start_logits, end_logits = self.logits(features, training=False)
    return {"start_logits": start_logits, "end_logits": end_logits}


class MultipleChoiceTask(Task):
  """BERT on every choice, dropout and one shared vector scoring each pooled output.

  Features are [B, C, S] (C choices); the loss is a softmax over the choices.
  """

  example_mean_loss = True
  head_name = "multiple-choice"

  def build_head(self, seed):
    return self._dropout_head(seed, 1)

  def score(self, pooled, num_choices, training=False, dropout_seed=None):
    """float32 [B, C] choice logits from the pooled outputs [B*C, H] (choice-major rows).

    dropout_seed: uint32 [B*C], one seed per choice (modeling.choice_dropout_seeds).
    """
    logits = self.head(pooled, training, dropout_seed)                  # [B*C, 1]
    return tf.reshape(logits, [-1, num_choices])                        # [B, C]

  def logits(self, features, training, dropout_seed=None):
    """float32 [B, C] logits of int features [B, C, S]."""
    shape = tf.shape(features["input_ids"])
    flat = {k: tf.reshape(features[k], [-1, shape[2]])                  # [B*C, S]
            for k in ("input_ids", "input_mask", "segment_ids")}
    seeds = modeling.choice_dropout_seeds(dropout_seed, shape[1])       # [B*C]
    output = self.encode(flat, training, seeds,
                         output_positions=modeling.cls_position(flat["input_ids"]))
    return self.score(output.pooled_output, shape[1], training, seeds)

  def loss(self, features, training, dropout_seed):
    logits = self.logits(features, training, dropout_seed)
    return tf.reduce_mean(cross_entropy(logits, features["label_ids"]))

  def predict(self, features):
    logits = self.logits(features, training=False)
    return {"logits": logits, "probabilities": tf.nn.softmax(logits),
            "per_example_loss": cross_entropy(logits, features["label_ids"])}


class PretrainingTask(Task):
  """The masked-LM and next-sentence heads (`cls/predictions`, `cls/seq_relationship`)."""

  head_variable = "cls/predictions/output_bias"
  head_name = "pretraining"

  def build_head(self, seed):
    return modeling.PretrainingHeads(self.bert_config, seed=seed)

  def _outputs(self, features, training, dropout_seed=None):
    """Per-position MLM and per-example NSP losses and predictions (float32)."""
    # The last block computes only [CLS] (for NSP) and the masked positions.
    positions = tf.concat([modeling.cls_position(features["input_ids"]),
                           tf.cast(features["masked_lm_positions"], tf.int32)], axis=1)
    output = self.encode(features, training, dropout_seed, output_positions=positions)
    mlm_logits = self.head.masked_lm_logits(
        output.sequence_output[:, 1:], None, self.model.embedding_table)  # [B*P, V]
    mlm_nll = cross_entropy(mlm_logits, tf.reshape(features["masked_lm_ids"], [-1]))
    nsp_logits = self.head.next_sentence_logits(output.pooled_output)   # [B, 2]
    nsp_nll = cross_entropy(nsp_logits, tf.reshape(features["next_sentence_labels"], [-1]))
    return mlm_logits, mlm_nll, nsp_logits, nsp_nll

  def loss(self, features, training, dropout_seed):
    _, mlm_nll, _, nsp_nll = self._outputs(features, training, dropout_seed)
    weights = tf.reshape(features["masked_lm_weights"], [-1])
    # The reference's normalisation: padding slots have weight 0.
    mlm_loss = tf.reduce_sum(weights * mlm_nll) / (tf.reduce_sum(weights) + 1e-5)
    return mlm_loss + tf.reduce_mean(nsp_nll)

  def predict(self, features):
    mlm_logits, mlm_nll, nsp_logits, nsp_nll = self._outputs(features, False)
    batch = tf.shape(features["input_ids"])[0]
    return {"masked_lm_nll": tf.reshape(mlm_nll, [batch, -1]),
            "masked_lm_predictions": tf.reshape(
                tf.argmax(mlm_logits, -1, output_type=tf.int32), [batch, -1]),
            "next_sentence_nll": nsp_nll,
            "next_sentence_predictions": tf.argmax(nsp_logits, -1, output_type=tf.int32)}
