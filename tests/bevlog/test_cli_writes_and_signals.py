"""Outputs appear whole or not at all; failed writes, Ctrl-C and closed pipes end cleanly.

Exit codes are a CI contract (0 fine, 1 findings, 2 bad usage/input): none of these
may end with 1 or a traceback. Timing is never asserted: a generous timeout is the
failure bound for "stops when interrupted".
"""
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from conftest import REAL_SET1

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


def test_writer_killed_mid_write_leaves_the_previous_report(tmp_path):
    """SIGKILL the moment the report's temporary file appears. Whenever the kill lands,
    the target holds the previous report or a whole new one, never a part; when the
    temporary file was there at the kill (the usual case), the previous one."""
    out = tmp_path / "report.html"
    caught = 0
    for _ in range(3):
        out.write_bytes(OLD)
        proc = subprocess.Popen([*BEVLOG, "report", str(STREAMPETR), "--no-findings", "-o", str(out)], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
            time.sleep(0.0005)
        mid_write = proc.poll() is None
        proc.kill()
        proc.wait(timeout=60)
        data = out.read_bytes()
        assert data == OLD or data.rstrip().endswith(b"</html>") and data.count(b"</html>") == 1
        if mid_write and proc.returncode == -signal.SIGKILL:
            caught += 1
            assert data == OLD
        for n in os.listdir(tmp_path):
            if n.endswith(".tmp"):
                os.unlink(tmp_path / n)  # what a killed writer cannot clean up
    assert caught, "the kill never landed during the write"


def test_failed_write_is_one_line_and_keeps_the_previous_file(tmp_path):
    out = tmp_path / "report.html"
    out.write_bytes(OLD)
    proc = _run("report", STREAMPETR, "--no-findings", "-o", out, preexec_fn=_limit_file_size)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {out}: cannot write the report: File too large"]
    assert out.read_bytes() == OLD
    assert sorted(os.listdir(tmp_path)) == ["report.html"]  # no temporary file left behind


def test_two_reports_to_one_path_leave_one_valid_file(tmp_path):
    out = tmp_path / "same.html"
    procs = [subprocess.Popen([*BEVLOG, "report", str(p), "--no-findings", "-o", str(out)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in (STREAMPETR, DETR3D)]
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


@pytest.mark.parametrize("target, reason", [("/nope/x.csv", "No such file or directory"),
                                            ("/dev/full", "No space left on device")])
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
    proc = subprocess.run([*drop, *BEVLOG, "parse", str(STREAMPETR), "--format", "parquet", "-o", str(ro / "x.parquet")],
                          capture_output=True, timeout=300, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {ro / 'x.parquet'}: cannot write: Permission denied"]


@pytest.mark.parametrize("args", [["parse"], ["parse", "--format", "csv"], ["diagnose"]])
def test_stdout_to_a_full_disk_is_one_line_exit_2(args):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*BEVLOG, *args, str(STREAMPETR)], stdout=full, stderr=subprocess.PIPE, timeout=300,
                              env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == ["error: stdout: cannot write: No space left on device"]


def test_closed_pipe_exits_quietly():
    """`bevlog parse … --format csv | head -1`: the reader leaves after one line."""
    proc = subprocess.Popen([*BEVLOG, "parse", str(DETR3D), "--format", "csv"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    first = proc.stdout.readline()
    proc.stdout.close()
    rc = proc.wait(timeout=300)
    assert first.startswith(b"run,segment,")
    assert rc in (0, 141)
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_stops_diagnose_with_130(tmp_path, jobs):
    """A work dir of 200 runs (links to one real log) takes minutes; SIGINT ends it now."""
    for k in range(200):
        (tmp_path / f"run{k:03d}").mkdir()
        os.symlink(DETR3D, tmp_path / f"run{k:03d}" / "20230727_114037.log")
    proc = subprocess.Popen([*BEVLOG, "diagnose", "-j", jobs, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    time.sleep(3)  # well into reading and diagnosing
    assert proc.poll() is None, "finished 200 runs before the interrupt: make the work dir bigger"
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)  # the failure bound, not a speed claim
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("diagnose did not stop within 60 s of SIGINT")
    assert proc.returncode == 130
    assert err.decode().splitlines() == ["error: interrupted"]
