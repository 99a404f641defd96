"""The BERT Transformer encoder on TensorFlow 2, with the official variable names.

Every variable is created with its official checkpoint name
(`bert/encoder/layer_0/attention/self/query/kernel`, ...), so loading an official
download is the identity map and our checkpoints are readable by tools built for
the reference. No Keras: plain `tf.Module`s, so the code does not depend on a
Keras version.
"""

import collections
import copy
import dataclasses
import json
import math

import tensorflow as tf

import data_files
import errors

# LayerNorm epsilon: TF1 `layer_norm`'s default, which BERT checkpoints were trained with.
LAYER_NORM_EPSILON = 1e-12
# Added to the attention scores of padding positions. The value BERT checkpoints were
# trained with; it is also representable in float16 (max 65504).
MASK_ADDER = -10000.0

# 17 billion: four times the largest BERT published (Megatron-BERT, 3.9 billion).
_MAX_PARAMETERS = 2 ** 34
SHAPE_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers",
               "num_attention_heads", "intermediate_size",
               "max_position_embeddings", "type_vocab_size")


@dataclasses.dataclass
class BertConfig:
  """Configuration of a BertModel; the keys of `bert_config.json`."""
  vocab_size: int                       # rows of bert/embeddings/word_embeddings
  hidden_size: int = 768                # H: width of every layer
  num_hidden_layers: int = 12           # L: Transformer blocks
  num_attention_heads: int = 12         # A: heads per block; H % A == 0
  intermediate_size: int = 3072         # I: feed-forward width
  hidden_act: str = "gelu"              # "gelu" is the exact erf form
  hidden_dropout_prob: float = 0.1      # dropout on embeddings and block outputs
  attention_probs_dropout_prob: float = 0.1  # dropout on attention probabilities
  max_position_embeddings: int = 512    # longest sequence the model supports
  type_vocab_size: int = 16             # number of segment ids (2 in official models)
  initializer_range: float = 0.02       # stddev of the truncated-normal init
  extra: dict = dataclasses.field(default_factory=dict)  # unknown keys, kept

  def __post_init__(self):
    self.validate()

  def validate(self, source="bert_config"):
    """Raises errors.UserError naming the bad key, its value and what is accepted."""
    for key in SHAPE_KEYS:
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise errors.UserError(f"{source}: {key}={value!r} must be a positive integer.")
    if self.hidden_size % self.num_attention_heads:
      raise errors.UserError(
          f"{source}: hidden_size={self.hidden_size} is not a multiple of "
          f"num_attention_heads={self.num_attention_heads}; each head needs "
          "hidden_size / num_attention_heads dimensions.")
    parameters = self.num_parameters()
    if parameters > _MAX_PARAMETERS:   # a typo (an extra digit or three) in a hand-edited file
      raise errors.UserError(
          f"{source}: these sizes make a model of {parameters:.3g} parameters, more than "
          f"{_MAX_PARAMETERS:.3g} (no BERT is that large); check num_hidden_layers="
          f"{self.num_hidden_layers}, hidden_size={self.hidden_size}, intermediate_size="
          f"{self.intermediate_size}, vocab_size={self.vocab_size} and "
          f"max_position_embeddings={self.max_position_embeddings}.")
    if not isinstance(self.hidden_act, str) or self.hidden_act not in ACTIVATIONS:
      raise errors.UserError(f"{source}: hidden_act={self.hidden_act!r} is not "
                             f"supported; use one of {sorted(ACTIVATIONS)}.")
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
      value = getattr(self, key)
      if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise errors.UserError(f"{source}: {key}={value!r} must be in [0, 1).")
    if (isinstance(self.initializer_range, bool) or
        not isinstance(self.initializer_range, (int, float)) or
        not 0 < self.initializer_range < float("inf")):
      raise errors.UserError(f"{source}: initializer_range={self.initializer_range!r} "
                             "must be a positive number.")
    value = self.extra.get("classifier_dropout")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not 0.0 <= value < 1.0):
      raise errors.UserError(f"{source}: classifier_dropout={value!r} must be in [0, 1) "
                             "or null.")

  def num_parameters(self):
    """About how many weights the encoder has (its matrices; biases and norms aside)."""
    h = self.hidden_size
    embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * h
    return embeddings + self.num_hidden_layers * (4 * h * h + 2 * h * self.intermediate_size)

  @property
  def head_size(self):
    return self.hidden_size // self.num_attention_heads

  @property
  def classifier_dropout_prob(self):
    """Dropout before the classifier, NER and multiple-choice heads.

    The optional key "classifier_dropout" (Hugging Face's name for it) when it
    is set; otherwise 0.1, the rate the reference's heads hard-code.
    """
    value = self.extra.get("classifier_dropout")
    return 0.1 if value is None else float(value)

  @classmethod
  def from_dict(cls, json_object, source="bert_config"):
    """Builds a config from a dict; keys outside the schema are kept in `extra`."""
    if not isinstance(json_object, dict):
      raise errors.UserError(f"{source}: expected a JSON object, got {type(json_object).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    missing = [k for k in SHAPE_KEYS if k not in json_object]
    if missing:
      raise errors.UserError(f"{source}: required key {missing[0]!r} is missing "
                             f"(required: {', '.join(SHAPE_KEYS)}).")
    kwargs = {k: v for k, v in json_object.items() if k in known}
    extra = {k: v for k, v in json_object.items() if k not in known}
    config = cls.__new__(cls)
    for field in dataclasses.fields(cls):
      if field.name == "extra":
        setattr(config, "extra", extra)
      elif field.name in kwargs:
        setattr(config, field.name, kwargs[field.name])
      else:
        setattr(config, field.name, field.default)
    config.validate(source)
    return config

  @classmethod
  def from_json_file(cls, json_file):
    """Reads `bert_config.json`; errors name the file."""
    if not tf.io.gfile.exists(json_file):
      raise errors.UserError(f"--bert_config_file={json_file}: file not found.")
    try:
      with tf.io.gfile.GFile(json_file, "rb") as reader:
        text = reader.read().decode("utf-8-sig")   # a Windows editor's byte-order mark
    except UnicodeDecodeError as e:
      raise errors.UserError(
          f"--bert_config_file={json_file}: not valid UTF-8 JSON ({e}).") from None
    data = data_files.parse_json(text, f"--bert_config_file={json_file}")
    return cls.from_dict(data, source=json_file)

  def to_dict(self):
    """A plain dict with the schema keys and any extra keys read from JSON."""
    output = {f.name: copy.deepcopy(getattr(self, f.name))
              for f in dataclasses.fields(self) if f.name != "extra"}
    output.update(copy.deepcopy(self.extra))
    return output

  def to_json_string(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

  def to_json_file(self, json_file):
    with tf.io.gfile.GFile(json_file, "w") as writer:
      writer.write(self.to_json_string())


def gelu(x):
  """Exact GELU, x * Phi(x) with the Gaussian CDF via erf ("gelu" in bert_config.json)."""
  return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(math.sqrt(2.0), x.dtype)))


