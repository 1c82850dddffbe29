"""mmengine console captures (no year in the timestamp): nohup.out holding 18 launches,
a slurm-*.out that is the console twin of a file log, day and year roll-over, and a
capture with progress bars, prints and a traceback around its records.

The expectations are derived from the files with plain regexes (independent of the
parser); the README totals they must match (set2/README.md, entry 1):
  grep -c 'mmengine - INFO - Config:' nohup.out                  -> 18 launches
  grep -c 'Epoch(train)' nohup.out                               -> 11572
  grep -c 'Epoch(val)' nohup.out                                 -> 127
  grep 'Epoch(val)' nohup.out | grep -c 'coco/bbox_mAP'          -> 19
  grep -c 'Traceback (most recent call last)' nohup.out          -> 11
  grep -c 'resumed epoch:' nohup.out                             -> 11
"""

import re
from collections import Counter
from dataclasses import asdict

import numpy as np
import pytest
from parsers_testlib import (
    grep_line_counts,
)
from repo_paths import REAL_SET2

from parsers import read_file

NOHUP = REAL_SET2 / "STEALMOO__CAICON__nohup.out"
SLURM = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__slurm-300830.out"
FILE_LOG = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__20230211_201914.log"
CONSOLE_DATE = re.compile(r"^(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) - ", re.M)


def _launches(lines):
    """The launches of a capture, by a rule of its own: mmengine logs an empty message, a
    dash line, then `System environment:`; what comes before the first launch belongs to it."""
    starts = [i - 2 for i, line in enumerate(lines) if line == "System environment:"]
    starts[0] = 0
    return [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]


def test_nohup_reads_one_segment_per_launch(engine):
    text = NOHUP.read_text()
    lines = text.splitlines()
    launches = _launches(lines)
    assert len(launches) == 18 == text.count(" - mmengine - INFO - Config:")
    segs = read_file(str(NOHUP), engine=engine)
    assert len(segs) == 18
    first = 1
    for k, (seg, launch) in enumerate(zip(segs, launches)):
        body = "\n".join(launch)
        assert (seg.rows, len(seg.eval_metric)) == grep_line_counts(launch), k
        assert asdict(seg.launch) == {
            "index": k + 1,
            "of": 18,
            "first_line": first,
            "last_line": first + len(launch) - 1,
        }
        first += len(launch)
        assert seg.format == "console" and seg.library == "mmengine"
        # its own header facts: config, GPUs, resumes, traceback, start time
        max_epochs = re.search(r"^train_cfg = dict\(max_epochs=(\d+)", body, re.M).group(1)
        assert re.search(rf"^train_cfg = dict\(max_epochs={max_epochs},", seg.config_text, re.M)
        assert seg.gpu_number == int(re.search(r"GPU number: (\d+)", body).group(1)) == 1
        resumes = [(int(e), int(i)) for e, i in re.findall(r"resumed epoch: (\d+), iter: (\d+)", body)]
        assert [(r.epoch, r.iter) for r in seg.resumes] == resumes
        val = [line for line in launch if " - mmengine - INFO - Epoch(val) " in line]
        results = [line for line in val if "eta: " not in line]
        with_metrics = [line for line in results if "coco/bbox_mAP" in line]
        assert asdict(seg.val_lines) == {
            "progress": len(val) - len(results),
            "results": len(with_metrics),
            "empty": len(results) - len(with_metrics),
        }
        tracebacks = body.count("Traceback (most recent call last)")
        assert tracebacks <= 1 and (seg.traceback is not None) == (tracebacks == 1)
        start = CONSOLE_DATE.search(body).group(0)[: len("09/13 04:47:03")]
        # the year: this launch's `Exp name: …_2024MMDD_HHMMSS`, else its neighbour's in this file
        stamp = re.search(r" - Exp name: \S*_(\d{4})(\d\d)(\d\d)_\d{6}", body)
        if stamp and f"{stamp.group(2)}/{stamp.group(3)}" == start[:5]:
            assert (
                seg.year_from
                == f"Exp name timestamp {stamp.group(1)}{stamp.group(2)}{stamp.group(3)}" + stamp.group(0)[-7:]
            )
        else:
            assert seg.year_from.startswith("launch ")
        assert seg.year == 2024 and not seg.year_unknown
        assert seg.start_date == f"2024/{start}"
        assert not np.any(np.diff(seg.ts) < 0)  # the clock within a launch rolls over days (09/13 -> 09/18)
    assert sum(s.rows for s in segs) == 11572
    assert sum(len(s.resumes) for s in segs) == 11
    assert sum(len(s.eval_metric) for s in segs) == 19 * 6  # 19 summaries of 6 coco/bbox_mAP* values
    val = Counter()
    for s in segs:
        val.update(asdict(s.val_lines))
    # 127 Epoch(val) lines: progress lines, 19 summaries, and the retinanet launch's 4
    # evaluations whose results were empty (set2/README.md) that carry only data_time/time
    assert val == {"progress": 127 - 19 - 4, "results": 19, "empty": 4}
    # set2/README.md: the exceptions that ended the launches
    ends = Counter(s.traceback.split(":")[0] for s in segs if s.traceback)
    assert ends == {
        "KeyboardInterrupt": 5,
        "RuntimeError": 3,
        "FileNotFoundError": 1,
        "AssertionError": 1,
        "OSError": 1,
    }


