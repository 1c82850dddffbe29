"""The numbers of a comparison: one run's metric as a curve on the aligned axis, its row of
statistics (final, best, values at common checkpoints, noise, late slope, sparkline), the
checkpoints every run reached, and the verdict on a pair of runs.

`bevlog.compare` builds a `Comparison` from these for every run; `bevlog.groupcompare` turns it
into groups of seeded runs. Noise is the residual spread around a centred rolling median, also
given × √(total batch × logging interval): a row is a mean over batch × interval samples, so that
product makes runs of different batch comparable.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from bevlog.align import log_interval, total_batch
from bevlog.causes import cause_clause
from bevlog.smooth import residual_noise

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16
SLOPE_WINDOW = 0.1  # last 10% of the run's x span
NOUN = {"epochs": "epoch", "iters": "iteration", "samples": "sample count", "time": "hour"}


@dataclass
class Curve:
    """One run's metric on the aligned axis, sorted by x. `y` raw, `smooth` for display."""

    run: str
    x: object  # float ndarray
    y: object
    smooth: object
    source: str  # 'train' or 'evals'
    column: str


@dataclass
class Comparison:
    """One metric compared across runs: the table (`stats`), the common checkpoints,
    a verdict per run against the first one, and the curves behind them."""

    metric: str
    align: str
    weight: float
    higher_is_better: bool
    stats: object  # DataFrame, one row per run
    checkpoints: list = field(default_factory=list)  # every common checkpoint
    shown_checkpoints: list = field(default_factory=list)  # the columns the table shows
    verdicts: list = field(default_factory=list)
    curves: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # caveats about the axis and the metric, one sentence each
    groups: list = field(default_factory=list)  # bevlog.groups.Group, every run in one (alone: n=1)
    group_stats: object = None  # DataFrame, one row per group when some group has n ≥ 2, else None
    differences: list = field(default_factory=list)  # per unit after the first: dict (groupcompare)
    totals_differ: bool = False  # a total loss summing different terms in different runs

    @property
    def smoothed(self) -> bool:
        """final/best/@ values are EMA-smoothed (train columns); evaluations are as logged."""
        return self.weight > 0 and any(c is not None and c.source == "train" for c in self.curves)


def run_stats(run, label, curve, align, checkpoints, better_high, overrides, spark_range, spark_x) -> dict:
    """One table row: batch, lr, lr/sample, rows, final, best, @checkpoints, noise, slope, curve."""
    batch = total_batch(run, overrides)
    lr = _base_lr(run)
    interval = log_interval(run)
    row = {
        "run": label,
        "batch": batch,
        "lr": lr,
        "lr_per_sample": lr / batch if lr and batch else None,
        "interval": interval,
        "iters_per_epoch": iters_per_epoch(run),
        "rows": 0,
        "final": None,
        "best": None,
        "best_at": None,
    }
    for c in checkpoints:
        row[f"@{fmt_x(c, align)}"] = None
    row.update(noise=None, noise_norm=None, slope=None, curve="")
    if curve is None or not len(curve.x):
        return row
    finite = np.isfinite(curve.smooth)
    row["rows"] = int(np.isfinite(curve.y).sum())
    if finite.any():
        xs, ss = curve.x[finite], curve.smooth[finite]
        row["final"] = float(ss[-1])
        i = int(np.argmax(ss) if better_high else np.argmin(ss))
        row["best"], row["best_at"] = float(ss[i]), float(xs[i])
        for c in checkpoints:
            row[f"@{fmt_x(c, align)}"] = value_at(curve, c)
    if curve.source == "train":
        half = curve.x >= curve.x[0] + (curve.x[-1] - curve.x[0]) / 2
        noise = residual_noise(curve.y[half])
        if math.isfinite(noise):
            row["noise"] = noise
            if batch and interval:
                row["noise_norm"] = noise * math.sqrt(batch * interval)
    row["slope"] = last_slope(curve)
    row["curve"] = sparkline(curve, spark_range, spark_x)
    return row


def iters_per_epoch(run):
    """Optimizer steps per epoch as the log states them (None for iteration runners that do not)."""
    ipe = run.meta.iters_per_epoch
    return int(ipe) if _ok(ipe) and ipe > 0 else None


def value_at(curve: Curve, x: float):
    """Smoothed value at x (linear between the neighbouring rows), None outside the curve."""
    finite = np.isfinite(curve.smooth)
    xs, ss = curve.x[finite], curve.smooth[finite]
    if not len(xs) or x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, ss))


