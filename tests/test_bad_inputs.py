"""Bad inputs to every script: one readable error line, exit 1, nothing written.

A table of commands, each a working command of one script with one thing
made wrong (a missing or unreadable file, a malformed row, a flag out of
range, an output_dir of another run, ...). Every case is run as
`python <script>.py --flags` and must:
  * exit with code 1;
  * end stderr with one line `<script>.py: error: ...` that holds the texts
    listed in the table (the file, line or flag, and the fix);
  * print no Python traceback;
  * leave its output_dir (or output file's folder) exactly as it was.

The working commands the cases start from are run too ("controls": those that
build no model, and run_classifier.py's, whose fine-tuned MRPC folder some
cases start from): they must succeed, so that a failure is caused by the one
change its case makes.

Importing TensorFlow costs seconds per process, so the commands run in
processes forked from a server that has imported TensorFlow once
(tests/cli_forkserver.py: each child still runs the script as `__main__` with
its own argv, flags and exit code). A few cases are also run as plain
`python <script>.py` subprocesses and must give the same result; set
BAD_INPUTS_PLAIN_SUBPROCESS=1 to run every command that way.
"""

import concurrent.futures
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import flip_middle_byte, truncate_to_half

REPO_ROOT = Path(__file__).resolve().parents[1]
FORKSERVER = Path(__file__).resolve().parent / "cli_forkserver.py"
MAX_PARALLEL = 2   # the test machine has two cores
PLAIN = bool(os.environ.get("BAD_INPUTS_PLAIN_SUBPROCESS"))


def _chmod_000_stops_reading():
  """False for root (os.geteuid() == 0) unless it lacks CAP_DAC_OVERRIDE: try it."""
  with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "probe"
    path.write_text("x")
    path.chmod(0)
    try:
      path.read_text()
      return False
    except PermissionError:
      return True
    finally:
      path.chmod(0o644)


UNREADABLE_FILES_WORK = _chmod_000_stops_reading()
# The official name of a cased model: do_lower_case must be False with it.
CASED = "cased_L-12_H-768_A-12"

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat",
         "ran", "on", "mat", "is", "was", "good", "bad", "movie", "eu", "rejects",
         "german", "call", "to", "boycott", "british", "lamb", "peter", "lives", "in",
         "paris", "who", "where", "does", "live", ".", ",", "?", "##s", "##ed", "it", "x"]
# Odd sizes, tiny: hidden 8 (2 heads), intermediate 11, 32 positions.
TINY = dict(vocab_size=len(VOCAB), hidden_size=8, num_hidden_layers=1,
            num_attention_heads=2, intermediate_size=11, hidden_act="gelu",
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
            max_position_embeddings=32, type_vocab_size=2, initializer_range=0.02)

# --------------------------------------------------------------------- the table


@dataclasses.dataclass
class Case:
  """One bad command: the script's working command plus `args` (later flags win)."""
  name: str
  script: str
  args: tuple                 # templates of arguments: {model}, {out}, ... (see runs)
  expect: tuple               # texts the error line must hold
  base: bool = True           # start from the script's working command
  start_from: str = None      # copy this prepared folder to {out} first ("" = empty)
  needs_unreadable_files: bool = False  # chmod 000 files (root reads them anyway)


MODEL = ("--vocab_file={model}/vocab.txt", "--bert_config_file={model}/bert_config.json",
         "--init_checkpoint={model}/bert_model.ckpt")
# Each script's working command (run as a control, and the start of each case).
BASE = {
    "run_classifier.py": ("--task_name=MRPC", "--do_train=true", "--data_dir={mrpc}",
                          *MODEL, "--max_seq_length=16", "--train_batch_size=2",
                          "--num_train_epochs=1", "--output_dir={out}"),
    "run_pretraining.py": ("--bert_config_file={model}/bert_config.json",
                           "--input_file={records}", "--do_train=true",
                           "--max_seq_length=16", "--max_predictions_per_seq=3",
                           "--train_batch_size=2", "--num_train_steps=1",
                           "--num_warmup_steps=0", "--output_dir={out}"),
    "create_pretraining_data.py": ("--input_file={corpus}", "--output_file={out}/examples.tfrecord",
                                   "--vocab_file={model}/vocab.txt", "--max_seq_length=16",
                                   "--max_predictions_per_seq=3", "--dupe_factor=2"),
    "run_squad.py": (*MODEL, "--do_train=true", "--train_file={squad}/train.json",
                     "--do_predict=true", "--predict_file={squad}/train.json",
                     "--max_seq_length=24", "--max_query_length=8", "--doc_stride=8",
                     "--train_batch_size=2", "--num_train_epochs=1", "--output_dir={out}"),
    "run_ner.py": ("--data_dir={conll}", *MODEL, "--do_train=true", "--max_seq_length=16",
                   "--train_batch_size=2", "--num_train_epochs=1", "--output_dir={out}"),
    "run_multiple_choice.py": ("--data_dir={swag}", *MODEL, "--do_train=true",
                               "--max_seq_length=16", "--train_batch_size=2",
                               "--num_train_epochs=1", "--output_dir={out}"),
    "extract_features.py": ("--input_file={sentences}", "--output_file={out}/features.jsonl",
                            *MODEL, "--max_seq_length=16", "--layers=-1"),
    "inference.py": ("--model_dir={mrpc_out}", "--input=the cat sat on the mat ."),
    "squad_evaluate.py": ("{squad}/train.json", "{squad}/predictions.json",
                          "--out_file={out}/scores.json"),
    "convert_checkpoint.py": ("--direction=tf_to_hf", "--input={model}/bert_model.ckpt",
                              "--output_dir={out}"),
    "export_savedmodel.py": ("--model_dir={mrpc_out}", "--export_dir={out}/export"),
}

RC, RP, CPD = "run_classifier.py", "run_pretraining.py", "create_pretraining_data.py"
RS, RN, RMC = "run_squad.py", "run_ner.py", "run_multiple_choice.py"
EF, INF = "extract_features.py", "inference.py"
SE, CC, ES = "squad_evaluate.py", "convert_checkpoint.py", "export_savedmodel.py"

# The working commands that are run: those whose output other cases start from
# (the fine-tuned MRPC folder, the pretraining records), and the ones that build
# no model (tracing a model costs 5-25 s on the test machine; the scripts' own
# tests run the others).
CONTROLS = [CPD, RC, SE, CC]

