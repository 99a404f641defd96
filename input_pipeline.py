"""The training input pipeline: epochs in a seeded order, numbered examples, length-sorted
batches and their micro-batch splits, batches cut to their longest sequence.

The order depends only on (seed, epoch), so a resumed run and a run on any number of
workers read the same batches; every example carries its index in the stream, which
keys its dropout masks.
"""

import tensorflow as tf

import errors

# Graph-level seed of the data-order shuffles (any fixed non-zero value).
_DATA_GRAPH_SEED = 20181011
# The feature training_dataset adds to every example: its int64 index in the
# run's stream of training examples (epochs concatenated, so unique in a run).
# The dropout masks of an example are keyed by it; the model never reads it.
STREAM_INDEX = "stream_index"


def trim_to_longest(features, length_key="input_mask", sequence_keys=None, multiple=1):
  """Cuts [..., S] features to the longest real sequence in the batch.

  Padding positions are masked out of attention, so the outputs at real
  positions do not change; the work drops with the padding.

  Args:
    features: dict of Tensors; those named in `sequence_keys` (default: every
      one with the rank and last dimension of `features[length_key]`) are cut
      along their last axis.
    length_key: int Tensor [B, ..., S] with 1 on real tokens (e.g. [B, S], or
      [B, num_choices, S]).
    multiple: round the length up to a multiple of this (fewer distinct shapes).
  """
  mask = features[length_key]
  full = tf.shape(mask)[-1]
  longest = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)), 1)
  longest = tf.minimum((longest + multiple - 1) // multiple * multiple, full)
  if sequence_keys is None:
    sequence_keys = [k for k, v in features.items()
                     if v.shape.rank == mask.shape.rank and v.shape[-1] == mask.shape[-1]]
  trimmed = dict(features)
  for key in sequence_keys:
    if key in features:
      trimmed[key] = features[key][..., :longest]
  return trimmed


# auto: each length-sorted micro-batch holds at least this many examples.
MIN_SORTED_SPLIT_SIZE = 8


def auto_sorted_splits(batch_per_replica):
  """--length_sorted_splits=auto: the most equal parts of >= 8 examples, up to 8.

  A batch of 32 per replica becomes 4 parts (measured 2x faster on MRPC with
  the same update), 16 becomes 2, a batch below 16 stays whole.
  """
  splits = 1
  for candidate in range(2, 9):
    if (batch_per_replica % candidate == 0 and
        batch_per_replica // candidate >= MIN_SORTED_SPLIT_SIZE):
      splits = candidate
  return splits


def training_dataset(records, num_records, batch_size, seed, consumed_records=0,
                     shuffle_buffer_size=50000, input_context=None, length_bucketing=False,
                     sorted_group_size=0, length_key="input_mask"):
  """Shuffled, repeated, batched training examples that resume exactly.

  Epoch e is the records shuffled with seed (seed, e); epochs are concatenated
  and then batched, as the reference's repeat-then-batch. A resumed run starts
  at the epoch and record where the interrupted one stopped, so both see the
  same batches.

  With `length_bucketing`, every window of BUCKET_WINDOW_BATCHES batches of
  that stream is sorted by length, cut into batches and the batches of the
  window put in a seeded random order: each batch then holds sequences of
  similar length, so cutting it to its longest (dynamic padding) removes most
  of the padding, while the data order stays random across windows.

  With `sorted_group_size` G (the global batch of one update), every G
  examples of the stream are sorted by length before they are cut into
  batches: an update sees the same G examples as without sorting, only split
  into micro-batches of similar lengths (the training loop sums their
  gradients), so the update is unchanged while dynamic padding removes much of
  the padding.

  Every example (when records are dicts) gains STREAM_INDEX, its int64 index
  in the stream of all epochs: it keys the example's dropout masks, so an
  example is dropped out alike whichever batch, replica or micro-batch holds it.

  Args:
    records: unbatched tf.data.Dataset of parsed examples (dicts of Tensors;
      with length_bucketing, `length_key` [..., S] is 1 on real tokens).
    num_records: examples in one epoch of `records` (all of them: every input
      pipeline reads the whole data set, see input_context).
    batch_size: examples per batch of one replica (drop_remainder=True).
    seed: int seed of the data order.
    consumed_records: examples already trained on by all replicas together (a
      multiple of batch_size x replicas).
    input_context: tf.distribute.InputContext. Each pipeline walks the same
      stream of replica batches and keeps those of its own replicas: global
      batch k is batches k*R .. k*R+R-1 (R replicas, worker-major), so the
      global batch and the data order do not depend on the number of workers
      (a sharded file list would make them depend on it).
    length_bucketing: bool, batch sequences of similar length together.
    sorted_group_size: 0 (off) or the examples of one update, all replicas
      and micro-batches together: a multiple of batch_size.
    length_key: the mask whose row sums are the lengths.
  """
  if num_records <= 0:
    raise errors.UserError("The training data holds no examples.")
  window = batch_size * BUCKET_WINDOW_BATCHES if length_bucketing else batch_size
  if sorted_group_size:
    if length_bucketing or sorted_group_size % batch_size:
      raise ValueError(f"sorted_group_size={sorted_group_size} needs length_bucketing "
                       f"off and a multiple of batch_size={batch_size}.")
    window = sorted_group_size
  # Resume at the start of the window holding the next batch, then skip the
  # batches of that window already trained on.
  window_index = consumed_records // window
  start_record = window_index * window
  dataset = _record_stream(records, num_records, seed, shuffle_buffer_size, start_record)
  dataset = dataset.batch(window, drop_remainder=True).enumerate(window_index)
  if window == batch_size:
    dataset = dataset.map(lambda index, examples: _numbered(examples, index * window))
  else:
    def bucket(index, examples):
      # A sorted group keeps its order: its batches belong to one update.
      return tf.data.Dataset.from_tensor_slices(_sort_window_into_batches(
          _numbered(examples, index * window), batch_size, length_key,
          seed if length_bucketing else None, index))
    dataset = dataset.flat_map(tf.autograph.experimental.do_not_convert(bucket))
  dataset = dataset.skip((consumed_records - start_record) // batch_size)
  if input_context and input_context.num_input_pipelines > 1:
    dataset = _keep_pipeline_batches(dataset, input_context)
  return dataset.prefetch(tf.data.AUTOTUNE)


def _numbered(examples, first):
  """Adds STREAM_INDEX, int64 [W] first..first+W-1, to a dict batch of W examples."""
  if not isinstance(examples, dict):
    return examples
  size = tf.shape(tf.nest.flatten(examples)[0], out_type=tf.int64)[0]
  return {**examples, STREAM_INDEX: first + tf.range(size, dtype=tf.int64)}


def _keep_pipeline_batches(dataset, input_context):
  """The replica batches of this pipeline's replicas, from a stream of all replicas'."""
  replicas = input_context.num_replicas_in_sync
  local = replicas // input_context.num_input_pipelines
  pipeline = input_context.input_pipeline_id
  dataset = dataset.enumerate().filter(lambda i, _: (i % replicas) // local == pipeline)
  return dataset.map(lambda _, batch: batch)


# Batches per length-bucketing window: enough for lengths to group well, few
# enough that the data order stays random (MRPC: 1024 of 3668 examples at batch 32).
BUCKET_WINDOW_BATCHES = 32


def _record_stream(records, num_records, seed, shuffle_buffer_size, start_record):
  """The epochs' shuffled records, concatenated, from record `start_record` on."""
  start_epoch = start_record // num_records
  buffer = max(1, min(num_records, shuffle_buffer_size))

  def epoch(index):
    # A fixed graph-level seed inside the traced function: the order depends on
    # (seed, epoch) only, whatever global seed the caller set (a global seed of
    # 0 would otherwise make TF compare the tensor op seed in Python).
    tf.random.set_seed(_DATA_GRAPH_SEED)
    return records.shuffle(buffer, seed=seed + index, reshuffle_each_iteration=False)

  dataset = tf.data.Dataset.range(start_epoch, 2 ** 62).flat_map(
      tf.autograph.experimental.do_not_convert(epoch))
  return dataset.skip(start_record - start_epoch * num_records)


def _sort_window_into_batches(examples, batch_size, length_key, seed, index):
  """{k: [W, ...]} -> {k: [W // batch_size, batch_size, ...]}, sorted by length.

  The batches are put in a random order of (seed, index), or left shortest
  first when seed is None.
  """
  mask = tf.cast(examples[length_key], tf.int32)
  lengths = tf.reduce_sum(mask, axis=-1)
  lengths = tf.reshape(lengths, [tf.shape(mask)[0], -1])
  order = tf.argsort(tf.reduce_max(lengths, axis=1), stable=True)
  num_batches = tf.shape(mask)[0] // batch_size
  result = {}
  for key, value in examples.items():
    value = tf.gather(value, order)
    result[key] = tf.reshape(
        value, tf.concat([[num_batches, batch_size], tf.shape(value)[1:]], 0))
  if seed is None:
    return result
  batch_order = tf.argsort(tf.random.stateless_uniform(
      [num_batches], seed=tf.stack([tf.cast(seed, tf.int64), index])))
  return {key: tf.gather(value, batch_order) for key, value in result.items()}
