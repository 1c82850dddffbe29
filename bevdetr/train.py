"""The training loop, run as mmcv 1.x's EpochBasedRunner runs mmdet with its default hooks.

Per iteration: lr from the schedule (LrUpdaterHook), data (IterTimerHook's data_time),
forward + set losses, backward, grad clipping with the pre-clip norm logged
(OptimizerHook), AdamW step, `time`, then the logger. Per epoch: checkpoint
(CheckpointHook, `epoch_N.pth` + `latest.pth`), evaluation every K epochs (EvalHook),
its `Epoch(val)` record. Under `torchrun` it is data-parallel (DDP; gloo on CPU, nccl on
CUDA): every rank takes its share of each global batch, rank 0 alone writes logs and
checkpoints. On CUDA the forward runs under bf16 autocast.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from bevdetr import __version__
from bevdetr.boxes import encode_boxes
from bevdetr.config import make_schedule, mmdet_config
from bevdetr.crash import crash_point
from bevdetr.criterion import SetCriterion
from bevdetr.data import SyntheticBEV, collate, epoch_order, rank_batches
from bevdetr.log import MMCVLogger, environment_info, environment_record, hook_table, host_info, pretty_config
from bevdetr.metric import center_distance_map
from bevdetr.model import BEVDETR, decode_detections
from bevdetr.presets import Settings
from bevdetr.progress import ProgressBar

METRIC_PREFIX = "bevdetr/"


class TrainingError(Exception):
    """A run that cannot start (bad resume file, no CUDA ...); str() is one line."""


@dataclass
class TrainResult:
    work_dir: str
    log_path: str | None
    json_path: str | None
    world_size: int
    device: str
    epochs_done: int
    iters_done: int             # the run's iterations so far, resumed ones included
    iters_trained: int          # iterations this call trained
    train_seconds: float
    samples_per_s: float
    metrics: dict = field(default_factory=dict)


# -- setup ----------------------------------------------------------------------------------
def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: CUDA is not available on this machine")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size); starts the process group when launched by torchrun with >1 process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def build_model(settings: Settings) -> BEVDETR:
    return BEVDETR(
        num_classes=settings.num_classes, d_model=settings.d_model, nhead=settings.nhead, dim_ff=settings.dim_ff,
        num_layers=settings.layers, num_queries=settings.queries, extent=settings.extent,
        share_pe=settings.share_pe, attn=settings.attn, pool_heads=settings.pool_heads, dropout=settings.dropout,
    )


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; nothing on CPU (bf16 matmuls there are slower, not faster)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device_targets(targets: list[dict], device: torch.device) -> list[dict]:
    """Add the 8-vector regression codes; move to the device."""
    return [{"labels": t["labels"].to(device), "boxes": t["boxes"].to(device),
             "codes": encode_boxes(t["boxes"]).to(device)} for t in targets]


# -- one step -------------------------------------------------------------------------------
def reduce_log_vars(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """mmdet _parse_losses: detach, mean over ranks, .item()."""
    values = torch.stack([v.detach().float() for v in losses.values()])
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values.div_(dist.get_world_size()))
    return dict(zip(losses.keys(), values.tolist()))


def attention_log_vars(model: BEVDETR) -> dict[str, float]:
    """The cross-attention statistics of the last forward, named like the layer losses:
    `d<k>.attn_entropy`, `d<k>.attn_logit_max` for the layers before the last, plain
    `attn_entropy`, `attn_logit_max` for the last. Rank 0's own batch (not averaged over ranks)."""
    stats = model.attention_stats()
    out = {}
    for k, (logit_max, entropy) in enumerate(stats):
        prefix = "" if k == len(stats) - 1 else f"d{k}."
        if entropy is not None:
            out[prefix + "attn_entropy"] = entropy
            out[prefix + "attn_logit_max"] = logit_max
    return out


