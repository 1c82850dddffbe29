"""Where a setting lives in the run's own config, and what is written there now.

A fix names the config key and the value to write there. The same setting sits at different
keys in the four layouts bevlog reads: mmcv 1.x (`optimizer.lr`, `lr_config.warmup_iters`,
`runner.max_epochs`), mmengine (`optim_wrapper.optimizer.lr`, `param_scheduler[0].end`,
`train_cfg.max_epochs`), bevdetr's own `bevdetr = dict(...)` record, which its trainer reads
(`bevdetr.lr`, `bevdetr.warmup_iters`), and the command-line arguments of facebookresearch/detr's
`main.py` and its descendants (Deformable-DETR, Conditional/DAB-DETR, DINO), which print them as a
`Namespace(...)` (`--lr`, `--epochs`, `--lr_drop`, `--clip_max_norm`, `--batch_size`, `--dec_layers`).
`key_for(param, meta)` answers with the key, None when the config does not hold the setting (a DETR
`log.txt` carries no arguments: then nobody knows the key).
"""

from __future__ import annotations

from bevlog.findings import is_number

# bevdetr's trainer reads these names from its `bevdetr = dict(...)` record
BEVDETR_KEYS = {
    "lr": "lr",
    "warmup_iters": "warmup_iters",
    "grad_clip": "clip",
    "aux_loss": "aux",
    "max_epochs": "epochs",
    "lr_steps": "steps",
    "num_decoder_layers": "layers",
    "batch": "batch",
}


# facebookresearch/detr main.py's argument for each setting (its descendants keep the names);
# `lr_drop` is StepLR's period, `batch_size` per GPU
DETR_ARGS = {
    "lr": "--lr",
    "grad_clip": "--clip_max_norm",
    "max_epochs": "--epochs",
    "lr_steps": "--lr_drop",
    "num_decoder_layers": "--dec_layers",
    "batch": "--batch_size",
    "weight_decay": "--weight_decay",
}


def layout(cfg) -> str:
    """'bevdetr' | 'mmengine' | 'mmcv' | 'detr-args' | 'unknown', from the config's own sections
    (mmdet 2.x configs have a top-level `train_cfg` too: only `optim_wrapper` / `param_scheduler` say
    mmengine; a flat mapping with a numeric `lr` and `batch_size` is a DETR `main.py`'s arguments)."""
    if not isinstance(cfg, dict):
        return "unknown"
    if isinstance(cfg.get("bevdetr"), dict):
        return "bevdetr"
    if (
        _number(cfg.get("lr"))
        and _number(cfg.get("batch_size"))
        and not any(isinstance(cfg.get(k), dict) for k in ("optimizer", "optim_wrapper", "model"))
    ):
        return "detr-args"
    if isinstance(cfg.get("optim_wrapper"), dict) or isinstance(cfg.get("param_scheduler"), (dict, list, tuple)):
        return "mmengine"
    if isinstance(cfg.get("optimizer"), dict) or isinstance(cfg.get("lr_config"), dict):
        return "mmcv"
    return "unknown"


def schedulers(cfg) -> list:
    ps = cfg.get("param_scheduler") if isinstance(cfg, dict) else None
    if isinstance(ps, dict):
        return [ps]
    return list(ps) if isinstance(ps, (list, tuple)) else []


def warmup_index(cfg) -> int | None:
    """The mmengine warmup phase: a LinearLR/ConstantLR/ExponentialLR that begins at 0 before another."""
    ps = schedulers(cfg)
    for k, s in enumerate(ps):
        kind = str(s.get("type", "")).lower() if isinstance(s, dict) else ""
        if kind.startswith(("linear", "constant", "exponential")) and not s.get("begin") and len(ps) > 1:
            return k
    return None


# mmengine schedulers that anneal the lr to a floor over a period of their own (`end` or `T_max`)
ANNEALING = ("cosine", "poly")


