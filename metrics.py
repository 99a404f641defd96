# coding=utf-8
"""Evaluation metrics for sentence(-pair) classification and regression.

Flag-free NumPy functions returning Python floats. Degenerate cases (no
positive predictions, a constant prediction, an empty array) give 0.0 without
NumPy warnings, as scikit-learn does with `zero_division=0`.

`classification_metrics` returns the figures a task reports in
eval_results.txt, keyed with the reference's `eval_` prefix:

  every classification task  eval_accuracy
  CoLA                        + eval_mcc (Matthews correlation)
  MRPC, QQP                   + eval_f1 (positive class "1")
  STS-B (regression)          eval_pearson, eval_spearmanr, eval_corr (their
                              mean); no accuracy
  csv / custom tasks          + eval_macro_f1, eval_micro_f1, eval_f1_<label>
"""

import numpy as np

# The kinds of figures a task reports; each processor names its own
# (processors.DataProcessor.metric_kind).
KINDS = ("accuracy", "mcc", "f1", "regression", "multiclass")

# The figure used to pick the best checkpoint (higher is better for all).
# MRPC/QQP: F1 rather than the GLUE leaderboard's mean of F1 and accuracy;
# F1 is the positive-class-sensitive one of the two on these imbalanced sets.
# STS-B: the mean of Pearson and Spearman, as the GLUE leaderboard ranks it.
_PRIMARY = {
    "accuracy": "eval_accuracy",
    "mcc": "eval_mcc",
    "f1": "eval_f1",
    "regression": "eval_corr",
    "multiclass": "eval_macro_f1",
}


def _safe_div(numerator, denominator):
  """numerator / denominator as float, 0.0 when the denominator is 0."""
  return float(numerator) / float(denominator) if denominator else 0.0


def _as_pair(labels, preds):
  """Returns labels, preds as 1-D arrays of equal length; raises ValueError."""
  labels = np.asarray(labels).reshape(-1)
  preds = np.asarray(preds).reshape(-1)
  if labels.shape != preds.shape:
    raise ValueError("labels and predictions differ in length: %d vs %d"
                     % (labels.size, preds.size))
  return labels, preds


def _num_classes(labels, preds, num_classes):
  if num_classes is not None:
    return int(num_classes)
  if labels.size == 0:
    return 0
  return int(max(labels.max(), preds.max())) + 1


def accuracy(labels, preds):
  """Fraction of `preds` equal to `labels` (arrays of shape [n]); 0.0 if n=0."""
  labels, preds = _as_pair(labels, preds)
  return _safe_div(np.sum(labels == preds), labels.size)


def _precision_recall_f1(tp, fp, fn):
  precision = _safe_div(tp, tp + fp)
  recall = _safe_div(tp, tp + fn)
  return precision, recall, _safe_div(2 * precision * recall,
                                      precision + recall)


def f1_binary(labels, preds, positive=1):
  """F1 of the class `positive` (the other values count as negative)."""
  labels, preds = _as_pair(labels, preds)
  tp = np.sum((preds == positive) & (labels == positive))
  fp = np.sum((preds == positive) & (labels != positive))
  fn = np.sum((preds != positive) & (labels == positive))
  return _precision_recall_f1(tp, fp, fn)[2]


def confusion_matrix(labels, preds, num_classes=None):
  """Counts of (true, predicted) class pairs.

  Args:
    labels: int array of shape [n], true class ids in [0, num_classes).
    preds: int array of shape [n], predicted class ids.
    num_classes: int, or None for max(labels, preds) + 1.

  Returns:
    int64 ndarray of shape [num_classes, num_classes]; entry [i, j] counts
    examples of true class i predicted as j (scikit-learn's convention).
  """
  labels, preds = _as_pair(labels, preds)
  n = _num_classes(labels, preds, num_classes)
  labels = labels.astype(np.int64)
  preds = preds.astype(np.int64)
  if labels.size and (min(labels.min(), preds.min()) < 0
                      or max(labels.max(), preds.max()) >= n):
    raise ValueError("class ids must be in [0, %d); received labels in "
                     "[%d, %d], predictions in [%d, %d]"
                     % (n, labels.min(), labels.max(), preds.min(),
                        preds.max()))
  counts = np.bincount(labels * n + preds, minlength=n * n)
  return counts.reshape(n, n)


