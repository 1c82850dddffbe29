"""Segments of one run -> a `Run`: positions, stitching, derived columns, frames, meta.

Rules (documented here once, relied on downstream):
- positions (`step`, `epoch`, `iter`, `epoch_f`): `parsers.positions.row_positions`.
- `iters_per_epoch`: from `[i/n]` of epoch-runner lines; else stated by the config
  (`num_iters_per_epoch`); else estimated (meta `iters_per_epoch_estimated = True`) from
  a resumed json's checkpoint meta (`iter / epoch`), from mmengine json epoch boundaries,
  or as the last logged iter of a finished epoch plus half a logging interval.
- `wall_s`: seconds since the start of the first segment, from timestamps, with the gaps
  between resume segments removed (each segment continues from the previous one's last
  row). Json logs carry no timestamps: wall_s is the running sum of `time` × iterations
  (meta `wall_s_estimated = True`).
- evals `step`: epoch runners: the end of that epoch (epoch × ipe); iter runners: the
  evaluation interval multiple reached at the last train row (config `evaluation.interval`),
  else the last checkpoint iteration logged before it, else the last train step.
- stitching: the segments of ONE run (`parsers.identity` decides which segments are one
  run, from resume evidence) in time order (first timestamp, else first step); where steps
  overlap, rows of the earlier segment from the later segment's first step on are replaced
  by the later segment's: counted per segment (`meta.segments[k].dropped_rows`) and in all
  (`meta.replaced_rows`), never dropped silently. The `segment` column says which file a
  row comes from (`parsers.segment_starts` marks the first row of each resume).
- what the logs state (config, plan, GPUs, traceback …): each fact combined over the
  segments by its declared merge policy (`parsers.segment.combine`): the latest segment
  that states one wins (a resume may extend the schedule); the traceback is the last
  segment's.
- `ended`: "traceback: <exception line>" when the log ends in a Python traceback;
  "finished" when the last row reached the planned end (max epochs / iters, within one
  logging interval); "stopped" when it did not (killed, crashed silently, or still
  running) — also when the last epoch was left midway and the plan is unknown;
  "before first iteration" when a launch logged its header (or json meta line) but no
  train row and no evaluation; "unknown" when neither the plan nor the epoch length is known.
- a run without validation but with a test result (`runner.test()`) has that result as
  its one evaluation (see `_evals`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from parsers import config_facts as M
from parsers import layers as layers_mod
from parsers.bounds import KEYS_PAST_BOUND, kept_keys
from parsers.captures import capture_digest
from parsers.config import read_config
from parsers.frames import const_str, float_frame, str_series
from parsers.identity import resume_point
from parsers.launches import launch_stamp, parse_date, resume_record, segment_order
from parsers.meta import EmptyEvaluation, Meta, SegmentInfo, Segments
from parsers.positions import median_step, row_positions
from parsers.run import EVALS_COLUMNS, TRAIN_COLUMNS, Run
from parsers.segment import Segment, combine

FIXED_LOGGED = ["lr", "eta_s", "time", "data_time", "memory", "grad_norm", "loss"]
WALL_START_SLACK = 86400  # a launch stamp a day before the first row is not its start


@dataclass
class _Plan:
    """What the run's config and rows say about its shape, before its frames are built."""

    cfg: dict | None
    runner: str | None
    interval: int | None  # the config's log interval
    ipe: int | None  # iters per epoch
    ipe_estimated: bool
    samples_per_gpu: int | None
    num_gpus: int | None
    num_gpus_from: str | None  # the evidence for num_gpus
    config_text: str | None  # the dump `cfg` was read from

    @property
    def total_batch(self) -> int | None:
        return self.samples_per_gpu * self.num_gpus if self.samples_per_gpu and self.num_gpus else None


