"""DETR-style log.txt (fixtures/real/set3, entries 1–5): the reader gives exactly what
jq finds in each file (set3/README.md, "DETR-style log.txt", has each command):

  train rows            jq -c . F | wc -l
  launch lengths        jq -r .epoch F | awk 'NR==1||$1!=p+1{if(NR>1)printf "%d ",n; n=0} {n++; p=$1} END{print n}'
  train columns         jq -r 'keys[]|select(startswith("train_"))|select(.!="train_batch_size")' F | sort -u | wc -l
  evaluation values     jq -r 'to_entries[] | select(.key|test("^(test|val|ema_test)_"))
                          | select(.key|test("_batch_size$")|not)
                          | if (.value|type)=="array" then (.value[]|select(. != -1)) else .value end
                          | select(type=="number")' F | wc -l
  -1.0 in COCO lists    jq -r '.test_coco_eval_bbox // [] | to_entries[] | select(.value == -1) | .key' F | sort | uniq -c

The expectations are also derived here from the files with Python's json (never our
parsers), so a wrong constant and a wrong reader cannot agree by accident.
"""
import json

import pytest
from conftest import REAL_SET3

from parsers import detr_json
from parsers.coco import NO_OBJECTS_REASON, STATS_NAMES

H = REAL_SET3 / "holtin__detr__outputs_log.txt"
L = REAL_SET3 / "lele56__swin---detr__outputs_log.txt"
P = REAL_SET3 / "maxploter__DePerceiver__de_perceiver_r50_log.txt"
R = REAL_SET3 / "rarefin__detr__outputs_log.txt"
T = REAL_SET3 / "Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt"

# file: (launch lengths, first epoch of each launch, train columns, evaluation values, -1.0 dropped)
EXPECTED = {
    H: ([300], [0], 46, 17100, 0),
    L: ([39, 2, 5, 22, 37, 15, 2, 50, 56, 57, 62], [0, 0, 35, 0, 0, 35, 0, 0, 0, 0, 0], 33, 28454, 2 * 2 * 347),
    P: ([150], [0], 11, 3300, 0),
    R: ([46], [0], 18, 782, 0),
    T: ([1, 56, 80, 73, 6, 5, 47, 2, 32], [0] * 9, 41, 3643, 0),
}


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _launches(path):
    return detr_json.read_drafts(str(path), path.read_text())


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name[:30])
def test_sniffed_as_detr_json(path):
    assert detr_json.sniff(path.read_bytes()[: 1 << 20])


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name[:30])
def test_rows_launches_and_evaluations_are_what_jq_finds(path):
    lengths, first_epochs, n_train_cols, n_evals, minus_one = EXPECTED[path]
    rows = _rows(path)
    launches = _launches(path)
    assert [d.rows for d in launches] == lengths
    assert sum(lengths) == len(rows)
    assert [int(d.epoch[0]) for d in launches] == first_epochs
    # epochs as logged (0-based), consecutive inside a launch
    assert [e for d in launches for e in d.epoch] == [r["epoch"] for r in rows]
    keys = {k for d in launches for k in d.columns()[0]}
    logged = {k[len("train_"):] for r in rows for k in r if k.startswith("train_") and k != "train_batch_size"}
    assert len(keys) == n_train_cols == len(logged)
    assert keys == logged and {"lr", "loss"} <= keys  # `train_` dropped: train_lr -> lr
    assert sum(len(d.evals) for d in launches) == n_evals
    assert sum(d.skipped[NO_OBJECTS_REASON] for d in launches) == minus_one
    # every train value is the logged one
    for d in launches:
        for i, values in enumerate(d.values):
            row = rows[d.lines[i] - 1]
            for k, v in values.items():
                logged_v = row["train_" + k]
                if isinstance(logged_v, str):
                    continue  # a printed duration, in seconds (test below)
                assert v == logged_v


