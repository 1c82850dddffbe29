"""Where is this finding: the one formatter of places in a run.

Two ways to say one place: bevlog's own axis ("epoch 5.3", "iters 1,200–4,000"), which every
runner shares, and the log's own terms, which a user can search the log for. Each format writes
places its own way, and the log's terms are written as it writes them:

- mmcv `Epoch [6][1050/3750]`, `Iter [1200/90000]`; mmengine `Epoch(train) [6][1050/3750]`;
- DETR's MetricLogger console `Epoch: [7]  [ 9500/30953]` (epochs and iterations counted from 0,
  the iteration padded to the width of the total, two spaces between);
- a DETR-style `log.txt` holds one row per epoch: `epoch 249` (counted from 0);
- detectron2 (metrics.json and its console) `iter: 1999`; TensorBoard `step 1999`.

`Meta.epoch_base` says where the log starts counting epochs (DETR: 0; the frames always count from
1), so the log's epoch is `epoch - 1 + base`. `Meta.step_unit == "epoch"` says a row is a whole epoch
(no iterations): places, windows and intervals are then epochs, never "iters" (`steps_text`).

Rules describe rows with `rows_text`; a finding carries both (its steps and epochs with `span`, and
`Finding.at`); every output format prints `finding_where`.
"""

from __future__ import annotations

from bevlog.findings import is_number as _finite

# ---- bevlog's axis ---------------------------------------------------------------------------


def axis_text(step, epoch_f, iter_runner: bool) -> str:
    """'5.3' on an epoch axis, '1,200' on an iteration axis (no unit). A place inside the first
    twentieth of the first epoch keeps its first significant digit ('0.01', '0.003'): "epoch 0.0"
    would put iteration 300 of a 30,045-iteration epoch at the very start."""
    if not iter_runner and _finite(epoch_f):
        if 0 < epoch_f < 0.05:
            return f"{epoch_f:.2f}" if epoch_f >= 0.005 else f"{epoch_f:.3f}"
        return f"{epoch_f:.1f}"
    return f"{int(step):,}" if _finite(step) else "?"


def epoch_label(epoch, epoch_base=None) -> str:
    """A whole epoch as the log counts it: the frames' epoch e (counted from 1) is the log's
    e - 1 + base ('249' for DETR's last row of a 250-epoch stretch); '?' when unknown."""
    if not _finite(epoch):
        return "?"
    e = int(round(epoch))
    return str(e - 1 + epoch_base if epoch_base is not None else e)


def span_text(
    first: tuple, last: tuple | None, iter_runner: bool, step_unit: str = "iteration", epoch_base=None
) -> str:
    """'epoch 6.2', 'epochs 6.2–9.8', 'iter 1,200', 'iters 1,200–4,000' from (step, epoch_f) pairs.
    Rows that are whole epochs (`step_unit` "epoch") are named by the log's own epoch: 'epoch 249',
    'epochs 200–249'."""
    if step_unit == "epoch":
        a = epoch_label(first[1] if _finite(first[1]) else first[0], epoch_base)
        b = epoch_label(last[1] if _finite(last[1]) else last[0], epoch_base) if last is not None else a
        return f"epoch {a}" if a == b else f"epochs {a}–{b}"
    unit = "epoch" if not iter_runner and _finite(first[1]) else "iter"
    a = axis_text(first[0], first[1], unit == "iter")
    b = axis_text(last[0], last[1], unit == "iter") if last is not None else a
    return f"{unit} {a}" if a == b else f"{unit}s {a}–{b}"


def steps_text(n, step_unit: str = "iteration") -> str:
    """A length on the step axis: '2,001 iters', '5 epochs' (rows of whole epochs), '1 epoch'."""
    n = int(n)
    if step_unit == "epoch":
        return f"{n:,} epoch{'' if n == 1 else 's'}"
    return f"{n:,} iter{'' if n == 1 else 's'}"


# ---- the log's own terms ---------------------------------------------------------------------


def log_terms(meta, epoch, it, iters_per_epoch, step) -> str | None:
    """The place of one row as the log writes it (see the module docstring); None when the row
    does not say. `epoch` and `it` are the frames' (counted from 1)."""
    fmt = str(getattr(meta, "format", None) or "")
    library = getattr(meta, "library", None)
    base = getattr(meta, "epoch_base", None)
    if getattr(meta, "step_unit", "iteration") == "epoch":
        return f"epoch {epoch_label(epoch, base)}" if _finite(epoch) else None
    if library == "detectron2":
        return f"iter: {int(step)}" if _finite(step) else None
    if library == "tensorboard" or fmt.startswith("tfevents"):
        return f"step {int(step)}" if _finite(step) else None
    if library == "detr" and base is not None:
        if not (_finite(epoch) and _finite(it)):
            return f"Epoch: [{epoch_label(epoch, base)}]" if _finite(epoch) else None
        i = int(it) - 1 + base
        if _finite(iters_per_epoch):
            width = len(str(int(iters_per_epoch)))
            return f"Epoch: [{epoch_label(epoch, base)}]  [{i:>{width}}/{int(iters_per_epoch)}]"
        return f"Epoch: [{epoch_label(epoch, base)}]  [{i}]"
    if getattr(meta, "runner", None) == "iter" and _finite(step):
        max_iters = getattr(meta, "max_iters", None)
        total = f"/{int(max_iters)}" if max_iters is not None and _finite(max_iters) else ""
        return f"{'Iter(train)' if library == 'mmengine' else 'Iter'} [{int(step)}{total}]"
    word = "Epoch(train)" if library == "mmengine" else "Epoch"
    if _finite(epoch) and _finite(it):
        per = f"/{int(iters_per_epoch)}" if _finite(iters_per_epoch) else ""
        return f"{word} [{epoch_label(epoch, base)}][{int(it)}{per}]"
    if _finite(epoch):
        return f"epoch {epoch_label(epoch, base)}"
    return None


def at_text(first: str | None, last: str | None) -> str | None:
    """'Epoch [6][1050/3750]–[9][50/3750]', 'Epoch: [7]  [ 9500/30953]–[7]  [ 9600/30953]',
    'iter: 19–39', 'epochs 200–249' (the word once)."""
    if first is None:
        return last
    if last is None or last == first:
        return first
    for word in ("Epoch(train) ", "Epoch: ", "Epoch ", "Iter(train) ", "Iter ", "iter: ", "step "):
        if first.startswith(word) and last.startswith(word):
            return f"{first}–{last[len(word) :]}"
    if first.startswith("epoch ") and last.startswith("epoch "):
        return f"epochs {first[len('epoch ') :]}–{last[len('epoch ') :]}"
    return f"{first}–{last}"


def finding_where(finding, runner: str | None, sep: str = " · ") -> str:
    """The where column: 'epochs 6.2–9.8 · Epoch [6][1050/3750]–[9][50/3750]', 'iter 1,200 · Iter [1200/9000]',
    'epochs 200–249' (a row per epoch: the log's own terms already), or 'whole run' (`sep` "\n" puts the
    log's own terms on a line of their own). A finding made by the rules carries its `span`, written
    with the run's own units; the runner is the fallback for one that does not."""
    if finding.start_step is None:
        return "whole run"
    text = getattr(finding, "span", None)
    if not text:
        iter_runner = runner == "iter" or finding.start_epoch is None
        last = (finding.end_step, finding.end_epoch) if finding.end_step is not None else None
        text = span_text((finding.start_step, finding.start_epoch), last, iter_runner)
    return f"{text}{sep}{finding.at}" if finding.at and finding.at != text else text