def build_run(segments: list[Segment], name: str, sources: list[str]) -> Run:
    """The segments of ONE run (any order) -> its Run (see the module docstring)."""
    segments = sorted(segments, key=segment_order)
    plan = _plan(segments)
    pos = [row_positions(s, plan.runner, plan.ipe) for s in segments]
    keep, replaced_by, dropped = _stitch(segments, pos)
    keys = kept_keys(dict.fromkeys(k for s in segments for k in s.keys))  # first-seen order, bounded
    offsets = _wall_offsets(segments, pos, keep)
    # samples = step × batch, unless the steps count epochs (a log of one row per epoch)
    batch = plan.total_batch if plan.ipe or not combine(segments, "epoch_rows") else None
    train, present, lr_key = _train(segments, pos, keep, keys, offsets, name, batch)
    superseded = _superseded(segments, pos, keep, replaced_by, keys, offsets, name, batch)
    seg_info = _segment_infos(segments, pos, keep, dropped, _launch_endings(segments, pos, plan))
    config_layers = M.decoder_layers(plan.cfg)
    layers = layers_mod.LazyLayers(train, present, name, config_layers)  # built on first read
    last = _last_position(train)
    evals, eval_strings = _evals(segments, pos, plan, name, last)
    meta = _meta(segments, plan, name, sources, train, seg_info, last, config_layers, lr_key, pos, keep)
    return Run(
        meta=meta, train=train, layers=layers, evals=evals, eval_strings=tuple(eval_strings), superseded=superseded
    )


def _plan(segments: list[Segment]) -> _Plan:
    config_text = combine(segments, "config_text")
    cfg = read_config(config_text) if config_text else combine(segments, "args")
    runner = _runner(segments, cfg)
    interval = M.log_interval(cfg)
    ipe, ipe_est = _iters_per_epoch(segments, runner, cfg, interval)
    gpus, gpus_from = M.num_gpus(
        cfg, combine(segments, "gpu_number"), combine(segments, "distributed"), combine(segments, "env_gpus")
    )
    return _Plan(cfg, runner, interval, ipe, ipe_est, M.samples_per_gpu(cfg), gpus, gpus_from, config_text or None)


def _runner(segments: list[Segment], cfg) -> str | None:
    """epoch | iter: as the logs state it, the config's for an mmcv json (whose rows do not
    say), else from a resumed json's rows; json rows without any: mmcv's default epoch runner."""
    runner = combine(segments, "runner") or M.runner_kind(cfg) or None
    if any(s.library == "mmcv" and s.format == "mmcv-json" for s in segments) and M.runner_kind(cfg):
        runner = M.runner_kind(cfg)
    if runner is None and any(_json_resumed_iter_runner(s) for s in segments):
        runner = "iter"
    if runner is None and any(s.rows for s in segments):
        runner = "epoch"
    return runner


def _train(segments, pos, keep, keys, offsets, name, total_batch):
    """(the train frame, {key: present mask}, the logged key behind `lr`)."""
    block, present, segment_col, colnames, row_of, key_index = _fill(segments, pos, keep, keys, offsets)
    first_group = _first_lr_group(keys)
    _derive_columns(block, present, colnames, row_of, key_index, keys, total_batch, first_group)
    train = float_frame(colnames, block.T)
    train.insert(0, "run", const_str(name, block.shape[1]))
    train.insert(1, "segment", segment_col)
    lr_key = "lr" if "lr" in keys else first_group
    return train, {k: present[key_index[k]] for k in keys}, lr_key


def _first_lr_group(keys) -> str | None:
    """`lr` is param group 0 of the (first) optimizer; with several optimizers mmcv logs
    `lr_<name>` per optimizer: the first one stands in where `lr` itself is absent."""
    return next((k for k in keys if k.startswith("lr_")), None)


def _derive_columns(block, present, colnames, row_of, key_index, keys, total_batch, first_group) -> None:
    """`lr` from the first optimizer's where absent, `samples` = step × total batch."""
    n = block.shape[1]
    if n and first_group:
        absent = ~present[key_index["lr"]] if "lr" in keys else np.ones(n, bool)
        block[colnames.index("lr")][absent] = block[row_of[first_group]][absent]
    if total_batch:
        block[colnames.index("samples")] = block[colnames.index("step")] * total_batch


