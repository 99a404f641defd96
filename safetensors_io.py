"""Reads and writes the safetensors format with NumPy only (no torch, no pickle).

A safetensors file is: an unsigned 64-bit little-endian header length N, then N
bytes of UTF-8 JSON mapping each tensor name to
`{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (plus an
optional `"__metadata__": {str: str}`), then the raw little-endian data buffer
the offsets point into. Hugging Face publishes BERT weights in this format; it
holds no code, so reading an untrusted file is safe.
"""

import json
import os
import struct
import uuid

import numpy as np

# safetensors dtype tag -> little-endian NumPy dtype. BF16 has no NumPy dtype:
# it is read as uint16 and widened (see _widen_bfloat16).
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_TAGS = {v.newbyteorder("="): k for k, v in _DTYPES.items() if k != "BF16"}
# The safetensors reference implementation refuses headers above 100 MB.
_MAX_HEADER_BYTES = 100 * 1000 * 1000
_METADATA_KEY = "__metadata__"


def _widen_bfloat16(bits):
  """uint16 array of bfloat16 bit patterns -> float32 array, exactly."""
  return (bits.astype(np.uint32) << 16).view(np.float32)


def _read_header(path, f, file_size):
  """Reads and parses the JSON header; returns (header dict, data start)."""
  if file_size < 8:
    raise ValueError(f"{path}: not a safetensors file: {file_size} bytes, "
                     "shorter than the 8-byte header length.")
  (header_len,) = struct.unpack("<Q", f.read(8))
  if header_len == 0 or header_len > _MAX_HEADER_BYTES or 8 + header_len > file_size:
    raise ValueError(
        f"{path}: not a safetensors file: header length {header_len} does not "
        f"fit a file of {file_size} bytes (nor the {_MAX_HEADER_BYTES}-byte limit).")
  try:
    header = json.loads(f.read(header_len).decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{path}: the safetensors header is not UTF-8 JSON ({e}).") from None
  if not isinstance(header, dict):
    raise ValueError(f"{path}: the safetensors header is a JSON "
                     f"{type(header).__name__}, expected an object.")
  return header, 8 + header_len


def _check_entry(path, name, entry, buffer_size):
  """Validates one header entry; returns (dtype tag, shape tuple, begin, end)."""
  if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
    raise ValueError(f"{path}: tensor {name!r} needs dtype, shape and "
                     f"data_offsets in the header; got {entry!r}.")
  tag, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
  if tag not in _DTYPES:
    raise ValueError(f"{path}: tensor {name!r} has dtype {tag!r}; this reader "
                     f"knows {', '.join(sorted(_DTYPES))}.")
  if (not isinstance(shape, list) or
      not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
    raise ValueError(f"{path}: tensor {name!r} has shape {shape!r}; expected a "
                     "list of non-negative integers.")
  if (not isinstance(offsets, list) or len(offsets) != 2 or
      not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets) or
      not 0 <= offsets[0] <= offsets[1] <= buffer_size):
    raise ValueError(f"{path}: tensor {name!r} has data_offsets {offsets!r} "
                     f"outside the {buffer_size}-byte data buffer.")
  begin, end = offsets
  expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[tag].itemsize
  if end - begin != expected:
    raise ValueError(f"{path}: tensor {name!r} ({tag}, shape {shape}) needs "
                     f"{expected} bytes but data_offsets {offsets} span {end - begin}.")
  return tag, tuple(shape), begin, end


def _check_layout(path, spans, buffer_size):
  """Tensors must tile the data buffer without overlaps or holes."""
  position = 0
  for begin, end, name in sorted(spans):
    if begin != position:
      problem = "overlaps the previous tensor" if begin < position else "leaves a gap before it"
      raise ValueError(f"{path}: tensor {name!r} at data_offsets [{begin}, {end}] "
                       f"{problem}; the file is corrupt.")
    position = end
  if position != buffer_size:
    raise ValueError(f"{path}: the data buffer has {buffer_size} bytes but the "
                     f"tensors cover {position}; the file is truncated or corrupt.")


def _read_entries(path, f):
  """Validates the whole header; returns ({name: (tag, shape, begin, end)}, data start)."""
  file_size = os.fstat(f.fileno()).st_size
  header, data_start = _read_header(path, f, file_size)
  buffer_size = file_size - data_start
  metadata = header.get(_METADATA_KEY, {})
  if not isinstance(metadata, dict):
    raise ValueError(f"{path}: __metadata__ must be a JSON object, got {metadata!r}.")
  entries = {name: _check_entry(path, name, entry, buffer_size)
             for name, entry in header.items() if name != _METADATA_KEY}
  _check_layout(path, [(b, e, name) for name, (_, _, b, e) in entries.items()],
                buffer_size)
  return entries, data_start


def read_header(path):
  """Returns {name: (dtype tag such as "F32", shape tuple)} without reading data.

  Raises:
    ValueError: the header is not valid safetensors (see load_file).
  """
  with open(path, "rb") as f:
    entries, _ = _read_entries(path, f)
  return {name: (tag, shape) for name, (tag, shape, _, _) in entries.items()}


def load_file(path):
  """Reads every tensor of a safetensors file.

  The header is validated before any data is used: its length, every dtype,
  shape and offset, and that the tensors tile the data buffer exactly.
  BF16 tensors are widened to float32 (their 16 bits become the high half of
  a float32, which is exact); every other dtype keeps its own NumPy dtype.

  Args:
    path: path of a `.safetensors` file.

  Returns:
    dict {name: np.ndarray} in native byte order, arrays writable.

  Raises:
    ValueError: the file is not valid safetensors; the message names the file
      and the problem.
    OSError: the file cannot be read.
  """
  with open(path, "rb") as f:
    entries, data_start = _read_entries(path, f)
    buffer_size = os.fstat(f.fileno()).st_size - data_start
    data = bytearray(buffer_size)
    if f.readinto(data) != buffer_size:
      raise ValueError(f"{path}: could not read the {buffer_size}-byte data buffer.")
  tensors = {}
  for name, (tag, shape, begin, end) in entries.items():
    array = np.frombuffer(data, dtype=_DTYPES[tag], count=(end - begin) // _DTYPES[tag].itemsize,
                          offset=begin).reshape(shape)
    if tag == "BF16":
      array = _widen_bfloat16(array)
    elif not array.dtype.isnative:
      array = array.astype(array.dtype.newbyteorder("="))
    tensors[name] = array
  return tensors


def _dtype_tag(name, array):
  """The safetensors dtype tag of a NumPy array (ml_dtypes bfloat16 -> BF16)."""
  if array.dtype.name == "bfloat16" and array.dtype.itemsize == 2:
    return "BF16"
  tag = _TAGS.get(array.dtype.newbyteorder("="))
  if tag is None:
    raise ValueError(f"tensor {name!r} has dtype {array.dtype}; safetensors "
                     f"stores {', '.join(sorted(_DTYPES))}.")
  return tag


def _little_endian_bytes(tag, array):
  if tag == "BF16":
    return np.ascontiguousarray(array).view(np.uint16).astype("<u2").tobytes()
  return np.ascontiguousarray(array, dtype=_DTYPES[tag]).tobytes()


def _header_bytes(tensors, tags, metadata):
  """JSON header padded with spaces to a multiple of 8 bytes, offsets in name order."""
  header = {}
  if metadata:
    header[_METADATA_KEY] = metadata
  offset = 0
  for name in sorted(tensors):
    size = tensors[name].size * tensors[name].dtype.itemsize
    header[name] = {"dtype": tags[name], "shape": list(tensors[name].shape),
                    "data_offsets": [offset, offset + size]}
    offset += size
  encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
  # Padding keeps the data buffer 8-byte aligned for readers that mmap it.
  return encoded + b" " * (-len(encoded) % 8)


def save_file(tensors, path, metadata=None):
  """Writes tensors to a safetensors file, atomically.

  Data is laid out contiguously in sorted-name order. The file is written
  under a temporary name in the same directory and then renamed, so `path`
  holds either its old content or the complete new file, never a torn one.

  Args:
    tensors: dict {name: array-like}; float64/32/16, ml_dtypes bfloat16,
      signed and unsigned integers and bool are supported.
    path: destination file.
    metadata: optional dict {str: str}, stored as `__metadata__`
      (Hugging Face writes {"format": "pt"}).

  Raises:
    ValueError: a name, dtype or metadata value cannot be stored.
  """
  arrays, tags = {}, {}
  for name, value in tensors.items():
    if not isinstance(name, str) or not name or name == _METADATA_KEY:
      raise ValueError(f"tensor name {name!r} is not allowed in safetensors.")
    arrays[name] = np.asarray(value)
    tags[name] = _dtype_tag(name, arrays[name])
  if metadata is not None and not (
      isinstance(metadata, dict) and
      all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
    raise ValueError(f"metadata must be a dict of str to str, got {metadata!r}.")
  header = _header_bytes(arrays, tags, metadata)
  # Same directory, so os.replace is a rename; an ordinary open (not mkstemp)
  # gives the file the usual umask permissions.
  tmp_path = f"{path}.tmp-{uuid.uuid4().hex}"
  try:
    with open(tmp_path, "xb") as f:
      f.write(struct.pack("<Q", len(header)))
      f.write(header)
      for name in sorted(arrays):
        f.write(_little_endian_bytes(tags[name], arrays[name]))
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise
