"""The exit-code contract, for every command and every way its output can go.

0 fine, 1 a finding at or above --fail-on, 2 bad usage or unreadable input (one line),
130 interrupted, 141 the reader of stdout went away. Each output path is made to happen,
not waited for: a reader that closed the pipe before the command wrote (`| true`), one
that read a line and left in the middle of a large output (`| head -1`), a closed
stdout (`>&-`), a full disk (`> /dev/full`). A small output may fit into the pipe before
the reader leaves: then the command wrote everything and 0 is right too (as for
`seq 3 | head -1`). Ctrl-C is sent when the process is in the state under test (its
workers forked, a log open), never after a fixed time.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from interactive import as_from_a_shell, signal_masks
from repo_paths import REAL_SET1

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": REPO, "NO_COLOR": "1"}
LOGS = os.path.join(REPO, "fixtures", "logs")
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
BEVLOG = [sys.executable, "-m", "bevlog"]
TWO = [os.path.join(LOGS, "mmcv_epoch"), os.path.join(LOGS, "mmengine_epoch")]
NAN = os.path.join(LOGS, "mmcv_nan_loss")
CATALOG = "{catalog}"  # the `catalog` fixture's folder, indexed from TWO before the test

# every command × output format that writes to stdout
COMMANDS = {
    "parse table": ["parse", *TWO],
    "parse csv": ["parse", "--format", "csv", str(DETR3D)],
    "compare table": ["compare", *TWO],
    "diagnose json": ["diagnose", "--format", "json", *TWO],
    "watch text": ["watch", "--once", NAN],
}
MORE_FORMATS = {
    "parse json": ["parse", "--format", "json", str(DETR3D)],
    "compare csv": ["compare", "--format", "csv", *TWO],
    "compare json": ["compare", "--format", "json", *TWO],
    "diagnose text": ["diagnose", *TWO],
    "diagnose markdown": ["diagnose", "--format", "markdown", *TWO],
    "diagnose --explain": ["diagnose", "--explain", "all"],
    "watch json": ["watch", "--once", "--format", "json", NAN],
    "index text": ["index", *TWO, "--catalog", CATALOG],
    "runs table": ["runs", "--catalog", CATALOG],
    "runs csv": ["runs", "--catalog", CATALOG, "--format", "csv"],
    "runs json": ["runs", "--catalog", CATALOG, "--format", "json"],
}
STDOUT_COMMANDS = {**COMMANDS, **MORE_FORMATS}


def quick(*names):
    """Every command × format, `names` in the quick suite (`-m "not slow"`), the others slow:
    they all reach the path under test through the same lines of bevlog.output."""
    return [name if name in names else pytest.param(name, marks=pytest.mark.slow) for name in STDOUT_COMMANDS]


LARGE = {"parse csv": 500_000, "parse json": 1_000_000}  # bytes, far beyond a pipe's 64 KiB


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """A catalog of the runs in TWO; `index` on it again finds it up to date (no progress lines)."""
    from bevlog.catalog import index

    path = tmp_path_factory.mktemp("catalog") / "c"
    index(TWO, str(path), jobs=1)
    return path


def _args(name: str, catalog) -> list[str]:
    return [str(catalog) if a == CATALOG else a for a in STDOUT_COMMANDS[name]]


def _popen(args, **kwargs):
    return subprocess.Popen([*BEVLOG, *map(str, args)], env=ENV, **kwargs)


@pytest.mark.parametrize("name", quick("parse table", "diagnose json", "runs table"))
def test_reader_gone_before_the_first_write_is_141(name, catalog):
    """`bevlog … | true`, with `true` gone before bevlog writes: quietly 141."""
    proc = _popen(_args(name, catalog), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader left
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141, err
    assert err == b""


@pytest.mark.parametrize("name", quick("parse csv"))
def test_head_one_is_0_or_141_never_1(name, catalog):
    """`bevlog … | head -1`: 141 when the output did not fit into the pipe before head left,
    0 when it did; for the large outputs always 141 (today's CPython can report a write cut
    short by a closed pipe as complete, so bevlog writes with write(2) itself)."""
    proc = _popen(_args(name, catalog), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    rc = proc.wait(timeout=300)
    assert first.strip(), err
    assert rc == 141 if name in LARGE else rc in (0, 141), (rc, err)
    assert err == b""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parse csv", "parse json"])
def test_large_outputs_are_as_large_as_the_head_test_needs(name):
    """The premise of the test above: these outputs are far beyond a pipe's 64 KiB."""
    out = subprocess.run([*BEVLOG, *STDOUT_COMMANDS[name]], capture_output=True, env=ENV, timeout=300).stdout
    assert len(out) > LARGE[name]


@pytest.mark.parametrize("name", quick("parse table"))
def test_closed_stdout_is_one_line_and_2(name, catalog):
    """`bevlog … >&-`: nothing to write to is bad usage, said once; never a traceback."""
    proc = subprocess.run(
        [*BEVLOG, *_args(name, catalog)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
        timeout=300,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == ["error: stdout: cannot write: Bad file descriptor"]


@pytest.mark.parametrize("name", quick("diagnose json", "index text"))
def test_stdout_on_a_full_disk_is_one_line_and_2(name, catalog):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*BEVLOG, *_args(name, catalog)], stdout=full, stderr=subprocess.PIPE, env=ENV, timeout=300
        )
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == ["error: stdout: cannot write: No space left on device"]


