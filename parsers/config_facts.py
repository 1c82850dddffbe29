"""Derived facts about a run, from its config (mmcv 1.x or mmengine style) and what its log states.

A DETR-family run (facebookresearch/detr's `main.py` and its descendants) has no config
file: its argparse arguments are its config (`Segment.args`), and the facts are read from
their names (`detr_args`): `lr`, `batch_size` (per GPU) × `world_size`, `epochs`, `lr_drop`
(StepLR's period) or `lr_drop_epochs` / `lr_drop_list` (milestones), `clip_max_norm`,
`weight_decay`, `sgd` (else AdamW), `dec_layers`.

Every function returns None when the log does not say; nothing is guessed silently
(an estimate is flagged, e.g. `iters_per_epoch_estimated`).
"""

from __future__ import annotations

import re
from typing import Any

from parsers.bounds import MAX_COUNT
from parsers.meta import LrSchedule

MAX_STEPS = 1000  # lr drops of a schedule read from arguments: no recipe has more


def get(cfg: Any, *path, default=None):
    """cfg['a']['b'] that tolerates missing keys and non-dict values."""
    cur = cfg
    for p in path:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, (list, tuple)) and isinstance(p, int) and -len(cur) <= p < len(cur):
            cur = cur[p]
        else:
            return default
    return cur


def number(v) -> float | int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def detr_args(cfg) -> dict | None:
    """`cfg` when it is the argparse dump of a DETR-family `main.py` (a flat mapping with a
    numeric `lr` and `batch_size`, and no mmcv/mmengine optimizer or model), else None."""
    if not isinstance(cfg, dict) or any(isinstance(cfg.get(k), dict) for k in ("optimizer", "optim_wrapper", "model")):
        return None
    if number(cfg.get("lr")) is None or number(cfg.get("batch_size")) is None:
        return None
    return cfg


def _positive(v) -> float | int | None:
    """A positive, finite number (arguments read from JSON may hold `Infinity`)."""
    v = number(v)
    return v if v is not None and 0 < v < float("inf") else None


def samples_per_gpu(cfg) -> int | None:
    args = detr_args(cfg)
    if args is not None:
        v = _positive(args.get("batch_size"))
        return int(v) if v is not None and v <= MAX_COUNT else None
    for path in (
        ("data", "samples_per_gpu"),
        ("train_dataloader", "batch_size"),
        ("data", "train_dataloader", "samples_per_gpu"),
    ):
        v = number(get(cfg, *path))
        if v is not None and v > 0:
            return int(v)
    return None


def num_gpus(
    cfg, gpu_number: int | None = None, distributed: bool | None = None, env_gpus: int | None = None
) -> tuple[int | None, str | None]:
    """(GPUs the run trained on, the evidence), most direct evidence first:
    1. `GPU number: N` (mmengine's world size);
    2. `Distributed training: False`: one process, one GPU;
    3. the config's `gpu_ids` / `num_gpus` — except `gpu_ids` of one GPU under a distributed
       launcher: mmdet before 2.13 left its default `range(0, 1)` there whatever the world size
       (a VOC run whose 6,207 iterations per epoch need 4 GPUs × 2 says `range(0, 1)`); DETR's
       printed `world_size`;
    4. the environment block's GPU list: the GPUs the machine showed, which a distributed run
       may not all have used (the weakest; `num_gpus_from` says it).
    """
    if gpu_number:
        return int(gpu_number), "GPU number"
    if distributed is False:
        return 1, "Distributed training: False"
    ids = _gpu_ids(get(cfg, "gpu_ids"))
    if ids and not (distributed and ids == 1):
        return ids, "config gpu_ids"
    v = number(get(cfg, "num_gpus"))
    if v and v > 0:
        return int(v), "config num_gpus"
    v = _positive(get(detr_args(cfg), "world_size"))  # DETR's main.py prints it once distributed
    if v is not None and v <= MAX_COUNT:
        return int(v), "DETR world_size"
    if env_gpus:
        return int(env_gpus), "environment GPU list"
    if ids:
        return ids, "config gpu_ids"
    return None, None


