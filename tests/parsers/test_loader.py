"""The one loader (parsers.loader): a log read whole, read in pieces, or followed while it
grows — byte by byte, line by line, in random chunks — gives the same launches and the same
Run. Real files only: every text and JSON-lines log of fixtures/logs and fixtures/real, and
growing copies of them written in a temporary folder."""

import functools
import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from repo_paths import REAL_LOGS, REAL_SET1, REAL_SET2, REAL_SET3

import parsers
from parsers import ParseError, read_file
from parsers.live import LiveLog
from parsers.loader import Loader
from parsers.segment import FIELDS

REPO_LOGS = REAL_LOGS.parent / "logs"
HOW_READ = ("fast_train_rows", "train_lane")  # how the engines took the rows, not what they are
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
DETR3D_JSON = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
CONSOLE = REAL_SET1 / "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log"
NOHUP = REAL_SET2 / "STEALMOO__CAICON__nohup.out"
SLURM = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__slurm-300830.out"
RESUMED_MMENGINE = REAL_SET2 / "CVIU-CSU__EPCPE__20240302_182333.log"
IFCOS_JSON = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco" / "20201016_164100.log.json"
# DETR-family formats have no follower: followed, they are read whole again as they grow
DETR_JSON = REAL_SET3 / "lele56__swin---detr__outputs_log.txt"  # 9 launches
DETR_CONSOLE = REAL_SET3 / "William-Yao-2000__Deformable-DETR-Bezier__log_log_v002.txt"


@functools.cache
def read_whole(p: Path) -> list:
    """The launches of `p` read whole (ParseError for a file that is no log), once a session."""
    return read_file(str(p))


@functools.cache
def logs() -> list[Path]:
    """Every plain (not gzipped) log file of fixtures/logs and fixtures/real that reads."""
    out = []
    for p in sorted(list(REAL_LOGS.rglob("*")) + list(REPO_LOGS.rglob("*"))):
        if p.is_file() and p.suffix not in (".py", ".md", ".gz") and p.name != "expected.json":
            try:
                read_whole(p)
            except ParseError:
                continue
            out.append(p)
    return out


