# coding=utf-8
"""Classifier features: the task registry, InputExample -> features, TFRecords, submissions.

Flag-free. Everything the reference's run_classifier.py offered keeps its
name and behaviour (`InputExample`, `DataProcessor`, `convert_single_example`,
`file_based_convert_examples_to_features`, ...), plus float `label_ids` for
regression (STS-B), cached TFRecords with a sidecar (feature_cache.py) and
GLUE-benchmark submission files (`write_glue_submission`). The processors live
in processors.py (GLUE, XNLI) and custom_processor.py (the users' own files).
"""

import dataclasses
import inspect
import json
import os
from typing import Any

from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import custom_processor
import errors
import feature_cache
import processors
import tokenization
# Names the reference's users import from run_classifier.py / this module.
from feature_cache import make_cache_meta  # pylint: disable=unused-import
from processors import (  # pylint: disable=unused-import
    DataProcessor, InputExample, PaddingInputExample, load_labels,
    save_labels)


# Version of the feature layout written by file_based_convert_examples_to_
# features; a cache written under another version is stale.
FEATURES_FORMAT = "bert-classifier-features/1"

# Examples between two progress lines of the feature conversion.
_LOG_EVERY = 10000


@dataclasses.dataclass
class InputFeatures:
  """A single set of features of data.

  Attributes:
    input_ids: list of int of length max_seq_length, word-piece ids padded
      with 0.
    input_mask: list of int of length max_seq_length, 1 for real tokens.
    segment_ids: list of int of length max_seq_length, 0 for [CLS] a [SEP]
      and padding, 1 for b [SEP].
    label_id: int index into the label list; float for regression.
    is_real_example: bool, False for PaddingInputExample.
  """
  input_ids: list
  input_mask: list
  segment_ids: list
  label_id: Any
  is_real_example: bool = True


PROCESSORS = {
    "cola": processors.ColaProcessor,
    "sst-2": processors.Sst2Processor,
    "sst2": processors.Sst2Processor,
    "mrpc": processors.MrpcProcessor,
    "sts-b": processors.StsbProcessor,
    "stsb": processors.StsbProcessor,
    "qqp": processors.QqpProcessor,
    "mnli": processors.MnliProcessor,
    "mnli-mm": processors.MnliMismatchedProcessor,
    "qnli": processors.QnliProcessor,
    "rte": processors.RteProcessor,
    "wnli": processors.WnliProcessor,
    "xnli": processors.XnliProcessor,
    "lcqmc": processors.LcqmcProcessor,
    "chnsenticorp": processors.ChnSentiCorpProcessor,
    "csv": custom_processor.CsvProcessor,
    "custom": custom_processor.CsvProcessor,
}


def get_processor_class(task_name):
  """The processor class of `task_name` (case-insensitive); errors.DataError if unknown."""
  key = str(task_name).strip().lower()
  if key not in PROCESSORS:
    raise errors.DataError("unknown task_name %r; accepted: %s"
                           % (task_name, ", ".join(sorted(PROCESSORS))))
  return PROCESSORS[key]


def get_processor(task_name, **options):
  """Returns the processor of `task_name` (case-insensitive).

  Args:
    task_name: str, a key of PROCESSORS.
    **options: constructor options: `language` for xnli, the custom_processor.CsvProcessor
      arguments for csv/custom; GLUE tasks take none.

  Raises:
    errors.DataError: unknown task name, or an option the task does not take.
  """
  processor_class = get_processor_class(task_name)
  key = str(task_name).strip().lower()
  try:
    inspect.signature(processor_class).bind(**options)
  except TypeError:
    accepted = list(inspect.signature(processor_class).parameters)
    refused = sorted(set(options) - set(accepted)) or sorted(options)
    raise errors.DataError("task %s does not take the option(s) %s; accepted: %s"
                           % (key, ", ".join(refused), ", ".join(accepted) or "none")) from None
  return processor_class(**options)


