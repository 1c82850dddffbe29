"""DETR-style log.txt (fixtures/real/set3, entries 1–5) through parsers.read_file
(one Segment per launch, both engines) and parsers.read_paths (the Runs): exactly what jq
finds in each file (set3/README.md, "DETR-style log.txt", has each command):

  train rows            jq -c . F | wc -l
  launch lengths        jq -r .epoch F | awk 'NR==1||$1!=p+1{if(NR>1)printf "%d ",n; n=0} {n++; p=$1} END{print n}'
  train columns         jq -r 'keys[]|select(startswith("train_"))|select(.!="train_batch_size")' F | sort -u | wc -l
  evaluation values     jq -r 'to_entries[] | select(.key|test("^(test|val|ema_test)_"))
                          | select(.key|test("_batch_size$")|not)
                          | if (.value|type)=="array" then (.value[]|select(. != -1)) else .value end
                          | select(type=="number")' F | wc -l
  -1.0 in COCO lists    jq -r '.test_coco_eval_bbox // [] | to_entries[]
                          | select(.value == -1) | .key' F | sort | uniq -c

The expectations are also derived here from the files with Python's json (never our
parsers), so a wrong constant and a wrong reader cannot agree by accident.
"""

import json

import numpy as np
import pytest
from repo_paths import REAL_SET3

import parsers
from parsers import read_file
from parsers.formats.coco import NO_OBJECTS_REASON, STATS_NAMES
from parsers.formats.detr_json import FACT_NOT_USED

H = REAL_SET3 / "holtin__detr__outputs_log.txt"
L = REAL_SET3 / "lele56__swin---detr__outputs_log.txt"
P = REAL_SET3 / "maxploter__DePerceiver__de_perceiver_r50_log.txt"
R = REAL_SET3 / "rarefin__detr__outputs_log.txt"
T = REAL_SET3 / "Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt"

# file: (launch lengths, first epoch of each launch as logged, train columns, evaluation values, -1.0 dropped)
EXPECTED = {
    H: ([300], [0], 46, 17100, 0),
    L: ([39, 2, 5, 22, 37, 15, 2, 50, 56, 57, 62], [0, 0, 35, 0, 0, 35, 0, 0, 0, 0, 0], 33, 28454, 2 * 2 * 347),
    P: ([150], [0], 11, 3300, 0),
    R: ([46], [0], 18, 782, 0),
    T: ([1, 56, 80, 73, 6, 5, 47, 2, 32], [0] * 9, 41, 3643, 0),
}
OTHER = "field of no train or evaluation set (a running best, a whole-epoch time …)"


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name[:30])
def test_rows_launches_and_evaluations_are_what_jq_finds(path, engine):
    lengths, first_epochs, n_train_cols, n_evals, minus_one = EXPECTED[path]
    rows = _rows(path)
    segs = read_file(str(path), engine=engine)
    assert [s.rows for s in segs] == lengths and sum(lengths) == len(rows)
    assert all(s.format == "detr-json" and s.library == "detr" and s.epoch_rows and s.epoch_base == 0 for s in segs)
    # epochs counted from 1 in the Segment, the log's from 0: consecutive inside a launch
    assert [int(s.epoch[0]) - 1 for s in segs] == first_epochs
    assert [e - 1 for s in segs for e in s.epoch] == [r["epoch"] for r in rows]
    assert all(np.array_equal(s.step, s.epoch) for s in segs)  # no iterations: steps count epochs
    keys = {k for s in segs for k in s.keys}
    logged = {k[len("train_") :] for r in rows for k in r if k.startswith("train_") and k != "train_batch_size"}
    assert keys == logged and len(keys) == n_train_cols and {"lr", "loss"} <= keys  # train_lr -> lr …
    assert sum(len(s.eval_metric) for s in segs) == n_evals
    assert sum(s.skipped.get(NO_OBJECTS_REASON, 0) for s in segs) == minus_one
    # every train value is the logged one (a printed duration is checked below)
    line = 0
    for s in segs:
        for i in range(s.rows):
            row = rows[line]
            line += 1
            for j, k in enumerate(s.keys):
                logged_v = row.get("train_" + k)
                if s.present[i, j] and not isinstance(logged_v, str):
                    assert s.values[i, j] == logged_v, (k, i)


def test_coco_list_becomes_named_metrics_after_their_epoch(engine):
    rows = _rows(H)
    (seg,) = read_file(str(H), engine=engine)
    ap = [
        (e, v, a)
        for m, e, v, a in zip(seg.eval_metric, seg.eval_epoch, seg.eval_value, seg.eval_after_row)
        if m == "AP"
    ]
    assert ap == [(r["epoch"] + 1, r["test_coco_eval_bbox"][0], i) for i, r in enumerate(rows)]
    first = [m for m, a in zip(seg.eval_metric, seg.eval_after_row) if a == 0]
    assert [m for m in first if not m.startswith("test_")] == list(STATS_NAMES)
    tests = {
        m: v for m, v, a in zip(seg.eval_metric, seg.eval_value, seg.eval_after_row) if a == 0 and m.startswith("test_")
    }
    assert tests == {k: v for k, v in rows[0].items() if k.startswith("test_") and not isinstance(v, list)}


