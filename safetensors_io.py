"""Reads and writes safetensors files with the `safetensors` package's NumPy API.

A safetensors file is an unsigned 64-bit little-endian header length N, N
bytes of UTF-8 JSON mapping each tensor name to
`{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (plus an
optional `"__metadata__": {str: str}`), then the raw little-endian data. It
holds no code, so reading an untrusted file is safe once its header is checked.

The package does the parsing and checking (in Rust, fuzzed upstream; it needs
no torch). This module adds what BERT conversion needs around it: one error
naming the file and the fix, the dtypes accepted, BF16 widened to float32, and
atomic writes.
"""


import os
import re

# Registers "bfloat16" with NumPy: without it the package cannot return BF16
# tensors ("data type 'bfloat16' not understood"). A TensorFlow dependency.
import ml_dtypes  # noqa: F401
import numpy as np
import safetensors
from safetensors import numpy as safetensors_numpy

import atomic_files
import errors

# The dtype tags read and written here: every floating-point and integer tag of
# NumPy or ml_dtypes that BERT weights and buffers use. Others (C64, F8_*, F4)
# are refused by name rather than met as an obscure failure later.
DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype(np.int64), "I32": np.dtype(np.int32), "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U64": np.dtype(np.uint64), "U32": np.dtype(np.uint32), "U16": np.dtype(np.uint16),
    "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
_TAGS = {dtype: tag for tag, dtype in DTYPES.items()}
_METADATA_KEY = "__metadata__"
_FIX = ("re-download it, or re-save the model with "
        "save_pretrained(..., safe_serialization=True)")


def _open(path):
  """safetensors.safe_open, with the package's header errors as errors.CheckpointError."""
  try:
    return safetensors.safe_open(str(path), framework="np")
  except safetensors.SafetensorError as e:
    raise errors.CheckpointError(f"{path}: not a valid safetensors file ({e}); {_FIX}.") from None


def _header(path, f):
  """{name: (dtype tag, shape tuple)} of an open file; refuses tags outside DTYPES."""
  header = {}
  for name in f.keys():
    view = f.get_slice(name)
    tag = view.get_dtype()
    if tag not in DTYPES:
      raise errors.CheckpointError(f"{path}: tensor {name!r} has dtype {tag}; BERT "
                                   f"conversion reads {', '.join(sorted(DTYPES))}.")
    header[name] = (tag, tuple(view.get_shape()))
  return header


def read_header(path):
  """Returns {name: (dtype tag such as "F32", shape tuple)} without reading data.

  Raises:
    errors.CheckpointError: not valid safetensors, or a dtype outside DTYPES.
    OSError: the file cannot be read.
  """
  with _open(path) as f:
    return _header(path, f)


def load_file(path):
  """Reads every tensor of a safetensors file.

  The whole header is validated before any data is used (its length, JSON,
  every dtype, shape and offset, that the tensors tile the data exactly).
  BF16 tensors are widened to float32 (their 16 bits become the high half of
  a float32, which is exact); every other dtype keeps its own NumPy dtype.

  Args:
    path: path of a `.safetensors` file.

  Returns:
    dict {name: np.ndarray} in native byte order.

  Raises:
    errors.CheckpointError (a ValueError): the file is not valid safetensors or
      holds a dtype outside DTYPES; the message names the file and the fix.
    OSError: the file cannot be read.
  """
  with _open(path) as f:
    header = _header(path, f)
    tensors = {name: f.get_tensor(name) for name in header}
  return {name: value.astype(np.float32) if header[name][0] == "BF16" else value
          for name, value in tensors.items()}


def _dtype_tag(name, array):
  tag = _TAGS.get(array.dtype.newbyteorder("="))
  if tag is None:
    raise ValueError(f"tensor {name!r} has dtype {array.dtype}; safetensors "
                     f"files written here hold {', '.join(sorted(DTYPES))}.")
  return tag


def save_file(tensors, path, metadata=None):
  """Writes tensors to a safetensors file, atomically.

  The file is written under a temporary name in the same directory and then
  renamed, so `path` holds either its old content or the complete new file.

  Args:
    tensors: dict {name: array-like} of the dtypes in DTYPES (bfloat16 as
      ml_dtypes.bfloat16); any memory layout or byte order.
    path: destination file.
    metadata: optional dict {str: str}, stored as `__metadata__`
      (Hugging Face writes {"format": "pt"}).

  Raises:
    ValueError: a name, dtype or metadata value cannot be stored.
  """
  arrays = {}
  for name, value in tensors.items():
    if not isinstance(name, str) or not name or name == _METADATA_KEY:
      raise ValueError(f"tensor name {name!r} is not allowed in safetensors.")
    array = np.asarray(value)
    _dtype_tag(name, array)
    # The package copies from the array's data pointer: it must be C-contiguous
    # (a transposed view would be written in the wrong order). Not
    # np.ascontiguousarray: it turns a scalar into shape [1].
    arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")
  if metadata is not None and not (
      isinstance(metadata, dict) and
      all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
    raise ValueError(f"metadata must be a dict of str to str, got {metadata!r}.")
  with atomic_files.atomic_path(path) as tmp_path:
    try:
      safetensors_numpy.save_file(arrays, tmp_path, metadata=metadata)
    except safetensors.SafetensorError as e:
      # The writer's I/O errors end in "(os error N)": raised as the OSError they
      # are, a full disk is reported as one (errors.is_disk_full).
      code = re.search(r"\(os error (\d+)\)", str(e))
      if not code:
        raise
      raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from e
