"""Put runs on one x axis: fractional epochs, global iterations, samples seen, or wall time.

Runs with different batch sizes, logging intervals and resume histories are only
comparable on a shared axis; raw iterations mislead as soon as batches differ. Every
function here returns x values for rows of a Run frame and never drops a row.
"""

from __future__ import annotations

import numpy as np

ALIGNS = ("epochs", "iters", "samples", "time")

# Axis titles, and the short unit used in column headers ("@ep2", "slope/ep").
AXIS_TITLE = {
    "epochs": "epoch",
    "iters": "iteration",
    "samples": "samples seen",
    "time": "wall time (h)",
}
UNIT = {"epochs": "ep", "iters": "it", "samples": "smp", "time": "h"}


class AlignError(ValueError):
    """A run cannot be put on the requested axis; str() says which run and how to fix it."""


def parse_batch_overrides(items) -> dict[str, int]:
    """`("b8=8", "run=20")` from repeated `--batch RUN=N` -> {"b8": 8, "run": 20}."""
    out: dict[str, int] = {}
    for item in items or ():
        name, sep, value = item.rpartition("=")
        try:
            batch = int(value)
        except ValueError:
            batch = 0
        if not sep or not name or batch <= 0:
            raise AlignError(f"--batch {item!r}: expected RUN=N with N a positive integer")
        out[name] = batch
    return out


def overrides_for(runs, labels, overrides: dict[str, int]) -> dict[str, int]:
    """--batch names a run by its name or by its display label; key the result by run name.
    AlignError when a name matches no run."""
    out = dict(overrides)
    for run, label in zip(runs, labels):
        if label in overrides and run.name not in overrides:
            out[run.name] = overrides[label]
    known = {r.name for r in runs} | set(labels)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AlignError(f"--batch: no run named {', '.join(unknown)}; runs are: {', '.join(labels)}")
    return out


def total_batch(run, overrides: dict[str, int] | None = None) -> int | None:
    """Total batch (samples per optimizer step over all GPUs): the override, else the log's."""
    if overrides and run.name in overrides:
        return int(overrides[run.name])
    batch = run.meta.get("total_batch")
    return int(batch) if batch else None


def require_batch(run, overrides: dict[str, int] | None = None) -> int:
    batch = total_batch(run, overrides)
    if batch is None:
        raise AlignError(
            f"run {run.name}: the log does not say its total batch, so it cannot be aligned "
            f"by samples; pass --batch {run.name}=N (N = GPUs × samples per GPU)"
        )
    return batch


def train_x(run, align: str, overrides: dict[str, int] | None = None):
    """x value of every row of `run.train` (a float ndarray, NaN where unknown)."""
    _check(align)
    return frame_x(run, run.train, align, overrides)


def frame_x(run, frame, align: str, overrides: dict[str, int] | None = None):
    """x values for the rows of a frame holding `step` (and `epoch_f`): `train` or `layers`."""
    _check(align)
    step = frame["step"].to_numpy(dtype=float)
    if align == "iters":
        return step
    if align == "epochs":
        if "epoch_f" in frame:
            return frame["epoch_f"].to_numpy(dtype=float)
        return step_to_x(run, step, "epochs", overrides)
    if align == "samples":
        return step * require_batch(run, overrides)
    # time: hours since the run started, looked up by step in the train frame
    if frame is run.train:
        return run.train["wall_s"].to_numpy(dtype=float) / 3600.0
    return step_to_x(run, step, "time", overrides) if len(step) else np.array([], dtype=float)


def without_epochs(runs) -> list[str]:
    """Names of the runs that have train rows but no fractional epoch on any of them
    (iteration-based logs that never say how many iterations make an epoch)."""
    return [
        run.name for run in runs if len(run.train) and not np.isfinite(run.train["epoch_f"].to_numpy(dtype=float)).any()
    ]


def step_to_x(run, steps, align: str, overrides: dict[str, int] | None = None):
    """Global steps (any, e.g. an evaluation's or a finding's) -> x on the chosen axis.

    Epochs and time are interpolated along the run's own train rows (so resumes and
    changing iters-per-epoch are honoured); past the last row epochs extrapolate with
    the last iters-per-epoch, and time holds its last value.
    """
    _check(align)
    steps = np.asarray(steps, dtype=float)
    if align == "iters":
        return steps
    if align == "samples":
        return steps * require_batch(run, overrides)
    train = run.train
    ref_step = train["step"].to_numpy(dtype=float)
    if align == "epochs":
        ref_x = train["epoch_f"].to_numpy(dtype=float)
    else:
        ref_x = train["wall_s"].to_numpy(dtype=float) / 3600.0
    ok = np.isfinite(ref_step) & np.isfinite(ref_x)
    ref_step, ref_x = ref_step[ok], ref_x[ok]
    if not len(ref_step):
        if align == "epochs":
            ipe = run.meta.get("iters_per_epoch")
            return steps / ipe if ipe else np.full(steps.shape, np.nan)
        return np.full(steps.shape, np.nan)
    order = np.argsort(ref_step, kind="stable")
    ref_step, ref_x = ref_step[order], ref_x[order]
    x = np.interp(steps, ref_step, ref_x)
    if align == "epochs":
        ipe = _last_iters_per_epoch(run)
        if ipe:
            past, before = steps > ref_step[-1], steps < ref_step[0]
            x[past] = ref_x[-1] + (steps[past] - ref_step[-1]) / ipe
            x[before] = ref_x[0] + (steps[before] - ref_step[0]) / ipe
    x[~np.isfinite(steps)] = np.nan
    return x


def evals_x(run, align: str, overrides: dict[str, int] | None = None):
    """x of every row of `run.evals`.

    An evaluation after epoch E sits at x = E on the epoch axis (E epochs are done);
    otherwise its global step is converted like any other step.
    """
    _check(align)
    evals = run.evals
    if not len(evals):
        return np.array([], dtype=float)
    step = evals["step"].to_numpy(dtype=float)
    epoch = evals["epoch"].to_numpy(dtype=float)
    if align == "epochs" and run.meta.get("runner") != "iter":
        known = np.isfinite(epoch)
        x = np.where(known, epoch, np.nan)
        if (~known).any():
            x[~known] = step_to_x(run, step[~known], align, overrides)
        return x
    missing = ~np.isfinite(step)
    if missing.any():
        ipe = run.meta.get("iters_per_epoch")
        step = step.copy()
        step[missing] = epoch[missing] * ipe if ipe else np.nan
    return step_to_x(run, step, align, overrides)


def log_interval(run) -> float | None:
    """Iterations between two logged rows (the median step difference), e.g. 50."""
    step = run.train["step"].to_numpy(dtype=float)
    diffs = np.diff(step[np.isfinite(step)])
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if len(diffs) else None


def _last_iters_per_epoch(run):
    ipe = run.train["iters_per_epoch"] if "iters_per_epoch" in run.train else None
    if ipe is not None:
        ipe = ipe.dropna()
        if len(ipe):
            return float(ipe.iloc[-1])
    value = run.meta.get("iters_per_epoch")
    return float(value) if value else None


def _check(align: str) -> None:
    if align not in ALIGNS:
        raise AlignError(f"unknown alignment {align!r}; choose one of {', '.join(ALIGNS)}")
