"""Getting a log's bytes: files, `.gz` (recognised by its magic bytes), stdin (`-`).

Everything that goes wrong here becomes a one-line `ParseError` naming the file.
Decoding (CRLF, non-UTF-8 bytes, a truncated last line) is `parsers.lines`' job, except
UTF-16 (a BOM at the start), which is turned into UTF-8 here.

Input is bounded, because a log is only data and must not decide how much memory we
take: a file larger than the cap is refused before it is read; stdin, FIFOs and gzip
data are read/decompressed in chunks and refused when they pass it ("too large / not a
log"). The cap is `BEVLOG_MAX_BYTES` when set (bytes, or with a K/M/G/T suffix: `500M`),
else 8 GiB; gzip data may also inflate to at most 50x its compressed size (but always
to 256 MiB) unless `BEVLOG_MAX_BYTES` is set, so a gzip bomb stops after a few reads.
Character devices (`/dev/zero`, given as a path or on stdin) and other files that are
not regular files or FIFOs are refused without reading.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import sys
import zlib

import numpy as np

from parsers.run import REFUSED, ParseError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
STDIN_NAME = "<stdin>"  # how stdin is named in problems and Run sources
MAX_BYTES_ENV = "BEVLOG_MAX_BYTES"
DEFAULT_MAX_BYTES = 8 << 30
GZIP_MAX_RATIO = 50  # a real log compresses 5-20x; zeros compress ~1000x
GZIP_MIN_ALLOWED = 256 << 20  # a small .gz may always inflate this far
BLOCK = 1 << 20
BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*$")
TRUNCATED_GZIP = "gzip data cut short: read up to the cut"


def max_bytes() -> int:
    """The input cap in bytes (BEVLOG_MAX_BYTES, else 8 GiB)."""
    return _env_cap() or DEFAULT_MAX_BYTES


def _env_cap() -> int | None:
    raw = os.environ.get(MAX_BYTES_ENV)
    if not raw:
        return None
    m = _SIZE.match(raw)
    if not m:
        raise ParseError(MAX_BYTES_ENV, f"{raw!r} is not a size (bytes, or a number with K/M/G/T)")
    scale = 1024 ** " KMGT".index((m.group(2) or " ").upper())
    return max(1, int(float(m.group(1)) * scale))


def too_large(path: str, what: str) -> ParseError:
    return ParseError(
        display_name(path),
        f"{REFUSED}: {what} (the cap is {human_size(max_bytes())}; set {MAX_BYTES_ENV} to change it)",
    )


def human_size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def read_bytes(path: str, notes: list | None = None) -> bytes:
    """The whole content of `path` ('-' = stdin), gunzipped when it is gzip data, UTF-16
    turned into UTF-8. `notes` receives what a reader of the run should know (a gzip
    stream cut short)."""
    path = str(path)
    try:
        if path == STDIN:
            data = _read_stream(path, sys.stdin.buffer)
        else:
            with open(path, "rb") as f:
                data = _read_stream(path, f)
    except IsADirectoryError:
        raise ParseError(path, "is a directory, not a log file") from None
    except FileNotFoundError:
        raise ParseError(path, "no such file") from None
    except OSError as e:
        raise ParseError(display_name(path), f"cannot read: {e.strerror or e}") from None
    if data.startswith(GZIP_MAGIC):
        data = gunzip(path, data, notes)
    return from_utf16(data)


def _read_stream(path: str, f) -> bytes:
    """Read an open file to its end, refusing devices and anything past the cap."""
    try:
        st = os.fstat(f.fileno())
        mode, size = st.st_mode, st.st_size
    except (OSError, ValueError):  # an in-memory stream (tests, embedding): no descriptor
        mode, size = stat.S_IFIFO, 0
    if stat.S_ISCHR(mode) and not (path == STDIN and f.isatty()):
        raise ParseError(display_name(path), f"{REFUSED}: a character device, not a log file")
    stream_ok = stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or (path == STDIN and stat.S_ISSOCK(mode))
    if not (stat.S_ISREG(mode) or stream_ok):
        raise ParseError(display_name(path), f"{REFUSED}: a device, not a log file")
    cap = max_bytes()
    parts: list[bytes] = []
    if stat.S_ISREG(mode):
        if size > cap:
            raise too_large(path, human_size(size))
        parts.append(f.read(size))  # read(n) allocates n bytes: the size, never the cap
    total = sum(map(len, parts))
    # A pipe or terminal has no size, and a log being written grows: read on in blocks.
    while total <= cap:
        block = f.read(min(BLOCK, cap + 1 - total))
        if not block:
            break
        if not total and not block.strip(b"\x00"):
            raise ParseError(display_name(path), f"{REFUSED}: binary zeros")
        parts.append(block)
        total += len(block)
    if total > cap:
        raise too_large(path, f"more than {human_size(cap)}")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_log(path: str, notes: list | None = None):
    """`read_bytes`, except that a plain file of JSON lines comes back as a uint8 numpy
    array: numpy asks the kernel for huge pages for a large array, so filling it from the
    page cache is faster than `f.read()`'s bytes (docs/benchmarks.md, "Fresh processes and
    huge pages"); the json parser reads it through the buffer protocol and frees it before
    it allocates its own big arrays. Text logs, stdin and .gz stay bytes."""
    path = str(path)
    if path == STDIN:
        return read_bytes(path, notes)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return read_bytes(path, notes)  # a FIFO (`<(zcat …)`): no size, read to its end (capped)
            if st.st_size > max_bytes():
                raise too_large(path, human_size(st.st_size))
            head = f.read(1 << 12)
            if head.startswith(GZIP_MAGIC) or not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
                return read_bytes(path, notes)
            data = np.empty(max(st.st_size, len(head)), np.uint8)
            data[: len(head)] = np.frombuffer(head, np.uint8)
            got = len(head)
            view = memoryview(data)  # type: ignore[arg-type]  # an ndarray is a buffer
            while got < len(data):
                n = f.readinto(view[got:])
                if not n:
                    break  # the file shrank while being read
                got += n
            return data[:got]
    except OSError:
        return read_bytes(path, notes)  # says what went wrong, as a ParseError


def gunzip(path: str, data: bytes, notes: list | None = None) -> bytes:
    """Decompress gzip data (every member) in blocks, refusing output past the cap.
    A .gz cut short (still being written, a partial copy) keeps what could be
    decompressed, and says so in `notes`."""
    cap = _env_cap() or min(DEFAULT_MAX_BYTES, max(GZIP_MIN_ALLOWED, GZIP_MAX_RATIO * len(data)))
    out: list[bytes] = []
    total = 0
    pos = 0  # data[:pos] has been fed to the decompressor
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    try:
        while True:
            if not pending:
                if pos >= len(data):
                    break
                pending = data[pos : pos + BLOCK]
                pos += len(pending)
            chunk = d.decompress(pending, cap + 1 - total)
            pending = d.unconsumed_tail
            out.append(chunk)
            total += len(chunk)
            if total > cap:
                raise ParseError(
                    display_name(path),
                    f"{REFUSED}: gzip data inflates past {human_size(cap)} (set {MAX_BYTES_ENV} to change the cap)",
                )
            if d.eof:  # end of a member: another may follow (`cat a.gz b.gz`)
                pos -= len(d.unused_data) + len(pending)
                pending = b""
                if data[pos : pos + 2] != GZIP_MAGIC:
                    break  # padding or garbage after the last member is ignored
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as e:
        if not total:
            raise ParseError(display_name(path), f"corrupt gzip data: {e}") from None
        if notes is not None:
            notes.append(f"corrupt gzip data after {total} bytes: read up to there")
        return b"".join(out)
    if not d.eof:
        if not total:
            raise ParseError(display_name(path), "corrupt or empty gzip data")
        if notes is not None:
            notes.append(TRUNCATED_GZIP)
    return b"".join(out)


def from_utf16(data: bytes) -> bytes:
    """UTF-16 text (a BOM at the start: Windows editors, PowerShell `>`) -> UTF-8."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace").encode("utf-8")
    return data


