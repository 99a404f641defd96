"""Tests of benchmark.py (tiny shapes, our rows only) and of tf_defaults.py.

The peers' virtualenvs are not built here (they download torch and friends);
`python benchmark.py --config=base` is run by hand for the README figures.
"""

import json
import os
import subprocess
import sys

import pytest

import benchmark
import errors
import flops
from conftest import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _matmul_flops(m, k, n):
  return 2 * m * k * n


def test_flops_count_every_matmul_of_bert_base():
  """flops_per_sequence against a count of each matmul of one BERT-base sequence."""
  s, h, inner, layers, heads = 128, 768, 3072, 12, 12
  d = h // heads
  per_layer = (3 * _matmul_flops(s, h, h)            # query, key, value
               + heads * _matmul_flops(s, d, s)      # scores
               + heads * _matmul_flops(s, s, d)      # context
               + _matmul_flops(s, h, h)              # attention output
               + _matmul_flops(s, h, inner)          # intermediate
               + _matmul_flops(s, inner, h))         # output
  forward = layers * per_layer + _matmul_flops(1, h, h) + _matmul_flops(1, h, 2)
  config = flops.CONFIGS["base"]
  assert flops.flops_per_sequence(config, s, training=False) == forward
  # Backward: two matmuls of the same size per forward matmul.
  assert flops.flops_per_sequence(config, s, training=True) == 3 * forward


def test_gemm_floor_times_the_matmuls_of_a_training_step():
  """gemm_floor's products of one block add up to the benchmark's training count."""
  gemm_floor = load_script("gemm_floor")
  config, batch, seq = flops.CONFIGS["base"], 8, 128
  products = gemm_floor.block_products(config, batch, seq)
  block = sum(gemm_floor.product_flops(*p[1:]) for p in products)
  _, per_sequence = flops.matmul_weights(config)
  head = 3 * 2 * per_sequence * batch    # pooler + classifier: not in the floor
  assert config["num_hidden_layers"] * block == (
      batch * flops.flops_per_sequence(config, seq, training=True) - head)
  assert gemm_floor.product_flops([4, 3], [5, 3], False, True) == 2 * 3 * 4 * 5
  assert gemm_floor.product_flops([2, 6, 4], [2, 6, 5], True, False) == 2 * 2 * 6 * 4 * 5


def test_best_of_rounds_keeps_each_workloads_fastest_round():
  rounds = [
      dict(versions={"tensorflow": "x"}, matmul_peak_gflops=100.0, workloads=dict(
          train=dict(seconds_per_step=2.0, batch_size=8, peak_rss_mb=10.0),
          sentences=dict(seconds=4.0, sequences=64, peak_rss_mb=11.0))),
      dict(versions={"tensorflow": "x"}, matmul_peak_gflops=120.0, workloads=dict(
          train=dict(seconds_per_step=1.0, batch_size=8, peak_rss_mb=12.0),
          sentences=dict(seconds=8.0, sequences=64, peak_rss_mb=13.0))),
  ]
  best = benchmark.best_of_rounds(rounds)
  assert best["matmul_peak_gflops"] == 120.0
  assert best["workloads"]["train"]["seconds_per_step"] == 1.0
  assert best["workloads"]["train"]["round_rates"] == [4.0, 8.0]
  assert best["workloads"]["sentences"]["seconds"] == 4.0
  assert best["workloads"]["sentences"]["round_rates"] == [16.0, 8.0]


