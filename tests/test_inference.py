"""inference.py on run folders of every task: the answers of the programs' own --do_predict."""

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_utils
import errors
import inference
import modeling
import run_info
import serving

REPO_ROOT = Path(__file__).resolve().parents[1]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat", "on",
         "mat", "who", "where", "is", "was", "in", "paris", "peter", "lives", "runs", "?",
         ".", ",", "##s", "##ed", "good", "bad", "movie", "park", "fast", "slow", "it"]
CONFIG = dict(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1,
              num_attention_heads=2, intermediate_size=19, max_position_embeddings=64,
              type_vocab_size=2)
SETTINGS = {
    "classifier": dict(label_list=["neg", "pos"], is_regression=False, max_seq_length=16),
    "ner": dict(label_list=["O", "B-PER", "I-PER", "B-LOC"], window_stride=4,
                word_split="whitespace", max_seq_length=10),
    "squad": dict(doc_stride=6, max_query_length=6, max_answer_length=5, n_best_size=5,
                  version_2_with_negative=False, null_score_diff_threshold=0.0,
                  max_seq_length=24),
    "multiple_choice": dict(num_choices=3, max_seq_length=16),
}
SENTENCES = ["peter lives in paris .", "the cat sat on the mat , the dog sat on the mat .",
             "who runs ?", "a good movie"]


def env():
  environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  environment.pop("BERT_DEBUG", None)
  return environment


def run(args, cwd, **kwargs):
  return subprocess.run([sys.executable] + [str(a) for a in args], cwd=cwd, env=env(),
                        capture_output=True, timeout=600, **kwargs)


def fake_run(root, kind, **settings):
  """A run folder of `kind` with random (non-zero) weights, as a training run writes it.

  `settings` add to (or replace) SETTINGS[kind], e.g. crf=True: random transitions too.
  """
  folder = root / kind
  folder.mkdir()
  (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  config = settings.pop("bert_config", CONFIG)
  info = dict(task_kind=kind, bert_config=config, do_lower_case=True,
              **dict(SETTINGS[kind], **settings))
  task = serving.make_task(dict(info, bert_config=modeling.BertConfig(**config)))
  task.build("float32", seed=3)
  for variable in task.head.variables_by_name().values():
    variable.assign(tf.random.stateless_normal(variable.shape, seed=[4, 5]))
  if getattr(task, "crf", None) is not None:
    # Large transitions: Viterbi's tags differ from the per-word argmax.
    task.crf.transitions.assign(tf.random.stateless_normal(
        task.crf.transitions.shape, seed=[6, 7], stddev=3.0))
  checkpoint_utils.save_tensors(str(folder / "model.ckpt-1"), task.variables())
  run_info.write_run_info(str(folder), info, str(root / "vocab.txt"))
  return folder


def model_flags(folder):
  return [f"--vocab_file={folder / 'vocab.txt'}",
          f"--bert_config_file={folder / 'bert_config.json'}",
          f"--init_checkpoint={folder}", "--do_predict=true"]


def infer(folder, lines, tmp_path):
  (tmp_path / "inputs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}",
              f"--input_file={tmp_path / 'inputs.txt'}", "--batch_size=3"], tmp_path)
  assert done.returncode == 0, done.stderr.decode()[-3000:]
  results = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
  assert len(results) == len(lines)
  return results


@pytest.mark.parametrize("crf", [False, True])
def test_ner_tags_are_run_ner_predictions(tmp_path, crf):
  folder = fake_run(tmp_path, "ner", crf=crf)
  data = tmp_path / "data"
  data.mkdir()
  (data / "test.txt").write_text("\n\n".join(
      "\n".join(f"{w} O" for w in s.split()) for s in SENTENCES) + "\n")
  done = run([REPO_ROOT / "run_ner.py", f"--data_dir={data}", "--max_seq_length=10",
              "--window_stride=4", "--labels=O,B-PER,I-PER,B-LOC", f"--crf={crf}",
              f"--output_dir={tmp_path / 'predict'}"] + model_flags(folder), tmp_path)
  assert done.returncode == 0, done.stderr.decode()[-3000:]
  blocks = (tmp_path / "predict" / "test_predictions.txt").read_text().strip().split("\n\n")
  expected = [[line.split()[2] for line in block.splitlines()] for block in blocks]
  results = infer(folder, SENTENCES, tmp_path)
  assert [r["words"] for r in results] == [s.split() for s in SENTENCES]
  assert [r["tags"] for r in results] == expected
  assert all("label" not in r for r in results)
  assert len({tag for tags in expected for tag in tags}) > 1   # the head is not constant
  if crf:
    # The same weights without the transitions, as a softmax tagger, tag otherwise:
    # Viterbi was used.
    softmax = tmp_path / "softmax"
    shutil.copytree(folder, softmax)
    reader = tf.train.load_checkpoint(str(folder / "model.ckpt-1"))
    checkpoint_utils.save_tensors(str(softmax / "model.ckpt-1"), {
        name: tf.Variable(reader.get_tensor(name))
        for name in reader.get_variable_to_shape_map() if name != "crf/transitions"})
    info = json.loads((folder / "run_info.json").read_text())
    (softmax / "run_info.json").write_text(json.dumps(dict(info, crf=False)))
    argmax = infer(softmax, SENTENCES, tmp_path)
    assert [r["words"] for r in argmax] == [r["words"] for r in results]
    assert [r["tags"] for r in argmax] != expected


