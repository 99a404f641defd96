r"""Converts BERT weights between Hugging Face safetensors and the official TF layout.

hf_to_tf reads a Hugging Face BERT folder (`model.safetensors` or shards with
`model.safetensors.index.json`, `config.json`, `vocab.txt`) and writes what the
reference's downloads hold: `bert_model.ckpt` (a name-based TF checkpoint),
`bert_config.json` and `vocab.txt`. tf_to_hf does the reverse. Linear weights
are transposed ([out, in] in PyTorch, [in, out] kernels in TF); nothing else
changes, so a round trip reproduces every float32 tensor bit for bit.

Examples:
  python convert_checkpoint.py --direction=hf_to_tf \
      --input=/models/all-MiniLM-L6-v2 --output_dir=/models/minilm_tf
  python convert_checkpoint.py --direction=tf_to_hf \
      --input=/models/minilm_tf/bert_model.ckpt --output_dir=/models/minilm_hf

Safety: weights are read from safetensors (which holds no code; parsed by the
`safetensors` package) and TF checkpoints only; pickled `pytorch_model.bin`
files are never loaded. The shard paths of a sharded model's index must stay
inside the model folder.
"""

import dataclasses
import glob
import json
import os
import re
import shutil
import uuid

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np

import atomic_files
import checkpoint_utils
import cli
import data_files
import errors
import modeling
import safetensors_io

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_enum("direction", None, ["hf_to_tf", "tf_to_hf"],
                    "hf_to_tf: Hugging Face safetensors -> bert_model.ckpt; "
                    "tf_to_hf: the reverse.")
  flags.DEFINE_string("input", None,
                      "hf_to_tf: a Hugging Face model folder or its model.safetensors. "
                      "tf_to_hf: a checkpoint prefix (.../bert_model.ckpt) or a folder.")
  flags.DEFINE_string("output_dir", None, "Folder for the converted files (created if needed).")
  flags.DEFINE_string("bert_config_file", None,
                      "tf_to_hf only: the model's bert_config.json (default: the one "
                      "next to the checkpoint).")
  flags.DEFINE_bool("prefix_bert", None,
                    "tf_to_hf only: name encoder weights `bert.embeddings...` as "
                    "BertForPreTraining does. Default: True when the checkpoint has "
                    "MLM/NSP heads, else False (BertModel names).")
  flags.DEFINE_bool("overwrite", False, "Replace converted files already in --output_dir.")


HF_WEIGHTS = "model.safetensors"
HF_INDEX = "model.safetensors.index.json"
HF_CONFIG = "config.json"
TF_PREFIX = "bert_model.ckpt"
TF_CONFIG = "bert_config.json"
VOCAB = "vocab.txt"

_BERT_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "intermediate_size", "hidden_act", "hidden_dropout_prob",
              "attention_probs_dropout_prob", "max_position_embeddings",
              "type_vocab_size", "initializer_range")
# Hugging Face activation names that are the same function as one of ours.
_HF_ACTIVATION_ALIASES = {"gelu_pytorch_tanh": "gelu_new", "gelu_python": "gelu"}
# Buffers some Hugging Face exports hold; they are not weights.
_HF_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
_HF_DECODER_WEIGHT = "cls.predictions.decoder.weight"   # tied to word embeddings
_HF_DECODER_BIAS = "cls.predictions.decoder.bias"       # tied to cls.predictions.bias
_HF_OUTPUT_BIAS = "cls.predictions.bias"
_OPTIMIZER_STATE = re.compile(
    r"^(global_step|beta[12]_power)$|/(adam_m|adam_v|Adam|Adam_1|Momentum)$")
# TF scopes whose every variable must be known; others are fine-tuning heads.
_TF_MODEL_SCOPES = ("bert/", "cls/predictions/", "cls/seq_relationship/")
_HEAD_NAMES = {"mlm": "masked LM (cls/predictions)",
               "nsp": "next sentence (cls/seq_relationship)"}


# The fix for a damaged, truncated or tampered download.
_REDOWNLOAD = "re-download the model"
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Weight:
  """One BERT tensor under both names."""
  tf_name: str        # official checkpoint name, e.g. bert/pooler/dense/kernel
  hf_name: str        # Hugging Face name without the `bert.` prefix
  shape: tuple        # TF shape; the HF shape is reversed when `transpose`
  transpose: bool     # Linear weight: HF [out, in] vs TF kernel [in, out]
  group: str          # "encoder", "pooler", "mlm" or "nsp"

  @property
  def hf_shape(self):
    return tuple(reversed(self.shape)) if self.transpose else self.shape


