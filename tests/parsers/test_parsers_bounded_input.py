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
    return subprocess.run([sys.executable, "-m", "bevlog", *map(str, args)], stdin=stdin, capture_output=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": REPO, **(env or {})})


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
    assert proc.stderr.decode().strip() == f"error: {bomb}: too large / not a log: gzip data inflates past 256.0 MiB (set BEVLOG_MAX_BYTES to change the cap)"


def test_plain_file_over_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("BEVLOG_MAX_BYTES", "100K")
    with pytest.raises(parsers.ParseError, match="too large / not a log"):
        parsers.read(str(real(f"{DETR3D}.log")))  # 1.6 MB
    with pytest.raises(parsers.ParseError, match="too large / not a log"):
        parsers.read(str(real(f"{DETR3D}.log.json")))  # the json fast path checks too


def test_bad_cap_value_is_one_line(tmp_path):
    proc = _bevlog("parse", real(f"{STREAMPETR}.log"), env={"BEVLOG_MAX_BYTES": "lots"})
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "error: BEVLOG_MAX_BYTES: 'lots' is not a size (bytes, or a number with K/M/G/T)"


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
    assert proc.stderr.decode().splitlines() == [f"error: {name}: too large / not a log: a character device, not a log file"]


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
