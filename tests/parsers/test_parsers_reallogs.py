"""Every real log in fixtures/real/set1: exact row counts, spot values, meta.

The counts were established with grep, independently of the parser (run in
fixtures/real/set1; D, S, B, J, C = the DETR3D, StreamPETR, BEVFusion, mmengine and
console file stems):

  grep -c ' - INFO - Epoch \\[' D.log                                        -> 3360 train
  grep ' - INFO - Epoch(val) ' D.log | grep -o ': [-0-9.naif]*' | wc -l     -> 1164 eval values (12 lines)
  grep -c '"mode": "train"' D.log.json                                        -> 3360
  grep '"mode": "val"' D.log.json | grep -o '"[^"]*": ' \\
       | grep -v '"mode"\\|"epoch"\\|"iter"\\|"lr"' | wc -l                      -> 1164
  grep -c ' - INFO - Iter \\[' S.log                                          -> 843 train
  grep ' - INFO - Iter(val) ' S.log | grep -o ': [-0-9.naif]*' | wc -l      -> 97 (1 line)
  grep -c '"mode": "train"' S.log.json                                        -> 843;  val keys as above -> 97
  grep -c 'grad_norm: inf' S.log ; grep -c 'grad_norm: nan' S.log            -> 16 ; 3
  grep -c '"mode": "train"' B.log.json                                        -> 2468; val keys -> 388 (4 lines)
  grep -c '"grad_norm": Infinity' B.log.json ; grep -c '"grad_norm": NaN' B.log.json -> 42 ; 3
  grep -c '"iter": ' J.json                                                   -> 2598 train rows
  grep '"coco/bbox_mAP"' J.json | grep -o '"coco/[^"]*": ' | wc -l           -> 102 (17 val rows)
  grep -c ' - INFO - Iter \\[' C.log ; sed -n '/^Traceback/,$p' C.log | wc -l -> 2 ; 22
  grep ' - INFO - Epoch(val) ' D.log | grep -o ': nan' | wc -l               -> 60 literal nan metrics
"""

import math

import numpy as np
import pytest
from parsers_testlib import BEVFUSION, CONSOLE, DETR3D, MMENGINE, STREAMPETR, read_cached, real

from parsers import EVALS_COLUMNS, LAYERS_COLUMNS, TRAIN_COLUMNS, Meta