def _meta(segments, plan: _Plan, name, sources, train, seg_info, last, config_layers, lr_key, pos, keep) -> Meta:
    cfg, runner = plan.cfg, plan.runner
    max_epochs, max_iters = _planned_length(segments, cfg, runner)
    logged_layers = _logged_layer_count(train.columns)
    traceback = combine(segments, "traceback")
    return Meta(
        name=name,
        sources=tuple(sources),
        format=_format(segments),
        library=combine(segments, "library") or None,
        runner=runner,
        max_epochs=max_epochs,
        max_iters=max_iters,
        iters_per_epoch=plan.ipe,
        iters_per_epoch_estimated=plan.ipe_estimated if plan.ipe else None,
        config=cfg,
        samples_per_gpu=plan.samples_per_gpu,
        num_gpus=plan.num_gpus,
        total_batch=plan.total_batch,
        optimizer=M.optimizer(cfg),
        optimizers=M.optimizers(cfg),
        lr=M.base_lr(cfg),
        weight_decay=M.weight_decay(cfg),
        grad_clip=M.grad_clip(cfg),
        lr_schedule=M.lr_schedule(cfg),
        fp16=M.fp16(cfg, combine(segments, "json_meta")),
        num_decoder_layers=config_layers or logged_layers,
        has_aux_loss=_has_aux(train.columns),
        segments=Segments(tuple(seg_info)),
        skipped=_skipped(segments),
        skipped_lines=_skipped_lines(segments),
        ended=_ended(segments, traceback, runner, max_epochs, max_iters, last, plan.interval, train["step"]),
        log_interval=plan.interval or _median_interval(train),
        exp_name=combine(segments, "exp_name"),
        seed=combine(segments, "seed"),
        test_metrics=combine(segments, "test_metrics") or None,
        wall_s_estimated=any(s.format.endswith("json") for s in segments) or None,
        lr_key=lr_key,
        twins=combine(segments, "twins_read"),
        twins_not_read=combine(segments, "twins_not_read"),
        replaced_rows=sum(info.dropped_rows for info in seg_info),
        started=launch_stamp(segments[0]) if segments else None,
        tail=combine(segments, "tail"),
        starts_mid_run=_starts_mid_run(segments, train, plan),
        empty_evaluations=_empty_evaluations(segments, pos, plan),
        num_gpus_from=plan.num_gpus_from,
        gpus_listed=combine(segments, "env_gpus"),
        capture=capture_digest(train, segments, pos, keep, cfg),
        epoch_base=combine(segments, "epoch_base"),
        loss_median_of=combine(segments, "loss_median_of"),
        step_unit="epoch" if combine(segments, "epoch_rows") and not plan.ipe else "iteration",
    )


def _planned_length(segments, cfg, runner) -> tuple[int | None, int | None]:
    """(max epochs, max iters): as stated, else the config's; an iter runner's `Iter [i/n]`
    states n, the planned iterations."""
    max_epochs, max_iters = M.max_epochs_iters(cfg, combine(segments, "max_epochs"), combine(segments, "max_iters"))
    if max_iters is None and runner == "iter":
        stated = [s.n[~np.isnan(s.n)] for s in segments if len(s.n)]
        ns = np.concatenate(stated) if stated else np.zeros(0)
        if len(ns):
            max_iters = int(ns.max())
    return max_epochs, max_iters


MID_RUN_INTERVALS = 3  # a first row further in than this many logging intervals is past the run's start


def _starts_mid_run(segments, train, plan: _Plan) -> bool:
    """The log begins in the middle of a run and says nothing of a resume: its first row lies
    past the first MID_RUN_INTERVALS logging points of the run (what came before is not in
    it: no warmup, no first fall can be seen)."""
    if not len(train) or not segments or resume_point(segments[0], plan.cfg)[0]:
        return False
    steps = train["step"].to_numpy(float)
    finite = steps[np.isfinite(steps)]
    if not len(finite):
        return False
    every = plan.interval or _interval_of(finite) or 0
    return bool(every and finite[0] > MID_RUN_INTERVALS * every)


