"""Training-log parsers: log files in, `Run`s out. Knows formats, nothing about diagnosis.

This module is the package's public surface: code outside `parsers` imports only what is
named here (`from parsers import read_paths`), never a submodule (an import-linter
contract in pyproject.toml holds bevlog to it).

Reading
    read_paths(paths, jobs=None, progress=None, beside=False, notes=None) -> (runs, problems)
                  PATH arguments (files, dirs searched recursively, globs, '-') -> runs in
                  argument order and one ParseError per unreadable input: THE road every
                  command takes
    read(path, beside=False) -> Run       `read_paths([path])` expecting one run (else ParseError)
    read_many(paths) -> [Run]             `read_paths` raising its first problem
    plan(paths, beside=False, notes=None) -> ([Job], problems)
                  the road in steps, for a command that works where the runs are read
                  (diagnose's worker pool): discover and group the files ...
    read_job(job) -> ([Run], problems)    ... read one group (in a worker) ...
    map_jobs(fn, jobs, jobs=None, progress=None, label=..., preload=None) -> [fn(job)]
                  ... over all groups, in worker processes when there are many
    Job                                   one candidate group of files (name, units)
    read_file(path, engine="fast", chunk=None) -> [Segment]
                  one file -> its launches (the format table, parsers.formats)
    build_run(segments, name, sources) -> Run
                  the launches of ONE run -> its Run
    drop_copies(items, meta_of) -> (items, notes)
                  one run captured twice (its log file, a console copy) kept once: what
                  read_paths does, for a command that reads through plan / map_jobs
    LiveLog(path)                         a log still being written, read incrementally
    newest_log_in(folder), newest_sibling(path)
                  the log of a work dir to follow, and a newer rotation of one
The run
    Run, Meta (LrSchedule, Segments, SegmentInfo, ResumePoint, EmptyEvaluation), Segment,
    TRAIN_COLUMNS, LAYERS_COLUMNS, EVALS_COLUMNS, META_KEYS
    segment_starts(train)                 bool per train row: the first row of each resumed launch
    ParseError                            the one exception for unreadable input; str() is one line
    exception_line(exc) -> str            `Type: first line of the message`, bounded
    signals_held()                        `with`: SIGINT/SIGTERM/SIGHUP wait for the block's end
Facts read from logs that the analysis shares
    base_lr(config)                       the lr of a config's (first) optimizer
    Crash, last_traceback(lines), last_lines(lines, n), traceback_block(lines, n)
                                          how a log ended (from `Run.meta.tail`)
    STATS_GROUP, is_stats_group, group_terms, term_wide, layers_part, layers_wide,
    empty_layers, logged_layer_counts     per-decoder-layer columns and views of `Run.layers`

Which files are one run is decided from evidence (parsers.identity): a resume record or
steps that continue; two attempts of one config in one work dir are two runs.

Imports: every module of the package imports what it needs at its top, except here.
`import parsers` must stay light (`bevlog --help` and `bevlog watch --help` import it and
must not load numpy, pandas or pyarrow, and `bevlog --help` wants none of the run's
dataclasses either), so this module imports only `signals_held` and loads everything else
on first use of its name (`_LAZY`, PEP 562). For the same reason
`parsers.run.segment_starts` imports numpy when called, and parsers.pool imports rich only
when it draws a progress bar.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from parsers.signals import signals_held

if TYPE_CHECKING:
    from parsers.assemble import build_run
    from parsers.captures import drop_copies
    from parsers.config_facts import base_lr
    from parsers.discovery import newest_log_in, newest_sibling
    from parsers.io import exception_line
    from parsers.layers import (
        STATS_GROUP,
        empty_layers,
        group_terms,
        is_stats_group,
        layers_part,
        layers_wide,
        logged_layer_counts,
        term_wide,
    )
    from parsers.live import LiveLog
    from parsers.loader import read_file
    from parsers.reader import Job, map_jobs, plan, read, read_job, read_many, read_paths
    from parsers.run import (
        EVALS_COLUMNS,
        LAYERS_COLUMNS,
        META_KEYS,
        TRAIN_COLUMNS,
        EmptyEvaluation,
        LrSchedule,
        Meta,
        ParseError,
        ResumePoint,
        Run,
        SegmentInfo,
        Segments,
        segment_starts,
    )
    from parsers.segment import Segment
    from parsers.tracebacks import Crash, last_lines, last_traceback, traceback_block

_LAZY = {
    "parsers.run": (
        "EVALS_COLUMNS",
        "LAYERS_COLUMNS",
        "META_KEYS",
        "TRAIN_COLUMNS",
        "EmptyEvaluation",
        "LrSchedule",
        "Meta",
        "ParseError",
        "ResumePoint",
        "Run",
        "SegmentInfo",
        "Segments",
        "segment_starts",
    ),
    "parsers.reader": ("read_paths", "read", "read_many", "plan", "Job", "read_job", "map_jobs"),
    "parsers.loader": ("read_file",),
    "parsers.assemble": ("build_run",),
    "parsers.captures": ("drop_copies",),
    "parsers.segment": ("Segment",),
    "parsers.live": ("LiveLog",),
    "parsers.discovery": ("newest_log_in", "newest_sibling"),
    "parsers.io": ("exception_line",),
    "parsers.config_facts": ("base_lr",),
    "parsers.tracebacks": ("Crash", "last_traceback", "last_lines", "traceback_block"),
    "parsers.layers": (
        "STATS_GROUP",
        "is_stats_group",
        "group_terms",
        "term_wide",
        "layers_part",
        "layers_wide",
        "empty_layers",
        "logged_layer_counts",
    ),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'parsers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "EVALS_COLUMNS",
    "LAYERS_COLUMNS",
    "META_KEYS",
    "TRAIN_COLUMNS",
    "EmptyEvaluation",
    "LrSchedule",
    "Meta",
    "ParseError",
    "ResumePoint",
    "Run",
    "SegmentInfo",
    "Segments",
    "segment_starts",
    "signals_held",
    "read_paths",
    "read",
    "read_many",
    "plan",
    "Job",
    "read_job",
    "map_jobs",
    "read_file",
    "build_run",
    "drop_copies",
    "Segment",
    "LiveLog",
    "newest_log_in",
    "newest_sibling",
    "exception_line",
    "base_lr",
    "Crash",
    "last_traceback",
    "last_lines",
    "traceback_block",
    "STATS_GROUP",
    "is_stats_group",
    "group_terms",
    "term_wide",
    "layers_part",
    "layers_wide",
    "empty_layers",
    "logged_layer_counts",
]