def main_index(cfg, kinds: tuple) -> int | None:
    """The first lr scheduler whose type contains one of `kinds` ('multistep', 'cosine' …)."""
    for k, s in enumerate(schedulers(cfg)):
        kind = str(s.get("type", "")).lower().replace("_", "") if isinstance(s, dict) else ""
        if "momentum" not in kind and any(x in kind for x in kinds):
            return k
    return None


def key_for(param: str, meta) -> str | None:
    cfg = meta.config if isinstance(meta.config, dict) else None
    if cfg is None:
        return None  # no config read: no key to name
    kind = layout(cfg)
    if kind == "bevdetr":
        name = BEVDETR_KEYS.get(param)
        return f"bevdetr.{name}" if name else None
    if kind == "mmengine":
        return _mmengine_key(param, cfg)
    if kind == "mmcv":
        return _mmcv_key(param, cfg)
    if kind == "detr-args":
        key = DETR_ARGS.get(param)
        if param == "lr_steps" and cfg.get("lr_drop_epochs"):
            return "--lr_drop_epochs"  # Deformable-DETR: milestones instead of a period
        return key if key is not None and key[2:] in cfg else None
    return None


def _number(v) -> bool:
    return is_number(v) and v > 0


def _mmengine_key(param: str, cfg: dict) -> str | None:
    if param == "lr":
        return "optim_wrapper.optimizer.lr"
    if param == "grad_clip":
        return "optim_wrapper.clip_grad.max_norm"
    if param == "gradient_accumulation":
        return "optim_wrapper.accumulative_counts"
    if param == "fp16_loss_scale":
        return "optim_wrapper.loss_scale"
    if param == "warmup_iters":
        k = warmup_index(cfg)
        return f"param_scheduler[{k}].end" if k is not None else "param_scheduler (a LinearLR warmup, by_epoch=False)"
    if param == "lr_steps":
        k = main_index(cfg, ("multistep", "step"))
        return f"param_scheduler[{k}].milestones" if k is not None else None
    if param == "step_end":
        k = main_index(cfg, ("multistep", "step"))
        return f"param_scheduler[{k}].end" if k is not None else None
    if param == "decay_period":
        k = main_index(cfg, ANNEALING)
        if k is None:
            return None
        s = schedulers(cfg)[k]
        return f"param_scheduler[{k}].T_max" if "T_max" in s else f"param_scheduler[{k}].end"
    if param in ("max_epochs", "max_iters"):
        return f"train_cfg.{param}"
    return None


def _mmcv_key(param: str, cfg: dict) -> str | None:
    if param == "lr":
        return "optimizer.lr"
    if param == "grad_clip":
        return "optimizer_config.grad_clip.max_norm"
    if param == "gradient_accumulation":
        return "optimizer_config.cumulative_iters (type='GradientCumulativeOptimizerHook')"
    if param == "fp16_loss_scale":
        return "fp16.loss_scale"
    if param == "warmup_iters":
        return "lr_config.warmup_iters"
    if param == "lr_steps":
        return "lr_config.step"
    if param in ("max_epochs", "max_iters"):
        runner = cfg.get("runner")
        if isinstance(runner, dict) and param in runner:
            return f"runner.{param}"
        if param == "max_epochs" and "total_epochs" in cfg:
            return "total_epochs"
        return f"runner.{param}"
    return None


