"""Suite-wide policy and the one place that knows where the real logs live.

Optional packages of the test extra (torch, scipy, selenium, kaleido, jsonschema): a test
module or test that needs one that is not installed is skipped, with the package named,
instead of failing (an ImportError at collection or at run time becomes the skip; no test
module has to guard its imports). On CI (CI=true) a skipped test is a failure: `.ci/run`
installs everything, so a skip there means a missing install step.

Where the repository and its real logs lie is in `repo_paths.py` beside this file (test
modules import the paths from there); tests that take a path use the `real_logs` fixture.
"""

import importlib.util
import os
import re
from pathlib import Path

import pytest
from repo_paths import REAL_LOGS, REAL_SET1, REAL_SET2, REPO


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
