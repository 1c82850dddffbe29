"""The lr schedule of a run, modelled once from its config AND its logged lr.

Every rule that reads the lr asks this model instead of guessing from the curve:
"is this lr change the schedule's?" (`Schedule.classify`), "what is the peak lr?"
(`Schedule.peak_lr`), "is warmup over at row i?" (`warmup_end`, honest on a live log whose lr
is still ramping; `Schedule.warmup_end_row` for a finished one).

What it knows (mmcv 1.x `lr_config` hooks and mmengine `param_scheduler` lists):
- warmup: linear / constant / exp over `warmup_iters` (mmcv), or a LinearLR / ConstantLR /
  ExponentialLR phase that ends before the main one (mmengine, by iteration or by epoch);
- the main policy: step, multistep, cosine (CosineAnnealing, CosineAnnealingLR), poly, exp,
  cyclic (mmcv `policy='cyclic'`: the lr climbs from the base lr to base × target_ratio[0]
  over step_ratio_up of the run, then anneals), OneCycle (`max_lr`), flat+cosine, restarts;
- by epoch or by iteration: mmcv's CosineAnnealing / Poly / Exp hooks update once per epoch by
  default (`by_epoch=True`), so the logged lr is a staircase whose treads change at epoch
  boundaries — a curve sampled per epoch, not a step decay. mmengine schedulers are by epoch
  unless `by_epoch=False` or `convert_to_iter_based=True`;
- resumes: the rows where a new segment (a resumed log) starts are boundaries, and an lr
  change across one is the resume's, not an event of the training;
- without a config, the logged lr alone: a climb to its first peak is a warmup, a decrease at
  every epoch boundary for `STAIRCASE_MIN_TREADS` epochs in a row is a by-epoch curve, more than
  `CONTINUOUS_MIN_LEVELS` distinct levels after warmup is a continuous schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bevlog.findings import is_number
from parsers import segment_starts

# Policies whose lr follows a curve (sampled per epoch or per iteration), never a step decay.
CONTINUOUS = ("cosine", "poly", "exp", "inv", "cyclic", "onecycle", "linear", "flat")
# A decrease at this many consecutive epoch boundaries is a by-epoch curve, not a step schedule:
# step schedules change at a few chosen epochs (8 and 11 of 12), never at three in a row.
STAIRCASE_MIN_TREADS = 3
# More distinct lr levels after warmup than this is a continuous schedule (a step schedule has 2-4).
CONTINUOUS_MIN_LEVELS = 7
# A logged lr within this fraction of its peak has reached it (the end of an lr-inferred warmup).
PEAK_REACHED = 0.98
# An lr-inferred warmup starts below this fraction of the early peak.
WARMUP_START_BELOW = 0.9
# On a live log, an lr-inferred warmup is over only once the lr has stayed at its peak this many rows:
# a log cut while the lr still ramps must not read as "warmup ended".
LIVE_SETTLED_ROWS = 3
# mmcv CyclicLrUpdaterHook defaults (target_ratio=(10, 1e-4), step_ratio_up=0.4).
CYCLIC_TARGET_RATIO = 10.0
CYCLIC_STEP_RATIO_UP = 0.4
# OneCycle defaults (torch / mmcv): the lr climbs over the first 30% of the run.
ONECYCLE_PCT_START = 0.3
# A log whose first row lies more than this many logging intervals into the run starts mid-run
# (a resume without its resume line, or the tail of a longer log).
MID_RUN_ROWS = 3


@dataclass(frozen=True)
class LrChange:
    row: int  # first row at the new lr
    before: float
    after: float
    kind: str = "step"  # step | restart | warmup | curve | resume (see Schedule.classify)

    @property
    def ratio(self) -> float:
        return self.after / self.before


@dataclass
class Schedule:
    """The run's lr schedule; rows are rows of `signals(run).t` (one per step)."""

    policy: str | None  # normalised: step, cosine, poly, exp, cyclic, onecycle, fixed, restart … None
    by_epoch: bool | None
    base_lr: float | None  # the optimizer's lr in the config
    config_peak: float | None  # the highest lr the config's schedule reaches (cyclic: base × target_ratio)
    warmup: str | None  # linear / constant / exp, None without one
    warmup_iters: int | None  # iterations
    warmup_end_row: int  # first row after warmup (0 without one; len(rows) while still warming up)
    warmup_from: str  # "config" | "log" | "none"
    ramp_end_step: float | None  # cyclic / OneCycle: last step of the scheduled climb (not a warmup)
    boundaries: frozenset = field(default_factory=frozenset)  # rows where a resumed segment starts
    staircase: bool = False  # lr changes at consecutive epoch boundaries: a by-epoch curve
    many_levels: bool = False  # more distinct lr levels than a step schedule has
    log_peak: float | None = None  # the highest logged lr of the whole run
    starts_late: bool = False  # the log starts after a resume: its own lr maximum is not the run's peak

    @property
    def continuous(self) -> bool:
        """The lr follows a curve (cosine, poly, cyclic …), by epoch or by iteration."""
        if self.policy:
            if self.policy in ("step", "fixed"):
                return False
            if self.policy == "restart":
                return False
            return any(p in self.policy for p in CONTINUOUS)
        return self.staircase or self.many_levels

    def peak_lr(self) -> float | None:
        """The schedule's peak lr, on the scale of the logged lr (param group 0).

        Cyclic / OneCycle: the config's peak (base × target_ratio, max_lr), which the log may not
        have reached yet. Otherwise the highest logged lr of the whole run; for a log that
        starts at a resume, whose own maximum is only the peak of what is left, the config's
        lr (None without a config: then nobody can say how far below the peak it is)."""
        if self.policy in ("cyclic", "onecycle") and self.config_peak:
            return max(self.config_peak, self.log_peak or 0.0)
        if self.starts_late:
            return max(self.config_peak, self.log_peak or 0.0) if self.config_peak else None
        return self.log_peak or self.config_peak

    def in_ramp(self, step: float) -> bool:
        """Inside a cyclic / OneCycle climb: the lr rises by design (not a warmup, not a restart)."""
        return self.ramp_end_step is not None and step <= self.ramp_end_step

    def classify(self, row: int, before: float, after: float, step: float) -> str:
        """Whose change is the lr change arriving at `row`?

        resume: the row starts a resumed segment; warmup: inside the warmup or a cyclic/OneCycle
        climb; curve: a continuous schedule sampled per epoch or iteration; restart: a rise after
        warmup (warm restarts); step: a fall of a step schedule (the only kind that is an event)."""
        if row in self.boundaries:
            return "resume"
        if row <= self.warmup_end_row or self.in_ramp(step):
            return "warmup"
        if after > before:
            return "curve" if self.policy in ("cyclic", "onecycle") else "restart"
        if self.continuous and self.policy != "restart":
            return "curve"
        return "step"