CASES = [
    # ---- files that are not there, not readable, or folders
    Case("rc-missing-vocab", RC, ("--vocab_file={missing}/vocab.txt",),
         ("--vocab_file=", "missing/vocab.txt", "not found")),
    Case("rc-missing-config", RC, ("--bert_config_file={missing}/bert_config.json",),
         ("--bert_config_file=", "missing/bert_config.json", "not found")),
    Case("rc-missing-checkpoint", RC, ("--init_checkpoint={missing}/bert_model.ckpt",),
         ("--init_checkpoint=", "missing/bert_model.ckpt", "no checkpoint found",
          "bert_model.ckpt.index")),
    Case("rc-missing-data-dir", RC, ("--data_dir={missing}",),
         ("--data_dir=", "/missing", "not found")),
    Case("rc-vocab-is-a-folder", RC, ("--vocab_file={model}",),
         ("--vocab_file=", "is a directory", "vocab.txt")),
    Case("rc-data-dir-is-a-file", RC, ("--data_dir={mrpc}/train.tsv",),
         ("--data_dir=", "train.tsv", "not a directory", "folder")),
    Case("rc-unreadable-vocab", RC, ("--vocab_file={unreadable}/vocab.txt",),
         ("unreadable/vocab.txt", "denied", "chmod a+r"), needs_unreadable_files=True),
    Case("rc-unreadable-config", RC, ("--bert_config_file={unreadable}/bert_config.json",),
         ("unreadable/bert_config.json", "denied", "chmod a+r"), needs_unreadable_files=True),
    Case("rc-unreadable-train-file", RC, ("--data_dir={unreadable}",),
         ("unreadable/train.tsv", "denied", "chmod a+r"), needs_unreadable_files=True),
    Case("rn-unreadable-train-file", RN, ("--data_dir={unreadable}",),
         ("unreadable/train.txt", "denied", "chmod a+r"), needs_unreadable_files=True),
    Case("rs-unreadable-train-file", RS, ("--train_file={unreadable}/train.json",),
         ("unreadable/train.json", "denied", "chmod a+r"), needs_unreadable_files=True),
    Case("rp-missing-input", RP, ("--input_file={missing}/*.tfrecord",),
         ("--input_file", "missing/*.tfrecord", "matches no file")),
    Case("rp-missing-config", RP, ("--bert_config_file={missing}/bert_config.json",),
         ("--bert_config_file=", "missing/bert_config.json", "not found")),
    Case("rp-input-is-a-folder", RP, ("--input_file={model}",),
         ("--input_file", "is a directory", "*.tfrecord")),
    Case("cpd-missing-input", CPD, ("--input_file={missing}/corpus.txt",),
         ("--input_file", "missing/corpus.txt", "not found", "one sentence per line"),
         start_from=""),
    Case("cpd-missing-vocab", CPD, ("--vocab_file={missing}/vocab.txt",),
         ("--vocab_file=", "missing/vocab.txt", "not found"), start_from=""),
    Case("cpd-vocab-is-a-folder", CPD, ("--vocab_file={model}",),
         ("--vocab_file=", "is a directory", "vocab.txt"), start_from=""),
    Case("cpd-unreadable-corpus", CPD, ("--input_file={unreadable}/corpus.txt",),
         ("unreadable/corpus.txt", "denied", "chmod a+r"), start_from="",
         needs_unreadable_files=True),
    Case("ef-missing-checkpoint", EF, ("--init_checkpoint={missing}/bert_model.ckpt",),
         ("--init_checkpoint=", "missing/bert_model.ckpt", "no checkpoint found")),
    Case("ef-missing-input", EF, ("--input_file={missing}/sentences.txt",),
         ("--input_file=", "missing/sentences.txt", "not found")),
    Case("rs-missing-train-file", RS, ("--train_file={missing}/train-v1.1.json",),
         ("--train_file=", "missing/train-v1.1.json", "not found")),
    Case("rs-missing-predict-file", RS, ("--predict_file={missing}/dev-v1.1.json",),
         ("--predict_file=", "missing/dev-v1.1.json", "not found")),
    Case("rn-missing-train-file", RN, ("--train_file=train.conll",),
         ("--train_file=train.conll", "conll/train.conll", "not found")),
    Case("rmc-missing-train-file", RMC, ("--train_file=swag_train.csv",),
         ("swag/swag_train.csv", "not found", "--train_file=swag_train.csv")),
    Case("cc-missing-input", CC, ("--input={missing}/bert_model.ckpt",),
         ("--input=", "missing/bert_model.ckpt", "no checkpoint found")),
    Case("se-missing-predictions", SE, ("{squad}/train.json", "{missing}/predictions.json"),
         ("predictions file", "missing/predictions.json", "No such file"), base=False),
    # ---- malformed rows and files
    Case("rc-row-too-few-columns", RC, ("--data_dir={mrpc_short_row}",),
         ("train.tsv, line 3", "found 4 columns", "at least 5")),
    Case("rc-label-not-in-label-list", RC, ("--data_dir={mrpc_bad_label}",),
         ("train.tsv, line 3", "'7'", "0, 1")),
    Case("rc-empty-train-file", RC, ("--data_dir={mrpc_empty}",),
         ("train.tsv", "no examples")),
    Case("rc-non-utf8-dev-file", RC, ("--do_eval=true", "--data_dir={mrpc_latin1}"),
         ("dev.tsv, line 3", "UTF-8", "0xe9")),
    Case("rc-non-utf8-vocab", RC, ("--vocab_file={latin1_vocab}",),
         ("latin1/vocab.txt", "line 8", "UTF-8")),
    Case("cpd-non-utf8-corpus", CPD, ("--input_file={corpus_latin1}",),
         ("corpus_latin1.txt", "line 3", "UTF-8"), start_from=""),
    Case("rc-vocab-without-cls", RC, ("--vocab_file={vocab_without_cls}",),
         ("--vocab_file=", "no_cls/vocab.txt has no [CLS] token", "came with the checkpoint")),
    Case("ef-pairs-on-a-one-segment-model", EF,
         ("--bert_config_file={configs}/one_segment.json",),
         ("sentences.txt: line 2 and the other lines with ' ||| '", "type_vocab_size=1")),
    Case("ef-vocab-without-unk", EF, ("--vocab_file={vocab_without_unk}",),
         ("--vocab_file=", "no_unk/vocab.txt has no [UNK] token", "came with the checkpoint")),
    Case("cpd-vocab-without-mask", CPD, ("--vocab_file={vocab_without_mask}",),
         ("--vocab_file=", "no_mask/vocab.txt has no [MASK] token",
          "[CLS], [SEP], [UNK], [MASK]", "the model to pre-train"), start_from=""),
    Case("cpd-vocab-without-unk", CPD, ("--vocab_file={vocab_without_unk}",),
         ("--vocab_file=", "no_unk/vocab.txt has no [UNK] token"), start_from=""),
    Case("cpd-no-masked-positions", CPD, ("--max_predictions_per_seq=0",),
         ("--max_predictions_per_seq=0", "at least 1"), start_from=""),
    Case("cpd-non-utf8-vocab", CPD, ("--vocab_file={latin1_vocab}",),
         ("latin1/vocab.txt", "line 8", "UTF-8"), start_from=""),
    Case("cpd-empty-corpus", CPD, ("--input_file={corpus_empty}",),
         ("corpus_empty.txt", "blank line between documents"), start_from=""),
    Case("ef-non-utf8-input", EF, ("--input_file={sentences_latin1}",),
         ("sentences_latin1.txt", "line 2", "UTF-8")),
    Case("rs-malformed-json", RS, ("--train_file={squad}/truncated.json",),
         ("--train_file=", "truncated.json", "not valid JSON", "line 3")),
    Case("rs-json-of-wrong-shape", RS, ("--predict_file={squad}/list.json",),
         ("--predict_file=", "list.json", '"data": [articles]')),
    Case("rs-json-article-without-paragraphs", RS, ("--train_file={squad}/no_paragraphs.json",),
         ("no_paragraphs.json", "article 0", "'paragraphs'")),
    Case("rs-predict-file-without-questions", RS, ("--predict_file={squad}/no_questions.json",),
         ("--predict_file=", "no_questions.json", "holds no questions")),
    Case("rn-row-without-tag", RN, ("--data_dir={conll_bad_row}",),
         ("train.txt, line 5", "token and its tag", "'german'")),
    Case("rn-tag-not-in-labels", RN, ("--labels=O,B-ORG,B-MISC,B-PER",),
         ("train.txt, line 12", "'B-LOC'", "O, B-ORG, B-MISC, B-PER", "--labels")),
    Case("rn-empty-train-file", RN, ("--data_dir={conll_empty}",),
         ("train.txt", "no sentences")),
    Case("rn-non-utf8-train-file", RN, ("--data_dir={conll_latin1}",),
         ("train.txt, line 3", "UTF-8", "0xe9")),
    Case("rmc-label-out-of-range", RMC, ("--data_dir={swag_bad_label}",),
         ("train.csv, line 3", "'7'", "0..3")),
    Case("rmc-header-without-ending3", RMC, ("--data_dir={swag_bad_header}",),
         ("train.csv, line 1", "ending3", "--num_choices=4")),
    Case("se-predictions-of-another-data-set", SE,
         ("{squad}/train.json", "{squad}/other_predictions.json"),
         ("other_predictions.json", "none of the 2 question ids", "train.json"), base=False),
    Case("se-nbest-instead-of-predictions", SE,
         ("{squad}/train.json", "{squad}/nbest_predictions.json"),
         ("nbest_predictions.json", "'q1'", "not nbest_predictions.json"), base=False),
    Case("se-empty-predictions", SE, ("{squad}/train.json", "{squad}/empty_predictions.json"),
         ("empty_predictions.json", "holds no answers", "train.json"), base=False),
    Case("se-no-answer-score-not-a-number", SE, ("--na_prob_file={squad}/null_odds_text.json",),
         ("null_odds_text.json", "'q1'", "'nan', not a number", "null_odds.json")),
    Case("se-files-swapped", SE, ("{squad}/predictions.json", "{squad}/train.json"),
         ("data file", "predictions.json", '"data": [articles]'), base=False),
    # ---- model files that do not fit
    Case("rc-config-not-json", RC, ("--bert_config_file={configs}/not_json.json",),
         ("--bert_config_file=", "not_json.json", "JSON")),
    Case("rc-config-missing-key", RC, ("--bert_config_file={configs}/no_heads.json",),
         ("no_heads.json", "'num_attention_heads'", "missing")),
    Case("rc-config-bad-value", RC, ("--bert_config_file={configs}/odd_heads.json",),
         ("odd_heads.json", "hidden_size=8", "num_attention_heads=3")),
    Case("rp-config-bad-value", RP, ("--bert_config_file={configs}/bad_dropout.json",),
         ("bad_dropout.json", "hidden_dropout_prob=1.5", "[0, 1)")),
    Case("rc-vocab-size-not-config", RC, ("--bert_config_file={configs}/vocab_50.json",),
         ("--vocab_file=", f"{len(VOCAB)} tokens", "vocab_size=50")),
    # A GPU reads zeros past the token-type table: the pairs' second texts train wrong.
    Case("rc-pairs-on-a-one-segment-model", RC, ("--bert_config_file={configs}/one_segment.json",),
         ("the MRPC examples are text pairs", "type_vocab_size=1", "single texts only")),
    Case("rc-checkpoint-hidden-size-differs", RC, ("--bert_config_file={configs}/wide.json",),
         ("--init_checkpoint=", "shape", "[8]", "[12]", "--bert_config_file")),
    Case("rp-checkpoint-hidden-size-differs", RP,
         ("--bert_config_file={configs}/wide.json", "--init_checkpoint={model}/bert_model.ckpt"),
         ("--init_checkpoint=", "shape", "[8]", "[12]")),
    Case("ef-checkpoint-hidden-size-differs", EF, ("--bert_config_file={configs}/wide.json",),
         ("--init_checkpoint=", "shape", "[8]", "[12]")),
    # ---- damaged checkpoints (see _damaged_checkpoints): the file and the fix
    Case("rc-truncated-checkpoint", RC, ("--init_checkpoint={ckpt_truncated}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_truncated/bert_model.ckpt is damaged",
          "bert_model.ckpt.data-00000-of-00001 holds", "truncated", "re-download")),
    Case("rc-checkpoint-with-a-flipped-byte", RC,
         ("--init_checkpoint={ckpt_flipped}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_flipped/bert_model.ckpt is damaged",
          "bert_model.ckpt.data-00000-of-00001 fails its checksum", "re-download")),
    Case("rc-checkpoint-with-the-index-of-another-model", RC,
         ("--init_checkpoint={ckpt_foreign_index}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_foreign_index/bert_model.ckpt is damaged", "checksum",
          "bert_model.ckpt.index belongs to another checkpoint", "re-download")),
    Case("rn-checkpoint-with-a-flipped-byte", RN,
         ("--init_checkpoint={ckpt_flipped}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_flipped/bert_model.ckpt", "checksum", "re-download")),
    Case("rs-checkpoint-with-the-index-of-another-model", RS,
         ("--init_checkpoint={ckpt_foreign_index}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_foreign_index/bert_model.ckpt", "checksum",
          "re-download")),
    Case("rmc-truncated-checkpoint", RMC, ("--init_checkpoint={ckpt_truncated}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_truncated/bert_model.ckpt", "truncated", "re-download")),
    Case("rp-checkpoint-with-a-flipped-byte", RP,
         ("--init_checkpoint={ckpt_flipped}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_flipped/bert_model.ckpt", "checksum", "re-download")),
    Case("ef-truncated-checkpoint", EF, ("--init_checkpoint={ckpt_truncated}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_truncated/bert_model.ckpt", "truncated", "re-download")),
    Case("ef-checkpoint-with-a-flipped-byte", EF,
         ("--init_checkpoint={ckpt_flipped}/bert_model.ckpt",),
         ("--init_checkpoint=", "ckpt_flipped/bert_model.ckpt", "checksum", "re-download")),
    Case("cc-checkpoint-with-the-index-of-another-model", CC,
         ("--input={ckpt_foreign_index}/bert_model.ckpt",),
         ("--input=", "ckpt_foreign_index/bert_model.ckpt", "checksum", "re-download")),
    Case("inf-fine-tuned-checkpoint-with-a-flipped-byte", INF,
         ("--model_dir={mrpc_out}", "--init_checkpoint={finetuned_flipped}/model.ckpt"),
         ("finetuned_flipped/model.ckpt is damaged", "checksum", "re-download")),
    Case("es-truncated-fine-tuned-checkpoint", ES,
         ("--model_dir={mrpc_out}", "--init_checkpoint={finetuned_truncated}/model.ckpt"),
         ("finetuned_truncated/model.ckpt is damaged", "truncated", "re-download")),
    # ---- a config whose layer count is not the checkpoint's
    Case("rc-config-with-more-layers-than-the-checkpoint", RC,
         ("--bert_config_file={configs}/two_layers.json",),
         ("--init_checkpoint=", "has encoder layers 0 (1)", "two_layers.json says "
          "num_hidden_layers=2", "layer 1 would start from random weights",
          "the bert_config.json that came with the checkpoint")),
    Case("rc-checkpoint-with-more-layers-than-the-config", RC,
         ("--init_checkpoint={model_2_layers}/bert_model.ckpt",),
         ("--init_checkpoint=", "model_2_layers/bert_model.ckpt has encoder layers 0-1 (2)",
          "model/bert_config.json says num_hidden_layers=1",
          "the checkpoint's layer 1 would be dropped")),
    Case("rp-config-with-more-layers-than-the-checkpoint", RP,
         ("--bert_config_file={configs}/two_layers.json",
          "--init_checkpoint={model}/bert_model.ckpt"),
         ("--init_checkpoint=", "layers 0 (1)", "num_hidden_layers=2", "random weights")),
    Case("ef-checkpoint-with-more-layers-than-the-config", EF,
         ("--init_checkpoint={model_2_layers}/bert_model.ckpt",),
         ("--init_checkpoint=", "layers 0-1 (2)", "num_hidden_layers=1", "dropped")),
    Case("rc-cased-checkpoint-lower-case", RC,
         ("--init_checkpoint={cased}/bert_model.ckpt", "--vocab_file={cased}/vocab.txt"),
         (CASED, "--do_lower_case=False")),
    Case("cpd-cased-vocab-lower-case", CPD, ("--vocab_file={cased}/vocab.txt",),
         ("--vocab_file=", CASED, "--do_lower_case=False"), start_from=""),
    Case("rs-cased-vocab-lower-case", RS, ("--vocab_file={cased}/vocab.txt",),
         ("--vocab_file=", CASED, "--do_lower_case=False")),
    Case("rc-max-seq-length-above-positions", RC, ("--max_seq_length=64",),
         ("--max_seq_length=64", "max_position_embeddings=32", "--max_seq_length<=32")),
    Case("rn-max-seq-length-above-positions", RN, ("--max_seq_length=33",),
         ("--max_seq_length=33", "max_position_embeddings=32")),
    Case("ef-max-seq-length-above-positions", EF, ("--max_seq_length=40",),
         ("--max_seq_length=40", "max_position_embeddings=32")),
    Case("rc-max-seq-length-too-small", RC, ("--max_seq_length=2",),
         ("--max_seq_length=2", "at least 3")),
    Case("ef-max-seq-length-too-small", EF, ("--max_seq_length=2",),
         ("--max_seq_length=2", "no room for text", "at least 3")),
    Case("cpd-max-seq-length-too-small", CPD, ("--max_seq_length=4",),
         ("--max_seq_length=4", "at least 5"), start_from=""),
    Case("rs-query-longer-than-sequence", RS, ("--max_query_length=24",),
         ("--max_seq_length=24", "--max_query_length=24")),
    # ---- TFRecords that do not fit
    Case("rp-max-predictions-differ-from-records", RP, ("--max_predictions_per_seq=5",),
         ("--max_predictions_per_seq=5", "max_predictions_per_seq=3",
          "pass --max_predictions_per_seq=3")),
    Case("rp-max-seq-length-differs-from-records", RP, ("--max_seq_length=20",),
         ("--max_seq_length=20", "max_seq_length=16", "pass --max_seq_length=16")),
    Case("rp-text-file-as-records", RP, ("--input_file={corpus}",),
         ("corpus.txt", "not a", "TFRecord", "create_pretraining_data.py")),
    Case("rp-classifier-records", RP, ("--input_file={mrpc_out}/train.tf_record",),
         ("train.tf_record", "'masked_lm_ids'", "create_pretraining_data.py")),
    Case("rp-empty-records", RP, ("--input_file={empty_records}",),
         ("empty.tfrecord", "holds no records")),
    # Every file is checked up front, not only the first.
    Case("rp-second-file-of-another-length", RP, ("--input_file={records},{records_24}",),
         ("--max_seq_length=16", "records_24.tfrecord", "max_seq_length=24")),
    # A record damaged in the middle of a file: named before training starts.
    Case("rp-records-of-another-vocabulary", RP, ("--input_file={records_foreign_id}",),
         ("foreign_id.tfrecord: input_ids holds 500, outside [0, 41) (vocab_size)",
          "this model's vocab.txt")),
    Case("rp-eval-records-of-another-vocabulary", RP,
         ("--do_train=false", "--do_eval=true", "--input_file={records_foreign_id}"),
         ("foreign_id.tfrecord: input_ids holds 500, outside [0, 41)",)),
    Case("rp-record-with-a-short-list", RP, ("--input_file={records_short_list}",),
         ("short_list.tfrecord: damaged TFRecord file", "masked_lm_ids", "recreate it")),
    Case("rp-record-with-a-float-label", RP, ("--input_file={records_float_label}",),
         ("float_label.tfrecord: damaged TFRecord file", "next_sentence_labels")),
    Case("rp-damaged-record", RP, ("--input_file={records},{records_damaged}",),
         ("damaged.tfrecord", "damaged TFRecord file", "create_pretraining_data.py")),
    # ---- output folders of other runs
    Case("inf-empty-input", INF, ("--input=  ",), ("--input (number 2) is empty",)),
    Case("inf-blank-input-file", INF, ("--model_dir={mrpc_out}", "--input_file={blank_lines}"),
         ("--input_file=", "blank_lines.txt holds no input", "one input per line"),
         base=False),
    Case("inf-input-and-input-file", INF, ("--input_file={sentences}",),
         ("--input and --input_file both given", "drop --input")),
    Case("es-export-dir-is-a-file", ES, ("--export_dir={model}/vocab.txt",),
         ("--export_dir=", "vocab.txt is a file, not a folder")),
    Case("cpd-output-file-is-a-folder", CPD, ("--output_file={model}",),
         ("--output_file=", "is a directory; give a file path")),
    Case("se-out-file-under-a-file", SE, ("--out_file={model}/vocab.txt/x.json",),
         ("--out_file=", "vocab.txt is a file, so nothing can be written inside it")),
    Case("rc-vocab-file-with-a-trailing-slash", RC, ("--vocab_file={model}/vocab.txt/",),
         ("--vocab_file=", "vocab.txt/: file not found")),
    Case("rc-output-dir-with-a-bracket", RC, ("--output_dir={out}[1]",),
         ("--output_dir=", "[1]", "cannot open checkpoints there", "without '['")),
    Case("rp-output-dir-with-a-bracket", RP, ("--output_dir={out}[1]",),
         ("--output_dir=", "[1]", "cannot open checkpoints there", "without '['")),
    Case("rc-into-a-pretraining-output-dir", RC, (),
         ("--output_dir=", "model.ckpt-0", "output_bias", "new --output_dir"),
         start_from="pretrain_out"),
    Case("rc-into-another-tasks-output-dir", RC, ("--task_name=WNLI", "--data_dir={wnli}"),
         ("--output_dir=", "'mrpc'", "'wnli'", "new --output_dir"), start_from="mrpc_out"),
    Case("rp-into-a-classifier-output-dir", RP, (),
         ("--output_dir=", "model.ckpt-2", "task_kind", "new --output_dir"),
         start_from="mrpc_out"),
    Case("rs-predict-only-into-a-classifier-output-dir", RS, ("--do_train=false",),
         ("--output_dir=", "task_kind: 'classifier' -> 'squad'", "results would be written "
          "among its files", "new --output_dir"), start_from="mrpc_out"),
    Case("rn-into-a-classifier-output-dir", RN, (),
         ("--output_dir=", "labels", "new --output_dir"), start_from="mrpc_out"),
    # ---- output paths with a file in the way
    Case("rc-output-dir-inside-a-file", RC, ("--output_dir={mrpc}/train.tsv/run",),
         ("--output_dir=", "train.tsv is a file", "another path")),
    Case("rp-output-dir-is-a-file", RP, ("--output_dir={mrpc}/train.tsv",),
         ("--output_dir=", "is a file, not a folder")),
    Case("rc-best-folder-is-a-dangling-link", RC,
         ("--do_eval=true", "--eval_every_steps=2", "--output_dir={dangling_best_run}"),
         ("dangling_best_run/best is a link to the missing", "gone_best", "create that")),
    Case("rc-glue-submission-dir-is-a-file", RC,
         ("--do_predict=true", "--glue_submission_dir={mrpc}/train.tsv"),
         ("--glue_submission_dir=", "train.tsv is a file, not a folder")),
    Case("rn-output-dir-inside-a-file", RN, ("--output_dir={mrpc}/train.tsv/ner",),
         ("--output_dir=", "train.tsv is a file", "another path")),
    Case("ef-output-file-inside-a-file", EF, ("--output_file={mrpc}/train.tsv/f.jsonl",),
         ("--output_file=", "train.tsv is a file", "another path")),
    Case("cc-output-dir-inside-a-file", CC, ("--output_dir={mrpc}/train.tsv/hf",),
         ("--output_dir=", "train.tsv is a file", "another path")),
    Case("inf-pretrained-model-dir", INF, ("--model_dir={model}",),
         ("--model_dir=", "run_info.json", "run_classifier.py")),
    Case("inf-missing-model-dir", INF, ("--model_dir={missing}",),
         ("--model_dir=", "/missing", "not found")),
    Case("rc-predict-with-a-pretrained-checkpoint", RC, ("--do_train=false", "--do_predict=true"),
         ("--init_checkpoint=", "no classifier head", "--do_train=true")),
    Case("rs-predict-with-a-pretrained-checkpoint", RS, ("--do_train=false",),
         ("--init_checkpoint=", "no SQuAD head", "--do_train=true")),
    # ---- flags that conflict or are out of range
    Case("rc-no-do-flag", RC, ("--do_train=false",),
         ("--do_train", "--do_eval", "--do_predict")),
    Case("rp-no-do-flag", RP, ("--do_train=false",),
         ("--do_train", "--do_eval")),
    Case("rc-batch-not-divisible-by-accumulation", RC, ("--gradient_accumulation_steps=3",),
         ("--train_batch_size=2", "--gradient_accumulation_steps=3", "divisible")),
    Case("rc-batch-not-divisible-by-sorted-splits", RC, ("--length_sorted_splits=3",),
         ("--train_batch_size=2", "--length_sorted_splits = 1 x 3", "divisible")),
    Case("rc-bucketing-and-sorted-splits", RC,
         ("--length_bucketing=true", "--length_sorted_splits=2"),
         ("--length_bucketing=true", "--length_sorted_splits=2", "choose one")),
    Case("rn-sorted-splits-of-a-token-mean-loss", RN, ("--length_sorted_splits=2",),
         ("--length_sorted_splits=2", "not a mean over examples", "run_classifier.py")),
    Case("rc-float16-on-tpu", RC, ("--use_tpu=true", "--compute_dtype=float16"),
         ("--compute_dtype=float16", "TPU", "bfloat16")),
    Case("ef-use-tpu-without-a-tpu", EF, ("--use_tpu=true", "--master=grpc://127.0.0.1:1"),
         ("--use_tpu: no TPU answered at --master=grpc://127.0.0.1:1", "--master=local")),
    Case("rp-float16-on-tpu", RP, ("--distribution_strategy=tpu", "--compute_dtype=float16"),
         ("--compute_dtype=float16", "TPU", "bfloat16")),
    Case("rc-negative-learning-rate", RC, ("--learning_rate=-2e-5",),
         ("--learning_rate=-2e-05", "positive")),
    Case("rs-zero-learning-rate", RS, ("--learning_rate=0",),
         ("--learning_rate=0", "positive")),
    Case("rn-zero-learning-rate", RN, ("--learning_rate=0",),
         ("--learning_rate=0", "positive")),
    Case("rn-crf-zero-learning-rate", RN, ("--learning_rate=0", "--crf"),
         ("--learning_rate=0", "positive")),
    Case("rp-zero-train-steps", RP, ("--num_train_steps=0",),
         ("--num_train_steps=0", "positive")),
    Case("rp-train-steps-beyond-any-run", RP, ("--num_train_steps=10000000000000000000",),
         ("--num_train_steps=10000000000000000000", "more than 2,147,483,647")),
    Case("rp-warmup-longer-than-training", RP, ("--num_warmup_steps=5",),
         ("num_warmup_steps=5", "num_train_steps=1")),
    Case("rc-zero-epochs", RC, ("--num_train_epochs=0",),
         ("--num_train_epochs=0", "positive")),
    Case("rc-epochs-beyond-any-run", RC, ("--num_train_epochs=1e30",),
         ("--num_train_epochs=1e+30", "more than 2,147,483,647", "check --num_train_epochs")),
    Case("rc-negative-eval-every-steps", RC, ("--do_eval=true", "--eval_every_steps=-1"),
         ("--eval_every_steps=-1", "0 (off) or positive")),
    Case("rc-patience-without-evaluations", RC, ("--early_stopping_patience=3",),
         ("--early_stopping_patience=3", "--eval_every_steps=N")),
    Case("rmc-one-choice", RMC, ("--num_choices=1",), ("--num_choices=1", "at least 2")),
    Case("rc-custom-data-flag-on-a-glue-task", RC, ("--dev_file=test.tsv",),
         ("--dev_file", "--task_name=custom", "--task_name=MRPC")),
    Case("rc-regression-on-a-glue-task", RC, ("--regression=true",),
         ("--regression", "--task_name=custom", "--task_name=MRPC")),
    Case("rc-regression-with-labels", RC, ("--task_name=custom", "--regression=true",
                                           "--labels=0,1"), ("--labels", "--regression")),
    Case("rc-custom-delimiter-of-two-characters", RC,
         ("--task_name=custom", "--delimiter=;;"), ("delimiter=';;'", "one character")),
    Case("rc-unknown-task", RC, ("--task_name=MRCP",), ("'MRCP'", "accepted", "mrpc")),
    Case("rc-unknown-optimizer", RC, ("--optimizer=sgd",),
         ("--optimizer=sgd", "adamw", "lamb")),
    Case("rp-unknown-compute-dtype", RP, ("--compute_dtype=fp8",),
         ("--compute_dtype=fp8", "float32", "bfloat16", "float16")),
    Case("ef-unknown-compute-dtype", EF, ("--compute_dtype=fp8",),
         ("--compute_dtype=fp8", "float32")),
    Case("rc-misspelt-flag", RC, ("--do_trian=true",), ("do_trian", "do_train")),
    Case("cpd-masked-lm-prob-above-1", CPD, ("--masked_lm_prob=1.5",),
         ("--masked_lm_prob=1.5", "[0, 1]"), start_from=""),
    Case("cpd-dupe-factor-0", CPD, ("--dupe_factor=0",), ("--dupe_factor=0", ">= 1"),
         start_from=""),
    Case("cpd-misspelt-flag", CPD, ("--dupe_factr=2",), ("dupe_factr", "dupe_factor"),
         start_from=""),
    Case("ef-layers-not-integers", EF, ("--layers=-1,last",),
         ("--layers=-1,last", "'last'", "integers in [-1, 0]")),
    Case("ef-layer-out-of-range", EF, ("--layers=-1,-2",),
         ("--layers=-1,-2", "-2", "out of range", "num_hidden_layers=1")),
    Case("cc-remote-output-dir", CC, ("--output_dir=gs://bucket/converted",),
         ("--output_dir=gs://bucket/converted", "local files", "gsutil")),
    Case("cc-hf-remote-input", CC, ("--direction=hf_to_tf", "--input=gs://bucket/minilm"),
         ("--input=gs://bucket/minilm", "local files", "gsutil")),
    Case("cc-no-direction", CC, ("--direction=",), ("--direction", "hf_to_tf", "tf_to_hf")),
    Case("cc-config-flag-with-hf-to-tf", CC,
         ("--direction=hf_to_tf", "--bert_config_file={model}/bert_config.json"),
         ("--bert_config_file", "only used with --direction=tf_to_hf")),
    Case("cc-hf-folder-without-weights", CC, ("--direction=hf_to_tf", "--input={model}"),
         ("--input", "model.safetensors")),
    # ---- crafted Hugging Face folders (see _crafted_hf_folders)
    Case("cc-hf-index-shard-outside-the-folder", CC,
         ("--direction=hf_to_tf", "--input={hf_shard_escape}"),
         ("hf_shard_escape/model.safetensors.index.json", "'../passwd'",
          "outside the model folder", "re-download")),
    Case("cc-hf-header-nested-200k-deep", CC, ("--direction=hf_to_tf", "--input={hf_deep_header}"),
         ("hf_deep_header/model.safetensors", "not a valid safetensors file", "re-download")),
    Case("cc-hf-shape-overflows-int64", CC, ("--direction=hf_to_tf", "--input={hf_huge_shape}"),
         ("hf_huge_shape/model.safetensors", "not a valid safetensors file", "overflow",
          "re-download")),
]
CASE_NAMES = [case.name for case in CASES]
# Cases of three error paths (cli.run, flag parsing, create_pretraining_data.py's
# own handler) that are also run as plain subprocesses.
PLAIN_CHECKS = ["rc-row-too-few-columns", "rc-unknown-optimizer", "cpd-non-utf8-corpus"]