def last_slope(curve: Curve):
    """Least-squares slope of the raw values over the last 10% of the x span (≥ 5 points)."""
    finite = np.isfinite(curve.y)
    xs, ys = curve.x[finite], curve.y[finite]
    if len(xs) < 3 or xs[-1] <= xs[0]:
        return None
    start = xs[-1] - SLOPE_WINDOW * (xs[-1] - xs[0])
    window = xs >= start
    if window.sum() < 5:
        window = np.zeros(len(xs), bool)
        window[-min(5, len(xs)) :] = True
    if np.ptp(xs[window]) == 0:
        return None
    return float(np.polyfit(xs[window], ys[window], 1)[0])


def sparkline(curve: Curve, y_range, x_range, width: int = SPARK_WIDTH) -> str:
    """The smoothed curve as block characters on a grid shared by all runs (blank = not reached)."""
    lo, hi = y_range
    x0, x1 = x_range
    finite = np.isfinite(curve.smooth)
    xs, ss = curve.x[finite], curve.smooth[finite]
    if not len(xs) or not (math.isfinite(lo) and math.isfinite(hi)) or x1 <= x0:
        return ""
    edges = np.linspace(x0, x1, width + 1)
    chars = []
    for a, b in zip(edges[:-1], edges[1:]):
        inside = (xs >= a) & (xs <= b)
        if inside.any():
            v = float(np.mean(ss[inside]))
        elif xs[0] <= (a + b) / 2 <= xs[-1]:  # sparse curve (evaluations): interpolate
            v = float(np.interp((a + b) / 2, xs, ss))
        else:
            chars.append(" ")
            continue
        level = 0 if hi <= lo else int(round((v - lo) / (hi - lo) * (len(SPARK) - 1)))
        chars.append(SPARK[min(max(level, 0), len(SPARK) - 1)])
    return "".join(chars).rstrip()


def common_checkpoints(curves, align: str) -> list[float]:
    """x values every curve reached: each epoch (or evaluation point), else a round grid."""
    if not curves:
        return []
    if all(c.source == "evals" for c in curves):
        common = set(np.round(curves[0].x, 6))
        for c in curves[1:]:
            common &= set(np.round(c.x, 6))
        return sorted(float(v) for v in common)
    start = max(float(c.x[0]) for c in curves)
    end = min(float(c.x[-1]) for c in curves)
    if end <= start:
        return []
    if align == "epochs":
        points = [float(e) for e in range(max(1, math.ceil(start)), math.floor(end) + 1)]
    else:
        step = nice_step((end - start) / 8)
        first = math.ceil(start / step) * step
        points = [float(v) for v in np.arange(first, end + step * 1e-9, step) if v > 0]
    # the end of the common range is where the runs are compared last: runs that end at the
    # same sample count (or epoch, or hour) off the grid are compared there too
    if not points or end - points[-1] > 1e-9 * max(1.0, abs(end)):
        points.append(float(end))
    return points