# ----------------------------------------------------------------------------
# Features.


def _check_max_seq_length(max_seq_length):
  if max_seq_length < 3:
    raise errors.UserError("max_seq_length must be at least 3 ([CLS] a [SEP] b "
                           "[SEP] with a and b non-empty). Received: "
                           "max_seq_length=%d" % max_seq_length)


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer):
  """Converts a single `InputExample` into a single `InputFeatures`.

  Args:
    ex_index: int, position of the example (the first 5 are logged).
    example: InputExample or PaddingInputExample.
    label_list: list of str; empty for regression, where label_id is
      float(example.label).
    max_seq_length: int, length of the id lists, >= 3.
    tokenizer: tokenization.FullTokenizer.

  Returns:
    InputFeatures: `[CLS] a [SEP]` (+ `b [SEP]`), zero-padded.

  Raises:
    errors.DataError: example.label is not in label_list.
  """
  label_map = {label: i for i, label in enumerate(label_list or ())}
  return _convert_example(example, label_map, max_seq_length,
                          tokenizer, log=ex_index < 5)


def _convert_example(example, label_map, max_seq_length, tokenizer, log=False):
  """convert_single_example with the label map built once by the caller."""
  _check_max_seq_length(max_seq_length)
  if isinstance(example, PaddingInputExample):
    return InputFeatures(input_ids=[0] * max_seq_length,
                         input_mask=[0] * max_seq_length,
                         segment_ids=[0] * max_seq_length,
                         label_id=0 if label_map else 0.0,
                         is_real_example=False)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  # A text b with no word pieces is left out, as the reference does.
  tokens, segment_ids = tokenization.encode_pair(tokens_a, tokens_b or None, max_seq_length)
  input_ids, input_mask, segment_ids = tokenization.padded_ids(
      tokenizer, tokens, segment_ids, max_seq_length)
  if not label_map:
    label_id = float(example.label)
  elif example.label in label_map:
    label_id = label_map[example.label]
  else:
    raise errors.DataError("example %s: label %r is not in the label list %s"
                           % (example.guid, example.label, list(label_map)))
  if log:
    logging.info("*** Example ***\nguid: %s\ntokens: %s\ninput_ids: %s\n"
                 "input_mask: %s\nsegment_ids: %s\nlabel: %s (id = %s)",
                 example.guid, " ".join(tokenization.printable_text(t)
                                        for t in tokens),
                 " ".join(map(str, input_ids)), " ".join(map(str, input_mask)),
                 " ".join(map(str, segment_ids)), example.label, label_id)
  return InputFeatures(input_ids, input_mask, segment_ids, label_id)