# ------------------------------------------------------------------ input files


def _write(path, data):
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
  return path


MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MRPC_ROWS = ["1\t1\t2\tthe cat sat on the mat .\ta cat sat on a mat .\n",
             "0\t3\t4\tthe dog ran .\tthe movie was bad .\n",
             "1\t5\t6\tthe movie is good .\tthe movie was good .\n",
             "0\t7\t8\tthe eu rejects german call .\tpeter lives in paris .\n"]
MRPC_TEST = "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tthe cat sat .\tthe dog ran .\n"
CONLL = ("-DOCSTART- -X- -X- O\n\n"
         "eu NNP B-NP B-ORG\nrejects VBZ B-VP O\ngerman JJ B-NP B-MISC\ncall NN I-NP O\n"
         ". . O O\n\n"
         "peter NNP B-NP B-PER\nlives VBZ B-VP O\nin IN B-PP O\nparis NNP B-NP B-LOC\n"
         ". . O O\n")
SWAG_HEADER = (",video-id,fold-ind,startphrase,sent1,sent2,gold-source,"
               "ending0,ending1,ending2,ending3,label\n")
SWAG_ROWS = ["0,v1,1,x,the cat sat on the mat .,the cat,gold,ran .,sat .,was good .,is bad .,1\n",
             "1,v2,2,x,the dog ran .,it,gold,was good .,ran .,sat .,is bad .,1\n",
             "2,v3,3,x,peter lives in paris .,peter,gold,lives .,sat .,ran .,was bad .,0\n",
             "3,v4,4,x,the movie was good .,it,gold,was bad .,was good .,ran .,sat .,1\n"]
SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
    "context": "peter lives in paris .",
    "qas": [{"id": "q1", "question": "where does peter live ?",
             "answers": [{"text": "paris", "answer_start": 15}]},
            {"id": "q2", "question": "who lives in paris ?",
             "answers": [{"text": "peter", "answer_start": 0}]}]}]}]}
CORPUS = ("the cat sat on the mat .\nthe dog ran .\nit was good .\n\n"
          "the movie was good .\nthe movie is bad .\nit was the cat .\n\n"
          "peter lives in paris .\nwho lives in paris ?\nthe eu rejects german call .\n")


def _latin1_at_line(text, line):
  """`text` as UTF-8 with a Latin-1 "é" (byte 0xe9) added at the end of line `line`."""
  lines = text.encode("utf-8").split(b"\n")
  lines[line - 1] += b" caf\xe9"
  return b"\n".join(lines)


def _data_files(inputs):
  """Writes every data file and folder; returns the {name: path} of the templates."""
  paths = {}

  def mrpc(name, train=None, dev=None):
    folder = inputs / name
    _write(folder / "train.tsv", train if train is not None else MRPC_HEADER + "".join(MRPC_ROWS))
    _write(folder / "dev.tsv", dev if dev is not None else MRPC_HEADER + "".join(MRPC_ROWS))
    _write(folder / "test.tsv", MRPC_TEST)
    paths[name] = folder

  good = MRPC_HEADER + "".join(MRPC_ROWS)
  mrpc("mrpc")
  mrpc("mrpc_short_row", train=MRPC_HEADER + MRPC_ROWS[0] + "1\t5\t6\tthe movie is good .\n")
  mrpc("mrpc_bad_label", train=MRPC_HEADER + MRPC_ROWS[0] + "7" + MRPC_ROWS[1][1:])
  mrpc("mrpc_empty", train="")
  mrpc("mrpc_latin1", dev=_latin1_at_line(good, 3))
  wnli = "index\tsentence1\tsentence2\tlabel\n" + "".join(
      f"{i}\tthe cat sat .\tthe dog ran .\t{i % 2}\n" for i in range(4))
  paths["wnli"] = _write(inputs / "wnli" / "train.tsv", wnli).parent

  for name, train in (("conll", CONLL), ("conll_empty", ""),
                      ("conll_bad_row", CONLL.replace("german JJ B-NP B-MISC", "german")),
                      ("conll_latin1", _latin1_at_line(CONLL, 3))):
    _write(inputs / name / "train.txt", train)
    _write(inputs / name / "dev.txt", CONLL)
    paths[name] = inputs / name

  swag_good = SWAG_HEADER + "".join(SWAG_ROWS)
  for name, train in (("swag", swag_good),
                      ("swag_bad_label", SWAG_HEADER + SWAG_ROWS[0] +
                       SWAG_ROWS[1].replace(",1\n", ",7\n")),
                      ("swag_bad_header", swag_good.replace(",ending3,", ",ending_3,"))):
    _write(inputs / name / "train.csv", train)
    _write(inputs / name / "val.csv", swag_good)
    paths[name] = inputs / name

  squad = inputs / "squad"
  _write(squad / "train.json", json.dumps(SQUAD, indent=1))
  _write(squad / "truncated.json", '{"version": "1.1",\n "data": [\n  {"title": "t",,}\n')
  _write(squad / "list.json", json.dumps(SQUAD["data"]))
  _write(squad / "no_paragraphs.json", json.dumps({"version": "1.1", "data": [{"title": "t"}]}))
  _write(squad / "no_questions.json", json.dumps({"version": "1.1", "data": [
      {"title": "t", "paragraphs": [{"context": "peter lives in paris .", "qas": []}]}]}))
  _write(squad / "predictions.json", json.dumps({"q1": "paris", "q2": "peter"}))
  _write(squad / "other_predictions.json", json.dumps({"x1": "paris", "x2": "peter"}))
  _write(squad / "empty_predictions.json", "{}")
  _write(squad / "null_odds_text.json", json.dumps({"q1": "nan", "q2": 0.5}))
  _write(squad / "nbest_predictions.json", json.dumps(
      {"q1": [{"text": "paris", "probability": 0.9}], "q2": [{"text": "peter"}]}))
  paths["squad"] = squad

  paths["corpus"] = _write(inputs / "corpus.txt", CORPUS)
  paths["corpus_latin1"] = _write(inputs / "corpus_latin1.txt", _latin1_at_line(CORPUS, 3))
  paths["corpus_empty"] = _write(inputs / "corpus_empty.txt", "")
  sentences = "the cat sat .\nthe dog ran . ||| the movie was good .\n"
  paths["sentences"] = _write(inputs / "sentences.txt", sentences)
  paths["sentences_latin1"] = _write(inputs / "sentences_latin1.txt",
                                     _latin1_at_line(sentences, 2))
  paths["blank_lines"] = _write(inputs / "blank_lines.txt", "\n  \n\n")
  paths["empty_records"] = _write(inputs / "records" / "empty.tfrecord", b"")
  paths["latin1_vocab"] = _write(inputs / "latin1" / "vocab.txt",
                                 _latin1_at_line("\n".join(VOCAB) + "\n", 8))
  for token, twin in (("[CLS]", "[CLX]"), ("[UNK]", "[UNX]"), ("[MASK]", "[MASX]")):
    paths[f"vocab_without_{token[1:-1].lower()}"] = _write(
        inputs / f"no_{token[1:-1].lower()}" / "vocab.txt",
        "".join((twin if t == token else t) + "\n" for t in VOCAB))
  paths["dangling_best_run"] = inputs / "dangling_best_run"   # best/ a link to nowhere
  paths["dangling_best_run"].mkdir()
  (paths["dangling_best_run"] / "best").symlink_to(inputs / "gone_best")
  return paths