def nice_step(raw: float) -> float:
    """1, 2 or 5 × a power of ten, at least `raw`."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def pick_columns(checkpoints: list[float], n: int) -> list[float]:
    """At most n checkpoints, evenly spread, always keeping the last."""
    if len(checkpoints) <= n:
        return list(checkpoints)
    idx = [round(i * (len(checkpoints) - 1) / (n - 1)) for i in range(n)]
    return [checkpoints[i] for i in sorted(set(idx))]


def pair_verdict(comp: Comparison, a: int, b: int, runs=None) -> str:
    """One sentence: where run b is lower/higher than run a, the likely cause the settings
    show (`bevlog.causes`, when `runs` are given), and how their row-to-row noise compares.

    Differences within a tolerance (half the larger noise, at least 0.1% of the value) are
    ties, so two logs of one run never read as one beating the other.
    """
    stats, curves = comp.stats, comp.curves
    name_a, name_b = stats["run"].iloc[a], stats["run"].iloc[b]
    ca, cb = curves[a], curves[b]
    noun = NOUN[comp.align]
    if ca is None or cb is None:
        missing = name_a if ca is None else name_b
        return f"{name_b} vs {name_a}: {missing} has no {comp.metric}"
    # the checkpoints of this pair: a third, shorter run does not cut their comparison short
    pair_points = common_checkpoints([c for c in (ca, cb) if len(c.x)], comp.align)
    points = [x for x in pair_points if value_at(ca, x) is not None and value_at(cb, x) is not None]
    if not points:
        return f"{name_b} vs {name_a}: no common {noun} to compare at"
    noises = [v for v in (stats["noise"].iloc[a], stats["noise"].iloc[b]) if _ok(v)]
    signs = []
    for x in points:
        va, vb = value_at(ca, x), value_at(cb, x)
        tol = max(0.5 * max(noises) if noises else 0.0, 1e-3 * abs(va))
        signs.append(0 if abs(vb - va) <= tol else (1 if vb > va else -1))
    last = signs[-1]
    start = len(signs) - 1
    while start > 0 and signs[start - 1] == last:
        start -= 1
    word = {1: "higher", -1: "lower", 0: "level with"}[last]
    if all(sg == 0 for sg in signs):
        text = f"{name_b} matches {name_a} at every common {noun}"
    elif last == 0:
        text = f"{name_b} ends level with {name_a}"
    elif start == 0:
        text = f"{name_b} is {word} than {name_a} at every common {noun}"
    else:
        text = f"{name_b} is {word} than {name_a} at every common {noun} from {fmt_x(points[start], comp.align)} on"
    va, vb = value_at(ca, points[-1]), value_at(cb, points[-1])
    rel = f", {100 * (vb - va) / abs(va):+.1f}%" if va else ""
    text += f" ({fmt_x(points[-1], comp.align)}: {fmt_value(vb)} vs {fmt_value(va)}{rel})"
    if runs is not None:
        worse = None if last == 0 else (last == 1) != comp.higher_is_better
        cause = cause_clause(runs[a], runs[b], stats.iloc[a], stats.iloc[b], comp.align, worse, comp.totals_differ)
        if cause:
            text += f"; {cause}"
    noise = noise_clause(stats.iloc[a], stats.iloc[b])
    return text + (f"; {noise}" if noise else "")


def noise_clause(ra, rb) -> str:
    """'row-to-row noise: b20 0.041 vs b8 0.052 (0.79×); 1.25× the samples per logged row
    alone would give 0.89×'.

    A logged row is a mean over batch × interval samples, so its noise should fall with the
    square root of that product; the clause gives both runs' figures and the ratio that the
    averaging alone predicts, so it cannot be read the wrong way round.
    """
    na, nb = ra["noise"], rb["noise"]
    if not _ok(na) or not _ok(nb) or na <= 0 or nb <= 0:
        return ""
    ratio = nb / na
    text = (
        f"row-to-row noise: {rb['run']} {_g3(nb)} vs {ra['run']} {_g3(na)} "
        f"({'about equal' if abs(math.log(ratio)) < math.log(1.1) else f'{ratio:.2g}×'})"
    )
    if not all(_ok(v) for v in (ra["batch"], rb["batch"], ra["interval"], rb["interval"])):
        return text
    factor = (rb["batch"] * rb["interval"]) / (ra["batch"] * ra["interval"])
    if abs(factor - 1) < 1e-9:
        return text + " at the same batch × logging interval"
    expected = 1 / math.sqrt(factor)
    agrees = abs(math.log(ratio / expected)) < math.log(1.25)
    return (
        text
        + f"; {factor:.3g}× the samples per logged row alone would give {expected:.2g}×"
        + (", as measured" if agrees else "")
    )


def _g3(v) -> str:
    return f"{v:.3g}"


def fmt_x(x: float, align: str) -> str:
    if align == "epochs":
        return f"ep{x:g}"
    if align == "time":
        return f"{x:g}h"
    return _si(x)


def fmt_value(v) -> str:
    if not _ok(v):
        return "–"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.4g}"


def _si(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:g}"


def _ok(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _base_lr(run):
    lr = run.meta.get("lr")
    if _ok(lr) and lr > 0:
        return float(lr)
    if "lr" in run.train and run.train["lr"].notna().any():
        return float(run.train["lr"].max())
    return None


def y_range(curves):
    vals = [c.smooth[np.isfinite(c.smooth)] for c in curves]
    vals = [v for v in vals if len(v)]
    if not vals:
        return math.nan, math.nan
    allv = np.concatenate(vals)
    return float(allv.min()), float(allv.max())


def x_range(curves):
    xs = [c.x for c in curves if len(c.x)]
    if not xs:
        return math.nan, math.nan
    return float(min(x[0] for x in xs)), float(max(x[-1] for x in xs))
