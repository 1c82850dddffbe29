"""Run the rules over runs: findings, a verdict per run, in parallel over many logs.

`diagnose_run(run)` runs the selected rules on one Run. `diagnose_paths(paths)` reads PATH
arguments through the reader's plan / read_job / map_jobs (the road of `parsers.read_paths`)
and diagnoses each run; with many runs each worker process reads *and* diagnoses its runs,
so the frames never cross a process boundary — only the findings and a JSON-safe meta come
back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bevlog.findings import SEVERITY_RANK, Finding, json_safe
from parsers.run import ParseError

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

    @property
    def plan(self):
        """The run's one fix plan (bevlog.fixes), which every finding points into."""
        from bevlog.fixes import plan_of

        return plan_of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "verdict": self.verdict, "meta": self.meta, "plan": self.plan.to_dict(),
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
    """All selected rules (ids; all when None) on one Run, worst first. `live`: the log is
    still being written (`bevlog watch`), handed to the rules that ask for it."""
    from bevlog.rules import RULE_IDS, get_rule

    findings: list[Finding] = []
    for rule_id in rules or RULE_IDS:
        findings.extend(get_rule(rule_id)(run, live=live))
    from bevlog.fixes import apply_plan, plan_of

    apply_plan(findings, plan_of(findings))  # one fix plan per run: every finding points into it
    return sort_findings(findings)


CRASH_LINES = 40  # of a traceback: its last frames and the exception, never the whole tail


def meta_for_json(meta, with_config: bool = False) -> dict:
    """A run's `Meta` as a JSON-safe dict (its mapping view) without bulky parts: not the
    lines skipped, not the log's tail (a run that died of a traceback carries that
    traceback's last lines, `crash_lines`), not the config unless `with_config`.
    NaN -> null, numpy -> Python."""
    drop = {"skipped_lines", "tail"} | (set() if with_config else {"config"})
    keep = {k: v for k, v in meta.items() if k not in drop}
    keep["crash_lines"] = crash_lines(meta)
    return json_safe(keep)


def crash_lines(meta) -> list[str]:
    """The last traceback of a run that ended in one, from its `Traceback …` line on (its
    last CRASH_LINES lines); [] for a run that did not die of a traceback."""
    from parsers.crash import TRACEBACK

    if not str(meta.get("ended") or "").startswith("traceback"):
        return []
    lines = list(meta.get("tail") or [])
    starts = [i for i, line in enumerate(lines) if TRACEBACK in line]
    block = [line for line in lines[starts[-1] if starts else 0:] if line.strip()]
    return block[-CRASH_LINES:]


def diagnosis_of(run, rules: list[str] | None = None, with_config: bool = False) -> Diagnosis:
    """One Run -> its Diagnosis, as `bevlog diagnose` reports it."""
    from bevlog.summary import describe_run

    return Diagnosis(run.name, meta_for_json(run.meta, with_config), describe_run(run), diagnose_run(run, rules))


def diagnose_job(job, rules: list[str] | None = None, with_config: bool = False) -> tuple[list[Diagnosis], list]:
    """One job of `parsers.reader.plan` -> (a Diagnosis per run, problems). Runs in worker
    processes: the runs are read (`parsers.reader.read_job`, the road every command takes)
    and diagnosed where they are, so frames never cross a process boundary."""
    from parsers.reader import read_job

    runs, problems = read_job(job)
    out = []
    for run in runs:
        try:
            out.append(diagnosis_of(run, rules, with_config))
        except Exception as exc:  # noqa: BLE001 - one run's failure must not sink the others
            from parsers.io import exception_line

            problems.append(ParseError(run.name, f"could not be diagnosed ({exception_line(exc)})"))
    return out, problems


def diagnose_paths(paths, rules: list[str] | None = None, jobs: int | None = None,
                   progress: bool | None = None, notes: list | None = None,
                   with_config: bool = False) -> tuple[list[Diagnosis], list]:
    """PATH arguments -> (diagnoses worst first, problems: ParseErrors, one line each).

    Paths are planned and read as by `parsers.read_paths` (same discovery, same runs, same
    names, same pool policy); jobs None: all cores when there are more than 4 groups.
    notes: gets a line per file skipped that is no error (see parsers.read_paths).
    with_config: each Diagnosis.meta keeps the run's config (`bevlog diagnose --with-config`).
    """
    from functools import partial

    from parsers.reader import map_jobs, plan

    work, problems = plan(paths, notes=notes)
    diagnoses = []
    for found, errs in map_jobs(partial(diagnose_job, rules=rules, with_config=with_config), work, jobs,
                                progress, "diagnosing",
                                preload=_preload_rules):
        diagnoses.extend(found)
        problems.extend(errs)
    diagnoses.sort(key=lambda d: (-d.worst, -sum(f.rank == d.worst for f in d.findings)))
    return diagnoses, problems


def _preload_rules() -> None:
    # forked workers inherit these instead of each paying pandas' import
    import pandas  # noqa: F401

    import parsers  # noqa: F401
    import bevlog.rules as rules_pkg

    for rule_id in rules_pkg.RULE_IDS:
        rules_pkg.get_rule(rule_id)
