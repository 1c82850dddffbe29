"""mmengine `<work_dir>/<ts>/vis_data/scalars.json` (and its copy `vis_data/<ts>.json`):
JSON lines without `mode` — train rows carry `step` (global iter), val rows `step` = epoch
and metric keys with `/`, a test dump neither. mmengine writes the config next to it as
`vis_data/config.py`, which is read with it.

    {"lr": 0.0001, "data_time": 0.01, "loss": 1.2, "time": 0.5, "epoch": 1, "iter": 50, "memory": 799, "step": 50}

Read by the JSON-lines engine (`parsers.formats.jsonl`).
"""

from __future__ import annotations

import os
from dataclasses import replace

from parsers.follow import read_whole
from parsers.formats import mmcv_json
from parsers.formats.jsonl import first_line
from parsers.formats.jsonl.follow import JsonFollower
from parsers.io import STDIN_NAME
from parsers.segment import Segment
from parsers.source import MemorySource

CONFIG_BYTES = 2_000_000  # a config is tens of KB


def sniff(head: bytes) -> bool:
    """Every JSON-lines log that no other JSON-lines format claims (mmcv, DETR, detectron2)."""
    from parsers.formats import detectron2_json, detr_json

    return (
        first_line(head) is not None
        and not mmcv_json.sniff(head)
        and not detr_json.sniff(head)
        and not detectron2_json.sniff(head)
    )


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_whole(MemorySource(source, content.pop(), []), follower(source, engine, chunk), array=True)


def follower(source: str, engine: str = "fast", chunk: int | None = None) -> JsonFollower:
    return JsonFollower(source, "mmengine", engine, chunk, config_beside=with_config_beside)


def with_config_beside(seg: Segment) -> Segment:
    """The segment with the text of the `config.py` beside its file (when it states none)."""
    cfg = os.path.join(os.path.dirname(os.path.abspath(seg.source)), "config.py")
    if seg.config_text is not None or seg.source == STDIN_NAME or not os.path.isfile(cfg):
        return seg
    try:
        with open(cfg, encoding="utf-8", errors="replace") as f:
            return replace(seg, config_text=f.read(CONFIG_BYTES))
    except OSError:
        return seg
