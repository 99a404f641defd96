"""Classify sentences with a fine-tuned run_classifier.py output folder, loading once.

  python inference.py --model_dir=$OUT --input='The movie was great.' --input='Dull.'
  echo 'first sentence ||| second sentence' | python inference.py --model_dir=$OUT

Each input is `text` or `text_a ||| text_b`. Prints one JSON line per input:
{"text": ..., "label": ..., "probabilities": {label: p, ...}} (regression tasks
print {"text": ..., "score": s}). Vocabulary, config, labels, case and sequence
length come from the folder's run_info.json; flags override them.

The model runs as the exported SavedModel does (export_savedmodel.ClassifierServer:
serving_encoder's pass on the real tokens only). With tensorflow-text installed
the text is tokenized in the graph too (the serve_text_pair signature); without
it, tokenization.py does it in Python (the same ids) and serve_ids runs.
"""

import json
import os
import re
import sys
import tempfile

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import checkpoint_utils
import classifier_data
import cli
import errors
import export_savedmodel
import graph_tokenization
import modeling
import run_info
import tasks
import tokenization

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("model_dir", None, "Output folder of a run_classifier.py training run "
                      "(or give --init_checkpoint and the model flags).")
  flags.DEFINE_multi_string("input", None, "Text to classify (repeatable); `a ||| b` for "
                            "pairs. Without it, lines are read from standard input.")
  flags.DEFINE_integer("batch_size", 32, "Inputs per batch when reading a pipe or file.")
  flags.DEFINE_string("init_checkpoint", None, "A fine-tuned checkpoint (default: the "
                      "newest in --model_dir).")
  flags.DEFINE_string("vocab_file", None, "vocab.txt (default: from run_info.json).")
  flags.DEFINE_string("bert_config_file", None, "bert_config.json (default: from "
                      "run_info.json).")
  flags.DEFINE_bool("do_lower_case", True, "Lower-case input (default: as in training).")
  flags.DEFINE_integer("max_seq_length", 128, "Tokens per input (default: as in training).")


_PAIR_RE = re.compile(r"^(.*) \|\|\| (.*)$")


class Classifier:
  """A fine-tuned classifier loaded once; `classify(texts)` many times."""

  def __init__(self, bert_config, checkpoint, vocab_file, do_lower_case, label_list,
               max_seq_length, is_regression=False):
    self.tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
    self.label_list = label_list
    self.max_seq_length = max_seq_length
    self.is_regression = is_regression
    num_labels = 1 if is_regression else len(label_list)
    self.task = tasks.ClassifierTask(bert_config, num_labels, is_regression)
    self.task.build("float32", seed=0)
    shapes = checkpoint_utils.checkpoint_shapes(checkpoint)
    if "output_weights" not in shapes:
      raise errors.UserError(f"{checkpoint} has no classifier head (output_weights); "
                             "give the output folder of a fine-tuning run.")
    report = checkpoint_utils.load_variables(self.task.variables(), checkpoint)
    if report.missing:
      raise errors.UserError(f"{checkpoint} lacks {report.missing[0]}; it does not "
                           "belong to this model config.")
    self._vocab_dir = tempfile.TemporaryDirectory()
    self.server = export_savedmodel.ClassifierServer(
        self.task, self._graph_tokenizer(vocab_file, do_lower_case), label_list)

  def _graph_tokenizer(self, vocab_file, do_lower_case):
    """The in-graph tokenizer, or None without tensorflow-text (Python tokenizes then)."""
    try:
      graph_tokenization._import_tf_text()  # pylint: disable=protected-access
    except ImportError:
      return None
    asset = os.path.join(self._vocab_dir.name, "vocab.txt")
    graph_tokenization.write_vocab_asset(vocab_file, asset)
    return graph_tokenization.GraphTokenizer(asset, do_lower_case, self.max_seq_length)

  def _features(self, texts):
    ids = np.zeros((len(texts), self.max_seq_length), np.int32)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    for row, text in enumerate(texts):
      match = _PAIR_RE.match(text)
      text_a, text_b = match.groups() if match else (text, None)
      # The label is a placeholder: features need one, prediction ignores it.
      example = classifier_data.InputExample(
          guid=f"input-{row}", text_a=text_a, text_b=text_b,
          label=self.label_list[0] if self.label_list else "0")
      # A large ex_index keeps convert_single_example from logging the example.
      feature = classifier_data.convert_single_example(
          10 ** 9, example, self.label_list or None, self.max_seq_length, self.tokenizer)
      ids[row], mask[row], types[row] = (feature.input_ids, feature.input_mask,
                                         feature.segment_ids)
    longest = max(int(mask.sum(1).max()), 1)
    return ids[:, :longest], mask[:, :longest], types[:, :longest]

  def _outputs(self, texts):
    """The server's outputs (probabilities or scores) for raw `text` / `a ||| b` lines."""
    if self.server.tokenizer is None:
      ids, mask, types = self._features(texts)
      return self.server.serve_ids(ids, mask, types)
    pairs = [_PAIR_RE.match(text) for text in texts]
    # An empty text_b has no tokens: the single-text layout, as in the reference.
    text_a = [m.group(1) if m else text for m, text in zip(pairs, texts)]
    text_b = [m.group(2) if m else "" for m in pairs]
    return self.server.serve_text_pair(tf.constant(text_a), tf.constant(text_b))

  def classify(self, texts):
    """Returns one result dict per text (label and probabilities, or score)."""
    if not texts:
      return []
    outputs = self._outputs(texts)
    if self.is_regression:
      return [{"text": t, "score": float(s)} for t, s in zip(texts, outputs["scores"].numpy())]
    probabilities = outputs["probabilities"].numpy()
    return [{"text": t, "label": self.label_list[int(np.argmax(p))],
             "probabilities": {l: round(float(x), 6) for l, x in zip(self.label_list, p)}}
            for t, p in zip(texts, probabilities)]


