"""`bevlog watch`: a log appended to by another process, rotation to a new timestamped log,
each finding printed once, Ctrl-C, --once."""

import json
import os
import re
import signal
import subprocess
import time

from click.testing import CliRunner
from interactive import as_from_a_shell, signal_masks
from labelled_runs import CONSOLE, DETR3D_TEXT

from bevlog.cli import cli
from parsers import newest_sibling


def _training_lines():
    """DETR3D's header and 60 train lines from `Epoch [1][50/7033]` on; row 20 has a nan loss."""
    lines = open(DETR3D_TEXT, encoding="utf-8").read().split("\n")
    start = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    header, train = lines[:start], lines[start : start + 60]
    train[20] = re.sub(r"(\tlr: [^,]*, .*? loss_cls: )[0-9.]+", r"\g<1>nan", train[20], count=1)
    train[20] = re.sub(r"(, loss: )[0-9.]+", r"\g<1>nan", train[20])
    return header, train


class _Reader:
    """Lines of a process's stdout (JSON) and stderr as they come; `until(want)` waits for an
    event, with a timeout that only bounds a failure."""

    def __init__(self, proc):
        import selectors

        self.proc, self.found, self.err = proc, [], ""
        self._buf = ""
        self._sel = selectors.DefaultSelector()
        self._sel.register(proc.stdout, selectors.EVENT_READ, "out")
        self._sel.register(proc.stderr, selectors.EVENT_READ, "err")

    def until(self, want, timeout=120):
        deadline = time.monotonic() + timeout
        while not want(self):
            assert time.monotonic() < deadline, (self.found, self.err)
            for key, _ in self._sel.select(timeout=1):
                chunk = os.read(key.fileobj.fileno(), 65536).decode()
                assert chunk or self.proc.poll() is None, ("the watcher ended", self.err)
                if key.data == "err":
                    self.err += chunk
                    continue
                self._buf += chunk
                while "\n" in self._buf:
                    line, self._buf = self._buf.split("\n", 1)
                    self.found.append(json.loads(line))


def _append(path, lines):
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def test_watch_follows_an_appended_log_through_a_rotation(tmp_path):
    """The test plays the training run, one step after each thing the watcher must have seen:
    it waits for the watcher, never for a time."""
    wd = tmp_path / "work_dir"
    wd.mkdir()
    first, second = wd / "20230727_114037.log", wd / "20230727_120000.log"
    header, train = _training_lines()
    env = {**os.environ, "NO_COLOR": "1"}
    watch = subprocess.Popen(
        ["bevlog", "watch", str(first), "--interval", "0.2", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=as_from_a_shell,
    )
    try:
        seen = _Reader(watch)
        seen.until(lambda r: "waiting:" in r.err)  # started before the log exists
        _append(first, header + train[:15])
        _append(first, train[15:40])  # with the nan row
        seen.until(lambda r: any(f["rule"] == "nonfinite-loss" for f in r.found))
        stamp = "2023-07-27 12:00:00,000 - mmdet - INFO - "
        _append(second, header + [stamp + "resumed epoch 1, iter 2000"] + train[40:60])
        seen.until(lambda r: "now following" in r.err)
        _append(
            second,
            [
                "Traceback (most recent call last):",
                '  File "tools/train.py", line 1, in <module>',
                "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
            ],
        )
        seen.until(lambda r: any(f["rule"] == "log-integrity" and f["severity"] == "error" for f in r.found))
        masks = signal_masks(watch.pid)
        watch.send_signal(signal.SIGINT)
        rest, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
    found = seen.found + [json.loads(line) for line in rest.decode().splitlines() if line.strip()]
    err = seen.err + err.decode()
    rules = [(f["rule"], f["severity"]) for f in found]
    assert ("nonfinite-loss", "warning") in rules, (rules, err)
    nan = next(f for f in found if f["rule"] == "nonfinite-loss")
    assert nan["evidence"]["first_component"] == "loss_cls"
    crash = next(f for f in found if f["rule"] == "log-integrity" and f["severity"] == "error")
    assert crash["evidence"]["exception_type"] == "RuntimeError" and "out of memory" in crash["message"]
    # each finding once, though every poll after the nan (rotation, resume, crash) judged it again
    assert len(rules) == len(set((f["rule"], f["severity"], f["evidence"].get("kind"), f["start_step"]) for f in found))
    assert rules.count(("nonfinite-loss", "warning")) == 1
    assert not any(f["evidence"].get("kind") == "stopped" for f in found)  # a live log is not "stopped"
    assert "now following" in err and "20230727_120000.log" in err
    assert "stopped watching" in err
    assert watch.returncode == 130 and "Traceback" not in err, masks  # Ctrl-C: 130, as every command


def test_watch_once_prints_findings_and_honours_fail_on():
    res = CliRunner().invoke(cli, ["watch", CONSOLE, "--once"])
    assert res.exit_code == 0
    assert "✗ error" in res.stdout and "RuntimeError" in res.stdout
    assert CliRunner().invoke(cli, ["watch", CONSOLE, "--once", "--fail-on", "error"]).exit_code == 1
    missing = CliRunner().invoke(cli, ["watch", "/nonexistent/20240101_000000.log", "--once"])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_watch_exits_130_on_ctrl_c(tmp_path):
    log = tmp_path / "20230727_114037.log"
    log.write_text(open(CONSOLE, encoding="utf-8").read())
    proc = subprocess.Popen(
        ["bevlog", "watch", str(log), "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_shell,
    )
    try:
        first = proc.stdout.readline()  # the traceback finding, printed once: the watcher is running
        assert "RuntimeError" in first
        masks = signal_masks(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, masks
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

    res = CliRunner().invoke(cli, ["watch", os.path.join(VARIANTS, "detr3d_resumed"), "--once", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    found = [json.loads(line) for line in res.stdout.splitlines()]
    resume = next(f for f in found if f["evidence"].get("kind") == "resume")
    assert resume["evidence"]["segments"] == 2
    empty = CliRunner().invoke(cli, ["watch", str(tmp_path), "--once"])
    assert empty.exit_code == 2 and "no training log" in empty.stderr
