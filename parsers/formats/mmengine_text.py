"""mmengine text logs: `<work_dir>/<YYYYmmdd_HHMMSS>/<YYYYmmdd_HHMMSS>.log`, and console
captures of them.

    2022/08/22 15:51:56 - mmengine - INFO - Epoch(train)  [1][  50/3517]  base_lr: 1.0000e-04 lr: …

Logger lines with the year (the file handler's format). A file whose content shows a
terminal (a traceback, progress bars, output before the first logger line) is labelled
`console`. Read by the text engine (`parsers.formats.text`).
"""

from __future__ import annotations

from parsers.follow import read_whole
from parsers.formats.text.dialect import dialect_of
from parsers.formats.text.follow import TextFollower
from parsers.segment import Segment
from parsers.source import MemorySource

DIALECT = "mmengine"


def sniff(head: bytes) -> bool:
    return dialect_of(head) == DIALECT


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_whole(MemorySource(source, bytes(content.pop()), []), follower(source, engine, chunk))


def follower(source: str, engine: str = "fast", chunk: int | None = None) -> TextFollower:
    return TextFollower(source, DIALECT, engine, chunk)
