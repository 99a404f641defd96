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
cost docs/SERVING.md states). Loading the model
needs TensorFlow and `import tensorflow_text` (its WordPiece op), not this code.
The export is written to a temporary folder beside the target and renamed at
the end: a failed export leaves no version folder behind.
"""

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging

import cli
import serving
import serving_encoder

FLAGS = flags.FLAGS


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
  flags.DEFINE_bool("tflite", False, f"Also write {serving.TFLITE_FILE} (the serve_ids "
                    "signature) into the version folder.", flag_values=f)
  flags.DEFINE_enum("serving_dtype", "float32", list(serving_encoder.SERVING_DTYPES),
                    "Classifier encoder dtype: float32 (the trained model's values) or "
                    "bfloat16 (faster on CPUs with AVX-512 BF16 or AMX; LayerNorm and "
                    "softmax stay float32; docs/SERVING.md states its accuracy).",
                    flag_values=f)


def run(f):
  """Exports as the parsed flags `f` say; returns the version folder."""
  if f.export_dir:
    cli.require_creatable_dir(f.export_dir, "export_dir")
  return serving.export(f.model_dir, f.export_dir, f.export_version, f.init_checkpoint,
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
