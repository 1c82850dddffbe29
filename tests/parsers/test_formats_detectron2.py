"""detectron2 / detrex output folder (fixtures/real/set3 entry 7): metrics.json, the console
log.txt and the TensorBoard event files of one folder, read each by its own reader, give what
jq, grep and TensorBoard's own loader find (set3/README.md, "detectron2 / detrex folder"):

  train rows          grep -c '"total_loss"' D/metrics.json                           -> 86
  stub rows           jq -c 'select(keys==["eta_seconds","iteration"])' D/metrics.json -> 6
  closing writes      jq -c 'select(has("total_loss") and (has("eta_seconds")|not))
                        | .iteration' D/metrics.json                                 -> 1 48 45 154 31 613 757
  console rows        grep -c 'd2.utils.events INFO: .*iter: ' D/log.txt              -> 86
  console launches    grep -c 'detectron2 INFO: Rank of current process' D/log.txt    -> 8
"""

import json
import re

import numpy as np
import pytest
from repo_paths import REAL_SET3

import parsers
from parsers import read_file
from parsers.formats import FORMATS, detectron2_console, detectron2_json, detectron2_keys, module, tfevents

D = REAL_SET3 / "IDEA-Research__detrex__projects_detr_output"
METRICS = D / "metrics.json"
CONSOLE = D / "log.txt"
LAUNCH_ROWS = [1, 3, 3, 8, 2, 31, 38]  # metrics.json launches (the eval-only launch writes none)


def test_each_file_is_sniffed_by_its_reader_only():
    for path, name in [(METRICS, "detectron2-json"), (CONSOLE, "detectron2-console")] + [
        (p, "tfevents") for p in sorted(D.glob("events.out.tfevents.*"))
    ]:
        head = path.read_bytes()[: 1 << 20]
        assert [f.name for f in FORMATS if module(f.name).sniff(head)] == [name], path.name


def _values(seg, i):
    return {k: seg.values[i, j] for j, k in enumerate(seg.keys) if seg.present[i, j]}


def test_metrics_json_rows_launches_stubs(engine):
    rows = [json.loads(line) for line in METRICS.read_text().splitlines()]
    segs = read_file(str(METRICS), engine=engine)
    assert [s.rows for s in segs] == LAUNCH_ROWS
    assert all((s.format, s.library, s.runner) == ("detectron2-json", "detectron2", "iter") for s in segs)
    train = [r for r in rows if "total_loss" in r]
    assert sum(s.rows for s in segs) == len(train) == 86
    assert [x for s in segs for x in s.step] == [r["iteration"] for r in train]  # 0-based, as logged
    closing = [r["iteration"] for r in train if "eta_seconds" not in r]
    assert [int(s.step[-1]) for s in segs] == closing == [1, 48, 45, 154, 31, 613, 757]
    stub = detectron2_json.STUB
    assert sum(s.skipped.get(stub, 0) for s in segs) == 6
    assert [n for s in segs for n in s.skipped_lines.get(stub, ())] == [5, 9, 18, 21, 53, 92]
    k = 0
    for s in segs:
        for i in range(s.rows):
            row = train[k]
            k += 1
            assert _values(s, i) == {
                detectron2_keys.train_name(key): v for key, v in row.items() if key not in ("iteration", "eta_seconds")
            }
            assert np.isnan(s.eta_s[i]) if "eta_seconds" not in row else s.eta_s[i] == row["eta_seconds"]
    assert not any(s.eval_metric for s in segs)  # no bbox/AP row in this file


