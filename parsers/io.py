"""Getting a log's bytes: files, `.gz` (recognised by its magic bytes), stdin (`-`).

Everything that goes wrong here becomes a one-line `ParseError` naming the file.
Decoding (CRLF, non-UTF-8 bytes, a truncated last line) is `parsers.lines`' job.
"""
from __future__ import annotations

import gzip
import os
import stat
import sys
import zlib

from parsers.run import ParseError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


def read_bytes(path: str) -> bytes:
    """The whole content of `path` ('-' = stdin), gunzipped when it is gzip data."""
    path = str(path)
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except IsADirectoryError:
        raise ParseError(path, "is a directory, not a log file") from None
    except FileNotFoundError:
        raise ParseError(path, "no such file") from None
    except OSError as e:
        raise ParseError(path, f"cannot read: {e.strerror or e}") from None
    if data.startswith(GZIP_MAGIC):
        data = gunzip(path, data)
    return data


def read_log(path: str):
    """`read_bytes`, except that a plain file of JSON lines comes back as a uint8 numpy
    array: numpy asks the kernel for huge pages for a large array, so filling it from the
    page cache takes about half the time of `f.read()`'s bytes on this VM (a 212 MB json:
    50-65 vs 115-130 ms), except when the kernel must first compact memory to find huge
    pages (seen in 2 of 5 fresh processes: 0.45 s; the same stall then hits numpy's other
    big arrays when the read does not take it, see docs/benchmarks.md; the json parser
    frees the buffer before it allocates those). The json parser reads it through the
    buffer protocol; text logs, stdin and .gz stay bytes."""
    path = str(path)
    if path == STDIN:
        return read_bytes(path)
    import numpy as np

    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return read_bytes(path)  # a FIFO (`<(zcat …)`): no size, read to its end
            head = f.read(1 << 12)
            if head.startswith(GZIP_MAGIC) or not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
                return read_bytes(path)
            data = np.empty(max(st.st_size, len(head)), np.uint8)
            data[: len(head)] = np.frombuffer(head, np.uint8)
            got = len(head)
            view = memoryview(data)
            while got < len(data):
                n = f.readinto(view[got:])
                if not n:
                    break  # the file shrank while being read
                got += n
            return data[:got]
    except OSError:
        return read_bytes(path)  # says what went wrong, as a ParseError


def gunzip(path: str, data: bytes) -> bytes:
    """Decompress gzip data; a truncated .gz keeps what could be decompressed."""
    try:
        return gzip.decompress(data)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
        pass
    # A .gz cut short (still being written, or a partial copy): keep the readable part.
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data)
    except zlib.error as e:
        raise ParseError(path, f"corrupt gzip data: {e}") from None
    if not out:
        raise ParseError(path, "corrupt or empty gzip data")
    return out


def display_name(path: str) -> str:
    return "<stdin>" if str(path) == STDIN else os.fspath(path)
