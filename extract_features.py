r"""Extracts fixed contextual features (BERT activations) as JSON lines.

Each line of `--input_file` is one example, either `text` or
`text_a ||| text_b`. Each output line is, exactly as in google-research/bert:

  {"linex_index": 0, "features": [{"token": "[CLS]", "layers": [
      {"index": -1, "values": [0.123456, ...]}, ...]}, ...]}

one entry per real token ([CLS] and [SEP] included), one layer entry per
`--layers` index (indexes into the encoder layers, -1 = last), values rounded
to 6 decimal places. The key `linex_index` keeps the reference's spelling.

`--pooling=cls|mean` (an addition) writes one vector per layer instead:

  {"linex_index": 0, "pooled": [{"index": -1, "values": [...]}, ...]}

where the vector is the [CLS] activation (`cls`) or the mean over the real
tokens, [CLS] and [SEP] included (`mean`).

Batches are padded to their longest example rather than to --max_seq_length
(padding is masked, so the features are the same) and examples are grouped by
length inside a bounded window; the output keeps the input order.

  python extract_features.py --input_file=input.txt --output_file=out.jsonl \
    --vocab_file=$BERT_DIR/vocab.txt --bert_config_file=$BERT_DIR/bert_config.json \
    --init_checkpoint=$BERT_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
    --max_seq_length=128 --batch_size=8
"""

import contextlib
import dataclasses
import json
import os
import re
from typing import Optional, Sequence, Union

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import atomic_files
import checkpoint_utils
import cli
import data_files
import distribution
import errors
import modeling
import tokenization

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("input_file", None, "Text file, one `text` or `text_a ||| text_b` a line.")
  flags.DEFINE_string("output_file", None, "Where to write the JSON lines.")
  flags.DEFINE_string("layers", "-1,-2,-3,-4",
                      "Comma list of encoder layer indexes to output (-1 = last).")
  flags.DEFINE_string("bert_config_file", None,
                      "The config json file of the pre-trained BERT model.")
  flags.DEFINE_integer("max_seq_length", 128,
                       "Maximum total input length after WordPiece tokenization; "
                       "longer inputs are truncated.")
  flags.DEFINE_string("init_checkpoint", None,
                      "Checkpoint prefix (e.g. .../bert_model.ckpt) or directory.")
  tokenization.define_flags(flags.FLAGS)
  flags.DEFINE_integer("batch_size", 32, "Examples per forward pass.")
  flags.DEFINE_bool("use_tpu", False, "Run on a TPU (TPUStrategy).")
  flags.DEFINE_string("master", None, "TPU address (the TPU name or grpc:// URL) when --use_tpu.")
  flags.DEFINE_integer("num_tpu_cores", 8,
                       "Accepted for compatibility; the TPU strategy uses every core it finds.")
  flags.DEFINE_bool("use_one_hot_embeddings", False,
                    "Accepted for compatibility; ignored (TF2 gathers are fast on TPU).")
  flags.DEFINE_enum("pooling", "none", ["none", "cls", "mean"],
                    "none: per-token features (google-research/bert's output); cls or mean: "
                    "one pooled vector per layer, under the key `pooled`.")
  flags.DEFINE_string("compute_dtype", "float32",
                      "Compute precision: float32, bfloat16 or float16.")


POOLINGS = ("none", "cls", "mean")
_PAIR_RE = re.compile(r"^(.*) \|\|\| (.*)$")
# Examples are grouped by length within windows of this many batches: batches
# pad to similar lengths while memory stays bounded and output keeps its order.
_SORT_WINDOW_BATCHES = 16


