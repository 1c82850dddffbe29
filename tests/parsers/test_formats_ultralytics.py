"""ultralytics results.csv (fixtures/real/set3 entry 8, RT-DETR-L, 20 epochs): read into one
run of one row per epoch. Every expected number is read back from the csv with the csv module;
the total loss the file never wrote stays absent (no finding judges or makes one up)."""

import csv
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from repo_paths import REAL_SET3

import parsers
from parsers import ParseError, read_file

F = REAL_SET3 / "samsio2005__UAE-License-Plate-Detection-RT-DETR__results_metrics_rtdetr_training_history.csv"
HEADLINE = "metrics/mAP50-95(B)"


def _rows(path=F) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(f, skipinitialspace=True)]


def _numbers_of(path=F) -> set[float]:
    return {float(v) for row in _rows(path) for v in row.values()}


def test_one_row_per_epoch_as_the_file_counts_them():
    rows = _rows()
    (seg,) = read_file(str(F))
    assert seg.format == "ultralytics-csv" and seg.epoch_rows and seg.epoch_base is None
    assert seg.rows == len(rows) == 20 and not seg.skipped
    assert seg.epoch.tolist() == [float(r["epoch"]) for r in rows] == list(range(1, 21))
    assert seg.step.tolist() == seg.epoch.tolist()
    assert seg.ts.tolist() == [float(r["time"]) for r in rows]  # cumulative seconds, no date
    assert seg.year_unknown and seg.start_date is None


def test_loss_terms_lr_and_no_total():
    rows = _rows()
    run = parsers.read(str(F))
    t = run.train
    assert "loss" not in read_file(str(F))[0].keys
    assert np.isnan(t["loss"]).all()  # the frame's total column: no value the file did not write
    for term in ("giou_loss", "cls_loss", "l1_loss"):
        assert t[term].tolist() == [float(r[f"train/{term}"]) for r in rows]
    assert t["lr"].tolist() == [float(r["lr/pg0"]) for r in rows]
    assert t["lr/pg2"].tolist() == [float(r["lr/pg2"]) for r in rows]
    assert run.meta.lr_key == "lr" and run.meta.step_unit == "epoch"


def test_metrics_and_val_losses_are_evaluations_per_epoch():
    rows = _rows()
    run = parsers.read(str(F))
    ev = run.evals
    names = [k for k in rows[0] if k.startswith(("metrics/", "val/"))]
    assert len(ev) == len(rows) * len(names) == 140
    for name in names:
        got = ev[ev["metric"] == name].sort_values("epoch")
        assert got["epoch"].tolist() == [float(r["epoch"]) for r in rows]
        assert got["value"].tolist() == [float(r[name]) for r in rows]


def test_the_headline_is_box_map50_95():
    from bevlog.evaluations import headline_series

    rows = _rows()
    s = headline_series(parsers.read(str(F)))
    assert s is not None and s.name == HEADLINE
    assert s.value.tolist() == [float(r[HEADLINE]) for r in rows]
    best = max(rows, key=lambda r: float(r[HEADLINE]))
    assert (best["epoch"], best[HEADLINE]) == ("17", "0.86596")  # README entry 8: best at epoch 17


def _cli(*args, path=F):
    return subprocess.run(["bevlog", *args, str(path)], capture_output=True, text=True, timeout=300)


def test_parse_and_compare_read_it():
    out = _cli("parse", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert not data["problems"] and len(data["runs"]) == 1
    out = subprocess.run(
        ["bevlog", "compare", str(F), str(REAL_SET3 / "rarefin__detr__outputs_log.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "total losses sum different terms" not in out.stdout  # the csv has no total to compare


def test_diagnose_judges_no_total_and_quotes_only_the_file():
    out = _cli("diagnose", "--format", "json")
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)["runs"]
    assert run["verdict_line"] == "healthy — nothing to fix (1 note)"
    findings = run["findings"]
    assert [f["rule"] for f in findings] == ["log-integrity"]
    assert "no total loss, only its terms (giou_loss, cls_loss, l1_loss)" in findings[0]["message"]
    in_file = _numbers_of()
    for f in findings:
        text = f["message"].lower()
        assert "nan" not in text and "non-finite" not in text and "inf" not in text.split()
        for number in re.findall(r"(?<![\w.])\d+\.\d+(?:e[-+]?\d+)?", f["message"]):
            assert any(math.isclose(float(number), v, rel_tol=5e-3) for v in in_file), number


def test_padded_fields_read_the_same(tmp_path):
    """Older ultralytics versions pad every field with spaces (`%23s,` / `%23.5g,`)."""
    lines = F.read_text().splitlines()
    padded = tmp_path / "results.csv"
    padded.write_text("\n".join(",".join(f"{c:>23}" for c in line.split(",")) for line in lines) + "\n")
    (a,) = read_file(str(F))
    (b,) = read_file(str(padded))
    assert b.keys == a.keys and np.array_equal(b.values, a.values, equal_nan=True)
    assert b.eval_metric == a.eval_metric and b.eval_value == a.eval_value and b.epoch.tolist() == a.epoch.tolist()
    assert _cli("diagnose", path=padded).returncode == 0


def test_a_damaged_row_is_a_skipped_counted_line(tmp_path):
    lines = F.read_text().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]  # epoch 5's row cut mid-write: too few fields
    lines[7] = lines[7].replace(",", ",x", 1)  # epoch 7: a field that is no number
    damaged = tmp_path / "results.csv"
    damaged.write_text("\n".join(lines) + "\n")
    (seg,) = read_file(str(damaged))
    assert seg.rows == 18 and 5.0 not in seg.epoch and 7.0 not in seg.epoch
    assert seg.skipped == {
        "row whose field count is not the header's": 1,
        "row with a field that is not a number": 1,
    }
    assert seg.skipped_lines == {
        "row whose field count is not the header's": (6,),
        "row with a field that is not a number": (8,),
    }


def test_a_file_of_no_readable_row_is_a_problem_naming_file_and_line(tmp_path):
    header = F.read_text().splitlines()[0]
    bad = tmp_path / "results.csv"
    bad.write_text(header + "\n1,2,3\n")
    with pytest.raises(ParseError) as e:
        read_file(str(bad))
    assert str(e.value) == f"{bad}:2: no readable ultralytics results.csv row"
    out = _cli("diagnose", path=bad)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: {bad}:2: no readable ultralytics results.csv row"]


def test_a_directory_search_leaves_it_alone(tmp_path):
    """A directory search does not look at csv files: a results.csv is read when named."""
    shutil.copy(F, tmp_path / "results.csv")
    shutil.copy(REAL_SET3 / "rarefin__detr__outputs_log.txt", tmp_path / "log.txt")
    runs, problems = parsers.read_paths([str(tmp_path)])
    assert not problems and [len(r.train) for r in runs] == [46]


def test_a_file_counting_epochs_from_0_keeps_its_base(tmp_path):
    """Epochs as the file counts them: a file whose first row is epoch 0 keeps that base
    (`epoch_base` 0, epochs counted from 1 in the frames, like DETR's log.txt)."""
    lines = F.read_text().splitlines()
    shifted = tmp_path / "results.csv"
    shifted.write_text(
        "\n".join([lines[0]] + [f"{int(line.split(',', 1)[0]) - 1},{line.split(',', 1)[1]}" for line in lines[1:]])
        + "\n"
    )
    (seg,) = read_file(str(shifted))
    assert seg.epoch_base == 0 and seg.epoch.tolist() == [float(r["epoch"]) for r in _rows()]
