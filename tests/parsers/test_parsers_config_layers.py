"""Config dumps read with ast (never executed) and the decoder-layer key grammar."""

import pytest
from parsers_testlib import DETR3D, real

from parsers.config import read_config
from parsers.config_facts import decoder_layers, lr_schedule, num_gpus
from parsers.layers import classify, has_aux, layer_columns


def test_config_literals_and_source_text(tmp_path):
    marker = tmp_path / "pwned"
    text = f"""
data = dict(samples_per_gpu=2, train=dict(type='X', pipeline=[dict(type='Load'), dict(type='Norm', mean=[1.0, -2.5])]))
gpu_ids = range(0, 4)
total = 2 * 12
evil = __import__('os').system('touch {marker}')
lr_config = dict(policy='step', step=[16, 22], warmup_ratio=1.0 / 3)
flags = {{'a': True, 'b': None, 3: (1, 2)}}
"""
    cfg = read_config(text)
    assert not marker.exists()  # nothing from a log is executed
    assert cfg["data"]["samples_per_gpu"] == 2
    assert cfg["data"]["train"]["pipeline"][1]["mean"] == [1.0, -2.5]
    assert cfg["gpu_ids"] == "range(0, 4)"
    assert cfg["total"] == "2 * 12"
    assert cfg["evil"].startswith("__import__('os')")
    assert cfg["lr_config"]["warmup_ratio"] == "1.0 / 3"
    assert cfg["flags"] == {"a": True, "b": None, 3: (1, 2)}
    assert num_gpus(cfg) == (4, "config gpu_ids")


def test_config_that_does_not_parse_keeps_what_does():
    text = "a = 1\nb = dict(x=[1, 2\nc = 'ok'\nd = dict(\n    y=3)\n"
    assert read_config(text) == {"a": 1, "c": "ok", "d": {"y": 3}}
    assert read_config("") is None and read_config("((((") is None


def test_real_config_dump():
    from parsers_testlib import read_cached

    cfg = read_cached(real(f"{DETR3D}.log")).meta["config"]
    assert decoder_layers(cfg) == 6
    assert lr_schedule(cfg).policy == "CosineAnnealing"
    assert cfg["point_cloud_range"] == [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]


@pytest.mark.parametrize(
    "key, expected",
    [
        ("loss_cls", ("", "cls", "final")),
        ("d3.loss_bbox", ("", "bbox", 3)),
        ("frame_0_d1.dn_loss_cls", ("frame_0_dn", "cls", 1)),
        ("frame_0_enc_loss_iou", ("frame_0_enc", "iou", "final")),
        ("dn_loss_bbox", ("dn", "bbox", "final")),
        ("d0.dn_loss_cls", ("dn", "cls", 0)),
        ("loss_cls_5", ("", "cls", 5)),  # Sparse4D numbers every layer
        ("loss_box_dn_2", ("dn", "box", 2)),
        ("loss/object/layer_-1_loss_cls", ("object", "cls", "final")),  # TransFusion / BEVFusion
        ("loss/object/layer_0_loss_bbox", ("object", "bbox", 0)),
        ("loss", None),
        ("loss_rpn_cls", None),
        ("frame_0_centers2d_losses", None),
        ("loss/object/loss_heatmap", None),
        ("centerness_loss_x", None),
    ],
)
def test_layer_key_grammar(key, expected):
    assert classify(key) == expected


def test_layer_numbering():
    keys = [
        "loss",
        "loss_cls",
        "loss_bbox",
        "d0.loss_cls",
        "d0.loss_bbox",
        "d1.loss_cls",
        "d1.loss_bbox",
        "enc_loss_cls",
    ]
    cols = {c[0]: (c[1], c[2], c[3]) for c in layer_columns(keys, None)}
    assert cols["loss_cls"] == ("", "cls", 2) and cols["d0.loss_cls"] == ("", "cls", 0)
    assert cols["enc_loss_cls"] == ("enc", "cls", 0)
    assert has_aux(keys)
    # aux losses off: only the final layer is logged; the config says 6 layers -> layer 5
    assert layer_columns(["loss_cls", "loss_bbox"], 6) == [("loss_cls", "", "cls", 5), ("loss_bbox", "", "bbox", 5)]
    assert layer_columns(["loss_cls", "loss_bbox"], None) == []
    assert not has_aux(["loss_cls", "loss_bbox", "enc_loss_cls"])
