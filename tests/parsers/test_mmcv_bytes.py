"""The byte-level reader of mmcv train lines (`parsers.formats.text.mmcv_bytes`) reads the
lines it takes exactly as the item splitter would, and leaves it every other line: a chunk
parsed with it (`_parse_chunk`) equals the chunk parsed by items alone (`_parse_items`),
whatever its lines (damaged, another layout, several optimizers, eta with or without days)."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsers_testlib import DETR3D, STREAMPETR, real

from parsers.formats.text import mmcv_bytes
from parsers.formats.text.mmcv_lines import _parse_chunk, _parse_items

PREFIX = "2023-07-27 11:42:24,492 - mmdet - INFO - "
KEYS = ["time", "data_time", "memory", "loss_cls", "d0.loss_bbox", "loss", "grad_norm"]


def _line(head="Epoch [3][50/7033]", lr="lr: 2.000e-04", eta="3 days, 12:29:00", pairs=None, prefix=PREFIX):
    pairs = [(k, f"{0.1 * (j + 1):.4f}") for j, k in enumerate(KEYS)] if pairs is None else pairs
    return f"{prefix}{head}\t{lr}, eta: {eta}, " + ", ".join(f"{k}: {v}" for k, v in pairs)


def _same(lines):
    arr = pa.array(lines, pa.large_string())
    got, want = _parse_chunk(arr), _parse_items(arr)
    assert got.names == want.names
    assert np.array_equal(got.ok_rows, want.ok_rows) and np.array_equal(got.rejected, want.rejected)
    assert np.array_equal(np.asarray(got.values), np.asarray(want.values), equal_nan=True)
    assert np.array_equal(got.present, want.present)
    assert np.array_equal(got.eta_s, want.eta_s, equal_nan=True)
    for f in ("is_epoch", "x", "xn", "y", "yn", "ts"):
        a, b = getattr(got.heads, f), getattr(want.heads, f)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f


def _block_rows(lines):
    found = mmcv_bytes.read_block(pa.array(lines, pa.large_string()))
    return [] if found is None else found.rows.tolist()


@pytest.fixture(params=[3, 4096])
def batch(request, monkeypatch):
    """Small batches too: a chunk's lines are read a few at a time, the layout found once."""
    monkeypatch.setattr(mmcv_bytes, "BATCH", request.param)
    return request.param


@pytest.mark.parametrize("stem", [DETR3D, STREAMPETR])
def test_real_train_lines_are_read_from_their_bytes(stem, batch):
    lines = real(f"{stem}.log").read_text().splitlines()
    train = [i for i, line in enumerate(lines) if "\tlr: " in line]
    assert _block_rows(lines) == train
    _same(lines)


