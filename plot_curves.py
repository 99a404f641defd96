"""Draws a training run's curves into <model_dir>/curves.png.

  python plot_curves.py --model_dir=$OUT      (installed: bert-plot-curves --model_dir=$OUT)

Training writes curves.png itself when it ends (with matplotlib installed:
pip install '.[plots]'); this command redraws it at any time, for example
while a run is still training. The picture shows the training loss, the
learning rate and every metric of the evaluations during training against the
step, with the best checkpoint (in $OUT/best) marked; see curves.py. Where
TensorBoard can be reached, `tensorboard --logdir=$OUT` shows the same scalars.
"""

import tf_defaults  # noqa: F401  (first: TensorFlow's CPU settings, read when it loads)

from absl import flags

import curves
import errors

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  flags.DEFINE_string("model_dir", None, "Output folder of a training run (the "
                      "--output_dir of run_classifier.py, run_pretraining.py, ...).",
                      flag_values=flag_values)
  flags.mark_flag_as_required("model_dir", flag_values=flag_values)


def main(_):
  print(curves.write_curves(FLAGS.model_dir))


def console_main():
  """The `bert-plot-curves` command: the flags of `python plot_curves.py`."""
  define_flags()
  errors.run_program(main)


if __name__ == "__main__":
  console_main()