def gelu_tanh(x):
  """The tanh approximation of GELU (Hugging Face's "gelu_new")."""
  c = tf.cast(math.sqrt(2.0 / math.pi), x.dtype)
  return 0.5 * x * (1.0 + tf.tanh(c * (x + 0.044715 * tf.pow(x, 3))))


ACTIVATIONS = {
    "gelu": gelu,
    "gelu_new": gelu_tanh,
    "gelu_tanh": gelu_tanh,
    "relu": tf.nn.relu,
    "swish": tf.nn.silu,
    "silu": tf.nn.silu,
    "tanh": tf.tanh,
    "linear": tf.identity,
}


def get_activation(name):
  """Returns the activation function for a `hidden_act` name."""
  if name not in ACTIVATIONS:
    raise errors.UserError(f"hidden_act={name!r} is not supported; use one of {sorted(ACTIVATIONS)}.")
  return ACTIVATIONS[name]


def resolve_dtype(dtype):
  """Accepts "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16" or a tf.DType."""
  aliases = {"fp32": tf.float32, "float32": tf.float32, "bf16": tf.bfloat16,
             "bfloat16": tf.bfloat16, "fp16": tf.float16, "float16": tf.float16}
  if isinstance(dtype, tf.DType):
    dtype = dtype.name
  if dtype not in aliases:
    raise ValueError(f"compute dtype {dtype!r} is not supported; use float32, bfloat16 or float16.")
  return aliases[dtype]


