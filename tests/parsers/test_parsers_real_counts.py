"""Every real log in fixtures/real (set1 and set2, every file) reads through
parsers.read_file with exactly the train rows and evaluation values that plain
regexes find in the file (the `grep` of each line below, written out in Python so that the
expectation is derived from the file itself, independently of the parser), through both
engines.

The greps (run in fixtures/real; F = the file):
  train, mmcv text       grep -cE ' - INFO - (Epoch|Iter) \\[' F
  train, mmengine text   grep -cE ' - INFO - (Epoch|Iter)\\(train\\) *\\[' F
  eval values, text      grep -E ' - INFO - (Epoch|Iter)\\(val\\)' F | grep -v 'eta: ' \\
                           | grep -oE '(^|[[:space:],])[^[:space:]:,]+: ' \\
                           | grep -vE '(time|data_time|memory|lr): ' | wc -l
                         (progress lines carry `eta:`; a summary's values minus time/memory)
  train, mmcv json       grep -c '"mode": "train"' F
  eval values, mmcv json grep '"mode": "val"' F | grep -o '"[^"]*": ' \\
                           | grep -vE '"(mode|epoch|iter|lr|time|data_time|memory)": ' | wc -l
  train, mmengine json   grep -c '"lr": ' F            (set2/README: rows with an lr key)
  eval values, mmengine  grep -v '"lr": ' F | grep -o '"[^"]*": ' \\
                           | grep -vE '"(step|epoch|iter|time|data_time|memory)": ' | wc -l

A few totals stated by the READMEs (set1/README.md, set2/README.md) are checked against
the same greps in `README_COUNTS`, so the greps are known to count what the READMEs count.
"""

import re
from pathlib import Path

import pytest
from parsers_testlib import (
    grep_counts,
)
from repo_paths import REAL_LOGS

from parsers import ParseError, read_file

# set3 (DETR-family formats) has its own counts, by jq and grep: tests/parsers/test_formats_*.py
LOGS = sorted(p for s in ("set1", "set2") for p in (REAL_LOGS / s).rglob("*") if p.is_file() and p.name != "README.md")
NOT_LOGS = [p for p in LOGS if p.suffix == ".py"]  # the configs beside some logs


# (train lines, eval lines with metrics) as the READMEs state them, and the regex that
# finds those eval lines: the greps above must agree with the READMEs.
README_COUNTS = {
    "set1/PrymceQ__3DDetection_DETR3D__20230727_114037.log": (3360, 12, r"Epoch\(val\)"),
    "set1/PrymceQ__BEVModel_StreamPETR__20230725_174411.log": (843, 1, r"Iter\(val\)"),
    "set1/eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log": (2, 0, r"\(val\)"),
    "set2/STEALMOO__CAICON__nohup.out": (11572, 19, r"Epoch\(val\).*coco/bbox_mAP"),
    "set2/woxinyonghen__OpenMMLabCamp__slurm-300830.out": (100, 20, r"Iter\(val\) \[1206/1206\]  aAcc"),
    "set2/woxinyonghen__OpenMMLabCamp__20230211_201914.log": (100, 20, r"Iter\(val\) \[1206/1206\]  aAcc"),
    "set2/CVIU-CSU__EPCPE__20240308_185617/20240308_185617.log": (400, 4, r"Epoch\(val\).*coco/bbox_mAP"),
    "set2/CVIU-CSU__EPCPE__20240310_192200.log": (400, 4, r"Epoch\(val\).*coco/bbox_mAP"),
    "set2/CVIU-CSU__EPCPE__20240302_182333.log": (1360, 3, r"Epoch\(val\).*coco/bbox_mAP"),
    "set2/zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10/20211207_135738.log": (
        750,
        5,
        r"Epoch\(val\).*bbox_mAP",
    ),
    "set2/zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10/20211207_235354.log": (
        600,
        8,
        r"Epoch\(val\).*bbox_mAP",
    ),
    "set2/zhaoyang97__mmdetection__ifcos_moco/20201016_165717.log": (444, 12, r"Epoch\(val\).*bbox_mAP"),
    "set2/zhaoyang97__mmdetection__20201026_160501.log": (535, 4, r"Epoch\(val\).*mAP: "),
    "set2/zhaoyang97__mmdetection__20210222_195422.log": (310, 0, r"Epoch\(val\)"),
    "set2/zhaoyang97__mmdetection__20201029_114818.log": (1488, 12, r"Epoch\(val\).*mAP: "),
    "set2/Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco/20241024_154827.log": (0, 0, r"\(val\)"),
    "set2/hochstadtb__mmdetection3d__20220821_233842.log": (408, 5, r"Epoch\(val\)"),
    "set2/boostcampaitech3__level2-object-detection-level2-cv-11__20220328_030936.log": (216, 24, r"Epoch\(val\)"),
}


def _id(p: Path) -> str:
    return str(p.relative_to(REAL_LOGS))


def test_every_file_is_covered():
    assert len([p for p in LOGS if _id(p).startswith("set1/")]) == 7  # set1/README.md: 7 files
    assert len([p for p in LOGS if _id(p).startswith("set2/")]) == 38  # set2/README.md: 38 files
    assert {_id(p) for p in NOT_LOGS} == {
        "set2/CVIU-CSU__EPCPE__20240308_185617/vis_data/config.py",
        "set2/Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco/co_dino_5scale_r50_1x_coco.py",
        "set2/XueSongTap__mmdetection3d__20231003_125657/vis_data/config.py",
        "set2/zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10/faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10.py",
        "set2/zhaoyang97__mmdetection__ifcos_moco/ifcos_moco.py",
    }


@pytest.mark.parametrize("path", [p for p in LOGS if p not in NOT_LOGS], ids=_id)
def test_real_log_reads_with_grep_counts(path, engine):
    train, evals = grep_counts(path)
    segments = read_file(str(path), engine=engine)
    assert sum(s.rows for s in segments) == train
    assert sum(len(s.eval_metric) for s in segments) == evals
    assert all(len(s.eval_value) == len(s.eval_metric) == len(s.eval_epoch) for s in segments)


@pytest.mark.parametrize("path", NOT_LOGS, ids=_id)
def test_configs_beside_the_logs_are_not_logs(path):
    with pytest.raises(ParseError, match="not a training log"):
        read_file(str(path))


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_greps_count_what_the_readmes_state(name):
    path = REAL_LOGS / name
    train, eval_lines, summary = README_COUNTS[name]
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    assert grep_counts(path)[0] == train
    assert sum(bool(re.search(r" - INFO - " + summary, line)) for line in lines) == eval_lines
