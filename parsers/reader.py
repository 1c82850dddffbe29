"""The one road from paths to runs: `read_paths(paths) -> (runs, problems)`.

1. `plan`: PATH arguments -> discovery, once (`parsers.discovery.expand`: files, dirs
   searched recursively, globs, '-'), then candidate groups (`group_segments`: files of
   one run directory and name; twins `x.log` + `x.log.json` always in one unit). Names
   that would collide across groups are qualified by their directory.
2. `read_job` (in worker processes when there are many): every file of a group ->
   segments (`parsers.read_file`; a json twin refines its text's values), then
   `parsers.identity.split_runs` decides from evidence which segments are one run, then
   `parsers.assemble.build_run`. One unreadable file is one problem; the others are read.
3. `map_jobs`: the jobs in this process or a pool (one policy for every command).

Every command reads through here (`bevlog diagnose` runs its rules inside `read_job`'s
worker, through `map_jobs`); `read(path)` is `read_paths([path])` expecting one run.
Names are unique within one call.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from parsers.assemble import build_run
from parsers.captures import drop_copies
from parsers.discovery import expand, group_segments
from parsers.identity import dedupe, run_names, split_runs
from parsers.io import STDIN, display_name, per_file
from parsers.loader import read_file
from parsers.pool import default_jobs, map_with_progress
from parsers.run import ParseError, Run
from parsers.segment import Segment
from parsers.twins import refine_with_twin


@dataclass
class Job:
    """One candidate group: its run name and its units (a log file and its twins)."""

    name: str
    units: list = field(default_factory=list)


def read_paths(
    paths, jobs: int | None = None, progress: bool | None = None, beside: bool = False, notes: list | None = None
) -> tuple[list[Run], list[ParseError]]:
    """PATH arguments -> (runs in argument order, one ParseError per unreadable input).

    jobs: worker processes (None: all cores when there are more than 4 groups).
    progress: a bar on stderr (None: when it is a terminal and there are several groups).
    beside: each named file also brings the logs of its run from its run directory
    (resume segments, twins): what `bevlog watch` follows.
    notes: gets a line per file skipped that is no error (a named pipe called `x.log`), and
    per file that is a copy of a run read from another (`parsers.captures`).
    """
    work, problems = plan(paths, beside, notes)
    runs: list[Run] = []
    for got, errs in map_jobs(read_job, work, jobs, progress, "reading logs"):
        runs.extend(got)
        problems.extend(errs)
    runs, copies = drop_copies(runs)  # one run captured twice (its log and a console copy): once
    if notes is not None:
        notes.extend(copies)
    return runs, problems


def read(path, beside: bool = False) -> Run:
    """A file, a work dir of ONE run, or '-' (stdin) -> Run; ParseError otherwise.

    beside=True: the run `path` (a file) belongs to, with its resume segments and twins.
    """
    path = path if path == STDIN else os.fspath(path)
    runs, problems = read_paths([path], jobs=1, progress=False, beside=beside)
    if beside:
        here = os.path.abspath(path)
        runs = [
            r
            for r in runs
            if here in {os.path.abspath(p) for p in (r.meta.get("sources") or []) + (r.meta.get("twins") or [])}
        ]
    if len(runs) == 1 and not (problems and not beside):
        return runs[0]
    if problems:
        raise problems[0]
    if not runs:
        raise ParseError(path, "no training log found")
    names = ", ".join(r.name for r in runs)
    raise ParseError(path, f"holds {len(runs)} runs ({names}); use parsers.read_paths([path])")


def read_many(paths) -> list[Run]:
    """`read_paths` for library use: raises the first problem instead of returning it."""
    runs, problems = read_paths(paths, jobs=1, progress=False)
    if problems:
        raise problems[0]
    return runs


def plan(paths, beside: bool = False, notes: list | None = None) -> tuple[list[Job], list[ParseError]]:
    """PATH arguments -> (jobs in the order their files were named, problems)."""
    files, problems = expand(paths, beside, notes)
    groups = group_segments(files)
    first = {p: i for i, p in reversed(list(enumerate(files)))}
    groups.sort(key=lambda g: min(first[p] for units in g[1] for p in units))
    names = _qualified_names([key for key, _ in groups])
    return [Job(name, units) for name, (_, units) in zip(names, groups)], problems


def map_jobs(
    fn,
    work: list,
    jobs: int | None = None,
    progress: bool | None = None,
    label: str = "reading logs",
    preload=None,
    on_crash=None,
) -> list:
    """[fn(job) for job in work], in worker processes when there are many (stdin: here).

    A job whose call raised or whose worker died gives `on_crash(job, why)` (default: no
    runs and one problem naming its first file), never the end of the other jobs."""
    jobs = default_jobs(len(work), jobs)  # follows the runs found, not the PATH arguments
    if progress is None:
        progress = len(work) > 1 and sys.stderr.isatty()
    stdin = any(p == STDIN for job in work for unit in job.units for p in unit)
    return map_with_progress(
        fn, work, jobs, progress, label, in_process=stdin, preload=preload, on_crash=on_crash or _job_crashed
    )


def _job_crashed(job: Any, why: str) -> tuple[list, list[ParseError]]:
    """A job whose reading raised or whose worker died: one problem naming its first file."""
    first = job.units[0][0] if job.units and job.units[0] else job.name
    return [], [ParseError(display_name(first), f"could not be read ({why})")]


def read_job(job: Job) -> tuple[list[Run], list[ParseError]]:
    """One candidate group -> (its runs, split by evidence; problems). Runs in workers."""
    segments: list[Segment] = []
    problems: list[ParseError] = []
    for unit in job.units:
        try:
            segments.extend(read_unit(unit))
        except ParseError as exc:
            problems.append(exc)
        except OSError as exc:
            problems.append(ParseError(getattr(exc, "filename", None) or unit[0], exc.strerror or str(exc)))
    groups = split_runs(segments) if segments else []
    runs = []
    for segs, name in zip(groups, run_names(job.name, groups)):
        try:
            runs.append(_build(list(dict.fromkeys(s.source for s in segs)), segs, name))
        except ParseError as exc:
            problems.append(exc)
    return runs, problems


def read_unit(unit: list[str]) -> list[Segment]:
    """A log file and its twins -> its segments; a json twin refines a text log's values
    (`parsers.twins`); a twin that cannot be used is listed in `twins_not_read`."""
    segments = read_guarded(unit[0])
    refined = False
    for twin in unit[1:]:
        usable = (
            not refined
            and len(segments) == 1
            and segments[0].format.endswith("text")
            and twin.lower().endswith((".json", ".json.gz"))
        )
        if usable:
            try:
                seg = refine_with_twin(segments[0], read_guarded(twin)[0])
                segments[0] = replace(seg, twins_read=seg.twins_read + (display_name(twin),))
                refined = True
                continue
            except ParseError:
                pass
        segments[-1] = replace(segments[-1], twins_not_read=segments[-1].twins_not_read + (display_name(twin),))
    return segments


@per_file
def _build(sources: list[str], segments: list[Segment], name: str) -> Run:
    """One run's segments -> Run; anything unexpected becomes the run's (first file's) problem."""
    return build_run(segments, name, sources)


read_guarded = per_file(read_file)  # anything unexpected while reading a file becomes its problem


def _qualified_names(keys: list[tuple[str, str]]) -> list[str]:
    """Run names of the candidate groups, unique: a name that two run directories share is
    prefixed with as many trailing directory names as tell them apart (`b8/petr`)."""
    out = []
    for rdir, name in keys:
        dirs = [d for d, n in keys if n == name]
        if len(dirs) == 1:
            out.append(name)
            continue
        parts = {d: [p for p in d.replace("\\", "/").split("/") if p] for d in dirs}
        depth = max(len(p) for p in parts.values())
        k = next(
            (k for k in range(1, depth + 1) if len({"/".join(p[-k:]) for p in parts.values()}) == len(parts)), depth
        )
        tail = "/".join(parts[rdir][-k:])
        if parts[rdir] and parts[rdir][-1] == name:
            out.append(tail if k > 1 else name)
        else:
            out.append(f"{tail}/{name}" if tail else name)
    return dedupe(out)