def _model_files(inputs):
  """The tiny model (vocab, config, checkpoint), a copy named as a cased model, bad configs."""
  import checkpoint_utils   # pylint: disable=g-import-not-at-top (imports TensorFlow)
  import modeling           # pylint: disable=g-import-not-at-top
  model = inputs / "model"
  _write(model / "vocab.txt", "\n".join(VOCAB) + "\n")
  _write(model / "bert_config.json", json.dumps(TINY, indent=2))
  bert = modeling.BertModel(modeling.BertConfig(**TINY), seed=1)
  checkpoint_utils.save_tensors(str(model / "bert_model.ckpt"), bert.variables_by_name())
  shutil.copytree(model, inputs / CASED)
  configs = inputs / "configs"
  no_heads = {k: v for k, v in TINY.items() if k != "num_attention_heads"}
  for name, data in (("no_heads", no_heads),
                     ("odd_heads", dict(TINY, num_attention_heads=3)),
                     ("bad_dropout", dict(TINY, hidden_dropout_prob=1.5)),
                     ("vocab_50", dict(TINY, vocab_size=50)),
                     ("one_segment", dict(TINY, type_vocab_size=1)),
                     ("wide", dict(TINY, hidden_size=12)),
                     ("two_layers", dict(TINY, num_hidden_layers=2))):
    _write(configs / f"{name}.json", json.dumps(data))
  _write(configs / "not_json.json", "vocab_size = 41\nhidden_size = 8\n")
  two_layers = inputs / "model_2_layers"
  _write(two_layers / "vocab.txt", "\n".join(VOCAB) + "\n")
  _write(two_layers / "bert_config.json", json.dumps(dict(TINY, num_hidden_layers=2)))
  checkpoint_utils.save_tensors(str(two_layers / "bert_model.ckpt"), modeling.BertModel(
      modeling.BertConfig(**dict(TINY, num_hidden_layers=2)), seed=1).variables_by_name())
  return {"model": model, "cased": inputs / CASED, "configs": configs,
          "model_2_layers": two_layers,
          "pretrain_out": _pretraining_output_dir(inputs / "pretrain_out"),
          **_damaged_checkpoints(inputs, model), **_crafted_hf_folders(inputs)}


