"""Console captures of mmengine runs: nohup.out, slurm-*.out, wandb `files/output.log`.

    10/10 17:36:37 - mmengine - INFO - Epoch(train)  [1][  50/3517]  lr: …

mmengine's console formatter drops the year (its file log keeps it). Such a file often
holds several launches appended to one another, interleaved with tracebacks, progress bars
and prints; each launch's year is found from its `Exp name` stamp or a neighbouring launch
(`parsers.formats.text.clock`, `parsers.formats.text.follow`). Read by the text engine
(`parsers.formats.text`); captures of logger lines with the year are read by `mmcv_text`
and `mmengine_text` and labelled `console` there.
"""

from __future__ import annotations

from parsers.follow import read_whole
from parsers.formats.text.dialect import dialect_of
from parsers.formats.text.follow import TextFollower
from parsers.segment import Segment
from parsers.source import MemorySource

DIALECT = "mmengine-console"


def sniff(head: bytes) -> bool:
    return dialect_of(head) == DIALECT


def read(source: str, content, engine: str = "fast", chunk: int | None = None) -> list[Segment]:
    return read_whole(MemorySource(source, bytes(content.pop()), []), follower(source, engine, chunk))


def follower(source: str, engine: str = "fast", chunk: int | None = None) -> TextFollower:
    return TextFollower(source, DIALECT, engine, chunk)
