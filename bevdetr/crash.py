"""A test hook: die like `kill -9` at a named phase of a named epoch.

`BEVDETR_CRASH_AT=phase:epoch` (phase: train | checkpoint | eval; epoch 1-based) makes the
trainer call `os._exit(137)` — no cleanup, no flush beyond what is already on disk — in the
middle of that epoch's training, between writing that epoch's checkpoint and putting it in
place, or in the middle of its evaluation. The fault tests use it to kill a run at every
phase deterministically; unset, it does nothing.
"""
from __future__ import annotations

import os

PHASES = ("train", "checkpoint", "eval")


def crash_point(phase: str, epoch: int) -> None:
    spec = os.environ.get("BEVDETR_CRASH_AT")
    if spec and spec == f"{phase}:{epoch}":
        os._exit(137)