def test_ema_set_is_prefixed_and_minus_one_is_no_row():
    rows = _rows(L)
    last = read_file(str(L))[-1]
    metrics = set(last.eval_metric)
    assert {"AP", "ema/AP", "ARl", "ema/ARl"} <= metrics
    assert not metrics & {"APs", "ARs", "ema/APs", "ema/ARs"}  # -1.0 in every row of this file
    # set3/README.md entry 2: last launch, best AP 0.445 at epoch 51; EMA AP 0.439 at its last row (epoch 61)
    ap = [(e - 1, v) for m, e, v in zip(last.eval_metric, last.eval_epoch, last.eval_value) if m == "AP"]
    assert max(ap, key=lambda x: x[1])[0] == 51 and round(max(v for _, v in ap), 3) == 0.445
    ema = [(e - 1, v) for m, e, v in zip(last.eval_metric, last.eval_epoch, last.eval_value) if m == "ema/AP"]
    assert ema[-1][0] == 61 and round(ema[-1][1], 3) == 0.439 == round(rows[-1]["ema_test_coco_eval_bbox"][0], 3)


def test_strings_become_seconds_times_or_counted():
    rows = _rows(L)
    segs = read_file(str(L))
    first = segs[0]
    h, m, s = (int(x) for x in rows[0]["train_epoch_time"].split(":"))
    assert first.values[0, first.keys.index("epoch_time")] == h * 3600 + m * 60 + s
    # now_time is the row's clock: launch 1's rows 1 and 39 are 3h20m53.33s apart
    assert first.ts[-1] - first.ts[0] == pytest.approx(3 * 3600 + 20 * 60 + 53.332507, abs=1e-3)
    assert first.start_date == rows[0]["now_time"][:19]
    # running bests and the whole-epoch time: 7 fields per row, counted
    assert sum(x.skipped.get(OTHER, 0) for x in segs) == 7 * len(rows)
    # RT-DETR's facts on each launch's first row: 7 fields x 9 launches (+ val_batch_size is one of them)
    t = read_file(str(T))
    assert sum(x.skipped.get(FACT_NOT_USED, 0) for x in t) == 8 * 9


def test_resumed_launches_say_from_which_epoch():
    segs = read_file(str(L))
    resumed = [(k, s.resumes[0].epoch) for k, s in enumerate(segs) if s.resumes]
    assert resumed == [(2, 35), (5, 35)]  # launches 3 and 6 start at the log's epoch 35


def test_runs_the_launches_make():
    """Fresh launches are runs of their own; a resume joins the latest run that reached its
    checkpoint, rows it re-ran replaced (counted)."""
    runs, problems = parsers.read_paths([str(L)])
    assert not problems and len(runs) == 9  # 11 launches, 2 of them resumes
    by_rows = sorted((len(r.train), r.meta.replaced_rows, len(r.meta.segments)) for r in runs)
    # launch 1 (39) + launch 3 (35–39 of the log, 4 re-run) = 40; launch 5 (37) + launch 6 (15, 2 re-run) = 50
    assert (40, 4, 2) in by_rows and (50, 2, 2) in by_rows
    assert sorted(n for n, _, k in by_rows if k == 1) == sorted([2, 22, 2, 50, 56, 57, 62])
    assert all(r.name.startswith("lele56__swin---detr__outputs_log@2025") for r in runs)  # stamps from now_time
    runs, _ = parsers.read_paths([str(T)])
    assert sorted(len(r.train) for r in runs) == sorted([1, 56, 80, 73, 6, 5, 47, 2, 32])


def test_meta_and_frames_of_a_run():
    run = parsers.read(str(H))
    m = run.meta
    assert (m.format, m.library, m.runner, m.epoch_base, m.step_unit) == ("detr-json", "detr", "epoch", 0, "epoch")
    assert m.iters_per_epoch is None and m.lr is None and m.total_batch is None  # log.txt does not say
    assert m.num_decoder_layers == 6 and m.has_aux_loss is True
    assert np.array_equal(run.train["epoch_f"], np.arange(1, 301)) and run.train["samples"].isna().all()
    layers = run.layers
    assert set(layers["group"]) == {""} and set(layers["term"]) == {"ce", "bbox", "giou"}
    assert sorted(set(layers["layer"])) == list(range(6)) and len(layers) == 300 * 18
    assert not any("unscaled" in str(c) for c in layers["term"].unique())
    final = layers[(layers["term"] == "ce") & (layers["layer"] == 5)]["value"].to_numpy()
    assert np.array_equal(final, run.train["loss_ce"].to_numpy())  # the unsuffixed term is the last layer
    ap = run.evals[run.evals["metric"] == "AP"]
    rows = _rows(H)
    assert np.array_equal(ap["epoch"], [r["epoch"] + 1 for r in rows])
    assert np.array_equal(ap["value"], [r["test_coco_eval_bbox"][0] for r in rows])


