"""One hostile or unreadable file never sinks the batch; a work dir never hides one.

Each hostile log is a real log with one value changed; it is named next to a good log,
and both runs must come out (the hostile one read, its bad value counted or bounded).
"""

import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

import parsers
from bevlog.cli import cli
from parsers.io import per_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
DETR3D_JSON = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _huge_iter_json(tmp_path):
    lines = DETR3D_JSON.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if '"mode": "train"' in line)
    lines[k] = re.sub(r'"iter": \d+', '"iter": 1e309', lines[k], count=1)
    p = tmp_path / "iter_inf.log.json"
    p.write_text("\n".join(lines) + "\n")
    return p, k + 1


def _huge_layer_key(tmp_path):
    p = tmp_path / "layer_key.log"
    p.write_text(DETR3D.read_text().replace("d0.loss_cls", "d99999999999999999999.loss_cls"))
    return p


def _huge_interval(tmp_path):
    text, n = re.subn(
        r"log_config = dict\(\s*interval=\d+", "log_config = dict(interval=1" + "0" * 400, DETR3D.read_text(), count=1
    )
    assert n == 1
    p = tmp_path / "interval.log"
    p.write_text(text)
    return p


def _huge_epoch_text(tmp_path):
    text = DETR3D.read_text()
    at = text.index("Epoch [1][")
    p = tmp_path / "epoch_huge.log"
    p.write_text(text[:at] + "Epoch [" + "9" * 30 + "][" + text[at + len("Epoch [1][") :])
    return p, text[:at].count("\n") + 1


@pytest.mark.parametrize(
    "command",
    ["parse", pytest.param("diagnose", marks=pytest.mark.slow), pytest.param("compare", marks=pytest.mark.slow)],
)
def test_hostile_numbers_are_bounded_and_the_other_run_survives(tmp_path, command):
    """In a subprocess with a timeout: an epoch of 1e30 once sized compare's epoch grid."""
    iter_json, bad_line = _huge_iter_json(tmp_path)
    epoch_text, epoch_line = _huge_epoch_text(tmp_path)
    paths = [iter_json, _huge_layer_key(tmp_path), _huge_interval(tmp_path), epoch_text, STREAMPETR]
    proc = subprocess.run(
        [sys.executable, "-m", "bevlog", command, *map(str, paths)],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    for name in ("iter_inf", "layer_key", "interval", "epoch_huge", "PrymceQ__BEVModel_StreamPETR"):
        assert name in out
    epoch_run = parsers.read(str(epoch_text))
    assert epoch_run.meta["skipped_lines"]["train row with an out-of-range epoch/iter/step"] == [
        f"{epoch_text}:{epoch_line}"
    ]
    assert len(epoch_run.train) == 3360 - 1
    run = parsers.read(str(iter_json))
    assert run.meta["skipped"] == {"train row with an out-of-range epoch/iter/step": 1}
    assert run.meta["skipped_lines"]["train row with an out-of-range epoch/iter/step"] == [f"{iter_json}:{bad_line}"]
    key_run = parsers.read(str(_huge_layer_key(tmp_path)))
    assert "d99999999999999999999.loss_cls" in key_run.train.columns  # kept, as a plain column
    assert int(key_run.layers["layer"].max()) == 5  # not a decoder layer: layers stay 0..5
    assert parsers.read(str(_huge_interval(tmp_path))).meta["config"]["log_config"]["interval"] == "1" + "0" * 400


def test_the_last_resort_guard_names_the_file_and_the_exception_type():
    @per_file
    def read(path):
        return {}["missing"]  # any bug in a reader of one file

    with pytest.raises(parsers.ParseError) as err:
        read("a/run.log")
    assert str(err.value) == "a/run.log: could not be read (KeyError: 'missing')"

    @per_file
    def read_group(paths):
        raise OverflowError("int too large to convert to float")

    with pytest.raises(parsers.ParseError, match=r"^x\.log: could not be read \(OverflowError: int too large"):
        read_group(["x.log", "x.log.json"])


def test_unreadable_file_is_a_problem_line_and_exit_2_while_others_print(tmp_path):
    bad = tmp_path / "garbage.log"
    bad.write_bytes(b"\x00\x01 not a log\n")
    result = invoke("diagnose", bad, STREAMPETR)
    assert result.exit_code == 2
    assert f"error: {bad}: " in result.output
    assert "PrymceQ__BEVModel_StreamPETR" in result.output


def _run_dir_with_a_dangling_log(tmp_path):
    wd = tmp_path / "work"
    (wd / "good").mkdir(parents=True)
    (wd / "good" / "20230725_174411.log").write_bytes(STREAMPETR.read_bytes())
    (wd / "lost").mkdir()
    os.symlink(tmp_path / "gone.log", wd / "lost" / "20230101_000000.log")
    return wd


def test_unreadable_log_in_a_work_dir_is_listed_and_exit_2(tmp_path):
    wd = _run_dir_with_a_dangling_log(tmp_path)
    result = invoke("parse", wd)
    assert result.exit_code == 2, result.output
    assert f"error: {wd / 'lost' / '20230101_000000.log'}: no such file" in result.output
    assert "good" in result.output  # the readable run is still shown


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_log_without_read_permission_in_a_work_dir_is_an_error(tmp_path):
    wd = tmp_path / "work"
    (wd / "a").mkdir(parents=True)
    (wd / "b").mkdir()
    (wd / "a" / "20230725_174411.log").write_bytes(STREAMPETR.read_bytes())
    secret = wd / "b" / "20230727_114037.log"
    secret.write_bytes(DETR3D.read_bytes())
    secret.chmod(0)
    # root reads anything: run the command without root's capabilities then
    drop = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all"] if os.getuid() == 0 else []
    proc = subprocess.run(
        [*drop, sys.executable, "-m", "bevlog", "parse", "--wide", str(wd)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.splitlines() == [f"error: {secret}: cannot read: Permission denied"]
    assert re.search(rb"(?m)^ *a +\xe2\x94\x82 mmcv-text", proc.stdout), proc.stdout  # run `a` still shown


def test_fifo_in_a_work_dir_is_skipped_with_a_note_not_a_hang(tmp_path):
    wd = tmp_path / "work"
    (wd / "run").mkdir(parents=True)
    (wd / "run" / "20230725_174411.log").write_bytes(STREAMPETR.read_bytes())
    os.mkfifo(wd / "run" / "20230801_000000.log")  # nobody ever writes it: opening it blocks
    proc = subprocess.run(
        [sys.executable, "-m", "bevlog", "parse", str(wd)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().splitlines() == [
        f"note: {wd / 'run' / '20230801_000000.log'}: skipped, not a regular file (a named pipe)"
    ]
    assert b"run" in proc.stdout
