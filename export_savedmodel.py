"""Export a fine-tuned run_classifier.py, run_ner.py or run_squad.py output folder for TF Serving.

  python export_savedmodel.py --model_dir=$OUT --export_dir=$OUT/export --tflite

writes $OUT/export/<version>/ (saved_model.pb, variables/, assets/vocab.txt and,
with --tflite, model.tflite), the layout TF Serving watches: it serves the
highest version number. Vocabulary, casing, labels and max_seq_length come from
the folder's run_info.json; the weights from its newest checkpoint.

Classifier signatures (batch size free; run_ner.py and run_squad.py models get
theirs from serving.py: tags per word, answer spans):
  serving_default  text_a: string [batch]              -> outputs
  serve_text_pair  text_a, text_b: string [batch]      -> outputs (text_b "" = single text)
  serve_ids        input_ids, input_mask, segment_ids: int32 [batch, seq] -> outputs
  tokenize         text_a, text_b -> input_ids, input_mask, segment_ids int32
                   [batch, max_seq_length], exactly as run_classifier.py builds them
outputs: probabilities float32 [batch, num_labels], label_ids int32 [batch],
labels string [batch] (regression tasks: scores float32 [batch]).

Text is tokenized inside the graph, with the same pieces as tokenization.py
(see graph_tokenization.py), so clients send raw UTF-8 text. The classifier's
encoder runs only on the real tokens of a batch, with its weights laid out for
inference once, here (serving_encoder.py); `--serving_dtype=bfloat16` runs its
matmuls in bfloat16 (faster on CPUs with AVX-512 BF16 or AMX, at the accuracy
cost the README states). Loading the model
needs TensorFlow and `import tensorflow_text` (its WordPiece op), not this code.
The export is written to a temporary folder beside the target and renamed at
the end: a failed export leaves no version folder behind.
"""

import os
import tempfile

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import tensorflow as tf

import checkpoint_utils
import cli
import errors
import graph_tokenization
import modeling
import run_info
import serving
import serving_encoder

FLAGS = flags.FLAGS

TFLITE_FILE = "model.tflite"
VOCAB_ASSET = "vocab.txt"


def define_flags(flag_values=FLAGS):
  """Defines the command-line flags on `flag_values` (only when run as a script, or in tests)."""
  f = flag_values
  flags.DEFINE_string("model_dir", None, "Output folder of a run_classifier.py, run_ner.py "
                      "or run_squad.py training run (holds run_info.json and checkpoints).",
                      flag_values=f)
  flags.DEFINE_string("export_dir", None, "Where the numbered version folders go "
                      "(TF Serving's --model_base_path).", flag_values=f)
  flags.DEFINE_integer("export_version", None, "Version folder name (default: one "
                       "above the highest version in --export_dir, 1 if none).",
                       flag_values=f)
  flags.DEFINE_string("init_checkpoint", None, "Checkpoint to export (default: the "
                      "newest in --model_dir).", flag_values=f)
  flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the one in run_info.json; "
                      "give it when the training machine's path is gone).", flag_values=f)
  flags.DEFINE_bool("tflite", False, f"Also write {TFLITE_FILE} (the serve_ids "
                    "signature) into the version folder.", flag_values=f)
  flags.DEFINE_enum("serving_dtype", "float32", list(serving_encoder.SERVING_DTYPES),
                    "Classifier encoder dtype: float32 (the trained model's values) or "
                    "bfloat16 (faster on CPUs with AVX-512 BF16 or AMX; LayerNorm and "
                    "softmax stay float32; see the README for its accuracy).",
                    flag_values=f)


# ------------------------------------------------------------ writing


def next_version(export_dir):
  """One above the highest integer-named folder in export_dir (1 if none)."""
  if not tf.io.gfile.isdir(export_dir):
    return 1
  versions = [int(name.rstrip("/")) for name in tf.io.gfile.listdir(export_dir)
              if name.rstrip("/").isdigit()]
  return max(versions, default=0) + 1