def _damaged_checkpoints(inputs, model):
  """Copies of the tiny model's checkpoint (and of a fine-tuned MRPC one), damaged.

  Truncated (half of the data file), a flipped byte in the middle of the data
  file, and the .index of a model of the same shapes (other weights, so other
  checksums) beside this data file.
  """
  import checkpoint_utils   # pylint: disable=g-import-not-at-top (imports TensorFlow)
  import modeling           # pylint: disable=g-import-not-at-top
  import tasks              # pylint: disable=g-import-not-at-top
  data, index = ".data-00000-of-00001", ".index"
  other = inputs / "other_model" / "bert_model.ckpt"
  checkpoint_utils.save_tensors(str(other), modeling.BertModel(
      modeling.BertConfig(**TINY), seed=2).variables_by_name())
  task = tasks.ClassifierTask(modeling.BertConfig(**TINY), num_labels=2)
  task.build("float32", seed=3)
  checkpoint_utils.save_tensors(str(inputs / "finetuned" / "model.ckpt"), task.variables())
  folders = {}
  for name, source, damage in (
      ("ckpt_truncated", model, lambda p: truncate_to_half(Path(f"{p}{data}"))),
      ("ckpt_flipped", model, lambda p: flip_middle_byte(Path(f"{p}{data}"))),
      ("ckpt_foreign_index", model,
       lambda p: Path(f"{p}{index}").write_bytes(Path(f"{other}{index}").read_bytes())),
      ("finetuned_truncated", inputs / "finetuned", lambda p: truncate_to_half(Path(f"{p}{data}"))),
      ("finetuned_flipped", inputs / "finetuned", lambda p: flip_middle_byte(Path(f"{p}{data}")))):
    shutil.copytree(source, inputs / name)
    damage(next((inputs / name).glob("*.index")).with_suffix(""))
    folders[name] = inputs / name
  return folders


