"""The matmul-only floor of one BERT training step on this machine.

Times, one by one, every matrix multiplication of one forward + backward pass
of a Transformer block at the benchmark's shapes (the fused QKV projection,
the attention score and context products, the attention output and the two
feed-forward layers; for the backward pass the input and weight gradient of
each), multiplies by the number of layers, and prints the sum beside a
2048x2048 matmul's GFLOP/s. No implementation of the whole step can take less
than this sum unless it does fewer multiplications: it is the ceiling that
`benchmark.py`'s training rows should be read against. Embeddings, the pooler,
the classifier and the optimizer are left out (they only add time).

  .venv/bin/python scripts/gemm_floor.py --config=base --seq_length=128 --batch_size=8
"""

import os

from absl import app
from absl import flags

import tf_defaults  # noqa: F401,E402  (first: TensorFlow's CPU settings)
import tensorflow as tf  # noqa: E402

import flops  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("config", "base", "tiny, base or large (flops.CONFIGS).")
  flags.DEFINE_integer("seq_length", 128, "Tokens per sequence.")
  flags.DEFINE_integer("batch_size", 8, "Sequences per training step.")
  flags.DEFINE_integer("threads", os.cpu_count(), "Intra-op threads.")
  flags.DEFINE_integer("repeats", 10, "Timed calls per product; the best is kept.")


def block_products(config, batch_size, seq_length):
  """[(name, a_shape, b_shape, transpose_a, transpose_b)] of one block, forward and backward."""
  t, h, i = batch_size * seq_length, config["hidden_size"], config["intermediate_size"]
  n = config["num_attention_heads"]
  bn, s, d = batch_size * n, seq_length, h // n
  products = []
  for name, k, m in (("qkv", h, 3 * h), ("attention output", h, h),
                     ("feed-forward in", h, i), ("feed-forward out", i, h)):
    products += [(f"forward {name}", [t, k], [k, m], False, False),
                 (f"backward {name} dx", [t, m], [k, m], False, True),
                 (f"backward {name} dw", [t, k], [t, m], True, False)]
  products += [("forward scores", [bn, s, d], [bn, s, d], False, True),
               ("forward context", [bn, s, s], [bn, s, d], False, False),
               ("backward scores dq", [bn, s, s], [bn, s, d], False, False),
               ("backward scores dk", [bn, s, s], [bn, s, d], True, False),
               ("backward context dp", [bn, s, d], [bn, s, d], False, True),
               ("backward context dv", [bn, s, s], [bn, s, d], True, False)]
  return products


def product_flops(a_shape, b_shape, transpose_a, transpose_b):
  """2 x inner dimension x output elements of tf.matmul(a, b, transpose_a, transpose_b)."""
  inner = a_shape[-2] if transpose_a else a_shape[-1]
  columns = b_shape[-2] if transpose_b else b_shape[-1]
  rows = a_shape[-1] if transpose_a else a_shape[-2]
  batch = a_shape[0] if len(a_shape) == 3 else 1
  return 2 * inner * rows * columns * batch


def time_product(a_shape, b_shape, transpose_a, transpose_b, repeats):
  """(seconds, flops) of the best of `repeats` calls."""
  a, b = tf.random.normal(a_shape), tf.random.normal(b_shape)
  product = tf.function(lambda: tf.matmul(a, b, transpose_a=transpose_a,
                                          transpose_b=transpose_b))
  seconds = flops.best_seconds(lambda: product().numpy(), repeats)
  return seconds, product_flops(a_shape, b_shape, transpose_a, transpose_b)


def main(_):
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  config = flops.CONFIGS[FLAGS.config]
  total_seconds = total_flops = 0.0
  for name, a_shape, b_shape, ta, tb in block_products(config, FLAGS.batch_size,
                                                       FLAGS.seq_length):
    seconds, product = time_product(a_shape, b_shape, ta, tb, FLAGS.repeats)
    total_seconds, total_flops = total_seconds + seconds, total_flops + product
    print(f"{name:30s} {seconds * 1e3:8.2f} ms {product / seconds / 1e9:7.1f} GFLOP/s")
  peak = flops.measure_matmul_peak()
  layers = config["num_hidden_layers"]
  print(f"2048x2048 matmul peak: {peak:.1f} GFLOP/s")
  print(f"one block: {total_seconds * 1e3:.1f} ms at {total_flops / total_seconds / 1e9:.1f} "
        f"GFLOP/s ({total_flops / total_seconds / 1e9 / peak:.0%} of peak)")
  print(f"matmul floor of one training step ({layers} layers): {layers * total_seconds:.2f} s")


if __name__ == "__main__":
  define_flags()
  app.run(main)
