"""Config dumps read with ast (never executed) and the decoder-layer key grammar."""

import pytest
from parsers_testlib import DETR3D, STREAMPETR, read_cached, real

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


def test_each_reader_of_one_dump_gets_its_own_config():
    """A dump is parsed once and read by several steps of a run's assembly: what one of them
    changes in its dict reaches no other."""
    text = "data = dict(samples_per_gpu=2, pipeline=[dict(type='Load')])\nlr = 0.1\n"
    first = read_config(text)
    first["data"]["pipeline"].append("changed")
    first["lr"] = 9
    assert read_config(text) == {"data": {"samples_per_gpu": 2, "pipeline": [{"type": "Load"}]}, "lr": 0.1}


def test_real_config_dump():
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


def test_source_text_of_non_literals_is_what_ast_cuts_out():
    """read_config cuts a non-literal's text out of the dump itself (ast.get_source_segment
    re-splits the whole dump on every call): the same text, on line endings, form feeds and
    non-ASCII text that shift columns (every node), and on two real dumps (200 nodes of each,
    drawn with a fixed seed: the reference is slow on a big dump)."""
    import ast
    import random

    from parsers import read_file
    from parsers.config import _Source

    small = [
        "a = 1\r\nb = f(x)\rc = [g(1),\n  h(2)]\n",
        "x = dict(a='é', b=range(0, 4))\f\ny = 2 * 12",
        "z = ('ü' ,\r\n  foo(\n 'ß')) + 1",
    ]
    real_dumps = [read_file(real(f"{name}.log"))[0].config_text for name in (DETR3D, STREAMPETR)]
    rng = random.Random(0)
    compared = 0
    for text in small + real_dumps:
        source = _Source(text)
        nodes = [n for n in ast.walk(ast.parse(text)) if hasattr(n, "end_lineno")]
        for node in nodes if text in small else rng.sample(nodes, 200):
            assert source.segment(node) == ast.get_source_segment(text, node)
            compared += 1
    assert compared > 400
