"""detectron2 / detrex `metrics.json`: one JSON object per write of `JSONWriter` (every
`log_period` iterations, 20 by default), keys as in parsers.formats.detectron2_keys.

- a row with train scalars -> one train row at `iteration` (steps as logged, 0-based);
- evaluation keys (`bbox/AP` …) -> evaluation rows at that iteration, whether they share
  the row with train scalars or come alone (0–100, as detectron2 reports them);
- a row holding nothing but `eta_seconds` (and `iteration`) is the stub `JSONWriter` writes
  as a launch closes: counted, not a row;
- launches appended to one file are told apart by `iteration` going back, and by the
  launch's closing write: its last row lacks the `eta_seconds` every periodic row carries
  (a launch that crashed at its first iterations leaves only that row, and no stub).
The file has no clock and no arguments: the console log beside it has them
(parsers.formats.detectron2_console).
"""

from __future__ import annotations

import json
import math

from parsers.bounds import MAX_COUNT
from parsers.formats.detectron2_keys import LIBRARY, LOSS_MEDIAN_OF, POSITION_KEYS, is_eval_key, train_name
from parsers.formats.detr_json import first_object
from parsers.formats.records import NAN, Records, lines_of, segments, text_of
from parsers.run import ParseError
from parsers.segment import Segment

FORMAT = "detectron2-json"
STUB = "end-of-launch stub (only `eta_seconds`)"
TRAIN_HINTS = ("total_loss", "lr", "data_time", "eta_seconds")


def sniff(head: bytes) -> bool:
    """The first row has `iteration` and train scalars or evaluation keys, and none of the
    keys that make it mmcv's (`mode`), mmengine's (`step`) or DETR's (`epoch`)."""
    row = first_object(head)
    if row is None or "mode" in row or "step" in row or "epoch" in row or "iteration" not in row:
        return False
    return any(k in row for k in TRAIN_HINTS) or any(is_eval_key(k) for k in row)


def read(source: str, content: list, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    """One Segment per launch (one implementation for both engines; `chunk` is not used)."""
    launches = read_records(source, text_of(content))
    if not any(d.rows or d.evals for d in launches):
        where = min((n for d in launches for ls in d.skipped_lines.values() for n in ls), default=1)
        raise ParseError(source, "no readable detectron2 metrics.json rows", where)
    return segments(launches, LIBRARY, "iter", loss_median_of=LOSS_MEDIAN_OF)


def read_records(source: str, text: str) -> list[Records]:
    launches: list[Records] = []
    cur: Records | None = None
    last_iter = None
    closed = False  # the last train row was a launch's closing write (no eta_seconds)
    for no, line in enumerate(lines_of(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if not isinstance(row, dict):
            (cur or _new(launches, source, no)).skip("line that is not a JSON object", no)
            continue
        it = _count(row.get("iteration"))
        if it is None:
            (cur or _new(launches, source, no)).skip("row without a readable `iteration`", no)
            continue
        has_eta = "eta_seconds" in row
        others = [k for k in row if k not in POSITION_KEYS]
        if cur is None or (last_iter is not None and it < last_iter) or (closed and has_eta and others):
            cur = _new(launches, source, no)
            closed = False
        last_iter = it
        cur.last_line = no
        if not others:
            cur.skip(STUB, no)
            continue
        train: dict[str, float] = {}
        evals = []
        for key in others:
            v = row[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                cur.skip("field that is not a number", no)
                continue
            if is_eval_key(key):
                evals.append((key, float(v)))
            else:
                train[train_name(key)] = float(v)
        eta = row.get("eta_seconds")
        eta = float(eta) if isinstance(eta, (int, float)) and not isinstance(eta, bool) else NAN
        if train:
            cur.row(train, iter=it, step=it, eta_s=eta, line=no)
            closed = not has_eta
        for key, v in evals:
            cur.evaluation(key, v, step=it, line=no)
    if not launches:
        _new(launches, source, 1)
    return launches


def _new(launches: list, source: str, line: int) -> Records:
    d = Records(source, FORMAT, first_line=line, last_line=line)
    launches.append(d)
    return d


def _count(v) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    if v != int(v) or not 0 <= v <= MAX_COUNT:
        return None
    return int(v)