def test_coco_list_becomes_named_metrics_after_their_epoch():
    rows = _rows(H)
    d = _launches(H)[0]
    ap = [(e.epoch, e.value, e.after_row) for e in d.evals if e.metric == "AP"]
    assert ap == [(r["epoch"], r["test_coco_eval_bbox"][0], i) for i, r in enumerate(rows)]
    names = [e.metric for e in d.evals if e.line == 1 and not e.metric.startswith("test_")]
    assert names == list(STATS_NAMES)
    # the scalar test values keep their logged names
    test = {e.metric: e.value for e in d.evals if e.line == 1 and e.metric.startswith("test_")}
    assert test == {k: v for k, v in rows[0].items() if k.startswith("test_") and not isinstance(v, list)}
    # README entry 1: best AP 0.687 at epoch 249, last 0.645
    best = max(ap, key=lambda x: x[1])
    assert (best[0], round(best[1], 3)) == (249, 0.687) and round(ap[-1][1], 3) == 0.645


def test_ema_set_is_prefixed_and_minus_one_is_no_row():
    rows = _rows(L)
    launches = _launches(L)
    last = launches[-1]
    metrics = {e.metric for e in last.evals}
    assert {"AP", "ema/AP", "ARl", "ema/ARl"} <= metrics
    assert "APs" not in metrics and "ARs" not in metrics and "ema/APs" not in metrics  # -1.0 in every row
    # README entry 2: last launch, best AP 0.445 at epoch 51; EMA AP 0.439 at its last row (epoch 61)
    ap = [(e.epoch, e.value) for e in last.evals if e.metric == "AP"]
    assert max(ap, key=lambda x: x[1])[0] == 51 and round(max(v for _, v in ap), 3) == 0.445
    ema = [(e.epoch, e.value) for e in last.evals if e.metric == "ema/AP"]
    assert ema[-1][0] == 61 and round(ema[-1][1], 3) == 0.439 == round(rows[-1]["ema_test_coco_eval_bbox"][0], 3)


def test_strings_become_seconds_times_or_counted_facts():
    rows = _rows(L)
    launches = _launches(L)
    d = launches[0]
    h, m, s = (int(x) for x in rows[0]["train_epoch_time"].split(":"))
    assert d.values[0]["epoch_time"] == h * 3600 + m * 60 + s
    # now_time is the row's clock: launch 1's rows 1 and 39 are 3h20m53.33s apart
    assert d.ts[-1] - d.ts[0] == pytest.approx(3 * 3600 + 20 * 60 + 53.332507, abs=1e-3)
    # running bests and the whole-epoch time: 7 fields per row, counted
    other = "field of no train or evaluation set (a running best, a whole-epoch time …)"
    assert sum(x.skipped[other] for x in launches) == 7 * len(rows)
    t = _launches(T)
    assert [x.facts["model_type"] for x in t] == ["RTDETR"] * 9
    assert all(x.facts["train_batch_size"] == 6 and x.facts["n_parameters"] == 42128803 for x in t)


def test_resumed_launches_say_from_which_epoch():
    launches = _launches(L)
    assert [x.facts.get("resumed_from_epoch") for x in launches] == [None, None, 35, None, None, 35] + [None] * 5


def test_rtdetr_first_line_val_set_is_the_main_set():
    first = _launches(T)[0]
    assert {e.metric for e in first.evals} >= set(STATS_NAMES) | {"val_mAP", "val_loss"}
    assert not any(e.metric.startswith("val/") for e in first.evals)


def test_new_launch_when_the_model_changes(tmp_path):
    """Appended launches of another model continue the epoch count in no real file; only
    `n_parameters` tells them apart."""
    rows = _rows(R)[:4]
    other = [dict(r, n_parameters=r["n_parameters"] + 1, epoch=4 + i) for i, r in enumerate(rows)]
    p = tmp_path / "log.txt"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows + other))
    assert [d.rows for d in _launches(p)] == [4, 4]


def test_missing_epoch_and_bad_lines_are_counted(tmp_path):
    rows = _rows(R)[:3]
    del rows[1]["epoch"]
    p = tmp_path / "log.txt"
    p.write_text(json.dumps(rows[0]) + "\n{not json\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
    (d,) = _launches(p)
    assert d.epoch == [0, 1, 2] and d.rows == 3
    assert d.skipped_lines == {"line that is not a JSON object": [2],
                               "row without `epoch`: numbered after the previous row": [3]}