def _empty_evaluations(segments, pos, plan: _Plan) -> tuple[EmptyEvaluation, ...]:
    """The evaluations that ran and produced no metric, placed as evaluations are."""
    cfg = plan.cfg
    ev_interval = M.number(M.get(cfg, "evaluation", "interval")) or M.number(M.get(cfg, "train_cfg", "val_interval"))
    out = []
    for s, p in zip(segments, pos):
        if not s.empty_evals:
            continue
        placed = replace(
            s,
            eval_epoch=tuple(e.epoch for e in s.empty_evals),
            eval_after_row=tuple(e.after_row for e in s.empty_evals),
            eval_step=tuple(np.nan for _ in s.empty_evals),
        )
        epochs, steps = _eval_positions(placed, p, plan.runner, plan.ipe, ev_interval)
        for e, epoch, step in zip(s.empty_evals, epochs, steps):
            out.append(
                EmptyEvaluation(
                    epoch=float(epoch) if np.isfinite(epoch) and plan.runner != "iter" else None,
                    step=float(step) if np.isfinite(step) else None,
                    where=f"{s.source}:{e.line}",
                    error=e.error,
                )
            )
    return tuple(out)


def _skipped(segments) -> dict:
    """What the segments did not read, by reason; and the values of keys past the run's bound
    (the segments' keys together may pass it: parsers.bounds)."""
    out = combine(segments, "skipped")
    kept = set(kept_keys(dict.fromkeys(k for s in segments for k in s.keys)))
    past = sum(int(s.present[:, [j for j, k in enumerate(s.keys) if k not in kept]].sum()) for s in segments if s.rows)
    if past:
        out = {**out, KEYS_PAST_BOUND: out.get(KEYS_PAST_BOUND, 0) + past}
    return out


def _skipped_lines(segments) -> dict:
    """{reason: ['file:line', …]}: the first few lines of each segment, named by its file."""
    out: dict = {}
    for s in segments:
        for r, ls in s.skipped_lines.items():
            out.setdefault(f"{r}", []).extend(f"{s.source}:{n}" for n in ls)
    return out


def _wall_offsets(segments, pos, keep) -> list[float]:
    """Seconds added to each segment's wall clock: the kept rows of the segments before it
    (a resumed launch continues from the previous one's last row; the gap is removed)."""
    out, offset = [], 0.0
    for s, p, kp in zip(segments, pos, keep):
        out.append(offset)
        wall = _wall(s, p)
        if kp.any() and not np.all(np.isnan(wall[kp])):
            offset += float(np.nanmax(wall[kp]))
    return out