COUNTS = {
    f"{DETR3D}.log": (3360, 1164),
    f"{DETR3D}.log.json": (3360, 1164),
    f"{STREAMPETR}.log": (843, 97),
    f"{STREAMPETR}.log.json": (843, 97),
    f"{BEVFUSION}.log.json": (2468, 388),
    f"{MMENGINE}.json": (2598, 102),
    f"{CONSOLE}.log": (2, 0),
}
FORMATS = {
    f"{DETR3D}.log": "mmcv-text",
    f"{DETR3D}.log.json": "mmcv-json",
    f"{STREAMPETR}.log": "mmcv-text",
    f"{STREAMPETR}.log.json": "mmcv-json",
    f"{BEVFUSION}.log.json": "mmcv-json",
    f"{MMENGINE}.json": "mmengine-json",
    f"{CONSOLE}.log": "console",
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_row_counts_and_contract(name):
    run = read_cached(real(name))
    n_train, n_eval = COUNTS[name]
    assert len(run.train) == n_train
    assert len(run.evals) == n_eval
    assert run.meta["format"] == FORMATS[name]
    assert list(run.train.columns[: len(TRAIN_COLUMNS)]) == TRAIN_COLUMNS
    assert list(run.layers.columns) == LAYERS_COLUMNS
    assert list(run.evals.columns) == EVALS_COLUMNS
    assert isinstance(run.meta, Meta)  # every key declared in parsers.meta
    assert isinstance(run.meta.skipped, dict)
    # step is the global iteration: strictly increasing within a single-segment log.
    steps = run.train["step"].to_numpy()
    assert np.all(np.diff(steps) > 0)
    assert run.train["run"].eq(run.meta["name"]).all()


def test_detr3d_text_values_and_meta():
    run = read_cached(real(f"{DETR3D}.log"))
    t = run.train
    # line 3275: Epoch [1][50/7033] lr: 7.973e-05, eta: 3 days, 12:29:00, time: 1.802, ...,
    #            loss: 20.8422, grad_norm: 58.9736
    first = t.iloc[0]
    assert (first.epoch, first["iter"], first.iters_per_epoch, first.step) == (1, 50, 7033, 50)
    assert first.lr == pytest.approx(7.973e-05)
    assert first.eta_s == 3 * 86400 + 12 * 3600 + 29 * 60
    assert (first.time, first.data_time, first.memory) == (1.802, 0.677, 16978)
    assert (first.loss, first.grad_norm, first["d4.loss_bbox"]) == (20.8422, 58.9736, 1.8212)
    assert first.samples == 50 * 4  # 4 GPUs x 1 sample
    assert first.wall_s == pytest.approx(
        24 * 3600 * 0 + (11 * 3600 + 42 * 60 + 24.492) - (11 * 3600 + 40 * 60 + 37.397)
    )
    # Epoch [24][7000/7033] is the last line: step = 23 * 7033 + 7000
    last = t.iloc[-1]
    assert (last.epoch, last["iter"], last.step) == (24, 7000, 23 * 7033 + 7000)
    assert last.epoch_f == pytest.approx(23 + 7000 / 7033)
    m = run.meta
    assert m["name"] == "PrymceQ__3DDetection_DETR3D"
    assert (m["runner"], m["max_epochs"], m["iters_per_epoch"], m["iters_per_epoch_estimated"]) == (
        "epoch",
        24,
        7033,
        False,
    )
    assert (m["samples_per_gpu"], m["num_gpus"], m["total_batch"]) == (1, 4, 4)
    assert (m["optimizer"], m["lr"], m["weight_decay"], m["grad_clip"]) == ("AdamW", 2e-4, 0.01, 35)
    assert m["lr_schedule"]["policy"] == "CosineAnnealing" and m["lr_schedule"]["warmup_iters"] == 500
    assert (m["fp16"], m["num_decoder_layers"], m["has_aux_loss"], m["ended"]) == (False, 6, True, "finished")
    assert m["skipped"] == {}
    assert m["config"]["data"]["samples_per_gpu"] == 1


def test_detr3d_evals_and_layers():
    run = read_cached(real(f"{DETR3D}.log"))
    ev = run.evals
    nds = ev[ev.metric == "pts_bbox_NuScenes/NDS"]
    assert list(nds.epoch) == list(range(2, 25, 2))
    assert list(nds.step) == [e * 7033 for e in range(2, 25, 2)]
    # Epoch(val) [2][1505] ... pts_bbox_NuScenes/NDS: 0.2186, ... barrier_vel_err: nan
    assert nds.value.iloc[0] == 0.2186
    barrier = ev[(ev.metric == "pts_bbox_NuScenes/barrier_vel_err") & (ev.epoch == 2)].value
    assert len(barrier) == 1 and math.isnan(barrier.iloc[0])
    assert int(ev.value.isna().sum()) == 60  # every literal nan is a row, never dropped, never 0
    lay = run.layers
    assert set(lay.group) == {""} and set(lay.term) == {"cls", "bbox"}
    assert sorted(set(lay.layer)) == [0, 1, 2, 3, 4, 5]
    assert len(lay) == 3360 * 12
    row = lay[(lay.step == 50) & (lay.term == "bbox")].sort_values("layer")
    assert list(row.value) == [1.8491, 1.8283, 1.8388, 1.8662, 1.8212, 1.8285]  # d0..d4, then final loss_bbox


def test_streampetr_iter_runner_nonfinite_and_prefixed_layers():
    run = read_cached(real(f"{STREAMPETR}.log"))
    t, m = run.train, run.meta
    assert (m["runner"], m["max_iters"], m["iters_per_epoch"]) == (
        "iter",
        42192,
        1758,
    )  # num_iters_per_epoch in the config
    assert (m["samples_per_gpu"], m["num_gpus"], m["total_batch"], m["fp16"]) == (4, 4, 16, True)
    assert m["ended"] == "finished"
    # Iter [50/42192]: global iter; grad_norm nan on that line
    assert (t.step.iloc[0], t["iter"].iloc[0]) == (50, 50)
    assert t.epoch_f.iloc[0] == pytest.approx(50 / 1758)
    assert math.isnan(t.grad_norm.iloc[0])
    assert int(np.isinf(t.grad_norm).sum()) == 16 and int(np.isnan(t.grad_norm).sum()) == 3
    assert not t.loss.isna().any()
    groups = set(run.layers.group)
    assert groups == {"frame_0", "frame_0_dn", "frame_0_enc"}
    dn = run.layers[(run.layers.group == "frame_0_dn") & (run.layers.step == 50) & (run.layers.term == "cls")]
    assert list(dn.layer) == [0, 1, 2, 3, 4, 5]
    assert list(dn.value) == [1.2060, 1.2115, 1.1974, 1.2048, 1.2345, 1.2393]
    enc = run.layers[run.layers.group == "frame_0_enc"]
    assert set(enc.layer) == {0}  # the encoder has no decoder layers
    (ev_step,) = set(run.evals.step)
    assert ev_step == 42192  # evaluation.interval = 42192


def test_bevfusion_resumed_json_with_checkpoint_meta():
    run = read_cached(real(f"{BEVFUSION}.log.json"))
    m, t = run.meta, run.train
    # line 1: {"fp16": {...}, "epoch": 2, "iter": 61790, ...} -> resumed, ipe = 61790 / 2
    assert m["segments"][0]["resumed_from"] == {"epoch": 2, "iter": 61790}
    assert (m["iters_per_epoch"], m["iters_per_epoch_estimated"], m["fp16"]) == (30895, True, True)
    assert (t.epoch.iloc[0], t["iter"].iloc[0], t.step.iloc[0]) == (3, 50, 2 * 30895 + 50)
    assert t["loss/object/layer_-1_loss_cls"].iloc[0] == 0.09689
    assert int(np.isinf(t.grad_norm).sum()) == 42 and int(np.isnan(t.grad_norm).sum()) == 3
    assert set(run.layers.group) == {"object"} and set(run.layers.layer) == {0}
    assert m["ended"] == "unknown"  # no config: the plan is unknown, and the last epoch is complete


def test_mmengine_vis_data_json():
    run = read_cached(real(f"{MMENGINE}.json"))
    m, t, ev = run.meta, run.train, run.evals
    # epoch 2 starts at step 7380 = 7330 + 50: 7330 iters per epoch (estimated)
    assert (m["iters_per_epoch"], m["iters_per_epoch_estimated"], m["runner"]) == (7330, True, "epoch")
    row = t[t.step == 7380].iloc[0]
    assert (row.epoch, row["iter"]) == (2, 50)
    assert t.loss.iloc[0] == pytest.approx(35.37679458618164, abs=0)  # full precision kept
    assert "base_lr" in t.columns
    assert list(ev[ev.metric == "coco/bbox_mAP"].epoch) == list(range(1, 18))
    assert ev[ev.metric == "coco/bbox_mAP"].value.iloc[0] == 0.051
    assert ev[ev.metric == "coco/bbox_mAP"].step.iloc[0] == 7330
    assert m["ended"] == "stopped"  # stops inside epoch 18
    assert m["num_decoder_layers"] == 6 and m["has_aux_loss"] is True


def test_console_capture_ends_in_traceback():
    run = read_cached(real(f"{CONSOLE}.log"))
    m = run.meta
    assert (
        m["ended"] == "traceback: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn"
    )
    assert m["skipped"] == {"traceback": 22}
    assert (m["runner"], m["max_iters"]) == ("iter", 281300)
    assert run.train.eta_s.iloc[0] == 86400 + 12 * 3600 + 28 * 60 + 51  # eta: 1 day, 12:28:51
    assert list(run.train.frame_0_loss_cls) == [0.0, 0.0]  # a logged 0.0000 stays 0, it is not missing
    assert list(run.train.loss) == [2.7446, 2.9298]
