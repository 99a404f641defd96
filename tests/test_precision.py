"""--compute_dtype=auto: the rule on given device facts, and the facts of this machine."""

import sys

import pytest

import precision
from precision import DeviceFacts

# The first lines of a real x86 /proc/cpuinfo (two processors; only the
# first's flags are read) and of an ARM one, which says "Features", not "flags".
ZEN5_FLAGS = "fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 clzero"
ZEN5_CPUINFO = f"""processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: {ZEN5_FLAGS}
bugs\t\t: sysret_ss_attrs

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: {ZEN5_FLAGS} extra_flag_of_the_second
"""
SAPPHIRE_RAPIDS_FLAGS = "fpu avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8"
ICE_LAKE_FLAGS = "fpu avx2 avx512f avx512bw avx512_vnni"
GRAVITON3_CPUINFO = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm sve
CPU implementer\t: 0x41
"""


def cpu(flags, onednn=True):
  return DeviceFacts("cpu", cpu_flags=frozenset(flags.split()), onednn=onednn)


def gpu(*capabilities):
  return DeviceFacts("gpu", gpu_details=tuple(
      {"device_name": "GPU", "compute_capability": c} if c else {} for c in capabilities))


def test_tpu_trains_in_bfloat16():
  dtype, reason = precision.choose_compute_dtype(DeviceFacts("tpu"))
  assert dtype == "bfloat16"
  assert "TPU" in reason


@pytest.mark.parametrize("capabilities, expected, shown", [
    (((8, 0),), "bfloat16", "8.0"),              # A100
    (((9, 0), (9, 0)), "bfloat16", "9.0"),       # two H100
    (((8, 9),), "bfloat16", "8.9"),              # L4
    (((7, 5),), "float32", "7.5"),               # T4
    (((7, 0),), "float32", "7.0"),               # V100
    (((8, 6), (7, 0)), "float32", "7.0"),        # mixed: the oldest decides
])
def test_gpus_need_compute_capability_8_for_bfloat16(capabilities, expected, shown):
  dtype, reason = precision.choose_compute_dtype(gpu(*capabilities))
  assert dtype == expected
  assert f"compute capability {shown}" in reason
  if expected == "float32":
    assert "--compute_dtype=float16" in reason   # the user's way to the fast path


def test_a_gpu_without_a_compute_capability_trains_in_float32():
  dtype, reason = precision.choose_compute_dtype(gpu(None))
  assert dtype == "float32"
  assert "no compute capability" in reason
  assert precision.choose_compute_dtype(gpu((8, 0), None))[0] == "float32"


@pytest.mark.parametrize("flags, expected, named", [
    (ZEN5_FLAGS, "bfloat16", "avx512_bf16"),
    (SAPPHIRE_RAPIDS_FLAGS, "bfloat16", "amx_bf16"),
    (SAPPHIRE_RAPIDS_FLAGS + " avx512_bf16", "bfloat16", "avx512_bf16+amx_bf16"),
    (ICE_LAKE_FLAGS, "float32", "no avx512_bf16 or amx_bf16"),
    ("", "float32", "no avx512_bf16 or amx_bf16"),
])
def test_cpus_train_in_bfloat16_only_with_bfloat16_units(flags, expected, named):
  dtype, reason = precision.choose_compute_dtype(cpu(flags))
  assert dtype == expected
  assert named in reason


def test_bfloat16_units_without_onednn_train_in_float32():
  dtype, reason = precision.choose_compute_dtype(cpu(SAPPHIRE_RAPIDS_FLAGS, onednn=False))
  assert dtype == "float32"
  assert "TF_ENABLE_ONEDNN_OPTS=0" in reason


def test_unknown_cpu_flags_train_in_float32():
  dtype, reason = precision.choose_compute_dtype(
      DeviceFacts("cpu", cpu_flags=None, platform="darwin"))
  assert dtype == "float32"
  assert "darwin" in reason


def test_cpuinfo_flags_are_the_first_processors():
  flags = precision.cpu_flags_from_cpuinfo(ZEN5_CPUINFO)
  assert flags == {"fpu", "vme", "sse", "sse2", "avx", "avx2", "avx512f", "avx512bw",
                   "avx512_vnni", "avx512_bf16", "clzero"}
  # ARM lists "Features": its bf16 is not an x86 unit auto knows to be fast.
  assert precision.cpu_flags_from_cpuinfo(GRAVITON3_CPUINFO) == frozenset()
  assert precision.choose_compute_dtype(DeviceFacts(
      "cpu", cpu_flags=precision.cpu_flags_from_cpuinfo(GRAVITON3_CPUINFO)))[0] == "float32"


def test_an_unreadable_cpuinfo_is_unknown(tmp_path):
  assert precision.read_cpu_flags(str(tmp_path / "missing")) is None
  path = tmp_path / "cpuinfo"
  path.write_text(ZEN5_CPUINFO)
  assert "avx512_bf16" in precision.read_cpu_flags(str(path))


def test_explicit_dtypes_are_kept_and_auto_on_tpu_needs_no_device():
  for dtype in precision.DTYPES:
    assert precision.resolve_compute_dtype(dtype, on_tpu=False) == (dtype, None)
  dtype, reason = precision.resolve_compute_dtype("auto", on_tpu=True)
  assert dtype == "bfloat16" and reason


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_this_machines_facts(monkeypatch):
  import tensorflow as tf
  facts = precision.device_facts(on_tpu=False)
  if tf.config.list_physical_devices("GPU"):
    assert facts.kind == "gpu"
    return
  assert facts.kind == "cpu"
  with open("/proc/cpuinfo", encoding="utf-8") as f:
    first_flags_line = next(line for line in f if line.startswith("flags"))
  assert (" avx512_bf16" in first_flags_line) == ("avx512_bf16" in facts.cpu_flags)
  assert facts.cpu_flags == set(first_flags_line.split(":", 1)[1].split())
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  assert not precision.device_facts(on_tpu=False).onednn
