"""Run the rules over runs: findings, a verdict per run, in parallel over many logs.

`diagnose_run(run)` runs the selected rules on one Run. `diagnose_paths(paths)` expands
PATH arguments (files, work dirs, globs, '-') into runs and diagnoses them; with many runs
each worker process parses *and* diagnoses its runs, so the frames never cross a process
boundary — only the findings and a JSON-safe meta come back.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from bevlog.findings import SEVERITY_RANK, Finding, json_safe

VERDICTS = ("healthy", "needs attention", "broken")


@dataclass
class Diagnosis:
    """What `bevlog diagnose` reports about one run."""

    run: str
    meta: dict[str, Any]  # JSON-safe
    summary: str  # one line: format, length, batch, optimizer, decoder
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict(self.findings)

    @property
    def worst(self) -> int:
        return max((f.rank for f in self.findings), default=-1)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "verdict": self.verdict, "meta": self.meta,
                "findings": [f.to_dict() for f in self.findings]}


def verdict(findings) -> str:
    """broken with any error, needs attention with any warning, else healthy."""
    worst = max((SEVERITY_RANK[f.severity] for f in findings), default=0)
    return VERDICTS[worst] if findings else "healthy"


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then in the order they happened (whole-run findings last)."""
    from bevlog.rules import RULE_IDS

    order = {r: i for i, r in enumerate(RULE_IDS)}
    return sorted(findings, key=lambda f: (-f.rank, f.start_step if f.start_step is not None else float("inf"),
                                           order.get(f.rule, 99)))


def diagnose_run(run, rules: list[str] | None = None, live: bool = False) -> list[Finding]:
    """All selected rules (ids; all when None) on one Run, worst first."""
    from bevlog.rules import RULE_IDS, get_rule

    if live:
        run.extra["live"] = True
    findings: list[Finding] = []
    for rule_id in rules or RULE_IDS:
        findings.extend(get_rule(rule_id)(run))
    return sort_findings(findings)


def meta_for_json(meta: dict) -> dict:
    """meta without bulky or machine-local parts, NaN -> null, numpy -> Python."""
    keep = {k: v for k, v in meta.items() if k not in ("skipped_lines",)}
    return json_safe(keep)


def diagnose_group(args) -> tuple[Diagnosis | None, str | None]:
    """(files, rules) -> (Diagnosis, None) or (None, error line). Runs in worker processes."""
    files, rules = args
    from bevlog.inputs import read_group
    from bevlog.summary import describe_run

    run, error = read_group(files)
    if error:
        return None, error
    findings = diagnose_run(run, rules)
    return Diagnosis(run.name, meta_for_json(run.meta), describe_run(run), findings), None


def diagnose_paths(paths, rules: list[str] | None = None, jobs: int | None = None,
                   progress: bool | None = None) -> tuple[list[Diagnosis], list[str]]:
    """PATH arguments -> (diagnoses worst first, error lines).

    jobs None: bevlog.parallel.default_jobs (from the number of runs found). The progress
    bar goes to stderr, only when it is a terminal (or `progress=True`).
    """
    from bevlog.inputs import expand_paths
    from bevlog.parallel import default_jobs, map_with_progress

    groups, errors = expand_paths(paths)
    jobs = default_jobs(len(groups), jobs)
    if progress is None:
        progress = len(groups) > 1 and sys.stderr.isatty()

    stdin = any("-" in group for group in groups)
    results = map_with_progress(diagnose_group, [(g, rules) for g in groups], jobs, progress, "diagnosing",
                                in_process=stdin, preload=_preload_rules)
    diagnoses = []
    for diagnosis, error in results:
        if error:
            errors.append(error)
        else:
            diagnoses.append(diagnosis)
    diagnoses.sort(key=lambda d: (-d.worst, -sum(f.rank == d.worst for f in d.findings)))
    return diagnoses, errors


def _preload_rules() -> None:
    # forked workers inherit these instead of each paying pandas' import
    import pandas  # noqa: F401

    import parsers  # noqa: F401
    import bevlog.rules as rules_pkg

    for rule_id in rules_pkg.RULE_IDS:
        rules_pkg.get_rule(rule_id)
