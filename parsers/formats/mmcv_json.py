"""mmcv 1.x `<work_dir>/<YYYYmmdd_HHMMSS>.log.json`: JSON lines whose rows carry `"mode"`,
or whose first line is run meta (`env_info`, `config`, `exp_name` …) or a resumed run's
checkpoint meta (`{"epoch": 2, "iter": 61790, …}`).

    {"mode": "train", "epoch": 1, "iter": 50, "lr": 0.0002, "memory": 16978, "loss": 4.2288, …}

Read by the JSON-lines engine (`parsers.formats.jsonl`).
"""

from __future__ import annotations

from parsers.follow import read_whole
from parsers.formats.jsonl import first_line
from parsers.formats.jsonl.follow import JsonFollower
from parsers.segment import Segment
from parsers.source import MemorySource

MMCV_META_KEYS = (b'"env_info"', b'"config"', b'"mmcv_version"', b'"exp_name"', b'"hook_msgs"')


def sniff(head: bytes) -> bool:
    first = first_line(head)
    if first is None:
        return False
    if b'"mode": ' in head or b'"mode":' in head or any(k in first for k in MMCV_META_KEYS):
        return True
    return b'"epoch"' in first and b'"step"' not in first and b'"iter"' in first  # checkpoint meta


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_whole(MemorySource(source, content.pop(), []), follower(source, engine, chunk), array=True)


def follower(source: str, engine: str = "fast", chunk: int | None = None) -> JsonFollower:
    return JsonFollower(source, "mmcv", engine, chunk)
