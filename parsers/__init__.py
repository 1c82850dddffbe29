"""Training-log parsers: `read(path) -> Run`. Knows formats, nothing about diagnosis.

`read(path)`         a log file, a work dir of ONE run, or '-' (stdin) -> Run
`read_many(paths)`   files/dirs grouped into runs (twins and resumes joined) -> [Run]
`discover(path)`     the groups of log files, one per run (rules: parsers.discovery)
`ParseError`         the one exception for unreadable input; str() is one line
`Meta`               the typed, frozen `Run.meta` (every field declared in parsers.meta_types)
`segment_starts(train)`  bool per train row: the first row of each resumed launch

Heavy modules (pandas, pyarrow) are imported only when a log is actually read.
"""
from parsers.run import (
    EVALS_COLUMNS, LAYERS_COLUMNS, META_KEYS, TRAIN_COLUMNS, LrSchedule, Meta, ParseError, ResumePoint, Run,
    SegmentInfo, Segments, segment_starts,
)


def read(path) -> Run:
    from parsers.reader import read as _read

    return _read(path)


def read_many(paths) -> list:
    from parsers.reader import read_many as _read_many

    return _read_many(paths)


def discover(path) -> list:
    from parsers.discovery import discover as _discover

    return _discover(path)


__all__ = [
    "Run", "ParseError", "read", "read_many", "discover",
    "Meta", "LrSchedule", "Segments", "SegmentInfo", "ResumePoint", "segment_starts",
    "TRAIN_COLUMNS", "LAYERS_COLUMNS", "EVALS_COLUMNS", "META_KEYS",
]
