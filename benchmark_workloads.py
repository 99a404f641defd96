"""The workloads of benchmark.py, timed the same way for every toolkit.

Stdlib and NumPy only: scripts/benchmark_peers.py runs them in the peers'
virtualenvs (loading this file by its path), benchmark.py in ours.
"""

import json
import resource
import time

import numpy as np


def peak_rss_mb():
  """Peak resident memory of this process so far, in MB (Linux ru_maxrss is KB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_batch(spec, batch_size, seed):
  rng = np.random.default_rng(seed)
  seq = spec["seq_length"]
  return dict(
      input_ids=rng.integers(1000, spec["config"]["vocab_size"], (batch_size, seq)).astype(
          np.int64),
      input_mask=np.ones((batch_size, seq), np.int64),
      segment_ids=np.concatenate([np.zeros((batch_size, seq // 2), np.int64),
                                  np.ones((batch_size, seq - seq // 2), np.int64)], 1),
      label_ids=rng.integers(0, 2, (batch_size,)).astype(np.int64))


def padded_sentence_batches(spec):
  """The real-sentence workload fed as tutorials do: every pair padded to seq_length."""
  with open(spec["sentences_file"]) as f:
    examples = json.load(f)
  seq, batch_size = spec["seq_length"], spec["sentence_batch_size"]
  for begin in range(0, len(examples), batch_size):
    rows = examples[begin:begin + batch_size]
    ids = np.zeros((len(rows), seq), np.int64)
    mask = np.zeros((len(rows), seq), np.int64)
    segments = np.zeros((len(rows), seq), np.int64)
    for r, row in enumerate(rows):
      n = len(row["input_ids"])
      ids[r, :n] = row["input_ids"]
      mask[r, :n] = 1
      segments[r, :n] = row["segment_ids"]
    yield dict(input_ids=ids, input_mask=mask, segment_ids=segments)


def time_calls(fn, warmup, steps):
  """Seconds per call of fn() after `warmup` untimed calls (median of `steps` calls)."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def serving_pairs(spec):
  """(text_a list, text_b list): the serving workload's sentence pairs."""
  with open(spec["serving_pairs_file"], encoding="utf-8") as f:
    pairs = json.load(f)
  return pairs["text_a"], pairs["text_b"]


def _timed_calls(fn, inputs):
  """Seconds of each call fn(*x) for x in inputs, after one untimed pass over all.

  The untimed pass is a server's warm-up: every shape of the timed pass has
  been seen once (oneDNN primitives and ONNX Runtime's caches are built).
  """
  for x in inputs:
    fn(*x)
  seconds = []
  for x in inputs:
    start = time.perf_counter()
    fn(*x)
    seconds.append(time.perf_counter() - start)
  return seconds


def time_serving(spec, serve_text, serve_ids):
  """The serving workload at each batch size; returns its figures.

  serve_text_b{b}: the sentence pairs, in file order, b per call of
  serve_text(text_a, text_b) (tokenization included) -> probabilities;
  sequences/seconds is the throughput, median_ms the median call.
  serve_ids_b{b}: the model alone, serve_ids(batch) on random ids of
  seq_length tokens, median of `steps` calls.
  """
  text_a, text_b = serving_pairs(spec)
  results = {}
  for b in spec["infer_batch_sizes"]:
    batches = [(text_a[i:i + b], text_b[i:i + b]) for i in range(0, len(text_a), b)]
    seconds = _timed_calls(serve_text, batches)
    results[f"serve_text_b{b}"] = dict(
        seconds=float(np.sum(seconds)), sequences=len(text_a), batch_size=b,
        median_ms=1e3 * float(np.median(seconds)), peak_rss_mb=peak_rss_mb())
  for b in spec["infer_batch_sizes"]:
    batch = random_batch(spec, b, seed=1)
    seconds = time_calls(lambda: serve_ids(batch), spec["warmup_steps"], spec["steps"])
    results[f"serve_ids_b{b}"] = dict(seconds_per_step=seconds, batch_size=b,
                                      peak_rss_mb=peak_rss_mb())
  return results


def run_workloads(spec, train_step, infer, serve_text=None):
  """Runs the spec's workloads in increasing memory order; returns their figures.

  train_step None: the toolkit only predicts; serve_text None: it has no text
  path (no serving workload).
  """
  results = {}
  if "serving" in spec["workloads"] and serve_text is not None:
    results.update(time_serving(spec, serve_text, infer))
  warmup, steps = spec["warmup_steps"], spec["steps"]
  if "sentences" in spec["workloads"]:
    batches = list(padded_sentence_batches(spec))
    infer(batches[0])
    start = time.perf_counter()
    count = 0
    for batch in batches:
      infer(batch)
      count += len(batch["input_ids"])
    seconds = time.perf_counter() - start
    results["sentences"] = dict(seconds=seconds, sequences=count,
                                peak_rss_mb=peak_rss_mb())
  for batch_size in spec["infer_batch_sizes"]:
    name = f"infer_b{batch_size}"
    if name not in spec["workloads"]:
      continue
    batch = random_batch(spec, batch_size, seed=1)
    seconds = time_calls(lambda: infer(batch), warmup, steps)
    results[name] = dict(seconds_per_step=seconds, batch_size=batch_size,
                         peak_rss_mb=peak_rss_mb())
  if "train" in spec["workloads"] and train_step is not None:
    batch = random_batch(spec, spec["train_batch_size"], seed=2)
    seconds = time_calls(lambda: train_step(batch), warmup, steps)
    results["train"] = dict(seconds_per_step=seconds, batch_size=spec["train_batch_size"],
                            peak_rss_mb=peak_rss_mb())
  return results