# ---- building the model ------------------------------------------------------------------


def model_schedule(meta, t, step: np.ndarray, lr: np.ndarray, epoch_f: np.ndarray) -> Schedule:
    """The schedule of a finished reading of the log (a live log asks `warmup_end(sig, live=True)`)."""
    parsed = _from_config(meta)
    n = len(step)
    boundaries = _segment_starts(t)
    finite = np.isfinite(lr) & (lr > 0)
    log_peak = float(lr[finite].max()) if finite.any() else None
    starts_late = _starts_late(meta) or starts_mid_run(meta, step, epoch_f)

    warmup_iters = parsed["warmup_iters"]
    warmup_from = "none"
    if parsed["warmup"] and warmup_iters:
        after = np.flatnonzero(step > warmup_iters)
        end_row = int(after[0]) if len(after) else n
        warmup_from = "config"
    elif parsed["known"] or starts_late:
        # the config names its schedule and it has no warmup; or the log starts mid-run, where a
        # climbing lr is not this log's warmup (it began before the log did)
        end_row, warmup_iters = 0, None
    else:
        end_row, warmup_iters = _warmup_from_log(step, lr, live=False)
        warmup_from = "log" if warmup_iters else "none"

    total = total_iters(meta)
    ramp_end = None
    if parsed.get("ramp_end_iters"):
        ramp_end = float(parsed["ramp_end_iters"])
    elif parsed["policy"] == "cyclic" and total:
        ramp_end = parsed["step_ratio_up"] * total / max(1, parsed["cyclic_times"])
    elif parsed["policy"] == "onecycle" and total:
        ramp_end = parsed["pct_start"] * total

    after_warmup = lr[end_row:]
    after_warmup = after_warmup[np.isfinite(after_warmup) & (after_warmup > 0)]
    levels = int((np.abs(np.diff(after_warmup)) > 0.01 * after_warmup[:-1]).sum()) + 1 if len(after_warmup) > 1 else 1
    return Schedule(
        policy=parsed["policy"],
        by_epoch=parsed["by_epoch"],
        base_lr=parsed["base_lr"],
        config_peak=parsed["peak"],
        warmup=parsed["warmup"] if warmup_from == "config" else ("linear" if warmup_from == "log" else None),
        warmup_iters=int(warmup_iters) if warmup_iters else None,
        warmup_end_row=end_row,
        warmup_from=warmup_from,
        ramp_end_step=ramp_end,
        boundaries=frozenset(boundaries),
        staircase=_staircase(lr, epoch_f, end_row, boundaries),
        many_levels=levels >= CONTINUOUS_MIN_LEVELS,
        log_peak=log_peak,
        starts_late=starts_late,
    )