@dataclasses.dataclass
class ConversionSummary:
  """What a conversion did; also logged."""
  converted: int                                # tensors written
  heads: list                                   # "mlm" and/or "nsp"
  skipped: list = dataclasses.field(default_factory=list)  # "name (reason)"
  files: list = dataclasses.field(default_factory=list)    # paths written


def weight_map(config):
  """Lists every tensor of BertModel + PretrainingHeads with both names.

  Args:
    config: modeling.BertConfig.

  Returns:
    list of Weight in a stable order.
  """
  h, i = config.hidden_size, config.intermediate_size
  weights = []

  def dense(group, tf_scope, hf_scope, in_dim, out_dim):
    weights.append(Weight(f"{tf_scope}/kernel", f"{hf_scope}.weight", (in_dim, out_dim),
                          True, group))
    weights.append(Weight(f"{tf_scope}/bias", f"{hf_scope}.bias", (out_dim,), False, group))

  def layer_norm(group, tf_scope, hf_scope):
    weights.append(Weight(f"{tf_scope}/gamma", f"{hf_scope}.weight", (h,), False, group))
    weights.append(Weight(f"{tf_scope}/beta", f"{hf_scope}.bias", (h,), False, group))

  for table, rows in (("word_embeddings", config.vocab_size),
                      ("token_type_embeddings", config.type_vocab_size),
                      ("position_embeddings", config.max_position_embeddings)):
    weights.append(Weight(f"bert/embeddings/{table}", f"embeddings.{table}.weight",
                          (rows, h), False, "encoder"))
  layer_norm("encoder", "bert/embeddings/LayerNorm", "embeddings.LayerNorm")
  for n in range(config.num_hidden_layers):
    tf_layer, hf_layer = f"bert/encoder/layer_{n}", f"encoder.layer.{n}"
    for part in ("query", "key", "value"):
      dense("encoder", f"{tf_layer}/attention/self/{part}",
            f"{hf_layer}.attention.self.{part}", h, h)
    dense("encoder", f"{tf_layer}/attention/output/dense",
          f"{hf_layer}.attention.output.dense", h, h)
    layer_norm("encoder", f"{tf_layer}/attention/output/LayerNorm",
               f"{hf_layer}.attention.output.LayerNorm")
    dense("encoder", f"{tf_layer}/intermediate/dense", f"{hf_layer}.intermediate.dense", h, i)
    dense("encoder", f"{tf_layer}/output/dense", f"{hf_layer}.output.dense", i, h)
    layer_norm("encoder", f"{tf_layer}/output/LayerNorm", f"{hf_layer}.output.LayerNorm")
  dense("pooler", "bert/pooler/dense", "pooler.dense", h, h)
  dense("mlm", "cls/predictions/transform/dense", "cls.predictions.transform.dense", h, h)
  layer_norm("mlm", "cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm")
  weights.append(Weight("cls/predictions/output_bias", _HF_OUTPUT_BIAS,
                        (config.vocab_size,), False, "mlm"))
  # [2, H] in both layouts: official checkpoints store it untransposed.
  weights.append(Weight("cls/seq_relationship/output_weights", "cls.seq_relationship.weight",
                        (2, h), False, "nsp"))
  weights.append(Weight("cls/seq_relationship/output_bias", "cls.seq_relationship.bias",
                        (2,), False, "nsp"))
  return weights


# --------------------------------------------------------------------------
# Configs.

def bert_config_from_hf(hf_config, source):
  """Builds a BertConfig from a Hugging Face BertConfig dict.

  Args:
    hf_config: dict read from config.json.
    source: path used in error messages.

  Returns:
    modeling.BertConfig holding only the keys of a bert_config.json.

  Raises:
    errors.UserError: not a BERT the official layout can hold.
  """
  model_type = hf_config.get("model_type", "bert")
  if model_type != "bert":
    raise errors.UserError(f"{source}: model_type={model_type!r}; only BERT "
                           "(model_type \"bert\") converts to the official layout.")
  position_type = hf_config.get("position_embedding_type", "absolute")
  if position_type != "absolute":
    raise errors.UserError(
        f"{source}: position_embedding_type={position_type!r}; the official BERT "
        "layout has absolute position embeddings only.")
  eps = hf_config.get("layer_norm_eps", modeling.LAYER_NORM_EPSILON)
  if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
    raise errors.UserError(f"{source}: layer_norm_eps={eps!r} must be a positive number.")
  if eps != modeling.LAYER_NORM_EPSILON:
    logging.warning("%s: layer_norm_eps=%g, but this toolkit's LayerNorm uses eps "
                    "%g (google-research/bert's); outputs will differ slightly.",
                    source, eps, modeling.LAYER_NORM_EPSILON)
  values = {k: hf_config[k] for k in _BERT_KEYS if k in hf_config}
  act = values.get("hidden_act", "gelu")
  values["hidden_act"] = _HF_ACTIVATION_ALIASES.get(act, act) if isinstance(act, str) else act
  if not isinstance(act, str) or values["hidden_act"] not in modeling.ACTIVATIONS:
    raise errors.UserError(f"{source}: hidden_act={act!r} has no equivalent here; "
                           f"supported: {', '.join(sorted(modeling.ACTIVATIONS))}.")
  dropped = sorted(set(hf_config) - set(_BERT_KEYS) -
                   {"model_type", "position_embedding_type", "layer_norm_eps"})
  if dropped:
    logging.info("Hugging Face-only config keys not written to %s: %s",
                 TF_CONFIG, ", ".join(dropped))
  return modeling.BertConfig.from_dict(values, source=source)


