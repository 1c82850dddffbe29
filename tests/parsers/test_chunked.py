"""A text log read in pieces (parsers.formats.text.pieces: bounded memory for big logs) gives the
segment of the whole file read at once, on every text log in the repository, with pieces
far smaller than any of their headers, blocks or tracebacks."""
import gzip

import numpy as np
import pytest

from conftest import REAL_LOGS, REAL_SET1
from parsers.formats import big_file_format, detect, module
from parsers.formats.text.pieces import read_pieces
from parsers.formats.text.reader import read_text
from parsers.io import read_log
from parsers.segment import FIELDS

REPO_LOGS = REAL_LOGS.parent / "logs"
TEXT_FORMATS = ("mmcv-text", "mmengine-text", "console")


def text_logs():
    """(path, dialect) of every text log in the repository."""
    out = []
    for p in sorted(list(REAL_LOGS.rglob("*")) + list(REPO_LOGS.rglob("*"))):
        if p.is_file() and p.suffix not in (".py", ".md", ".gz"):
            kind = detect(read_log(str(p)))
            if kind in TEXT_FORMATS:
                out.append((p, module(kind).DIALECT))
    return out


def assert_same_segment(a, b):
    """Every field of the two Segments: arrays value by value, mappings as mappings,
    everything else as printed."""
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert np.shape(x) == np.shape(y), name
            assert np.array_equal(x, y, equal_nan=True), name
        elif isinstance(x, dict):
            assert x == y, name
        else:
            assert str(x) == str(y), name


@pytest.mark.parametrize("chunk", [pytest.param(700, marks=pytest.mark.slow), 30_000])
def test_pieces_give_the_whole_file(chunk):
    logs = text_logs()
    assert len(logs) >= 20  # set1, set2 and the hand-made logs
    for path, dialect in logs:
        if chunk < 10_000 and path.stat().st_size > 400_000:
            continue  # tiny pieces on the small logs; the big ones are cut at 30 kB below
        whole = read_text(str(path), bytes(read_log(str(path))), dialect)
        if len(whole.config_lines) > 1:
            continue  # several launches in one file: read whole, launch by launch (parsers.formats)
        pieces = read_pieces(str(path), str(path), dialect, chunk)
        assert_same_segment(whole, pieces)


def test_only_big_plain_text_logs_are_read_in_pieces(tmp_path):
    text = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
    js = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
    gz = tmp_path / "x.log.gz"
    gz.write_bytes(gzip.compress(text.read_bytes()))
    assert big_file_format(str(text), size=100_000) == "mmcv-text"
    assert hasattr(module("mmcv-text"), "read_big")
    assert big_file_format(str(text)) is None  # smaller than the default piece: read whole
    assert big_file_format(str(js), size=100_000) == "mmcv-json" and not hasattr(module("mmcv-json"), "read_big")
    assert big_file_format(str(gz), size=100) is None