def load_classifier(f):
  """Builds a Classifier from the flags and the model folder's run_info.json."""
  info = run_info.read_run_info(f.model_dir) if f.model_dir else {}
  checkpoint = f.init_checkpoint or f.model_dir
  if not checkpoint:
    raise errors.UserError("Give --model_dir (a fine-tuned output folder) or --init_checkpoint.")
  if f.bert_config_file:
    bert_config = modeling.BertConfig.from_json_file(f.bert_config_file)
  elif "bert_config" in info:
    bert_config = info["bert_config"]
  else:
    raise errors.UserError("--bert_config_file is required (no --model_dir with a "
                           "run_info.json).")
  vocab_file = f.vocab_file or info.get("vocab_file")
  cli.require_file(vocab_file, "vocab_file")
  do_lower_case = (f.do_lower_case if f["do_lower_case"].present
                   else info.get("do_lower_case", f.do_lower_case))
  max_seq_length = (f.max_seq_length if f["max_seq_length"].present
                    else info.get("max_seq_length", f.max_seq_length))
  modeling.check_sequence_length(bert_config, max_seq_length)
  label_list = info.get("label_list") or []
  is_regression = bool(info.get("is_regression", not label_list))
  if not label_list and not is_regression:
    raise errors.UserError("No label list: run_info.json lacks label_list.")
  return Classifier(bert_config, checkpoint_utils.resolve_checkpoint(checkpoint),
                    vocab_file, do_lower_case, label_list, max_seq_length, is_regression)


def _batches(lines, size):
  batch = []
  for line in lines:
    text = line.rstrip("\n")
    if not text.strip():
      continue
    batch.append(text)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def main(_):
  logging.set_verbosity(logging.WARNING)
  classifier = load_classifier(FLAGS)
  if FLAGS.input:
    batches = [FLAGS.input]
  else:
    # Interactive: answer each line at once; piped: batch for speed.
    size = 1 if sys.stdin.isatty() else FLAGS.batch_size
    batches = _batches(sys.stdin, size)
  for batch in batches:
    for result in classifier.classify(batch):
      print(json.dumps(result, ensure_ascii=False), flush=True)


def console_main():
  """The `bert-inference` command: the flags of `python inference.py`."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
