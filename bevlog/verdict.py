"""The verdict: a run's story in one line, its root first.

A run's story has an order (`STAGES`): it never started or never trained → it crashed (an
exception; a person or a scheduler stopping it is "stopped", not a crash) → it never learned
(metric at chance, no take-off) → its loss went non-finite or diverged → it trained unstably →
it trained slowly (plateau, schedule) → settings and notes. Every finding gets a stage.

The outcome is the finding at the earliest stage (warnings and errors only: a note is never a
run's story). The root is what explains it: a finding that can cause it (`explains`) and starts
no later — a too-high lr (lr-batch, when the run went poorly) explains a non-finite loss, a
divergence or a run that never took off; a non-finite loss explains a dead metric; a schedule
whose milestones lie past the end explains a plateau. Each finding is tagged `cause` or
`consequence` (consequences name their root in `because`), and the headline names the root.

Status: `broken` with an error, `needs attention` with a warning, `stopped` when the run was
stopped (by a person, a signal, or silently before its end) and nothing worse is wrong, `healthy`
otherwise — never for a run of which no train row was understood.
"""

from __future__ import annotations

from dataclasses import dataclass

from bevlog.findings import SEVERITY_RANK, Finding
from bevlog.fixes import Plan, change_text
from bevlog.rules.log_integrity import exception_noun

STAGES = (
    "never-trained",
    "crashed",
    "never-learned",
    "non-finite",
    "diverged",
    "unstable",
    "slow",
    "settings",
    "stopped",
    "notes",
)
# findings about the config itself: true or not whatever happened in the run, never a consequence
CONFIG_RULES = ("schedule", "lr-batch", "lr-invalid", "aux-missing", "layer-redundant", "dataloader-bound")
STATUSES = ("healthy", "stopped", "needs attention", "broken")  # worst last
# within a stage, the finding that tells the story best comes first
PREFERRED = (
    "no-takeoff",
    "metric-chance",
    "nonfinite-loss",
    "grad-nonfinite",
    "earlier-attempt",
    "divergence",
    "warmup",
    "schedule",
    "plateau",
)
# causes are looked for in this order: a wrong setting first, then the earliest event
CAUSE_ORDER = ("settings", "never-learned", "non-finite", "diverged", "unstable", "slow")

_BY_RULE = {
    "no-takeoff": "never-learned",
    "nonfinite-loss": "non-finite",
    "grad-nonfinite": "non-finite",
    "earlier-attempt": "non-finite",
    "divergence": "diverged",
    "warmup": "diverged",
    "grad-spike": "unstable",
    "oscillation": "unstable",
    "layer-unstable": "unstable",
    "attention-collapse": "unstable",
    "plateau": "slow",
    "schedule": "slow",
    "overfitting": "slow",
    "lr-drop": "notes",
    "layer-flat": "slow",
    "layer-inversion": "slow",
    "lr-batch": "settings",
    "lr-invalid": "settings",
    "aux-missing": "settings",
    "layer-redundant": "settings",
    "dataloader-bound": "notes",
    "memory-growth": "notes",
}


def stage_of(f: Finding) -> str:
    kind = f.kind
    if f.rule == "log-integrity":
        return {
            "never_trained": "never-trained",
            "waiting": "never-trained",
            "no_train_rows": "never-trained",
            "traceback": "crashed",
            "stopped": "stopped",
        }.get(kind or "", "notes")
    if f.rule == "metric-chance":
        return "never-learned" if kind in ("dead", "collapse") else ("notes" if kind == "early" else "settings")
    if f.rule == "loss-zero":
        return "unstable" if kind == "zero" else "notes"
    return _BY_RULE.get(f.rule, "notes")