def convert_tflite(saved_model_dir, path):
  """Writes the serve_ids signature of a SavedModel as a TFLite flatbuffer."""
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                       signature_keys=["serve_ids"])
  try:
    flatbuffer = converter.convert()
  except Exception as e:  # pylint: disable=broad-except
    # The converter's own errors (ConverterError...) carry pages of MLIR.
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise errors.UserError(f"--tflite: the TFLite converter failed ({first_line}); "
                           "export without --tflite.") from e
  with tf.io.gfile.GFile(path, "wb") as writer:
    writer.write(flatbuffer)


def write_export(server, target, tflite):
  """Saves `server` into `target` through a temporary sibling folder renamed at the end."""
  tmp = run_info.temporary_path(target)
  try:
    tf.saved_model.save(server, tmp, signatures=server.signatures())
    if tflite:
      convert_tflite(tmp, os.path.join(tmp, TFLITE_FILE))
    if tf.io.gfile.exists(target):
      raise errors.UserError(f"{target} appeared during the export; nothing was replaced.")
    tf.io.gfile.rename(tmp, target)
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)


def export(model_dir, export_dir, export_version=None, init_checkpoint=None,
           vocab_file=None, tflite=False, serving_dtype="float32"):
  """Exports a fine-tuning output folder; returns the version folder written.

  Args:
    model_dir: str, the training run's --output_dir.
    export_dir: str, parent of the numbered version folders.
    export_version: int or None (one above the highest present).
    init_checkpoint: str or None, the checkpoint (default: newest in model_dir).
    vocab_file: str or None, overrides run_info.json's vocab_file.
    tflite: bool, also write model.tflite.
    serving_dtype: "float32" or "bfloat16", the classifier encoder's dtype.

  Raises:
    errors.UserError (and checkpoint/config errors): nothing is written then.
  """
  if not export_dir:
    raise errors.UserError("--export_dir is required.")
  if export_version is not None and export_version < 0:
    raise errors.UserError(f"--export_version={export_version} must be a non-negative "
                           "integer.")
  info = run_info.read_run_info(model_dir)
  checkpoint = checkpoint_utils.resolve_checkpoint(
      init_checkpoint or model_dir, "init_checkpoint" if init_checkpoint else "model_dir")
  vocab_file = vocab_file or info["vocab_file"]
  if not tf.io.gfile.exists(vocab_file):
    source = "--vocab_file" if vocab_file != info["vocab_file"] else (
        f"{run_info.RUN_INFO_FILE}'s vocab_file")
    raise errors.UserError(f"{source}={vocab_file}: file not found; pass --vocab_file.")
  version = next_version(export_dir) if export_version is None else export_version
  target = os.path.join(export_dir, str(version))
  if tf.io.gfile.exists(target):
    raise errors.UserError(f"{target} exists already; TF Serving versions are never "
                           "overwritten: give another --export_version.")
  modeling.check_sequence_length(info["bert_config"], info["max_seq_length"])
  with tempfile.TemporaryDirectory() as scratch:
    vocab_copy = os.path.join(scratch, VOCAB_ASSET)
    try:
      vocab = graph_tokenization.write_vocab_asset(vocab_file, vocab_copy)
    except (ValueError, FileNotFoundError) as e:
      raise errors.UserError(str(e)) from None
    if len(vocab) != info["bert_config"].vocab_size:
      raise errors.UserError(
          f"vocab file {vocab_file} has {len(vocab)} tokens but the model's "
          f"vocab_size is {info['bert_config'].vocab_size}; pass the model's --vocab_file.")
    task = serving.load_task(info, checkpoint)
    tokenizer = graph_tokenization.GraphTokenizer(vocab_copy, info["do_lower_case"],
                                                  info["max_seq_length"])
    server = serving.make_server(info, task, tokenizer, serving_dtype)
    tf.io.gfile.makedirs(export_dir)
    write_export(server, target, tflite)
  logging.info("Wrote %s", target)
  return target


def run(f):
  """Exports as the parsed flags `f` say; returns the version folder."""
  return export(f.model_dir, f.export_dir, f.export_version, f.init_checkpoint,
                f.vocab_file, f.tflite, f.serving_dtype)


def main(_):
  logging.set_verbosity(logging.INFO)
  print(run(FLAGS))


def console_main():
  """The `bert-export-savedmodel` command: the flags of `python export_savedmodel.py`."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
