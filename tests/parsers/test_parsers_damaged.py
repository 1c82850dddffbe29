"""A damaged value is a skipped, counted line, never a nan; a log of which no train line could
be read, or nothing at all was understood, is a problem, never a run of 0 rows. Real logs
with one line damaged the way files get damaged (a typo'd number, NUL bytes, a number as a
JSON string, mixed line ends), written in a temporary folder."""

import json
import re

import numpy as np
import pytest
from repo_paths import REAL_SET1, REAL_SET2

import parsers
from parsers import ParseError

VOC = REAL_SET2 / "zhaoyang97__mmdetection__20201029_114818.log"  # mmcv text, 1,488 train lines
NAN_RUN = REAL_SET2 / "zhaoyang97__mmdetection__20210222_195422.log"  # `loss: nan` from [1][300]
STREAMPETR_JSON = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log.json"
TRAIN = re.compile(r" - INFO - Epoch \[")  # grep -c ' - INFO - Epoch \[' VOC: 1488


def _lines(path):
    return path.read_bytes().split(b"\n")


def _train_at(lines, k):
    return [i for i, line in enumerate(lines) if TRAIN.search(line.decode("utf-8", "replace"))][k]


@pytest.mark.parametrize(
    "damage",
    [
        (b"loss: 0.5818", b"loss: 1.2.3", "loss"),
        (b"loss_cls: 0.3162", b"loss_cls: 0.\x0016", "loss_cls"),  # a NUL byte in a value
    ],
    ids=["typo", "nul"],
)
def test_a_damaged_value_is_a_skipped_counted_line(tmp_path, damage, engine):
    old, new, key = damage
    lines = _lines(VOC)
    at = _train_at(lines, 1)  # `Epoch [1][100/6207]`
    assert old in lines[at]
    lines[at] = lines[at].replace(old, new)
    log = tmp_path / "20201029_114818.log"
    log.write_bytes(b"\n".join(lines))
    (seg,) = parsers.read_file(str(log), engine=engine)
    reason = f"train line with a damaged value: {key}"
    assert seg.rows == 1487 and seg.skipped[reason] == 1 and seg.skipped_lines[reason] == (at + 1,)
    run = parsers.read(str(log))
    assert not run.train[["loss", "loss_cls"]].isna().any().any()  # no nan where the log had none


def test_a_number_given_as_a_json_string_is_a_skipped_counted_row(tmp_path, engine):
    rows = STREAMPETR_JSON.read_text().split("\n")
    at = next(i for i, r in enumerate(rows) if '"mode": "train"' in r)
    row = json.loads(rows[at])
    row["loss"] = str(row["loss"])  # `"loss": "5.1234"`
    rows[at] = json.dumps(row)
    log = tmp_path / STREAMPETR_JSON.name
    log.write_text("\n".join(rows))
    (seg,) = parsers.read_file(str(log), engine=engine)
    (ref,) = parsers.read_file(str(STREAMPETR_JSON), engine=engine)
    assert seg.rows == ref.rows - 1
    assert seg.skipped["train line with a damaged value: loss"] == 1
    assert seg.skipped_lines["train line with a damaged value: loss"] == (at + 1,)


def test_a_logged_nan_stays_nan():
    """`loss: nan` is what training logged: the rows are read, their loss is nan (305 rows:
    grep -c 'loss: nan' NAN_RUN)."""
    run = parsers.read(str(NAN_RUN))
    assert len(run.train) == 310 and int(run.train["loss"].isna().sum()) == 305
    assert not any(r.startswith("train line with a damaged value") for r in run.meta.skipped)


def test_mixed_line_ends_lose_no_row(tmp_path):
    """LF, CRLF and a lone CR (old Mac) in one file: every train line is a row."""
    lines = _lines(VOC)[:-1]
    ends = [b"\r\n" if i % 3 == 0 else b"\r" if i % 5 == 0 else b"\n" for i in range(len(lines))]
    log = tmp_path / "20201029_114818.log"
    log.write_bytes(b"".join(line + end for line, end in zip(lines, ends)))
    run = parsers.read(str(log))
    assert len(run.train) == 1488
    np.testing.assert_array_equal(run.train["loss"], parsers.read(str(VOC)).train["loss"])