def hf_config_from_bert(config, architectures):
  """The Hugging Face config.json dict for a BertConfig."""
  hf_config = {"architectures": list(architectures), "model_type": "bert"}
  hf_config.update({k: getattr(config, k) for k in _BERT_KEYS})
  if config.hidden_act == "gelu_tanh":
    hf_config["hidden_act"] = "gelu_new"   # the same function under its HF name
  hf_config.update({"layer_norm_eps": modeling.LAYER_NORM_EPSILON, "pad_token_id": 0,
                    "position_embedding_type": "absolute"})
  return hf_config


def _read_json(path, flag):
  """The JSON object in `path` (config.json, the shard index) as a dict."""
  try:
    with open(path, encoding="utf-8-sig") as f:   # a byte-order mark is dropped
      text = f.read()
  except UnicodeDecodeError as e:
    raise errors.UserError(f"{flag}: {path} is not valid UTF-8 JSON ({e}); "
                           f"{_REDOWNLOAD}.") from None
  value = data_files.parse_json(text, f"{flag}: {path}", " Re-download the model.")
  if not isinstance(value, dict):
    raise errors.UserError(f"{flag}: {path} holds a JSON {_JSON_TYPES[type(value)]}, "
                           f"expected an object; {_REDOWNLOAD}.")
  return value


def _vocab_to_copy(model_dir, output_dir):
  """vocab.txt of the input folder (local or gs://), or None if absent or already the output's."""
  vocab = os.path.join(model_dir, VOCAB)
  destination = os.path.join(output_dir, VOCAB)
  gfile = atomic_files.gfile()
  if not gfile.exists(vocab) or gfile.isdir(vocab):
    return None
  if (not atomic_files.is_remote(vocab) and os.path.exists(destination)
      and os.path.samefile(vocab, destination)):
    return None   # converting in place: the vocabulary is already there
  return vocab


def _check_vocab(vocab, model_dir, output_dir, config, needed_by):
  """Warns about the vocab.txt the output folder ends up with.

  Not fatal when its size and vocab_size disagree: some vocabularies are padded.

  Args:
    vocab: the input's vocab.txt being copied (_vocab_to_copy), or None.
    model_dir: the input folder.
    output_dir: the output folder.
    config: the model's BertConfig.
    needed_by: what needs the output's vocab.txt, for the warning when there is none.
  """
  path, note = vocab, ""
  if not vocab:
    path, note = os.path.join(output_dir, VOCAB), f" (kept from before: {model_dir} has none)"
    if not os.path.isfile(path):
      logging.warning("%s has no %s: %s gets none; %s needs the model's WordPiece "
                      "vocab.txt.", model_dir, VOCAB, output_dir, needed_by)
      return
  with atomic_files.gfile().GFile(path, "rb") as f:
    lines = len(f.read().splitlines())
  if lines != config.vocab_size:
    logging.warning("%s%s has %d lines but vocab_size=%d.", path, note, lines,
                    config.vocab_size)


# --------------------------------------------------------------------------
# Tensor mapping.

def _canonical_hf_name(name):
  """Drops `bert.` and maps the old LayerNorm names gamma/beta to weight/bias."""
  if name.startswith("bert."):
    name = name[len("bert."):]
  return re.sub(r"(LayerNorm)\.(gamma|beta)$",
                lambda m: m.group(1) + (".weight" if m.group(2) == "gamma" else ".bias"), name)


def _as_float32(name, value, source):
  """Widens float16/bfloat16 (exact) or narrows float64; other dtypes are an error."""
  if value.dtype == np.float32:
    return value
  if value.dtype.kind == "f" or value.dtype.name == "bfloat16":
    return value.astype(np.float32)
  raise errors.UserError(f"{source}: tensor {name} has dtype {value.dtype}; "
                         "BERT weights are floating point.")


