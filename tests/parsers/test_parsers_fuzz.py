"""Whatever the bytes, parsers.read returns a Run or raises one ParseError, nothing else.

Inputs: arbitrary bytes; and real log lines (text and json, header and records) with
random damage: cut, spliced, bytes inserted, digits replaced, lines shuffled, gzip'd.
"""

import gzip
import os
import random
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsers_testlib import CONSOLE, DETR3D, MMENGINE, REAL, STREAMPETR

import parsers
from parsers import EVALS_COLUMNS, LAYERS_COLUMNS, TRAIN_COLUMNS

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sample_lines():
    if not REAL.exists():
        return []
    out = []
    for name, picks in (
        (f"{DETR3D}.log", 60),
        (f"{DETR3D}.log.json", 20),
        (f"{STREAMPETR}.log", 30),
        (f"{MMENGINE}.json", 20),
        (f"{CONSOLE}.log", 24),
    ):
        lines = (REAL / name).read_bytes().split(b"\n")
        rng = random.Random(name)
        out.extend(lines[:40])  # header lines: env block, Config dump, meta json line
        out.extend(rng.sample(lines, min(picks, len(lines))))
        out.extend(line for line in lines if b"(val)" in line or b'"val"' in line or b"coco/" in line)
    return out


LINES = _sample_lines()


def _check(data: bytes):
    fd, path = tempfile.mkstemp(suffix=".log")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            run = parsers.read(path)
        except parsers.ParseError as e:
            assert "\n" not in str(e) and path in str(e)
            return None
    finally:
        os.unlink(path)
    assert list(run.train.columns[: len(TRAIN_COLUMNS)]) == TRAIN_COLUMNS
    assert list(run.layers.columns) == LAYERS_COLUMNS and list(run.evals.columns) == EVALS_COLUMNS
    assert isinstance(run.meta["skipped"], dict) and isinstance(run.meta["ended"], str)
    numeric = run.train.drop(columns=["run"]).to_numpy(dtype=float)  # every column is numeric
    assert numeric.shape[0] == len(run.train)
    return run


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data):
    _check(data)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([b"", b"\n", b"\r\n", b"\x1f\x8b\x08\x00"]))
def test_arbitrary_bytes_after_a_log_prefix(data, sep):
    prefix = b"2024-04-07 18:21:18,692 - mmdet - INFO - Epoch [1][50/100]\tlr: 1.000e-04, "
    _check(prefix + data + sep + prefix + data)


def _mutate(line: bytes, rng: random.Random) -> bytes:
    k = rng.randrange(8)
    n = len(line)
    i, j = sorted((rng.randrange(n + 1), rng.randrange(n + 1)))
    if k == 0:
        return line[:i]  # cut
    if k == 1:
        return line[:i] + line[j:]  # a slice removed
    if k == 2:
        return line[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6))) + line[i:]
    if k == 3:
        return bytes(b if not 48 <= b <= 57 or rng.random() > 0.3 else rng.choice(b"x-.e9:, ") for b in line)
    if k == 4:
        return (
            line[:i]
            + rng.choice(
                [b", ", b": ", b"\t", b"\r", b"\x00", b"]", b"[", b"{", b"}", b'"', b"NaN", b"-Infinity", b" days, "]
            )
            + line[i:]
        )
    if k == 5:
        return line + line[i:j]
    if k == 6:
        return line.replace(b", ", b"  ", rng.randrange(1, 4))
    return line


@pytest.mark.skipif(not LINES, reason="real logs not available")
@SETTINGS
@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_mutated_real_lines(picks, seed, gz):
    rng = random.Random(seed)
    lines = [LINES[p % len(LINES)] for p in picks]
    lines = [_mutate(line, rng) if rng.random() < 0.5 else line for line in lines]
    data = b"\n".join(lines) + rng.choice([b"", b"\n"])
    if gz:
        data = gzip.compress(data)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
    run = _check(data)
    if run is not None and len(run.train):
        assert run.train["step"].notna().any() or run.meta["iters_per_epoch"] is None


@pytest.mark.skipif(not LINES, reason="real logs not available")
def test_unchanged_real_lines_parse():
    """The sample itself (no damage) is readable: the fuzz starts from valid input."""
    text = [line for line in LINES if b" - INFO - Epoch [" in line][:5]
    run = _check(b"\n".join(text) + b"\n")
    assert run is not None and len(run.train) == len(text)
    assert np.isfinite(run.train.loss).all()
