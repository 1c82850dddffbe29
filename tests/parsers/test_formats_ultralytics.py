"""ultralytics results.csv (fixtures/real/set3 entry 8, RT-DETR-L): read, not refused —
it is how every ultralytics RT-DETR user's training is logged. Expected values from the
file with Python's csv module:
  rows                 20 (epochs 1–20)           tail -n +2 F | wc -l
  evaluation values    20 × 7 (metrics/*, val/*)
"""
import csv

from conftest import REAL_SET3

from parsers import ultralytics_csv

F = REAL_SET3 / "samsio2005__UAE-License-Plate-Detection-RT-DETR__results_metrics_rtdetr_training_history.csv"


def test_rows_columns_evaluations():
    rows = list(csv.DictReader(F.open()))
    (d,) = ultralytics_csv.read_drafts(str(F), F.read_text())
    assert d.rows == len(rows) == 20
    assert d.epoch == [float(r["epoch"]) for r in rows] and d.epoch[0] == 1
    assert d.ts == [float(r["time"]) for r in rows]
    assert d.columns()[0] == ["giou_loss", "cls_loss", "l1_loss", "lr", "lr/pg1", "lr/pg2"]
    assert [v["lr"] for v in d.values] == [float(r["lr/pg0"]) for r in rows]
    evals = [k for k in rows[0] if k.startswith(("metrics/", "val/"))]
    assert len(d.evals) == 7 * 20 == len(evals) * len(rows)
    ap = [(e.epoch, e.value) for e in d.evals if e.metric == "metrics/mAP50-95(B)"]
    assert ap == [(float(r["epoch"]), float(r["metrics/mAP50-95(B)"])) for r in rows]
    # set3/README.md entry 8: 0.126 at epoch 1, best 0.866 at epoch 17, 0.863 at epoch 20
    assert round(ap[0][1], 3) == 0.126 and max(ap, key=lambda x: x[1])[0] == 17 and round(ap[-1][1], 3) == 0.863
    assert not d.skipped