def _check_complete(source, present, required_names, found):
  """Raises when a tensor of the encoder, or of a head that is present, is missing.

  The pooler is optional (BertForMaskedLM has none): its absence is a warning.
  """
  missing = [n for n in required_names if n not in found]
  if missing:
    raise errors.UserError(
        f"{source}: {len(missing)} BERT tensors are missing, e.g. "
        f"{', '.join(missing[:4])}; the weights are incomplete or the config "
        "(num_hidden_layers, ...) belongs to another model.")
  if "pooler" not in present:
    logging.warning("%s: no pooler weights; bert/pooler/dense is initialised fresh "
                    "when the model is loaded.", source)


def _match_hf_names(hf_tensors, by_hf, source, skipped):
  """{canonical HF name: stored name}; raises on names this converter does not know."""
  matched, unknown = {}, []
  for name in sorted(hf_tensors):
    key = _canonical_hf_name(name)
    if key in _HF_BUFFERS:
      skipped.append(f"{name} (buffer, not a weight)")
    elif key in (_HF_DECODER_WEIGHT, _HF_DECODER_BIAS):
      continue   # tied; handled by the caller
    elif key not in by_hf:
      unknown.append(name)
    elif key in matched:
      raise errors.UserError(f"{source}: {matched[key]} and {name} are the same "
                             "weight; keep one of them.")
    else:
      matched[key] = name
  if unknown:
    more = f" and {len(unknown) - 12} more" if len(unknown) > 12 else ""
    raise errors.UserError(
        f"{source}: {len(unknown)} tensors are not BERT weights this converter knows: "
        f"{', '.join(unknown[:12])}{more}. It converts BertModel, BertForPreTraining "
        "and BertForMaskedLM weights (e.g. embeddings.word_embeddings.weight, "
        "optionally prefixed bert.); task heads such as classifier.* are not converted.")
  return matched


def _resolve_tied(hf_tensors, matched, skipped):
  """Handles the MLM decoder's tied weight and bias (kept once in the TF layout)."""
  names = {_canonical_hf_name(n): n for n in hf_tensors}
  bias = names.get(_HF_DECODER_BIAS)
  if bias is not None and _HF_OUTPUT_BIAS not in matched:
    matched[_HF_OUTPUT_BIAS] = bias
  elif bias is not None:
    if not np.array_equal(hf_tensors[bias], hf_tensors[matched[_HF_OUTPUT_BIAS]]):
      logging.warning("%s differs from %s; using the latter as cls/predictions/output_bias.",
                      bias, matched[_HF_OUTPUT_BIAS])
    skipped.append(f"{bias} (tied to {matched[_HF_OUTPUT_BIAS]})")
  decoder = names.get(_HF_DECODER_WEIGHT)
  if decoder is not None:
    embeddings = hf_tensors[matched["embeddings.word_embeddings.weight"]]
    if not np.array_equal(np.asarray(hf_tensors[decoder], np.float32),
                          np.asarray(embeddings, np.float32)):
      logging.warning("%s differs from the word embeddings; the official layout ties "
                      "them, so the MLM head will use the word embeddings.", decoder)
    skipped.append(f"{decoder} (tied to the word embeddings)")


def hf_tensors_to_tf(hf_tensors, config, source="--input"):
  """Maps Hugging Face BERT tensors to the official TF names.

  Args:
    hf_tensors: dict {HF name: np.ndarray}, with or without `bert.` prefix.
    config: modeling.BertConfig the tensors must fit.
    source: names the input in error messages.

  Returns:
    (dict {official name: float32 np.ndarray}, ConversionSummary).

  Raises:
    errors.UserError: unknown names, missing tensors or a shape that does not fit.
  """
  weights = weight_map(config)
  by_hf = {w.hf_name: w for w in weights}
  skipped = []
  matched = _match_hf_names(hf_tensors, by_hf, source, skipped)
  if "embeddings.word_embeddings.weight" in matched:
    _resolve_tied(hf_tensors, matched, skipped)
  present = {by_hf[k].group for k in matched}
  _check_complete(source, present, [w.hf_name for w in weights
                                    if w.group == "encoder" or w.group in present], matched)
  tf_tensors = {}
  for key, name in sorted(matched.items()):
    weight, value = by_hf[key], hf_tensors[name]
    if tuple(value.shape) != weight.hf_shape:
      raise errors.UserError(
          f"{source}: tensor {name} has shape {list(value.shape)}, expected "
          f"{list(weight.hf_shape)} from the config; check that config.json "
          "belongs to these weights.")
    value = _as_float32(name, value, source)
    tf_tensors[weight.tf_name] = np.ascontiguousarray(value.T) if weight.transpose else value
  heads = [g for g in ("mlm", "nsp") if g in present]
  return tf_tensors, ConversionSummary(len(tf_tensors), heads, skipped)


