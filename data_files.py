"""Reading the users' data files, with errors that name the file and line.

Every reader drops a UTF-8 byte-order mark, reports bytes that are not UTF-8
with their line and a fix, and accepts local paths and tf.io.gfile URLs
(gs://...). TensorFlow is loaded for remote paths only, so that
create_pretraining_data.py's workers can read local files without it.
"""

import csv
import glob
import io
import json
import os
import re

import atomic_files
import errors


class Row(list):
  """A list of fields that remembers its 1-based line number in the file."""
  __slots__ = ("line_number",)


def file_exists(path):
  path = str(path)
  if atomic_files.is_remote(path):
    return atomic_files.gfile().exists(path)
  return os.path.isfile(path)


def expand_input_files(spec, flag_name, expected, example):
  """Expands a flag's comma-separated paths and globs into the files they name.

  Args:
    spec: str, e.g. "a.txt,shards/*.txt"; empty items are skipped. A path that
      exists is a name, not a pattern (`g[1]/a.txt`).
    flag_name: str, the flag the errors name, e.g. "input_file".
    expected: str, what the files hold, for the errors, e.g. "text files".
    example: str, the glob suggested for a folder given by mistake, e.g. "*.txt".

  Returns:
    list of str paths: each glob's matches sorted, in the order of the items.

  Raises:
    errors.UserError: no item, a path not found, a glob that matches no file, a
      folder (named or matched), a local file that cannot be read.
  """
  files = []
  for pattern in (p.strip() for p in (spec or "").split(",")):
    if pattern:
      files.extend(_matching_files(pattern, flag_name, expected, example))
  if not files:
    raise errors.UserError("--%s is required: comma-separated paths or globs of %s."
                           % (flag_name, expected))
  return files


def _matching_files(pattern, flag_name, expected, example):
  """The files one item of expand_input_files names (see there)."""
  if atomic_files.is_remote(pattern):
    gfile = atomic_files.gfile()
    exists, isdir, find = gfile.exists, gfile.isdir, gfile.glob
  else:  # glob.glob skips hidden files as the shell does (macOS's ._x copies, .x.swp)
    exists, isdir, find = os.path.exists, os.path.isdir, glob.glob
  is_glob = glob.has_magic(pattern)
  matches = [pattern] if exists(pattern) else sorted(find(pattern)) if is_glob else []
  if not matches:
    raise errors.UserError("--%s: %s %s; give comma-separated paths or globs of %s." % (
        flag_name, pattern, "matches no file" if is_glob else "not found", expected))
  for path in matches:
    # A folder among a glob's matches is an error too, not skipped: the user
    # meant its files, and reading fewer files than asked must not go unnoticed.
    if isdir(path):
      raise errors.UserError("--%s: %s is a directory; give the files in it, e.g. %s."
                             % (flag_name, path, os.path.join(path, example)))
    try:
      if atomic_files.is_remote(path):
        pass
      elif os.path.isfile(path) or not os.path.exists(path):
        open(path, "rb").close()  # an unreadable file fails before any work
      elif not os.access(path, os.R_OK):   # opening a pipe (<(zcat f.gz)) would drain it
        raise PermissionError
    except PermissionError:
      raise errors.UserError("--%s: %s cannot be read: permission denied; make it "
                             "readable (chmod a+r)." % (flag_name, path)) from None
    except OSError as e:   # a link to a file that is gone
      raise errors.UserError("--%s: %s cannot be read: %s; restore it or leave it out."
                             % (flag_name, path, e.strerror)) from None
  return matches


def read_bytes(path, expected):
  """Returns the bytes of `path`; errors.DataError naming `expected` if absent."""
  path = str(path)
  if atomic_files.is_remote(path):
    gfile = atomic_files.gfile()
    if not gfile.exists(path):
      raise errors.DataError("%s: file not found; expected %s" % (path, expected))
    with gfile.GFile(path, "rb") as f:
      return f.read()
  if os.path.isdir(path) or not os.path.exists(path):   # a pipe (<(zcat f.gz)) is read
    what = "is a directory" if os.path.isdir(path) else "file not found"
    raise errors.DataError("%s: %s; expected %s" % (path, what, expected))
  try:
    with open(path, "rb") as f:
      return f.read()
  except PermissionError:
    raise errors.DataError("%s: cannot be read: permission denied; make it readable "
                           "(chmod a+r)." % path) from None


