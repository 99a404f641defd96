"""The benchmark workloads on the peer toolkits, run inside each peer's own virtualenv.

benchmark.py starts this file with the peer venv's Python; it imports nothing
from this project, builds the peer's BERT classifier (encoder + pooled-output
dropout + dense, the workload of run_classifier.py) with the shapes it is
given, and prints one line `RESULT {json}`.

Peers:
  hf            Hugging Face transformers BertForSequenceClassification on
                PyTorch, torch.optim.AdamW, clip_grad_norm_(1.0).
  keras_hub     keras_hub.models.BertTextClassifier (BertBackbone) on the
                TensorFlow backend, compiled with keras AdamW(clipnorm=1.0),
                train_on_batch / predict_on_batch (Keras' defaults: no XLA on CPU).
  model_garden  TF Model Garden networks.BertEncoder + models.BertClassifier
                (tf-keras), a tf.function train step with AdamW and global-norm
                clipping, as Model Garden's trainers run it.
  ort           ONNX Runtime (inference only): the hf model exported to ONNX and
                optimised by onnxruntime.transformers.optimizer (BERT fusion:
                EmbedLayerNormalization, Attention, BiasGelu, SkipLayerNormalization),
                fed text by HF's Rust BertTokenizerFast padding to the longest pair
                of each batch.

The serving workload (text pairs in, probabilities out, and the model alone on
fixed shapes) is timed here for every toolkit that has a text path, ours
included (benchmark_workloads.py, shared with benchmark.py).
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile

import numpy as np


def _load_workloads():
  """benchmark_workloads.py of the checkout, by its path (the peers' venvs lack the project)."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "benchmark_workloads.py")
  spec = importlib.util.spec_from_file_location("benchmark_workloads", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


_workloads = _load_workloads()
peak_rss_mb, random_batch, run_workloads = (
    _workloads.peak_rss_mb, _workloads.random_batch, _workloads.run_workloads)


# ----------------------------------------------------------------- peers

def _hf_config(transformers, spec, **kwargs):
  c = spec["config"]
  return transformers.BertConfig(
      vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
      num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
      intermediate_size=c["intermediate_size"], max_position_embeddings=512,
      type_vocab_size=2, hidden_act="gelu", num_labels=2, **kwargs)


def hugging_face(spec):
  import torch
  import transformers
  torch.set_num_threads(spec["threads"])
  torch.manual_seed(0)
  config = _hf_config(transformers, spec)
  model = transformers.BertForSequenceClassification(config)
  optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, eps=1e-6)

  def tensors(batch):
    return dict(input_ids=torch.from_numpy(batch["input_ids"]),
                attention_mask=torch.from_numpy(batch["input_mask"]),
                token_type_ids=torch.from_numpy(batch["segment_ids"]))

  def train_step(batch):
    model.train()
    loss = model(**tensors(batch), labels=torch.from_numpy(batch["label_ids"])).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss)

  def infer(batch):
    model.eval()
    with torch.inference_mode():
      return torch.softmax(model(**tensors(batch)).logits, -1).numpy()

  versions = dict(torch=torch.__version__, transformers=transformers.__version__,
                  attention=getattr(config, "_attn_implementation", "?"))
  return versions, train_step, infer, None


def _tf_threads(tf, threads):
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)


def keras_hub_peer(spec):
  os.environ["KERAS_BACKEND"] = "tensorflow"
  import tensorflow as tf
  _tf_threads(tf, spec["threads"])
  import keras
  import keras_hub
  keras.utils.set_random_seed(0)
  c = spec["config"]
  backbone = keras_hub.models.BertBackbone(
      vocabulary_size=c["vocab_size"], num_layers=c["num_hidden_layers"],
      num_heads=c["num_attention_heads"], hidden_dim=c["hidden_size"],
      intermediate_dim=c["intermediate_size"], dropout=0.1, max_sequence_length=512,
      num_segments=2)
  model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2,
                                              preprocessor=None, dropout=0.1)
  model.compile(optimizer=keras.optimizers.AdamW(learning_rate=2e-5, weight_decay=0.01,
                                                 epsilon=1e-6, clipnorm=1.0),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

  def inputs(batch):
    return {"token_ids": batch["input_ids"], "segment_ids": batch["segment_ids"],
            "padding_mask": batch["input_mask"]}

  def train_step(batch):
    return model.train_on_batch(inputs(batch), batch["label_ids"])

  def infer(batch):
    return model.predict_on_batch(inputs(batch))

  versions = dict(tensorflow=tf.__version__, keras=keras.__version__,
                  keras_hub=keras_hub.__version__)
  return versions, train_step, infer, None


def model_garden(spec):
  import tensorflow as tf
  _tf_threads(tf, spec["threads"])
  import tf_keras
  from official.nlp.modeling import models, networks
  tf.random.set_seed(0)
  c = spec["config"]
  encoder = networks.BertEncoder(
      vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
      num_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
      inner_dim=c["intermediate_size"], max_sequence_length=512, type_vocab_size=2,
      dropout_rate=0.1, attention_dropout_rate=0.1)
  model = models.BertClassifier(encoder, num_classes=2, dropout_rate=0.1)
  optimizer = tf_keras.optimizers.AdamW(learning_rate=2e-5, weight_decay=0.01, epsilon=1e-6)
  loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def inputs(batch):
    return dict(input_word_ids=tf.constant(batch["input_ids"], tf.int32),
                input_mask=tf.constant(batch["input_mask"], tf.int32),
                input_type_ids=tf.constant(batch["segment_ids"], tf.int32))

  @tf.function
  def train_fn(features, labels):
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, model(features, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    grads, _ = tf.clip_by_global_norm(grads, 1.0)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  @tf.function(reduce_retracing=True)
  def infer_fn(features):
    return tf.nn.softmax(model(features, training=False))

  def train_step(batch):
    return train_fn(inputs(batch), tf.constant(batch["label_ids"])).numpy()

  def infer(batch):
    return infer_fn(inputs(batch)).numpy()

  import official
  versions = dict(tensorflow=tf.__version__,
                  tf_models=getattr(official, "__version__", "tf-models-official"))
  return versions, train_step, infer, None


def _export_onnx(spec, directory):
  """The hf classifier (random weights) as an ONNX file BERT-fused by ORT; returns its path."""
  import torch
  import transformers
  from onnxruntime.transformers import optimizer
  torch.manual_seed(0)
  # Eager attention: with transformers' default (sdpa) the exported graph has
  # no pattern the optimizer fuses into its Attention op (0 fused, measured).
  config = _hf_config(transformers, spec, attn_implementation="eager")
  model = transformers.BertForSequenceClassification(config).eval()
  names = ["input_ids", "attention_mask", "token_type_ids"]
  example = torch.ones(1, 8, dtype=torch.int64)
  raw = os.path.join(directory, "model.onnx")
  # The TorchScript exporter: its graph is the one the BERT fusion recognises.
  torch.onnx.export(model, (example, example, torch.zeros_like(example)), raw,
                    input_names=names, output_names=["logits"],
                    dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                                  "logits": {0: "batch"}},
                    opset_version=17, dynamo=False)
  c = spec["config"]
  fused = optimizer.optimize_model(raw, model_type="bert", num_heads=c["num_attention_heads"],
                                   hidden_size=c["hidden_size"])
  path = os.path.join(directory, "model.fused.onnx")
  fused.save_model_to_file(path)
  return path, fused.get_fused_operator_statistics()


def _softmax(logits):
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def onnx_runtime(spec):
  import onnxruntime
  import transformers
  with tempfile.TemporaryDirectory() as tmp:
    path, fused = _export_onnx(spec, tmp)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = spec["threads"]
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spec.get("ort_allow_spinning", True):
      options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
  tokenizer = transformers.BertTokenizerFast(vocab_file=spec["vocab_file"], do_lower_case=True)

  def infer(batch):
    feeds = dict(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                 token_type_ids=batch["segment_ids"])
    return _softmax(session.run(["logits"], feeds)[0])

  def serve_text(text_a, text_b):
    encoded = tokenizer(text_a, text_b, padding="longest", truncation="longest_first",
                        max_length=spec["seq_length"], return_tensors="np")
    return infer(dict(input_ids=encoded["input_ids"], input_mask=encoded["attention_mask"],
                      segment_ids=encoded["token_type_ids"]))

  versions = dict(onnxruntime=onnxruntime.__version__, transformers=transformers.__version__,
                  fused={k: v for k, v in fused.items() if v})
  return versions, None, infer, serve_text


PEERS = {"hf": hugging_face, "keras_hub": keras_hub_peer, "model_garden": model_garden,
         "ort": onnx_runtime}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--peer", choices=sorted(PEERS), required=True)
  parser.add_argument("--spec", required=True, help="JSON file written by benchmark.py")
  args = parser.parse_args()
  with open(args.spec) as f:
    spec = json.load(f)
  versions, train_step, infer, serve_text = PEERS[args.peer](spec)
  results = run_workloads(spec, train_step, infer, serve_text)
  print("RESULT " + json.dumps({"versions": versions, "workloads": results}), flush=True)


if __name__ == "__main__":
  sys.exit(main())
