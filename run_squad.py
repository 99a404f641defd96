r"""BERT fine-tuning for extractive question answering: SQuAD v1.1/v2.0, CMRC2018.

Runs the reference's commands unchanged, e.g.

  python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_train=True \
    --train_file=$SQUAD_DIR/train-v1.1.json --do_predict=True \
    --predict_file=$SQUAD_DIR/dev-v1.1.json --train_batch_size=12 \
    --learning_rate=3e-5 --num_train_epochs=2.0 --max_seq_length=384 \
    --doc_stride=128 --output_dir=/tmp/squad_base/

Writes predictions.json, nbest_predictions.json (and null_odds.json with
--version_2_with_negative) in the reference's formats and, when the
predict_file has gold answers, eval_results.txt scored as the official
evaluation does (squad_evaluate.py). Training also writes run_info.json, what
export_savedmodel.py needs to serve the model on raw questions and contexts.

Deliberate differences from the reference:
  * Chinese (CMRC2018): the reference split a paragraph into words at
    whitespace only, so a Chinese paragraph was one "word" and answers mapped
    to the whole paragraph. In a paragraph holding CJK characters every CJK
    character is its own word here (char_to_word_offset stays consistent), and
    answer texts are put back together without inventing spaces between them.
  * A training question with several answers (a dev set used for training)
    trains on the first one; the reference stopped with an error.
  * The n-best search looks at real tokens only: logits at padding positions
    (which the reference could rank, then discard) are not candidates.
  * v2.0: a question with no span candidate at all is answered "" instead of
    crashing.
  * Bad input (JSON errors, missing keys, flags) is one line naming the file,
    question or flag; outputs are written atomically, only once all succeeded.
"""

import os
import random

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags
from absl import logging

import cli
import errors
import modeling
import run_info
import squad_data
import squad_evaluate
import tasks
import training
import windows
# Names of the reference's run_squad.py, and what this program uses.
from squad_data import (  # pylint: disable=unused-import
    FeatureWriter, InputFeatures, RawResult, SquadExample, compute_predictions,
    convert_examples_to_features, examples_from_data, feature_chunks, get_final_text,
    iter_features, load_squad_data, read_squad_examples, train_records, write_json,
    write_predictions)

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines this script's flags (the reference's, plus the shared loop's)."""
  f = flag_values
  flags.DEFINE_string("train_file", None, "SQuAD-format JSON for training, e.g. "
                      "train-v1.1.json.", flag_values=f)
  flags.DEFINE_string("predict_file", None, "SQuAD-format JSON for predictions, e.g. "
                      "dev-v1.1.json; with gold answers it is also scored.", flag_values=f)
  flags.DEFINE_integer("doc_stride", 128, "Tokens between the starts of consecutive "
                       "windows of a long context.", flag_values=f)
  flags.DEFINE_integer("max_query_length", 64, "Question tokens kept; longer ones are "
                       "truncated.", flag_values=f)
  cli.define_task_flags(phases=("train", "predict"), max_seq_length=384, flag_values=f,
                        help_text={
                            "max_seq_length": "Tokens per window after WordPiece, with "
                                              "[CLS] question [SEP] context [SEP].",
                            "do_train": "Fine-tune on --train_file.",
                            "do_predict": "Predict (and score) --predict_file.",
                            "predict_batch_size": "Windows per prediction batch.",
                            "num_train_epochs": "Passes over the training questions."})
  flags.DEFINE_integer("n_best_size", 20, "Candidates kept per question in "
                       "nbest_predictions.json.", flag_values=f)
  flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in word pieces.",
                       flag_values=f)
  flags.DEFINE_bool("verbose_logging", False, "Log why a prediction could not be mapped "
                    "back to the original text.", flag_values=f)
  flags.DEFINE_bool("version_2_with_negative", False, "SQuAD 2.0: questions may have no "
                    "answer (is_impossible).", flag_values=f)
  flags.DEFINE_float("null_score_diff_threshold", 0.0, "v2.0: answer \"\" when the null "
                     "score minus the best span score exceeds this.", flag_values=f)
  flags.DEFINE_enum("eval_language", "auto", list(squad_evaluate.LANGUAGES),
                    "Metric for eval_results.txt: en = SQuAD, zh = CMRC2018, auto = zh "
                    "when the gold answers are Chinese.", flag_values=f)


# ===================================================================== the run


def validate_flags(f):
  """Checks the flags and that the input files exist, before any work."""
  cli.check_task_flags(f, phases=("train", "predict"), data_dir=False,
                       fine_tuned="fine-tuned SQuAD",
                       files=[name for name, asked in (("train_file", f.do_train),
                                                       ("predict_file", f.do_predict))
                              if asked])
  for name in ("max_seq_length", "max_query_length", "doc_stride", "predict_batch_size",
               "n_best_size", "max_answer_length"):
    if getattr(f, name) <= 0:
      raise errors.UserError(f"--{name}={getattr(f, name)} must be positive.")
  problem = windows.context_room_problem(f.max_seq_length, f.max_query_length, "--")
  if problem:
    raise errors.UserError(problem + ".")
  room = f.max_seq_length - f.max_query_length - 3
  if f.doc_stride >= room:
    # Accepted, as by the reference: for the longest questions a window then starts
    # where the one before ends.
    logging.warning(
        "--doc_stride=%d is not less than --max_seq_length - --max_query_length - 3 = %d: "
        "for a question of --max_query_length pieces the windows of a long context do not "
        "overlap, so an answer across a window boundary is never seen whole. Lower "
        "--doc_stride or raise --max_seq_length.",
        f.doc_stride, room)


