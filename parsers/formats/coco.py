"""COCO detection metrics as DETR-family logs write them: named, by content.

Two shapes carry them:
- a list of 12 numbers, pycocotools' `COCOeval.stats` (DETR's `test_coco_eval_bbox`), in
  pycocotools' fixed order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl;
- the printed summary, one line per number
  (` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.157`).
  A line is named by what it states (IoU, area, maxDets), never by its position: forks
  change the list (Deformable-DETR-Bezier prints AR at IoU 0.50 and 0.75 where pycocotools
  prints AR at maxDets 1 and 10).

`-1.0` is pycocotools' "no object of that size in the ground truth": the metric does not
exist for that dataset, so it is no evaluation row (counted by the caller), never a value.
"""

from __future__ import annotations

import math
import re

STATS_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
NO_OBJECTS = -1.0
NO_OBJECTS_REASON = "COCO metric -1.0 (no object of that size): no evaluation row"

SUMMARY_LINE = re.compile(
    r"^\s*Average (?:Precision|Recall)\s+\((?P<kind>AP|AR)\) @\[ IoU=(?P<iou>[0-9.:]+)\s*\|"
    r" area=\s*(?P<area>[a-z]+) \| maxDets=\s*(?P<dets>\d+) \] = (?P<value>-?[0-9.]+(?:e-?\d+)?)\s*$"
)
_IOU = {"0.50:0.95": "", "0.50": "50", "0.75": "75"}
_AREA = {"all": "", "small": "s", "medium": "m", "large": "l"}


def stats_metrics(values) -> tuple[list[tuple[str, float]], int]:
    """([(name, value)], count of -1.0 dropped) for a `COCOeval.stats` list. A list of
    another length, or a non-number in it, is no COCO list: ([], 0) (the caller counts it)."""
    if not isinstance(values, list) or len(values) != len(STATS_NAMES):
        return [], 0
    out, absent = [], 0
    for name, v in zip(STATS_NAMES, values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return [], 0
        if v == NO_OBJECTS:
            absent += 1
            continue
        out.append((name, float(v)))
    return out, absent


def summary_metric(line: str) -> tuple[str, float] | None:
    """(name, value) of one pycocotools summary line, None for any other line; the value
    of a `-1.000` line is -1.0 (the caller drops and counts it)."""
    m = SUMMARY_LINE.match(line)
    if m is None:
        return None
    value = float(m.group("value"))
    if not math.isfinite(value):
        return None
    return summary_name(m.group("kind"), m.group("iou"), m.group("area"), int(m.group("dets"))), value


def summary_name(kind: str, iou: str, area: str, dets: int) -> str:
    """pycocotools' short names where the line is one of its standard twelve (AP50, APs,
    AR10 …); otherwise the same pattern spelled out (`AR50`, `AP@300`)."""
    iou_part = _IOU.get(iou, iou.replace("0.", "").replace(":", "-"))
    area_part = _AREA.get(area, area)
    if kind == "AR" and not iou_part and not area_part:
        return f"AR{dets}"
    name = f"{kind}{iou_part}{area_part}"
    return name if dets == 100 else f"{name}@{dets}"
