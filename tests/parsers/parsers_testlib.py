"""Shared paths and helpers for the parser tests (real logs: fixtures/real, located by
tests/repo_paths.py). The `engine` fixture is in conftest.py beside this file."""

import re
from pathlib import Path

from repo_paths import REAL_SET1

REPO = Path(__file__).resolve().parents[2]
REAL = REAL_SET1
FIXTURES = REPO / "fixtures" / "logs"
OWN = REPO / "fixtures" / "parsers"

DETR3D = "PrymceQ__3DDetection_DETR3D__20230727_114037"
STREAMPETR = "PrymceQ__BEVModel_StreamPETR__20230725_174411"
BEVFUSION = "PrymceQ__BEVModel_BEVFusion__20230621_180527"
MMENGINE = "jasoni4399__FYP_mmdetection__20241114_204353"
CONSOLE = "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output"


def real(name: str) -> Path:
    p = REAL / name
    assert p.exists(), f"real log {p} is part of the repository"
    return p


_cache: dict = {}


def read_cached(path):
    """parsers.read, once per path per session (the frames are not modified by tests)."""
    import parsers

    key = str(path)
    if key not in _cache:
        _cache[key] = parsers.read(key)
    return _cache[key]


def read_run(path, engine: str = "fast", chunk: int | None = None):
    """ONE launch's file -> Run through parsers.read_file (engine, chunk size)."""
    from parsers import read_file
    from parsers.assemble import build_run

    (seg,) = read_file(str(path), engine=engine, chunk=chunk)
    return build_run([seg], "run", [str(path)])


# --- counts by plain regexes (what grep finds), for the real-log tests ----------------------

TRAIN_TEXT = re.compile(r" - INFO - (?:(?:Epoch|Iter) \[|(?:Epoch|Iter)\(train\) *\[)")
VAL_TEXT = re.compile(r" - INFO - (?:Epoch|Iter)\(val\) *\[[^\]]*\](?:\[[^\]]*\])?(.*)$")
TEXT_KEY = re.compile(r"(?:^|[\s,])([^\s:,]+): ")
JSON_KEY = re.compile(r'"([^"]*)": ')
NOT_EVAL_TEXT = {"time", "data_time", "memory", "lr"}
NOT_EVAL_MMCV_JSON = {"mode", "epoch", "iter", "lr", "time", "data_time", "memory"}
NOT_EVAL_MMENGINE_JSON = {"step", "epoch", "iter", "time", "data_time", "memory"}


def grep_counts(path) -> tuple[int, int]:
    """(train rows, evaluation values) of a real log by plain regexes, independent of the
    parser (the greps are in tests/parsers/test_parsers_real_counts.py's docstring)."""
    return grep_line_counts(Path(path).read_text(encoding="utf-8", errors="replace").splitlines())


def grep_line_counts(lines) -> tuple[int, int]:
    if lines and lines[0].lstrip().startswith("{"):
        if any('"mode": ' in line for line in lines):  # mmcv json
            train = sum('"mode": "train"' in line for line in lines)
            evals = sum(
                len([k for k in JSON_KEY.findall(line) if k not in NOT_EVAL_MMCV_JSON])
                for line in lines
                if '"mode": "val"' in line
            )
        else:  # mmengine json (or an mmcv json holding only its meta line)
            train = sum('"lr": ' in line for line in lines)
            evals = sum(
                len([k for k in JSON_KEY.findall(line) if k not in NOT_EVAL_MMENGINE_JSON])
                for line in lines
                if '"lr": ' not in line and '"step": ' in line
            )
        return train, evals
    train = sum(bool(TRAIN_TEXT.search(line)) for line in lines)
    evals = 0
    for line in lines:
        m = VAL_TEXT.search(line)
        if m and "eta: " not in m.group(1):
            evals += len([k for k in TEXT_KEY.findall(m.group(1)) if k not in NOT_EVAL_TEXT])
    return train, evals
