"""Incremental reading for `bevlog watch` (bevlog.live): a log read in steps while it grows
gives the same run as reading the final file at once; a partial last line waits; a file
that shrank is read again from its start. Nothing here depends on timing."""

import re

import numpy as np
import pytest
from repo_paths import REAL_SET1

import parsers
from bevlog.diagnose import diagnose_run
from bevlog.live import Watcher, finding_key
from parsers import LiveLog

DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR_JSON = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log.json"
META_SKIP = ("skipped_lines", "twins", "twins_not_read")


def assert_same_run(a, b):
    assert list(a.train.columns) == list(b.train.columns)
    assert a.train.shape == b.train.shape
    num = a.train.select_dtypes("number").columns
    np.testing.assert_array_equal(a.train[num].to_numpy(float), b.train[num].to_numpy(float))
    assert a.evals.equals(b.evals)
    for k in a.meta:
        if k not in META_SKIP:
            assert str(a.meta[k]) == str(b.meta[k]), k


def grow(src, dst, cuts):
    """Write src into dst in pieces ending at the byte positions `cuts` (mid-line cuts too),
    yielding after each piece."""
    data = src.read_bytes()
    at = 0
    for cut in list(cuts) + [len(data)]:
        with open(dst, "ab") as f:
            f.write(data[at:cut])
        at = cut
        yield


@pytest.mark.parametrize("src", [DETR3D, STREAMPETR_JSON], ids=["text", "json"])
def test_reading_in_steps_gives_the_run_of_the_final_file(tmp_path, src):
    dst = tmp_path / src.name
    size = src.stat().st_size
    # one cut inside the header, then mid-line cuts through the rows
    cuts = [4000] + [int(size * f) + 17 for f in (0.1, 0.35, 0.36, 0.7, 0.99)]
    live = LiveLog(str(dst), piece=100_000)  # the first read in many pieces, too
    for _ in grow(src, dst, cuts):
        live.update()
    assert live.offset == size
    assert_same_run(parsers.read(str(dst)), live.run())


def test_a_partial_last_line_is_read_only_when_complete(tmp_path):
    lines = DETR3D.read_text(encoding="utf-8").splitlines(keepends=True)
    first_train = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    dst = tmp_path / DETR3D.name
    dst.write_text("".join(lines[: first_train + 3]), encoding="utf-8")
    live = LiveLog(str(dst))
    live.update()
    assert live.rows == 3
    half = len(lines[first_train + 3]) // 2
    with open(dst, "a", encoding="utf-8") as f:
        f.write(lines[first_train + 3][:half])
    assert live.update() is False and live.rows == 3  # the cut line is not read yet
    with open(dst, "a", encoding="utf-8") as f:
        f.write(lines[first_train + 3][half:])
    assert live.update() is True and live.rows == 4
    assert_same_run(parsers.read(str(dst)), live.run())


def test_a_truncated_file_is_read_again_from_its_start(tmp_path):
    lines = DETR3D.read_text(encoding="utf-8").splitlines(keepends=True)
    first_train = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    dst = tmp_path / DETR3D.name
    dst.write_text("".join(lines[: first_train + 40]), encoding="utf-8")
    live = LiveLog(str(dst))
    live.update()
    assert live.rows == 39  # 40 lines, one of them `Exp name: …`
    dst.write_text("".join(lines[: first_train + 5]), encoding="utf-8")  # shorter: a new run
    assert live.update() is True
    assert live.rows == 5
    assert_same_run(parsers.read(str(dst)), live.run())


def _nan_line(line: str) -> str:
    line = re.sub(r"(loss_cls: )[0-9.]+", r"\g<1>nan", line, count=1)
    return re.sub(r"(, loss: )[0-9.]+", r"\g<1>nan", line)


def test_watch_in_steps_finds_what_the_final_file_gives(tmp_path):
    """Full passes on every poll (full_every=0): the findings of the last poll's run are
    those of the final file read at once, and every one of them was printed."""
    lines = DETR3D.read_text(encoding="utf-8").splitlines(keepends=True)
    first_train = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    body = lines[: first_train + 400]
    body[first_train + 150] = _nan_line(body[first_train + 150])
    src = tmp_path / "source.log"
    src.write_text("".join(body), encoding="utf-8")
    dst = tmp_path / "20230727_114037.log"
    watcher = Watcher(str(dst), rules=None, follow_rotation=False, full_every=0)
    printed = []
    size = src.stat().st_size
    for _ in grow(src, dst, [size // 5, size // 2 + 3, size - 100]):
        fresh, _, error = watcher.poll()
        assert error is None
        printed += fresh
    final = diagnose_run(parsers.read(str(dst)), live=True)
    assert {finding_key(f) for f in diagnose_run(watcher.live.run(), live=True)} == {finding_key(f) for f in final}
    assert {finding_key(f) for f in final} <= {finding_key(f) for f in printed}
    assert any(f.rule == "nonfinite-loss" for f in final)


def test_the_quick_pass_reports_a_new_nan_between_full_passes(tmp_path):
    """With full passes far apart (full_every large), a nan row appended after the first
    read is printed by the quick pass of the next poll, at the step of that row."""
    lines = DETR3D.read_text(encoding="utf-8").splitlines(keepends=True)
    first_train = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    dst = tmp_path / "20230727_114037.log"
    dst.write_text("".join(lines[: first_train + 300]), encoding="utf-8")
    watcher = Watcher(str(dst), rules=None, follow_rotation=False, full_every=1e9)
    first, _, _ = watcher.poll()  # the first poll is a full pass
    assert not any(f.rule == "nonfinite-loss" for f in first)
    with open(dst, "a", encoding="utf-8") as f:
        f.write("".join(lines[first_train + 300 : first_train + 310]) + _nan_line(lines[first_train + 310]))
    fresh, _, _ = watcher.poll()
    nan = [f for f in fresh if f.rule == "nonfinite-loss"]
    t = parsers.read(str(dst)).train
    assert len(nan) == 1 and nan[0].start_step == int(t["step"][t["loss"].isna()].iloc[0])
    assert {f.rule for f in fresh} <= {"nonfinite-loss", "grad-nonfinite"}  # no full pass yet
