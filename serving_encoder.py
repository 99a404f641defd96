"""BertModel's inference pass laid out for serving: real tokens only, weights prepared once.

`modeling.BertModel` is written for training, where a batch is large and its
costs are amortised. Serving one request, or a batch of requests of mixed
lengths, pays for three of its choices (measured on BERT-base, 2 threads,
MRPC dev pairs; see docs/SERVING.md):
  * the fused query/key/value kernel is concatenated from the three checkpoint
    variables on every call: a copy of three H x H matrices per layer;
  * a batch padded to its longest pair runs every dense layer on the padding
    too;
  * bias, scale and activation are separate passes over the activations.

`ServingEncoder` copies the weights of a built BertModel once, when a
SavedModel is exported: the query/key/value kernels concatenated (the
1/sqrt(head_size) scale folded into the query part), kernels in the serving
dtype. Its forward pass gathers the real tokens of the batch into one
[tokens, H] matrix for every dense layer, and scatters them back to the padded
[B, S] layout only for the attention products, where each sequence needs its
own keys. Bias and activation are written as `tf.nn.bias_add` + `tf.nn.gelu`
(or relu), the pattern TensorFlow's oneDNN rewrite fuses into the matmul.

The values are BertModel's: a padding row never reaches a real token
(its attention weight, exp(-10000 - max), is exactly 0 in float32), so
dropping the padding rows changes nothing but rounding order. The last layer
computes only the [CLS] rows, as `output_positions` does for the classifier.
"""

import math

import tensorflow as tf

import modeling

# hidden_act -> the form that oneDNN fuses into the preceding matmul + bias_add.
_FUSABLE_ACTIVATIONS = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
}
SERVING_DTYPES = ("float32", "bfloat16")


def _constant_variable(value, name, dtype):
  """A non-trainable variable holding `value` cast to `dtype` (computed once, at export)."""
  return tf.Variable(tf.cast(value, dtype), trainable=False, name=name)


class _Dense(tf.Module):
  """x @ kernel + bias with the kernel stored in the serving dtype."""

  def __init__(self, name, kernel, bias, dtype):
    super().__init__(name=None)
    self.kernel = _constant_variable(kernel, f"{name}/kernel", dtype)
    self.bias = _constant_variable(bias, f"{name}/bias", dtype)

  def __call__(self, x):
    """x: [N, in] in the serving dtype -> [N, out]."""
    return tf.nn.bias_add(tf.matmul(x, self.kernel), self.bias)


def _query_scale(layer):
  return 1.0 / math.sqrt(layer.attention.head_size)


class _Layer(tf.Module):
  """One Transformer block's weights in the serving layout."""

  def __init__(self, index, layer, dtype, last):
    super().__init__(name=None)
    attention = layer.attention
    scale = _query_scale(layer)
    query = (attention.query.kernel * scale, attention.query.bias * scale)
    name = f"layer_{index}"
    if last:
      # Only the [CLS] rows are queried: separate query and key/value kernels.
      self.query = _Dense(f"{name}/query", *query, dtype)
      self.key_value = _Dense(
          f"{name}/key_value",
          tf.concat([attention.key.kernel, attention.value.kernel], 1),
          tf.concat([attention.key.bias, attention.value.bias], 0), dtype)
    else:
      self.query_key_value = _Dense(
          f"{name}/query_key_value",
          tf.concat([query[0], attention.key.kernel, attention.value.kernel], 1),
          tf.concat([query[1], attention.key.bias, attention.value.bias], 0), dtype)
    self.attention_output = _Dense(f"{name}/attention_output",
                                   layer.attention_output.kernel,
                                   layer.attention_output.bias, dtype)
    self.attention_layer_norm = layer.attention_layer_norm
    self.intermediate = _Dense(f"{name}/intermediate", layer.intermediate.kernel,
                               layer.intermediate.bias, dtype)
    self.output_dense = _Dense(f"{name}/output", layer.output_dense.kernel,
                               layer.output_dense.bias, dtype)
    self.output_layer_norm = layer.output_layer_norm
    self.num_heads = attention.num_heads
    self.head_size = attention.head_size


