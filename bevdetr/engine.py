"""One training epoch and one evaluation (facebookresearch/detr's engine.py, mmcv's hook order).

Per iteration: lr from the schedule (LrUpdaterHook), data (IterTimerHook's data_time), forward +
set losses, backward, grad clipping with the pre-clip norm logged (OptimizerHook), AdamW step,
the decoder's attention statistics (`attnstats.recorder`, the recorder users add to their own
runs), `time`, then the logger. On CUDA the forward runs under bf16 autocast.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from attnstats.recorder import AttentionRecorder
from bevdetr.boxes import encode_boxes
from bevdetr.data import SyntheticBEV, collate
from bevdetr.log import MMCVLogger
from bevdetr.metric import center_distance_map
from bevdetr.model import BEVDETR, decode_detections

METRIC_PREFIX = "bevdetr/"


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; nothing on CPU (bf16 matmuls there are slower, not faster)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device_targets(targets: list[dict], device: torch.device) -> list[dict]:
    """Add the 8-vector regression codes; move to the device."""
    return [
        {"labels": t["labels"].to(device), "boxes": t["boxes"].to(device), "codes": encode_boxes(t["boxes"]).to(device)}
        for t in targets
    ]


def reduce_log_vars(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """mmdet _parse_losses: detach, mean over ranks, .item()."""
    values = torch.stack([v.detach().float() for v in losses.values()])
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values.div_(dist.get_world_size()))
    return dict(zip(losses.keys(), values.tolist()))


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


@dataclass
class EpochResult:
    global_iter: int  # the run's iteration count after the epoch
    iterations: int  # iterations trained in the epoch
    seconds: float  # time in train steps (data included)
    lr: float  # the lr of the epoch's last iteration


def train_one_epoch(
    net,
    criterion,
    optimizer,
    dataset: SyntheticBEV,
    batches,
    schedule,
    epoch: int,
    global_iter: int,
    clip: float,
    device: torch.device,
    logger: MMCVLogger,
    recorder: AttentionRecorder,
    memory=None,
    on_iteration=None,
) -> EpochResult:
    """Train one epoch over `batches` (index arrays of this rank's samples).

    memory: a callable giving the max CUDA memory (MB) when a line is due, or None (CPU).
    on_iteration(global_iter, loss): after each iteration (the progress bar).
    """
    t, seconds, lr = time.time(), 0.0, schedule.lr(global_iter, epoch)
    for inner, indices in enumerate(batches):
        lr = schedule.lr(global_iter, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        grids, targets = collate([dataset[int(i)] for i in indices])
        grids, targets = grids.to(device, non_blocking=True), to_device_targets(targets, device)
        logger.update({"data_time": time.time() - t}, 1)
        log_vars = train_step(net, criterion, optimizer, grids, targets, clip, device)
        logger.update({k: v for k, v in log_vars.items() if k != "grad_norm"}, len(indices))
        if "grad_norm" in log_vars:
            logger.update({"grad_norm": log_vars["grad_norm"]}, len(indices))
        logger.update(recorder.pop(), len(indices))
        step_time = time.time() - t
        logger.update({"time": step_time}, 1)
        seconds += step_time
        t = time.time()
        due = (inner + 1) % logger.interval == 0
        logger.after_train_iter(global_iter, inner, epoch + 1, lr, memory() if memory and due else None)
        global_iter += 1
        if on_iteration:
            on_iteration(global_iter, log_vars["loss"])
    return EpochResult(global_iter, len(batches), seconds, lr)


@torch.no_grad()
def evaluate(model: BEVDETR, dataset: SyntheticBEV, batch: int, device: torch.device) -> dict[str, float]:
    """Final-layer detections on the val split -> centre-distance AP per class and mAP."""
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
    model.train(was_training)
    metrics = center_distance_map(preds, gts, dataset.cfg.class_names)
    return {METRIC_PREFIX + k: v for k, v in metrics.items()}
