"""Training-log parsers: `read(path) -> Run`. Knows formats, nothing about diagnosis.

`read(path)`         a log file, a work dir of ONE run, or '-' (stdin) -> Run
`read_many(paths)`   files/dirs grouped into runs (twins and resumes joined) -> [Run]
`discover(path)`     the groups of log files, one per run (rules: parsers.discovery)
`ParseError`         the one exception for unreadable input; str() is one line

Heavy modules (pandas, pyarrow) are imported only when a log is actually read.
"""
from parsers.run import EVALS_COLUMNS, LAYERS_COLUMNS, META_KEYS, TRAIN_COLUMNS, ParseError, Run


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
    "TRAIN_COLUMNS", "LAYERS_COLUMNS", "EVALS_COLUMNS", "META_KEYS",
]
