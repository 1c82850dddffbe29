"""schedule: the lr schedule of the config against the run's own length, and against the lr the log shows.

Four contradictions, each with the concrete change (or, where no config value fixes it, what to do):
- step milestones at or past the planned end (`MultiStepLR` milestones [8, 11] in a 5-epoch run):
  the lr never decays there. The fix puts them at the same share of this run's length as of the
  schedule they were written for (a schedule of max(milestones) + 1, mmdet's 1x: [8, 11] of 12).
  Severity from the outcome: a warning once the log reached the first place where that fitted
  schedule would have decayed (the run trained at a peak lr it should have left); a run stopped,
  crashed or never started before that place shows nothing of it, so it is a note the verdict
  carries as "before a rerun". A run too short for any decay (1 epoch) gets no change at all;
- an annealing phase whose period ends well before or after the run (mmengine `CosineAnnealingLR`
  or `PolyLR` whose `T_max`/`end` ≠ the run's length: `PolyLR end=40000` in a 10,000-iteration
  run): the lr reaches its floor early and stays there, or never anneals;
- a warmup at least as long as the run: the lr never reaches its peak;
- a logged lr that does not follow the config's step schedule: milestones that lie behind the
  log's rows while the lr stayed a whole decay (or more) above what the config gives there. Only
  the rows of the last launch are judged (the config bevlog reads is that launch's; an earlier
  launch may have run another one). A resumed mmengine/mmcv run restores its scheduler from the
  checkpoint (milestones, `end`), so milestones edited between launches do not apply; no config
  value fixes that, so the finding says what to do instead.
The lr the log shows at its end is quoted as the evidence (a step that never came leaves the lr at
its peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import config_keys
from bevlog.fixes import MIN_WARMUP_ITERS, scaled_milestones
from bevlog.numbers import plain
from bevlog.rules._common import change, doc, finding, fmt, signals, where
from bevlog.schedule import total_iters

RULE_ID = "schedule"
SUMMARY = (
    "lr milestones past the run's end, an annealing period that does not match the run, warmup longer "
    "than the run, a logged lr that does not follow the config's milestones"
)


@dataclass(frozen=True)
class Thresholds:
    period_tolerance: float = doc(
        0.10, "an annealing period off the run's length by more than this share is a mismatch"
    )
    warmup_share: float = doc(1.0, "a warmup at least this share of the run is longer than the run")
    new_warmup_share: float = doc(0.10, "a warmup the fix proposes is at most this share of the run")
    missed_decays: float = doc(
        0.9,
        "a logged lr at least this many whole decays (gamma⁻¹ each) above the config's "
        "lr at its place does not follow the config",
    )
    min_rows: int = doc(3, "rows past a milestone needed to say the lr did not follow it")


def find_schedule(run, th: Thresholds = Thresholds(), live: bool = False):
    """`live`: the log is still being written (`bevlog watch`): a run that has not reached its first
    decay yet will, so milestones past its end are a warning there, never a note for a rerun."""
    return _milestones(run, live) + _period(run, th) + _warmup(run, th) + _not_followed(run, th)


def _lr_end_text(sig) -> str:
    lr = sig.lr[np.isfinite(sig.lr)]
    peak = sig.schedule.peak_lr() if sig.schedule is not None else None
    if not len(lr) or not peak:
        return ""
    return f"; the log ends with the lr at {lr[-1] / peak:.0%} of its peak ({fmt(lr[-1])})"


def _units(n, unit: str) -> str:
    return f"{int(n):,} {unit}{'' if int(n) == 1 else 's'}"


def _reached(sig, at: float, in_epochs: bool) -> bool:
    """Did the log get as far as `at` (an epoch or an iteration of the run)?"""
    pos = sig.epoch_f if in_epochs else sig.step
    pos = pos[np.isfinite(pos)]
    return bool(len(pos)) and float(pos.max()) >= at


def _milestones(run, live: bool = False):
    meta = run.meta
    found = config_keys.milestones(meta)
    if found is None:
        return []
    ms, in_epochs = found
    length = meta.max_epochs if in_epochs else (meta.max_iters or total_iters(meta))
    unit = "epoch" if in_epochs else "iteration"
    end = config_keys.step_end(meta)  # the scheduler's own end: no milestone at or past it comes
    short_end = end is not None and length and end < length
    bound = min(length, end) if short_end else length
    if not bound or all(m < bound for m in ms):
        return []
    sig = signals(run)
    past = [m for m in ms if m >= bound]
    moved = scaled_milestones(ms, float(max(ms) + 1), float(length)) if any(m >= length for m in ms) else list(ms)
    never = len(past) == len(ms)
    decays = "never decays" if never else "decays fewer times than planned"
    where_end = (
        f"the scheduler's own end (end={plain(end)}; the run is {_units(length, unit)})"
        if short_end
        else f"the planned end ({_units(length, unit)})"
    )
    message = (
        f"lr milestones {plain(ms)} ({unit}s) lie {'all ' if never else ''}at or past {where_end}: "
        f"the lr {decays}" + _lr_end_text(sig)
    )
    evidence = {
        "kind": "milestones",
        "milestones": ms,
        "length": int(length),
        "in_epochs": in_epochs,
        "past": past,
        "scheduler_end": end,
    }
    headline = f"the lr {'never decays' if never else 'decays too late'}: milestones {plain(ms)} lie past the " + (
        f"scheduler's end={plain(end)}" if short_end else f"{int(length)}-{unit} run's end"
    )
    if not moved:
        message += f"; a {int(length)}-{unit} run is too short for a step decay, so there is nothing to move"
        return [finding(run, RULE_ID, "info", sig, None, None, message, evidence, "", [], headline)]
    changes = []
    if moved != ms:
        changes.append(
            change(
                run,
                "lr_steps",
                moved,
                ms,
                f"the same share of a {int(length)}-{unit} run as of a {max(ms) + 1}-{unit} one",
            )
        )
    if short_end:
        changes.append(change(run, "step_end", int(length), int(end), "the scheduler covers the whole run"))
    severity = "warning" if never else "info"
    if never and not live and not _reached(sig, moved[0], in_epochs):
        # the run ended before a schedule fitted to its length would first have decayed: nothing it
        # shows depends on this; the fix is for the next launch
        got = where(sig, len(sig.step) - 1) if len(sig.step) else "its first iteration"
        message += (
            f"; the log ends at {got}, before {unit} {moved[0]:,} where a schedule fitted to its length "
            f"would first decay, so nothing in it shows the effect: fix it before a rerun"
        )
        evidence["before_rerun"] = True
        severity = "info"
    return [finding(run, RULE_ID, severity, sig, None, None, message, evidence, "", changes, headline)]


def _period(run, th):
    meta = run.meta
    found = config_keys.decay_period(meta)
    if found is None:
        return []
    begin, end, in_epochs, kind = found
    length = meta.max_epochs if in_epochs else (meta.max_iters or total_iters(meta))
    if not length or abs(end - length) <= th.period_tolerance * length:
        return []
    sig = signals(run)
    unit = "epoch" if in_epochs else "iteration"
    how = "reaches its floor early and stays there" if end < length else "never finishes annealing"
    message = f"the {kind} phase ends at {unit} {end:,.0f} but the run at {length:,.0f}: the lr {how}" + _lr_end_text(
        sig
    )
    key = config_keys.key_for("decay_period", meta) or ""
    to = length - begin if key.endswith("T_max") else length
    frm = end - begin if key.endswith("T_max") else end
    evidence = {
        "kind": "decay_period",
        "scheduler": kind,
        "period_end": end,
        "length": int(length),
        "in_epochs": in_epochs,
    }
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            None,
            None,
            message,
            evidence,
            "",
            [change(run, "decay_period", int(to), int(frm), "the period ends with the run")],
            f"the {kind} phase ends at {unit} {end:,.0f}, the run at {length:,.0f}",
        )
    ]


def _warmup(run, th):
    meta = run.meta
    total = total_iters(meta)
    warm = config_keys.current("warmup_iters", meta)
    if not total or not warm or warm < th.warmup_share * total:
        return []
    sig = signals(run)
    to = int(max(1, min(MIN_WARMUP_ITERS, th.new_warmup_share * total)))
    message = (
        f"the warmup ({int(warm):,} iterations) is at least as long as the run ({int(total):,}): "
        f"the lr never reaches its peak" + _lr_end_text(sig)
    )
    evidence = {"kind": "warmup_length", "warmup_iters": int(warm), "total_iters": int(total)}
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            None,
            None,
            message,
            evidence,
            "",
            [change(run, "warmup_iters", to, int(warm), f"at most {th.new_warmup_share:.0%} of the run")],
            "the warmup is longer than the run",
        )
    ]


def _not_followed(run, th):
    """Milestones behind the last launch's rows while its logged lr stayed a whole decay above the
    config's lr there."""
    meta = run.meta
    found = config_keys.milestones(meta)
    gamma = config_keys.step_gamma(meta)
    sig = signals(run)
    if found is None or gamma is None or not len(sig.step) or sig.schedule is None:
        return []
    ms, in_epochs = found
    end = config_keys.step_end(meta)
    ms = [m for m in ms if end is None or m < end]  # a milestone at or past the scheduler's end never comes
    if not ms:
        return []
    pos = np.floor(sig.epoch_f - 1e-9) if in_epochs else sig.step  # the scheduler's count at each row
    if not np.isfinite(pos).any():
        return []
    seg = sig.t["segment"].to_numpy() if "segment" in sig.t else np.zeros(len(sig.step))
    last = seg == seg[-1]  # the launch whose config this is
    rows = np.flatnonzero(
        last
        & (np.arange(len(sig.step)) >= sig.schedule.warmup_end_row)
        & np.isfinite(pos)
        & np.isfinite(sig.lr)
        & (sig.lr > 0)
    )
    if not len(rows):
        return []
    k = np.searchsorted(np.asarray(sorted(ms), float), pos[rows], side="right")  # milestones passed
    judged = rows[k >= 1]
    if len(judged) < th.min_rows:
        return []
    zero = rows[k == 0]
    peak = float(np.median(sig.lr[zero])) if len(zero) >= th.min_rows else sig.schedule.peak_lr()
    if not peak:
        return []
    expected = peak * gamma ** k[k >= 1]
    excess = float(np.median(sig.lr[judged] / expected))
    if excess < gamma**-th.missed_decays:
        return []
    passed = [m for m in sorted(ms) if m <= np.nanmax(pos[judged])]
    lr_now = float(np.median(sig.lr[judged]))
    unit = "epoch" if in_epochs else "iteration"
    share = lr_now / peak
    message = (
        f"the config steps the lr ×{plain(gamma)} at {unit}s {plain(ms)}, but over "
        f"{where(sig, int(judged[0]), int(judged[-1]))}, past {unit}{'s' if len(passed) > 1 else ''} "
        f"{' and '.join(f'{m:,}' for m in passed)}, the logged lr stayed at {fmt(lr_now)} "
        f"({share:.0%} of its peak {fmt(peak)}) "
        f"where the config puts it at {fmt(float(np.median(expected)))}: the run does not follow the config's "
        f"schedule"
    )
    flat = _flat_since(sig)
    if flat is not None:
        message += f"; the logged lr has not moved from {fmt(lr_now)} since {flat}"
    resumed = [s for s in meta.segments if s.resumed_from is not None]
    advice = "check which schedule the launch really read (the config dump in its log, any hook that sets the lr)"
    if resumed:
        message += (
            f"; the run was resumed {len(resumed)} time{'s' if len(resumed) > 1 else ''}, and a resume "
            "restores the lr scheduler from the checkpoint (its milestones and end), so milestones edited "
            "between launches do not apply"
        )
        advice = (
            "to train on with an edited schedule, load the checkpoint's weights without its scheduler state "
            "(load_from with resume off) or set the lr the run should have now; " + advice
        )
    evidence = {
        "kind": "not_followed",
        "milestones": ms,
        "gamma": gamma,
        "passed": passed,
        "lr": lr_now,
        "expected_lr": float(np.median(expected)),
        "peak_lr": peak,
        "excess": excess,
        "resumes": len(resumed),
    }
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            int(judged[0]),
            int(judged[-1]),
            message,
            evidence,
            advice,
            [],
            f"the lr never followed the config's milestones {plain(ms)}: it stayed at "
            f"{share:.0%} of its peak past {unit} {passed[-1]:,}",
        )
    ]


def _flat_since(sig) -> str | None:
    """Where the logged lr last changed after warmup, when it has been flat for the rest of the run."""
    lo = sig.schedule.warmup_end_row if sig.schedule is not None else 0
    lr = sig.lr[lo:]
    ok = np.flatnonzero(np.isfinite(lr) & (lr > 0))
    if len(ok) < 2:
        return None
    v = lr[ok]
    if np.max(np.abs(v - v[-1])) > 0.01 * v[-1]:
        return None
    return where(sig, lo + int(ok[0]))
