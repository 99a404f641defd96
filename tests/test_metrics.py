"""Tests for metrics.py against values worked out by hand in the comments."""

import math
import warnings

import numpy as np
import pytest

import metrics

# A binary case: tp=4 (idx 0,1,3,9), fn=1 (idx 2), fp=2 (idx 5,8),
# tn=3 (idx 4,6,7).
BIN_LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
BIN_PREDS = [1, 1, 0, 1, 0, 1, 0, 0, 1, 1]

# A 3-class case. Confusion (rows true, cols predicted):
#   [[1, 1, 0],
#    [0, 2, 0],
#    [1, 0, 1]]
MC_LABELS = [0, 0, 1, 1, 2, 2]
MC_PREDS = [0, 1, 1, 1, 2, 0]


@pytest.fixture(autouse=True)
def no_warnings():
  """Every metric must run without NumPy/Python warnings (zero division)."""
  with warnings.catch_warnings(), np.errstate(all="raise"):
    warnings.simplefilter("error")
    yield


def test_accuracy():
  assert metrics.accuracy(BIN_LABELS, BIN_PREDS) == pytest.approx(7 / 10)
  assert metrics.accuracy(MC_LABELS, MC_PREDS) == pytest.approx(4 / 6)
  assert isinstance(metrics.accuracy(BIN_LABELS, BIN_PREDS), float)


def test_accuracy_rejects_length_mismatch():
  with pytest.raises(ValueError, match="3 vs 2"):
    metrics.accuracy([0, 1, 1], [0, 1])


