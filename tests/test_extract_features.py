"""Tests for extract_features.py: tokens, JSON schema, NumPy parity, padding, errors."""

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import errors
import extract_features
import modeling
from numpy_bert import numpy_bert_forward

REPO_ROOT = Path(__file__).resolve().parents[1]

# A hand-built WordPiece vocabulary; id = position. 29 entries (odd on purpose).
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
         "mat", "dog", "##s", "run", "##ning", "un", "##aff", "##able", "hello",
         "world", ",", ".", "!", "a", "is", "good", "cafe", "very", "##ly", "x"]
# Odd sizes so that a swapped dimension cannot go unnoticed.
TINY = dict(vocab_size=len(VOCAB), hidden_size=12, num_hidden_layers=2,
            num_attention_heads=3, intermediate_size=7, max_position_embeddings=16,
            type_vocab_size=2)
MAX_SEQ_LENGTH = 16

LINES = [
    "The cats sat on the mat.",
    "Hello, world! ||| unaffable dogs running",
    "Café xyz",
    "",
    "the cat " * 10,
    "the cat sat on the mat the cat sat on the mat ||| a dog is good",
    "the cat sat on the mat. ! ||| a dog is very good, x",
]
S, A = "[SEP]", "the cat sat on the mat".split()
EXPECTED_TOKENS = [
    ["[CLS]", "the", "cat", "##s", "sat", "on", "the", "mat", ".", S],
    ["[CLS]", "hello", ",", "world", "!", S, "un", "##aff", "##able", "dog", "##s",
     "run", "##ning", S],
    ["[CLS]", "cafe", "[UNK]", S],
    ["[CLS]", S],
    ["[CLS]"] + ["the", "cat"] * 7 + [S],                    # single: 16 - 2 tokens kept
    ["[CLS]"] + (A + A)[:9] + [S, "a", "dog", "is", "good", S],  # pair: longer side popped
    ["[CLS]"] + A + [".", S, "a", "dog", "is", "very", "good", ",", S],  # 8+7: a, then b on tie
]
EXPECTED_SEGMENTS = [
    [0] * 10, [0] * 6 + [1] * 8, [0] * 4, [0] * 2, [0] * 16, [0] * 11 + [1] * 5,
    [0] * 9 + [1] * 7]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
  """A tiny model with every weight random (biases, gamma, beta too), saved like an official one."""
  random.seed(0)
  np.random.seed(0)
  tf.random.set_seed(0)
  directory = tmp_path_factory.mktemp("tiny_bert")
  (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
  config = modeling.BertConfig(**TINY)
  config.to_json_file(str(directory / "bert_config.json"))
  model = modeling.BertModel(config, seed=7)
  rng = np.random.RandomState(7)
  for name, variable in sorted(model.variables_by_name().items()):
    value = rng.normal(0.0, 0.3, size=variable.shape)
    if name.endswith("/gamma"):
      value += 1.0
    variable.assign(value.astype(np.float32))
  checkpoint_utils.save_tensors(str(directory / "bert_model.ckpt"),
                                model.variables_by_name())
  (directory / "input.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
  return directory


@pytest.fixture(scope="module")
def weights(bert_dir):
  """The saved weights read back with TF's own checkpoint reader."""
  reader = tf.train.load_checkpoint(str(bert_dir / "bert_model.ckpt"))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def make_config(bert_dir, output_file, **overrides):
  kwargs = dict(input_file=str(bert_dir / "input.txt"), output_file=str(output_file),
                bert_config_file=str(bert_dir / "bert_config.json"),
                init_checkpoint=str(bert_dir / "bert_model.ckpt"),
                vocab_file=str(bert_dir / "vocab.txt"), layers="-1,-2,0",
                max_seq_length=MAX_SEQ_LENGTH, batch_size=4)
  kwargs.update(overrides)
  return extract_features.ExtractConfig(**kwargs)


def oracle(weights, tokens, segments):
  """The NumPy encoder layers (L arrays [S,H]) of one unpadded example."""
  ids = np.array([[VOCAB.index(t) for t in tokens]])
  mask = np.ones_like(ids)
  all_layers, _, _ = numpy_bert_forward(weights, TINY, ids, mask, np.array([segments]))
  return [layer[0] for layer in all_layers]


def read_json_lines(path):
  """Parsed lines as nested lists of (key, value) pairs, so that key order is visible."""
  return [json.loads(line, object_pairs_hook=list)
          for line in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def extracted(bert_dir, tmp_path_factory):
  output_file = tmp_path_factory.mktemp("out") / "features.jsonl"
  count = extract_features.run(make_config(bert_dir, output_file))
  assert count == len(LINES)
  return output_file


def test_schema_tokens_and_key_order_match_the_reference(extracted):
  text = extracted.read_text(encoding="utf-8")
  assert text.endswith("\n")
  for line in text.splitlines():   # json.dumps defaults: ", " and ": " separators
    assert line == json.dumps(json.loads(line))
  records = read_json_lines(extracted)
  assert len(records) == len(LINES)
  all_values = [v for line in text.splitlines()
                for f in json.loads(line)["features"] for l in f["layers"] for v in l["values"]]
  assert any(round(v, 5) != v for v in all_values)   # 6 places kept, not fewer
  assert len(records) == len(EXPECTED_TOKENS)
  for index, (record, expected_tokens) in enumerate(zip(records, EXPECTED_TOKENS)):
    assert [key for key, _ in record] == ["linex_index", "features"]
    assert record[0][1] == index
    features = record[1][1]
    assert [[pair[0] for pair in feature] for feature in features] == \
        [["token", "layers"]] * len(expected_tokens)
    assert [feature[0][1] for feature in features] == expected_tokens
    for feature in features:
      layers = feature[1][1]
      assert [[key for key, _ in layer] for layer in layers] == [["index", "values"]] * 3
      assert [layer[0][1] for layer in layers] == [-1, -2, 0]
      for layer in layers:
        values = layer[1][1]
        assert len(values) == TINY["hidden_size"]
        assert all(type(v) is float and round(v, 6) == v for v in values)


def test_values_equal_an_independent_numpy_forward_pass(extracted, weights):
  records = [json.loads(line) for line in extracted.read_text().splitlines()]
  assert len(records) == len(EXPECTED_TOKENS) == len(EXPECTED_SEGMENTS)
  for record, tokens, segments in zip(records, EXPECTED_TOKENS, EXPECTED_SEGMENTS):
    expected = oracle(weights, tokens, segments)
    assert len(record["features"]) == len(tokens)
    for position, feature in enumerate(record["features"]):
      for layer in feature["layers"]:
        np.testing.assert_allclose(layer["values"], expected[layer["index"]][position],
                                   atol=1e-5, rtol=0)
  # The layers really differ, so a wrong index could not pass.
  assert not np.allclose(expected[0], expected[1], atol=1e-2)


def test_dynamic_padding_equals_fixed_padding(bert_dir):
  config = modeling.BertConfig.from_json_file(str(bert_dir / "bert_config.json"))
  model = extract_features.build_model(config, str(bert_dir / "bert_model.ckpt"))
  tokenizer = extract_features.tokenization.FullTokenizer(str(bert_dir / "vocab.txt"))
  examples = [extract_features.InputExample(0, "a dog"),
              extract_features.InputExample(1, "the cat " * 10)]
  features = extract_features.convert_examples_to_features(examples, MAX_SEQ_LENGTH,
                                                           tokenizer)
  assert [len(f.tokens) for f in features] == [4, 16]
  dynamic = extract_features.FeatureExtractor(model, [-1, 0])
  fixed = extract_features.FeatureExtractor(model, [-1, 0], pad_to=MAX_SEQ_LENGTH)
  together, padded = dynamic(features), fixed(features)
  alone = [dynamic([feature])[0] for feature in features]
  for i in range(2):
    assert together[i].shape == (2, len(features[i].tokens), TINY["hidden_size"])
    np.testing.assert_allclose(together[i], alone[i], atol=1e-6, rtol=0)
    np.testing.assert_allclose(padded[i], alone[i], atol=1e-6, rtol=0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_equals_numpy_mean_over_real_tokens_or_cls(bert_dir, weights, tmp_path,
                                                           pooling):
  output_file = tmp_path / "pooled.jsonl"
  extract_features.run(make_config(bert_dir, output_file, pooling=pooling, layers="-1,0"))
  records = read_json_lines(output_file)
  assert len(records) == len(EXPECTED_TOKENS) == len(EXPECTED_SEGMENTS)
  for index, record in enumerate(records):
    assert [key for key, _ in record] == ["linex_index", "pooled"]
    assert record[0][1] == index
    pooled = record[1][1]
    assert [[key for key, _ in entry] for entry in pooled] == [["index", "values"]] * 2
    expected = oracle(weights, EXPECTED_TOKENS[index], EXPECTED_SEGMENTS[index])
    for entry in pooled:
      layer_index, values = entry[0][1], entry[1][1]
      layer = expected[layer_index]
      want = layer.mean(axis=0) if pooling == "mean" else layer[0]
      assert all(round(v, 6) == v for v in values)
      np.testing.assert_allclose(values, want, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------- CLI

def cli_argv(bert_dir, output_file, *args, input_file=None):
  flags = {"input_file": input_file or bert_dir / "input.txt", "output_file": output_file,
           "vocab_file": bert_dir / "vocab.txt",
           "bert_config_file": bert_dir / "bert_config.json",
           "init_checkpoint": bert_dir / "bert_model.ckpt",
           "max_seq_length": MAX_SEQ_LENGTH, "layers": "-1,-2"}
  argv = [sys.executable, str(REPO_ROOT / "extract_features.py")]
  argv += [f"--{key}={value}" for key, value in flags.items()]
  return argv + list(args)   # later flags win: `args` may override the ones above


@pytest.fixture(scope="module")
def cli_runs(bert_dir, tmp_path_factory):
  """Runs every CLI case at once (each pays the TF import): name -> (result, out dir, file)."""
  cases = {}
  out = tmp_path_factory.mktemp("cli_ok")
  cases["ok"] = (out, [
      "--layers=-1,-2,0", "--batch_size=4", "--do_lower_case=True", "--use_tpu=False",
      "--num_tpu_cores=8", "--use_one_hot_embeddings=False"], None)
  out = tmp_path_factory.mktemp("cli_missing")
  cases["missing_input"] = (out, [], out / "nope.txt")
  cases["bad_layers"] = (tmp_path_factory.mktemp("cli_layers"), ["--layers=-1,2"], None)
  out = tmp_path_factory.mktemp("cli_latin1")
  (out / "latin1.txt").write_bytes("the cat\na dog\ncaf\xe9 ||| x\n".encode("latin-1"))
  cases["non_utf8"] = (out, [], out / "latin1.txt")
  out = tmp_path_factory.mktemp("cli_case")
  official = out / "uncased_L-12_H-768_A-12"
  official.mkdir()
  for name in os.listdir(bert_dir):
    if name.startswith("bert_model.ckpt"):
      (official / name).write_bytes((bert_dir / name).read_bytes())
  cases["case_mismatch"] = (out, ["--do_lower_case=False",
                                  f"--init_checkpoint={official / 'bert_model.ckpt'}"], None)
  processes = {
      name: subprocess.Popen(
          cli_argv(bert_dir, out / "out.jsonl", *args, input_file=input_file),
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
      for name, (out, args, input_file) in cases.items()}
  results = {}
  for name, process in processes.items():
    stdout, stderr = process.communicate(timeout=180)
    out, _, input_file = cases[name]
    results[name] = (subprocess.CompletedProcess(process.args, process.returncode,
                                                 stdout, stderr), out, input_file)
  return results


def test_cli_writes_the_same_file_and_accepts_the_reference_tpu_flags(cli_runs, extracted):
  result, out, _ = cli_runs["ok"]
  assert result.returncode == 0, result.stderr
  assert (out / "out.jsonl").read_bytes() == extracted.read_bytes()
  assert os.listdir(out) == ["out.jsonl"]


def assert_one_line_error(cli_run, *words):
  result, out, _ = cli_run
  assert result.returncode == 1, result.stderr
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  errors = [line for line in lines if line.startswith("extract_features.py:")]
  assert len(errors) == 1 and errors[0] == lines[-1], result.stderr
  assert errors[0].startswith("extract_features.py: error: ")
  assert "Traceback" not in result.stderr
  for word in words:
    assert word in errors[0]
  assert not (out / "out.jsonl").exists()
  assert not [name for name in os.listdir(out) if ".tmp-" in name]


def test_cli_missing_input_file(cli_runs):
  _, _, missing = cli_runs["missing_input"]
  assert_one_line_error(cli_runs["missing_input"], f"--input_file={missing}", "not found")


def test_cli_bad_layers(cli_runs):
  assert_one_line_error(cli_runs["bad_layers"], "--layers=-1,2", "index 2", "[-2, 1]")


def test_cli_non_utf8_line_is_named(cli_runs):
  _, _, input_file = cli_runs["non_utf8"]
  assert_one_line_error(cli_runs["non_utf8"], str(input_file), "line 3", "UTF-8")


def test_cli_case_mismatch_with_official_checkpoint_name(cli_runs):
  assert_one_line_error(cli_runs["case_mismatch"], "do_lower_case=False",
                        "uncased_L-12_H-768_A-12", "--do_lower_case=True")


def test_empty_input_and_shape_mismatch_leave_no_output(bert_dir, tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_bytes(b"")
  output_file = tmp_path / "out.jsonl"
  with pytest.raises(errors.UserError, match="empty"):
    extract_features.run(make_config(bert_dir, output_file, input_file=str(empty)))
  other = modeling.BertConfig(**{**TINY, "intermediate_size": 9})
  other.to_json_file(str(tmp_path / "other_config.json"))
  with pytest.raises(errors.CheckpointError,
                     match=r"shape \[(12, )?7\] in the checkpoint but \[(12, )?9\]"):
    extract_features.run(make_config(bert_dir, output_file,
                                     bert_config_file=str(tmp_path / "other_config.json")))
  assert sorted(os.listdir(tmp_path)) == ["empty.txt", "other_config.json"]
  # The input named as the output too (or through a link): refused, the text stays.
  text = tmp_path / "in.txt"
  text.write_text("the cat sat\n")
  (tmp_path / "link.jsonl").symlink_to(text)
  for output in (text, tmp_path / "link.jsonl"):
    with pytest.raises(errors.UserError, match="is the --input_file: the features would "
                       "replace the text"):
      extract_features.run(make_config(bert_dir, output, input_file=str(text)))
  assert text.read_text() == "the cat sat\n"


def test_failure_while_writing_removes_the_temporary_file(bert_dir, tmp_path, monkeypatch):
  output_file = tmp_path / "out.jsonl"
  output_file.write_text("previous run\n")
  original = extract_features.format_example
  calls = []

  def failing_format(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
      raise OSError("disk full")
    return original(*args, **kwargs)

  monkeypatch.setattr(extract_features, "format_example", failing_format)
  with pytest.raises(OSError, match="disk full"):
    extract_features.run(make_config(bert_dir, output_file))
  assert os.listdir(tmp_path) == ["out.jsonl"]
  assert output_file.read_text() == "previous run\n"


def test_layers_flag_is_parsed_in_order_and_validated():
  assert extract_features.parse_layer_indexes("-1, -2,0", 2) == [-1, -2, 0]
  assert extract_features.parse_layer_indexes([1, -2], 2) == [1, -2]
  with pytest.raises(errors.UserError, match="'x' is not an integer"):
    extract_features.parse_layer_indexes("-1,x", 2)
  with pytest.raises(errors.UserError, match="-3 is out of range"):
    extract_features.parse_layer_indexes("-1,-2,-3,-4", 2)


def test_blank_lines_are_examples_and_pairs_split_on_the_separator(tmp_path):
  path = tmp_path / "in.txt"
  path.write_bytes(b"  a ||| b ||| c \r\n\nno|||split\n")
  examples = extract_features.read_examples(str(path))
  assert [(e.unique_id, e.text_a, e.text_b) for e in examples] == [
      (0, "a ||| b", "c"), (1, "", None), (2, "no|||split", None)]


def test_a_text_b_without_word_pieces_is_left_out_as_run_classifier_does(tmp_path):
  """`a ||| <zero-width space>`: b survives strip() but has no word pieces."""
  import classifier_data  # pylint: disable=g-import-not-at-top
  import tokenization  # pylint: disable=g-import-not-at-top
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n")
  tokenizer = tokenization.FullTokenizer(str(vocab))
  path = tmp_path / "in.txt"
  path.write_text("the cat ||| \u200b\nthe ||| cat\n", encoding="utf-8")
  examples = extract_features.read_examples(str(path))
  assert [e.text_b for e in examples] == ["\u200b", "cat"]
  features = extract_features.convert_examples_to_features(examples, 8, tokenizer)
  assert len(features) == 2
  assert features[0].tokens == ["[CLS]", "the", "cat", "[SEP]"]
  assert features[0].input_type_ids == [0, 0, 0, 0]
  assert features[1].tokens == ["[CLS]", "the", "[SEP]", "cat", "[SEP]"]
  assert features[1].input_type_ids == [0, 0, 0, 1, 1]
  for feature, example in zip(features, examples):
    expected = classifier_data.convert_single_example(
        0, classifier_data.InputExample("x", example.text_a, example.text_b, "0"), ["0"],
        8, tokenizer)
    assert feature.input_ids == expected.input_ids[:len(feature.input_ids)]
    assert feature.input_type_ids == expected.segment_ids[:len(feature.input_ids)]


def test_a_vocabulary_of_another_size_than_the_model_is_refused(bert_dir, tmp_path):
  """More tokens than vocab_size was a Gather traceback; fewer gave wrong features."""
  output_file = tmp_path / "sub" / "out.jsonl"
  for name, tokens in (("long.txt", VOCAB + ["zebra", "yak"]), ("short.txt", VOCAB[:-3])):
    (tmp_path / name).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    with pytest.raises(errors.UserError) as error:
      extract_features.run(make_config(bert_dir, output_file,
                                       vocab_file=str(tmp_path / name)))
    assert (f"--vocab_file={tmp_path / name} has {len(tokens)} tokens but the model's "
            f"bert_config.json says vocab_size={len(VOCAB)}") in str(error.value)
  assert not (tmp_path / "sub").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_is_read_and_a_path_ending_in_a_slash_is_refused(bert_dir, extracted,
                                                                 tmp_path):
  pipe = tmp_path / "input.pipe"
  os.mkfifo(pipe)
  text = (bert_dir / "input.txt").read_bytes()

  def fill():
    with open(pipe, "wb") as f:
      f.write(text)
  threading.Thread(target=fill, daemon=True).start()
  output_file = tmp_path / "from_pipe.jsonl"
  assert extract_features.run(make_config(bert_dir, output_file,
                                          input_file=str(pipe))) == len(LINES)
  assert output_file.read_bytes() == Path(extracted).read_bytes()
  with pytest.raises(errors.UserError, match=r"--output_file=.*/slash/ is a directory"):
    extract_features.run(make_config(bert_dir, f"{tmp_path}/slash/"))
  assert not (tmp_path / "slash").exists()