VARIANTS = {
    "no days": _line(eta="7:04:24"),
    "one day": _line(eta="1 day, 0:00:01"),
    "iter runner": _line(head="Iter [50/80000]"),
    "no iteration count": _line(head="Epoch [1][50]"),
    "several optimizers": _line(lr="lr_img: 1.000e-05, lr_head: 2.000e-04"),
    "a key missing": _line(pairs=[(k, "1.0") for k in KEYS[1:]]),
    "a key more": _line(pairs=[(k, "1.0") for k in KEYS + ["loss_extra"]]),
    "keys swapped": _line(pairs=[(k, "1.0") for k in KEYS[1::-1] + KEYS[2:]]),
    "a repeated key": _line(pairs=[(k, "1.0") for k in KEYS[:-1] + ["loss"]]),
    "nan and inf": _line(pairs=[(k, v) for k, v in zip(KEYS, ["nan", "inf", "-inf", "NaN", "1e-5", "+2", ".5"])]),
    "a value that is no number": _line(pairs=[(k, "n/a" if k == "loss" else "1.0") for k in KEYS]),
    "an empty value": _line(pairs=[(k, "" if k == "loss" else "1.0") for k in KEYS]),
    "a value with a colon": _line(pairs=[(k, "1.0:" if k == "time" else "1.0") for k in KEYS]),
    "eta not h:mm:ss": _line(eta="12:3"),
    "eta days misspelt": _line(eta="3 dayz, 1:00:00"),
    "eta of many days": _line(eta="1234 days, 1:00:00"),
    "an hour of three digits": _line(eta="100:00:00"),
    "a colon for the comma": _line(lr="lr: 2.000e-04:"),
    "lr with a semicolon": _line(lr="lr; 2.000e-04"),
    "lr with a digit": _line(lr="lr5: 2.000e-04"),
    "a day count that is no number": _line(eta="x days, 1:00:00"),
    "minutes that are no number": _line(eta="7:0x:24"),
    "another logger": _line(prefix="2023-07-27 11:42:24,492 - mmdet3d - INFO - "),
    "a logger with a colon": _line(prefix="2023-07-27 11:42:24,492 - mm:et - INFO - "),
    "a bad date": _line(prefix="2023-13-27 11:42:24,492 - mmdet - INFO - "),
    "no such day": _line(prefix="2023-02-30 11:42:24,492 - mmdet - INFO - "),
    "a leap day": _line(prefix="2024-02-29 23:59:59,999 - mmdet - INFO - "),
    "no such time": _line(prefix="2023-07-27 24:00:00,492 - mmdet - INFO - "),
    "a leap second": _line(prefix="2023-07-27 23:59:60,492 - mmdet - INFO - "),
    "a date that is no date": _line(prefix="2023-07-2x 11:42:24,492 - mmdet - INFO - "),
    "a dot before the milliseconds": _line(prefix="2023-07-27 11:42:24.492 - mmdet - INFO - "),
    "a huge counter": _line(head="Epoch [3][12345678901234567890/7033]"),
    "a cut line": _line()[:120],
    "an eval line": PREFIX + "Epoch(val) [1][50]\tmAP: 0.3000, NDS: 0.4000",
    "a config line": "  type='LoadMultiViewImageFromFiles', to_float32: True, x: 1",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("where", [0, 5, 11])
def test_odd_lines_among_normal_ones_change_nothing(variant, where, batch):
    lines = [
        _line(head=f"Epoch [3][{50 * (i + 1)}/7033]", eta="7:04:24" if i % 3 else "1 day, 2:03:04") for i in range(12)
    ]
    lines[where] = VARIANTS[variant]
    _same(lines)


def test_a_chunk_with_another_train_layout_is_read_by_items():
    """A train line the bytes do not take but the items do (a key more) makes the whole chunk
    read by items: which keys the chunk has, and their order, come from all its lines."""
    lines = [_line() for _ in range(6)]
    lines[2] = _line(pairs=[("loss_extra", "1.0")] + [(k, "1.0") for k in KEYS])
    assert _block_rows(lines) == [0, 1, 3, 4, 5]
    _same(lines)
    got = _parse_chunk(pa.array(lines, pa.large_string()))
    assert got.names[:2] == ["lr", "time"] and "loss_extra" in got.names and len(got.ok_rows) == 6


def test_a_value_that_is_no_number_leaves_the_chunk_to_the_items():
    lines = [_line() for _ in range(4)]
    lines[1] = _line(pairs=[(k, "1.2.3" if k == "loss" else "1.0") for k in KEYS])
    assert _block_rows(lines) == []
    _same(lines)


_special = st.sampled_from(
    ["nan", "inf", "-inf", "1e-05", "+2", ".5", "1.2.3", "", "n/a", "1.0:", "1,0", "1, 0", "0x1"]
)
_value = st.one_of(st.integers(0, 10**6).map(lambda i: f"{i / 1000:.4f}"), _special)
_eta = st.sampled_from(
    ["7:04:24", "0:00:00", "23:59:59", "1 day, 0:00:01", "12 days, 1:02:03", "1:2:3", "x", "100:00:00"]
    + ["3 dayz, 1:00:00", "x days, 1:00:00", "1x days, 1:00:00", "7:0x:24", "x:04:24", "17:04:2x", "7-04:24"]
)
_head = st.sampled_from(
    [
        "Epoch [3][50/7033]",
        "Epoch [12][7000/7033]",
        "Iter [50/80000]",
        "Epoch [1]",
        "Epoch [a][1/2]",
        "Epoch [1][2/3/4]",
    ]
)
_prefix = st.sampled_from(
    [PREFIX, "2023-07-27 11:42:2x,492 - mmdet - INFO - ", "2023-02-30 23:59:59,999 - mmdet - INFO - "]
    + ["2023-07-27 11:42:24.492 - mmdet - INFO - ", "2023/07/27 11:42:24,492 - mmdet - INFO - "]
    + ["2023-07-27 24:00:00,492 - mmdet - INFO - ", "0000-00-00 00:00:00,000 - mmdet - INFO - "]
)
_lr = st.sampled_from(["lr: 2.000e-04", "lr_a: 1.0, lr_b: 2.0", "lr: x", "lr: 1e-4:", "lr; 2.0e-4", "lr5: 2.0e-4"])
_name = st.sampled_from(["lr", "eta", "bad key", "a:b", "loss", "time", "extra", "d1.loss_cls"])


@st.composite
def _train_line(draw):
    """A train line of KEYS with distinct values, now and then changed: a key renamed,
    two keys swapped, a key dropped or added, a value damaged; odd heads, etas, prefixes."""
    pairs = [(k, draw(st.integers(0, 10**6).map(lambda i: f"{i / 1000:.4f}"))) for k in KEYS]
    change = draw(st.integers(0, 6))
    j = draw(st.integers(0, len(KEYS) - 1))
    if change == 1:
        pairs[j] = (draw(_name), pairs[j][1])
    elif change == 2:
        i = draw(st.integers(0, len(KEYS) - 1))
        pairs[i], pairs[j] = (pairs[j][0], pairs[i][1]), (pairs[i][0], pairs[j][1])
    elif change == 3:
        del pairs[j]
    elif change == 4:
        pairs.insert(j, (draw(_name), draw(_value)))
    elif change == 5:
        pairs[j] = (pairs[j][0], draw(_value))
    plain = draw(st.booleans())
    head = "Epoch [3][50/7033]" if plain else draw(_head)
    eta = draw(st.sampled_from(["7:04:24", "3 days, 12:29:00"])) if plain else draw(_eta)
    prefix, lr = (PREFIX, "lr: 2.000e-04") if plain else (draw(_prefix), draw(_lr))
    return _line(head=head, lr=lr, eta=eta, pairs=pairs, prefix=prefix)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(_train_line(), min_size=1, max_size=14))
def test_generated_chunks_read_as_by_items(batch, lines):
    _same(lines)
