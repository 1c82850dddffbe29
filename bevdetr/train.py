"""Train a run as mmcv 1.x's EpochBasedRunner runs mmdet with its default hooks.

`train()` sets the run up (device, process group, data, model, optimizer, a resumed
checkpoint), writes the header records mmdet and mmcv write, then per epoch: `train_one_epoch`
(bevdetr/engine.py), checkpoint (CheckpointHook, bevdetr/checkpoint.py), evaluation every K
epochs (EvalHook) and its `Epoch(val)` record. Under `torchrun` it is data-parallel (DDP; gloo
on CPU, nccl on CUDA): every rank takes its share of each global batch, rank 0 alone writes
logs and checkpoints and evaluates.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from attnstats.recorder import AttentionRecorder
from bevdetr.checkpoint import checkpoint_position, evaluated_marker, load_checkpoint, mark_evaluated, save_checkpoint
from bevdetr.config import make_schedule, mmdet_config
from bevdetr.criterion import SetCriterion
from bevdetr.data import SyntheticBEV, epoch_order, rank_batches
from bevdetr.engine import evaluate, train_one_epoch
from bevdetr.errors import TrainingError, first_line
from bevdetr.log import MMCVLogger, environment_info, environment_record, hook_table, host_info, pretty_config
from bevdetr.model import BEVDETR
from bevdetr.presets import Settings
from bevdetr.progress import ProgressBar


@dataclass
class TrainResult:
    work_dir: str
    log_path: str | None
    json_path: str | None
    world_size: int
    device: str
    epochs_done: int
    iters_done: int  # the run's iterations so far, resumed ones included
    iters_trained: int  # iterations this call trained
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
        num_classes=settings.num_classes,
        d_model=settings.d_model,
        nhead=settings.nhead,
        dim_ff=settings.dim_ff,
        num_layers=settings.layers,
        num_queries=settings.queries,
        extent=settings.extent,
        share_pe=settings.share_pe,
        dropout=settings.dropout,
    )


def attention_recorder(model: BEVDETR, settings: Settings) -> AttentionRecorder:
    """The users' recorder on bevdetr's decoder: every iteration, the whole batch, every query (what
    the attention-collapse rule was calibrated on); rank 0's own batch under DDP."""
    recorder = AttentionRecorder(every=1, max_samples=settings.batch, max_queries=settings.queries)
    recorder.install(model)
    return recorder


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
    "before_run": [
        ("VERY_HIGH", "StepLrUpdaterHook"),
        ("NORMAL", "CheckpointHook"),
        ("LOW", "EvalHook"),
        ("VERY_LOW", "TextLoggerHook"),
    ],
    "before_train_epoch": [
        ("VERY_HIGH", "StepLrUpdaterHook"),
        ("LOW", "IterTimerHook"),
        ("LOW", "EvalHook"),
        ("VERY_LOW", "TextLoggerHook"),
    ],
    "before_train_iter": [("VERY_HIGH", "StepLrUpdaterHook"), ("LOW", "IterTimerHook"), ("LOW", "EvalHook")],
    "after_train_iter": [
        ("ABOVE_NORMAL", "OptimizerHook"),
        ("NORMAL", "CheckpointHook"),
        ("LOW", "IterTimerHook"),
        ("LOW", "EvalHook"),
        ("VERY_LOW", "TextLoggerHook"),
    ],
    "after_train_epoch": [("NORMAL", "CheckpointHook"), ("LOW", "EvalHook"), ("VERY_LOW", "TextLoggerHook")],
    "before_val_epoch": [("LOW", "IterTimerHook"), ("VERY_LOW", "TextLoggerHook")],
    "before_val_iter": [("LOW", "IterTimerHook")],
    "after_val_iter": [("LOW", "IterTimerHook")],
    "after_val_epoch": [("VERY_LOW", "TextLoggerHook")],
    "after_run": [("VERY_LOW", "TextLoggerHook")],
}


def hooks_for(settings: Settings, world: int) -> dict:
    lr_hook = {"step": "StepLrUpdaterHook", "cosine": "CosineAnnealingLrUpdaterHook", "cyclic": "CyclicLrUpdaterHook"}[
        settings.schedule
    ]
    eval_hook = "DistEvalHook" if world > 1 else "EvalHook"
    table = {}
    for stage, hooks in HOOKS.items():
        renamed = [(p, lr_hook if n == "StepLrUpdaterHook" else eval_hook if n == "EvalHook" else n) for p, n in hooks]
        if world > 1 and stage in ("before_train_epoch", "before_val_epoch"):
            renamed.insert(1, ("NORMAL", "DistSamplerSeedHook"))
        table[stage] = renamed
    return table


def write_header(log, settings: Settings, model, config_text: str, env_info: str, world: int) -> None:
    """The records mmdet's train.py and mmcv's runner write before the first iteration."""
    log(environment_record(env_info))
    log(f"Distributed training: {world > 1}")
    log(f"Config:\n{config_text}")
    log(f"Set random seed to {settings.seed}, deterministic: False")
    log(f"Model:\n{model}")


def write_run_start(log, settings: Settings, world: int, work_dir: str) -> None:
    log(f"Start running, host: {host_info()}, work_dir: {work_dir}")
    log("Hooks will be executed in the following order:\n" + hook_table(hooks_for(settings, world)))
    log(f"workflow: [('train', 1)], max: {settings.epochs} epochs")
    log(f"Checkpoints will be saved to {work_dir} by HardDiskBackend.")


