"""The README's examples are true: its commands run and its Python block works."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

# one worker, in file order: the `bevlog runs` examples and the Python block read the catalog
# that the `bevlog index` example writes
pytestmark = pytest.mark.xdist_group("readme")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def console_commands():
    return [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]


def test_the_examples_run_on_one_worker_as_one_group(request):
    """Under pytest-xdist the examples are one `xdist_group`, which xdist puts in the node id.
    pytest 9.2 derives the node id from elsewhere, so xdist 3.8 could no longer add it: the
    examples ran on both workers, a `bevlog runs` before the `bevlog index` it reads (hence
    pytest < 9.2 in the test extra)."""
    if getattr(request.config, "workerinput", None) is None:
        pytest.skip("one process (-n 0): every test runs on it, in file order")
    assert request.node.nodeid.endswith("@readme"), request.node.nodeid


def test_readme_opens_with_the_two_commands():
    first = blocks("bash")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].startswith("pip install . && bevlog ")
    assert "pip install -e '.[test]'" in first[1] and first[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install torch==2.13.0" in ci and "pip install -e '.[test]' && python -m pytest" in ci


@pytest.mark.slow  # diagnoses all of fixtures/runs
def test_main_job_of_the_first_command_runs():
    main_job = blocks("bash")[0].strip().splitlines()[0].split("&&", 1)[1].strip()
    proc = subprocess.run(shlex.split(main_job), cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "verdict:" in proc.stdout
    # the bundled falls-then-rises runs (the lr rising after take-off) get the attention warning
    # (both sweeps have them: bevlog names a run by its directory, with the parent when two share it)
    blocks_by_run = {b.split(" · ")[0]: b for b in proc.stdout.split("\n\n")}
    for seed in range(3):
        hits = [b for name, b in blocks_by_run.items() if name.rsplit("/", 1)[-1] == f"cyclic-5x-s{seed}"]
        assert hits and all("attention-collapse" in b for b in hits)


@pytest.mark.slow  # every example command in its own process (an index of fixtures/runs among them)
@pytest.mark.parametrize("command", console_commands())
def test_console_example_runs(command):
    args = shlex.split(command)
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    allowed = {0, 1} if "--fail-on" in args else {0}
    assert proc.returncode in allowed, f"{command}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip() or "-o" in args


@pytest.mark.slow  # reads the catalog the examples above wrote
def test_python_example_runs():
    code = blocks("python")[0]
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