def _crafted_hf_folders(inputs):
  """Hugging Face folders whose weights are crafted to escape or break the reader."""
  config = json.dumps(dict(TINY, model_type="bert"))
  folders = {}

  def folder(name, files):
    for file_name, data in dict(files, **{"config.json": config}).items():
      _write(inputs / name / file_name, data)
    folders[name] = inputs / name

  def safetensors_file(header):
    encoded = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    return len(encoded).to_bytes(8, "little") + encoded

  _write(inputs / "passwd", "root:x:0:0:root:/root:/bin/bash\n")
  folder("hf_shard_escape", {"model.safetensors.index.json": json.dumps(
      {"weight_map": {"embeddings.word_embeddings.weight": "../passwd"}})})
  folder("hf_deep_header", {"model.safetensors": safetensors_file(
      '{"x":' * 200_000 + "1" + "}" * 200_000)})
  # 2**32 * 2**32 elements: 0 in int64 arithmetic, so 0 bytes would "fit".
  folder("hf_huge_shape", {"model.safetensors": safetensors_file(
      {"x": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}})})
  return folders


def _pretraining_output_dir(folder):
  """What run_pretraining.py leaves in --output_dir (its Trainer saves model.ckpt-0).

  Made here, not by a run: tracing a training step costs 10-25 s on the test
  machine, and the case only needs the checkpoint of another model.
  """
  import modeling           # pylint: disable=g-import-not-at-top
  import tasks              # pylint: disable=g-import-not-at-top
  import training           # pylint: disable=g-import-not-at-top
  task = tasks.PretrainingTask(modeling.BertConfig(**TINY))
  trainer = training.Trainer(task, training.TrainingConfig(output_dir=str(folder),
                                                           num_train_steps=1))
  trainer.save()
  return folder


def _unreadable_files(inputs):
  """Copies of good files with mode 000 (their folder stays readable)."""
  folder = inputs / "unreadable"
  for name, source in (("vocab.txt", inputs / "model" / "vocab.txt"),
                       ("bert_config.json", inputs / "model" / "bert_config.json"),
                       ("corpus.txt", inputs / "corpus.txt"),
                       ("train.tsv", inputs / "mrpc" / "train.tsv"),
                       ("train.txt", inputs / "conll" / "train.txt"),
                       ("train.json", inputs / "squad" / "train.json")):
    _write(folder / name, source.read_bytes())
    (folder / name).chmod(0)
  return folder


# -------------------------------------------------------------------- running


def snapshot(directory):
  """{relative path: (size, mtime_ns) or "dir"} of everything below `directory`; None if absent."""
  directory = Path(directory)
  if not directory.exists():
    return None
  tree = {}
  for path in directory.rglob("*"):
    stat = path.lstat()
    tree[str(path.relative_to(directory))] = ("dir" if path.is_dir()
                                              else (stat.st_size, stat.st_mtime_ns))
  return tree


def _command(script, args, paths, out):
  """argv of a command: templates filled with the paths ({out} = this run's output)."""
  values = dict(paths, out=out)
  return [str(REPO_ROOT / script)] + [a.format(**{k: str(v) for k, v in values.items()})
                                      for a in args]


def _env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1")
  env.pop("BERT_DEBUG", None)   # it prints tracebacks on purpose
  return env


@dataclasses.dataclass
class Result:
  returncode: int
  stdout: str
  stderr: str


