"""Tests for classifier_data.py on the real data sets in ../shared/data.

Counts are those of ../shared/data/SOURCES.md; first examples are checked
field by field; features are checked id by id on a hand-built vocab.
"""

import collections
import json
import logging
import os
import re
import time

import numpy as np
import pytest
import tensorflow as tf

import classifier_data as cd
import errors
import metrics
import run_info
import tokenization

# id = line number in the vocab file.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat",
         "a", "dog", "##s", "天", "使", "！"]
IDS = {token: i for i, token in enumerate(VOCAB)}


@pytest.fixture
def data_dir(shared_dir):
  path = shared_dir / "data"
  if not path.is_dir():
    pytest.skip("%s not found" % path)
  return path


@pytest.fixture
def vocab_file(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  return str(path)


@pytest.fixture
def tokenizer(vocab_file):
  return tokenization.FullTokenizer(vocab_file, do_lower_case=True)


def _label_counts(examples):
  return dict(collections.Counter(e.label for e in examples))


def _read_all(task, folder, **options):
  processor = cd.get_processor(task, **options)
  return processor, [getattr(processor, "get_%s_examples" % split)(str(folder))
                     for split in ("train", "dev", "test")]


# ----------------------------------------------------------------------------
# GLUE processors on the real files.


def test_mrpc(data_dir):
  processor, (train, dev, test) = _read_all("MRPC", data_dir / "MRPC")
  assert (len(train), len(dev), len(test)) == (3668, 408, 1725)
  assert _label_counts(train) == {"1": 2474, "0": 1194}
  assert _label_counts(dev) == {"1": 279, "0": 129}
  assert train[0] == cd.InputExample(
      guid="train-0",
      text_a='Amrozi accused his brother , whom he called " the witness " , '
      "of deliberately distorting his evidence .",
      text_b='Referring to him as only " the witness " , Amrozi accused his '
      "brother of deliberately distorting his evidence .",
      label="1")
  # GLUE test files carry no labels: the first label is the placeholder and
  # the guid holds the file's index column (for the submission file).
  assert test[0].guid == "test-0" and test[-1].guid == "test-1724"
  assert test[0].text_a.startswith("PCCW 's chief operating officer")
  assert test[0].text_b.startswith("Current Chief Operating Officer")
  assert {e.label for e in test} == {"0"}
  assert processor.test_has_labels is False
  assert processor.get_labels() == ["0", "1"]
  assert processor.metric_kind == "f1" and not processor.is_regression


def test_cola(data_dir):
  processor, (train, dev, test) = _read_all("cola", data_dir / "CoLA")
  assert (len(train), len(dev), len(test)) == (8551, 1043, 1063)
  assert _label_counts(train) == {"1": 6023, "0": 2528}
  assert _label_counts(dev) == {"1": 721, "0": 322}
  assert train[0] == cd.InputExample(
      "train-0", "Our friends won't buy this analysis, let alone the next "
      "one we propose.", None, "1")
  assert test[0] == cd.InputExample("test-0", "Bill whistled past the house.",
                                    None, "0")
  assert processor.test_has_labels is False
  assert processor.metric_kind == "mcc"


def test_sst2_reads_67k_rows_quickly(data_dir):
  processor = cd.get_processor("SST-2")
  start = time.perf_counter()
  train = processor.get_train_examples(str(data_dir / "SST-2"))
  seconds = time.perf_counter() - start
  # A generous bound: it takes well under a second; quadratic code would not.
  assert seconds < 5, seconds
  assert len(train) == 67349
  assert _label_counts(train) == {"1": 37569, "0": 29780}
  assert train[0] == cd.InputExample(
      "train-0", "hide new secretions from the parental units ", None, "0")
  dev = processor.get_dev_examples(str(data_dir / "SST-2"))
  test = processor.get_test_examples(str(data_dir / "SST-2"))
  assert (len(dev), len(test)) == (872, 1821)
  assert _label_counts(dev) == {"1": 444, "0": 428}
  assert test[0] == cd.InputExample(
      "test-0", "uneasy mishmash of styles and genres .", None, "0")
  assert cd.get_processor("sst2").get_labels() == ["0", "1"]


def test_rte(data_dir):
  processor, (train, dev, test) = _read_all("rte", data_dir / "RTE")
  assert (len(train), len(dev), len(test)) == (2490, 277, 3000)
  assert _label_counts(train) == {"entailment": 1249, "not_entailment": 1241}
  assert _label_counts(dev) == {"entailment": 146, "not_entailment": 131}
  assert train[0] == cd.InputExample(
      "train-0", "No Weapons of Mass Destruction Found in Iraq Yet.",
      "Weapons of Mass Destruction Found in Iraq.", "not_entailment")
  assert test[0].label == "entailment" and processor.test_has_labels is False


def test_qnli_dev_and_missing_train(data_dir):
  processor = cd.get_processor("qnli")
  dev = processor.get_dev_examples(str(data_dir / "QNLI"))
  assert len(dev) == 5463
  assert _label_counts(dev) == {"entailment": 2702, "not_entailment": 2761}
  assert dev[0] == cd.InputExample(
      "dev-0", "What came into force after the new constitution was herald?",
      "As of that day, the new constitution heralding the Second Republic "
      "came into force.", "entailment")
  assert len(processor.get_test_examples(str(data_dir / "QNLI"))) == 5463
  # QNLI/train.tsv is not in the shared data: a real missing file.
  with pytest.raises(errors.DataError, match=r"QNLI/train\.tsv: file not found; "
                     r"expected the QNLI train\.tsv file \(header; index, "
                     r"question, sentence, label\)"):
    processor.get_train_examples(str(data_dir / "QNLI"))


def test_wnli(data_dir):
  processor, (train, dev, test) = _read_all("WNLI", data_dir / "WNLI")
  assert (len(train), len(dev), len(test)) == (635, 71, 146)
  assert train[0] == cd.InputExample(
      "train-0", "I stuck a pin through a carrot. When I pulled the pin out, "
      "it had a hole.", "The carrot had a hole.", "1")
  assert set(_label_counts(train)) == {"0", "1"}


def test_stsb_is_regression_with_float_labels(data_dir):
  processor, (train, dev, test) = _read_all("sts-b", data_dir / "STS-B")
  assert (len(train), len(dev), len(test)) == (5749, 1500, 1379)
  assert processor.is_regression and processor.get_labels() == []
  assert processor.num_labels == 1 and processor.metric_kind == "regression"
  assert train[0] == cd.InputExample("train-0", "A plane is taking off.",
                                     "An air plane is taking off.", 5.0)
  assert train[1].label == 3.8
  assert all(isinstance(e.label, float) and 0 <= e.label <= 5
             for e in train + dev)
  assert test[0] == cd.InputExample("test-0", "A girl is styling her hair.",
                                    "A girl is brushing her hair.", 0.0)
  assert cd.get_processor("stsb").is_regression


@pytest.mark.parametrize("score", ["nan", "inf", "-Infinity", "1e999"])
def test_a_regression_label_that_is_not_a_finite_number_is_refused(tmp_path, score):
  """A nan or 1e999 score trained and evaluated to eval_pearson = nan, exit 0."""
  header = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
            "sentence2\tscore\n")
  row = "{}\tmain-news\tf\t2012\t1\tnone\tnone\ta cat\ta dog\t{}\n"
  for custom in (False, True):
    (tmp_path / "dev.tsv").write_text(header + row.format(0, "1.5") + row.format(1, score))
    processor = (cd.get_processor("custom", text_a_column="sentence1",
                                  text_b_column="sentence2", label_column="score",
                                  is_regression=True) if custom else cd.get_processor("sts-b"))
    with pytest.raises(errors.DataError, match=re.escape(
        f"{tmp_path / 'dev.tsv'}, line 3: label {score!r} is not a finite number; this is a "
        "regression task")):
      processor.get_dev_examples(str(tmp_path))
    (tmp_path / "dev.tsv").write_text(header + row.format(0, "1.5") + row.format(1, "-2e0"))
    assert [e.label for e in processor.get_dev_examples(str(tmp_path))] == [1.5, -2.0]


