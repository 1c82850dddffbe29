"""Text from a log never drives the terminal, whatever the command and the format.

The log is a real one (DETR3D) whose run directory name, a loss key, an evaluation metric
name, a config value and the exception line of a traceback carry a clear-screen (`ESC[2J`),
an OSC title sequence (`ESC]0;pwned BEL`), a backspace, a C1 CSI (U+009B), a bare CR and
HTML (`<img onerror=…>`). Every command × output format is run on it (with an unreadable
file beside it whose name carries the same bytes, for the error line): no control
character of the log reaches stdout or stderr, markdown and HTML carry no live markup
from the log, and JSON keeps the log's exact text (\\u-escaped).
"""

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

from bevlog.cli import cli
from bevlog.escape import clean

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
CONTROLS = "\x1b[2J\x1b]0;pwned\x07\x08\x9b31m"
EVIL = CONTROLS + "<img src=x onerror=alert(1)>"  # an exception line, a config value
EVIL_DIR = EVIL + "\r"  # a bare CR (in a log line it means a redrawn progress bar)
EVIL_KEY = CONTROLS + "<img/src=x/onerror=alert(1)>"  # keys hold no spaces
METRIC = "pts_bbox_NuScenes/mAVE" + EVIL_KEY
# a control character of any kind except TAB and LF (which formats use themselves)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def evil_work_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    text = DETR3D.read_text()
    text = text.replace("loss_cls: ", f"loss_cls{EVIL_KEY}: ")
    text = text.replace("pts_bbox_NuScenes/mAVE: ", f"{METRIC}: ")
    text = text.replace("work_dir = './work_dirs/detr3d_res101_gridmask'", f"work_dir = './{EVIL}'")
    text += (
        f'Traceback (most recent call last):\n  File "tools/train.py", line 1, in <module>\nRuntimeError: boom {EVIL}\n'
    )
    run_dir = root / f"run{EVIL_DIR}"
    run_dir.mkdir()
    (run_dir / "20230727_114037.log").write_text(text)
    (root / f"broken{EVIL_DIR}.log").write_text("not a training log\n")  # an error line naming it
    return root, run_dir


def _invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _assert_no_control(*streams):
    for text in streams:
        found = CONTROL.findall(text)
        assert not found, f"control characters {found!r} in {text[:300]!r}"


SLOW = {"parse csv layers", "parse csv evals", "parse json evals", "compare csv"}  # same roads as their siblings
CASES = {
    "parse table": ["parse", "--wide"],
    "parse csv train": ["parse", "--format", "csv"],
    "parse csv layers": ["parse", "--format", "csv", "--frame", "layers"],
    "parse csv evals": ["parse", "--format", "csv", "--frame", "evals"],
    "parse json train": ["parse", "--format", "json"],
    "parse json evals": ["parse", "--format", "json", "--frame", "evals"],
    "diagnose text": ["diagnose"],
    "diagnose json": ["diagnose", "--format", "json", "--with-config"],
    "diagnose markdown": ["diagnose", "--format", "markdown"],
    "compare table": ["compare", "--wide", "-m", "loss", "-m", f"loss_cls{EVIL_KEY}", "-m", METRIC],
    "compare csv": ["compare", "--format", "csv", "-m", f"loss_cls{EVIL_KEY}", "-m", METRIC],
    "compare json": ["compare", "--format", "json", "-m", f"loss_cls{EVIL_KEY}", "-m", METRIC],
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES])
def test_no_control_character_of_a_log_reaches_the_terminal(evil_work_dir, case):
    root, run_dir = evil_work_dir
    args = CASES[case]
    result = _invoke(*args, run_dir, root / f"broken{EVIL_DIR}.log")
    assert result.exit_code == 2, result.output  # the broken file is an error; the run is shown
    out, err = result.stdout, result.stderr
    _assert_no_control(out, err)
    assert f"error: {root}/broken{clean(EVIL_DIR)}.log: " in err  # named, visibly
    if case.endswith("json") or " json " in case:
        doc = json.loads(out)
        assert doc["problems"] and doc["problems"][0]["path"] == str(root / f"broken{EVIL_DIR}.log")  # exact
        if case.startswith("parse"):
            assert doc["runs"][0]["run"] == f"run{EVIL_DIR}" and doc["rows"][0]["run"] == f"run{EVIL_DIR}"
            if case == "parse json train":
                assert f"loss_cls{EVIL_KEY}" in doc["rows"][0]
            else:
                assert METRIC in {r["metric"] for r in doc["rows"]}
        elif case.startswith("diagnose"):
            (run,) = doc["runs"]
            assert run["run"] == f"run{EVIL_DIR}" and run["meta"]["config"]["work_dir"] == f"./{EVIL}"
            assert run["meta"]["crash_lines"][-1] == f"RuntimeError: boom {EVIL}"
        else:
            assert [c["metric"] for c in doc["comparisons"]] == [f"loss_cls{EVIL_KEY}", METRIC]
            assert doc["comparisons"][0]["runs"][0]["run"] == f"run{EVIL_DIR}"
    else:  # the name is shown (a table may cut or fold it), its controls made visible
        shown = clean(f"run{EVIL_DIR}")
        if case == "diagnose markdown":
            shown = shown.replace("<", "&lt;").replace(">", "&gt;")
        assert (_flat(shown)[:20] if "table" in case else _flat(shown)) in _flat(out)
    if case.startswith("compare") and "json" not in case:
        assert _flat(clean(METRIC)) in _flat(out)
    if case == "parse csv train":
        assert f"loss_cls{clean(EVIL_KEY)}" in out.splitlines()[0]
    if case == "diagnose text":
        assert _flat(f"boom {clean(EVIL)}") in _flat(out)  # the crash, on the log-integrity finding


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_index_and_runs_print_no_control_character(evil_work_dir, tmp_path, fmt):
    """The catalog keeps the log's text exact; `index` and `runs` (runs and --problems) show
    it with its control characters made visible, and JSON \\u-escapes them."""
    root, run_dir = evil_work_dir
    catalog = tmp_path / "catalog"
    indexed = _invoke("index", run_dir, root / f"broken{EVIL_DIR}.log", "--catalog", catalog, "-j", "1")
    assert indexed.exit_code == 2, indexed.output  # the broken file, one problem row
    _assert_no_control(indexed.stdout, indexed.stderr)
    assert f"error: {root}/broken{clean(EVIL_DIR)}.log: " in indexed.stderr
    listed = _invoke("runs", "--catalog", catalog, "--format", fmt, *(["--wide"] if fmt == "table" else []))
    unread = _invoke("runs", "--catalog", catalog, "--problems", "--format", fmt)
    assert listed.exit_code == 0 and unread.exit_code == 0, listed.output + unread.output
    _assert_no_control(listed.stdout, listed.stderr, unread.stdout, unread.stderr)
    if fmt == "json":
        doc = json.loads(listed.stdout)
        assert [r["name"] for r in doc["runs"]] == [f"run{EVIL_DIR}"]  # exact
        assert f"broken{EVIL_DIR}.log" in doc["index_problems"][0]
    else:
        assert _flat(clean(f"run{EVIL_DIR}")) in _flat(listed.stdout)
        assert _flat(f"broken{clean(EVIL_DIR)}.log") in _flat(unread.stdout)


