"""Bytes -> an Arrow array of lines, without a Python object per line.

Handles CRLF (a trailing '\\r' is dropped), bytes that are not UTF-8 (replaced by
U+FFFD, lines counted), NUL bytes (replaced), and records whether the last line was
cut (no final newline), which the format parsers use to distrust its last field.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class Lines:
    lines: object  # pyarrow.LargeStringArray, one element per line, no line terminator
    truncated_last: bool  # the data did not end with a newline
    skipped: dict = field(default_factory=dict)  # reason -> count


def split_lines(data: bytes) -> Lines:
    import pyarrow as pa
    import pyarrow.compute as pc

    skipped: dict = {}
    if not data.isascii() and not is_utf8(data):
        text = data.decode("utf-8", errors="replace")
        # Count the lines that carried bytes that are not UTF-8 (their fields may not parse).
        skipped["lines with non-UTF-8 bytes (replaced)"] = sum(not is_utf8(line) for line in data.split(b"\n"))
        data = text.encode("utf-8")
    if b"\x00" in data:
        skipped["NUL bytes (replaced)"] = data.count(b"\x00")
        data = data.replace(b"\x00", b"\xef\xbf\xbd")
    truncated_last = bool(data) and not data.endswith(b"\n")
    body = data[:-1] if data.endswith(b"\n") else data
    if not body:
        return Lines(pa.array([], pa.large_string()), truncated_last, skipped)
    # One Arrow string over the whole buffer (no copy; validated as UTF-8 above).
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(body)))
    whole = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(body)])
    lines = pc.split_pattern(whole, "\n").flatten()
    if b"\r" in data:
        lines = pc.utf8_rtrim(lines, characters="\r")
    return Lines(lines, truncated_last, skipped)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
