"""An independent NumPy forward pass of BERT, from ../shared/SPEC.md §1: the test oracle.

Deliberately plain: float64 throughout, one head at a time, the exact erf GELU
through `math.erf`, and no code shared with `modeling.py`. Tests compare the
TensorFlow model (and every script built on it) against this function.
"""

import math

import numpy as np

LAYER_NORM_EPSILON = 1e-12
MASK_ADDER = -10000.0

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
  return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
  return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_tanh": _gelu_tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "linear": lambda x: x,
}


def _layer_norm(x, gamma, beta):
  mean = x.mean(axis=-1, keepdims=True)
  variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
  return (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


def _dense(weights, scope, x):
  return x @ weights[scope + "/kernel"] + weights[scope + "/bias"]


def _softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(axis=-1, keepdims=True)


def _self_attention(weights, scope, x, mask_bias, num_heads):
  """x: [B,S,H], mask_bias: [B,S] -> context [B,S,H], one head at a time."""
  hidden = x.shape[-1]
  head_size = hidden // num_heads
  q = _dense(weights, scope + "/query", x)
  k = _dense(weights, scope + "/key", x)
  v = _dense(weights, scope + "/value", x)
  heads = []
  for h in range(num_heads):
    cols = slice(h * head_size, (h + 1) * head_size)
    scores = np.einsum("bqd,bkd->bqk", q[..., cols], k[..., cols]) / math.sqrt(head_size)
    probs = _softmax(scores + mask_bias[:, np.newaxis, :])          # [B,S,S]
    heads.append(np.einsum("bqk,bkd->bqd", probs, v[..., cols]))   # [B,S,D]
  return np.concatenate(heads, axis=-1)


def _layer(weights, index, x, mask_bias, config):
  scope = "bert/encoder/layer_%d" % index
  act = ACTIVATIONS[config.get("hidden_act", "gelu")]
  context = _self_attention(weights, scope + "/attention/self", x, mask_bias,
                            config["num_attention_heads"])
  attention = _layer_norm(
      _dense(weights, scope + "/attention/output/dense", context) + x,
      weights[scope + "/attention/output/LayerNorm/gamma"],
      weights[scope + "/attention/output/LayerNorm/beta"])
  intermediate = act(_dense(weights, scope + "/intermediate/dense", attention))
  return _layer_norm(
      _dense(weights, scope + "/output/dense", intermediate) + attention,
      weights[scope + "/output/LayerNorm/gamma"],
      weights[scope + "/output/LayerNorm/beta"])


def numpy_bert_forward(weights, config, input_ids, input_mask, token_type_ids):
  """BERT encoder at inference (no dropout) in float64.

  Args:
    weights: dict {official checkpoint name: np.ndarray}.
    config: dict with the bert_config.json keys (num_hidden_layers,
      num_attention_heads, hidden_act, ...).
    input_ids, input_mask, token_type_ids: int arrays of shape [B, S].

  Returns:
    (all_layers, pooled, embedding_output): a list of num_hidden_layers
    float64 arrays [B,S,H], the pooler output [B,H] and the embeddings [B,S,H].
  """
  w = {name: np.asarray(value, np.float64) for name, value in weights.items()}
  input_ids = np.asarray(input_ids)
  seq_length = input_ids.shape[1]
  x = (w["bert/embeddings/word_embeddings"][input_ids] +
       w["bert/embeddings/token_type_embeddings"][np.asarray(token_type_ids)] +
       w["bert/embeddings/position_embeddings"][np.newaxis, :seq_length])
  embedding_output = _layer_norm(x, w["bert/embeddings/LayerNorm/gamma"],
                                 w["bert/embeddings/LayerNorm/beta"])
  mask_bias = (1.0 - np.asarray(input_mask, np.float64)) * MASK_ADDER   # [B,S]
  all_layers = []
  x = embedding_output
  for index in range(config["num_hidden_layers"]):
    x = _layer(w, index, x, mask_bias, config)
    all_layers.append(x)
  pooled = np.tanh(_dense(w, "bert/pooler/dense", x[:, 0, :]))
  return all_layers, pooled, embedding_output
