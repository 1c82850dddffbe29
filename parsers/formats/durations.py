"""Durations as training logs print them: `0:02:13`, `14:47:53`, `4 days, 6:29:58`
(Python's `str(datetime.timedelta)`, which DETR's MetricLogger, detectron2 and RF-DETR use).
"""

from __future__ import annotations

import math
import re

from parsers.formats.text.kv import ETA

_DURATION = re.compile(ETA)


def duration_seconds(text) -> float:
    """Seconds of a printed duration; NaN for anything else (a number, a date, junk)."""
    if not isinstance(text, str):
        return math.nan
    m = _DURATION.match(text.strip())
    if m is None:
        return math.nan
    days = int(m.group("d")) if m.group("d") else 0
    if days > 10**6:  # a log's number, bounded before it becomes a duration
        return math.nan
    return days * 86400.0 + int(m.group("h")) * 3600.0 + int(m.group("m")) * 60.0 + float(m.group("s"))
