"""Which kind of log a file is, from its content (never from its name).

- JSON lines whose rows carry `"mode"` or whose first line is mmcv run/checkpoint meta
  -> `mmcv-json`; other JSON-object lines (`"step"` rows, test dumps) -> `mmengine-json`.
- Text with mmcv (`2024-04-07 18:21:18,692 - mmdet - INFO - `) or mmengine
  (`2022/08/22 15:51:56 - mmengine - INFO - `) logger lines -> `text` (the text parser
  tells mmcv-text, mmengine-text and console captures apart).
- A pretty-printed JSON document (first line `{`) and anything else -> None.
"""
from __future__ import annotations

import re

SNIFF = 1 << 20
_TEXT = re.compile(
    rb"(?m)^(?:[^\n]*\r)?(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - \S+ - [A-Z]+ - |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d - \S+ - [A-Z]+ - )"
)
MMCV_META_KEYS = (b'"env_info"', b'"config"', b'"mmcv_version"', b'"exp_name"', b'"hook_msgs"')


def detect(data) -> str | None:
    """`data`: bytes or a uint8 array."""
    head = bytes(memoryview(data)[:SNIFF])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        first = stripped.split(b"\n", 1)[0]
        if first.rstrip() == b"{":
            return None  # a pretty-printed JSON document (results, configs), not JSON lines
        if b'"mode": ' in head or b'"mode":' in head:
            return "mmcv-json"
        if any(k in first for k in MMCV_META_KEYS) or (b'"epoch"' in first and b'"step"' not in first and b'"iter"' in first):
            return "mmcv-json"
        return "mmengine-json"
    if _TEXT.search(head) or _TEXT.search(bytes(memoryview(data)[-SNIFF:])):
        return "text"
    return None