def test_console_rows_launches_evaluation_tracebacks(engine):
    text = CONSOLE.read_text()
    segs = read_file(str(CONSOLE), engine=engine)
    starts = [no for no, line in enumerate(text.splitlines(), 1) if "detectron2 INFO: Rank of current process" in line]
    assert [s.launch.first_line for s in segs] == starts and len(starts) == 8
    assert [s.rows for s in segs] == [0] + LAUNCH_ROWS
    events = re.findall(r"d2\.utils\.events INFO: .*iter: (\d+)", text)
    assert [int(x) for s in segs for x in s.step] == [int(i) for i in events]
    # the eval-only launch: bbox AP … APl of the copypaste lines, 0–100 as logged
    names = re.search(r"copypaste: (AP,AP50.*)$", text, re.M).group(1).split(",")
    values = [float(v) for v in re.search(r"copypaste: ([0-9.]+,[0-9.,]+)$", text, re.M).group(1).split(",")]
    assert list(zip(segs[0].eval_metric, segs[0].eval_value)) == [("bbox/" + n, v) for n, v in zip(names, values)]
    assert segs[0].args["eval_only"] is True and all(s.args["num_gpus"] == 1 for s in segs)
    # set3/README.md entry 7: OOM, AssertionError twice, the debugger's BdbQuit
    assert [(s.traceback or "").split(":")[0] for s in segs] == [
        "",
        "RuntimeError",
        "AssertionError",
        "AssertionError",
        "",
        "an exception",
        "",
        "",
    ]
    assert "CUDA out of memory" in segs[1].traceback and "bdb.BdbQuit" in segs[5].tail  # no message: "an exception"
    # `max_mem: 22331M` -> memory in MB; clock deltas from `[08/11 17:10:37]`, no year
    third = segs[2]
    assert _values(third, 0)["memory"] == 22331 and third.ts[1] - third.ts[0] == 14  # 17:10:37 -> 17:10:51
    assert third.eta_s[0] == 14 * 3600 + 47 * 60 + 53 and third.year_unknown and third.start_date == "08/11 17:09:27"


def test_tfevents_match_metrics_json(engine):
    """One event file per launch, the same scalars as metrics.json (float32)."""
    segs = read_file(str(METRICS))
    files = sorted(D.glob("events.out.tfevents.*"))
    assert len(files) == 7
    for path, m in zip(files, segs):
        (e,) = read_file(str(path), engine=engine)
        assert (e.format, e.library, e.runner) == ("tfevents", "tensorboard", "iter")
        assert np.array_equal(e.step, m.step)
        assert e.skipped == ({} if m.step[0] == 1 else {tfevents.ETA_ONLY: 1})
        assert set(e.keys) == set(m.keys)
        for i in range(m.rows):
            want = _values(m, i)
            got = _values(e, i)
            assert got.keys() == want.keys()
            assert all(got[k] == pytest.approx(want[k], rel=1e-6) for k in want)
        assert np.all(np.diff(e.ts) > 0) and e.ts[0] > 1.6e9  # wall times: real dates (2022)


def test_the_folder_is_one_unit_read_from_the_console_log():
    """`bevlog parse <folder>`: the console log.txt is read (clock, arguments, how each launch
    ended, the evaluation); metrics.json and the event files hold the same records and are
    listed as twins not read."""
    runs, problems = parsers.read_paths([str(D)])
    assert not problems and len(runs) == 8
    assert {r.meta.format for r in runs} == {"detectron2-console"}
    twins = set(runs[0].meta.twins_not_read) | {t for r in runs for t in r.meta.twins_not_read}
    assert {t.rsplit("/", 1)[-1] for t in twins} == {"metrics.json"} | {p.name for p in D.glob("events.out.tfevents.*")}
    assert sorted(len(r.train) for r in runs) == sorted([0] + LAUNCH_ROWS)
    ended = [r.meta.ended for r in runs]
    assert ended.count("unknown") == 4 and sum(e.startswith("traceback: ") for e in ended) == 4
    assert all(
        r.meta.runner == "iter" and r.meta.num_gpus == 1 and r.meta.num_decoder_layers == 6
        for r in runs
        if len(r.train)
    )
    # the eval-only launch has its evaluation, and no train row
    (ev,) = [r for r in runs if not len(r.train)]
    assert dict(zip(ev.evals["metric"], ev.evals["value"]))["bbox/AP"] == 42.0018


@pytest.mark.parametrize(
    "line,expected",
    [
        (
            "[08/11 17:10:37] d2.utils.events INFO:  eta: 1 day, 2:00:00  iter: 19  "
            "total_loss: 82.22  lr: 0.0004  max_mem: 22331M",
            (19, 93600.0, {"loss": 82.22, "lr": 0.0004, "memory": 22331.0}),
        ),
        (
            "\x1b[32m[08/11 17:10:37 d2.utils.events]: \x1b[0m eta: 0:00:05  iter: 39  total_loss: nan  time: 0.5",
            (39, 5.0, {"loss": float("nan"), "time": 0.5}),
        ),
    ],
)
def test_console_line_styles(line, expected):
    (d,) = detectron2_console.read_records(
        "x", "[08/11 17:00:00] detectron2 INFO: Rank of current process: 0.\n" + line + "\n"
    )
    it, eta, values = expected
    assert (d.step[0], d.eta_s[0]) == (it, eta)
    assert d.values[0].keys() == values.keys()
    assert all(d.values[0][k] == v or (v != v and d.values[0][k] != d.values[0][k]) for k, v in values.items())