def _fill(segments, pos, masks, keys, offsets):
    """The rows `masks` selects of every segment -> (float block columns x rows, present
    [keys x rows], segment index per row, column names, key -> block row, key -> present row)."""
    nrows = int(sum(m.sum() for m in masks))
    # One float block (columns x rows), filled in place and handed to pandas without a copy.
    colnames = [c for c in TRAIN_COLUMNS if c not in ("run", "segment")]
    row_of: dict[str, int] = {}
    for k in keys:
        if k in colnames and k in FIXED_LOGGED and k != "eta_s":
            row_of[k] = colnames.index(k)
        else:
            clash = k in colnames or k in ("run", "segment") or f"logged_{k}" in keys
            colnames.append(f"logged_{k}" if clash else k)  # a logged key named like a derived column
            row_of[k] = len(colnames) - 1
    block = np.full((len(colnames), nrows), np.nan)
    key_index = {k: j for j, k in enumerate(keys)}
    present = np.zeros((len(keys), nrows), bool)
    fixed = {
        c: block[colnames.index(c)] for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f", "wall_s", "eta_s")
    }
    segment_col = np.zeros(nrows, np.int64)
    at = 0
    for idx, (s, p, kp) in enumerate(zip(segments, pos, masks)):
        m = int(kp.sum())
        sl = slice(at, at + m)
        for c in ("epoch", "iter", "iters_per_epoch", "step", "epoch_f"):
            fixed[c][sl] = p[c][kp]
        if s.eta_s is not None and len(s.eta_s):
            fixed["eta_s"][sl] = s.eta_s[kp]
        fixed["wall_s"][sl] = _wall(s, p)[kp] + offsets[idx]
        segment_col[sl] = idx
        mine = [j for j, k in enumerate(s.keys) if k in key_index]  # the run's first MAX_KEYS keys
        if mine and m:
            every = len(mine) == len(s.keys)
            vals = s.values if every else s.values[:, mine]
            pres = s.present if s.present is not None else ~np.isnan(s.values)
            pres = pres if every else pres[:, mine]
            block[[row_of[s.keys[j]] for j in mine], sl] = (vals if kp.all() else vals[kp]).T
            present[[key_index[s.keys[j]] for j in mine], sl] = (pres if kp.all() else pres[kp]).T
        at += m
    return block, present, segment_col, colnames, row_of, key_index


def _superseded(segments, pos, keep, replaced_by, keys, offsets, name, total_batch):
    """Rows a later launch re-ran (a resume from an earlier checkpoint, a resume of a resume),
    in the columns of `train` plus `superseded_by` (the first later segment that re-ran them).
    They are evidence — the first attempt may have gone NaN — but not the run's curve."""
    masks = [~k for k in keep]
    block, present, segment_col, colnames, row_of, key_index = _fill(segments, pos, masks, keys, offsets)
    _derive_columns(block, present, colnames, row_of, key_index, keys, total_batch, _first_lr_group(keys))
    frame = float_frame(colnames, block.T)
    frame.insert(0, "run", const_str(name, block.shape[1]))
    frame.insert(1, "segment", segment_col)
    frame["superseded_by"] = np.concatenate([b[~k] for b, k in zip(replaced_by, keep)] or [np.zeros(0, np.int64)])
    return frame


def _format(segments) -> str | None:
    fmts = [s.format for s in segments]
    return fmts[0] if len(set(fmts)) == 1 else "+".join(dict.fromkeys(fmts))


