"""One fix plan per run, from the changes the rules ask for — data in, text out.

Rules propose changes (`Change`: the concept `param`, the config `key`, the value there, the value to
write, the effective value it yields, why) from what they saw; several rules often see the same
trouble (a diverging run also spikes and goes nan) and each would name its own lr. After all rules
ran, `plan_of` merges the proposals into ONE value per key (`reconcile` says how, per parameter),
`check_plan` makes the plan consistent as a whole (milestones move with a new length, nothing past
the run's end, warmup inside the run), and `apply_plan` makes every finding point into it: each
finding's fix text is rendered again from the plan's changes for the keys it asked about, saying so
where its own value lost ("plan: … (set by divergence; grad-spike alone: 3.0e-04)"). The text is
always rendered from the changes; nothing parses prose.

The constants of the fixes live here, each with its reason; rules name them in their thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bevlog import config_keys
from bevlog.findings import SEVERITY_RANK, Alternative, Change, is_number, json_safe
from bevlog.numbers import fmt, plain
from bevlog.schedule import total_iters

# ---- the constants of the fixes --------------------------------------------------------

# grad clipping: the DETR-family configs (DETR3D, PETR, StreamPETR, mmdet3d) clip the global
# grad_norm at max_norm=35 (norm_type=2); it caps a rare bad batch without touching normal steps.
CLIP_MAX_NORM = 35
# facebookresearch/detr main.py (`--clip_max_norm`, default 0.1) and its descendants (Deformable-DETR,
# Conditional/DAB-DETR, DINO's main.py; RT-DETR's `clip_max_norm: 0.1`) clip far tighter: a run of
# that lineage gets their value, and one whose log does not show its arguments gets none (it clips at
# 0.1 by default: 35 would loosen it 350×).
DETR_CLIP_MAX_NORM = 0.1
# the libraries whose runs have no mmcv/mmengine config: their clip is their arguments'
DETR_LINEAGE = ("detr", "detectron2", "tensorboard")
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
# oscillation, instead of a lower lr: double the effective batch with gradient accumulation (the
# gradient noise's sd falls by √2)
ACCUMULATION_STEPS = 2
NOISE_BASIS = "twice the samples per step: the gradient noise falls by √2"
# lr-batch, instead of a lower lr: keep the lr and reach the batch it belongs to with gradient
# accumulation. That batch is grounded when it is the reference's own (the config was written
# for it, the recipe was published at it). Elsewhere it comes from linear lr–batch scaling, an
# SGD result (Goyal et al. 2017), offered for SGD only: for Adam-family optimizers it is untested,
# and bevdetr's one test of it (AdamW, docs/experiments.md "The earlier sweep") shows no sign that
# it holds, so bevlog names no batch rather than extrapolate.
OWN_BATCH_BASIS = "{whose} lr was set for total batch {batch:g}"
OWN_BATCH_TOLERANCE = 0.2  # the batch reached may miss that batch by this share (whole accumulation steps)
LINEAR_SCALING_BASIS = "linear lr–batch scaling (Goyal et al. 2017), an SGD result, not measured here"
# a warmup longer than this share of the run leaves too little at the peak lr: a plan caps it here
MAX_WARMUP_SHARE = 0.25

# the order the plan is written in (the rest follow alphabetically)
PARAM_ORDER = (
    "lr",
    "warmup_iters",
    "grad_clip",
    "aux_loss",
    "batch",
    "gradient_accumulation",
    "fp16_loss_scale",
    "loss_scale",
    "num_decoder_layers",
    "max_epochs",
    "max_iters",
    "lr_steps",
    "step_end",
    "decay_period",
)
# how the proposals for one parameter become one value (see `reconcile`)
LOWEST = ("grad_clip", "max_epochs", "max_iters", "num_decoder_layers")
HIGHEST = ("warmup_iters", "batch", "gradient_accumulation")


# ---- the plan ----------------------------------------------------------------------------


@dataclass
class Proposal:
    rule: str
    severity: str
    change: Change


@dataclass
class PlannedChange:
    change: Change  # the value the plan writes
    severity: str  # the most severe finding that asked for this key
    set_by: list[str]  # rules whose own proposal is the plan's value ("plan" for a consistency move)
    rules: list[str]  # every rule whose finding points into it

    @property
    def param(self) -> str:
        return self.change.param

    @property
    def to(self):
        return self.change.to

    @property
    def frm(self):
        return self.change.frm

    def to_dict(self) -> dict:
        return {
            **self.change.as_dict(),
            "severity": self.severity,
            "set_by": self.set_by,
            "rules": self.rules,
            "text": change_text(self.change),
        }


@dataclass
class Plan:
    changes: dict[str, PlannedChange] = field(default_factory=dict)  # by param (one key per param per run)
    notes: list[str] = field(default_factory=list)  # what check_plan did and why

    def ordered(self, min_severity: str = "info") -> list[PlannedChange]:
        rank = SEVERITY_RANK[min_severity]
        items = [c for c in self.changes.values() if SEVERITY_RANK[c.severity] >= rank]
        return sorted(items, key=lambda c: self.position(c.param))

    def summary(self, min_severity: str = "warning") -> str:
        """'optimizer.lr 0.05 → 0.017, lr_config.warmup_iters 500 → 1000' (changes asked for at ≥ min_severity)."""
        return ", ".join(change_text(c.change, short=True) for c in self.ordered(min_severity))

    @staticmethod
    def position(param: str) -> tuple:
        """Where a parameter stands in the plan's order (PARAM_ORDER, then alphabetically)."""
        return (PARAM_ORDER.index(param) if param in PARAM_ORDER else len(PARAM_ORDER), param)

    def to_dict(self) -> list[dict]:
        return [json_safe(c.to_dict()) for c in self.ordered()]


