"""Check a diagnosis by training: replicate the run on bevdetr, apply the fix, diagnose both.

bevdetr is a proxy of the user's model (a small DETR over BEV features with PETR-style
reference-point queries, on synthetic scenes, trained on the CPU): a `confirmed` verdict
says the mechanism the finding names exists in a detector of this family and that the
suggested change removes it there — not that the user's run will behave the same.

Steps:
1. `proxy_of(run, ...)`: map the run's settings onto a bevdetr preset — lr per sample (the lr is
   scaled by proxy batch / run total batch), decoder layers, aux losses, warmup as a share of
   the run's iterations, grad clip, step milestones as a share of the epochs or cosine. A run
   bevdetr wrote itself (its `Config:` holds `bevdetr = dict(...)`) is regenerated from those
   settings. The length is cut to what the time budget allows.
2. `fix_overrides(findings, ...)`: the findings' machine-readable `fix.changes`, worst finding
   first, translated the same way (lr 1e-3 -> 2e-4 at batch 8 becomes the proxy's lr ...).
3. Measure: the plan starts from a table of costs (`SECONDS_PER_ITER`,
   `EVAL_S_PER_SCENE`, `START_S`); unless they already cut the replicas to their minimum, a short
   probe of the proxy (`PROBE_ITERS` iterations over two epochs, `PARALLEL` processes at once, as
   the replicas will run) measures this machine as loaded as it is now — an iteration, an evaluated
   scene, a process's start-up — and the plan is cut again at the slower of table and measurement
   (a measurement only shortens a plan, so skipping the probe where it could not loses nothing; the
   speed is then read from the replicas' own logs). A plan whose shortest replicas cost more than
   the budget says so.
4. Train "as diagnosed" and "fixed" under the same seeds (two processes at a time). A fix that
   changes several settings at once is bundled: when the budget allows, every change is also
   trained alone ("fixed: lr" ...), so each part can be credited; otherwise the output says
   the fix was tested bundled. Evaluations come at least twice inside the shortest finding
   window the replica reaches (one that begins after the replica ends is judged
   inconclusive anyway), never less often than every quarter of the run.
5. Diagnose every replica; per original finding: `confirmed` (its rule fires in most seeds of
   the replica and in fewer than half of the fixed ones), `not reproduced`, `fix did not help`,
   or `reproduced, no fix to test` (the finding carries no change bevdetr can make); per part
   of a bundled fix, whether that change alone removed it.

bevdetr is imported here, lazily; pandas through the parsers only when a run is read.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import parsers
from bevdetr.limits import check_settings
from bevdetr.recipe import HEALTHY_BATCH, HEALTHY_LR
from bevlog.diagnose import diagnose_run
from bevlog.findings import json_safe
from bevlog.recipes import RECIPES, lr_reference
from bevlog.schedule import model_schedule

PROXY_NOTE = (
    "bevdetr is a proxy of your model: a small DETR over BEV features with PETR-style "
    "reference-point queries, trained on synthetic scenes on this machine. "
    "A verdict says whether the mechanism behind a finding shows up "
    "in a detector of the same family with the same settings, and whether the fix removes it "
    "there; it does not prove your run would behave the same."
)

VERDICTS = ("confirmed", "not reproduced", "fix did not help", "reproduced, no fix to test", "inconclusive")
# rules about the log file itself (how it was written, resumed, cut off): training cannot test them
FILE_RULES = ("log-integrity",)
# mAP below this on both sides is chance: neither arm detects anything, a comparison says nothing
CHANCE_MAP = 0.02
DEFAULT_SEEDS = 3
# validation scenes of a replica: enough to see a take-off, cheap enough to evaluate every epoch
VAL_SAMPLES = 256
# the speed probe: this many iterations of the proxy over two epochs (the evaluation after the first
# is timed between them), PROBE_VAL_SAMPLES validation scenes, PARALLEL processes at once
PROBE_ITERS = 30
PROBE_VAL_SAMPLES = 32

# What a replica process costs: the table a plan starts from, at 6 decoder layers, batch 8
# (docs/bevdetr.md, "How `bevlog validate` sizes a replica"). Seconds per training iteration (one
# torch thread, two trainings side by side), per evaluated validation scene (forward and
# centre-distance AP), and of everything else (python, torch and AdamW's imports, scenes, model,
# checkpoints, exit). The speed probe measures this machine as loaded as it is now and can only
# shorten the plan (the slower of table and measurement wins), so a plan the table already cuts to
# the minimum replica is made without the probe: its measurement could not change it.
SECONDS_PER_ITER = {"tiny": 0.045, "small": 0.08}
EVAL_S_PER_SCENE = {"tiny": 0.002, "small": 0.004}
START_S = {"tiny": 4.0, "small": 4.0}
MIN_ITERS = {"tiny": 60, "small": 400}
PARALLEL = 2

# parameters of a Finding's fix -> the bevdetr setting they become
SETTING_OF = {
    "lr": "lr",
    "warmup_iters": "warmup_iters",
    "grad_clip": "clip",
    "aux_loss": "aux",
    "num_decoder_layers": "layers",
    "gradient_accumulation": "batch",
    "max_epochs": "epochs",
    "max_iters": "epochs",
}


@dataclass(frozen=True)
class Costs:
    """Seconds a replica process spends: per training iteration, per evaluated validation scene,
    and once on everything else (start-up, checkpoints, exit)."""

    per_iter: float
    eval_per_scene: float
    start_s: float

    def process_s(self, iterations: int, scenes_evaluated: int) -> float:
        return self.start_s + iterations * self.per_iter + scenes_evaluated * self.eval_per_scene

    def slower(self, other: Costs | None) -> Costs:
        """Each cost the larger of the two: a measurement shortens a plan, never lengthens it."""
        if other is None:
            return self
        return Costs(
            max(self.per_iter, other.per_iter),
            max(self.eval_per_scene, other.eval_per_scene),
            max(self.start_s, other.start_s),
        )


def table_costs(preset: str, layers: int, batch: int) -> Costs:
    """The table's costs, scaled to the depth (the stem and the matching are fixed) and batch."""
    depth = 0.3 + 0.7 * layers / 6
    return Costs(SECONDS_PER_ITER[preset] * depth * batch / 8, EVAL_S_PER_SCENE[preset] * depth, START_S[preset])