@pytest.mark.slow
@pytest.mark.parametrize("stdout", ["gone", "closed", "full"])
def test_report_writes_no_stdout_and_is_0_whatever_stdout_is(tmp_path, stdout):
    out = tmp_path / "r.html"
    args = [*BEVLOG, "report", "--no-findings", str(STREAMPETR), "-o", str(out)]
    if stdout == "closed":
        proc = subprocess.run(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=ENV,
            timeout=300,
            preexec_fn=lambda: os.close(1),
        )
        rc, err = proc.returncode, proc.stderr
    elif stdout == "gone":
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        p.stdout.close()
        err = p.stderr.read()
        rc = p.wait(timeout=300)
    else:
        with open("/dev/full", "wb") as full:
            proc = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, env=ENV, timeout=300)
        rc, err = proc.returncode, proc.stderr
    assert rc == 0, err
    assert out.read_text().rstrip().endswith("</html>")
    assert err.decode().startswith(f"wrote {out} ")


@pytest.mark.parametrize("formats", [["json"], pytest.param(["text", "markdown"], marks=pytest.mark.slow)])
def test_fail_on_never_passes_an_unreadable_input(tmp_path, formats):
    """A CI gate: findings give 1 only when every input was read; an unreadable input is 2,
    whatever the findings, in every format."""
    bad = tmp_path / "20230101_000000.log"
    bad.write_bytes(b"\x00\x01 not a log\n")
    for fmt in formats:
        proc = subprocess.run(
            [*BEVLOG, "diagnose", "--fail-on", "warning", "--format", fmt, str(bad), NAN],
            capture_output=True,
            env=ENV,
            timeout=300,
        )
        assert proc.returncode == 2, (fmt, proc.stderr)
        assert f"error: {bad}: ".encode() in proc.stderr
    only_bad = subprocess.run(
        [*BEVLOG, "diagnose", "--fail-on", "error", str(bad)], capture_output=True, env=ENV, timeout=300
    )
    assert only_bad.returncode == 2
    findings = subprocess.run(
        [*BEVLOG, "diagnose", "--fail-on", "warning", NAN], capture_output=True, env=ENV, timeout=300
    )
    assert findings.returncode == 1  # the loss went nan: errors


def test_every_match_of_a_glob_skipped_is_2_with_the_notes(tmp_path):
    """`bevlog diagnose 'dir/*'` over files that are no logs: each named in a note, and no
    run read is an error (a gate must not pass on nothing), in JSON too."""
    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "notes.md").write_text("# notes\n")
    pattern = str(tmp_path / "*")
    proc = subprocess.run(
        [*BEVLOG, "diagnose", "--fail-on", "error", "--format", "json", pattern],
        capture_output=True,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 2
    import json

    doc = json.loads(proc.stdout)
    assert doc["runs"] == [] and len(doc["notes"]) == 2
    assert all(
        "skipped, not a log file by its name" in n and n.endswith(f"(matched by {pattern})") for n in doc["notes"]
    )
    err = proc.stderr.decode().splitlines()
    assert err[-1] == "error: no training log among the PATHs (see the notes above)"


# ---- Ctrl-C -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_work_dir(tmp_path_factory):
    """200 runs (links to one real log): minutes of work, so that Ctrl-C lands mid-way."""
    root = tmp_path_factory.mktemp("big")
    for k in range(200):
        (root / f"run{k:03d}").mkdir()
        os.symlink(DETR3D, root / f"run{k:03d}" / "20230727_114037.log")
    return root


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _has_open(pid: int, path: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except OSError:
            pass
    return False


def _wait_for(proc, state, what: str, timeout=120) -> None:
    """Until `state()` holds (checked every few ms); fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while not state():
        assert proc.poll() is None, f"the command ended before {what}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_while_reading_is_130(big_work_dir, jobs):
    proc = _popen(
        ["diagnose", "-j", jobs, big_work_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=as_from_a_shell,
    )
    try:
        log = str(DETR3D.resolve())
        _wait_for(proc, lambda: any(_has_open(p, log) for p in [proc.pid, *_children(proc.pid)]), "it opened a log")
        masks = signal_masks(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)  # the failure bound, not a speed claim
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, f"{masks}; stderr: {err.decode()[-2000:]}"
    assert err.decode().splitlines() == ["error: interrupted"]


FORK_HOOK = textwrap.dedent("""
    import os, signal, sys
    fired = []

    def interrupt():  # Ctrl-C landing inside the fork of the first worker, in the parent
        if not fired:
            fired.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    os.register_at_fork(after_in_parent=interrupt)
    from bevlog.cli import cli
    cli(["diagnose", "-j", "2", sys.argv[1]], prog_name="bevlog")
""")


def test_ctrl_c_while_the_workers_start_is_130(big_work_dir):
    """An exception raised in an at-fork hook is printed and dropped by the interpreter: a
    Ctrl-C landing there once let the command run to the end and exit 0. The hook here
    delivers SIGINT at exactly that moment."""
    worker = f"this test's process: {signal_masks(os.getpid())}, SIGINT handler {signal.getsignal(signal.SIGINT)!r}"
    proc = subprocess.run(
        [sys.executable, "-c", FORK_HOOK, str(big_work_dir)],
        capture_output=True,
        env=ENV,
        timeout=300,
        preexec_fn=as_from_a_shell,
    )
    assert proc.returncode == 130, f"{worker}; stderr: {proc.stderr.decode()[-2000:]}"
    assert proc.stderr.decode().splitlines() == ["error: interrupted"]
    assert proc.stdout == b""
