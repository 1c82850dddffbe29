"""`read`, `read_many`: paths -> Runs (format detection, parsing, stitching)."""
from __future__ import annotations

import os

from parsers.discovery import STDIN, discover, group_segments, run_key
from parsers.io import display_name, read_log
from parsers.run import ParseError, Run


def read_segment(path: str):
    """One log file -> Segment (raises ParseError when it is not a readable log).
    Formats: parsers.formats; a file of several launches reads with its read_file."""
    from parsers.formats import read_file

    segments = read_file(path)
    if len(segments) > 1:
        raise ParseError(display_name(path), f"holds {len(segments)} launches appended to one file; read it with parsers.formats.read_file")
    return segments[0]


def read_files(files: list[str], twins: list[list[str]] | None = None) -> Run:
    """Files of ONE run (one per segment) -> Run. `twins[k]`: other files of segment k
    (a json twin refines the text's values, see parsers.twins)."""
    from parsers.assemble import build_run
    from parsers.twins import refine_with_twin

    segments = []
    not_read = []
    for k, f in enumerate(files):
        seg = read_segment(f)
        for twin in (twins[k] if twins else []):
            if seg.format.endswith("text") and twin.lower().endswith((".json", ".json.gz")):
                try:
                    refine_with_twin(seg, read_segment(twin))
                    seg.header.setdefault("twins_read", []).append(display_name(twin))
                    break
                except ParseError:
                    pass
            not_read.append(display_name(twin))
        segments.append(seg)
    name = run_key(files[0])[1]
    run = build_run(segments, name, [display_name(f) for f in files])
    run.meta["twins"] = [t for s in segments for t in s.header.get("twins_read", [])]
    run.meta["twins_not_read"] = not_read
    return run


def _read_groups(groups) -> list[Run]:
    return [read_files([seg[0] for seg in run], [seg[1:] for seg in run]) for run in groups]


def read(path) -> Run:
    """A file, a work dir of ONE run, or '-' (stdin) -> Run."""
    path = os.fspath(path) if path != STDIN else path
    if path != STDIN and os.path.isdir(path):
        from parsers.discovery import find_logs

        groups = group_segments(find_logs(path))
        if not groups:
            raise ParseError(path, "no training logs found in this directory")
        if len(groups) > 1:
            names = ", ".join(sorted({run_key(g[0][0])[1] for g in groups}))
            raise ParseError(path, f"holds {len(groups)} runs ({names}); use parsers.read_many([path])")
        return _read_groups(groups)[0]
    if path != STDIN and not os.path.exists(path):
        raise ParseError(path, "no such file or directory")
    return read_files([path])


def read_many(paths) -> list[Run]:
    """Group the given files (and directories, searched) into runs and read each."""
    files: list[str] = []
    for p in paths:
        p = os.fspath(p) if p != STDIN else p
        if p != STDIN and os.path.isdir(p):
            from parsers.discovery import find_logs

            files.extend(find_logs(p))
        else:
            files.append(p)
    return _read_groups(group_segments(list(dict.fromkeys(files))))


__all__ = ["read", "read_many", "discover"]
