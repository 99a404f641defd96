"""Real pretrained weights (all-MiniLM-L6-v2 in the official layout) through modeling.py."""

import csv
import json

import numpy as np
import tensorflow as tf

import checkpoint_utils
import modeling
import tokenization
from conftest import SHARED_DIR
from numpy_bert import numpy_bert_forward


def load_model(folder):
  config = modeling.BertConfig.from_json_file(str(folder / "bert_config.json"))
  model = modeling.BertModel(config)
  report = checkpoint_utils.load_variables(model.variables_by_name(),
                                           str(folder / "bert_model.ckpt"))
  assert report.missing == [], report.missing
  tokenizer = tokenization.FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
  return config, model, tokenizer


def encode(tokenizer, texts, seq_length=48):
  ids = np.zeros((len(texts), seq_length), np.int32)
  mask = np.zeros_like(ids)
  for row, text in enumerate(texts):
    tokens = ["[CLS]"] + tokenizer.tokenize(text)[:seq_length - 2] + ["[SEP]"]
    ids[row, :len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
    mask[row, :len(tokens)] = 1
  return ids, mask


def mrpc_pairs(limit):
  with open(SHARED_DIR / "data" / "MRPC" / "dev.tsv", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
  return [(int(r[0]), r[3], r[4]) for r in rows[:limit]]


def test_real_weights_match_the_numpy_oracle_on_every_layer(minilm_checkpoint):
  config, model, tokenizer = load_model(minilm_checkpoint)
  texts = [s for _, a, b in mrpc_pairs(3) for s in (a, b)] + [
      "Héllo, wörld! BERT's tokenizer splits un-aff-able words.", "北京是中国的首都。"]
  ids, mask = encode(tokenizer, texts)
  types = np.zeros_like(ids)
  out = model(ids, mask, types)
  weights = {k: v.numpy() for k, v in model.variables_by_name().items()}
  layers, pooled, embedding = numpy_bert_forward(weights, config.to_dict(), ids, mask, types)
  np.testing.assert_allclose(out.embedding_output.numpy(), embedding, atol=1e-5)
  assert len(out.all_encoder_layers) == len(layers) == config.num_hidden_layers
  for index, (ours, oracle) in enumerate(zip(out.all_encoder_layers, layers)):
    real = mask.astype(bool)
    np.testing.assert_allclose(ours.numpy()[real], oracle[real], atol=1e-4,
                               err_msg=f"layer {index}")
  np.testing.assert_allclose(out.pooled_output.numpy(), pooled, atol=1e-5)


def test_paraphrases_are_closer_than_random_pairs(minilm_checkpoint):
  """all-MiniLM-L6-v2 is a sentence-embedding model: mean pooling, cosine similarity."""
  _, model, tokenizer = load_model(minilm_checkpoint)
  pairs = [(a, b) for label, a, b in mrpc_pairs(120) if label == 1][:64]
  first, second = zip(*pairs)
  ids_a, mask_a = encode(tokenizer, first, 64)
  ids_b, mask_b = encode(tokenizer, second, 64)

  def embed(ids, mask):
    seq = model(ids, mask).sequence_output.numpy()
    vec = (seq * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return vec / np.linalg.norm(vec, axis=1, keepdims=True)

  a, b = embed(ids_a, mask_a), embed(ids_b, mask_b)
  paraphrase = np.sum(a * b, axis=1)
  shuffled = np.sum(a * np.roll(b, 7, axis=0), axis=1)
  assert paraphrase.mean() > shuffled.mean() + 0.3, (paraphrase.mean(), shuffled.mean())
  assert np.mean(paraphrase > shuffled) > 0.95


def test_extract_features_on_real_weights_matches_the_oracle_for_every_layer(
    minilm_checkpoint, tmp_path):
  """English, Chinese and pairs: tokens from the plain tokenizer, every layer within 1e-4."""
  import extract_features
  import plain_tokenizer
  lines = ["Who was Jim Henson ? ||| Jim Henson was a puppeteer",
           "Héllo, wörld! Naïve café-goers can't resist crème brûlée.",
           "北京是中国的首都，也是一座历史悠久的城市。",
           "The quick brown fox ||| 快速的棕色狐狸 jumps over the lazy dog"]
  input_file = tmp_path / "input.txt"
  input_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
  output_file = tmp_path / "features.jsonl"
  num_layers = 6
  extract_features.run(extract_features.ExtractConfig(
      input_file=str(input_file), output_file=str(output_file),
      bert_config_file=str(minilm_checkpoint / "bert_config.json"),
      init_checkpoint=str(minilm_checkpoint / "bert_model.ckpt"),
      vocab_file=str(minilm_checkpoint / "vocab.txt"),
      layers=",".join(str(-i) for i in range(1, num_layers + 1)), max_seq_length=64,
      batch_size=2))
  config, model, _ = load_model(minilm_checkpoint)
  weights = {k: v.numpy() for k, v in model.variables_by_name().items()}
  oracle_tokenizer = plain_tokenizer.PlainTokenizer(str(minilm_checkpoint / "vocab.txt"),
                                                    do_lower_case=True)
  records = [json.loads(line) for line in output_file.read_text().splitlines()]
  assert [r["linex_index"] for r in records] == list(range(len(lines)))
  for line, record in zip(lines, records):
    parts = line.split(" ||| ")
    tokens = ["[CLS]"] + oracle_tokenizer.tokenize(parts[0]) + ["[SEP]"]
    segments = [0] * len(tokens)
    if len(parts) == 2:
      second = oracle_tokenizer.tokenize(parts[1]) + ["[SEP]"]
      tokens += second
      segments += [1] * len(second)
    assert [f["token"] for f in record["features"]] == tokens
    ids = np.array([[oracle_tokenizer.vocab[t] for t in tokens]], np.int32)
    layers, _, _ = numpy_bert_forward(weights, config.to_dict(), ids,
                                      np.ones_like(ids), np.array([segments]))
    for feature_index, feature in enumerate(record["features"]):
      indexes = [layer["index"] for layer in feature["layers"]]
      assert indexes == [-i for i in range(1, num_layers + 1)]   # every requested layer
      for layer in feature["layers"]:
        expected = layers[layer["index"]][0, feature_index]
        np.testing.assert_allclose(layer["values"], expected, atol=1e-4)
