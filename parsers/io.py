"""Getting a log's bytes: files, `.gz` (recognised by its magic bytes), stdin (`-`).

Everything that goes wrong here becomes a one-line `ParseError` naming the file.
Decoding (CRLF, non-UTF-8 bytes, a truncated last line) is `parsers.lines`' job.
"""
from __future__ import annotations

import gzip
import os
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