def test_rtdetr_layers_dn_and_encoder():
    runs, _ = parsers.read_paths([str(T)])
    run = max(runs, key=lambda r: len(r.train))
    layers = run.layers
    got = {g: sorted(set(layers[layers["group"] == g]["layer"])) for g in set(layers["group"])}
    assert got == {"": list(range(6)), "dn": list(range(6)), "enc": [0]}  # aux_5 is the encoder
    assert run.meta.num_decoder_layers == 6


def test_rtdetr_first_line_val_set_is_the_main_set():
    first = read_file(str(T))[0]
    assert set(first.eval_metric) >= set(STATS_NAMES) | {"val_mAP", "val_loss"}
    assert not any(m.startswith("val/") for m in first.eval_metric)


def test_new_launch_when_the_model_changes(tmp_path):
    """Appended launches of another model continue the epoch count in no real file; only
    `n_parameters` tells them apart."""
    rows = _rows(R)[:4]
    other = [dict(r, n_parameters=r["n_parameters"] + 1, epoch=4 + i) for i, r in enumerate(rows)]
    p = tmp_path / "log.txt"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows + other))
    assert [s.rows for s in read_file(str(p))] == [4, 4]


def test_missing_epoch_and_bad_lines_are_counted(tmp_path):
    rows = _rows(R)[:3]
    del rows[1]["epoch"]
    p = tmp_path / "log.txt"
    p.write_text(json.dumps(rows[0]) + "\n{not json\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
    (seg,) = read_file(str(p))
    assert list(seg.epoch) == [1, 2, 3] and seg.rows == 3
    assert seg.skipped_lines == {
        "line that is not a JSON object": (2,),
        "row without `epoch`: numbered after the previous row": (3,),
    }


def test_a_row_of_strings_is_counted_field_by_field(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text('{"epoch": 0, "train_loss": "x"}\n{not json\n')
    (seg,) = read_file(str(p))  # a row whose only train field is no number: an empty row, counted
    assert seg.rows == 1 and seg.skipped == {"train field that is not a number": 1, "line that is not a JSON object": 1}


def test_arguments_beside_are_bounded(tmp_path):
    """DINO's config_args_all.json beside log.txt is read with json (never executed); numbers
    no recipe states (Python's json reads `Infinity`, 1e300 epochs) size nothing."""
    (tmp_path / "log.txt").write_text(R.read_text())
    (tmp_path / "config_args_all.json").write_text(
        '{"lr": 0.0002, "batch_size": 4, "world_size": 8, "epochs": 1e300, "lr_drop": 1, '
        '"clip_max_norm": Infinity, "dec_layers": 100000}'
    )
    m = parsers.read(str(tmp_path / "log.txt")).meta
    assert (m.lr, m.samples_per_gpu, m.num_gpus, m.total_batch) == (0.0002, 4, 8, 32)
    assert m.max_epochs is None and m.lr_schedule is None and m.grad_clip is None
    assert m.num_decoder_layers == 2  # 100000 decoder layers is no count: the logged layers say 2
    # steps count epochs here: a batch says nothing of the samples seen (no iterations logged)
    assert parsers.read(str(tmp_path / "log.txt")).train["samples"].isna().all()


def test_each_field_is_read_by_its_kind_whatever_the_layout_of_the_row(tmp_path):
    """Rows of one log in two layouts of keys (another order, keys missing): each value is read
    by what its key is, and a value of the wrong type is counted where it is."""
    p = tmp_path / "log.txt"
    rows = [
        {
            "train_loss": 1.5,
            "train_flag": True,
            "train_epoch_time": "0:02:13",
            "test_loss": "x",
            "test_ok": False,
            "test_class_error": 3,
            "epoch": 0,
            "n_parameters": 10,
        },
        {"test_class_error": 2.0, "epoch": 1, "n_parameters": 10, "train_loss": 1},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (seg,) = read_file(str(p))
    assert seg.keys == ("loss", "epoch_time")
    assert (
        seg.values[0].tolist() == [1.5, 133.0] and seg.values[1][0] == 1.0 and seg.present[1].tolist() == [True, False]
    )
    assert seg.eval_metric == ("test_class_error", "test_class_error") and seg.eval_value == (3.0, 2.0)
    assert seg.eval_after_row == (0, 1)
    assert seg.skipped_lines == {
        "train field that is not a number": (1,),
        "evaluation field that is not a number": (1, 1),
    }
    assert seg.skipped == {"train field that is not a number": 1, "evaluation field that is not a number": 2}
