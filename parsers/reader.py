"""`read`, `read_many`: paths -> Runs (format detection, parsing, stitching)."""
from __future__ import annotations

import os
import re

from parsers.discovery import STDIN, discover, group_segments, run_key
from parsers.io import display_name, read_log
from parsers.run import ParseError, Run


def read_segment(path: str):
    """One log file -> Segment (raises ParseError when it is not a readable log)."""
    from parsers.chunked import is_big_text, read_text_chunks
    from parsers.detect import detect
    from parsers.jsonlog import read_json
    from parsers.textlog import read_text

    name = display_name(path)
    if path != STDIN and is_big_text(path):  # memory: read in pieces (parsers.chunked)
        seg = read_text_chunks(path, name)
        if not seg.header.get("log_lines"):
            raise ParseError(name, "not a training log: no mmcv/mmengine log lines found")
        return seg
    data = read_log(path)
    if re.search(rb"\S", data) is None:
        raise ParseError(name, "empty file")
    kind = detect(data)
    if kind is None:
        raise ParseError(name, "not a training log: no mmcv/mmengine log lines or JSON log rows found")
    if kind == "text":
        seg = read_text(name, bytes(data))  # bytes already, but for a text log in a numpy array
        if not seg.header.get("log_lines"):
            raise ParseError(name, "not a training log: no mmcv/mmengine log lines found")
    else:
        content = [data]  # handed over: read_json frees the bytes once the rows are parsed
        del data
        seg = read_json(name, content, "mmcv" if kind == "mmcv-json" else "mmengine")
        if seg.library == "mmengine" and path != STDIN:
            _attach_mmengine_config(seg, path)
        if seg.rows == 0 and not seg.eval_metric and not seg.test_metrics and not seg.header.get("json_meta"):
            where = min((n for ls in seg.skipped_lines.values() for n in ls), default=1)
            raise ParseError(name, "no readable JSON log rows", where)
    return seg


def _attach_mmengine_config(seg, path: str) -> None:
    """mmengine dumps the config as `vis_data/config.py` next to scalars.json."""
    cfg = os.path.join(os.path.dirname(os.path.abspath(path)), "config.py")
    if "config_text" not in seg.header and os.path.isfile(cfg):
        try:
            with open(cfg, encoding="utf-8", errors="replace") as f:
                seg.header["config_text"] = f.read(2_000_000)
        except OSError:
            pass


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