@dataclasses.dataclass
class ExtractConfig:
  """Everything `run` needs; the flags of the same names."""
  input_file: str                       # `text` or `text_a ||| text_b` per line
  output_file: str                      # JSON lines, written atomically
  bert_config_file: str                 # bert_config.json
  init_checkpoint: str                  # checkpoint prefix or directory
  vocab_file: str                       # vocab.txt
  layers: Union[str, Sequence[int]] = "-1,-2,-3,-4"   # encoder layer indexes
  max_seq_length: int = 128             # tokens per example, [CLS]/[SEP] included
  do_lower_case: bool = True            # must match the checkpoint's casing
  batch_size: int = 32                  # examples per forward pass
  pooling: str = "none"                 # none | cls | mean
  compute_dtype: str = "float32"        # float32 | bfloat16 | float16
  use_tpu: bool = False                 # build a TPUStrategy
  master: Optional[str] = None          # TPU address for --use_tpu


@dataclasses.dataclass
class InputExample:
  unique_id: int                        # 0-based line number (`linex_index`)
  text_a: str
  text_b: Optional[str] = None


@dataclasses.dataclass
class InputFeatures:
  """One example as model input, unpadded (batches pad to their longest)."""
  unique_id: int
  tokens: list                          # [CLS] a [SEP] (b [SEP])
  input_ids: list                       # int ids of `tokens`
  input_type_ids: list                  # 0 for [CLS] a [SEP], 1 for b [SEP]


def parse_layer_indexes(layers, num_hidden_layers):
  """Parses `--layers` ("-1,-2" or a list of ints) and checks the range.

  Returns:
    list of int, indexes into the encoder layers in the order given.

  Raises:
    errors.UserError: a non-integer entry or an index outside [-L, L-1].
  """
  text = layers if isinstance(layers, str) else ",".join(str(x) for x in layers)
  low, high = -num_hidden_layers, num_hidden_layers - 1
  accepted = (f"use comma-separated integers in [{low}, {high}] (-1 = last layer; "
              f"the model has num_hidden_layers={num_hidden_layers}).")
  indexes = []
  for item in text.split(","):
    try:
      index = int(item.strip())
    except ValueError:
      raise errors.UserError(f"--layers={text}: {item.strip()!r} is not an integer; "
                             f"{accepted}") from None
    if not low <= index <= high:
      raise errors.UserError(f"--layers={text}: layer index {index} is out of range; {accepted}")
    indexes.append(index)
  return indexes


def validate(config):
  """Checks every setting before any work; returns (bert_config, layer_indexes).

  Raises:
    errors.UserError, errors.UserError, errors.CheckpointError or
    ValueError: with a message naming the flag, the value and the fix.
  """
  for name in ("input_file", "output_file", "bert_config_file", "init_checkpoint",
               "vocab_file"):
    if not getattr(config, name):
      raise errors.UserError(f"--{name} is required.")
  if config.pooling not in POOLINGS:
    raise errors.UserError(f"--pooling={config.pooling}: use one of {', '.join(POOLINGS)}.")
  try:
    modeling.resolve_dtype(config.compute_dtype)
  except ValueError:
    raise errors.UserError(f"--compute_dtype={config.compute_dtype}: use float32, bfloat16 "
                           "or float16.") from None
  if config.batch_size < 1:
    raise errors.UserError(f"--batch_size={config.batch_size}: must be at least 1.")
  cli.check_room_for_text(config.max_seq_length)
  if config.use_tpu and config.compute_dtype == "float16":
    raise errors.UserError("--compute_dtype=float16 is not supported on TPU; use "
                           "--compute_dtype=bfloat16.")
  tokenization.validate_case_matches_checkpoint(config.do_lower_case,
                                                config.init_checkpoint)
  tokenization.validate_case_matches_vocab(config.do_lower_case, config.vocab_file)
  bert_config = modeling.BertConfig.from_json_file(config.bert_config_file)
  modeling.check_sequence_length(bert_config, config.max_seq_length)
  layer_indexes = parse_layer_indexes(config.layers, bert_config.num_hidden_layers)
  cli.require_file(config.input_file, "input_file", "input text file")
  cli.require_file(config.vocab_file, "vocab_file", "vocab.txt of the model")
  checkpoint_utils.resolve_checkpoint(config.init_checkpoint)
  errors.require_utf8_path(config.output_file, "output_file")
  atomic_files.require_output_file(config.output_file, "output_file", "features.jsonl")
  if (not atomic_files.is_remote(config.input_file) and os.path.exists(config.output_file)
      and os.path.samefile(config.input_file, config.output_file)):
    raise errors.UserError(f"--output_file={config.output_file} is the --input_file: the "
                           "features would replace the text; give another output path.")
  return bert_config, layer_indexes