def train_step(model, criterion, optimizer, grids, targets, clip: float, device) -> dict[str, float]:
    """Forward, losses, backward, clip, AdamW step. Returns the logged values of this iteration."""
    with autocast_for(device):
        outputs = model(grids)
    losses = criterion(outputs, targets)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    log_vars = reduce_log_vars(losses)
    if clip > 0:
        params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        log_vars["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, clip))  # norm before clipping
    optimizer.step()
    return log_vars


# -- evaluation -----------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: BEVDETR, dataset: SyntheticBEV, batch: int, device: torch.device,
             epoch: int | None = None) -> dict[str, float]:
    """Final-layer detections on the val split -> centre-distance AP per class and mAP.

    epoch: for the crash test hook only (`BEVDETR_CRASH_AT=eval:<epoch>` dies after the first batch).
    """
    was_training = model.training
    model.eval()
    preds, gts = [], []
    for start in range(0, len(dataset), batch):
        grids, targets = collate([dataset[i] for i in range(start, min(start + batch, len(dataset)))])
        with autocast_for(device):
            out = model(grids.to(device))
        logits, boxes = out["pred_logits"][-1].float().cpu(), out["pred_boxes"][-1].float().cpu()
        for b, t in enumerate(targets):
            preds.append(decode_detections(logits[b], boxes[b]))
            gts.append({"labels": t["labels"].numpy(), "centers": t["boxes"][:, :2].numpy()})
        if epoch is not None:
            crash_point("eval", epoch)
    model.train(was_training)
    metrics = center_distance_map(preds, gts, dataset.cfg.class_names)
    return {METRIC_PREFIX + k: v for k, v in metrics.items()}


def run_evaluation(model, val_set, settings, device, logger, global_iter, epoch, lr, rank, checkpoint) -> dict:
    """Evaluate on rank 0, write the `Epoch(val)` record, then mark the epoch's checkpoint evaluated."""
    if rank != 0:
        return {}
    metrics = evaluate(model, val_set, settings.batch, device, epoch)
    logger.log_val(global_iter, epoch, lr, math.ceil(len(val_set) / settings.batch), metrics)
    if checkpoint is not None:
        mark_evaluated(checkpoint, metrics)
    return metrics


