"""A big text log read in pieces, so that its bytes never all sit in memory.

`read_text` needs a launch's whole bytes while it parses (a 1 GB log: 1 GB held, plus the
rows being built). A text log larger than `parsers.formats.BIG_FILE` is instead read
`chunk` bytes at a time, each piece parsed by `read_text` as a log of its own, and the
pieces put together (`parsers.segment.concat_pieces`): the peak is the rows kept (compact
floats, about a third of the text) plus one piece. The result is the Segment of the whole
file read at once (tests/parsers/test_chunked.py compares them on the real logs):

- a piece ends just before a train/val record line (records are one line, and a record
  ends any multi-line message, traceback or block before it), so no message is cut; a
  piece without one grows until it has one: the header (environment, Config dump, model)
  is read whole;
- whether the file is a console capture is a property of the whole file (a traceback or
  a progress bar anywhere): it is found first by a scan of the bytes, then imposed on every
  piece; so is the year of a console capture's lines;
- line numbers count from the file's first line.

Pieces hold one launch: a file found to hold several (two Config dumps) is read whole,
launch by launch (`parsers.formats.text.launches`). `parsers.live` follows a growing log
with the same pieces (`cut_point`).
"""

from __future__ import annotations

import os
from dataclasses import replace

from parsers.formats import BIG_FILE
from parsers.formats.text.clock import CONSOLE_DATE, EXP_NAME, year_of
from parsers.formats.text.dialect import TRACEBACK, bare_cr
from parsers.formats.text.launches import check
from parsers.formats.text.reader import read_text
from parsers.patterns import RECORD_LINE
from parsers.segment import Segment, concat_pieces, shift_lines
from parsers.tracebacks import TAIL_BYTES, tail_of

CHUNK = BIG_FILE  # bytes read at a time: a file is read in pieces once it is larger than one
CUT_SEARCH = 1 << 20  # the last record line of a piece is looked for in its last MiB first
YEAR_CARRY = 200  # bytes carried between pieces, so that a line cut between them is still found


def read_big(path: str, source: str, dialect: str, chunk: int = CHUNK) -> list[Segment] | None:
    """The launch of a big text log in `dialect`, read in pieces; None when the file holds
    several launches (it is then read whole, launch by launch)."""
    seg = read_pieces(path, source, dialect, chunk)
    if len(seg.config_lines) > 1:
        return None
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - TAIL_BYTES))
        return [check(source, replace(seg, tail=tuple(tail_of(f.read()))))]


def read_pieces(path: str, source: str, dialect: str, chunk: int = CHUNK) -> Segment:
    """The Segment of a text log, read `chunk` bytes at a time (see the module docstring)."""
    pieces = []
    lines = 0
    console = None
    year, stamp = file_year(path, chunk) if dialect == "mmengine-console" else (None, None)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        at = 0
        while at < size:
            data = _piece(f, at, size, chunk)
            if console is None:
                seg = read_text(source, data, dialect, year=year)
                console = seg.format == "console" or looks_like_console_file(path)
                if (seg.format == "console") != console:
                    seg = read_text(source, data, dialect, console, year=year)
            else:
                seg = shift_lines(read_text(source, data, dialect, console, year=year), lines)
            pieces.append(seg)
            at += len(data)
            lines += data.count(b"\n")
            del data
    out = concat_pieces(pieces)
    if stamp and out.year is not None:
        out = replace(out, year_from=f"Exp name timestamp {stamp}")
    return out


def _piece(f, at: int, size: int, chunk: int) -> bytes:
    """The piece of open file `f` that starts at byte `at`: it ends where a record line
    starts; one that holds none (the header, a long block or traceback) grows until it
    does, or to the end of the file."""
    f.seek(at)
    data = f.read(chunk)
    while at + len(data) < size and cut_point(data) == 0:
        data += f.read(max(chunk, len(data)))
    if at + len(data) < size:
        data = data[: cut_point(data)]
    return data


def cut_point(data: bytes) -> int:
    """Where a piece of a file ends: at the start of its last record line (0: it has none
    after its first line)."""
    for tail in (max(0, len(data) - CUT_SEARCH), 0):
        last = -1
        for m in RECORD_LINE.finditer(data, tail):
            last = m.start()
        if last >= 0:
            return last + 1
        if tail == 0:
            break
    return 0


def looks_like_console_file(path: str) -> bool:
    """`parsers.formats.text.dialect.looks_like_console` for a file whose first line is
    logger output: a traceback or a progress bar's bare '\\r' anywhere, found by a scan."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return False
            data = carry + block
            if TRACEBACK in data or bare_cr(data):
                return True
            carry = data[-len(TRACEBACK) :]


def file_year(path: str, chunk: int = CHUNK) -> tuple[int | None, str | None]:
    """(year, stamp) of a console capture without a year (`parsers.formats.text.clock`),
    from the whole file read `chunk` bytes at a time: the first logger line's date and the
    first `Exp name` may lie in different pieces."""
    first = None
    with open(path, "rb") as f:
        tail = b""
        while data := f.read(chunk):
            data = tail + data
            first = first or CONSOLE_DATE.search(data)
            exp = EXP_NAME.search(data)
            if exp is not None:
                return year_of(first, exp)
            tail = data[-YEAR_CARRY:]
    return None, None
