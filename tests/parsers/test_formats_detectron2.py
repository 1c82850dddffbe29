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

import pytest
from conftest import REAL_SET3

from parsers import detectron2_console, detectron2_json, detectron2_keys, detr_json, metric_logger, tfevents

D = REAL_SET3 / "IDEA-Research__detrex__projects_detr_output"
METRICS = D / "metrics.json"
CONSOLE = D / "log.txt"
LAUNCH_ROWS = [1, 3, 3, 8, 2, 31, 38]  # metrics.json launches (the eval-only launch writes none)


def test_each_file_is_sniffed_by_its_reader_only():
    readers = [detr_json, metric_logger, detectron2_json, detectron2_console, tfevents]
    for path, reader in [(METRICS, detectron2_json), (CONSOLE, detectron2_console)] + [
            (p, tfevents) for p in sorted(D.glob("events.out.tfevents.*"))]:
        head = path.read_bytes()[: 1 << 20]
        assert [r for r in readers if r.sniff(head)] == [reader], path.name


def test_metrics_json_rows_launches_stubs():
    rows = [json.loads(line) for line in METRICS.read_text().splitlines()]
    launches = detectron2_json.read_drafts(str(METRICS), METRICS.read_text())
    assert [d.rows for d in launches] == LAUNCH_ROWS
    train = [r for r in rows if "total_loss" in r]
    assert sum(d.rows for d in launches) == len(train) == 86
    assert [s for d in launches for s in d.step] == [r["iteration"] for r in train]  # 0-based, as logged
    closing = [r["iteration"] for r in train if "eta_seconds" not in r]
    assert [int(d.step[-1]) for d in launches] == closing == [1, 48, 45, 154, 31, 613, 757]
    stub = detectron2_json.STUB
    assert sum(d.skipped[stub] for d in launches) == 6
    assert [n for d in launches for n in d.skipped_lines.get(stub, [])] == [5, 9, 18, 21, 53, 92]
    for d in launches:
        for values, line in zip(d.values, d.lines):
            row = rows[line - 1]
            assert values == {detectron2_keys.train_name(k): v for k, v in row.items()
                              if k not in ("iteration", "eta_seconds")}
            assert "loss" in values and "total_loss" not in values
    assert not any(d.evals for d in launches)  # no bbox/AP row in this file


def test_console_rows_launches_evaluation_tracebacks():
    text = CONSOLE.read_text()
    launches = detectron2_console.read_drafts(str(CONSOLE), text)
    starts = [no for no, line in enumerate(text.splitlines(), 1) if "detectron2 INFO: Rank of current process" in line]
    assert [d.first_line for d in launches] == starts and len(starts) == 8
    assert [d.rows for d in launches] == [0] + LAUNCH_ROWS
    events = re.findall(r"d2\.utils\.events INFO: .*iter: (\d+)", text)
    assert [int(s) for d in launches for s in d.step] == [int(i) for i in events]
    # the eval-only launch: bbox AP … APl of the copypaste lines, 0–100 as logged
    names = re.search(r"copypaste: (AP,AP50.*)$", text, re.M).group(1).split(",")
    values = [float(v) for v in re.search(r"copypaste: ([0-9.]+,[0-9.,]+)$", text, re.M).group(1).split(",")]
    assert [(e.metric, e.value) for e in launches[0].evals] == [("bbox/" + n, v) for n, v in zip(names, values)]
    assert launches[0].facts["args"]["eval_only"] is True
    tracebacks = [no for no, line in enumerate(text.splitlines(), 1) if line.startswith("Traceback")]
    assert [d.facts.get("traceback_line") for d in launches] == [None, *tracebacks[:3], None, tracebacks[3], None, None]
    # `max_mem: 22331M` -> memory in MB; clock deltas from `[08/11 17:10:37]`
    third = launches[2]
    assert third.values[0]["memory"] == 22331 and third.ts[1] - third.ts[0] == 14  # 17:10:37 -> 17:10:51
    assert third.eta_s[0] == 14 * 3600 + 47 * 60 + 53


def test_tfevents_match_metrics_json():
    """One event file per launch, the same scalars as metrics.json (float32)."""
    rows = [json.loads(line) for line in METRICS.read_text().splitlines()]
    launches = detectron2_json.read_drafts(str(METRICS), METRICS.read_text())
    files = sorted(D.glob("events.out.tfevents.*"))
    assert len(files) == 7
    for path, d in zip(files, launches):
        e = tfevents.read_draft(str(path), path.name)
        assert e.step == d.step
        assert e.skipped == ({} if d.step[0] == 1 else {tfevents.ETA_ONLY: 1})
        for got, line in zip(e.values, d.lines):
            want = {detectron2_keys.train_name(k): v for k, v in rows[line - 1].items()
                    if k not in ("iteration", "eta_seconds")}
            assert got.keys() == want.keys()
            assert all(got[k] == pytest.approx(want[k], rel=1e-6) for k in want)


@pytest.mark.parametrize("line,expected", [
    ("[08/11 17:10:37] d2.utils.events INFO:  eta: 1 day, 2:00:00  iter: 19  total_loss: 82.22  lr: 0.0004  max_mem: 22331M",
     (19, 93600.0, {"loss": 82.22, "lr": 0.0004, "memory": 22331.0})),
    ("\x1b[32m[08/11 17:10:37 d2.utils.events]: \x1b[0m eta: 0:00:05  iter: 39  total_loss: nan  time: 0.5",
     (39, 5.0, {"loss": float("nan"), "time": 0.5})),
])
def test_console_line_styles(line, expected):
    (d,) = detectron2_console.read_drafts("x", "[08/11 17:00:00] detectron2 INFO: Rank of current process: 0.\n" + line + "\n")
    it, eta, values = expected
    assert (d.step[0], d.eta_s[0]) == (it, eta)
    assert d.values[0].keys() == values.keys()
    assert all(d.values[0][k] == v or (v != v and d.values[0][k] != d.values[0][k]) for k, v in values.items())