def build_run_info(f, bert_config):
  """What export_savedmodel.py needs to serve the trained model.

  The prediction flags are recorded as they are now: the served model answers
  as `--do_predict` with them does.
  """
  info = {"task_kind": "squad", "bert_config": bert_config.to_dict(),
          "vocab_file": os.path.abspath(f.vocab_file)}
  for name in ("do_lower_case", "max_seq_length", "doc_stride", "max_query_length",
               "max_answer_length", "n_best_size", "version_2_with_negative",
               "null_score_diff_threshold"):
    info[name] = getattr(f, name)
  return info


def train(trainer, f, train_examples, tokenizer, info):
  """Writes run_info.json and train.tf_record and fine-tunes."""
  if trainer.chief:
    run_info.write_run_info(f.output_dir, info, f.vocab_file)
  path = os.path.join(trainer.scratch_dir, "train.tf_record")
  with FeatureWriter(path, is_training=True) as writer:
    convert_examples_to_features(train_examples, tokenizer, f.max_seq_length,
                                 f.doc_stride, f.max_query_length, True,
                                 writer.process_feature)
  num_features = writer.num_features

  # The reference's epoch counts questions (the steps are questions / batch x
  # epochs) while the model trains on windows: long contexts make more windows.
  questions = len(train_examples)
  trainer.train(lambda: train_records(path, f.max_seq_length), num_features, description=(
      f"{questions} questions in {num_features} windows ({num_features / questions:.2f} "
      f"a question); an epoch is {questions} windows, as the reference counts it, so "
      f"{f.num_train_epochs:g} epochs pass over the windows "
      f"{f.num_train_epochs * questions / num_features:.2f} times"))


def scorable(articles, predict_file):
  """Whether the predictions of --predict_file's `articles` are scored (said before any work).

  They are when every question has gold answers; answers the scorer cannot
  read (not {"text": ...} objects) are named in a warning and not scored, as
  the reference, which never reads them, would predict.
  """
  if squad_evaluate.has_gold_answers(articles):
    try:
      squad_evaluate.check_dataset(articles, f"--predict_file={predict_file}")
      return True
    except squad_evaluate.EvaluationError as e:
      logging.warning("%s The predictions are written but not scored (no eval_results.txt).",
                      e)
      return False
  gold, total = squad_evaluate.count_gold_answers(articles)
  if 0 < gold < total:
    logging.warning("%s: %d of %d questions have no \"answers\" list, so the predictions "
                    "are not scored (no eval_results.txt); give every question its "
                    "answers to score them.", predict_file, total - gold, total)
  return False


def predict(trainer, f, examples, features, articles, scored):
  """Runs the model on every window, decodes, scores (if `scored`), writes the result files."""
  if trainer.chief:   # the reference's cache of the prediction windows, for its tools
    with FeatureWriter(os.path.join(f.output_dir, "eval.tf_record"), False) as writer:
      for feature in features:
        writer.process_feature(feature)
  logging.info("Predicting: %d questions, %d windows, batch %d.", len(examples),
               len(features), f.predict_batch_size)
  outputs = trainer.predict(feature_chunks(features), f.predict_batch_size)
  predictions, nbest, null_odds = compute_predictions(
      examples, features, squad_data.raw_results(features, outputs), f.n_best_size,
      f.max_answer_length, f.do_lower_case, f.version_2_with_negative,
      f.null_score_diff_threshold, f.verbose_logging)
  if scored:
    eval_results = squad_evaluate.evaluate(
        articles, predictions, null_odds if f.version_2_with_negative else None,
        language=f.eval_language, version_2=True if f.version_2_with_negative else None)
    training.report_results(f.output_dir, eval_results, trainer.chief, step=(
        run_info.evaluated_step(trainer.global_step, f.init_checkpoint)))
  if not trainer.chief:
    return
  write_json(os.path.join(f.output_dir, "predictions.json"), predictions)
  write_json(os.path.join(f.output_dir, "nbest_predictions.json"), nbest)
  if f.version_2_with_negative:
    write_json(os.path.join(f.output_dir, "null_odds.json"), null_odds)
  logging.info("Wrote predictions of %d questions to %s", len(predictions), f.output_dir)


def run(f):
  """Train and/or predict as the flags say (parsed flags `f`)."""
  validate_flags(f)
  bert_config, tokenizer = cli.load_model_files(f)
  modeling.check_sentence_pairs(bert_config, "SQuAD windows ([CLS] question [SEP] context)")
  # Read and convert every input before writing anything: bad data leaves no output.
  train_examples = predict_examples = predict_features = articles = scored = None
  if f.do_train:
    train_examples = read_squad_examples(f.train_file, True, f.version_2_with_negative)
    if not train_examples:
      raise errors.UserError(f"--train_file={f.train_file} holds no usable training question.")
    random.Random(12345).shuffle(train_examples)   # the reference's order
  if f.do_predict:
    articles = load_squad_data(f.predict_file, "predict_file")
    predict_examples = examples_from_data(articles, False,
                                          source=f"--predict_file={f.predict_file}")
    if not predict_examples:
      raise errors.UserError(f"--predict_file={f.predict_file} holds no questions.")
    scored = scorable(articles, f.predict_file)
    predict_features = list(iter_features(predict_examples, tokenizer, f.max_seq_length,
                                          f.doc_stride, f.max_query_length, False))
  info = build_run_info(f, bert_config)
  trainer = cli.build_trainer(f, tasks.SpanTask(bert_config), len(train_examples or []),
                              info, "training questions")
  run_info.claim_run_folder(f.output_dir, trainer.chief)
  if f.do_train:
    train(trainer, f, train_examples, tokenizer, info)
  if f.do_predict:
    predict(trainer, f, predict_examples, predict_features, articles, scored)


def console_main():
  """The `bert-run-squad` command: the flags of `python run_squad.py`."""
  cli.run_program(define_flags, run)


if __name__ == "__main__":
  console_main()
