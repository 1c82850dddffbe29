"""ultralytics `results.csv` (YOLO and RT-DETR trained with the `ultralytics` package): one
row per epoch, written after each validation.

Header `epoch,time,train/giou_loss,…,metrics/mAP50-95(B),val/giou_loss,…,lr/pg0,lr/pg1,lr/pg2`
(older versions pad every field with spaces; `time` is missing before 8.1). What becomes what:
- `epoch` (counted from 1) -> the row's epoch as logged;
- `time`: seconds since training began, cumulative -> the row's clock (relative);
- `train/<term>` -> train column `<term>` (the loss components of the progress bar; no total
  loss is written, and none is made up: the `loss` column stays empty);
- `lr/pg0` -> `lr` (parameter group 0: the weights with decay), `lr/pg1`, `lr/pg2` kept as
  they are named (pg2, the biases, warms up from a higher lr);
- `metrics/…` and `val/…` -> evaluation metrics under their logged names.
A cell that is not a number is counted; a row with another number of cells than the header
is counted and not read.
"""
from __future__ import annotations

import csv
import io

from parsers.draft import NAN, Draft

FORMAT = "ultralytics-csv"
EPOCH_BASE = 1
REQUIRED = ("epoch",)
TRAIN, EVAL_PREFIXES, LR0 = "train/", ("metrics/", "val/"), "lr/pg0"


def _header(head: bytes) -> list[str] | None:
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    if not first.startswith("epoch") and not first.lstrip().startswith("epoch"):
        return None
    names = [c.strip() for c in first.split(",")]
    return names if names[:1] == ["epoch"] else None


def sniff(head: bytes) -> bool:
    names = _header(head.lstrip())
    return names is not None and any(n.startswith(TRAIN) for n in names) and any(
        n.startswith(EVAL_PREFIXES) for n in names)


def read_drafts(source: str, text: str) -> list[Draft]:
    d = Draft(source, FORMAT)
    d.facts["epoch_base"] = EPOCH_BASE
    d.facts["clock_relative"] = True
    reader = csv.reader(io.StringIO(text))
    names = None
    for no, cells in enumerate(reader, 1):
        if not cells or not any(c.strip() for c in cells):
            continue
        cells = [c.strip() for c in cells]
        if names is None:
            names = cells
            continue
        if len(cells) != len(names):
            d.skip("row with another number of cells than the header", no)
            continue
        values: dict[str, float] = {}
        evals = []
        epoch = ts = NAN
        for name, cell in zip(names, cells):
            try:
                v = float(cell)
            except ValueError:
                d.skip("cell that is not a number", no)
                continue
            if name == "epoch":
                epoch = v
            elif name == "time":
                ts = v
            elif name.startswith(TRAIN):
                values[name[len(TRAIN):]] = v
            elif name == LR0:
                values["lr"] = v
            elif name.startswith(EVAL_PREFIXES):
                evals.append((name, v))
            else:
                values[name] = v
        d.row(values, epoch=epoch, ts=ts, line=no)
        for name, v in evals:
            d.evaluation(name, v, epoch=epoch, line=no)
        d.last_line = no
    return [d]
