"""Facts about one launch (a Segment) that identity and assembly both ask: when it
started, whether it is a resume and from where, its place in time, its launch stamp.

- A launch is a resume when it carries a resume record: a `resumed epoch E, iter I` /
  `resumed from epoch: E, iter I` line (mmcv, printed by `runner.resume()` after
  `resume_from` / `load_from`; mmengine `resumed epoch: E, iter: I` after `resume=True` /
  auto-resume), or an mmcv json whose first line is checkpoint meta (it carries the
  checkpoint's `epoch`). `parsers.identity` also counts a json log whose config asks to
  resume and whose rows start late (it has no record to show).
- Time order: launch time (the first logger line, else the first row's timestamp), then
  resumed after fresh, then the first step, then the file name.
- Launch stamp: `YYYYmmdd_HHMMSS` from the file name (runners name logs and work-dir
  folders so), else from the launch's first line.
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from parsers.meta import ResumePoint
from parsers.patterns import TIMESTAMP, date_format
from parsers.segment import Segment

_STAMP = re.compile(TIMESTAMP)
EPOCH_SCALE = 1e9  # (epoch, iter) folded into one increasing number: epoch * EPOCH_SCALE + iter


def parse_date(text: str | None) -> float | None:
    """Unix seconds (UTC) of a logged date of mmcv's or mmengine's file-log form; None for
    anything else (a console date without a year)."""
    if not text:
        return None
    for fmt in (date_format("mmcv"), date_format("mmengine")):
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def resume_record(seg: Segment) -> ResumePoint | None:
    """Where the launch says it resumed from (its first resume record, or an mmcv json's
    checkpoint meta), as logged; None when it carries no such record."""
    if seg.resumes:
        r = seg.resumes[0]
        return ResumePoint(epoch=r.epoch, iter=r.iter)
    jm = seg.json_meta or {}
    if jm.get("epoch") is not None:
        return ResumePoint(epoch=jm.get("epoch"), iter=jm.get("iter"))
    return None


def segment_order(seg: Segment) -> tuple:
    """Sort key of a segment: launch time, then resumed after fresh, then first step."""
    t = parse_date(seg.start_date)
    first_ts = seg.ts[0] if len(seg.ts) else np.nan
    if t is None and not np.isnan(first_ts):
        t = float(first_ts)
    resumed = 1 if resume_record(seg) is not None else 0
    first_step = np.nan
    if len(seg.epoch):
        first_step = (
            float(seg.epoch[0] * EPOCH_SCALE + seg.iter[0]) if not np.isnan(seg.epoch[0]) else float(seg.iter[0])
        )
    if len(seg.step) and not np.isnan(seg.step[0]):
        first_step = float(seg.step[0])
    return (t if t is not None else float("inf"), resumed, first_step if not np.isnan(first_step) else 0.0, seg.source)


def launch_stamp(seg: Segment) -> str | None:
    """`YYYYmmdd_HHMMSS` of a segment's launch: from its file name, else its first line."""
    parts = str(seg.source).replace("\\", "/").split("/")
    for part in reversed(parts[-3:]):  # <ts>.log, <ts>/<ts>.log, <ts>/vis_data/scalars.json
        m = _STAMP.search(part)
        if m:
            return m.group(0)
    if seg.year_unknown:
        return None  # a console launch without a year: its clock counts from a stand-in year
    start = parse_date(seg.start_date)
    if start is None and len(seg.ts) and np.isfinite(seg.ts[0]):
        start = float(seg.ts[0])
    return None if start is None else _dt.datetime.fromtimestamp(start, _dt.timezone.utc).strftime("%Y%m%d_%H%M%S")
