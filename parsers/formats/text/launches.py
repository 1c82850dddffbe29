"""A text file -> its launches, one Segment each, in file order.

nohup.out and slurm-*.out often hold several launches appended to one file. A launch
starts where the runner logs its environment block (found by its content,
`sys.platform: `, whatever label the team's script gave it); failing that, at each Config
dump (and the header lines right above it). A file of several launches is read once whole,
to find them, then launch by launch. Output before the first launch belongs to the first,
output after a launch's last line (its traceback) to that launch. Line numbers count from
the file's first line.

A console launch without a year of its own (`parsers.formats.text.clock`) takes it from the
nearest launch of the same file whose year is known: launches are appended in time order,
so it is that launch's year, one more (less) when the month/day went back (forward).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from parsers.formats.text.dialect import looks_like_console
from parsers.formats.text.reader import read_text
from parsers.lines import TextFile
from parsers.patterns import ANY_PREFIX, RECORD_START
from parsers.run import ParseError
from parsers.segment import Launch, Segment, shift_lines
from parsers.tracebacks import tail_of

HEADER_LINES_BEFORE_CONFIG = 2  # mmcv's tools/train.py logs `Distributed training: …` there
_RECORD_START = re.compile(RECORD_START.encode())


def read_launches(source: str, content, dialect: str, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """A text log written in `dialect` -> one Segment per launch. `content`: the bytes, or a
    one-item list holding them. ParseError when it holds no logger line."""
    data = bytes(content.pop() if isinstance(content, list) else content)
    seg = read_text(source, data, dialect, engine=engine, chunk=chunk)
    if len(seg.env_lines) < 2 and len(seg.config_lines) < 2:
        return [check(source, replace(seg, tail=tuple(tail_of(data))))]  # one launch (the usual file): read once
    offsets = _line_offsets(data)
    if len(seg.env_lines) >= 2:
        starts = [int(offsets[line - 1]) for line in seg.env_lines]
    else:
        starts = [_header_start(data, int(offsets[line - 1])) for line in seg.config_lines]
    return [check(source, s) for s in _read_each(source, data, starts, dialect, engine, chunk)]


def check(source: str, seg: Segment) -> Segment:
    if not seg.log_lines:
        raise ParseError(source, "not a training log: no mmcv/mmengine log lines found")
    return seg


def _read_each(source, data, starts, dialect, engine, chunk) -> list[Segment]:
    lines, _ = TextFile(data[: 1 << 20]).chunk_lines(0)
    console = True if looks_like_console(data, lines[0].as_py() if len(lines) else None, dialect) else None
    bounds = [0] + starts[1:] + [len(data)]

    def read(k: int, year: int | None = None) -> Segment:
        return read_text(source, data[bounds[k] : bounds[k + 1]], dialect, console, engine, chunk, year)

    out: list[Segment] = []
    first_line = 0
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        seg = read(k)
        if seg.year_unknown:
            year, evidence = _year_of_neighbours(out, seg)
            if year is not None:
                seg = replace(read(k, year), year_from=evidence)
        nlines = data.count(b"\n", a, b) + (b == len(data) and not data.endswith(b"\n"))
        launch = Launch(index=k + 1, of=len(bounds) - 1, first_line=first_line + 1, last_line=first_line + nlines)
        out.append(replace(shift_lines(seg, first_line), launch=launch, tail=tuple(tail_of(data[a:b]))))
        first_line += nlines
    if any(s.year is not None for s in out):  # launches before the first one with a known year
        for k in range(len(out) - 1, -1, -1):
            if out[k].year_unknown:
                year, evidence = _year_of_neighbours(out[k + 1 :], out[k], before=True)
                if year is not None:
                    placed = out[k].launch
                    assert placed is not None  # every launch read here has its place
                    seg = shift_lines(read(k, year), placed.first_line - 1)
                    out[k] = replace(seg, launch=out[k].launch, year_from=evidence, tail=out[k].tail)
    return out


def _year_of_neighbours(others: list[Segment], seg: Segment, before: bool = False):
    """(year, evidence) of a console launch without a year, from the nearest launch of
    `others` whose year is known (see the module docstring)."""
    known = [s for s in others if s.year is not None]
    if not known or not seg.start_date:
        return None, None
    ref = known[0] if before else known[-1]
    assert ref.year is not None and ref.start_date is not None and ref.launch is not None
    mine, theirs = seg.start_date[:5], ref.start_date[5:10]  # MM/DD
    year = ref.year - (mine > theirs) if before else ref.year + (mine < theirs)
    return year, f"launch {ref.launch.index} of this file ({ref.year}, {'after' if before else 'before'} it)"


def _line_offsets(data: bytes):
    """Byte offset of every line's start."""
    nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    return np.concatenate(([0], nl + 1))


def _header_start(data: bytes, pos: int) -> int:
    """Back from a Config dump over the few logger lines right above it that are header
    messages, not records (nor output of the launch before, which is not logger lines)."""
    for _ in range(HEADER_LINES_BEFORE_CONFIG):
        if pos == 0:
            break
        prev = data.rfind(b"\n", 0, pos - 1) + 1
        m = ANY_PREFIX.match(data, prev)
        if m is None or _RECORD_START.match(data, m.end()):
            break
        pos = prev
    return pos