class ServingEncoder(tf.Module):
  """BERT's pooled output for inference, on the real tokens of a padded batch.

  Holds copies of a BertModel's weights (non-trainable variables): the
  exported SavedModel stores these, not the training layout.
  """

  def __init__(self, model, dtype="float32"):
    """Copies the weights of `model` (a built modeling.BertModel).

    Args:
      model: modeling.BertModel with its weights loaded.
      dtype: "float32" (the default, BertModel's values) or "bfloat16" (matmuls
        in bfloat16; LayerNorm statistics and softmax stay float32).
    """
    super().__init__(name="serving_encoder")
    if dtype not in SERVING_DTYPES:
      raise ValueError(f"serving dtype {dtype!r} is not supported; use one of "
                       f"{', '.join(SERVING_DTYPES)}.")
    self.dtype = tf.as_dtype(dtype)
    self.hidden_size = model.config.hidden_size
    self.embeddings = model.embeddings
    count = len(model.layers)
    self.layers = [_Layer(i, layer, self.dtype, last=i == count - 1)
                   for i, layer in enumerate(model.layers)]
    self.pooler = _Dense("pooler", model.pooler.kernel, model.pooler.bias, self.dtype)
    act = model.config.hidden_act
    self.activation = _FUSABLE_ACTIVATIONS.get(act) or modeling.get_activation(act)

  def __call__(self, input_ids, input_mask, segment_ids):
    """Pooled output of the batch.

    Args:
      input_ids, input_mask, segment_ids: int32 Tensors [B, S], as BertModel
        takes them (any mask: a masked [CLS] or a row of zeros gives
        BertModel's values too).

    Returns:
      Tensor [B, H] in the serving dtype: tanh(pooler(last layer's [CLS] row)).
    """
    batch_size, seq_length = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    real = tf.not_equal(input_mask, 0)                                  # [B, S]
    # Computed: the real tokens; the [CLS] position even where it is masked (its
    # row is the output); every position of a row without real tokens (BertModel
    # attends to all of them alike there, every key being masked).
    kept = (real | ~tf.reduce_any(real, axis=1, keepdims=True) |
            tf.equal(tf.range(seq_length), 0)[tf.newaxis, :])
    where = tf.cast(tf.where(kept), tf.int32)                           # [T, 2] (row, col)
    packing = _Packing(where, batch_size, seq_length)
    x = self._embed(tf.gather_nd(input_ids, where), tf.gather_nd(segment_ids, where),
                    where[:, 1])                                        # [T, H]
    mask_bias = tf.reshape((1.0 - tf.cast(real, tf.float32)) * modeling.MASK_ADDER,
                           [batch_size, 1, 1, seq_length])
    # Row of each sequence's [CLS] in x: the kept tokens of the rows before it.
    counts = tf.reduce_sum(tf.cast(kept, tf.int32), axis=1)
    cls_rows = tf.cumsum(counts, exclusive=True)                        # [B]
    for layer in self.layers[:-1]:
      x = self._layer(layer, x, packing, mask_bias)
    x = self._last_layer(self.layers[-1], x, cls_rows, packing, mask_bias)   # [B, H]
    return tf.tanh(self.pooler(x))

  def _embed(self, ids, segment_ids, positions):
    """Embeddings of the kept tokens: int32 [T] each -> [T, H] in the serving dtype."""
    e = self.embeddings
    x = (tf.gather(e.word_embeddings, ids) + tf.gather(e.token_type_embeddings, segment_ids)
         + tf.gather(e.position_embeddings, positions))
    return e.layer_norm(tf.cast(x, self.dtype))

  def _attend(self, layer, query, key, value, mask_bias):
    """Softmax attention: [B, N, Sq, D] queries over [B, N, S, D] -> context [B, Sq, H]."""
    scores = tf.matmul(query, key, transpose_b=True)                    # [B, N, Sq, S]
    # Softmax in float32 whatever the dtype, as BertModel.
    probs = tf.nn.softmax(tf.cast(scores, tf.float32) + mask_bias, axis=-1)
    context = tf.matmul(tf.cast(probs, value.dtype), value)            # [B, N, Sq, D]
    context = tf.transpose(context, [0, 2, 1, 3])                       # [B, Sq, N, D]
    shape = tf.shape(context)
    return tf.reshape(context, [shape[0], shape[1], layer.num_heads * layer.head_size])

  def _feed_forward(self, layer, context, x):
    """Attention output + LayerNorm, then the feed-forward block + LayerNorm ([N, H])."""
    attention_output = layer.attention_layer_norm(layer.attention_output(context) + x)
    intermediate = self.activation(layer.intermediate(attention_output))
    return layer.output_layer_norm(layer.output_dense(intermediate) + attention_output)

  def _layer(self, layer, x, packing, mask_bias):
    """A block on the kept tokens: [T, H] -> [T, H]."""
    heads = packing.to_heads(layer.query_key_value(x), 3, layer)       # 3 x [B, N, S, D]
    context = self._attend(layer, *heads, mask_bias)                    # [B, S, H]
    context = packing.to_tokens(tf.reshape(context, [-1, self.hidden_size]))   # [T, H]
    return self._feed_forward(layer, context, x)

  def _last_layer(self, layer, x, cls_rows, packing, mask_bias):
    """The last block on the [CLS] rows only: x [T, H] -> [B, H]."""
    key, value = packing.to_heads(layer.key_value(x), 2, layer)        # [B, N, S, D]
    cls = tf.gather(x, cls_rows)                                        # [B, H]
    query = tf.reshape(layer.query(cls), [-1, 1, layer.num_heads, layer.head_size])
    query = tf.transpose(query, [0, 2, 1, 3])                           # [B, N, 1, D]
    context = self._attend(layer, query, key, value, mask_bias)         # [B, 1, H]
    return self._feed_forward(layer, tf.reshape(context, [-1, self.hidden_size]), cls)


class _Packing:
  """Moves rows between the kept tokens [T, ...] and the padded batch [B, S, ...]."""

  def __init__(self, where, batch_size, seq_length):
    """where: int32 [T, 2], the (row, column) of each kept token, row-major."""
    self.batch_size, self.seq_length = batch_size, seq_length
    self.flat = (where[:, 0] * seq_length + where[:, 1])[:, tf.newaxis]   # [T, 1]

  def to_heads(self, projected, count, layer):
    """[T, count*H] projections -> `count` Tensors [B, N, S, D], zero at padding."""
    width = tf.shape(projected)[1]
    padded = tf.scatter_nd(self.flat, projected,
                           tf.stack([self.batch_size * self.seq_length, width]))
    padded = tf.reshape(padded, [self.batch_size, self.seq_length, count, layer.num_heads,
                                 layer.head_size])
    return tf.unstack(tf.transpose(padded, [2, 0, 3, 1, 4]), num=count)

  def to_tokens(self, padded):
    """[B*S, H] -> the kept tokens' rows [T, H]."""
    return tf.gather(padded, self.flat[:, 0])
