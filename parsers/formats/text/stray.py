"""Lines of a text launch that are neither logger output nor part of a logged message:
tracebacks, progress bars, other output. Counted in the draft's `skipped`, never dropped
silently; the last traceback's exception is the launch's `traceback`.

Records are one line, so lines after a train/val record cannot be continuation lines of a
message (a Config dump, an environment block or a model repr after their message are).
"""

from __future__ import annotations

import re

import numpy as np

from parsers.tracebacks import exception_after

PROGRESS = re.compile(r"\d+%\||\|[ #█▏▎▍▌▋▊▉]*\||task/s|it/s\]|s/it\]|elapsed: *\d|^\s*\[[ >=#.]*\] *\d+/\d+")
TRACEBACK = b"Traceback (most recent call last)"
MAX_TRACEBACK_LINES = 400  # frames looked at after `Traceback (most recent call last)`
EXCEPTION_SEARCH_LINES = 50  # lines after the last frame searched for the exception


def count_stray(draft, f, prefixed, is_record) -> None:
    """Count the lines of TextFile `f` that are not logger output (`prefixed`) nor part of a
    logged message (a message's block ends at the next logger line; a record has none)."""
    n = f.nlines
    if n == 0:
        return
    marks = np.zeros(n, np.int8)  # 0: not logger output, 1: a message, 2: a record
    marks[prefixed] = 1
    marks[is_record] = 2
    last = np.maximum.accumulate(np.where(marks > 0, np.arange(n), -1))
    owner = np.where(last >= 0, marks[np.maximum(last, 0)], 0)  # 0: before any log line
    stray = (marks == 0) & (owner != 1)
    in_tb = _tracebacks(draft, f)
    if in_tb is not None:
        tb = np.flatnonzero(in_tb & (marks == 0))
        draft.skip("traceback", len(tb), tb + 1)
        stray &= ~in_tb
    idx = np.flatnonzero(stray)
    if len(idx) == 0:
        return
    prog: list[int] = []
    other: list[int] = []
    for i in idx:
        t = f.text(int(i))
        if not t.strip():
            continue
        (prog if PROGRESS.search(t) else other).append(int(i) + 1)
    draft.skip("progress bar", len(prog), prog)
    draft.skip("other output", len(other), other)


def _tracebacks(draft, f):
    """The lines of every traceback (a bool mask; None when there is none); the last one's
    exception into the draft. Tracebacks can follow any line: they are found in the bytes."""
    n = f.nlines
    starts = [int(np.searchsorted(f.starts, pos, side="right")) - 1 for pos in traceback_positions(f.data)]
    if not starts:
        return None
    exception = None
    in_tb = np.zeros(n, bool)
    for s in starts:
        j = s + 1
        while j < n and j - s < MAX_TRACEBACK_LINES:
            t = f.text(j)
            if not (t.startswith((" ", "\t")) or t == ""):
                break
            j += 1
        in_tb[s : min(j + 1, n)] = True
        if j < n:  # the exception line, skipping output interleaved after the last frame
            after = [f.text(k) for k in range(j, min(j + EXCEPTION_SEARCH_LINES, n))]
            exception = exception_after(after) or f.text(j).strip()
    draft.traceback = exception or "Traceback"
    return in_tb


def traceback_positions(data: bytes):
    """Byte positions of `Traceback (most recent call last)` at a line start (or after a
    progress bar's \\r). A literal search: fast on a big log that has none."""
    pos = data.find(TRACEBACK)
    while pos >= 0:
        if pos == 0 or data[pos - 1 : pos] in (b"\n", b"\r"):
            yield pos
        pos = data.find(TRACEBACK, pos + 1)
