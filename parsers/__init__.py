"""Training-log parsers. Knows formats, nothing about diagnosis.

`read_paths(paths)`  PATH arguments (files, dirs searched recursively, globs, '-') ->
                     (runs, problems): THE road every command takes (parsers.reader)
`read(path)`         `read_paths([path])` expecting one run -> Run (else ParseError)
`read_many(paths)`   `read_paths` raising its first problem -> [Run]
`ParseError`         the one exception for unreadable input; str() is one line
`Meta`               the typed, frozen `Run.meta` (every field declared in parsers.meta)
`segment_starts(train)`  bool per train row: the first row of each resumed launch

Which files are one run is decided from evidence (parsers.identity): a resume record or
steps that continue; two attempts of one config in one work dir are two runs.
Heavy modules (pandas, pyarrow) are imported only when a log is actually read.
"""
from parsers.run import (
    EVALS_COLUMNS, LAYERS_COLUMNS, META_KEYS, TRAIN_COLUMNS, LrSchedule, Meta, ParseError, ResumePoint, Run,
    SegmentInfo, Segments, segment_starts,
)


def read_paths(paths, jobs=None, progress=None, beside=False, notes=None):
    from parsers.reader import read_paths as _read_paths

    return _read_paths(paths, jobs=jobs, progress=progress, beside=beside, notes=notes)


def read(path, beside=False) -> Run:
    from parsers.reader import read as _read

    return _read(path, beside=beside)


def read_many(paths) -> list:
    from parsers.reader import read_many as _read_many

    return _read_many(paths)


__all__ = [
    "Run", "ParseError", "read_paths", "read", "read_many",
    "Meta", "LrSchedule", "Segments", "SegmentInfo", "ResumePoint", "segment_starts",
    "TRAIN_COLUMNS", "LAYERS_COLUMNS", "EVALS_COLUMNS", "META_KEYS",
]
