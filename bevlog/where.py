"""Where is this finding: the one formatter of places in a run.

Two ways to say one place: bevlog's own axis ("epoch 5.3", "iters 1,200–4,000"), which every
runner shares, and the log's own terms ("Epoch [6][1050/3750]", "Iter [1200/90000]"), which a
user can search the log for. Rules describe rows with `rows_text`; a finding carries both (its
steps and epochs, and `Finding.at`); every output format prints `finding_where`.
"""
from __future__ import annotations

from bevlog.findings import is_number as _finite


def axis_text(step, epoch_f, iter_runner: bool) -> str:
    """'5.3' on an epoch axis, '1,200' on an iteration axis (no unit). A place inside the first
    twentieth of the first epoch keeps its first significant digit ('0.01', '0.003'): "epoch 0.0"
    would put iteration 300 of a 30,045-iteration epoch at the very start."""
    if not iter_runner and _finite(epoch_f):
        if 0 < epoch_f < 0.05:
            return f"{epoch_f:.2f}" if epoch_f >= 0.005 else f"{epoch_f:.3f}"
        return f"{epoch_f:.1f}"
    return f"{int(step):,}" if _finite(step) else "?"


def span_text(first: tuple, last: tuple | None, iter_runner: bool) -> str:
    """'epoch 6.2', 'epochs 6.2–9.8', 'iter 1,200', 'iters 1,200–4,000' from (step, epoch_f) pairs."""
    unit = "epoch" if not iter_runner and _finite(first[1]) else "iter"
    a = axis_text(first[0], first[1], unit == "iter")
    b = axis_text(last[0], last[1], unit == "iter") if last is not None else a
    return f"{unit} {a}" if a == b else f"{unit}s {a}–{b}"


def log_terms(epoch, it, iters_per_epoch, step, runner: str | None, library: str | None = None,
              max_iters=None) -> str | None:
    """The place as the log writes it: 'Epoch [6][1050/3750]' (mmengine: 'Epoch(train) [6][1050/3750]'),
    'Iter [1200/90000]'; None when the row does not say."""
    if runner == "iter" and _finite(step):
        total = f"/{int(max_iters)}" if _finite(max_iters) else ""
        return f"{'Iter(train)' if library == 'mmengine' else 'Iter'} [{int(step)}{total}]"
    if _finite(epoch) and _finite(it):
        per = f"/{int(iters_per_epoch)}" if _finite(iters_per_epoch) else ""
        return f"{'Epoch(train)' if library == 'mmengine' else 'Epoch'} [{int(epoch)}][{int(it)}{per}]"
    if _finite(epoch):
        return f"epoch {int(epoch)}"
    return None


def at_text(first: str | None, last: str | None) -> str | None:
    """'Epoch [6][1050/3750]' or 'Epoch [6][1050/3750]–[9][50/3750]' (the word once)."""
    if first is None:
        return last
    if last is None or last == first:
        return first
    word = first.split(" [")[0]
    if last.startswith(word + " ["):
        last = last[len(word) + 1:]
    return f"{first}–{last}"


def finding_where(finding, runner: str | None, sep: str = " · ") -> str:
    """The where column: 'epochs 6.2–9.8 · Epoch [6][1050/3750]–[9][50/3750]', 'iter 1,200 · Iter [1200/9000]',
    or 'whole run' (`sep` "\n" puts the log's own terms on a line of their own)."""
    if finding.start_step is None:
        return "whole run"
    iter_runner = runner == "iter" or finding.start_epoch is None
    last = (finding.end_step, finding.end_epoch) if finding.end_step is not None else None
    text = span_text((finding.start_step, finding.start_epoch), last, iter_runner)
    return f"{text}{sep}{finding.at}" if finding.at else text