class _Initializer:
  """Truncated normal(0, stddev) values, reproducible from (seed, variable index)."""

  def __init__(self, stddev, seed):
    self.stddev = stddev
    self.seed = seed
    self.count = 0

  def __call__(self, shape):
    self.count += 1
    if self.seed is None:
      return tf.random.truncated_normal(shape, stddev=self.stddev)
    return tf.random.stateless_truncated_normal(
        shape, seed=[self.seed, self.count], stddev=self.stddev)


class Dense(tf.Module):
  """y = x @ kernel + bias, variables `<scope>/kernel [in,out]`, `<scope>/bias [out]`."""

  def __init__(self, scope, in_dim, out_dim, initializer):
    super().__init__(name=None)
    self.kernel = tf.Variable(initializer([in_dim, out_dim]), name=f"{scope}/kernel")
    self.bias = tf.Variable(tf.zeros([out_dim]), name=f"{scope}/bias")

  def __call__(self, x):
    """x: [N, in] in the compute dtype -> [N, out] in the same dtype."""
    return tf.matmul(x, tf.cast(self.kernel, x.dtype)) + tf.cast(self.bias, x.dtype)


class LayerNorm(tf.Module):
  """LayerNorm over the last axis, `<scope>/gamma`, `<scope>/beta`, eps 1e-12.

  Statistics are computed in float32 whatever the compute dtype: in float16
  the variance of large activations overflows and eps=1e-12 underflows.
  """

  def __init__(self, scope, dim):
    super().__init__(name=None)
    self.gamma = tf.Variable(tf.ones([dim]), name=f"{scope}/gamma")
    self.beta = tf.Variable(tf.zeros([dim]), name=f"{scope}/beta")

  def __call__(self, x):
    x32 = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
    y = (x32 - mean) * tf.math.rsqrt(variance + LAYER_NORM_EPSILON)
    return tf.cast(y * self.gamma + self.beta, x.dtype)


# The site number of the heads' dropout (the encoder's sites count from 1),
# and the salt of the rows of the choices of a multiple-choice example.
_HEAD_SITE = 999
_CHOICE_SALT = 0x63686F69
_GOLDEN = 0x9E3779B9


def _fmix32(x, last_shift=True):
  """MurmurHash3's finalizer on uint32: a bijection mixing every input bit into every output bit.

  Without `last_shift` the high 16 bits are the same and the low 16 bits less
  mixed: enough to compare the word against a threshold, two passes fewer.
  """
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
  x = x * tf.constant(0x85EBCA6B, tf.uint32)
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13))
  x = x * tf.constant(0xC2B2AE35, tf.uint32)
  if not last_shift:
    return x
  return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _combine(key, value):
  """uint32 hash of (key, value), broadcast; distinct values give unrelated keys."""
  value = _fmix32(tf.cast(value, tf.uint32) + tf.constant(_GOLDEN, tf.uint32))
  return _fmix32(tf.bitwise.bitwise_xor(key, value))


def example_dropout_seeds(seed, example_index):
  """uint32 [B] dropout seeds, one per example, from the run seed and the example's index.

  The dropout masks of an example are a function of this seed, the dropout
  site and the position only, so they do not depend on the batch, replica,
  micro-batch or padded length the example is trained in.

  Args:
    seed: Python int, the run's seed.
    example_index: int Tensor [B], each example's index in the training
      stream (input_pipeline.training_dataset's "stream_index", unique in a run).
  """
  index = tf.cast(example_index, tf.int64)
  low = tf.cast(tf.bitwise.bitwise_and(index, 0xFFFFFFFF), tf.uint32)
  high = tf.cast(tf.bitwise.right_shift(index, 32), tf.uint32)
  key = _fmix32(tf.constant((seed ^ 0x5BD1E995) & 0xFFFFFFFF, tf.uint32))
  return _combine(_combine(key, low), high)


def choice_dropout_seeds(seeds, num_choices):
  """uint32 [B*C] seeds, one per choice, in the rows of the features [B, C, S] flattened.

  None when seeds is None.
  """
  if seeds is None:
    return None
  choices = tf.range(num_choices) + _CHOICE_SALT
  return tf.reshape(_combine(seeds[:, tf.newaxis], choices[tf.newaxis, :]), [-1])


