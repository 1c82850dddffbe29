"""detectron2 / detrex `metrics.json`: one JSON object per write of `JSONWriter` (every
`log_period` iterations, 20 by default), keys as in parsers.detectron2_keys.

- a row with train scalars -> one train row at `iteration` (steps as logged, 0-based);
- evaluation keys (`bbox/AP` …) -> evaluation rows at that iteration, whether they share
  the row with train scalars or come alone;
- a row holding nothing but `eta_seconds` (and `iteration`) is the stub `JSONWriter` writes
  as a launch closes: counted, not a row;
- launches appended to one file are told apart by `iteration` going back, and by the
  launch's closing write: its last row lacks the `eta_seconds` every periodic row carries
  (a launch that crashed at its first iterations leaves only that row, and no stub).
"""
from __future__ import annotations

import json
import math

from parsers.bounds import MAX_COUNT
from parsers.detectron2_keys import POSITION_KEYS, is_eval_key, train_name
from parsers.draft import NAN, Draft

FORMAT = "detectron2-json"
STUB = "end-of-launch stub (only `eta_seconds`)"
FIRST_LINE_BYTES = 1 << 20
# keys by which a first row is detectron2's and not another JSON-lines log
SIGNATURE = ("iteration",)
TRAIN_HINTS = ("total_loss", "lr", "data_time", "eta_seconds")


def sniff(head: bytes) -> bool:
    from parsers.detr_json import _first_object

    row = _first_object(head)
    if row is None or "mode" in row or "step" in row or "epoch" in row:
        return False
    return all(k in row for k in SIGNATURE) and (
        any(k in row for k in TRAIN_HINTS) or any(is_eval_key(k) for k in row))


def read_drafts(source: str, text: str) -> list[Draft]:
    launches: list[Draft] = []
    cur: Draft | None = None
    last_iter = None
    closed = False  # the last train row was a launch's closing write (no eta_seconds)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for no, line in enumerate(lines, 1):
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
    for d in launches:
        if d.rows and d.step[0] > _first_logged_period(d):
            d.facts["resumed_from_iter"] = int(d.step[0])
    return launches


def _first_logged_period(d: Draft) -> float:
    """The first iteration a fresh launch logs: detectron2 writes at `log_period - 1` (19 for
    the default 20) and, after a crash at the start, at the iteration it reached. A launch
    whose first row lies beyond twice its logging period resumed from a checkpoint."""
    import numpy as np

    steps = np.asarray(d.step, float)
    gaps = np.diff(steps)
    gaps = gaps[gaps > 0]
    period = float(np.median(gaps)) if len(gaps) else 20.0
    return 2 * period


def _new(launches: list, source: str, line: int) -> Draft:
    d = Draft(source, FORMAT, first_line=line, last_line=line)
    d.facts["iter_base"] = 0
    launches.append(d)
    return d


def _count(v) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    if v != int(v) or not 0 <= v <= MAX_COUNT:
        return None
    return int(v)
