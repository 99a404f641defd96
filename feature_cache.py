"""Feature caches: TFRecord files of features with a sidecar saying what built them.

A cache is reused only when its sidecar (`<file>.meta.json`) matches what
the run would build it from, and the file still has the size and SHA-256
recorded when it was written; anything else rebuilds it. The sidecar is removed before a
rebuild and written after it, so an interrupted run leaves no cache that
looks valid.
"""

import dataclasses
import hashlib
import json

from absl import logging
import tensorflow as tf

import errors


# ----------------------------------------------------------------------------
# TFRecord caches.


def int_feature(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def float_feature(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def serialize_example(features):
  """A tf.train.Example of {name: tf.train.Feature} as bytes, features in name order.

  Deterministic: protobuf writes a map in an order that changes from process to
  process, so the same features would give other TFRecord bytes on every run.
  """
  return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(
      deterministic=True)


def int32_records(files, spec):
  """Unbatched dataset of the tf.train.Examples in `files`, parsed by `spec`.

  tf.train.Example stores integers as int64 only; they come out as the int32
  the model takes. Features outside `spec` are ignored.
  """
  def parse(record):
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t
            for name, t in example.items()}

  return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def meta_path(output_file):
  return str(output_file) + ".meta.json"


def json_round_trip(value):
  """`value` as JSON would give it back (tuples become lists, ...)."""
  return json.loads(json.dumps(value))



def file_digest(path):
  """{"size", "sha256"} of a file's bytes (read in 16 MiB blocks)."""
  digest, size = hashlib.sha256(), 0
  with tf.io.gfile.GFile(str(path), "rb") as reader:
    for block in iter(lambda: reader.read(1 << 24), b""):
      digest.update(block)
      size += len(block)
  return {"size": size, "sha256": digest.hexdigest()}


def examples_digest(examples):
  """SHA-256 of the examples' fields (dataclasses or objects with __dict__), in order."""
  digest = hashlib.sha256()
  for example in examples:
    fields = dataclasses.asdict(example) if dataclasses.is_dataclass(example) else (
        vars(example))
    digest.update(json.dumps([type(example).__name__, fields], sort_keys=True,
                             ensure_ascii=False, default=str).encode("utf-8") + b"\n")
  return digest.hexdigest()


def make_cache_meta(task_name, vocab_file, do_lower_case, examples, max_seq_length,
                    label_list, is_regression=False):
  """Describes what a feature cache is built from, for `cache_is_valid`.

  The key is the content of everything that changes the features: the
  examples as read (so a data file edited or replaced, or other column or
  header options, give another key), the vocabulary's bytes, the casing,
  max_seq_length and the label list. Paths and times are not part of it: a
  cache stays valid for the same data elsewhere (run_grid.py's shared cache).

  Args:
    task_name: str (recorded, not compared: the examples say it all).
    vocab_file: str, path of vocab.txt.
    do_lower_case: bool.
    examples: list of the examples the features are built from.
    max_seq_length: int.
    label_list: list of str.
    is_regression: bool.

  Returns:
    dict of JSON values.
  """
  return json_round_trip({
      "task": str(task_name).lower(),
      "vocab_file": file_digest(vocab_file),
      "do_lower_case": bool(do_lower_case),
      "examples_sha256": examples_digest(examples),
      "num_examples": len(examples),
      "max_seq_length": int(max_seq_length),
      "label_list": list(label_list or []),
      "is_regression": bool(is_regression),
  })


def read_cache_meta(output_file):
  """The sidecar of a feature cache as a dict, or None if absent/unreadable."""
  path = meta_path(output_file)
  if not tf.io.gfile.exists(path):
    return None
  if tf.io.gfile.isdir(path):
    raise errors.directory_in_the_way(path)
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      meta = json.load(f)
  except ValueError:
    return None
  return meta if isinstance(meta, dict) else None


def cache_is_valid(output_file, expected_meta):
  """Whether the TFRecord cache `output_file` can be reused.

  True when the file and its sidecar exist, the file has the size the
  sidecar recorded (it was not rewritten by another run), every key of
  `expected_meta` (its "format" too) has the same value in the sidecar, and
  the file's bytes still have the recorded SHA-256 (a damaged disk block would
  stop training at the record). The reason for a False is logged.
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
    else:
      if meta.get("tfrecord_sha256") != file_digest(output_file)["sha256"]:
        reason = "its bytes differ from those its sidecar recorded"
  if reason:
    logging.info("Feature cache %s is stale (%s); rebuilding it.",
                 output_file, reason)
  return reason is None