def dropout_row_keys(seeds, site, positions, num_heads=None):
  """uint32 keys [B, L] (or [B, N, L]) of the rows of one dropout site.

  Args:
    seeds: uint32 Tensor [B] (example_dropout_seeds).
    site: int, the dropout site (distinct for every dropout of the model).
    positions: int Tensor [L] or [B, L], the sequence position of each row.
    num_heads: N for attention probabilities (rows are (head, query position)).
  """
  keys = _combine(seeds, site)[:, tf.newaxis]                      # [B, 1]
  positions = tf.convert_to_tensor(positions)
  if positions.shape.rank == 1:
    positions = positions[tf.newaxis, :]                           # [1, L]
  if num_heads is not None:
    keys = _combine(keys, tf.range(num_heads))[:, :, tf.newaxis]   # [B, N, 1]
    positions = positions[:, tf.newaxis, :]                        # [1 or B, 1, L]
  return _combine(keys, positions)


def dropout(x, rate, training, row_keys=None):
  """Inverted dropout; with row keys its mask is a counter-based hash.

  Element [..., r, c] is kept when fmix32(row_keys[..., r, 0] ^ column_key(c))
  is at least rate * 2^32: the mask of a row is a function of its key and its
  column indices only, whatever else the tensor holds.

  Args:
    x: Tensor [..., W].
    rate: drop probability (Python float).
    training: Python bool; no dropout at inference.
    row_keys: None (tf.nn.dropout's stateful draw), or uint32 Tensor with x's
      shape but a last axis of 1 (e.g. dropout_row_keys, reshaped).
  """
  if not training or rate <= 0.0:
    return x
  if row_keys is None:
    return tf.nn.dropout(x, rate=rate)
  columns = _combine(tf.constant(_GOLDEN, tf.uint32), tf.range(tf.shape(x)[-1]))   # [W]
  # The last shift only changes the low 16 bits, which decide the comparison
  # only when the high 16 equal the threshold's (1 in 65536): skipped, as it
  # costs two passes over the largest tensors of a training step.
  bits = _fmix32(tf.bitwise.bitwise_xor(row_keys, columns), last_shift=False)
  keep = bits >= tf.constant(min(round(rate * 2.0 ** 32), 2 ** 32 - 1), tf.uint32)
  # One multiply by a precomputed 0 or 1/(1-rate) mask: the backward pass is
  # then a single multiply too.
  mask = tf.cast(keep, x.dtype) * tf.cast(1.0 / (1.0 - rate), x.dtype)
  return x * mask


def keyed_dropout(x, rate, training, seeds, site, positions, num_heads=None):
  """Dropout of x whose rows are (example, [head,] position), keyed by dropout_row_keys.

  Without seeds (or not training, or rate 0) it is dropout's stateful draw (or x).
  """
  if not training or rate <= 0.0 or seeds is None:
    return dropout(x, rate, training)
  rows = dropout_row_keys(seeds, site, positions, num_heads)
  rows = tf.reshape(rows, tf.concat([tf.shape(x)[:-1], [1]], 0))
  return dropout(x, rate, True, rows)


class _DropoutSites:
  """Numbers the dropout sites of one forward pass and applies each one's dropout."""

  def __init__(self, seeds, training):
    self.seeds = seeds         # uint32 [B] example seeds, or None
    self.training = training
    self.count = 0

  def drop(self, x, rate, positions, num_heads=None):
    """Dropout on x whose rows are (example, [head,] position).

    Args:
      x: [B, L, W] or [B*L, W]; with num_heads [B, N, L, W].
      rate: drop probability.
      positions: int Tensor [L] or [B, L], the sequence positions of the rows.
      num_heads: N for attention probabilities.
    """
    self.count += 1
    return keyed_dropout(x, rate, self.training, self.seeds, self.count, positions,
                         num_heads)