def test_an_option_a_task_does_not_take_is_the_only_one_named():
  with pytest.raises(errors.DataError, match=r"^task custom does not take the option\(s\) "
                     r"regression; accepted: data_dir, "):
    cd.get_processor("custom", text_a_column="text", regression=True)
  with pytest.raises(errors.DataError, match=r"^task mrpc does not take the option\(s\) "
                     r"language; accepted: none$"):
    cd.get_processor("mrpc", language="zh")


def test_xnli_simple_layout(data_dir):
  processor = cd.get_processor("XNLI")
  dev = processor.get_dev_examples(str(data_dir / "XNLI-zh-ERNIE"))
  assert len(dev) == 2490
  assert _label_counts(dev) == {"contradiction": 830, "entailment": 830,
                                "neutral": 830}
  assert dev[0].text_a == "他说，妈妈，我回来了。"
  assert dev[0].text_b.startswith("校车把他放下后")
  test = processor.get_test_examples(str(data_dir / "XNLI-zh-ERNIE"))
  assert len(test) == 5010
  assert set(_label_counts(test).values()) == {1670}
  assert processor.test_has_labels is True
  with pytest.raises(errors.DataError, match=r"multinli\.train\.zh\.tsv.*or .*"
                     r"train\.tsv"):
    processor.get_train_examples(str(data_dir / "XNLI-zh-ERNIE"))


def test_xnli_reference_layout(tmp_path):
  (tmp_path / "multinli").mkdir()
  (tmp_path / "multinli" / "multinli.train.zh.tsv").write_text(
      "premise\thypo\tlabel\n前提\t假设\tcontradictory\n甲\t乙\tneutral\n",
      encoding="utf-8")
  parse = "\t".join(["p"] * 4)
  (tmp_path / "xnli.dev.tsv").write_text(
      "language\tgold_label\t%s\tsentence1\tsentence2\tpromptID\n" % parse
      + "en\tentailment\t%s\tHello\tHi\t1\n" % parse
      + "zh\tneutral\t%s\t你好\t您好\t1\n" % parse, encoding="utf-8")
  processor = cd.get_processor("xnli")
  train = processor.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in train] == [
      ("前提", "假设", "contradiction"), ("甲", "乙", "neutral")]
  dev = processor.get_dev_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in dev] == [
      ("你好", "您好", "neutral")]
  dev_en = cd.get_processor("xnli", language="en").get_dev_examples(
      str(tmp_path))
  assert [(e.text_a, e.label) for e in dev_en] == [("Hello", "entailment")]


def test_lcqmc_release_layout(data_dir, tmp_path):
  """The HIT release: train/dev/test.txt, no header, text_a, text_b, label."""
  processor = cd.get_processor("LCQMC")
  dev = processor.get_dev_examples(str(data_dir / "LCQMC"))
  assert len(dev) == 8802
  assert _label_counts(dev) == {"1": 4402, "0": 4400}
  assert dev[0] == cd.InputExample("dev-0", "开初婚未育证明怎么弄？",
                                   "初婚未育情况证明怎么开？", "1")
  test = processor.get_test_examples(str(data_dir / "LCQMC"))
  assert len(test) == 12500 and _label_counts(test) == {"0": 6250, "1": 6250}
  assert processor.test_has_labels is True
  assert processor.get_labels() == ["0", "1"] and processor.metric_names == ["eval_accuracy"]
  # The shared copy has no train.txt (it is above 4 MiB): the error names the layout.
  with pytest.raises(errors.DataError, match=r"LCQMC/train\.txt: file not found; expected "
                     r"the LCQMC train\.txt file \(no header; text_a, text_b, label\)"):
    processor.get_train_examples(str(data_dir / "LCQMC"))
  # train.txt has the layout of dev.txt; a two-column test file is unlabeled.
  rows = (data_dir / "LCQMC" / "dev.txt").read_text(encoding="utf-8").splitlines()
  (tmp_path / "train.txt").write_text("\n".join(rows[:5]) + "\n", encoding="utf-8")
  (tmp_path / "test.txt").write_text(
      "".join(row.rsplit("\t", 1)[0] + "\n" for row in rows[5:8]), encoding="utf-8")
  processor = cd.get_processor("lcqmc")
  train = processor.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in train] == [
      tuple(row.split("\t")) for row in rows[:5]]
  test = processor.get_test_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.text_b, e.label) for e in test] == [
      ("test-%d" % i,) + tuple(row.split("\t")[:2]) + ("0",)
      for i, row in enumerate(rows[5:8])]
  assert processor.test_has_labels is False


def test_chnsenticorp_ernie_layout(data_dir):
  """ERNIE's copy: train/dev/test.tsv with the header label, text_a."""
  processor, (train, dev, test) = _read_all("ChnSentiCorp", data_dir / "ChnSentiCorp")
  assert (len(train), len(dev), len(test)) == (9600, 1200, 1200)
  assert _label_counts(train) == {"1": 4799, "0": 4801}
  assert _label_counts(dev) == {"1": 593, "0": 607}
  assert _label_counts(test) == {"1": 608, "0": 592}
  assert train[0].guid == "train-0" and train[0].label == "1" and train[0].text_b is None
  assert train[0].text_a.startswith("选择珠江花园的原因就是方便")
  assert test[1].text_a.startswith("怀着十分激动的心情放映")
  assert processor.test_has_labels is True
  assert processor.metric_names == ["eval_accuracy"]


def test_chnsenticorp_paddlenlp_layout_and_bad_header(data_dir, tmp_path):
  """The PaddleNLP (LUGE) release: a qid column, and a test file without labels."""
  rows = [line.split("\t") for line in (data_dir / "ChnSentiCorp" / "dev.tsv").read_text(
      encoding="utf-8").splitlines()[1:4]]
  (tmp_path / "dev.tsv").write_text("qid\tlabel\ttext_a\n" + "".join(
      "%d\t%s\t%s\n" % (100 + i, label, text) for i, (label, text) in enumerate(rows)),
      encoding="utf-8")
  (tmp_path / "test.tsv").write_text("qid\ttext_a\n" + "".join(
      "%d\t%s\n" % (i, text) for i, (_, text) in enumerate(rows)), encoding="utf-8")
  processor = cd.get_processor("chnsenticorp")
  dev = processor.get_dev_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.label) for e in dev] == [
      ("dev-%d" % (100 + i), text, label) for i, (label, text) in enumerate(rows)]
  test = processor.get_test_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.label) for e in test] == [
      ("test-%d" % i, text, "0") for i, (_, text) in enumerate(rows)]
  assert processor.test_has_labels is False
  (tmp_path / "train.tsv").write_text("qid\ttext_a\n1\t很好\n", encoding="utf-8")
  with pytest.raises(errors.DataError, match=r"train\.tsv, line 1: the header \['qid', "
                     r"'text_a'\] has no label column; expected the ChnSentiCorp"):
    processor.get_train_examples(str(tmp_path))


def _mnli_row(index, s1, s2, labels):
  return "\t".join([str(index), "p", "q", "g", "b1", "b2", "p1", "p2", s1, s2]
                   + labels) + "\n"


def test_mnli_matched_and_mismatched_files(tmp_path):
  header = _mnli_row("index", "sentence1", "sentence2", ["label1",
                                                         "gold_label"])
  (tmp_path / "train.tsv").write_text(
      header + _mnli_row(7, "A", "B", ["neutral", "neutral"]))
  (tmp_path / "dev_matched.tsv").write_text(
      header + _mnli_row(8, "C", "D", ["neutral", "entailment"]))
  (tmp_path / "dev_mismatched.tsv").write_text(
      header + _mnli_row(9, "E", "F", ["neutral", "contradiction"]))
  test_header = _mnli_row("index", "sentence1", "sentence2", [])
  (tmp_path / "test_matched.tsv").write_text(
      test_header + _mnli_row(0, "G", "H", []))
  (tmp_path / "test_mismatched.tsv").write_text(
      test_header + _mnli_row(0, "I", "J", []))
  matched = cd.get_processor("mnli")
  mismatched = cd.get_processor("MNLI-MM")
  assert matched.get_train_examples(str(tmp_path)) == [
      cd.InputExample("train-7", "A", "B", "neutral")]
  assert matched.get_dev_examples(str(tmp_path)) == [
      cd.InputExample("dev-8", "C", "D", "entailment")]
  assert mismatched.get_dev_examples(str(tmp_path)) == [
      cd.InputExample("dev-9", "E", "F", "contradiction")]
  assert matched.get_test_examples(str(tmp_path)) == [
      cd.InputExample("test-0", "G", "H", "contradiction")]
  assert mismatched.get_test_examples(str(tmp_path))[0].text_a == "I"


