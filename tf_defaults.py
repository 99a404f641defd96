"""TensorFlow settings this toolkit's scripts want, applied before TensorFlow loads.

Import this module before `tensorflow` (every script does); importing it later
has no effect, because TensorFlow reads these environment variables once, when
its library loads. A value the user has already set always wins.

TF_ENABLE_ONEDNN_OPTS=1: TensorFlow 2.21 turns its oneDNN CPU kernels on by
default only on CPUs with AVX-512 deep-learning extensions; on AVX2 machines it
falls back to Eigen. With oneDNN, a BERT-base training step on 2 AVX2 cores
took 4.6-5.1 s instead of 5.7-6.0 s and batch-32 inference ran 5.4-6.1
instead of 4.3-4.7 sequences/s (`python benchmark.py --config base
--onednn=both`). Set TF_ENABLE_ONEDNN_OPTS=0 to get TensorFlow's default.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