def test_launches_without_a_year_take_it_from_a_later_launch(tmp_path, engine):
    """nohup.out's launches 7 and 8 died before mmengine logged `Exp name` (no year of their
    own); cut so that the first launch with a year comes after them, they take its year."""
    lines = NOHUP.read_text().splitlines()
    segs = read_file(str(NOHUP))
    a, b = segs[6].launch.first_line, segs[8].launch.last_line
    assert " - Exp name: " not in "\n".join(lines[a - 1 : segs[8].launch.first_line - 1])
    p = tmp_path / "nohup.out"
    p.write_text("\n".join(lines[a - 1 : b]) + "\n")
    cut = read_file(str(p), engine=engine)
    assert [s.year for s in cut] == [2024, 2024, 2024]
    assert [s.year_from for s in cut] == [
        "launch 2 of this file (2024, after it)",
        "launch 3 of this file (2024, after it)",
        "Exp name timestamp 20240916_032100",
    ]
    assert [s.start_date for s in cut] == ["2024/09/16 03:13:03", "2024/09/16 03:15:22", "2024/09/16 03:21:01"]
    assert np.array_equal(cut[0].ts, segs[6].ts) and cut[0].rows == 1


def test_nohup_wall_time_crosses_days():
    """Launch 1 runs from 09/13 04:47 into 09/15: the wall clock counts on across midnight."""
    seg = read_file(str(NOHUP))[0]
    lines = NOHUP.read_text().splitlines()[: seg.launch.last_line]
    train = [line for line in lines if "Epoch(train)" in line]
    m0, m1 = CONSOLE_DATE.match(train[0]), CONSOLE_DATE.match(train[-1])
    days = int(m1.group(2)) - int(m0.group(2))
    assert days >= 1
    secs = lambda m: int(m.group(3)) * 3600 + int(m.group(4)) * 60 + int(m.group(5))  # noqa: E731
    assert seg.ts[-1] - seg.ts[0] == days * 86400 + secs(m1) - secs(m0)


def test_slurm_capture_reads_like_its_file_log(engine):
    """The slurm-*.out is the console twin of 20230211_201914.log: the same records, so the
    same train and val values, and the same clock once the year is known (mmengine's `Exp
    name: …_20230211_201914` gives it)."""
    (console,) = read_file(str(SLURM), engine=engine)
    (log,) = read_file(str(FILE_LOG), engine=engine)
    assert (console.format, log.format) == ("console", "mmengine-text")
    assert console.rows == log.rows == 100 and len(console.eval_metric) == len(log.eval_metric) == 60
    assert console.keys == log.keys
    assert np.array_equal(console.values, log.values, equal_nan=True)
    assert np.array_equal(console.iter, log.iter) and np.array_equal(console.n, log.n)
    assert console.eval_metric == log.eval_metric and console.eval_value == log.eval_value
    assert np.array_equal(console.ts, log.ts)
    assert console.start_date == log.start_date == "2023/02/11 20:19:15"
    assert console.year_from == "Exp name timestamp 20230211_201914" and not console.year_unknown
    assert console.gpu_number == 1 and console.config_text == log.config_text
    assert dict(console.skipped) == {}  # warnings, prints and per-class tables belong to their messages


def _shift_dates(text: str, month: int, day: int, hour: int, minute: int) -> str:
    """Move every `MM/DD HH:MM:SS` of a console capture so that it starts at month/day
    hour:minute:15 (the same durations), and drop the year evidence (`Exp name`'s stamp)."""
    import datetime as dt

    first = None

    def move(m):
        nonlocal first
        t = dt.datetime(2023, int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))
        first = first or t
        new = dt.datetime(2022, month, day, hour, minute, 15) + (t - first)
        return new.strftime("%m/%d %H:%M:%S - ")

    text = CONSOLE_DATE.sub(move, text)
    return re.sub(r"_\d{8}_\d{6}", "", text)