def read_examples(input_file):
  """Reads one InputExample per line (`text` or `text_a ||| text_b`).

  Lines end at "\\n" and are stripped, as in the reference; a blank line is
  an example with empty text, so `unique_id` is always the line number.

  Raises:
    errors.UserError: the file is empty or not UTF-8 (naming the line).
  """
  raw = data_files.read_bytes(input_file, "one `text` or `text_a ||| text_b` per line")
  if not raw:
    raise errors.UserError(f"--input_file={input_file}: the file is empty; expected one "
                           "`text` or `text_a ||| text_b` per line.")
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    line_number = raw.count(b"\n", 0, e.start) + 1
    line_start = raw.rfind(b"\n", 0, e.start) + 1
    raise errors.UserError(
        f"--input_file={input_file}: line {line_number} is not "
        f"valid UTF-8 (byte 0x{raw[e.start]:02x} at byte {e.start - line_start + 1} "
        "of the line); re-save the file as UTF-8.") from None
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()  # the text after the final newline is not a line
  examples = []
  for unique_id, line in enumerate(lines):
    line = line.strip()
    match = _PAIR_RE.match(line)
    if match is None:
      examples.append(InputExample(unique_id, line))
    else:
      examples.append(InputExample(unique_id, match.group(1), match.group(2)))
  return examples


def convert_examples_to_features(examples, max_seq_length, tokenizer):
  """Tokenizes examples into `[CLS] a [SEP] (b [SEP])` InputFeatures, truncated."""
  features = []
  for example in examples:
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    # A text b with no word pieces is left out, as the reference does.
    tokens, input_type_ids = tokenization.encode_pair(
        tokenizer.tokenize(example.text_a), tokens_b or None, max_seq_length)
    features.append(InputFeatures(example.unique_id, tokens,
                                  tokenizer.convert_tokens_to_ids(tokens), input_type_ids))
  return features


