"""mmcv 1.x text logs: `<work_dir>/<YYYYmmdd_HHMMSS>.log`, and console captures of them.

    2024-04-07 18:21:18,692 - mmdet - INFO - Epoch [1][50/3517]	lr: 2.000e-04, eta: 2 days, 7:04:24, …

Logger lines with the date, milliseconds and logger name (mmdet, mmdet3d, mmseg …). A file
whose content shows a terminal (a traceback, progress bars, output before the first logger
line) is labelled `console`. Read by the text engine (`parsers.formats.text`), whose fast
path for mmcv train lines (`parsers.formats.text.mmcv_lines`) reads the bulk of the rows.
"""

from __future__ import annotations

from parsers.formats.text.dialect import dialect_of
from parsers.formats.text.launches import read_launches
from parsers.formats.text.pieces import read_big as read_big_text
from parsers.segment import Segment

DIALECT = "mmcv"


def sniff(head: bytes) -> bool:
    return dialect_of(head) == DIALECT


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_launches(source, content, DIALECT, engine, chunk)


def read_big(path: str, source: str) -> list[Segment] | None:
    return read_big_text(path, source, DIALECT)
