"""mmcv 1.x log-line structure, as regexes derived from the real logs in fixtures/real.

`test_bevdetr_log_format.py` checks that these match every `Epoch [` and `Epoch(val)` line of
the real DETR3D log before the bevdetr tests hold bevdetr's logs to them.
"""

import json
import os
import re

from repo_paths import REAL_SET1

REAL_TEXT = os.path.join(REAL_SET1, "PrymceQ__3DDetection_DETR3D__20230727_114037.log")
REAL_JSON = REAL_TEXT + ".json"

PREFIX = r"(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - (?P<logger>[\w.]+) - INFO - "
NUM = r"(?:-?\d+\.\d{4}|-?nan|-?inf)"
ITEM = r"[\w./-]+: " + NUM
ITEMS = r"(?P<items>" + ITEM + r"(?:, " + ITEM + r")*)"
TRAIN_LINE = re.compile(
    "^" + PREFIX + r"Epoch \[(?P<epoch>\d+)\]\[(?P<iter>\d+)/(?P<n>\d+)\]\t"
    r"lr: (?P<lr>\d\.\d{3}e[-+]\d{2}), eta: (?P<eta>(?:\d+ days?, )?\d{1,2}:\d{2}:\d{2}), "
    r"time: (?P<time>\d+\.\d{3}), data_time: (?P<data_time>\d+\.\d{3}), (?:memory: (?P<memory>\d+), )?" + ITEMS + "$"
)
VAL_LINE = re.compile("^" + PREFIX + r"Epoch\(val\) \[(?P<epoch>\d+)\]\[(?P<n>\d+)\]\t" + ITEMS + "$")
RECORD = re.compile("^" + PREFIX + "(?P<message>.*)$")


def items(match) -> dict[str, float]:
    """`k: v, k: v` of a matched line -> ordered {k: float(v)}."""
    return {k: float(v) for k, v in (kv.split(": ") for kv in match["items"].split(", "))}


def read_json_rows(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def epoch_lines(path: str):
    """(kind, match) for every train / val line of a text log, in order."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if " - INFO - Epoch [" in line:
                out.append(("train", TRAIN_LINE.match(line)))
            elif " - INFO - Epoch(val) " in line:
                out.append(("val", VAL_LINE.match(line)))
    return out


def _close(a: float, b: float, tol: float) -> bool:
    if a != a or b != b:  # nan
        return a != a and b != b
    if a in (float("inf"), float("-inf")) or b in (float("inf"), float("-inf")):
        return a == b
    return abs(a - b) <= tol


def assert_text_and_json_agree(text_path: str, json_path: str) -> int:
    """Every train / val line of the .log has its .log.json row, in order, with the same keys and values.

    Text floats carry 4 decimals (lr 3 significant digits, times 3 decimals), JSON floats 5.
    Returns the number of rows compared.
    """
    lines = epoch_lines(text_path)
    rows = [r for r in read_json_rows(json_path) if "mode" in r]
    assert len(lines) == len(rows), (len(lines), len(rows))
    for (kind, m), row in zip(lines, rows):
        assert m is not None, f"line does not match the mmcv structure: {row}"
        assert row["mode"] == kind and row["epoch"] == int(m["epoch"])
        text_items = items(m)
        if kind == "train":
            assert row["iter"] == int(m["iter"])
            assert _close(row["lr"], float(m["lr"]), 5e-6 + 5e-4 * abs(row["lr"]))
            assert _close(row["time"], float(m["time"]), 5.1e-4)
            assert _close(row["data_time"], float(m["data_time"]), 5.1e-4)
            head = ["mode", "epoch", "iter", "lr"] + (["memory"] if "memory" in row else []) + ["data_time"]
            assert list(row) == head + list(text_items) + ["time"]
            if m["memory"] is not None:
                assert row["memory"] == int(m["memory"])
            else:
                assert "memory" not in row
        else:
            assert row["iter"] == int(m["n"])
            assert list(row) == ["mode", "epoch", "iter", "lr"] + list(text_items)
        for key, value in text_items.items():
            assert _close(row[key], value, 5.1e-5), (key, row[key], value)
    return len(rows)