def test_squad_answers_are_run_squad_predictions(tmp_path):
  folder = fake_run(tmp_path, "squad")
  contexts = SENTENCES[:2] + ["peter lives in paris , the cat sat on the mat , the dog "
                              "runs in the park , it was good ."]
  questions = ["who lives in paris ?", "where is the cat ?", "who runs ?"]
  squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": c, "qas": [{"id": f"q{i}", "question": q}]}]}
                                      for i, (q, c) in enumerate(zip(questions, contexts))]}
  (tmp_path / "dev.json").write_text(json.dumps(squad))
  done = run([REPO_ROOT / "run_squad.py", f"--predict_file={tmp_path / 'dev.json'}",
              "--max_seq_length=24", "--max_query_length=6", "--doc_stride=6",
              "--max_answer_length=5", "--n_best_size=5",
              f"--output_dir={tmp_path / 'predict'}"] + model_flags(folder), tmp_path)
  assert done.returncode == 0, done.stderr.decode()[-3000:]
  expected = json.loads((tmp_path / "predict" / "predictions.json").read_text())
  results = infer(folder, [f"{q} ||| {c}" for q, c in zip(questions, contexts)], tmp_path)
  assert [r["answer"] for r in results] == [expected[f"q{i}"] for i in range(3)]
  assert all(0 < r["probability"] <= 1 for r in results)


def test_multiple_choice_probabilities_are_run_multiple_choice_results(tmp_path):
  folder = fake_run(tmp_path, "multiple_choice")
  data = tmp_path / "data"
  data.mkdir()
  rows = [("the cat", "sat on the mat", "runs in paris", "is good"),
          ("peter lives in", "paris", "the park", "a movie")]
  with open(data / "test.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["sent1", "sent2", "ending0", "ending1", "ending2"])
    for context, *endings in rows:
      writer.writerow([context, ""] + endings)
  done = run([REPO_ROOT / "run_multiple_choice.py", f"--data_dir={data}",
              "--num_choices=3", "--max_seq_length=16",
              f"--output_dir={tmp_path / 'predict'}"] + model_flags(folder), tmp_path)
  assert done.returncode == 0, done.stderr.decode()[-3000:]
  expected = np.loadtxt(tmp_path / "predict" / "test_results.tsv", ndmin=2)
  results = infer(folder, [" ||| ".join(row) for row in rows], tmp_path)
  got = np.array([r["probabilities"] for r in results])
  assert got.shape == expected.shape == (2, 3)
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert [r["choice"] for r in results] == expected.argmax(1).tolist()


def test_a_pair_for_a_one_segment_classifier_is_refused(tmp_path):
  """Segment id 1 is beyond a type_vocab_size=1 table: a Gather error on CPU, zeros on GPU."""
  folder = fake_run(tmp_path, "classifier", bert_config=dict(CONFIG, type_vocab_size=1))
  predictor = serving.ClassifierPredictor(run_info.read_run_info(str(folder)), str(folder))
  answers = predictor.answer(["a good movie", "it was bad"])
  assert [sorted(a["probabilities"]) for a in answers] == [["neg", "pos"]] * 2
  with pytest.raises(errors.UserError, match=(
      r"inputs with ' \|\|\| ' \('a good movie \|\|\| it was bad'\) are text pairs .* "
      r"type_vocab_size=1: it takes single texts only")):
    predictor.answer(["a good movie", "a good movie ||| it was bad"])


def test_non_utf8_input_is_one_error_line_and_output_stays_json(tmp_path):
  folder = fake_run(tmp_path, "ner")
  (tmp_path / "latin1.txt").write_bytes("peter lives in paris .\ncaf\xe9 au lait\n"
                                        .encode("latin-1"))
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}",
              f"--input_file={tmp_path / 'latin1.txt'}"], tmp_path)
  assert done.returncode == 1
  stderr = done.stderr.decode()
  assert "Traceback" not in stderr
  last = [line for line in stderr.splitlines() if line.strip()][-1]
  assert last == (f"inference.py: error: --input_file={tmp_path / 'latin1.txt'}, line 2: "
                  "not valid UTF-8 (byte 0xe9); give UTF-8 text, e.g. iconv -f GB18030 -t "
                  "UTF-8.")
  piped = run([REPO_ROOT / "inference.py", f"--model_dir={folder}"], tmp_path,
              input=b"peter lives in paris .\n\xff\xfe binary\n")
  assert piped.returncode == 1
  assert "standard input, line 2: not valid UTF-8 (byte 0xff)" in piped.stderr.decode()
  # What was answered before the bad line is valid JSON, one object a line.
  lines = piped.stdout.decode("utf-8").splitlines()
  assert len(lines) in (0, 1)
  assert all(json.loads(line)["words"] for line in lines)