def precision_recall_f1_per_class(labels, preds, num_classes=None):
  """Precision, recall, F1 and support of every class, one vs. rest.

  Args:
    labels: int array of shape [n], true class ids.
    preds: int array of shape [n], predicted class ids.
    num_classes: int, or None for max(labels, preds) + 1.

  Returns:
    list with one dict per class id: {"precision": float, "recall": float,
    "f1": float, "support": int (number of true examples of the class)}.
  """
  matrix = confusion_matrix(labels, preds, num_classes)
  per_class = []
  for k in range(matrix.shape[0]):
    tp = matrix[k, k]
    fp = matrix[:, k].sum() - tp
    fn = matrix[k, :].sum() - tp
    precision, recall, f1 = _precision_recall_f1(tp, fp, fn)
    per_class.append({"precision": precision, "recall": recall, "f1": f1,
                      "support": int(matrix[k, :].sum())})
  return per_class


def macro_f1(labels, preds, num_classes=None):
  """Unweighted mean of the per-class F1 scores.

  Classes absent from both `labels` and `preds` are left out of the mean
  (scikit-learn's `f1_score(average="macro")` without `labels=`), so a class
  the evaluation set simply lacks does not count as a 0.0.
  """
  matrix = confusion_matrix(labels, preds, num_classes)
  per_class = precision_recall_f1_per_class(labels, preds, matrix.shape[0])
  present = [k for k in range(matrix.shape[0])
             if matrix[k, :].sum() or matrix[:, k].sum()]
  if not present:
    return 0.0
  return float(np.mean([per_class[k]["f1"] for k in present]))


def micro_f1(labels, preds, num_classes=None):
  """F1 of the pooled per-class counts (equals accuracy for single-label)."""
  matrix = confusion_matrix(labels, preds, num_classes)
  tp = np.trace(matrix)
  fp = matrix.sum() - tp  # every error is one false positive ...
  fn = fp                 # ... and one false negative.
  return _precision_recall_f1(tp, fp, fn)[2]


def matthews_corrcoef(labels, preds, num_classes=None):
  """Matthews correlation coefficient, binary or multi-class.

  Uses the general (Gorodkin) form on the confusion matrix C with s examples,
  c correct, t_k true and p_k predicted examples of class k:
    MCC = (c*s - sum_k p_k*t_k) / sqrt((s^2 - sum_k p_k^2) (s^2 - sum_k t_k^2))
  which for two classes is (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)).
  Returns 0.0 when the denominator is 0 (e.g. a constant prediction).
  """
  matrix = confusion_matrix(labels, preds, num_classes).astype(np.float64)
  s = matrix.sum()
  c = np.trace(matrix)
  t = matrix.sum(axis=1)
  p = matrix.sum(axis=0)
  covariance = c * s - np.dot(p, t)
  denominator = (s * s - np.dot(p, p)) * (s * s - np.dot(t, t))
  if denominator <= 0:
    return 0.0
  return float(covariance / np.sqrt(denominator))


def pearson(x, y):
  """Pearson correlation of two float arrays of shape [n]; 0.0 if constant."""
  x, y = _as_pair(x, y)
  # Tested by equality: subtracting a float mean can leave rounding noise.
  if x.size == 0 or np.all(x == x[0]) or np.all(y == y[0]):
    return 0.0
  x = x.astype(np.float64) - np.mean(x, dtype=np.float64)
  y = y.astype(np.float64) - np.mean(y, dtype=np.float64)
  denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
  if denominator == 0:
    return 0.0
  return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def _average_ranks(values):
  """1-based ranks of `values` (shape [n]); ties share their mean rank."""
  order = np.argsort(values, kind="mergesort")
  sorted_values = values[order]
  # Start index of each run of equal values in sorted order.
  starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
  ends = np.r_[starts[1:], values.size]
  run_ranks = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
  ranks = np.empty(values.size, dtype=np.float64)
  ranks[order] = np.repeat(run_ranks, ends - starts)
  return ranks


