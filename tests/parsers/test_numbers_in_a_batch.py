"""A value reads the same whatever other values are parsed with it.

The engines cast a batch of values to float64 at once; when one of them is no number, the
batch is told apart value by value with `parsers.patterns.NUMBER`. The pattern must take
exactly what the cast takes, or a value such as `NAN` or `.5` would be a number in one
batch and no number in the next: the same log would read differently whole and in pieces."""

import itertools
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from repo_paths import REPO

import parsers
from parsers.patterns import NUMBER

MMCV = REPO / "fixtures" / "logs" / "mmcv_epoch" / "20261128_050106.log"


def _cast_takes(text: str) -> bool:
    try:
        pc.cast(pa.array([text]), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def test_the_pattern_takes_what_the_cast_takes():
    words = ["nan", "inf", "infinity", "Infinity", "NaN", "nAn", "INF", "iNfInItY", "infinit", "nana"]
    texts = {"".join(t) for n in range(1, 5) for t in itertools.product("01.+-eE", repeat=n)}
    texts |= {sign + w for sign in ("", "+", "-") for w in words}
    texts |= {"1e5", "1.5e-3", ".e5", "1.e5", "+.5e+3", " 1", "1 ", "0x10", "1_0", "١"}
    differ = [
        t for t in sorted(texts) if _cast_takes(t) != bool(pc.match_substring_regex(pa.array([t]), NUMBER)[0].as_py())
    ]
    assert differ == []


def _segments_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys == y.keys and np.array_equal(x.values, y.values, equal_nan=True)
        assert np.array_equal(x.present, y.present) and x.skipped == y.skipped


@pytest.mark.parametrize("odd", ["NAN", "Inf", ".5", "+2"])
def test_a_text_value_reads_the_same_beside_a_value_that_is_no_number(tmp_path, odd):
    lines = MMCV.read_text().splitlines()
    train = [i for i, line in enumerate(lines) if "\tlr: " in line]
    lines[train[0]] = lines[train[0]].replace("time: ", f"time: {odd}, was: ", 1)
    lines[train[-1]] = lines[train[-1]].replace("time: ", "time: n/a, was: ", 1)
    p = tmp_path / MMCV.name
    p.write_text("\n".join(lines) + "\n")
    whole = parsers.read_file(str(p))  # one batch: the odd value beside the one that is no number
    apart = parsers.read_file(str(p), chunk=256)  # batches of a few lines: apart
    _segments_equal(whole, apart)
    (seg,) = whole
    assert seg.present[0, seg.keys.index("time")]  # read as a number
    assert {r: n for r, n in seg.skipped.items() if r.endswith("time")} == {"train line with a damaged value: time": 1}


@pytest.mark.parametrize("odd", ["NAN", "inf", ".5", "+2", "1."])
def test_a_json_value_reads_the_same_beside_a_value_that_is_no_number(tmp_path, odd):
    """The first and last rows log one key more than the others: they are read apart from the
    others' layout, together when the file is one batch."""
    rows = [{"mode": "train", "epoch": 1, "iter": 10 * k, "lr": 0.01, "loss": 1.0 / k} for k in range(1, 60)]
    rows[0]["grad_norm"], rows[-1]["grad_norm"] = 1.0, 2.0
    text = [json.dumps(r) for r in rows]
    text[0] = text[0].replace('"loss": 1.0', f'"loss": {odd}')
    text[-1] = text[-1].replace('"grad_norm": 2.0', '"grad_norm": tru')  # no number, no JSON either
    p = tmp_path / "20230101_000000.log.json"
    p.write_text("\n".join(text) + "\n")
    whole = parsers.read_file(str(p))
    apart = parsers.read_file(str(p), chunk=512)
    _segments_equal(whole, apart)
    (seg,) = whole
    assert seg.rows == len(rows) - 1 and seg.present[0, seg.keys.index("loss")]
    assert seg.skipped == {"invalid JSON line": 1}
