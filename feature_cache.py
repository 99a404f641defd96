"""Feature caches: TFRecord files of features with a sidecar saying what built them.

A cache is reused only when its sidecar (`<file>.meta.json`) matches what
the run would build it from, and the file still has the size recorded when
it was written; anything else rebuilds it. The sidecar is removed before a
rebuild and written after it, so an interrupted run leaves no cache that
looks valid.
"""

import hashlib
import json
import os

from absl import logging
import tensorflow as tf

import data_files


# ----------------------------------------------------------------------------
# TFRecord caches.


def int_feature(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def float_feature(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def meta_path(output_file):
  return str(output_file) + ".meta.json"


def json_round_trip(value):
  """`value` as JSON would give it back (tuples become lists, ...)."""
  return json.loads(json.dumps(value))



def file_fingerprint(path):
  path = str(path)
  stat = tf.io.gfile.stat(path)
  return {"path": os.path.abspath(path) if not data_files.is_remote(path) else path,
          "size": stat.length, "mtime_nsec": stat.mtime_nsec}


def make_cache_meta(task_name, vocab_file, do_lower_case, data_files,
                    max_seq_length, label_list, num_examples=None,
                    is_regression=False):
  """Describes what a feature cache is built from, for `cache_is_valid`.

  Args:
    task_name: str.
    vocab_file: str, path of vocab.txt (its size and SHA-256 are recorded).
    do_lower_case: bool.
    data_files: list of str, the data files the examples came from (their
      path, size and mtime are recorded), e.g. processor.source_files values.
    max_seq_length: int.
    label_list: list of str.
    num_examples: int or None, number of examples (with padding) if known.
    is_regression: bool.

  Returns:
    dict of JSON values.
  """
  with tf.io.gfile.GFile(str(vocab_file), "rb") as f:
    vocab_bytes = f.read()
  meta = {
      "task": str(task_name).lower(),
      "vocab_file": {"size": len(vocab_bytes),
                     "sha256": hashlib.sha256(vocab_bytes).hexdigest()},
      "do_lower_case": bool(do_lower_case),
      "data_files": [file_fingerprint(path) for path in data_files],
      "max_seq_length": int(max_seq_length),
      "label_list": list(label_list or []),
      "is_regression": bool(is_regression),
  }
  if num_examples is not None:
    meta["num_examples"] = int(num_examples)
  return json_round_trip(meta)


def read_cache_meta(output_file):
  """The sidecar of a feature cache as a dict, or None if absent/unreadable."""
  path = meta_path(output_file)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      meta = json.load(f)
  except ValueError:
    return None
  return meta if isinstance(meta, dict) else None


def cache_is_valid(output_file, expected_meta):
  """Whether the TFRecord cache `output_file` can be reused.

  True when the file and its sidecar exist, the file has the size the
  sidecar recorded (it was not rewritten by another run) and every key of
  `expected_meta` (its "format" too) has the same value in the sidecar. The
  reason for a False is logged.
  """
  output_file = str(output_file)
  meta = read_cache_meta(output_file)
  reason = None
  if not tf.io.gfile.exists(output_file):
    reason = "no file"
  elif meta is None:
    reason = "no readable %s" % meta_path(output_file)
  elif meta.get("tfrecord_size") != tf.io.gfile.stat(output_file).length:
    reason = "the file changed after its sidecar was written"
  else:
    for key, value in json_round_trip(dict(expected_meta)).items():
      if meta.get(key) != value:
        reason = "%s differs: cached %r, now %r" % (key, meta.get(key), value)
        break
  if reason:
    logging.info("Feature cache %s is stale (%s); rebuilding it.",
                 output_file, reason)
  return reason is None