def _flat(text: str) -> str:
    """Without whitespace: a table folds a long cell over lines."""
    return re.sub(r"\s+", "", text)


def test_markdown_carries_no_live_html_from_a_log(evil_work_dir):
    _, run_dir = evil_work_dir
    out = _invoke("diagnose", "--format", "markdown", run_dir).stdout
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert f"boom {clean(EVIL).replace('<', '&lt;').replace('>', '&gt;')}" in out


def test_report_html_carries_no_control_character_or_markup_of_a_log(evil_work_dir, tmp_path):
    _, run_dir = evil_work_dir
    out = tmp_path / "r.html"
    result = _invoke("report", run_dir, "-o", out)
    assert result.exit_code == 0, result.output
    _assert_no_control(result.stdout, result.stderr)
    page = out.read_text()
    from bevlog.report.html import plotly_js_path

    # the only control characters in the page are plotly.js's own (two, in its strings)
    assert len(CONTROL.findall(page)) == len(CONTROL.findall(open(plotly_js_path(), encoding="utf-8").read()))
    assert "<img" not in page and "pwned" in page  # the name is there, as text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_watch_prints_no_control_character(evil_work_dir, fmt):
    _, run_dir = evil_work_dir
    result = _invoke("watch", "--once", "--format", fmt, run_dir / "20230727_114037.log")
    assert result.exit_code == 0, result.output
    _assert_no_control(result.stdout, result.stderr)
    if fmt == "json":
        found = [json.loads(line) for line in result.stdout.splitlines()]
        assert any(f["message"].endswith(f"boom {EVIL}") or f"boom {EVIL}" in f["message"] for f in found)
    else:
        assert f"boom {clean(EVIL)}" in result.stdout


def test_through_a_real_terminal_pipe_too(evil_work_dir):
    """The same, as a process writing to a pipe (bytes, not click's test capture)."""
    root, run_dir = evil_work_dir
    proc = subprocess.run(
        [sys.executable, "-m", "bevlog", "parse", "--format", "csv", run_dir, root / f"broken{EVIL_DIR}.log"],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 2
    for stream in (proc.stdout, proc.stderr):
        _assert_no_control(stream.decode("utf-8"))


def test_colour_output_keeps_our_colours_and_drops_the_logs(evil_work_dir):
    """With FORCE_COLOR the text renderer emits its own colour codes; the log's never."""
    _, run_dir = evil_work_dir
    for args in (["diagnose"], ["compare"]):
        out = CliRunner().invoke(cli, [*args, str(run_dir)], env={"FORCE_COLOR": "1", "NO_COLOR": ""}).stdout
        assert "\x1b[" in out  # our colours
        assert "\x1b[2J" not in out and "\x1b]" not in out and "\x07" not in out and "\x9b" not in out
        assert not CONTROL.findall(re.sub(r"\x1b\[[0-9;]*m", "", out))


def test_clean_replaces_every_control_character():
    controls = "".join(map(chr, [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]))
    out = clean(f"a{controls}b")
    assert out.startswith("a") and out.endswith("b")
    assert not any(c in out for c in controls if c != "\t")
    assert "\t" in out  # TAB is harmless and kept
    assert clean("two\nlines") == "two\\x0alines" and clean("two\nlines", newlines=True) == "two\nlines"
    assert clean("plain text: ünïcode ✓") == "plain text: ünïcode ✓"