def proposals(findings) -> dict[str, list[Proposal]]:
    """Every rule's own proposal per parameter (its own, kept in `evidence["own_fix"]` once a plan
    rewrote its changes)."""
    out: dict[str, list[Proposal]] = {}
    for f in findings:
        if not f.fix:
            continue
        own = f.evidence.get("own_fix", {}) if isinstance(f.evidence, dict) else {}
        for c in f.fix.changes:
            mine = _with_value(c, own[c.param]) if c.param in own else c
            out.setdefault(c.param, []).append(Proposal(f.rule, f.severity, mine))
    return out


def _with_value(c: Change, value) -> Change:
    """`c` writing `value` (a Change.value: a config value, or ('×', factor) for a relative change)."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == "×":
        return replace(c, to=None, frm=None, factor=value[1])
    return replace(c, to=value, factor=None)


def reconcile(param: str, props: list[Proposal]) -> Proposal:
    """The proposal whose value the plan takes for `param`.

    Only the proposals of warnings and errors count when there are any (a note does not
    overrule a problem). lr: the lowest of those that lower it (the most serious trouble needs
    the largest cut; a stability problem beats a recipe's raise), else the smallest raise.
    grad_clip, max_epochs, max_iters, decoder layers: the lowest. warmup, batch, accumulation:
    the highest. Anything else (flags, lists): the most severe proposal's value."""
    strong = [p for p in props if SEVERITY_RANK[p.severity] >= SEVERITY_RANK["warning"]]
    pool = strong or props
    relative = [p for p in pool if is_number(p.change.factor)]
    if relative:  # the log does not state the value: the largest cut, as a factor
        return min(relative, key=lambda p: float(p.change.factor or 0.0))
    numbers = [p for p in pool if is_number(p.change.to)]
    if param == "lr" and numbers:
        lower = [p for p in numbers if is_number(p.change.frm) and p.change.to < p.change.frm]
        return min(lower or numbers, key=lambda p: p.change.to)
    if param in LOWEST and numbers:
        return min(numbers, key=lambda p: p.change.to)
    if param in HIGHEST and numbers:
        return max(numbers, key=lambda p: p.change.to)
    return max(pool, key=lambda p: SEVERITY_RANK[p.severity])


def plan_of(findings, run=None) -> Plan:
    """One value per parameter from every finding's proposals; with the run, made consistent."""
    plan = Plan()
    for param, props in proposals(findings).items():
        chosen = reconcile(param, props)
        frm = next((p.change.frm for p in props if p.change.frm is not None), None)
        severity = max((p.severity for p in props), key=SEVERITY_RANK.__getitem__)
        set_by = _unique(p.rule for p in props if _same(p.change.value, chosen.change.value))
        planned = chosen.change if chosen.change.factor is not None else replace(chosen.change, frm=frm)
        plan.changes[param] = PlannedChange(planned, severity, set_by, _unique(p.rule for p in props))
    if run is not None:
        check_plan(plan, run)
    return plan


def check_plan(plan: Plan, run) -> None:
    """Make the plan consistent as a whole: lr milestones move with a new length (the same share of
    the run), none at or past the run's end; a warmup stays inside the run."""
    meta = run.meta
    length = plan.changes.get("max_epochs") or plan.changes.get("max_iters")
    steps = plan.changes.get("lr_steps")
    found = config_keys.milestones(meta)
    if length is not None and steps is None and found is not None and is_number(length.frm) and length.frm:
        ms, in_epochs = found
        unit_epochs = length.param == "max_epochs"
        if in_epochs == unit_epochs:
            moved = scaled_milestones(ms, float(length.frm), float(length.to))
            if moved != ms:
                key = config_keys.key_for("lr_steps", meta)
                c = Change(
                    "lr_steps",
                    config_keys.as_written("lr_steps", key, moved),
                    config_keys.as_written("lr_steps", key, ms),
                    key,
                    reason=f"milestones move with the new length ({plain(length.frm)} → {plain(length.to)}): "
                    "the same share of the run",
                )
                plan.changes["lr_steps"] = PlannedChange(c, length.severity, ["plan"], list(length.rules))
                plan.notes.append(c.reason)
    warm = plan.changes.get("warmup_iters")
    total = total_iters(meta)
    if length is not None and length.param == "max_epochs" and meta.iters_per_epoch and is_number(length.to):
        total = float(length.to) * meta.iters_per_epoch
    elif length is not None and length.param == "max_iters" and is_number(length.to):
        total = float(length.to)
    if warm is not None and total and is_number(warm.to) and warm.to > MAX_WARMUP_SHARE * total:
        capped = int(max(1, MAX_WARMUP_SHARE * total))
        why = f"capped at {MAX_WARMUP_SHARE:.0%} of the run's {int(total):,} iterations"
        warm.change = replace(warm.change, to=capped, reason="; ".join(x for x in (warm.change.reason, why) if x))
        plan.notes.append(f"warmup {why}")


def scaled_milestones(ms: list, old_length: float, new_length: float) -> list:
    """Milestones at the same share of a run of the new length, each before its end, ascending."""
    out: list[int] = []
    if new_length < 2:
        return out  # no epoch (iteration) inside a run this short to decay at
    for m in ms:
        v = round(m * new_length / old_length) if old_length else int(m)
        v = max(1, min(v, int(new_length) - 1))
        if v not in out:
            out.append(v)
    return sorted(out)


def apply_plan(findings, plan: Plan) -> None:
    """Make every finding's changes the plan's and render its fix text from them; a finding whose
    own value lost keeps it in `evidence["own_fix"]` and says so."""
    for f in findings:
        if not f.fix or not f.fix.changes:
            continue
        own = dict(f.evidence.get("own_fix", {})) if isinstance(f.evidence, dict) else {}
        changes, lost = [], {}
        for c in f.fix.changes:
            planned = plan.changes.get(c.param)
            if planned is None:
                changes.append(c)
                continue
            mine = own.get(c.param, c.value)
            changes.append(planned.change)
            if not _same(mine, planned.change.value):
                own[c.param] = mine
                lost[c.param] = (mine, planned.set_by)
        f.fix.changes = changes
        f.fix.text = render_fix(changes, f.fix.advice, lost, f.rule, f.fix.alternative)
        if own:
            f.evidence["own_fix"] = own


# ---- words -------------------------------------------------------------------------------


def value_text(param: str, value) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == "×":
        return factor_text(value[1])
    if param == "lr" and is_number(value):
        return fmt(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return plain(value)


def factor_text(factor: float) -> str:
    """'÷ 2', '÷ 3', '× 1.5': a relative change in words a person reads at a glance."""
    if factor < 1:
        return f"÷ {plain(float(f'{1 / factor:.2g}'))}"
    return f"× {plain(float(f'{factor:.2g}'))}"


def change_text(c: Change, short: bool = False) -> str:
    """'optim_wrapper.optimizer.lr 0.005 → 0.0025 (effective 3.1e-04 → 1.6e-04: auto_scale_lr …)';
    'lr ÷ 2' when the log does not state the value there (a relative change)."""
    name = c.key or c.param
    if c.factor is not None:
        return f"{name} {factor_text(c.factor)}"
    if c.frm is not None and not isinstance(c.to, bool):
        text = f"{name} {value_text(c.param, c.frm)} → {value_text(c.param, c.to)}"
    elif c.key:
        text = f"{name} = {value_text(c.param, c.to)}"
    else:
        text = f"{name} {value_text(c.param, c.to)}"
    if c.effective_to is not None and not short:
        eff = f"{value_text(c.param, c.effective_from)} → " if c.effective_from is not None else ""
        text += f" (effective {eff}{value_text(c.param, c.effective_to)}{': ' + c.scale if c.scale else ''})"
    elif c.effective_to is not None:
        text += f" (effective {value_text(c.param, c.effective_to)})"
    return text


def render_fix(
    changes, advice: str = "", lost: dict | None = None, rule: str = "", alternative: Alternative | None = None
) -> str:
    """A fix's text from its changes (each with its reason), the rule's advice and the
    alternative ("or, instead of the lr change, …: what it rests on")."""
    parts = []
    for c in changes:
        text = change_text(c)
        if lost and c.param in lost:
            mine, set_by = lost[c.param]
            text = f"plan: {text} (set by {', '.join(set_by)}; {rule} alone: {value_text(c.param, mine)})"
        elif c.reason:
            text += f" ({c.reason})"
        parts.append(text)
    if advice:
        parts.append(advice)
    if alternative is not None and alternative.changes:
        instead = ", ".join(change_text(c) + (f" ({c.reason})" if c.reason else "") for c in alternative.changes)
        parts.append(f"or, instead of the {alternative.replaces} change, {instead}: {alternative.basis}")
    return "; ".join(parts)


def _same(a, b) -> bool:
    if is_number(a) and is_number(b):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-30)
    return a == b


def _unique(items) -> list:
    out: list[Any] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out
