"""Localized or customized headers: the config dump and the environment block are found
by their content, not by the English label of the line before them. A script translates
the labels of a real log's header (what some teams' train scripts log); the translated
copy must give the same batch, fp16, schedule and GPU count as the original."""

import re

import pytest
from parsers_testlib import (
    read_run,
)
from repo_paths import REAL_SET1, REAL_SET2

# The labels a team's tools/train.py writes (mmcv 1.x) or that an mmengine fork renames.
# Keys inside the environment block (`GPU 0,1,2,3:`, `GPU number:`) come from mmcv's /
# mmengine's collect_env, not from the team's script: they stay.
LABELS = {
    "Environment info:": "环境信息:",
    "System environment:": "系统环境:",
    "Runtime environment:": "运行环境:",
    "Distributed training:": "分布式训练:",
    "Config:": "配置:",
}
FACTS = (
    "samples_per_gpu",
    "num_gpus",
    "total_batch",
    "fp16",
    "optimizer",
    "lr",
    "grad_clip",
    "lr_schedule",
    "max_epochs",
    "max_iters",
)
# log -> (samples per GPU, GPUs, total batch, fp16, lr policy) as the READMEs state them
LOGS = {
    "mmcv DETR3D": (
        REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log",
        (1, 4, 4, False, "CosineAnnealing"),
    ),
    "mmcv StreamPETR fp16": (
        REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log",
        (4, 4, 16, True, "CosineAnnealing"),
    ),
    "mmengine EPCPE": (
        REAL_SET2 / "CVIU-CSU__EPCPE__20240308_185617" / "20240308_185617.log",
        (8, 4, 32, False, "MultiStepLR"),
    ),
}


def translate(text: str) -> str:
    for english, local in LABELS.items():
        text = re.sub(rf"(?m)( - [A-Z]+ - |^\s*){re.escape(english)}", lambda m, local=local: m.group(1) + local, text)
    return text


@pytest.mark.parametrize("name", sorted(LOGS))
def test_localized_header_gives_the_same_facts(tmp_path, name, engine):
    path, (per_gpu, gpus, batch, fp16, policy) = LOGS[name]
    localized = translate(path.read_text())
    assert "配置:" in localized and not re.search(
        r" - INFO - (Config|Distributed training|Environment info):", localized
    )
    p = tmp_path / path.name
    p.write_text(localized)
    got, want = read_run(p, engine).meta, read_run(path, engine).meta
    assert {k: got[k] for k in FACTS} == {k: want[k] for k in FACTS}
    assert (got["samples_per_gpu"], got["num_gpus"], got["total_batch"], got["fp16"], got["lr_schedule"]["policy"]) == (
        per_gpu,
        gpus,
        batch,
        fp16,
        policy,
    )


def test_a_label_only_is_not_a_config():
    """A message ending in ':' followed by a table or a model repr is not a config dump."""
    from parsers.formats.text.header import block_kind

    assert block_kind(["+------+-----+", "| Class | IoU |"]) is None
    assert block_kind(["Detr3D(", "  (img_backbone): ResNet("]) is None
    assert block_kind(["before_run:", "(VERY_HIGH   ) RuntimeInfoHook"]) is None
    assert block_kind(["optimizer = dict(type='AdamW', lr=0.0002)"]) == "config"
    assert block_kind(["point_cloud_range = [-51.2, -51.2, -5.0]", "class_names = ['car']"]) == "config"
    assert block_kind(["------", "sys.platform: linux", "GPU 0,1: NVIDIA A100"]) == "env"