def test_year_roll_over_dec_31_to_jan_1(tmp_path, engine):
    """A capture that starts Dec 31 23:45 and runs past midnight: no year anywhere, so the
    segment says year_unknown, and the clock still counts on into Jan 1."""
    p = tmp_path / "nohup.out"
    p.write_text(_shift_dates(SLURM.read_text(), 12, 31, 23, 45))
    text = p.read_text()
    assert "12/31 23:59" in text and "01/01 00:0" in text  # it does cross the new year
    (seg,) = read_file(str(p), engine=engine)
    (log,) = read_file(str(FILE_LOG), engine=engine)
    assert seg.year_unknown is True and seg.year_from is None
    assert seg.start_date == "12/31 23:45:15"  # as the log writes it: no year made up
    assert np.array_equal(seg.ts - seg.ts[0], log.ts - log.ts[0])
    assert seg.rows == 100 and len(seg.eval_metric) == 60


def test_capture_with_progress_bars_prints_and_a_traceback(tmp_path, engine):
    """Progress bars (plain and redrawn with '\\r'), a print and a traceback between and
    after the records: every record is read, every other line counted by its reason."""
    lines = SLURM.read_text().splitlines()
    train = [i for i, line in enumerate(lines) if "Iter(train)" in line]
    bar = "{:3d}%|##        | {}/1206 [00:01<00:30, 38.2it/s]"
    extra = {
        train[3]: [bar.format(3, 40), bar.format(6, 80) + "\r" + bar.format(9, 120)],  # 2 lines
        train[10]: ["loss looks fine"],
        train[20]: [bar.format(50, 600)],
    }
    out = []
    for i, line in enumerate(lines):
        # a bar redrawn with '\r' and then overwritten by a record: the terminal shows the record
        out.append(bar.format(99, 1200) + "\r" + line if i == train[30] else line)
        out.extend(extra.get(i, []))
    tb = [
        "Traceback (most recent call last):",
        '  File "tools/train.py", line 104, in <module>',
        "    main()",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
    ]
    p = tmp_path / "output.log"
    p.write_text("\n".join(out + tb) + "\n")
    (seg,) = read_file(str(p), engine=engine)
    (ref,) = read_file(str(SLURM), engine=engine)
    assert seg.rows == ref.rows == 100 and seg.eval_value == ref.eval_value
    assert np.array_equal(seg.values, ref.values, equal_nan=True)
    assert seg.traceback == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert dict(seg.skipped) == {"progress bar": 3, "other output": 1, "traceback": 4}


IFCOS = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco"
TRACEBACK = ["Traceback (most recent call last):", '  File "tools/train.py", line 1, in <module>', "KeyboardInterrupt"]


def _without_env_blocks(text: str) -> str:
    """An mmcv log whose team script logs no environment block (only the Config dump)."""
    return re.sub(r"(?ms)^[^\n]* - INFO - Environment info:\n.*?(?=^\d{4}-\d\d-\d\d )", "", text)


@pytest.mark.parametrize("env", [True, False], ids=["split at environment blocks", "split at Config dumps"])
def test_mmcv_launches_appended_to_one_capture(tmp_path, env, engine):
    """Two real mmcv launches (2 and 8 train lines), the first killed by Ctrl-C, appended to
    one nohup.out: two segments, each with its own rows, config, start and end."""
    parts = [(IFCOS / "20201016_163718.log").read_text(), (IFCOS / "20201016_164100.log").read_text()]
    if not env:
        parts = [_without_env_blocks(t) for t in parts]
        assert "sys.platform" not in "".join(parts)
    first = parts[0].splitlines() + TRACEBACK
    p = tmp_path / "nohup.out"
    p.write_text("\n".join(first) + "\n" + parts[1])
    a, b = read_file(str(p), engine=engine)
    assert (a.rows, b.rows) == (grep_line_counts(first)[0], grep_line_counts(parts[1].splitlines())[0]) == (2, 8)
    assert a.traceback == "KeyboardInterrupt" and b.traceback is None
    starts = [re.match(r"^(\S+ \S+),", t).group(1) for t in parts]  # each launch's first logger line
    assert [a.start_date, b.start_date] == starts
    assert a.launch.last_line == len(first) and b.launch.first_line == len(first) + 1
    for seg in (a, b):
        assert seg.format == "console" and "optimizer = dict(" in seg.config_text
        assert seg.env_gpus == (4 if env else None)  # `GPU 0,1,2,3: GeForce RTX 2080 Ti`
        assert seg.distributed is True