def run_evaluation(model, val_set, settings, device, logger, global_iter, epoch, lr, rank, checkpoint) -> dict:
    """Evaluate on rank 0, write the `Epoch(val)` record, then mark the epoch's checkpoint evaluated."""
    if rank != 0:
        return {}
    metrics = evaluate(model, val_set, settings.batch, device)
    logger.log_val(global_iter, epoch, lr, math.ceil(len(val_set) / settings.batch), metrics)
    if checkpoint is not None:
        mark_evaluated(checkpoint, metrics)
    return metrics


# -- the run --------------------------------------------------------------------------------
def train(
    settings: Settings, work_dir: str, resume_from: str | None = None, progress: bool | None = None
) -> TrainResult:
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
    optimizer = torch.optim.AdamW(
        model.param_groups(settings.lr, settings.weight_decay, settings.stem_lr_mult),
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        foreach=True,
    )
    start_epoch, global_iter, ckpt = 0, 0, None
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, device)
        start_epoch, global_iter = checkpoint_position(resume_from, ckpt["meta"], settings, iters_per_epoch)
        try:
            model.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise TrainingError(f"{resume_from}: does not fit these settings ({first_line(e)})") from None
    recorder = attention_recorder(model, settings)
    net = model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    timestamp = new_timestamp(work_dir) if rank == 0 else ""
    exp_name = f"bevdetr_{settings.preset}.py"
    logger = MMCVLogger(
        work_dir, timestamp, rank, settings.interval, max_iters, iters_per_epoch, exp_name, start_iter=global_iter
    )
    config_text = pretty_config(mmdet_config(settings, work_dir, world, device.type, iters_per_epoch, resume_from))
    env_info = environment_info(device.type) if rank == 0 else ""
    log = logger.text.info
    write_header(log, settings, model, config_text, env_info, world)
    meta = {"env_info": env_info, "config": config_text, "seed": settings.seed, "exp_name": exp_name}
    if ckpt is not None:
        log(f"load checkpoint from local path: {resume_from}")
        log(f"resumed epoch {start_epoch}, iter {global_iter}")
        meta["hook_msgs"] = {"last_ckpt": os.path.abspath(resume_from)}
    write_run_start(log, settings, world, work_dir)
    logger.before_run(meta)

    bar = ProgressBar(max_iters, enabled=progress if rank == 0 else False, initial=global_iter)
    train_seconds, trained_iters, metrics, lr = 0.0, 0, {}, schedule.lr(global_iter, start_epoch)
    if ckpt is not None and ckpt["meta"].get("eval_due") is True and not os.path.exists(evaluated_marker(resume_from)):
        # killed during the evaluation that follows this checkpoint: do it now, as the run would have
        last_lr = schedule.lr(global_iter - 1, start_epoch - 1)
        metrics = run_evaluation(
            model, val_set, settings, device, logger, global_iter, start_epoch, last_lr, rank, resume_from
        )
    memory = (lambda: max_memory_mb(device, world)) if device.type == "cuda" else None
    net.train()
    for epoch in range(start_epoch, settings.epochs):
        logger.before_epoch()
        # dropout draws from torch's generator: seed it per epoch so a resumed epoch repeats exactly
        torch.manual_seed(settings.seed * 1_000_003 + epoch)
        batches = rank_batches(epoch_order(len(train_set), settings.seed, epoch), settings.batch, rank, world)
        done = train_one_epoch(
            net,
            criterion,
            optimizer,
            train_set,
            batches,
            schedule,
            epoch,
            global_iter,
            settings.clip,
            device,
            logger,
            recorder,
            memory,
            on_iteration=lambda it, loss, e=epoch: bar.update(it, f"epoch {e + 1}/{settings.epochs} loss {loss:.3f}"),
        )
        global_iter, lr = done.global_iter, done.lr
        train_seconds += done.seconds
        trained_iters += done.iterations
        metrics = (
            end_of_epoch(
                model, optimizer, val_set, settings, device, logger, work_dir, epoch + 1, global_iter, lr, rank, world
            )
            or metrics
        )
    bar.close()
    logger.close()
    recorder.remove()
    samples = trained_iters * settings.batch * world
    return TrainResult(
        work_dir,
        logger.log_path,
        logger.json_path,
        world,
        device.type,
        settings.epochs,
        global_iter,
        trained_iters,
        train_seconds,
        samples / train_seconds if train_seconds else 0.0,
        metrics,
    )


def end_of_epoch(
    model, optimizer, val_set, settings, device, logger, work_dir, done, global_iter, lr, rank, world
) -> dict:
    """CheckpointHook then EvalHook after epoch `done` (1-based); the metrics when it evaluated."""
    eval_due = done % settings.eval_interval == 0 or done == settings.epochs
    checkpoint, metrics = None, {}
    if done % settings.checkpoint_interval == 0 or done == settings.epochs:
        if rank == 0:
            checkpoint = save_checkpoint(work_dir, model, optimizer, done, global_iter, settings, eval_due)
        logger.text.info(f"Saving checkpoint at {done} epochs")
    if eval_due:
        metrics = run_evaluation(model, val_set, settings, device, logger, global_iter, done, lr, rank, checkpoint)
    if world > 1:
        dist.barrier()
    return metrics
