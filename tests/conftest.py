"""Suite-wide policy and the one place that knows where the real logs live.

On CI (CI=true) a skipped test is a failure: browser, PNG and training tests skip on a
developer machine that lacks Chromium or torch; `.ci/run` installs everything, so a skip
there means a missing install step.

Real logs written by other people's runs are committed under `fixtures/real/` (set1, set2, set3;
provenance in fixtures/real/README.md). Modules import `REAL_LOGS` from here; tests that
take a path use the `real_logs` fixture.
"""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_LOGS = REPO / "fixtures" / "real"
REAL_SET1 = REAL_LOGS / "set1"
REAL_SET2 = REAL_LOGS / "set2"
REAL_SET3 = REAL_LOGS / "set3"


@pytest.fixture(scope="session")
def real_logs() -> Path:
    """fixtures/real: set1/ (first set of real logs) and set2/ (second set)."""
    assert REAL_SET1.is_dir() and REAL_SET2.is_dir(), f"{REAL_LOGS} is part of the repository"
    return REAL_LOGS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped on CI, which must install everything the tests need: {reason}"
