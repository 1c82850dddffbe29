"""ultralytics results.csv (fixtures/real/set3 entry 8, RT-DETR-L): recognised and refused
with one line that says what it is and why (it logs loss components but no total loss,
which bevlog's diagnoses read: an absent loss would be judged as a non-finite one). Named
on the command line it is a problem (exit 2); a directory search does not look at csv files."""

import shutil
import subprocess

import pytest
from repo_paths import REAL_SET3

import parsers
from parsers import ParseError, read_file

F = REAL_SET3 / "samsio2005__UAE-License-Plate-Detection-RT-DETR__results_metrics_rtdetr_training_history.csv"


def test_refused_by_name():
    with pytest.raises(ParseError) as e:
        read_file(str(F))
    assert (
        str(e.value) == f"{F}:1: an ultralytics results.csv (one row per epoch: loss components, metrics/mAP, "
        "lr/pg0-2): not read — it logs no total loss, which bevlog's diagnoses read"
    )


def test_the_cli_names_it_in_one_line():
    out = subprocess.run(["bevlog", "diagnose", str(F)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "ultralytics results.csv" in out.stderr


def test_a_directory_search_leaves_it_alone(tmp_path):
    shutil.copy(F, tmp_path / "results.csv")
    shutil.copy(REAL_SET3 / "rarefin__detr__outputs_log.txt", tmp_path / "log.txt")
    runs, problems = parsers.read_paths([str(tmp_path)])
    assert not problems and [len(r.train) for r in runs] == [46]
