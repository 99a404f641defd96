"""Model FLOP counts and the machine's matmul peak: what MFU figures are made of.

Shared by benchmark.py, scripts/gemm_floor.py and scripts/accelerator_check.py.
Only the matrix products count (the convention of MFU): embeddings, softmax,
LayerNorm and the optimizer are left out.
"""

import time

CONFIGS = {
    # A shape small enough for CI; odd sizes catch mixed-up dimensions.
    "tiny": dict(vocab_size=30522, hidden_size=128, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=512),
    "base": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072),
    "large": dict(vocab_size=30522, hidden_size=1024, num_hidden_layers=24,
                  num_attention_heads=16, intermediate_size=4096),
}


def matmul_weights(config):
  """(per-token encoder weights, per-sequence pooler + classifier weights)."""
  h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
  return layers * (4 * h * h + 2 * h * i), h * h + 2 * h


def flops_per_sequence(config, seq_length, training):
  """Matmul FLOPs of one sequence: forward, or forward + backward (3x) when training."""
  per_token, per_sequence = matmul_weights(config)
  attention = 4 * config["num_hidden_layers"] * seq_length ** 2 * config["hidden_size"]
  forward = 2 * (per_token * seq_length + per_sequence) + attention
  return 3 * forward if training else forward


def best_seconds(fn, repeats):
  """Fastest of `repeats` timed calls of fn(), after one untimed call."""
  fn()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def measure_matmul_peak(size=2048, repeats=10, dtype="float32", device=None):
  """Best GFLOP/s of a size x size tf.linalg.matmul in `dtype` on `device`.

  Args:
    size: rows = columns of both operands.
    repeats: timed calls after one untimed call; the fastest is kept.
    dtype: "float32", "bfloat16" or "float16" (the operands' dtype).
    device: a TensorFlow device name such as "/device:GPU:0"; None: the default.
  """
  import contextlib  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.device(device) if device else contextlib.nullcontext():
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    matmul = tf.function(tf.linalg.matmul)
    # float() copies the result to the host: the call has finished on the device.
    seconds = best_seconds(lambda: float(matmul(a, b)[0, 0]), repeats)
  return 2 * size ** 3 / seconds / 1e9