def tf_tensors_to_hf(tf_tensors, config, prefix_bert=None, source="--input"):
  """Maps official TF BERT tensors to Hugging Face names.

  Args:
    tf_tensors: dict {official name: np.ndarray} as read from a checkpoint.
    config: modeling.BertConfig the tensors must fit.
    prefix_bert: name encoder weights `bert.*` (BertForPreTraining); None
      means True when MLM/NSP heads are present.
    source: names the input in error messages.

  Returns:
    (dict {HF name: float32 np.ndarray}, ConversionSummary).

  Raises:
    errors.UserError: unknown BERT names, missing tensors or a shape mismatch.
  """
  weights = weight_map(config)
  by_tf = {w.tf_name: w for w in weights}
  skipped, unknown = [], []
  for name in sorted(set(tf_tensors) - set(by_tf)):
    if _OPTIMIZER_STATE.search(name):
      skipped.append(f"{name} (optimizer state)")
    elif name.startswith(_TF_MODEL_SCOPES):
      unknown.append(name)
    else:
      skipped.append(f"{name} (not in Hugging Face BertForPreTraining)")
  if unknown:
    raise errors.UserError(
        f"{source}: {len(unknown)} checkpoint entries are not official BERT names: "
        f"{', '.join(unknown[:12])}; is --bert_config_file the model's config?")
  present = {by_tf[n].group for n in tf_tensors if n in by_tf}
  _check_complete(source, present, [w.tf_name for w in weights
                                    if w.group == "encoder" or w.group in present], tf_tensors)
  heads = [g for g in ("mlm", "nsp") if g in present]
  if prefix_bert is None:
    prefix_bert = bool(heads)
  hf_tensors = {}
  for weight in weights:
    if weight.tf_name not in tf_tensors:
      continue
    value = np.asarray(tf_tensors[weight.tf_name])
    if tuple(value.shape) != weight.shape:
      raise errors.UserError(
          f"{source}: {weight.tf_name} has shape {list(value.shape)} but the config "
          f"implies {list(weight.shape)}; check --bert_config_file.")
    value = _as_float32(weight.tf_name, value, source)
    prefix = "bert." if prefix_bert and weight.group in ("encoder", "pooler") else ""
    hf_tensors[prefix + weight.hf_name] = (np.ascontiguousarray(value.T)
                                           if weight.transpose else value)
  if "mlm" in heads:
    # BertForPreTraining ties decoder.bias to cls.predictions.bias; writing both
    # lets every transformers version load the file.
    hf_tensors[_HF_DECODER_BIAS] = hf_tensors[_HF_OUTPUT_BIAS].copy()
  return hf_tensors, ConversionSummary(len(hf_tensors), heads, skipped)


# --------------------------------------------------------------------------
# Files.

def _check_outputs(output_dir, names, overwrite):
  """Refuses to replace existing outputs unless `overwrite`."""
  cli.require_creatable_dir(output_dir, "output_dir")
  for name in names:   # found only after the old files were replaced, before
    if os.path.isdir(os.path.join(output_dir, name)):
      raise errors.directory_in_the_way(os.path.join(output_dir, name))
  existing = [n for n in names if os.path.exists(os.path.join(output_dir, n))]
  if existing and not overwrite:
    raise errors.UserError(
        f"--output_dir={output_dir} already holds {', '.join(existing)}; pass "
        "--overwrite to replace them or choose another --output_dir.")