def _gpu_ids(gpu_ids) -> int | None:
    """How many GPUs a config's `gpu_ids` names (a list, or `range(a, b)` as dumped)."""
    if isinstance(gpu_ids, (list, tuple)) and gpu_ids:
        return len(gpu_ids)
    if isinstance(gpu_ids, str):
        m = re.fullmatch(r"range\(\s*(\d+)\s*,\s*(\d+)\s*\)", gpu_ids.strip())
        if m and int(m.group(2)) > int(m.group(1)):
            return int(m.group(2)) - int(m.group(1))
    return None


def _optimizer(cfg) -> dict:
    """The optimizer config; with several optimizers (`optimizer = dict(backbone=dict(type=…),
    head=dict(…))`, mmcv) the first one, whose lr is the `lr` column."""
    opt = get(cfg, "optimizer")
    if not isinstance(opt, dict):
        opt = get(cfg, "optim_wrapper", "optimizer")
    if not isinstance(opt, dict):
        return {}
    if "type" not in opt:
        many = optimizers(cfg)
        if many:
            return next(iter(many.values()))
    return opt


def optimizers(cfg) -> dict | None:
    """{name: optimizer config} when the config defines several optimizers, else None."""
    opt = get(cfg, "optimizer")
    if not isinstance(opt, dict) or "type" in opt:
        return None
    many = {k: v for k, v in opt.items() if isinstance(v, dict) and "type" in v}
    return many or None


def optimizer(cfg) -> str | None:
    args = detr_args(cfg)
    if args is not None:  # Deformable-DETR's `--sgd`; without the flag the script says nothing
        return None if not isinstance(args.get("sgd"), bool) else ("SGD" if args["sgd"] else "AdamW")
    t = _optimizer(cfg).get("type")
    return t if isinstance(t, str) else None


def base_lr(cfg) -> float | None:
    args = detr_args(cfg)
    return number(args["lr"]) if args is not None else number(_optimizer(cfg).get("lr"))


def weight_decay(cfg) -> float | None:
    args = detr_args(cfg)
    return number(args.get("weight_decay")) if args is not None else number(_optimizer(cfg).get("weight_decay"))


def grad_clip(cfg) -> float | None:
    """max_norm of `optimizer_config.grad_clip` (mmcv) or `optim_wrapper.clip_grad` (mmengine),
    DETR's `clip_max_norm` (0: no clipping)."""
    args = detr_args(cfg)
    if args is not None:
        return _positive(args.get("clip_max_norm"))
    for path in (("optimizer_config", "grad_clip", "max_norm"), ("optim_wrapper", "clip_grad", "max_norm")):
        v = number(get(cfg, *path))
        if v is not None:
            return v
    return None


def fp16(cfg, json_meta: dict | None = None) -> bool | None:
    if json_meta and "fp16" in json_meta:
        return True
    if cfg is None:
        return None
    if isinstance(get(cfg, "fp16"), dict):
        return True
    for path in (("optimizer_config", "type"), ("optim_wrapper", "type")):
        t = get(cfg, *path)
        if isinstance(t, str) and ("Fp16" in t or "Amp" in t):
            return True
    return False


def lr_schedule(cfg) -> LrSchedule | None:
    """The schedule from mmcv `lr_config`, mmengine `param_scheduler` or DETR's arguments
    (None without any)."""
    args = detr_args(cfg)
    if args is not None:
        return _detr_schedule(args)
    lc = get(cfg, "lr_config")
    if isinstance(lc, dict):
        steps = lc.get("step")
        if isinstance(steps, (int, float)) and not isinstance(steps, bool):
            steps = [steps]
        return LrSchedule(
            policy=lc.get("policy"),
            steps=tuple(steps) if isinstance(steps, (list, tuple)) else None,
            warmup=lc.get("warmup"),
            warmup_iters=number(lc.get("warmup_iters")),
            warmup_ratio=number(lc.get("warmup_ratio")),
            by_epoch=lc.get("by_epoch", True) if isinstance(lc.get("by_epoch", True), bool) else None,
        )
    ps = get(cfg, "param_scheduler")
    if isinstance(ps, dict):
        ps = [ps]
    if isinstance(ps, (list, tuple)) and ps:
        out: dict[str, Any] = dict.fromkeys(("policy", "steps", "warmup", "warmup_iters", "warmup_ratio", "by_epoch"))
        for s in ps:
            if not isinstance(s, dict):
                continue
            t = s.get("type")
            end = number(s.get("end"))
            is_warmup = t in ("LinearLR", "ConstantLR", "ExponentialLR") and not s.get("by_epoch", True) and end
            if is_warmup and out["warmup"] is None:
                out["warmup"] = "linear" if t == "LinearLR" else t
                out["warmup_iters"] = end
                out["warmup_ratio"] = number(s.get("start_factor"))
                continue
            out["policy"] = t
            ms = s.get("milestones")
            out["steps"] = list(ms) if isinstance(ms, (list, tuple)) else None
            out["by_epoch"] = s.get("by_epoch", True) if isinstance(s.get("by_epoch", True), bool) else None
        return LrSchedule(**out)
    return None


