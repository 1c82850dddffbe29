"""Suite-wide policy and the one place that knows where the real logs live.

Optional packages of the test extra (torch, scipy, selenium, kaleido, jsonschema): a test
module or test that needs one that is not installed is skipped, with the package named,
instead of failing (an ImportError at collection or at run time becomes the skip; no test
module has to guard its imports). On CI (CI=true) a skipped test is a failure: `.ci/run`
installs everything, so a skip there means a missing install step.

Where the repository and its real logs lie is in `repo_paths.py` beside this file (test
modules import the paths from there); tests that take a path use the `real_logs` fixture.
"""

import atexit
import importlib.util
import os
import py_compile
import re
import sys
from pathlib import Path

import pytest
from repo_paths import REAL_LOGS, REAL_SET1, REAL_SET2, REPO


def _compile_the_packages() -> None:
    """The suite starts hundreds of Python processes (`python -m bevlog …`, trainings, its
    workers). Where the environment sets PYTHONDONTWRITEBYTECODE (as these machines do), each
    of them compiled bevlog, parsers and bevdetr from source again, while installed packages
    come with their bytecode. So the session's first process compiles the three packages into
    their `__pycache__` (read even under PYTHONDONTWRITEBYTECODE) and removes what it wrote
    when the session ends, leaving the tree as it found it."""
    if not sys.dont_write_bytecode or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    written: list[Path] = []
    for package in ("bevlog", "parsers", "bevdetr"):
        for source in sorted((REPO / package).rglob("*.py")):
            cached = Path(importlib.util.cache_from_source(str(source)))
            if cached.exists():
                continue
            fresh_dir = not cached.parent.exists()
            try:
                py_compile.compile(str(source), cfile=str(cached), doraise=True)
            except (OSError, py_compile.PyCompileError):
                continue  # a read-only tree, a file being edited: that module compiles as before
            written.extend([cached, cached.parent] if fresh_dir else [cached])
    atexit.register(_remove, written)


def _remove(paths: list[Path]) -> None:
    """The files, then the folders made for them (when left empty)."""
    for path in sorted(paths, key=lambda p: p.suffix != ".pyc"):
        try:
            path.unlink() if path.suffix == ".pyc" else path.rmdir()
        except OSError:
            pass


_compile_the_packages()


@pytest.fixture(scope="session")
def bundled_runs():
    """fixtures/runs (the ~110 bevdetr runs `bevlog diagnose fixtures/runs` judges) read once
    per session: {name: Run}. Read, not written: tests must not change them."""
    import parsers

    runs, problems = parsers.read_paths([str(REPO / "fixtures" / "runs")])
    assert not problems, problems
    return {r.name: r for r in runs}


@pytest.fixture(scope="session")
def bundled_diagnoses():
    """Every run of fixtures/runs diagnosed once per session, by the road of `bevlog
    diagnose fixtures/runs` (bevlog.diagnose.diagnose_paths, in worker processes):
    {name: Diagnosis}."""
    from bevlog.diagnose import diagnose_paths

    diagnoses, problems = diagnose_paths([str(REPO / "fixtures" / "runs")], progress=False)
    assert not problems, problems
    return {d.run: d for d in diagnoses}


@pytest.fixture(scope="session")
def real_logs() -> Path:
    """fixtures/real: set1/ (first set of real logs) and set2/ (second set)."""
    assert REAL_SET1.is_dir() and REAL_SET2.is_dir(), f"{REAL_LOGS} is part of the repository"
    return REAL_LOGS


OPTIONAL = {"torch", "scipy", "selenium", "kaleido", "jsonschema", "referencing"}
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")


def _missing_optional(text) -> str | None:
    """The optional package whose absence `text` (an error report) is about, or None."""
    m = _NO_MODULE.search(str(text or ""))
    return m.group(1).split(".")[0] if m and m.group(1).split(".")[0] in OPTIONAL else None


def _needs(package: str) -> str:
    return f"needs {package}, which is not installed (pip install -e '.[test]')"


# Fixtures that take seconds to minutes to build (training bevdetr, reading or diagnosing all
# of fixtures/runs): under pytest-xdist the tests that use one go to one worker together.
EXPENSIVE_FIXTURES = {
    "bundled_runs": "bundled-runs",
    "bundled_diagnoses": "bundled-runs",
    "tiny_run": "tiny_run",
    "uninterrupted": "uninterrupted",
    "no_aux_run": "no_aux_run",
    "killed_and_resumed": "killed_and_resumed",
    "cut_off_run": "cut_off_run",
    "mx": "mx",
    "all_seeds": "all_seeds",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`, pyproject.toml): the tests that use one of the
    EXPENSIVE_FIXTURES go to one worker, so that it is built once; every other test goes
    wherever a worker is free (a cheap module fixture may be built on both). The modules that
    train bevdetr (`torch` marks) come first, whole, so that the longest work does not start
    last."""
    training = set()
    for item in items:
        names = getattr(getattr(item, "_fixtureinfo", None), "names_closure", ())
        groups = sorted({EXPENSIVE_FIXTURES[n] for n in names if n in EXPENSIVE_FIXTURES})
        if groups:
            item.add_marker(pytest.mark.xdist_group("+".join(groups)))
        if item.get_closest_marker("torch"):
            training.add(item.path)
    items.sort(key=lambda item: item.path not in training)  # stable: file order otherwise


def pytest_runtest_setup(item):
    """`@pytest.mark.torch`: the test trains bevdetr in a subprocess, where a missing torch
    is no ImportError of the test's own."""
    if item.get_closest_marker("torch") and importlib.util.find_spec("torch") is None:
        pytest.skip(_needs("torch"))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    missing = _missing_optional(report.longrepr) if report.failed else None
    if missing:
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), 0, _needs(missing))
        report.result = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(ModuleNotFoundError):
        missing = _missing_optional(f"No module named '{call.excinfo.value.name}'")
        if missing:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, _needs(missing))
    if report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped on CI, which must install everything the tests need: {reason}"
