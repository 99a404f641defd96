"""run_pretraining.py: the reference's record schema, losses, eval keys, resume, errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import modeling
import run_pretraining
import tasks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ, PREDS, VOCAB = 16, 3, 40


def write_records(path, count, seed=0, seq=SEQ, preds=PREDS):
  """Records in the reference's schema: counting sequences with masked positions.

  Token i is i + 5 (or i + 25 in half of the records, told apart by any unmasked
  token), so a masked token is predictable from its position and the context.
  """
  rng = np.random.RandomState(seed)
  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(count):
      length = rng.randint(8, seq + 1)
      start = 20 * rng.randint(0, 2)
      ids = [start + i + 5 for i in range(length)]
      ids[0], ids[-1] = 2, 3                       # [CLS] ... [SEP]
      real = min(preds, length - 2)               # more slots than tokens: padding slots
      positions = sorted(rng.choice(np.arange(1, length - 1), real, replace=False))
      labels = [ids[p] for p in positions]
      for p in positions:
        ids[p] = 4                                 # [MASK]
      positions, labels = positions + [0] * (preds - real), labels + [0] * (preds - real)
      is_random = int(rng.rand() < 0.5)
      pad = seq - length
      feature = {
          "input_ids": ids + [0] * pad, "input_mask": [1] * length + [0] * pad,
          "segment_ids": [0] * (length // 2) + [1] * (length - length // 2) + [0] * pad,
          "masked_lm_positions": positions, "masked_lm_ids": labels,
          "next_sentence_labels": [is_random]}
      example = tf.train.Example(features=tf.train.Features(feature={
          **{k: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(x) for x in v]))
             for k, v in feature.items()},
          "masked_lm_weights": tf.train.Feature(
              float_list=tf.train.FloatList(value=[1.0] * real + [0.0] * (preds - real)))}))
      writer.write(example.SerializeToString())


@pytest.fixture
def model_dir(tmp_path):
  config = modeling.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=37,
                               max_position_embeddings=SEQ, type_vocab_size=2)
  config.to_json_file(str(tmp_path / "bert_config.json"))
  write_records(str(tmp_path / "train.tfrecord"), 256, seed=1)
  write_records(str(tmp_path / "eval.tfrecord"), 64, seed=2)
  return tmp_path


def run_cli(model_dir, out, *extra):
  args = [sys.executable, os.path.join(REPO, "run_pretraining.py"),
          f"--bert_config_file={model_dir / 'bert_config.json'}",
          f"--input_file={model_dir / 'train.tfrecord'}",
          f"--eval_input_file={model_dir / 'eval.tfrecord'}",
          f"--output_dir={out}", f"--max_seq_length={SEQ}",
          f"--max_predictions_per_seq={PREDS}", "--train_batch_size=16",
          "--eval_batch_size=16", "--max_eval_steps=4", "--learning_rate=3e-3",
          "--num_warmup_steps=5", "--save_checkpoints_steps=40", "--log_steps=20",
          "--iterations_per_loop=20", *extra]
  return subprocess.run(args, capture_output=True, text=True, timeout=600,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def read_results(path):
  lines = path.read_text().splitlines()
  return {k: float(v) for k, v in (line.split(" = ") for line in lines)}


def test_pretraining_lowers_mlm_loss_and_writes_the_reference_eval_keys(model_dir):
  before = run_cli(model_dir, model_dir / "before", "--do_eval=true")
  assert before.returncode == 0, before.stderr[-2000:]
  start = read_results(model_dir / "before" / "eval_results.txt")
  result = run_cli(model_dir, model_dir / "out", "--do_train=true", "--do_eval=true",
                   "--num_train_steps=80")
  assert result.returncode == 0, result.stderr[-2000:]
  end = read_results(model_dir / "out" / "eval_results.txt")
  assert set(end) == {"global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
                      "next_sentence_accuracy", "next_sentence_loss"}
  assert end["global_step"] == 80
  assert end["masked_lm_loss"] < 0.5 * start["masked_lm_loss"], (start, end)
  assert end["masked_lm_accuracy"] > 0.5
  # The checkpoint has the official names of model, heads and optimizer slots.
  names = set(checkpoint_utils.checkpoint_shapes(str(model_dir / "out")))
  for name in ("cls/predictions/output_bias", "cls/seq_relationship/output_weights",
               "bert/embeddings/word_embeddings", "global_step",
               "cls/predictions/transform/dense/kernel/adam_m"):
    assert name in names


def test_loss_matches_a_numpy_computation_of_the_reference_formula(model_dir):
  config = modeling.BertConfig.from_json_file(str(model_dir / "bert_config.json"))
  task = tasks.PretrainingTask(config)
  task.build("float32", seed=3)
  records = run_pretraining.parse_records([str(model_dir / "eval.tfrecord")], SEQ, PREDS)
  batch = next(iter(records.batch(8)))
  batch = dict(batch, masked_lm_weights=tf.constant(
      np.tile([1.0, 1.0, 0.0], (8, 1)), tf.float32))    # one padding slot per row
  loss = float(task.loss(batch, False, None))
  out = task.predict(batch)
  weights = batch["masked_lm_weights"].numpy()
  mlm = (out["masked_lm_nll"].numpy() * weights).sum() / (weights.sum() + 1e-5)
  expected = mlm + out["next_sentence_nll"].numpy().mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_inconsistent_max_predictions_is_a_clear_error(model_dir):
  result = run_cli(model_dir, model_dir / "bad", "--do_train=true",
                   "--num_train_steps=2", "--max_predictions_per_seq=5")
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_pretraining.py: error:")
  assert "max_predictions_per_seq=3" in last and "Traceback" not in result.stderr
  assert not (model_dir / "bad").exists()


def test_records_with_more_prediction_slots_than_tokens_train(model_dir):
  """create_pretraining_data.py's default of 20 slots with --max_seq_length=16 is valid."""
  write_records(str(model_dir / "wide.tfrecord"), 32, seed=4, preds=20)
  result = run_cli(model_dir, model_dir / "wide", "--do_train=true", "--do_eval=true",
                   "--num_train_steps=2", "--num_warmup_steps=1", "--max_predictions_per_seq=20",
                   f"--input_file={model_dir / 'wide.tfrecord'}",
                   f"--eval_input_file={model_dir / 'wide.tfrecord'}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert read_results(model_dir / "wide" / "eval_results.txt")["global_step"] == 2


def test_missing_input_is_a_clear_error(model_dir):
  result = run_cli(model_dir, model_dir / "bad2", "--do_train=true",
                   "--num_train_steps=2", f"--input_file={model_dir / 'nope*.tfrecord'}")
  assert result.returncode == 1
  assert "matches no file" in result.stderr.strip().splitlines()[-1]
  assert not (model_dir / "bad2").exists()