# -- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(work_dir: str, model, optimizer, epoch: int, global_iter: int, settings: Settings,
                    eval_due: bool = False) -> str:
    """`epoch_<N>.pth` (state dicts + meta) and a `latest.pth` symlink, each replaced atomically.

    eval_due: this epoch's evaluation comes after the checkpoint (mmcv's order); until its
    `Epoch(val)` record is written (`mark_evaluated`), a resume from here evaluates first.
    """
    path = os.path.join(work_dir, f"epoch_{epoch}.pth")
    state = {
        "meta": {"bevdetr_version": __version__, "time": time.asctime(), "epoch": epoch, "iter": global_iter,
                 "eval_due": eval_due, "settings": settings.to_dict()},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
    crash_point("checkpoint", epoch)      # test hook: killed with the new file written, not in place
    os.replace(tmp, path)
    link = os.path.join(work_dir, "latest.pth")
    tmp_link = link + ".tmp"
    if os.path.lexists(tmp_link):
        os.remove(tmp_link)
    os.symlink(os.path.basename(path), tmp_link)
    os.replace(tmp_link, link)
    return path


def evaluated_marker(checkpoint: str) -> str:
    """`epoch_N.pth` -> `epoch_N.evaluated` (the metrics as JSON), written once the epoch's `Epoch(val)`
    record is in the log. Not `.json`: log discovery would take it for a log."""
    real = os.path.realpath(checkpoint)
    return (real[:-len(".pth")] if real.endswith(".pth") else real) + ".evaluated"


def mark_evaluated(checkpoint: str, metrics: dict) -> None:
    import json

    marker = evaluated_marker(checkpoint)
    with open(marker + ".tmp", "w", encoding="utf-8") as f:
        json.dump(metrics, f)
    os.replace(marker + ".tmp", marker)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_checkpoint(path: str, device: torch.device) -> dict:
    """torch.load(weights_only=True): a checkpoint can hold tensors and plain containers, no code."""
    try:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise TrainingError(f"{path}: empty file, not a bevdetr checkpoint (a save that was cut off?)")
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except TrainingError:
        raise
    except FileNotFoundError:
        raise TrainingError(f"{path}: checkpoint not found") from None
    except Exception as e:  # unpickling refused or a corrupt file
        raise TrainingError(f"{path}: not a readable bevdetr checkpoint ({_first_line(e)})") from None
    if not isinstance(ckpt, dict) or not {"meta", "state_dict", "optimizer"} <= set(ckpt):
        raise TrainingError(f"{path}: not a bevdetr checkpoint (needs meta, state_dict, optimizer)")
    if not isinstance(ckpt["meta"], dict):
        raise TrainingError(f"{path}: not a bevdetr checkpoint (meta is not a dict)")
    return ckpt


def checkpoint_position(path: str, meta: dict, settings: Settings, iters_per_epoch: int) -> tuple[int, int]:
    """(epoch, iteration) the checkpoint was saved at, checked against the run's settings."""
    epoch, it = meta.get("epoch"), meta.get("iter")
    for name, value in (("epoch", epoch), ("iter", it)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TrainingError(f"{path}: checkpoint meta has no integer {name} (got {value!r:.40})")
    if not 0 <= epoch <= settings.epochs:
        raise TrainingError(f"{path}: checkpoint epoch {epoch} is outside this run's 0..{settings.epochs} epochs")
    if it != epoch * iters_per_epoch:
        raise TrainingError(f"{path}: checkpoint at epoch {epoch}, iter {it} does not fit these settings "
                            f"({iters_per_epoch} iterations per epoch)")
    return epoch, it


def latest_checkpoint(work_dir: str) -> str | None:
    """`latest.pth` when present, else the highest `epoch_N.pth` (mmdet's find_latest_checkpoint)."""
    link = os.path.join(work_dir, "latest.pth")
    if os.path.exists(link):
        return link
    epochs = []
    for name in os.listdir(work_dir) if os.path.isdir(work_dir) else []:
        if name.startswith("epoch_") and name.endswith(".pth") and name[6:-4].isdigit():
            epochs.append((int(name[6:-4]), name))
    return os.path.join(work_dir, max(epochs)[1]) if epochs else None


# -- logging helpers ------------------------------------------------------------------------
def new_timestamp(work_dir: str) -> str:
    """`YYYYmmdd_HHMMSS` not yet used by a log in work_dir (a quick restart waits a second)."""
    while True:
        ts = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        if not any(os.path.exists(os.path.join(work_dir, ts + ext)) for ext in (".log", ".log.json")):
            return ts
        time.sleep(0.25)


def max_memory_mb(device: torch.device, world: int) -> int:
    """mmcv's _get_max_memory: max CUDA memory in MB, max over ranks."""
    mem = torch.tensor([torch.cuda.max_memory_allocated(device) // (1024 * 1024)], dtype=torch.int64, device=device)
    if world > 1:
        dist.reduce(mem, 0, op=dist.ReduceOp.MAX)
    return int(mem.item())


HOOKS = {
    "before_run": [("VERY_HIGH", "StepLrUpdaterHook"), ("NORMAL", "CheckpointHook"), ("LOW", "EvalHook"),
                   ("VERY_LOW", "TextLoggerHook")],
    "before_train_epoch": [("VERY_HIGH", "StepLrUpdaterHook"), ("LOW", "IterTimerHook"), ("LOW", "EvalHook"),
                           ("VERY_LOW", "TextLoggerHook")],
    "before_train_iter": [("VERY_HIGH", "StepLrUpdaterHook"), ("LOW", "IterTimerHook"), ("LOW", "EvalHook")],
    "after_train_iter": [("ABOVE_NORMAL", "OptimizerHook"), ("NORMAL", "CheckpointHook"), ("LOW", "IterTimerHook"),
                         ("LOW", "EvalHook"), ("VERY_LOW", "TextLoggerHook")],
    "after_train_epoch": [("NORMAL", "CheckpointHook"), ("LOW", "EvalHook"), ("VERY_LOW", "TextLoggerHook")],
    "before_val_epoch": [("LOW", "IterTimerHook"), ("VERY_LOW", "TextLoggerHook")],
    "before_val_iter": [("LOW", "IterTimerHook")],
    "after_val_iter": [("LOW", "IterTimerHook")],
    "after_val_epoch": [("VERY_LOW", "TextLoggerHook")],
    "after_run": [("VERY_LOW", "TextLoggerHook")],
}


def hooks_for(settings: Settings, world: int) -> dict:
    lr_hook = {"step": "StepLrUpdaterHook", "cosine": "CosineAnnealingLrUpdaterHook",
               "cyclic": "CyclicLrUpdaterHook"}[settings.schedule]
    eval_hook = "DistEvalHook" if world > 1 else "EvalHook"
    table = {}
    for stage, hooks in HOOKS.items():
        renamed = [(p, lr_hook if n == "StepLrUpdaterHook" else eval_hook if n == "EvalHook" else n) for p, n in hooks]
        if world > 1 and stage in ("before_train_epoch", "before_val_epoch"):
            renamed.insert(1, ("NORMAL", "DistSamplerSeedHook"))
        table[stage] = renamed
    return table


# -- the run --------------------------------------------------------------------------------
def train(settings: Settings, work_dir: str, resume_from: str | None = None,
          progress: bool | None = None) -> TrainResult:
    """Train with `settings`, writing `<ts>.log`, `<ts>.log.json` and checkpoints into work_dir.

    resume_from: a checkpoint to continue from (its epoch and iteration, model and optimizer).
    progress: draw a bar on stderr (None: only when stderr is a TTY; never off rank 0).
    """
    settings.validate()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(settings.device, local_rank)
    rank, world = init_distributed(device)
    if device.type == "cpu" and settings.threads > 0:
        torch.set_num_threads(settings.threads)
    try:
        return _train(settings, os.path.abspath(work_dir), resume_from, progress, device, rank, world)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(settings, work_dir, resume_from, progress, device, rank, world) -> TrainResult:
    os.makedirs(work_dir, exist_ok=True)
    torch.manual_seed(settings.seed)
    scene = settings.scene()
    train_set = SyntheticBEV(scene, settings.data_seed, "train", settings.train_samples)
    val_set = SyntheticBEV(scene, settings.data_seed, "val", settings.val_samples)
    iters_per_epoch = settings.train_samples // (settings.batch * world)
    if iters_per_epoch == 0:
        raise TrainingError(f"{settings.train_samples} training samples make no batch of {settings.batch} x {world}")
    max_iters = iters_per_epoch * settings.epochs
    schedule = make_schedule(settings, iters_per_epoch)

    model = build_model(settings).to(device)
    criterion = SetCriterion(settings.num_classes, aux=settings.aux)
    optimizer = torch.optim.AdamW(model.param_groups(settings.lr, settings.weight_decay, settings.stem_lr_mult),
                                  lr=settings.lr, weight_decay=settings.weight_decay, foreach=True)
    start_epoch, global_iter, ckpt = 0, 0, None
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, device)
        start_epoch, global_iter = checkpoint_position(resume_from, ckpt["meta"], settings, iters_per_epoch)
        try:
            model.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise TrainingError(f"{resume_from}: does not fit these settings ({_first_line(e)})") from None
    net = model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    timestamp = new_timestamp(work_dir) if rank == 0 else ""
    exp_name = f"bevdetr_{settings.preset}.py"
    logger = MMCVLogger(work_dir, timestamp, rank, settings.interval, max_iters, iters_per_epoch, exp_name,
                        start_iter=global_iter)
    config = mmdet_config(settings, work_dir, world, device.type, iters_per_epoch, resume_from)
    config_text = pretty_config(config)
    env_info = environment_info(device.type) if rank == 0 else ""
    log = logger.text.info
    log(environment_record(env_info))
    log(f"Distributed training: {world > 1}")
    log(f"Config:\n{config_text}")
    log(f"Set random seed to {settings.seed}, deterministic: False")
    log(f"Model:\n{model}")
    meta = {"env_info": env_info, "config": config_text, "seed": settings.seed, "exp_name": exp_name}
    if ckpt is not None:
        log(f"load checkpoint from local path: {resume_from}")
        log(f"resumed epoch {start_epoch}, iter {global_iter}")
        meta["hook_msgs"] = {"last_ckpt": os.path.abspath(resume_from)}
    log(f"Start running, host: {host_info()}, work_dir: {work_dir}")
    log("Hooks will be executed in the following order:\n" + hook_table(hooks_for(settings, world)))
    log(f"workflow: [('train', 1)], max: {settings.epochs} epochs")
    log(f"Checkpoints will be saved to {work_dir} by HardDiskBackend.")
    logger.before_run(meta)

    bar = ProgressBar(max_iters, enabled=progress if rank == 0 else False, initial=global_iter)
    train_seconds, trained_iters, metrics, lr = 0.0, 0, {}, schedule.lr(global_iter, start_epoch)
    if ckpt is not None and ckpt["meta"].get("eval_due") is True and not os.path.exists(evaluated_marker(resume_from)):
        # killed during the evaluation that follows this checkpoint: do it now, as the run would have
        last_lr = schedule.lr(global_iter - 1, start_epoch - 1)
        metrics = run_evaluation(model, val_set, settings, device, logger, global_iter, start_epoch, last_lr, rank,
                                 resume_from)
    net.train()
    for epoch in range(start_epoch, settings.epochs):
        logger.before_epoch()
        # dropout draws from torch's generator: seed it per epoch so a resumed epoch repeats exactly
        torch.manual_seed(settings.seed * 1_000_003 + epoch)
        batches = rank_batches(epoch_order(len(train_set), settings.seed, epoch), settings.batch, rank, world)
        t = time.time()
        for inner, indices in enumerate(batches):
            lr = schedule.lr(global_iter, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_mult", 1.0)
            grids, targets = collate([train_set[int(i)] for i in indices])
            grids, targets = grids.to(device, non_blocking=True), to_device_targets(targets, device)
            logger.update({"data_time": time.time() - t}, 1)
            log_vars = train_step(net, criterion, optimizer, grids, targets, settings.clip, device)
            logger.update({k: v for k, v in log_vars.items() if k != "grad_norm"}, len(indices))
            if "grad_norm" in log_vars:
                logger.update({"grad_norm": log_vars["grad_norm"]}, len(indices))
            logger.update(attention_log_vars(model), len(indices))
            step_time = time.time() - t
            logger.update({"time": step_time}, 1)
            train_seconds += step_time
            trained_iters += 1
            t = time.time()
            memory = max_memory_mb(device, world) if device.type == "cuda" and (inner + 1) % settings.interval == 0 else None
            logger.after_train_iter(global_iter, inner, epoch + 1, lr, memory)
            global_iter += 1
            bar.update(global_iter, f"epoch {epoch + 1}/{settings.epochs} loss {log_vars['loss']:.3f}")
            if inner + 1 == max(len(batches) // 2, 1):
                crash_point("train", epoch + 1)     # test hook: killed in the middle of the epoch
        done = epoch + 1
        eval_due = done % settings.eval_interval == 0 or done == settings.epochs
        checkpoint = None
        if done % settings.checkpoint_interval == 0 or done == settings.epochs:
            if rank == 0:
                checkpoint = save_checkpoint(work_dir, model, optimizer, done, global_iter, settings, eval_due)
            log(f"Saving checkpoint at {done} epochs")
        if eval_due:
            metrics = run_evaluation(model, val_set, settings, device, logger, global_iter, done, lr, rank, checkpoint)
        if world > 1:
            dist.barrier()
    bar.close()
    logger.close()
    samples = trained_iters * settings.batch * world
    return TrainResult(work_dir, logger.log_path, logger.json_path, world, device.type, settings.epochs,
                       global_iter, trained_iters, train_seconds, samples / train_seconds if train_seconds else 0.0, metrics)
