"""Text from a log never drives the terminal: control characters are made visible.

The log is a real one whose run directory name, a loss key and the exception line of a
traceback carry a clear-screen (`ESC[2J`) and an OSC title sequence (`ESC]0;pwned BEL`).
"""
import json
import os
import subprocess
import sys

import pytest

from bevlog.output import clean
from conftest import REAL_SET1

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
EVIL = "\x1b[2J\x1b]0;pwned\x07"


@pytest.fixture(scope="module")
def evil_work_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    text = DETR3D.read_text()
    text = text.replace("loss_cls: ", f"loss_cls{EVIL}: ")
    text += ("Traceback (most recent call last):\n  File \"tools/train.py\", line 1, in <module>\n"
             f"RuntimeError: boom {EVIL}\n")
    run_dir = root / f"run{EVIL}"
    run_dir.mkdir()
    (run_dir / "20230727_114037.log").write_text(text)
    # and an unreadable file whose name carries the sequence: the error line on stderr
    (root / f"broken{EVIL}.log").write_text("not a training log\n")
    os.chmod(root, 0o755)
    return root, run_dir


def _run(*args):
    return subprocess.run([sys.executable, "-m", "bevlog", *map(str, args)], capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": REPO})


@pytest.mark.parametrize("args", [["parse"], ["diagnose"], ["diagnose", "--format", "markdown"],
                                  ["diagnose", "--format", "json"], ["compare"]])
def test_no_escape_byte_reaches_stdout_or_stderr(evil_work_dir, args):
    root, run_dir = evil_work_dir
    proc = _run(*args, run_dir, root / f"broken{EVIL}.log")
    assert proc.returncode == 2, proc.stderr  # the broken file is an error, the run is shown
    for stream in (proc.stdout, proc.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream
    assert f"broken{clean(EVIL)}.log".encode() in proc.stderr
    assert b"run^[[2J^[]0;pwned\\x07" in proc.stdout or args[-1] == "json"
    if args[-1] == "json":  # json escapes it: the exact text survives for programs
        runs = json.loads(proc.stdout)["runs"]
        assert runs[0]["run"] == f"run{EVIL}"


def test_the_traceback_line_is_cleaned_in_text_and_markdown(evil_work_dir):
    _, run_dir = evil_work_dir
    for fmt in ("text", "markdown"):
        out = _run("diagnose", "--format", fmt, run_dir).stdout.decode()
        assert "boom ^[[2J^[]0;pwned\\x07" in out, out  # visible, on the log-integrity finding


def test_colour_output_keeps_our_colours_and_drops_the_logs(evil_work_dir):
    """On a terminal the text renderer emits its own colour codes; the log's never."""
    import parsers
    from bevlog.commands.diagnose import render_text
    from bevlog.diagnose import diagnose

    _, run_dir = evil_work_dir
    run = parsers.read(str(run_dir))
    d = diagnose(run)
    out = render_text([d], color=True, width=200)
    assert "\x1b[" in out  # our colours
    assert "\x1b[2J" not in out and "\x1b]" not in out and "\x07" not in out


def test_clean_replaces_every_control_character():
    controls = "".join(map(chr, [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]))
    out = clean(f"a{controls}b")
    assert out.startswith("a") and out.endswith("b")
    assert not any(c in out for c in controls if c != "\t")
    assert "\t" in out  # TAB is harmless and kept
    assert clean("two\nlines") == "two\\x0alines" and clean("two\nlines", newlines=True) == "two\nlines"
    assert clean("plain text: ünïcode ✓") == "plain text: ünïcode ✓"


def test_watch_prints_no_escape_byte(evil_work_dir):
    _, run_dir = evil_work_dir
    proc = _run("watch", "--once", run_dir / "20230727_114037.log")
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream
    assert b"boom ^[[2J^[]0;pwned\\x07" in proc.stdout  # the crash, made visible
