"""One fix plan per run: every rule's suggested change is evidence, the plan reconciles them.

Rules propose changes (`Fix.changes`: {"param", "from", "to"}) from what they saw; several
rules often see the same trouble (a diverging run also spikes and goes nan) and each would name
its own lr. After all rules ran, `plan_of` reconciles the proposals into ONE value per parameter
(`reconcile` says how, per parameter), and `apply_plan` makes every finding point into it: its
changes become the plan's, and a clause whose value lost says so ("→ plan: lr 6.0e-04 → 1.5e-04
(set by divergence; grad-spike alone: 3.0e-04)"), keeping the rule's own proposal in its
evidence (`evidence["own_fix"]`). The verdict line names the plan, not a rule.

The constants of the fixes live here, each with its reason; rules name them in their thresholds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bevlog.findings import SEVERITY_RANK

# ---- the constants of the fixes --------------------------------------------------------

# grad clipping: the DETR-family configs (DETR3D, PETR, StreamPETR, mmdet3d) clip the global
# grad_norm at max_norm=35 (norm_type=2); it caps a rare bad batch without touching normal steps.
CLIP_MAX_NORM = 35
# warmup: mmdet's schedules warm up linearly over 500 iterations; a run that blew up right after a
# shorter (or no) warmup gets at least this, and twice its own when it already had one.
MIN_WARMUP_ITERS = 500
WARMUP_GROWTH = 2
# a run that never took off at a high lr: bevdetr at lr 3e-3 was rescued by a 1000-iteration
# warmup (docs/experiments.md, lr-3e-3-warmup1000), 500 was not enough.
NO_TAKEOFF_WARMUP_ITERS = 1000
# the warmup starts at lr × this (mmdet3d DETR-family configs: warmup_ratio=1.0 / 3)
WARMUP_RATIO_TEXT = "1/3"
# lr factors. A loss that climbs: half the lr at which the climb began (the design table's
# "lower the peak lr"). Growing scatter, a noisy deep layer: half. A run that never took off:
# a third, never below the grounded reference (recipes.py). (grad-spike halves and the
# non-finite rules take a third, in their own thresholds.)
DIVERGENCE_LR_DIVISOR = 2.0
OSCILLATION_LR_DIVISOR = 2.0
LAYER_UNSTABLE_LR_DIVISOR = 2.0
NO_TAKEOFF_LR_DIVISOR = 3.0
# oscillation: double the effective batch with gradient accumulation (noise falls by √2)
ACCUMULATION_STEPS = 2

# the order the plan is written in (the rest follow alphabetically)
PARAM_ORDER = ("lr", "warmup_iters", "grad_clip", "aux_loss", "batch", "gradient_accumulation",
               "fp16_loss_scale", "loss_scale", "num_decoder_layers", "max_epochs", "max_iters")
# how the proposals for one parameter become one value (see `reconcile`)
LOWEST = ("grad_clip", "max_epochs", "max_iters", "num_decoder_layers")
HIGHEST = ("warmup_iters", "batch", "gradient_accumulation")


# ---- the plan ----------------------------------------------------------------------------

@dataclass
class Proposal:
    rule: str
    severity: str
    frm: Any
    to: Any


@dataclass
class PlannedChange:
    param: str
    frm: Any
    to: Any
    severity: str  # the most severe finding that asked for this parameter
    set_by: list[str]  # rules whose own proposal is the plan's value
    rules: list[str]  # every rule whose finding points into it

    def to_dict(self) -> dict:
        d = {"param": self.param, "to": self.to, "severity": self.severity, "set_by": self.set_by,
             "rules": self.rules}
        if self.frm is not None:
            d["from"] = self.frm
        return d


@dataclass
class Plan:
    changes: dict[str, PlannedChange] = field(default_factory=dict)

    def ordered(self, min_severity: str = "info") -> list[PlannedChange]:
        rank = SEVERITY_RANK[min_severity]
        key = {p: i for i, p in enumerate(PARAM_ORDER)}
        items = [c for c in self.changes.values() if SEVERITY_RANK[c.severity] >= rank]
        return sorted(items, key=lambda c: (key.get(c.param, len(key)), c.param))

    def summary(self, min_severity: str = "warning") -> str:
        """'lr 0.05 → 0.017, warmup 500 iters, grad_clip 35' (changes asked for at ≥ min_severity)."""
        return ", ".join(short(c.param, c.frm, c.to) for c in self.ordered(min_severity))

    def to_dict(self) -> list[dict]:
        from bevlog.findings import json_safe

        return [json_safe(c.to_dict()) for c in self.ordered()]


def proposals(findings) -> dict[str, list[Proposal]]:
    """Every rule's own proposal per parameter (the one it made before the plan rewrote it)."""
    out: dict[str, list[Proposal]] = {}
    for f in findings:
        if not f.fix:
            continue
        own = f.evidence.get("own_fix", {}) if isinstance(f.evidence, dict) else {}
        for c in f.fix.changes:
            param = c.get("param")
            if not param or "to" not in c:
                continue
            to = own.get(param, c["to"])
            out.setdefault(param, []).append(Proposal(f.rule, f.severity, c.get("from"), to))
    return out