@dataclass
class Proxy:
    """How a run maps onto bevdetr: the preset, the overrides, and the scale factors used."""

    preset: str
    overrides: dict
    lr_factor: float  # proxy lr / run lr (batch scaling)
    iter_factor: float  # proxy iterations / run iterations
    epoch_factor: float  # proxy epochs / run epochs
    table: Costs  # the table's costs at this preset, depth and batch
    costs: Costs  # the costs it was sized at (the table's, or slower ones measured)
    fits: int  # iterations a run the budget fits at the planned costs (before the minimum)
    planned_s: float  # seconds all replicas cost at the planned costs
    notes: list[str] = field(default_factory=list)

    @property
    def iterations(self) -> int:
        o = self.overrides
        return (o["train_samples"] // o["batch"]) * o["epochs"]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def run_iterations(meta: dict) -> int | None:
    if _finite(meta.get("max_iters")) and meta.get("runner") == "iter":
        return int(meta["max_iters"])
    ipe, epochs = meta.get("iters_per_epoch"), meta.get("max_epochs")
    if _finite(ipe) and _finite(epochs):
        return int(ipe * epochs)
    return None


def rounds_of(runs: int) -> int:
    return math.ceil(runs / PARALLEL)


def budget_iterations(budget_s: float, runs: int, costs: Costs, scenes_evaluated: int) -> int:
    """Iterations per run that `runs` runs, PARALLEL at a time, each evaluating `scenes_evaluated`
    validation scenes in all, fit into budget_s at these costs."""
    per_run = budget_s / rounds_of(runs) - costs.start_s - scenes_evaluated * costs.eval_per_scene
    return max(int(per_run / costs.per_iter), 0)


def evaluations(epochs: int, every: int) -> int:
    """Evaluations of a run: every `every` epochs, and always after the last."""
    return epochs // every + (epochs % every != 0)


def quarter_scenes(epochs: int, val_samples: int) -> int:
    """Validation scenes a run evaluates with no finding window: every quarter of the run."""
    return evaluations(epochs, max(1, epochs // 4)) * min(val_samples, VAL_SAMPLES)


OWN_SETTINGS = (
    "lr",
    "layers",
    "aux",
    "warmup_iters",
    "warmup_ratio",
    "clip",
    "schedule",
    "steps",
    "epochs",
    "batch",
    "train_samples",
    "share_pe",
    "weight_decay",
    "queries",
    "gamma",
    "dropout",
    "stem_lr_mult",
    "target_ratio",
    "step_ratio_up",
    "d_model",
    "dim_ff",
    "nhead",
)


def own_settings(run) -> dict | None:
    """A bevdetr log's own settings (its `bevdetr = dict(...)`), bounded, or None for other logs."""
    own = (run.meta.get("config") or {}).get("bevdetr")
    if not isinstance(own, dict):
        return None
    if own.get("attn", "full") != "full":
        raise ValueError(
            f"attn={_printable(own['attn'])!r}: a run of bevdetr's former BEV-grid width attention, "
            "which this bevdetr no longer has"
        )
    own = {k: own[k] for k in OWN_SETTINGS if k in own}
    check_settings(own, "the log's bevdetr settings")  # before any of them sizes anything
    return own


def proxy_of(
    run,
    budget_s: float,
    seeds: int,
    preset: str | None = None,
    arms: int = 2,
    costs: Costs | None = None,
    windows: list[tuple[float, float]] | None = None,
) -> Proxy:
    """Map the run's settings onto a bevdetr preset sized to the budget.

    arms: trainings per seed (as diagnosed, fixed, each part of a bundled fix); costs: what a
    replica process costs (None: the table's); windows: the findings' (onset, span) in the run's
    iterations (evaluations come at least twice within the shortest the replica reaches)."""
    from bevdetr.presets import PRESETS

    meta = run.meta
    own = own_settings(run)
    logged_layers = meta.get("num_decoder_layers")
    if own is None and logged_layers is not None:
        check_settings({"layers": logged_layers}, "the log's decoder depth")
    layers = int((own or {}).get("layers") or logged_layers or 6)
    runs = arms * seeds
    if preset is None:
        small = PRESETS["small"]
        scenes = quarter_scenes(small.epochs, small.val_samples)
        fits = budget_iterations(budget_s, runs, table_costs("small", layers, 8), scenes)
        preset = "small" if fits >= MIN_ITERS["small"] else "tiny"
    p = PRESETS[preset]
    o, notes = from_own_log(run, own, preset) if own is not None else from_other_log(run, p)
    o.setdefault("epochs", p.epochs)
    o.setdefault("train_samples", p.train_samples)
    o.setdefault("batch", p.batch)
    o["val_samples"] = min(p.val_samples, VAL_SAMPLES)
    table = table_costs(preset, int(o.get("layers", p.layers)), int(o["batch"]))
    costs = costs or table
    total = run_iterations(meta)
    run_batch = meta.get("total_batch")

    def interval_at(iters: int) -> int:
        reached = [span for onset, span in windows or [] if reaches(onset, run_batch, iters * o["batch"])]
        return eval_interval(o, reached, iters / total if total else 1.0)

    full_iters = (o["train_samples"] // o["batch"]) * o["epochs"]
    # sized for the evaluations a full-length replica would need: a shorter one reaches no more
    # finding windows, so it evaluates no more often
    scenes = evaluations(o["epochs"], interval_at(full_iters)) * o["val_samples"]
    fits = budget_iterations(budget_s, runs, costs, scenes)
    iters = min(full_iters, max(fits, MIN_ITERS[preset]))
    if iters < full_iters:
        # shorten every epoch (fewer scenes per epoch), keep the epoch count: milestones stay put
        per_epoch = max(iters // o["epochs"], 1)
        o["train_samples"] = per_epoch * o["batch"]
        notes.append(
            f"cut to {per_epoch * o['epochs']} of {full_iters} iterations to fit the budget "
            f"({o['epochs']} epochs x {per_epoch})"
        )
        if o.get("warmup_iters"):
            o["warmup_iters"] = max(1, round(o["warmup_iters"] * per_epoch * o["epochs"] / full_iters))
    o["interval"] = max(1, min(p.interval, (o["train_samples"] // o["batch"]) // 5))
    proxy_iters = (o["train_samples"] // o["batch"]) * o["epochs"]
    o["eval_interval"] = interval_at(proxy_iters)
    check_settings(o, "the settings mapped from the log")
    epochs_run = meta.get("max_epochs")
    scenes = evaluations(o["epochs"], o["eval_interval"]) * o["val_samples"]
    return Proxy(
        preset,
        o,
        lr_factor=(o["lr"] / meta["lr"]) if _finite(meta.get("lr")) and "lr" in o and meta["lr"] else 1.0,
        iter_factor=proxy_iters / total if total else 1.0,
        epoch_factor=o["epochs"] / epochs_run if _finite(epochs_run) and epochs_run else 1.0,
        notes=notes,
        fits=fits,
        planned_s=rounds_of(runs) * costs.process_s(proxy_iters, scenes),
        table=table,
        costs=costs,
    )


def from_own_log(run, own: dict, preset: str) -> tuple[dict, list[str]]:
    """(overrides, notes) for a log bevdetr wrote: its own settings, the lr by its ratio to the recipe it declares."""
    notes = [f"a bevdetr log: regenerated from its own settings (preset {_printable(base_preset(run))})"]
    o: dict[str, Any] = dict(own)
    declared = (run.meta.get("config") or {}).get("bevdetr_recipe")
    if _finite(o.get("lr")) and isinstance(declared, dict) and _finite(declared.get("lr")) and declared["lr"] > 0:
        check_settings({"lr": declared["lr"]}, "the log's bevdetr_recipe")
        ratio = o["lr"] / declared["lr"]
        o["lr"] = ratio * HEALTHY_LR
        notes.append(
            f"lr {own['lr']:.1e} is {ratio:.3g}x the recipe it declares ({declared['lr']:.1e}) -> "
            f"{o['lr']:.1e}, {ratio:.3g}x bevdetr's measured healthy {HEALTHY_LR:.1e} at batch {HEALTHY_BATCH}"
        )
    elif _finite(o.get("lr")):
        notes.append(
            f"lr {o['lr']:.1e} used as is (the log declares no bevdetr_recipe: an earlier bevdetr "
            "model, whose healthy lr may differ from today's)"
        )
    if base_preset(run) != preset:
        notes.append(f"model and scenes of the {preset} preset (the log's were {_printable(base_preset(run))})")
    return o, notes


def from_other_log(run, p) -> tuple[dict, list[str]]:
    """(overrides, notes) for any other log: lr by its ratio to its recipe, depth, aux, clip, and the lr
    schedule as bevlog.schedule models it, each as the same share of the preset's run."""
    meta = run.meta
    notes: list[str] = []
    o: dict[str, Any] = {"batch": p.batch}
    lr = meta.get("lr")
    if _finite(lr):
        o["lr"], note = map_lr(lr, meta.get("total_batch"), p.batch, meta)
        notes.append(note)
    else:
        notes.append(f"lr unknown: the preset's {p.lr:.1e}")
    optimizer = str(meta.get("optimizer") or "")
    if optimizer and optimizer.lower() != "adamw":
        notes.append(f"the run used {optimizer}; bevdetr trains with AdamW at that lr")
    if meta.get("num_decoder_layers"):
        o["layers"] = int(meta["num_decoder_layers"])
    if meta.get("has_aux_loss") is not None:
        o["aux"] = bool(meta["has_aux_loss"])
    clip = meta.get("grad_clip")
    o["clip"] = float(clip) if _finite(clip) else 0.0
    o.update(schedule_overrides(run, p))
    aux = "on" if o.get("aux", p.aux) else "off"
    warmup = o.get("warmup_iters", p.warmup_iters)
    notes.append(
        f"{o.get('layers', p.layers)} decoder layers, aux {aux}, clip {o['clip'] or 'off'}, "
        f"{o['schedule']} schedule, warmup {warmup} iterations (same share of the run)"
    )
    return o, notes


def schedule_overrides(run, p) -> dict:
    """The run's lr schedule on the preset's length: policy, cyclic peak and climb, step milestones
    and warmup as the same shares of the run (from bevlog.schedule's model of the schedule)."""
    meta = run.meta
    sched = meta.get("lr_schedule") or {}
    model = run_schedule(run)
    total = run_iterations(meta)
    o: dict[str, Any] = {
        "schedule": {"cosine": "cosine", "cyclic": "cyclic"}.get(model.policy or "", "step"),
        "epochs": p.epochs,
        "train_samples": p.train_samples,
    }
    if o["schedule"] == "cyclic":
        peak, base = model.peak_lr(), model.base_lr
        o["target_ratio"] = float(peak / base) if _finite(peak) and _finite(base) and base > 0 else 10.0
        up = model.ramp_end_step / total if model.ramp_end_step and total else None
        o["step_ratio_up"] = float(up) if _finite(up) and 0 < up <= 1 else 0.4
    epochs_run = meta.get("max_epochs")
    if o["schedule"] == "step":
        steps = sched.get("steps") or []
        if _finite(epochs_run) and epochs_run > 0 and sched.get("by_epoch", True):
            o["steps"] = tuple(
                sorted({max(1, round(s / epochs_run * p.epochs)) for s in steps if _finite(s) and s < epochs_run})
            )
        else:
            o["steps"] = ()
    warm = model.warmup_iters or 0
    if _finite(warm) and warm and total:
        o["warmup_iters"] = max(1, round(warm / total * (p.train_samples // p.batch) * p.epochs))
    elif not warm:
        o["warmup_iters"] = 0
    return o


def eval_interval(o: dict, windows: list[float], iter_factor: float) -> int:
    """Epochs between evaluations: at least twice inside the shortest finding window (mapped to the
    replica's iterations), at most a quarter of the run, never less than every epoch."""
    per_epoch = max(o["train_samples"] // o["batch"], 1)
    every = max(1, o["epochs"] // 4)
    spans = [w * iter_factor for w in windows if _finite(w) and w > 0]
    if spans:
        every = min(every, max(1, int(min(spans) / 2 // per_epoch)))
    return every


def finding_windows(findings) -> list[tuple[float, float]]:
    """(onset, span) in the run's iterations of the findings that point at a window, not the whole run."""
    out = []
    for f in findings:
        if f.start_step is not None and f.end_step is not None and f.end_step > f.start_step:
            out.append((float(f.start_step), float(f.end_step - f.start_step)))
    return out


def reaches(onset, run_batch, replica_samples: int) -> bool:
    """Whether a replica that trains on replica_samples samples gets as far as a finding that began
    after `onset` iterations of the run (at its total batch; unknown: bevdetr's healthy batch)."""
    batch = run_batch if _finite(run_batch) and run_batch > 0 else HEALTHY_BATCH
    return onset is None or onset * batch <= replica_samples


def run_schedule(run):
    """bevlog.schedule's model of the run's lr schedule (config and logged lr)."""
    t = run.train

    def col(name):
        return t[name].to_numpy(float) if name in t else np.full(len(t), np.nan)

    return model_schedule(run.meta, t, col("step"), col("lr"), col("epoch_f"))


def base_preset(run) -> str | None:
    """The preset a bevdetr log names in its own settings (None for other logs)."""
    own = (run.meta.get("config") or {}).get("bevdetr")
    return own.get("preset") if isinstance(own, dict) and isinstance(own.get("preset"), str) else None


def _printable(text) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(text))[:40]


def map_lr(lr: float, run_batch, proxy_batch: int, meta=None) -> tuple[float, str]:
    """The run's lr -> bevdetr's, by its ratio to its own reference times bevdetr's measured
    healthy lr (bevdetr/recipe.py) at the proxy's batch. The reference is the one lr-batch
    uses (bevlog.recipes.lr_reference: the config's own batch intent, else the published
    recipe of its model type); with neither, the DETR-family recipe (PETR's AdamW 2e-4 at
    total batch 8, linear in the batch). (proxy lr, the mapping as one printable line)."""
    if not _finite(run_batch) or run_batch <= 0:
        run_batch, unknown = HEALTHY_BATCH, True
    else:
        unknown = False
    ref = lr_reference(meta) if meta is not None and not unknown else None
    if ref is not None:
        recipe, whose = ref.low, ref.text
    else:
        petr = next(r for r in RECIPES if r.name == "PETR")
        recipe, whose = petr.lr_at(run_batch)[0], f"the DETR-family recipe ({petr.source})"
    healthy = HEALTHY_LR * proxy_batch / HEALTHY_BATCH
    ratio = lr / recipe
    batch_text = "total batch unknown, taken as 8" if unknown else f"total batch {int(run_batch)}"
    return ratio * healthy, (
        f"lr {lr:.1e} at {batch_text} is {ratio:.3g}x the {recipe:.1e} of {whose} -> bevdetr lr "
        f"{ratio * healthy:.1e} ({ratio:.3g}x its measured healthy {healthy:.1e} at batch "
        f"{proxy_batch})"
    )


def fix_overrides(findings, proxy: Proxy) -> tuple[dict, list[dict], list[str]]:
    """(overrides for the fixed run, the changes applied, changes bevdetr cannot make).

    The worst finding's change of a parameter wins when several findings change it.
    """
    changes: dict[str, dict] = {}
    for f in findings:
        for c in f.fix.changes if f.fix else []:
            changes.setdefault(c.get("param"), {**c, "finding": f.rule})
    fixed: dict[str, Any] = {}
    applied, skipped = [], []
    o = proxy.overrides
    for param, c in changes.items():
        to = c.get("to")
        if param == "lr" and _finite(to):
            fixed["lr"] = to * proxy.lr_factor
        elif param == "warmup_iters" and _finite(to):
            # the same share of the run, but never more than a quarter of the replica
            fixed["warmup_iters"] = max(1, min(round(to * proxy.iter_factor), proxy.iterations // 4))
        elif param == "grad_clip" and _finite(to):
            fixed["clip"] = float(to)
        elif param == "aux_loss" and isinstance(to, bool):
            fixed["aux"] = to
        elif param == "num_decoder_layers" and _finite(to) and to >= 1:
            fixed["layers"] = int(to)
        elif param == "gradient_accumulation" and _finite(to) and to >= 1:
            fixed["batch"] = int(o["batch"] * to)  # a k-times larger batch at the same lr
        elif param == "max_epochs" and _finite(to):
            fixed["epochs"] = max(1, round(to * proxy.epoch_factor))
        elif param == "max_iters" and _finite(to) and proxy.iter_factor:
            per_epoch = o["train_samples"] // o["batch"]
            fixed["epochs"] = max(1, round(to * proxy.iter_factor / per_epoch))
        else:
            skipped.append(f"{param} -> {to} ({c['finding']}): nothing bevdetr can change")
            continue
        applied.append(
            {
                "param": param,
                "from": c.get("from"),
                "to": to,
                "finding": c["finding"],
                "proxy": {SETTING_OF[param]: fixed[SETTING_OF[param]]},
            }
        )
    check_settings({**o, **fixed}, "the fixed run's settings")
    return fixed, applied, skipped


def replica_numbers(run_dir: str) -> dict:
    """Diagnose one replica: losses, mAP, findings by rule (worst severity).

    `head_loss` is the final decoder layer's loss_cls + loss_bbox (mean of the last 3 logged
    rows): unlike `loss`, it does not change meaning when aux losses or layers change.
    """
    run = parsers.read(run_dir)
    tr = run.train
    loss = tr["loss"] if "loss" in tr else None
    finite = loss[loss.map(math.isfinite)] if loss is not None else None
    head = (tr["loss_cls"] + tr["loss_bbox"]) if {"loss_cls", "loss_bbox"} <= set(tr.columns) else None
    m = run.evals[run.evals["metric"] == "bevdetr/mAP"]["value"] if len(run.evals) else []
    findings = diagnose_run(run)
    rules: dict[str, str] = {}
    for f in findings:
        if f.rule not in rules or f.rank > {"info": 0, "warning": 1, "error": 2}[rules[f.rule]]:
            rules[f.rule] = f.severity
    t = tr["time"].dropna() if "time" in tr else []
    return {
        "final_loss": float(loss.iloc[-1]) if loss is not None and len(loss) else None,
        "best_loss": float(finite.min()) if finite is not None and len(finite) else None,
        "head_loss": float(head.tail(3).mean()) if head is not None and len(head) else None,
        "mAP": float(m.iloc[-1]) if len(m) else None,
        "s_per_iter": float(t.mean()) if len(t) else None,
        "rules": rules,
        "findings": [{"rule": f.rule, "severity": f.severity, "message": f.message} for f in findings],
    }


def fires(numbers: dict, rule: str, severity: str) -> bool:
    """The rule found something in this replica at the original finding's severity or worse
    (any severity for info findings)."""
    rank = {"info": 0, "warning": 1, "error": 2}
    got = numbers["rules"].get(rule)
    return got is not None and rank[got] >= rank[severity]


def outcome(replicas: list[dict], fixed: list[dict]) -> tuple[bool | None, str]:
    """(did the fixed run end better, the numbers): by mAP once either side detects something
    (mAP >= 0.05), else by the final layer's loss."""
    m0, m1 = mean(r["mAP"] for r in replicas), mean(r["mAP"] for r in fixed)
    if m0 is not None and m1 is not None and max(m0, m1) >= 0.05:
        return m1 > m0, f"mAP {m0:.3f} -> {m1:.3f}"
    h0, h1 = mean(r["head_loss"] for r in replicas), mean(r["head_loss"] for r in fixed)
    if h0 is None or h1 is None:
        return None, "no comparable loss"
    return h1 < h0, f"final-layer loss {h0:.3f} -> {h1:.3f}"


def inconclusive_because(
    finding, replicas: list[dict], fixed: list[dict], replica_samples: int, run_batch
) -> str | None:
    """Why training the proxy cannot judge this finding, or None.

    - the rule is about the log file itself (log-integrity): nothing a training shows;
    - the replica sees fewer samples than the run had seen when the finding began;
    - both arms stay at chance (mAP < CHANCE_MAP): neither detects anything to compare.
    """
    if finding.rule in FILE_RULES:
        return f"{finding.rule} is about the log file itself, not about training"
    onset = finding.start_step
    batch = run_batch if _finite(run_batch) and run_batch > 0 else HEALTHY_BATCH
    if not reaches(onset, run_batch, replica_samples):
        return (
            f"the finding began after {onset:,} iterations ({int(onset * batch):,} samples); the replica "
            f"trains on {replica_samples:,} samples"
        )
    m0 = [r["mAP"] for r in replicas if _finite(r.get("mAP"))]
    m1 = [r["mAP"] for r in fixed if _finite(r.get("mAP"))]
    if m0 and m1 and max(m0 + m1) < CHANCE_MAP:
        return f"both arms stay at chance (mAP < {CHANCE_MAP} in every seed): nothing to compare"
    return None


def judge(finding, replicas: list[dict], fixed: list[dict], has_fix: bool) -> tuple[str, str]:
    """(verdict, one-line reason with the counts and numbers).

    confirmed: the rule fires in most replica seeds, in fewer than half of the fixed ones, and
    the fixed run ends better (settings-only rules such as lr-batch always vanish with their
    fix, so the outcome is what decides for them).
    """
    k = len(replicas)
    seen = sum(fires(r, finding.rule, finding.severity) for r in replicas)
    seen_fixed = sum(fires(r, finding.rule, finding.severity) for r in fixed)
    counts = f"{finding.rule} ≥ {finding.severity} in {seen}/{k} replica seed(s), {seen_fixed}/{len(fixed)} fixed"
    if seen * 2 <= k:
        return "not reproduced", counts
    if not has_fix:
        return "reproduced, no fix to test", counts
    better, numbers = outcome(replicas, fixed)
    reason = f"{counts}; {numbers}"
    if seen_fixed * 2 < len(fixed) and better:
        return "confirmed", reason
    return "fix did not help", reason


def mean(values):
    vals = [v for v in values if _finite(v)]
    return sum(vals) / len(vals) if vals else None


def default_seeds(run, budget_s: float, preset: str | None) -> int:
    """DEFAULT_SEEDS when the budget fits that many seeds at the preset's minimum length, else 1."""
    from bevdetr.presets import PRESETS

    layers = run.meta.get("num_decoder_layers")
    layers = layers if isinstance(layers, int) and 1 <= layers <= 12 else 6

    def fits(name: str) -> int:
        p = PRESETS[name]
        scenes = quarter_scenes(p.epochs, p.val_samples)
        return budget_iterations(budget_s, 2 * DEFAULT_SEEDS, table_costs(name, layers, 8), scenes)

    name = preset or "small"
    n = fits(name)
    if preset is None and n < MIN_ITERS["small"]:
        name = "tiny"
        n = fits(name)
    return DEFAULT_SEEDS if n >= MIN_ITERS[name] else 1


def measure_costs(proxy: Proxy, base_dir: str, stream, tty) -> Costs | None:
    """What a replica process costs on this machine as it is loaded now: PARALLEL probe processes of
    PROBE_ITERS iterations over two epochs, each epoch evaluated on PROBE_VAL_SAMPLES scenes, then
    removed. Per iteration the median logged `time`; per scene the evaluation between the two epochs;
    the rest of each process's wall time is its start-up (None when no probe finished)."""
    from bevdetr.sweep import Job, run_jobs

    o = dict(proxy.overrides)
    probe = {
        **o,
        "epochs": 2,
        "train_samples": PROBE_ITERS // 2 * int(o["batch"]),
        "val_samples": PROBE_VAL_SAMPLES,
        "interval": 1,  # a row per iteration: its `time` is that iteration's, its timestamp places the evaluation
        "eval_interval": 1,
        "steps": (),
    }
    jobs = [
        Job(f"speed-probe-{k}", os.path.join(base_dir, f"speed-probe-{k}"), proxy.preset, probe, k)
        for k in range(PARALLEL)
    ]
    status = run_jobs(jobs, PARALLEL, stream, tty)
    times, evals, starts = [], [], []
    for job in jobs:
        measured = probe_costs(job.run_dir) if status.get(job.name) == "done" else None
        if measured is not None:
            times += measured[0]
            evals.append(measured[1] / PROBE_VAL_SAMPLES)
            starts.append(measured[2])
        shutil.rmtree(job.run_dir, ignore_errors=True)
    if not times:
        return None
    return Costs(float(np.median(times)), float(np.mean(evals)), float(np.mean(starts)))


def probe_costs(run_dir: str) -> tuple[list[float], float, float] | None:
    """(each iteration's `time`, seconds of one evaluation, seconds of everything else) of a finished
    probe: the evaluation is the gap its text log's timestamps leave between the two epochs; the rest
    is the process's wall time (run_jobs' record) less its iterations and its two evaluations."""
    import json

    from bevdetr.sweep import DONE_FILE

    run = parsers.read(run_dir)
    tr = run.train
    if run.meta.get("wall_s_estimated") or not {"time", "wall_s", "epoch"} <= set(tr.columns):
        return None  # a json log alone carries no timestamps
    if tr["time"].isna().any():
        return None
    second = tr.index[tr["epoch"] == 2]
    if not len(second) or second[0] == tr.index[0]:
        return None
    i = tr.index.get_loc(second[0])
    wall_s, time_s = tr["wall_s"].to_numpy(float), tr["time"].to_numpy(float)
    evaluation = max(wall_s[i] - wall_s[i - 1] - time_s[i], 0.0)
    with open(os.path.join(run_dir, DONE_FILE)) as f:
        process_s = float(json.load(f)["wall_s"])
    return [float(t) for t in time_s], evaluation, max(process_s - float(time_s.sum()) - 2 * evaluation, 0.0)


def fix_parts(applied: list[dict]) -> list[tuple[str, dict]]:
    """(parameter, bevdetr overrides) of each single change of a fix that changes several settings."""
    parts = [(a["param"], dict(a["proxy"])) for a in applied]
    return parts if len(parts) > 1 else []


def judge_part(finding, replicas: list[dict], alone: list[dict]) -> str:
    """One line: does this single change, alone, remove the finding (and end better)?"""
    seen = sum(fires(r, finding.rule, finding.severity) for r in alone)
    better, numbers = outcome(replicas, alone)
    gone = seen * 2 < len(alone)
    word = "removes it" if gone and better else "removes the finding, ends no better" if gone else "does not remove it"
    return f"{word} ({finding.rule} ≥ {finding.severity} in {seen}/{len(alone)} seed(s); {numbers})"


@dataclass
class Plan:
    """What validate trains: the proxy, the fix and its parts, and the speed it was sized to."""

    proxy: Proxy
    fixed: dict  # overrides of the fixed arm (every change)
    applied: list[dict]
    skipped: list[str]
    parts: list[tuple[str, dict]]  # each change alone, when the budget allows
    bundled: list[str]  # the changes trained only together
    measured: Costs | None  # the probe's, None when no probe ran
    planned: int  # iterations planned from the table, before measuring
    budget_left_s: float  # the budget when the replicas were sized (after the probe)


def plan(
    run, findings, budget_s: float, seeds: int, preset: str | None, base_dir: str, started: float, stream, tty
) -> Plan:
    """Size the replicas: planned from the table; then, unless the table already cuts them to the
    minimum (a measurement can only shorten a plan), a probe measures this machine and the replicas
    (and whether each change of a bundled fix can be trained alone) are sized again."""
    from bevdetr.presets import make_settings

    windows = finding_windows(findings)
    proxy = proxy_of(run, budget_s, seeds, preset, windows=windows)
    fixed, applied, _ = fix_overrides(findings, proxy)
    make_settings(proxy.preset, **proxy.overrides)  # raises ValueError on settings that cannot run
    make_settings(proxy.preset, **{**proxy.overrides, **fixed})
    planned = proxy.iterations
    # what was read comes first: the probe that measures this machine's speed trains for a while
    if proxy.fits <= MIN_ITERS[proxy.preset]:
        stream.write(
            f"validate {run.name}: {len(findings)} finding(s); the budget cuts the replicas to their "
            "minimum already: no speed probe\n"
        )
        measured = None
    else:
        stream.write(f"validate {run.name}: {len(findings)} finding(s); measuring this machine's speed\n")
        measured = measure_costs(proxy, base_dir, stream, tty)
    costs = proxy.table.slower(measured)
    left = budget_s - (time.time() - started)
    parts = fix_parts(applied)
    arms = 1 + bool(fixed)
    if parts:
        o = proxy.overrides
        scenes = evaluations(o["epochs"], o["eval_interval"]) * o["val_samples"]
        fits_parts = budget_iterations(left, (arms + len(parts)) * seeds, costs, scenes) >= MIN_ITERS[proxy.preset]
    else:
        fits_parts = False
    if fits_parts:
        arms += len(parts)
    proxy = proxy_of(run, left, seeds, proxy.preset, arms=arms, costs=costs, windows=windows)
    fixed, applied, skipped = fix_overrides(findings, proxy)
    parts = fix_parts(applied) if fits_parts else []
    bundled = [] if fits_parts or len(applied) < 2 else [a["param"] for a in applied]
    return Plan(proxy, fixed, applied, skipped, parts, bundled, measured, planned, left)


def jobs_of(pl: Plan, seeds: int, base_dir: str) -> list:
    from bevdetr.sweep import Job

    proxy, jobs = pl.proxy, []
    for seed in range(seeds):
        arms = [("as-diagnosed", {})] + ([("fixed", pl.fixed)] if pl.fixed else [])
        arms += [(f"fixed-{param}", change) for param, change in pl.parts]
        for name, change in arms:
            jobs.append(
                Job(
                    f"{name}-seed{seed}",
                    os.path.join(base_dir, f"{name}-seed{seed}"),
                    proxy.preset,
                    {**proxy.overrides, **change},
                    seed,
                )
            )
    return jobs


def judge_findings(run, findings, pl: Plan, arm) -> list[dict]:
    """A verdict per finding (and, for a fix of several changes, what each change did alone)."""
    replicas = arm("as-diagnosed")
    fixed = arm("fixed") if pl.fixed else replicas
    verdicts = []
    for f in findings:
        own = [c for c in (f.fix.changes if f.fix else []) if any(a["param"] == c.get("param") for a in pl.applied)]
        why = inconclusive_because(
            f, replicas, fixed, pl.proxy.iterations * int(pl.proxy.overrides["batch"]), run.meta.get("total_batch")
        )
        if why is not None:
            verdict, reason = "inconclusive", why
        elif not replicas:
            verdict, reason = "inconclusive", "no replica finished inside the budget"
        else:
            verdict, reason = judge(f, replicas, fixed, bool(own) and bool(pl.fixed))
        entry = {
            "rule": f.rule,
            "severity": f.severity,
            "message": f.message,
            "fix": f.fix.text if f.fix else None,
            "verdict": verdict,
            "reason": reason,
            "parts": [],
        }
        mine = {c.get("param") for c in own}
        if why is None and replicas and len(mine) > 1:
            for param, change in pl.parts:
                alone = arm(f"fixed-{param}")
                if param in mine and alone:
                    entry["parts"].append(
                        {"param": param, "settings": change, "result": judge_part(f, replicas, alone)}
                    )
            if not entry["parts"]:
                entry["parts"].append(
                    {
                        "param": " + ".join(sorted(mine)),
                        "settings": {},
                        "result": "bundled: the changes were trained together only (each alone "
                        "did not fit the budget), so the verdict credits them together",
                    }
                )
        verdicts.append(entry)
    return verdicts


def summary(rs: list[dict]) -> dict:
    return {
        "final_loss": mean(r["final_loss"] for r in rs),
        "best_loss": mean(r["best_loss"] for r in rs),
        "head_loss": mean(r["head_loss"] for r in rs),
        "mAP": mean(r["mAP"] for r in rs),
        "s_per_iter": mean(r["s_per_iter"] for r in rs),
        "seeds": len(rs),
    }


def validate(
    path: str,
    budget_minutes: float = 10.0,
    seeds: int | None = None,
    work_dir: str | None = None,
    preset: str | None = None,
    stream=None,
    tty: bool | None = None,
) -> dict:
    """Diagnose PATH, train the proxy as diagnosed and fixed, judge every finding; a JSON-safe dict."""
    stream = stream or sys.stderr
    started = time.time()
    run = parsers.read(path)
    findings = diagnose_run(run)
    if seeds is None:
        seeds = default_seeds(run, budget_minutes * 60, preset)
    if work_dir is not None:
        return _validate_in(run, findings, path, budget_minutes, seeds, work_dir, preset, stream, tty, started)
    # a temporary work folder goes away however validate ends: an error, an over-budget refusal, Ctrl-C
    base_dir = tempfile.mkdtemp(prefix="bevlog-validate-")
    try:
        result = _validate_in(run, findings, path, budget_minutes, seeds, base_dir, preset, stream, tty, started)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    result["work_dir"] = None
    return result


def _validate_in(run, findings, path, budget_minutes, seeds, base_dir, preset, stream, tty, started) -> dict:
    from bevdetr.sweep import run_jobs

    budget_s = budget_minutes * 60
    pl = plan(run, findings, budget_s, seeds, preset, base_dir, started, stream, tty)
    proxy = pl.proxy
    jobs = jobs_of(pl, seeds, base_dir)
    stream.write(
        f"validate {run.name}: {len(jobs)} bevdetr run(s) of {proxy.iterations} iterations "
        f"({proxy.preset} preset) in {base_dir}, budget {budget_minutes:g} min\n"
    )
    # the hard stop is far beyond the budget (+50% and five minutes): only a runaway, never a slow
    # machine, changes the outcome; the probe, where it could matter, sized the runs to this machine
    status = run_jobs(jobs, PARALLEL, stream, tty, deadline=started + 1.5 * budget_s + 300)
    numbers = {job.name: replica_numbers(job.run_dir) for job in jobs if status.get(job.name) in ("done", "skipped")}

    def arm(prefix):
        return [numbers[j.name] for j in jobs if j.name.startswith(prefix + "-seed") and j.name in numbers]

    measured: float | None
    measured_by: str | None
    if pl.measured is not None:
        measured, measured_by = pl.measured.per_iter, "probe"
    else:  # no probe ran: the speed is the replicas' own (each one's mean logged `time`, the median over them)
        own = [n["s_per_iter"] for n in numbers.values() if _finite(n["s_per_iter"])]
        measured, measured_by = (float(np.median(own)), "replicas") if own else (None, None)
    costs = pl.proxy.costs
    result = {
        "run": run.name,
        "path": path,
        "proxy_note": PROXY_NOTE,
        "proxy": {
            "preset": proxy.preset,
            "settings": proxy.overrides,
            "iterations": proxy.iterations,
            "mapping": proxy.notes,
        },
        "speed": {
            "table_s_per_iter": proxy.table.per_iter,
            "measured_s_per_iter": measured,
            "measured_by": measured_by,
            "planned_iterations": pl.planned,
            "iterations": proxy.iterations,
            "costs": {"s_per_iter": costs.per_iter, "s_per_eval_scene": costs.eval_per_scene, "start_s": costs.start_s},
            "planned_s": proxy.planned_s,
            "budget_left_s": pl.budget_left_s,
            "over_budget": proxy.planned_s > pl.budget_left_s,
        },
        "fix": {
            "applied": pl.applied,
            "not_applicable": pl.skipped,
            "settings": pl.fixed,
            "parts": [p for p, _ in pl.parts],
            "bundled": pl.bundled,
        },
        "seeds": seeds,
        "work_dir": base_dir,
        "as_diagnosed": {**summary(arm("as-diagnosed")), "per_seed": arm("as-diagnosed")},
        "fixed": {**summary(arm("fixed") if pl.fixed else []), "per_seed": arm("fixed") if pl.fixed else []},
        "parts": {param: summary(arm(f"fixed-{param}")) for param, _ in pl.parts},
        "runs": status,
        "findings": judge_findings(run, findings, pl, arm),
        "budget_s": budget_s,
        "elapsed_s": round(time.time() - started, 1),
    }
    return json_safe(result)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render_text(result: dict) -> str:
    def num(x, fmt=".3f"):
        return format(x, fmt) if _finite(x) else "–"

    out = [
        f"{result['run']}: validated on bevdetr ({result['proxy']['preset']} preset, "
        f"{result['proxy']['iterations']} iterations, {result['seeds']} seed(s), "
        f"{result['elapsed_s'] / 60:.1f} of {result['budget_s'] / 60:g} min)",
        "note: " + result["proxy_note"],
    ]
    sp = result["speed"]
    if sp["measured_by"] == "probe":
        out.append(
            f"speed: measured {sp['measured_s_per_iter']:.3f} s/iter here now by a probe (the table says "
            f"{sp['table_s_per_iter']:.3f}): {sp['iterations']} iterations a run (planned "
            f"{sp['planned_iterations']} before measuring)"
        )
    elif sp["measured_by"] == "replicas":
        out.append(
            f"speed: measured {sp['measured_s_per_iter']:.3f} s/iter in the replicas (the table says "
            f"{sp['table_s_per_iter']:.3f}; no probe: the budget cut them to their minimum, "
            f"{sp['iterations']} iterations, already)"
        )
    if sp["over_budget"]:
        c = sp["costs"]
        out.append(
            f"budget: too small even for the shortest replicas: {_duration(sp['planned_s'])} planned, "
            f"{_duration(sp['budget_left_s'])} left (a process {c['start_s']:.1f} s to start, "
            f"{c['s_per_iter']:.3f} s an iteration, {c['s_per_eval_scene'] * 1000:.1f} ms an evaluated scene)"
        )
    out.append("mapping:")
    out += [f"  {n}" for n in result["proxy"]["mapping"]]
    if result["fix"]["applied"]:

        def proxy_text(a):
            return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in a["proxy"].items())

        out.append(
            "fix applied: "
            + "; ".join(
                f"{a['param']} {a['from'] if a['from'] is not None else '?'} -> {a['to']} "
                f"(bevdetr {proxy_text(a)}; from {a['finding']})"
                for a in result["fix"]["applied"]
            )
        )
    else:
        out.append("fix applied: none (no finding carries a change bevdetr can make)")
    for s in result["fix"]["not_applicable"]:
        out.append(f"  not applicable: {s}")
    if result["fix"]["parts"]:
        out.append("  each change was also trained alone: " + ", ".join(result["fix"]["parts"]))
    elif result["fix"]["bundled"]:
        out.append(
            "  bundled: " + " and ".join(result["fix"]["bundled"]) + " changed together; each alone did "
            "not fit the budget, so a verdict credits them together"
        )
    out.append(f"{'':22}{'final loss':>11}{'best loss':>11}{'last layer':>11}{'mAP':>8}{'s/iter':>8}")
    rows = [(result["as_diagnosed"], "as diagnosed"), (result["fixed"], "fixed")]
    rows += [(v, f"fixed: {p}") for p, v in result.get("parts", {}).items()]
    for v, label in rows:
        if v["seeds"]:
            out.append(
                f"{label:22}{num(v['final_loss']):>11}{num(v['best_loss']):>11}{num(v['head_loss']):>11}"
                f"{num(v['mAP']):>8}{num(v['s_per_iter'], '.3f'):>8}"
            )
    bad = {k: s for k, s in result["runs"].items() if s not in ("done", "skipped")}
    if bad:
        out.append("runs not finished: " + ", ".join(f"{k} ({s})" for k, s in bad.items()))
    out.append("findings:")
    for f in result["findings"]:
        out.append(f"  {f['verdict']:<26} {f['severity']:<8} {f['rule']:<16} {f['reason']}")
        for part in f.get("parts", []):
            out.append(f"  {'':<26} {'':<8} {'':<16} {part['param']}: {part['result']}")
    if not result["findings"]:
        out.append("  none: the run was diagnosed healthy, nothing to validate")
    return "\n".join(out)