def explains(cause: Finding, f: Finding) -> bool:
    """Can `cause` be why `f` happened (and does it start no later)?"""
    if cause is f or not _no_later(cause, f) or f.rule in CONFIG_RULES:
        return False
    sf = stage_of(f)
    if cause.rule == "lr-invalid":
        return sf not in ("notes", "stopped", "crashed")
    if cause.rule == "lr-batch" and cause.kind == "lr":
        if cause.severity == "info":
            return False  # a note: the run's outcome does not point at the lr
        if cause.evidence.get("direction") == "high":
            return sf in ("never-learned", "non-finite", "diverged", "unstable") or f.rule in ("plateau", "layer-flat")
        return f.rule in ("plateau", "layer-flat")
    if cause.rule == "schedule":
        return f.rule == "plateau" or (cause.kind == "warmup_length" and f.rule in ("no-takeoff", "layer-flat"))
    if cause.rule == "grad-spike" and cause.kind == "explosion":
        # an explosion before the stall knocks a detector onto its first plateau (the classifier
        # onto background) where it stays
        return f.rule == "no-takeoff"
    if cause.rule == "no-takeoff":
        return (f.rule == "metric-chance" and f.kind == "dead") or f.rule in ("layer-flat", "plateau")
    sc = stage_of(cause)
    if sc == "non-finite" and cause.rule != "earlier-attempt":
        if sf == "crashed":
            text = str(f.evidence.get("exception", "")).lower()
            return any(w in text for w in ("nan", "inf", "floatingpoint", "non-finite"))
        return sf in ("never-learned", "diverged", "unstable", "slow") or (
            cause.rule == "nonfinite-loss" and f.rule == "grad-nonfinite"
        )
    if sc == "diverged":
        return f.rule in ("metric-chance", "no-takeoff") or sf in ("unstable", "slow")
    if cause.rule == "attention-collapse":
        return f.rule == "divergence" or (f.rule == "metric-chance" and f.kind == "collapse")
    return False


def _no_later(cause: Finding, f: Finding) -> bool:
    """A cause begins no later than what it explains begins (a whole-run finding has no start)."""
    if cause.start_step is None or f.start_step is None:
        return True
    return cause.start_step <= f.start_step


@dataclass(frozen=True)
class Verdict:
    status: str  # healthy | stopped | needs attention | broken
    headline: str  # the root (and the outcome it explains), in the log's numbers
    root: str | None  # rule id of the root finding
    outcome: str | None  # rule id of the finding that is the run's outcome
    plan: str  # the fix plan's summary ('' when there is nothing to change)
    first: str = ""  # what to fix before any config change (the exception a run died of)
    rerun: str = ""  # config contradictions the run ended too early to show, to fix before the next launch

    @property
    def line(self) -> str:
        """'broken — the loss went nan at epoch 0.01 at lr 0.006; fix: optimizer.lr 0.01 → 0.0033'."""
        text = f"{self.status} — {self.headline}"
        if self.first:
            text += f"; fix {self.first} first"
        if self.plan:
            text += f"; {'then' if self.first else 'fix:'} {self.plan}"
        if self.rerun:
            text += f"; before a rerun: {self.rerun}"
        return text

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "headline": self.headline,
            "root": self.root,
            "outcome": self.outcome,
            "plan": self.plan,
            "first": self.first,
            "rerun": self.rerun,
            "line": self.line,
        }


def _order(f: Finding) -> tuple:
    pref = PREFERRED.index(f.rule) if f.rule in PREFERRED else len(PREFERRED)
    return (STAGES.index(stage_of(f)), -f.rank, pref, f.start_step if f.start_step is not None else float("inf"))