def test_qqp_layouts_and_labeled_test_file(tmp_path):
  (tmp_path / "train.tsv").write_text(
      "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
      "5\t11\t12\tHow?\tWhy?\t0\n")
  (tmp_path / "test.tsv").write_text(
      "id\tquestion1\tquestion2\n3\tWho?\tWhom?\n")
  processor = cd.get_processor("qqp")
  assert processor.get_train_examples(str(tmp_path)) == [
      cd.InputExample("train-5", "How?", "Why?", "0")]
  assert processor.get_test_examples(str(tmp_path)) == [
      cd.InputExample("test-3", "Who?", "Whom?", "0")]
  assert processor.test_has_labels is False
  # A labeled file used as the test set (dev copied to test.tsv) keeps labels.
  (tmp_path / "test.tsv").write_text(
      (tmp_path / "train.tsv").read_text().replace("\t0\n", "\t1\n"))
  assert processor.get_test_examples(str(tmp_path))[0].label == "1"
  assert processor.test_has_labels is True


# ----------------------------------------------------------------------------
# The users' own data (csv / custom processor) on real Chinese data sets.


def test_custom_json_array_smp2020(data_dir):
  processor = cd.get_processor(
      "custom", train_file="virus_train.txt",
      dev_file="virus_eval_labeled.txt", text_a_column="content",
      label_column="label", id_column="id")
  folder = str(data_dir / "SMP2020-EWECT")
  train = processor.get_train_examples(folder)
  dev = processor.get_dev_examples(folder)
  assert (len(train), len(dev)) == (8606, 2000)
  # Labels read from the training file are sorted, whatever the row order.
  assert processor.get_labels() == ["angry", "fear", "happy", "neural", "sad",
                                    "surprise"]
  assert _label_counts(train) == {"happy": 4423, "neural": 1460, "angry": 1322,
                                  "sad": 649, "fear": 555, "surprise": 197}
  assert _label_counts(dev) == {"happy": 923, "neural": 476, "angry": 314,
                                "sad": 165, "fear": 75, "surprise": 47}
  assert train[0] == cd.InputExample("train-1", "天使", None, "happy")
  assert dev[-1].guid == "dev-2000"
  assert processor.num_labels == 6 and processor.metric_kind == "multiclass"
  assert processor.metric_names[:3] == ["eval_accuracy", "eval_macro_f1",
                                        "eval_micro_f1"]


def test_custom_header_tsv_chnsenticorp(data_dir):
  processor = cd.get_processor("csv")  # default columns text_a, label
  folder = str(data_dir / "ChnSentiCorp")
  train = processor.get_train_examples(folder)
  assert len(train) == 9600
  assert _label_counts(train) == {"1": 4799, "0": 4801}
  assert train[0].label == "1"
  assert train[0].text_a.startswith("选择珠江花园的原因就是方便")
  dev = processor.get_dev_examples(folder)
  test = processor.get_test_examples(folder)
  assert _label_counts(dev) == {"1": 593, "0": 607}
  assert _label_counts(test) == {"1": 608, "0": 592}
  assert processor.test_has_labels is True
  # Integer columns with header auto-detection read the same examples.
  by_index = cd.get_processor("csv", text_a_column=1, label_column=0)
  assert by_index.get_train_examples(folder) == train


def test_custom_csv_chnsenticorp_htl_all(data_dir):
  processor = cd.get_processor(
      "csv", train_file="ChnSentiCorp_htl_all.csv", text_a_column="review",
      label_column="label")
  train = processor.get_train_examples(str(data_dir / "ChnSentiCorp_htl_all"))
  assert len(train) == 7766
  assert _label_counts(train) == {"1": 5322, "0": 2444}
  # Standard CSV quoting: "" inside a quoted field is one quote character.
  assert train[0] == cd.InputExample(
      "train-0", '距离川沙公路较近,但是公交指示不对,如果是"蔡陆线"的话,会非常麻烦.'
      "建议用别的路线.房间较为简单.", None, "1")


def test_custom_integer_columns_without_header_lcqmc(data_dir):
  processor = cd.get_processor(
      "csv", dev_file="dev.txt", test_file="test.txt", text_a_column="0",
      text_b_column=1, label_column=2, labels="0,1")
  folder = str(data_dir / "LCQMC")
  dev = processor.get_dev_examples(folder)
  test = processor.get_test_examples(folder)
  assert (len(dev), len(test)) == (8802, 12500)
  assert _label_counts(dev) == {"1": 4402, "0": 4400}
  assert _label_counts(test) == {"1": 6250, "0": 6250}
  assert dev[0] == cd.InputExample("dev-0", "开初婚未育证明怎么弄？",
                                   "初婚未育情况证明怎么开？", "1")
  # Without a training file and without labels there is no label list.
  no_labels = cd.get_processor("csv", dev_file="dev.txt", text_a_column=0,
                               text_b_column=1, label_column=2)
  with pytest.raises(errors.DataError, match=r"train\.tsv: no training file to "
                     r"read the labels from, and no labels.txt in \[\]; "
                     r"pass labels="):
    no_labels.get_dev_examples(folder)


def test_labels_saved_by_training_serve_predict_only_run(data_dir, tmp_path):
  folder = str(data_dir / "LCQMC")
  trained = cd.get_processor("csv", train_file="dev.txt", text_a_column=0,
                             text_b_column=1, label_column=2)
  trained.get_train_examples(folder)
  cd.save_labels(str(tmp_path / run_info.LABELS_FILE), trained.get_labels())
  assert (tmp_path / "labels.txt").read_text() == "0\n1\n"
  labels = cd.load_labels(str(tmp_path / run_info.LABELS_FILE))
  predictor = cd.get_processor("csv", test_file="test.txt", text_a_column=0,
                               text_b_column=1, label_column=2, labels=labels)
  assert len(predictor.get_test_examples(folder)) == 12500
  # Found by get_labels in the folders a caller searches (e.g. output_dir).
  searched = cd.get_processor("csv", test_file="test.txt", text_a_column=0,
                              text_b_column=1, label_column=2)
  assert searched.get_labels(data_dir=folder, label_dirs=[
      str(tmp_path / "elsewhere"), str(tmp_path)]) == ["0", "1"]
  assert len(searched.get_test_examples(folder)) == 12500
  # The saved list (the trained head's order) wins over the training file.
  cd.save_labels(str(tmp_path / run_info.LABELS_FILE), ["1", "0"])
  assert cd.get_processor(
      "csv", train_file="dev.txt", text_a_column=0, text_b_column=1,
      label_column=2).get_labels(folder, [str(tmp_path)]) == ["1", "0"]
  with pytest.raises(errors.DataError, match="labels.txt: file not found"):
    cd.load_labels(str(tmp_path / "missing" / "labels.txt"))
  # A byte-order mark (a Windows editor's save) is not part of the first label,
  # and an empty file is an error, not a model with no labels (run_ner read both as is).
  (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfB-LOC\nO\n")
  assert cd.load_labels(str(tmp_path / "bom.txt")) == ["B-LOC", "O"]
  (tmp_path / "empty.txt").write_text("\n")
  with pytest.raises(errors.DataError, match="empty.txt: no labels in the file"):
    cd.load_labels(str(tmp_path / "empty.txt"))


def test_a_labels_file_must_agree_with_its_runs_record(tmp_path):
  """labels.txt edited or copied from another run would swap the trained classes."""
  path = str(tmp_path / run_info.LABELS_FILE)
  cd.save_labels(path, ["pos", "neg"])
  record = tmp_path / run_info.RUN_INFO_FILE
  record.write_text(json.dumps({"task_kind": "classifier", "label_list": ["pos", "neg"]}))
  assert cd.load_labels(path) == ["pos", "neg"]
  cd.save_labels(path, ["neg", "pos"])
  with pytest.raises(errors.DataError, match=r"labels.txt \(neg,pos\) and .*run_info.json "
                     r"\(pos,neg\) list different labels"):
    cd.load_labels(path)
  # A record without labels (regression) or a damaged one does not stop the labels.
  record.write_text(json.dumps({"task_kind": "classifier", "label_list": []}))
  assert cd.load_labels(path) == ["neg", "pos"]
  record.write_text("{")
  assert cd.load_labels(path) == ["neg", "pos"]
  (tmp_path / "twice.txt").write_text("pos\nneg\npos\n")
  with pytest.raises(errors.DataError, match="twice.txt: pos listed more than once"):
    cd.load_labels(str(tmp_path / "twice.txt"))


def test_custom_jsonl_unlabeled_test_and_placeholder(tmp_path):
  (tmp_path / "train.jsonl").write_text(
      '{"q": "好", "y": "pos"}\n\n{"q": "坏", "y": "neg"}\n', encoding="utf-8")
  (tmp_path / "test.jsonl").write_text('{"q": "一般"}\n', encoding="utf-8")
  processor = cd.get_processor(
      "custom", train_file="train.jsonl", test_file="test.jsonl",
      text_a_column="q", label_column="y")
  train = processor.get_train_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.label) for e in train] == [
      ("train-0", "好", "pos"), ("train-1", "坏", "neg")]
  assert processor.get_labels() == ["neg", "pos"]
  test = processor.get_test_examples(str(tmp_path))
  assert test == [cd.InputExample("test-0", "一般", None, "neg")]
  assert processor.test_has_labels is False


