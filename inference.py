"""Answer with a fine-tuned run folder, loading it once: every task of the run_*.py programs.

  python inference.py --model_dir=$OUT --input='The movie was great.' --input='Dull.'
  python inference.py --model_dir=$OUT --input_file=sentences.txt
  echo 'first sentence ||| second sentence' | python inference.py --model_dir=$OUT

One input a line (or --input); fields are separated by ` ||| `. One JSON line
per input, by the run's task (run_info.json's task_kind):
  classifier       `text` or `text_a ||| text_b` -> {"text", "label", "probabilities"}
                   (regression: {"text", "score"})
  ner              `text` -> {"text", "words", "tags"}: the words as the training data
                   had them (characters for the Chinese sets), one tag each
  squad            `question ||| context` -> {"question", "context", "answer", "probability"}
  multiple_choice  `context ||| ending 1 ||| ... ||| ending N` -> {"text", "choice",
                   "probabilities"}
The features and decoding are those of the program's own --do_predict
(serving.py); nothing needs tensorflow-text. Input must be UTF-8: a line that
is not is one error naming it.
"""

import io
import json
import os
import signal
import sys

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging

import cli
import data_files
import errors
import run_info
import serving

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (called only when run as a script)."""
  flags.DEFINE_string("model_dir", None, "Output folder of a fine-tuning run (holds "
                      "run_info.json and checkpoints).")
  flags.DEFINE_multi_string("input", None, "An input (repeatable); fields separated by "
                            "' ||| '. Without --input or --input_file, lines are read from "
                            "standard input.")
  flags.DEFINE_string("input_file", None, "A UTF-8 text file of inputs, one a line "
                      "(blank lines skipped); - reads standard input.")
  flags.DEFINE_integer("batch_size", 32, "Inputs per batch when reading a file or pipe.")
  flags.DEFINE_string("init_checkpoint", None, "A checkpoint of the run (default: the "
                      "newest in --model_dir).")
  flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the run folder's; for "
                      "folders written before runs kept a copy, whose path is gone).")


def read_lines(stream, source, check_text=None):
  """Yields the non-blank lines of a binary stream, decoded as UTF-8.

  A line that is not UTF-8, or that `check_text(text)` refuses (UserError), is
  one error naming `source` and the line.
  """
  for number, raw in enumerate(stream, 1):
    try:
      text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as e:
      raise errors.UserError(f"{source}, line {number}: not valid UTF-8 (byte "
                             f"0x{raw[e.start]:02x}); give UTF-8 text, e.g. iconv -f "
                             "GB18030 -t UTF-8.") from None
    text = text.rstrip("\r\n")
    if text.strip():
      try:
        if check_text is not None:
          check_text(text)
      except errors.UserError as e:
        raise errors.UserError(f"{source}, line {number}: {e}") from None
      yield text


def batches(lines, size):
  """Lists of up to `size` lines."""
  batch = []
  for line in lines:
    batch.append(line)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def inputs(f, check_text=None):
  """The batches of inputs the flags name: --input, --input_file or standard input.

  An --input_file is read whole and each line checked with `check_text` (see
  read_lines) before any is answered.
  """
  if f.input:
    return [list(f.input)]
  if f.input_file and f.input_file != "-":   # -: standard input, as without the flag
    cli.require_file(f.input_file, "input_file")
    stream = io.BytesIO(data_files.read_bytes(f.input_file, "one input per line"))
    lines = list(read_lines(stream, f"--input_file={f.input_file}", check_text))
    if not lines:
      raise errors.UserError(f"--input_file={f.input_file} holds no input (empty or blank "
                             "lines only); give one input per line.")
    return list(batches(lines, f.batch_size))
  # Interactive: answer each line at once; piped: batch for speed.
  size = 1 if sys.stdin.isatty() else f.batch_size
  return batches(read_lines(sys.stdin.buffer, "standard input", check_text), size)


def run(f):
  """Prints one JSON line per input of the flags `f`."""
  if not f.model_dir:
    raise errors.UserError("--model_dir is required: the output folder of a fine-tuning run.")
  if f.batch_size <= 0:
    raise errors.UserError(f"--batch_size={f.batch_size} must be positive.")
  if f.input and f.input_file:
    raise errors.UserError("--input and --input_file both given; answer the texts of one: "
                           "drop --input, or put its texts into the file.")
  for number, text in enumerate(f.input or (), 1):
    if not text.strip():   # lines of --input_file and stdin: blank ones are skipped
      raise errors.UserError(f"--input (number {number}) is empty; give the text to "
                             "answer.")
    try:
      text.encode("utf-8")
    except UnicodeEncodeError:   # argv bytes that are not UTF-8 arrive as surrogates
      raise errors.UserError(f"--input (number {number}) is not valid UTF-8; give UTF-8 "
                             "text (check the terminal's or the script's encoding).") from None
  info = run_info.read_run_info(f.model_dir)
  info["vocab_file"] = f.vocab_file or info["vocab_file"]
  cli.require_file(info["vocab_file"], "vocab_file")
  predictor_class = serving.PREDICTORS[info["task_kind"]]
  for text in f.input or ():
    predictor_class.check_text(info, text)   # the message quotes the input
  # An --input_file is read and checked before the model loads.
  batches_in = inputs(f, lambda text: predictor_class.check_text(info, text))
  predictor = predictor_class(info, f.init_checkpoint or f.model_dir, f.batch_size,
                              "init_checkpoint" if f.init_checkpoint else "model_dir")
  try:
    for batch in batches_in:
      for result in predictor.answer(batch):
        print(json.dumps(result, ensure_ascii=False), flush=True)
  except BrokenPipeError:
    # The reader of the answers has gone (`| head -3`): stop without a word, as
    # shell tools do, with their exit status (killed by SIGPIPE).
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(128 + signal.SIGPIPE)


def main(_):
  logging.set_verbosity(logging.WARNING)
  run(FLAGS)


def console_main():
  """The `bert-inference` command: the flags of `python inference.py`."""
  define_flags()
  cli.run(main, words="every input is an --input.")


if __name__ == "__main__":
  console_main()
