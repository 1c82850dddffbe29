"""mmengine `<ts>/vis_data/scalars.json` (and its copy `vis_data/<ts>.json`): JSON lines
without `mode` — train rows carry `step` (global iter), val rows `step` = epoch and
metric keys with `/`, a test dump neither. mmengine writes the config next to it as
`vis_data/config.py`. Reading: parsers.formats.jsonl.reader."""
from __future__ import annotations

import os

from parsers.formats import mmcv_json

CONFIG_BYTES = 2_000_000


def sniff(head: bytes) -> bool:
    return mmcv_json.json_lines_first(head) is not None and not mmcv_json.sniff(head)


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list:
    from parsers.formats.jsonl.reader import read_json

    seg = read_json(source, content, "mmengine", engine, chunk)
    _attach_config(seg, source)
    return [seg]


def _attach_config(seg, source: str) -> None:
    cfg = os.path.join(os.path.dirname(os.path.abspath(source)), "config.py")
    if "config_text" in seg.header or source == "<stdin>" or not os.path.isfile(cfg):
        return
    try:
        with open(cfg, encoding="utf-8", errors="replace") as f:
            seg.header["config_text"] = f.read(CONFIG_BYTES)
    except OSError:
        pass