def test_custom_numeric_labels_sort_numerically(tmp_path):
  (tmp_path / "train.tsv").write_text("10\tx\n2\ty\n1\tz\n")
  processor = cd.get_processor("csv", text_a_column=1, label_column=0)
  assert len(processor.get_train_examples(str(tmp_path))) == 3
  assert processor.get_labels() == ["1", "2", "10"]


def test_bom_does_not_stick_to_the_first_field(tmp_path):
  # A headerless file starting with a UTF-8 BOM: the first text is clean.
  (tmp_path / "train.tsv").write_bytes(
      b"\xef\xbb\xbfhello\t1\nworld\t0\n")
  processor = cd.get_processor("csv", text_a_column=0, label_column=1)
  train = processor.get_train_examples(str(tmp_path))
  assert [e.text_a for e in train] == ["hello", "world"]
  # A header starting with a BOM still names its first column.
  (tmp_path / "train.tsv").write_bytes(b"\xef\xbb\xbflabel\ttext_a\n1\thi\n0\tho\n")
  processor = cd.get_processor("csv")
  assert processor.get_train_examples(str(tmp_path))[0].text_a == "hi"


# ----------------------------------------------------------------------------
# Errors.


def test_short_row_names_file_line_and_columns(tmp_path):
  (tmp_path / "train.tsv").write_text(
      "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
      "1\t1\t2\ta\tb\n"
      "0\t3\t4\tonly four\n")
  with pytest.raises(errors.DataError) as error:
    cd.get_processor("mrpc").get_train_examples(str(tmp_path))
  message = str(error.value)
  assert message.startswith(str(tmp_path / "train.tsv") + ", line 3: ")
  assert "found 4 columns, need at least 5" in message
  assert "#1 String, #2 String" in message


@pytest.mark.parametrize("task,split,lines,line", [
    ("mrpc", "train", ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1\t2\ta\tb",
                       "1\t1\t2\tAmrozi accused\this brother\tb"], 3),
    ("mrpc", "test", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String",
                      "0\t1\t2\ta\tb\tc", "1\t3\t4\tc\td"], 2),
    ("cola", "train", ["gj04\t1\t\tOne more pseudo\tgeneralization.",
                       "gj04\t1\t\tfine"], 1),
    ("cola", "test", ["index\tsentence", "0\tBill whistled\tat Mary.", "1\tfine"], 2),
    ("chnsenticorp", "dev", ["label\ttext_a", "1\t\u5f88\u597d", "0\t\u4e0d\t\u597d"], 3)])