def _detr_schedule(args: dict) -> LrSchedule | None:
    """DETR: `StepLR(step_size=lr_drop)` divides the lr by 10 every `lr_drop` epochs; forks
    take milestones (`lr_drop_epochs`, DINO's `lr_drop_list` with `multi_step_lr`). Epochs
    count as mmcv's `step`: after that many epochs."""
    epochs = _positive(args.get("epochs"))
    ms = args.get("lr_drop_epochs") or (args.get("lr_drop_list") if args.get("multi_step_lr") else None)
    if isinstance(ms, (list, tuple)) and 0 < len(ms) <= MAX_STEPS and all(_positive(m) is not None for m in ms):
        return LrSchedule(policy="step", steps=tuple(ms), by_epoch=True)
    period = _positive(args.get("lr_drop"))
    if period is None or period < 1 or period != int(period) or epochs is None or epochs > MAX_COUNT:
        return None
    drops = min(int((epochs - 1) // period), MAX_STEPS)  # drops that happen before the last epoch
    return LrSchedule(policy="step", steps=tuple(int(period) * k for k in range(1, drops + 1)), by_epoch=True)


def max_epochs_iters(cfg, max_epochs: int | None = None, max_iters: int | None = None) -> tuple[int | None, int | None]:
    """The planned epochs and iterations: as the log states them (`workflow: …, max: N
    epochs`), else as the config does (DETR's `epochs`)."""
    me, mi = max_epochs, max_iters
    epochs = _positive(get(detr_args(cfg), "epochs"))
    if me is None and epochs is not None and epochs <= MAX_COUNT:
        me = int(epochs)
    for path in (("runner", "max_epochs"), ("total_epochs",), ("train_cfg", "max_epochs")):
        v = number(get(cfg, *path))
        if me is None and v:
            me = int(v)
    for path in (("runner", "max_iters"), ("total_iters",), ("train_cfg", "max_iters")):
        v = number(get(cfg, *path))
        if mi is None and v:
            mi = int(v)
    return me, mi


def runner_kind(cfg) -> str | None:
    t = get(cfg, "runner", "type")
    if isinstance(t, str):
        return "iter" if "Iter" in t else "epoch" if "Epoch" in t else None
    t = get(cfg, "train_cfg", "type")
    if isinstance(t, str):
        return "iter" if "Iter" in t else "epoch" if "Epoch" in t else None
    if get(cfg, "train_cfg", "by_epoch") is False:
        return "iter"
    return None


def config_iters_per_epoch(cfg) -> int | None:
    """Iteration-based recipes often state it (`num_iters_per_epoch = 1758` in StreamPETR)."""
    v = number(get(cfg, "num_iters_per_epoch"))
    return int(v) if v and v > 0 else None


def log_interval(cfg) -> int | None:
    v = number(get(cfg, "log_config", "interval"))
    if v is None:
        v = number(get(cfg, "default_hooks", "logger", "interval"))
    return int(v) if v and v > 0 else None


def decoder_layers(cfg) -> int | None:
    """`num_layers` of the first dict found under a key containing 'decoder'; DETR's
    `dec_layers`."""
    dec = _positive(get(detr_args(cfg), "dec_layers"))
    if dec is not None:
        return int(dec) if dec <= 999 else None
    found: list[int] = []

    def walk(node, under_decoder: bool, depth: int):
        if depth > 50 or found:
            return
        if isinstance(node, dict):
            if under_decoder and number(node.get("num_layers")):
                found.append(int(node["num_layers"]))
                return
            for k, v in node.items():
                walk(v, under_decoder or (isinstance(k, str) and "decoder" in k.lower()), depth + 1)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, under_decoder, depth + 1)

    walk(get(cfg, "model"), False, 0)
    return found[0] if found else None