def test_squad_input_without_a_question_or_a_context_is_one_error_line(tmp_path):
  folder = fake_run(tmp_path, "squad")
  for text in (" ||| the cat sat on the mat .", "where is the cat ? ||| ", " ||| "):
    done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}", f"--input={text}"],
               tmp_path)
    assert done.returncode == 1, done.stdout
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.strip()][-1] == (
        f"inference.py: error: input {text!r}: the question and the context must both "
        "be given: question ||| context.")
    assert done.stdout == b""


def test_a_reader_that_goes_away_stops_the_answers_quietly(tmp_path):
  """`inference.py ... | head -1` printed a BrokenPipeError traceback."""
  folder = fake_run(tmp_path, "ner")
  (tmp_path / "many.txt").write_text(SENTENCES[0] + "\n" * 1 + (SENTENCES[1] + "\n") * 300)
  process = subprocess.Popen(
      [sys.executable, REPO_ROOT / "inference.py", f"--model_dir={folder}",
       f"--input_file={tmp_path / 'many.txt'}", "--batch_size=2"], cwd=tmp_path, env=env(),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  first = process.stdout.readline()
  process.stdout.close()           # the reader goes, as `head -1` does
  stderr = process.communicate(timeout=600)[1].decode()
  assert json.loads(first)["words"] == SENTENCES[0].split()
  assert process.returncode == 141, stderr[-3000:]
  assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_an_input_file_on_remote_storage_is_read():
  # ram:// is one of TensorFlow's file systems, as gs:// is on a TPU VM.
  path = "ram://inference_test/inputs.txt"
  with tf.io.gfile.GFile(path, "wb") as writer:
    writer.write("\ufefffirst line\r\n\nsecond line\nthird line\n".encode("utf-8"))
  f = types.SimpleNamespace(input=None, input_file=path, batch_size=2)
  assert inference.inputs(f) == [["first line", "second line"], ["third line"]]


def test_an_input_file_that_is_a_pipe_is_read(tmp_path):
  # --input_file=<(zcat inputs.gz): the shell passes a pipe.
  pipe = str(tmp_path / "fifo")
  os.mkfifo(pipe)
  writer = threading.Thread(target=lambda: Path(pipe).write_bytes(b"one\ntwo\nthree\n"),
                            daemon=True)
  writer.start()
  f = types.SimpleNamespace(input=None, input_file=pipe, batch_size=2)
  assert inference.inputs(f) == [["one", "two"], ["three"]]
  writer.join(timeout=10)


def test_inputs_the_task_cannot_answer_are_refused_before_the_model_loads(tmp_path):
  """Blank pair sides, a wrong field count, --input bytes that are not UTF-8."""
  folder = fake_run(tmp_path, "classifier")
  text = " ||| a good movie"   # the other kinds: test_every_predictor_checks_its_inputs...
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}", f"--input={text}"],
             tmp_path)
  assert done.returncode == 1 and done.stdout == b""
  last = [line for line in done.stderr.decode().splitlines() if line.strip()][-1]
  assert last == (f"inference.py: error: input {text!r}: a text of the pair is empty; give "
                  "text_a ||| text_b, or one text without ' ||| '.")
  done = subprocess.run([sys.executable, str(REPO_ROOT / "inference.py"),
                         f"--model_dir={folder}".encode(), b"--input=\xff\xfe movie"],
                        cwd=tmp_path, env=env(), capture_output=True, timeout=600)
  assert done.returncode == 1 and done.stdout == b""
  assert done.stderr.decode().strip().splitlines()[-1] == (
      "inference.py: error: --input (number 1) is not valid UTF-8; give UTF-8 text (check "
      "the terminal's or the script's encoding).")
  # A file: the bad line is named, and nothing is answered before it is found.
  (tmp_path / "pairs.txt").write_text("a good movie\nthe cat ||| it sat\n\nthe dog ||| \n")
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}",
              f"--input_file={tmp_path / 'pairs.txt'}", "--batch_size=1"], tmp_path)
  assert done.returncode == 1 and done.stdout == b""
  last = [line for line in done.stderr.decode().splitlines() if line.strip()][-1]
  assert last.startswith(f"inference.py: error: --input_file={tmp_path / 'pairs.txt'}, "
                         "line 4: input 'the dog ||| ': a text of the pair is empty"), last


