"""The diagnosis rules: one file per rule id, each a plain function `Run -> list[Finding]`.

`RULES` maps the stable rule id (used in JSON, `--rules`, `--skip`, `--explain`) to a `Rule`:
the function, a one-line summary, the module docstring (what it looks at and why) and its
thresholds (a frozen dataclass of named, documented defaults). Modules are imported on first
use so that listing ids costs nothing; `explain` imports `_common` (numpy) when called.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

# id -> (module, function); the order is the order findings of equal severity are listed in
RULE_MODULES = {
    "lr-invalid": ("lr_invalid", "find_lr_invalid"),
    "nonfinite-loss": ("nonfinite_loss", "find_nonfinite_loss"),
    "earlier-attempt": ("earlier_attempt", "find_earlier_attempt"),
    "loss-zero": ("loss_zero", "find_loss_zero"),
    "grad-nonfinite": ("grad_nonfinite", "find_grad_nonfinite"),
    "grad-spike": ("grad_spike", "find_grad_spike"),
    "divergence": ("divergence", "find_divergence"),
    "no-takeoff": ("no_takeoff", "find_no_takeoff"),
    "lr-drop": ("lr_drop", "find_lr_drop"),
    "warmup": ("warmup", "find_warmup"),
    "oscillation": ("oscillation", "find_oscillation"),
    "aux-missing": ("aux_missing", "find_aux_missing"),
    "layer-inversion": ("layer_inversion", "find_layer_inversion"),
    "layer-flat": ("layer_flat", "find_layer_flat"),
    "layer-unstable": ("layer_unstable", "find_layer_unstable"),
    "layer-redundant": ("layer_redundant", "find_layer_redundant"),
    "schedule": ("schedule", "find_schedule"),
    "plateau": ("plateau", "find_plateau"),
    "lr-batch": ("lr_batch", "find_lr_batch"),
    "overfitting": ("overfitting", "find_overfitting"),
    "log-integrity": ("log_integrity", "find_log_integrity"),
    "metric-chance": ("metric_chance", "find_metric_chance"),
    "dataloader-bound": ("dataloader_bound", "find_dataloader_bound"),
    "memory-growth": ("memory_growth", "find_memory_growth"),
    "attention-collapse": ("attention_collapse", "find_attention_collapse"),
}
RULE_IDS = list(RULE_MODULES)


@dataclass(frozen=True)
class Rule:
    id: str
    check: Callable  # (run, th=Thresholds()[, live=False]) -> list[Finding]
    summary: str
    explanation: str
    thresholds: object  # the default Thresholds instance

    @functools.cached_property
    def wants_live(self) -> bool:
        """The check declares a `live` parameter (the log is still being written)."""
        return "live" in inspect.signature(self.check).parameters

    def __call__(self, run, live: bool = False, **overrides):
        """Findings on `run`; `overrides` replace thresholds. `live` reaches only checks
        that declare it, so the others keep the plain `(run, th)` signature."""
        th = self.thresholds if not overrides else type(self.thresholds)(**{**vars(self.thresholds), **overrides})
        return self.check(run, th, live=live) if self.wants_live else self.check(run, th)


_loaded: dict[str, Rule] = {}


def get_rule(rule_id: str) -> Rule:
    if rule_id not in RULE_MODULES:
        raise KeyError(f"unknown rule {rule_id!r}; rules are: {', '.join(RULE_IDS)}")
    if rule_id not in _loaded:
        module_name, fn = RULE_MODULES[rule_id]
        module = importlib.import_module(f"bevlog.rules.{module_name}")
        _loaded[rule_id] = Rule(
            rule_id, getattr(module, fn), module.SUMMARY, (module.__doc__ or "").strip(), module.Thresholds()
        )
    return _loaded[rule_id]


def explain(rule_id: str) -> str:
    """What a rule looks at, its thresholds and why (for `bevlog diagnose --explain`)."""
    from bevlog.rules._common import describe_thresholds

    rule = get_rule(rule_id)
    lines = [f"{rule.id}: {rule.summary}", "", rule.explanation, "", "thresholds (defaults):"]
    for name, value, text in describe_thresholds(rule.thresholds):
        lines.append(f"  {name} = {value!r}  — {text}")
    return "\n".join(lines)


def select(rules=None, skip=None) -> list[str]:
    """Rule ids to run: `rules` (all when empty) minus `skip`, in catalogue order."""
    chosen = list(rules) if rules else list(RULE_IDS)
    unknown = [r for r in list(chosen) + list(skip or []) if r not in RULE_MODULES]
    if unknown:
        raise KeyError(f"unknown rule {unknown[0]!r}; rules are: {', '.join(RULE_IDS)}")
    return [r for r in RULE_IDS if r in chosen and r not in set(skip or [])]