def test_an_iteration_count_of_zero_is_no_count(tmp_path):
    """`Epoch [1][5/0]` states no iterations per epoch (and divides nothing by zero: the
    suite makes RuntimeWarnings errors)."""
    lines = _lines(VOC)
    at = _train_at(lines, 0)
    lines[at] = lines[at].replace(b"Epoch [1][50/6207]", b"Epoch [1][5/0]")
    log = tmp_path / "20201029_114818.log"
    log.write_bytes(b"\n".join(lines))
    run = parsers.read(str(log))
    assert len(run.train) == 1488 and run.meta.iters_per_epoch == 6207


def test_a_log_whose_train_lines_were_all_rejected_is_a_problem(tmp_path):
    lines = _lines(VOC)
    for i in [i for i, line in enumerate(lines) if TRAIN.search(line.decode())]:
        lines[i] = re.sub(rb"loss: [0-9.]+", b"loss: 1.2.3", lines[i])
    log = tmp_path / "20201029_114818.log"
    log.write_bytes(b"\n".join(lines))
    with pytest.raises(ParseError) as err:
        parsers.read(str(log))
    assert err.value.reason == (
        "no train line could be read, every one was rejected: 1,488 × train line with a damaged value: loss"
    )
    assert err.value.line == _train_at(_lines(VOC), 0) + 1


def test_a_log_of_which_nothing_was_understood_is_a_problem(tmp_path):
    """Logger lines, but no record, no config, no environment: no run to judge."""
    log = tmp_path / "20240101_000000.log"
    log.write_text(
        "".join(f"2024-01-01 00:00:{s:02d},000 - mmdet - INFO - loading annotations into memory\n" for s in range(30))
    )
    with pytest.raises(ParseError, match="nothing in it was understood: .* \\(30 logger lines\\)"):
        parsers.read(str(log))


def test_a_header_only_log_is_a_run_that_never_trained():
    """Understood, not a problem: the launch logged its header and stopped (set2 README #12)."""
    run = parsers.read(str(REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco" / "20241024_154827.log"))
    assert len(run.train) == 0 and run.meta.ended == "before first iteration"


def test_a_huge_logged_loss_is_read_and_kept(tmp_path, engine):
    """A real number beyond int64 once scaled (a diverged run's `loss: 1e+300`) is a value
    like any other: the run is read (the capture digest hashes it as a float)."""
    lines = _lines(VOC)
    at = _train_at(lines, 1)
    lines[at] = lines[at].replace(b"loss: 0.5818", b"loss: 1e+300")
    log = tmp_path / "20201029_114818.log"
    log.write_bytes(b"\n".join(lines))
    with np.errstate(all="raise"):
        run = parsers.build_run(parsers.read_file(str(log), engine=engine), "voc", [str(log)])
    assert len(run.train) == 1488 and run.train["loss"].max() == 1e300 and run.meta.capture


def test_an_eta_that_is_no_time_leaves_the_row_without_an_eta(tmp_path, engine):
    """`eta: 3:12:1.2.3` (seconds that are no number) made the fast path's cast of the eta fail
    and with it the whole file: the row is read, its eta is unknown, as the generic path says."""
    lines = _lines(VOC)
    k = _train_at(lines, 3)
    lines[k] = re.sub(rb"eta: [^,]*(, [0-9:]+)?,", b"eta: 3:12:1.2.3,", lines[k], count=1)
    assert b"eta: 3:12:1.2.3," in lines[k]
    path = tmp_path / VOC.name
    path.write_bytes(b"\n".join(lines))
    (seg,) = parsers.read_file(str(path), engine=engine)
    assert seg.rows == 1488
    assert np.isnan(seg.eta_s[3]) and not np.isnan(np.delete(seg.eta_s, 3)).any()
