"""Suite-wide policy: on CI (CI=true) a skipped test is a failure.

Browser, PNG and training tests skip on a developer machine that lacks Chromium or torch;
`.ci/run` installs everything, so a skip there means a missing install step.
"""
import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped on CI, which must install everything the tests need: {reason}"
