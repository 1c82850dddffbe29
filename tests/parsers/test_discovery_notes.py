"""Every file a work dir holds is read, or said: an unreadable directory is a problem (exit 2,
the reason named), an empty or binary file under a log's name a note, a glob's non-logs a
note. Through the real CLI; root's capabilities dropped (setpriv) where permissions matter."""

import os
import subprocess
import sys

import pytest
from repo_paths import REAL_SET1

import parsers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
NO_ROOT = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all"] if os.getuid() == 0 else []


def _bevlog(*args, unprivileged=False):
    cmd = [*(NO_ROOT if unprivileged else []), sys.executable, "-m", "bevlog", *map(str, args)]
    return subprocess.run(
        cmd, capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO, "NO_COLOR": "1"}
    )


def _work_dir(tmp_path):
    wd = tmp_path / "work"
    (wd / "good").mkdir(parents=True)
    (wd / "good" / "20230725_174411.log").write_bytes(STREAMPETR.read_bytes())
    return wd


def test_an_unreadable_sub_directory_is_a_problem_that_names_it(tmp_path):
    wd = _work_dir(tmp_path)
    locked = wd / "locked"
    locked.mkdir()
    (locked / "20230801_000000.log").write_bytes(STREAMPETR.read_bytes())
    locked.chmod(0)
    try:
        proc = _bevlog("diagnose", wd, "--fail-on", "error", unprivileged=True)
    finally:
        locked.chmod(0o755)
    err = proc.stderr.decode().splitlines()
    assert proc.returncode == 2, err
    assert f"error: {locked}: cannot read this directory: Permission denied" in err
    assert b"good" in proc.stdout  # the readable run is still diagnosed


def test_a_directory_without_permission_says_so(tmp_path):
    wd = _work_dir(tmp_path)
    wd.chmod(0)
    try:
        proc = _bevlog("parse", wd, unprivileged=True)
    finally:
        wd.chmod(0o755)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {wd}: cannot read this directory: Permission denied"]


def test_empty_and_binary_logs_in_a_work_dir_are_named_in_a_note(tmp_path):
    wd = _work_dir(tmp_path)
    (wd / "good" / "20230726_000000.log").write_bytes(b"")
    (wd / "good" / "20230727_000000.log.json").write_bytes(b"\x00\x01\x02" * 1000)
    (wd / "good" / "notes.txt").write_text("remember to lower the lr\n")  # text, not a log: no word
    notes: list[str] = []
    runs, problems = parsers.read_paths([wd], notes=notes)
    assert problems == [] and len(runs) == 1
    assert notes == [
        f"{wd / 'good' / '20230726_000000.log'}: skipped, empty file",
        f"{wd / 'good' / '20230727_000000.log.json'}: skipped, binary data, not a training log",
    ]


def test_a_glob_matching_non_logs_skips_them_with_a_note(tmp_path):
    wd = _work_dir(tmp_path)
    (wd / "good" / "report.html").write_text("<html></html>\n")
    proc = _bevlog("parse", wd / "good" / "*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().splitlines() == [
        f"note: {wd / 'good' / 'report.html'}: skipped, not a log file by its name (matched by {wd / 'good' / '*'})"
    ]
    assert b"good" in proc.stdout


@pytest.mark.parametrize("content", [b"", b"   \n\n"], ids=["empty", "blank"])
def test_an_empty_log_named_on_the_command_line_is_a_problem(tmp_path, content):
    log = tmp_path / "20230725_174411.log"
    log.write_bytes(content)
    proc = _bevlog("diagnose", log)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"error: {log}: empty file"]
