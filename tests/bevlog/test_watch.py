"""`bevlog watch`: a log appended to by another process, rotation to a new timestamped log,
each finding printed once, Ctrl-C, --once."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from click.testing import CliRunner

from bevlog.cli import cli
from parsers import newest_sibling
from labelled_runs import CONSOLE, DETR3D_TEXT

WRITER = textwrap.dedent(r'''
    """Plays a training run: appends DETR3D lines to a log, then restarts into a new log."""
    import re, sys, time
    src, first_log, second_log = sys.argv[1:4]
    lines = open(src, encoding="utf-8").read().split("\n")
    start = next(i for i, l in enumerate(lines) if "Epoch [1][50/7033]" in l)
    header, train = lines[:start], lines[start:start + 60]

    def nan_row(line):  # one bad iteration of 50: loss_cls and loss are nan in this row
        line = re.sub(r"(\tlr: [^,]*, .*? loss_cls: )[0-9.]+", r"\g<1>nan", line, count=1)
        return re.sub(r"(, loss: )[0-9.]+", r"\g<1>nan", line)

    def append(path, text, pause):
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
        time.sleep(pause)

    time.sleep(0.6)                                    # the watcher starts before the log exists
    append(first_log, "\n".join(header + train[:15]), 0.6)
    for k, line in enumerate(train[15:40]):
        append(first_log, nan_row(line) if k == 5 else line, 0.03)
    time.sleep(1.0)
    stamp = "2023-07-27 12:00:00,000 - mmdet - INFO - "
    append(second_log, "\n".join(header + [stamp + "resumed epoch 1, iter 2000"] + train[40:60]), 0.5)
    append(second_log, "Traceback (most recent call last):\n  File \"tools/train.py\", line 1, in <module>\n"
                       "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", 0.1)
''')


def _read_json_lines(proc, want, timeout):
    """Findings printed by the watcher until `want(findings)` or timeout."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out, buf, deadline = [], "", time.time() + timeout
    while time.time() < deadline and not want(out):
        if sel.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            if not chunk:
                break
            buf += chunk
            while "\n" in buf:
                line, buf = buf.split("\n", 1)
                out.append(json.loads(line))
    return out


def test_watch_follows_an_appended_log_through_a_rotation(tmp_path):
    wd = tmp_path / "work_dir"
    wd.mkdir()
    first, second = wd / "20230727_114037.log", wd / "20230727_120000.log"
    writer_py = tmp_path / "writer.py"
    writer_py.write_text(WRITER)
    env = {**os.environ, "NO_COLOR": "1"}
    watch = subprocess.Popen(["bevlog", "watch", str(first), "--interval", "0.2", "--format", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    writer = subprocess.Popen([sys.executable, str(writer_py), DETR3D_TEXT, str(first), str(second)])
    try:
        def done(fs):
            return any(f["rule"] == "log-integrity" and f["severity"] == "error" for f in fs)
        found = _read_json_lines(watch, done, timeout=30)
        assert writer.wait(timeout=30) == 0
        time.sleep(0.6)  # a few more polls: nothing may be printed twice
        watch.send_signal(signal.SIGINT)
        rest, err = watch.communicate(timeout=10)
    finally:
        for p in (watch, writer):
            if p.poll() is None:
                p.kill()
    found += [json.loads(line) for line in rest.decode().splitlines() if line.strip()]
    err = err.decode()
    rules = [(f["rule"], f["severity"]) for f in found]
    assert ("nonfinite-loss", "warning") in rules, (rules, err)
    nan = next(f for f in found if f["rule"] == "nonfinite-loss")
    assert nan["evidence"]["first_component"] == "loss_cls"
    crash = next(f for f in found if f["rule"] == "log-integrity" and f["severity"] == "error")
    assert crash["evidence"]["exception_type"] == "RuntimeError" and "out of memory" in crash["message"]
    assert len(rules) == len(set((f["rule"], f["severity"], f["evidence"].get("kind"), f["start_step"])
                                 for f in found))  # each finding once
    assert rules.count(("nonfinite-loss", "warning")) == 1
    assert not any(f["evidence"].get("kind") == "stopped" for f in found)  # a live log is not "stopped"
    assert "waiting:" in err  # started before the log existed
    assert "now following" in err and "20230727_120000.log" in err
    assert "stopped watching" in err
    assert watch.returncode == 0 and "Traceback" not in err


def test_watch_once_prints_findings_and_honours_fail_on():
    res = CliRunner().invoke(cli, ["watch", CONSOLE, "--once"])
    assert res.exit_code == 0
    assert "✗ error" in res.stdout and "RuntimeError" in res.stdout
    assert CliRunner().invoke(cli, ["watch", CONSOLE, "--once", "--fail-on", "error"]).exit_code == 1
    missing = CliRunner().invoke(cli, ["watch", "/nonexistent/20240101_000000.log", "--once"])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_watch_exits_cleanly_on_ctrl_c(tmp_path):
    log = tmp_path / "20230727_114037.log"
    log.write_text(open(CONSOLE, encoding="utf-8").read())
    proc = subprocess.Popen(["bevlog", "watch", str(log), "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 15
        first = proc.stdout.readline()  # the traceback finding, printed once
        assert "RuntimeError" in first and time.time() < deadline
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopped watching" in err and "Traceback" not in err


def test_newest_sibling_finds_mmcv_and_mmengine_rotations(tmp_path):
    old = tmp_path / "20240101_000000.log"
    old.write_text("x")
    assert newest_sibling(str(old)) == str(old)
    (tmp_path / "20240102_000000.log").write_text("x")
    (tmp_path / "20240103_000000.log.json").write_text("x")  # another kind of file: not followed
    assert newest_sibling(str(old)) == str(tmp_path / "20240102_000000.log")
    eng = tmp_path / "wd" / "20240101_000000"
    eng.mkdir(parents=True)
    (eng / "20240101_000000.log").write_text("x")
    later = tmp_path / "wd" / "20240105_000000"
    later.mkdir()
    (later / "20240105_000000.log").write_text("x")
    assert newest_sibling(str(eng / "20240101_000000.log")) == str(later / "20240105_000000.log")


def test_watch_a_work_dir_reads_its_newest_log_with_earlier_segments(tmp_path):
    from labelled_runs import VARIANTS

    res = CliRunner().invoke(cli, ["watch", os.path.join(VARIANTS, "detr3d_resumed"), "--once",
                                   "--format", "json"])
    assert res.exit_code == 0, res.stderr
    found = [json.loads(line) for line in res.stdout.splitlines()]
    resume = next(f for f in found if f["evidence"].get("kind") == "resume")
    assert resume["evidence"]["segments"] == 2
    empty = CliRunner().invoke(cli, ["watch", str(tmp_path), "--once"])
    assert empty.exit_code == 2 and "no training log" in empty.stderr