def _iter_features(examples, label_list, max_seq_length, tokenizer, log_examples=5):
  """Yields the InputFeatures of `examples`, logging progress and the first few."""
  label_map = {label: i for i, label in enumerate(label_list or ())}
  for ex_index, example in enumerate(examples):
    if ex_index % _LOG_EVERY == 0 and ex_index:
      logging.info("Writing example %d of %d", ex_index, len(examples))
    yield _convert_example(example, label_map, max_seq_length,
                           tokenizer, log=ex_index < log_examples)


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer):
  """Converts a list of `InputExample`s into a list of `InputFeatures`.

  Logs a WARNING when many word pieces are [UNK] (see
  tokenization.UnknownTokenCounter).
  """
  _check_max_seq_length(max_seq_length)
  counter = tokenization.UnknownTokenCounter(tokenizer)
  features = list(_iter_features(examples, label_list, max_seq_length, counter))
  counter.log_warning("the examples")
  return features


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, is_regression=False,
                                            meta=None, log_examples=5):
  """Converts `examples` to a TFRecord file plus a `.meta.json` sidecar.

  Features (one tf.train.Example per example):
    input_ids, input_mask, segment_ids  int64 [max_seq_length]
    label_ids                           int64 [1]; float [1] for regression
                                        (the reference had no regression)
    is_real_example                     int64 [1]

  The records go to a temporary file renamed to `output_file` at the end,
  and the old sidecar is removed first, so an interrupted run leaves either
  no cache or one `cache_is_valid` rejects - never a half-written one. A
  WARNING is logged when many word pieces are [UNK].

  Args:
    examples: list of InputExample / PaddingInputExample.
    label_list: list of str; empty for regression.
    max_seq_length: int.
    tokenizer: tokenization.FullTokenizer.
    output_file: str, path of the TFRecord file (local or gs://).
    is_regression: bool, must agree with an empty label_list.
    meta: dict or None, what the cache was built from (see make_cache_meta),
      stored in the sidecar with num_examples, max_seq_length, label_list,
      is_regression, format, the TFRecord's size and SHA-256 and the [UNK] counts
      (`unknown_tokens`, see tokenization.UnknownTokenCounter.summary).
    log_examples: int, the features of this many first examples are logged
      (the reference's 5).

  Returns:
    dict, the sidecar written to `<output_file>.meta.json`.
  """
  if bool(is_regression) == bool(label_list):
    raise ValueError("is_regression=%s needs %s label_list; received %s"
                     % (is_regression, "an empty" if is_regression else "a",
                        label_list))
  output_file = str(output_file)
  if tf.io.gfile.exists(feature_cache.meta_path(output_file)):
    tf.io.gfile.remove(feature_cache.meta_path(output_file))
  label_feature = feature_cache.float_feature if is_regression else feature_cache.int_feature
  counter = tokenization.UnknownTokenCounter(tokenizer)
  with atomic_files.atomic_path(output_file) as tmp_file, \
      tf.io.TFRecordWriter(tmp_file) as writer:
    for feature in _iter_features(examples, label_list, max_seq_length, counter,
                                  log_examples):
      features = {
          "input_ids": feature_cache.int_feature(feature.input_ids),
          "input_mask": feature_cache.int_feature(feature.input_mask),
          "segment_ids": feature_cache.int_feature(feature.segment_ids),
          "label_ids": label_feature([feature.label_id]),
          "is_real_example": feature_cache.int_feature([int(feature.is_real_example)]),
      }
      writer.write(feature_cache.serialize_example(features))
  counter.log_warning("the examples of %s" % os.path.basename(output_file))
  written = dict(meta or {})
  written.update(
      format=FEATURES_FORMAT,
      unknown_tokens=counter.summary(),
      num_examples=len(examples),
      num_real_examples=sum(not isinstance(e, PaddingInputExample)
                            for e in examples),
      max_seq_length=max_seq_length,
      label_list=list(label_list or []),
      is_regression=bool(is_regression),
      tfrecord_size=tf.io.gfile.stat(output_file).length,
      tfrecord_sha256=feature_cache.file_digest(output_file)["sha256"])
  written = feature_cache.json_round_trip(written)
  atomic_files.write_text(feature_cache.meta_path(output_file),
                     json.dumps(written, indent=2, ensure_ascii=False) + "\n")
  return written


def cache_is_valid(output_file, expected_meta):
  """Whether a classifier feature cache can be reused (see feature_cache.cache_is_valid)."""
  return feature_cache.cache_is_valid(output_file,
                                      dict(expected_meta, format=FEATURES_FORMAT))