class Embeddings(tf.Module):
  """Word + position + token-type embeddings, LayerNorm, dropout (`bert/embeddings`)."""

  def __init__(self, config, initializer):
    super().__init__(name=None)
    scope = "bert/embeddings"
    h = config.hidden_size
    self.word_embeddings = tf.Variable(
        initializer([config.vocab_size, h]), name=f"{scope}/word_embeddings")
    self.token_type_embeddings = tf.Variable(
        initializer([config.type_vocab_size, h]), name=f"{scope}/token_type_embeddings")
    self.position_embeddings = tf.Variable(
        initializer([config.max_position_embeddings, h]), name=f"{scope}/position_embeddings")
    self.layer_norm = LayerNorm(f"{scope}/LayerNorm", h)
    self.dropout_prob = config.hidden_dropout_prob

  def __call__(self, input_ids, token_type_ids, dtype, sites):
    """int32 [B,S] ids -> [B,S,H] embeddings in `dtype`."""
    seq_length = tf.shape(input_ids)[1]
    x = (tf.gather(self.word_embeddings, input_ids) +
         tf.gather(self.token_type_embeddings, token_type_ids) +
         self.position_embeddings[tf.newaxis, :seq_length, :])   # [B,S,H]
    x = self.layer_norm(tf.cast(x, dtype))
    return sites.drop(x, self.dropout_prob, tf.range(seq_length))


class SelfAttention(tf.Module):
  """Multi-head self-attention (`attention/self/{query,key,value}`)."""

  def __init__(self, scope, config, initializer):
    super().__init__(name=None)
    h = config.hidden_size
    self.query = Dense(f"{scope}/query", h, h, initializer)
    self.key = Dense(f"{scope}/key", h, h, initializer)
    self.value = Dense(f"{scope}/value", h, h, initializer)
    self.num_heads = config.num_attention_heads
    self.head_size = config.head_size
    self.dropout_prob = config.attention_probs_dropout_prob

  def __call__(self, x, batch_size, seq_length, mask_bias, sites, queries=None,
               query_positions=None):
    """x: [B*S, H]; mask_bias: float32 [B,1,1,S] -> context [B*S, H].

    With `queries` ([B*P, H], the rows of x at `query_positions` [B, P]) only
    those positions attend: the result is [B*P, H]; keys and values still
    cover all S positions.
    """
    n, d = self.num_heads, self.head_size
    if queries is None:
      # One [H, 3H] matmul instead of three [H, H] ones: fewer, larger kernels.
      q, k, v = self._project(x, (self.query, self.key, self.value), batch_size, seq_length)
      query_length = seq_length
    else:
      query_length = tf.shape(queries)[0] // batch_size
      (q,) = self._project(queries, (self.query,), batch_size, query_length)
      k, v = self._project(x, (self.key, self.value), batch_size, seq_length)
    q = q * tf.cast(1.0 / math.sqrt(d), q.dtype)
    scores = tf.matmul(q, k, transpose_b=True)                  # [B, N, Sq, S]
    # Softmax in float32: float16 scores plus the -10000 mask can overflow.
    probs = tf.nn.softmax(tf.cast(scores, tf.float32) + mask_bias, axis=-1)
    probs = sites.drop(tf.cast(probs, x.dtype), self.dropout_prob,
                       tf.range(seq_length) if queries is None else query_positions,
                       num_heads=n)
    context = tf.matmul(probs, v)                               # [B, N, Sq, D]
    context = tf.transpose(context, [0, 2, 1, 3])               # [B, Sq, N, D]
    return tf.reshape(context, [batch_size * query_length, n * d])

  def _project(self, x, denses, batch_size, length):
    """x [B*L, H] through len(denses) projections at once -> that many [B, N, L, D]."""
    count = len(denses)
    kernel = tf.concat([dense.kernel for dense in denses], axis=1)
    bias = tf.concat([dense.bias for dense in denses], axis=0)
    projected = tf.matmul(x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype)
    projected = tf.reshape(projected, [batch_size, length, count, self.num_heads,
                                       self.head_size])
    projected = tf.transpose(projected, [2, 0, 3, 1, 4])       # [count, B, N, L, D]
    # unstack, not projected[i]: its gradient is one stack, where strided
    # slices would each write a full-size zero tensor in the backward pass.
    return tf.unstack(projected, num=count, axis=0)