def assert_same_segments(a, b):
    """Every field of every launch: arrays value by value, mappings as mappings, the rest
    as printed (how the engines took the rows aside)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in FIELDS:
            if name in HOW_READ:
                continue
            u, v = getattr(x, name), getattr(y, name)
            if isinstance(u, np.ndarray):
                assert np.shape(u) == np.shape(v) and np.array_equal(u, v, equal_nan=True), name
            elif isinstance(u, dict):
                assert u == v, name
            else:
                assert str(u) == str(v), name


def assert_same_run(a, b):
    assert list(a.train.columns) == list(b.train.columns)
    num = a.train.select_dtypes("number").columns
    np.testing.assert_array_equal(a.train[num].to_numpy(float), b.train[num].to_numpy(float))
    assert a.evals.equals(b.evals)
    assert dict(a.meta) == dict(b.meta)


def as_followed(dst: Path) -> Path:
    """What following `dst` can read: up to its last complete line (a last line without its
    newline may still be being written)."""
    data = dst.read_bytes()
    if data.endswith(b"\n"):
        return dst
    cut = dst.with_name("complete-" + dst.name)
    cut.write_bytes(data[: data.rfind(b"\n") + 1])
    return cut


def follow(src: Path, dst: Path, cuts) -> LiveLog:
    """Write `src` into `dst` in pieces ending at the byte positions `cuts` (mid-line cuts
    too), reading what was appended after each one."""
    data = src.read_bytes()
    live = LiveLog(str(dst))
    at = 0
    for cut in list(cuts) + [len(data)]:
        with open(dst, "ab") as f:
            f.write(data[at:cut])
        at = cut
        try:
            live.update()
        except ParseError as exc:  # only while the first line is not complete yet
            assert "yet" in exc.reason or exc.reason == "no log line yet", exc
    return live


@pytest.mark.slow  # every log of the repository, twice
def test_pieces_give_the_whole_file():
    """Each log read in about 25 pieces (at least 700 bytes): small enough that a header or
    Config dump spans several in the small logs, so pieces grow until a record follows them."""
    found = logs()
    assert len(found) >= 40  # set1, set2 and the parser cases
    for p in found:
        piece = max(700, p.stat().st_size // 25)
        assert_same_segments(read_whole(p), read_file(str(p), piece=piece))


@pytest.mark.parametrize(
    "src",
    [DETR3D, DETR3D_JSON, NOHUP, SLURM, CONSOLE, RESUMED_MMENGINE, DETR_JSON, DETR_CONSOLE],
    ids=lambda p: p.name[:40],
)
def test_followed_in_random_chunks(tmp_path, src):
    """40 random cuts; 12 for the DETR-family logs, which are read whole again at each one."""
    size = src.stat().st_size
    cuts = sorted(random.Random(size).sample(range(1, size), 12 if src in (DETR_JSON, DETR_CONSOLE) else 40))
    live = follow(src, tmp_path / src.name, cuts)
    assert live.loader.end == size
    assert_same_segments(read_file(str(tmp_path / src.name)), live.file_segments())


@pytest.mark.slow  # every parser case, followed
def test_every_parser_case_followed_in_random_chunks(tmp_path):
    cases = [p for p in logs() if REPO_LOGS in p.parents]
    assert len(cases) >= 25
    for k, src in enumerate(cases):
        dst = tmp_path / str(k) / src.parent.name / src.name
        dst.parent.mkdir(parents=True)
        size = src.stat().st_size
        cuts = sorted(random.Random(size).sample(range(1, size), min(size - 1, 12)))
        live = follow(src, dst, cuts)
        if b"\n" not in src.read_bytes():  # one line still without its end: nothing to read yet
            assert not live.started
            continue
        assert_same_segments(
            [replace(s, source=str(dst)) for s in read_file(str(as_followed(dst)))], live.file_segments()
        )


@pytest.mark.parametrize("src", [SLURM, REPO_LOGS / "hm_resume_text" / "20230803_090000.log"], ids=["slurm", "resume"])
def test_followed_line_by_line(tmp_path, src):
    data = src.read_bytes()
    cuts = [i + 1 for i in range(len(data)) if data[i] == 10][:-1]
    live = follow(src, tmp_path / src.name, cuts)
    assert_same_segments(read_file(str(tmp_path / src.name)), live.file_segments())
    assert_same_run(parsers.read(str(tmp_path / src.name)), live.run())


@pytest.mark.parametrize("src", [CONSOLE, IFCOS_JSON], ids=["console-traceback", "json"])
def test_followed_byte_by_byte(tmp_path, src):
    live = follow(src, tmp_path / src.name, range(1, src.stat().st_size))
    assert_same_segments(read_file(str(tmp_path / src.name)), live.file_segments())
    assert_same_run(parsers.read(str(tmp_path / src.name)), live.run())


def test_a_run_followed_is_the_run_read_whole(tmp_path):
    size = DETR3D.stat().st_size
    live = follow(DETR3D, tmp_path / DETR3D.name, [4000] + [int(size * f) + 17 for f in (0.1, 0.35, 0.7)])
    assert_same_run(parsers.read(str(tmp_path / DETR3D.name)), live.run())


def test_load_returns_only_what_is_new(tmp_path):
    """Each load gives the pieces appended since the last one; nothing new gives nothing."""
    lines = DETR3D.read_bytes().split(b"\n")
    first = next(i for i, line in enumerate(lines) if b"Epoch [1][50/7033]" in line)
    dst = tmp_path / DETR3D.name
    dst.write_bytes(b"\n".join(lines[: first + 10]) + b"\n")
    loader = Loader(str(dst))
    got = loader.load()
    assert sum(s.rows for _, s in got.parts + got.tentative) == 10
    assert loader.load().tentative is None and not loader.load().parts  # nothing appended
    with open(dst, "ab") as f:
        f.write(b"\n".join(lines[first + 10 : first + 15]) + b"\n")
    got = loader.load()
    assert sum(s.rows for _, s in got.parts) == 5 and got.reset_from is None


def _header_and_rows(src: Path, rows: int) -> bytes:
    """The log's lines up to its `rows`-th train line."""
    out, seen = [], 0
    for line in src.read_bytes().split(b"\n"):
        out.append(line)
        seen += b" - INFO - Epoch [" in line
        if seen == rows:
            break
    return b"\n".join(out) + b"\n"


def test_a_partial_last_line_is_looked_at_once(tmp_path):
    """A writer mid-way through a 5 MB line: the first load looks for its end once; later
    loads look only at the bytes appended since (and at the file's first bytes, that tell
    it is the same file)."""
    dst = tmp_path / DETR3D.name
    dst.write_bytes(_header_and_rows(DETR3D, 20) + b"2023-07-27 12:00:00,000 - mmdet - INFO - " + b"x" * (5 << 20))
    loader = Loader(str(dst))
    loader.load()
    first = loader.bytes_read
    for _ in range(3):
        with open(dst, "ab") as f:
            f.write(b"y" * 100)
        loader.load()
    assert first > 5 << 20 and loader.bytes_read - first < 3 * (8 << 10)
    with open(dst, "ab") as f:
        f.write(b"\n")
    loader.load()
    assert loader.end == dst.stat().st_size