class ForkServer:
  """tests/cli_forkserver.py in a subprocess; `run` runs a batch of commands."""

  def __init__(self, logs):
    self.logs = logs
    self.seconds = {}   # of each command, for finding slow cases
    self.process = subprocess.Popen(
        [sys.executable, str(FORKSERVER), str(MAX_PARALLEL)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())

  def run(self, commands, cwd):
    """commands: {id: argv}; returns {id: Result} once all of them have finished."""
    for name, argv in commands.items():
      spec = {"id": name, "script": argv[0], "args": argv[1:], "cwd": str(cwd), "env": _env(),
              "stdout": str(self.logs / f"{name}.out"), "stderr": str(self.logs / f"{name}.err")}
      self.process.stdin.write(json.dumps(spec) + "\n")
    self.process.stdin.write(json.dumps({"barrier": True}) + "\n")
    self.process.stdin.flush()
    codes = {}
    for line in self.process.stdout:
      message = json.loads(line)
      if message.get("barrier"):
        break
      codes[message["id"]] = message["returncode"]
      self.seconds[message["id"]] = message["seconds"]
    return {name: Result(codes.get(name, "lost by the fork server"),
                         (self.logs / f"{name}.out").read_text(errors="replace"),
                         (self.logs / f"{name}.err").read_text(errors="replace"))
            for name in commands}

  def close(self):
    self.process.stdin.close()
    try:
      self.process.wait(timeout=60)
    finally:
      if self.process.poll() is None:
        self.process.kill()
        self.process.wait()


def run_plain(argv, cwd):
  """`python <script>.py ...` as a user types it."""
  result = subprocess.run([sys.executable] + argv, cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=300)
  return Result(result.returncode, result.stdout, result.stderr)


def run_batch(server, commands, cwd):
  """{id: argv} -> {id: Result}: forked by `server`, or plain subprocesses if it is None."""
  if server is not None:
    return server.run(commands, cwd)
  with concurrent.futures.ThreadPoolExecutor(MAX_PARALLEL) as pool:
    futures = {name: pool.submit(run_plain, argv, cwd) for name, argv in commands.items()}
    return {name: future.result() for name, future in futures.items()}


# ------------------------------------------------------------------- fixtures


def _selected(request):
  """Names of the cases whose tests were selected (all of them for the other tests)."""
  names = set()
  for item in request.session.items:
    if item.module is request.module:
      if hasattr(item, "callspec") and "case" in item.callspec.params:
        names.add(item.callspec.params["case"])
      else:
        names.update(PLAIN_CHECKS)
  return names


def _needs_mrpc_run(case):
  args = (BASE[case.script] if case.base else ()) + case.args
  return case.start_from == "mrpc_out" or any("{mrpc_out}" in a for a in args)


def _prepare(case, paths, out):
  """The case's command, its output folder made as the case starts from."""
  if case.start_from == "":
    out.mkdir()
  elif case.start_from:
    shutil.copytree(paths[case.start_from], out)
  args = (BASE[case.script] if case.base else ()) + case.args
  return _command(case.script, args, paths, out)


def _derived_records(paths, inputs, server, cwd):
  """From the control's records: a file made with max_seq_length 24, a damaged copy."""
  records = paths["records"]
  other = inputs / "records" / "records_24.tfrecord"
  command = _command(CPD, BASE[CPD] + ("--max_seq_length=24",), paths, other.parent)
  command = [a.replace(str(other.parent / "examples.tfrecord"), str(other)) for a in command]
  result = run_batch(server, {"records_24": command}, cwd)["records_24"]
  assert result.returncode == 0, result.stderr[-2000:]
  data = bytearray(records.read_bytes())
  data[len(data) // 2] ^= 0xFF    # a flipped byte in the middle of a record
  damaged = _write(inputs / "records" / "damaged.tfrecord", bytes(data))
  return {"records_24": other, "records_damaged": damaged,
          **_edited_records(records, inputs / "records")}


def _edited_records(records, folder):
  """Copies of the records with the second record edited: readable, but not this model's."""
  import tensorflow as tf   # pylint: disable=g-import-not-at-top

  def foreign_id(feature):
    feature["input_ids"].int64_list.value[1] = 500   # beyond the 41-token vocab

  def short_list(feature):
    del feature["masked_lm_ids"].int64_list.value[-1]

  def float_label(feature):
    label = feature["next_sentence_labels"].int64_list.value[0]
    feature["next_sentence_labels"].Clear()
    feature["next_sentence_labels"].float_list.value.append(label)

  paths = {}
  for name, edit in (("foreign_id", foreign_id), ("short_list", short_list),
                     ("float_label", float_label)):
    path = folder / f"{name}.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
      for number, data in enumerate(tf.data.TFRecordDataset(str(records)).as_numpy_iterator()):
        example = tf.train.Example.FromString(data)
        if number == 1:
          edit(example.features.feature)
        writer.write(example.SerializeToString())
    paths[f"records_{name}"] = path
  return paths


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
  """Builds the inputs, runs the controls and the selected cases.

  Returns:
    dict with "controls", "cases" and "plain" ({name: Result}), "before" and
    "after" ({case: snapshot of its output folder}), "unchanged" ({what:
    (snapshot before the cases, after)}) and "cwd" (snapshot).
  """
  root = tmp_path_factory.mktemp("bad_inputs")
  inputs, outs, logs, cwd = (root / "inputs", root / "out", root / "logs", root / "cwd")
  for folder in (inputs, outs, logs, cwd):
    folder.mkdir()
  # The server imports TensorFlow while this process writes the inputs.
  server = None if PLAIN else ForkServer(logs)
  try:
    paths = {"missing": root / "missing", **_data_files(inputs), **_model_files(inputs)}
    paths.update(records=root / "records" / "examples.tfrecord", mrpc_out=root / "mrpc_out")
    paths["records"].parent.mkdir()
    if UNREADABLE_FILES_WORK:
      paths["unreadable"] = _unreadable_files(inputs)
      request.addfinalizer(lambda: [p.chmod(0o644) for p in paths["unreadable"].iterdir()])
    control_out = {RC: paths["mrpc_out"], CPD: paths["records"].parent}
    control = {s: _command(s, BASE[s], paths, control_out.get(s, root / "control" / s))
               for s in CONTROLS}
    selected = [case for case in CASES if case.name in _selected(request) and
                (UNREADABLE_FILES_WORK or not case.needs_unreadable_files)]
    commands, before = {}, {}

    def prepare(cases):
      for case in cases:
        commands[case.name] = _prepare(case, paths, outs / case.name)
        before[case.name] = snapshot(outs / case.name)
      return {case.name: commands[case.name] for case in cases}

    # The records first (run_pretraining.py's cases read them); then the MRPC
    # run with, beside it, the cases that do not read its folder; then those.
    controls = run_batch(server, {f"control-{CPD}": control[CPD]}, cwd)
    paths.update(_derived_records(paths, inputs, server, cwd))
    unchanged = {"inputs": [snapshot(inputs)], "records": [snapshot(paths["records"].parent)]}
    first = {f"control-{s}": control[s] for s in (RC, SE, CC)}
    results = run_batch(server, {**first, **prepare(
        [c for c in selected if not _needs_mrpc_run(c)])}, cwd)
    controls.update({name: results.pop(name) for name in first})
    unchanged["mrpc_out"] = [snapshot(paths["mrpc_out"])]
    results.update(run_batch(server, prepare([c for c in selected if _needs_mrpc_run(c)]),
                             cwd))
  finally:
    if server is not None:
      server.close()
      (logs / "seconds.json").write_text(json.dumps(server.seconds, indent=1))
  plain = {}
  if not PLAIN:
    plain = run_batch(None, {name: commands[name] for name in PLAIN_CHECKS
                             if name in commands}, cwd)
  for name, folder in (("inputs", inputs), ("records", paths["records"].parent),
                       ("mrpc_out", paths["mrpc_out"])):
    unchanged[name].append(snapshot(folder))
  return {"controls": controls, "cases": results, "plain": plain, "before": before,
          "after": {case.name: snapshot(outs / case.name) for case in selected},
          "unchanged": unchanged, "cwd": snapshot(cwd)}


# ----------------------------------------------------------------------- tests


def last_line(text):
  lines = [line for line in text.splitlines() if line.strip()]
  return lines[-1] if lines else ""


def _describe(result):
  return f"exit {result.returncode}\n--- stderr (end) ---\n{result.stderr[-3000:]}"


def test_every_scripts_working_command_succeeds(runs):
  """The controls: the cases below differ from these commands by one thing."""
  assert set(runs["controls"]) == {f"control-{s}" for s in CONTROLS}
  for name, result in runs["controls"].items():
    assert result.returncode == 0, f"{name}: {_describe(result)}"
    assert "Traceback" not in result.stderr, name


def test_the_table_covers_every_script_and_enough_cases():
  assert len(CASES) >= 35
  assert len(set(CASE_NAMES)) == len(CASE_NAMES)
  assert {case.script for case in CASES} == set(BASE)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_is_one_error_line_and_leaves_no_output(runs, case):
  spec = next(c for c in CASES if c.name == case)
  if spec.needs_unreadable_files and not UNREADABLE_FILES_WORK:
    pytest.skip("running as root (os.geteuid() == 0): chmod 000 does not stop reading")
  result = runs["cases"][case]
  assert result.returncode == 1, _describe(result)
  assert "Traceback" not in result.stderr, _describe(result)
  line = last_line(result.stderr)
  assert line.startswith(f"{spec.script}: error: "), _describe(result)
  assert result.stderr.count(f"{spec.script}: error:") == 1, _describe(result)
  missing = [text for text in spec.expect if text not in line]
  assert not missing, f"{missing} not in:\n{line}"
  assert runs["after"][case] == runs["before"][case], (
      f"output changed:\nbefore {runs['before'][case]}\nafter  {runs['after'][case]}")


def test_failed_runs_write_nothing_outside_their_output_folder(runs):
  for name, (before, after) in runs["unchanged"].items():
    assert after == before, name
  assert runs["cwd"] == {}


def test_forked_runs_fail_exactly_as_plain_subprocesses(runs):
  if PLAIN:
    pytest.skip("every case already ran as a plain subprocess")
  assert runs["plain"], "no case of PLAIN_CHECKS was run"
  for name, plain in runs["plain"].items():
    forked = runs["cases"][name]
    assert (plain.returncode, last_line(plain.stderr)) == (
        forked.returncode, last_line(forked.stderr)), name
    assert "Traceback" not in plain.stderr, _describe(plain)
