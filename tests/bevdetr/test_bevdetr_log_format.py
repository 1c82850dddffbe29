"""The mmcv format pieces: regexes checked against a real log, then bevdetr's formatter units."""

import ast
import math

import pytest
from bevdetr_logformat import (
    REAL_JSON,
    REAL_TEXT,
    RECORD,
    TRAIN_LINE,
    VAL_LINE,
    assert_text_and_json_agree,
    epoch_lines,
)

from bevdetr.log import (
    LogBuffer,
    RawPython,
    eta_string,
    format_train_line,
    format_val_line,
    hook_table,
    pretty_config,
    record_prefix,
)


def test_regexes_match_every_line_of_a_real_log():
    lines = epoch_lines(REAL_TEXT)
    assert sum(kind == "train" for kind, _ in lines) == 3360
    assert sum(kind == "val" for kind, _ in lines) == 12
    assert all(m is not None for _, m in lines)


def test_agreement_check_holds_on_the_real_twin_files():
    assert assert_text_and_json_agree(REAL_TEXT, REAL_JSON) == 3372


def test_train_line_structure():
    log_dict = {
        "mode": "train",
        "epoch": 3,
        "iter": 50,
        "lr": 2e-4,
        "memory": 1234,
        "data_time": 0.0123,
        "loss_cls": 1.23456,
        "d0.loss_cls": float("nan"),
        "loss": 2.5,
        "grad_norm": 35.0,
        "time": 0.5,
    }
    line = format_train_line(log_dict, 7033, eta_string(2 * 86400 + 7 * 3600 + 4 * 60 + 24.9))
    assert line == (
        "Epoch [3][50/7033]\tlr: 2.000e-04, eta: 2 days, 7:04:24, time: 0.500, data_time: 0.012, "
        "memory: 1234, loss_cls: 1.2346, d0.loss_cls: nan, loss: 2.5000, grad_norm: 35.0000"
    )
    assert TRAIN_LINE.match(record_prefix(1.5e9) + line)
    no_cuda = {k: v for k, v in log_dict.items() if k != "memory"}
    assert "memory" not in format_train_line(no_cuda, 7033, "0:00:01")


def test_eta_uses_timedelta_text():
    assert eta_string(86400) == "1 day, 0:00:00"
    assert eta_string(59.9) == "0:00:59"


def test_val_line_structure():
    line = format_val_line({"mode": "val", "epoch": 2, "iter": 32, "lr": 1e-3, "bevdetr/mAP": 0.25})
    assert line == "Epoch(val) [2][32]\tbevdetr/mAP: 0.2500"
    assert VAL_LINE.match(record_prefix(1.5e9) + line)


def test_prefix_has_milliseconds_after_a_comma():
    m = RECORD.match(record_prefix(1.5e9 + 0.0421) + "hello")
    assert m and m["ts"].endswith(",042") and m["logger"] == "mmdet" and m["message"] == "hello"


def test_log_buffer_weighted_interval_mean():
    buf = LogBuffer()
    for value, n in [(1.0, 1), (2.0, 1), (4.0, 3)]:
        buf.update({"loss": value}, n)
    buf.average(2)
    assert buf.output["loss"] == pytest.approx((2.0 + 4.0 * 3) / 4)
    buf.update({"loss": math.nan}, 1)
    buf.average(2)
    assert math.isnan(buf.output["loss"])  # one bad iteration makes the interval mean nan, as in mmcv


def test_config_dump_is_python_that_ast_reads():
    config = {
        "model": {"type": "BEVDETR", "decoder": {"num_layers": 6, "post_norm": True}},
        "class_names": ["car", "truck", "pedestrian", "cyclist", "barrier", "something_long_enough"],
        "workflow": [("train", 1)],
        "lr": 1e-3,
        "resume_from": None,
        "gpu_ids": RawPython("range(0, 2)"),
    }
    text = pretty_config(config)
    tree = ast.parse(text)
    values = {node.targets[0].id: node.value for node in tree.body}
    assert list(values) == list(config)
    assert ast.literal_eval(values["workflow"]) == [("train", 1)]
    assert ast.literal_eval(values["class_names"]) == config["class_names"]
    assert "gpu_ids = range(0, 2)" in text.splitlines()
    assert max(len(line) for line in text.splitlines()) <= 79


def test_hook_table_layout():
    text = hook_table({"before_run": [("VERY_HIGH", "StepLrUpdaterHook")], "after_run": []})
    assert text == "before_run:\n(VERY_HIGH   ) StepLrUpdaterHook                  \n -------------------- "
