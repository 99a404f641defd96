"""TensorFlow settings this toolkit's programs want, applied as TensorFlow loads.

Import this module before `tensorflow` (every program does); importing it later
has no effect, because TensorFlow reads these environment variables once, when
its library loads. A value the user has already set always wins.

TF_ENABLE_ONEDNN_OPTS=1: TensorFlow 2.21 turns its oneDNN CPU kernels on by
default only on CPUs with AVX-512 deep-learning extensions; on AVX2 machines it
falls back to Eigen. With oneDNN, a BERT-base training step on 2 AVX2 cores
took 4.6-5.1 s instead of 5.7-6.0 s and batch-32 inference ran 5.4-6.1
instead of 4.3-4.7 sequences/s (`python benchmark.py --config base
--onednn=both`). Set TF_ENABLE_ONEDNN_OPTS=0 to get TensorFlow's default.

A quiet start: TensorFlow's C++ libraries print a dozen start-up lines (twice:
two libraries each start their logging), and a CUDA error on machines without
a GPU, before a program says anything. Unless TF_CPP_MIN_LOG_LEVEL is set,
TensorFlow is loaded here with those lines held back; lines that are not known
start-up notices are still printed, and everything is printed if the import
fails. TF_CPP_MIN_LOG_LEVEL=0 (or any value) shows TensorFlow's own logging.
"""

import os
import re
import sys
import tempfile

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's start-up notices: facts about the machine, not about the run.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog|"
    r"port\.cc:\d+\] oneDNN custom operations are on|"
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers|"
    r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized|"
    r"^To enable the following instructions:|"
    r"cuda_platform\.cc:\d+\] failed call to cuInit|"
    r"cuda_executor\.cc:\d+\] |"
    r"Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation_placer\.cc:\d+\] computation placer already registered|"
    r"TF-TRT Warning: Could not find TensorRT")


def _load_tensorflow_quietly():
  """Imports TensorFlow (and finds its devices) with fd 2 held in a temporary file."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      tf.config.list_physical_devices()   # where the CUDA probe prints its error
      failed = False
    except BaseException:
      failed = True
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
      sys.stderr.write("".join(line for line in lines
                               if failed or not _STARTUP_NOISE.search(line)))


if "TF_CPP_MIN_LOG_LEVEL" not in os.environ and "tensorflow" not in sys.modules:
  # Later C++ notices (INFO and WARNING) stay quiet too.
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
  _load_tensorflow_quietly()
