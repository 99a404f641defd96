"""The tf.distribute strategy of a run: one device, mirrored GPUs, multi-worker or TPU."""

import os
import socket

import tensorflow as tf

import data_files
import errors


def cluster_size():
  """How many tasks the TF_CONFIG environment variable lists (0 when unset).

  Raises:
    errors.UserError: TF_CONFIG is not JSON.
  """
  text = os.environ.get("TF_CONFIG") or "{}"
  config = data_files.parse_json(
      text, "the environment variable TF_CONFIG",
      " Set it to {\"cluster\": ..., \"task\": ...} or unset it.")
  cluster = config.get("cluster") if isinstance(config, dict) else None
  if not isinstance(cluster, dict):
    return 0
  return sum(len(tasks) for tasks in cluster.values() if isinstance(tasks, (list, dict)))


def make_strategy(distribution_strategy="auto", use_tpu=False, tpu_name=None,
                  tpu_zone=None, gcp_project=None, master=None, tpu_flag="tpu_name"):
  """Returns the tf.distribute strategy named by the flags.

  Args:
    distribution_strategy: "auto" (TPU if use_tpu, multi-worker if TF_CONFIG
      names several tasks, mirrored if several GPUs, else the default
      strategy), "one_device", "mirrored", "multi_worker" or "tpu".
    use_tpu, tpu_name, tpu_zone, gcp_project, master: the values of the TPU flags.
    tpu_flag: the flag that names the TPU, for the message when none answers
      ("master" in extract_features.py, which has no --tpu_name).
  """
  choices = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
  if distribution_strategy not in choices:
    raise errors.UserError(f"--distribution_strategy={distribution_strategy} must be one of "
                           f"{', '.join(choices)}.")
  if use_tpu or distribution_strategy == "tpu":
    return _tpu_strategy(tpu_name or master or "", tpu_zone, gcp_project, tpu_flag)
  if distribution_strategy == "auto":
    if cluster_size() > 1:
      distribution_strategy = "multi_worker"
    elif len(tf.config.list_logical_devices("GPU")) > 1:
      distribution_strategy = "mirrored"
    else:
      return tf.distribute.get_strategy()
  if distribution_strategy == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if distribution_strategy == "mirrored":
    return tf.distribute.MirroredStrategy()
  gpus = tf.config.list_logical_devices("GPU")
  return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


# Seconds to wait for a grpc:// TPU address to accept a connection
# (initialize_tpu_system itself would wait forever).
_TPU_CONNECT_TIMEOUT = 30


def _tpu_strategy(tpu, zone, project, flag):
  """TPUStrategy on the Cloud TPU `tpu`; a ValueError saying what to pass if none answers."""
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu, zone=zone, project=project)
    address = resolver.master()
    if address.startswith("grpc://"):
      host, _, port = address[len("grpc://"):].rpartition(":")
      socket.create_connection((host, int(port)), timeout=_TPU_CONNECT_TIMEOUT).close()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, OSError, tf.errors.OpError) as e:
    # The first sentence: TF appends the attributes of the op that failed.
    reason = str(getattr(e, "message", None) or e).splitlines()[0].split(". ")[0][:200]
    outside = (" (with --tpu_zone and --gcp_project from outside its project)"
               if flag == "tpu_name" else "")
    raise errors.UserError(
        f"--use_tpu: no TPU answered at --{flag}={tpu or '(empty)'} ({reason}). Give "
        f"--{flag}=<Cloud TPU name>{outside}, --{flag}=local on a TPU VM, or "
        f"--{flag}=grpc://<ip>:8470; without a TPU drop --use_tpu.") from None
  return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
  """True on the worker that writes checkpoints, summaries and results."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