def read_text(path, expected="a UTF-8 text file"):
  """Returns the text of a UTF-8 file, without its byte-order mark if any."""
  data = read_bytes(path, expected)
  if data.startswith(b"\xef\xbb\xbf"):
    data = data[3:]
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise errors.DataError(
        "%s, line %d: not valid UTF-8 (byte 0x%02x); re-save the file as "
        "UTF-8, e.g. iconv -f GB18030 -t UTF-8." % (path, line, data[e.start])) from None


def read_rows(path, delimiter="\t", quotechar=None, expected="a TSV file"):
  """Reads a delimited text file into rows of fields.

  Args:
    path: str, local path or a tf.io.gfile URL (gs://...).
    delimiter: str, one character.
    quotechar: None reads quote characters as ordinary text (csv.QUOTE_NONE),
      as the reference's `_read_tsv(quotechar=None)` did for GLUE files;
      a character (e.g. '"') enables standard CSV quoting.
    expected: str, the expected layout, quoted by the missing-file error.

  Returns:
    list of rows; each row is a list of str with a `line_number` attribute
    (1-based, the line the record starts on). Blank lines are skipped.

  Raises:
    errors.DataError: missing file, bytes that are not UTF-8, or malformed CSV.
  """
  return parse_rows(read_text(path, expected), path, delimiter, quotechar)


# csv's default limit (131,072 characters a field) would refuse long documents.
csv.field_size_limit(2 ** 31 - 1)


def parse_rows(text, path, delimiter, quotechar):
  """Parses delimited `text` (see read_rows); `path` is for error messages."""
  if quotechar is None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE)
  else:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quotechar=quotechar)
  rows = []
  next_line = 1
  try:
    for fields in reader:
      if fields:
        row = Row(fields)
        row.line_number = next_line
        rows.append(row)
      next_line = reader.line_num + 1
  except csv.Error as e:
    raise errors.DataError("%s, line %d: %s" % (path, next_line, e)) from None
  return rows


def filled_width(row):
  """Columns up to the last non-empty cell (a trailing separator adds none)."""
  filled = [n for n, cell in enumerate(row) if cell.strip()]
  return filled[-1] + 1 if filled else 0


def found_columns(row):
  """How a row that does not fit its layout reads in an error: 'found N columns',
  or, for a line of spaces only, that the line looks blank but is not."""
  if not "".join(row).strip():
    return "found a line of spaces only (delete it)"
  return "found %d columns" % len(row)


def parse_json(text, where, fix=""):
  """The JSON value of `text`; a DataError naming `where` (a file or flag) if it is not JSON.

  Besides syntax errors, an integer of thousands of digits and nesting deeper
  than the parser's recursion limit are reported this way (not as tracebacks).
  """
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    problem = f"{e.msg} at line {e.lineno} column {e.colno} (char {e.pos})"
  except RecursionError:   # Python's parser recurses once per level
    problem = "nested too deeply to parse"
  except ValueError as e:   # an integer of more digits than Python converts
    problem = str(e).split(";")[0]
  raise errors.DataError(f"{where}: not valid JSON: {problem}.{fix}")


def parse_json_records(text, path):
  """Parses a JSON array of objects or JSON lines: list of (location, dict)."""
  if text.lstrip().startswith("["):
    records = parse_json(text, path)
    located = [("record %d" % (i + 1), r) for i, r in enumerate(records)]
  else:
    located = []
    # Lines end at \n, \r\n or \r only: a JSON string may hold U+2028 or U+0085.
    for n, line in enumerate(re.split(r"\r\n?|\n", text), start=1):
      if not line.strip():
        continue
      located.append(("line %d" % n, parse_json(line, "%s, line %d" % (path, n))))
  for where, record in located:
    if not isinstance(record, dict):
      raise errors.DataError("%s, %s: expected a JSON object with the text and "
                             "label keys; received %s" % (path, where,
                                                   type(record).__name__))
  return located
