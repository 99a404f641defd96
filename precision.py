"""What `--compute_dtype=auto` picks on this machine, and why.

bfloat16 keeps float32's 8-bit exponent (its range) with a 7-bit mantissa, so
it needs no loss scaling; fine-tuning MiniLM on MRPC in bfloat16 reached the
dev accuracy of float32 within seed noise over 3 seeds (docs/PRECISION.md). It
pays only where the hardware multiplies bfloat16 natively, so `auto` picks it on:
  - TPUs (bfloat16 is their matmul type);
  - NVIDIA GPUs of compute capability 8.0 or more (Ampere, Ada, Hopper, ...);
  - x86 CPUs with AVX512_BF16 or AMX-BF16, through TensorFlow's oneDNN kernels
    (TF_ENABLE_ONEDNN_OPTS, which tf_defaults.py turns on).
Everywhere else it picks float32. Not float16 on older GPUs: float16's range
is narrow (largest value 65504), so training depends on loss scaling, and no
accuracy of it has been measured here; `--compute_dtype=float16` stays a
deliberate choice.

`choose_compute_dtype` is the rule on given facts (testable anywhere);
`device_facts` reads the facts of this machine.
"""

import dataclasses
import os
import sys

DTYPES = ("float32", "bfloat16", "float16")
# The values of --compute_dtype.
CHOICES = DTYPES + ("auto",)
# /proc/cpuinfo flags of x86 units that multiply bfloat16 (AVX-512 BF16 dot
# products; AMX tiles).
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# NVIDIA compute capability from which GPUs have bfloat16 tensor cores (A100).
GPU_BF16_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class DeviceFacts:
  """What `auto` looks at: the kind of device the run trains on, and its features."""
  kind: str                            # "tpu" | "gpu" | "cpu"
  gpu_details: tuple = ()              # tf.config.experimental.get_device_details per GPU
  cpu_flags: frozenset = None          # flags of /proc/cpuinfo; None: not readable here
  onednn: bool = True                  # TensorFlow's oneDNN CPU kernels are on
  platform: str = "linux"              # sys.platform, for the reason when flags are unknown


def choose_compute_dtype(facts):
  """The dtype `--compute_dtype=auto` trains in on a device with `facts`.

  Args:
    facts: DeviceFacts.

  Returns:
    (dtype, reason): "bfloat16" or "float32", and why, as a phrase for the log.
  """
  if facts.kind == "tpu":
    return "bfloat16", "a TPU multiplies bfloat16 natively"
  if facts.kind == "gpu":
    return _gpu_dtype(facts.gpu_details)
  return _cpu_dtype(facts.cpu_flags, facts.onednn, facts.platform)


def _gpu_dtype(gpu_details):
  """(dtype, reason) for GPUs with these device details (all must have bfloat16 units)."""
  capabilities = [details.get("compute_capability") for details in gpu_details]
  if not capabilities or None in capabilities:
    return "float32", ("the GPU reports no compute capability (not an NVIDIA GPU?), so "
                       "bfloat16 units are not known to be there")
  oldest = min(tuple(capability) for capability in capabilities)
  shown = ".".join(str(part) for part in oldest)
  needed = ".".join(str(part) for part in GPU_BF16_CAPABILITY)
  if oldest >= GPU_BF16_CAPABILITY:
    return "bfloat16", f"GPU compute capability {shown} (>= {needed}) multiplies bfloat16"
  return "float32", (f"GPU compute capability {shown} (< {needed}) has no bfloat16 units; "
                     "float16 would need loss scaling, so choose --compute_dtype=float16 "
                     "yourself")


def _cpu_dtype(cpu_flags, onednn, platform):
  """(dtype, reason) for a CPU with these /proc/cpuinfo flags (None: unknown)."""
  if cpu_flags is None:
    return "float32", f"no /proc/cpuinfo on {platform} to show bfloat16 units"
  found = [flag for flag in CPU_BF16_FLAGS if flag in cpu_flags]
  if not found:
    return "float32", (f"the CPU has no {' or '.join(CPU_BF16_FLAGS)} in /proc/cpuinfo, "
                       "so bfloat16 would be emulated (slower than float32)")
  if not onednn:
    return "float32", (f"the CPU has {found[0]}, but TF_ENABLE_ONEDNN_OPTS=0 turns off the "
                       "oneDNN kernels that use it")
  return "bfloat16", f"the CPU has {'+'.join(found)} (in /proc/cpuinfo), used by oneDNN"


def cpu_flags_from_cpuinfo(text):
  """The feature flags of the first processor in /proc/cpuinfo text (x86 "flags" line)."""
  for line in text.splitlines():
    key, sep, value = line.partition(":")
    if sep and key.strip() == "flags":
      return frozenset(value.split())
  return frozenset()


def read_cpu_flags(path="/proc/cpuinfo"):
  """cpu_flags_from_cpuinfo of `path`, or None where it cannot be read (not Linux)."""
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return cpu_flags_from_cpuinfo(f.read())
  except OSError:
    return None


def device_facts(on_tpu):
  """The DeviceFacts of this process: TPU if `on_tpu`, else its GPUs, else its CPU.

  A run trains on the GPUs TensorFlow sees whenever there are any (one or all
  of them, by --distribution_strategy), so all of them must have bfloat16 units.
  """
  if on_tpu:
    return DeviceFacts("tpu")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    return DeviceFacts("gpu", gpu_details=tuple(
        tf.config.experimental.get_device_details(gpu) for gpu in gpus))
  return DeviceFacts("cpu", cpu_flags=read_cpu_flags(),
                     onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
                     platform=sys.platform)


def resolve_compute_dtype(requested, on_tpu):
  """The concrete dtype for --compute_dtype=`requested`, and why (None unless auto).

  Args:
    requested: one of CHOICES.
    on_tpu: the run trains on a TPU.

  Returns:
    (dtype, reason): dtype one of DTYPES; reason a phrase for the log when
    `requested` is "auto", else None.
  """
  if requested != "auto":
    return requested, None
  return choose_compute_dtype(device_facts(on_tpu))