def _install(output_dir, write_files, last=(), stale=()):
  """Writes all outputs into a staging folder, then moves them into output_dir.

  Nothing appears in output_dir unless every file was written: a new
  output_dir is the staging folder renamed; in an existing one the files are
  moved in by atomic_files.move_folder_in: the names in `last` (a checkpoint's
  `.index`, which marks it complete) are retired first and moved last, and the
  files in `stale` that were not rewritten are removed.

  Returns:
    The paths written.
  """
  output_dir = os.path.abspath(output_dir)
  exists = os.path.isdir(output_dir)
  parent = output_dir if exists else os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  staging = os.path.join(parent, f".convert-{uuid.uuid4().hex}")
  os.mkdir(staging)
  try:
    write_files(staging)
    if exists:
      names = atomic_files.move_folder_in(staging, output_dir, last=last, stale=stale)
    else:
      names = sorted(os.listdir(staging), key=lambda n: (n in last, n))
      os.rename(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return [os.path.join(output_dir, n) for n in names]


def _log_summary(summary, direction):
  logging.info("%s: converted %d tensors; heads: %s.", direction, summary.converted,
               ", ".join(_HEAD_NAMES[h] for h in summary.heads) or "none")
  slots = [s for s in summary.skipped if s.endswith("(optimizer state)")]
  others = [s for s in summary.skipped if s not in slots]
  if slots:
    logging.info("Skipped %d optimizer entries (global_step, adam_m/adam_v, ...).", len(slots))
  if others:
    logging.info("Skipped %d entries: %s", len(others), "; ".join(others))
  for path in summary.files:
    logging.info("Wrote %s", path)


@dataclasses.dataclass
class HFWeights:
  """Where hf_to_tf reads a Hugging Face model's weights."""
  model_dir: str                # the folder holding config.json (and vocab.txt)
  paths: list                   # safetensors files; a sharded model's shards by name
  index: str = None             # model.safetensors.index.json of a sharded model
  shard_of: dict = None         # {tensor name: shard path} as the index lists them


def find_hf_weights(input_path):
  """Resolves --input for hf_to_tf.

  Args:
    input_path: a model folder, a `.safetensors` file or a
      `model.safetensors.index.json` of a sharded model.

  Returns:
    HFWeights.

  Raises:
    errors.UserError: nothing convertible there (the message says what was
      looked for), or an index whose shard paths leave the model folder.
  """
  flag = f"--input={input_path}"
  if not input_path or not os.path.exists(input_path):
    raise errors.UserError(f"{flag}: no such file or folder; give a Hugging Face "
                           f"model folder (with {HF_WEIGHTS} and {HF_CONFIG}) or its "
                           f"{HF_WEIGHTS}.")
  if os.path.isdir(input_path):
    model_dir = input_path
    if os.path.isfile(os.path.join(model_dir, HF_WEIGHTS)):
      return HFWeights(model_dir, [os.path.join(model_dir, HF_WEIGHTS)])
    index = os.path.join(model_dir, HF_INDEX)
    if not os.path.isfile(index):
      pickled = [n for n in ("pytorch_model.bin", "tf_model.h5") if
                 os.path.exists(os.path.join(model_dir, n))]
      hint = (f" ({', '.join(pickled)} is never loaded: pickled files can run code; "
              "re-save the model with save_pretrained(safe_serialization=True))"
              if pickled else "")
      raise errors.UserError(f"{flag}: the folder holds no {HF_WEIGHTS} nor {HF_INDEX}"
                             f"{hint}; point --input at a folder or file with safetensors "
                             "weights.")
  elif input_path.endswith(HF_INDEX):
    model_dir, index = os.path.dirname(input_path), input_path
  elif input_path.endswith(".safetensors"):
    return HFWeights(os.path.dirname(input_path), [input_path])
  else:
    raise errors.UserError(f"{flag}: expected a .safetensors file, {HF_INDEX} or a "
                           "Hugging Face model folder.")
  shard_of = _read_index(index, model_dir, flag)
  paths = sorted(set(shard_of.values()))
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise errors.UserError(f"{flag}: shard {missing[0]} listed in {index} does not exist.")
  return HFWeights(model_dir, paths, index, shard_of)


def _read_index(index, model_dir, flag):
  """{tensor name: shard path} from a shard index; every path inside the model folder."""
  shard_of = _read_json(index, flag).get("weight_map")
  if not isinstance(shard_of, dict) or not shard_of:
    raise errors.UserError(f"{flag}: {index} has no \"weight_map\" of tensor names to shards.")
  roots = _shard_roots(model_dir)
  return {name: _shard_path(index, model_dir, roots, name, shard, flag)
          for name, shard in shard_of.items()}


def _shard_roots(model_dir):
  """Real folders a shard may resolve into.

  The model folder and, when it is a Hugging Face hub cache snapshot
  (`models--org--name/snapshots/<revision>`), the cache's `blobs` folder next
  to it: the hub stores each shard there and links it into the snapshot.
  """
  roots = [os.path.realpath(model_dir)]
  snapshots = os.path.dirname(os.path.abspath(model_dir))
  if os.path.basename(snapshots) == "snapshots":
    roots.append(os.path.realpath(os.path.join(os.path.dirname(snapshots), "blobs")))
  return roots


def _shard_path(index, model_dir, roots, name, shard, flag):
  """The path of one index entry's shard; refuses paths that leave the model folder.

  The index is downloaded like the weights: an entry such as `../../etc/passwd`
  or a link out of the folder must not make the converter read other files.
  """
  where = f"{flag}: {index} maps tensor {name!r} to {shard!r}"
  refuse = f"the index is damaged or tampered with: {_REDOWNLOAD}."
  if not isinstance(shard, str) or not shard or "\0" in shard:
    raise errors.UserError(f"{where}, not a file name in the model folder; {refuse}")
  if (os.path.isabs(shard) or os.path.splitdrive(shard)[0] or
      os.pardir in re.split(r"[\\/]", shard)):
    raise errors.UserError(f"{where}, a path outside the model folder; shards must be "
                           f"files inside it: {refuse}")
  path = os.path.join(model_dir, os.path.normpath(shard))   # one name per file
  real = os.path.realpath(path)
  if not any(os.path.commonpath([real, root]) == root for root in roots):
    raise errors.UserError(f"{where}, a link to {real} outside the model folder; shards "
                           f"must be files inside it: {refuse}")
  return path


def load_hf_tensors(weights):
  """Reads and merges the safetensors files of `weights` (an HFWeights).

  Logs the dtypes (widening F16/BF16 to float32 later is exact). For a sharded
  model, each tensor must be in the shard the index names.

  Returns:
    dict {name: np.ndarray}.
  """
  tensors, dtypes, found_in = {}, {}, {}
  for path in weights.paths:
    for tag, _ in safetensors_io.read_header(path).values():
      dtypes[tag] = dtypes.get(tag, 0) + 1
    for name, value in safetensors_io.load_file(path).items():
      if name in tensors:
        raise errors.UserError(f"--input: tensor {name} appears in two shards, "
                               f"the second time in {path}.")
      tensors[name], found_in[name] = value, path
  if weights.index:
    _check_shard_contents(weights, found_in)
  logging.info("Read %d tensors from %s (%s).", len(tensors), ", ".join(weights.paths),
               ", ".join(f"{t}: {n}" for t, n in sorted(dtypes.items())))
  if dtypes.keys() & {"F16", "BF16", "F64"}:
    logging.info("Casting the F16/BF16/F64 weights to float32, the official dtype.")
  return tensors


def _check_shard_contents(weights, found_in):
  """The index and the shards agree on where each tensor is."""
  for name in sorted(set(weights.shard_of) | set(found_in)):
    listed, found = weights.shard_of.get(name), found_in.get(name)
    if listed != found:
      index_says = f"puts it in {listed}" if listed else "does not list it"
      raise errors.UserError(
          f"--input: {weights.index} and the shards disagree on tensor {name!r}: the "
          f"index {index_says}, but {found or 'no shard'} holds it; the shards and the "
          f"index come from different or incomplete downloads: {_REDOWNLOAD}.")


def _require_local(**paths):
  """Refuses remote paths where conversion needs local files: the output folder
  (without this a gs:// --output_dir became a local folder named `gs:`, exit 0) and
  Hugging Face weights (read as memory-mapped local files)."""
  for flag, path in paths.items():
    if path and atomic_files.is_remote(path):
      raise errors.UserError(
          f"--{flag}={path}: convert_checkpoint.py works on local files; copy the model "
          "to a local folder first (gsutil -m cp -r), and copy the converted folder to "
          "remote storage afterwards.")


def hf_to_tf(input_path, output_dir, overwrite=False):
  """Converts a Hugging Face BERT to bert_model.ckpt + bert_config.json (+ vocab.txt).

  Everything is read and checked before the first file is written.

  Args:
    input_path: model folder, `model.safetensors` or a sharded model's index;
      config.json (and vocab.txt, if any) are taken from its folder.
    output_dir: destination folder (created if needed).
    overwrite: replace outputs already in output_dir.

  Returns:
    ConversionSummary.

  Raises:
    errors.UserError, OSError.
  """
  _require_local(input=input_path, output_dir=output_dir)
  weights = find_hf_weights(input_path)
  model_dir = weights.model_dir
  config_path = os.path.join(model_dir, HF_CONFIG)
  if not os.path.isfile(config_path):
    raise errors.UserError(f"--input={input_path}: {config_path} not found; the "
                           "Hugging Face config.json must sit next to the weights.")
  config = bert_config_from_hf(_read_json(config_path, f"--input={input_path}"), config_path)
  vocab = _vocab_to_copy(model_dir, output_dir)
  index, data = TF_PREFIX + ".index", TF_PREFIX + ".data-00000-of-00001"
  checkpoint_utils.check_checkpoint_path(output_dir, "output_dir")
  _check_outputs(output_dir, [index, data, TF_CONFIG] + ([VOCAB] if vocab else []), overwrite)
  tf_tensors, summary = hf_tensors_to_tf(load_hf_tensors(weights), config, f"--input={input_path}")
  _check_vocab(vocab, model_dir, output_dir, config,
               "every program (as --vocab_file; a tokenizer.json only?)")

  def write_files(staging):
    checkpoint_utils.save_tensors(os.path.join(staging, TF_PREFIX), tf_tensors)
    config.to_json_file(os.path.join(staging, TF_CONFIG))
    if vocab:
      atomic_files.gfile().copy(vocab, os.path.join(staging, VOCAB), overwrite=True)

  stale = [os.path.basename(p) for p in glob.glob(os.path.join(
      glob.escape(output_dir), TF_PREFIX + ".data-*"))]
  summary.files = _install(output_dir, write_files, last=(index,), stale=stale)
  _log_summary(summary, "hf_to_tf")
  return summary


def tf_to_hf(input_path, output_dir, bert_config_file=None, prefix_bert=None,
             overwrite=False):
  """Converts an official-layout checkpoint to model.safetensors + config.json (+ vocab.txt).

  Optimizer state and fine-tuning heads Hugging Face's BertForPreTraining does
  not have (classifier `output_weights`, `cls/squad/*`) are skipped and logged.

  Args:
    input_path: checkpoint prefix (`.../bert_model.ckpt`) or folder.
    output_dir: destination folder (created if needed).
    bert_config_file: the model's bert_config.json; default: the one in the
      checkpoint's folder.
    prefix_bert: name encoder weights `bert.*` as BertForPreTraining does;
      None means True when MLM/NSP heads are present, else False.
    overwrite: replace outputs already in output_dir.

  Returns:
    ConversionSummary.

  Raises:
    errors.CheckpointError, errors.UserError
    (all ValueError), OSError.
  """
  _require_local(output_dir=output_dir)
  prefix = checkpoint_utils.resolve_checkpoint(input_path, flag_name="input")
  ckpt_dir = os.path.dirname(prefix)
  if not bert_config_file:
    bert_config_file = os.path.join(ckpt_dir, TF_CONFIG)
    if not atomic_files.gfile().exists(bert_config_file):
      raise errors.UserError(f"--input={input_path}: no {TF_CONFIG} next to the "
                             "checkpoint; pass --bert_config_file=<the model's "
                             f"{TF_CONFIG}>.")
  config = modeling.BertConfig.from_json_file(bert_config_file)
  vocab = _vocab_to_copy(ckpt_dir, output_dir)
  _check_outputs(output_dir, [HF_WEIGHTS, HF_CONFIG] + ([VOCAB] if vocab else []), overwrite)
  logging.info("Converting %s with %s.", prefix, bert_config_file)
  tensors = checkpoint_utils.read_checkpoint(prefix, flag_name="input")
  hf_tensors, summary = tf_tensors_to_hf(tensors, config, prefix_bert, f"--input={input_path}")
  _check_vocab(vocab, ckpt_dir, output_dir, config, "Hugging Face's BertTokenizer")
  architectures = ["BertForPreTraining"] if summary.heads else ["BertModel"]

  def write_files(staging):
    safetensors_io.save_file(hf_tensors, os.path.join(staging, HF_WEIGHTS),
                             metadata={"format": "pt"})   # transformers requires it
    with open(os.path.join(staging, HF_CONFIG), "w", encoding="utf-8") as f:
      json.dump(hf_config_from_bert(config, architectures), f, indent=2, sort_keys=True)
      f.write("\n")
    if vocab:
      atomic_files.gfile().copy(vocab, os.path.join(staging, VOCAB), overwrite=True)

  summary.files = _install(output_dir, write_files)
  _log_summary(summary, "tf_to_hf")
  return summary


def main(_):
  if FLAGS.direction == "hf_to_tf":
    for name in ("bert_config_file", "prefix_bert"):
      if FLAGS[name].value is not None:
        raise errors.UserError(f"--{name} is only used with --direction=tf_to_hf; "
                               "hf_to_tf reads the model's config.json.")
    hf_to_tf(FLAGS.input, FLAGS.output_dir, overwrite=FLAGS.overwrite)
  else:
    tf_to_hf(FLAGS.input, FLAGS.output_dir, bert_config_file=FLAGS.bert_config_file,
             prefix_bert=FLAGS.prefix_bert, overwrite=FLAGS.overwrite)


def console_main():
  """The `bert-convert-checkpoint` command: the flags of `python convert_checkpoint.py`."""
  define_flags()
  flags.mark_flags_as_required(["direction", "input", "output_dir"])
  errors.run_program(main)


if __name__ == "__main__":
  console_main()