def file_based_dataset(input_file, seq_length, is_training,
                       is_regression=False, shuffle_buffer_size=100,
                       seed=None):
  """Reads a feature TFRecord file as an unbatched tf.data.Dataset.

  TFRecords written by the reference's run_classifier.py read unchanged.
  As the reference, the training dataset repeats forever and is shuffled
  with a small buffer; the caller batches and counts steps.

  Args:
    input_file: str or list of str, TFRecord file(s).
    seq_length: int, max_seq_length the file was written with.
    is_training: bool, repeat and shuffle.
    is_regression: bool, label_ids are floats.
    shuffle_buffer_size: int.
    seed: int or None, shuffle seed.

  Returns:
    tf.data.Dataset of dicts: input_ids, input_mask, segment_ids (int32
    [seq_length]), label_ids (int32 [], float32 [] for regression),
    is_real_example (int32 []).

  Raises:
    errors.DataError: the file's sidecar records another seq_length or label type.
  """
  files = [input_file] if isinstance(input_file, (str, os.PathLike)) \
      else list(input_file)
  for path in files:
    meta = feature_cache.read_cache_meta(path) or {}
    for key, value in (("max_seq_length", seq_length),
                       ("is_regression", bool(is_regression))):
      if key in meta and meta[key] != value:
        raise errors.DataError("%s was written with %s=%s; received %s=%s. Delete "
                               "the file to rebuild it." % (path, key, meta[key],
                                                     key, value))
  name_to_features = {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.io.FixedLenFeature(
          [], tf.float32 if is_regression else tf.int64),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }

  dataset = feature_cache.int32_records([str(path) for path in files], name_to_features)
  if is_training:
    dataset = dataset.repeat()
    dataset = dataset.shuffle(buffer_size=shuffle_buffer_size, seed=seed)
  return dataset


# ----------------------------------------------------------------------------
# GLUE benchmark submission.

# Task name -> file name the GLUE submission zip must use.
GLUE_SUBMISSION_NAMES = {
    "cola": "CoLA.tsv",
    "sst-2": "SST-2.tsv",
    "sst2": "SST-2.tsv",
    "mrpc": "MRPC.tsv",
    "sts-b": "STS-B.tsv",
    "stsb": "STS-B.tsv",
    "qqp": "QQP.tsv",
    "mnli": "MNLI-m.tsv",
    "mnli-mm": "MNLI-mm.tsv",
    "qnli": "QNLI.tsv",
    "rte": "RTE.tsv",
    "wnli": "WNLI.tsv",
}


def write_glue_submission(task_name, examples, probabilities, label_list,
                          output_path):
  """Writes a GLUE-benchmark prediction file: `index<TAB>prediction` lines.

  Args:
    task_name: str, a key of GLUE_SUBMISSION_NAMES (case-insensitive).
    examples: list of InputExample from get_test_examples (the index is the
      guid's part after its last "-"); PaddingInputExamples are skipped.
    probabilities: float array of shape [len(examples), num_labels]; for
      STS-B, predicted scores of shape [len(examples)] or [len(examples), 1].
    label_list: list of str, the label of each probability column.
    output_path: str, a directory (the file gets the GLUE name) or a file.

  Returns:
    str, the path written.
  """
  key = str(task_name).strip().lower()
  if key not in GLUE_SUBMISSION_NAMES:
    raise errors.DataError("task %r has no GLUE submission file; accepted: %s"
                           % (task_name, ", ".join(sorted(GLUE_SUBMISSION_NAMES))))
  probabilities = np.asarray(probabilities, dtype=np.float64)
  if len(probabilities) != len(examples):
    raise ValueError("%d examples but %d predictions"
                     % (len(examples), len(probabilities)))
  regression = PROCESSORS[key].is_regression
  lines = ["index\tprediction\n"]
  for example, row in zip(examples, probabilities):
    if isinstance(example, PaddingInputExample):
      continue
    index = example.guid.rsplit("-", 1)[-1]
    if regression:
      prediction = "%.3f" % float(np.reshape(row, -1)[0])
    else:
      prediction = label_list[int(np.argmax(row))]
    lines.append("%s\t%s\n" % (index, prediction))
  output_path = str(output_path)
  if tf.io.gfile.isdir(output_path):
    output_path = os.path.join(output_path, GLUE_SUBMISSION_NAMES[key])
  with tf.io.gfile.GFile(output_path, "w") as f:
    f.write("".join(lines))
  return output_path
