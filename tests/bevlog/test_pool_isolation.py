"""One bad input never sinks the batch through the worker pool either, and nothing the pool
starts outlives its parent.

The battery is the red-team's: five good runs beside an empty / binary / whitespace-only /
corrupt-gz / all-NUL / UTF-16-without-BOM file, a dangling symlink and a symlink loop in a
work dir, a gzip over the cap, header-only and flat-loss runs, and .html files where logs
were expected. Every command reads it one by one (`-j 1`) and through the pool (`-j 2`):
the output must be the same either way, each bad input named once on stderr.
"""

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsers.pool import map_with_progress

REPO = Path(__file__).resolve().parents[2]
GOOD_LOG = REPO / "fixtures" / "logs" / "mmcv_epoch" / "20261128_050106.log"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "BEVLOG_MAX_BYTES": "200K", "NO_COLOR": "1", "COLUMNS": "200"}


def _flat_loss(text: str) -> str:
    """The good log with every loss term stuck at one value: a dead run."""
    return re.sub(r"(loss[a-z_.0-9]*): [0-9.]+", r"\1: 1.0000", text)


def _header_only(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if "Epoch [" not in line)


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    root = tmp_path_factory.mktemp("battery")
    good = GOOD_LOG.read_text()
    paths = []
    for k in range(5):
        (root / f"good{k}").mkdir()
        shutil.copyfile(GOOD_LOG, root / f"good{k}" / GOOD_LOG.name)
        paths.append(root / f"good{k}")
    bad = {
        "empty.log": b"",
        "binary.log": bytes(range(256)) * 64,
        "blank.log": b"   \n\n\t \n" * 10,
        "corrupt.log.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + b"\xde\xad\xbe\xef" * 100,
        "nul.log": b"\0" * 4096,
        "utf16.log": good.encode("utf-16-le"),
        "over_cap.log.gz": gzip.compress((good * 200).encode()),  # ~5 MB inflated, cap 200K
    }
    for name, data in bad.items():
        (root / name).write_bytes(data)
        paths.append(root / name)
    wd = root / "workdir"
    (wd / "lost").mkdir(parents=True)
    os.symlink(root / "gone.log", wd / "lost" / "20230101_000000.log")
    (wd / "loop").mkdir()
    os.symlink(wd / "loop" / "20230101_000001.log", wd / "loop" / "20230101_000002.log")
    os.symlink(wd / "loop" / "20230101_000002.log", wd / "loop" / "20230101_000001.log")
    (wd / "flat").mkdir()
    (wd / "flat" / GOOD_LOG.name).write_text(_flat_loss(good))
    (wd / "header_only").mkdir()
    (wd / "header_only" / GOOD_LOG.name).write_text(_header_only(good))
    (wd / "html").mkdir()
    (wd / "html" / "report.html").write_text("<html><body>not a log</body></html>")
    (wd / "html" / "20230101_000003.log").write_text("<html><body>not a log</body></html>")
    paths.append(wd)
    return [str(p) for p in paths]


def _bevlog(*args, timeout=300):
    proc = subprocess.run(
        [sys.executable, "-m", "bevlog", *map(str, args)], capture_output=True, timeout=timeout, env=ENV
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _problem_files(stderr: str) -> list[str]:
    return sorted(m.group(1) for m in re.finditer(r"(?m)^error: (.+?)(?::\d+)?: ", stderr))


@pytest.mark.parametrize(
    "command",
    [
        ["parse"],
        pytest.param(["diagnose"], marks=pytest.mark.slow),
        pytest.param(["diagnose", "--format", "json"], marks=pytest.mark.slow),
    ],
)
def test_the_battery_gives_the_same_output_one_by_one_and_through_the_pool(battery, command):
    rc1, out1, err1 = _bevlog(*command, "-j", "1", *battery)
    rc2, out2, err2 = _bevlog(*command, "-j", "2", *battery)
    assert "internal error" not in err1 + err2
    assert "could not be" not in err1 + err2  # the flat-loss and header-only runs are diagnosed
    assert rc1 == rc2 == 2, (err1, err2)
    assert out1 == out2
    assert sorted(err1.splitlines()) == sorted(err2.splitlines())
    for k in range(5):  # every good run came out
        assert f"good{k}" in out2
    named = _problem_files(err2)
    for bad in (
        "empty.log",
        "binary.log",
        "blank.log",
        "corrupt.log.gz",
        "nul.log",
        "utf16.log",
        "over_cap.log.gz",
        "20230101_000000.log",
    ):
        assert sum(n.endswith(bad) for n in named) == 1, (bad, err2)


def test_report_over_a_dir_holding_html_files_keeps_the_good_runs(battery, tmp_path):
    out = tmp_path / "r.html"
    rc, _, err = _bevlog("report", "-j", "2", *battery, "-o", out)
    assert "internal error" not in err
    assert rc == 2, err
    assert out.is_file() and all(f"good{k}" in out.read_text() for k in range(5))


def _square_or_die(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # a segfault or the OOM killer, as the parent sees it
    if x == 5:
        raise ValueError("bad item")
    return x * x


def test_a_worker_that_dies_is_one_problem_for_its_item_and_the_others_finish():
    got = map_with_progress(
        _square_or_die,
        list(range(8)),
        jobs=2,
        progress=False,
        label="",
        on_crash=lambda item, why: ("crashed", item, why),
    )
    assert [g for g in got if not isinstance(g, tuple)] == [0, 1, 4, 16, 36, 49]
    assert got[3] == ("crashed", 3, "the worker process reading it was killed (SIGKILL)")
    assert got[5] == ("crashed", 5, "ValueError: bad item")


def _group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def _wait_for(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP])
def test_killing_the_parent_of_a_pooled_run_leaves_no_worker(tmp_path, sig):
    big = REPO / "fixtures" / "real" / "set1" / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
    for k in range(40):
        (tmp_path / f"r{k:02d}").mkdir()
        os.symlink(big, tmp_path / f"r{k:02d}" / big.name)
    env = {k: v for k, v in ENV.items() if k != "BEVLOG_MAX_BYTES"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bevlog", "diagnose", "-j", "2", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        workers = _wait_for(lambda: len(_group_alive(proc.pid)) >= 3, timeout=120)
        assert workers, "the pool never started"
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        left = _wait_for(lambda: not _group_alive(proc.pid), timeout=30)
        assert left, f"still alive after the parent got {sig.name}: {_group_alive(proc.pid)}"
        assert proc.stdout.read() is not None  # the pipe reached EOF: no worker holds it
    finally:
        for pid in _group_alive(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