class TransformerLayer(tf.Module):
  """One post-LayerNorm Transformer block (`bert/encoder/layer_<i>`)."""

  def __init__(self, index, config, initializer):
    super().__init__(name=None)
    scope = f"bert/encoder/layer_{index}"
    h, i = config.hidden_size, config.intermediate_size
    self.attention = SelfAttention(f"{scope}/attention/self", config, initializer)
    self.attention_output = Dense(f"{scope}/attention/output/dense", h, h, initializer)
    self.attention_layer_norm = LayerNorm(f"{scope}/attention/output/LayerNorm", h)
    self.intermediate = Dense(f"{scope}/intermediate/dense", h, i, initializer)
    self.output_dense = Dense(f"{scope}/output/dense", i, h, initializer)
    self.output_layer_norm = LayerNorm(f"{scope}/output/LayerNorm", h)
    self.activation = get_activation(config.hidden_act)
    self.dropout_prob = config.hidden_dropout_prob

  def __call__(self, x, batch_size, seq_length, mask_bias, sites, query_rows=None,
               query_positions=None):
    """x: [B*S, H] -> [B*S, H], or [B*P, H] for the P rows of x in `query_rows`.

    query_rows: int [B*P] rows of x, at the positions `query_positions` [B, P].
    """
    queries = None if query_rows is None else tf.gather(x, query_rows)   # [B*P, H]
    context = self.attention(x, batch_size, seq_length, mask_bias, sites, queries,
                             query_positions)
    positions = tf.range(seq_length)
    if queries is not None:
      x = queries   # the residual of the rows computed
      positions = query_positions
    attention_output = sites.drop(self.attention_output(context), self.dropout_prob,
                                  positions)
    attention_output = self.attention_layer_norm(attention_output + x)
    intermediate = self.activation(self.intermediate(attention_output))  # [B*S, I]
    layer_output = sites.drop(self.output_dense(intermediate), self.dropout_prob, positions)
    return self.output_layer_norm(layer_output + attention_output)


BertOutput = collections.namedtuple(
    "BertOutput", ["sequence_output", "pooled_output", "all_encoder_layers",
                   "embedding_output"])


class BertModel(tf.Module):
  """The BERT encoder: embeddings, L Transformer blocks and the [CLS] pooler.

  Variables are float32 and carry the official names; computation runs in
  `compute_dtype` (float32, bfloat16 or float16) with LayerNorm statistics and
  attention softmax in float32.
  """

  def __init__(self, config, compute_dtype=tf.float32, seed=None):
    """Creates the variables (under the caller's tf.distribute scope, if any).

    Args:
      config: BertConfig.
      compute_dtype: "float32", "bfloat16", "float16" or a tf.DType.
      seed: optional int; makes the initial values reproducible.
    """
    super().__init__(name="bert")
    self.config = config
    self.compute_dtype = resolve_dtype(compute_dtype)
    initializer = _Initializer(config.initializer_range, seed)
    self.embeddings = Embeddings(config, initializer)
    self.layers = [TransformerLayer(i, config, initializer)
                   for i in range(config.num_hidden_layers)]
    h = config.hidden_size
    self.pooler = Dense("bert/pooler/dense", h, h, initializer)

  @property
  def embedding_table(self):
    """float32 Variable [vocab_size, H]: the word embeddings (tied MLM decoder)."""
    return self.embeddings.word_embeddings

  def variables_by_name(self):
    """{official checkpoint name: tf.Variable} for every model variable."""
    return {variable_name(v): v for v in self.trainable_variables}

  def __call__(self, input_ids, input_mask=None, token_type_ids=None,
               training=False, dropout_seed=None, output_positions=None):
    """Runs the encoder.

    Args:
      input_ids: int32 Tensor of shape [batch_size, seq_length].
      input_mask: optional int Tensor [batch_size, seq_length], 1 for real
        tokens and 0 for padding (default: all ones).
      token_type_ids: optional int Tensor [batch_size, seq_length] of segment
        ids (default: zeros).
      training: Python bool; enables dropout.
      dropout_seed: optional uint32 Tensor [batch_size], one seed per
        example (example_dropout_seeds). The masks of an example are then a
        function of its seed and the positions only (not of the batch or
        its padded length), so a resumed run draws the same masks. Without
        it dropout draws stateful random masks.
      output_positions: optional int Tensor [B, P] of the positions whose
        output is needed. The last block then computes only those rows (its
        other outputs feed nothing): sequence_output and the last of
        all_encoder_layers are [B, P, H], the rows at these positions, and
        pooled_output comes from the first of them. A classifier passes zeros
        [B, 1] (the [CLS] token); the values are those of the full model.

    Returns:
      BertOutput with sequence_output [B,S,H], pooled_output [B,H],
      all_encoder_layers (list of L Tensors [B,S,H]) and embedding_output
      [B,S,H], all in the compute dtype.
    """
    input_ids = tf.convert_to_tensor(input_ids)
    if input_ids.dtype != tf.int32:
      input_ids = tf.cast(input_ids, tf.int32)
    if input_mask is None:
      input_mask = tf.ones_like(input_ids)
    if token_type_ids is None:
      token_type_ids = tf.zeros_like(input_ids)
    token_type_ids = tf.cast(token_type_ids, tf.int32)
    batch_size, seq_length = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    sites = _DropoutSites(dropout_seed, training)
    embedding_output = self.embeddings(input_ids, token_type_ids, self.compute_dtype, sites)
    # [B,1,1,S]: 0 where attended, -10000 on padding keys.
    mask = tf.cast(tf.reshape(input_mask, [batch_size, 1, 1, seq_length]), tf.float32)
    mask_bias = (1.0 - mask) * MASK_ADDER
    hidden_size = self.config.hidden_size
    x = tf.reshape(embedding_output, [batch_size * seq_length, hidden_size])
    query_rows, positions, output_length = None, None, seq_length
    if output_positions is not None:
      positions = tf.cast(output_positions, tf.int32)                  # [B, P]
      output_length = tf.shape(positions)[1]
      query_rows = tf.reshape(positions + seq_length * tf.range(batch_size)[:, tf.newaxis],
                              [-1])                                    # [B*P] rows of x
    all_layers = []
    for index, layer in enumerate(self.layers):
      last = index == len(self.layers) - 1
      rows, rows_positions = (query_rows, positions) if last else (None, None)
      x = layer(x, batch_size, seq_length, mask_bias, sites, rows, rows_positions)
      length = output_length if last else seq_length
      all_layers.append(tf.reshape(x, [batch_size, length, hidden_size]))
    sequence_output = all_layers[-1]   # the config has at least one layer
    pooled_output = tf.tanh(self.pooler(sequence_output[:, 0, :]))   # [B,H]
    return BertOutput(sequence_output, pooled_output, all_layers, embedding_output)


