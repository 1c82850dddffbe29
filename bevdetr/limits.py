"""Bounds on every bevdetr setting: the one table `Settings.validate` and `bevlog validate` check.

A setting can come from a user (`bevdetr train --queries ...`) or from a log (`bevlog validate`
regenerates a run from its `Config:` dump): `bevdetr = dict(queries=2e7, layers=64)` would
otherwise start trainings that allocate gigabytes. `check_settings` refuses a value outside its
range, of the wrong type, or not finite with one line naming the setting and where it came
from. The ranges are generous for a detector that trains on a CPU in minutes or on one GPU:
wider than any preset, far below what would exhaust memory. Lengths (epochs, samples) are
bounded too; `bevlog validate` also cuts them to its time budget.
"""

from __future__ import annotations

import math

# setting -> (kind, low, high); ints and floats inclusive
LIMITS = {
    "lr": ("float", 1e-8, 1e4),  # absurd lrs stay allowed: a diverging run is a thing to log
    "seed": ("int", 0, 2**31 - 1),
    "data_seed": ("int", 0, 2**31 - 1),
    "grid": ("int", 2, 256),
    "extent": ("float", 1.0, 1000.0),
    "num_classes": ("int", 3, 5),
    "min_objects": ("int", 1, 100),
    "max_objects": ("int", 1, 100),
    "difficulty": ("float", 0.0, 10.0),
    "val_samples": ("int", 1, 100_000),
    "min_lr_ratio": ("float", 0.0, 1.0),
    "checkpoint_interval": ("int", 1, 1000),
    "threads": ("int", 0, 1024),
    "layers": ("int", 1, 12),
    "queries": ("int", 1, 300),
    "batch": ("int", 1, 64),
    "epochs": ("int", 1, 1000),
    "train_samples": ("int", 1, 1_000_000),
    "warmup_iters": ("int", 0, 100_000),
    "clip": ("float", 0.0, 1e6),
    "gamma": ("float", 1e-6, 1.0),
    "weight_decay": ("float", 0.0, 1.0),
    "dropout": ("float", 0.0, 0.9),
    "stem_lr_mult": ("float", 0.0, 10.0),
    "interval": ("int", 1, 10_000),
    "eval_interval": ("int", 1, 1000),
    "target_ratio": ("float", 1e-3, 100.0),
    "warmup_ratio": ("float", 0.0, 1.0),
    "d_model": ("int", 4, 512),
    "dim_ff": ("int", 4, 2048),
    "nhead": ("int", 1, 16),
    "step_ratio_up": ("float", 1e-3, 1.0),
}
CHOICES = {"schedule": ("step", "cosine", "cyclic"), "device": ("auto", "cpu", "cuda")}
FLAGS = ("aux", "share_pe")
# what a preset is called (free text from a log: printed, never used to size anything)
TEXT = ("preset",)
MAX_STEPS = 10


class LimitError(ValueError):
    """A setting bevdetr refuses to train with; str() is one line."""


def check_settings(settings: dict, source: str) -> None:
    """Raise LimitError for the first setting outside its bounds. `source` says where it came from."""
    for name, value in settings.items():
        if name in LIMITS:
            kind, low, high = LIMITS[name]
            ok_type = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type or not math.isfinite(value):
                raise LimitError(f"{source}: {name}={_show(value)} is not a finite {kind}; refusing to train it")
            if not low <= value <= high:
                raise LimitError(f"{source}: {name}={_show(value)} is outside {low:g}..{high:g}; refusing to train it")
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise LimitError(f"{source}: {name}={_show(value)} is not one of {', '.join(CHOICES[name])}")
        elif name in FLAGS:
            if not isinstance(value, bool):
                raise LimitError(f"{source}: {name}={_show(value)} is not True or False")
        elif name == "steps":
            _check_steps(value, settings.get("epochs"), source)


def _check_steps(value, epochs, source: str) -> None:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_STEPS:
        raise LimitError(f"{source}: steps={_show(value)} is not a list of at most {MAX_STEPS} epochs")
    top = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else LIMITS["epochs"][2]
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= top:
            raise LimitError(f"{source}: steps={_show(value)} holds {_show(s)}, not an epoch in 0..{top}")


def _show(value) -> str:
    """A short, printable rendering of a value from a log (no control characters, ≤ 40 chars)."""
    text = repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."
