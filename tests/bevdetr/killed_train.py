"""`bevdetr train` that dies like `kill -9` at a chosen phase of a chosen epoch (the fault tests).

    python tests/bevdetr/killed_train.py PHASE:EPOCH bevdetr-train-arguments...

PHASE: `train` (after the logged iteration in the middle of the epoch), `checkpoint` (the
epoch's checkpoint written to its temporary file, not yet put in place) or `eval` (the epoch's
evaluation begun, its `Epoch(val)` record not written). The real trainer runs; this launcher
only wraps the functions at those points and calls `os._exit(137)` there — no cleanup, no flush
beyond what is on disk, as SIGKILL leaves a run. Production code carries no test hook.
"""

import os
import sys

import bevdetr.checkpoint
import bevdetr.engine
import bevdetr.log
import bevdetr.train
from bevdetr.cli import cli


def die():
    os._exit(137)


def arm(phase: str, epoch: int) -> None:
    if phase == "train":
        original = bevdetr.log.MMCVLogger.after_train_iter

        def after_train_iter(self, global_iter, inner_iter, epoch_1based, *args, **kwargs):
            out = original(self, global_iter, inner_iter, epoch_1based, *args, **kwargs)
            if epoch_1based == epoch and inner_iter + 1 == max(self.iters_per_epoch // 2, 1):
                die()
            return out

        bevdetr.log.MMCVLogger.after_train_iter = after_train_iter
    elif phase == "checkpoint":
        original_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if str(src).endswith(f"epoch_{epoch}.pth.tmp"):
                die()
            return original_replace(src, dst, *args, **kwargs)

        bevdetr.checkpoint.os.replace = replace
    elif phase == "eval":
        original_eval = bevdetr.train.evaluate
        calls = {"n": 0}

        def evaluate(model, dataset, batch, device):
            calls["n"] += 1
            if calls["n"] == epoch:  # evaluation every epoch: the n-th call is epoch n's
                die()
            return original_eval(model, dataset, batch, device)

        bevdetr.train.evaluate = evaluate
    else:
        raise SystemExit(f"unknown phase {phase!r}")


if __name__ == "__main__":
    phase, epoch = sys.argv[1].split(":")
    arm(phase, int(epoch))
    cli(sys.argv[2:])