def test_a_row_wider_than_its_header_is_refused(tmp_path, task, split, lines, line):
  """A tab inside a text cut it there and shifted or dropped the rest of the row."""
  name = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}[split]
  (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
  read = getattr(cd.get_processor(task), f"get_{split}_examples")
  with pytest.raises(errors.DataError, match=re.escape(f"{tmp_path / name}, line {line}: "
                                                       "found ") + r"\d+ columns, more than "
                     r"the \d+ of (the header|every row) .*a tab inside a text\?"):
    read(str(tmp_path))
  (tmp_path / name).write_text("\n".join(lines[:line - 1] + lines[line:]) + "\n",
                               encoding="utf-8")
  assert len(read(str(tmp_path))) == len(lines) - 1 - (task != "cola" or split == "test")
  # A trailing tab (a spreadsheet's export) cuts nothing: read as the reference reads it.
  good = lines[:line - 1] + lines[line:]
  (tmp_path / name).write_text("\n".join(good[:-1] + [good[-1] + "\t"]) + "\n",
                               encoding="utf-8")
  assert len(read(str(tmp_path))) == len(lines) - 1 - (task != "cola" or split == "test")


def test_a_line_of_spaces_is_named_as_such_not_as_one_column(tmp_path):
  """A trailing line of spaces looks blank in an editor: 'found 1 columns' puzzles."""
  (tmp_path / "train.tsv").write_text(
      "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n   \n")
  with pytest.raises(errors.DataError) as error:
    cd.get_processor("mrpc").get_train_examples(str(tmp_path))
  assert str(error.value).startswith(
      f"{tmp_path / 'train.tsv'}, line 3: found a line of spaces only (delete it), "
      "need at least 5")
  (tmp_path / "train.tsv").write_text("text\tlabel\nthe cat sat\tpos\n  \n")
  with pytest.raises(errors.DataError) as error:
    cd.get_processor("csv", text_a_column="text").get_train_examples(str(tmp_path))
  assert str(error.value).startswith(
      f"{tmp_path / 'train.tsv'}, line 3: found a line of spaces only (delete it), "
      "need at least 2")


def test_unknown_label_names_line_label_and_accepted(tmp_path):
  (tmp_path / "dev.tsv").write_text(
      "index\tsentence1\tsentence2\tlabel\n"
      "0\ta\tb\tentailment\n"
      "\n"
      "1\tc\td\tcontradiction\n")
  with pytest.raises(errors.DataError, match=(
      r"dev\.tsv, line 4: unknown label 'contradiction'; accepted labels: "
      r"entailment, not_entailment")):
    cd.get_processor("rte").get_dev_examples(str(tmp_path))
  (tmp_path / "train.tsv").write_text("label\ttext_a\n1\tok\n2\tbad\n")
  with pytest.raises(errors.DataError, match=r"line 3: unknown label '2'"):
    cd.get_processor("csv", labels=["0", "1"]).get_train_examples(
        str(tmp_path))


def test_stsb_score_that_is_not_a_number(tmp_path):
  header = "\t".join(["c%d" % i for i in range(9)] + ["score"])
  (tmp_path / "train.tsv").write_text(
      header + "\n" + "\t".join(["x"] * 9 + ["high"]) + "\n")
  with pytest.raises(errors.DataError, match=r"line 2: label 'high' is not a "
                     r"number"):
    cd.get_processor("sts-b").get_train_examples(str(tmp_path))


def test_non_utf8_names_line(tmp_path):
  text = "sentence\tlabel\ngood\t1\n".encode("utf-8") + \
      "差\t0\n".encode("gb18030")
  (tmp_path / "train.tsv").write_bytes(text)
  with pytest.raises(errors.DataError, match=r"train\.tsv, line 3: not valid "
                     r"UTF-8 \(byte 0xb2\)"):
    cd.get_processor("sst-2").get_train_examples(str(tmp_path))


def test_empty_files(tmp_path):
  (tmp_path / "train.tsv").write_text("")
  with pytest.raises(errors.DataError, match=r"train\.tsv: no examples"):
    cd.get_processor("cola").get_train_examples(str(tmp_path))
  (tmp_path / "train.tsv").write_text("sentence\tlabel\n")
  with pytest.raises(errors.DataError, match=r"train\.tsv: no examples in the "
                     r"file; expected header; sentence, label"):
    cd.get_processor("sst-2").get_train_examples(str(tmp_path))
  (tmp_path / "train.tsv").write_text("label\ttext_a\n")
  with pytest.raises(errors.DataError, match="no examples"):
    cd.get_processor("csv").get_train_examples(str(tmp_path))
  (tmp_path / "train.tsv").write_text("")
  with pytest.raises(errors.DataError, match="no examples"):
    cd.get_processor("csv").get_train_examples(str(tmp_path))


def test_missing_file_names_file_and_layout(tmp_path):
  with pytest.raises(errors.DataError, match=(
      r"CoLA/dev\.tsv: file not found; expected the CoLA dev\.tsv file "
      r"\(no header; source, label, original label, sentence\)")):
    cd.get_processor("cola").get_dev_examples(str(tmp_path / "CoLA"))
  with pytest.raises(errors.DataError, match="file not found"):
    cd.get_processor("csv", labels="a,b").get_test_examples(str(tmp_path))


def test_custom_missing_named_column(tmp_path):
  (tmp_path / "train.tsv").write_text("label\tsentence\n1\thi\n")
  with pytest.raises(errors.DataError, match=(
      r"line 1: no column named 'text_a' \(the text_a column\) in the header "
      r"row \['label', 'sentence'\]; pass --text_a_column=")):
    cd.get_processor("csv").get_train_examples(str(tmp_path))


def test_custom_named_columns_on_a_file_without_header(tmp_path):
  """The first data row is not called a header; the fix names the flags with --."""
  (tmp_path / "train.tsv").write_text("the food was good\tpos\nslow service\tneg\n")
  with pytest.raises(errors.DataError) as error:
    cd.get_processor("custom").get_train_examples(str(tmp_path))
  message = str(error.value)
  assert message.startswith(f"{tmp_path / 'train.tsv'}, line 1: the columns are named "
                            "(--text_a_column=text_a, --label_column=label) but the file "
                            "has no header row naming them; its first row is data: ")
  assert "'the food was good', 'pos'" in message
  assert "e.g. --text_a_column=0 --label_column=1" in message
  assert "header row ['the food" not in message
  rows = cd.get_processor("custom", text_a_column="0", label_column="1",
                          has_header="false").get_train_examples(str(tmp_path))
  assert [(e.text_a, e.label) for e in rows] == [("the food was good", "pos"),
                                                 ("slow service", "neg")]


def test_unknown_task_and_bad_options():
  with pytest.raises(errors.DataError, match=(
      r"unknown task_name 'squad'; accepted: chnsenticorp, cola, csv, custom, "
      r"lcqmc, mnli")):
    cd.get_processor("squad")
  with pytest.raises(errors.DataError, match=r"task mrpc does not take the "
                     r"option\(s\) text_a_column"):
    cd.get_processor("mrpc", text_a_column="x")
  with pytest.raises(errors.DataError, match="file_format='xml'"):
    cd.get_processor("csv", file_format="xml")
  assert isinstance(errors.DataError("x"), ValueError)


def test_each_task_reports_its_official_metric():
  """The figure that picks the best checkpoint, by task (GLUE's, and the Chinese sets')."""
  primary = {"cola": "eval_mcc", "mrpc": "eval_f1", "qqp": "eval_f1", "sts-b": "eval_corr",
             "stsb": "eval_corr", "csv": "eval_macro_f1", "custom": "eval_macro_f1"}
  assert len(cd.PROCESSORS) == 17
  for task, processor_class in cd.PROCESSORS.items():
    assert cd.get_processor_class(task.upper()) is processor_class
    assert metrics.primary_metric(processor_class.metric_kind) == primary.get(
        task, "eval_accuracy"), task
  with pytest.raises(errors.DataError, match="unknown task_name 'squad'; accepted: chnsenticorp"):
    cd.get_processor_class("squad")


# ----------------------------------------------------------------------------
# Features.


def test_pair_truncation_pops_from_the_longer_side(tokenizer):
  example = cd.InputExample("x-0", "The cat sat on the mat", "a dog", "1")
  # Budget 8 - 3 = 5: a (6 tokens) loses 3, b (2 tokens) keeps both.
  features = cd.convert_single_example(0, example, ["0", "1"], 8, tokenizer)
  assert features.input_ids == [IDS["[CLS]"], IDS["the"], IDS["cat"],
                                IDS["sat"], IDS["[SEP]"], IDS["a"],
                                IDS["dog"], IDS["[SEP]"]]
  assert features.input_ids == [2, 4, 5, 6, 3, 9, 10, 3]
  assert features.segment_ids == [0, 0, 0, 0, 0, 1, 1, 1]
  assert features.input_mask == [1] * 8
  assert features.label_id == 1 and features.is_real_example is True


def test_pair_truncation_tie_pops_from_b(tokenizer):
  example = cd.InputExample("x-0", "the cat", "a dogs", "0")  # 2 vs 3 pieces
  # Budget 6 - 3 = 3: b (a dog ##s) longer -> pop "##s"; then 2 vs 2 tie
  # -> pop from b again: a = [the, cat], b = [a].
  features = cd.convert_single_example(0, example, ["0", "1"], 6, tokenizer)
  assert features.input_ids == [2, 4, 5, 3, 9, 3]
  assert features.segment_ids == [0, 0, 0, 0, 1, 1]


def test_single_sentence_truncation_and_padding(tokenizer):
  long = cd.InputExample("x-0", "the cat sat on the mat", None, "0")
  features = cd.convert_single_example(0, long, ["0", "1"], 5, tokenizer)
  assert features.input_ids == [2, 4, 5, 6, 3]
  short = cd.InputExample("x-1", "dogs !", "", "1")  # empty b = no b
  features = cd.convert_single_example(1, short, ["0", "1"], 7, tokenizer)
  assert features.input_ids == [2, 10, 11, 1, 3, 0, 0]  # "!" is [UNK]
  assert features.input_mask == [1, 1, 1, 1, 1, 0, 0]
  assert features.segment_ids == [0] * 7


def test_chinese_end_to_end(data_dir, tokenizer):
  processor = cd.get_processor(
      "custom", train_file="virus_train.txt", text_a_column="content",
      label_column="label")
  example = processor.get_train_examples(str(data_dir / "SMP2020-EWECT"))[0]
  features = cd.convert_single_example(0, example, processor.get_labels(), 6,
                                       tokenizer)
  assert features.input_ids == [2, IDS["天"], IDS["使"], 3, 0, 0]
  assert features.label_id == processor.get_labels().index("happy") == 2


def test_padding_example_regression_and_unknown_label(tokenizer):
  padding = cd.convert_single_example(0, cd.PaddingInputExample(), ["0", "1"],
                                      4, tokenizer)
  assert padding == cd.InputFeatures([0] * 4, [0] * 4, [0] * 4, 0, False)
  regression = cd.convert_single_example(
      0, cd.InputExample("x-0", "the cat", "a dog", 3.8), [], 8, tokenizer)
  assert regression.label_id == 3.8 and isinstance(regression.label_id, float)
  with pytest.raises(errors.DataError, match=r"example x-9: label '2' is not in "
                     r"the label list \['0', '1'\]"):
    cd.convert_single_example(0, cd.InputExample("x-9", "the", None, "2"),
                              ["0", "1"], 8, tokenizer)
  with pytest.raises(ValueError, match="Received: max_seq_length=2"):
    cd.convert_examples_to_features([], ["0"], 2, tokenizer)


# ----------------------------------------------------------------------------
# TFRecord caches.

EXAMPLES = [
    cd.InputExample("t-0", "the cat sat on the mat", "a dog", "1"),
    cd.InputExample("t-1", "dogs", None, "0"),
    cd.InputExample("t-2", "天使", "the mat", "1"),
]


def _dataset_as_lists(dataset):
  return [{name: value.numpy().tolist() for name, value in record.items()}
          for record in dataset]


def test_tfrecord_round_trip(tokenizer, tmp_path):
  examples = EXAMPLES + [cd.PaddingInputExample()]
  output_file = str(tmp_path / "train.tf_record")
  meta = cd.file_based_convert_examples_to_features(
      examples, ["0", "1"], 9, tokenizer, output_file)
  assert sorted(os.listdir(tmp_path)) == [
      "train.tf_record", "train.tf_record.meta.json", "vocab.txt"]
  assert meta["num_examples"] == 4 and meta["num_real_examples"] == 3
  dataset = cd.file_based_dataset(output_file, 9, is_training=False)
  spec = dataset.element_spec
  assert spec["input_ids"].dtype == tf.int32
  assert spec["input_ids"].shape == [9] and spec["label_ids"].shape == []
  features = cd.convert_examples_to_features(examples, ["0", "1"], 9,
                                             tokenizer)
  assert _dataset_as_lists(dataset) == [
      {"input_ids": f.input_ids, "input_mask": f.input_mask,
       "segment_ids": f.segment_ids, "label_ids": f.label_id,
       "is_real_example": int(f.is_real_example)} for f in features]
  # Training repeats forever (the loop counts steps) and shuffles, across
  # epoch boundaries as the reference (repeat, then shuffle).
  train = cd.file_based_dataset(output_file, 9, is_training=True, seed=1)
  taken = [str(record) for record in _dataset_as_lists(train.take(40))]
  records = [str(record) for record in _dataset_as_lists(dataset)]
  assert len(taken) == 40 and set(taken) == set(records)
  assert taken[:4] != records


def test_tfrecord_regression_labels_are_float(tokenizer, tmp_path):
  examples = [cd.InputExample("t-0", "the cat", "a dog", 3.8),
              cd.InputExample("t-1", "the mat", "a cat", 0.25)]
  output_file = str(tmp_path / "eval.tf_record")
  cd.file_based_convert_examples_to_features(
      examples, [], 8, tokenizer, output_file, is_regression=True)
  dataset = cd.file_based_dataset(output_file, 8, False, is_regression=True)
  assert dataset.element_spec["label_ids"].dtype == tf.float32
  labels = [record["label_ids"].numpy() for record in dataset]
  np.testing.assert_allclose(labels, [3.8, 0.25], rtol=1e-6)
  with pytest.raises(ValueError, match="is_regression=True needs an empty"):
    cd.file_based_convert_examples_to_features(
        examples, ["0"], 8, tokenizer, output_file, is_regression=True)
  with pytest.raises(errors.DataError, match=r"written with max_seq_length=8; "
                     r"received max_seq_length=16"):
    cd.file_based_dataset(output_file, 16, False, is_regression=True)


def test_reads_tfrecords_written_the_reference_way(tmp_path):
  """A reference-made file: int64 features, label_ids [1], no sidecar."""
  path = str(tmp_path / "ref.tf_record")
  def int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(tf.train.Example(features=tf.train.Features(feature={
        "input_ids": int_feature([2, 4, 3, 0]),
        "input_mask": int_feature([1, 1, 1, 0]),
        "segment_ids": int_feature([0, 0, 0, 0]),
        "label_ids": int_feature([1]),
        "is_real_example": int_feature([1]),
    })).SerializeToString())
  assert _dataset_as_lists(cd.file_based_dataset(path, 4, False)) == [
      {"input_ids": [2, 4, 3, 0], "input_mask": [1, 1, 1, 0],
       "segment_ids": [0, 0, 0, 0], "label_ids": 1, "is_real_example": 1}]


def test_cache_meta_and_staleness(tokenizer, vocab_file, tmp_path):
  output_file = str(tmp_path / "train.tf_record")

  def expected(**changes):
    args = dict(task_name="csv", vocab_file=vocab_file, do_lower_case=True,
                examples=EXAMPLES, max_seq_length=9, label_list=["0", "1"])
    args.update(changes)
    return cd.make_cache_meta(**args)

  assert not cd.cache_is_valid(output_file, expected())  # nothing yet
  cd.file_based_convert_examples_to_features(
      EXAMPLES, ["0", "1"], 9, tokenizer, output_file, meta=expected())
  sidecar = json.loads((tmp_path / "train.tf_record.meta.json").read_text())
  assert sidecar["task"] == "csv" and sidecar["do_lower_case"] is True
  assert sidecar["vocab_file"]["size"] == os.path.getsize(vocab_file)
  assert len(sidecar["vocab_file"]["sha256"]) == 64
  assert len(sidecar["examples_sha256"]) == 64
  assert sidecar["label_list"] == ["0", "1"] and sidecar["num_examples"] == 3
  assert cd.cache_is_valid(output_file, expected())
  assert not cd.cache_is_valid(output_file, expected(max_seq_length=10))
  assert not cd.cache_is_valid(output_file, expected(do_lower_case=False))
  assert not cd.cache_is_valid(output_file, expected(label_list=["1", "0"]))
  # The same number of examples with another text, or another label.
  other_text = [cd.InputExample("t-0", "the cat sat on the mat", "a cat", "1")] + EXAMPLES[1:]
  assert not cd.cache_is_valid(output_file, expected(examples=other_text))
  other_label = [cd.InputExample("t-0", "the cat sat on the mat", "a dog", "0")] + EXAMPLES[1:]
  assert not cd.cache_is_valid(output_file, expected(examples=other_label))
  assert cd.cache_is_valid(output_file, expected(examples=list(EXAMPLES)))
  # A flipped byte (a damaged disk block): same size, other bytes; reading it
  # would stop training with "corrupted record".
  data = bytearray(open(output_file, "rb").read())
  data[len(data) // 2] ^= 0x01
  with open(output_file, "wb") as f:
    f.write(bytes(data))
  assert not cd.cache_is_valid(output_file, expected())
  data[len(data) // 2] ^= 0x01
  with open(output_file, "wb") as f:
    f.write(bytes(data))
  assert cd.cache_is_valid(output_file, expected())
  # A sidecar of an older version, without the digest, is rebuilt once.
  meta_file = tmp_path / "train.tf_record.meta.json"
  sidecar = json.loads(meta_file.read_text())
  meta_file.write_text(json.dumps({k: v for k, v in sidecar.items() if k != "tfrecord_sha256"}))
  assert not cd.cache_is_valid(output_file, expected())
  meta_file.write_text(json.dumps(sidecar))
  assert cd.cache_is_valid(output_file, expected())
  # The vocab changes.
  with open(vocab_file, "a", encoding="utf-8") as f:
    f.write("extra\n")
  assert not cd.cache_is_valid(output_file, expected())


def test_unknown_word_pieces_are_counted_warned_and_kept_in_the_sidecar(tokenizer,
                                                                       tmp_path, caplog):
  # 天 使 [UNK] [UNK] + the cat, dog ##s [UNK]: 3 of 9 pieces are [UNK].
  examples = [cd.InputExample("t-0", "天使爱猫", "the cat", "1"),
              cd.InputExample("t-1", "dogs 猫", None, "0")]
  caplog.set_level(logging.WARNING)
  meta = cd.file_based_convert_examples_to_features(
      examples, ["0", "1"], 9, tokenizer, str(tmp_path / "train.tf_record"))
  assert meta["unknown_tokens"] == {"word_pieces": 9, "unknown_pieces": 3,
                                    "unknown_examples": ["猫", "爱"]}
  sidecar = json.loads((tmp_path / "train.tf_record.meta.json").read_text())
  assert sidecar["unknown_tokens"] == meta["unknown_tokens"]
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1
  assert warnings[0].startswith("33.3% of the word pieces of the examples of "
                                "train.tf_record are [UNK] (3 of 9; e.g. 猫 爱): the "
                                "vocabulary " + tokenizer.vocab_file + " does not cover")
  caplog.clear()
  features = cd.convert_examples_to_features(EXAMPLES, ["0", "1"], 9, tokenizer)
  assert len(features) == len(EXAMPLES)
  assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_cache_file_changed_or_sidecar_missing(tokenizer, tmp_path):
  output_file = str(tmp_path / "eval.tf_record")
  cd.file_based_convert_examples_to_features(EXAMPLES, ["0", "1"], 9,
                                             tokenizer, output_file)
  assert cd.cache_is_valid(output_file, {"max_seq_length": 9})
  with open(output_file, "ab") as f:
    f.write(b"\0")
  assert not cd.cache_is_valid(output_file, {"max_seq_length": 9})
  os.remove(output_file + ".meta.json")
  assert not cd.cache_is_valid(output_file, {})


def test_interrupted_write_leaves_no_cache(tokenizer, tmp_path):
  output_file = str(tmp_path / "train.tf_record")
  cd.file_based_convert_examples_to_features(EXAMPLES, ["0", "1"], 9,
                                             tokenizer, output_file)
  old_bytes = open(output_file, "rb").read()

  class Interrupted(Exception):
    pass

  class FailingTokenizer:
    """Tokenizes two examples, then fails like a Ctrl-C would."""
    calls = 0

    def tokenize(self, text):
      FailingTokenizer.calls += 1
      if FailingTokenizer.calls > 3:
        raise Interrupted()
      return tokenizer.tokenize(text)

    def convert_tokens_to_ids(self, tokens):
      return tokenizer.convert_tokens_to_ids(tokens)

  with pytest.raises(Interrupted):
    cd.file_based_convert_examples_to_features(
        EXAMPLES, ["0", "1"], 9, FailingTokenizer(), output_file)
  # No temporary file left; the old records untouched but no longer trusted.
  assert sorted(os.listdir(tmp_path)) == ["train.tf_record", "vocab.txt"]
  assert open(output_file, "rb").read() == old_bytes
  assert not cd.cache_is_valid(output_file, {})


# ----------------------------------------------------------------------------
# GLUE submission files.


def test_glue_submission_classification(data_dir, tmp_path):
  test = cd.get_processor("mrpc").get_test_examples(str(data_dir / "MRPC"))
  examples = test[:3] + [cd.PaddingInputExample()]
  probabilities = [[0.2, 0.8], [0.9, 0.1], [0.4, 0.6], [0.5, 0.5]]
  path = cd.write_glue_submission("MRPC", examples, probabilities, ["0", "1"],
                                  str(tmp_path))
  assert path == str(tmp_path / "MRPC.tsv")
  assert (tmp_path / "MRPC.tsv").read_text() == (
      "index\tprediction\n0\t1\n1\t0\n2\t1\n")
  mnli = [cd.InputExample("test-17", "a", "b", "contradiction")]
  path = cd.write_glue_submission(
      "mnli", mnli, [[0.1, 0.2, 0.7]],
      ["contradiction", "entailment", "neutral"], str(tmp_path))
  assert os.path.basename(path) == "MNLI-m.tsv"
  assert open(path).read() == "index\tprediction\n17\tneutral\n"


def test_glue_submission_regression_and_names(tmp_path):
  examples = [cd.InputExample("test-0", "a", "b", 0.0),
              cd.InputExample("test-1", "c", "d", 0.0)]
  path = cd.write_glue_submission("sts-b", examples, [[4.12345], [0.5]], [],
                                  str(tmp_path / "out.tsv"))
  assert open(path).read() == "index\tprediction\n0\t4.123\n1\t0.500\n"
  assert set(cd.GLUE_SUBMISSION_NAMES.values()) == {
      "CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv",
      "MNLI-m.tsv", "MNLI-mm.tsv", "QNLI.tsv", "RTE.tsv", "WNLI.tsv"}
  with pytest.raises(errors.DataError, match="task 'xnli' has no GLUE"):
    cd.write_glue_submission("xnli", examples, [[1.0], [1.0]], [],
                             str(tmp_path))
  with pytest.raises(ValueError, match="2 examples but 1 predictions"):
    cd.write_glue_submission("sts-b", examples, [[1.0]], [], str(tmp_path))


def test_custom_row_wider_than_its_header_is_an_error_naming_the_line(tmp_path):
  """A tab inside a text would make the rest of the row the label: stop there."""
  (tmp_path / "train.tsv").write_text("text\tlabel\nthe cat sat\tpos\nthe dog\tran\tneg\n"
                                      "the mat\tneg\t\n")
  with pytest.raises(errors.DataError) as error:
    cd.get_processor("csv", text_a_column="text").get_train_examples(str(tmp_path))
  assert str(error.value).startswith(
      f"{tmp_path / 'train.tsv'}, line 3: found 3 columns, the header has 2; a text "
      "holding the separator")
  # An empty cell after the last column (a trailing tab) is no shift.
  (tmp_path / "train.tsv").write_text("text\tlabel\nthe cat sat\tpos\nthe mat\tneg\t\n")
  rows = cd.get_processor("csv", text_a_column="text").get_train_examples(str(tmp_path))
  assert [(e.text_a, e.label) for e in rows] == [("the cat sat", "pos"), ("the mat", "neg")]


def test_custom_dev_file_after_a_headerless_train_file_keeps_its_first_row(tmp_path):
  """An unknown label on dev's line 1 is reported, not taken for a header and dropped."""
  (tmp_path / "train.tsv").write_text("the cat sat\tpos\nthe dog ran\tneg\nthe mat\tpos\n")
  (tmp_path / "dev.tsv").write_text("the cat sat\tPos\nthe dog ran\tneg\n")
  processor = cd.get_processor("csv", text_a_column=0, label_column=1)
  assert len(processor.get_train_examples(str(tmp_path))) == 3
  with pytest.raises(errors.DataError, match=r"dev\.tsv, line 1: .*'Pos'"):
    processor.get_dev_examples(str(tmp_path))
  (tmp_path / "dev.tsv").write_text("the cat sat\tpos\nthe dog ran\tneg\n")
  assert len(processor.get_dev_examples(str(tmp_path))) == 2


def test_feature_records_are_the_same_bytes_in_every_process():
  """serialize_example: the same features give the same TFRecord bytes on every run."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = ("import feature_cache as c, hashlib\n"
          "names = ['input_ids', 'input_mask', 'segment_ids', 'label_ids', 'is_real_example']\n"
          "data = c.serialize_example({n: c.int_feature([i, 7]) for i, n in enumerate(names)})\n"
          "print(hashlib.sha256(data).hexdigest())\n")
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  digests = [subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                            text=True, timeout=300, check=True).stdout.strip()
             for _ in range(3)]
  assert len(digests) == 3 and len(digests[0]) == 64
  assert len(set(digests)) == 1
  import feature_cache  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(feature_cache.serialize_example(
      {"b": feature_cache.int_feature([2]), "a": feature_cache.float_feature([0.5])}))
  assert list(example.features.feature["b"].int64_list.value) == [2]
  assert list(example.features.feature["a"].float_list.value) == [0.5]


def test_custom_headerless_row_wider_than_the_others_is_an_error_naming_the_line(tmp_path):
  """Without a header, a tab inside a text made the rest of the row the label: a new class."""
  (tmp_path / "train.tsv").write_text("the cat sat\tpos\nbad\tplot\tneg\nthe mat\tneg\t\n"
                                      "a dog\tpos\n")
  processor = cd.get_processor("csv", text_a_column=0, label_column=1, has_header=False)
  with pytest.raises(errors.DataError) as error:
    processor.get_train_examples(str(tmp_path))
  assert str(error.value).startswith(
      f"{tmp_path / 'train.tsv'}, line 2: found 3 columns, most rows have 2; a text "
      "holding the separator")
  # Of two rows of different widths, the wider is the shifted one, wherever it is.
  (tmp_path / "train.tsv").write_text("bad\tplot\tneg\nthe cat sat\tpos\n")
  with pytest.raises(errors.DataError, match="line 1: found 3 columns, most rows have 2"):
    processor.get_train_examples(str(tmp_path))
  # Trailing separators and rows of the usual width pass.
  (tmp_path / "train.tsv").write_text("the cat sat\tpos\t\nthe mat\tneg\n")
  rows = processor.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.label) for e in rows] == [("the cat sat", "pos"), ("the mat", "neg")]


def test_custom_unlabeled_test_file_keeps_a_first_row_unlike_the_training_header(tmp_path):
  """The training file's header decision dropped an unlabeled test file's first sentence."""
  (tmp_path / "train.csv").write_text("sentence,label\ngood,pos\nbad,neg\nfine,pos\n")
  (tmp_path / "test.csv").write_text("sentence\ngreat\nterrible\n")

  def test_texts(**options):
    processor = cd.get_processor("csv", train_file="train.csv", test_file="test.csv",
                                 text_a_column=0, label_column=1, **options)
    processor.get_train_examples(str(tmp_path))
    return [e.text_a for e in processor.get_test_examples(str(tmp_path))]

  assert test_texts() == ["great", "terrible"]   # the header repeated: dropped
  (tmp_path / "test.csv").write_text("great\nterrible\nmeh\n")
  with pytest.raises(errors.DataError, match=(
      r"test\.csv, line 1: cannot tell whether this first row is a header: the training "
      r"file had a header \(\['sentence', 'label'\]\) .* Set has_header")):
    test_texts()
  assert test_texts(has_header=False) == ["great", "terrible", "meh"]
  # After a headerless training file, the test file's first row is data, as before.
  (tmp_path / "train.csv").write_text("good,pos\nbad,neg\nfine,pos\n")
  assert test_texts() == ["great", "terrible", "meh"]


def test_custom_delimiter_is_one_character_or_a_tab():
  assert cd.get_processor("csv", delimiter="\\t").delimiter == "\t"
  assert cd.get_processor("csv", delimiter="TAB").delimiter == "\t"
  assert cd.get_processor("csv", delimiter=";").delimiter == ";"
  for bad in (";;", ""):
    with pytest.raises(errors.DataError, match=r"delimiter=.*: expected one character"):
      cd.get_processor("csv", delimiter=bad)


# ----------------------------------------------------------------------------
# Custom files read wrong without an error (found by fuzzing).


def _write(folder, name, lines):
  (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _custom(**options):
  return cd.get_processor("custom", **dict({"text_a_column": 0, "label_column": 1},
                                           **options))


def test_a_headerless_first_row_after_a_training_header_is_kept(tmp_path):
  """An unseen label in a headerless dev file's first row dropped that row as a header."""
  _write(tmp_path, "train.tsv", ["sentence\tlabel", "a\tpos", "b\tneg", "c\tpos"])
  _write(tmp_path, "dev.tsv", ["the dog ran\tneg", "a good movie\tpos"])
  processor = _custom()
  assert len(processor.get_train_examples(str(tmp_path))) == 3
  assert [e.text_a for e in processor.get_dev_examples(str(tmp_path))] == [
      "the dog ran", "a good movie"]
  for header in ("sentence\tlabel", "text\tlabel"):   # the label column named alike
    _write(tmp_path, "dev.tsv", [header, "the dog ran\tneg"])
    assert [e.text_a for e in processor.get_dev_examples(str(tmp_path))] == ["the dog ran"]
  _write(tmp_path, "dev.tsv", ["the cat sat\tneutral", "the dog ran\tneg"])
  with pytest.raises(errors.DataError, match=re.escape(
      f"{tmp_path / 'dev.tsv'}, line 1: cannot tell whether this first row is a header: "
      "its label 'neutral' is not one of neg, pos")):
    processor.get_dev_examples(str(tmp_path))


def test_a_training_file_of_one_label_is_refused(tmp_path):
  """A headerless file's only 'pos' row was dropped as a header: a one-class model."""
  _write(tmp_path, "train.tsv", ["the cat sat\tpos", "the dog ran\tneg", "a bad day\tneg"])
  with pytest.raises(errors.DataError, match=r"every example has the label 'neg'; a "
                     r"classifier needs two labels or more .*its first row was read as a "
                     r"header: .*the cat sat.* \(set has_header=false if it is data\)"):
    _custom().get_train_examples(str(tmp_path))
  assert _custom(has_header=False).get_labels(str(tmp_path)) == ["neg", "pos"]
  _write(tmp_path, "train.tsv", ["text\tlabel", "the dog ran\tneg"])
  named = {"text_a_column": "text", "label_column": "label"}
  with pytest.raises(errors.DataError, match=r"every example has the label 'neg'; a "
                     r"classifier needs two labels or more \(name the others with "
                     r"labels=\.\.\.\)$"):
    _custom(**named).get_train_examples(str(tmp_path))
  assert len(_custom(labels="neg,pos", **named).get_train_examples(str(tmp_path))) == 1


def test_a_repeated_header_row_is_refused(tmp_path):
  """Two files joined with cat: the second header became an example of a new class."""
  lines = ["text\tlabel", "a\tpos", "b\tneg"]
  for repeat in ("text\tlabel", "\ufefftext\tlabel ", "text\tlabel\t"):
    _write(tmp_path, "train.tsv", lines + [repeat] + lines[1:])
    with pytest.raises(errors.DataError, match=re.escape(
        f"{tmp_path / 'train.tsv'}, line 4: repeats the header row (line 1); delete it")):
      _custom(text_a_column="text", label_column="label").get_train_examples(str(tmp_path))


@pytest.mark.parametrize("label,problem", [
    ("", "is empty"), ("a\u2028b", "holds a line break"), ("a\x0cb", "holds a line break")])
def test_a_label_labels_txt_cannot_hold_is_refused_at_its_line(tmp_path, label, problem):
  """An empty label failed after the output folder was written, naming no line."""
  (tmp_path / "train.csv").write_text(f"text,label\nthe cat sat,pos\nthe dog ran,{label}\n",
                                      encoding="utf-8")
  processor = _custom(train_file="train.csv", text_a_column="text", label_column="label")
  with pytest.raises(errors.DataError, match=re.escape(
      f"{tmp_path / 'train.csv'}, line 3: the label {label!r} {problem}")):
    processor.get_train_examples(str(tmp_path))
  with pytest.raises(errors.DataError, match=re.escape(f"label {label!r} cannot be saved "
                                                       f"one-per-line: it {problem}")):
    cd.save_labels(str(tmp_path / "labels.txt"), ["pos", label])


def test_a_labels_option_in_another_order_than_the_trained_runs_is_refused(tmp_path):
  """--labels=pos,neg against a head trained as neg,pos swapped the classes silently."""
  _write(tmp_path, "dev.tsv", ["a\tpos", "b\tneg"])
  run = tmp_path / "run"
  run.mkdir()
  cd.save_labels(str(run / run_info.LABELS_FILE), ["neg", "pos"])
  for trained_head in (False, True):
    assert _custom(labels="neg,pos").get_labels(label_dirs=[str(run)],
                                                trained_head=trained_head) == ["neg", "pos"]
    assert _custom(labels="pos,neg").get_labels(label_dirs=[str(tmp_path)],
                                                trained_head=trained_head) == ["pos", "neg"]
  with pytest.raises(errors.DataError, match=re.escape(
      f"labels=pos,neg differ from {run / run_info.LABELS_FILE} (neg,pos): the trained "
      "head's outputs follow that file")):
    _custom(labels="pos,neg").get_labels(label_dirs=[str(run)], trained_head=True)
  # Training a new head from that run's checkpoint: the option names the new labels.
  assert _custom(labels="a,b,c").get_labels(label_dirs=[str(tmp_path / "out"), str(run)],
                                            trained_head=False) == ["a", "b", "c"]


def test_column_options_out_of_the_rows_reach_are_errors_not_tracebacks(tmp_path):
  _write(tmp_path, "train.tsv", ["a\tpos", "b\tneg"])
  for options in ({"label_column": 5}, {"label_column": "99999999999999999999999"}):
    with pytest.raises(errors.DataError, match=r"line 1: found 2 columns, need at least"):
      _custom(**options).get_train_examples(str(tmp_path))
  with pytest.raises(errors.DataError, match=r"columns are named \(--text_a_column=²\)"):
    _custom(text_a_column="²").get_train_examples(str(tmp_path))


def test_a_damaged_json_file_with_another_extension_names_its_json_error(tmp_path):
  """A truncated .txt JSON file was read as TSV: 'columns are named but no header row'."""
  (tmp_path / "train.txt").write_text('[{"text": "a", "label": "pos"}, {"text": "b", "lab')
  processor = _custom(train_file="train.txt", text_a_column="text", label_column="label")
  with pytest.raises(errors.DataError, match=r"read as TSV because it starts like JSON but "
                     r"is not: .*train.txt: not valid JSON: Unterminated string"):
    processor.get_train_examples(str(tmp_path))
  (tmp_path / "train.txt").write_text("[music] great\tpos\n[film] bad\tneg\n")
  assert [e.label for e in _custom(train_file="train.txt", has_header=False)
          .get_train_examples(str(tmp_path))] == ["pos", "neg"]