def test_confusion_matrix_rows_are_true_classes():
  np.testing.assert_array_equal(metrics.confusion_matrix(BIN_LABELS, BIN_PREDS),
                                [[3, 2], [1, 4]])
  np.testing.assert_array_equal(
      metrics.confusion_matrix(MC_LABELS, MC_PREDS, num_classes=4),
      [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
  with pytest.raises(ValueError, match=r"\[0, 2\)"):
    metrics.confusion_matrix([0, 2], [0, 1], num_classes=2)


def test_f1_binary():
  # precision 4/6, recall 4/5: F1 = 2tp / (2tp + fp + fn) = 8 / 11.
  assert metrics.f1_binary(BIN_LABELS, BIN_PREDS) == pytest.approx(8 / 11)
  # Class 0 as positive: tp=3, fp=1, fn=2 -> 6 / 9.
  assert metrics.f1_binary(BIN_LABELS, BIN_PREDS, positive=0) == \
      pytest.approx(2 / 3)
  # String labels work too.
  assert metrics.f1_binary(["1", "0", "1"], ["1", "1", "0"], positive="1") == \
      pytest.approx(0.5)


def test_precision_recall_f1_per_class():
  per_class = metrics.precision_recall_f1_per_class(MC_LABELS, MC_PREDS, 3)
  expected = [
      # class 0: tp 1, fp 1 (a true 2), fn 1 (predicted 1).
      {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
      # class 1: tp 2, fp 1, fn 0.
      {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2},
      # class 2: tp 1, fp 0, fn 1.
      {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
  ]
  assert len(per_class) == 3
  for got, want in zip(per_class, expected):
    assert got == pytest.approx(want)


def test_macro_and_micro_f1():
  # (0.5 + 0.8 + 2/3) / 3 = 59 / 90.
  assert metrics.macro_f1(MC_LABELS, MC_PREDS, 3) == pytest.approx(59 / 90)
  # A class absent from labels and predictions is left out of the mean.
  assert metrics.macro_f1(MC_LABELS, MC_PREDS, 5) == pytest.approx(59 / 90)
  # Binary: (F1 of class 0 + F1 of class 1) / 2 = (2/3 + 8/11) / 2.
  assert metrics.macro_f1(BIN_LABELS, BIN_PREDS) == pytest.approx(23 / 33)
  # Single-label micro F1 equals accuracy.
  assert metrics.micro_f1(MC_LABELS, MC_PREDS, 3) == pytest.approx(4 / 6)
  assert metrics.micro_f1(BIN_LABELS, BIN_PREDS) == pytest.approx(0.7)


def test_matthews_binary_by_formula():
  tp, fp, fn, tn = 4, 2, 1, 3
  by_hand = (tp * tn - fp * fn) / math.sqrt(
      (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  assert by_hand == pytest.approx(10 / math.sqrt(600))
  assert metrics.matthews_corrcoef(BIN_LABELS, BIN_PREDS) == \
      pytest.approx(by_hand)
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0


def test_matthews_multiclass():
  # s=6, c=4, t=[2,2,2], p=[2,3,1]: (4*6 - 12) / sqrt((36-14) * (36-12)).
  assert metrics.matthews_corrcoef(MC_LABELS, MC_PREDS) == \
      pytest.approx(12 / math.sqrt(22 * 24))


def test_pearson():
  # dx = [-1.5,-.5,.5,1.5], dy = [-3,-1,0,4]: 11 / sqrt(5 * 26).
  assert metrics.pearson([1, 2, 3, 4], [2, 4, 5, 9]) == \
      pytest.approx(11 / math.sqrt(130))
  assert metrics.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_with_ties_uses_average_ranks():
  # ranks x = [1, 2.5, 2.5, 4], ranks y = [1, 3, 2, 4]:
  # 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
  assert metrics.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == \
      pytest.approx(math.sqrt(0.9))
  # Monotone but non-linear: rank correlation 1, Pearson below 1.
  assert metrics.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)
  assert metrics.pearson([1, 2, 3, 4], [1, 8, 27, 64]) < 0.99
  # A run of three ties: ranks [2, 2, 2, 4] against [1, 2, 3, 4].
  # dx = [-.5,-.5,-.5,1.5], dy = [-1.5,-.5,.5,1.5]: 3 / sqrt(3 * 5).
  assert metrics.spearman([5, 5, 5, 9], [1, 2, 3, 4]) == \
      pytest.approx(3 / math.sqrt(15))


def test_zero_division_cases_give_zero():
  # No positive prediction and no positive label.
  assert metrics.f1_binary([0, 0, 0], [0, 0, 0]) == 0.0
  # Positive labels but no positive prediction: precision 0/0.
  assert metrics.f1_binary([1, 0, 1], [0, 0, 0]) == 0.0
  # Constant prediction.
  assert metrics.matthews_corrcoef([0, 1, 1, 0], [1, 1, 1, 1]) == 0.0
  assert metrics.pearson([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]) == 0.0
  assert metrics.pearson([1.0, 2.0, 3.0], [0.3, 0.3, 0.3]) == 0.0
  assert metrics.spearman([1, 2, 3], [7, 7, 7]) == 0.0
  # Empty input.
  assert metrics.accuracy([], []) == 0.0
  assert metrics.pearson([], []) == 0.0
  assert metrics.spearman([], []) == 0.0
  assert metrics.macro_f1([], [], 2) == 0.0
  per_class = metrics.precision_recall_f1_per_class([0, 0], [0, 0], 2)
  assert per_class[1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                          "support": 0}


def test_classification_metrics_cola_from_probabilities():
  probabilities = np.eye(2)[BIN_PREDS] * 0.8 + 0.1  # argmax = BIN_PREDS
  result = metrics.classification_metrics("mcc", BIN_LABELS, probabilities,
                                          ["0", "1"])
  assert list(result) == ["eval_accuracy", "eval_mcc"]
  assert result["eval_accuracy"] == pytest.approx(0.7)
  assert result["eval_mcc"] == pytest.approx(10 / math.sqrt(600))


def test_classification_metrics_mrpc_positive_class_is_label_one():
  result = metrics.classification_metrics("f1", BIN_LABELS, BIN_PREDS,
                                          ["0", "1"])
  assert result == pytest.approx({"eval_accuracy": 0.7, "eval_f1": 8 / 11})
  # With the label list reversed, id 0 is label "1".
  result = metrics.classification_metrics("f1", BIN_LABELS, BIN_PREDS,
                                           ["1", "0"])
  assert result["eval_f1"] == pytest.approx(2 / 3)


def test_classification_metrics_stsb_regression():
  result = metrics.classification_metrics(
      "regression", [1, 2, 2, 3], np.array([[1.0], [3.0], [2.0], [10.0]]))
  assert list(result) == ["eval_pearson", "eval_spearmanr", "eval_corr"]
  # Pearson: dx = [-1,0,0,1], dy = [-3,-1,-2,6]: 9 / sqrt(2 * 50) = 0.9.
  assert result["eval_pearson"] == pytest.approx(0.9)
  # Spearman: ranks as in test_spearman_with_ties_uses_average_ranks.
  assert result["eval_spearmanr"] == pytest.approx(math.sqrt(0.9))
  assert result["eval_corr"] == pytest.approx((0.9 + math.sqrt(0.9)) / 2)


def test_classification_metrics_custom_multiclass():
  result = metrics.classification_metrics(
      "multiclass", MC_LABELS, MC_PREDS, ["happy", "sad", "very angry"])
  assert result == pytest.approx({
      "eval_accuracy": 4 / 6, "eval_macro_f1": 59 / 90,
      "eval_micro_f1": 4 / 6, "eval_f1_happy": 0.5, "eval_f1_sad": 0.8,
      "eval_f1_very_angry": 2 / 3})
  assert list(result) == metrics.metric_names(
      "multiclass", ["happy", "sad", "very angry"])


def test_accuracy_kind_reports_accuracy_only():
  result = metrics.classification_metrics("accuracy", [0, 1, 2], [0, 1, 1])
  assert result == pytest.approx({"eval_accuracy": 2 / 3})


def test_primary_metric():
  expected = {"accuracy": "eval_accuracy", "mcc": "eval_mcc", "f1": "eval_f1",
              "regression": "eval_corr", "multiclass": "eval_macro_f1"}
  assert sorted(expected) == sorted(metrics.KINDS)
  for kind in metrics.KINDS:
    assert metrics.primary_metric(kind) == expected[kind]
    assert metrics.primary_metric(kind) in metrics.metric_names(kind, ["a"])


def test_unknown_kind_lists_accepted_kinds():
  with pytest.raises(ValueError, match="unknown metric kind 'mrpc'; accepted: accuracy, mcc"):
    metrics.classification_metrics("mrpc", [0], [0])
  with pytest.raises(ValueError, match="unknown metric kind"):
    metrics.primary_metric("CoLA")


def test_labels_that_read_the_same_as_keys_keep_a_key_each():
  """'a b' and 'a_b' were both eval_f1_a_b: one class's F1 replaced the other's."""
  label_list = ["a b", "a_b", "a_b_1", "c"]
  labels = np.array([0, 1, 2, 3, 0, 1])
  preds = np.array([0, 1, 2, 3, 1, 1])
  results = metrics.classification_metrics("multiclass", labels, preds, label_list)
  keys = metrics.metric_names("multiclass", label_list)
  assert len(keys) == len(set(keys)) == 2 + 1 + len(label_list)
  assert list(results) == keys
  per_class = metrics.precision_recall_f1_per_class(labels, preds, len(label_list))
  assert [results[k] for k in keys[3:]] == [p["f1"] for p in per_class]
  assert keys[3:] == ["eval_f1_a_b", "eval_f1_a_b_1", "eval_f1_a_b_1_2", "eval_f1_c"]
