"""Shared paths for the parser tests (real logs: fixtures/real, located by tests/conftest.py)."""
import os
from pathlib import Path

from conftest import REAL_SET1

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
