"""Turn command-line PATH arguments into Runs.

A PATH may be a file, a work dir (searched recursively; one Run per run directory found),
a glob, `-` for stdin, or a `.gz` file. Unreadable input never stops the other paths: each
failure becomes one line naming the file (and line), and the command exits 2 at the end.
"""
from __future__ import annotations

import glob
import os
import sys

from bevlog.parallel import map_with_progress

GLOB_CHARS = set("*?[")


def expand_paths(patterns) -> tuple[list[list[str]], list[str]]:
    """PATH arguments -> (groups of files, one group per run; error lines)."""
    from parsers.discovery import discover, group_files

    groups: list[list[str]] = []
    errors: list[str] = []
    loose_files: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            groups.append(["-"])
            continue
        if GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                errors.append(f"{pattern}: no file matches this pattern")
        else:
            matches = [pattern]
        for path in matches:
            if os.path.isdir(path):
                found = discover(path)
                if not found:
                    errors.append(f"{path}: no training log found in this directory")
                groups.extend(found)
            elif os.path.exists(path):
                loose_files.append(path)
            else:
                errors.append(f"{path}: no such file or directory")
    if loose_files:
        # Twins (`x.log` + `x.log.json`) or resume segments named together are one run.
        groups.extend(group_files(loose_files))
    return groups, errors


def read_group(files: list[str]):
    """One group of files -> (Run or None, error line or None). Runs in worker processes too."""
    import parsers

    try:
        if len(files) == 1:
            return parsers.read(files[0]), None
        return parsers.read_many(files)[0], None
    except parsers.ParseError as exc:
        return None, str(exc)
    except OSError as exc:
        name = getattr(exc, "filename", None) or files[0]
        return None, f"{name}: {exc.strerror or exc}"


def load_runs(patterns, jobs: int | None = None, progress: bool | None = None):
    """PATH arguments -> (runs in argument order, error lines).

    jobs > 1 reads groups in that many processes (None: bevlog.parallel.default_jobs).
    """
    from bevlog.parallel import default_jobs

    groups, errors = expand_paths(patterns)
    jobs = default_jobs(len(groups), jobs)
    if progress is None:
        progress = len(groups) > 4 and sys.stderr.isatty()
    stdin = any("-" in group for group in groups)
    results = map_with_progress(read_group, groups, jobs, progress, "reading logs", in_process=stdin)
    runs = []
    for run, error in results:
        if error:
            errors.append(error)
        else:
            runs.append(run)
    return runs, errors