def starts_mid_run(meta, step: np.ndarray, epoch_f: np.ndarray) -> bool:
    """The log begins in the middle of a run without saying it resumed: its first row sits past
    the first epoch (epoch runners) or past MID_RUN_ROWS logging intervals (iteration runners).
    What came before is not in this log: no warmup is inferred from it, no "first fall"."""
    finite = np.flatnonzero(np.isfinite(step))
    if not len(finite):
        return False
    first = float(step[finite[0]])
    interval = float(np.median(np.diff(step[finite]))) if len(finite) > 1 else (meta.log_interval or 0)
    interval = max(interval or 0.0, float(meta.log_interval or 0), 1.0)
    if first <= MID_RUN_ROWS * interval:
        return False
    if meta.runner == "iter":
        return True
    e = epoch_f[finite[0]] if len(epoch_f) else float("nan")
    return bool(np.isfinite(e) and e >= 1.0)


@dataclass(frozen=True)
class LrScale:
    """How the config's lr becomes the lr the optimizer uses at the schedule's peak.

    `factor`: effective / config lr (mmengine's auto_scale_lr when enabled: total batch /
    base_batch_size, linear). `why` says it in words, "" when the two are the same."""

    config_lr: float | None
    factor: float
    why: str


def lr_scale(meta) -> LrScale:
    cfg = meta.config if isinstance(meta.config, dict) else {}
    scale = cfg.get("auto_scale_lr")
    base, batch = (_num(scale.get("base_batch_size")) if isinstance(scale, dict) else None), _num(meta.total_batch)
    if isinstance(scale, dict) and scale.get("enable") is True and base and batch and base != batch:
        factor = batch / base
        return LrScale(
            _num(meta.lr), factor, f"auto_scale_lr: base_batch_size {base:g}, total batch {batch:g}, ×{factor:.3g}"
        )
    return LrScale(_num(meta.lr), 1.0, "")


def _norm_policy(name) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    p = name.lower().replace("_", "")
    for suffix in ("lrupdaterhook", "lr", "annealing"):
        if p.endswith(suffix) and p != suffix:
            p = p[: -len(suffix)]
    if "restart" in p:
        return "restart"
    if p in ("multistep", "step"):
        return "step"
    if p.startswith("cosine") or p == "flatcosine":
        return "cosine"
    if p.startswith("onecycle"):
        return "onecycle"
    if p.startswith("cyclic"):
        return "cyclic"
    if p in ("fixed", "constant"):
        return "fixed"
    return p


