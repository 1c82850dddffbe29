"""Checkpoints as mmcv's CheckpointHook writes them, and the checks a resume makes.

`epoch_N.pth` (`torch.save` of `{"meta", "state_dict", "optimizer"}`) and a `latest.pth`
symlink, each replaced atomically; read back with `torch.load(weights_only=True)`, so a
checkpoint can hold tensors and plain containers, never code. `epoch_N.evaluated` marks an
epoch whose `Epoch(val)` record is in the log (a resume evaluates first when it is missing).
"""

from __future__ import annotations

import json
import os
import time

import torch

from bevdetr import __version__
from bevdetr.errors import TrainingError, first_line
from bevdetr.presets import Settings


def save_checkpoint(
    work_dir: str, model, optimizer, epoch: int, global_iter: int, settings: Settings, eval_due: bool = False
) -> str:
    """`epoch_<N>.pth` (state dicts + meta) and a `latest.pth` symlink, each replaced atomically.

    eval_due: this epoch's evaluation comes after the checkpoint (mmcv's order); until its
    `Epoch(val)` record is written (`mark_evaluated`), a resume from here evaluates first.
    """
    path = os.path.join(work_dir, f"epoch_{epoch}.pth")
    state = {
        "meta": {
            "bevdetr_version": __version__,
            "time": time.asctime(),
            "epoch": epoch,
            "iter": global_iter,
            "eval_due": eval_due,
            "settings": settings.to_dict(),
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
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
    return (real[: -len(".pth")] if real.endswith(".pth") else real) + ".evaluated"


def mark_evaluated(checkpoint: str, metrics: dict) -> None:
    marker = evaluated_marker(checkpoint)
    with open(marker + ".tmp", "w", encoding="utf-8") as f:
        json.dump(metrics, f)
    os.replace(marker + ".tmp", marker)


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
        raise TrainingError(f"{path}: not a readable bevdetr checkpoint ({first_line(e)})") from None
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
        raise TrainingError(
            f"{path}: checkpoint at epoch {epoch}, iter {it} does not fit these settings "
            f"({iters_per_epoch} iterations per epoch)"
        )
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