def test_every_predictor_checks_its_inputs_without_a_model():
  info = {"bert_config": modeling.BertConfig(**CONFIG), "num_choices": 3}
  checks = {"classifier": (["a", "a ||| b"], ["a ||| ", "a ||| b ||| c"]),
            "squad": (["q ||| c"], ["q", " ||| c"]),
            "multiple_choice": (["c ||| 1 ||| 2 ||| 3"], ["c ||| 1 ||| 2"]),
            "ner": (["peter lives in paris ."], [])}
  assert sorted(checks) == sorted(serving.PREDICTORS)
  for kind, (good, bad) in checks.items():
    for text in good:
      serving.PREDICTORS[kind].check_text(info, text)
    for text in bad:
      with pytest.raises(errors.UserError, match=f"input {text!r}"):
        serving.PREDICTORS[kind].check_text(info, text)


def test_a_checkpoint_of_a_tagger_with_another_crf_is_refused(tmp_path):
  """--init_checkpoint of a CRF run with a run without (or back) loaded silently."""
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  with_crf = fake_run(tmp_path / "a", "ner", crf=True)
  without = fake_run(tmp_path / "b", "ner", crf=False)
  for model_dir, checkpoint, expected in (
      (with_crf, without, "the checkpoint lacks 1 variables the model needs, e.g. "
                          "crf/transitions"),
      (without, with_crf, "was trained with a CRF (crf/transitions) but run_info.json "
                          "says crf=false")):
    info = run_info.read_run_info(str(model_dir))
    with pytest.raises(errors.UserError) as error:
      serving.TaggerPredictor(info, str(checkpoint), flag_name="init_checkpoint")
    assert str(error.value).startswith(f"--init_checkpoint={checkpoint / 'model.ckpt-1'}")
    assert expected in str(error.value)
  missing = with_crf / "model.ckpt-999"
  done = run([REPO_ROOT / "inference.py", f"--model_dir={with_crf}",
              f"--init_checkpoint={missing}", "--input=peter lives"], tmp_path)
  assert done.returncode == 1 and done.stdout == b""
  last = done.stderr.decode().strip().splitlines()[-1]
  assert last.startswith(f"inference.py: error: --init_checkpoint={missing}"), last


def test_a_classifier_answers_standard_input_given_as_input_file_dash(tmp_path):
  folder = fake_run(tmp_path, "classifier")
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}", "--input_file=-"],
             tmp_path, input=b"a good movie\nthe cat ||| it sat\n")
  assert done.returncode == 0, done.stderr.decode()[-3000:]
  results = [json.loads(line) for line in done.stdout.decode().splitlines()]
  assert len(results) == 2
  assert [r["text"] for r in results] == ["a good movie", "the cat ||| it sat"]
  for result in results:   # a classifier run answered end to end
    assert result["label"] in ("neg", "pos")
    assert sorted(result["probabilities"]) == ["neg", "pos"]
    assert abs(sum(result["probabilities"].values()) - 1.0) < 1e-5
  done = run([REPO_ROOT / "inference.py", f"--model_dir={folder}"], tmp_path,
             input=b"a good movie\n ||| it sat\n")
  assert done.returncode == 1
  last = done.stderr.decode().strip().splitlines()[-1]
  assert last.startswith("inference.py: error: standard input, line 2: input ' ||| it sat': "
                         "a text of the pair is empty"), last
