"""A text log read in pieces (parsers.chunked: bounded memory for big logs) gives the
segment of the whole file read at once, on every text log in the repository, with pieces
far smaller than any of their headers, blocks or tracebacks."""
import gzip

import numpy as np
import pytest

from conftest import REAL_LOGS, REAL_SET1
from parsers.chunked import is_big_text, read_text_chunks
from parsers.formats import detect
from parsers.io import read_log
from parsers.textlog import read_text

REPO_LOGS = REAL_LOGS.parent / "logs"
ARRAYS = ("epoch", "iter", "n", "step", "ts", "eta_s", "values", "present")
LISTS = ("keys", "eval_epoch", "eval_after_row", "eval_step", "eval_metric", "eval_value")


def text_logs():
    out = []
    for p in sorted(list(REAL_LOGS.rglob("*")) + list(REPO_LOGS.rglob("*"))):
        if p.is_file() and p.suffix not in (".py", ".md", ".gz") and detect(read_log(str(p))) == "text":
            out.append(p)
    return out


def assert_same_segment(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert np.shape(x) == np.shape(y), name
        assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True), name
    for name in LISTS:
        assert str(getattr(a, name)) == str(getattr(b, name)), name
    assert (a.format, a.library, a.runner) == (b.format, b.library, b.runner)
    assert a.test_metrics == b.test_metrics
    assert dict(a.skipped) == dict(b.skipped)
    assert a.skipped_lines == b.skipped_lines
    assert {k: str(v) for k, v in a.header.items()} == {k: str(v) for k, v in b.header.items()}


@pytest.mark.parametrize("chunk", [pytest.param(700, marks=pytest.mark.slow), 30_000])
def test_pieces_give_the_whole_file(chunk):
    logs = text_logs()
    assert len(logs) >= 20  # set1, set2 and the hand-made logs
    for path in logs:
        if chunk < 10_000 and path.stat().st_size > 400_000:
            continue  # tiny pieces on the small logs; the big ones are cut at 30 kB below
        whole = read_text(str(path), bytes(read_log(str(path))))
        if len(whole.header.get("config_lines", [])) > 1:
            continue  # several launches in one file: read whole, launch by launch (parsers.formats)
        pieces = read_text_chunks(str(path), str(path), chunk)
        assert_same_segment(whole, pieces)


def test_only_big_plain_text_logs_are_read_in_pieces(tmp_path):
    text = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
    js = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
    gz = tmp_path / "x.log.gz"
    gz.write_bytes(gzip.compress(text.read_bytes()))
    assert is_big_text(str(text), chunk=100_000)
    assert not is_big_text(str(text))  # smaller than the default piece: read whole
    assert not is_big_text(str(js), chunk=100_000)
    assert not is_big_text(str(gz), chunk=100)