def milestones(meta) -> tuple[list, bool] | None:
    """(the step schedule's milestones, counted in epochs?) from the config, None without one."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    if layout(cfg) == "mmengine":
        k = main_index(cfg, ("multistep", "step"))
        if k is None:
            return None
        s = schedulers(cfg)[k]
        ms = s.get("milestones", s.get("step_size"))
        by_epoch = s.get("by_epoch", True) is not False
    else:
        sched = meta.lr_schedule
        if sched is None or str(sched.policy or "").lower() not in ("step", "multistep") or not sched.steps:
            return None
        ms, by_epoch = list(sched.steps), sched.by_epoch is not False
    if is_number(ms):
        ms = [ms]
    if not isinstance(ms, (list, tuple)) or not ms or not all(is_number(m) for m in ms):
        return None
    return [int(m) for m in ms], by_epoch


def decay_period(meta) -> tuple[float, float, bool, str] | None:
    """(begin, end or begin + T_max, counted in epochs?, its type) of an mmengine phase that anneals
    the lr to its floor (CosineAnnealingLR, PolyLR) and runs to the end of the schedule (the last lr
    scheduler), None when there is none. mmcv's cosine and poly hooks take the run's own length."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    k = main_index(cfg, ANNEALING)
    ps = schedulers(cfg)
    if k is None or any(
        "lr" in str(s.get("type", "")).lower() and "momentum" not in str(s.get("type", "")).lower()
        for s in ps[k + 1 :]
        if isinstance(s, dict)
    ):
        return None
    s = ps[k]
    begin = s.get("begin", 0)
    end = s.get("end")
    t_max = s.get("T_max")
    by_epoch = s.get("by_epoch", True) is not False  # begin/end/T_max count epochs (converted or not)
    kind = str(s.get("type", ""))
    if is_number(t_max):
        return float(begin or 0), float((begin or 0) + t_max), by_epoch, kind
    if is_number(end):
        return float(begin or 0), float(end), by_epoch, kind
    return None


def step_end(meta) -> float | None:
    """The `end` of an mmengine step scheduler (counted like its milestones): the scheduler steps no
    more after it, so a milestone at or past it never comes. None when the config sets none."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    if layout(cfg) != "mmengine":
        return None
    k = main_index(cfg, ("multistep", "step"))
    end = schedulers(cfg)[k].get("end") if k is not None else None
    return float(end) if end is not None and is_number(end) else None


def step_gamma(meta) -> float | None:
    """The factor a step schedule multiplies the lr by at each of its milestones (mmcv
    `lr_config.gamma`, mmengine MultiStepLR `gamma`, bevdetr's `gamma`; 0.1 by default), None when
    the milestones are no explicit list (a periodic StepLR / an int `step`: every n epochs)."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    if layout(cfg) == "mmengine":
        k = main_index(cfg, ("multistep",))
        s = schedulers(cfg)[k] if k is not None else {}
        listed, gamma = s.get("milestones"), s.get("gamma", 0.1)
    else:
        lc, own = (x if isinstance(x, dict) else {} for x in (cfg.get("lr_config"), cfg.get("bevdetr")))
        listed = lc.get("step", own.get("steps"))
        gamma = lc.get("gamma", own.get("gamma", 0.1))
        if listed is None and meta.lr_schedule is not None and meta.lr_schedule.steps:
            listed = list(meta.lr_schedule.steps)
    if not isinstance(listed, (list, tuple)) or not listed or not is_number(gamma) or not 0 < gamma < 1:
        return None
    return float(gamma)


def current(param: str, meta):
    """The value the config holds now for `param`, None when the log does not say."""
    sched = meta.lr_schedule
    if param == "lr":
        return meta.lr
    if param == "warmup_iters":
        return int(sched.warmup_iters) if sched is not None and sched.warmup and is_number(sched.warmup_iters) else None
    if param == "grad_clip":
        return meta.grad_clip
    if param in ("max_epochs", "max_iters", "num_decoder_layers"):
        return getattr(meta, param)
    if param == "aux_loss":
        return meta.has_aux_loss
    if param == "lr_steps":
        cfg = meta.config if isinstance(meta.config, dict) else {}
        if layout(cfg) == "detr-args" and not cfg.get("lr_drop_epochs") and is_number(cfg.get("lr_drop")):
            return int(cfg["lr_drop"])  # StepLR's period, one number
        found = milestones(meta)
        return found[0] if found else None
    return None


def as_written(param: str, key: str | None, value):
    """A value in the form its key takes: DETR's `--lr_drop` is one epoch (StepLR's period), not a
    list of milestones."""
    if param == "lr_steps" and key == DETR_ARGS["lr_steps"] and isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


def warmup_in_epochs(meta) -> bool:
    """The mmengine warmup phase counts epochs (by_epoch=True): its `end` is an epoch, not an iteration."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    k = warmup_index(cfg) if layout(cfg) == "mmengine" else None
    return k is not None and schedulers(cfg)[k].get("by_epoch", True) is not False
