"""tools/make_experiments.py on a fake seeded sweep made of real committed bevdetr logs.

Nothing is trained: three genuine tiny-preset logs from fixtures/runs/issue13 stand in for
`base-s0`, `base-s1` and `cyclic-5x-s0`. Expected numbers are computed here from the .log.json
files with plain json, not through parsers / bevlog (which read the text log, 4 decimals).
"""

import gzip
import importlib.util
import json
import math
import os
import shutil
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import parsers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISSUE13 = os.path.join(ROOT, "fixtures", "runs", "issue13")
FAKE = {"base-s0": "tiny-lr1e-3", "base-s1": "tiny-lr1e-3-nodropout", "cyclic-5x-s0": "tiny3-lr2e-3"}
TOL = 6e-4  # 3-decimal tables of 4-decimal text-log values against 5-decimal json values


@pytest.fixture(scope="module")
def mx():
    spec = importlib.util.spec_from_file_location(
        "make_experiments", os.path.join(ROOT, "tools", "make_experiments.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for name, src in FAKE.items():
        d = root / name
        d.mkdir(parents=True)
        for f in os.listdir(os.path.join(ISSUE13, src)):
            shutil.copy(os.path.join(ISSUE13, src, f), d / f)
        (d / "sweep.done").write_text(json.dumps({"run": name, "wall_s": 60}))
        (d / "epoch_1.pth").write_bytes(b"not a log")  # checkpoints are not copied
    (root / "layers-6-s0").mkdir()  # unfinished: no sweep.done
    return str(root)


def json_rows(name, mode):
    path = next(f for f in os.listdir(os.path.join(ISSUE13, FAKE[name])) if f.endswith(".log.json"))
    with open(os.path.join(ISSUE13, FAKE[name], path)) as f:
        return [r for r in map(json.loads, f) if r.get("mode") == mode]


def final_map(name):
    return json_rows(name, "val")[-1]["bevdetr/mAP"]


def takeoff_epoch(name):
    return next((r["epoch"] for r in json_rows(name, "val") if r["bevdetr/mAP"] >= 0.05), None)


def row(table, run):
    line = next(li for li in table.splitlines() if f"| `{run}` |" in li)
    return [c.strip() for c in line.strip().strip("|").split("|")]


def mean_sd_cell(cell):
    m, sd = cell.split(" ± ")
    return float(m), (None if sd == "–" else float(sd))


def test_tables_are_the_logs_numbers(mx, sweep, tmp_path):
    parts = mx.sections(sweep, str(tmp_path / "fig"), str(tmp_path))
    lr = parts["lr"]
    assert "reference arm **1e-3** (`base`)" in lr

    base = row(lr, "base")
    a, b = final_map("base-s0"), final_map("base-s1")
    assert base[2] == "2"
    m, sd = mean_sd_cell(base[3])
    assert abs(m - (a + b) / 2) < TOL and abs(sd - abs(a - b) / math.sqrt(2)) < TOL
    took = [e for e in (takeoff_epoch("base-s0"), takeoff_epoch("base-s1")) if e is not None]
    assert base[5].startswith(f"{len(took)}/2")
    ends = [sum(r["loss_cls"] + r["loss_bbox"] for r in json_rows(n, "train")[-5:]) / 5 for n in ("base-s0", "base-s1")]
    m, _ = mean_sd_cell(base[6])
    assert abs(m - sum(ends) / 2) < TOL
    assert base[7] == "reference" and base[12] == "1.0"

    high = row(lr, "cyclic-5x")
    assert high[2] == "1" and high[3].endswith("± –")
    assert abs(mean_sd_cell(high[3])[0] - final_map("cyclic-5x-s0")) < TOL
    delta, pairs = high[7].rsplit(" ", 1)
    assert pairs == "(1)" and abs(mean_sd_cell(delta)[0] - (final_map("cyclic-5x-s0") - final_map("base-s0"))) < TOL
    assert high[8] == "–"  # one pair: no interval
    assert high[5].startswith("1/1" if takeoff_epoch("cyclic-5x-s0") is not None else "0/1")
    assert "metric-chance 1/1" in high[13]  # diagnose: a run that never took off
    assert row(parts["aux"], "layers-6")[2] == "0"  # layers-6-s0 is not finished
    assert row(parts["layers"], "base")[7] == "–"  # no pairs with the absent reference layers-2

    detail = parts["lr_detail"]
    assert all(row(detail, n)[1] == f"`{n}`" for n in FAKE)
    assert row(detail, "cyclic-5x-s0")[7] == "540 (info)"  # bevlog's attention-collapse finding on that log
    fig = ET.parse(tmp_path / "fig" / "experiment_lr.svg").getroot()
    lines = [e for e in fig.iter() if e.tag.endswith("polyline")]
    assert len(lines) == 3 + 2  # a thin line per seed, a mean per arm with runs
    assert not (tmp_path / "fig" / "experiment_aux.svg").exists()

    claims = parts["claims"]
    (cyclic,) = [li for li in claims.splitlines() if li.startswith("| 3a |")]
    assert "| 1 |" in cyclic and "**too few pairs**" in cyclic  # one pair gives no interval, no verdict


def test_verdicts_come_from_the_interval_by_one_rule(mx):
    v = mx.verdict
    assert v((0, 0, 0.01, 0.2), "+", 0.05) == "reproduced"
    assert v((0, 0, -0.2, -0.01), "+", 0.05) == "contradicted"
    assert v((0, 0, -0.03, 0.04), "+", 0.05) == "not reproduced (equivalent)"
    assert v((0, 0, -0.03, 0.09), "+", 0.05) == "inconclusive"
    assert v((0, 0, -0.2, -0.01), "-", 0.05) == "reproduced"
    assert v((0, 0, -0.03, 0.04), "0", 0.05) == "reproduced (equivalent)"
    assert v((0, 0, 0.01, 0.04), "0", 0.05) == "reproduced (equivalent)"  # real but smaller than δ
    assert v((0, 0, 0.06, 0.2), "0", 0.05) == "not reproduced (a difference)"
    assert v((0, 0, 0.01, 0.04), "+", 0.05) == "reproduced"
    assert v((0, 0, -0.06, 0.04), "0", 0.05) == "inconclusive"
    assert v(None, "0", 0.05) == "too few pairs"
    diffs, ci = mx.paired(
        {0: {"x": 1.0}, 1: {"x": 2.0}, 2: {"x": 4.0}}, {0: {"x": 0.0}, 1: {"x": 0.0}, 2: {"x": 1.0}}, "x"
    )
    assert diffs == [1.0, 2.0, 3.0]
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert ci == pytest.approx((2.0, 1.0, 2.0 - half, 2.0 + half))


def test_copy_writes_gzipped_logs_that_read_back_the_same(mx, sweep, tmp_path):
    dest = tmp_path / "dest"
    assert sorted(mx.copy_logs(sweep, str(dest))) == sorted(FAKE)
    assert json.loads((dest / "walltimes.json").read_text()) == {n: 60 for n in FAKE}
    for name, src in FAKE.items():
        logs = sorted(f for f in os.listdir(os.path.join(ISSUE13, src)))
        assert sorted(os.listdir(dest / name)) == [f + ".gz" for f in logs]
        for f in logs:
            with gzip.open(dest / name / (f + ".gz"), "rb") as g, open(os.path.join(ISSUE13, src, f), "rb") as o:
                assert g.read() == o.read()
        runs, problems = parsers.read_paths([str(dest / name)])
        assert len(runs) == 1 and not problems  # .log.gz + .log.json.gz: one run
        pd.testing.assert_frame_equal(runs[0].train, parsers.read(os.path.join(sweep, name)).train)
    first = (dest / "base-s0" / "20261203_122654.log.gz").read_bytes()
    mx.copy_logs(sweep, str(dest))
    assert (dest / "base-s0" / "20261203_122654.log.gz").read_bytes() == first  # mtime 0: reproducible
    # the committed gz logs (wall times from walltimes.json) give the same tables
    assert mx.sections(str(dest), None) == mx.sections(sweep, None)


def test_doc_fills_every_placeholder(mx, sweep, tmp_path, capsys):
    out = tmp_path / "docs" / "experiments.md"
    out.parent.mkdir()
    template = os.path.join(ROOT, "tools", "experiments_template.md")
    assert mx.main([sweep, "--doc", template, str(out), "--figures", str(tmp_path / "docs" / "figures")]) == 0
    text = out.read_text()
    assert "{{" not in text and "| `cyclic-5x-s0` |" in text and "| `base` | 2 |" in text
    assert "![lr: final mAP by epoch](figures/experiment_lr.svg)" in text
    assert "### lr\n" in capsys.readouterr().out