def cls_position(input_ids):
  """int32 zeros [B, 1]: `output_positions` for a head that reads only [CLS]."""
  return tf.zeros([tf.shape(input_ids)[0], 1], tf.int32)


def variable_name(variable):
  """The checkpoint name of a tf.Variable (its `.name` without `:0`)."""
  name = variable.name
  return name.rsplit(":", 1)[0] if ":" in name else name


def check_sequence_length(config, max_seq_length, flag_name="max_seq_length"):
  """Raises ValueError when sequences would exceed the position embeddings."""
  if max_seq_length > config.max_position_embeddings:
    raise errors.UserError(
        f"--{flag_name}={max_seq_length} is longer than the model supports: "
        f"max_position_embeddings={config.max_position_embeddings} in the BERT "
        f"config. Use --{flag_name}<={config.max_position_embeddings}.")


def check_sentence_pairs(config, what):
  """Raises UserError when the model has no segment embedding for a second text.

  Its token_type table has type_vocab_size rows; the second text of a pair
  takes segment id 1. Beyond the table a GPU reads zeros: training runs on,
  wrong.
  """
  if config.type_vocab_size < 2:
    raise errors.UserError(
        f"{what} are text pairs (segment ids 0 and 1), but the model's bert_config.json "
        f"says type_vocab_size={config.type_vocab_size}: it takes single texts only. Use "
        "a BERT model with type_vocab_size=2, or single-text data.")


def check_vocab_size(config, vocab, vocab_file, flag_name="vocab_file"):
  """Raises UserError when `vocab` (token -> id) is not the vocabulary of `config`.

  Token ids must stay below vocab_size. A vocab_size rounded up beyond the
  vocabulary (NVIDIA's BERT: 30528 rows for 30,522 tokens) is padding, as the
  reference allows: a multiple of 8, at most 127 rows more. A larger gap means
  another model's vocabulary (a 21,128-token Chinese vocab with an English model).
  """
  num_ids = max(vocab.values()) + 1 if vocab else 0    # lines, duplicates included
  padding = config.vocab_size - num_ids
  if padding == 0 or (0 < padding < 128 and config.vocab_size % 8 == 0):
    return
  raise errors.UserError(
      f"--{flag_name}={vocab_file} has {num_ids} tokens but the model's bert_config.json "
      f"says vocab_size={config.vocab_size}; they belong to different models: pass the "
      "vocab.txt that came with the checkpoint.")


