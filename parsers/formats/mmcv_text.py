"""mmcv 1.x text logs: `<work_dir>/<YYYYmmdd_HHMMSS>.log`, and console captures of them.

    2024-04-07 18:21:18,692 - mmdet - INFO - Epoch [1][50/3517]	lr: 2.000e-04, eta: 2 days, 7:04:24, …

Logger lines with the date, milliseconds and logger name (mmdet, mmdet3d, mmseg …). A file
whose content shows a terminal (a traceback, progress bars, output before the first logger
line) is labelled `console`. Read by the text engine (`parsers.formats.text`), whose fast
path for mmcv train lines (`parsers.formats.text.mmcv_lines`) reads the bulk of the rows.
"""

from __future__ import annotations

from parsers.follow import read_whole
from parsers.formats.text.dialect import dialect_of
from parsers.formats.text.follow import TextFollower
from parsers.segment import Segment
from parsers.source import MemorySource

DIALECT = "mmcv"


def sniff(head: bytes) -> bool:
    return dialect_of(head) == DIALECT


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_whole(MemorySource(source, bytes(content.pop()), []), follower(source, engine, chunk))


def follower(source: str, engine: str = "fast", chunk: int | None = None) -> TextFollower:
    return TextFollower(source, DIALECT, engine, chunk)
