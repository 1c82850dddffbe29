"""A text log's bytes as lines, in chunks, without a Python object per line.

`TextFile` cleans the bytes once (bytes that are not UTF-8 are replaced by U+FFFD and
the lines counted; NUL bytes likewise), then hands out ~8 MB chunks as Arrow string
arrays (CRLF's '\\r' dropped; for console captures, a line redrawn with '\\r' reads as
its last redraw, as a terminal shows it). Chunks keep every intermediate array small,
so memory is reused instead of faulted in, and two chunks can be parsed on two threads.
Any line's text is available by its global index (for the few lines that need Python).
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK = 8 << 20


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class TextFile:
    def __init__(self, data, chunk: int | None = None):
        """`data`: bytes, or a uint8 array (a json log, parsers.io.read_log)."""
        chunk = chunk or CHUNK
        self.skipped: dict = {}
        ascii_, nul, cr = _scan_bytes(data)
        if not ascii_ and not is_utf8(bytes(data)):
            data = bytes(data)
            # Count the lines that carried bytes that are not UTF-8 (their fields may not parse).
            self.skipped["lines with non-UTF-8 bytes (replaced)"] = sum(not is_utf8(line) for line in data.split(b"\n"))
            data = data.decode("utf-8", errors="replace").encode("utf-8")
        if nul:
            data = bytes(data)
            self.skipped["NUL bytes (replaced)"] = data.count(b"\x00")
            data = data.replace(b"\x00", b"\xef\xbf\xbd")
        ends_nl = len(data) > 0 and data[-1] == 10
        self.truncated_last = len(data) > 0 and not ends_nl
        self.data = data
        self.end = len(data) - 1 if ends_nl else len(data)  # no empty line after the last \n
        self.has_cr = cr
        self.console_cr = False  # set by the caller: strip progress-bar redraws
        self.bounds = _chunk_bounds(data, self.end, chunk)
        self._first: list[int] = []
        self.starts = np.zeros(0, np.int64)

    def chunk_lines(self, k: int):
        """Arrow lines of chunk k (also records where they start in the bytes)."""
        a, b = self.bounds[k]
        body = memoryview(self.data)[a:b]  # no copy
        offsets = pa.py_buffer(struct.pack("<qq", 0, b - a))
        whole = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(body)])
        lines = pc.split_pattern(whole, "\n").flatten()
        off = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
        starts = a + (off[:-1] - off[0]) + np.arange(len(lines))  # each removed '\n' is one byte
        if self.has_cr:
            lines = pc.utf8_rtrim(lines, characters="\r")
            if self.console_cr:
                lines = pc.replace_substring_regex(lines, r"^[^\n]*\r", "")
        return lines, starts

    def release(self) -> None:
        """Drop the file's bytes (line texts are no longer available)."""
        self.data = None

    def set_starts(self, parts) -> None:
        self.starts = np.concatenate(parts) if parts else np.zeros(0, np.int64)

    @property
    def nlines(self) -> int:
        return len(self.starts)

    def text(self, i: int) -> str:
        end = self.starts[i + 1] - 1 if i + 1 < len(self.starts) else self.end
        t = bytes(self.data[self.starts[i] : end]).decode("utf-8", errors="replace")
        if self.has_cr:
            t = t.rstrip("\r")
            if self.console_cr and "\r" in t:
                t = t[t.rindex("\r") + 1 :]
        return t

    def texts(self, idx) -> list[str]:
        """The texts of lines `idx`; a range of consecutive lines is decoded in one piece."""
        if isinstance(idx, range) and idx.step == 1:
            return self._between(idx.start, idx.stop)
        return [self.text(int(i)) for i in idx]

    def _between(self, a: int, b: int) -> list[str]:
        """[self.text(i) for i in range(a, b)]: the bytes from line a to line b - 1 hold
        exactly the b - a - 1 newlines that separate them (lines are split at '\n' only)."""
        if b <= a:
            return []
        end = self.starts[b] - 1 if b < len(self.starts) else self.end
        lines = bytes(self.data[self.starts[a] : end]).decode("utf-8", errors="replace").split("\n")
        if self.has_cr:
            lines = [t.rstrip("\r") for t in lines]
            if self.console_cr:
                lines = [t[t.rindex("\r") + 1 :] if "\r" in t else t for t in lines]
        return lines


def _scan_bytes(data) -> tuple[bool, bool, bool]:
    """(all ASCII, has a NUL byte, has a '\\r') of bytes or of a uint8 array (in 1 MB
    windows, which stay in the cache)."""
    if isinstance(data, (bytes, bytearray)):
        return data.isascii(), b"\x00" in data, b"\r" in data
    ascii_, nul, cr = True, False, False
    for a in range(0, len(data), 1 << 20):
        w = data[a : a + (1 << 20)]
        ascii_ = ascii_ and int(w.max()) < 128
        nul = nul or int(w.min()) == 0
        cr = cr or bool((w == 13).any())
    return ascii_, nul, cr


def find_newline(data, start: int = 0, end: int | None = None) -> int:
    """`data.find(b"\\n", start, end)` for bytes and for uint8 arrays."""
    end = len(data) if end is None else end
    if isinstance(data, (bytes, bytearray)):
        return data.find(b"\n", start, end)
    window = 1 << 12
    while start < end:
        hit = np.flatnonzero(data[start : min(start + window, end)] == 10)
        if len(hit):
            return start + int(hit[0])
        start += window
        window *= 2
    return -1


def _chunk_bounds(data, n: int, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of data[:n], about `chunk` bytes each, ending at a newline (excluded)."""
    out = []
    a = 0
    while a < n:
        b = a + chunk
        if b >= n:
            out.append((a, n))
            break
        nl = find_newline(data, b, n)
        if nl < 0:
            out.append((a, n))
            break
        out.append((a, nl))
        a = nl + 1
    return out or [(0, 0)]
