"""A big text log read in pieces, so that its bytes never all sit in memory.

`read_text(name, bytes)` needs the whole file's bytes while it parses (a 1 GB log: 1 GB
held, plus the rows being built). A text log larger than CHUNK is instead read CHUNK
bytes at a time, each piece parsed by `read_text` as a log of its own, and the pieces'
rows concatenated (`concat_segments`): the peak is the rows kept (compact floats, about
a third of the text) plus one piece. The result is the segment `read_text` gives for the
whole file (tests/parsers/test_chunked.py compares them on the real logs):

- a piece ends just before a train/val record line (records are one line, and a record
  ends any multi-line message, traceback or block before it), so no message is cut; a
  piece without one grows until it has one: the header (environment, Config dump,
  model) is read whole;
- whether the file is a console capture is a property of the whole file (a traceback
  or a progress bar anywhere): it is found first by a scan of the bytes, then imposed
  on every piece;
- line numbers (skipped lines) count from the file's first line.

`bevlog.live` follows a growing log with the same pieces (`concat_segments`,
`shift_lines`, `slice_rows`).
"""
from __future__ import annotations

import os
import re
import stat
from collections import Counter

CHUNK = 64 << 20
# the start of a line that is a train/val record: `<prefix> - LEVEL - Epoch [`, `Iter(val) [` …
RECORD_LINE = re.compile(rb"\n[^\n]{0,200}? - [A-Z]+ - (?:Epoch|Iter)(?:\([a-z]+\))? *\[")
TRACEBACK = b"Traceback (most recent call last)"
# header facts (parsers.formats.text.header, parsers.formats.text.reader) kept from their first statement / summed
FIRST_WINS = ("exp_name", "seed")
FIRST_PIECE = ("start_date", "start_ms")  # the file's first logger line
SUMMED = ("log_lines", "env_gpus", "fast_train_rows")


def is_big_text(path: str, chunk: int = CHUNK) -> bool:
    """A regular, uncompressed file larger than `chunk` that `parsers.formats` calls text
    (from its first and last MB, as it does for any file)."""
    from parsers.formats import SNIFF, detect

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size <= chunk:
            return False
        with open(path, "rb") as f:
            head = f.read(SNIFF)
            f.seek(st.st_size - SNIFF)
            tail = f.read(SNIFF)
    except OSError:
        return False
    return not head.startswith(b"\x1f\x8b") and detect(head + b"\n" + tail) == "text"


def cut_point(data: bytes) -> int:
    """Where a piece of a file ends: at the start of its last record line (0: it has none
    after its first line)."""
    for tail in (max(0, len(data) - (1 << 20)), 0):
        last = -1
        for m in RECORD_LINE.finditer(data, tail):
            last = m.start()
        if last >= 0:
            return last + 1
        if tail == 0:
            break
    return 0


def looks_like_console_file(path: str) -> bool:
    """`parsers.formats.text.reader.looks_like_console` for a file whose first line is logger output:
    a traceback or a progress bar's bare '\\r' anywhere, found by a scan of its bytes."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return False
            data = carry + block
            if TRACEBACK in data:
                return True
            # a bare '\r' (not ending a line): a progress bar redrawing itself
            if data.count(b"\r") - data.count(b"\r\n") - data.endswith(b"\r") > 0:
                return True
            carry = data[-len(TRACEBACK):]


def read_text_chunks(path: str, name: str, chunk: int = CHUNK):
    """The Segment of a text log, read `chunk` bytes at a time."""
    from parsers.formats.text.reader import read_text

    pieces = []
    lines = 0
    fmt = None
    year, stamp = file_year(path, chunk)  # a console capture's year is the whole file's
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        at = 0
        while at < size:
            f.seek(at)
            data = f.read(chunk)
            # a piece ends where a record line starts; one that holds none (the header, a
            # long block or traceback) grows until it does, or to the end of the file
            while at + len(data) < size and cut_point(data) == 0:
                data += f.read(max(chunk, len(data)))
            if at + len(data) < size:
                data = data[: cut_point(data)]
            if fmt is None:
                first = read_text(name, data, year=year)
                console = first.format == "console" or looks_like_console_file(path)
                fmt = "console" if console else "text"
                seg = first if (first.format == "console") == console else read_text(name, data, fmt, year=year)
            else:
                seg = read_text(name, data, fmt, year=year)
                shift_lines(seg, lines)
            pieces.append(seg)
            at += len(data)
            lines += data.count(b"\n")
            del data
    out = concat_segments(pieces)
    if stamp and "year" in out.header:
        out.header["year_from"] = f"Exp name timestamp {stamp}"
    return out


def file_year(path: str, chunk: int = CHUNK):
    """(year, stamp) of a console capture without a year (`parsers.formats.text.reader.launch_year`),
    from the whole file read `chunk` bytes at a time: the first logger line's date and the
    first `Exp name` may lie in different pieces."""
    from parsers.formats.text.reader import _CONSOLE_DATE, _EXP_NAME, year_of

    first = None
    keep = 200  # bytes carried over, so that a line cut between pieces is still found
    with open(path, "rb") as f:
        tail = b""
        while data := f.read(chunk):
            data = tail + data
            first = first or _CONSOLE_DATE.search(data)
            exp = _EXP_NAME.search(data)
            if exp is not None:
                return year_of(first, exp)
            tail = data[-keep:]
    return None, None


def shift_lines(seg, by: int) -> None:
    """Line numbers of a piece counted from the file's first line."""
    seg.skipped_lines = {k: [n + by for n in v] for k, v in seg.skipped_lines.items()}
    if seg.header.get("resumes"):
        seg.header["resumes"] = [{**r, "line": r["line"] + by} for r in seg.header["resumes"]]
    if seg.header.get("checkpoints"):
        seg.header["checkpoints"] = [(i + by, *rest) for i, *rest in seg.header["checkpoints"]]
    for key in ("config_lines", "env_lines"):  # where each launch's blocks start
        if seg.header.get(key):
            seg.header[key] = [n + by for n in seg.header[key]]