def spearman(x, y):
  """Spearman rank correlation (ties get average ranks); 0.0 if constant."""
  x, y = _as_pair(x, y)
  if x.size == 0:
    return 0.0
  return pearson(_average_ranks(x), _average_ranks(y))


def _check_kind(kind):
  if kind not in KINDS:
    raise ValueError("unknown metric kind %r; accepted: %s" % (kind, ", ".join(KINDS)))
  return kind


def primary_metric(kind):
  """Name of the eval_results.txt figure used to pick the best checkpoint."""
  return _PRIMARY[_check_kind(kind)]


def _per_class_keys(label_list):
  """eval_f1_<label> per label, made safe for a `key = value` line (no whitespace or '=').

  Labels that become the same key ("a b" and "a_b") get their class id appended
  after the first ("eval_f1_a_b", "eval_f1_a_b_1"): one would replace the other.
  """
  keys = []
  for index, label in enumerate(label_list or []):
    key = "eval_f1_" + "".join("_" if ch.isspace() or ch == "=" else ch for ch in str(label))
    keys.append(f"{key}_{index}" if key in keys else key)
  return keys


def metric_names(kind, label_list=None):
  """Names of the figures `classification_metrics` returns, in its order."""
  _check_kind(kind)
  if kind == "regression":
    return ["eval_pearson", "eval_spearmanr", "eval_corr"]
  names = ["eval_accuracy"]
  if kind == "mcc":
    names.append("eval_mcc")
  elif kind == "f1":
    names.append("eval_f1")
  elif kind == "multiclass":
    names += ["eval_macro_f1", "eval_micro_f1"]
    names += _per_class_keys(label_list)
  return names


def _predictions(preds_or_scores):
  """Class ids of shape [n] from ids [n] or scores/probabilities [n, C]."""
  values = np.asarray(preds_or_scores)
  if values.ndim == 2:
    return np.argmax(values, axis=-1)
  return values.reshape(-1)


def classification_metrics(kind, labels, preds_or_scores, label_list=None):
  """The official metrics of a task, keyed as in eval_results.txt.

  Args:
    kind: one of KINDS, the task's processor's `metric_kind`: "accuracy",
      "mcc", "f1", "regression", "multiclass".
    labels: array of shape [n]: int class ids (the `label_ids` feature), or
      float scores for regression.
    preds_or_scores: int class ids of shape [n], or logits/probabilities of
      shape [n, num_labels] (argmax is taken); for regression, float
      predictions of shape [n] or [n, 1].
    label_list: list of label strings in id order; gives the positive class
      "1" of MRPC/QQP (id 1 when absent) and the names of per-class F1s.

  Returns:
    dict of metric name -> float, in `metric_names` order.
  """
  _check_kind(kind)
  if kind == "regression":
    labels, scores = _as_pair(np.asarray(labels, np.float64),
                              np.asarray(preds_or_scores, np.float64))
    p, s = pearson(labels, scores), spearman(labels, scores)
    return {"eval_pearson": p, "eval_spearmanr": s, "eval_corr": (p + s) / 2}
  labels, preds = _as_pair(labels, _predictions(preds_or_scores))
  num_classes = len(label_list) if label_list else None
  results = {"eval_accuracy": accuracy(labels, preds)}
  if kind == "mcc":
    results["eval_mcc"] = matthews_corrcoef(labels, preds, num_classes)
  elif kind == "f1":
    positive = 1
    if label_list and "1" in list(label_list):
      positive = list(label_list).index("1")
    results["eval_f1"] = f1_binary(labels, preds, positive=positive)
  elif kind == "multiclass":
    results["eval_macro_f1"] = macro_f1(labels, preds, num_classes)
    results["eval_micro_f1"] = micro_f1(labels, preds, num_classes)
    if label_list:
      per_class = precision_recall_f1_per_class(labels, preds, num_classes)
      for key, scores in zip(_per_class_keys(label_list), per_class):
        results[key] = scores["f1"]
  return results
