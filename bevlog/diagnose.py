"""Run the rules over runs: findings, a verdict per run, in parallel over many logs.

`diagnose_run(run)` runs the selected rules on one Run. `diagnose_paths(paths)` reads PATH
arguments through the reader's plan / read_job / map_jobs (the road of `parsers.read_paths`)
and diagnoses each run; with many runs each worker process reads *and* diagnoses its runs,
so the frames never cross a process boundary — only the findings and a JSON-safe meta come
back.

`bevlog --help` loads this module (the command modules import VERDICTS from it): the rule
engine, the plan and the readers (numpy, pandas) are imported inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bevlog.findings import Finding, json_safe
from bevlog.rules import RULE_IDS, get_rule
from parsers import ParseError, traceback_block

VERDICTS = ("healthy", "stopped", "needs attention", "broken")


@dataclass
class Diagnosis:
    """What `bevlog diagnose` reports about one run: the per-run source of truth every output
    format (text, markdown, JSON, HTML) renders, so they show the same verdict and plan."""

    run: str
    meta: Any  # parsers.Meta (typed; `to_dict` makes it JSON-safe)
    summary: str  # one line: format, length, batch, optimizer, decoder
    findings: list[Finding] = field(default_factory=list)
    plan: Any = None  # bevlog.fixes.Plan: the one fix plan every finding points into
    judged: Any = None  # bevlog.verdict.Verdict
    with_config: bool = False  # to_dict keeps the run's config (`bevlog diagnose --with-config`)

    def __post_init__(self):
        if self.plan is None or self.judged is None:
            from bevlog.fixes import plan_of
            from bevlog.verdict import verdict

            self.plan = self.plan if self.plan is not None else plan_of(self.findings)
            self.judged = self.judged if self.judged is not None else verdict(self.findings, self.plan.summary())

    @property
    def verdict(self) -> str:
        return self.judged.status

    @property
    def worst(self) -> int:
        from bevlog.verdict import status_rank

        return max((f.rank for f in self.findings), default=-1) * 10 + status_rank(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "verdict": self.verdict,
            "headline": self.judged.headline,
            "verdict_line": self.judged.line,
            "root": self.judged.root,
            "summary": self.summary,
            "meta": meta_for_json(self.meta, self.with_config),
            "plan": self.plan.to_dict(),
            "plan_text": self.judged.plan,
            "findings": [f.to_dict() for f in self.findings],
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then in the order they happened (whole-run findings last)."""
    order = {r: i for i, r in enumerate(RULE_IDS)}
    return sorted(
        findings,
        key=lambda f: (-f.rank, f.start_step if f.start_step is not None else float("inf"), order.get(f.rule, 99)),
    )


def diagnose(run, rules: list[str] | None = None, live: bool = False) -> Diagnosis:
    """All selected rules (ids; all when None) on one Run: findings worst first, tagged with their
    place in the run's story; one plan, consistent as a whole, which every finding points into;
    the verdict. `live`: the log is still being written (`bevlog watch`)."""
    from bevlog.fixes import apply_plan, plan_of
    from bevlog.summary import describe_run
    from bevlog.verdict import verdict

    findings: list[Finding] = []
    for rule_id in rules or RULE_IDS:
        findings.extend(get_rule(rule_id)(run, live=live))
    findings = sort_findings(findings)
    verdict(findings)  # tags stage / role / because: the plan takes the causes' changes first
    plan = plan_of(findings, run)
    apply_plan(findings, plan)
    trained = run.train is not None and len(run.train) > 0
    judged = verdict(findings, plan.summary(), trained)
    return Diagnosis(run.name, run.meta, describe_run(run), findings, plan, judged)


def diagnose_run(run, rules: list[str] | None = None, live: bool = False) -> list[Finding]:
    """The findings of `diagnose(run)` (worst first, pointing into the run's one plan)."""
    return diagnose(run, rules, live).findings


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
    """The last traceback of a run that ended in one (its last CRASH_LINES lines); [] for a
    run that did not die of a traceback."""
    if not str(meta.get("ended") or "").startswith("traceback"):
        return []
    return traceback_block(list(meta.get("tail") or []), CRASH_LINES)


def diagnose_job(job, rules: list[str] | None = None, with_runs: bool = False, with_config: bool = False):
    """One job of `parsers.plan` -> (a Diagnosis per run, problems). Runs in worker
    processes: the runs are read (`parsers.read_job`, the road every command takes)
    and diagnosed where they are, so frames never cross a process boundary.
    with_runs: (diagnoses, problems, [(run, its Diagnosis)]) for a caller in the same
    process that also needs the frames (the run catalog writes them).
    with_config: each Diagnosis's JSON keeps the run's config (`--with-config`)."""
    from parsers import exception_line, read_job

    runs, problems = read_job(job)
    out, pairs = [], []
    for run in runs:
        try:
            d = diagnose(run, rules)
            d.with_config = with_config
        except Exception as exc:  # noqa: BLE001 - one run's failure must not sink the others
            problems.append(ParseError(run.name, f"could not be diagnosed ({exception_line(exc)})"))
            continue
        out.append(d)
        pairs.append((run, d))
    return (out, problems, pairs) if with_runs else (out, problems)


def diagnose_paths(
    paths,
    rules: list[str] | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    notes: list | None = None,
    with_config: bool = False,
) -> tuple[list[Diagnosis], list]:
    """PATH arguments -> (diagnoses worst first, problems: ParseErrors, one line each).

    Paths are planned and read as by `parsers.read_paths` (same discovery, same runs, same
    names, same pool policy); jobs None: all cores when there are more than 4 groups.
    notes: gets a line per file skipped that is no error (see parsers.read_paths).
    with_config: each Diagnosis.meta keeps the run's config (`bevlog diagnose --with-config`).
    """
    from parsers import drop_copies, map_jobs, plan

    work, problems = plan(paths, notes=notes)
    diagnoses = []
    for found, errs in map_jobs(
        partial(diagnose_job, rules=rules, with_config=with_config),
        work,
        jobs,
        progress,
        "diagnosing",
        preload=_preload_rules,
    ):
        diagnoses.extend(found)
        problems.extend(errs)
    diagnoses, copies = drop_copies(diagnoses, meta_of=lambda d: d.meta)  # a run and its console copy: once
    if notes is not None:
        notes.extend(copies)
    diagnoses.sort(key=lambda d: (-d.worst, -len(d.findings)))
    return diagnoses, problems


def _preload_rules() -> None:
    # forked workers inherit these instead of each paying pandas' import
    import pandas  # noqa: F401

    import bevlog.rules as rules_pkg
    import parsers  # noqa: F401

    for rule_id in rules_pkg.RULE_IDS:
        rules_pkg.get_rule(rule_id)