def test_tiny_benchmark_runs_both_onednn_rows_in_rounds(tmp_path):
  out = tmp_path / "tiny.json"
  done = subprocess.run(
      [sys.executable, "benchmark.py", "--config=tiny", "--peers=", "--workloads=infer,train",
       "--infer_batch_sizes=1,4", "--train_batch_size=4", "--seq_length=32", "--steps=1",
       "--rounds=2", "--onednn=on,off", "--threads=2", f"--json_output={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.loads(out.read_text())
  rows = report["results"]
  assert set(rows) == {"ours", "ours, oneDNN off"}
  peak = report["matmul_peak_gflops"]
  assert peak == max(r["matmul_peak_gflops"] for r in rows.values()) > 0
  for row in rows.values():
    assert set(row["workloads"]) == {"infer_b1", "infer_b4", "train"}
    for name, w in row["workloads"].items():
      assert len(w["round_rates"]) == 2
      assert w["sequences_per_second"] == max(w["round_rates"]) > 0
      training = name == "train"
      count = flops.flops_per_sequence(flops.CONFIGS["tiny"], 32, training)
      assert w["mfu"] == pytest.approx(w["sequences_per_second"] * count / 1e9 / peak)
  assert "ours, oneDNN off / ours: train" in done.stdout
  assert "best of 2 round(s)" in done.stdout


def test_tiny_serving_workload_exports_and_serves_mrpc_pairs(tmp_path):
  out = tmp_path / "serving.json"
  done = subprocess.run(
      [sys.executable, "benchmark.py", "--config=tiny", "--peers=", "--workloads=serving",
       "--num_sentences=16", "--steps=2", "--warmup_steps=1", "--rounds=1",
       f"--json_output={out}"], cwd=REPO, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  workloads = json.loads(out.read_text())["results"]["ours"]["workloads"]
  assert {"serve_text_b1", "serve_text_b32", "serve_ids_b1", "serve_ids_b32"} <= set(workloads)
  assert workloads["serve_text_b1"]["median_ms"] > 0
  assert [line.split()[0] for line in done.stdout.splitlines()
          if line.strip().startswith("ours ")] == ["ours"]


def test_variant_rows_are_named_by_what_differs():
  assert benchmark.parse_variant("bfloat16+xla", "float32", False) == ("bfloat16", True)
  assert benchmark.parse_variant("xla", "float16", False) == ("float16", True)
  assert benchmark.our_row_name("on") == "ours"
  assert benchmark.our_row_name("off", "bfloat16", True) == "ours, bfloat16, XLA, oneDNN off"
  with pytest.raises(errors.UserError, match="one dtype at most"):
    benchmark.parse_variant("bfloat16+float16", "float32", False)


def test_tiny_benchmark_measures_variant_rows_in_the_same_run(tmp_path):
  out = tmp_path / "tiny.json"
  done = subprocess.run(
      [sys.executable, "benchmark.py", "--config=tiny", "--peers=", "--workloads=infer,train",
       "--infer_batch_sizes=2", "--train_batch_size=2", "--seq_length=16", "--steps=1",
       "--variants=bfloat16", "--threads=2", f"--json_output={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  rows = json.loads(out.read_text())["results"]
  assert set(rows) == {"ours", "ours, bfloat16"}
  assert all(w["sequences_per_second"] > 0 for r in rows.values()
             for w in r["workloads"].values())
  assert "ours, bfloat16 / ours: train" in done.stdout


@pytest.mark.parametrize("flag, message", [
    ("--onednn=maybe", "--onednn=maybe: use on, off or on,off."),
    ("--variants=int8", "--variants: 'int8' is not")])
def test_bad_benchmark_flags_are_one_line_errors(flag, message):
  done = subprocess.run([sys.executable, "benchmark.py", "--config=tiny", "--peers=", flag],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 1
  assert message in done.stderr
  assert "Traceback" not in done.stderr


@pytest.mark.parametrize("preset, expected", [(None, True), ("0", False)])
def test_tf_defaults_turns_onednn_on_unless_the_user_said_otherwise(preset, expected):
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  if preset is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = preset
  code = ("import tf_defaults, tensorflow\n"
          "from tensorflow.python.util import _pywrap_util_port\n"
          "print('mkl', _pywrap_util_port.IsMklEnabled())\n")
  done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)
  assert f"mkl {expected}" in done.stdout, done.stderr[-2000:]


# Project modules that import TensorFlow when imported.
TF_LOADING = {"tensorflow", "checkpoint_utils", "classifier_data", "cli", "serving",
              "graph_tokenization", "modeling", "optimization", "training"}


@pytest.mark.parametrize("script", [
    "run_classifier.py", "run_pretraining.py", "run_ner.py", "run_squad.py",
    "run_multiple_choice.py", "extract_features.py", "export_savedmodel.py",
    "inference.py", "convert_checkpoint.py", "scripts/gemm_floor.py"])
def test_every_tensorflow_script_imports_tf_defaults_before_tensorflow(script):
  with open(os.path.join(REPO, script)) as f:
    imports = [(i, line.split()[1].split(".")[0]) for i, line in enumerate(f)
               if line.startswith(("import ", "from "))]
  defaults = [i for i, module in imports if module == "tf_defaults"]
  assert defaults, f"{script} does not import tf_defaults"
  loading = [module for i, module in imports if module in TF_LOADING and i < defaults[0]]
  assert not loading, f"{script} imports {loading} (TensorFlow) before tf_defaults"


def _serving_row(text_ms, text_seconds, model_seconds):
  """A fake RESULT of the serving workload: 256 pairs, batch 1 and 32."""
  return {"workloads": {
      "serve_text_b1": dict(seconds=text_seconds[0], sequences=256, batch_size=1,
                            median_ms=text_ms[0], peak_rss_mb=1.0),
      "serve_text_b32": dict(seconds=text_seconds[1], sequences=256, batch_size=32,
                             median_ms=text_ms[1], peak_rss_mb=1.0),
      "serve_ids_b1": dict(seconds_per_step=model_seconds[0], batch_size=1, peak_rss_mb=1.0),
      "serve_ids_b32": dict(seconds_per_step=model_seconds[1], batch_size=32,
                            peak_rss_mb=1.0)}}


def test_serving_table_prints_ort_rows_and_our_speedup():
  spec = dict(infer_batch_sizes=[1, 32], seq_length=128, config=flops.CONFIGS["base"])
  results = {"ours": _serving_row((40.0, 2000.0), (10.0, 16.0), (0.1, 3.2)),
             "ort": _serving_row((60.0, 2600.0), (15.0, 20.0), (0.2, 4.0))}
  benchmark.summarize(spec, results, peak_gflops=100.0)
  text = benchmark.format_serving(spec, results)
  lines = text.splitlines()
  assert lines[0].split() == ["toolkit", "text", "b1", "ms", "text", "b1", "pairs/s", "text",
                              "b32", "ms", "text", "b32", "pairs/s", "model", "b1", "seq/s",
                              "model", "b32", "seq/s"]
  assert lines[2].split() == ["ours", "40.0", "25.00", "2000.0", "16.00", "10.00", "10.00"]
  assert lines[3].split() == ["ort", "60.0", "16.67", "2600.0", "12.80", "5.00", "8.00"]
  assert lines[4] == ("ours / ort serving: text b1 median latency 1.50x (40.0 vs 60.0 ms), "
                      "pairs/s 1.50x; text b32 median latency 1.30x (2000.0 vs 2600.0 ms), "
                      "pairs/s 1.25x; model b1 2.00x; model b32 1.25x")


def test_best_serving_round_at_batch_1_is_the_lowest_median():
  rounds = [_serving_row((50.0, 2000.0), (10.0, 16.0), (0.1, 3.2)),
            _serving_row((45.0, 2100.0), (12.0, 17.0), (0.1, 3.2))]
  best = benchmark.best_of_rounds(rounds)["workloads"]
  assert best["serve_text_b1"]["median_ms"] == 45.0      # though its pairs/s is lower
  assert best["serve_text_b32"]["seconds"] == 16.0       # the higher throughput


def test_serving_pairs_are_every_kth_mrpc_dev_pair_in_file_order(shared_dir, tmp_path):
  class Flags:
    mrpc_dir = str(shared_dir / "data" / "MRPC")
    num_serving_pairs = 256
  path = tmp_path / "pairs.json"
  assert benchmark.write_serving_pairs(Flags, str(path)) == 256
  pairs = json.loads(path.read_text(encoding="utf-8"))
  lines = (shared_dir / "data" / "MRPC" / "dev.tsv").read_text(encoding="utf-8").splitlines()
  rows = [line.split("\t") for line in lines[1:]]
  assert len(rows) == 408 and len(pairs["text_a"]) == len(pairs["text_b"]) == 256
  picked = [rows[int(i * 408 / 256)] for i in range(256)]
  assert pairs["text_a"] == [r[3] for r in picked]
  assert pairs["text_b"] == [r[4] for r in picked]


def test_the_peer_script_exists_and_loads_the_shared_workloads():
  assert os.path.isfile(benchmark.PEER_SCRIPT)
  assert os.path.basename(benchmark.PEER_SCRIPT) == "benchmark_peers.py"
  with open(benchmark.PEER_SCRIPT, encoding="utf-8") as f:
    assert "benchmark_workloads.py" in f.read()