def per_file(read):
    """Decorator for a function that reads ONE file or ONE run's files (its first
    argument: a path or a list of paths): whatever goes wrong inside becomes a one-line
    ParseError naming the (first) file, with the exception's type, so one hostile file
    never takes the other runs of a command down. Interrupts pass."""

    @functools.wraps(read)
    def guarded(path, *args, **kwargs):
        try:
            return read(path, *args, **kwargs)
        except ParseError:
            raise
        except Exception:
            if isinstance(path, (list, tuple)):
                path = path[0] if path else "?"
            return _as_parse_error(path)

    return guarded


def _as_parse_error(path):
    """Re-raise the exception being handled as `path`'s ParseError."""
    e = sys.exc_info()[1]
    assert e is not None, "called while an exception is handled"
    name = display_name(path)
    if isinstance(e, MemoryError):
        raise ParseError(name, f"{REFUSED}: out of memory while reading it") from None
    if isinstance(e, RecursionError):
        raise ParseError(name, "not a log: nested too deeply to read") from None
    raise ParseError(name, f"could not be read ({exception_line(e)})") from e  # the type names the bug to fix


def exception_line(e: BaseException) -> str:
    """`Type: first line of the message`, at most 200 characters."""
    text = str(e).strip().splitlines()
    line = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    return line if len(line) <= 200 else line[:199] + "…"


def display_name(path: str) -> str:
    return STDIN_NAME if str(path) == STDIN else os.fspath(path)
