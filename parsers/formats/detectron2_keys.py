"""What detectron2 (and detrex, built on it) names its scalars, shared by its metrics.json,
its console log and its TensorBoard events (all three write the same `EventStorage`).

- `iteration` is the 0-based iteration (`iter: 19` is the 20th); kept as logged.
- `total_loss` is the sum of the loss dict the model returned -> `loss`.
- `eta_seconds` -> the row's eta; `time` / `data_time` (seconds per iteration, the median
  of the last 20) and `lr` keep their names; `max_mem` (console, `22331M`) -> `memory` (MB).
- `<task>/<metric>` for an evaluation task (`bbox/AP`, `segm/AP50`) is an evaluation metric,
  on the 0–100 scale detectron2 reports (kept as logged); any other key is a train column.
"""

from __future__ import annotations

LIBRARY = "detectron2"
# detectron2's JSONWriter and CommonMetricPrinter write each loss as the median of the last 20
# iterations' values (`latest_with_smoothing_hint(20)` / `median(20)`, their default window)
LOSS_MEDIAN_OF = 20
RENAME = {"total_loss": "loss", "max_mem": "memory"}
POSITION_KEYS = ("iteration", "eta_seconds")
EVAL_TASKS = ("bbox", "segm", "keypoints", "sem_seg", "panoptic_seg", "box_proposals")


def is_eval_key(key: str) -> bool:
    head, sep, _ = key.partition("/")
    return bool(sep) and head in EVAL_TASKS


def train_name(key: str) -> str:
    return RENAME.get(key, key)