def _iters_per_epoch(segments, runner, cfg, interval):
    """(ipe or None, estimated?)"""
    ns = np.concatenate([s.n for s in segments if len(s.n)] or [np.zeros(0)])
    ns = ns[~np.isnan(ns)]
    if runner != "iter" and len(ns):
        vals, counts = np.unique(ns, return_counts=True)
        return int(vals[np.argmax(counts)]), False
    stated = M.config_iters_per_epoch(cfg)
    if stated:
        return stated, False
    if runner == "iter" or combine(segments, "epoch_rows"):
        return None, False  # a log of one row per epoch gives no iterations to estimate from
    # Estimates for logs that do not print `[i/n]` (json).
    for s in segments:
        jm = s.json_meta or {}
        e, i = M.number(jm.get("epoch")), M.number(jm.get("iter"))
        if e and i and e > 0 and i > 0 and i % e == 0:
            return int(i // e), True
    for s in segments:
        if len(s.step) and not np.all(np.isnan(s.step)):
            est = _ipe_from_boundaries(s.epoch, s.step)
            if est:
                return est, True
    epochs = np.concatenate([s.epoch for s in segments if len(s.epoch)] or [np.zeros(0)])
    iters = np.concatenate([s.iter for s in segments if len(s.iter)] or [np.zeros(0)])
    ok = ~np.isnan(epochs) & ~np.isnan(iters)
    if ok.any():
        epochs, iters = epochs[ok], iters[ok]
        finished = epochs < epochs.max()
        if finished.any():
            top = float(iters[finished].max())
            step = interval or median_step(iters)
            return int(round(top + (step or 0) / 2)), True
    return None, False


def _ipe_from_boundaries(epoch, step) -> int | None:
    """mmengine json: epoch e starts at (e-1)*ipe; its first row is one interval in."""
    ok = ~np.isnan(epoch) & ~np.isnan(step)
    epoch, step = epoch[ok], step[ok]
    if len(epoch) < 2:
        return None
    interval = median_step(step)
    change = np.flatnonzero(np.diff(epoch) > 0) + 1
    est = []
    for c in change:
        e = epoch[c]
        if e >= 2 and interval:
            start = step[c] - interval
            est.append(start / (e - 1))
    if not est:
        return None
    v = float(np.median(est))
    return int(round(v)) if v > 0 else None


def _stitch(segments, pos) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Which rows of each segment the run keeps: a row whose step a later launch re-ran (a
    resume from an earlier checkpoint, or a resume of a resume) is replaced by that launch's.
    Returns (keep masks, the segment that re-ran each row first (-1: kept), rows dropped per
    segment)."""
    first = [_first_step(p["step"]) for p in pos]
    keep, by = [], []
    for k, p in enumerate(pos):
        replaced_by = np.full(len(p["step"]), -1, np.int64)
        for j in range(len(segments) - 1, k, -1):  # the earliest later launch that re-ran a row wins
            if not np.isnan(first[j]):
                replaced_by[p["step"] >= first[j]] = j
        by.append(replaced_by)
        keep.append(replaced_by < 0)
    return keep, by, [int((~m).sum()) for m in keep]


def _first_step(steps) -> float:
    return float(np.nanmin(steps)) if len(steps) and not np.all(np.isnan(steps)) else np.nan


def _segment_infos(segments, pos, keep, dropped, ended) -> list[SegmentInfo]:
    out = []
    for k, (s, p) in enumerate(zip(segments, pos)):
        steps = p["step"]  # as logged in this file, before overlap is dropped
        logged = len(steps) and not np.all(np.isnan(steps))
        out.append(
            SegmentInfo(
                index=k,
                source=s.source,
                format=s.format,
                rows=int(keep[k].sum()),
                first_step=float(np.nanmin(steps)) if logged else None,
                last_step=float(np.nanmax(steps)) if logged else None,
                start=s.start_date,
                resumed_from=resume_record(s),
                dropped_rows=dropped[k],
                ended=ended[k],
            )
        )
    return out


def _wall(s: Segment, p) -> np.ndarray:
    """Seconds since the launch started, per row: from timestamps; a json log carries none,
    so the running sum of `time` x iterations stands in."""
    n = s.rows
    ts = s.ts if len(s.ts) == n else np.full(n, np.nan)
    if n and not np.all(np.isnan(ts)):
        start = parse_date(s.start_date)
        if start is not None:
            start += (s.start_ms or 0) / 1000.0
        first = float(np.nanmin(ts))
        if start is None or start > first or first - start > WALL_START_SLACK:
            start = first
        return ts - start
    if n and "time" in s.keys:
        t = s.values[:, s.keys.index("time")]
        d = np.diff(np.concatenate([[0.0], p["step"]]))
        d[d < 0] = np.nan
        return np.nancumsum(np.where(np.isnan(t * d), 0.0, t * d))
    return np.full(n, np.nan)


def _evals(segments, pos, plan: _Plan, name, last):
    """The long evals frame (numbers) and the string-valued eval fields (a list).

    A run with no validation but a test result (`runner.test()`: an `Epoch(test)` line, or
    the test dump `<ts>/<ts>.json`, one row without `step`) has that result as its one
    evaluation, at the last train row (epoch and step NaN when there is none)."""
    cfg = plan.cfg
    ev_interval = M.number(M.get(cfg, "evaluation", "interval")) or M.number(M.get(cfg, "train_cfg", "val_interval"))
    cols: dict[str, list] = {"epoch": [], "step": [], "metric": [], "value": [], "segment": []}
    strings = []
    for k_seg, (s, p) in enumerate(zip(segments, pos)):
        if not s.eval_metric:
            continue
        epoch, step = _eval_positions(s, p, plan.runner, plan.ipe, ev_interval)
        is_str = np.array([isinstance(v, str) for v in s.eval_value], dtype=bool)
        for k in np.flatnonzero(is_str):
            strings.append(
                {"epoch": float(epoch[k]), "step": float(step[k]), "metric": s.eval_metric[k], "value": s.eval_value[k]}
            )
        num = ~is_str
        cols["epoch"].append(epoch[num])
        cols["step"].append(step[num])
        cols["metric"].append(np.asarray(s.eval_metric, dtype=object)[num])
        cols["value"].append(np.array([v for v, st in zip(s.eval_value, is_str) if not st], dtype=float))
        cols["segment"].append(np.full(int(num.sum()), k_seg, np.int64))
    tests = combine(segments, "test_metrics")
    if not cols["metric"] and not strings and tests:
        _test_as_evaluation(tests, last, cols, strings, len(segments) - 1)
    return _evals_frame(cols, name), strings


def _eval_positions(s: Segment, p, runner, ipe, ev_interval) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, step) of each evaluation entry of segment `s`. Epoch runners: the end of that
    epoch (epoch x ipe); iter runners: the evaluation interval multiple reached at the last
    train row (config `evaluation.interval`), else the last checkpoint iteration logged
    before it, else the last train step."""
    steps, per_row = p["step"], p["iters_per_epoch"]
    after = np.asarray(s.eval_after_row, dtype=np.int64)
    valid = (after >= 0) & (after < len(steps))
    at = np.where(valid, after, 0)
    last_step = np.where(valid, steps[at] if len(steps) else np.nan, np.nan)
    stated = np.asarray(s.eval_step, dtype=float)
    if runner == "iter":
        step = np.where(np.isnan(stated), last_step, stated)
        unknown = np.isnan(stated) & ~np.isnan(last_step)
        if ev_interval:
            step = np.where(unknown, np.ceil(last_step / ev_interval) * ev_interval, step)
        else:
            ckpts = np.array(sorted(c.count for c in s.checkpoints if c.unit == "iterations"), dtype=float)
            if len(ckpts):
                k = np.searchsorted(ckpts, np.where(np.isnan(last_step), 0, last_step))
                found = unknown & (k < len(ckpts))
                step = np.where(found, ckpts[np.minimum(k, len(ckpts) - 1)], step)
        return (step / ipe if ipe else np.full(len(step), np.nan)), step
    epoch = np.asarray(s.eval_epoch, dtype=float)
    per = np.where(valid, per_row[at] if len(per_row) else np.nan, np.nan)
    per = np.where(np.isnan(per), float(ipe) if ipe else np.nan, per)
    return epoch, np.where(np.isnan(per), last_step, epoch * per)


def _test_as_evaluation(tests: dict, last: dict, cols: dict, strings: list, segment: int) -> None:
    epoch, step = last.get("epoch", np.nan), last.get("step", np.nan)
    for metric, value in tests.items():
        if isinstance(value, str):
            strings.append({"epoch": epoch, "step": step, "metric": metric, "value": value})
        else:
            for k, v in (("epoch", epoch), ("step", step), ("metric", metric), ("value", value)):
                cols[k].append(np.array([v], dtype=object if k == "metric" else float))
            cols["segment"].append(np.array([segment], np.int64))


def _evals_frame(cols: dict, name: str):
    """The long evals frame: every evaluation the logs hold, in their order (never
    de-duplicated: a resumed launch that evaluates an epoch again is a second evaluation,
    told apart by its `segment`)."""
    empty = {"metric": object, "segment": np.int64}
    cat = {k: (np.concatenate(v) if v else np.zeros(0, empty.get(k, float))) for k, v in cols.items()}
    codes, names = pd.factorize(cat["metric"]) if len(cat["metric"]) else ([], [])  # a hash: np.unique sorts objects
    n = len(cat["metric"])
    df = pd.DataFrame(
        {
            "run": const_str(name, n),
            "epoch": cat["epoch"].astype(float),
            "step": cat["step"].astype(float),
            "metric": str_series(codes, list(names)),
            "value": cat["value"].astype(float),
            "segment": cat["segment"].astype(np.int64),
        },
        columns=EVALS_COLUMNS,
    )
    return df


def _last_position(train) -> dict:
    if len(train) == 0:
        return {}
    r = train.iloc[-1]
    return {k: float(r[k]) for k in ("epoch", "iter", "iters_per_epoch", "step")}


def _median_interval(train) -> int | None:
    return _interval_of(train["step"])


def _interval_of(steps) -> int | None:
    if len(steps) < 2:
        return None
    d = median_step(np.asarray(steps, float))
    return int(d) if d else None


def _launch_endings(segments, pos, plan: _Plan) -> list[str]:
    """How each launch ended (SegmentInfo.ended), read as Meta.ended is for the run: from the
    launch's own traceback, its last row and its own plan (a launch may change max_epochs)."""
    out = []
    for s, p in zip(segments, pos):
        own = s.config_text and s.config_text != plan.config_text  # a launch whose dump is not the run's
        cfg = read_config(s.config_text) if own else plan.cfg
        max_epochs, max_iters = _planned_length([s], cfg, plan.runner)
        last = {k: float(p[k][-1]) for k in ("epoch", "iter", "iters_per_epoch", "step")} if s.rows else {}
        out.append(_ended([s], s.traceback, plan.runner, max_epochs, max_iters, last, plan.interval, p["step"]))
    return out


def _ended(segments, traceback, runner, max_epochs, max_iters, last, interval, steps) -> str:
    """How the run ended (Meta.ended; see the module docstring)."""
    if traceback:
        return f"traceback: {traceback}"
    if not last:
        evaluated = any(s.eval_metric or s.test_metrics for s in segments)
        launched = any(s.config_text or s.start_date or s.json_meta for s in segments)
        # a header (or json meta line) and no train line: the launch never logged iteration 1
        return "before first iteration" if launched and not evaluated else "unknown"
    interval = interval or _interval_of(steps) or 0
    step, epoch, it, per = last["step"], last["epoch"], last["iter"], last["iters_per_epoch"]
    # The runner logs every `interval` iterations: the run got to its end when the next
    # logging point lies beyond it (mmcv does not log the last partial interval).
    if runner == "iter":
        if max_iters:
            return "finished" if step + interval > max_iters else "stopped"
    else:
        mid_epoch = not np.isnan(per) and not np.isnan(it) and it + interval <= per
        if max_epochs:
            return "finished" if (epoch >= max_epochs and not mid_epoch) else "stopped"
        if mid_epoch:
            return "stopped"
    return "unknown"


def _logged_layer_count(columns) -> int | None:
    cols = layers_mod.layer_columns(list(columns), None)
    main = [
        layer
        for _, group, _, layer in cols
        if layers_mod.is_decoder_group(group) and not layers_mod.is_stats_group(group)
    ]
    return max(main) + 1 if main else None


def _has_aux(columns) -> bool | None:
    if layers_mod.has_aux(list(columns)):
        return True
    if any(c is not None and not layers_mod.is_stats_group(c[0]) for c in map(layers_mod.classify, columns)):
        return False
    return None


def _json_resumed_iter_runner(s: Segment) -> bool:
    """A resumed mmcv json without config: an epoch runner's rows restart in the next epoch
    (`epoch` E+1, iter from 1), an iter runner's rows continue in the checkpoint's epoch
    with iters beyond the checkpoint's."""
    jm = s.json_meta or {}
    e, i = M.number(jm.get("epoch")), M.number(jm.get("iter"))
    if s.format != "mmcv-json" or e is None or i is None or not s.rows:
        return False
    return bool(s.epoch[0] == e and s.iter[0] > i)