class FeatureExtractor:
  """Runs the encoder on batches of InputFeatures and returns the requested layers."""

  def __init__(self, model, layer_indexes, pooling="none", strategy=None, pad_to=None):
    """Compiles the forward pass once for any batch size and sequence length.

    Args:
      model: modeling.BertModel with its weights loaded.
      layer_indexes: list of int, indexes into model's encoder layers.
      pooling: "none", "cls" or "mean".
      strategy: optional tf.distribute strategy (TPU); batches are then padded
        to a fixed [rows, pad_to] shape and split across replicas.
      pad_to: None to pad each batch to its longest example, or a fixed length.
    """
    self.model = model
    self.layer_indexes = list(layer_indexes)
    self.pooling = pooling
    self.strategy = strategy
    self.pad_to = pad_to
    spec = tf.TensorSpec([None, None], tf.int32)
    self._forward = tf.function(self._forward_fn, input_signature=[spec] * 3)
    if strategy is not None:
      self._distributed = tf.function(
          lambda ids, mask, types: strategy.run(self._forward_fn, args=(ids, mask, types)))

  def _forward_fn(self, input_ids, input_mask, input_type_ids):
    """int32 [B,S] x3 -> float32 [B,K,S,H] (pooling none) or [B,K,H]."""
    outputs = self.model(input_ids, input_mask, input_type_ids, training=False)
    layers = tf.stack([tf.cast(outputs.all_encoder_layers[i], tf.float32)
                       for i in self.layer_indexes], axis=1)          # [B,K,S,H]
    if self.pooling == "cls":
      return layers[:, :, 0, :]                                       # [B,K,H]
    if self.pooling == "mean":
      mask = tf.cast(input_mask, tf.float32)[:, tf.newaxis, :, tf.newaxis]
      return tf.reduce_sum(layers * mask, axis=2) / tf.reduce_sum(mask, axis=2)
    return layers

  def _rows(self, num_examples):
    if self.strategy is None:
      return num_examples
    replicas = self.strategy.num_replicas_in_sync
    return -(-num_examples // replicas) * replicas

  def __call__(self, features):
    """Returns one float32 array per feature: [K, num_tokens, H], or [K, H] when pooled."""
    seq_length = self.pad_to or max(len(f.input_ids) for f in features)
    shape = (self._rows(len(features)), seq_length)
    input_ids, input_mask, input_type_ids = (np.zeros(shape, np.int32) for _ in range(3))
    input_mask[len(features):, 0] = 1   # filler rows (TPU) attend to one token: no NaN
    for row, feature in enumerate(features):
      n = len(feature.input_ids)
      input_ids[row, :n] = feature.input_ids
      input_mask[row, :n] = 1
      input_type_ids[row, :n] = feature.input_type_ids
    values = self._run(input_ids, input_mask, input_type_ids)
    if self.pooling != "none":
      return [values[row] for row in range(len(features))]
    return [values[row, :, :len(f.tokens)] for row, f in enumerate(features)]

  def _run(self, input_ids, input_mask, input_type_ids):
    if self.strategy is None:
      return self._forward(input_ids, input_mask, input_type_ids).numpy()
    per_replica = input_ids.shape[0] // self.strategy.num_replicas_in_sync

    def replica_inputs(context):
      start = context.replica_id_in_sync_group * per_replica
      return tuple(tf.constant(a[start:start + per_replica])
                   for a in (input_ids, input_mask, input_type_ids))

    inputs = self.strategy.experimental_distribute_values_from_function(replica_inputs)
    results = self._distributed(*inputs)
    return np.concatenate([r.numpy() for r in
                           self.strategy.experimental_local_results(results)], axis=0)


def extract_in_input_order(extractor, examples, tokenizer, max_seq_length, batch_size):
  """Yields (InputFeatures, values) for every example, in input order.

  Within each window of `_SORT_WINDOW_BATCHES` batches examples are batched by
  length, so that little compute goes to padding.
  """
  window = batch_size * _SORT_WINDOW_BATCHES
  for start in range(0, len(examples), window):
    features = convert_examples_to_features(examples[start:start + window],
                                            max_seq_length, tokenizer)
    order = sorted(range(len(features)), key=lambda i: len(features[i].tokens))
    values = [None] * len(features)
    for b in range(0, len(order), batch_size):
      rows = order[b:b + batch_size]
      for i, value in zip(rows, extractor([features[i] for i in rows])):
        values[i] = value
    yield from zip(features, values)


def format_example(feature, values, layer_indexes, pooling="none"):
  """The JSON line (without newline) of one example, key order as the reference.

  Args:
    feature: InputFeatures.
    values: float32 array [K, num_tokens, H] (pooling "none") or [K, H].
    layer_indexes: the K layer indexes, in output order.
    pooling: "none", "cls" or "mean".
  """
  values = values.tolist()   # Python floats hold float32 values exactly
  if pooling != "none":
    pooled = [{"index": index, "values": [round(x, 6) for x in values[k]]}
              for k, index in enumerate(layer_indexes)]
    return json.dumps({"linex_index": feature.unique_id, "pooled": pooled})
  token_features = []
  for i, token in enumerate(feature.tokens):
    layers = [{"index": index, "values": [round(x, 6) for x in values[k][i]]}
              for k, index in enumerate(layer_indexes)]
    token_features.append({"token": token, "layers": layers})
  return json.dumps({"linex_index": feature.unique_id, "features": token_features})


def build_model(bert_config, init_checkpoint, compute_dtype="float32", strategy=None,
                config_flag="the model's bert_config"):
  """Creates a BertModel and loads `init_checkpoint` into it.

  Args:
    config_flag: how messages name the config, e.g. "--bert_config_file=x.json".

  Raises:
    errors.CheckpointError: a shape mismatch, encoder layers or weights that
      differ from the checkpoint's (the features would come from random
      weights), or damaged checkpoint files.
  """
  with strategy.scope() if strategy is not None else contextlib.nullcontext():
    model = modeling.BertModel(bert_config, compute_dtype=compute_dtype)
  # The pooler is never used here; every other variable feeds the features.
  report = checkpoint_utils.load_variables(model.variables_by_name(), init_checkpoint,
                                           config_flag=config_flag,
                                           optional=("bert/pooler/",))
  for line in report.log_lines():
    logging.info(line)
  return model


def run(config):
  """Extracts features for every line of config.input_file into config.output_file.

  The output is written to `<output_file>.tmp-<pid>` and renamed at the end,
  so a failure leaves no partial file.

  Returns:
    int, the number of lines written.
  """
  bert_config, layer_indexes = validate(config)
  examples = read_examples(config.input_file)
  pair = next((e for e in examples if e.text_b is not None), None)
  if pair is not None:
    modeling.check_sentence_pairs(
        bert_config, f"--input_file={config.input_file}: line {pair.unique_id + 1} and "
        "the other lines with ' ||| '")
  tokenizer = tokenization.FullTokenizer(config.vocab_file, config.do_lower_case)
  tokenization.require_tokens(tokenizer.vocab, config.vocab_file)
  modeling.check_vocab_size(bert_config, tokenizer.vocab, config.vocab_file)
  warning = tokenization.case_mismatch_warning(config.do_lower_case, tokenizer.vocab,
                                               config.vocab_file)
  if warning:
    logging.warning("%s", warning)
  # The TPU at --master (one answer within 30 s, or one line saying what to pass).
  strategy = (distribution.make_strategy(use_tpu=True, master=config.master, tpu_flag="master")
              if config.use_tpu else None)
  model = build_model(bert_config, config.init_checkpoint, config.compute_dtype, strategy,
                      f"--bert_config_file={config.bert_config_file}")
  # Fixed shapes on TPU: XLA compiles one program per shape.
  extractor = FeatureExtractor(model, layer_indexes, config.pooling, strategy,
                               pad_to=config.max_seq_length if strategy else None)
  logging.info("Extracting layers %s of %d examples from %s", layer_indexes,
               len(examples), config.input_file)
  outputs = extract_in_input_order(extractor, examples, tokenizer,
                                   config.max_seq_length, config.batch_size)
  lines = (format_example(feature, values, layer_indexes, config.pooling) + "\n"
           for feature, values in outputs)
  count = write_atomically(config.output_file, lines)
  logging.info("Wrote %d lines to %s", count, config.output_file)
  return count


def write_atomically(path, lines):
  """Writes `lines` to `path` via a temporary file; returns how many were written."""
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  count = 0
  with atomic_files.atomic_writer(path) as writer:
    for line in lines:
      writer.write(line)
      count += 1
  return count


def main(_):
  config = ExtractConfig(
      input_file=FLAGS.input_file, output_file=FLAGS.output_file,
      bert_config_file=FLAGS.bert_config_file, init_checkpoint=FLAGS.init_checkpoint,
      vocab_file=FLAGS.vocab_file, layers=FLAGS.layers,
      max_seq_length=FLAGS.max_seq_length, do_lower_case=FLAGS.do_lower_case,
      batch_size=FLAGS.batch_size, pooling=FLAGS.pooling,
      compute_dtype=FLAGS.compute_dtype, use_tpu=FLAGS.use_tpu, master=FLAGS.master)
  run(config)


def console_main():
  """The `bert-extract-features` command: the flags of `python extract_features.py`."""
  define_flags()
  errors.run_program(main)


if __name__ == "__main__":
  console_main()