def _num(v):
    return v if is_number(v) else None


def _from_config(meta) -> dict:
    """What the config says about the schedule (mmcv lr_config or mmengine param_scheduler);
    the parsers' `meta.lr_schedule` (the configured schedule they extract) wins for what it
    states (warmup kind and length, policy)."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    out = _parse_config(cfg, meta)
    stated = meta.lr_schedule
    if stated is not None:
        if stated.warmup and _num(stated.warmup_iters):
            out["warmup"], out["warmup_iters"] = str(stated.warmup), int(stated.warmup_iters)
        if stated.policy and not out["policy"]:
            out["policy"] = _norm_policy(stated.policy)
            out["by_epoch"] = stated.by_epoch
        out["known"] = out["known"] or bool(stated.policy or stated.warmup)
    return out


def _parse_config(cfg: dict, meta) -> dict:
    """The schedule as the raw config writes it, with what `meta.lr_schedule` does not keep
    (cyclic target_ratio and step_ratio_up, OneCycle max_lr, mmengine phases that climb)."""
    base = _num(meta.lr)
    out = {
        "known": False,
        "policy": None,
        "by_epoch": None,
        "warmup": None,
        "warmup_iters": None,
        "base_lr": base,
        "peak": base,
        "step_ratio_up": CYCLIC_STEP_RATIO_UP,
        "cyclic_times": 1,
        "pct_start": ONECYCLE_PCT_START,
    }
    lc = cfg.get("lr_config")
    if isinstance(lc, dict) and lc.get("policy"):
        out["known"] = True
        out["policy"] = _norm_policy(lc.get("policy"))
        # mmcv: cyclic and OneCycle hooks update per iteration; the others per epoch by default
        default_by_epoch = out["policy"] not in ("cyclic", "onecycle")
        by_epoch = lc.get("by_epoch", default_by_epoch)
        out["by_epoch"] = by_epoch if isinstance(by_epoch, bool) else None
        if lc.get("warmup") and _num(lc.get("warmup_iters")):
            out["warmup"], out["warmup_iters"] = str(lc["warmup"]), int(lc["warmup_iters"])
        if out["policy"] == "cyclic":
            ratio = lc.get("target_ratio", CYCLIC_TARGET_RATIO)
            up = ratio[0] if isinstance(ratio, (list, tuple)) and ratio else ratio
            if _num(up) and base:
                out["peak"] = base * up
            out["step_ratio_up"] = _num(lc.get("step_ratio_up")) or CYCLIC_STEP_RATIO_UP
            out["cyclic_times"] = int(_num(lc.get("cyclic_times")) or 1)
        elif out["policy"] == "onecycle":
            max_lr = lc.get("max_lr")
            max_lr = max_lr[0] if isinstance(max_lr, (list, tuple)) and max_lr else max_lr
            out["peak"] = _num(max_lr) or base
            out["pct_start"] = _num(lc.get("pct_start")) or ONECYCLE_PCT_START
        return out
    ps = cfg.get("param_scheduler")
    if isinstance(ps, dict):
        ps = [ps]
    if isinstance(ps, (list, tuple)) and ps:
        ipe = _num(meta.iters_per_epoch)
        out["known"] = True
        for s in ps:
            if not isinstance(s, dict) or "momentum" in str(s.get("type", "")).lower():
                continue  # momentum schedulers (mmdet3d's cyclic recipe pairs one with each lr phase)
            kind = _norm_policy(s.get("type"))
            in_epochs = s.get("by_epoch", True) is not False  # begin/end count epochs
            by_epoch = in_epochs and not s.get("convert_to_iter_based")  # the lr moves once per epoch
            end = _num(s.get("end"))
            begin = _num(s.get("begin")) or 0
            is_warmup = (
                kind in ("linear", "fixed", "exponential", "exp")
                and begin == 0
                and end
                and out["warmup"] is None
                and out["policy"] is None
                and len(ps) > 1
            )
            if is_warmup:
                iters = end * ipe if in_epochs and ipe else (None if in_epochs else end)
                out["warmup"] = {"linear": "linear", "fixed": "constant"}.get(kind or "", "exp")
                out["warmup_iters"] = int(iters) if iters else None
                continue
            out["policy"] = kind
            out["by_epoch"] = by_epoch
            # a phase that anneals *up* to a target above the base lr (mmdet3d's cyclic recipe in
            # mmengine form: CosineAnnealingLR eta_min=10×lr over the first 40%) is a scheduled climb
            target = _num(s.get("eta_min")) or _num(s.get("eta_max"))
            if target and base and target > 1.01 * base and target > (out["peak"] or 0):
                out["peak"] = target
                if end:
                    out["ramp_end_iters"] = end * ipe if in_epochs and ipe else (None if in_epochs else end)
            if kind == "onecycle":
                out["peak"] = _num(s.get("eta_max")) or base
                out["pct_start"] = _num(s.get("pct_start")) or ONECYCLE_PCT_START
        if out["policy"] is None and out["warmup"]:
            out["policy"] = "fixed"
        return out
    return out


def total_iters(meta) -> float | None:
    """The planned length of the run in iterations (None when the log does not say)."""
    if meta.runner == "iter" and _num(meta.max_iters):
        return float(meta.max_iters)
    if _num(meta.max_epochs) and _num(meta.iters_per_epoch):
        return float(meta.max_epochs * meta.iters_per_epoch)
    return None


def _segment_starts(t) -> list[int]:
    """Rows where a resumed segment starts (not row 0), from the parsers' resume marker."""
    return np.flatnonzero(segment_starts(t)).tolist()