class PretrainingHeads(tf.Module):
  """The masked-LM and next-sentence heads (`cls/predictions`, `cls/seq_relationship`).

  The MLM decoder matrix is the word-embedding table (tied), so only a
  transform, a LayerNorm and an output bias are own variables here.
  """

  def __init__(self, config, seed=None):
    super().__init__(name="cls")
    initializer = _Initializer(config.initializer_range,
                               None if seed is None else seed + 1)
    h = config.hidden_size
    self.transform = Dense("cls/predictions/transform/dense", h, h, initializer)
    self.transform_layer_norm = LayerNorm("cls/predictions/transform/LayerNorm", h)
    self.output_bias = tf.Variable(tf.zeros([config.vocab_size]),
                                   name="cls/predictions/output_bias")
    # [2, H], not [H, 2]: the official checkpoints' layout.
    self.seq_relationship_weights = tf.Variable(
        initializer([2, h]), name="cls/seq_relationship/output_weights")
    self.seq_relationship_bias = tf.Variable(
        tf.zeros([2]), name="cls/seq_relationship/output_bias")
    self.activation = get_activation(config.hidden_act)

  def variables_by_name(self):
    return {variable_name(v): v for v in self.trainable_variables}

  def masked_lm_logits(self, sequence_output, masked_lm_positions, embedding_table):
    """Logits over the vocabulary at the masked positions.

    Args:
      sequence_output: [B, S, H] encoder output (any float dtype).
      masked_lm_positions: int Tensor [B, P] of positions to predict, or None
        when sequence_output already holds just those rows ([B, P, H]).
      embedding_table: float32 Variable [V, H] (BertModel.embedding_table).

    Returns:
      float32 Tensor [B*P, V].
    """
    dtype = sequence_output.dtype
    hidden_size = tf.shape(sequence_output)[-1]
    gathered = sequence_output
    if masked_lm_positions is not None:
      gathered = tf.gather(sequence_output, tf.cast(masked_lm_positions, tf.int32),
                           batch_dims=1)                     # [B, P, H]
    x = tf.reshape(gathered, [-1, hidden_size])               # [B*P, H]
    x = self.transform_layer_norm(self.activation(self.transform(x)))
    logits = tf.matmul(x, tf.cast(embedding_table, dtype), transpose_b=True)
    return tf.cast(logits, tf.float32) + self.output_bias    # [B*P, V]

  def next_sentence_logits(self, pooled_output):
    """float32 [B, 2] logits from the pooled output [B, H]."""
    logits = tf.matmul(pooled_output,
                       tf.cast(self.seq_relationship_weights, pooled_output.dtype),
                       transpose_b=True)
    return tf.cast(logits, tf.float32) + self.seq_relationship_bias


class OutputLayer(tf.Module):
  """A fine-tuning head: dropout, then logits = x . output_weights^T + output_bias.

  Variables `<scope>output_weights [num_outputs, H]` and `<scope>output_bias
  [num_outputs]`: the reference's layout (top level for classifiers, `cls/squad/`
  for SQuAD), so fine-tuned checkpoints stay readable by its tools.
  """

  def __init__(self, num_outputs, hidden_size, seed, scope="", seed_offset=7,
               dropout_prob=0.1):
    super().__init__(name=None)
    self.output_weights = tf.Variable(
        tf.random.stateless_truncated_normal([num_outputs, hidden_size],
                                             seed=[seed, seed_offset], stddev=0.02),
        name=f"{scope}output_weights")
    self.output_bias = tf.Variable(tf.zeros([num_outputs]), name=f"{scope}output_bias")
    self.dropout_prob = dropout_prob

  def variables_by_name(self):
    return {variable_name(v): v for v in (self.output_weights, self.output_bias)}

  def __call__(self, x, training=False, dropout_seed=None):
    """x: [B, H] or [B, S, H] in any float dtype -> float32 logits [..., num_outputs].

    dropout_seed: optional uint32 [B], the examples' seeds (see BertModel).
    """
    if training:
      positions = tf.range(tf.shape(x)[1] if x.shape.rank == 3 else 1)   # S or 1
      x = keyed_dropout(x, self.dropout_prob, training, dropout_seed, _HEAD_SITE, positions)
    return tf.tensordot(tf.cast(x, tf.float32), self.output_weights,
                        [[x.shape.rank - 1], [1]]) + self.output_bias
