"""Outputs appear whole or not at all; failed writes, Ctrl-C and closed pipes end cleanly.

Exit codes are a CI contract (0 fine, 1 findings, 2 bad usage/input): none of these
may end with 1 or a traceback (tests/bevlog/test_cli_exit_codes.py holds the whole
contract). Timing is never asserted: signals are sent on an event (the temporary file
appears), and a generous timeout is only the failure bound.
"""

import os
import resource
import signal
import subprocess
import sys
import time

import pytest
from repo_paths import REAL_SET1

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
ENV = {**os.environ, "PYTHONPATH": REPO}
BEVLOG = [sys.executable, "-m", "bevlog"]
OLD = b"<html>the previous report</html>\n"


def _run(*args, timeout=300, **kwargs):
    return subprocess.run([*BEVLOG, *map(str, args)], capture_output=True, timeout=timeout, env=ENV, **kwargs)


def _limit_file_size():
    """Writes past 200 KB fail with EFBIG (Python ignores SIGXFSZ, so the write returns an error)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))


def _temps(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def _kill_when_the_temp_appears(out, sig):
    """Start `report -o out`, send `sig` the moment its temporary file exists (the event),
    return (whether it was still writing then, its exit status)."""
    before = set(_temps(out.parent))  # a killed writer's, from an earlier round
    proc = subprocess.Popen(
        [*BEVLOG, "report", str(STREAMPETR), "--no-findings", "-o", str(out)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    while proc.poll() is None and not set(_temps(out.parent)) - before:
        time.sleep(0.0005)
    mid_write = proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err
    return mid_write, proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_writer_killed_mid_write_leaves_the_previous_report(tmp_path, sig):
    """Whenever the signal lands, the target holds the previous report or a whole new one,
    never a part; when the temporary file was there (the usual case), the previous one.
    SIGTERM/SIGHUP remove the temporary file on the way out and end the process by that
    signal; after SIGKILL (which nothing can catch) the next write to the target removes it."""
    out = tmp_path / "report.html"
    caught = 0
    for _ in range(3):
        out.write_bytes(OLD)
        mid_write, rc = _kill_when_the_temp_appears(out, sig)
        data = out.read_bytes()
        assert data == OLD or data.rstrip().endswith(b"</html>") and data.count(b"</html>") == 1
        if mid_write and rc == -sig:
            caught += 1
            assert data == OLD
            if sig != signal.SIGKILL:  # cleaned up by the writer itself
                assert _temps(tmp_path) == [], [(n, (tmp_path / n).stat().st_size) for n in _temps(tmp_path)]
    assert caught, "the signal never landed during the write"
    if sig == signal.SIGKILL:
        assert _temps(tmp_path)  # left by the killed writers ...
        proc = _run("report", STREAMPETR, "--no-findings", "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert _temps(tmp_path) == []  # ... and removed by the next write to that target


def test_a_live_writers_temporary_file_is_never_taken_for_a_dead_ones(tmp_path):
    """Two writers of one target: the second sweeps dead writers' temporary files only
    (a dead writer holds no lock), so both writes succeed and one whole file is left."""
    out = tmp_path / "same.html"
    first = subprocess.Popen(
        [*BEVLOG, "report", str(STREAMPETR), "--no-findings", "-o", str(out)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    while first.poll() is None and not _temps(tmp_path):
        time.sleep(0.0005)
    second = _run("report", DETR3D, "--no-findings", "-o", out)  # while the first one writes
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 0, second.stderr
    html = out.read_text()
    assert html.rstrip().endswith("</html>") and html.count("</html>") == 1
    assert sorted(os.listdir(tmp_path)) == ["same.html"]


@pytest.mark.parametrize(
    "fmt", ["parquet", pytest.param("csv", marks=pytest.mark.slow), pytest.param("json", marks=pytest.mark.slow)]
)
def test_output_onto_a_symlink_writes_through_the_link(tmp_path, fmt):
    real = tmp_path / "data" / f"train.{fmt}"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / f"latest.{fmt}"
    link.symlink_to(real)
    proc = _run("parse", STREAMPETR, "--format", fmt, "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)  # still the link
    if fmt == "parquet":
        import pandas as pd

        assert len(pd.read_parquet(real)) == 843
    else:
        assert real.read_text() != "old\n" and real.read_text().strip()
    assert sorted(os.listdir(tmp_path)) == ["data", f"latest.{fmt}"] and os.listdir(real.parent) == [real.name]


@pytest.mark.slow
def test_output_onto_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "r.html"
    link.symlink_to(tmp_path / "reports" / "r.html")
    (tmp_path / "reports").mkdir()
    proc = _run("report", STREAMPETR, "--no-findings", "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and (tmp_path / "reports" / "r.html").read_text().rstrip().endswith("</html>")


def test_failed_write_is_one_line_and_keeps_the_previous_file(tmp_path):
    out = tmp_path / "report.html"
    out.write_bytes(OLD)
    proc = _run("report", STREAMPETR, "--no-findings", "-o", out, preexec_fn=_limit_file_size)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {out}: cannot write the report: File too large"]
    assert out.read_bytes() == OLD
    assert sorted(os.listdir(tmp_path)) == ["report.html"]  # no temporary file left behind


@pytest.mark.slow  # the next test has two writers of one path too
def test_two_reports_to_one_path_leave_one_valid_file(tmp_path):
    out = tmp_path / "same.html"
    procs = [
        subprocess.Popen(
            [*BEVLOG, "report", str(p), "--no-findings", "-o", str(out)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for p in (STREAMPETR, DETR3D)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("</html>") == 1  # one writer's file, not an interleaving of two
    assert sorted(os.listdir(tmp_path)) == ["same.html"]


def test_atomic_write_keeps_permissions_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "train.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    proc = _run("parse", STREAMPETR, "--format", "csv", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert (out.stat().st_mode & 0o777) == 0o640 and out.read_text().startswith("run,segment,")


@pytest.mark.parametrize(
    "target, reason",
    [
        pytest.param("/nope/x.csv", "No such file or directory", marks=pytest.mark.slow),
        ("/dev/full", "No space left on device"),
    ],
)
def test_unwritable_output_is_one_line_exit_2(target, reason):
    proc = _run("parse", STREAMPETR, "--format", "csv", "-o", target)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {target}: cannot write: {reason}"]


def test_output_into_a_read_only_dir_is_one_line_exit_2(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    # root writes anywhere: run without root's capabilities then
    drop = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all"] if os.getuid() == 0 else []
    proc = subprocess.run(
        [*drop, *BEVLOG, "parse", str(STREAMPETR), "--format", "parquet", "-o", str(ro / "x.parquet")],
        capture_output=True,
        timeout=300,
        env=ENV,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {ro / 'x.parquet'}: cannot write: Permission denied"]


def test_output_to_a_descriptor_name_is_written_in_place():
    """`-o /dev/stdout`: a pipe cannot be renamed over; it is written to, as it is."""
    proc = _run("parse", STREAMPETR, "--format", "csv", "-o", "/dev/stdout")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("run,segment,") and len(proc.stdout.splitlines()) == 844