def _starts_late(meta) -> bool:
    """The log begins at a resume: its first segment says where it was resumed from."""
    segments = meta.segments
    return bool(len(segments) and segments[0].resumed_from is not None)


def _warmup_from_log(step: np.ndarray, lr: np.ndarray, live: bool) -> tuple[int, int | None]:
    """Warmup read from the lr alone: it starts below 90% of its early peak and climbs to it.

    On a live log (still being written) whose lr is still climbing in its last rows, or reached
    its peak only in them, the warmup is not over: (len, None)."""
    n = len(step)
    finite = np.isfinite(lr)
    if n == 0 or finite.sum() < 3:
        return 0, None
    head = lr[: max(3, n // 2)]
    peak = np.nanmax(head)
    first = lr[np.argmax(finite)]
    if not peak > 0 or first >= WARMUP_START_BELOW * peak:
        return 0, None
    if live:
        tail = lr[finite][-LIVE_SETTLED_ROWS:]
        if tail[-1] > tail[0] * 1.001:
            return n, None  # the lr is still climbing: the warmup has not ended
    whole = float(np.nanmax(lr))
    if whole > peak / PEAK_REACHED:
        # the lr climbs on past the first half's peak: if it reaches its top only in the last rows,
        # the log ends while it is still warming up (a finished reading of a cut run, too)
        top = np.flatnonzero(finite & (lr >= PEAK_REACHED * whole))
        if len(top) and top[0] >= n - LIVE_SETTLED_ROWS:
            return n, None
    reached = np.flatnonzero(finite & (lr >= PEAK_REACHED * peak))
    row = int(reached[0]) if len(reached) else 0
    if row == 0:
        return 0, None
    if live and n - row < LIVE_SETTLED_ROWS:
        return n, None  # the peak only just arrived: too early to say the warmup is over
    return row, int(step[row])


def _staircase(lr: np.ndarray, epoch_f: np.ndarray, start: int, boundaries) -> bool:
    """The lr falls at ≥ STAIRCASE_MIN_TREADS consecutive epoch boundaries (a curve updated once
    per epoch: mmcv CosineAnnealing's default), stays flat within each epoch."""
    if not len(lr) or not np.isfinite(epoch_f).any():
        return False
    epoch = np.floor(epoch_f - 1e-9)
    i = np.arange(max(1, start), len(lr))
    if not len(i):
        return False
    with np.errstate(invalid="ignore"):
        falls = np.isfinite(lr[i]) & np.isfinite(lr[i - 1]) & (lr[i] < lr[i - 1] * 0.995)
    falls &= ~np.isin(i, list(boundaries))
    rows = i[falls]
    if len(rows) < STAIRCASE_MIN_TREADS:
        return False
    crosses = np.isfinite(epoch[rows]) & (epoch[rows] > epoch[rows - 1])
    if crosses.sum() < 0.8 * len(rows):
        return False  # most changes happen inside epochs: not a by-epoch staircase
    at_boundary = epoch[rows][crosses].tolist()
    run = best = 1
    eps = sorted(set(at_boundary))
    for a, b in zip(eps, eps[1:]):
        run = run + 1 if b - a == 1 else 1
        best = max(best, run)
    return best >= STAIRCASE_MIN_TREADS


# ---- lr change points --------------------------------------------------------------------


def lr_quantum(lr: np.ndarray) -> float:
    """Rounding step of the logged lr: mmcv's .log.json keeps 5 decimals, so a cosine tail
    moves in steps of 1e-05 that must not read as a step decay."""
    v = lr[np.isfinite(lr)]
    if not len(v):
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # an lr of 1e308 in a damaged log
        scaled = v * 1e5
        return 1e-5 if np.all(np.abs(scaled - np.round(scaled)) < 1e-6) else 0.0


def lr_changes(
    sig, sched: Schedule, drop_ratio: float = 0.7, rise_ratio: float = 1.5, flat_rows: int = 3, flat_tol: float = 0.01
) -> list[LrChange]:
    """Every marked change of the logged lr, each classified by the schedule.

    A fall to ≤ `drop_ratio` × the previous row after ≥ `flat_rows` rows of flat lr, or a rise
    to ≥ `rise_ratio` × the previous row. Changes smaller than two rounding steps of the log
    are ignored. `kind` says whose change it is (Schedule.classify): only "step" and
    "restart" are events of the training; "warmup", "curve" and "resume" are the schedule's
    shape or a stitched resume."""
    lr = sig.lr
    q = lr_quantum(lr)
    out: list = []
    idx = np.flatnonzero(np.isfinite(lr))
    if len(idx) < 2:
        return out
    v = lr[idx]
    before, after = v[:-1], v[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        marked = (
            (before > 0)
            & (np.abs(after - before) > 2 * q)
            & ((after <= drop_ratio * before) | (after >= rise_ratio * before))
        )
    for k in np.flatnonzero(marked) + 1:  # only the few marked rows go through Python
        j, b, a = int(idx[k]), float(v[k - 1]), float(v[k])
        prev = v[max(0, k - flat_rows) : k]
        if a <= drop_ratio * b:
            if not (prev.max() - prev.min()) <= flat_tol * prev.max() + 2 * q:
                continue  # a fall without a flat stretch before it is a curve, not a step
        kind = sched.classify(j, b, a, float(sig.step[j]))
        if kind == "restart" and (len(prev) < 2 or prev[-1] > prev[0] * (1 + flat_tol) + 2 * q):
            # a rise on an lr that was already climbing (or with nothing logged before it) is the
            # ramp going on, not a restart: a restart comes after a flat or falling lr
            kind = "warmup"
        out.append(LrChange(j, b, a, kind))
    return out


def warmup_end(sig, live: bool = False) -> tuple[int, int | None]:
    """(first row after warmup, warmup iterations) as the rules should read it. On a live log
    an lr-inferred warmup is over only once the lr stopped climbing (`_warmup_from_log`)."""
    sched = sig.schedule
    known = sched.policy is not None or sched.warmup_from == "config"
    if live and not known and sched.warmup_end_row < len(sig.step):
        return _warmup_from_log(sig.step, sig.lr, live=True)
    return sched.warmup_end_row, sched.warmup_iters