def test_a_replaced_log_is_read_again_from_its_start(tmp_path):
    """A relaunch into the same name: a new file, longer than the old one, with another
    config; nothing of the old file (its config, its traceback) stays."""
    dst = tmp_path / "20230727_114037.log"
    old = _header_and_rows(DETR3D, 30) + b"Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n"
    dst.write_bytes(old)
    live = LiveLog(str(dst))
    live.update()
    assert live.run().meta.ended.startswith("traceback: RuntimeError")
    new = _header_and_rows(DETR3D, 60).replace(b"lr=0.0002", b"lr=0.0001")
    assert b"lr=0.0001" in new and len(new) > len(old)
    tmp = tmp_path / "new.log"
    tmp.write_bytes(new)
    os.replace(tmp, dst)  # a new inode under the same name
    live.update()
    run = live.run()
    assert live.replacements == 1 and len(run.train) == 60
    assert run.meta.lr == 0.0001 and not run.meta.ended.startswith("traceback")


def test_copytruncate_and_regrowth_to_the_same_size_is_a_new_file(tmp_path):
    """Same inode, same size, other content (the log was truncated and a new run wrote as
    much as the old one): read again from the start, the old rows gone."""
    dst = tmp_path / "20230727_114037.log"
    old = _header_and_rows(DETR3D, 30)
    dst.write_bytes(old)
    live = LiveLog(str(dst))
    live.update()
    new = old.replace(b"2023-07-27 11:4", b"2023-07-28 11:4")
    assert len(new) == len(old) and new[:200] != old[:200]
    inode = dst.stat().st_ino
    with open(dst, "r+b") as f:  # copytruncate: the same inode, emptied, then written again
        f.truncate(0)
        f.write(new)
    assert dst.stat().st_ino == inode and dst.stat().st_size == len(old)
    live.update()
    assert live.replacements == 1
    assert_same_run(parsers.read(str(dst)), live.run())
    assert live.run().meta.segments[0].start.startswith("2023-07-28")


def test_a_truncated_log_is_read_again_from_its_start(tmp_path):
    dst = tmp_path / DETR3D.name
    dst.write_bytes(_header_and_rows(DETR3D, 40))
    live = LiveLog(str(dst))
    live.update()
    assert live.rows == 40
    dst.write_bytes(_header_and_rows(DETR3D, 5))  # shorter: another run
    live.update()
    assert live.rows == 5 and live.replacements == 1
    assert_same_run(parsers.read(str(dst)), live.run())


def test_devices_are_refused_at_once():
    for loader_call in (lambda: Loader("/dev/zero").load(), lambda: read_file("/dev/zero")):
        with pytest.raises(ParseError) as err:
            loader_call()
        assert err.value.refused and "character device" in str(err.value)


def test_the_cap_holds_for_big_text_logs_and_growing_ones(tmp_path, monkeypatch):
    """BEVLOG_MAX_BYTES holds on every road: a text log over it (read in pieces or whole) is
    refused before it is read, and so is a followed log once it grows past it."""
    big = tmp_path / DETR3D.name
    big.write_bytes(DETR3D.read_bytes())
    monkeypatch.setenv("BEVLOG_MAX_BYTES", "1M")
    for call in (lambda: read_file(str(big)), lambda: read_file(str(big), piece=100_000)):
        with pytest.raises(ParseError, match="too large / not a log"):
            call()
    growing = tmp_path / "20230727_114037.log"
    growing.write_bytes(_header_and_rows(DETR3D, 20))
    live = LiveLog(str(growing))
    live.update()
    with open(growing, "ab") as f:
        f.write(DETR3D.read_bytes()[: 1 << 20])
    with pytest.raises(ParseError) as err:
        live.update()
    assert err.value.refused


def test_a_sparse_file_over_the_default_cap_is_refused_unread(tmp_path):
    sparse = tmp_path / "20230727_114037.log"
    with open(sparse, "wb") as f:
        f.write(_header_and_rows(DETR3D, 5))
        f.truncate(9 << 30)  # 9 GiB, nothing on disk
    loader = Loader(str(sparse))
    with pytest.raises(ParseError, match="too large / not a log: 9.0 GiB"):
        loader.load()
    assert loader.bytes_read == 0
    with pytest.raises(ParseError, match="too large / not a log: 9.0 GiB"):
        read_file(str(sparse))
