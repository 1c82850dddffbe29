"""Input is bounded: gzip bombs, devices, endless stdin; a cut .gz is read and said; UTF-16 read.

The gzip bomb is made small by lowering the cap (BEVLOG_MAX_BYTES) instead of writing
gigabytes; /dev/zero runs in a subprocess with a timeout, so a regression fails the test
instead of eating the machine's memory.
"""

import gzip
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from parsers_testlib import DETR3D, MMENGINE, STREAMPETR, real

import parsers
from parsers.io import TRUNCATED_GZIP

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bevlog(*args, stdin=None, timeout=60, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bevlog", *map(str, args)],
        stdin=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": REPO, **(env or {})},
    )


def test_gzip_bomb_stops_at_the_cap(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.log.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:  # 64 MiB of zeros -> ~64 KB on disk
        block = b"\x00" * (1 << 20)
        for _ in range(64):
            f.write(block)
    monkeypatch.setenv("BEVLOG_MAX_BYTES", "8M")
    with pytest.raises(parsers.ParseError) as err:
        parsers.read(str(bomb))
    msg = str(err.value)
    assert msg.startswith(f"{bomb}: too large / not a log") and "BEVLOG_MAX_BYTES" in msg and "\n" not in msg


@pytest.mark.slow  # inflates 256 MiB of zeros before the cap stops it
def test_gzip_cap_default_follows_the_compressed_size(tmp_path):
    """Without the env var, gzip data may inflate to 50x its size (at least 256 MiB):
    300 MiB of zeros (~300 KB compressed) is refused after reading ~256 MiB, not 300."""
    bomb = tmp_path / "zeros.log.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with open(bomb, "wb") as f:
        block = b"\x00" * (1 << 20)
        for _ in range(300):
            f.write(comp.compress(block))
        f.write(comp.flush())
    assert bomb.stat().st_size < 1 << 20
    proc = _bevlog("parse", bomb, env={"BEVLOG_MAX_BYTES": ""})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().strip() == (
        f"error: {bomb}: too large / not a log: gzip data inflates past 256.0 MiB "
        "(set BEVLOG_MAX_BYTES to change the cap)"
    )


def test_plain_file_over_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("BEVLOG_MAX_BYTES", "100K")
    with pytest.raises(parsers.ParseError, match="too large / not a log"):
        parsers.read(str(real(f"{DETR3D}.log")))  # 1.6 MB
    with pytest.raises(parsers.ParseError, match="too large / not a log"):
        parsers.read(str(real(f"{DETR3D}.log.json")))  # the json fast path checks too


def test_bad_cap_value_is_one_line(tmp_path):
    proc = _bevlog("parse", real(f"{STREAMPETR}.log"), env={"BEVLOG_MAX_BYTES": "lots"})
    assert proc.returncode == 2
    assert (
        proc.stderr.decode().strip()
        == "error: BEVLOG_MAX_BYTES: 'lots' is not a size (bytes, or a number with K/M/G/T)"
    )


@pytest.mark.parametrize("how", ["path", "stdin"])
def test_dev_zero_is_refused_quickly(how):
    if how == "path":
        proc = _bevlog("parse", "/dev/zero", timeout=60)
        name = "/dev/zero"
    else:
        with open("/dev/zero", "rb") as zero:
            proc = _bevlog("parse", "-", stdin=zero, timeout=60)
        name = "<stdin>"
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().splitlines() == [
        f"error: {name}: too large / not a log: a character device, not a log file"
    ]


def test_endless_zeros_through_a_pipe_are_refused():
    zeros = subprocess.Popen(["cat", "/dev/zero"], stdout=subprocess.PIPE)
    try:
        proc = _bevlog("parse", "-", stdin=zeros.stdout, timeout=60)
    finally:
        zeros.kill()
        zeros.wait()
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == ["error: <stdin>: too large / not a log: binary zeros"]


def test_truncated_gzip_is_read_partially_and_said(tmp_path):
    src = real(f"{STREAMPETR}.log").read_bytes()
    gz = gzip.compress(src)
    cut = tmp_path / "20230725_174411.log.gz"
    cut.write_bytes(gz[: len(gz) * 2 // 3])
    whole = parsers.read(str(real(f"{STREAMPETR}.log")))
    run = parsers.read(str(cut))
    assert 0 < len(run.train) < len(whole.train)
    assert run.meta["skipped"].get(TRUNCATED_GZIP) == 1
    # and `bevlog parse` shows it in the run's skipped count
    proc = _bevlog("parse", "--wide", cut)  # every column, `skipped` last
    assert proc.returncode == 0, proc.stderr
    row = proc.stdout.decode().splitlines()[-1]
    assert row.split()[-1] != "0"


def test_concatenated_gzip_members_are_all_read(tmp_path):
    src = real(f"{STREAMPETR}.log").read_bytes()
    half = src.index(b"\n", len(src) // 2) + 1
    both = tmp_path / "x.log.gz"
    both.write_bytes(gzip.compress(src[:half]) + gzip.compress(src[half:]))
    run, whole = parsers.read(str(both)), parsers.read(str(real(f"{STREAMPETR}.log")))
    assert len(run.train) == len(whole.train)
    assert TRUNCATED_GZIP not in run.meta["skipped"]


@pytest.mark.parametrize("codec, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
@pytest.mark.parametrize("name", [f"{STREAMPETR}.log", f"{MMENGINE}.json"])
def test_utf16_copies_read_the_same_rows(tmp_path, codec, bom, name):
    original = real(name)
    text = original.read_bytes().decode("utf-8")
    copy = tmp_path / original.name
    copy.write_bytes(bom + text.encode(codec))
    a, b = parsers.read(str(original)), parsers.read(str(copy))
    assert len(a.train) > 0 and len(a.train) == len(b.train)
    num = [c for c in a.train.columns if c != "run"]
    assert list(b.train.columns) == list(a.train.columns)
    np.testing.assert_array_equal(a.train[num].to_numpy(float), b.train[num].to_numpy(float))
    assert len(a.evals) == len(b.evals)
    # found in a work dir too (discovery sniffs through the BOM)
    found, problems = parsers.read_paths([str(tmp_path)])
    assert problems == [] and [r.meta["sources"] for r in found] == [[str(copy)]]


def _rows_with_new_keys(n: int, json_lines: bool) -> str:
    """A log whose every train row logs one key no other row logs (the shape that once made
    memory quadratic in the log's size)."""
    if json_lines:
        return "".join(
            f'{{"mode": "train", "epoch": 1, "iter": {10 * i}, "lr": 0.001, "loss": {1 / i}, "k{i}": 0.5}}\n'
            for i in range(1, n + 1)
        )
    return "".join(
        f"2024-01-01 00:00:00,000 - mmdet - INFO - Epoch [1][{10 * i}/{10 * n}]\tlr: 1.000e-03, "
        f"eta: 0:01:00, time: 0.5, data_time: 0.1, memory: 100, loss: {1 / i:.4f}, k{i}: 0.5000\n"
        for i in range(1, n + 1)
    )


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_keys_per_run_are_bounded_and_the_rest_counted(tmp_path, json_lines):
    """A run keeps its first MAX_KEYS keys; every value of a later key is counted as not read,
    whichever engine, whether read whole or in pieces."""
    from parsers.bounds import KEYS_PAST_BOUND, MAX_KEYS

    n = 3000
    log = tmp_path / ("20240101_000000.log.json" if json_lines else "20240101_000000.log")
    log.write_text(_rows_with_new_keys(n, json_lines))
    fixed = ("lr", "loss") if json_lines else ("lr", "time", "data_time", "memory", "loss")
    new_keys_kept = MAX_KEYS - len(fixed)
    for piece in (None, 20_000):
        if piece is None:
            run = parsers.read(str(log))
        else:
            (seg,) = parsers.read_file(str(log), piece=piece)
            run = parsers.build_run([seg], "x", [str(log)])
        logged = [c for c in run.train.columns if c.startswith("k")]
        assert logged == [f"k{i}" for i in range(1, new_keys_kept + 1)]
        assert run.meta.skipped == {KEYS_PAST_BOUND: n - new_keys_kept}
        assert len(run.train) == n and run.train["loss"].notna().all()


def test_keys_of_several_launches_together_are_bounded(tmp_path):
    """Two resumes whose keys are each within the bound, together past it: the run keeps the
    first MAX_KEYS, the values of the others are counted in its meta."""
    from parsers.bounds import KEYS_PAST_BOUND, MAX_KEYS

    def launch(first_iter: int, keys: range) -> str:
        row = ", ".join(f'"k{j}": 1.0' for j in keys)
        return "".join(
            f'{{"mode": "train", "epoch": 1, "iter": {first_iter + 10 * i}, "lr": 0.001, {row}}}\n' for i in range(5)
        )

    wd = tmp_path / "work_dir"
    wd.mkdir()
    (wd / "20240101_000000.log.json").write_text(launch(10, range(200)))
    resumed = '{"epoch": 1, "iter": 40, "mmcv_version": "1.7.0"}\n' + launch(50, range(100, 300))
    (wd / "20240102_000000.log.json").write_text(resumed)
    (run,) = parsers.read_many([wd])
    assert len(run.meta.segments) == 2
    assert sum(c.startswith("k") for c in run.train.columns) == MAX_KEYS - 1  # and lr
    assert run.meta.skipped[KEYS_PAST_BOUND] == 5 * (300 - (MAX_KEYS - 1))


@pytest.mark.parametrize("piece", [None, 4 << 20], ids=["whole", "pieces"])
def test_a_line_longer_than_the_bound_is_skipped_unread_and_counted(tmp_path, monkeypatch, piece):
    """A line over MAX_LINE (17 MiB here) between train lines: every train line is read, the
    long one is skipped and named by its line number, never held whole."""
    from parsers.follow import LONG_LINE, MAX_LINE

    text = real(f"{DETR3D}.log").read_bytes().split(b"\n")
    first = next(i for i, line in enumerate(text) if b"Epoch [1][50/7033]" in line)
    junk = b"2023-07-27 11:50:00,000 - mmdet - INFO - " + b"x" * (MAX_LINE + (1 << 20))
    log = tmp_path / "20230727_114037.log"
    log.write_bytes(b"\n".join(text[: first + 20] + [junk] + text[first + 20 :]))
    segs = parsers.read_file(str(log)) if piece is None else parsers.read_file(str(log), piece=piece)
    (seg,) = segs
    assert seg.rows == len(parsers.read_file(str(real(f"{DETR3D}.log")))[0].values)
    assert seg.skipped[LONG_LINE] == 1 and seg.skipped_lines[LONG_LINE] == (first + 21,)