def story(findings: list[Finding]) -> tuple[Finding, Finding] | None:
    """(outcome, root) of the run, None when no finding is a warning or an error; tags every
    finding's stage, role and `because` in place."""
    for f in findings:
        f.stage, f.role, f.because = stage_of(f), "cause", None
    strong = sorted((f for f in findings if f.rank >= SEVERITY_RANK["warning"]), key=_order)
    if not strong:
        return None
    outcome = strong[0]
    root, seen = outcome, [outcome]
    for _ in range(3):  # a cause of the cause (an lr that is invalid, behind a non-finite loss)
        causes = [c for c in strong if explains(c, root) and c not in seen]
        if not causes:
            break
        root = min(causes, key=lambda c: (CAUSE_ORDER.index(c.stage) if c.stage in CAUSE_ORDER else 99,) + _order(c))
        seen.append(root)
    for f in findings:
        if f is root:
            continue
        if f is outcome or explains(root, f) or (outcome is not root and explains(outcome, f)):
            f.role = "consequence"
            f.because = f"{root.rule}: {short(root)}"
    return outcome, root


def short(f: Finding) -> str:
    """The finding's headline, else its message up to the first colon."""
    if f.headline:
        return f.headline
    text = f.message.split(": ")[0]
    return text if len(text) <= 160 else text[:157] + "…"


def because(outcome: str, cause: str) -> str:
    """'<outcome>, because <cause>', the cause placed after the outcome's first clause: 'the first
    attempt went NaN at epoch 5.3, because the lr is 10× …; the run resumed from epoch 4 and …'."""
    head, sep, rest = outcome.partition("; ")
    return f"{head}, because {cause}{sep}{rest}"


def verdict(findings: list[Finding], plan_summary: str = "", trained: bool = True) -> Verdict:
    told = story(findings)
    rerun = rerun_text(findings)
    worst = max((f.rank for f in findings), default=-1)
    stopped = next((f for f in findings if stage_of(f) == "stopped"), None)
    if told is None:
        only = next((f for f in findings if f.rule == "log-integrity" and f.kind == "evaluation_only"), None)
        if not trained and only is not None:
            # a launch that only evaluated: nothing was trained, and nothing in it went wrong
            return Verdict("healthy", short(only), only.rule, only.rule, "", rerun=rerun)
        if not trained:
            return Verdict(
                "needs attention", "no train row was understood: nothing to judge", None, None, "", rerun=rerun
            )
        n = len(findings)
        notes = f" ({n} note{'s' if n > 1 else ''})" if n else ""
        if stopped is not None:
            return Verdict("stopped", short(stopped) + notes, stopped.rule, stopped.rule, "", rerun=rerun)
        return Verdict("healthy", "nothing to fix" + notes, None, None, "", rerun=rerun)
    outcome, root = told
    if root is outcome:
        headline = short(root)
    else:
        headline = because(short(outcome), short(root))
    status = "broken" if worst >= SEVERITY_RANK["error"] else "needs attention"
    if root.stage == "stopped" and worst < SEVERITY_RANK["error"]:
        status = "stopped"
    if stopped is not None and root is not stopped:
        headline += f"; then {short(stopped)}"
    return Verdict(status, headline, root.rule, outcome.rule, plan_summary, _first_fix(root) or "", rerun)


def rerun_text(findings: list[Finding]) -> str:
    """The changes only findings the run ended too early to show asked for (a schedule that would never
    have decayed, in a run stopped before it mattered), to make before the next launch; read from the
    findings' fixes, which point into the plan, leaving out what the plan's summary already says."""
    shown = {c.param for f in findings if f.rank >= SEVERITY_RANK["warning"] and f.fix for c in f.fix.changes}
    asked = {}
    for f in findings:
        if f.evidence.get("before_rerun") and f.fix:
            asked.update({c.param: c for c in f.fix.changes if c.param not in shown})
    return ", ".join(change_text(asked[p], short=True) for p in sorted(asked, key=Plan.position))


def _first_fix(root: Finding) -> str | None:
    """What comes before any config change: the exception a run died of, what stopped it training."""
    if root.stage == "crashed" and root.evidence.get("exception_type"):
        return f"{exception_noun(root.evidence['exception_type'])} it died of"
    if root.stage == "never-trained" and root.kind == "never_trained":
        exc = root.evidence.get("exception_type")
        return f"{exception_noun(exc)} it died of" if exc else "what stopped it before its first iteration"
    return None


def status_rank(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else 0
