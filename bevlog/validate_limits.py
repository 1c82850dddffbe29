"""Bounds on every setting `bevlog validate` takes from a log before it sizes a training.

A log is input, not a plan: `bevdetr = dict(queries=2e7, layers=64)` in a `Config:` dump (or a
header that claims 10^6 decoder layers) would otherwise start trainings that allocate
gigabytes. Every value that reaches bevdetr passes `check_settings` first; a value outside
its range, of the wrong type, or not finite is refused with one line naming the setting.
The ranges are generous for a proxy that trains on a CPU in minutes: wider than any preset,
far below what would exhaust memory.
"""
from __future__ import annotations

import math

# setting -> (kind, low, high); ints and floats inclusive
LIMITS = {
    "lr": ("float", 1e-8, 1.0),
    "layers": ("int", 1, 12),
    "queries": ("int", 1, 300),
    "batch": ("int", 1, 64),
    "epochs": ("int", 1, 100),
    "train_samples": ("int", 1, 100_000),
    "warmup_iters": ("int", 0, 100_000),
    "clip": ("float", 0.0, 1e6),
    "gamma": ("float", 1e-6, 1.0),
    "weight_decay": ("float", 0.0, 1.0),
    "dropout": ("float", 0.0, 0.9),
    "stem_lr_mult": ("float", 0.0, 10.0),
    "interval": ("int", 1, 10_000),
    "eval_interval": ("int", 1, 100),
    "target_ratio": ("float", 1e-3, 100.0),
    "warmup_ratio": ("float", 0.0, 1.0),
    "d_model": ("int", 4, 512),
    "dim_ff": ("int", 4, 2048),
    "nhead": ("int", 1, 16),
    "step_ratio_up": ("float", 1e-3, 1.0),
}
CHOICES = {"schedule": ("step", "cosine", "cyclic"), "attn": ("full", "width")}
FLAGS = ("aux", "share_pe")
MAX_STEPS = 10


class LimitError(ValueError):
    """A setting from the log that bevlog refuses to train with; str() is one line."""


def check_settings(settings: dict, source: str) -> None:
    """Raise LimitError for the first setting outside its bounds. `source` says where it came from."""
    for name, value in settings.items():
        if name in LIMITS:
            kind, low, high = LIMITS[name]
            ok_type = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type or not math.isfinite(value):
                raise LimitError(f"{source}: {name}={_show(value)} is not a finite {kind}; refusing to train it")
            if not low <= value <= high:
                raise LimitError(f"{source}: {name}={_show(value)} is outside {low:g}..{high:g}; "
                                 "refusing to train it")
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