def reconcile(param: str, props: list[Proposal]) -> Any:
    """One value from the proposals for `param`.

    Only the proposals of warnings and errors count when there are any (a note does not
    overrule a problem). lr: the lowest of those that lower it (the most serious trouble needs
    the largest cut; a stability problem beats a recipe's raise), else the smallest raise.
    grad_clip, max_epochs, max_iters, decoder layers: the lowest. warmup, batch, accumulation:
    the highest. Flags (aux_loss, loss_scale): the most severe proposal's value."""
    strong = [p for p in props if SEVERITY_RANK[p.severity] >= SEVERITY_RANK["warning"]]
    pool = strong or props
    numbers = [p for p in pool if _is_number(p.to)]
    if param == "lr" and numbers:
        lower = [p.to for p in numbers if _is_number(p.frm) and p.to < p.frm]
        return min(lower) if lower else min(p.to for p in numbers)
    if param in LOWEST and numbers:
        return min(p.to for p in numbers)
    if param in HIGHEST and numbers:
        return max(p.to for p in numbers)
    return max(pool, key=lambda p: SEVERITY_RANK[p.severity]).to


def plan_of(findings) -> Plan:
    plan = Plan()
    for param, props in proposals(findings).items():
        to = reconcile(param, props)
        frm = next((p.frm for p in props if p.frm is not None), None)
        severity = max((p.severity for p in props), key=SEVERITY_RANK.__getitem__)
        set_by = _unique(p.rule for p in props if _same(p.to, to))
        plan.changes[param] = PlannedChange(param, frm, to, severity, set_by, _unique(p.rule for p in props))
    return plan


def apply_plan(findings, plan: Plan) -> None:
    """Make every finding's changes the plan's; a clause whose own value lost names the plan."""
    for f in findings:
        if not f.fix or not f.fix.changes:
            continue
        own = dict(f.evidence.get("own_fix", {})) if isinstance(f.evidence, dict) else {}
        clauses = split_clauses(f.fix.text)
        new_changes = []
        for c in f.fix.changes:
            planned = plan.changes.get(c.get("param"))
            if planned is None or "to" not in c:
                new_changes.append(c)
                continue
            mine = own.get(planned.param, c["to"])
            rewritten = {**c, "to": planned.to}
            if planned.frm is not None:
                rewritten["from"] = planned.frm
            new_changes.append(rewritten)
            if _same(mine, planned.to):
                continue
            own[planned.param] = mine
            text = (f"→ plan: {short(planned.param, planned.frm, planned.to)} "
                    f"(set by {', '.join(planned.set_by)}; {f.rule} alone: {value_text(planned.param, mine)})")
            k = _clause_of(clauses, planned.param)
            if k is None:
                clauses.append(text)
            else:
                clauses[k] = text
        f.fix.changes = new_changes
        f.fix.text = "; ".join(clauses)
        if own:
            f.evidence["own_fix"] = own


# ---- words -------------------------------------------------------------------------------

def value_text(param: str, value) -> str:
    if param == "lr" and _is_number(value):
        from bevlog.rules._common import fmt

        return fmt(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def short(param: str, frm, to) -> str:
    """'lr 0.05 → 0.017', 'warmup 500 iters', 'grad_clip 35', 'aux_loss on', 'fp16 loss scale dynamic'."""
    if param == "lr":
        return f"lr {value_text('lr', frm)} → {value_text('lr', to)}" if frm is not None else f"lr {value_text('lr', to)}"
    if param == "warmup_iters":
        return f"warmup {value_text(param, to)} iters"
    if param in ("fp16_loss_scale", "loss_scale"):
        return f"fp16 loss scale {value_text(param, to)}"
    if frm is not None and not isinstance(to, bool):
        return f"{param} {value_text(param, frm)} → {value_text(param, to)}"
    return f"{param} {value_text(param, to)}"


# which clause of a rule's fix text speaks of which parameter (rules join clauses with "; ")
CLAUSE_PATTERNS = {
    "lr": re.compile(r"^(lower the (peak )?)?lr\b|→ plan: lr\b"),
    "warmup_iters": re.compile(r"warm ?up|→ plan: warmup"),
    "grad_clip": re.compile(r"\bclip\b|grad_clip"),
    "fp16_loss_scale": re.compile(r"loss scal"),
    "loss_scale": re.compile(r"loss scal"),
    "gradient_accumulation": re.compile(r"accumulat"),
}


def split_clauses(text: str) -> list[str]:
    return [c for c in (text or "").split("; ") if c]


def _clause_of(clauses: list[str], param: str) -> int | None:
    pattern = CLAUSE_PATTERNS.get(param) or re.compile(re.escape(param))
    for k, clause in enumerate(clauses):
        if pattern.search(clause):
            return k
    return None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-30)
    return a == b


def _unique(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out