def slice_rows(seg, start: int):
    """The segment's train rows from `start` on (views), with its header (no evaluations)."""
    from parsers.segment import Segment

    out = Segment(source=seg.source, format=seg.format, library=seg.library, runner=seg.runner)
    for name in ("epoch", "iter", "n", "step", "ts", "eta_s", "values", "present"):
        v = getattr(seg, name)
        setattr(out, name, v[start:] if v is not None and len(v) == seg.rows else v)
    out.keys = list(seg.keys)
    out.header = {k: (list(v) if isinstance(v, list) else v) for k, v in seg.header.items()}
    out.skipped = Counter(seg.skipped)
    out.skipped_lines = {k: list(v) for k, v in seg.skipped_lines.items()}
    return out


class _Part:
    def __init__(self, seg):
        import numpy as np

        self.names = list(seg.keys)
        self.values = seg.values if seg.values is not None else np.zeros((seg.rows, 0))
        self.present = seg.present if seg.present is not None else ~np.isnan(self.values)


def concat_segments(segs):
    """Pieces of one file, in order, as one Segment (the first piece's object, extended).
    Header facts combine as `parsers.formats.text.header.read_messages` does over a whole file: lists
    (resumes, checkpoints) and counts add up, a few facts keep their first statement
    (FIRST_WINS), any other fact its last one (the config, the plan, the traceback)."""
    import numpy as np

    from parsers.stack import stack_values

    segs = [s for s in segs if s is not None]
    if len(segs) <= 1:
        return segs[0] if segs else None
    out = segs[0]
    counts = [s.rows for s in segs]
    before = [sum(counts[:k]) for k in range(len(segs))]
    with_rows = [s for s, n in zip(segs, counts) if n]
    if with_rows and not (len(with_rows) == 1 and with_rows[0] is out):
        for name in ("epoch", "iter", "n", "step", "ts", "eta_s"):
            cols = []
            for s in with_rows:
                v = getattr(s, name)
                cols.append(v if v is not None and len(v) == s.rows else np.full(s.rows, np.nan))
            setattr(out, name, np.concatenate(cols))
        parts = [_Part(s) for s in with_rows]
        for s in with_rows:
            s.values = s.present = None  # held by `parts` only: freed once stacked
        out.keys, out.values, out.present = stack_values(parts, lambda p: len(p.values))
        del parts
    for s, rows_before in zip(segs[1:], before[1:]):
        _append(out, s, rows_before)
    return out


def _append(a, b, rows_before_b: int) -> None:
    """b's evaluations, counts and header facts into a (b's rows come after rows_before_b)."""
    a.eval_epoch.extend(b.eval_epoch)
    a.eval_after_row.extend(rows_before_b + int(r) for r in b.eval_after_row)  # -1: after a's rows
    a.eval_step.extend(b.eval_step)
    a.eval_metric.extend(b.eval_metric)
    a.eval_value.extend(b.eval_value)
    a.test_metrics.update(b.test_metrics)
    a.runner = a.runner or b.runner
    for reason, count in b.skipped.items():
        a.skip(reason, count, b.skipped_lines.get(reason, ()))
    for key, value in b.header.items():
        if key in ("resumes", "checkpoints", "config_lines", "env_lines"):
            a.header.setdefault(key, []).extend(value)
        elif key == "val_lines":  # counts of kinds of val lines
            into = a.header.setdefault(key, {})
            for kind, n in value.items():
                into[kind] = into.get(kind, 0) + n
        elif key in FIRST_PIECE:
            a.header.setdefault(key, value)  # the file's first logger line: the first piece that has one
        elif key in SUMMED:
            a.header[key] = a.header.get(key, 0) + value
        elif key not in FIRST_WINS or key not in a.header:
            a.header[key] = value
